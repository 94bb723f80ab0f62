//! The real gateway binary as a process under a [`RuntimeApi`], configured only through its environment (the
//! stand-ins' endpoints, static test credentials, the policy), with its stdout collected; and the samples a test
//! sends it (`events/`, the example policy) and reads back from its answers.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::runtime_api::{Invocation, RuntimeApi};
use crate::standins::Standins;
use crate::{WAIT, repo};

/// The real gateway binary, running under a [`RuntimeApi`], with its stdout collected.
pub struct GatewayProcess {
    /// Behind a lock so that whoever shares the process (an [`ApiFront`](crate::api_front::ApiFront)) can stop it.
    child: Mutex<Child>,
    runtime: RuntimeApi,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl GatewayProcess {
    /// Starts `binary` configured only through its environment: the stand-ins' endpoints and static test
    /// credentials, plus `extra` (policy, audit bus, ...).
    pub fn start(binary: &Path, standins: &Standins, extra: &[(&str, &str)]) -> GatewayProcess {
        GatewayProcess::start_as(binary, standins, crate::runtime_api::FUNCTION_ARN, extra)
    }

    /// As [`start`](Self::start), with the Runtime API telling the gateway it is `function_arn`: its account is
    /// the one the gateway takes as its own.
    pub fn start_as(binary: &Path, standins: &Standins, function_arn: &str, extra: &[(&str, &str)]) -> GatewayProcess {
        let runtime = RuntimeApi::start_as(function_arn);
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
        GatewayProcess { child: Mutex::new(child), runtime, stdout }
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
        self.child.lock().unwrap().id()
    }

    /// Kills the gateway now (it is also killed when dropped): for an owner that shares it with threads that may
    /// outlive the test.
    pub fn stop(&self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = child.kill();
        let _ = child.wait();
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

/// Now, as EventBridge stamps an event's `time`: RFC 3339 in whole seconds.
fn event_time_now() -> String {
    use aws_smithy_types::{DateTime, date_time::Format};
    DateTime::from_secs(DateTime::from(std::time::SystemTime::now()).secs()).fmt(Format::DateTime).unwrap()
}

/// A sample from `events/` for `account`, stamped now.
fn sample_now(name: &str, account: &str) -> Value {
    let text = std::fs::read_to_string(repo().join("events").join(name)).unwrap().replace("111122223333", account);
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["time"] = Value::String(event_time_now());
    event
}

/// A Step Functions `Execution Status Change` event (RUNNING) for `execution`, as EventBridge delivers it now.
pub fn status_change_now(account: &str, execution: &str) -> String {
    let mut event = sample_now("sfn-status-change-running.json", account);
    let (machine, name) = execution.rsplit_once(':').unwrap();
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    event["resources"] = serde_json::json!([execution]);
    let detail = &mut event["detail"];
    detail["executionArn"] = Value::from(execution);
    detail["stateMachineArn"] = Value::from(machine.replace(":execution:", ":stateMachine:"));
    detail["name"] = Value::from(name);
    detail["startDate"] = Value::from(started);
    event.to_string()
}

/// The latch sweep's `Scheduled Event`, as EventBridge delivers it now.
pub fn sweep_now(account: &str) -> String {
    sample_now("schedule-latch-sweep.json", account).to_string()
}

/// The `CloudWatch Alarm State Change` event EventBridge delivers when a metric alarm moves from `previous` to
/// `alarm`, each as [`Standins::alarm_describe`] reports it; the alarm's metric and its dimensions are the event's
/// configuration.
pub fn alarm_state_change(previous: &Value, alarm: &Value) -> String {
    use aws_smithy_types::{DateTime, date_time::Format};
    let arn = alarm["AlarmArn"].as_str().unwrap();
    let fields: Vec<&str> = arn.split(':').collect(); // arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME
    let at = |a: &Value| DateTime::from_str(a["StateUpdatedTimestamp"].as_str().unwrap(), Format::DateTime).unwrap();
    let seconds = |t: DateTime| DateTime::from_secs(t.secs()).fmt(Format::DateTime).unwrap();
    // CloudWatch writes a state's time with milliseconds and a numeric offset: 2026-11-21T03:12:45.123+0000.
    let stamp = |t: DateTime| format!("{}.{:03}+0000", seconds(t).trim_end_matches('Z'), t.subsec_nanos() / 1_000_000);
    let state = |a: &Value| {
        let timestamp = stamp(at(a));
        serde_json::json!({"value": a["StateValue"], "reason": a["StateReason"], "timestamp": timestamp})
    };
    let dimensions: serde_json::Map<String, Value> = alarm["Dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["Name"].as_str().unwrap().to_owned(), d["Value"].clone()))
        .collect();
    let metric =
        serde_json::json!({"namespace": alarm["Namespace"], "name": alarm["MetricName"], "dimensions": dimensions});
    let id = format!("{:032x}", crate::unique());
    serde_json::json!({
        "version": "0",
        "id": format!("{}-{}-{}-{}-{}", &id[..8], &id[8..12], &id[12..16], &id[16..20], &id[20..]),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": fields[4],
        "time": seconds(at(alarm)),
        "region": fields[3],
        "resources": [arn],
        "detail": {
            "alarmName": alarm["AlarmName"],
            "state": state(alarm),
            "previousState": state(previous),
            "configuration": {"metrics": [{
                "id": "m1",
                "metricStat": {"metric": metric, "period": alarm["Period"], "stat": alarm["Statistic"]},
                "returnData": true,
            }]},
        },
    })
    .to_string()
}
