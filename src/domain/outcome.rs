//! What can happen to a request, and the stable codes callers see for it.
//!
//! [`StopError`] is the one error type of the request boundary: every ingress rejection, policy denial and
//! upstream failure becomes one of its variants. Its HTTP status and whether Lambda should retry are decided
//! here, in one place each.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::arn::TargetArn;
use super::text::{ErrorCode, Reason, SFN_CAUSE_MAX};

/// A boxed upstream error, kept as the source of [`StopError`] variants so logs can print the whole chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The execution status seen by a describe call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionState {
    /// Status as the service names it (`RUNNING`, `SUCCEEDED`, `STOPPED`, …).
    pub status: String,
    /// Whether a stop call would act on it.
    pub stoppable: bool,
    /// When it stopped, if it has.
    pub ended_at: Option<DateTime<Utc>>,
}

/// A request that was handled successfully.
#[derive(Debug)]
pub enum Outcome {
    /// The execution was running and is now stopped.
    Stopped {
        /// Status before the stop.
        previous_status: String,
        /// When it stopped.
        stopped_at: DateTime<Utc>,
    },
    /// The execution had already ended; nothing was done.
    AlreadyFinished {
        /// Its final status.
        status: String,
    },
    /// Allowed, but only reported: nothing was stopped.
    DryRun {
        /// Status at the time (the execution would have been stopped).
        previous_status: String,
    },
    /// An alarm state change that does not act (not a transition into ALARM).
    Ignored {
        /// Why.
        reason: String,
    },
    /// A state machine, function or alarm: many executions, each through the same ensure-stopped path.
    Bulk(BulkReport),
}

impl Outcome {
    /// Stable outcome code.
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Stopped { .. } => "stopped",
            Outcome::AlreadyFinished { .. } => "already_finished",
            Outcome::DryRun { .. } => "dry_run",
            Outcome::Ignored { .. } => "ignored",
            Outcome::Bulk(report) => report.code(),
        }
    }

    /// The HTTP status: 200, except an incomplete bulk stop (503: resend to continue).
    pub fn http_status(&self) -> u16 {
        match self {
            Outcome::Bulk(report) if report.is_incomplete() => 503,
            _ => 200,
        }
    }

    /// The status seen before acting, for single executions.
    pub fn previous_status(&self) -> Option<&str> {
        match self {
            Outcome::Stopped { previous_status, .. } | Outcome::DryRun { previous_status } => Some(previous_status),
            Outcome::AlreadyFinished { status } => Some(status),
            Outcome::Ignored { .. } | Outcome::Bulk(_) => None,
        }
    }

    /// When the gateway stopped the execution.
    pub fn stopped_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Outcome::Stopped { stopped_at, .. } => Some(*stopped_at),
            _ => None,
        }
    }
}

/// What one execution of a bulk stop came to.
#[derive(Debug)]
pub struct ExecutionResult {
    /// The execution.
    pub target: TargetArn,
    /// Its outcome.
    pub result: Result<Outcome, StopError>,
}

/// The result of a bulk stop: every execution handled, and those left when time ran out.
#[derive(Debug, Default)]
pub struct BulkReport {
    /// Executions handled, in completion order.
    pub executions: Vec<ExecutionResult>,
    /// Executions not handled before the deadline; a retry continues with them.
    pub remaining: Vec<TargetArn>,
    /// Whether nothing was stopped on purpose.
    pub dry_run: bool,
}

impl BulkReport {
    /// `incomplete` when anything is left or failed transiently (a retry continues, idempotently), `dry_run`,
    /// `already_finished` when nothing was running, otherwise `stopped`.
    pub fn code(&self) -> &'static str {
        if self.is_incomplete() {
            "incomplete"
        } else if self.dry_run {
            "dry_run"
        } else if self.executions.is_empty() {
            "already_finished"
        } else {
            "stopped"
        }
    }

    /// Whether a retry has work left.
    pub fn is_incomplete(&self) -> bool {
        !self.remaining.is_empty()
            || self.executions.iter().any(|e| e.result.as_ref().is_err_and(StopError::is_retryable))
    }

    /// How many executions ended in each outcome code.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for e in &self.executions {
            let code = match &e.result {
                Ok(o) => o.code(),
                Err(err) => err.code(),
            };
            *counts.entry(code).or_default() += 1;
        }
        if !self.remaining.is_empty() {
            counts.insert("remaining", self.remaining.len());
        }
        counts
    }
}

/// What a stop call records on the execution: the error code, the reason, and who asked under which audit id,
/// so the execution's own history points back to the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct StopText<'a> {
    /// Error code (`StopExecution.error`, durable `ErrorType`).
    pub error_code: &'a ErrorCode,
    /// Reason (start of `cause`, durable `ErrorMessage`).
    pub reason: &'a Reason,
    /// Who asked, as displayed in audit records.
    pub caller: &'a str,
    /// The door the request came through.
    pub source: &'static str,
    /// Audit record id.
    pub audit_id: &'a str,
    /// The allowing rule.
    pub rule_id: &'a str,
}

impl StopText<'_> {
    /// Step Functions `cause`: the reason, then who asked. Never longer than the API's 32 768 characters: the
    /// reason is already bounded, and the trailer is cut if a pathological caller name would overflow.
    pub fn cause(&self) -> String {
        let mut cause = format!(
            "{}\n\n[stop-gateway] requested by {} via {}; rule {}; audit id {}",
            self.reason, self.caller, self.source, self.rule_id, self.audit_id
        );
        if let Some((cut, _)) = cause.char_indices().nth(SFN_CAUSE_MAX) {
            cause.truncate(cut);
        }
        cause
    }
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
    /// An HTTP method other than POST.
    #[error("{0}")]
    MethodNotAllowed(String),
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
    /// The target service failed or could not be reached.
    #[error("{service} request failed")]
    Upstream {
        /// Which service.
        service: &'static str,
        /// Whether trying again may succeed (5xx, timeouts, connection failures).
        retryable: bool,
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
            StopError::MethodNotAllowed(_) => "method_not_allowed",
            StopError::PayloadTooLarge { .. } => "payload_too_large",
            StopError::Unauthenticated(_) => "unauthenticated",
            StopError::Denied(_) => "denied",
            StopError::NotFound(_) => "not_found",
            StopError::NotStoppable(_) => "not_stoppable",
            StopError::BlastRadiusExceeded { .. } => "blast_radius_exceeded",
            StopError::Throttled { .. } => "throttled",
            StopError::Upstream { .. } => "upstream_error",
        }
    }

    /// The HTTP status for API callers.
    pub fn http_status(&self) -> u16 {
        match self {
            StopError::InvalidRequest(_) => 400,
            StopError::Unauthenticated(_) => 401,
            StopError::Denied(_) => 403,
            StopError::NotFound(_) | StopError::RouteNotFound(_) => 404,
            StopError::MethodNotAllowed(_) => 405,
            StopError::NotStoppable(_) | StopError::BlastRadiusExceeded { .. } => 409,
            StopError::PayloadTooLarge { .. } => 413,
            StopError::Throttled { .. } => 429,
            StopError::Upstream { .. } => 502,
        }
    }

    /// Whether an asynchronous invocation should fail so Lambda retries it: only transient upstream trouble.
    /// Everything else is a handled outcome; retrying would give the same answer.
    pub fn is_retryable(&self) -> bool {
        match self {
            StopError::Throttled { .. } => true,
            StopError::Upstream { retryable, .. } => *retryable,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed() -> BoxError {
        "boom".into()
    }

    #[test]
    fn maps_codes_statuses_and_retries_in_one_table() {
        let table: Vec<(StopError, &str, u16, bool)> = vec![
            (StopError::InvalidRequest("x".into()), "invalid_request", 400, false),
            (StopError::RouteNotFound("x".into()), "route_not_found", 404, false),
            (StopError::MethodNotAllowed("x".into()), "method_not_allowed", 405, false),
            (StopError::PayloadTooLarge { len: 2, limit: 1 }, "payload_too_large", 413, false),
            (StopError::Unauthenticated("x".into()), "unauthenticated", 401, false),
            (StopError::Denied("x".into()), "denied", 403, false),
            (StopError::NotFound("x".into()), "not_found", 404, false),
            (StopError::NotStoppable("x".into()), "not_stoppable", 409, false),
            (StopError::BlastRadiusExceeded { count: 2, limit: 1 }, "blast_radius_exceeded", 409, false),
            (StopError::Throttled { service: "s", retry_after: None, source: boxed() }, "throttled", 429, true),
            (StopError::Upstream { service: "s", retryable: true, source: boxed() }, "upstream_error", 502, true),
            (StopError::Upstream { service: "s", retryable: false, source: boxed() }, "upstream_error", 502, false),
        ];
        for (err, code, status, retry) in table {
            assert_eq!((err.code(), err.http_status(), err.is_retryable()), (code, status, retry), "{err}");
        }
    }

    #[test]
    fn cause_names_reason_caller_and_audit_id_within_the_limit() {
        let code = ErrorCode::parse("Ops.Stop").unwrap();
        let reason = Reason::parse("OPS-1 runaway", crate::domain::text::Overflow::Reject).unwrap();
        let text = StopText {
            error_code: &code,
            reason: &reason,
            caller: "arn:aws:iam::111122223333:user/a",
            source: "apigw-http",
            audit_id: "a-1",
            rule_id: "r",
        };
        let cause = text.cause();
        assert!(cause.starts_with(
            "OPS-1 runaway\n\n[stop-gateway] requested by arn:aws:iam::111122223333:user/a via apigw-http"
        ));
        assert!(cause.ends_with("audit id a-1"));
        let long = Reason::parse(&"é".repeat(20_000), crate::domain::text::Overflow::Truncate).unwrap();
        let huge_caller = "c".repeat(40_000);
        let text = StopText { reason: &long, caller: &huge_caller, ..text };
        assert_eq!(text.cause().chars().count(), SFN_CAUSE_MAX);
    }

    #[test]
    fn upstream_detail_stays_out_of_the_message() {
        let err = StopError::Upstream { service: "Step Functions", retryable: true, source: "secret detail".into() };
        assert_eq!(err.to_string(), "Step Functions request failed");
        assert_eq!(std::error::Error::source(&err).map(ToString::to_string).as_deref(), Some("secret detail"));
    }
}
