//! Adapters that own AWS SDK clients and translate between them and the domain.
//!
//! Everything SDK-specific stops here: callers see domain types and [`StopError`]. Clients are built once at
//! start-up from one shared [`SdkConfig`]; a target in another region gets its own client on first use, which is
//! then kept for the life of the process.

pub mod audit_bus;
pub mod direct;
pub mod durable;
pub mod sfn;

use std::collections::HashMap;
use std::error::Error;
use std::future::Future;
use std::sync::RwLock;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{DateTime, Utc};

use crate::domain::outcome::StopError;
use crate::pacing::{Api, Pacer};

/// Per-attempt and per-operation timeouts for every SDK call. They are ceilings: `paced` also cuts every call
/// off at the invocation's deadline, so the time an operation really gets is derived from the time left.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time to open a connection (TCP and TLS), for the SDK's clients and the direct calls alike.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(12);
/// SDK attempts per operation (standard retry mode) for reads; stops make one (see [`Clients`]).
const MAX_ATTEMPTS: u32 = 3;
/// Backoff between SDK attempts: a kill-switch should not sit out the SDK's default one-second base.
pub(crate) const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Kept back from the deadline for answering and auditing.
const ANSWER_RESERVE: Duration = Duration::from_millis(750);

/// Loads the shared SDK configuration once: region and credentials from the Lambda environment, endpoints from
/// `AWS_ENDPOINT_URL*` when set, and explicit retry and timeout settings so no call can hang an invocation.
pub async fn load_sdk_config(trusted_roots: Option<&[u8]>) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client(trusted_roots))
        // Stalled-stream protection watches body throughput with timers on every request; the bodies here are
        // a few hundred bytes and the operation timeouts below already bound every call.
        .stalled_stream_protection(aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(INITIAL_BACKOFF)
                .with_max_backoff(MAX_BACKOFF),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

/// Amazon Trust Services roots (Amazon Root CA 1–4 and Starfield Services Root CA G2), which AWS service
/// endpoints chain to. Embedded, so start-up reads no certificate files.
pub const AMAZON_ROOTS: &[u8] = include_bytes!("amazon-roots.pem");

/// The HTTPS client every SDK client shares: hyper with rustls on the ring crypto provider, trusting
/// `trusted_roots` (PEM) or, by default, only [`AMAZON_ROOTS`]. The system store is deliberately not loaded:
/// scanning it costs most of a cold start, and the gateway talks to AWS endpoints only. `SSL_CERT_FILE`
/// (validated in `Config`) supplies other roots: local stand-ins, private CAs, or the system bundle.
pub fn https_client(trusted_roots: Option<&[u8]>) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
    match tls_context(trusted_roots) {
        Some(context) => builder.tls_context(context).build_https(),
        None => builder.build_https(),
    }
}

/// The TLS context of every connection: `trusted_roots` (PEM) or [`AMAZON_ROOTS`]. `None` only for a store
/// the builder rejects (logged); the client's defaults then still verify certificates.
pub(crate) fn tls_context(trusted_roots: Option<&[u8]>) -> Option<aws_smithy_http_client::tls::TlsContext> {
    use aws_smithy_http_client::tls::{TlsContext, TrustStore};
    let store =
        TrustStore::empty().with_native_roots(false).with_pem_certificate(trusted_roots.unwrap_or(AMAZON_ROOTS));
    TlsContext::builder()
        .with_trust_store(store)
        .build()
        .inspect_err(|err| tracing::error!(error = %err, "could not build the TLS trust store; using the defaults"))
        .ok()
}

/// A service's clients for one region. `read` retries transient failures itself (describe and list are
/// idempotent); `stop` makes exactly one attempt, because a stop whose answer was lost may still have happened:
/// the service describes the execution again before it ever sends another stop. With `direct`, the describe
/// and the stop are signed and sent without the SDK's orchestrator (see [`direct`]), and the SDK clients serve
/// the lists.
#[derive(Clone, Debug)]
pub struct Clients<C> {
    /// For describe and list calls: the shared retry configuration.
    pub read: C,
    /// For stop calls: retries disabled.
    pub stop: C,
    /// Where this region's describe and stop calls go when they are made directly.
    pub direct: Option<direct::Route>,
}

impl<C: Clone> Clients<C> {
    /// The same client for both, no direct calls (tests whose mocked clients never retry).
    pub fn same(client: C) -> Self {
        Clients { read: client.clone(), stop: client, direct: None }
    }
}

/// The SDK configuration for stop calls: the shared one with a single attempt.
pub fn single_attempt() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(1)
}

/// One client per region: the function's own region built eagerly, others on first use and then cached.
pub struct Regional<C> {
    make: Box<dyn Fn(&str) -> C + Send + Sync>,
    clients: RwLock<HashMap<String, C>>,
}

impl<C: Clone> Regional<C> {
    /// Builds the home-region client now; `make` builds a client for any other region when first needed.
    pub fn new(home_region: &str, make: impl Fn(&str) -> C + Send + Sync + 'static) -> Self {
        let clients = HashMap::from([(home_region.to_owned(), make(home_region))]);
        Regional { make: Box::new(make), clients: RwLock::new(clients) }
    }

    /// The client for `region`.
    pub fn client(&self, region: &str) -> C {
        if let Some(client) = self.clients.read().ok().and_then(|m| m.get(region).cloned()) {
            return client;
        }
        let client = (self.make)(region);
        if let Ok(mut clients) = self.clients.write() {
            return clients.entry(region.to_owned()).or_insert(client).clone();
        }
        client
    }

    /// How many regional clients exist (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.clients.read().map(|m| m.len()).unwrap_or_default()
    }

    /// Whether no client exists (never true after `new`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Error codes AWS services use for throttling that a given operation's model may not list.
const THROTTLING_CODES: &[&str] =
    &["ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"];

/// Maps what an operation's modelled errors do not cover: transport failures, timeouts and unmodelled service
/// errors. 5xx, timeouts and connection failures are transient; throttling is its own outcome; other 4xx
/// (e.g. the gateway's role lacks permission) are not worth retrying.
pub(crate) fn unmodelled<E>(service: &'static str, err: SdkError<E, HttpResponse>) -> StopError
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    if status == Some(429) || err.code().is_some_and(is_throttling_code) {
        return throttled(service, err);
    }
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(_) => status.is_none_or(|s| s >= 500),
        _ => false,
    };
    StopError::Upstream { service, retryable, source: Box::new(err) }
}

/// Whether an error code means throttling, whatever the operation's model lists.
pub(crate) fn is_throttling_code(code: &str) -> bool {
    THROTTLING_CODES.contains(&code)
}

/// [`unmodelled`] for a direct call: the same classification, from the same status and code.
pub(crate) fn direct_unmodelled(service: &'static str, err: direct::DirectError) -> StopError {
    use direct::DirectError;
    if err.status() == Some(429) || err.code().is_some_and(is_throttling_code) {
        return direct_throttled(service, err);
    }
    let retryable = match &err {
        // As the SDK's: no answer, a lost connection or an unreadable answer may pass; a 5xx too.
        DirectError::Timeout(_) | DirectError::Transport(_) | DirectError::Body(_) | DirectError::Malformed(_) => true,
        DirectError::Service { status, .. } => *status >= 500,
        DirectError::Credentials(_) | DirectError::Request(_) | DirectError::Endpoint(_) => false,
    };
    StopError::Upstream { service, retryable, source: Box::new(err) }
}

/// [`throttled`] for a direct call.
pub(crate) fn direct_throttled(service: &'static str, err: direct::DirectError) -> StopError {
    let retry_after = match &err {
        direct::DirectError::Service { retry_after, .. } => *retry_after,
        _ => None,
    };
    StopError::Throttled { service, retry_after, source: Box::new(err) }
}

/// A throttling outcome, keeping how long the service asked us to wait (`Retry-After`, in seconds).
pub(crate) fn throttled<E>(service: &'static str, err: SdkError<E, HttpResponse>) -> StopError
where
    E: Error + Send + Sync + 'static,
{
    let retry_after = err
        .raw_response()
        .and_then(|r| r.headers().get("retry-after"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(MAX_THROTTLE_WAIT.as_secs_f64())));
    StopError::Throttled { service, retry_after, source: Box::new(err) }
}

/// How often a throttled call is tried again after the SDK's own retries gave up.
const THROTTLE_RETRIES: u32 = 4;

/// How often `paced` tries a throttled call again: stop calls make a single SDK attempt, so they get as many
/// tries in all as a read does with the SDK's retries (a throttled request was not processed; trying it again
/// is safe).
fn throttle_retries(api: Api) -> u32 {
    match api {
        Api::StopExecution | Api::StopDurableExecution => (THROTTLE_RETRIES + 1) * MAX_ATTEMPTS - 1,
        _ => THROTTLE_RETRIES,
    }
}
/// Longest wait between those tries, whatever `Retry-After` says.
pub(crate) const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(5);

/// Runs one API call at the pace the quota allows, abandoning it if the invocation's `deadline` (less time to
/// answer and audit) comes first: the SDK's own timeouts are fixed, and no call may outlive the invocation.
/// When the service still throttles after the SDK's retries, waits as long as `Retry-After` asks (or backs off
/// exponentially) and tries again, a bounded number of times and never past the deadline. Safe because every
/// caller either reads or stops after describing first.
pub(crate) async fn paced<T, F, Fut>(
    pacer: &Pacer,
    region: &str,
    api: Api,
    deadline: tokio::time::Instant,
    mut call: F,
) -> Result<T, StopError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StopError>>,
{
    let mut attempt = 0;
    let cutoff = deadline.checked_sub(ANSWER_RESERVE).unwrap_or(deadline);
    loop {
        pacer.acquire(region, api).await;
        let Ok(result) = tokio::time::timeout_at(cutoff, call()).await else {
            return Err(StopError::Upstream {
                service: api.service(),
                retryable: true,
                source: format!("{} abandoned: the invocation's deadline came first", api.name()).into(),
            });
        };
        match result {
            Err(StopError::Throttled { retry_after, .. })
                if attempt < throttle_retries(api)
                    && tokio::time::Instant::now() + wait_for(retry_after, attempt) + ANSWER_RESERVE < deadline =>
            {
                let wait = wait_for(retry_after, attempt);
                tracing::debug!(
                    api = api.name(),
                    region,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "throttled; waiting"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// How long to wait before trying a throttled call again: what `Retry-After` asked, or exponential backoff.
fn wait_for(retry_after: Option<Duration>, attempt: u32) -> Duration {
    retry_after.unwrap_or(Duration::from_millis(100 << attempt)).min(MAX_THROTTLE_WAIT)
}

/// Adds the executions a list call returned, as target ARNs. An ARN the gateway refuses is one it would never
/// stop, so it is logged rather than dropped silently.
pub(crate) fn collect_listed<'a>(
    api: Api,
    arns: impl Iterator<Item = &'a str>,
    into: &mut Vec<crate::domain::arn::TargetArn>,
) {
    for arn in arns {
        match crate::domain::arn::TargetArn::parse(arn) {
            Ok(target) => into.push(target),
            Err(err) => tracing::warn!(api = api.name(), error = %err, "a listed execution ARN is not accepted"),
        }
    }
}

/// Logs an upstream error that is turned into an outcome without a source (not found, invalid), so the detail
/// is not lost.
pub(crate) fn log_mapped(service: &'static str, outcome: &StopError, err: &(dyn Error + 'static)) {
    tracing::info!(service, outcome = outcome.code(), error = %error_chain(err), "upstream error mapped to outcome");
}

/// An error and all its sources on one line.
pub fn error_chain(err: &(dyn Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(source) = next {
        out.push_str(": ");
        out.push_str(&source.to_string());
        next = source.source();
    }
    out
}

/// Converts an SDK timestamp; `None` for the Unix epoch, which is what an empty or malformed response
/// deserialises to and must never be taken as proof that something happened.
pub(crate) fn timestamp(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    if t.secs() <= 0 {
        return None;
    }
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn builds_each_regional_client_once() {
        let built = Arc::new(AtomicUsize::new(0));
        let counter = built.clone();
        let regional = Regional::new("us-east-1", move |region: &str| {
            counter.fetch_add(1, Ordering::SeqCst);
            region.to_owned()
        });
        assert_eq!(regional.client("us-east-1"), "us-east-1");
        assert_eq!(regional.client("eu-west-1"), "eu-west-1");
        assert_eq!(regional.client("eu-west-1"), "eu-west-1");
        assert_eq!(built.load(Ordering::SeqCst), 2);
        assert_eq!(regional.len(), 2);
    }

    #[test]
    fn the_embedded_trust_store_holds_the_five_amazon_roots() {
        let text = std::str::from_utf8(AMAZON_ROOTS).unwrap();
        assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        assert_eq!(crate::config::parse_certificates(AMAZON_ROOTS).unwrap(), 5);
    }

    #[test]
    fn epoch_timestamps_are_not_evidence() {
        assert_eq!(timestamp(&aws_smithy_types::DateTime::from_secs(0)), None);
        assert!(timestamp(&aws_smithy_types::DateTime::from_secs(1_700_000_000)).is_some());
    }
}
