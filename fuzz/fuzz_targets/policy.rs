//! Policy documents: arbitrary TOML or JSON through the policy parser; every document that parses is evaluated
//! for a fixed set of callers and targets, and every decision obeys deny-wins and default-deny.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use stop_gateway::config::policy_doc::{Format, parse_policy};
use stop_gateway::domain::aws_ids::AccountId;
use stop_gateway::domain::caller::{AlarmArn, Caller, EventSource, OrgId, PrincipalArn};
use stop_gateway::domain::policy::Subject;
use stop_gateway::domain::target::TargetArn;
use stop_gateway::domain::text::{ErrorCode, Overflow, Reason};
use stop_gateway_fuzz::check_decision;

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

fuzz_target!(|data: &[u8]| {
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
});
