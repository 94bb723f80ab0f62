//! Benchmark behind `scripts/bench-bulk` (not a test): one alarm stops 1 000 running executions of one state
//! machine through the real binary, with Step Functions behind a proxy that keeps AWS's default us-east-1 API
//! quotas, so the time it reports is one the gateway could also reach in AWS without being throttled.
//!
//! It reports the time from the event to the last stop confirmed, checks the work against the stand-in (each
//! execution stopped exactly once, all ABORTED, one audit record per stop plus the request's) and shows the
//! headroom the gateway kept under each quota. For scale it also runs the gateway with its pacing lifted,
//! straight at the stand-in, and measures the stand-in's own capacity for the same stops.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic with a message is the report

use std::path::PathBuf;
use std::time::Instant;

use aws_sdk_sfn::types::ExecutionStatus;
use futures_util::{StreamExt, stream};
use serde_json::Value;
use testkit::quota_proxy::{QuotaProxy, QuotaStat, quota_table};
use testkit::standins::{GatewayProcess, Standins, body, policy_for, sample};

const EXECUTIONS: usize = 1000;
/// The target: from the alarm event to the last stop confirmed.
const TARGET_SECONDS: f64 = 2.0;
/// StopExecution calls in flight at once when measuring the stand-in's own capacity.
const RAW_CONCURRENCY: usize = 16;
/// Pacing far above any quota: only the stand-in bounds the gateway.
const LIFTED: &str = "DescribeExecution=100000/100000,StopExecution=100000/100000,ListExecutions=100000/100000";

fn gateway_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|p| p.parent()).unwrap().join("stop-gateway")
}

/// The stand-in's own capacity: one StopExecution per execution with the SDK, `RAW_CONCURRENCY` at a time.
fn raw_capacity(s: &Standins, arns: Vec<String>) -> f64 {
    let client = s.sfn_client();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let started = Instant::now();
    runtime.block_on(async {
        stream::iter(arns)
            .map(|arn| {
                let client = client.clone();
                async move {
                    client.stop_execution().execution_arn(&arn).error("Bench").cause("raw").send().await.expect("stop");
                }
            })
            .buffer_unordered(RAW_CONCURRENCY)
            .collect::<Vec<()>>()
            .await
    });
    started.elapsed().as_secs_f64()
}

/// What one gateway run did, as measured and as the stand-in tells it.
struct Run {
    /// The request record's `durationMs`: from the event to the last stop confirmed, before audit delivery.
    stop_phase: f64,
    /// From sending the event to the answer.
    wall: f64,
    /// The answer's outcome and counts.
    answer: String,
    /// Executions with exactly one StopExecution recorded at the stand-in, and with more than one.
    stopped_once: usize,
    stopped_more: usize,
    aborted: usize,
    request_records: usize,
    execution_records: usize,
    delivered: usize,
    /// The quota proxy's report, when the run went through one.
    quotas: Option<Vec<QuotaStat>>,
}

/// One alarm naming `machine` (with `EXECUTIONS` running executions) through the real binary; Step Functions
/// through `proxy` when given, else straight at the stand-in.
fn gateway_run(s: &Standins, machine: &str, proxy: Option<&QuotaProxy>, rate_limits: Option<&str>) -> Run {
    let account = s.account();
    let policy = policy_for(&account);
    let bus = s.audit_bus();
    let mut env = vec![("POLICY", policy.clone()), ("AUDIT_EVENT_BUS", bus.name.clone())];
    if let Some(proxy) = proxy {
        // Later entries win over the stand-ins' environment.
        env.push(("AWS_ENDPOINT_URL_SFN", proxy.endpoint()));
    }
    if let Some(limits) = rate_limits {
        env.push(("RATE_LIMITS", limits.to_owned()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let gateway = GatewayProcess::start(&gateway_binary(), s, &env);
    let mut event: Value = serde_json::from_str(&sample("alarm-event-tags.json", &account, None)).unwrap();
    event["detail"]["alarmTags"]["stop-gateway:target"] =
        Value::String(format!("arn:aws:states:us-east-1:{account}:stateMachine:{machine}"));
    let event = event.to_string();
    if let Some(proxy) = proxy {
        proxy.reset(); // full buckets, as an account that has been quiet
    }
    let started = Instant::now();
    let answer = gateway.invoke(&event);
    let wall = started.elapsed().as_secs_f64();
    let quotas = proxy.map(QuotaProxy::report); // before anything else of ours could reach the proxy
    let b = body(&answer);
    let answer = format!("{} {}", b["outcome"].as_str().unwrap_or("none"), b["counts"]);

    let stops = s.sfn_stops_by_execution(machine);
    let records = gateway.audit_lines(EXECUTIONS + 1);
    let of_type = |t: &str| records.iter().filter(|l| l["audit"]["recordType"] == t).count();
    let stop_phase = records
        .iter()
        .find(|l| l["audit"]["recordType"] == "request")
        .and_then(|l| l["audit"]["durationMs"].as_f64())
        .map_or(f64::NAN, |ms| ms / 1000.0);
    Run {
        stop_phase,
        wall,
        answer,
        stopped_once: stops.values().filter(|&&n| n == 1).count(),
        stopped_more: stops.values().filter(|&&n| n > 1).count(),
        aborted: s.sfn_count(machine, ExecutionStatus::Aborted),
        request_records: of_type("request"),
        execution_records: of_type("execution"),
        delivered: records.iter().filter(|l| l["busDelivery"]["status"] == "delivered").count(),
        quotas,
    }
}

/// Prints a run's figures and checks; returns whether every check passed.
fn report(title: &str, run: &Run) -> bool {
    println!("\n## {title}\n");
    println!("event -> last stop confirmed (request record durationMs): {:.2} s", run.stop_phase);
    println!("event -> answer (wall, incl. audit delivery): {:.2} s", run.wall);
    println!("answer: {}", run.answer);
    let mut checks = vec![
        (
            run.stopped_once == EXECUTIONS && run.stopped_more == 0,
            format!(
                "stopped exactly once: {} of {EXECUTIONS} executions have one StopExecution recorded ({} more than one)",
                run.stopped_once, run.stopped_more
            ),
        ),
        (run.aborted == EXECUTIONS, format!("ABORTED at the stand-in: {} of {EXECUTIONS}", run.aborted)),
        (
            run.request_records == 1 && run.execution_records == EXECUTIONS,
            format!(
                "audit records: {} request + {} execution (1 + {EXECUTIONS} expected), {} delivered to the bus",
                run.request_records, run.execution_records, run.delivered
            ),
        ),
    ];
    if let Some(quotas) = &run.quotas {
        let throttled: usize = quotas.iter().map(|q| q.throttled).sum();
        checks.push((throttled == 0, format!("calls throttled by the quota proxy: {throttled}")));
    }
    for (ok, line) in &checks {
        println!("  {} {line}", if *ok { "ok  " } else { "FAIL" });
    }
    if let Some(quotas) = &run.quotas {
        println!("\nStep Functions quotas (AWS defaults, us-east-1), as the quota proxy saw the run:\n");
        print!("{}", quota_table(quotas));
    }
    checks.iter().all(|(ok, _)| *ok)
}

fn main() {
    println!(
        "stop-gateway bulk benchmark: one alarm, {EXECUTIONS} running executions of one state machine, local stand-ins"
    );
    println!("target <= {TARGET_SECONDS} s from event to last stop confirmed\n");
    let s = Standins::start();
    let t = Instant::now();
    let raw = s.sfn_start("bench-raw", EXECUTIONS);
    s.sfn_start("orders-bench-quotas", EXECUTIONS);
    s.sfn_start("orders-bench-lifted", EXECUTIONS);
    println!("started {} executions at the stand-in in {:.1} s", 3 * EXECUTIONS, t.elapsed().as_secs_f64());

    let sfn = s.env().into_iter().find(|(k, _)| k == "AWS_ENDPOINT_URL_SFN").unwrap().1;
    let proxy = QuotaProxy::start(&sfn);
    let paced = gateway_run(&s, "orders-bench-quotas", Some(&proxy), None);
    let lifted = gateway_run(&s, "orders-bench-lifted", None, Some(LIFTED));
    let raw_s = raw_capacity(&s, raw);

    let mut ok = report("gateway under AWS's default quotas, Step Functions behind the quota proxy", &paced);
    ok &= report("gateway with pacing lifted (RATE_LIMITS), straight at the stand-in: the stand-in's bound", &lifted);

    let rate = |secs: f64| EXECUTIONS as f64 / secs;
    println!("\n## summary\n");
    println!("| run | event -> last stop confirmed (s) | executions/s | event -> answer, wall (s) |");
    println!("|---|---:|---:|---:|");
    println!(
        "| gateway, AWS default quotas (quota proxy) | {:.2} | {:.0} | {:.2} |",
        paced.stop_phase,
        rate(paced.stop_phase),
        paced.wall
    );
    println!(
        "| gateway, pacing lifted (stand-in bound) | {:.2} | {:.0} | {:.2} |",
        lifted.stop_phase,
        rate(lifted.stop_phase),
        lifted.wall
    );
    println!(
        "| stand-in raw capacity: SDK StopExecution, {RAW_CONCURRENCY} at a time | {raw_s:.2} | {:.0} | - |",
        rate(raw_s)
    );
    let met = paced.stop_phase <= TARGET_SECONDS;
    println!(
        "\ntarget <= {TARGET_SECONDS} s from event to last stop confirmed, under AWS's default quotas: {} ({:.2} s)",
        if met { "met" } else { "NOT met" },
        paced.stop_phase
    );
    println!("the stand-in (moto) handles PutEvents one at a time, which dominates event -> answer here, not in AWS.");
    if !ok {
        eprintln!("bench_bulk: a check failed (see FAIL above)");
        std::process::exit(1);
    }
}
