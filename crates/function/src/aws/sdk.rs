//! The shared SDK configuration: credentials and region from the Lambda environment, the HTTPS client and its
//! trust store, and explicit retry and timeout settings, so no call can hang an invocation.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{AppName, BehaviorVersion, SdkConfig};

use super::pacing::MAX_ATTEMPTS;

/// Per-attempt and per-operation timeouts for every SDK call. They are ceilings: `paced` also cuts every call
/// off at the invocation's deadline, so the time an operation really gets is derived from the time left.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time to open a connection (TCP and TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(12);
/// Backoff between SDK attempts: a kill-switch should not sit out the SDK's default one-second base.
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The name the SDK adds to its user agent (`app/stop-gateway`), so CloudTrail shows which tool made a call.
pub const APP_NAME: &str = "stop-gateway";

/// Loads the shared SDK configuration once: region and credentials from the Lambda environment, endpoints from
/// `AWS_ENDPOINT_URL*` when set, and explicit retry and timeout settings so no call can hang an invocation.
pub async fn load_sdk_config(trusted_roots: Option<&[u8]>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client(trusted_roots))
        // Stalled-stream protection watches body throughput with timers on every request; the bodies here are
        // a few hundred bytes and the operation timeouts below already bound every call.
        .stalled_stream_protection(aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled())
        .retry_config(read_retries())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        );
    // A constant of valid characters; the `if` only keeps `unwrap` out of the code.
    if let Ok(name) = AppName::new(APP_NAME) {
        loader = loader.app_name(name);
    }
    loader.load().await
}

/// The retry configuration of read clients (describe, list, `PutEvents`): the SDK's standard mode, with a
/// short backoff.
pub fn read_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

/// The retry configuration of stop clients: the shared one with a single attempt (see `regional::Clients`).
pub fn single_attempt() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(1)
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
fn tls_context(trusted_roots: Option<&[u8]>) -> Option<aws_smithy_http_client::tls::TlsContext> {
    use aws_smithy_http_client::tls::{TlsContext, TrustStore};
    let store =
        TrustStore::empty().with_native_roots(false).with_pem_certificate(trusted_roots.unwrap_or(AMAZON_ROOTS));
    TlsContext::builder()
        .with_trust_store(store)
        .build()
        .inspect_err(|err| tracing::error!(error = %err, "could not build the TLS trust store; using the defaults"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_trust_store_holds_the_five_amazon_roots() {
        let text = std::str::from_utf8(AMAZON_ROOTS).unwrap();
        assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        assert_eq!(crate::config::parse_certificates(AMAZON_ROOTS).unwrap(), 5);
    }

    #[test]
    fn the_app_name_is_valid() {
        assert!(AppName::new(APP_NAME).is_ok());
    }
}
