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
use crate::domain::audit::Facts;
use crate::domain::aws_ids::AccountId;
use crate::domain::caller::{Caller, OrgId, PrincipalArn};
use crate::domain::request::{SourceKind, StopRequest};
use crate::domain::text::excerpt;
use crate::error::StopError;

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
) -> Result<StopRequest, StopError> {
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
    from_http(http, facts, SourceKind::RestApi)
}

pub(super) fn from_http_api(event: ApiGatewayV2httpRequest, facts: &mut Facts) -> Result<StopRequest, StopError> {
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
    from_http(http, facts, SourceKind::HttpApi)
}

pub(super) fn from_function_url(
    event: LambdaFunctionUrlRequest,
    org: Option<&str>,
    facts: &mut Facts,
) -> Result<StopRequest, StopError> {
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
    from_http(http, facts, SourceKind::FunctionUrl)
}

/// The IAM identity API Gateway or Lambda verified. Absent or unusable → 401: the route must use `AWS_IAM`.
fn iam_caller(user_arn: Option<&str>, account: Option<&str>, org: Option<&str>) -> Result<Caller, StopError> {
    const NO_IDENTITY: &str = "no IAM identity in the request context: call a route that uses AWS_IAM authorization, signing the request with SigV4";
    let (Some(user_arn), Some(account)) = (user_arn.filter(|s| !s.is_empty()), account.filter(|s| !s.is_empty()))
    else {
        return Err(StopError::Unauthenticated(NO_IDENTITY.to_owned()));
    };
    let principal = PrincipalArn::parse(user_arn)
        .map_err(|err| StopError::Unauthenticated(format!("unusable IAM identity: principal {err}")))?;
    let account =
        AccountId::parse(account).map_err(|err| StopError::Unauthenticated(format!("unusable IAM identity: {err}")))?;
    if principal.account() != &account {
        return Err(StopError::Unauthenticated("unusable IAM identity: principal and account disagree".to_owned()));
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

fn from_http(http: HttpParts<'_>, facts: &mut Facts, source: SourceKind) -> Result<StopRequest, StopError> {
    // The route is `POST …/stop`: the last path segment must be exactly `stop` (API Gateway may prefix a stage).
    if http.path.rsplit('/').next() != Some("stop") {
        return Err(StopError::RouteNotFound(format!("no route for {}: use POST …/stop", excerpt(http.path))));
    }
    if http.method != "POST" {
        return Err(StopError::MethodNotAllowed {
            message: format!("method {} is not allowed: use POST", excerpt(http.method)),
            allow: "POST",
        });
    }
    if let Some(content_type) = http.headers.get(header::CONTENT_TYPE) {
        let media_type = content_type.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim();
        if !media_type.eq_ignore_ascii_case("application/json") {
            return Err(StopError::InvalidRequest("Content-Type must be application/json".to_owned()));
        }
    }
    let raw = http.body.unwrap_or_default();
    // Base64 is 4/3 the size of what it encodes; refuse before decoding anything huge.
    if raw.len() > MAX_BODY_BYTES * 4 / 3 + 4 {
        return Err(StopError::PayloadTooLarge { len: raw.len(), limit: MAX_BODY_BYTES });
    }
    let decoded;
    let bytes = if http.base64 {
        decoded = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| StopError::InvalidRequest("body is marked base64 but does not decode".to_owned()))?;
        decoded.as_slice()
    } else {
        raw.as_bytes()
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(StopError::PayloadTooLarge { len: bytes.len(), limit: MAX_BODY_BYTES });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(StopError::InvalidRequest("empty body: send {\"targetArn\": …, \"reason\": …} as JSON".to_owned()));
    }
    let body: StopBody =
        serde_json::from_slice(bytes).map_err(|err| StopError::InvalidRequest(format!("invalid JSON body: {err}")))?;
    let caller = facts.caller.clone().ok_or_else(|| StopError::Unauthenticated("no IAM identity".to_owned()))?;
    build_request(body, caller, source, facts)
}
