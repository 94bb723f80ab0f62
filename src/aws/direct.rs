//! Signed calls made without the SDK's orchestrator, for the two calls on every stop's hot path: the describe and
//! the stop.
//!
//! Why: measured in BENCHMARKS.md, one SDK call costs about 0.14 ms of CPU, most of it in the orchestrator's
//! machinery (interceptors, runtime plugins, config bag, endpoint rules and user agent per call), and it made
//! the stop path miss its latency target. A request signed here with `aws-sigv4`, the SDK's own signer, costs a
//! fraction of that. Everything that is not per call still comes from the SDK: the credentials chain, the
//! endpoint rules (resolved once per region, honouring `AWS_ENDPOINT_URL*`, FIPS and dual-stack settings), the
//! HTTP connector with its TLS trust store and connect timeout. Lists and audit events still use the SDK.
//!
//! What the SDK's retry strategy did for these calls is done here, the same way: an idempotent read is tried
//! up to three times on transient failures, with jittered exponential backoff; a stop is tried once (the
//! service describes again before any second stop).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{HttpConnector, SharedHttpConnector};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::endpoint::Endpoint as ResolvedEndpoint;
use futures_util::FutureExt;
use http_body_util::BodyExt;
use serde::Deserialize;

/// Time one attempt may take, as the SDK's attempt timeout for the same calls.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts for an idempotent read, as the SDK's standard retry mode was configured.
const READ_ATTEMPTS: u32 = 3;
/// Credentials without an expiry are fetched again this often (the SDK's identity cache does the same).
const UNEXPIRING_CREDENTIALS_TTL: Duration = Duration::from_secs(15 * 60);
/// Credentials are refreshed this long before they expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// A reply larger than this is not an answer to a describe or a stop.
const MAX_REPLY: usize = 1 << 20;

/// Signs and sends requests for every region and service; one per process, shared by the adapters.
#[derive(Debug)]
pub struct Direct {
    connector: SharedHttpConnector,
    credentials: Option<SharedCredentialsProvider>,
    cached: tokio::sync::Mutex<Option<(Identity, SystemTime)>>,
    user_agent: http::HeaderValue,
    read_attempts: u32,
}

/// Where one service's direct calls go in one region: resolved once by the SDK's endpoint rules.
#[derive(Debug)]
pub struct Endpoint {
    base: String,
    authority: String,
    signing_name: String,
    signing_region: String,
}

/// A region's direct calls: the shared caller and the region's endpoint.
#[derive(Clone, Debug)]
pub struct Route {
    /// Signs and sends.
    pub caller: Arc<Direct>,
    /// Where to.
    pub endpoint: Arc<Endpoint>,
}

impl Route {
    /// Sends `request` (see [`Direct::call`]).
    pub async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        request: &Request<'_>,
        idempotent: bool,
    ) -> Result<T, DirectError> {
        self.caller.call(&self.endpoint, request, idempotent).await
    }
}

/// One request: method, path and query (already percent-encoded), the `X-Amz-Target` for JSON-protocol
/// services, the content type and the body.
pub struct Request<'a> {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Path below the endpoint, encoded, starting with `/`.
    pub path: &'a str,
    /// `X-Amz-Target` (AWS JSON protocols); `None` for REST.
    pub target: Option<&'static str>,
    /// `Content-Type` of the body; `None` without one.
    pub content_type: Option<&'static str>,
    /// The body (empty for a GET).
    pub body: Vec<u8>,
}

/// Why a direct call failed. Service errors keep the status, the error code (as the SDK parses it) and the
/// message, so the adapters map them exactly as they map the SDK's errors.
#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    /// The service answered with an error.
    #[error("HTTP {status} {code}: {message}", code = code.as_deref().unwrap_or("(no error code)"))]
    Service {
        /// HTTP status.
        status: u16,
        /// Error code, sanitised as the SDK does (`ns#Code:detail` → `Code`).
        code: Option<String>,
        /// The error message, if the body had one.
        message: String,
        /// `Retry-After`, if the service sent one.
        retry_after: Option<Duration>,
    },
    /// No answer within the attempt timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed, or was lost before a complete answer.
    #[error("request failed")]
    Transport(#[source] ConnectorError),
    /// The answer's body could not be read.
    #[error("reply body could not be read: {0}")]
    Body(String),
    /// The answer was a success but not the expected JSON.
    #[error("reply not understood")]
    Malformed(#[source] serde_json::Error),
    /// No credentials to sign with.
    #[error("no credentials: {0}")]
    Credentials(String),
    /// The request could not be signed or built.
    #[error("request could not be built: {0}")]
    Request(String),
    /// The endpoint rules gave no endpoint for this region.
    #[error("no endpoint: {0}")]
    Endpoint(String),
}

impl DirectError {
    /// The HTTP status of a service error.
    pub fn status(&self) -> Option<u16> {
        match self {
            DirectError::Service { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error code of a service error.
    pub fn code(&self) -> Option<&str> {
        match self {
            DirectError::Service { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Failures worth trying again: no answer, a lost connection, a 5xx, throttling. Anything else would fail
    /// the same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            DirectError::Timeout(_) | DirectError::Transport(_) | DirectError::Body(_) => true,
            DirectError::Service { status, code, .. } => {
                *status >= 500 || *status == 429 || code.as_deref().is_some_and(super::is_throttling_code)
            }
            _ => false,
        }
    }
}

impl Direct {
    /// Uses the SDK configuration's credentials chain and the given connector (see [`connector`]).
    pub fn new(sdk: &SdkConfig, connector: SharedHttpConnector) -> Self {
        Direct {
            connector,
            credentials: sdk.credentials_provider(),
            cached: tokio::sync::Mutex::new(None),
            user_agent: http::HeaderValue::from_static(concat!("stop-gateway/", env!("CARGO_PKG_VERSION"))),
            read_attempts: READ_ATTEMPTS,
        }
    }

    /// Attempts per idempotent read (at least one); three by default.
    pub fn read_attempts(mut self, attempts: u32) -> Self {
        self.read_attempts = attempts.max(1);
        self
    }

    /// Sends `request`, signed, and returns the body of a 2xx answer parsed as `T`. Reads (`idempotent`) are
    /// tried again on transient failures.
    pub async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        endpoint: &Endpoint,
        request: &Request<'_>,
        idempotent: bool,
    ) -> Result<T, DirectError> {
        let attempts = if idempotent { self.read_attempts } else { 1 };
        let mut attempt = 1;
        loop {
            match self.attempt(endpoint, request).await {
                Ok(body) => return serde_json::from_slice(&body).map_err(DirectError::Malformed),
                Err(err) if attempt < attempts && err.is_transient() => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn attempt(&self, endpoint: &Endpoint, request: &Request<'_>) -> Result<bytes::Bytes, DirectError> {
        let signed = self.sign(endpoint, request).await?;
        let exchange = async {
            let response = self.connector.call(signed).await.map_err(DirectError::Transport)?;
            let status = response.status().as_u16();
            // Only an error's headers are read; a success is its body.
            let header = |name: &str| response.headers().get(name).map(str::to_owned);
            let error_headers = if (200..300).contains(&status) {
                (None, None)
            } else {
                (header("x-amzn-errortype"), header("retry-after"))
            };
            // Read at most MAX_REPLY bytes: a longer body fails here instead of being buffered.
            let body = http_body_util::Limited::new(response.into_body(), MAX_REPLY);
            let body = body.collect().await.map_err(|e| DirectError::Body(e.to_string()))?.to_bytes();
            Ok::<_, DirectError>((status, error_headers, body))
        };
        let (status, (error_type, retry_after), body) = tokio::time::timeout(ATTEMPT_TIMEOUT, exchange)
            .await
            .map_err(|_| DirectError::Timeout(ATTEMPT_TIMEOUT))??;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(service_error(status, error_type, retry_after, &body))
    }

    async fn sign(&self, endpoint: &Endpoint, request: &Request<'_>) -> Result<HttpRequest, DirectError> {
        let identity = self.identity().await?;
        let uri = format!("{}{}", endpoint.base, request.path);
        let mut headers: Vec<(&str, &str)> = vec![("host", &endpoint.authority)];
        if let Some(content_type) = request.content_type {
            headers.push(("content-type", content_type));
        }
        if let Some(target) = request.target {
            headers.push(("x-amz-target", target));
        }
        let signing = v4::SigningParams::builder()
            .identity(&identity)
            .region(&endpoint.signing_region)
            .name(&endpoint.signing_name)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| DirectError::Request(e.to_string()))?
            .into();
        let signable = SignableRequest::new(request.method, Cow::Borrowed(uri.as_str()), headers.iter().copied(), {
            SignableBody::Bytes(&request.body)
        })
        .map_err(|e| DirectError::Request(e.to_string()))?;
        let (instructions, _signature) =
            sign(signable, &signing).map_err(|e| DirectError::Request(e.to_string()))?.into_parts();
        let mut builder = http::Request::builder().method(request.method).uri(&uri);
        for (name, value) in &headers {
            builder = builder.header(*name, *value);
        }
        let mut http_request = builder
            .header(http::header::USER_AGENT, self.user_agent.clone())
            .body(SdkBody::from(request.body.clone()))
            .map_err(|e| DirectError::Request(e.to_string()))?;
        instructions.apply_to_request_http1x(&mut http_request);
        HttpRequest::try_from(http_request).map_err(|e| DirectError::Request(e.to_string()))
    }

    /// Cached credentials, fetched again a while before they expire. The lock is held during a refresh, so
    /// concurrent calls wait for one fetch rather than each starting their own.
    async fn identity(&self) -> Result<Identity, DirectError> {
        let Some(provider) = &self.credentials else {
            return Err(DirectError::Credentials("no credentials provider is configured".into()));
        };
        let mut cached = self.cached.lock().await;
        let now = SystemTime::now();
        if let Some((identity, refresh_at)) = cached.as_ref()
            && now < *refresh_at
        {
            return Ok(identity.clone());
        }
        let credentials = provider.provide_credentials().await.map_err(|e| DirectError::Credentials(e.to_string()))?;
        let refresh_at = match credentials.expiry() {
            Some(expiry) => expiry.checked_sub(REFRESH_BEFORE_EXPIRY).unwrap_or(expiry),
            None => now + UNEXPIRING_CREDENTIALS_TTL,
        };
        let identity = Identity::from(credentials);
        *cached = Some((identity.clone(), refresh_at));
        Ok(identity)
    }
}

/// The HTTP connector for direct calls: the same hyper and rustls stack, trust store and connect timeout as
/// the SDK clients' (see [`super::https_client`]).
pub fn connector(sdk: &SdkConfig, trusted_roots: Option<&[u8]>) -> SharedHttpConnector {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let settings = aws_smithy_runtime_api::client::http::HttpConnectorSettings::builder()
        .connect_timeout(super::CONNECT_TIMEOUT)
        .build();
    let mut builder = aws_smithy_http_client::Connector::builder().connector_settings(settings);
    if let Some(sleep) = sdk.sleep_impl() {
        builder = builder.sleep_impl(sleep);
    }
    let builder = builder.tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
    let builder = match super::tls_context(trusted_roots) {
        Some(context) => builder.tls_context(context),
        None => builder,
    };
    SharedHttpConnector::new(builder.build())
}

impl Endpoint {
    /// Resolves a service's endpoint for `region` with the SDK's endpoint rules. `service_id` names the
    /// service-specific `AWS_ENDPOINT_URL_<ID>` variable, and `resolve` runs that service's rules.
    pub fn resolve(
        sdk: &SdkConfig,
        service_id: &str,
        default_signing_name: &str,
        region: &str,
        resolve: impl FnOnce(Option<String>) -> Result<ResolvedEndpoint, BoxError>,
    ) -> Result<Endpoint, DirectError> {
        let resolved = resolve(endpoint_override(sdk, service_id)).map_err(|e| DirectError::Endpoint(e.to_string()))?;
        let uri: http::Uri = resolved
            .url()
            .parse()
            .map_err(|e: http::uri::InvalidUri| DirectError::Endpoint(format!("{}: {e}", resolved.url())))?;
        let authority = uri.authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
        // A SigV4 auth scheme in the endpoint's properties may override the signing name and region.
        let scheme = resolved
            .properties()
            .get("authSchemes")
            .and_then(|schemes| schemes.as_array())
            .and_then(|schemes| schemes.iter().find_map(|s| s.as_object().filter(|s| is_sigv4(s))));
        let property = |name: &str| scheme.and_then(|s| s.get(name)).and_then(|v| v.as_string()).map(str::to_owned);
        Ok(Endpoint {
            base: resolved.url().trim_end_matches('/').to_owned(),
            authority,
            signing_name: property("signingName").unwrap_or_else(|| default_signing_name.to_owned()),
            signing_region: property("signingRegion").unwrap_or_else(|| region.to_owned()),
        })
    }

    /// The base URL calls go to.
    pub fn url(&self) -> &str {
        &self.base
    }
}

fn is_sigv4(scheme: &std::collections::HashMap<String, aws_smithy_types::Document>) -> bool {
    scheme.get("name").and_then(|n| n.as_string()) == Some("sigv4")
}

/// The endpoint URL set for a service, as the SDK's clients pick it: set in code, else the service's own
/// `AWS_ENDPOINT_URL_<ID>` (or profile setting), else `AWS_ENDPOINT_URL`.
fn endpoint_override(sdk: &SdkConfig, service_id: &str) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(str::to_owned);
    }
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok();
    key.and_then(|key| sdk.service_config().and_then(|conf| conf.load_config(key)))
        .or_else(|| sdk.endpoint_url().map(str::to_owned))
}

/// Runs an endpoint resolver that answers at once (the SDK's rule-based resolvers do).
pub fn resolve_now(
    future: aws_smithy_runtime_api::client::endpoint::EndpointFuture<'_>,
) -> Result<ResolvedEndpoint, BoxError> {
    future.now_or_never().unwrap_or_else(|| Err("the endpoint resolver did not answer at once".into()))
}

/// Parses an error reply as the SDK does: the code from `x-amzn-errortype` or the body's `code`/`__type`,
/// stripped of namespace and detail; the message from `message`, `Message` or `errorMessage`.
fn service_error(status: u16, header_code: Option<String>, retry_after: Option<String>, body: &[u8]) -> DirectError {
    #[derive(Deserialize, Default)]
    struct ErrorBody {
        code: Option<String>,
        #[serde(rename = "__type")]
        kind: Option<String>,
        #[serde(alias = "Message", alias = "errorMessage")]
        message: Option<String>,
    }
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let code = header_code.or(parsed.code).or(parsed.kind).map(|c| sanitize_code(&c).to_owned());
    let message = parsed.message.unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(256)]).into_owned());
    let retry_after = retry_after
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(super::MAX_THROTTLE_WAIT.as_secs_f64())));
    DirectError::Service { status, code, message, retry_after }
}

fn sanitize_code(code: &str) -> &str {
    let code = code.split(':').next().unwrap_or(code);
    code.rsplit('#').next().unwrap_or(code)
}

/// Full-jitter exponential backoff between read attempts, as the SDK's standard retry mode: up to
/// 100 ms × 2^(attempt − 1), never more than 2 s.
fn backoff(attempt: u32) -> Duration {
    let ceiling = super::INITIAL_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(10)).min(super::MAX_BACKOFF);
    // Jitter only needs to spread retries apart, not to be unpredictable: the clock's nanoseconds will do.
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    ceiling.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

/// Percent-encodes a path label as the SDK does for REST services: everything but unreserved characters.
pub fn encode_label(value: &str) -> String {
    const LABEL: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    percent_encoding::utf8_percent_encode(value, LABEL).to_string()
}

/// An epoch-seconds timestamp as the services send them; `None` for the epoch, which is never evidence.
pub fn epoch_seconds(value: Option<f64>) -> Option<chrono::DateTime<chrono::Utc>> {
    let value = value.filter(|v| v.is_finite() && *v > 0.0)?;
    chrono::DateTime::from_timestamp(value.trunc() as i64, (value.fract() * 1e9) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_parsed_as_the_sdk_parses_them() {
        let err = service_error(
            400,
            None,
            None,
            br#"{"__type":"com.amazonaws.states#ExecutionDoesNotExist","message":"no"}"#,
        );
        assert_eq!((err.status(), err.code()), (Some(400), Some("ExecutionDoesNotExist")));
        let header = Some("ResourceNotFoundException:http://internal.amazon.com/coral/".to_owned());
        let err = service_error(404, header, None, br#"{"Type":"User","Message":"gone"}"#);
        assert_eq!(err.code(), Some("ResourceNotFoundException"));
        assert!(err.to_string().contains("gone"));
        let err = service_error(429, None, Some("2".into()), b"<html>");
        assert_eq!(err.code(), None);
        assert!(err.is_transient());
        assert!(matches!(err, DirectError::Service { retry_after: Some(d), .. } if d == Duration::from_secs(2)));
        assert!(!service_error(403, Some("AccessDeniedException".into()), None, b"{}").is_transient());
        assert!(service_error(400, Some("ThrottlingException".into()), None, b"{}").is_transient());
        assert!(service_error(503, None, None, b"").is_transient());
    }

    #[test]
    fn labels_are_encoded_like_the_sdk_does() {
        assert_eq!(
            encode_label("arn:aws:lambda:us-east-1:111122223333:function:f:$LATEST/durable-execution/o-1/abc"),
            "arn%3Aaws%3Alambda%3Aus-east-1%3A111122223333%3Afunction%3Af%3A%24LATEST%2Fdurable-execution%2Fo-1%2Fabc"
        );
    }

    #[test]
    fn timestamps_at_or_before_the_epoch_are_not_evidence() {
        assert_eq!(epoch_seconds(None), None);
        assert_eq!(epoch_seconds(Some(0.0)), None);
        assert_eq!(epoch_seconds(Some(f64::NAN)), None);
        assert_eq!(epoch_seconds(Some(1_795_230_765.5)).map(|t| t.timestamp_millis()), Some(1_795_230_765_500));
    }

    #[test]
    fn backoff_stays_under_its_ceiling() {
        for attempt in 1..20 {
            assert!(backoff(attempt) <= super::super::MAX_BACKOFF);
        }
        assert!(backoff(1) <= super::super::INITIAL_BACKOFF);
    }
}
