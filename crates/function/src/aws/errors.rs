//! The one classification of upstream failures, for every service the gateway calls (Step Functions, Lambda,
//! CloudWatch, Parameter Store, STS, EventBridge): throttled, or failed, and if failed whether trying again may
//! succeed and whether the call may have acted ([`Fault`]). Each adapter maps the errors its operations model
//! to outcomes (not found, invalid); everything else comes here. The disposition reads `transient` (answer or
//! retry), the stop flow reads `sent` (describe before any resend). Nothing else decides either.
//!
//! The rules are the SDK's own, imported rather than copied where it exports them: its lists of throttling and
//! transient error codes, and the statuses its retry classifier treats as transient. When in doubt a failure is
//! transient: a kill-switch that retries in vain ends in the failure queue and pages someone; one that gives up
//! on a passing fault stops nothing and says so only in a log line.

use std::error::Error;
use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{DateTime, Utc};

use stop_gateway_core::domain::failure::{Fault, Sent, StopError, error_chain};

/// Longest wait a throttled call is given before it is tried again, whatever `Retry-After` says.
pub(crate) const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(5);

/// HTTP statuses the SDK's retry classifier treats as transient (aws-smithy-runtime,
/// `TRANSIENT_ERROR_STATUS_CODES`, which it does not export).
const TRANSIENT_STATUSES: [u16; 4] = [500, 502, 503, 504];

/// The answer was lost, or the service failed while handling the call: it may have acted, and may do better later.
const LOST: Fault = Fault { transient: true, sent: Sent::Unknown };

/// What one failed SDK call was.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Class {
    /// The service throttled the call (it did not act), asking to wait this long if it said.
    Throttled(Option<Duration>),
    /// Any other failure.
    Failed(Fault),
}

/// Classifies a failed call as the SDK's retry classifiers would: 429 and the SDK's throttling codes are
/// throttling; 500/502/503/504, its transient codes, timeouts, unreadable answers and lost connections are
/// transient; other service errors (a 403 because a role lacks a permission) are final refusals. A call that
/// failed before it was sent (its credentials could not be had) is classified by why the credentials failed.
pub fn classify<E: ProvideErrorMetadata + Error + 'static>(err: &SdkError<E, HttpResponse>) -> Class {
    let status = err.raw_response().map(|r| r.status().as_u16());
    if status == Some(429) || err.code().is_some_and(|c| THROTTLING_ERRORS.contains(&c)) {
        return Class::Throttled(retry_after(err));
    }
    Class::Failed(match err {
        SdkError::ConstructionFailure(_) => Fault { transient: false, sent: Sent::NotSent },
        SdkError::DispatchFailure(dispatch) => match find::<CredentialsError>(err) {
            Some(credentials_error) => credentials(credentials_error),
            None if dispatch.is_user() => Fault { transient: false, sent: Sent::NotSent },
            None => LOST,
        },
        SdkError::ServiceError(_) => {
            let server = status.is_none_or(|s| s >= 500);
            let transient = err.code().is_some_and(|c| TRANSIENT_ERRORS.contains(&c))
                || status.is_none_or(|s| TRANSIENT_STATUSES.contains(&s));
            Fault { transient, sent: if server { Sent::Unknown } else { Sent::Refused } }
        }
        // Timeouts, unreadable answers, and whatever the SDK adds later.
        _ => LOST,
    })
}

/// What a credentials failure means. Taking another account's role fails through STS `AssumeRole`, which is
/// classified like any other call (an outage, throttling or a timeout is transient; `AccessDenied` on the
/// trust policy is final). Nothing was sent to the target service either way.
pub fn credentials(err: &CredentialsError) -> Fault {
    let transient = match err {
        CredentialsError::ProviderTimedOut(_) => true,
        CredentialsError::InvalidConfiguration(_) | CredentialsError::CredentialsNotLoaded(_) => false,
        _ => match find::<SdkError<AssumeRoleError, HttpResponse>>(err).map(classify) {
            Some(Class::Throttled(_)) => true,
            Some(Class::Failed(fault)) => fault.transient,
            None => true,
        },
    };
    Fault { transient, sent: Sent::NotSent }
}

/// Maps a failed call that no modelled error covers: throttling keeps how long the service asked to wait;
/// anything else is an upstream failure, classified.
pub(crate) fn upstream<E>(service: &'static str, err: SdkError<E, HttpResponse>) -> StopError
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
{
    match classify(&err) {
        Class::Throttled(retry_after) => StopError::Throttled { service, retry_after, source: Box::new(err) },
        Class::Failed(fault) => StopError::Upstream { service, fault, source: Box::new(err) },
    }
}

/// A modelled throttling error (KMS or Lambda throttling, which the SDK's code list does not name).
pub(crate) fn throttled<E>(service: &'static str, err: SdkError<E, HttpResponse>) -> StopError
where
    E: Error + Send + Sync + 'static,
{
    StopError::Throttled { service, retry_after: retry_after(&err), source: Box::new(err) }
}

/// A modelled server fault (Lambda's `ServiceException`, HTTP 500 by its model): transient, and it may have acted.
pub(crate) fn server_fault(
    service: &'static str,
    source: impl Into<stop_gateway_core::domain::failure::BoxError>,
) -> StopError {
    StopError::Upstream { service, fault: LOST, source: source.into() }
}

/// A refusal a retry cannot change, for a modelled error the classification by status would misread (Lambda
/// answers its KMS errors with 502; an alias that resolves to no version is the account's to fix).
pub(crate) fn refused(
    service: &'static str,
    source: impl Into<stop_gateway_core::domain::failure::BoxError>,
) -> StopError {
    StopError::Upstream { service, fault: Fault { transient: false, sent: Sent::Refused }, source: source.into() }
}

/// A call cut off because the invocation's deadline came first: it may have acted, and a retry continues.
pub(crate) fn abandoned(service: &'static str, api: &str) -> StopError {
    let source = format!("{api} abandoned: the invocation's deadline came first");
    StopError::Upstream { service, fault: LOST, source: source.into() }
}

/// A call the quota had no room for before the invocation's deadline: it never left, and a retry may send it.
pub(crate) fn unsent(service: &'static str, api: &str) -> StopError {
    let source = format!("{api} not sent: the quota had no room for it before the invocation's deadline");
    StopError::Upstream { service, fault: Fault { transient: true, sent: Sent::NotSent }, source: source.into() }
}

/// A stop the service accepted while a describe still finds the execution running: a retry settles it.
pub(crate) fn still_running(service: &'static str, status: &str) -> StopError {
    let source = format!("stop accepted but the execution is still {status}");
    StopError::Upstream { service, fault: LOST, source: source.into() }
}

/// How long the service asked us to wait: `x-amz-retry-after` (milliseconds) first, as the SDK reads it, then
/// `Retry-After` (seconds); never longer than the pacer waits.
fn retry_after<E>(err: &SdkError<E, HttpResponse>) -> Option<Duration> {
    let header = |name: &str| err.raw_response().and_then(|r| r.headers().get(name)).map(str::trim);
    let seconds = |value: &str| value.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0);
    header("x-amz-retry-after")
        .and_then(seconds)
        .map(|ms| ms / 1000.0)
        .or_else(|| header("retry-after").and_then(seconds))
        .map(|s| Duration::from_secs_f64(s.min(MAX_THROTTLE_WAIT.as_secs_f64())))
}

/// The first error of type `T` in `err`'s chain, `err` included.
fn find<'a, T: Error + 'static>(err: &'a (dyn Error + 'static)) -> Option<&'a T> {
    let mut next = Some(err);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        next = current.source();
    }
    None
}

/// Logs an upstream error that is turned into an outcome without a source (not found, invalid), so the detail
/// is not lost.
pub(crate) fn log_mapped(service: &'static str, outcome: &StopError, err: &(dyn Error + 'static)) {
    tracing::info!(service, outcome = outcome.code().as_str(), error = %error_chain(err), "upstream error mapped to outcome");
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
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    /// A service error with this status and code, as any service's SDK would hand it over.
    fn service(status: u16, code: &str) -> SdkError<AssumeRoleError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message("m").build();
        let response = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(AssumeRoleError::generic(meta), response)
    }

    fn failed(transient: bool, sent: Sent) -> Class {
        Class::Failed(Fault { transient, sent })
    }

    #[test]
    fn epoch_timestamps_are_not_evidence() {
        assert_eq!(timestamp(&aws_smithy_types::DateTime::from_secs(0)), None);
        assert!(timestamp(&aws_smithy_types::DateTime::from_secs(1_700_000_000)).is_some());
    }

    #[test]
    fn every_kind_of_failure_has_one_meaning() {
        let table: Vec<(&str, SdkError<AssumeRoleError, HttpResponse>, Class)> = vec![
            ("503 ServiceUnavailable", service(503, "ServiceUnavailable"), failed(true, Sent::Unknown)),
            ("500 InternalFailure", service(500, "InternalFailure"), failed(true, Sent::Unknown)),
            ("501 not transient", service(501, "NotImplemented"), failed(false, Sent::Unknown)),
            ("403 AccessDenied", service(403, "AccessDenied"), failed(false, Sent::Refused)),
            ("400 RequestTimeout", service(400, "RequestTimeout"), failed(true, Sent::Refused)),
            ("429", service(429, "TooManyRequests"), Class::Throttled(None)),
            ("400 Throttling", service(400, "Throttling"), Class::Throttled(None)),
            (
                "connection refused",
                SdkError::dispatch_failure(ConnectorError::io("connection refused".into())),
                failed(true, Sent::Unknown),
            ),
            ("timeout", SdkError::timeout_error("slow"), failed(true, Sent::Unknown)),
            (
                "unreadable answer",
                SdkError::response_error(
                    "garbled",
                    Response::new(StatusCode::try_from(200).unwrap(), SdkBody::empty()),
                ),
                failed(true, Sent::Unknown),
            ),
            ("not built", SdkError::construction_failure("bad input"), failed(false, Sent::NotSent)),
        ];
        for (name, err, class) in table {
            assert_eq!(classify(&err), class, "{name}");
        }
    }

    #[test]
    fn credentials_fail_as_sts_failed_and_nothing_was_sent() {
        let outage = CredentialsError::provider_error(service(503, "ServiceUnavailable"));
        assert_eq!(credentials(&outage), Fault { transient: true, sent: Sent::NotSent });
        let throttled = CredentialsError::provider_error(service(400, "Throttling"));
        assert!(credentials(&throttled).transient);
        let dns = CredentialsError::provider_error(SdkError::<AssumeRoleError, HttpResponse>::dispatch_failure(
            ConnectorError::io("dns error".into()),
        ));
        assert!(credentials(&dns).transient, "a connection failure to STS passes");
        let denied = CredentialsError::provider_error(service(403, "AccessDenied"));
        assert_eq!(credentials(&denied), Fault { transient: false, sent: Sent::NotSent });
        assert!(!credentials(&CredentialsError::invalid_configuration("region disabled")).transient);
        assert!(credentials(&CredentialsError::provider_timed_out(Duration::from_secs(5))).transient);
        // A call whose request never left because its credentials failed is classified the same way.
        let call = SdkError::<AssumeRoleError, HttpResponse>::dispatch_failure(ConnectorError::other(
            Box::new(CredentialsError::provider_error(service(503, "ServiceUnavailable"))),
            None,
        ));
        assert_eq!(classify(&call), failed(true, Sent::NotSent));
    }

    #[test]
    fn the_wait_asked_for_is_kept_and_bounded() {
        let mut response = Response::new(StatusCode::try_from(429).unwrap(), SdkBody::empty());
        response.headers_mut().insert("Retry-After", "1.5");
        let err = SdkError::service_error(AssumeRoleError::generic(ErrorMetadata::builder().build()), response);
        assert_eq!(classify(&err), Class::Throttled(Some(Duration::from_millis(1500))));
        let mut response = Response::new(StatusCode::try_from(429).unwrap(), SdkBody::empty());
        response.headers_mut().insert("x-amz-retry-after", "600000");
        let err = SdkError::service_error(AssumeRoleError::generic(ErrorMetadata::builder().build()), response);
        assert_eq!(classify(&err), Class::Throttled(Some(MAX_THROTTLE_WAIT)));
    }
}
