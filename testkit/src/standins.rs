//! The local AWS stand-ins as a test sees them: moto and AWS's durable-functions server behind their proxies,
//! started and stopped as one Python process (`python -m standins up`), and read and driven from here through the
//! AWS SDK for Rust and the proxies' own HTTP endpoints (`/_recorded`, `/_finish`, `/_pause`, `/_aliases/...`), so
//! a query costs no process.
//!
//! Every wait is bounded by [`WAIT`] and names what did not answer. The stand-ins stop when this handle drops, and
//! also when our end of their stdin closes, which covers a test process that dies.

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::channel;
use std::thread;
use std::time::{Duration, Instant};

use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_types::SdkConfig;
use serde_json::{Value, json};

use crate::raw_http::call;
use crate::{WAIT, repo, unique};

/// The project's virtualenv Python, installed by `standins/setup.sh`.
pub fn python() -> PathBuf {
    let python = repo().join(".venv/bin/python");
    assert!(
        python.exists(),
        "the local AWS stand-ins are not installed: run standins/setup.sh (scripts/test does it for you)"
    );
    python
}

/// `python -m standins ARGS`, run from the repository root (where the package is).
fn standins_command(args: &[&str]) -> Command {
    let mut command = Command::new(python());
    command.args(["-m", "standins"]).args(args).current_dir(repo());
    command
}

/// A running set of stand-ins (moto, the durable-functions server, their proxies).
pub struct Standins {
    /// SDK settings per account: the default account's static credentials, other accounts' assumed-role ones.
    accounts: Mutex<HashMap<String, SdkConfig>>,
    /// Drives the SDK calls; declared after what uses it, so it is dropped last.
    runtime: tokio::runtime::Runtime,
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
        let mut child = standins_command(&["up", "--until-stdin-eof", "--timeout", "30", "--state"])
            .arg(&state_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python -m standins up");
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
        // One worker for the SDK's connections; each helper's own future runs on the calling test's thread.
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let home = home_config(&state);
        let accounts = Mutex::new(HashMap::from([(state["account_id"].as_str().unwrap().to_owned(), home)]));
        Standins { accounts, runtime, child, _stdin: stdin, state_file, state }
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

    /// A stand-in's endpoint from the state (`moto`, `moto_proxy`, `durable_adapter`).
    pub(crate) fn endpoint(&self, standin: &str) -> String {
        self.state[standin]["endpoint"].as_str().unwrap().to_owned()
    }

    /// Runs one SDK exchange with the stand-ins to its end, bounded by [`WAIT`].
    pub(crate) fn block_on<T>(&self, what: &str, exchange: impl Future<Output = T>) -> T {
        // The timer is made inside the runtime: it needs the runtime's clock.
        self.runtime
            .block_on(async { tokio::time::timeout(WAIT, exchange).await })
            .unwrap_or_else(|_| panic!("{what}: the stand-ins did not answer within {WAIT:?}"))
    }

    /// The SDK settings for `account` (`None`: the default one). Another account's come from moto's STS, as the
    /// Python helper gets them: moto keeps resources per account and picks the account by access key.
    pub(crate) fn sdk(&self, account: Option<&str>) -> SdkConfig {
        let account = account.map_or_else(|| self.account(), str::to_owned);
        if let Some(known) = self.accounts.lock().unwrap().get(&account) {
            return known.clone();
        }
        let home = self.sdk(None);
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&home).endpoint_url(self.endpoint("moto")).build(),
        );
        let role = format!("arn:aws:iam::{account}:role/standins");
        let assumed =
            self.block_on("AssumeRole", sts.assume_role().role_arn(&role).role_session_name("standins").send());
        let assumed = must(&format!("AssumeRole {role}"), assumed);
        let c = assumed.credentials().unwrap();
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "moto-sts",
        );
        let config = home.to_builder().credentials_provider(SharedCredentialsProvider::new(credentials)).build();
        self.accounts.lock().unwrap().insert(account, config.clone());
        config
    }
}

/// The default account's SDK settings: static test credentials, the stand-ins' region, and the gateway's own HTTP
/// client (plain HTTP to loopback; one connection pool for every client built from these settings).
fn home_config(state: &Value) -> SdkConfig {
    let credentials = Credentials::new("testing", "testing", None, None, "standins");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(state["region"].as_str().unwrap().to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(stop_gateway::aws::sdk::https_client(None))
        .build()
}

/// The value of an exchange with the stand-ins, or a panic naming it with the whole error chain (the test's
/// failure report).
pub(crate) fn must<T, E: std::error::Error>(what: &str, result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| panic!("{what} at the stand-ins: {}", DisplayErrorContext(&e)))
}

/// The account an ARN names (`arn:PARTITION:SERVICE:REGION:ACCOUNT:...`).
fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// An audit bus at the stand-in and the queue its events are copied to.
pub struct AuditBus {
    /// Bus name, for `AUDIT_EVENT_BUS`.
    pub name: String,
    /// Queue the bus's rule targets.
    pub queue_url: String,
}

/// Step Functions (moto, behind the moto proxy).
impl Standins {
    /// The default account's SDK settings with a connection pool of their own, for a caller that drives its
    /// clients on a runtime of its own: a pooled connection must not outlive the runtime its task runs on.
    /// Endpoints are the caller's to set, per service.
    pub fn sdk_config(&self) -> SdkConfig {
        self.sdk(None).to_builder().http_client(stop_gateway::aws::sdk::https_client(None)).build()
    }

    /// A Step Functions client pointed straight at the stand-in, to read the truth back.
    pub fn sfn_client(&self) -> aws_sdk_sfn::Client {
        let conf = aws_sdk_sfn::config::Builder::from(&self.sdk_config()).endpoint_url(self.endpoint("moto_proxy"));
        aws_sdk_sfn::Client::from_conf(conf.build())
    }

    fn sfn_in(&self, account: Option<&str>, endpoint: &str) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::from_conf(
            aws_sdk_sfn::config::Builder::from(&self.sdk(account)).endpoint_url(endpoint).build(),
        )
    }

    /// Starts `count` RUNNING executions of a new state machine named `name`.
    pub fn sfn_start(&self, name: &str, count: usize) -> Vec<String> {
        self.start_executions(None, name, count)
    }

    /// Starts `count` RUNNING executions of a new state machine named `name` in `account` (moto keeps resources
    /// per account; another account's are invisible from the default one).
    pub fn sfn_start_in(&self, account: &str, name: &str, count: usize) -> Vec<String> {
        self.start_executions(Some(account), name, count)
    }

    /// A state machine (a one-hour Wait, so its executions stay RUNNING) and `count` executions of it, made in moto
    /// directly. They are numbered after the machine's existing executions, so starting more never collides.
    fn start_executions(&self, account: Option<&str>, name: &str, count: usize) -> Vec<String> {
        let sfn = self.sfn_in(account, &self.endpoint("moto"));
        let definition = json!({"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 3600, "End": true}}});
        let role =
            format!("arn:aws:iam::{}:role/stop-gateway-test", account.map_or_else(|| self.account(), str::to_owned));
        self.block_on("sfn-start", async {
            let create = sfn.create_state_machine().name(name).definition(definition.to_string()).role_arn(role);
            let machine = must("CreateStateMachine", create.send().await).state_machine_arn().to_owned();
            let listed = sfn.list_executions().state_machine_arn(&machine).max_results(1000).send().await;
            let first = must("ListExecutions", listed).executions().len();
            let mut arns = Vec::with_capacity(count);
            for i in first..first + count {
                let start = sfn.start_execution().state_machine_arn(&machine).name(format!("{name}-{i}"));
                arns.push(must("StartExecution", start.send().await).execution_arn().to_owned());
            }
            arns
        })
    }

    /// The status of an execution, as the stand-in reports it (read in the account its ARN names).
    pub fn sfn_status(&self, arn: &str) -> String {
        // Through the proxy, which knows the executions a test finished; METADATA_ONLY, as the gateway asks: an
        // encrypted execution's data would need kms:Decrypt.
        let sfn = self.sfn_in(account_of(arn), &self.endpoint("moto_proxy"));
        let describe =
            sfn.describe_execution().execution_arn(arn).included_data(aws_sdk_sfn::types::IncludedData::MetadataOnly);
        let described = must("DescribeExecution", self.block_on("sfn-status", describe.send()));
        described.status().as_str().to_owned()
    }

    /// Ends a RUNNING execution as SUCCEEDED at the stand-in (the moto proxy's stop-after-end shim: moto itself
    /// cannot end an execution); a later StopExecution leaves it SUCCEEDED and still answers 200.
    pub fn sfn_finish(&self, arn: &str) {
        let url = format!("{}/_finish", self.endpoint("moto_proxy"));
        let (status, answer) = call("POST", &url, Some(&json!({"executionArn": arn, "status": "SUCCEEDED"})));
        assert_eq!(status, 200, "finish {arn} at the stand-in: {answer}");
    }

    /// How many executions of a state machine are in `status` at the stand-in.
    pub fn sfn_count(&self, state_machine: &str, status: aws_sdk_sfn::types::ExecutionStatus) -> usize {
        let client = self.sfn_in(None, &self.endpoint("moto_proxy"));
        let arn = format!("arn:aws:states:us-east-1:{}:stateMachine:{state_machine}", self.account());
        self.block_on("ListExecutions", async {
            let mut count = 0;
            let mut token = None;
            loop {
                let list = client.list_executions().state_machine_arn(&arn).status_filter(status.clone());
                let page = must("ListExecutions", list.set_next_token(token).send().await);
                count += page.executions().len();
                token = page.next_token().map(str::to_owned);
                if token.is_none() {
                    return count;
                }
            }
        })
    }

    /// Every StopExecution the moto proxy recorded, as it arrived.
    fn sfn_recorded(&self) -> Vec<Value> {
        recorded(&self.endpoint("moto_proxy"))
    }

    /// StopExecution bodies that reached the stand-in for this execution.
    pub fn sfn_stops(&self, arn: &str) -> Vec<Value> {
        let all = self.sfn_recorded();
        all.into_iter().filter(|r| r["body"]["executionArn"] == arn).map(|r| r["body"].clone()).collect()
    }

    /// Who made each StopExecution of this execution that used assumed-role credentials
    /// (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`, as moto's STS names the caller).
    pub fn sfn_stop_callers(&self, arn: &str) -> Vec<String> {
        let all = self.sfn_recorded();
        let stops = all.iter().filter(|r| r["body"]["executionArn"] == arn);
        stops.filter_map(|r| r["caller"].as_str().map(str::to_owned)).collect()
    }

    /// StopExecution bodies recorded for executions of `state_machine`, by execution ARN.
    pub fn sfn_stops_by_execution(&self, state_machine: &str) -> HashMap<String, usize> {
        let mut by_arn = HashMap::new();
        for r in self.sfn_recorded() {
            let arn = r["body"]["executionArn"].as_str().unwrap_or_default();
            if arn.contains(&format!(":execution:{state_machine}:")) {
                *by_arn.entry(arn.to_owned()).or_insert(0) += 1;
            }
        }
        by_arn
    }
}

/// A proxy's recording of the stop requests it received (`GET /_recorded`).
fn recorded(proxy: &str) -> Vec<Value> {
    let (status, answer) = call("GET", &format!("{proxy}/_recorded"), None);
    assert_eq!(status, 200, "the recorded stops at {proxy}: {answer}");
    answer.as_array().cloned().unwrap_or_default()
}

/// Durable executions (AWS's durable-functions server, behind the durable adapter).
impl Standins {
    fn lambda(&self) -> aws_sdk_lambda::Client {
        let conf =
            aws_sdk_lambda::config::Builder::from(&self.sdk(None)).endpoint_url(self.endpoint("durable_adapter"));
        aws_sdk_lambda::Client::from_conf(conf.build())
    }

    /// Starts `count` RUNNING durable executions of `function`.
    pub fn durable_start(&self, function: &str, count: usize) -> Vec<String> {
        (0..count).map(|_| self.start_durable(json!({"FunctionName": function}))).collect()
    }

    /// Starts `count` RUNNING durable executions of `function` on `qualifier` (a version or `$LATEST`).
    pub fn durable_start_on(&self, function: &str, qualifier: &str, count: usize) -> Vec<String> {
        let start = json!({"FunctionName": function, "FunctionQualifier": qualifier});
        (0..count).map(|_| self.start_durable(start.clone())).collect()
    }

    /// One execution of the hosted `hold` function, through the adapter's start route (the server's own, with
    /// defaults filled in); its real-form ARN.
    fn start_durable(&self, start: Value) -> String {
        let url = format!("{}/start-durable-execution", self.endpoint("durable_adapter"));
        let (status, answer) = call("POST", &url, Some(&start));
        assert_eq!(status, 201, "durable start {start} at the stand-in: {answer}");
        answer["ExecutionArn"].as_str().unwrap().to_owned()
    }

    /// Marks a durable execution PAUSED (the stand-in's pause shim).
    pub fn durable_pause(&self, arn: &str) {
        let url = format!("{}/_pause", self.endpoint("durable_adapter"));
        let (status, answer) = call("POST", &url, Some(&json!({"DurableExecutionArn": arn})));
        assert_eq!(status, 200, "pause {arn} at the stand-in: {answer}");
    }

    /// Defines `alias` of `function` pointing at `version`, with weighted routing to `weighted` (`V=W`).
    pub fn durable_alias(&self, function: &str, alias: &str, version: &str, weighted: &[&str]) {
        let weights: serde_json::Map<String, Value> = weighted
            .iter()
            .map(|w| {
                let (v, weight) = w.split_once('=').unwrap_or_else(|| panic!("a weight is VERSION=WEIGHT: {w}"));
                (v.to_owned(), Value::from(weight.parse::<f64>().unwrap()))
            })
            .collect();
        let config = json!({"FunctionVersion": version, "AdditionalVersionWeights": weights});
        let url = format!("{}/_aliases/{}/{}", self.endpoint("durable_adapter"), encode(function), encode(alias));
        let (status, answer) = call("PUT", &url, Some(&config));
        assert_eq!(status, 200, "alias {function}:{alias} at the stand-in: {answer}");
    }

    /// `GetDurableExecution` as the stand-in answers it, in the real API's field names (timestamps as epoch
    /// seconds).
    pub fn durable_status(&self, arn: &str) -> Value {
        let got = self
            .block_on("GetDurableExecution", self.lambda().get_durable_execution().durable_execution_arn(arn).send());
        let got = must(&format!("GetDurableExecution {arn}"), got);
        let mut out = json!({
            "DurableExecutionArn": got.durable_execution_arn(),
            "DurableExecutionName": got.durable_execution_name(),
            "FunctionArn": got.function_arn(),
            "Status": got.status().as_str(),
            "StartTimestamp": got.start_timestamp().as_secs_f64(),
        });
        let optional = [
            ("EndTimestamp", got.end_timestamp().map(|t| Value::from(t.as_secs_f64()))),
            ("InputPayload", got.input_payload().map(Value::from)),
            ("Result", got.result().map(Value::from)),
            ("Version", got.version().map(Value::from)),
            ("Error", got.error().map(error_object)),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                out[name] = value;
            }
        }
        out
    }

    /// How many durable executions of `function` are in `status` at the stand-in.
    pub fn durable_count(&self, function: &str, status: &str) -> usize {
        let lambda = self.lambda();
        let status = aws_sdk_lambda::types::ExecutionStatus::from(status);
        self.block_on("ListDurableExecutionsByFunction", async {
            let (mut count, mut marker) = (0, None);
            loop {
                let list =
                    lambda.list_durable_executions_by_function().function_name(function).statuses(status.clone());
                let page = must("ListDurableExecutionsByFunction", list.set_marker(marker).send().await);
                count += page.durable_executions().len();
                marker = page.next_marker().map(str::to_owned);
                if marker.is_none() {
                    return count;
                }
            }
        })
    }

    /// Stop bodies (bare ErrorObjects) that reached the stand-in for this durable execution.
    pub fn durable_stops(&self, arn: &str) -> Vec<Value> {
        let all = recorded(&self.endpoint("durable_adapter"));
        all.into_iter().filter(|r| r["arn"] == arn).map(|r| r["body"].clone()).collect()
    }
}

/// An `ErrorObject` in the real API's field names.
fn error_object(error: &aws_sdk_lambda::types::ErrorObject) -> Value {
    let mut out = serde_json::Map::new();
    let fields =
        [("ErrorMessage", error.error_message()), ("ErrorType", error.error_type()), ("ErrorData", error.error_data())];
    for (name, value) in fields {
        if let Some(value) = value {
            out.insert(name.to_owned(), Value::from(value));
        }
    }
    if !error.stack_trace().is_empty() {
        out.insert("StackTrace".to_owned(), Value::from(error.stack_trace().to_vec()));
    }
    Value::Object(out)
}

/// A path segment percent-encoded, as the Python helper quotes it (every byte but the unreserved ones).
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// CloudWatch alarms (moto, through the moto proxy's CBOR shim) and SSM parameters (moto).
impl Standins {
    fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        // The proxy: the Rust SDK speaks CloudWatch's RPC v2 CBOR protocol, which only the proxy's shim serves.
        let conf = aws_sdk_cloudwatch::config::Builder::from(&self.sdk(None)).endpoint_url(self.endpoint("moto_proxy"));
        aws_sdk_cloudwatch::Client::from_conf(conf.build())
    }

    /// Creates (or replaces) a metric alarm `name` with these metric dimensions and tags; returns its ARN.
    pub fn alarm_put(&self, name: &str, dimensions: &[(&str, &str)], tags: &[(&str, &str)]) -> String {
        use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic, Tag};
        let cw = self.cloudwatch();
        let mut put = cw
            .put_metric_alarm()
            .alarm_name(name)
            .metric_name("Errors")
            .namespace("StopGateway/Test")
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold);
        for (k, v) in dimensions {
            put = put.dimensions(Dimension::builder().name(*k).value(*v).build());
        }
        for (k, v) in tags {
            put = put.tags(Tag::builder().key(*k).value(*v).build());
        }
        self.block_on("alarm-put", async {
            must("PutMetricAlarm", put.send().await);
            let described = must("DescribeAlarms", cw.describe_alarms().alarm_names(name).send().await);
            described.metric_alarms()[0].alarm_arn().unwrap().to_owned()
        })
    }

    /// Sets an alarm's state (`ALARM`, `OK`, `INSUFFICIENT_DATA`).
    pub fn alarm_state(&self, name: &str, state: &str) {
        let set = self.cloudwatch().set_alarm_state().alarm_name(name).state_value(state.into());
        must("SetAlarmState", self.block_on("alarm-state", set.state_reason(format!("test set {state}")).send()));
    }

    /// Sets an alarm's state with `reason` as CloudWatch's state reason (what the alarm's event will carry).
    pub fn alarm_state_because(&self, name: &str, state: &str, reason: &str) {
        let set = self.cloudwatch().set_alarm_state().alarm_name(name).state_value(state.into()).state_reason(reason);
        must("SetAlarmState", self.block_on("alarm-state", set.send()));
    }

    /// A metric alarm as the stand-in answers `DescribeAlarms`, in the API's field names (timestamps in RFC 3339):
    /// what an EventBridge `CloudWatch Alarm State Change` event about it is built from.
    pub fn alarm_describe(&self, name: &str) -> Value {
        use aws_smithy_types::date_time::Format;
        let described = self.block_on("alarm-describe", self.cloudwatch().describe_alarms().alarm_names(name).send());
        let described = must("DescribeAlarms", described);
        let alarm = described.metric_alarms().first().unwrap_or_else(|| panic!("no alarm {name} at the stand-in"));
        let dimensions: Vec<Value> =
            alarm.dimensions().iter().map(|d| json!({"Name": d.name(), "Value": d.value()})).collect();
        json!({
            "AlarmName": alarm.alarm_name(),
            "AlarmArn": alarm.alarm_arn(),
            "ActionsEnabled": alarm.actions_enabled(),
            "StateValue": alarm.state_value().map(|s| s.as_str()),
            "StateReason": alarm.state_reason(),
            "StateUpdatedTimestamp": alarm.state_updated_timestamp().and_then(|t| t.fmt(Format::DateTime).ok()),
            "Namespace": alarm.namespace(),
            "MetricName": alarm.metric_name(),
            "Statistic": alarm.statistic().map(|s| s.as_str()),
            "Period": alarm.period(),
            "Dimensions": dimensions,
        })
    }

    /// Enables or disables an alarm's actions.
    pub fn alarm_actions(&self, name: &str, enabled: bool) {
        let cw = self.cloudwatch();
        self.block_on("alarm-actions", async {
            if enabled {
                must("EnableAlarmActions", cw.enable_alarm_actions().alarm_names(name).send().await);
            } else {
                must("DisableAlarmActions", cw.disable_alarm_actions().alarm_names(name).send().await);
            }
        });
    }

    /// Creates or overwrites the SSM parameter `name` with `text`; returns its new version.
    pub fn ssm_put(&self, name: &str, text: &str) -> i64 {
        use aws_sdk_ssm::types::{ParameterTier, ParameterType};
        let conf = aws_sdk_ssm::config::Builder::from(&self.sdk(None)).endpoint_url(self.endpoint("moto"));
        let put = aws_sdk_ssm::Client::from_conf(conf.build())
            .put_parameter()
            .name(name)
            .value(text)
            .r#type(ParameterType::String)
            .tier(ParameterTier::Advanced)
            .overwrite(true);
        must("PutParameter", self.block_on("ssm-put", put.send())).version()
    }
}

/// The audit bus (EventBridge in moto) and the SQS queue its rule copies events to.
impl Standins {
    fn sqs(&self) -> aws_sdk_sqs::Client {
        let conf = aws_sdk_sqs::config::Builder::from(&self.sdk(None)).endpoint_url(self.endpoint("moto"));
        aws_sdk_sqs::Client::from_conf(conf.build())
    }

    /// A new audit bus with a rule forwarding "Stop Gateway Decision" events to a new SQS queue.
    pub fn audit_bus(&self) -> AuditBus {
        let conf = aws_sdk_eventbridge::config::Builder::from(&self.sdk(None)).endpoint_url(self.endpoint("moto"));
        let (events, sqs) = (aws_sdk_eventbridge::Client::from_conf(conf.build()), self.sqs());
        let suffix = format!("{:08x}", unique() as u32);
        let (name, queue) = (format!("stop-gateway-test-{suffix}"), format!("stop-gateway-decisions-{suffix}"));
        let rule = format!("{name}-decisions");
        let pattern = json!({"detail-type": ["Stop Gateway Decision"]}).to_string();
        self.block_on("events-setup", async {
            must("CreateEventBus", events.create_event_bus().name(&name).send().await);
            let queue_url = must("CreateQueue", sqs.create_queue().queue_name(queue).send().await).queue_url;
            let queue_url = queue_url.unwrap();
            let arn = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
            let attributes = sqs.get_queue_attributes().queue_url(&queue_url).attribute_names(arn.clone());
            let queue_arn = must("GetQueueAttributes", attributes.send().await).attributes().unwrap()[&arn].clone();
            let put = events.put_rule().name(&rule).event_bus_name(&name).event_pattern(pattern);
            must("PutRule", put.send().await);
            let target = aws_sdk_eventbridge::types::Target::builder().id("queue").arn(queue_arn).build().unwrap();
            must("PutTargets", events.put_targets().rule(&rule).event_bus_name(&name).targets(target).send().await);
            AuditBus { name, queue_url }
        })
    }

    /// Reads (and removes) the events on an audit bus's queue, waiting up to 15 s for at least `expect`.
    pub fn audit_events(&self, bus: &AuditBus, expect: usize) -> Vec<Value> {
        let sqs = self.sqs();
        let deadline = Instant::now() + Duration::from_secs(15);
        self.block_on("events-read", async {
            let mut events = Vec::new();
            loop {
                let receive = sqs.receive_message().queue_url(&bus.queue_url).max_number_of_messages(10);
                let received = receive.wait_time_seconds(0).visibility_timeout(30).send().await;
                let messages = must("ReceiveMessage", received).messages.unwrap_or_default();
                for message in &messages {
                    let text = message.body().unwrap_or_default();
                    events.push(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())));
                    let delete = sqs.delete_message().queue_url(&bus.queue_url);
                    must("DeleteMessage", delete.receipt_handle(message.receipt_handle().unwrap()).send().await);
                }
                if messages.is_empty() {
                    if events.len() >= expect || Instant::now() >= deadline {
                        return events;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        })
    }
}

impl Drop for Standins {
    fn drop(&mut self) {
        let _ = standins_command(&["down", "--state"]).arg(&self.state_file).output();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
