//! Oracles shared by the fuzz targets: invariants that must hold for every input, checked independently of the
//! code under test so a fuzzer finding can be a wrong answer, not only a panic.

use stop_gateway::domain::policy::{Decision, Effect, Policy, Subject};
use stop_gateway::domain::target::TargetArn;

/// Deny wins and nothing outside an allow rule is allowed: checks `decision` against the rules themselves.
pub fn check_decision(policy: &Policy, subject: Subject<'_>, decision: &Decision) {
    let applies = |r: &&stop_gateway::domain::policy::Rule| {
        r.callers.matches(subject.caller) && r.targets.matches(subject.target)
    };
    let first_deny = policy.rules.iter().filter(|r| r.effect == Effect::Deny).find(applies);
    match (first_deny, decision) {
        (Some(rule), Decision::Deny { rule_id, .. }) => {
            assert_eq!(rule_id.as_deref(), Some(rule.id.as_str()), "the first matching deny rule decides")
        }
        (Some(rule), Decision::Allow { rule_id, .. }) => {
            panic!("deny rule {} matches but rule {rule_id} allowed", rule.id)
        }
        (None, Decision::Allow { rule_id, .. }) => {
            let rule = policy.rules.iter().find(|r| &r.id == rule_id).expect("the allowing rule exists");
            assert_eq!(rule.effect, Effect::Allow, "only an allow rule allows");
            assert!(applies(&rule), "the allowing rule matches the caller and the target");
        }
        (None, Decision::Deny { rule_id: None, .. }) => assert!(
            !policy.rules.iter().filter(|r| r.effect == Effect::Allow).any(|r| applies(&r)),
            "the default deny only when no allow rule matches"
        ),
        (None, Decision::Deny { rule_id: Some(id), .. }) => {
            let rule = policy.rules.iter().find(|r| &r.id == id).expect("the denying rule exists");
            assert!(
                rule.effect == Effect::Allow && applies(&rule),
                "an unmet allow rule is quoted only when it matches"
            );
        }
    }
}

/// Parsing the canonical form gives the same target, and its canonical form is stable.
pub fn check_round_trip(target: &TargetArn) {
    let shown = target.to_string();
    let again = TargetArn::parse(&shown).unwrap_or_else(|e| panic!("{shown:?} does not parse again: {e}"));
    assert_eq!(&again, target, "parse(display(arn)) == arn");
    assert_eq!(again.to_string(), shown, "display is stable");
}
