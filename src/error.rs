//! The request boundary's one error type, and the one place that decides what an outcome means for the door:
//! an HTTP status, a plain answer, or a failed invocation that Lambda retries.
//!
//! Every ingress rejection, policy denial and upstream failure is a [`StopError`]. [`disposition`] alone turns
//! (source, result) into an HTTP answer or a Lambda retry; nothing else looks at statuses to decide either.

use std::time::Duration;

use crate::domain::request::SourceKind;

/// A boxed upstream error, kept as the source of [`StopError`] variants so logs can print the whole chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Whether a call that failed may still have acted. A stop flow reads it before it sends a stop again: only a
/// stop that was not sent, or that the service refused, can be resent without describing the execution first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The request never left the gateway (it could not be built, or its credentials could not be had).
    NotSent,
    /// The service answered with a refusal: it did not act.
    Refused,
    /// The answer was lost or is a server fault: the call may have acted.
    Unknown,
}

/// What an upstream failure means, decided in one place (`aws::errors`) for every service: whether trying
/// again may succeed, and whether the failed call may have acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// Whether a later try may succeed (5xx, timeouts, lost connections, the SDK's transient codes).
    pub transient: bool,
    /// Whether the call may have acted.
    pub sent: Sent,
}

/// Every way a request can fail. Messages are safe to show callers; upstream detail stays in `source()`.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    /// The request is malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// An HTTP request for a path other than `…/stop`.
    #[error("{0}")]
    RouteNotFound(String),
    /// An HTTP method other than the route's.
    #[error("{message}")]
    MethodNotAllowed {
        /// What to tell the caller.
        message: String,
        /// The methods the route accepts, for the `Allow` header.
        allow: &'static str,
    },
    /// An HTTP body larger than the gateway reads.
    #[error("request body is {len} bytes; the limit is {limit} bytes")]
    PayloadTooLarge {
        /// Size received.
        len: usize,
        /// Limit.
        limit: usize,
    },
    /// An HTTP request without an IAM identity.
    #[error("{0}")]
    Unauthenticated(String),
    /// The policy said no.
    #[error("{0}")]
    Denied(String),
    /// A listed execution the gateway will not touch: it does not belong to the listed target, or the policy
    /// does not allow it on its own.
    #[error("{0}")]
    Refused(String),
    /// The execution does not exist.
    #[error("{0} does not exist")]
    NotFound(String),
    /// The target is recognised but cannot be stopped here.
    #[error("{0}")]
    NotStoppable(String),
    /// A bulk stop would stop more executions than the policy allows without confirmation.
    #[error(
        "this request would stop {count} executions; the policy allows {limit} per request, so none were stopped (API callers confirm by resending with \"confirmCount\": {count})"
    )]
    BlastRadiusExceeded {
        /// Executions that would be stopped.
        count: usize,
        /// The policy's cap.
        limit: usize,
    },
    /// The target service is throttling; retry later.
    #[error("{service} is throttling requests; retry later")]
    Throttled {
        /// Which service.
        service: &'static str,
        /// How long the service asked us to wait (`Retry-After`), if it said.
        retry_after: Option<Duration>,
        /// The upstream error.
        #[source]
        source: BoxError,
    },
    /// Step Functions refused a stop because it could not use the execution's KMS key to encrypt the stop's
    /// error and cause (access denied, or the key disabled or pending deletion). A stop without them needs no
    /// KMS permission, so the service may send one (see the policy's `kms_fallback`).
    #[error("{service} could not use the execution's KMS key for the stop's error and cause")]
    KmsKeyUnusable {
        /// Which service.
        service: &'static str,
        /// The upstream error.
        #[source]
        source: BoxError,
    },
    /// A target in another account that the policy names no role for: refused before any call.
    #[error(
        "no role is configured for account {0}: the gateway acts in its own account and in accounts the policy's account_roles name a role for"
    )]
    AccountNotConfigured(String),
    /// The role of a target's account could not be assumed (trust policy, external id, STS).
    #[error("could not assume {role} to act in account {account}")]
    AssumeRoleFailed {
        /// The role's ARN.
        role: String,
        /// The target account.
        account: String,
        /// Whether trying again may succeed (an STS outage, throttling, a timeout), as `aws::errors` classifies it.
        transient: bool,
        /// The upstream error.
        #[source]
        source: BoxError,
    },
    /// The tags of an alarm in ALARM that may latch could not be read, so the latch cannot tell what it covers.
    #[error(
        "could not read the tags of alarm {alarm}, which may latch this target; the latch cannot tell what it covers"
    )]
    LatchUnreadable {
        /// The alarm's ARN.
        alarm: String,
        /// Whether trying again may succeed.
        transient: bool,
        /// The upstream error.
        #[source]
        source: BoxError,
    },
    /// No policy could be loaded (or none yet): nothing can be decided, so nothing is stopped.
    #[error("no policy is in force, so nothing can be allowed: {0}")]
    PolicyUnavailable(String),
    /// The target service failed or could not be reached.
    #[error("{service} request failed")]
    Upstream {
        /// Which service.
        service: &'static str,
        /// Whether trying again may succeed, and whether the call may have acted.
        failure: Failure,
        /// The upstream error.
        #[source]
        source: BoxError,
    },
}

impl StopError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            StopError::InvalidRequest(_) => "invalid_request",
            StopError::RouteNotFound(_) => "route_not_found",
            StopError::MethodNotAllowed { .. } => "method_not_allowed",
            StopError::PayloadTooLarge { .. } => "payload_too_large",
            StopError::Unauthenticated(_) => "unauthenticated",
            StopError::Denied(_) => "denied",
            StopError::AccountNotConfigured(_) => "account_not_configured",
            StopError::Refused(_) => "refused",
            StopError::PolicyUnavailable(_) => "policy_unavailable",
            StopError::NotFound(_) => "not_found",
            StopError::NotStoppable(_) => "not_stoppable",
            StopError::BlastRadiusExceeded { .. } => "blast_radius_exceeded",
            StopError::Throttled { .. } => "throttled",
            StopError::KmsKeyUnusable { .. }
            | StopError::Upstream { .. }
            | StopError::AssumeRoleFailed { .. }
            | StopError::LatchUnreadable { .. } => "upstream_error",
        }
    }

    /// Whether an asynchronous invocation should fail so Lambda retries it: only transient upstream trouble.
    /// Everything else is a handled outcome; retrying would give the same answer.
    pub fn is_retryable(&self) -> bool {
        match self {
            // A fixed document or parameter may be repaired; an event retried later may find it.
            StopError::Throttled { .. } | StopError::PolicyUnavailable(_) => true,
            StopError::Upstream { failure, .. } => failure.transient,
            StopError::AssumeRoleFailed { transient, .. } | StopError::LatchUnreadable { transient, .. } => *transient,
            _ => false,
        }
    }

    /// Whether the failed call may have acted, so that whatever it asked must be checked before it is asked again
    /// (a stop whose answer was lost is followed by a describe, never by a blind second stop).
    pub fn may_have_acted(&self) -> bool {
        matches!(self, StopError::Upstream { failure: Failure { sent: Sent::Unknown, .. }, .. })
    }
}

/// What the disposition needs to know of a handled request: whether work is left that a resend continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing left to do.
    Done,
    /// Executions are left (deadline reached, or transient failures); a resend continues idempotently.
    Incomplete,
    /// Executions were left running for reasons a resend would not change (a bulk stop that failed in part).
    Failed,
}

/// An HTTP answer's status line and the headers that depend on the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The HTTP status code.
    pub code: u16,
    /// The `Allow` header, for a method the route does not take.
    pub allow: Option<&'static str>,
}

/// What one invocation ends in.
#[derive(Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Answer: with this status for HTTP doors; events get the body alone and the status is informative.
    Answer(Status),
    /// Fail the invocation so Lambda retries the (asynchronous) event.
    Retry(RetryableFailure),
}

/// Decides how an invocation ends. Asynchronous sources (EventBridge, alarms) fail the invocation only when a
/// retry can do better: transient upstream trouble, or a bulk stop with work left. Everything else (denials,
/// bad input, finished executions) is a handled, audited answer, because retrying would give the same one.
pub fn disposition(source: SourceKind, result: Result<Progress, &StopError>, audit_id: &str) -> Disposition {
    let retry = source.retries_on_failure();
    let err = match result {
        Ok(Progress::Done) => return Disposition::Answer(Status { code: 200, allow: None }),
        Ok(Progress::Incomplete) if retry => {
            return Disposition::Retry(RetryableFailure {
                code: "incomplete",
                message: "executions are left (deadline reached or transient failures); a retry continues".into(),
                audit_id: audit_id.to_owned(),
            });
        }
        // HTTP callers read `remaining` and resend.
        Ok(Progress::Incomplete) => return Disposition::Answer(Status { code: 503, allow: None }),
        // The answer lists what failed and why; a retry would give the same one.
        Ok(Progress::Failed) => return Disposition::Answer(Status { code: 502, allow: None }),
        Err(err) => err,
    };
    if retry && err.is_retryable() {
        return Disposition::Retry(RetryableFailure {
            code: err.code(),
            message: err.to_string(),
            audit_id: audit_id.to_owned(),
        });
    }
    let (code, allow) = match err {
        StopError::InvalidRequest(_) => (400, None),
        StopError::Unauthenticated(_) => (401, None),
        StopError::Denied(_) | StopError::Refused(_) | StopError::AccountNotConfigured(_) => (403, None),
        StopError::NotFound(_) | StopError::RouteNotFound(_) => (404, None),
        StopError::MethodNotAllowed { allow, .. } => (405, Some(*allow)),
        StopError::NotStoppable(_) | StopError::BlastRadiusExceeded { .. } => (409, None),
        StopError::PayloadTooLarge { .. } => (413, None),
        StopError::Throttled { .. } => (429, None),
        StopError::PolicyUnavailable(_) => (503, None),
        // A transient upstream failure asks the caller to come back (503, `retryable`); a final one is the
        // upstream's answer to fix (502).
        StopError::Upstream { .. } | StopError::AssumeRoleFailed { .. } | StopError::LatchUnreadable { .. }
            if err.is_retryable() =>
        {
            (503, None)
        }
        StopError::KmsKeyUnusable { .. }
        | StopError::Upstream { .. }
        | StopError::AssumeRoleFailed { .. }
        | StopError::LatchUnreadable { .. } => (502, None),
    };
    Disposition::Answer(Status { code, allow })
}

/// An invocation error that asks Lambda to retry an asynchronous event.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message} (audit id {audit_id})")]
pub struct RetryableFailure {
    code: &'static str,
    message: String,
    audit_id: String,
}

#[cfg(feature = "runtime")]
impl From<RetryableFailure> for lambda_runtime::Diagnostic {
    fn from(err: RetryableFailure) -> lambda_runtime::Diagnostic {
        lambda_runtime::Diagnostic { error_type: format!("StopGateway.{}", err.code), error_message: err.to_string() }
    }
}

/// An error and all its sources on one line, for logs.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(source) = next {
        out.push_str(": ");
        out.push_str(&source.to_string());
        next = source.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed() -> BoxError {
        "boom".into()
    }

    /// How each door ends for one result: HTTP doors by status, events by answer (`A`) or retry (`R`).
    struct Row {
        result: Result<Progress, StopError>,
        code: &'static str,
        http: u16,
        event: char,
    }

    fn row(result: Result<Progress, StopError>, code: &'static str, http: u16, event: char) -> Row {
        Row { result, code, http, event }
    }

    #[test]
    fn one_table_decides_every_source_and_outcome() {
        let up = |transient| StopError::Upstream {
            service: "s",
            failure: Failure { transient, sent: if transient { Sent::Unknown } else { Sent::Refused } },
            source: boxed(),
        };
        let table = [
            row(Ok(Progress::Done), "", 200, 'A'),
            row(Ok(Progress::Incomplete), "", 503, 'R'),
            row(Ok(Progress::Failed), "", 502, 'A'),
            row(Err(StopError::InvalidRequest("x".into())), "invalid_request", 400, 'A'),
            row(Err(StopError::RouteNotFound("x".into())), "route_not_found", 404, 'A'),
            row(
                Err(StopError::MethodNotAllowed { message: "x".into(), allow: "POST" }),
                "method_not_allowed",
                405,
                'A',
            ),
            row(Err(StopError::PayloadTooLarge { len: 2, limit: 1 }), "payload_too_large", 413, 'A'),
            row(Err(StopError::Unauthenticated("x".into())), "unauthenticated", 401, 'A'),
            row(Err(StopError::Denied("x".into())), "denied", 403, 'A'),
            row(Err(StopError::Refused("x".into())), "refused", 403, 'A'),
            row(Err(StopError::AccountNotConfigured("x".into())), "account_not_configured", 403, 'A'),
            row(
                Err(StopError::AssumeRoleFailed {
                    role: "r".into(),
                    account: "a".into(),
                    transient: false,
                    source: boxed(),
                }),
                "upstream_error",
                502,
                'A',
            ),
            row(
                Err(StopError::AssumeRoleFailed {
                    role: "r".into(),
                    account: "a".into(),
                    transient: true,
                    source: boxed(),
                }),
                "upstream_error",
                503,
                'R',
            ),
            row(
                Err(StopError::LatchUnreadable { alarm: "a".into(), transient: true, source: boxed() }),
                "upstream_error",
                503,
                'R',
            ),
            row(Err(StopError::NotFound("x".into())), "not_found", 404, 'A'),
            row(Err(StopError::NotStoppable("x".into())), "not_stoppable", 409, 'A'),
            row(Err(StopError::BlastRadiusExceeded { count: 2, limit: 1 }), "blast_radius_exceeded", 409, 'A'),
            row(Err(StopError::Throttled { service: "s", retry_after: None, source: boxed() }), "throttled", 429, 'R'),
            row(Err(up(true)), "upstream_error", 503, 'R'),
            row(Err(up(false)), "upstream_error", 502, 'A'),
            row(Err(StopError::PolicyUnavailable("x".into())), "policy_unavailable", 503, 'R'),
            row(Err(StopError::KmsKeyUnusable { service: "s", source: boxed() }), "upstream_error", 502, 'A'),
        ];
        let http = [SourceKind::RestApi, SourceKind::HttpApi, SourceKind::FunctionUrl, SourceKind::Unknown];
        let events = [SourceKind::EventBridge, SourceKind::AlarmEvent, SourceKind::AlarmAction];
        for Row { result, code, http: status, event } in &table {
            if let Err(err) = result {
                assert_eq!(err.code(), *code);
                assert!(crate::metrics::OUTCOMES.contains(code), "{code} is among the outcomes metrics know");
                assert_eq!(err.is_retryable(), *event == 'R', "{err}");
            }
            let result = result.as_ref().map(|p| *p);
            for source in http {
                let Disposition::Answer(answer) = disposition(source, result, "a") else {
                    panic!("{source:?} retried {result:?}")
                };
                assert_eq!(answer.code, *status, "{source:?} {result:?}");
                assert_eq!(answer.allow.is_some(), *status == 405, "Allow only on 405");
            }
            for source in events {
                let got = match disposition(source, result, "a") {
                    Disposition::Answer(_) => 'A',
                    Disposition::Retry(_) => 'R',
                };
                assert_eq!(got, *event, "{source:?} {result:?}");
            }
        }
    }

    #[test]
    fn the_allow_header_comes_from_the_variant() {
        let err = StopError::MethodNotAllowed { message: "m".into(), allow: "POST" };
        let answer = disposition(SourceKind::HttpApi, Err(&err), "a");
        assert_eq!(answer, Disposition::Answer(Status { code: 405, allow: Some("POST") }));
    }

    #[cfg(feature = "runtime")]
    #[test]
    fn retryable_failures_name_their_code() {
        let failure = RetryableFailure { code: "throttled", message: "m".into(), audit_id: "a".into() };
        let d: lambda_runtime::Diagnostic = failure.into();
        assert_eq!(d.error_type, "StopGateway.throttled");
        assert_eq!(d.error_message, "throttled: m (audit id a)");
    }

    #[test]
    fn upstream_detail_stays_out_of_the_message() {
        let failure = Failure { transient: true, sent: Sent::Unknown };
        let err = StopError::Upstream { service: "Step Functions", failure, source: "secret detail".into() };
        assert_eq!(err.to_string(), "Step Functions request failed");
        assert_eq!(std::error::Error::source(&err).map(ToString::to_string).as_deref(), Some("secret detail"));
        assert_eq!(error_chain(&err), "Step Functions request failed: secret detail");
    }
}
