//! The HTTP doors: API Gateway REST (v1 proxy) and HTTP (v2) APIs and function URLs. One route, `POST …/stop`,
//! with a JSON body of at most [`MAX_BODY_BYTES`]; the caller is the IAM identity the door verified.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use aws_lambda_events::http::{HeaderMap, header};
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::body::{StopBody, build_request};
use super::error::IngressError;
use crate::domain::audit::Facts;
use crate::domain::aws_ids::AccountId;
use crate::domain::caller::{Caller, OrgId, PrincipalArn};
use crate::domain::request::{Door, StopRequest};
use crate::domain::text::excerpt;

/// Largest HTTP body read. A stop request is a few hundred bytes; the reason limit plus JSON overhead fits.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `principalOrgId` of the IAM identity, which the typed REST (`requestContext.identity`) and function URL
/// (`requestContext.authorizer.iam`) requests do not model. Read with a second, narrow pass instead of the
/// crate's catch-all maps, which would buffer every field of every struct on every request.
pub(super) fn principal_org_id(payload: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct Payload {
        #[serde(rename = "requestContext")]
        request_context: Option<Context>,
    }
    #[derive(Deserialize)]
    struct Context {
        identity: Option<Identity>,
        authorizer: Option<Authorizer>,
    }
    #[derive(Deserialize)]
    struct Authorizer {
        iam: Option<Identity>,
    }
    #[derive(Deserialize)]
    struct Identity {
        #[serde(rename = "principalOrgId")]
        principal_org_id: Option<String>,
    }
    let context = serde_json::from_str::<Payload>(payload.get()).ok()?.request_context?;
    let from = |i: Option<Identity>| i.and_then(|i| i.principal_org_id);
    from(context.identity).or_else(|| from(context.authorizer.and_then(|a| a.iam)))
}

/// Function URLs are served from `<url-id>.lambda-url.<region>.on.aws`; compare whole labels, not substrings.
pub(super) fn is_function_url_domain(domain: Option<&Value>) -> bool {
    let Some(Value::String(domain)) = domain else { return false };
    let labels: Vec<&str> = domain.split('.').collect();
    matches!(labels.as_slice(), [_, "lambda-url", _, "on", "aws"])
}

pub(super) fn from_rest_api(
    event: ApiGatewayProxyRequest,
    org: Option<&str>,
    facts: &mut Facts,
) -> Result<StopRequest, IngressError> {
    facts.door_request_id.clone_from(&event.request_context.request_id);
    let identity = &event.request_context.identity;
    facts.caller = iam_caller(identity.user_arn.as_deref(), identity.account_id.as_deref(), org)?.into();
    let path = event.path.as_deref().or(event.resource.as_deref()).unwrap_or_default();
    let http = HttpParts {
        method: event.http_method.as_str(),
        path,
        headers: &event.headers,
        body: event.body.as_deref(),
        base64: event.is_base64_encoded,
    };
    from_http(http, facts, Door::RestApi)
}

pub(super) fn from_http_api(event: ApiGatewayV2httpRequest, facts: &mut Facts) -> Result<StopRequest, IngressError> {
    facts.door_request_id.clone_from(&event.request_context.request_id);
    let iam = event.request_context.authorizer.as_ref().and_then(|a| a.iam.as_ref());
    facts.caller = iam_caller(
        iam.and_then(|i| i.user_arn.as_deref()),
        iam.and_then(|i| i.account_id.as_deref()),
        iam.and_then(|i| i.principal_org_id.as_deref()),
    )?
    .into();
    let http = HttpParts {
        method: event.request_context.http.method.as_str(),
        path: event.raw_path.as_deref().unwrap_or_default(),
        headers: &event.headers,
        body: event.body.as_deref(),
        base64: event.is_base64_encoded,
    };
    from_http(http, facts, Door::HttpApi)
}

pub(super) fn from_function_url(
    event: LambdaFunctionUrlRequest,
    org: Option<&str>,
    facts: &mut Facts,
) -> Result<StopRequest, IngressError> {
    facts.door_request_id.clone_from(&event.request_context.request_id);
    let iam = event.request_context.authorizer.as_ref().and_then(|a| a.iam.as_ref());
    facts.caller =
        iam_caller(iam.and_then(|i| i.user_arn.as_deref()), iam.and_then(|i| i.account_id.as_deref()), org)?.into();
    let http = HttpParts {
        method: event.request_context.http.method.as_deref().unwrap_or_default(),
        path: event.raw_path.as_deref().unwrap_or_default(),
        headers: &event.headers,
        body: event.body.as_deref(),
        base64: event.is_base64_encoded,
    };
    from_http(http, facts, Door::FunctionUrl)
}

/// The IAM identity API Gateway or Lambda verified. Absent or unusable → 401: the route must use `AWS_IAM`.
fn iam_caller(user_arn: Option<&str>, account: Option<&str>, org: Option<&str>) -> Result<Caller, IngressError> {
    const NO_IDENTITY: &str = "no IAM identity in the request context: call a route that uses AWS_IAM authorization, signing the request with SigV4";
    let (Some(user_arn), Some(account)) = (user_arn.filter(|s| !s.is_empty()), account.filter(|s| !s.is_empty()))
    else {
        return Err(IngressError::Unauthenticated(NO_IDENTITY.to_owned()));
    };
    let principal = PrincipalArn::parse(user_arn)
        .map_err(|err| IngressError::Unauthenticated(format!("unusable IAM identity: principal {err}")))?;
    let account = AccountId::parse(account)
        .map_err(|err| IngressError::Unauthenticated(format!("unusable IAM identity: {err}")))?;
    if principal.account() != &account {
        return Err(IngressError::Unauthenticated("unusable IAM identity: principal and account disagree".to_owned()));
    }
    Ok(Caller::Iam { principal, account, org_id: org.and_then(OrgId::parse) })
}

struct HttpParts<'a> {
    method: &'a str,
    path: &'a str,
    headers: &'a HeaderMap,
    body: Option<&'a str>,
    base64: bool,
}

fn from_http(http: HttpParts<'_>, facts: &mut Facts, source: Door) -> Result<StopRequest, IngressError> {
    // The route is `POST …/stop`: the last path segment must be exactly `stop` (API Gateway may prefix a stage).
    if http.path.rsplit('/').next() != Some("stop") {
        return Err(IngressError::RouteNotFound(format!("no route for {}: use POST …/stop", excerpt(http.path))));
    }
    if http.method != "POST" {
        return Err(IngressError::MethodNotAllowed {
            message: format!("method {} is not allowed: use POST", excerpt(http.method)),
            allow: "POST",
        });
    }
    if let Some(content_type) = http.headers.get(header::CONTENT_TYPE) {
        let media_type = content_type.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim();
        if !media_type.eq_ignore_ascii_case("application/json") {
            return Err(IngressError::Invalid("Content-Type must be application/json".to_owned()));
        }
    }
    let raw = http.body.unwrap_or_default();
    // Base64 is 4/3 the size of what it encodes; refuse before decoding anything huge.
    if raw.len() > MAX_BODY_BYTES * 4 / 3 + 4 {
        return Err(IngressError::PayloadTooLarge { len: raw.len(), limit: MAX_BODY_BYTES });
    }
    let decoded;
    let bytes = if http.base64 {
        decoded = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| IngressError::Invalid("body is marked base64 but does not decode".to_owned()))?;
        decoded.as_slice()
    } else {
        raw.as_bytes()
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(IngressError::PayloadTooLarge { len: bytes.len(), limit: MAX_BODY_BYTES });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(IngressError::Invalid("empty body: send {\"targetArn\": …, \"reason\": …} as JSON".to_owned()));
    }
    let body: StopBody =
        serde_json::from_slice(bytes).map_err(|err| IngressError::Invalid(format!("invalid JSON body: {err}")))?;
    let caller = facts.caller.clone().ok_or_else(|| IngressError::Unauthenticated("no IAM identity".to_owned()))?;
    build_request(body, caller, source, facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str =
        r#"{"targetArn": "arn:aws:states:us-east-1:111122223333:execution:orders-api:run-1", "reason": "OPS-1 stuck"}"#;

    /// One HTTP request to the door and what it must come to: `Ok` or the error code.
    struct Case {
        name: &'static str,
        method: &'static str,
        path: &'static str,
        content_type: Option<&'static str>,
        body: Option<String>,
        base64: bool,
        expect: Result<(), &'static str>,
    }

    fn case(name: &'static str) -> Case {
        Case {
            name,
            method: "POST",
            path: "/prod/stop",
            content_type: Some("application/json"),
            body: Some(BODY.to_owned()),
            base64: false,
            expect: Ok(()),
        }
    }

    fn caller() -> Caller {
        iam_caller(Some("arn:aws:sts::111122223333:assumed-role/OnCall/alice"), Some("111122223333"), None).unwrap()
    }

    fn run(c: &Case) -> Result<StopRequest, IngressError> {
        let mut headers = HeaderMap::new();
        if let Some(t) = c.content_type {
            headers.insert(header::CONTENT_TYPE, t.parse().unwrap());
        }
        let http =
            HttpParts { method: c.method, path: c.path, headers: &headers, body: c.body.as_deref(), base64: c.base64 };
        let mut facts = Facts { caller: Some(caller()), ..Facts::default() };
        from_http(http, &mut facts, Door::HttpApi)
    }

    #[test]
    fn the_door_checks_route_method_content_type_and_size_in_that_order() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let big = format!(r#"{{"reason": "{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        let cases = [
            case("a POST to …/stop"),
            Case { path: "/stop", ..case("no stage prefix") },
            Case { content_type: Some("application/json; charset=utf-8"), ..case("a charset parameter") },
            Case { content_type: Some("Application/JSON"), ..case("media types are case-insensitive") },
            Case { content_type: None, ..case("no content type") },
            Case { body: Some(b64(BODY)), base64: true, ..case("a base64 body") },
            Case { path: "/prod/stopper", expect: Err("route_not_found"), ..case("a longer last segment") },
            Case { path: "/prod/stop/", expect: Err("route_not_found"), ..case("a trailing slash") },
            Case { path: "/prod/STOP", expect: Err("route_not_found"), ..case("another case") },
            Case { method: "GET", expect: Err("method_not_allowed"), ..case("GET") },
            Case { method: "post", expect: Err("method_not_allowed"), ..case("a lower-case method") },
            Case { method: "GET", path: "/x", expect: Err("route_not_found"), ..case("the route first") },
            Case { content_type: Some("text/plain"), expect: Err("invalid_request"), ..case("text/plain") },
            Case { content_type: Some("application/jsonx"), expect: Err("invalid_request"), ..case("a look-alike") },
            Case { body: None, expect: Err("invalid_request"), ..case("no body") },
            Case { body: Some(" \n".into()), expect: Err("invalid_request"), ..case("a blank body") },
            Case { body: Some("{".into()), expect: Err("invalid_request"), ..case("broken JSON") },
            Case { body: Some("%%%".into()), base64: true, expect: Err("invalid_request"), ..case("bad base64") },
            Case { body: Some(big.clone()), expect: Err("payload_too_large"), ..case("over the limit") },
            Case { body: Some(b64(&big)), base64: true, expect: Err("payload_too_large"), ..case("over it, encoded") },
            Case {
                body: Some("A".repeat(MAX_BODY_BYTES * 2)),
                base64: true,
                expect: Err("payload_too_large"),
                ..case("refused before decoding")
            },
        ];
        for c in &cases {
            let got = run(c).map(|_| ()).map_err(|e| e.code().as_str());
            assert_eq!(got, c.expect, "{}", c.name);
        }
    }

    #[test]
    fn a_wrong_method_names_the_allowed_one() {
        let err = run(&Case { method: "DELETE", ..case("DELETE") }).unwrap_err();
        assert!(matches!(err, IngressError::MethodNotAllowed { allow: "POST", .. }), "{err:?}");
    }

    #[test]
    fn identities_must_be_attested_whole_and_agree() {
        let principal = "arn:aws:iam::111122223333:user/ops";
        let table = [
            (Some(principal), Some("111122223333"), Ok(())),
            (None, Some("111122223333"), Err("no IAM identity")),
            (Some(principal), None, Err("no IAM identity")),
            (Some(""), Some("111122223333"), Err("no IAM identity")),
            (Some(principal), Some("444455556666"), Err("disagree")),
            (Some("arn:aws:iam::111122223333:user/ops\u{200b}"), Some("111122223333"), Err("principal ARN has")),
            (Some(principal), Some("1111"), Err("12-digit")),
        ];
        for (user, account, expect) in table {
            let got = iam_caller(user, account, None).map(|_| ()).map_err(|e| e.to_string());
            match (got, expect) {
                (Ok(()), Ok(())) => {}
                (Err(message), Err(part)) => assert!(message.contains(part), "{user:?} {account:?}: {message}"),
                (got, expect) => panic!("{user:?} {account:?}: got {got:?}, expected {expect:?}"),
            }
        }
    }

    #[test]
    fn function_url_domains_are_matched_by_whole_labels() {
        let domain = |d: &str| is_function_url_domain(Some(&Value::String(d.to_owned())));
        assert!(domain("abc.lambda-url.us-east-1.on.aws"));
        assert!(!domain("abc.lambda-url.us-east-1.on.aws.example.com"));
        assert!(!domain("lambda-url.us-east-1.on.aws"));
        assert!(!domain("abc.execute-api.us-east-1.amazonaws.com"));
        assert!(!is_function_url_domain(None));
    }
}
