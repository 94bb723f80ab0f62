//! Property tests of the invariants a kill-switch must never break, over generated policies, requests and
//! payloads: deny wins over allow and nothing outside an allow rule is allowed; a target outside every allow rule
//! is never stopped; ARNs round-trip through their canonical form; every invocation yields exactly one request
//! audit record. The decision oracle is the one the fuzz targets use.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a clear failure

use stop_gateway_core::oracles as oracle;

use lambda_runtime::LambdaEvent;
use proptest::prelude::*;
use serde_json::Value;
use serde_json::value::RawValue;
use stop_gateway::handler::handle;
use stop_gateway_core::domain::aws_ids::AccountId;
use stop_gateway_core::domain::caller::{AlarmArn, Caller, EventSource, PrincipalArn};
use stop_gateway_core::domain::policy::{Effect, Policy, Rule, Subject, Verdict};
use stop_gateway_core::domain::request::{Door, StopRequest};
use stop_gateway_core::domain::target::TargetArn;
use stop_gateway_core::domain::text::{ErrorCode, Overflow, Reason};
use stop_gateway_core::policy_doc::{Format, parse_policy};
use testkit::mocks::{RunningWorld, example_policy};

const ACCOUNTS: &[&str] = &["111122223333", "444455556666"];
const PARTITIONS: &[(&str, &str)] = &[("aws", "us-east-1"), ("aws", "eu-west-1"), ("aws-cn", "cn-north-1")];
const NAMES: &[&str] = &["orders-api", "orders-batch", "ledger-main", "checkout"];

/// A field of a target rule: `*`, or one or two values from `values`.
fn field(values: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        1 => Just(vec!["*".to_owned()]),
        3 => proptest::sample::subsequence(values, 1..=values.len().min(2))
            .prop_map(|v| v.into_iter().map(str::to_owned).collect()),
    ]
}

fn quoted(values: &[String]) -> String {
    values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ")
}

/// One rule as TOML: either effect, callers by account, principal glob, event source or alarm name, targets over
/// small value sets so that matches, overlaps and misses are all common.
fn rule(index: usize) -> impl Strategy<Value = String> {
    let callers = prop_oneof![
        field(ACCOUNTS).prop_map(|a| format!("{{ accounts = [{}] }}", quoted(&a))),
        prop::sample::select(vec!["assumed-role/OnCall/*", "user/*", "assumed-role/*", "user/alice"])
            .prop_map(|r| format!("{{ principals = [\"arn:aws:*::111122223333:{r}\"] }}")),
        (field(ACCOUNTS), prop::sample::select(vec!["com.example.alarms", "com.example.*", "*"]))
            .prop_map(|(a, s)| format!("{{ sources = [\"{s}\"], accounts = [{}] }}", quoted(&a))),
        prop::sample::select(vec!["orders-*", "*", "payments-errors"])
            .prop_map(|n| format!("{{ alarms = [\"{n}\"], accounts = [\"*\"] }}")),
    ];
    let names = prop_oneof![
        1 => Just(vec!["*".to_owned()]),
        3 => proptest::sample::subsequence(vec!["orders-*", "ledger-*", "checkout", "orders-api"], 1..=2)
            .prop_map(|v| v.into_iter().map(str::to_owned).collect()),
    ];
    let partitions = field(&["aws", "aws-cn"]);
    let regions = field(&["us-east-1", "eu-west-1", "cn-north-1"]);
    let services = field(&["states", "lambda"]);
    (any::<bool>(), callers, services, partitions, field(ACCOUNTS), regions, names).prop_map(
        move |(deny, callers, services, partitions, accounts, regions, names)| {
            format!(
                "[[rules]]\nid = \"r{index}\"\neffect = \"{}\"\ncallers = {callers}\ntargets = {{ services = [{}], \
                 partitions = [{}], accounts = [{}], regions = [{}], names = [{}] }}\n",
                if deny { "deny" } else { "allow" },
                quoted(&services),
                quoted(&partitions),
                quoted(&accounts),
                quoted(&regions),
                quoted(&names),
            )
        },
    )
}

/// A policy of one to six generated rules, at least one of them an allow rule (the parser refuses a policy
/// that could only deny).
fn policy() -> impl Strategy<Value = Policy> {
    (1..=6usize).prop_flat_map(|n| (0..n).map(rule).collect::<Vec<_>>()).prop_map(|mut rules| {
        if !rules.iter().any(|r| r.contains("effect = \"allow\"")) {
            rules[0] = rules[0].replace("effect = \"deny\"", "effect = \"allow\"");
        }
        let doc = format!("version = 1\ndefault_error_code = \"Test.Stop\"\n{}", rules.join("\n"));
        parse_policy(&doc, Format::Toml).unwrap_or_else(|e| panic!("generated policy must parse: {e}\n{doc}")).policy
    })
}

/// The resource part of every single-execution ARN form AWS issues: standard executions (also those of a
/// version or alias, and redriven ones, which keep the plain form), durable executions on `$LATEST` or a
/// version, and the forms with no stop of their own (express executions, Map Runs and their children).
const FORMS: &[&str] = &[
    "states:execution:{name}:run-1",
    "lambda:function:{name}:$LATEST/durable-execution/run/id-1",
    "lambda:function:{name}:3/durable-execution/run/id-1",
    "states:express:{name}:run-1:id-1",
    "states:mapRun:{name}/fanout:id-1",
    "states:execution:{name}/fanout:child-1",
    "states:express:{name}/fanout:child-1:id-1",
];

/// A single-execution target of any form, in one of the partitions, accounts and names above.
fn target() -> impl Strategy<Value = TargetArn> {
    (
        prop::sample::select(PARTITIONS),
        prop::sample::select(ACCOUNTS),
        prop::sample::select(NAMES),
        prop::sample::select(FORMS),
    )
        .prop_map(|((partition, region), account, name, form)| {
            let (service, resource) =
                form.replace("{name}", name).split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())).unwrap();
            let arn = format!("arn:{partition}:{service}:{region}:{account}:{resource}");
            TargetArn::parse(&arn).unwrap_or_else(|e| panic!("generated target must parse: {e}: {arn}"))
        })
}

fn caller() -> impl Strategy<Value = Caller> {
    let account = |a: &str| AccountId::parse(a).unwrap();
    prop_oneof![
        (prop::sample::select(ACCOUNTS), prop::sample::select(vec!["assumed-role/OnCall/alice", "user/alice"]))
            .prop_map(move |(a, r)| Caller::Iam {
                principal: PrincipalArn::parse(&format!("arn:aws:sts::{a}:{r}")).unwrap(),
                account: account(a),
                org_id: None,
            }),
        (prop::sample::select(ACCOUNTS), prop::sample::select(vec!["com.example.alarms", "com.other"])).prop_map(
            move |(a, s)| Caller::EventBridge { source: EventSource::parse(s).unwrap(), account: account(a) }
        ),
        (prop::sample::select(ACCOUNTS), prop::sample::select(vec!["orders-errors", "payments-errors"])).prop_map(
            |(a, n)| Caller::Alarm {
                alarm: AlarmArn::parse(&format!("arn:aws:cloudwatch:us-east-1:{a}:alarm:{n}")).unwrap()
            }
        ),
    ]
}

fn request(caller: Caller, target: TargetArn) -> StopRequest {
    StopRequest {
        targets: vec![target],
        reason: Reason::parse("OPS-1234 generated reason", Overflow::Reject).unwrap(),
        error_code: None,
        dry_run: false,
        caller,
        door: Door::HttpApi,
        confirm_count: None,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
}

/// Whether the policy lets `caller` stop `target`, worked out from the rules directly rather than through
/// `Policy::evaluate` (generated rules set no reason or error-code requirements, so matching is everything).
fn allowed_by_rules(policy: &Policy, caller: &Caller, target: &TargetArn) -> bool {
    let applies = |r: &&Rule| r.callers.matches(caller) && r.targets.matches(target);
    let any = |effect: Effect| policy.rules.iter().filter(|r| r.effect == effect).any(|r| applies(&r));
    any(Effect::Allow) && !any(Effect::Deny)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Deny rules win wherever they appear; only a matching allow rule allows; otherwise the default deny.
    #[test]
    fn deny_wins_over_allow(policy in policy(), caller in caller(), target in target()) {
        let reason = Reason::parse("OPS-1 why", Overflow::Reject).unwrap();
        let code = ErrorCode::parse("Test.Stop").unwrap();
        for error_code in [None, Some(&code)] {
            let subject = Subject { caller: &caller, target: &target, reason: &reason, error_code };
            oracle::check_decision(&policy, subject, &policy.evaluate(subject));
        }
    }

    /// Through the whole stop flow (mocked AWS that would stop anything): a target that no allow rule lets this
    /// caller stop, or that a deny rule protects, sees no stop call at all; an allowed one sees exactly one,
    /// unless it is of a form with no stop of its own (then none, and the answer says `not_stoppable`) or in
    /// another account the policy names no role for (none, `account_not_configured`).
    #[test]
    fn a_target_outside_every_allow_rule_is_never_stopped(
        policy in policy(),
        caller in caller(),
        target in target(),
    ) {
        let stoppable = target.not_stoppable_reason().is_none();
        let home = target.account().as_str() == "111122223333";
        let request = request(caller, target);
        let allowed = allowed_by_rules(&policy, &request.caller, &request.targets[0]);
        let world = RunningWorld::new();
        let armed = world.gateway(policy);
        let handled = runtime().block_on(async {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
            let home = stop_gateway_core::domain::aws_ids::AccountId::parse("111122223333").ok();
            armed.flow.stop_targets(&armed.policy, &request, "audit-1", home.as_ref(), deadline).await
        });
        let stops = world.sfn_stops.lock().unwrap().len() + world.durable_stops.lock().unwrap().len();
        prop_assert_eq!(stops, usize::from(allowed && stoppable && home), "decision {:?}", handled.decision);
        prop_assert_eq!(handled.result.is_ok(), allowed && stoppable && home);
        if allowed && !stoppable {
            prop_assert_eq!(handled.result.as_ref().map_err(|e| e.code().as_str()).err(), Some("not_stoppable"));
        } else if allowed && !home {
            prop_assert_eq!(handled.result.as_ref().map_err(|e| e.code().as_str()).err(), Some("account_not_configured"));
        }
    }

    /// The policy tool's explanation (every rule's verdict) and the function's decision agree on every generated
    /// case: the deciding rule is the first applying deny, else the first applying allow, else the first allow
    /// whose text requirements were not met, else none.
    #[test]
    fn explain_agrees_with_the_decision(policy in policy(), caller in caller(), target in target()) {
        let reason = Reason::parse("OPS-1 why", Overflow::Reject).unwrap();
        let subject = Subject { caller: &caller, target: &target, reason: &reason, error_code: None };
        let verdicts = policy.explain(subject);
        let find = |effect: Effect, f: &dyn Fn(&Verdict) -> bool| {
            verdicts.iter().find(|(r, v)| r.effect == effect && f(v)).map(|(r, _)| r.id.clone())
        };
        let deny = find(Effect::Deny, &|v| *v == Verdict::Applies(None));
        let allow = find(Effect::Allow, &|v| matches!(v, Verdict::Applies(Some(_))));
        let unmet = find(Effect::Allow, &|v| matches!(v, Verdict::Unmet(_)));
        let expected = match (deny, allow, unmet) {
            (Some(id), _, _) => ("deny", Some(id)),
            (None, Some(id), _) => ("allow", Some(id)),
            (None, None, unmet) => ("deny", unmet),
        };
        let decision = policy.evaluate(subject);
        prop_assert_eq!((decision.effect_name(), decision.rule_id().map(str::to_owned)), expected);
    }

    /// Any accepted target ARN prints to a form that parses back to the same value and prints the same again.
    #[test]
    fn target_arns_round_trip(target in target()) {
        oracle::check_round_trip(&target);
    }

    /// The same for arbitrary ARN-shaped text: whatever is accepted round-trips.
    #[test]
    fn accepted_arn_text_round_trips(
        text in r"arn:(aws|aws-cn|aws-us-gov|AWS|aws-iso-[a-f])?:(states|lambda|STATES):[a-z0-9-]{0,16}:[0-9]{10,13}:(execution|express|stateMachine|function|mapRun):[A-Za-z0-9:/$._%-]{0,40}",
    ) {
        if let Ok(target) = TargetArn::parse(&text) {
            oracle::check_round_trip(&target);
        }
    }
}

/// Every sample in `events/`, as JSON values, to mutate.
fn samples() -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(testkit::repo().join("events")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        out.push(serde_json::from_str(&text).unwrap());
    }
    out
}

/// A replacement for one spot of a payload: wrong types, hostile strings, deep nesting, or nothing.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        Just(Value::String("\u{202e}arn:aws:states:us-east-1:111122223333:execution:orders-api:x".into())),
        Just(Value::String("x".repeat(70_000))),
        (1usize..200).prop_map(|depth| { (0..depth).fold(Value::Null, |inner, _| Value::Array(vec![inner])) }),
        Just(serde_json::json!({"targetArn": "arn:aws:states:us-east-1:111122223333:execution:ledger-main:x"})),
    ]
}

/// Replaces the value at a path chosen by `picks` (stopping early at a leaf) with `value`.
fn mutate(mut payload: Value, picks: &[prop::sample::Index], value: Value) -> Value {
    let mut pointer = String::new();
    let mut spot = &payload;
    for pick in picks {
        let (step, next) = match spot {
            Value::Object(map) if !map.is_empty() => {
                let (key, next) = map.iter().nth(pick.index(map.len())).unwrap();
                (key.replace('~', "~0").replace('/', "~1"), next)
            }
            Value::Array(items) if !items.is_empty() => {
                let i = pick.index(items.len());
                (i.to_string(), &items[i])
            }
            _ => break,
        };
        pointer.push('/');
        pointer.push_str(&step);
        spot = next;
    }
    *payload.pointer_mut(&pointer).unwrap() = value;
    payload
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    /// Whatever arrives (a sample with any one spot replaced by something wrong), the handler answers, never
    /// panics, and emits exactly one request record; any per-execution records hang off it.
    #[test]
    fn every_invocation_yields_one_request_record(
        which in any::<prop::sample::Index>(),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        value in hostile_value(),
    ) {
        let all = samples();
        let payload = mutate(all[which.index(all.len())].clone(), &picks, value);
        let world = RunningWorld::new();
        let app = testkit::mocks::app(world.gateway(example_policy()));
        let raw: Box<RawValue> = serde_json::from_str(&payload.to_string()).unwrap();
        let ctx = testkit::mocks::context("req-1");
        let result = runtime().block_on(handle(&app, LambdaEvent::new(raw, ctx)));
        let records = app.sink.events();
        let requests: Vec<_> = records.iter().filter(|r| r.record_type == "request").collect();
        prop_assert_eq!(requests.len(), 1, "records: {:?}", records);
        let id = &requests[0].audit_id;
        prop_assert!(records.iter().filter(|r| r.record_type != "request").all(|r| r.parent_audit_id.as_ref() == Some(id)));
        // Mocked AWS never fails, so nothing here is a transient failure worth a retry.
        prop_assert!(result.is_ok(), "{:?}", result.err());
    }
}
