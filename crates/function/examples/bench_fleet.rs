//! Benchmark behind `scripts/bench-bulk` (its second part; not a test): a fleet of 10 000 running executions
//! of one state machine, contained through the real binary at the pace of AWS's default us-east-1 quotas, over
//! as many invocations as the door gives it, the way Lambda would run them.
//!
//! Step Functions is the latency model (`testkit::latency_model`: in memory, every answer held for an assumed
//! latency; moto cannot hold 10 000 executions quickly) behind the quota proxy (`testkit::quota_proxy`: AWS's
//! default quotas, StopExecution 1 000 burst and 200 per second). The quota alone needs (10 000 − 1 000) / 200
//! = 45 s: past an HTTP door's 29 s, so that run must continue across invocations (`incomplete` with
//! `remaining`, then the resend), and within the template's default 120 s function timeout.
//!
//! Each scenario runs one gateway process (one warm instance) against a fresh model and a fresh proxy (full
//! buckets: the account was quiet) and invokes it until the fleet is contained or the door's attempts run out.
//! The first three give the one instance at work the whole quota; the last runs at the template's defaults for
//! the kill-switch function (80 % of each quota, shared by its 5 instances), where one alarm gets a fifth of it.
//! A retry is sent as soon as the previous answer arrives: for an HTTP caller that is what a resend is; for an
//! event, Lambda waits a minute before the first retry and two before the second, which the harness does not
//! sleep through but adds to the figures it reports beside the measured ones. The harness checks that the
//! proxy throttled nothing, that every execution got exactly one StopExecution across all invocations and is
//! ABORTED, and that the audit reports each stopped exactly once; it shows, from the calls the proxy
//! forwarded, how long the run spent listing (before, between and after the stops) against stopping.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic with a message is the report

use std::collections::HashMap;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::gateway_process::{GatewayProcess, body, policy_for, sample};
use testkit::latency_model::{ASSUMED_LATENCY, LatencyModel};
use testkit::quota_proxy::{CallSpan, QuotaProxy};
use testkit::standins::Standins;

/// The fleet.
const FLEET: usize = 10_000;
/// StopExecution's default quota in us-east-1: bucket size and refill rate per second.
const STOP_BURST: f64 = 1000.0;
const STOP_RATE: f64 = 200.0;
/// The target: the fleet contained within this factor of the quota's own floor.
const TARGET_FACTOR: f64 = 1.1;
/// The state machine (the example policy lets its alarm rule and its on-call rule stop `orders-*`).
const MACHINE: &str = "orders-fleet";

/// The quota's own floor: the burst at once, the rest at the refill rate.
fn floor() -> f64 {
    (FLEET as f64 - STOP_BURST) / STOP_RATE
}

/// The door a scenario's request comes through.
#[derive(Clone, Copy, PartialEq)]
enum Door {
    /// A CloudWatch alarm state change through EventBridge: an asynchronous invocation that Lambda retries.
    Alarm,
    /// An API Gateway HTTP API request: the gateway answers within the door's 29 s and the caller resends.
    Http,
}

/// One way Lambda runs the fleet's containment.
struct Scenario {
    title: &'static str,
    door: Door,
    /// The function's timeout (the invocation's deadline as the Runtime API gives it).
    timeout: Duration,
    /// How many invocations the door gives: Lambda's first attempt and two retries for an event; a caller's
    /// resends for HTTP (as many as it takes, within reason).
    attempts: usize,
    /// What a real retry waits before invocation 2, 3, ... (Lambda's documented async retry delays); empty
    /// when the caller resends at once.
    retry_waits: &'static [u64],
    /// The instance's share of each quota (`PACING_INSTANCES`, `PACING_SHARE_PERCENT`).
    share: (&'static str, &'static str),
}

/// The whole quota to the one instance at work.
const WHOLE_QUOTA: (&str, &str) = ("1", "100");

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        title: "alarm event, function timeout 120 s (the template's default)",
        door: Door::Alarm,
        timeout: Duration::from_secs(120),
        attempts: 3,
        retry_waits: &[60, 120],
        share: WHOLE_QUOTA,
    },
    Scenario {
        title: "HTTP API request (the gateway answers within the door's 29 s), the caller resends `incomplete`",
        door: Door::Http,
        timeout: Duration::from_secs(120),
        attempts: 6,
        retry_waits: &[],
        share: WHOLE_QUOTA,
    },
    Scenario {
        title: "alarm event, function timeout 30 s: Lambda's retries carry the rest",
        door: Door::Alarm,
        timeout: Duration::from_secs(30),
        attempts: 3,
        retry_waits: &[60, 120],
        share: WHOLE_QUOTA,
    },
    Scenario {
        title: "alarm event, 120 s, the template's kill-switch share: 80 % of each quota over 5 instances",
        door: Door::Alarm,
        timeout: Duration::from_secs(120),
        attempts: 3,
        retry_waits: &[60, 120],
        share: ("5", "80"),
    },
];

/// The gateway binary: `BENCH_MODEL_GATEWAY` (a path, e.g. a release build), else the one built with this
/// example.
fn gateway_binary() -> PathBuf {
    std::env::var_os("BENCH_MODEL_GATEWAY").map_or_else(
        || std::env::current_exe().unwrap().parent().and_then(|p| p.parent()).unwrap().join("stop-gateway"),
        PathBuf::from,
    )
}

/// The example policy for the stand-ins' account, with the alarm rule's and the on-call rule's caps raised to
/// the fleet (an alarm cannot confirm a count, and a resend's count would differ from the first one's).
fn fleet_policy(account: &str) -> String {
    let policy = policy_for(account);
    let raised = policy
        .replace("max_executions = 1000\n", &format!("max_executions = {FLEET}\n"))
        .replace("max_executions = 10\n", &format!("max_executions = {FLEET}\n"));
    assert_eq!(raised.matches(&format!("max_executions = {FLEET}\n")).count(), 2, "both caps raised");
    raised
}

/// The scenario's request for the fleet's state machine.
fn payload(door: Door, account: &str, machine_arn: &str) -> String {
    match door {
        Door::Alarm => {
            let mut event: Value = serde_json::from_str(&sample("alarm-event-tags.json", account, None)).unwrap();
            event["detail"]["alarmTags"]["stop-gateway:target"] = Value::String(machine_arn.to_owned());
            event.to_string()
        }
        Door::Http => sample("apigw-http-bulk-state-machine.json", account, Some(machine_arn)),
    }
}

/// One invocation, as the harness saw it and as its request record tells it.
struct Attempt {
    /// Seconds since the run's start: sent, answered.
    sent: f64,
    answered: f64,
    /// Whether Lambda would retry it (an invocation error), and the HTTP status for the HTTP door.
    failed: bool,
    status: Option<u64>,
    outcome: String,
    stopped: u64,
    remaining: u64,
    /// The request record's `durationMs`: from the request to the last stop confirmed.
    duration: f64,
}

/// Waits (briefly) until the gateway has written `n` request records; returns every audit line.
fn audit_until(gateway: &GatewayProcess, n: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let lines = gateway.audit_lines(0);
        let requests = lines.iter().filter(|l| l["audit"]["recordType"] == "request").count();
        if requests >= n || started.elapsed() > Duration::from_secs(10) {
            return lines;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// What one scenario did.
struct Run {
    attempts: Vec<Attempt>,
    model: LatencyModel,
    proxy: QuotaProxy,
    audit: Vec<Value>,
    machine_arn: String,
    t0: Instant,
}

fn run(s: &Standins, scenario: &Scenario) -> Run {
    let account = s.account();
    let machine_arn = format!("arn:aws:states:us-east-1:{account}:stateMachine:{MACHINE}");
    let model = LatencyModel::start(ASSUMED_LATENCY);
    model.seed_running(&machine_arn, FLEET);
    let proxy = QuotaProxy::start(&model.endpoint());
    let policy = fleet_policy(&account);
    let (instances, percent) = scenario.share;
    let env = [
        ("POLICY", policy.as_str()),
        ("AWS_ENDPOINT_URL_SFN", &proxy.endpoint()),
        ("PACING_INSTANCES", instances),
        ("PACING_SHARE_PERCENT", percent),
    ];
    let gateway = GatewayProcess::start(&gateway_binary(), s, &env);
    let payload = payload(scenario.door, &account, &machine_arn);
    proxy.reset(); // full buckets, as an account that has been quiet
    let t0 = Instant::now();
    let mut attempts = Vec::new();
    for n in 1..=scenario.attempts {
        let sent = t0.elapsed().as_secs_f64();
        // Lambda ends an invocation at its timeout; the harness waits a little longer for the answer.
        let reply = gateway.runtime().send_with_timeout(&payload, scenario.timeout);
        let answer = reply.recv_timeout(scenario.timeout + Duration::from_secs(10)).expect("an answer by the timeout");
        let answered = t0.elapsed().as_secs_f64();
        let audit = audit_until(&gateway, n);
        let record = &audit.iter().filter(|l| l["audit"]["recordType"] == "request").nth(n - 1).unwrap()["audit"];
        let count = |key: &str| record["counts"][key].as_u64().unwrap_or(0);
        let attempt = Attempt {
            sent,
            answered,
            failed: answer.error,
            status: answer.body["statusCode"].as_u64(),
            outcome: record["outcome"].as_str().unwrap_or("none").to_owned(),
            stopped: count("stopped"),
            remaining: count("remaining"),
            duration: record["durationMs"].as_f64().unwrap_or(f64::NAN) / 1000.0,
        };
        let done = attempt.outcome != "incomplete";
        if scenario.door == Door::Http && !done {
            assert!(body(&answer)["remaining"].as_array().is_some_and(|r| !r.is_empty()), "names what is left");
        }
        attempts.push(attempt);
        if done {
            break;
        }
    }
    let requests = attempts.len();
    let audit = audit_until(&gateway, requests);
    Run { attempts, model, proxy, audit, machine_arn, t0 }
}

/// Seconds since the run's start.
fn at(run: &Run, instant: Instant) -> f64 {
    instant.saturating_duration_since(run.t0).as_secs_f64()
}

/// Where the run's time went, from the calls the proxy forwarded.
struct Phases {
    stops: usize,
    first_stop: f64,
    last_stop: f64,
    lists: usize,
    list_time: f64,
    lists_before: f64,
    lists_between: f64,
    lists_after: f64,
    describes: usize,
}

fn phases(run: &Run) -> Phases {
    let calls = run.proxy.calls();
    let of = |op: &str| calls.iter().filter(|c| c.op == op).collect::<Vec<&CallSpan>>();
    let (stops, lists) = (of("StopExecution"), of("ListExecutions"));
    let first_stop = stops.iter().map(|c| at(run, c.arrived)).fold(f64::INFINITY, f64::min);
    let last_stop = stops.iter().map(|c| at(run, c.answered)).fold(0.0, f64::max);
    let time = |c: &&CallSpan| c.answered.duration_since(c.arrived).as_secs_f64();
    let sum = |keep: &dyn Fn(&CallSpan) -> bool| lists.iter().filter(|c| keep(c)).map(time).sum::<f64>();
    Phases {
        stops: stops.len(),
        first_stop,
        last_stop,
        lists: lists.len(),
        list_time: sum(&|_| true),
        lists_before: sum(&|c| at(run, c.answered) <= first_stop),
        lists_between: sum(&|c| at(run, c.answered) > first_stop && at(run, c.arrived) < last_stop),
        lists_after: sum(&|c| at(run, c.arrived) >= last_stop),
        describes: of("DescribeExecution").len(),
    }
}

/// The run's checks, each with whether it passed.
fn checks(run: &Run) -> Vec<(bool, String)> {
    let stops = run.model.stop_calls();
    let once = stops.values().filter(|&&n| n == 1).count();
    let more = stops.values().filter(|&&n| n > 1).count();
    let aborted = run.model.count(&run.machine_arn, "ABORTED");
    let throttled: usize = run.proxy.report().iter().map(|q| q.throttled).sum();
    let mut stopped_records: HashMap<&str, usize> = HashMap::new();
    for line in run.audit.iter().filter(|l| l["audit"]["recordType"] == "execution") {
        if line["audit"]["outcome"] == "stopped" {
            *stopped_records.entry(line["audit"]["target"]["arn"].as_str().unwrap_or("")).or_default() += 1;
        }
    }
    let audited_once = stopped_records.values().filter(|&&n| n == 1).count();
    let last = run.attempts.last().unwrap();
    vec![
        (last.outcome == "stopped", format!("the last invocation answered: {}", last.outcome)),
        (throttled == 0, format!("calls throttled by the quota proxy: {throttled}")),
        (
            once == FLEET && more == 0,
            format!("exactly one StopExecution each, across invocations: {once} of {FLEET} ({more} more than one)"),
        ),
        (aborted == FLEET, format!("ABORTED at the latency model: {aborted} of {FLEET}")),
        (
            audited_once == FLEET && stopped_records.len() == FLEET,
            format!(
                "audited `stopped` exactly once each, across invocations: {audited_once} of {FLEET} ({} executions in all)",
                stopped_records.len()
            ),
        ),
    ]
}

/// What the retries the harness sent at once would have waited in Lambda.
fn real_waits(scenario: &Scenario, attempts: usize) -> f64 {
    scenario.retry_waits.iter().take(attempts.saturating_sub(1)).sum::<u64>() as f64
}

/// Prints one scenario; returns (contained within the target, every check passed).
fn report(scenario: &Scenario, run: &Run) -> (f64, bool) {
    println!("\n## {}\n", scenario.title);
    println!(
        "| invocation | sent (s) | answered (s) | answer | outcome | stopped | remaining | request -> last stop confirmed (s) |"
    );
    println!("|---:|---:|---:|---|---|---:|---:|---:|");
    for (i, a) in run.attempts.iter().enumerate() {
        let answer = match (a.status, a.failed) {
            (Some(status), _) => format!("HTTP {status}"),
            (None, true) => "invocation error (Lambda retries)".to_owned(),
            (None, false) => "success".to_owned(),
        };
        println!(
            "| {} | {:.2} | {:.2} | {answer} | {} | {} | {} | {:.2} |",
            i + 1,
            a.sent,
            a.answered,
            a.outcome,
            a.stopped,
            a.remaining,
            a.duration
        );
    }
    let last = run.attempts.last().unwrap();
    let contained = last.sent + last.duration;
    let gaps = run.attempts.windows(2).map(|w| w[1].sent - w[0].answered).fold(0.0, |sum, gap| sum + gap);
    let waits = real_waits(scenario, run.attempts.len());
    println!(
        "\ncontained (first request -> last stop confirmed): {contained:.2} s, of which {gaps:.2} s between invocations (the harness resends at once)"
    );
    if waits > 0.0 {
        println!(
            "with Lambda's retry waits ({waits:.0} s that the harness did not sleep through): {:.2} s, an upper bound: the burst would have refilled in the wait",
            contained + waits
        );
    }
    let p = phases(run);
    println!(
        "\nStopExecution: {} calls, first sent at {:.2} s, last answered at {:.2} s ({:.2} s of stopping); DescribeExecution: {} calls",
        p.stops,
        p.first_stop,
        p.last_stop,
        p.last_stop - p.first_stop,
        p.describes
    );
    println!(
        "ListExecutions: {} calls, {:.2} s in all: {:.2} s before the first stop, {:.2} s while stopping, {:.2} s after the last stop (confirming)",
        p.lists, p.list_time, p.lists_before, p.lists_between, p.lists_after
    );
    println!("\nStep Functions quotas (AWS defaults, us-east-1), as the quota proxy saw the whole run:\n");
    print!("{}", run.proxy.table());
    let checks = checks(run);
    println!();
    for (ok, line) in &checks {
        println!("  {} {line}", if *ok { "ok  " } else { "FAIL" });
    }
    (contained, checks.iter().all(|(ok, _)| *ok))
}

fn main() {
    let binary = gateway_binary();
    println!(
        "stop-gateway fleet benchmark: {FLEET} running executions of one state machine, AWS's default us-east-1 quotas"
    );
    println!(
        "Step Functions: the latency model (NOT a stand-in; {} ms assumed per call) behind the quota proxy",
        ASSUMED_LATENCY.as_millis()
    );
    println!(
        "gateway binary: {}; the whole quota to one instance (PACING_INSTANCES 1, PACING_SHARE_PERCENT 100) unless a scenario says otherwise",
        binary.display()
    );
    println!(
        "the quota's own floor: ({FLEET} - {STOP_BURST}) / {STOP_RATE} per s = {:.1} s; target <= {TARGET_FACTOR} x = {:.1} s",
        floor(),
        floor() * TARGET_FACTOR
    );
    println!(
        "audit: one JSON line per record (no EventBridge bus: the stand-in's PutEvents would bound the run, not the gateway)"
    );
    let s = Standins::start();
    let mut ok = true;
    let mut rows = Vec::new();
    for scenario in &SCENARIOS {
        let run = run(&s, scenario);
        let (contained, passed) = report(scenario, &run);
        ok &= passed;
        rows.push((scenario, run.attempts.len(), contained, real_waits(scenario, run.attempts.len()), passed));
    }
    println!("\n## summary\n");
    println!(
        "| scenario | invocations | contained, gateway time (s) | x floor | within {TARGET_FACTOR} x | with real retry waits (s) | checks |"
    );
    println!("|---|---:|---:|---:|---|---:|---|");
    for (scenario, invocations, contained, waits, passed) in &rows {
        println!(
            "| {} | {invocations} | {contained:.2} | {:.3} | {} | {} | {} |",
            scenario.title,
            contained / floor(),
            if *contained <= floor() * TARGET_FACTOR { "met" } else { "missed" },
            if *waits > 0.0 { format!("{:.2}", contained + waits) } else { "-".to_owned() },
            if *passed { "ok" } else { "FAIL" }
        );
    }
    if !ok {
        eprintln!("bench_fleet: a check failed (see FAIL above)");
        std::process::exit(1);
    }
}
