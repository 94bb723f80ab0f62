//! Benchmark behind `scripts/bench-bulk` (not a test): one alarm stops 1 000 running executions of one state
//! machine through the real binary, with Step Functions behind a proxy that keeps AWS's default us-east-1 API
//! quotas, so the time it reports is one the gateway could also reach in AWS without being throttled.
//!
//! It reports the time from the event to the last stop confirmed, checks the work against the stand-in (each
//! execution stopped exactly once, all ABORTED, one audit record per stop plus the request's) and shows the
//! headroom the gateway kept under each quota. For scale it also runs the gateway with its pacing lifted,
//! straight at the stand-in, and measures the stand-in's own capacity for the same stops.
//!
//! The stand-in (moto) bounds those runs at its own rate, far below AWS's, so the gateway then runs again
//! against a *latency model* (`testkit::latency_model`), which is not a stand-in: an in-memory Step Functions
//! that serves only the calls the gateway makes and holds each answer for a fixed latency, behind the same
//! quota proxy. The latency is an assumption (30 ms, a typical in-region AWS API call, and 50 ms; override
//! with `BENCH_MODEL_LATENCY_MS=30,50`), run at `BULK_CONCURRENCY` 16, 32 and 64 (the default); those rows say
//! what the gateway's own pacing and concurrency allow, not what AWS measured.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic with a message is the report

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use aws_sdk_sfn::types::ExecutionStatus;
use futures_util::{StreamExt, stream};
use serde_json::Value;
use testkit::latency_model::{ASSUMED_LATENCY, LatencyModel};
use testkit::quota_proxy::{QuotaProxy, QuotaStat, quota_table};
use testkit::{
    gateway_process::{GatewayProcess, body, policy_for, sample},
    standins::Standins,
};

const EXECUTIONS: usize = 1000;
/// The target: from the alarm event to the last stop confirmed.
const TARGET_SECONDS: f64 = 2.0;
/// StopExecution calls in flight at once when measuring the stand-in's own capacity.
const RAW_CONCURRENCY: usize = 16;
/// Pacing far above any quota: only the stand-in bounds the gateway.
const LIFTED: &str = "DescribeExecution=100000/100000,StopExecution=100000/100000,ListExecutions=100000/100000";
/// The gateway's `BULK_CONCURRENCY` values run against the latency model (64 is the gateway's default).
const MODEL_CONCURRENCY: [usize; 3] = [16, 32, 64];
/// The extra per-call latency run besides the assumed one.
const SLOWER_LATENCY: Duration = Duration::from_millis(50);
/// The Step Functions APIs the gateway calls, in the order the latency-model table shows them.
const GATEWAY_APIS: [&str; 3] = ["StopExecution", "DescribeExecution", "ListExecutions"];

fn gateway_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|p| p.parent()).unwrap().join("stop-gateway")
}

/// The gateway binary the latency-model runs use: `BENCH_MODEL_GATEWAY` (a path, e.g. a release build), else
/// the one the other runs use.
fn model_gateway() -> PathBuf {
    std::env::var_os("BENCH_MODEL_GATEWAY").map_or_else(gateway_binary, PathBuf::from)
}

/// What the latency-model runs' gateway binary is, for the output.
fn model_gateway_build() -> String {
    match std::env::var("BENCH_MODEL_GATEWAY") {
        Ok(path) => format!("{path} (BENCH_MODEL_GATEWAY)"),
        Err(_) if cfg!(debug_assertions) => {
            "the dev-profile (unoptimized) build, like the rest of this bench; BENCH_MODEL_GATEWAY=target/release/stop-gateway runs a release build here".to_owned()
        }
        Err(_) => "the release build, like the rest of this bench".to_owned(),
    }
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

/// Where the gateway's Step Functions calls go, and where a run's work is read back from.
#[derive(Clone, Copy)]
enum Sfn<'a> {
    /// The stand-in (moto): straight, or through a quota proxy.
    Standin(Option<&'a QuotaProxy>),
    /// The latency model, through a quota proxy.
    Model(&'a LatencyModel, &'a QuotaProxy),
}

impl<'a> Sfn<'a> {
    fn proxy(self) -> Option<&'a QuotaProxy> {
        match self {
            Sfn::Standin(proxy) => proxy,
            Sfn::Model(_, proxy) => Some(proxy),
        }
    }
}

/// The ARN of the state machine `name` in the stand-ins' account (and us-east-1, whose quotas the proxy keeps).
fn machine_arn(s: &Standins, name: &str) -> String {
    format!("arn:aws:states:us-east-1:{}:stateMachine:{name}", s.account())
}

/// The clock ticks per second `/proc/PID/stat` counts CPU time in (`getconf CLK_TCK`; 100 on Linux).
const CLOCK_TICKS: f64 = 100.0;

/// CPU seconds (user + system, every thread) a process has used so far, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command in parentheses: utime and stime are the 12th and 13th fields (14 and 15 of the line).
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    Some((fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / CLOCK_TICKS)
}

/// Samples a process's CPU time every 10 ms from `started` on, so the CPU used up to a time learnt afterwards
/// (the request record's `durationMs`) can be read back.
struct CpuSampler {
    done: Arc<AtomicBool>,
    samples: thread::JoinHandle<Vec<(f64, f64)>>,
}

impl CpuSampler {
    fn start(pid: u32, started: Instant) -> CpuSampler {
        let done = Arc::new(AtomicBool::new(false));
        let until = done.clone();
        let samples = thread::spawn(move || {
            let mut samples = Vec::new();
            while !until.load(Ordering::Relaxed) {
                if let Some(cpu) = cpu_seconds(pid) {
                    samples.push((started.elapsed().as_secs_f64(), cpu));
                }
                thread::sleep(Duration::from_millis(10));
            }
            samples
        });
        CpuSampler { done, samples }
    }

    fn finish(self) -> CpuSamples {
        self.done.store(true, Ordering::Relaxed);
        CpuSamples(self.samples.join().unwrap())
    }
}

/// (seconds since the start, CPU seconds used) pairs.
struct CpuSamples(Vec<(f64, f64)>);

impl CpuSamples {
    /// CPU seconds used from the first sample to the last one taken by `at` seconds.
    fn used_by(&self, at: f64) -> f64 {
        let first = self.0.first().map_or(f64::NAN, |(_, cpu)| *cpu);
        let last = self.0.iter().take_while(|(t, _)| *t <= at).last().map_or(f64::NAN, |(_, cpu)| *cpu);
        last - first
    }
}

/// What one gateway run did, as measured and as the stand-in (or the latency model) tells it.
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
    /// CPU seconds the gateway process used from the event to the last stop confirmed.
    gateway_cpu: f64,
}

/// One alarm naming `machine` (with `EXECUTIONS` running executions) through the real binary, with `sfn` as
/// its Step Functions and `extra` in its environment (`RATE_LIMITS`, `BULK_CONCURRENCY`).
fn gateway_run(s: &Standins, machine: &str, sfn: Sfn<'_>, extra: &[(&'static str, String)]) -> Run {
    let account = s.account();
    let policy = policy_for(&account);
    let bus = s.audit_bus();
    let mut env = vec![("POLICY", policy.clone()), ("AUDIT_EVENT_BUS", bus.name.clone())];
    let proxy = sfn.proxy();
    if let Some(proxy) = proxy {
        // Later entries win over the stand-ins' environment.
        env.push(("AWS_ENDPOINT_URL_SFN", proxy.endpoint()));
    }
    env.extend(extra.iter().cloned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let binary = match sfn {
        Sfn::Model(..) => model_gateway(),
        Sfn::Standin(_) => gateway_binary(),
    };
    let gateway = GatewayProcess::start(&binary, s, &env);
    let mut event: Value = serde_json::from_str(&sample("alarm-event-tags.json", &account, None)).unwrap();
    event["detail"]["alarmTags"]["stop-gateway:target"] = Value::String(machine_arn(s, machine));
    let event = event.to_string();
    if let Some(proxy) = proxy {
        proxy.reset(); // full buckets, as an account that has been quiet
    }
    let started = Instant::now();
    let sampler = CpuSampler::start(gateway.pid(), started);
    let answer = gateway.invoke(&event);
    let wall = started.elapsed().as_secs_f64();
    let cpu = sampler.finish();
    let quotas = proxy.map(QuotaProxy::report); // before anything else of ours could reach the proxy
    let b = body(&answer);
    let answer = format!("{} {}", b["outcome"].as_str().unwrap_or("none"), b["counts"]);

    let (stops, aborted) = match sfn {
        Sfn::Standin(_) => (s.sfn_stops_by_execution(machine), s.sfn_count(machine, ExecutionStatus::Aborted)),
        Sfn::Model(model, _) => {
            let of_machine = format!(":execution:{machine}:");
            let stops: HashMap<String, usize> =
                model.stop_calls().into_iter().filter(|(arn, _)| arn.contains(&of_machine)).collect();
            (stops, model.count(&machine_arn(s, machine), "ABORTED"))
        }
    };
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
        aborted,
        request_records: of_type("request"),
        execution_records: of_type("execution"),
        delivered: records.iter().filter(|l| l["busDelivery"]["status"] == "delivered").count(),
        quotas,
        gateway_cpu: cpu.used_by(stop_phase),
    }
}

/// A run's checks, each with whether it passed; `at` names where the statuses were read.
fn checks(run: &Run, at: &str) -> Vec<(bool, String)> {
    let mut checks = vec![
        (
            run.stopped_once == EXECUTIONS && run.stopped_more == 0,
            format!(
                "stopped exactly once: {} of {EXECUTIONS} executions have one StopExecution recorded ({} more than one)",
                run.stopped_once, run.stopped_more
            ),
        ),
        (run.aborted == EXECUTIONS, format!("ABORTED at {at}: {} of {EXECUTIONS}", run.aborted)),
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
    checks
}

/// Prints a run's figures and checks; returns whether every check passed.
fn report(title: &str, run: &Run) -> bool {
    println!("\n## {title}\n");
    println!("event -> last stop confirmed (request record durationMs): {:.2} s", run.stop_phase);
    println!("event -> answer (wall, incl. audit delivery): {:.2} s", run.wall);
    println!("answer: {}", run.answer);
    let checks = checks(run, "the stand-in");
    for (ok, line) in &checks {
        println!("  {} {line}", if *ok { "ok  " } else { "FAIL" });
    }
    if let Some(quotas) = &run.quotas {
        println!("\nStep Functions quotas (AWS defaults, us-east-1), as the quota proxy saw the run:\n");
        print!("{}", quota_table(quotas));
    }
    checks.iter().all(|(ok, _)| *ok)
}

/// The per-call latencies run against the latency model: `BENCH_MODEL_LATENCY_MS` (comma-separated
/// milliseconds), else the assumed 30 ms and 50 ms.
fn model_latencies() -> Vec<Duration> {
    match std::env::var("BENCH_MODEL_LATENCY_MS") {
        Ok(list) => list
            .split(',')
            .map(|ms| {
                Duration::from_millis(ms.trim().parse().expect("BENCH_MODEL_LATENCY_MS: milliseconds, comma-separated"))
            })
            .collect(),
        Err(_) => vec![ASSUMED_LATENCY, SLOWER_LATENCY],
    }
}

/// One run against the latency model.
struct ModelRun {
    latency: Duration,
    concurrency: usize,
    run: Run,
}

impl ModelRun {
    fn checks(&self) -> Vec<(bool, String)> {
        checks(&self.run, "the latency model")
    }

    fn met(&self) -> bool {
        self.run.stop_phase <= TARGET_SECONDS && self.checks().iter().all(|(ok, _)| *ok)
    }

    /// The least the run could take: the list of running executions, then `concurrency` stops at a time, then
    /// the list that confirms them, each call one latency.
    fn floor(&self) -> f64 {
        (2 + EXECUTIONS.div_ceil(self.concurrency)) as f64 * self.latency.as_secs_f64()
    }
}

/// `StopExecution / DescribeExecution / ListExecutions` figures from the quota proxy's report.
fn per_api(quotas: &[QuotaStat], figure: impl Fn(&QuotaStat) -> String) -> String {
    let of = |op: &str| quotas.iter().find(|q| q.op == op).map_or_else(|| "-".to_owned(), &figure);
    GATEWAY_APIS.map(of).join(" / ")
}

/// The latency-model section: what the runs were, one row per run, and any failed check.
fn model_report(runs: &[ModelRun]) -> bool {
    println!("\n## latency model (NOT a stand-in): gateway under AWS's default quotas, assumed per-call latency\n");
    println!(
        "The latency model (testkit::latency_model) is an in-memory Step Functions that serves only ListExecutions,"
    );
    println!(
        "DescribeExecution and StopExecution, and holds every answer for a fixed latency; it sits behind the same"
    );
    println!("quota proxy (AWS's default us-east-1 quotas). The latency is an ASSUMPTION, not a measurement:");
    println!(
        "{} ms as a typical in-region AWS API call, and {} ms as a slower one. These rows show what the gateway's",
        ASSUMED_LATENCY.as_millis(),
        SLOWER_LATENCY.as_millis()
    );
    println!(
        "pacing and concurrency allow at that latency; they say nothing of AWS's real latency or its service side."
    );
    println!("floor: (2 + ceil({EXECUTIONS} / BULK_CONCURRENCY)) x latency, the two lists and the stop waves.");
    println!(
        "gateway CPU: the gateway process's CPU time (/proc/PID/stat) from the event to the last stop confirmed; the"
    );
    println!("gateway runs on one thread. Gateway binary: {}.\n", model_gateway_build());
    println!(
        "| assumed latency per call | BULK_CONCURRENCY | event -> last stop confirmed (s) | floor (s) | executions/s | stopped exactly once | throttled | fewest tokens left (headroom), {} | calls admitted, same order | gateway CPU (s; ms per stop) | all checks |",
        GATEWAY_APIS.join(" / ")
    );
    println!("|---:|---:|---:|---:|---:|---|---:|---|---|---:|---|");
    for m in runs {
        let r = &m.run;
        let quotas = r.quotas.as_deref().unwrap_or_default();
        let throttled: usize = quotas.iter().map(|q| q.throttled).sum();
        let once = r.stopped_once == EXECUTIONS && r.stopped_more == 0;
        let all = m.checks().iter().all(|(ok, _)| *ok);
        println!(
            "| {} ms | {} | {:.2} | {:.2} | {:.0} | {} ({} of {EXECUTIONS}, {} more than once) | {throttled} | {} | {} | {:.2}; {:.2} | {} |",
            m.latency.as_millis(),
            m.concurrency,
            r.stop_phase,
            m.floor(),
            EXECUTIONS as f64 / r.stop_phase,
            if once { "yes" } else { "no" },
            r.stopped_once,
            r.stopped_more,
            per_api(quotas, |q| format!("{:.0} of {}", q.min_tokens_left.floor(), q.burst)),
            per_api(quotas, |q| q.admitted.to_string()),
            r.gateway_cpu,
            r.gateway_cpu * 1000.0 / EXECUTIONS as f64,
            if all { "ok" } else { "FAIL" },
        );
    }
    let mut ok = true;
    for m in runs {
        for (passed, line) in m.checks() {
            if !passed {
                println!("  FAIL ({} ms, BULK_CONCURRENCY {}): {line}", m.latency.as_millis(), m.concurrency);
                ok = false;
            }
        }
    }
    ok
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
    let paced = gateway_run(&s, "orders-bench-quotas", Sfn::Standin(Some(&proxy)), &[]);
    let lifted = gateway_run(&s, "orders-bench-lifted", Sfn::Standin(None), &[("RATE_LIMITS", LIFTED.to_owned())]);
    let raw_s = raw_capacity(&s, raw);

    // The latency model: a fresh one per run, seeded with EXECUTIONS running executions of one state machine in
    // the stand-ins' account, behind a fresh quota proxy; everything else (audit bus, ...) stays on the stand-ins.
    let mut model_runs = Vec::new();
    for latency in model_latencies() {
        for concurrency in MODEL_CONCURRENCY {
            let machine = "orders-bench-model";
            let model = LatencyModel::start(latency);
            model.seed_running(&machine_arn(&s, machine), EXECUTIONS);
            let proxy = QuotaProxy::start(&model.endpoint());
            let extra = [("BULK_CONCURRENCY", concurrency.to_string())];
            let run = gateway_run(&s, machine, Sfn::Model(&model, &proxy), &extra);
            model_runs.push(ModelRun { latency, concurrency, run });
        }
    }

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
    ok &= model_report(&model_runs);

    let met = paced.stop_phase <= TARGET_SECONDS;
    println!(
        "\ntarget <= {TARGET_SECONDS} s from event to last stop confirmed, under AWS's default quotas, at the stand-in: {} ({:.2} s)",
        if met { "met" } else { "NOT met" },
        paced.stop_phase
    );
    println!(
        "target <= {TARGET_SECONDS} s against the latency model (assumed per-call latency, AWS's default quotas; not a measurement of AWS):"
    );
    let mut latencies: Vec<Duration> = model_runs.iter().map(|m| m.latency).collect();
    latencies.dedup();
    for latency in latencies {
        let at: Vec<&ModelRun> = model_runs.iter().filter(|m| m.latency == latency).collect();
        let list = |met: bool| {
            let runs: Vec<String> = at
                .iter()
                .filter(|m| m.met() == met)
                .map(|m| format!("{} ({:.2} s)", m.concurrency, m.run.stop_phase))
                .collect();
            if runs.is_empty() { "none".to_owned() } else { runs.join(", ") }
        };
        println!(
            "  {} ms per call: met at BULK_CONCURRENCY {}; not met at {}",
            latency.as_millis(),
            list(true),
            list(false)
        );
    }
    println!("the stand-in (moto) handles PutEvents one at a time, which dominates event -> answer here, not in AWS.");
    if !ok {
        eprintln!("bench_bulk: a check failed (see FAIL above)");
        std::process::exit(1);
    }
}
