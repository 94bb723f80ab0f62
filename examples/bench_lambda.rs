//! The benchmark behind `scripts/bench` (not a test): the real release binary, run the way Lambda runs it
//! (under a Runtime API, configured through its environment), side by side in the same run with the same
//! handler in Python (boto3 under `awslambdaric`). Both talk to a minimal local endpoint that answers the AWS
//! calls at once, over HTTP or over TLS with a local CA, so what is measured is the function, not AWS.
//!
//! Rounds alternate Rust, Python, Rust, …; the function runs on core 1 and the harness on core 0. Prints a
//! table and writes it, with the method, into BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic with a message is the report

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use testkit::standins::{RuntimeApi, read_request, repo};

const ROUNDS: usize = 5;
const WARM: usize = 300;
const BURST: usize = 1000;

// --- the local AWS endpoint -----------------------------------------------------------------------------

/// Answers DescribeExecution (RUNNING), StopExecution and PutEvents at once, with keep-alive.
fn answer(target: Option<&str>) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let body = match target {
        Some("AWSStepFunctions.DescribeExecution") => format!(
            r#"{{"executionArn":"arn:aws:states:us-east-1:111122223333:execution:orders-api:run","stateMachineArn":"arn:aws:states:us-east-1:111122223333:stateMachine:orders-api","status":"RUNNING","startDate":{}}}"#,
            now - 60
        ),
        Some("AWSStepFunctions.StopExecution") => format!(r#"{{"stopDate":{now}}}"#),
        Some("AWSEvents.PutEvents") => r#"{"FailedEntryCount":0,"Entries":[{"EventId":"e-1"}]}"#.to_owned(),
        _ => "{}".to_owned(),
    };
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: r-1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn serve_endpoint<S: Read + Write>(stream: S) {
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let response = answer(request.header("x-amz-target"));
        if reader.get_mut().write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

struct Endpoint {
    http: u16,
    https: u16,
    ca_file: PathBuf,
}

fn start_endpoint(dir: &Path) -> Endpoint {
    // A local CA and a certificate for localhost/127.0.0.1 signed by it.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    // OpenSSL (Python) wants a named CA with key usages and a server-auth leaf; rustls accepts either.
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "stop-gateway benchmark CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf_params = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    leaf_params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
    leaf_params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature, rcgen::KeyUsagePurpose::KeyEncipherment];
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf_params.signed_by(&leaf_key, &rcgen::Issuer::new(ca_params, ca_key)).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    let config = Arc::new(config);

    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    let https = TcpListener::bind("127.0.0.1:0").unwrap();
    let (http_port, https_port) = (http.local_addr().unwrap().port(), https.local_addr().unwrap().port());
    thread::spawn(move || {
        for stream in http.incoming().flatten() {
            let _ = stream.set_nodelay(true);
            thread::spawn(move || serve_endpoint(stream));
        }
    });
    thread::spawn(move || {
        for stream in https.incoming().flatten() {
            let _ = stream.set_nodelay(true);
            let config = config.clone();
            thread::spawn(move || {
                let connection = rustls::ServerConnection::new(config).unwrap();
                serve_endpoint(rustls::StreamOwned::new(connection, stream));
            });
        }
    });
    Endpoint { http: http_port, https: https_port, ca_file }
}

/// The floor, as a function: under the same Runtime API, each invocation makes one keep-alive POST to the same
/// endpoint and parses the JSON answer, nothing else. Run as `bench_lambda --floor-function`.
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
    let body = r#"{"executionArn":"arn:aws:states:us-east-1:111122223333:execution:orders-api:run"}"#;
    let describe = format!(
        "POST / HTTP/1.1\r\nHost: {endpoint}\r\nX-Amz-Target: AWSStepFunctions.DescribeExecution\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    loop {
        runtime_out
            .write_all(format!("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {api}\r\n\r\n").as_bytes())
            .unwrap();
        let Some(next) = read_request(&mut runtime_in) else { return };
        let id = next.header("lambda-runtime-aws-request-id").unwrap().to_owned();
        aws_out.write_all(describe.as_bytes()).unwrap();
        let answer = read_request(&mut aws_in).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(parsed["status"], "RUNNING");
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
    Rust,
    Python,
    Floor,
}

struct Function {
    child: Child,
    api: RuntimeApi,
    spawned: Instant,
}

impl Function {
    fn spawn(lang: Lang, tls: bool, bus: bool, endpoint: &Endpoint, policy_json: &str) -> Function {
        let api = RuntimeApi::start();
        let mut command = Command::new("taskset");
        command.env_clear().args(["-c", "1"]);
        // BENCH_WRAP runs the function under a tool, e.g. "valgrind --tool=callgrind" (profiling mode only).
        if let Ok(wrap) = std::env::var("BENCH_WRAP") {
            command.args(wrap.split_whitespace());
        }
        let endpoint_url = if tls {
            format!("https://localhost:{}", endpoint.https)
        } else {
            format!("http://127.0.0.1:{}", endpoint.http)
        };
        match lang {
            Lang::Rust => {
                let exe = std::env::current_exe().unwrap();
                command.arg(exe.parent().unwrap().parent().unwrap().join("stop-gateway"));
                // The Python reference does no client-side pacing, so lift the gateway's (AWS's quotas bind
                // both equally in AWS); the bulk benchmark measures the paced rate.
                command.env("RATE_LIMITS", "DescribeExecution=1000000/1000000,StopExecution=1000000/1000000");
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
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", &endpoint_url)
            .env("POLICY", policy_json)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if bus {
            command.env("AUDIT_EVENT_BUS", "bench-audit");
        }
        if tls {
            // Each trusts the local CA the way its stack is told to: rustls-native-certs reads SSL_CERT_FILE,
            // botocore reads AWS_CA_BUNDLE.
            command.env("SSL_CERT_FILE", &endpoint.ca_file).env("AWS_CA_BUNDLE", &endpoint.ca_file);
        }
        let spawned = Instant::now();
        let child = command.spawn().expect("spawn the function");
        Function { child, api, spawned }
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

    fn invoke_ms(&self, payload: &str, expect: &str) -> f64 {
        let started = Instant::now();
        let answer = self.api.invoke(payload);
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let body = testkit::standins::body(&answer);
        let code = body["outcome"].as_str().or(body["error"]["code"].as_str()).unwrap_or("none").to_owned();
        assert_eq!(code, expect, "{:?}", answer.body);
        ms
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
    deny_p50: Figure,
    deny_p99: Figure,
    stop_bus_p50: Figure,
    burst: Figure,
    rss: Figure,
}

fn round(lang: Lang, endpoint: &Endpoint, policy: &str, stop: &str, deny: &str, r: &mut Results) {
    // Cold start over HTTP, then the warm paths on the same instance.
    let f = Function::spawn(lang, false, false, endpoint, policy);
    r.init.push(f.init_ms());
    r.first_http.push(f.invoke_ms(stop, "stopped"));
    let stops: Vec<f64> = (0..WARM).map(|_| f.invoke_ms(stop, "stopped")).collect();
    let denies: Vec<f64> = (0..WARM).map(|_| f.invoke_ms(deny, "denied")).collect();
    r.stop_p50.push(percentile(&stops, 0.5));
    r.stop_p99.push(percentile(&stops, 0.99));
    r.deny_p50.push(percentile(&denies, 0.5));
    r.deny_p99.push(percentile(&denies, 0.99));
    r.rss.push(f.peak_rss_mb());
    drop(f);

    // Cold start over TLS: the first invocation pays for the handshake.
    let f = Function::spawn(lang, true, false, endpoint, policy);
    f.init_ms();
    r.first_tls.push(f.invoke_ms(stop, "stopped"));
    drop(f);

    // The stop path again with the audit bus on: one more call (PutEvents) per request.
    let f = Function::spawn(lang, false, true, endpoint, policy);
    f.init_ms();
    let stops: Vec<f64> = (0..WARM).map(|_| f.invoke_ms(stop, "stopped")).collect();
    r.stop_bus_p50.push(percentile(&stops, 0.5));
    drop(f);

    // Burst: BURST events queued on one instance.
    let f = Function::spawn(lang, false, false, endpoint, policy);
    f.init_ms();
    let started = Instant::now();
    let answers: Vec<_> = (0..BURST).map(|_| f.api.send(stop)).collect();
    for a in answers {
        a.recv_timeout(Duration::from_secs(120)).expect("burst answer");
    }
    r.burst.push(BURST as f64 / started.elapsed().as_secs_f64());
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
    let endpoint = start_endpoint(&dir);
    let policy: serde_json::Value =
        toml::from_str(&std::fs::read_to_string(repo().join("policy.example.toml")).unwrap()).unwrap();
    let policy = policy.to_string();
    let stop = {
        let mut e: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(repo().join("events/apigw-http-dry-run.json")).unwrap())
                .unwrap();
        e["body"] = serde_json::json!({"targetArn": "arn:aws:states:us-east-1:111122223333:execution:orders-api:run", "reason": "OPS-1236 benchmark stop"}).to_string().into();
        e.to_string()
    };
    let deny = std::fs::read_to_string(repo().join("events/apigw-http-no-ticket.json")).unwrap();

    // BENCH_PROFILE=stop|deny|floor [BENCH_PROFILE_N=5000]: only that path on one warm instance, for a profiler
    // attached to (or wrapping, see BENCH_WRAP) the function; prints the p50 and leaves BENCHMARKS.md alone.
    if let Ok(path) = std::env::var("BENCH_PROFILE") {
        let n = std::env::var("BENCH_PROFILE_N").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
        let (lang, payload, expect) = match path.as_str() {
            "stop" => (Lang::Rust, &stop, "stopped"),
            "deny" => (Lang::Rust, &deny, "denied"),
            _ => (Lang::Floor, &stop, "floor"),
        };
        let f = Function::spawn(lang, false, false, &endpoint, &policy);
        f.init_ms();
        println!("function pid {}", f.child.id());
        let samples: Vec<f64> = (0..n).map(|_| f.invoke_ms(payload, expect)).collect();
        println!("{path}: {n} invocations, p50 {:.3} ms", percentile(&samples, 0.5));
        // Close the Runtime API so the function exits by itself (a wrapping profiler then writes its data).
        let mut f = f;
        drop(std::mem::replace(&mut f.api, RuntimeApi::start()));
        let deadline = Instant::now() + Duration::from_secs(60);
        while f.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        return;
    }

    // BENCH_ROUNDS shortens a run when profiling; the published figures use the default.
    let rounds = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(ROUNDS);
    println!("stop-gateway benchmark: {rounds} alternating rounds; {WARM} warm invocations per path; burst of {BURST}");
    let (mut rust, mut python, mut floor) = (Results::default(), Results::default(), Figure::default());
    for i in 0..rounds {
        for lang in [Lang::Rust, Lang::Python] {
            let r = if lang == Lang::Rust { &mut rust } else { &mut python };
            round(lang, &endpoint, &policy, &stop, &deny, r);
        }
        let f = Function::spawn(Lang::Floor, false, false, &endpoint, &policy);
        f.init_ms();
        let samples: Vec<f64> = (0..WARM).map(|_| f.invoke_ms(&stop, "floor")).collect();
        floor.push(percentile(&samples, 0.5));
        println!("  round {} done", i + 1);
    }
    let floor_p50 = floor.median();

    let binary = file_size(&std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("stop-gateway"));
    let arm_binary = file_size(&repo().join("target/lambda/stop-gateway/bootstrap"));
    let arm_zip = file_size(&repo().join("target/lambda/stop-gateway/bootstrap.zip"));
    let ratio = |p: f64, r: f64| p / r;
    let mut table = String::new();
    let mut row = |name: &str, r: String, p: String, note: String| {
        table.push_str(&format!("| {name} | {r} | {p} | {note} |\n"));
    };
    row(
        "init: spawn → first /next (ms)",
        rust.init.show(2),
        python.init.show(1),
        format!("{:.0}× faster; target ≤ 10 ms and ≥ 30×", ratio(python.init.median(), rust.init.median())),
    );
    row(
        "first invocation, HTTP (ms)",
        rust.first_http.show(2),
        python.first_http.show(1),
        format!("{:.0}× faster", ratio(python.first_http.median(), rust.first_http.median())),
    );
    row("first invocation, TLS (ms)", rust.first_tls.show(2), python.first_tls.show(1), "target ≤ 10 ms".to_owned());
    row(
        "warm stop path p50 (ms)",
        rust.stop_p50.show(3),
        python.stop_p50.show(3),
        format!(
            "{:.2}× floor (target ≤ 2×); {:.1}× faster than Python (target ≥ 4×)",
            rust.stop_p50.median() / floor_p50,
            ratio(python.stop_p50.median(), rust.stop_p50.median())
        ),
    );
    row("warm stop path p99 (ms)", rust.stop_p99.show(3), python.stop_p99.show(3), String::new());
    row(
        "warm deny path p50 (ms)",
        rust.deny_p50.show(3),
        python.deny_p50.show(3),
        format!("{:.2}× floor (target ≤ 1.2×)", rust.deny_p50.median() / floor_p50),
    );
    row("warm deny path p99 (ms)", rust.deny_p99.show(3), python.deny_p99.show(3), String::new());
    row(
        "warm stop path p50 with the audit bus (ms)",
        rust.stop_bus_p50.show(3),
        python.stop_bus_p50.show(3),
        format!(
            "three calls: describe, stop, PutEvents; {:.1}× faster",
            ratio(python.stop_bus_p50.median(), rust.stop_bus_p50.median())
        ),
    );
    row(
        "burst: 1 000 queued events (events/s)",
        rust.burst.show(0),
        python.burst.show(0),
        format!("{:.1}×", rust.burst.median() / python.burst.median()),
    );
    row("peak RSS (MB)", rust.rss.show(1), python.rss.show(1), "target ≤ 12 MB".to_owned());
    row(
        "floor p50 (ms): a function making one keep-alive POST + JSON parse",
        floor.show(3),
        "–".into(),
        "same Runtime API and endpoint, same pinning".into(),
    );
    row(
        "binary, stripped (MB)",
        format!(
            "{} host; {} arm64",
            binary.map_or("–".into(), |b| format!("{b:.2}")),
            arm_binary.map_or("–".into(), |b| format!("{b:.2}"))
        ),
        "–".into(),
        String::new(),
    );
    row("zip, arm64 (MB)", arm_zip.map_or("–".into(), |z| format!("{z:.2}")), "–".into(), "target ≤ 4 MB".into());

    let header = "| figure | Rust (median, min–max) | Python (median, min–max) | notes |\n|---|---:|---:|---|\n";
    println!("\n{header}{table}");
    update_benchmarks_md(&format!("{header}{table}"));
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
