//! Capacity the people cannot take from the alarms: the deployment runs the same binary as two functions, one
//! serving the HTTP doors and one the automated doors (alarms, the latch, automation), each refusing the
//! other's doors. End to end against the stand-ins: while the HTTP function is saturated by requests held at
//! Step Functions, an alarm's event still stops its fleet at once through the kill-switch function.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::fault_proxy::{Fault, FaultProxy, FaultRule};
use testkit::gateway_process::{GatewayProcess, body, outcome, policy_for, sample};
use testkit::standins::Standins;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_stop-gateway"))
}

/// The alarm sample whose metric names `machine`, as EventBridge would deliver it.
fn alarm_event(account: &str, machine: &str) -> String {
    let mut event: Value = serde_json::from_str(&sample("alarm-event-dimensions.json", account, None)).unwrap();
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["StateMachineArn"] =
        Value::String(machine.to_owned());
    event.to_string()
}

#[test]
fn an_alarm_stops_its_fleet_while_the_http_function_is_saturated_and_each_refuses_the_others_doors() {
    let s = Standins::start();
    let account = s.account();
    let policy = policy_for(&account);
    let sfn = s.env().into_iter().find(|(k, _)| k == "AWS_ENDPOINT_URL_SFN").unwrap().1;
    // People's stops are held 2 s each at Step Functions: four of them keep the HTTP function busy for 8 s.
    let slow = FaultProxy::start(
        &sfn,
        &[FaultRule::always("AWSStepFunctions.StopExecution", Fault::Slow(Duration::from_secs(2)))],
    );
    let people = GatewayProcess::start(
        binary(),
        &s,
        &[("POLICY", policy.as_str()), ("DOORS", "interactive"), ("AWS_ENDPOINT_URL_SFN", &slow.endpoint())],
    );
    let alarms = GatewayProcess::start(binary(), &s, &[("POLICY", policy.as_str()), ("DOORS", "automated")]);

    let held = s.sfn_start("orders-held", 4);
    let pending: Vec<_> = held
        .iter()
        .map(|arn| {
            people
                .runtime()
                .send_with_timeout(&sample("apigw-rest-stop-sfn.json", &account, Some(arn)), Duration::from_secs(60))
        })
        .collect();

    // The alarm fires while the HTTP function works through its queue.
    let fleet = s.sfn_start("orders-fleet", 4);
    let machine = fleet[0].rsplit_once(':').unwrap().0.replace(":execution:", ":stateMachine:");
    let started = Instant::now();
    let answer = alarms.invoke(&alarm_event(&account, &machine));
    let took = started.elapsed();
    assert_eq!(outcome(&answer), "stopped", "{}", answer.body);
    assert_eq!(body(&answer)["counts"]["stopped"], 4);
    for arn in &fleet {
        assert_eq!(s.sfn_status(arn), "ABORTED", "{arn}");
    }
    assert!(took < Duration::from_secs(4), "the kill-switch did not wait behind the people's queue: {took:?}");
    let queued = pending.iter().filter(|p| p.try_recv().is_err()).count();
    assert!(queued >= 2, "the HTTP function was still busy when the alarm's stops landed ({queued} left)");

    // Each function refuses the other's doors: a handled, audited refusal, never a retry.
    let misrouted = people.invoke(&alarm_event(&account, &machine));
    assert!(!misrouted.error, "{}", misrouted.body);
    assert_eq!(outcome(&misrouted), "door_not_served", "{}", misrouted.body);
    let http = alarms.invoke(&sample("apigw-rest-stop-sfn.json", &account, Some(&fleet[0])));
    assert_eq!((http.body["statusCode"].as_u64(), outcome(&http).as_str()), (Some(403), "door_not_served"));
    let refused = alarms.audit_lines(2);
    assert_eq!(refused.last().unwrap()["audit"]["outcome"], "door_not_served", "the refusal is audited");

    // The people's requests all end too, each stopped once.
    for reply in pending {
        let done = reply.recv_timeout(Duration::from_secs(60)).unwrap();
        assert_eq!(outcome(&done), "stopped", "{}", done.body);
    }
    for arn in &held {
        assert_eq!(s.sfn_stops(arn).len(), 1, "{arn}");
    }
}
