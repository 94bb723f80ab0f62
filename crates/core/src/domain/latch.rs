//! Latching kill-switches: while an alarm marked as latching is in ALARM, its targets stay stopped.
//!
//! An alarm latches a target when its policy mapping says `latch = true`, or when the allow rule that lets the
//! alarm stop that target says `latch = true`. The alarm's state in CloudWatch is the only state: this module
//! takes the alarms found in ALARM (read by an adapter) and turns them into stop requests, one per alarm, for
//! a new execution (a Step Functions status-change event) or for a sweep of everything the alarms latch. There
//! is no table of our own, so the latch releases by itself when the alarm leaves ALARM.
//!
//! Pure: no SDK, no serde.

use super::alarm::{Alarm, AlarmRouting};
use super::caller::{AlarmArn, Caller};
use super::policy::{Decision, Effect, Policy, Subject};
use super::request::{Door, LatchCheck, Started, StopRequest};
use super::status::AlarmState;
use super::target::{TargetArn, TargetKind};
use super::text::{Overflow, Reason};

/// An alarm in ALARM and the targets it latches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latched {
    /// The alarm, as CloudWatch reported it.
    pub alarm: Alarm,
    /// The targets it latches (a subset of the targets it resolves to).
    pub targets: Vec<TargetArn>,
}

/// The latches in force: of `in_alarm` (alarms CloudWatch reports in ALARM), those that latch at least one
/// target, each with the targets it latches. An alarm whose targets cannot be resolved latches nothing; it is
/// logged, since the same alarm's own state-change event is rejected (and audited) for the same reason.
pub fn in_force(in_alarm: &[Alarm], routing: &AlarmRouting, policy: &Policy) -> Vec<Latched> {
    let mut latched = Vec::new();
    for alarm in in_alarm.iter().filter(|a| a.state == AlarmState::Alarm) {
        let targets = match routing.resolve(alarm) {
            Ok((targets, _)) => targets,
            Err(why) => {
                if latches_by_mapping(alarm, routing) {
                    tracing::warn!(alarm = %alarm.arn, "a latching alarm's targets cannot be resolved: {why}");
                }
                continue;
            }
        };
        let caller = Caller::Alarm { alarm: alarm.arn.clone() };
        let Some(reason) = sweep_reason(alarm) else { continue };
        let by_mapping = latches_by_mapping(alarm, routing);
        let targets: Vec<TargetArn> = targets
            .into_iter()
            .filter(|target| {
                by_mapping || {
                    let subject = Subject { caller: &caller, target, reason: &reason, error_code: None };
                    matches!(policy.evaluate(subject), Decision::Allow { latch: true, .. })
                }
            })
            .collect();
        if !targets.is_empty() {
            latched.push(Latched { alarm: alarm.clone(), targets });
        }
    }
    latched
}

fn latches_by_mapping(alarm: &Alarm, routing: &AlarmRouting) -> bool {
    routing.mapping_for(&alarm.arn).is_some_and(|m| m.latch)
}

/// Whether the policy could let `alarm` latch anything: its mapping latches, or a latching allow rule names it
/// among its callers. Only such alarms are worth reading the tags of; [`in_force`] decides per target.
pub fn may_latch(alarm: &AlarmArn, routing: &AlarmRouting, policy: &Policy) -> bool {
    routing.mapping_for(alarm).is_some_and(|m| m.latch)
        || policy.rules.iter().any(|rule| {
            rule.latch
                && rule.effect == Effect::Allow
                && rule.callers.alarms.as_ref().is_some_and(|globs| globs.iter().any(|g| g.matches(alarm.name())))
        })
}

/// The stop requests a check comes to: for a new execution, at most one (the first latching alarm that covers
/// it, in CloudWatch's order); for a sweep, one per latching alarm, naming all the targets it latches.
pub fn requests(check: &LatchCheck, latched: &[Latched]) -> Vec<StopRequest> {
    match check {
        LatchCheck::Started(started) => latched
            .iter()
            .find(|l| l.targets.iter().any(|t| covers(t, &started.execution)))
            .and_then(|l| {
                let reason = started_reason(&l.alarm, started)?;
                Some(StopRequest::from_alarm(&l.alarm, vec![started.execution.clone()], reason, Door::Latch))
            })
            .into_iter()
            .collect(),
        LatchCheck::Sweep { .. } => latched
            .iter()
            .filter_map(|l| {
                Some(StopRequest::from_alarm(&l.alarm, l.targets.clone(), sweep_reason(&l.alarm)?, Door::Sweep))
            })
            .collect(),
    }
}

/// Whether a latched `target` covers the new `execution`: the execution itself, or an execution of the state
/// machine. A state machine's version or alias is not named in its executions' ARNs, so a latch on one is
/// enforced by the sweep (which lists that version's or alias's executions), not by status-change events.
fn covers(target: &TargetArn, execution: &TargetArn) -> bool {
    match target.kind() {
        TargetKind::StateMachine { qualifier: Some(_), .. } => false,
        _ => target == execution || execution.is_execution_of(target),
    }
}

fn started_reason(alarm: &Alarm, started: &Started) -> Option<Reason> {
    let what = match started.redrive_count {
        0 => "started".to_owned(),
        n => format!("was redriven (redrive {n})"),
    };
    latch_reason(alarm, &format!("the execution {what} while the alarm was in ALARM"))
}

fn sweep_reason(alarm: &Alarm) -> Option<Reason> {
    latch_reason(alarm, "sweep of executions running while the alarm is in ALARM")
}

/// "Latched: WHAT. CloudWatch alarm NAME entered ALARM at TIME …": the alarm's own text is cleaned the way an
/// alarm event's is, and an over-long reason is truncated rather than refused. Built from fixed words and a
/// cleaned text it always parses; `None` would only mean an empty text.
fn latch_reason(alarm: &Alarm, what: &str) -> Option<Reason> {
    Reason::parse(&format!("Latched: {what}. {}", alarm.reason_text()), Overflow::Truncate).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::Utc;

    use super::*;
    use crate::domain::alarm::AlarmTags;
    use crate::policy_doc::{Format, parse_policy};

    const ACCOUNT: &str = "111122223333";

    fn alarm(name: &str, state: &str, machine: &str) -> Alarm {
        Alarm {
            arn: AlarmArn::parse(&format!("arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{name}")).unwrap(),
            state: AlarmState::parse(state),
            previous_state: None,
            state_reason: "Threshold Crossed".into(),
            state_time: "2026-12-01T10:00:00.000+0000".into(),
            tags: AlarmTags::NotPropagated,
            dimensions: vec![BTreeMap::from([(
                "StateMachineArn".to_owned(),
                format!("arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:{machine}"),
            )])],
        }
    }

    fn document(extra_rule: &str, mapping: &str) -> (Policy, AlarmRouting) {
        let text = format!(
            r#"
version = 1
{mapping}
[[rules]]
id = "alarms"
effect = "allow"
{extra_rule}
[rules.callers]
alarms = ["*"]
[rules.targets]
services = ["*"]
partitions = ["aws"]
accounts = ["{ACCOUNT}"]
regions = ["*"]
names = ["*"]
"#
        );
        let doc = parse_policy(&text, Format::Toml).unwrap();
        (doc.policy, doc.routing)
    }

    fn execution(machine: &str, name: &str) -> TargetArn {
        TargetArn::parse(&format!("arn:aws:states:us-east-1:{ACCOUNT}:execution:{machine}:{name}")).unwrap()
    }

    fn started(machine: &str, redrive_count: u32) -> LatchCheck {
        LatchCheck::Started(Started { execution: execution(machine, "e1"), redrive_count, at: Utc::now() })
    }

    #[test]
    fn a_latch_rule_latches_the_alarms_targets_and_other_alarms_do_not() {
        let (policy, routing) = document("latch = true", "");
        let alarms = [alarm("orders-errors", "ALARM", "orders"), alarm("quiet", "OK", "billing")];
        let latched = in_force(&alarms, &routing, &policy);
        assert_eq!(latched.len(), 1);
        let stops = requests(&started("orders", 0), &latched);
        assert_eq!(stops.len(), 1);
        assert_eq!(stops[0].targets, vec![execution("orders", "e1")]);
        assert_eq!(stops[0].door, Door::Latch);
        assert!(stops[0].reason.as_str().starts_with("Latched: the execution started while the alarm"));
        assert!(requests(&started("billing", 0), &latched).is_empty(), "an alarm in OK latches nothing");
    }

    #[test]
    fn without_latch_an_alarm_in_alarm_latches_nothing() {
        let (policy, routing) = document("", "");
        assert!(in_force(&[alarm("orders-errors", "ALARM", "orders")], &routing, &policy).is_empty());
    }

    #[test]
    fn a_latching_mapping_latches_its_alarm() {
        let mapping = format!(
            "[[alarm_targets]]\nalarm = \"orders-*\"\nlatch = true\ntargets = [\"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:orders\"]"
        );
        let (policy, routing) = document("", &mapping);
        let latched = in_force(&[alarm("orders-errors", "ALARM", "ignored")], &routing, &policy);
        assert_eq!(
            latched[0].targets[0].to_string(),
            format!("arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:orders")
        );
        let redriven = requests(&started("orders", 2), &latched);
        assert!(redriven[0].reason.as_str().contains("was redriven (redrive 2)"), "{}", redriven[0].reason.as_str());
    }

    #[test]
    fn a_sweep_asks_one_request_per_latching_alarm() {
        let (policy, routing) = document("latch = true", "");
        let alarms = [alarm("a", "ALARM", "orders"), alarm("b", "ALARM", "billing")];
        let latched = in_force(&alarms, &routing, &policy);
        let sweep = requests(&LatchCheck::Sweep { at: Utc::now(), account: None, region: None }, &latched);
        assert_eq!(sweep.len(), 2);
        assert!(sweep.iter().all(|r| r.door == Door::Sweep && r.targets.len() == 1));
    }

    #[test]
    fn a_latch_on_a_state_machine_version_is_left_to_the_sweep() {
        let version = TargetArn::parse(&format!("arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:orders:3")).unwrap();
        assert!(!covers(&version, &execution("orders", "e1")));
        let machine = TargetArn::parse(&format!("arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:orders")).unwrap();
        assert!(covers(&machine, &execution("orders", "e1")));
        assert!(!covers(&machine, &execution("orders-2", "e1")));
    }
}
