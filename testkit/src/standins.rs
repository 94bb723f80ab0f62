//! End-to-end support: the local AWS stand-ins, a Lambda Runtime API in front of the real gateway binary, and
//! the gateway process itself.
//!
//! Everything binds to 127.0.0.1 on free ports, every wait is bounded and names what did not come up, and
//! every process is stopped by PID when its handle drops (the stand-ins also stop when our end of their stdin
//! closes, which covers a test process that dies).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// How long any stand-in, helper call or invocation may take before the suite gives up with a message.
pub const WAIT: Duration = Duration::from_secs(60);

/// The repository root (this crate lives one folder below it).
pub fn repo() -> PathBuf {
    let testkit = Path::new(env!("CARGO_MANIFEST_DIR"));
    testkit.parent().unwrap_or(testkit).to_path_buf()
}

/// The project's virtualenv Python, installed by `standins/setup.sh`.
pub fn python() -> PathBuf {
    let python = repo().join(".venv/bin/python");
    assert!(
        python.exists(),
        "the local AWS stand-ins are not installed: run standins/setup.sh (scripts/test does it for you)"
    );
    python
}

/// A running set of stand-ins (moto, the durable-functions server, their proxies).
pub struct Standins {
    child: Child,
    _stdin: ChildStdin,
    state_file: PathBuf,
    /// The state `up` wrote: endpoints, ports, PIDs and the environment for SDK clients.
    pub state: Value,
}

impl Standins {
    /// Starts the stand-ins and waits (bounded) until all are healthy.
    pub fn start() -> Standins {
        let dir = std::env::temp_dir().join(format!("stop-gateway-e2e-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let state_file = dir.join("state.json");
        let mut child = Command::new(python())
            .arg(repo().join("standins/standins.py"))
            .args(["up", "--until-stdin-eof", "--timeout", "30", "--state"])
            .arg(&state_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start standins.py up");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(WAIT).unwrap_or_default();
        let state: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the local AWS stand-ins (moto, durable-functions server) did not come up within {WAIT:?}; see the standins output above")
        });
        Standins { child, _stdin: stdin, state_file, state }
    }

    /// Runs a `standins.py` helper and returns its JSON output.
    pub fn cli(&self, args: &[&str]) -> Value {
        let output = Command::new("timeout")
            .arg(WAIT.as_secs().to_string())
            .arg(python())
            .arg(repo().join("standins/standins.py"))
            .arg(args[0])
            .arg("--state")
            .arg(&self.state_file)
            .args(&args[1..])
            .output()
            .expect("run standins.py");
        assert!(
            output.status.success(),
            "standins.py {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Environment for SDK clients pointed at the stand-ins.
    pub fn env(&self) -> Vec<(String, String)> {
        self.state["env"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect()
    }

    /// The account the stand-ins use.
    pub fn account(&self) -> String {
        self.state["account_id"].as_str().unwrap().to_owned()
    }

    /// Starts `count` RUNNING executions of a new state machine named `name`.
    pub fn sfn_start(&self, name: &str, count: usize) -> Vec<String> {
        let out = self.cli(&["sfn-start", "--name", name, "--count", &count.to_string()]);
        out["executionArns"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect()
    }

    /// Starts `count` RUNNING executions of a new state machine named `name` in `account` (moto keeps resources
    /// per account; another account's are invisible from the default one).
    pub fn sfn_start_in(&self, account: &str, name: &str, count: usize) -> Vec<String> {
        let out = self.cli(&["sfn-start", "--name", name, "--count", &count.to_string(), "--account", account]);
        out["executionArns"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect()
    }

    /// Who made each StopExecution of this execution that used assumed-role credentials
    /// (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`, as moto's STS names the caller).
    pub fn sfn_stop_callers(&self, arn: &str) -> Vec<String> {
        let all = self.cli(&["sfn-recorded"]);
        let stops = all.as_array().unwrap().iter().filter(|r| r["body"]["executionArn"] == arn);
        stops.filter_map(|r| r["caller"].as_str().map(str::to_owned)).collect()
    }

    /// The status of an execution, as the stand-in reports it (read in the account its ARN names).
    pub fn sfn_status(&self, arn: &str) -> String {
        self.cli(&["sfn-status", arn])["status"].as_str().unwrap().to_owned()
    }

    /// Ends a RUNNING execution as SUCCEEDED at the stand-in (the moto proxy's stop-after-end shim: moto itself
    /// cannot end an execution); a later StopExecution leaves it SUCCEEDED and still answers 200.
    pub fn sfn_finish(&self, arn: &str) {
        self.cli(&["sfn-finish", arn]);
    }

    /// StopExecution bodies that reached the stand-in for this execution.
    pub fn sfn_stops(&self, arn: &str) -> Vec<Value> {
        let all = self.cli(&["sfn-recorded"]);
        all.as_array().unwrap().iter().filter(|r| r["body"]["executionArn"] == arn).map(|r| r["body"].clone()).collect()
    }

    /// Starts `count` RUNNING durable executions of `function`.
    pub fn durable_start(&self, function: &str, count: usize) -> Vec<String> {
        let out = self.cli(&["durable-start", "--function", function, "--count", &count.to_string()]);
        out["executionArns"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect()
    }

    /// Starts `count` RUNNING durable executions of `function` on `qualifier` (a version or `$LATEST`).
    pub fn durable_start_on(&self, function: &str, qualifier: &str, count: usize) -> Vec<String> {
        let count = count.to_string();
        let out = self.cli(&["durable-start", "--function", function, "--qualifier", qualifier, "--count", &count]);
        out["executionArns"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect()
    }

    /// Creates (or replaces) a metric alarm `name` with these metric dimensions and tags; returns its ARN.
    pub fn alarm_put(&self, name: &str, dimensions: &[(&str, &str)], tags: &[(&str, &str)]) -> String {
        let mut args = vec!["alarm-put".to_owned(), name.to_owned()];
        for (k, v) in dimensions {
            args.extend(["--dimension".to_owned(), format!("{k}={v}")]);
        }
        for (k, v) in tags {
            args.extend(["--tag".to_owned(), format!("{k}={v}")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.cli(&args)["alarmArn"].as_str().unwrap().to_owned()
    }

    /// Sets an alarm's state (`ALARM`, `OK`, `INSUFFICIENT_DATA`).
    pub fn alarm_state(&self, name: &str, state: &str) {
        self.cli(&["alarm-state", name, state]);
    }

    /// Enables or disables an alarm's actions.
    pub fn alarm_actions(&self, name: &str, enabled: bool) {
        self.cli(&["alarm-actions", name, if enabled { "on" } else { "off" }]);
    }

    /// Creates or overwrites the SSM parameter `name` with `text`; returns its new version.
    pub fn ssm_put(&self, name: &str, text: &str) -> i64 {
        let file = std::env::temp_dir().join(format!("stop-gateway-ssm-{}-{}", std::process::id(), unique()));
        std::fs::write(&file, text).unwrap();
        let out = self.cli(&["ssm-put", name, file.to_str().unwrap()]);
        let _ = std::fs::remove_file(&file);
        out["version"].as_i64().unwrap()
    }

    /// Marks a durable execution PAUSED (the stand-in's pause shim).
    pub fn durable_pause(&self, arn: &str) {
        self.cli(&["durable-pause", arn]);
    }

    /// Defines `alias` of `function` pointing at `version`, with weighted routing to `weighted` (`V=W`).
    pub fn durable_alias(&self, function: &str, alias: &str, version: &str, weighted: &[&str]) {
        let mut args = vec!["durable-alias", function, alias, version];
        for w in weighted {
            args.extend(["--weight", w]);
        }
        self.cli(&args);
    }

    /// `GetDurableExecution` as the stand-in answers it.
    pub fn durable_status(&self, arn: &str) -> Value {
        self.cli(&["durable-status", arn])
    }

    /// Stop bodies (bare ErrorObjects) that reached the stand-in for this durable execution.
    pub fn durable_stops(&self, arn: &str) -> Vec<Value> {
        let all = self.cli(&["durable-recorded"]);
        all.as_array().unwrap().iter().filter(|r| r["arn"] == arn).map(|r| r["body"].clone()).collect()
    }

    /// A new audit bus with a rule forwarding "Stop Gateway Decision" events to a new SQS queue.
    pub fn audit_bus(&self) -> AuditBus {
        let out = self.cli(&["events-setup"]);
        AuditBus {
            name: out["busName"].as_str().unwrap().to_owned(),
            queue_url: out["queueUrl"].as_str().unwrap().to_owned(),
        }
    }

    /// Reads (and removes) the events on an audit bus's queue, waiting for at least `expect`.
    pub fn audit_events(&self, bus: &AuditBus, expect: usize) -> Vec<Value> {
        let out = self.cli(&[
            "events-read",
            "--queue-url",
            &bus.queue_url,
            "--expect",
            &expect.to_string(),
            "--timeout",
            "15",
        ]);
        out.as_array().unwrap().clone()
    }
}

impl Standins {
    /// A Step Functions client pointed straight at the stand-in, to read the truth back.
    pub fn sfn_client(&self) -> aws_sdk_sfn::Client {
        let env: HashMap<String, String> = self.env().into_iter().collect();
        let conf = aws_sdk_sfn::Config::builder()
            .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
            .region(aws_sdk_sfn::config::Region::new(env["AWS_REGION"].clone()))
            .credentials_provider(aws_sdk_sfn::config::Credentials::new("testing", "testing", None, None, "standins"))
            .endpoint_url(env["AWS_ENDPOINT_URL_SFN"].clone())
            .http_client(stop_gateway::aws::sdk::https_client(None))
            .build();
        aws_sdk_sfn::Client::from_conf(conf)
    }

    /// How many executions of a state machine are in `status` at the stand-in.
    pub fn sfn_count(&self, state_machine: &str, status: aws_sdk_sfn::types::ExecutionStatus) -> usize {
        let client = self.sfn_client();
        let arn = format!("arn:aws:states:us-east-1:{}:stateMachine:{state_machine}", self.account());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut count = 0;
            let mut token = None;
            loop {
                let page = client
                    .list_executions()
                    .state_machine_arn(&arn)
                    .status_filter(status.clone())
                    .set_next_token(token)
                    .send()
                    .await
                    .expect("ListExecutions at the stand-in");
                count += page.executions().len();
                token = page.next_token().map(str::to_owned);
                if token.is_none() {
                    return count;
                }
            }
        })
    }

    /// How many durable executions of `function` are in `status` at the stand-in.
    pub fn durable_count(&self, function: &str, status: &str) -> usize {
        let out = self.cli(&["durable-list", "--function", function, "--status", status]);
        out["DurableExecutions"].as_array().map_or(0, Vec::len)
    }

    /// StopExecution bodies recorded for executions of `state_machine`, by execution ARN.
    pub fn sfn_stops_by_execution(&self, state_machine: &str) -> HashMap<String, usize> {
        let mut by_arn = HashMap::new();
        for r in self.cli(&["sfn-recorded"]).as_array().unwrap() {
            let arn = r["body"]["executionArn"].as_str().unwrap_or_default();
            if arn.contains(&format!(":execution:{state_machine}:")) {
                *by_arn.entry(arn.to_owned()).or_insert(0) += 1;
            }
        }
        by_arn
    }
}

impl Drop for Standins {
    fn drop(&mut self) {
        let _ = Command::new(python())
            .arg(repo().join("standins/standins.py"))
            .arg("down")
            .arg("--state")
            .arg(&self.state_file)
            .output();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An audit bus at the stand-in and the queue its events are copied to.
pub struct AuditBus {
    /// Bus name, for `AUDIT_EVENT_BUS`.
    pub name: String,
    /// Queue the bus's rule targets.
    pub queue_url: String,
}

fn unique() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

/// The answer to one invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Whether the function reported an invocation error (`/error`) rather than a response.
    pub error: bool,
    /// The response or error document.
    pub body: Value,
}

struct Pending {
    payload: String,
    reply: Sender<Invocation>,
    /// Time the function gets (`Lambda-Runtime-Deadline-Ms`).
    timeout: Duration,
}

/// A minimal Lambda Runtime API (`/2018-06-01/runtime/...`) that hands queued events to the function and
/// collects its answers, the way the Lambda service does.
pub struct RuntimeApi {
    port: u16,
    queue: Sender<Pending>,
    first_poll: Arc<Mutex<Option<Instant>>>,
}

/// The function the Runtime API says was invoked: in the stand-ins' (moto's default) account, which the gateway
/// takes as its own.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:stop-gateway";

impl RuntimeApi {
    /// Listens on a free loopback port, as [`FUNCTION_ARN`].
    pub fn start() -> RuntimeApi {
        RuntimeApi::start_as(FUNCTION_ARN)
    }

    /// Listens on a free loopback port, telling the function it is `function_arn` (its account is the one the
    /// gateway acts in with its own credentials).
    pub fn start_as(function_arn: &str) -> RuntimeApi {
        let function_arn: Arc<str> = Arc::from(function_arn);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (queue, events) = channel::<Pending>();
        let events = Arc::new(Mutex::new(events));
        let waiting: Arc<Mutex<HashMap<String, Sender<Invocation>>>> = Arc::default();
        let first_poll: Arc<Mutex<Option<Instant>>> = Arc::default();
        let polled = first_poll.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (events, waiting, polled) = (events.clone(), waiting.clone(), polled.clone());
                let function_arn = function_arn.clone();
                thread::spawn(move || serve(stream, &events, &waiting, &polled, &function_arn));
            }
        });
        RuntimeApi { port, queue, first_poll }
    }

    /// When the function first asked for an event (the end of its init), if it has.
    pub fn first_poll(&self) -> Option<Instant> {
        *self.first_poll.lock().unwrap()
    }

    /// Queues an event without waiting; the answer arrives on the returned channel.
    pub fn send(&self, payload: &str) -> Receiver<Invocation> {
        self.send_with_timeout(payload, Duration::from_secs(60))
    }

    /// Queues an event that the function must answer within `timeout` (its deadline).
    pub fn send_with_timeout(&self, payload: &str, timeout: Duration) -> Receiver<Invocation> {
        let (reply, answer) = channel();
        self.queue.send(Pending { payload: payload.to_owned(), reply, timeout }).unwrap();
        answer
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the function.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Delivers one event and waits (bounded) for the function's answer.
    pub fn invoke(&self, payload: &str) -> Invocation {
        self.send(payload)
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("the gateway did not answer an invocation within {WAIT:?}"))
    }
}

/// One HTTP/1.1 request as read off a connection.
pub struct Request {
    /// The request line.
    pub line: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The request method.
    pub fn method(&self) -> &str {
        self.line.split_whitespace().next().unwrap_or_default()
    }

    /// The request path.
    pub fn path(&self) -> &str {
        self.line.split_whitespace().nth(1).unwrap_or_default()
    }

    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads one request (Content-Length or chunked body); `None` when the peer closed the connection.
pub fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut request = Request { line: line.trim_end().to_owned(), headers, body: Vec::new() };
    let chunked = request.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = request.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    request.body = if chunked { read_chunked(reader) } else { read_exact(reader, length) };
    Some(request)
}

/// Serves one keep-alive connection from the runtime client.
fn serve(
    stream: TcpStream,
    events: &Mutex<Receiver<Pending>>,
    waiting: &Mutex<HashMap<String, Sender<Invocation>>>,
    first_poll: &Mutex<Option<Instant>>,
    function_arn: &str,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        let path = request.path().to_owned();
        let body = request.body;
        let response = if path.ends_with("/invocation/next") {
            first_poll.lock().unwrap().get_or_insert_with(Instant::now);
            let Ok(pending) = events.lock().unwrap().recv() else { return };
            let id = format!("req-{}", unique());
            waiting.lock().unwrap().insert(id.clone(), pending.reply);
            let deadline =
                SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() + pending.timeout.as_millis();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: {function_arn}\r\nLambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\nContent-Length: {}\r\n\r\n{}",
                pending.payload.len(),
                pending.payload
            )
        } else {
            let segments: Vec<&str> = path.split('/').collect();
            if let [.., "invocation", id, kind @ ("response" | "error")] = segments.as_slice() {
                let body =
                    serde_json::from_slice(&body).unwrap_or(Value::String(String::from_utf8_lossy(&body).into()));
                if let Some(reply) = waiting.lock().unwrap().remove(*id) {
                    let _ = reply.send(Invocation { error: *kind == "error", body });
                }
            } else if path.ends_with("/init/error") {
                eprintln!("gateway init error: {}", String::from_utf8_lossy(&body));
            }
            "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}".to_owned()
        };
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// What the [`FaultProxy`] does to a request a rule matches.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Answers with this status and AWS error type (and `Retry-After`, when given) without forwarding.
    Answer { status: u16, error_type: &'static str, retry_after: Option<&'static str> },
    /// Forwards, then holds the upstream's answer this long before passing it on.
    Slow(Duration),
    /// Reads the request and resets the connection (TCP RST) without forwarding or answering.
    Reset,
    /// Forwards, then resets the connection instead of answering: the call happened, the caller cannot know.
    ResetAfterForward,
}

impl Fault {
    /// 429 `ThrottlingException` with `Retry-After`.
    pub fn throttle(retry_after: &'static str) -> Fault {
        Fault::Answer { status: 429, error_type: "ThrottlingException", retry_after: Some(retry_after) }
    }

    /// A 5xx answer.
    pub fn server_error(status: u16) -> Fault {
        Fault::Answer { status, error_type: "ServiceUnavailable", retry_after: None }
    }
}

/// Which requests a fault applies to: those whose `X-Amz-Target` equals `target` or whose path ends with it;
/// of those, every `every`-th (the 1st, (every+1)th, ...), at most `times` of them.
#[derive(Debug, Clone, Copy)]
pub struct FaultRule {
    /// `X-Amz-Target` value or path suffix.
    pub target: &'static str,
    /// What to do.
    pub fault: Fault,
    /// Apply to every `every`-th matching request.
    pub every: usize,
    /// Apply at most this many times.
    pub times: usize,
}

impl FaultRule {
    /// Every matching request.
    pub fn always(target: &'static str, fault: Fault) -> FaultRule {
        FaultRule { target, fault, every: 1, times: usize::MAX }
    }

    /// The first `times` matching requests.
    pub fn first(times: usize, target: &'static str, fault: Fault) -> FaultRule {
        FaultRule { target, fault, every: 1, times }
    }

    /// Every `every`-th matching request.
    pub fn every(every: usize, target: &'static str, fault: Fault) -> FaultRule {
        FaultRule { target, fault, every, times: usize::MAX }
    }
}

#[derive(Default)]
struct FaultState {
    rules: Vec<(FaultRule, usize, usize)>, // rule, matching requests seen, faults applied
    faulted: usize,
    forwarded: usize,
}

impl FaultState {
    fn fault_for(&mut self, request: &Request) -> Option<Fault> {
        let target = request.header("x-amz-target");
        let path = request.path().split('?').next().unwrap_or_default().to_owned();
        for (rule, seen, applied) in &mut self.rules {
            if target == Some(rule.target) || path.ends_with(rule.target) {
                let hit = *seen % rule.every == 0 && *applied < rule.times;
                *seen += 1;
                if hit {
                    *applied += 1;
                    self.faulted += 1;
                    return Some(rule.fault);
                }
            }
        }
        self.forwarded += 1;
        None
    }
}

/// A proxy in front of a stand-in that injects faults into the requests its rules match (throttling, server
/// errors, slow answers, connection resets) and forwards everything else; it counts what it did.
pub struct FaultProxy {
    port: u16,
    state: Arc<Mutex<FaultState>>,
}

impl FaultProxy {
    /// Listens on a free loopback port in front of `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str, rules: &[FaultRule]) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let state = Arc::new(Mutex::new(FaultState::default()));
        state.lock().unwrap().rules = rules.iter().map(|r| (*r, 0, 0)).collect();
        let shared = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (upstream, state) = (upstream.clone(), shared.clone());
                thread::spawn(move || proxy_connection(stream, &upstream, &state));
            }
        });
        FaultProxy { port, state }
    }

    /// The proxy's endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replaces the rules (an empty list heals the path).
    pub fn set_rules(&self, rules: &[FaultRule]) {
        self.state.lock().unwrap().rules = rules.iter().map(|r| (*r, 0, 0)).collect();
    }

    /// Requests that got a fault.
    pub fn faulted(&self) -> usize {
        self.state.lock().unwrap().faulted
    }

    /// Requests passed through untouched.
    pub fn forwarded(&self) -> usize {
        self.state.lock().unwrap().forwarded
    }
}

fn proxy_connection(stream: TcpStream, upstream: &str, state: &Mutex<FaultState>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        let fault = state.lock().unwrap().fault_for(&request);
        let response = match fault {
            None => forward(upstream, &request),
            Some(Fault::Answer { status, error_type, retry_after }) => {
                let body = format!(r#"{{"__type":"{error_type}","message":"injected by the fault proxy"}}"#);
                let retry_after = retry_after.map(|r| format!("Retry-After: {r}\r\n")).unwrap_or_default();
                format!(
                    "HTTP/1.1 {status} Injected\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-ErrorType: {error_type}\r\n{retry_after}Content-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            }
            Some(Fault::Slow(hold)) => {
                let response = forward(upstream, &request);
                thread::sleep(hold);
                response
            }
            Some(fault @ (Fault::Reset | Fault::ResetAfterForward)) => {
                if matches!(fault, Fault::ResetAfterForward) {
                    forward(upstream, &request);
                }
                // Linger 0: closing sends RST rather than FIN, as a dropped connection does.
                let _ = socket2::SockRef::from(&writer).set_linger(Some(Duration::ZERO));
                return;
            }
        };
        if writer.write_all(&response).is_err() {
            return;
        }
    }
}

/// Sends one request upstream on a fresh connection and returns the raw response.
pub(crate) fn forward(upstream: &str, request: &Request) -> Vec<u8> {
    let mut stream = TcpStream::connect(upstream).unwrap();
    let mut head = format!("{}\r\n", request.line);
    for (k, v) in &request.headers {
        if !k.eq_ignore_ascii_case("connection")
            && !k.eq_ignore_ascii_case("transfer-encoding")
            && !k.eq_ignore_ascii_case("content-length")
        {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", request.body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&request.body).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    response
}

fn read_exact(reader: &mut impl Read, length: usize) -> Vec<u8> {
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    body
}

fn read_chunked(reader: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        let _ = reader.read_line(&mut size);
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        let mut chunk = read_exact(reader, size + 2);
        chunk.truncate(size);
        body.extend(chunk);
        if size == 0 {
            return body;
        }
    }
}

/// The real gateway binary, running under a [`RuntimeApi`], with its stdout collected.
pub struct GatewayProcess {
    child: Child,
    runtime: RuntimeApi,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl GatewayProcess {
    /// Starts `binary` configured only through its environment: the stand-ins' endpoints and static test
    /// credentials, plus `extra` (policy, audit bus, ...).
    pub fn start(binary: &Path, standins: &Standins, extra: &[(&str, &str)]) -> GatewayProcess {
        let runtime = RuntimeApi::start();
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "stop-gateway")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .envs(standins.env())
            .envs(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("start the gateway binary");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let lines = stdout.clone();
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        GatewayProcess { child, runtime, stdout }
    }

    /// Invokes the gateway with one payload.
    pub fn invoke(&self, payload: &str) -> Invocation {
        self.runtime.invoke(payload)
    }

    /// Invokes the gateway with one payload and a function timeout of `timeout`.
    pub fn invoke_within(&self, payload: &str, timeout: Duration) -> Invocation {
        self.runtime
            .send_with_timeout(payload, timeout)
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("the gateway did not answer an invocation within {WAIT:?}"))
    }

    /// The runtime the gateway polls, to queue many events at once.
    pub fn runtime(&self) -> &RuntimeApi {
        &self.runtime
    }

    /// The audit log lines (`"target":"audit"`) written so far, waiting briefly for stragglers.
    pub fn audit_lines(&self, expect: usize) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let lines: Vec<Value> = self
                .stdout
                .lock()
                .unwrap()
                .iter()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|v| v["target"] == "audit")
                .collect();
            if lines.len() >= expect || started.elapsed() > Duration::from_secs(5) {
                return lines;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every stdout line so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// The gateway's process id (to read its CPU time from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example policy, rewritten for the stand-ins' account.
pub fn policy_for(account: &str) -> String {
    std::fs::read_to_string(repo().join("policy.example.toml")).unwrap().replace("111122223333", account)
}

/// A sample from `events/` with its account replaced and its target ARN set.
pub fn sample(name: &str, account: &str, target: Option<&str>) -> String {
    let text = std::fs::read_to_string(repo().join("events").join(name)).unwrap().replace("111122223333", account);
    let mut event: Value = serde_json::from_str(&text).unwrap();
    if let Some(target) = target {
        if event.get("detail-type").is_some() {
            event["detail"]["targetArn"] = Value::String(target.to_owned());
        } else {
            let encoded = event["isBase64Encoded"].as_bool().unwrap_or(false);
            let raw = event["body"].as_str().unwrap().to_owned();
            let raw = if encoded { decode_base64(&raw) } else { raw };
            let mut body: Value = serde_json::from_str(&raw).unwrap();
            body["targetArn"] = Value::String(target.to_owned());
            event["body"] = Value::String(body.to_string());
            event["isBase64Encoded"] = Value::Bool(false);
        }
    }
    event.to_string()
}

fn decode_base64(text: &str) -> String {
    use base64::Engine;
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(text).unwrap()).unwrap()
}

/// The JSON body of an answer: HTTP shapes carry it as a string.
pub fn body(invocation: &Invocation) -> Value {
    match invocation.body["body"].as_str() {
        Some(text) => serde_json::from_str(text).unwrap(),
        None => invocation.body.clone(),
    }
}

/// The outcome code of an answer.
pub fn outcome(invocation: &Invocation) -> String {
    let b = body(invocation);
    b["outcome"].as_str().or(b["error"]["code"].as_str()).unwrap_or("none").to_owned()
}
