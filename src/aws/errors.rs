//! What an SDK error means for a stop: throttled, worth another try, or final. Each adapter maps the errors its
//! operation models; this file classifies the rest (transport failures, timeouts, unmodelled service errors)
//! the same way for every service, with the SDK's own lists of throttling and transient codes.

use std::error::Error;
use std::time::Duration;

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{DateTime, Utc};

use super::pacing::MAX_THROTTLE_WAIT;
use crate::error::{StopError, error_chain};

/// HTTP statuses the SDK's retry classifier treats as transient (aws-smithy-runtime,
/// `TRANSIENT_ERROR_STATUS_CODES`, which it does not export).
const TRANSIENT_STATUSES: [u16; 4] = [500, 502, 503, 504];

/// Maps what an operation's modelled errors do not cover: transport failures, timeouts and unmodelled service
/// errors, as the SDK's retry classifiers would for a read: 500/502/503/504, `RequestTimeout`, timeouts,
/// unreadable answers and connection failures are transient; throttling is its own outcome; other statuses
/// (e.g. a 403 because the gateway's role lacks permission) are not worth retrying.
pub(crate) fn unmodelled<E>(service: &'static str, err: SdkError<E, HttpResponse>) -> StopError
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    if status == Some(429) || err.code().is_some_and(|c| THROTTLING_ERRORS.contains(&c)) {
        return throttled(service, err);
    }
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(_) => {
            err.code().is_some_and(|c| TRANSIENT_ERRORS.contains(&c))
                || status.is_none_or(|s| TRANSIENT_STATUSES.contains(&s))
        }
        _ => false,
    };
    StopError::Upstream { service, retryable, source: Box::new(err) }
}

/// A throttling outcome, keeping how long the service asked us to wait: `x-amz-retry-after` (milliseconds)
/// first, as the SDK reads it, then `Retry-After` (seconds).
pub(crate) fn throttled<E>(service: &'static str, err: SdkError<E, HttpResponse>) -> StopError
where
    E: Error + Send + Sync + 'static,
{
    let header = |name: &str| err.raw_response().and_then(|r| r.headers().get(name)).map(str::trim);
    let seconds = |value: &str| value.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0);
    let retry_after = header("x-amz-retry-after")
        .and_then(seconds)
        .map(|ms| ms / 1000.0)
        .or_else(|| header("retry-after").and_then(seconds))
        .map(|s| Duration::from_secs_f64(s.min(MAX_THROTTLE_WAIT.as_secs_f64())));
    StopError::Throttled { service, retry_after, source: Box::new(err) }
}

/// Logs an upstream error that is turned into an outcome without a source (not found, invalid), so the detail
/// is not lost.
pub(crate) fn log_mapped(service: &'static str, outcome: &StopError, err: &(dyn Error + 'static)) {
    tracing::info!(service, outcome = outcome.code(), error = %error_chain(err), "upstream error mapped to outcome");
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

    #[test]
    fn epoch_timestamps_are_not_evidence() {
        assert_eq!(timestamp(&aws_smithy_types::DateTime::from_secs(0)), None);
        assert!(timestamp(&aws_smithy_types::DateTime::from_secs(1_700_000_000)).is_some());
    }
}
