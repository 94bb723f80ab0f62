//! The drill binary as Lambda runs it, under testkit's Lambda Runtime API emulator, and as an operator runs it;
//! no stand-ins needed. A bad setting stops it at start-up naming the variable; a drill that cannot even start its
//! canary still answers normally (a retry would be a second drill), with `Step=start` in its answer, its log line
//! and its metrics line; the command line refuses what it cannot read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::WAIT;
use testkit::runtime_api::RuntimeApi;

const DRILL: &str = env!("CARGO_BIN_EXE_stop-gateway-drill");

/// An address nothing listens on: every AWS call fails to connect.
fn closed_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// The drill binary under `runtime`, with only `env` (and static credentials) in its environment.
fn drill(runtime: &RuntimeApi, env: &[(&str, &str)]) -> Child {
    Command::new(DRILL)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "prod-fire-drill")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (bounded) for `child` to exit and returns its output.
fn finished(mut child: Child) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < WAIT, "the drill did not exit within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn settings(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "FIRE_DRILL_STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:prod-fire-drill-canary".into(),
        ),
        ("FIRE_DRILL_STOP_REQUEST_BUS", "prod-stop-requests".into()),
        ("FIRE_DRILL_AUDIT_QUEUE_URL", format!("{endpoint}/123456789012/prod-fire-drill")),
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
    ]
}

#[test]
fn a_bad_setting_stops_the_function_at_start_up_naming_the_variable() {
    let runtime = RuntimeApi::start();
    let endpoint = closed_endpoint();
    let mut env = settings(&endpoint);
    env.retain(|(k, _)| *k != "FIRE_DRILL_AUDIT_QUEUE_URL");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = finished(drill(&runtime, &env));
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("configuration error: FIRE_DRILL_AUDIT_QUEUE_URL: required, and not set"), "{stdout}");
}

#[test]
fn a_drill_that_cannot_start_its_canary_answers_normally_with_step_start() {
    let runtime = RuntimeApi::start();
    let endpoint = closed_endpoint();
    let env = settings(&endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut child = drill(&runtime, &env);
    let schedule = r#"{"version":"0","id":"1","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-12-05T08:00:00Z","region":"us-east-1","resources":[],"detail":{}}"#;
    let answer = runtime.invoke(schedule);
    assert!(!answer.error, "a failed drill is a normal answer: {:?}", answer.body);
    assert_eq!(answer.body["passed"], false);
    let drill = &answer.body["drills"][0];
    assert_eq!((drill["canary"].as_str(), drill["Step"].as_str()), (Some("state-machine"), Some("start")));
    assert!(drill["why"].as_str().unwrap().starts_with("StartExecution: "), "{drill}");
    child.kill().unwrap();
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.wait().unwrap();
    let lines: Vec<Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let metrics =
        lines.iter().find(|l| l.get("_aws").is_some()).unwrap_or_else(|| panic!("no metrics line:\n{stdout}"));
    assert_eq!((metrics["FireDrillFailures"].as_u64(), metrics["Step"].as_str()), (Some(1), Some("start")));
    assert_eq!(metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"], "StopGateway/FireDrill");
    let log = lines.iter().find(|l| l["level"] == "ERROR").unwrap_or_else(|| panic!("no log line:\n{stdout}"));
    assert!(log["message"].as_str().unwrap().starts_with("fire drill failed at start: StartExecution"), "{log}");
    assert_eq!(log["step"], "start");
}

#[test]
fn the_command_line_refuses_what_it_cannot_read_and_a_stack_it_cannot_reach() {
    let usage = Command::new(DRILL).arg("--now").output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("usage: stop-gateway-drill"));
    let endpoint = closed_endpoint();
    let unreachable = Command::new(DRILL)
        .args(["--once", "--stack", "prod", "--region", "us-east-1"])
        .env_clear()
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("DescribeStacks"), "{unreachable:?}");
}
