//! One instance under a burst: a thousand events of every sample in turn (every door, bad input, denials, dry
//! runs, bulk stops) sent at once to one gateway, as a start storm or a flood would. It has stand-ins of its own:
//! the burst keeps one moto busy for half a minute, and the other files' tests should not queue behind it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use testkit::gateway_process::{GatewayProcess, outcome, policy_for, sample};
use testkit::standins::Standins;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_stop-gateway"))
}

#[test]
fn a_burst_of_1000_mixed_events_on_one_instance_never_errors() {
    let s = Standins::start();
    let account = s.account();
    let executions = s.sfn_start("orders-burst", 100);
    // The alarm and bulk samples stop every execution of the function `checkout` (by ARN, or by the metric
    // dimension `FunctionName`); pointed at the burst's own durable function instead, they race the HTTP stops
    // for the same executions.
    let own = |text: &str| {
        text.replace(":function:checkout", ":function:orders-burst-fn").replace("\"checkout\"", "\"orders-burst-fn\"")
    };
    let durable = s.durable_start("orders-burst-fn", 4);
    let policy = policy_for(&account).replace(":function:checkout", ":function:orders-burst-fn");
    let bus = s.audit_bus();
    let gw = GatewayProcess::start(binary(), &s, &[("POLICY", &policy), ("AUDIT_EVENT_BUS", &bus.name)]);
    let mut names: Vec<String> = std::fs::read_dir(testkit::repo().join("events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // Every sample in turn (HTTP, EventBridge, alarms, bad input, denials, dry runs, bulk), the stops aimed at
    // the burst's own executions so that many requests race for the same one.
    let payloads: Vec<String> = (0..1000)
        .map(|i| {
            let name = &names[i % names.len()];
            let target = match name.as_str() {
                "apigw-rest-stop-sfn.json"
                | "function-url-stop-sfn.json"
                | "eventbridge-stop-sfn.json"
                | "eventbridge-dry-run.json"
                | "apigw-http-dry-run.json" => Some(executions[(i * 7) % executions.len()].as_str()),
                "apigw-http-stop-durable.json" => Some(durable[i % durable.len()].as_str()),
                _ => None,
            };
            own(&sample(name, &account, target))
        })
        .collect();
    let started = std::time::Instant::now();
    let pending: Vec<_> = payloads.iter().map(|p| gw.runtime().send(p)).collect();
    let answers: Vec<_> = pending
        .into_iter()
        .map(|answer| answer.recv_timeout(testkit::WAIT).expect("every event is answered"))
        .collect();
    let elapsed = started.elapsed();

    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for (answer, payload) in answers.iter().zip(&payloads) {
        assert!(!answer.error, "an invocation failed: {:?} for {payload}", answer.body);
        if let Some(status) = answer.body["statusCode"].as_u64() {
            assert!(status < 500, "HTTP {status}: {:?}", answer.body);
        }
        *outcomes.entry(outcome(answer)).or_default() += 1;
    }
    println!("1000 mixed events in {:.2} s: {outcomes:?}", elapsed.as_secs_f64());
    assert!(outcomes.get("stopped").copied().unwrap_or_default() > 0, "{outcomes:?}");
    assert!(outcomes.get("denied").copied().unwrap_or_default() > 0, "{outcomes:?}");

    // One request record per event, all delivered; no execution stopped twice.
    let lines = gw.audit_lines(1000);
    let requests = lines.iter().filter(|l| l["audit"]["recordType"] == "request").count();
    assert_eq!(requests, 1000, "one request record per event");
    assert!(lines.iter().all(|l| l["busDelivery"]["status"] == "delivered"));
    let stops = s.sfn_stops_by_execution("orders-burst");
    assert!(!stops.is_empty() && stops.values().all(|&n| n == 1), "each execution stopped at most once: {stops:?}");
}
