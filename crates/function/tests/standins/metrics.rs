//! The metrics, as CloudWatch would read them: the real binary's line for each request is valid embedded metric
//! format (`scripts/check-metrics`: jsonschema against `deploy/emf.schema.json`, plus the rules a schema cannot
//! say), and every alarm `template.yaml` sets on the gateway's own metrics watches a metric, dimension set and
//! threshold those lines really carry.

use std::path::Path;
use std::process::Command;

use std::collections::BTreeMap;

use serde_json::Value;
use stop_gateway::metrics::Metrics;
use stop_gateway_core::domain::outcome::OutcomeCode;
use stop_gateway_core::domain::request::Door;
use testkit::mocks::request_record;
use testkit::{
    gateway_process::{GatewayProcess, policy_for, sample},
    repo,
    standins::Standins,
};

#[test]
fn every_request_writes_one_valid_emf_line_and_every_alarm_watches_an_emitted_metric() {
    let s = Standins::start();
    let account = s.account();
    let running = s.sfn_start("orders-metrics", 1);
    let policy = policy_for(&account);
    // A bus that does not exist: every record misses it, which the metrics must count.
    let env = [("POLICY", policy.as_str()), ("AUDIT_EVENT_BUS", "no-such-bus"), ("METRICS_NAMESPACE", "StopGateway")];
    let gateway = GatewayProcess::start(Path::new(env!("CARGO_BIN_EXE_stop-gateway")), &s, &env);
    let requests = [
        ("apigw-rest-stop-sfn.json", Some(running[0].as_str()), "stopped"),
        ("apigw-rest-stop-sfn.json", Some(running[0].as_str()), "already_finished"),
        ("apigw-http-dry-run.json", Some(running[0].as_str()), "already_finished"),
        ("apigw-http-no-ticket.json", None, "denied"),
        ("apigw-http-no-iam-identity.json", None, "unauthenticated"),
        ("apigw-http-map-run-child.json", None, "not_stoppable"),
        ("eventbridge-denied-source.json", None, "denied"),
        ("eventbridge-other-service.json", None, "invalid_request"),
        ("alarm-event-ok.json", None, "ignored"),
        ("unknown-shape.json", None, "invalid_request"),
    ];
    for (name, target, _) in requests {
        gateway.invoke(&sample(name, &account, target));
    }
    let emf: Vec<Value> = (0..100)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            gateway
                .stdout()
                .iter()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|v| v.get("_aws").is_some())
                .collect::<Vec<_>>()
        })
        .find(|lines| lines.len() >= requests.len())
        .unwrap_or_default();
    assert_eq!(emf.len(), requests.len(), "one metrics line per request");
    for ((name, _, outcome), line) in requests.iter().zip(&emf) {
        assert_eq!(line["Outcome"], *outcome, "{name}: {line}");
        assert_eq!(line["AuditBusDeliveryFailures"], 1, "{name}: the missed record is counted");
    }
    assert_eq!(emf[0]["StoppedExecutions"], 1);
    assert_eq!(emf[6]["FailedAutomatedStops"], 1, "a denied automated stop is a failed one");
    assert_eq!(emf[3]["FailedAutomatedStops"], 0, "an HTTP caller reads its own answer");

    // And the line of every outcome from every door, as the library writes it (bulk ones with their counts).
    let metrics = Metrics::new("StopGateway".into());
    let mut text: String = emf.iter().map(|l| format!("{l}\n")).collect();
    for source in ["eventbridge", "alarm-event", "alarm-action", "apigw-rest", "apigw-http", "function-url", "unknown"]
    {
        let source = Door::from_name(source).unwrap();
        for outcome in OutcomeCode::ALL {
            let counts =
                (outcome == OutcomeCode::Incomplete).then(|| BTreeMap::from([("stopped", 3), ("remaining", 2)]));
            text += &metrics.line(&request_record(source, outcome, counts), 0, 1_795_230_000_000);
            text.push('\n');
        }
    }
    // A policy refresh that was not taken writes its own line.
    text += &metrics.policy_refresh_failure_line(1_795_230_000_000);
    text.push('\n');
    let file = std::env::temp_dir().join(format!("stop-gateway-emf-{}.jsonl", std::process::id()));
    std::fs::write(&file, text).unwrap();
    let out = Command::new(repo().join(".venv/bin/python"))
        .arg(repo().join("scripts/check-metrics"))
        .arg(&file)
        .output()
        .expect("run scripts/check-metrics with the stand-ins' Python");
    let _ = std::fs::remove_file(&file);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "scripts/check-metrics:\n{report}{}", String::from_utf8_lossy(&out.stderr));
    let expected = format!("{} valid EMF lines", requests.len() + 7 * OutcomeCode::ALL.len() + 1);
    assert!(report.contains(&expected) && report.contains("4 alarms on them checked, 0 problems"), "{report}");
}
