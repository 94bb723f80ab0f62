//! Warnings about the rules alarms are matched by. Anyone who may create, tag or set the state of an alarm a
//! rule trusts can make it stop what the rule allows, so such a rule should allow no more than its alarms'
//! mappings name: not every region, and not a blast-radius cap above the executions the mappings name.

use stop_gateway_core::domain::alarm::{AlarmMapping, AlarmRouting, AlarmSelector};
use stop_gateway_core::domain::caller::AlarmArn;
use stop_gateway_core::domain::glob::{Field, Glob};
use stop_gateway_core::domain::policy::{Effect, Policy, Rule};

/// Each warning for `rule`, if it is an alarm allow rule: `at` says where it is written.
pub fn warnings(rule: &Rule, policy: &Policy, routing: &AlarmRouting, at: &str) -> Vec<String> {
    let Some(globs) = rule.callers.alarms.as_ref().filter(|_| rule.effect == Effect::Allow) else { return vec![] };
    let mut out = Vec::new();
    if rule.targets.regions == Field::Any {
        out.push(format!(
            "alarm rule {:?} lets its alarms stop targets in every region: whoever can set one of them to ALARM can stop work anywhere the rule allows; list the regions its alarms watch{at}",
            rule.id
        ));
    }
    let mappings: Vec<&AlarmMapping> = routing.mappings.iter().filter(|m| names_any(m, globs)).collect();
    let executions: Option<usize> =
        mappings.iter().map(|m| (!m.targets.iter().any(|t| t.is_bulk())).then_some(m.targets.len())).sum();
    let cap = rule.max_executions.unwrap_or(policy.max_executions);
    if let Some(named) = executions.filter(|n| !mappings.is_empty() && cap > *n) {
        out.push(format!(
            "alarm rule {:?} allows {cap} executions per request, but its alarms' mappings name {named} executions and no state machine or function: lower max_executions to {named}{at}",
            rule.id
        ));
    }
    out
}

/// Whether a mapping can apply to an alarm one of `globs` names: an exact alarm ARN whose name a glob matches,
/// or a name glob whose text a glob matches (`orders-*` covers the mapping `orders-latch-*`).
fn names_any(mapping: &AlarmMapping, globs: &[Glob]) -> bool {
    match &mapping.alarm {
        AlarmSelector::Arn(arn) => AlarmArn::parse(arn).is_ok_and(|a| globs.iter().any(|g| g.matches(a.name()))),
        AlarmSelector::Name(name) => globs.iter().any(|g| g.matches(name.as_str())),
    }
}
