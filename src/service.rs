//! The stop flow: policy, then ensure-stopped against the right service.
//!
//! Describe first, so a finished execution is reported as such instead of a fake success; stop only what is
//! running; and take nothing the stop call returns on faith (an implausible reply is confirmed by describing
//! again). No serde, no Lambda runtime types.

use crate::aws::durable::DurableAdapter;
use crate::aws::sfn::SfnAdapter;
use crate::domain::arn::{TargetArn, TargetKind};
use crate::domain::outcome::{ExecutionState, Outcome, StopError, StopText};
use crate::domain::policy::{Decision, Policy, Subject};
use crate::domain::request::StopRequest;
use crate::domain::text::ErrorCode;

/// The result of running one request through policy and the stop flow.
#[derive(Debug)]
pub struct Handled {
    /// The policy decision.
    pub decision: Decision,
    /// The error code that was (or would have been) sent.
    pub error_code: Option<ErrorCode>,
    /// Whether this ran as a dry run.
    pub dry_run: bool,
    /// What happened.
    pub result: Result<Outcome, StopError>,
}

/// The gateway: policy plus one adapter per target service.
pub struct Gateway {
    policy: Policy,
    sfn: SfnAdapter,
    durable: DurableAdapter,
}

impl Gateway {
    /// Assembles the gateway from parts built once at start-up.
    pub fn new(policy: Policy, sfn: SfnAdapter, durable: DurableAdapter) -> Self {
        Gateway { policy, sfn, durable }
    }

    /// Decides, then makes sure the target is stopped (or reports why not).
    pub async fn stop_target(&self, request: &StopRequest, audit_id: &str) -> Handled {
        let decision = self.policy.evaluate(Subject {
            caller: &request.caller,
            target: &request.target,
            reason: &request.reason,
            error_code: request.error_code.as_ref(),
        });
        let (rule_id, error_code, dry_run) = match &decision {
            Decision::Allow { rule_id, error_code, dry_run, .. } => {
                (rule_id.clone(), error_code.clone(), *dry_run || request.dry_run)
            }
            Decision::Deny { rationale, .. } => {
                let result = Err(StopError::Denied(rationale.clone()));
                return Handled { decision, error_code: None, dry_run: request.dry_run, result };
            }
        };
        if let Some(why) = request.target.not_stoppable_reason() {
            let result = Err(StopError::NotStoppable(why.to_owned()));
            return Handled { decision, error_code: Some(error_code), dry_run, result };
        }
        let caller = request.caller.to_string();
        let text = StopText {
            error_code: &error_code,
            reason: &request.reason,
            caller: &caller,
            source: request.source.as_str(),
            audit_id,
            rule_id: &rule_id,
        };
        let result = self.ensure_stopped(&request.target, &text, dry_run).await;
        Handled { decision, error_code: Some(error_code), dry_run, result }
    }

    async fn ensure_stopped(
        &self,
        target: &TargetArn,
        text: &StopText<'_>,
        dry_run: bool,
    ) -> Result<Outcome, StopError> {
        let before = self.describe(target).await?;
        if !before.stoppable {
            return Ok(Outcome::AlreadyFinished { status: before.status });
        }
        if dry_run {
            return Ok(Outcome::DryRun { previous_status: before.status });
        }
        let reported = match target.kind() {
            TargetKind::SfnExecution { .. } => self.sfn.stop(target, text).await?,
            _ => self.durable.stop(target, text).await?,
        };
        if let Some(stopped_at) = reported {
            return Ok(Outcome::Stopped { previous_status: before.status, stopped_at });
        }
        // The service accepted the call but its reply proves nothing; ask again.
        let after = self.describe(target).await?;
        match (after.stoppable, after.ended_at) {
            (false, Some(stopped_at)) if is_stopped_status(&after.status) => {
                Ok(Outcome::Stopped { previous_status: before.status, stopped_at })
            }
            (false, _) => Ok(Outcome::AlreadyFinished { status: after.status }),
            (true, _) => Err(StopError::Upstream {
                service: service_name(target),
                retryable: true,
                source: format!("stop accepted but the execution is still {}", after.status).into(),
            }),
        }
    }

    async fn describe(&self, target: &TargetArn) -> Result<ExecutionState, StopError> {
        match target.kind() {
            TargetKind::SfnExecution { .. } => self.sfn.describe(target).await,
            _ => self.durable.describe(target).await,
        }
    }
}

fn is_stopped_status(status: &str) -> bool {
    matches!(status, "ABORTED" | "STOPPED")
}

fn service_name(target: &TargetArn) -> &'static str {
    match target.kind() {
        TargetKind::SfnExecution { .. } => "Step Functions",
        _ => "Lambda",
    }
}
