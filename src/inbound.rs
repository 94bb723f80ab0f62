//! Ingress: recognise the event shape, turn it into a [`StopRequest`], and render the answer in the same shape.
//!
//! Shapes are detected the way `lambda_http`'s deserializer does it, by trying them in a fixed order, but with a
//! cheap probe of the discriminating fields first so a payload that *looks* like one shape and is broken gets an
//! error about that shape instead of a generic "unknown". Callers are taken only from what AWS attests in the
//! envelope, never from the body. Everything learned before a failure is kept in [`Facts`] for the audit record.

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest, ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::http::{HeaderMap, HeaderValue, header};
use aws_lambda_events::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use base64::Engine;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;

mod alarm;

pub use alarm::{ALARM_DETAIL_TYPE, CLOUDWATCH_SOURCE};

use crate::domain::alarm::AlarmRouting;
use crate::domain::arn::{AccountId, TargetArn, excerpt};
use crate::domain::outcome::StopError;
use crate::domain::request::{Caller, EventSource, OrgId, PrincipalArn, SourceKind, StopRequest};
use crate::domain::text::{ErrorCode, Overflow, Reason};

/// `detail-type` of stop requests sent over EventBridge.
pub const STOP_DETAIL_TYPE: &str = "Stop Requested";
/// Largest HTTP body read. A stop request is a few hundred bytes; the reason limit plus JSON overhead fits.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const ACCEPTED_SHAPES: &str = "expected one of: an EventBridge event with detail-type \"Stop Requested\"; an EventBridge \"CloudWatch Alarm State Change\" event; a CloudWatch alarm's Lambda action payload; an API Gateway REST API (v1 proxy) request; an API Gateway HTTP API (v2) request; a Lambda function URL request";

/// How the answer must be shaped for the door the request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// API Gateway v1 proxy response.
    RestApi,
    /// API Gateway v2 response.
    HttpApi,
    /// Function URL response.
    FunctionUrl,
    /// The plain JSON body (EventBridge, direct invocation, unknown shapes).
    Event,
}

/// Whatever could be learned about a request, even one that failed to parse, for the audit record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Caller, if attested.
    pub caller: Option<Caller>,
    /// Target ARN as received (the first, when an alarm resolved several).
    pub target: Option<String>,
    /// Further targets an alarm resolved to.
    pub extra_targets: Vec<String>,
    /// How an alarm's targets were found (`tags`, `policy-mapping`, `metric-dimensions`).
    pub resolution: Option<&'static str>,
    /// Kind of target, once the ARN parsed.
    pub target_kind: Option<&'static str>,
    /// Reason as received.
    pub reason: Option<String>,
    /// Error code as received.
    pub error_code: Option<String>,
    /// Dry-run flag as received.
    pub dry_run: bool,
}

/// What a valid payload asks for.
#[derive(Debug)]
pub enum Parsed {
    /// Stop these targets.
    Stop(Box<StopRequest>),
    /// Nothing: an alarm state change that is not a transition into ALARM (audited, not acted on).
    Ignore(String),
}

/// A recognised (or unrecognised) payload, with its parse result.
#[derive(Debug)]
pub struct Inbound {
    /// Which door.
    pub source: SourceKind,
    /// How to answer.
    pub reply: Reply,
    /// What could be learned.
    pub facts: Facts,
    /// The request, or why there is none.
    pub request: Result<Parsed, StopError>,
}

/// The body of an HTTP stop request and the `detail` of a stop event. Unknown fields are refused, so an
/// identity smuggled into the body (`"caller"`, `"principal"`, …) is an error rather than silently ignored.
/// A field may be left out but not sent as `null`: `"dryRun": null` must not quietly mean a real stop.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StopBody {
    #[serde(default, deserialize_with = "not_null")]
    target_arn: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    reason: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    error: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    dry_run: Option<bool>,
    /// A count of executions; more than `u32::MAX` is a malformed request, not a confirmation.
    #[serde(default, deserialize_with = "not_null")]
    confirm_count: Option<u32>,
}

/// A present field must hold a value of its type; only absence means "not given".
fn not_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Just enough of a payload to tell the shapes apart.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "detail-type")]
    detail_type: Option<Value>,
    source: Option<Value>,
    detail: Option<IgnoredAny>,
    #[serde(rename = "alarmData")]
    alarm_data: Option<IgnoredAny>,
    #[serde(rename = "requestContext")]
    request_context: Option<ContextProbe>,
}

#[derive(Deserialize)]
struct ContextProbe {
    http: Option<IgnoredAny>,
    #[serde(rename = "httpMethod")]
    http_method: Option<IgnoredAny>,
    #[serde(rename = "domainName")]
    domain_name: Option<Value>,
}

/// Recognises the payload's shape and parses it. `routing` resolves alarm targets.
pub fn parse(payload: &RawValue, routing: &AlarmRouting) -> Inbound {
    let unknown = |message: String| Inbound {
        source: SourceKind::Unknown,
        reply: Reply::Event,
        facts: Facts::default(),
        request: Err(StopError::InvalidRequest(message)),
    };
    let Ok(probe) = serde_json::from_str::<Probe>(payload.get()) else {
        return unknown(format!("unrecognised payload: not a JSON object of a known shape; {ACCEPTED_SHAPES}"));
    };
    if probe.alarm_data.is_some() {
        return parse_shape(payload, SourceKind::AlarmAction, Reply::Event, "alarm action payload", |a, f| {
            alarm::from_action(a, f, routing)
        });
    }
    if let (Some(detail_type), Some(source), Some(_)) = (&probe.detail_type, &probe.source, &probe.detail) {
        if detail_type.as_str() == Some(ALARM_DETAIL_TYPE) && source.as_str() == Some(CLOUDWATCH_SOURCE) {
            return parse_shape(payload, SourceKind::AlarmEvent, Reply::Event, "alarm state change event", |e, f| {
                alarm::from_event(e, f, routing)
            });
        }
        return parse_shape(payload, SourceKind::EventBridge, Reply::Event, "EventBridge event", |e, f| {
            from_eventbridge(e, f).map(|r| Parsed::Stop(Box::new(r)))
        });
    }
    match probe.request_context {
        Some(ContextProbe { http: Some(_), domain_name, .. }) if is_function_url_domain(domain_name.as_ref()) => {
            parse_shape(payload, SourceKind::FunctionUrl, Reply::FunctionUrl, "function URL request", |e, f| {
                from_function_url(e, principal_org_id(payload).as_deref(), f).map(|r| Parsed::Stop(Box::new(r)))
            })
        }
        Some(ContextProbe { http: Some(_), .. }) => {
            parse_shape(payload, SourceKind::HttpApi, Reply::HttpApi, "HTTP API (v2) request", |e, f| {
                from_http_api(e, f).map(|r| Parsed::Stop(Box::new(r)))
            })
        }
        Some(ContextProbe { http_method: Some(_), .. }) => {
            parse_shape(payload, SourceKind::RestApi, Reply::RestApi, "REST API (v1) request", |e, f| {
                from_rest_api(e, principal_org_id(payload).as_deref(), f).map(|r| Parsed::Stop(Box::new(r)))
            })
        }
        _ => unknown(format!("unrecognised payload; {ACCEPTED_SHAPES}")),
    }
}

/// `principalOrgId` of the IAM identity, which the typed REST (`requestContext.identity`) and function URL
/// (`requestContext.authorizer.iam`) requests do not model. Read with a second, narrow pass instead of the
/// crate's catch-all maps, which would buffer every field of every struct on every request.
fn principal_org_id(payload: &RawValue) -> Option<String> {
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
fn is_function_url_domain(domain: Option<&Value>) -> bool {
    let Some(Value::String(domain)) = domain else { return false };
    let labels: Vec<&str> = domain.split('.').collect();
    matches!(labels.as_slice(), [_, "lambda-url", _, "on", "aws"])
}

fn parse_shape<T: serde::de::DeserializeOwned>(
    payload: &RawValue,
    source: SourceKind,
    reply: Reply,
    name: &str,
    convert: impl FnOnce(T, &mut Facts) -> Result<Parsed, StopError>,
) -> Inbound {
    let mut facts = Facts::default();
    let request = match serde_json::from_str::<T>(payload.get()) {
        Ok(event) => convert(event, &mut facts),
        Err(err) => Err(StopError::InvalidRequest(format!("malformed {name}: {err}"))),
    };
    Inbound { source, reply, facts, request }
}

fn from_eventbridge(event: EventBridgeEvent<Value>, facts: &mut Facts) -> Result<StopRequest, StopError> {
    let source = EventSource::parse(&event.source);
    let account = event.account.as_deref().map(AccountId::parse);
    if let (Some(source), Some(Ok(account))) = (source.clone(), account.clone()) {
        facts.caller = Some(Caller::EventBridge { source, account });
    }
    if event.detail_type != STOP_DETAIL_TYPE {
        return Err(StopError::InvalidRequest(format!(
            "unsupported EventBridge detail-type {} from source {}: only \"{STOP_DETAIL_TYPE}\" is accepted",
            excerpt(&event.detail_type),
            excerpt(&event.source)
        )));
    }
    let Some(caller) = facts.caller.clone() else {
        return Err(StopError::InvalidRequest(match (source, account) {
            (None, _) => format!("EventBridge source {} is not a valid source", excerpt(&event.source)),
            (_, None) => "EventBridge event has no account".to_owned(),
            (_, Some(Err(err))) => format!("EventBridge event {err}"),
            (Some(_), Some(Ok(_))) => "EventBridge event has no valid caller".to_owned(),
        }));
    };
    let body = StopBody::deserialize(event.detail)
        .map_err(|err| StopError::InvalidRequest(format!("invalid event detail: {err}")))?;
    build_request(body, caller, SourceKind::EventBridge, facts)
}

fn from_rest_api(
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

fn from_http_api(event: ApiGatewayV2httpRequest, facts: &mut Facts) -> Result<StopRequest, StopError> {
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

fn from_function_url(
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
        return Err(StopError::MethodNotAllowed(format!("method {} is not allowed: use POST", excerpt(http.method))));
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

fn build_request(
    body: StopBody,
    caller: Caller,
    source: SourceKind,
    facts: &mut Facts,
) -> Result<StopRequest, StopError> {
    facts.target.clone_from(&body.target_arn);
    facts.reason.clone_from(&body.reason);
    facts.error_code.clone_from(&body.error);
    facts.dry_run = body.dry_run.unwrap_or(false);
    let invalid = |field: &str, err: &dyn std::fmt::Display| StopError::InvalidRequest(format!("{field}: {err}"));
    let target = body.target_arn.as_deref().ok_or_else(|| StopError::InvalidRequest("targetArn is required".into()))?;
    let target = TargetArn::parse(target).map_err(|e| invalid("targetArn", &e))?;
    let reason = body.reason.as_deref().ok_or_else(|| StopError::InvalidRequest("reason is required".into()))?;
    // People can shorten and resend; an alarm cannot, and a kill-switch must not fail over its text.
    let overflow = if source.is_interactive() { Overflow::Reject } else { Overflow::Truncate };
    let reason = Reason::parse(reason, overflow).map_err(|e| invalid("reason", &e))?;
    let error_code = body.error.as_deref().map(ErrorCode::parse).transpose().map_err(|e| invalid("error", &e))?;
    facts.target_kind = Some(target.kind_name());
    Ok(StopRequest {
        targets: vec![target],
        reason,
        error_code,
        dry_run: facts.dry_run,
        caller,
        source,
        confirm_count: body.confirm_count.map(u64::from),
    })
}

/// Renders a JSON body as the response the door expects.
pub fn respond(reply: Reply, status: u16, body: Value) -> Value {
    let text = body.to_string();
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == 405 {
        headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    let rendered = match reply {
        Reply::Event => return body,
        Reply::RestApi => {
            let mut r = ApiGatewayProxyResponse::default();
            r.status_code = i64::from(status);
            r.headers = headers;
            r.body = Some(Body::Text(text));
            serde_json::to_value(r)
        }
        Reply::HttpApi => {
            let mut r = ApiGatewayV2httpResponse::default();
            r.status_code = i64::from(status);
            r.headers = headers;
            r.body = Some(Body::Text(text));
            serde_json::to_value(r)
        }
        Reply::FunctionUrl => {
            let mut r = LambdaFunctionUrlResponse::default();
            r.status_code = i64::from(status);
            r.headers = headers;
            r.body = Some(text);
            serde_json::to_value(r)
        }
    };
    // The response types hold only strings, numbers and maps; serialising them cannot fail.
    rendered.unwrap_or(Value::Null)
}
