//! The benchmark behind `scripts/bench` (not a test): the real release binary, run the way Lambda runs it
//! (under a Runtime API, configured through its environment), side by side in the same run with the same
//! handler in Python (boto3 under `awslambdaric`) and with two floors: `bench_echo`, the smallest
//! `lambda_runtime` function, and a raw function that makes the stop path's round trips by hand. All talk to a
//! minimal local endpoint that answers the AWS calls after an injected delay (`BENCH_AWS_DELAY_MS`, 5 ms by
//! default, standing in for AWS's own time) or at once, over HTTP or over TLS with a local CA.
//!
//! Everything runs at full CPU and under the CPU share of a 256 MB and a 128 MB function (`cap`); the headline is
//! the cold kill (`cold`), spawn → first stop answered, against the logged endpoint (`endpoint`).
//!
//! Rounds alternate Rust, Python, the raw floor and the echo function; the function runs on core 1 and the
//! harness on core 0. CPU time is the function process's own (every thread's `schedstat`). Prints a table and,
//! for a full run, writes it into BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic with a message is the report

mod cap;
mod cold;
mod endpoint;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use cap::{Cgroup, Share};
use endpoint::Endpoint;
use testkit::{raw_http::read_request, repo, runtime_api::RuntimeApi};

/// Full-CPU rounds (`BENCH_ROUNDS`); with the capped rounds and the cold kills, a run takes about 11 minutes.
const ROUNDS: usize = 3;
/// The function as the Runtime API names it: in the samples' account, so the gateway acts there with its own
/// credentials (a target in another account would need a role in the policy).
const BENCH_FUNCTION: &str = "arn:aws:lambda:us-east-1:111122223333:function:stop-gateway";
/// Warm invocations per path and per round, for both the CPU time and the latency.
const WARM: usize = 1000;
/// Invocations before the measured ones, on every warm instance (Python loads parts of botocore lazily).
const WARM_UP: usize = 20;
const BUS_WARM: usize = 300;
const BURST: usize = 1000;
const DEFAULT_DELAY_MS: u64 = 5;
/// Under a CPU share, fewer rounds and invocations (`BENCH_CAPPED_ROUNDS`, `BENCH_CAPPED_N`): Python's stop
/// path takes about 100 ms a stop at the 128 MB share.
const CAPPED_ROUNDS: usize = 3;
const CAPPED_WARM: usize = 300;
/// Cold kills per cell (`BENCH_COLD_N`), and the time the cold endpoint takes per call (`BENCH_COLD_DELAY_MS`).
const COLD_KILLS: usize = 15;
const COLD_DELAY_MS: u64 = 10;
/// The memory sizes whose CPU share is emulated (`BENCH_SHARES`, comma-separated MB).
const SHARES: &str = "256,128";

/// How many invocations each part of a round makes.
#[derive(Clone, Copy)]
struct Counts {
    warm: usize,
    bus: usize,
    burst: usize,
}

/// The stop path's floor, as a function: under the same Runtime API, each invocation makes the stop path's two
/// AWS round trips by hand, a DescribeExecution POST then a StopExecution POST over one keep-alive connection to
/// the same endpoint, parses each JSON answer, and answers the Runtime API; nothing else (no signing, no event
/// parsing, no policy). Run as `bench_lambda --floor-function`.
fn floor_function() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap();
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let endpoint = endpoint.trim_start_matches("http://").to_owned();
    let connect = |addr: &str| {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        (BufReader::new(stream.try_clone().unwrap()), stream)
    };
    let (mut runtime_in, mut runtime_out) = connect(&api);
    let (mut aws_in, mut aws_out) = connect(&endpoint);
    let post = |target: &str, body: &str| {
        format!(
            "POST / HTTP/1.1\r\nHost: {endpoint}\r\nX-Amz-Target: AWSStepFunctions.{target}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let arn = "arn:aws:states:us-east-1:111122223333:execution:orders-api:run";
    let describe = post("DescribeExecution", &format!(r#"{{"executionArn":"{arn}"}}"#));
    let cause = "OPS-1236 benchmark stop\n\n[stop-gateway] requested by the floor";
    let stop = post(
        "StopExecution",
        &serde_json::json!({"executionArn": arn, "error": "StopGateway.Stopped", "cause": cause}).to_string(),
    );
    loop {
        runtime_out
            .write_all(format!("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {api}\r\n\r\n").as_bytes())
            .unwrap();
        let Some(next) = read_request(&mut runtime_in) else { return };
        let id = next.header("lambda-runtime-aws-request-id").unwrap().to_owned();
        aws_out.write_all(describe.as_bytes()).unwrap();
        let described: serde_json::Value = serde_json::from_slice(&read_request(&mut aws_in).unwrap().body).unwrap();
        assert_eq!(described["status"], "RUNNING");
        aws_out.write_all(stop.as_bytes()).unwrap();
        let stopped: serde_json::Value = serde_json::from_slice(&read_request(&mut aws_in).unwrap().body).unwrap();
        assert!(stopped["stopDate"].is_number());
        let reply = r#"{"outcome":"floor"}"#;
        runtime_out
            .write_all(format!("POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: {api}\r\nContent-Length: {}\r\n\r\n{reply}", reply.len()).as_bytes())
            .unwrap();
        if read_request(&mut runtime_in).is_none() {
            return;
        }
    }
}

// --- the functions under test ----------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lang {
    /// The gateway's release binary.
    Rust,
    /// The boto3 reference under awslambdaric.
    Python,
    /// The stop path's raw floor (`--floor-function`).
    Floor,
    /// `bench_echo`: the smallest `lambda_runtime` function.
    Echo,
}

/// Which endpoint (and trust) an instance gets, and whether the audit bus is on.
#[derive(Clone, Copy)]
enum Aws {
    /// HTTP, answering at once.
    AtOnce,
    /// HTTP, answering after the injected delay.
    Delayed,
    /// TLS, answering at once.
    Tls,
    /// The cold-kill endpoint over HTTP: the cold delay, logged, EventBridge on a host of its own.
    ColdHttp,
    /// The same over TLS.
    ColdTls,
}

/// Where the binaries under test are: `BENCH_GATEWAY` and `BENCH_ECHO`, else next to this example.
struct Binaries {
    gateway: PathBuf,
    echo: PathBuf,
}

impl Binaries {
    fn find() -> Binaries {
        let exe = std::env::current_exe().unwrap();
        let examples = exe.parent().unwrap().to_path_buf();
        let from = |var: &str, default: PathBuf| std::env::var_os(var).map_or(default, PathBuf::from);
        let binaries = Binaries {
            gateway: from("BENCH_GATEWAY", examples.parent().unwrap().join("stop-gateway")),
            echo: from("BENCH_ECHO", examples.join("bench_echo")),
        };
        for path in [&binaries.gateway, &binaries.echo] {
            assert!(path.exists(), "{} is missing: build it first (scripts/bench does)", path.display());
        }
        binaries
    }
}

struct Function {
    child: Child,
    api: RuntimeApi,
    spawned: Instant,
    /// The function's CPU cap, removed after the function is gone (fields drop after `Drop::drop`).
    _cgroup: Option<Cgroup>,
}

/// CPU time and latency of a run of warm invocations on one instance.
struct Warm {
    p50: f64,
    p99: f64,
    /// ms of CPU per invocation, from every thread's `schedstat`.
    cpu: f64,
    /// The same from `utime + stime` in `/proc/PID/stat` (clock ticks, counts exited threads): a cross-check.
    cpu_stat: f64,
}

#[derive(Clone, Copy)]
struct Setup<'a> {
    binaries: &'a Binaries,
    endpoint: &'a Endpoint,
    policy: &'a str,
    /// The CPU share every function of this setup runs at; `None` for the whole machine.
    cap: Option<&'a Share>,
}

impl Function {
    fn spawn(lang: Lang, aws: Aws, bus: bool, setup: &Setup) -> Function {
        let api = RuntimeApi::start_as(BENCH_FUNCTION);
        let cgroup = setup.cap.map(|share| share.cgroup().expect("a cgroup for the CPU share"));
        let mut command = match &cgroup {
            // The shell joins the cgroup, then execs the function in its place, so init runs capped too.
            Some(cgroup) => {
                let mut sh = Command::new("/bin/sh");
                sh.args(["-c", r#"echo $$ > "$0" && exec "$@""#]).arg(cgroup.procs()).arg("taskset");
                sh
            }
            None => Command::new("taskset"),
        };
        command.env_clear().args(["-c", "1"]);
        // BENCH_WRAP runs the function under a tool, e.g. "valgrind --tool=callgrind" (profiling mode only).
        if let Ok(wrap) = std::env::var("BENCH_WRAP") {
            command.args(wrap.split_whitespace());
        }
        let endpoint = setup.endpoint;
        let endpoint_url = match aws {
            Aws::AtOnce => format!("http://127.0.0.1:{}", endpoint.http),
            Aws::Delayed => format!("http://127.0.0.1:{}", endpoint.http_delayed),
            Aws::Tls => format!("https://localhost:{}", endpoint.https),
            Aws::ColdHttp => format!("http://127.0.0.1:{}", endpoint.cold_http[0]),
            Aws::ColdTls => format!("https://localhost:{}", endpoint.cold_https[0]),
        };
        match aws {
            Aws::ColdHttp => {
                command.env("AWS_ENDPOINT_URL_EVENTBRIDGE", format!("http://127.0.0.1:{}", endpoint.cold_http[1]))
            }
            Aws::ColdTls => {
                command.env("AWS_ENDPOINT_URL_EVENTBRIDGE", format!("https://localhost:{}", endpoint.cold_https[1]))
            }
            _ => &mut command,
        };
        match lang {
            Lang::Rust => {
                command.arg(&setup.binaries.gateway);
                // The Python reference does no client-side pacing, so lift the gateway's (AWS's quotas bind
                // both equally in AWS); the bulk benchmark measures the paced rate.
                command.env("RATE_LIMITS", "DescribeExecution=1000000/1000000,StopExecution=1000000/1000000");
            }
            Lang::Echo => {
                command.arg(&setup.binaries.echo);
            }
            Lang::Floor => {
                command.arg(std::env::current_exe().unwrap()).arg("--floor-function");
            }
            Lang::Python => {
                let dir = repo().join("bench/python");
                command
                    .arg(repo().join(".venv-bench/bin/python"))
                    .args(["-m", "awslambdaric", "handler.handler"])
                    .current_dir(&dir)
                    .env("LAMBDA_TASK_ROOT", &dir);
            }
        }
        command
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "stop-gateway")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", setup.cap.map_or(256, |share| share.mb).to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", &endpoint_url)
            .env("POLICY", setup.policy)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if bus {
            command.env("AUDIT_EVENT_BUS", "bench-audit");
        }
        if matches!(aws, Aws::Tls | Aws::ColdTls) {
            // Each trusts the local CA the way its stack is told to: the gateway reads SSL_CERT_FILE, botocore
            // reads AWS_CA_BUNDLE.
            command.env("SSL_CERT_FILE", &endpoint.ca_file).env("AWS_CA_BUNDLE", &endpoint.ca_file);
        }
        let spawned = Instant::now();
        let child = command.spawn().expect("spawn the function");
        Function { child, api, spawned, _cgroup: cgroup }
    }

    /// Process spawn → first `/next` poll, in ms.
    fn init_ms(&self) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(polled) = self.api.first_poll() {
                return polled.duration_since(self.spawned).as_secs_f64() * 1e3;
            }
            assert!(Instant::now() < deadline, "the function did not poll for an event within 30 s");
            thread::sleep(Duration::from_micros(200));
        }
    }

    /// One invocation, in ms. `expect` is the outcome or error code the answer must carry; "echo" wants the
    /// payload back unchanged.
    fn invoke_ms(&self, payload: &str, expect: &str) -> f64 {
        let started = Instant::now();
        let answer = self.api.invoke(payload);
        let ms = started.elapsed().as_secs_f64() * 1e3;
        if expect == "echo" {
            assert!(!answer.error && answer.body == serde_json::from_str::<serde_json::Value>(payload).unwrap());
            return ms;
        }
        let body = testkit::gateway_process::body(&answer);
        let code = body["outcome"].as_str().or(body["error"]["code"].as_str()).unwrap_or("none").to_owned();
        assert_eq!(code, expect, "{:?}", answer.body);
        ms
    }

    /// `n` warm invocations after [`WARM_UP`] unmeasured ones: latency percentiles and CPU per invocation.
    fn warm(&self, n: usize, payload: &str, expect: &str) -> Warm {
        for _ in 0..WARM_UP {
            self.invoke_ms(payload, expect);
        }
        // Let the function finish its previous answer and block on /next before reading its CPU time.
        thread::sleep(Duration::from_millis(50));
        let (cpu0, stat0) = (self.cpu_ns(), self.stat_ns());
        let samples: Vec<f64> = (0..n).map(|_| self.invoke_ms(payload, expect)).collect();
        thread::sleep(Duration::from_millis(50));
        let (cpu1, stat1) = (self.cpu_ns(), self.stat_ns());
        Warm {
            p50: percentile(&samples, 0.5),
            p99: percentile(&samples, 0.99),
            cpu: (cpu1 - cpu0) as f64 / 1e6 / n as f64,
            cpu_stat: (stat1 - stat0) as f64 / 1e6 / n as f64,
        }
    }

    /// CPU time of every thread of the process, in ns: the first field of `/proc/PID/task/*/schedstat`.
    fn cpu_ns(&self) -> u64 {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).unwrap();
        tasks
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
            .sum()
    }

    /// `utime + stime` of the process from `/proc/PID/stat`, in ns (clock-tick resolution).
    fn stat_ns(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        ticks * 1_000_000_000 / clock_ticks_per_second()
    }

    /// Peak resident set (VmHWM), in MB.
    fn peak_rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks_per_second() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().ok();
        out.and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(100)
    })
}

// --- statistics ------------------------------------------------------------------------------------------

fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Median with min and max, of one figure across rounds.
#[derive(Default, Clone)]
struct Figure(Vec<f64>);

impl Figure {
    fn push(&mut self, v: f64) {
        self.0.push(v);
    }
    fn median(&self) -> f64 {
        percentile(&self.0, 0.5)
    }
    fn show(&self, digits: usize) -> String {
        if self.0.is_empty() {
            return "–".to_owned();
        }
        format!("{:.d$} ({:.d$}–{:.d$})", self.median(), percentile(&self.0, 0.0), percentile(&self.0, 1.0), d = digits)
    }
}

#[derive(Default, Clone)]
struct Results {
    init: Figure,
    first_http: Figure,
    first_tls: Figure,
    stop_p50: Figure,
    stop_p99: Figure,
    stop_cpu: Figure,
    deny_p50: Figure,
    deny_p99: Figure,
    deny_cpu: Figure,
    stop_bus_p50: Figure,
    burst: Figure,
    rss: Figure,
}

impl Results {
    fn stop(&mut self, w: &Warm) {
        self.stop_p50.push(w.p50);
        self.stop_p99.push(w.p99);
        self.stop_cpu.push(w.cpu);
    }
    fn deny(&mut self, w: &Warm) {
        self.deny_p50.push(w.p50);
        self.deny_p99.push(w.p99);
        self.deny_cpu.push(w.cpu);
    }
}

fn report(lang: Lang, path: &str, w: &Warm) {
    println!(
        "    {lang:?} {path}: p50 {:.3} ms, p99 {:.3} ms, CPU {:.4} ms/invocation (stat cross-check {:.4})",
        w.p50, w.p99, w.cpu, w.cpu_stat
    );
}

struct Events {
    stop: String,
    deny: String,
}

/// One round of the gateway or the Python reference.
fn round(lang: Lang, setup: &Setup, events: &Events, c: Counts, r: &mut Results) {
    let n = c.warm;
    let mut rss = Vec::new();
    // Cold start against the instant endpoint: init, the first invocation, then a burst on the same instance.
    let f = Function::spawn(lang, Aws::AtOnce, false, setup);
    r.init.push(f.init_ms());
    r.first_http.push(f.invoke_ms(&events.stop, "stopped"));
    let started = Instant::now();
    let answers: Vec<_> = (0..c.burst).map(|_| f.api.send(&events.stop)).collect();
    for a in answers {
        a.recv_timeout(Duration::from_secs(300)).expect("burst answer");
    }
    r.burst.push(c.burst as f64 / started.elapsed().as_secs_f64());
    rss.push(f.peak_rss_mb());
    drop(f);

    // The warm paths against the delayed endpoint: CPU time and latency over the same invocations.
    let f = Function::spawn(lang, Aws::Delayed, false, setup);
    f.init_ms();
    f.invoke_ms(&events.stop, "stopped");
    let stop = f.warm(n, &events.stop, "stopped");
    let deny = f.warm(n, &events.deny, "denied");
    report(lang, "stop", &stop);
    report(lang, "deny", &deny);
    r.stop(&stop);
    r.deny(&deny);
    rss.push(f.peak_rss_mb());
    drop(f);

    // Cold start over TLS: the first invocation pays for the handshake.
    let f = Function::spawn(lang, Aws::Tls, false, setup);
    f.init_ms();
    r.first_tls.push(f.invoke_ms(&events.stop, "stopped"));
    rss.push(f.peak_rss_mb());
    drop(f);

    // The stop path with the audit bus on: one more call (PutEvents) per request.
    let f = Function::spawn(lang, Aws::AtOnce, true, setup);
    f.init_ms();
    let stops: Vec<f64> = (0..c.bus).map(|_| f.invoke_ms(&events.stop, "stopped")).collect();
    r.stop_bus_p50.push(percentile(&stops, 0.5));
    rss.push(f.peak_rss_mb());
    drop(f);

    r.rss.push(rss.into_iter().fold(f64::NAN, f64::max));
}

/// One round of the floors: the raw stop path (delayed endpoint) and the echo function (init and invocations).
fn floor_round(setup: &Setup, events: &Events, n: usize, floor: &mut Results, echo: &mut Results) {
    let f = Function::spawn(Lang::Floor, Aws::Delayed, false, setup);
    f.init_ms();
    let stop = f.warm(n, &events.stop, "floor");
    report(Lang::Floor, "stop", &stop);
    floor.stop(&stop);
    drop(f);

    let f = Function::spawn(Lang::Echo, Aws::Delayed, false, setup);
    echo.init.push(f.init_ms());
    echo.first_http.push(f.invoke_ms(&events.deny, "echo"));
    let deny = f.warm(n, &events.deny, "echo");
    report(Lang::Echo, "deny event", &deny);
    echo.deny(&deny);
    echo.rss.push(f.peak_rss_mb());
}

fn file_size(path: &Path) -> Option<f64> {
    std::fs::metadata(path).ok().map(|m| m.len() as f64 / 1e6)
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--floor-function") {
        floor_function();
        return;
    }
    let _ = Command::new("taskset").args(["-p", "-c", "0", &std::process::id().to_string()]).output();
    let dir = std::env::temp_dir().join(format!("stop-gateway-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let delay_ms: u64 =
        std::env::var("BENCH_AWS_DELAY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_DELAY_MS);
    let cold_delay = std::env::var("BENCH_COLD_DELAY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(COLD_DELAY_MS);
    let endpoint = endpoint::start(&dir, Duration::from_millis(delay_ms), Duration::from_millis(cold_delay));
    let binaries = Binaries::find();
    // BENCH_POLICY_FILE replaces the example policy (a TOML file), e.g. for a binary older than the example.
    let policy_file =
        std::env::var_os("BENCH_POLICY_FILE").map_or_else(|| repo().join("policy.example.toml"), PathBuf::from);
    let policy: serde_json::Value = toml::from_str(&std::fs::read_to_string(policy_file).unwrap()).unwrap();
    let policy = policy.to_string();
    let setup = Setup { binaries: &binaries, endpoint: &endpoint, policy: &policy, cap: None };
    let events = Events {
        stop: {
            let mut e: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(repo().join("events/apigw-http-dry-run.json")).unwrap())
                    .unwrap();
            e["body"] = serde_json::json!({"targetArn": "arn:aws:states:us-east-1:111122223333:execution:orders-api:run", "reason": "OPS-1236 benchmark stop"}).to_string().into();
            e.to_string()
        },
        deny: std::fs::read_to_string(repo().join("events/apigw-http-no-ticket.json")).unwrap(),
    };

    // BENCH_PROFILE=stop|deny|floor|echo [BENCH_PROFILE_N=5000] [BENCH_PROFILE_DELAYED=1]: only that path on one
    // warm instance against the instant endpoint (or the delayed one), for a profiler attached to (or wrapping,
    // see BENCH_WRAP) the function; prints the p50 and the CPU per invocation and leaves BENCHMARKS.md alone.
    if let Ok(path) = std::env::var("BENCH_PROFILE") {
        let n = std::env::var("BENCH_PROFILE_N").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
        let (lang, payload, expect) = match path.as_str() {
            "stop" => (Lang::Rust, &events.stop, "stopped"),
            "deny" => (Lang::Rust, &events.deny, "denied"),
            "echo" => (Lang::Echo, &events.deny, "echo"),
            _ => (Lang::Floor, &events.stop, "floor"),
        };
        let aws =
            if std::env::var("BENCH_PROFILE_DELAYED").is_ok_and(|v| v == "1") { Aws::Delayed } else { Aws::AtOnce };
        let mut f = Function::spawn(lang, aws, false, &setup);
        f.init_ms();
        println!("function pid {}", f.child.id());
        let w = f.warm(n, payload, expect);
        report(lang, &path, &w);
        // Close the Runtime API so the function exits by itself (a wrapping profiler then writes its data).
        drop(std::mem::replace(&mut f.api, RuntimeApi::start_as(BENCH_FUNCTION)));
        let deadline = Instant::now() + Duration::from_secs(60);
        while f.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        return;
    }

    let count = |var: &str, default: usize| std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let parts = std::env::var("BENCH_PARTS").unwrap_or_else(|_| "cold,full,capped".to_owned());
    let shares: Vec<Share> = std::env::var("BENCH_SHARES")
        .unwrap_or_else(|_| SHARES.to_owned())
        .split(',')
        .filter_map(|mb| mb.trim().parse().ok())
        .map(Share::of)
        .collect();
    let counts = Counts { warm: count("BENCH_N", WARM), bus: BUS_WARM, burst: BURST };
    let capped = Counts { warm: count("BENCH_CAPPED_N", CAPPED_WARM), bus: 100, burst: 100 };
    let (rounds, capped_rounds) = (count("BENCH_ROUNDS", ROUNDS), count("BENCH_CAPPED_ROUNDS", CAPPED_ROUNDS));
    let (cold_n, cold_delay) =
        (count("BENCH_COLD_N", COLD_KILLS), count("BENCH_COLD_DELAY_MS", COLD_DELAY_MS as usize));
    let settings = format!(
        "BENCH_PARTS={parts} BENCH_SHARES={} BENCH_COLD_N={cold_n} BENCH_COLD_DELAY_MS={cold_delay} \
         BENCH_ROUNDS={rounds} BENCH_N={} BENCH_CAPPED_ROUNDS={capped_rounds} BENCH_CAPPED_N={} BENCH_AWS_DELAY_MS={delay_ms}",
        shares.iter().map(|s| s.mb.to_string()).collect::<Vec<_>>().join(","),
        counts.warm,
        capped.warm
    );
    println!("stop-gateway benchmark: {settings}");
    for share in &shares {
        println!("  the {} MB share: {}", share.mb, share.describe());
    }
    let load_at_start = load();
    println!("  {load_at_start}");
    let mut out = String::new();
    let not_measured: Vec<String> = (shares.iter())
        .filter_map(|s| s.unavailable().map(|why| format!("- {} MB share: not measured: {why}\n", s.mb)))
        .collect();
    let available: Vec<&Share> = shares.iter().filter(|s| s.unavailable().is_none()).collect();
    let label = |s: &Share| format!("{} MB share ({:.2}% of a core)", s.mb, s.percent());

    if parts.contains("cold") {
        let cold_delay = Duration::from_millis(cold_delay as u64);
        let mut setups = vec![("full CPU".to_owned(), setup)];
        setups.extend(available.iter().map(|s| (label(s), Setup { cap: Some(*s), ..setup })));
        let figures = cold::run(&setups, &events.stop, cold_n, cold_delay);
        out.push_str(&cold::tables(&figures, cold_n, cold_delay));
    }
    if parts.contains("full") {
        let results = rounds_of(&setup, &events, rounds, counts);
        out.push_str(&format!("\n**Full CPU** ({rounds} alternating rounds):\n\n"));
        out.push_str(&table(&results, delay_ms, counts, &binaries, None));
    }
    if parts.contains("capped") {
        for share in &available {
            let results = rounds_of(&Setup { cap: Some(*share), ..setup }, &events, capped_rounds, capped);
            out.push_str(&format!(
                "\n**At the {}** ({capped_rounds} alternating rounds; {}):\n\n",
                label(share),
                share.describe()
            ));
            out.push_str(&table(&results, delay_ms, capped, &binaries, Some(share)));
        }
    }
    out.push_str(&not_measured.concat());
    out.push_str(&format!("\nSettings: `{settings}`; {load_at_start}; at the end, {}.\n", load()));
    println!("\n{out}");
    let whole = ["cold", "full", "capped"].iter().all(|p| parts.contains(p));
    if whole && delay_ms == DEFAULT_DELAY_MS && std::env::var("BENCH_WRITE").map_or(true, |v| v != "0") {
        update_benchmarks_md(&out);
    } else {
        println!("(a partial or non-default run, or BENCH_WRITE=0: BENCHMARKS.md left alone)");
    }
}

/// The load average, as `uptime` shows it: the machine is shared, so every figure is read next to it.
fn load() -> String {
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let fields: Vec<&str> = loadavg.split_whitespace().take(3).collect();
    format!("load average {}", fields.join(", "))
}

/// The gateway, Python and the floors, alternating, `rounds` times at `setup`'s share.
fn rounds_of(setup: &Setup, events: &Events, rounds: usize, counts: Counts) -> [Results; 4] {
    let mut r: [Results; 4] = Default::default();
    let [rust, python, floor, echo] = &mut r;
    for i in 0..rounds {
        round(Lang::Rust, setup, events, counts, rust);
        round(Lang::Python, setup, events, counts, python);
        floor_round(setup, events, counts.warm, floor, echo);
        println!("  round {} done ({})", i + 1, load());
    }
    r
}

fn table(results: &[Results; 4], delay: u64, counts: Counts, b: &Binaries, share: Option<&Share>) -> String {
    let [rust, python, floor, echo] = results;
    let n = counts.warm;
    let lambda_dir =
        std::env::var_os("BENCH_LAMBDA_DIR").map_or_else(|| repo().join("target/lambda/stop-gateway"), PathBuf::from);
    let binary = file_size(&b.gateway);
    let arm_binary = file_size(&lambda_dir.join("bootstrap"));
    let arm_zip = file_size(&lambda_dir.join("bootstrap.zip"));
    let (delayed, instant) = (format!("{delay} ms"), "0 ms".to_owned());
    let none = "no call".to_owned();
    let dash = || "–".to_owned();
    let x = |a: &Figure, b: &Figure| a.median() / b.median();
    let mut table = String::from(
        "| figure | AWS endpoint | Rust (median, min–max) | Python (median, min–max) | notes |\n|---|---|---:|---:|---|\n",
    );
    let mut row = |name: &str, endpoint: &str, r: String, p: String, note: String| {
        table.push_str(&format!("| {name} | {endpoint} | {r} | {p} | {note} |\n"));
    };
    row(
        "init: spawn → first /next (ms)",
        "–",
        rust.init.show(2),
        python.init.show(1),
        format!(
            "{:.2}× the echo function (target ≤ 1.5×); {:.0}× faster than Python (target ≥ 40×)",
            x(&rust.init, &echo.init),
            x(&python.init, &rust.init)
        ),
    );
    row("init floor: the echo function (ms)", "–", echo.init.show(2), dash(), "`examples/bench_echo.rs`".into());
    row(
        &format!("CPU per warm invocation, stop path (ms; {n} per round)"),
        &delayed,
        rust.stop_cpu.show(3),
        python.stop_cpu.show(3),
        format!(
            "{:.1}× less than Python (target ≥ 6×); the raw floor: {:.3} ms",
            x(&python.stop_cpu, &rust.stop_cpu),
            floor.stop_cpu.median()
        ),
    );
    row(
        &format!("CPU per warm invocation, deny path (ms; {n} per round)"),
        &none,
        rust.deny_cpu.show(3),
        python.deny_cpu.show(3),
        format!(
            "{:.1}× less than Python; the echo function: {:.3} ms",
            x(&python.deny_cpu, &rust.deny_cpu),
            echo.deny_cpu.median()
        ),
    );
    row(
        "warm stop path p50 (ms)",
        &delayed,
        rust.stop_p50.show(3),
        python.stop_p50.show(3),
        format!(
            "{:.3}× the raw floor (target ≤ 1.05×); {:.2}× faster than Python",
            x(&rust.stop_p50, &floor.stop_p50),
            x(&python.stop_p50, &rust.stop_p50)
        ),
    );
    row("warm stop path p99 (ms)", &delayed, rust.stop_p99.show(3), python.stop_p99.show(3), String::new());
    row(
        "stop floor p50 (ms): raw describe + stop POSTs, keep-alive, JSON parsed",
        &delayed,
        floor.stop_p50.show(3),
        dash(),
        format!("p99 {:.3} ms; same Runtime API, endpoint and pinning", floor.stop_p99.median()),
    );
    row(
        "warm deny path p50 (ms)",
        &none,
        rust.deny_p50.show(3),
        python.deny_p50.show(3),
        format!(
            "{:.2}× the echo function; {:.1}× faster than Python",
            x(&rust.deny_p50, &echo.deny_p50),
            x(&python.deny_p50, &rust.deny_p50)
        ),
    );
    row("warm deny path p99 (ms)", &none, rust.deny_p99.show(3), python.deny_p99.show(3), String::new());
    row(
        "deny floor p50 (ms): the echo function, given the deny event",
        &none,
        echo.deny_p50.show(3),
        dash(),
        format!("p99 {:.3} ms; answers with the event itself", echo.deny_p99.median()),
    );
    row(
        "first invocation, HTTP (ms)",
        &instant,
        rust.first_http.show(2),
        python.first_http.show(1),
        format!("{:.0}× faster", x(&python.first_http, &rust.first_http)),
    );
    row(
        "first invocation, TLS (ms)",
        &instant,
        rust.first_tls.show(2),
        python.first_tls.show(1),
        format!("includes the handshake; {:.0}× faster", x(&python.first_tls, &rust.first_tls)),
    );
    row(
        "warm stop path p50 with the audit bus (ms)",
        &instant,
        rust.stop_bus_p50.show(3),
        python.stop_bus_p50.show(3),
        format!("three calls: describe, stop, PutEvents; {:.1}× faster", x(&python.stop_bus_p50, &rust.stop_bus_p50)),
    );
    row(
        &format!("burst: {} queued events (events/s)", counts.burst),
        &instant,
        rust.burst.show(0),
        python.burst.show(0),
        format!("{:.1}×", x(&rust.burst, &python.burst)),
    );
    row(
        "peak RSS (MB)",
        "–",
        rust.rss.show(1),
        python.rss.show(1),
        format!("target ≤ 12 MB; largest VmHWM of a round's instances; the echo function: {:.1}", echo.rss.median()),
    );
    if share.is_some() {
        return table;
    }
    let mb = |v: Option<f64>| v.map_or("not built".to_owned(), |v| format!("{v:.2}"));
    row("binary, stripped (MB)", "–", format!("{} host; {} arm64", mb(binary), mb(arm_binary)), dash(), String::new());
    let zip_note = match std::env::var("BENCH_ARM64_SKIPPED") {
        Ok(why) if arm_zip.is_none() => format!("target ≤ 4 MB; not built: {why}"),
        _ => "target ≤ 4 MB".to_owned(),
    };
    row("zip, arm64 (MB)", "–", mb(arm_zip), dash(), zip_note);
    let host_zip = std::env::var_os("BENCH_HOST_ZIP").and_then(|p| file_size(Path::new(&p)));
    row("zip, x86_64 host build (MB)", "–", mb(host_zip), dash(), "the binary above, zipped the same way".into());
    table
}

/// Replaces the table between the markers in BENCHMARKS.md.
fn update_benchmarks_md(table: &str) {
    let path = repo().join("BENCHMARKS.md");
    let Ok(text) = std::fs::read_to_string(&path) else { return };
    let (start, end) = ("<!-- table:start -->", "<!-- table:end -->");
    if let (Some(a), Some(b)) = (text.find(start), text.find(end)) {
        let updated = format!("{}{start}\n{table}{}", &text[..a], &text[b..]);
        std::fs::write(&path, updated).unwrap();
        println!("BENCHMARKS.md updated");
    }
}
