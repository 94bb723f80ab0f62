//! What a handled request came to: one execution's outcome or a bulk report, its stable outcome code, and the
//! text a stop writes on the execution so its own history points back to the audit record.
//!
//! What an outcome means for an HTTP caller or a Lambda retry is decided in `crate::error`, not here. Pure: no
//! SDK; `ErrorData` derives `Serialize` only so that the adapter can write it in the service's format.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

pub use super::code::OutcomeCode;
use super::failure::StopError;
use super::policy::Decision;
use super::status::ExecutionStatus;
use super::target::TargetArn;
use super::text::{ErrorCode, Reason, SFN_CAUSE_MAX};

/// What one request came to: the policy's decision when it got that far, and the outcome or failure (`E`: a
/// [`StopError`] from the stop flow, or the door's and the flow's together once the handler has both).
#[derive(Debug)]
pub struct Handled<E = StopError> {
    /// The policy decision (the first denial, or the first target's allow); `None` before the policy was asked.
    pub decision: Option<Decision>,
    /// Whether this ran (or would have run) as a dry run.
    pub dry_run: bool,
    /// What happened.
    pub result: Result<Outcome, E>,
}

impl<E> Handled<E> {
    /// A request that never reached the policy: refused at the door, or an alarm change that does not act.
    pub fn without_decision(result: Result<Outcome, E>, dry_run: bool) -> Handled<E> {
        Handled { decision: None, dry_run, result }
    }

    /// The same request with its failure in another type.
    pub fn map_err<F>(self, f: impl FnOnce(E) -> F) -> Handled<F> {
        Handled { decision: self.decision, dry_run: self.dry_run, result: self.result.map_err(f) }
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

/// The execution status seen by a describe call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionState {
    /// Its status.
    pub status: ExecutionStatus,
    /// When it ended, if it has.
    pub ended_at: Option<DateTime<Utc>>,
}

/// A request that was handled successfully.
#[derive(Debug)]
pub enum Outcome {
    /// The execution was running and is now stopped.
    Stopped {
        /// Status before the stop.
        previous_status: ExecutionStatus,
        /// When it stopped.
        stopped_at: DateTime<Utc>,
        /// Why the stop went without error and cause (its first try was refused over the execution's KMS key),
        /// when it did. For the audit record; answers say only that it happened.
        kms_fallback: Option<String>,
    },
    /// The execution had already ended; nothing was done.
    AlreadyFinished {
        /// Its final status.
        status: ExecutionStatus,
    },
    /// Allowed, but only reported: nothing was stopped.
    DryRun {
        /// Status at the time (the execution would have been stopped).
        previous_status: ExecutionStatus,
    },
    /// Nothing to act on: an alarm state change that does not act, a status change nothing latches, a sweep
    /// with nothing to stop.
    Ignored {
        /// Why.
        reason: String,
    },
    /// A state machine, function or alarm: many executions, each through the same ensure-stopped path.
    Bulk(BulkReport),
}

impl Outcome {
    /// Stable outcome code.
    pub fn code(&self) -> OutcomeCode {
        match self {
            Outcome::Stopped { .. } => OutcomeCode::Stopped,
            Outcome::AlreadyFinished { .. } => OutcomeCode::AlreadyFinished,
            Outcome::DryRun { .. } => OutcomeCode::DryRun,
            Outcome::Ignored { .. } => OutcomeCode::Ignored,
            Outcome::Bulk(report) => report.code(),
        }
    }

    /// Whether work is left that a resend would continue (an incomplete bulk stop), or executions were left
    /// running for good (a bulk stop that failed in part).
    pub fn progress(&self) -> Progress {
        match self {
            Outcome::Bulk(report) if report.is_incomplete() => Progress::Incomplete,
            Outcome::Bulk(report) if report.has_permanent_failures() && !report.dry_run => Progress::Failed,
            _ => Progress::Done,
        }
    }

    /// The status seen before acting, for single executions.
    pub fn previous_status(&self) -> Option<&ExecutionStatus> {
        match self {
            Outcome::Stopped { previous_status, .. } | Outcome::DryRun { previous_status } => Some(previous_status),
            Outcome::AlreadyFinished { status } => Some(status),
            Outcome::Ignored { .. } | Outcome::Bulk(_) => None,
        }
    }

    /// Why the stop went without error and cause, when it did.
    pub fn kms_fallback(&self) -> Option<&str> {
        match self {
            Outcome::Stopped { kms_fallback, .. } => kms_fallback.as_deref(),
            _ => None,
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
    /// `incomplete` when anything is left or failed transiently (a retry continues, idempotently); `dry_run`;
    /// `stop_failed` when an execution was left running for a reason a retry cannot change (a refusal, a
    /// permanent upstream error); `already_finished` when nothing was running; otherwise `stopped`. Only a bulk
    /// where every listed execution ended stopped or already finished (or no longer exists) says `stopped`.
    pub fn code(&self) -> OutcomeCode {
        if self.is_incomplete() {
            OutcomeCode::Incomplete
        } else if self.dry_run {
            OutcomeCode::DryRun
        } else if self.has_permanent_failures() {
            OutcomeCode::StopFailed
        } else if self.executions.is_empty() {
            OutcomeCode::AlreadyFinished
        } else {
            OutcomeCode::Stopped
        }
    }

    /// Whether a retry has work left.
    pub fn is_incomplete(&self) -> bool {
        !self.remaining.is_empty()
            || self.executions.iter().any(|e| e.result.as_ref().is_err_and(StopError::is_retryable))
    }

    /// Whether an execution may still be running for a reason a retry would not change. An execution the
    /// service no longer knows is not running, so `not_found` is not such a failure.
    pub fn has_permanent_failures(&self) -> bool {
        self.executions
            .iter()
            .any(|e| e.result.as_ref().is_err_and(|err| !err.is_retryable() && !matches!(err, StopError::NotFound(_))))
    }

    /// How many executions ended in each outcome code.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for e in &self.executions {
            let code = match &e.result {
                Ok(o) => o.code(),
                Err(err) => err.code(),
            };
            *counts.entry(code.as_str()).or_default() += 1;
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
    pub door: &'static str,
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
            self.reason, self.caller, self.door, self.rule_id, self.audit_id
        );
        if let Some((cut, _)) = cause.char_indices().nth(SFN_CAUSE_MAX) {
            cause.truncate(cut);
        }
        cause
    }

    /// Durable `ErrorData`: the same pointers as the Step Functions [`cause`](Self::cause) trailer, as fields
    /// a machine can read. The adapter serialises it; nothing here picks a wire format.
    pub fn error_data(&self) -> ErrorData<'_> {
        ErrorData {
            stopped_by: "stop-gateway",
            caller: self.caller,
            source: self.door,
            rule_id: self.rule_id,
            audit_id: self.audit_id,
        }
    }
}

/// The pointers back to the audit record that a durable stop carries in `ErrorData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorData<'a> {
    /// Always `stop-gateway`.
    pub stopped_by: &'static str,
    /// Who asked, as displayed in audit records.
    pub caller: &'a str,
    /// The door the request came through.
    pub source: &'a str,
    /// The allowing rule.
    pub rule_id: &'a str,
    /// Audit record id.
    pub audit_id: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cause_names_reason_caller_and_audit_id_within_the_limit() {
        let code = ErrorCode::parse("Ops.Stop").unwrap();
        let reason = Reason::parse("OPS-1 runaway", crate::domain::text::Overflow::Reject).unwrap();
        let text = StopText {
            error_code: &code,
            reason: &reason,
            caller: "arn:aws:iam::111122223333:user/a",
            door: "apigw-http",
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
}
