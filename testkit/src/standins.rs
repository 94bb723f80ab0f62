//! The local AWS stand-ins (moto, the durable-functions server, their proxies) as a test sees them: started as a
//! Python process, with helpers that drive them and read the truth back.
//!
//! Everything binds to 127.0.0.1 on free ports, every wait is bounded and names what did not come up, and the
//! stand-ins are stopped by PID when their handle drops (they also stop when our end of their stdin closes, which
//! covers a test process that dies).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::channel;
use std::thread;

use serde_json::Value;

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
            .args(["-m", "standins"])
            .args(["up", "--until-stdin-eof", "--timeout", "30", "--state"])
            .arg(&state_file)
            .current_dir(repo())
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
        Standins { child, _stdin: stdin, state_file, state }
    }

    /// Runs a helper of `python -m standins` and returns its JSON output.
    pub fn cli(&self, args: &[&str]) -> Value {
        let output = Command::new("timeout")
            .arg(WAIT.as_secs().to_string())
            .arg(python())
            .args(["-m", "standins"])
            .arg(args[0])
            .arg("--state")
            .arg(&self.state_file)
            .args(&args[1..])
            .current_dir(repo())
            .output()
            .expect("run python -m standins");
        assert!(
            output.status.success(),
            "python -m standins {} failed ({}): {}",
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
            .args(["-m", "standins"])
            .arg("down")
            .arg("--state")
            .arg(&self.state_file)
            .current_dir(repo())
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
