//! Deciding a request: the policy for every target (one denial denies the request), the dry-run union of the
//! request, the policy and each allowing rule, and the targets no API can stop. Pure: no I/O, no clients.

use stop_gateway_core::domain::failure::StopError;
use stop_gateway_core::domain::outcome::{Handled, StopText};
use stop_gateway_core::domain::policy::{Decision, Policy, Subject};
use stop_gateway_core::domain::request::StopRequest;
use stop_gateway_core::domain::target::TargetArn;
use stop_gateway_core::domain::text::ErrorCode;

/// What the policy allowed for one target.
#[derive(Debug)]
pub(super) struct Allowed<'a> {
    /// The target.
    pub target: &'a TargetArn,
    /// The allowing rule.
    pub rule_id: String,
    /// The error code a stop sends.
    pub error_code: ErrorCode,
    /// The rule's blast-radius cap.
    pub max_executions: usize,
    /// Whether a stop refused over the execution's KMS key may go again without error and cause.
    pub kms_fallback: bool,
}

impl Allowed<'_> {
    /// What a stop under this rule writes on the execution.
    pub fn text<'t>(&'t self, request: &'t StopRequest, caller: &'t str, audit_id: &'t str) -> StopText<'t> {
        StopText {
            error_code: &self.error_code,
            reason: &request.reason,
            caller,
            door: request.door.as_str(),
            audit_id,
            rule_id: &self.rule_id,
        }
    }
}

/// A request the policy allows on every target.
#[derive(Debug)]
pub(super) struct Decided<'a> {
    /// Each target, with what its rule allows.
    pub allowed: Vec<Allowed<'a>>,
    /// The decision the request is audited with (the first target's allow).
    pub decision: Decision,
    /// Whether the request, the policy or any allowing rule asks for a dry run.
    pub dry_run: bool,
}

/// Decides `request` under `policy`: every target allowed and stoppable, or the answer why not.
pub(super) fn decide<'a>(policy: &Policy, request: &'a StopRequest) -> Result<Decided<'a>, Box<Handled>> {
    let mut allowed = Vec::with_capacity(request.targets.len());
    let mut first_allow = None;
    let mut dry_run = request.dry_run;
    for target in &request.targets {
        let subject = Subject {
            caller: &request.caller,
            target,
            reason: &request.reason,
            error_code: request.error_code.as_ref(),
        };
        let decision = policy.evaluate(subject);
        match &decision {
            // One denied target denies the request: an alarm or tool pointed at something it may not touch is
            // a mistake to surface, not to half-execute.
            Decision::Deny { rationale, .. } => {
                let result = Err(StopError::Denied(rationale.clone()));
                return Err(Box::new(Handled { decision: Some(decision), dry_run: request.dry_run, result }));
            }
            Decision::Allow { rule_id, error_code, dry_run: rule_dry_run, max_executions, kms_fallback, .. } => {
                dry_run |= *rule_dry_run;
                let (rule_id, error_code) = (rule_id.clone(), error_code.clone());
                let (max_executions, kms_fallback) = (*max_executions, *kms_fallback);
                allowed.push(Allowed { target, rule_id, error_code, max_executions, kms_fallback });
            }
        }
        first_allow.get_or_insert(decision);
    }
    let Some(decision) = first_allow else {
        let result = Err(StopError::InvalidRequest("the request names no target".into()));
        let decision = Some(Decision::Deny { rule_id: None, rationale: "no target".into() });
        return Err(Box::new(Handled { decision, dry_run, result }));
    };
    if let Some(why) = request.targets.iter().find_map(TargetArn::not_stoppable_reason) {
        let result = Err(StopError::NotStoppable(why.to_owned()));
        return Err(Box::new(Handled { decision: Some(decision), dry_run, result }));
    }
    Ok(Decided { allowed, decision, dry_run })
}

/// Whether an execution a list returned for `listed` may be stopped: it must be one of `listed`'s own
/// executions (the gateway does not rely on the service listing only those), and the policy must allow it as if
/// it had been named directly.
pub(super) fn admit(
    policy: &Policy,
    request: &StopRequest,
    listed: &TargetArn,
    execution: &TargetArn,
) -> Result<(), String> {
    if execution != listed && !execution.is_execution_of(listed) {
        return Err(format!("the list for {listed} returned {execution}, which is not one of its executions"));
    }
    let subject = Subject {
        caller: &request.caller,
        target: execution,
        reason: &request.reason,
        error_code: request.error_code.as_ref(),
    };
    match policy.evaluate(subject) {
        Decision::Allow { .. } => Ok(()),
        Decision::Deny { rationale, .. } => Err(format!("the policy does not allow stopping it: {rationale}")),
    }
}
