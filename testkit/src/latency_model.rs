//! A latency model of AWS Step Functions, not a stand-in: an in-process, in-memory endpoint that serves only
//! the three calls the gateway makes (`ListExecutions`, `DescribeExecution`, `StopExecution`) and holds every
//! answer for a fixed, configured latency, so a benchmark can show how fast the gateway could go in AWS, which
//! the stand-in (moto, about 130 stops per second) cannot.
//!
//! What it models: the wire format (AWS JSON 1.0, `X-Amz-Target: AWSStepFunctions.<Op>`, the member names of
//! botocore's `stepfunctions/2016-11-23` model, dates as epoch seconds), the documented semantics of those
//! calls (a stop turns RUNNING into ABORTED with a stop date, a stop of an execution that already ended leaves
//! it as it is and still answers 200, an unknown execution is `ExecutionDoesNotExist`, lists are newest start
//! first and paged by `maxResults`/`nextToken`), calls served concurrently, and a per-call latency that is an
//! *assumption* of the caller's choosing. What it does not model: AWS's real latency distribution, its quotas
//! (put a `QuotaProxy` in front), eventual consistency, authentication, or any other operation or member.
//! It counts the StopExecution calls it receives per execution, so a benchmark can check each execution was
//! stopped exactly once.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};

use crate::raw_http::{Request, read_request};

/// The latency assumed by default: a typical in-region AWS API call, as seen from a Lambda function.
pub const ASSUMED_LATENCY: Duration = Duration::from_millis(30);

/// `maxResults` when the caller gives none (or 0), and the most it may ask for (`PageSize`, 0..=1000).
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// The statuses `ExecutionStatus` allows.
const STATUSES: [&str; 6] = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"];

#[derive(Debug, Clone)]
struct Execution {
    arn: String,
    machine: String,
    name: String,
    status: &'static str,
    start: f64,
    stop: Option<f64>,
}

impl Execution {
    /// The members `ExecutionListItem` and `DescribeExecutionOutput` share (the gateway reads no others).
    fn json(&self) -> Value {
        let mut out = json!({
            "executionArn": self.arn,
            "stateMachineArn": self.machine,
            "name": self.name,
            "status": self.status,
            "startDate": self.start,
        });
        if let Some(stop) = self.stop {
            out["stopDate"] = json!(stop);
        }
        out
    }

    /// List order: newest start first, ties by ARN.
    fn order(&self, start: f64, arn: &str) -> Ordering {
        start.total_cmp(&self.start).then_with(|| self.arn.as_str().cmp(arn))
    }
}

#[derive(Debug, Default)]
struct State {
    /// Every execution, in list order.
    executions: Vec<Execution>,
    /// StopExecution calls received, by the `executionArn` they named.
    stops: HashMap<String, usize>,
}

impl State {
    fn find(&mut self, arn: &str) -> Option<&mut Execution> {
        self.executions.iter_mut().find(|e| e.arn == arn)
    }
}

/// An answer: status code, error type (for `x-amzn-ErrorType`) and body.
type Answer = (u16, Option<&'static str>, Value);

fn error(status: u16, error_type: &'static str, message: String) -> Answer {
    (status, Some(error_type), json!({ "__type": error_type, "message": message }))
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// The in-memory Step Functions latency model, listening on a loopback port.
pub struct LatencyModel {
    port: u16,
    latency: Duration,
    state: Arc<Mutex<State>>,
}

impl LatencyModel {
    /// Listens on a free loopback port; every answer is written `latency` after its request was read.
    pub fn start(latency: Duration) -> LatencyModel {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let ids = Arc::new(AtomicU64::new(0));
        thread::spawn(move || {
            // One thread per connection, so calls are served concurrently and each waits out its own latency.
            for stream in listener.incoming().flatten() {
                let (state, ids) = (shared.clone(), ids.clone());
                thread::spawn(move || serve(stream, latency, &state, &ids));
            }
        });
        LatencyModel { port, latency, state }
    }

    /// The endpoint URL (for `AWS_ENDPOINT_URL_SFN`, or a `QuotaProxy`'s upstream).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The latency each answer is held for.
    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// Adds `count` RUNNING executions of `state_machine_arn` (`arn:aws:states:REGION:ACCOUNT:stateMachine:NAME`),
    /// started one millisecond apart and ending now; returns their ARNs, oldest first.
    pub fn seed_running(&self, state_machine_arn: &str, count: usize) -> Vec<String> {
        let prefix = state_machine_arn.replacen(":stateMachine:", ":execution:", 1);
        let now = now();
        let seeded: Vec<Execution> = (0..count)
            .map(|i| {
                let name = format!("model-{i:05}");
                Execution {
                    arn: format!("{prefix}:{name}"),
                    machine: state_machine_arn.to_owned(),
                    name,
                    status: "RUNNING",
                    start: now - (count - i) as f64 / 1000.0,
                    stop: None,
                }
            })
            .collect();
        let arns = seeded.iter().map(|e| e.arn.clone()).collect();
        let mut state = self.state.lock().unwrap();
        state.executions.extend(seeded);
        state.executions.sort_by(|a, b| a.order(b.start, &b.arn));
        arns
    }

    /// Ends a RUNNING execution as `status` (SUCCEEDED, FAILED, TIMED_OUT) now, as the execution itself would:
    /// for tests of a stop that races the end. Panics if the execution is unknown or not RUNNING.
    pub fn finish(&self, execution_arn: &str, status: &str) {
        let status = STATUSES.into_iter().find(|s| *s == status).expect("an ExecutionStatus");
        let mut state = self.state.lock().unwrap();
        let execution = state.find(execution_arn).expect("a seeded execution");
        assert_eq!(execution.status, "RUNNING", "only a RUNNING execution can finish");
        execution.status = status;
        execution.stop = Some(now());
    }

    /// StopExecution calls received, by the execution ARN they named (unknown ARNs included).
    pub fn stop_calls(&self) -> HashMap<String, usize> {
        self.state.lock().unwrap().stops.clone()
    }

    /// How many executions of `state_machine_arn` are in `status`.
    pub fn count(&self, state_machine_arn: &str, status: &str) -> usize {
        let state = self.state.lock().unwrap();
        state.executions.iter().filter(|e| e.machine == state_machine_arn && e.status == status).count()
    }
}

fn serve(stream: TcpStream, latency: Duration, state: &Mutex<State>, ids: &AtomicU64) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        // The call takes effect when it arrives; its answer is written after the latency.
        let (status, error_type, body) = answer(state, &request);
        thread::sleep(latency);
        let body = body.to_string();
        let reason = if status == 200 { "OK" } else { "Bad Request" };
        let error_header = error_type.map(|t| format!("x-amzn-ErrorType: {t}\r\n")).unwrap_or_default();
        let close = request.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.0\r\n{error_header}x-amzn-RequestId: latency-model-{}\r\nContent-Length: {}\r\n{}\r\n{body}",
            ids.fetch_add(1, AtomicOrdering::Relaxed),
            body.len(),
            if close { "Connection: close\r\n" } else { "" },
        );
        if writer.write_all(response.as_bytes()).is_err() || close {
            return;
        }
    }
}

/// Decodes the call and runs it against the state.
fn answer(state: &Mutex<State>, request: &Request) -> Answer {
    let target = request.header("x-amz-target").unwrap_or_default();
    let Some(op) = target.strip_prefix("AWSStepFunctions.") else {
        return error(400, "UnknownOperationException", format!("unknown target '{target}'"));
    };
    let Ok(input) = serde_json::from_slice::<Value>(&request.body) else {
        return error(400, "SerializationException", "the body is not a JSON document".into());
    };
    let mut state = state.lock().unwrap();
    match op {
        "ListExecutions" => list_executions(&state, &input),
        "DescribeExecution" | "StopExecution" => {
            let Some(arn) = input["executionArn"].as_str() else {
                return error(400, "ValidationException", "executionArn is required".into());
            };
            if op == "StopExecution" {
                *state.stops.entry(arn.to_owned()).or_insert(0) += 1;
            }
            let Some(execution) = state.find(arn) else {
                return error(400, "ExecutionDoesNotExist", format!("Execution Does Not Exist: '{arn}'"));
            };
            if op == "DescribeExecution" {
                return (200, None, execution.json());
            }
            // A stop of an execution that has already ended leaves it as it is and is answered like any other.
            let stopped = now();
            if execution.status == "RUNNING" {
                execution.status = "ABORTED";
                execution.stop = Some(stopped);
            }
            (200, None, json!({ "stopDate": stopped }))
        }
        _ => error(400, "UnknownOperationException", format!("the latency model does not serve {op}")),
    }
}

/// `ListExecutions` by `stateMachineArn`, with `statusFilter`, `maxResults` and `nextToken`.
fn list_executions(state: &State, input: &Value) -> Answer {
    let Some(machine) = input["stateMachineArn"].as_str() else {
        return error(400, "ValidationException", "stateMachineArn is required".into());
    };
    let filter = match input.get("statusFilter").and_then(Value::as_str) {
        None => None,
        Some(s) => match STATUSES.into_iter().find(|known| *known == s) {
            Some(known) => Some(known),
            None => return error(400, "ValidationException", format!("statusFilter '{s}' is not an ExecutionStatus")),
        },
    };
    let page = match input.get("maxResults").map(Value::as_u64) {
        None | Some(Some(0)) => DEFAULT_PAGE,
        Some(Some(n)) if n as usize <= MAX_PAGE => n as usize,
        Some(_) => return error(400, "ValidationException", format!("maxResults must be 0..={MAX_PAGE}")),
    };
    if !state.executions.iter().any(|e| e.machine == machine) {
        return error(400, "StateMachineDoesNotExist", format!("State Machine Does Not Exist: '{machine}'"));
    }
    // The token names the last execution returned (and the arguments it was returned for, which must not change).
    let after = match input.get("nextToken").and_then(Value::as_str) {
        None => None,
        Some(token) => match decode_token(token) {
            Some((m, f, start, arn)) if m == machine && f.as_deref() == filter => Some((start, arn)),
            _ => return error(400, "InvalidToken", "Invalid Token: the token is not one this list returned".into()),
        },
    };
    let mut matching = state.executions.iter().filter(|e| {
        e.machine == machine
            && filter.is_none_or(|f| e.status == f)
            && after.as_ref().is_none_or(|(start, arn)| e.order(*start, arn) == Ordering::Greater)
    });
    let listed: Vec<&Execution> = matching.by_ref().take(page).collect();
    let mut out = json!({ "executions": listed.iter().map(|e| e.json()).collect::<Vec<_>>() });
    if let (Some(last), Some(_)) = (listed.last(), matching.next()) {
        out["nextToken"] = json!(encode_token(machine, filter, last.start, &last.arn));
    }
    (200, None, out)
}

fn encode_token(machine: &str, filter: Option<&str>, start: f64, arn: &str) -> String {
    let raw = json!([machine, filter, start.to_bits(), arn]).to_string();
    base64::engine::general_purpose::STANDARD.encode(raw)
}

fn decode_token(token: &str) -> Option<(String, Option<String>, f64, String)> {
    let raw = base64::engine::general_purpose::STANDARD.decode(token).ok()?;
    let Value::Array(parts) = serde_json::from_slice(&raw).ok()? else { return None };
    let [machine, filter, start, arn] = parts.as_slice() else { return None };
    Some((
        machine.as_str()?.to_owned(),
        filter.as_str().map(str::to_owned),
        f64::from_bits(start.as_u64()?),
        arn.as_str()?.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:orders-model";

    /// A keep-alive connection to the model.
    struct Client {
        reader: BufReader<TcpStream>,
        writer: TcpStream,
    }

    impl Client {
        fn connect(model: &LatencyModel) -> Client {
            let stream = TcpStream::connect(model.endpoint().trim_start_matches("http://")).unwrap();
            Client { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream }
        }

        /// Calls `op` with `input`; returns the status code, the `x-amzn-ErrorType` header and the JSON body.
        fn call(&mut self, op: &str, input: Value) -> (u16, Option<String>, Value) {
            let body = input.to_string();
            let request = format!(
                "POST / HTTP/1.1\r\nHost: states\r\nX-Amz-Target: AWSStepFunctions.{op}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            self.writer.write_all(request.as_bytes()).unwrap();
            // A response reads like a request: a first line, headers, a Content-Length body.
            let response = read_request(&mut self.reader).expect("an answer");
            assert_eq!(response.header("content-type"), Some("application/x-amz-json-1.0"));
            let status = response.line[9..12].parse().unwrap();
            let error = response.header("x-amzn-ErrorType").map(str::to_owned);
            (status, error, serde_json::from_slice(&response.body).unwrap())
        }
    }

    fn arns(page: &Value) -> Vec<String> {
        page["executions"].as_array().unwrap().iter().map(|e| e["executionArn"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn lists_newest_start_first_in_pages_filtered_by_status() {
        let model = LatencyModel::start(Duration::ZERO);
        let seeded = model.seed_running(MACHINE, 5);
        let newest_first: Vec<String> = seeded.iter().rev().cloned().collect();
        let mut client = Client::connect(&model);
        let (status, _, first) = client
            .call("ListExecutions", json!({"stateMachineArn": MACHINE, "statusFilter": "RUNNING", "maxResults": 2}));
        assert_eq!(status, 200);
        assert_eq!(arns(&first), newest_first[..2]);
        let item = &first["executions"][0];
        assert_eq!((item["stateMachineArn"].as_str(), item["status"].as_str()), (Some(MACHINE), Some("RUNNING")));
        assert!(item["startDate"].is_f64() && item.get("stopDate").is_none() && item["name"].is_string(), "{item}");
        let token = first["nextToken"].as_str().unwrap();
        let (_, _, rest) = client.call(
            "ListExecutions",
            json!({"stateMachineArn": MACHINE, "statusFilter": "RUNNING", "maxResults": 1000, "nextToken": token}),
        );
        assert_eq!(arns(&rest), newest_first[2..]);
        assert!(rest.get("nextToken").is_none(), "the last page has no token");
        let (_, _, aborted) =
            client.call("ListExecutions", json!({"stateMachineArn": MACHINE, "statusFilter": "ABORTED"}));
        assert_eq!(aborted, json!({"executions": []}));
        // A token is only good for the arguments it was returned for.
        let (status, error, _) = client
            .call("ListExecutions", json!({"stateMachineArn": MACHINE, "statusFilter": "ABORTED", "nextToken": token}));
        assert_eq!((status, error.as_deref()), (400, Some("InvalidToken")));
        let other = MACHINE.replace("orders-model", "nothing-here");
        let (status, error, _) = client.call("ListExecutions", json!({"stateMachineArn": other}));
        assert_eq!((status, error.as_deref()), (400, Some("StateMachineDoesNotExist")));
    }

    #[test]
    fn a_stop_aborts_a_running_execution_and_leaves_an_ended_one_as_it_is() {
        let model = LatencyModel::start(Duration::ZERO);
        let [running, ended]: [String; 2] = model.seed_running(MACHINE, 2).try_into().unwrap();
        model.finish(&ended, "SUCCEEDED");
        let mut client = Client::connect(&model);
        let (_, _, before) = client.call("DescribeExecution", json!({"executionArn": ended}));
        let t0 = now();
        let (status, error, stop) =
            client.call("StopExecution", json!({"executionArn": running, "error": "E", "cause": "C"}));
        assert_eq!((status, error), (200, None));
        assert!(stop["stopDate"].as_f64().unwrap() >= t0, "{stop}");
        let (_, _, described) = client.call("DescribeExecution", json!({"executionArn": running}));
        assert_eq!(described["status"], "ABORTED");
        assert_eq!(described["stopDate"], stop["stopDate"]);
        assert_eq!(
            (described["executionArn"].as_str(), described["stateMachineArn"].as_str()),
            (Some(&*running), Some(MACHINE))
        );
        // A stop racing the end: answered 200, the execution stays SUCCEEDED with its own stop date.
        let (status, _, _) = client.call("StopExecution", json!({"executionArn": ended}));
        assert_eq!(status, 200);
        let (_, _, after) = client.call("DescribeExecution", json!({"executionArn": ended}));
        assert_eq!((after["status"].as_str(), &after["stopDate"]), (Some("SUCCEEDED"), &before["stopDate"]));
        // ListExecutions(ABORTED) shows the stopped one, with its stop date.
        let (_, _, aborted) =
            client.call("ListExecutions", json!({"stateMachineArn": MACHINE, "statusFilter": "ABORTED"}));
        assert_eq!(arns(&aborted), [running]);
        assert_eq!(aborted["executions"][0]["stopDate"], stop["stopDate"]);
        assert_eq!((model.count(MACHINE, "ABORTED"), model.count(MACHINE, "SUCCEEDED")), (1, 1));
    }

    #[test]
    fn an_unknown_execution_is_execution_does_not_exist() {
        let model = LatencyModel::start(Duration::ZERO);
        model.seed_running(MACHINE, 1);
        let mut client = Client::connect(&model);
        let missing = MACHINE.replace(":stateMachine:", ":execution:") + ":missing";
        for op in ["DescribeExecution", "StopExecution"] {
            let (status, error, body) = client.call(op, json!({"executionArn": missing}));
            assert_eq!((status, error.as_deref()), (400, Some("ExecutionDoesNotExist")), "{op}");
            assert_eq!(body["__type"], "ExecutionDoesNotExist");
            assert!(body["message"].as_str().unwrap().contains(&missing));
        }
        let (status, error, _) = client.call("StartExecution", json!({"stateMachineArn": MACHINE}));
        assert_eq!((status, error.as_deref()), (400, Some("UnknownOperationException")), "nothing else is served");
    }

    #[test]
    fn counts_stop_calls_per_execution() {
        let model = LatencyModel::start(Duration::ZERO);
        let [a, b, c]: [String; 3] = model.seed_running(MACHINE, 3).try_into().unwrap();
        let mut client = Client::connect(&model);
        for arn in [&a, &b, &b] {
            client.call("StopExecution", json!({"executionArn": arn}));
        }
        client.call("DescribeExecution", json!({"executionArn": c}));
        let stops = model.stop_calls();
        assert_eq!((stops.get(&a), stops.get(&b), stops.get(&c)), (Some(&1), Some(&2), None));
    }

    #[test]
    fn the_aws_sdk_reads_every_answer() {
        use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
        use aws_sdk_sfn::types::ExecutionStatus;
        let model = LatencyModel::start(Duration::ZERO);
        let [first, second]: [String; 2] = model.seed_running(MACHINE, 2).try_into().unwrap();
        let conf = aws_sdk_sfn::Config::builder()
            .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
            .region(aws_sdk_sfn::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sfn::config::Credentials::new("model", "model", None, None, "model"))
            .endpoint_url(model.endpoint())
            .http_client(stop_gateway::aws::sdk::https_client(None))
            .build();
        let client = aws_sdk_sfn::Client::from_conf(conf);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let page = client.list_executions().state_machine_arn(MACHINE).max_results(1).send().await.unwrap();
            assert_eq!(page.executions()[0].execution_arn(), second, "newest start first");
            assert!(page.next_token().is_some());
            let stop = client.stop_execution().execution_arn(&first).error("E").send().await.unwrap();
            let described = client.describe_execution().execution_arn(&first).send().await.unwrap();
            assert_eq!(*described.status(), ExecutionStatus::Aborted);
            assert_eq!(described.stop_date(), Some(stop.stop_date()));
            let aborted = client
                .list_executions()
                .state_machine_arn(MACHINE)
                .status_filter(ExecutionStatus::Aborted)
                .send()
                .await
                .unwrap();
            assert_eq!(aborted.executions().len(), 1);
            assert_eq!(aborted.executions()[0].stop_date(), Some(stop.stop_date()));
            let missing = client.describe_execution().execution_arn(format!("{first}-missing")).send().await;
            let error = missing.unwrap_err().into_service_error();
            assert!(matches!(error, DescribeExecutionError::ExecutionDoesNotExist(_)), "{error:?}");
        });
    }

    #[test]
    fn answers_after_the_latency_and_serves_calls_concurrently() {
        let latency = Duration::from_millis(100);
        let model = Arc::new(LatencyModel::start(latency));
        let arns = model.seed_running(MACHINE, 8);
        let started = Instant::now();
        let calls: Vec<_> = arns
            .into_iter()
            .map(|arn| {
                let model = model.clone();
                thread::spawn(move || Client::connect(&model).call("StopExecution", json!({"executionArn": arn})).0)
            })
            .collect();
        assert!(calls.into_iter().all(|c| c.join().unwrap() == 200));
        let elapsed = started.elapsed();
        assert!(elapsed >= latency, "held for the latency: {elapsed:?}");
        assert!(elapsed < latency * 4, "8 calls at once took {elapsed:?}, not 8 latencies");
        assert_eq!(model.count(MACHINE, "ABORTED"), 8);
    }
}
