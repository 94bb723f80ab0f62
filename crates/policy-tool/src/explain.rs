//! `explain`: the decision the function would make for one caller and target, the rule that decided, and why
//! each other rule did not, with the same evaluation code the function runs.

use std::fmt::Write as _;

use stop_gateway_core::domain::aws_ids::AccountId;
use stop_gateway_core::domain::caller::{AlarmArn, Caller, EventSource, OrgId, PrincipalArn};
use stop_gateway_core::domain::policy::{Decision, Effect, Policy, Subject, Verdict};
use stop_gateway_core::domain::request::Door;
use stop_gateway_core::domain::target::TargetArn;
use stop_gateway_core::domain::text::{ErrorCode, Overflow, Reason};

/// What to explain, as the command line gives it.
#[derive(Debug, Default, Clone)]
pub struct Question {
    /// An IAM principal ARN, an alarm ARN, or `eventbridge:SOURCE@ACCOUNT`.
    pub caller: String,
    /// An organization id for an IAM caller.
    pub org_id: Option<String>,
    /// The target ARN.
    pub target: String,
    /// The reason (default: `OPS-0 explain`).
    pub reason: Option<String>,
    /// The error code asked for.
    pub error_code: Option<String>,
    /// The door (`apigw-http`, `eventbridge`, …), which decides whether an over-long reason is cut or refused.
    pub source: Option<String>,
}

/// Parses a caller as the command line writes it.
pub fn parse_caller(text: &str, org_id: Option<&str>) -> Result<Caller, String> {
    if let Some(rest) = text.strip_prefix("eventbridge:") {
        let (source, account) =
            rest.split_once('@').ok_or("write an EventBridge caller as eventbridge:SOURCE@ACCOUNT")?;
        let source = EventSource::parse(source).ok_or_else(|| format!("{source:?} is not an EventBridge source"))?;
        let account = AccountId::parse(account).map_err(|e| e.to_string())?;
        return Ok(Caller::EventBridge { source, account });
    }
    if text.contains(":cloudwatch:") {
        let alarm = AlarmArn::parse(text).map_err(|e| format!("alarm {e}"))?;
        return Ok(Caller::Alarm { alarm });
    }
    let principal = PrincipalArn::parse(text).map_err(|e| format!("principal {e}"))?;
    let org_id = match org_id {
        Some(o) => Some(OrgId::parse(o).ok_or_else(|| format!("{o:?} is not an organization id"))?),
        None => None,
    };
    Ok(Caller::Iam { account: principal.account().clone(), principal, org_id })
}

/// The decision and every rule's verdict, as text; and whether it allows.
pub fn explain(policy: &Policy, question: &Question) -> Result<(String, bool), String> {
    let caller = parse_caller(&question.caller, question.org_id.as_deref())?;
    let target = TargetArn::parse(&question.target).map_err(|e| format!("target {e}"))?;
    let interactive = question.source.as_deref().is_none_or(|s| Door::from_name(s).is_none_or(|k| k.is_http()));
    let overflow = if interactive { Overflow::Reject } else { Overflow::Truncate };
    let reason = Reason::parse(question.reason.as_deref().unwrap_or("OPS-0 explain"), overflow)
        .map_err(|e| format!("reason: {e}"))?;
    let error_code =
        question.error_code.as_deref().map(ErrorCode::parse).transpose().map_err(|e| format!("error code: {e}"))?;
    let subject = Subject { caller: &caller, target: &target, reason: &reason, error_code: error_code.as_ref() };
    let decision = policy.evaluate(subject);
    let mut out = String::new();
    match &decision {
        Decision::Allow { rule_id, error_code, dry_run, max_executions, .. } => {
            let _ = writeln!(
                out,
                "decision: allow by rule {rule_id} (error code {error_code}, dry run: {}, cap {max_executions})",
                if *dry_run { "yes" } else { "no" }
            );
        }
        Decision::Deny { rule_id: Some(rule_id), .. } => {
            let _ = writeln!(out, "decision: deny by rule {rule_id}");
        }
        Decision::Deny { rule_id: None, .. } => {
            let _ = writeln!(out, "decision: deny by default (no rule allows)");
        }
    }
    let _ = writeln!(out, "rationale: {}", decision.rationale());
    let _ = writeln!(out, "rules:");
    for (rule, verdict) in policy.explain(subject) {
        let effect = if rule.effect == Effect::Allow { "allow" } else { "deny" };
        let why = match verdict {
            Verdict::Caller(field) | Verdict::Target(field) => format!("does not apply: {field} does not select it"),
            Verdict::Unmet(why) => format!("selects it, but {why}"),
            Verdict::Applies(_) if decision.rule_id() == Some(rule.id.as_str()) => "applies: decided".to_owned(),
            Verdict::Applies(_) => "applies, but an earlier rule decided".to_owned(),
        };
        let _ = writeln!(out, "  {} ({effect}): {why}", rule.id);
    }
    Ok((out, matches!(decision, Decision::Allow { .. })))
}
