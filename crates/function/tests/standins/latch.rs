//! Latching kill-switches end to end: the real gateway binary, CloudWatch alarms and Step Functions in moto,
//! durable executions in AWS's durable-functions server. The alarm's state in moto is the only state; what was
//! stopped is read back from the stand-ins. One test, in steps, because a sweep acts on every latching alarm in
//! ALARM in the account and would reach into any other test running beside it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::Value;
use testkit::{
    gateway_process::{GatewayProcess, body, outcome, policy_for},
    standins::Standins,
};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_stop-gateway"))
}

/// A Step Functions status-change event for `execution` (RUNNING, `redrive_count`), sent now.
fn started(account: &str, execution: &str, redrive_count: u32) -> String {
    let text = std::fs::read_to_string(testkit::repo().join("events/sfn-status-change-running.json"))
        .unwrap()
        .replace("111122223333", account);
    let mut event: Value = serde_json::from_str(&text).unwrap();
    let machine = execution.rsplit_once(':').unwrap().0.replace(":execution:", ":stateMachine:");
    event["detail"]["executionArn"] = Value::String(execution.to_owned());
    event["detail"]["stateMachineArn"] = Value::String(machine);
    event["detail"]["redriveCount"] = Value::from(redrive_count);
    event["time"] = Value::String(chrono::Utc::now().to_rfc3339());
    event.to_string()
}

fn sweep(account: &str) -> String {
    std::fs::read_to_string(testkit::repo().join("events/schedule-latch-sweep.json"))
        .unwrap()
        .replace("111122223333", account)
}

#[test]
fn a_latch_holds_while_its_alarm_is_in_alarm_and_releases_by_itself() {
    let s = Standins::start();
    let account = s.account();
    let machine = format!("arn:aws:states:us-east-1:{account}:stateMachine:orders-e2e-latch");
    let function = "orders-latch-fn";
    // The example policy, with this alarm's route marked latching (its rule, alarm-kill-switches, allows
    // orders-* alarms to stop orders-* work).
    let policy = format!(
        "{}\n[[alarm_targets]]\nalarm = \"orders-e2e-latch\"\nlatch = true\ntargets = [\"{machine}\", \"arn:aws:lambda:us-east-1:{account}:function:{function}\"]\n",
        policy_for(&account)
    );
    let alarm = s.alarm_put("orders-e2e-latch", &[("StateMachineArn", &machine)], &[]);
    let bus = s.audit_bus();
    let gw =
        GatewayProcess::start(binary(), &s, &[("POLICY", policy.as_str()), ("AUDIT_EVENT_BUS", bus.name.as_str())]);

    // Before the alarm fires nothing is latched: a new execution runs on.
    let early = s.sfn_start("orders-e2e-latch", 1).remove(0);
    let answer = gw.invoke(&started(&account, &early, 0));
    assert_eq!(outcome(&answer), "ignored", "{} {:?}", answer.body, gw.stdout());
    assert_eq!(s.sfn_status(&early), "RUNNING");

    // The alarm fires. Executions started after it, and one redriven, are stopped as their events arrive.
    s.alarm_state("orders-e2e-latch", "ALARM");
    let after = s.sfn_start("orders-e2e-latch", 2);
    let first = gw.invoke(&started(&account, &after[0], 0));
    assert_eq!(outcome(&first), "stopped", "{}", first.body);
    assert_eq!(s.sfn_status(&after[0]), "ABORTED", "read back from the stand-in");
    let redriven = gw.invoke(&started(&account, &after[1], 1));
    assert_eq!(outcome(&redriven), "stopped");
    assert_eq!(s.sfn_status(&after[1]), "ABORTED");
    let cause = s.sfn_stops(&after[1])[0]["cause"].as_str().unwrap().to_owned();
    assert!(cause.contains("was redriven (redrive 1)") && cause.contains(&alarm), "{cause}");

    // Events that were lost: executions started while the alarm is in ALARM, and durable executions (which send
    // no status-change events), are stopped by the sweep, each exactly once. `early` is still running too.
    let missed = s.sfn_start("orders-e2e-latch", 3);
    let durable = s.durable_start(function, 2);
    let swept = gw.invoke(&sweep(&account));
    assert_eq!(outcome(&swept), "stopped", "{}", swept.body);
    let b = body(&swept);
    assert_eq!(b["counts"]["stopped"], 6, "{b}");
    for arn in missed.iter().chain([&early]) {
        assert_eq!(s.sfn_status(arn), "ABORTED", "{arn}");
        assert_eq!(s.sfn_stops(arn).len(), 1, "{arn}: stopped exactly once");
    }
    for arn in &durable {
        assert_eq!(s.durable_status(arn)["Status"], "STOPPED", "{arn}");
    }
    assert_eq!(s.sfn_stops(&after[0]).len(), 1, "an execution already stopped is not stopped again");

    // One audit record per event, plus one per execution the sweep stopped; the alarm is the caller.
    let lines = gw.audit_lines(3 + 1 + 6);
    let requests: Vec<&Value> = lines.iter().filter(|l| l["audit"]["recordType"] == "request").collect();
    assert_eq!(requests.len(), 4);
    for line in &requests[1..] {
        assert_eq!(line["audit"]["caller"]["alarmArn"], alarm.as_str(), "{line}");
    }
    assert_eq!(requests[3]["audit"]["source"], "sweep");

    // Disabling the alarm's actions releases the latch while it stays in ALARM.
    s.alarm_actions("orders-e2e-latch", false);
    let quiet = s.sfn_start("orders-e2e-latch", 1).remove(0);
    assert_eq!(outcome(&gw.invoke(&started(&account, &quiet, 0))), "ignored");
    assert_eq!(s.sfn_status(&quiet), "RUNNING");
    s.alarm_actions("orders-e2e-latch", true);

    // The alarm returns to OK: the latch releases by itself, and the next execution runs on.
    s.alarm_state("orders-e2e-latch", "OK");
    let free = s.sfn_start("orders-e2e-latch", 1).remove(0);
    assert_eq!(outcome(&gw.invoke(&started(&account, &free, 0))), "ignored");
    assert_eq!(outcome(&gw.invoke(&sweep(&account))), "ignored");
    assert_eq!(s.sfn_status(&free), "RUNNING");
    assert_eq!(s.sfn_status(&quiet), "RUNNING", "the sweep does not reach it either");
}
