//! The invariants the fuzz targets check, for any input, as plain functions: the coverage-guided fuzzer
//! (`fuzz/`, `scripts/fuzz`) explores with them, and the test suites replay every committed corpus input and
//! every saved crash through them on every run. Checked independently of the code under test where it matters,
//! so a finding can be a wrong answer, not only a panic. Test support only: built with the `oracles` feature.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // assertions are what an oracle is for

use std::sync::LazyLock;

use serde_json::json;
use serde_json::value::RawValue;

use crate::domain::aws_ids::AccountId;
use crate::domain::caller::{AlarmArn, Caller, EventSource, OrgId, PrincipalArn};
use crate::domain::policy::{Decision, Effect, Policy, Rule, Subject};
use crate::domain::target::TargetArn;
use crate::domain::text::{ErrorCode, Overflow, Reason};
use crate::error::HttpStatus;
use crate::inbound::{self, Parsed};
use crate::policy_doc::{Format, PolicyDocument, parse_policy};
use crate::reply;

/// The committed example policy, which the ingress oracle evaluates requests against.
static EXAMPLE: LazyLock<PolicyDocument> = LazyLock::new(|| {
    parse_policy(include_str!("../../../policy.example.toml"), Format::Toml).expect("the example policy parses")
});

/// Ingress: any payload through shape detection and parsing, then policy evaluation of what it asks for
/// (against the example policy) and rendering of the answer. Never panics; a parsed request always names at
/// least one canonical target and keeps its door; every decision obeys deny-wins.
pub fn ingress(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(payload) = serde_json::from_str::<Box<RawValue>>(text) else { return };
    let parsed = inbound::parse(&payload, &EXAMPLE.routing);
    if let Ok(Parsed::Stop(request)) = &parsed.request {
        assert!(!request.targets.is_empty(), "a stop request names a target");
        assert_eq!(request.door, parsed.door, "the request keeps the door it came through");
        for target in &request.targets {
            check_round_trip(target);
            let subject = Subject {
                caller: &request.caller,
                target,
                reason: &request.reason,
                error_code: request.error_code.as_ref(),
            };
            check_decision(&EXAMPLE.policy, subject, &EXAMPLE.policy.evaluate(subject));
        }
    }
    let code = if parsed.request.is_ok() { 200 } else { 400 };
    let _ = reply::render(parsed.door, HttpStatus { code, allow: None }, json!({ "outcome": "fuzz" }));
}

/// ARN parsing: target, principal and alarm ARNs from arbitrary text. Never panics; every accepted target
/// round-trips through its canonical form and stays printable ASCII within the length limit.
pub fn arn(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(target) = TargetArn::parse(text) {
        assert!(text.len() <= 2048 && text.bytes().all(|b| b.is_ascii_graphic()), "accepted {text:?}");
        check_round_trip(&target);
        let _ = (target.kind_name(), target.not_stoppable_reason(), target.is_bulk(), target.resource_name());
    }
    if let Ok(principal) = PrincipalArn::parse(text) {
        assert_eq!(PrincipalArn::parse(&principal.to_string()).as_ref(), Ok(&principal));
    }
    if let Ok(alarm) = AlarmArn::parse(text) {
        assert_eq!(AlarmArn::parse(&alarm.to_string()).as_ref(), Ok(&alarm));
    }
}

struct Subjects {
    callers: Vec<Caller>,
    targets: Vec<TargetArn>,
    reasons: Vec<Reason>,
    codes: Vec<Option<ErrorCode>>,
}

static SUBJECTS: LazyLock<Subjects> = LazyLock::new(|| {
    let account = |a: &str| AccountId::parse(a).expect("account");
    let principal = |p: &str| PrincipalArn::parse(p).expect("principal");
    Subjects {
        callers: vec![
            Caller::Iam {
                principal: principal("arn:aws:sts::111122223333:assumed-role/OnCall/alice"),
                account: account("111122223333"),
                org_id: OrgId::parse("o-abcdef1234"),
            },
            Caller::Iam {
                principal: principal("arn:aws:iam::444455556666:user/mallory"),
                account: account("444455556666"),
                org_id: None,
            },
            Caller::EventBridge {
                source: EventSource::parse("com.example.automation").expect("source"),
                account: account("111122223333"),
            },
            Caller::Alarm {
                alarm: AlarmArn::parse("arn:aws:cloudwatch:us-east-1:111122223333:alarm:orders-retry-storm")
                    .expect("alarm"),
            },
        ],
        targets: [
            "arn:aws:states:us-east-1:111122223333:execution:orders-pipeline:run-1",
            "arn:aws:states:eu-west-1:111122223333:execution:payments:run-2",
            "arn:aws:states:us-east-1:111122223333:stateMachine:orders-pipeline",
            "arn:aws:lambda:us-east-1:111122223333:function:orders-worker:$LATEST/durable-execution/run-3/abc",
            "arn:aws-us-gov:states:us-gov-west-1:111122223333:execution:orders-pipeline:run-4",
        ]
        .into_iter()
        .filter_map(|t| TargetArn::parse(t).ok())
        .collect(),
        reasons: ["OPS-1234 retry storm", "x"]
            .into_iter()
            .map(|r| Reason::parse(r, Overflow::Reject).expect("reason"))
            .collect(),
        codes: vec![None, ErrorCode::parse("Ops.RetryStorm").ok()],
    }
});

/// Policy documents: arbitrary TOML or JSON through the policy parser; every document that parses is evaluated
/// for a fixed set of callers and targets, and every decision obeys deny-wins and default-deny.
pub fn policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(document) = parse_policy(text, Format::sniff(text)) else { return };
    let policy = document.policy;
    let s = &*SUBJECTS;
    assert!(!s.targets.is_empty());
    for caller in &s.callers {
        for target in &s.targets {
            for reason in &s.reasons {
                for code in &s.codes {
                    let subject = Subject { caller, target, reason, error_code: code.as_ref() };
                    check_decision(&policy, subject, &policy.evaluate(subject));
                }
            }
        }
    }
}

/// Deny wins and nothing outside an allow rule is allowed: checks `decision` against the rules themselves.
pub fn check_decision(policy: &Policy, subject: Subject<'_>, decision: &Decision) {
    let applies = |r: &&Rule| r.callers.matches(subject.caller) && r.targets.matches(subject.target);
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
