//! Benchmark behind `scripts/bench-bulk` (not a test): one alarm stops 1 000 running executions, and the rate is
//! printed next to the stand-in's raw capacity for the same work (describe + stop per execution, straight from
//! the SDK at the gateway's concurrency), measured in the same run.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic with a message is the report

use std::path::PathBuf;
use std::time::Instant;

use aws_sdk_sfn::types::ExecutionStatus;
use futures_util::{StreamExt, stream};
use serde_json::Value;
use testkit::standins::{GatewayProcess, Standins, body, policy_for, sample};

const EXECUTIONS: usize = 1000;
const CONCURRENCY: usize = 16;

fn gateway_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|p| p.parent()).unwrap().join("stop-gateway")
}

/// The stand-in's own capacity: describe + stop each execution with the SDK, `CONCURRENCY` at a time.
fn raw_capacity(s: &Standins, arns: Vec<String>) -> f64 {
    let client = s.sfn_client();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let started = Instant::now();
    runtime.block_on(async {
        stream::iter(arns)
            .map(|arn| {
                let client = client.clone();
                async move {
                    client.describe_execution().execution_arn(&arn).send().await.expect("describe");
                    client.stop_execution().execution_arn(&arn).error("Bench").cause("raw").send().await.expect("stop");
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<()>>()
            .await
    });
    EXECUTIONS as f64 / started.elapsed().as_secs_f64()
}

/// One alarm naming a state machine with `EXECUTIONS` running executions, through the real binary.
fn gateway_run(s: &Standins, machine: &str, rate_limits: &str) -> (f64, f64) {
    let account = s.account();
    let policy = policy_for(&account);
    let bus = s.audit_bus();
    let concurrency = CONCURRENCY.to_string();
    let gateway = GatewayProcess::start(
        &gateway_binary(),
        s,
        &[
            ("POLICY", policy.as_str()),
            ("AUDIT_EVENT_BUS", bus.name.as_str()),
            ("RATE_LIMITS", rate_limits),
            ("BULK_CONCURRENCY", concurrency.as_str()),
        ],
    );
    let mut event: Value = serde_json::from_str(&sample("alarm-event-tags.json", &account, None)).unwrap();
    event["detail"]["alarmTags"]["stop-gateway:target"] =
        Value::String(format!("arn:aws:states:us-east-1:{account}:stateMachine:{machine}"));
    let event = event.to_string();
    let started = Instant::now();
    let answer = gateway.invoke(&event);
    let wall = started.elapsed().as_secs_f64();
    let b = body(&answer);
    assert_eq!(b["counts"]["stopped"], EXECUTIONS, "{}", b["counts"]);
    assert_eq!(s.sfn_count(machine, ExecutionStatus::Aborted), EXECUTIONS, "verified at the stand-in");
    let lines = gateway.audit_lines(1);
    // The request record's durationMs covers listing, describing and stopping, before audit delivery.
    let stop_phase = lines
        .iter()
        .find(|l| l["audit"]["recordType"] == "request")
        .and_then(|l| l["audit"]["durationMs"].as_f64())
        .map_or(f64::NAN, |ms| ms / 1000.0);
    let all = gateway.audit_lines(EXECUTIONS + 1);
    let delivered = all.iter().filter(|l| l["busDelivery"]["status"] == "delivered").count();
    println!("  {machine}: {delivered} of {} audit records delivered to the bus", all.len());
    (stop_phase, wall)
}

fn main() {
    println!(
        "stop-gateway bulk benchmark: {EXECUTIONS} running executions, concurrency {CONCURRENCY}, local stand-ins\n"
    );
    let s = Standins::start();
    let t = Instant::now();
    let raw = s.sfn_start("bench-raw", EXECUTIONS);
    s.sfn_start("orders-bench-unpaced", EXECUTIONS);
    s.sfn_start("orders-bench-paced", EXECUTIONS);
    println!("started {} executions at the stand-in in {:.1} s", 3 * EXECUTIONS, t.elapsed().as_secs_f64());

    let raw_rate = raw_capacity(&s, raw);
    let unlimited = "DescribeExecution=100000/100000,StopExecution=100000/100000,ListExecutions=1000/1000";
    let (unpaced_s, unpaced_wall) = gateway_run(&s, "orders-bench-unpaced", unlimited);
    let (paced_s, paced_wall) = gateway_run(&s, "orders-bench-paced", "");
    let rate = |secs: f64| EXECUTIONS as f64 / secs;

    println!("\n| run | executions/s (stop phase) | stop phase (s) | end to end incl. 1 001 audit events (s) |");
    println!("|---|---:|---:|---:|");
    println!("| stand-in raw capacity: SDK describe + stop, no gateway | {raw_rate:.0} | {:.2} | - |", rate(raw_rate));
    println!(
        "| gateway, pacing lifted (stand-in bound) | {:.0} | {unpaced_s:.2} | {unpaced_wall:.2} |",
        rate(unpaced_s)
    );
    println!("| gateway, AWS default quotas (us-east-1) | {:.0} | {paced_s:.2} | {paced_wall:.2} |", rate(paced_s));
    println!("\ngateway / raw capacity, pacing lifted: {:.0}%", 100.0 * rate(unpaced_s) / raw_rate);
    println!(
        "under AWS's default quotas DescribeExecution (250 burst, 100/s) bounds the rate before StopExecution (1000 burst, 200/s);"
    );
    println!(
        "the stand-in (moto) handles PutEvents one at a time, which dominates the end-to-end time here, not in AWS."
    );
}
