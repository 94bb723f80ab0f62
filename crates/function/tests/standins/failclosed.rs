//! The kill path fails closed, end to end: the real gateway binary against the stand-ins, with the faults a bad
//! day brings. An STS outage fails an event so that Lambda retries it, and the retry stops the execution; a
//! latch that cannot read an alarm's tags is a retried failure, not a silent pass; an alarm CloudWatch reports
//! from outside the function's own account latches nothing; and a latch released within the same second as a
//! cached read stops nothing started after the release.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use testkit::fault_proxy::{Fault, FaultProxy, FaultRule};
use testkit::gateway_process::{GatewayProcess, body, outcome, policy_for, sample};
use testkit::standins::Standins;

const OTHER: &str = "222233334444";
const ROLE: &str = "arn:aws:iam::222233334444:role/stop-gateway-target";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_stop-gateway"))
}

/// The stand-in endpoint a service's SDK client would use.
fn endpoint(s: &Standins, variable: &str) -> String {
    s.env().into_iter().find(|(k, _)| k == variable).unwrap().1
}

/// A Step Functions status-change event (RUNNING) for `execution`, stamped `at` as EventBridge stamps events:
/// in whole seconds.
fn started_at(account: &str, execution: &str, at: DateTime<Utc>) -> String {
    let text = std::fs::read_to_string(testkit::repo().join("events/sfn-status-change-running.json"))
        .unwrap()
        .replace("111122223333", account);
    let mut event: Value = serde_json::from_str(&text).unwrap();
    let machine = execution.rsplit_once(':').unwrap().0.replace(":execution:", ":stateMachine:");
    event["detail"]["executionArn"] = Value::String(execution.to_owned());
    event["detail"]["stateMachineArn"] = Value::String(machine);
    event["resources"] = Value::from(vec![execution.to_owned()]);
    event["time"] = Value::String(at.trunc_subsecs(0).format("%Y-%m-%dT%H:%M:%SZ").to_string());
    event.to_string()
}

/// `policy_for(account)` with a latching route from `alarm` to `machine`.
fn latching(account: &str, alarm: &str, machine: &str) -> String {
    format!(
        "{}\n[[alarm_targets]]\nalarm = \"{alarm}\"\nlatch = true\ntargets = [\"arn:aws:states:us-east-1:{account}:stateMachine:{machine}\"]\n",
        policy_for(account)
    )
}

#[test]
fn an_sts_outage_fails_the_event_so_lambda_retries_it_and_the_retry_stops_the_execution() {
    let s = Standins::start();
    let home = s.account();
    // STS answers 503 ServiceUnavailable to every call until the path heals.
    let sts = FaultProxy::start(
        &endpoint(&s, "AWS_ENDPOINT_URL_EVENTBRIDGE"),
        &[FaultRule::always("/", Fault::server_error(503))],
    );
    let policy = format!(
        r#"version = 1

[[rules]]
id = "automation"
effect = "allow"
callers = {{ sources = ["com.example.alarms"], accounts = ["{home}"] }}
targets = {{ services = ["states"], partitions = ["aws"], accounts = ["{OTHER}"], regions = ["*"], names = ["*"] }}

[[rules]]
id = "people"
effect = "allow"
callers = {{ accounts = ["{home}"] }}
targets = {{ services = ["states"], partitions = ["aws"], accounts = ["{OTHER}"], regions = ["*"], names = ["*"] }}
error_codes = {{ allowed = ["*"] }}

[[account_roles]]
accounts = ["{OTHER}"]
role = "{ROLE}"
"#
    );
    let gw =
        GatewayProcess::start(binary(), &s, &[("POLICY", policy.as_str()), ("AWS_ENDPOINT_URL_STS", &sts.endpoint())]);
    let theirs = s.sfn_start_in(OTHER, "orders-sts-outage", 2);

    // The event fails the invocation (Lambda retries it); nothing was stopped, and the failure is audited.
    let event = sample("eventbridge-stop-sfn.json", &home, Some(&theirs[0]));
    let failed = gw.invoke(&event);
    assert!(failed.error, "an STS outage must fail the event so that Lambda retries it: {}", failed.body);
    assert!(failed.body.to_string().contains("upstream_error"), "{}", failed.body);
    assert_eq!(s.sfn_status(&theirs[0]), "RUNNING");
    let record = &gw.audit_lines(1)[0]["audit"];
    assert_eq!(record["outcome"], "upstream_error", "{record}");
    assert!(record["message"].as_str().unwrap().contains(ROLE), "the record names the role: {record}");

    // An HTTP caller is told to come back: 503 and retryable.
    let http = gw.invoke(&sample("apigw-rest-stop-sfn.json", &home, Some(&theirs[1])));
    assert_eq!(http.body["statusCode"], 503, "{}", http.body);
    assert_eq!(body(&http)["error"]["retryable"], true, "{}", http.body);
    assert!(sts.faulted() >= 2, "STS was asked, and failed");

    // STS heals; Lambda's retry of the same event stops the execution, once.
    sts.set_rules(&[]);
    let retried = gw.invoke(&event);
    assert!(!retried.error, "{}", retried.body);
    assert_eq!(outcome(&retried), "stopped", "{}", retried.body);
    assert_eq!(s.sfn_status(&theirs[0]), "ABORTED", "stopped in the account it runs in");
    assert_eq!(s.sfn_stops(&theirs[0]).len(), 1);
}

#[test]
fn a_latch_that_cannot_read_an_alarms_tags_is_retried_not_passed() {
    let s = Standins::start();
    let account = s.account();
    let cloudwatch = FaultProxy::start(
        &endpoint(&s, "AWS_ENDPOINT_URL_CLOUDWATCH"),
        &[FaultRule::always("ListTagsForResource", Fault::server_error(503))],
    );
    let policy = latching(&account, "orders-tags-latch", "orders-tags-latch");
    let machine = format!("arn:aws:states:us-east-1:{account}:stateMachine:orders-tags-latch");
    s.alarm_put("orders-tags-latch", &[("StateMachineArn", &machine)], &[]);
    s.alarm_state("orders-tags-latch", "ALARM");
    let gw = GatewayProcess::start(
        binary(),
        &s,
        &[("POLICY", policy.as_str()), ("AWS_ENDPOINT_URL_CLOUDWATCH", &cloudwatch.endpoint())],
    );

    let execution = s.sfn_start("orders-tags-latch", 1).remove(0);
    let event = started_at(&account, &execution, Utc::now());
    let failed = gw.invoke(&event);
    assert!(failed.error, "a latch decision whose tag read failed must be retried: {}", failed.body);
    let record = &gw.audit_lines(1)[0]["audit"];
    assert_eq!(record["outcome"], "upstream_error", "{record}");
    let message = record["message"].as_str().unwrap();
    assert!(message.contains("tags") && message.contains("orders-tags-latch"), "names what failed: {message}");
    assert_eq!(s.sfn_status(&execution), "RUNNING");

    cloudwatch.set_rules(&[]);
    let retried = gw.invoke(&event);
    assert_eq!(outcome(&retried), "stopped", "{}", retried.body);
    assert_eq!(s.sfn_status(&execution), "ABORTED");
}

#[test]
fn an_alarm_from_outside_the_functions_own_account_latches_nothing() {
    let s = Standins::start();
    let account = s.account();
    // The gateway runs in another account than the one moto answers DescribeAlarms for, so every alarm in the
    // answer is foreign to it. A rule with no caller account, and a role into the alarms' account, would let such
    // an alarm stop something if it were trusted.
    let home = "999988887777";
    let role = format!("arn:aws:iam::{account}:role/stop-gateway-target");
    let policy = format!(
        r#"version = 1

[[rules]]
id = "any-alarm"
effect = "allow"
latch = true
callers = {{ alarms = ["*"] }}
targets = {{ services = ["states"], partitions = ["aws"], accounts = ["{account}"], regions = ["*"], names = ["*"] }}

[[account_roles]]
accounts = ["{account}"]
role = "{role}"
"#
    );
    let machine = format!("arn:aws:states:us-east-1:{account}:stateMachine:fleet-foreign");
    let alarm = s.alarm_put("fleet-foreign", &[("StateMachineArn", &machine)], &[]);
    s.alarm_state("fleet-foreign", "ALARM");
    let gw = GatewayProcess::start_as(
        binary(),
        &s,
        &format!("arn:aws:lambda:us-east-1:{home}:function:stop-gateway"),
        &[("POLICY", policy.as_str())],
    );

    let execution = s.sfn_start("fleet-foreign", 1).remove(0);
    let answer = gw.invoke(&started_at(&account, &execution, Utc::now()));
    assert_eq!(outcome(&answer), "ignored", "{}", answer.body);
    assert_eq!(s.sfn_status(&execution), "RUNNING");
    let sweep = std::fs::read_to_string(testkit::repo().join("events/schedule-latch-sweep.json"))
        .unwrap()
        .replace("111122223333", home);
    assert_eq!(outcome(&gw.invoke(&sweep)), "ignored");
    assert_eq!(s.sfn_status(&execution), "RUNNING");
    let logged = gw.stdout().iter().any(|l| l.contains(&alarm) && l.contains("ignored"));
    assert!(logged, "the foreign alarm is logged as ignored: {:?}", gw.stdout());
}

#[test]
fn a_latch_released_within_the_second_of_a_cached_read_stops_nothing_started_after() {
    let s = Standins::start();
    let account = s.account();
    let policy = latching(&account, "orders-release-latch", "orders-release-latch");
    let machine = format!("arn:aws:states:us-east-1:{account}:stateMachine:orders-release-latch");
    s.alarm_put("orders-release-latch", &[("StateMachineArn", &machine)], &[]);
    s.alarm_state("orders-release-latch", "ALARM");
    // A cache that would serve the whole test, so only the events' times decide what it may serve.
    let gw = GatewayProcess::start(binary(), &s, &[("POLICY", policy.as_str()), ("LATCH_CACHE_SECONDS", "60")]);

    // The first event's read must happen within the second its event is stamped with; on a slow start, try again.
    let mut second = None;
    for _ in 0..5 {
        let first = s.sfn_start("orders-release-latch", 1).remove(0);
        std::thread::sleep(Duration::from_millis(1000 - u64::from(Utc::now().timestamp_subsec_millis())));
        let stamp = Utc::now().trunc_subsecs(0);
        let answer = gw.invoke(&started_at(&account, &first, stamp));
        assert_eq!(outcome(&answer), "stopped", "{}", answer.body);
        if Utc::now().trunc_subsecs(0) == stamp {
            second = Some(stamp);
            break;
        }
    }
    let stamp = second.expect("no attempt fitted one read into one second");

    // Within that second the alarm leaves ALARM and a new execution starts; its event bears the same second.
    s.alarm_state("orders-release-latch", "OK");
    let after = s.sfn_start("orders-release-latch", 1).remove(0);
    let answer = gw.invoke(&started_at(&account, &after, stamp));
    assert_eq!(outcome(&answer), "ignored", "a released latch stops nothing: {}", answer.body);
    assert_eq!(s.sfn_status(&after), "RUNNING");
}
