//! Making sure one execution is stopped. Describe first, so a finished execution is reported as such instead of
//! a fake success; stop only what runs; take nothing a stop call returns on faith (an implausible reply is
//! confirmed by describing again); and never send a second stop after one that may have acted without a fresh
//! describe. A stop refused over the execution's KMS key is sent once more without error and cause when the
//! rule allows it: the refusal is a definite answer (nothing was stopped), so that is not a resend.

use chrono::{DateTime, Utc};
use stop_gateway_core::domain::failure::{StopError, error_chain};
use stop_gateway_core::domain::outcome::{ExecutionResult, ExecutionState, Outcome, StopText};
use stop_gateway_core::domain::status::ExecutionStatus;
use stop_gateway_core::domain::target::TargetArn;
use tokio::time::Instant;

use crate::aws::errors::still_running;
use crate::aws::executions::Executions;
use crate::aws::reach::Reach;

/// Stop calls per execution: each after a describe that found it still running.
const STOP_ATTEMPTS: u32 = 3;

/// One request's calls on executions: the facade, the accounts the request reaches, and its deadline.
#[derive(Clone, Copy)]
pub(super) struct Calls<'a> {
    /// Both services' executions.
    pub executions: &'a Executions,
    /// Where this request may act.
    pub reach: &'a Reach,
    /// When the invocation must have answered.
    pub deadline: Instant,
}

/// A stop's KMS fallback: whether the rule allows it, and why it was used, once it was.
struct Kms {
    allowed: bool,
    used: Option<String>,
}

/// Where one execution of a bulk stop stands after its stop phase.
pub(super) enum Stopping<'a> {
    /// Finished: stopped after a describe, found finished, or failed.
    Done(ExecutionResult),
    /// A stop was accepted without a describe first; a list (or a describe) confirms what it did.
    Sent(Sent<'a>),
}

/// A stop accepted without a describe first, waiting for its confirmation.
pub(super) struct Sent<'a> {
    /// The execution.
    pub target: TargetArn,
    /// Its status when listed.
    pub status: ExecutionStatus,
    /// When it started, if the list said (how far down the confirming list reads).
    pub started: Option<DateTime<Utc>>,
    /// The state machine or function whose list reported it running.
    pub listed: &'a TargetArn,
    /// Why it went without error and cause, if it had to.
    pub kms_fallback: Option<String>,
}

impl Calls<'_> {
    /// An execution's status.
    pub async fn describe(&self, target: &TargetArn) -> Result<ExecutionState, StopError> {
        self.executions.describe(self.reach, target, self.deadline).await
    }

    /// Describe, then stop only a running execution (or report it, in a dry run), and confirm what the stop's
    /// reply does not prove.
    pub async fn ensure_stopped(
        &self,
        target: &TargetArn,
        text: &StopText<'_>,
        kms_fallback: bool,
        dry_run: bool,
    ) -> Result<Outcome, StopError> {
        let before = self.describe(target).await?;
        if !before.status.is_stoppable() {
            return Ok(Outcome::AlreadyFinished { status: before.status });
        }
        if dry_run {
            return Ok(Outcome::DryRun { previous_status: before.status });
        }
        let mut kms = Kms { allowed: kms_fallback, used: None };
        let mut attempt = 1;
        loop {
            match self.send(target, text, &mut kms).await {
                Ok(Some(stopped_at)) => {
                    let previous_status = before.status;
                    return Ok(Outcome::Stopped { previous_status, stopped_at, kms_fallback: kms.used });
                }
                // The service accepted the call but its reply proves nothing; ask again.
                Ok(None) => return self.confirm_one(target, before.status, kms.used).await,
                // The stop's answer was lost (timeout, reset, 5xx): it may have happened. Stop calls make one
                // attempt each, so the only way to another stop is through a fresh describe: never twice.
                Err(err) if err.may_have_acted() => {
                    let now = self.describe(target).await?;
                    if !now.status.is_stoppable() {
                        return Ok(finished_after_stop(before.status, now, kms.used));
                    }
                    if attempt == STOP_ATTEMPTS {
                        return Err(err);
                    }
                    tracing::info!(execution = %target, attempt, error = %err, "stop failed; still running, trying again");
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Stops an execution a list has just reported running, without describing it first. A stop whose answer
    /// was lost may have happened, so it goes on through a describe like any other; every other answer is final
    /// here, and a sent stop is confirmed later with the rest.
    pub async fn stop_listed<'l>(
        &self,
        target: TargetArn,
        (status, started): (ExecutionStatus, Option<DateTime<Utc>>),
        listed: &'l TargetArn,
        text: &StopText<'_>,
        kms_fallback: bool,
    ) -> Stopping<'l> {
        let mut kms = Kms { allowed: kms_fallback, used: None };
        let result = match self.send(&target, text, &mut kms).await {
            Ok(_) => return Stopping::Sent(Sent { target, status, started, listed, kms_fallback: kms.used }),
            Err(err) if err.may_have_acted() => match self.describe(&target).await {
                Ok(now) if !now.status.is_stoppable() => Ok(finished_after_stop(status, now, kms.used)),
                Ok(_) => self.ensure_stopped(&target, text, kms.allowed, false).await,
                Err(err) => Err(err),
            },
            Err(err) => Err(err),
        };
        Stopping::Done(ExecutionResult { target, result })
    }

    /// What a describe shows about an execution this request sent an accepted stop to: stopped, finished some
    /// other way, or (implausibly) still running, which a retry settles.
    pub async fn confirm_one(
        &self,
        target: &TargetArn,
        status: ExecutionStatus,
        kms_fallback: Option<String>,
    ) -> Result<Outcome, StopError> {
        let after = self.describe(target).await?;
        if after.status.is_stoppable() {
            return Err(still_running(target.service().display_name(), after.status.as_str()));
        }
        Ok(finished_after_stop(status, after, kms_fallback))
    }

    /// One stop, and the one KMS-fallback send: once a stop with error and cause was refused over the
    /// execution's key (and the rule allows it), this request's stops of it go without them.
    async fn send(
        &self,
        target: &TargetArn,
        text: &StopText<'_>,
        kms: &mut Kms,
    ) -> Result<Option<DateTime<Utc>>, StopError> {
        let (executions, reach, deadline) = (self.executions, self.reach, self.deadline);
        match executions.stop(reach, target, text, kms.used.is_none(), deadline).await {
            Err(err @ StopError::KmsKeyUnusable { .. }) if kms.allowed && kms.used.is_none() => {
                let why = error_chain(&err);
                tracing::warn!(execution = %target, error = %why, "stop refused over the execution's KMS key; sending it without error and cause");
                kms.used = Some(why);
                executions.stop(reach, target, text, false, deadline).await
            }
            other => other,
        }
    }
}

/// What a describe after a stop attempt shows: stopped (by this request, or by someone at the same moment; the
/// execution was running when this request looked), or finished some other way.
pub(super) fn finished_after_stop(
    previous_status: ExecutionStatus,
    after: ExecutionState,
    kms_fallback: Option<String>,
) -> Outcome {
    match after.ended_at {
        Some(stopped_at) if after.status.is_stopped() => Outcome::Stopped { previous_status, stopped_at, kms_fallback },
        _ => Outcome::AlreadyFinished { status: after.status },
    }
}
