//! Fire drills end to end: the drill crate (as a library, the code its Lambda function and `--once` run) against
//! the real gateway binary under a Lambda Runtime API, over the stand-ins: moto for Step Functions, EventBridge
//! and SQS, AWS's durable-functions server. The drill asks through a real `Stop Requested` event on a stop-request
//! bus (the forwarder shim stands in for the rule that invokes the gateway) and reads the gateway's records back
//! through the audit bus's rule and queue. Every failure is caused for real: a policy without the drill's rule,
//! no forwarder, StopExecution refused at a fault proxy, a gateway with no audit bus, a stop without a cause;
//! but one: the durable server lists every version's executions when unqualified, as the model says, so the
//! unqualified list that leaves the drill's execution out is a shim (a canned empty page at a fault proxy).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;
use stop_gateway_drill::aws::Aws;
use stop_gateway_drill::config::DrillConfig;
use stop_gateway_drill::drill::run_all;
use stop_gateway_drill::report::Report;
use stop_gateway_drill::step::Step;
use testkit::fault_proxy::{Fault, FaultProxy, FaultRule};
use testkit::fire_drill::{DrillStage, Forwarder};
use testkit::gateway_process::{GatewayProcess, policy_for};
use testkit::standins::Standins;

static STANDINS: OnceLock<Standins> = OnceLock::new();

fn standins() -> &'static Standins {
    STANDINS.get_or_init(Standins::start)
}

/// The policy rule docs/deploy.md gives for the drill, for the stand-ins' account and canaries.
fn drill_policy(account: &str, canary: &str) -> String {
    format!(
        r#"version = 1
[[rules]]
id = "fire-drill"
effect = "allow"
description = "The fire drill stops its own canaries' executions, and nothing else."
callers = {{ sources = ["stop-gateway.fire-drill"], accounts = ["{account}"] }}
targets = {{ services = ["states", "lambda"], partitions = ["aws"], accounts = ["{account}"], regions = ["us-east-1"], names = ["{canary}", "stop-gateway-durable-test"] }}
reason = {{ pattern = "^fire drill " }}
error_codes = {{ default = "StopGateway.FireDrill" }}
max_executions = 1
"#
    )
}

/// A drill setup with its own canary name, buses and queues.
fn stage(canary: &str) -> DrillStage {
    standins().drill_stage(&format!("{canary}-{}", std::process::id()))
}

/// The gateway binary with `policy`, writing its records to `audit_bus` (none: no bus), plus `extra`.
fn gateway(policy: &str, audit_bus: Option<&str>, extra: &[(&str, &str)]) -> Arc<GatewayProcess> {
    let mut env = vec![("POLICY", policy)];
    env.extend(audit_bus.map(|bus| ("AUDIT_EVENT_BUS", bus)));
    env.extend_from_slice(extra);
    Arc::new(GatewayProcess::start(Path::new(env!("CARGO_BIN_EXE_stop-gateway")), standins(), &env))
}

/// The drill's settings for `stage`, as the template's environment gives them (durable canary optional).
fn config(stage: &DrillStage, durable: bool) -> DrillConfig {
    let mut env = HashMap::from([
        ("FIRE_DRILL_STATE_MACHINE_ARN", stage.state_machine_arn.clone()),
        ("FIRE_DRILL_STOP_REQUEST_BUS", stage.stop_bus.clone()),
        ("FIRE_DRILL_AUDIT_QUEUE_URL", stage.audit_queue_url.clone()),
        ("FIRE_DRILL_DEADLINE_SECONDS", "5".to_owned()),
    ]);
    if durable {
        env.insert("FIRE_DRILL_DURABLE_FUNCTION_ARN", stage.durable_function_arn.clone());
    }
    DrillConfig::from_lookup(|name| env.get(name).cloned()).unwrap()
}

/// The drill's clients at the stand-ins: each service at the endpoint the stand-ins' environment names.
fn aws() -> Aws {
    aws_with_lambda(None)
}

/// As [`aws`], with Lambda at `lambda` when given (a fault proxy in front of the durable adapter).
fn aws_with_lambda(lambda: Option<String>) -> Aws {
    let s = standins();
    let endpoints: HashMap<String, String> = s.env().into_iter().collect();
    let moto = s.state["moto"]["endpoint"].as_str().unwrap().to_owned();
    Aws::with_endpoints(&s.sdk_config(), |service| {
        if service == "lambda" && lambda.is_some() {
            return lambda.clone();
        }
        let variable = format!("AWS_ENDPOINT_URL_{}", service.to_uppercase());
        Some(endpoints.get(&variable).cloned().unwrap_or_else(|| moto.clone()))
    })
}

/// Runs one drill per configured canary, as the scheduled function does.
fn drill(config: &DrillConfig) -> Vec<Report> {
    drill_with(&aws(), config)
}

/// As [`drill`], with the drill's clients `aws`.
fn drill_with(aws: &Aws, config: &DrillConfig) -> Vec<Report> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async { run_all(aws, config).await })
}

/// The metrics line a report writes, parsed.
fn metrics(report: &Report) -> Value {
    serde_json::from_str(&report.metrics_line("StopGateway/FireDrill", 1_795_230_000_000)).unwrap()
}

/// A failed drill: the step, the metric, and the words.
fn assert_failed_at(report: &Report, step: Step, words: &str) {
    let failure = report.verdict.as_ref().expect_err("the drill should fail");
    assert_eq!(failure.step, step, "{failure:?}");
    assert!(failure.why.contains(words), "{:?} should say {words:?}", failure.why);
    let line = metrics(report);
    assert_eq!((line["FireDrillFailures"].clone(), line["Step"].clone()), (Value::from(1), Value::from(step.as_str())));
}

#[test]
fn state_machine_and_durable_drills_pass_through_the_stop_requested_door() {
    let s = standins();
    let stage = stage("drill-pass");
    let canary = stage.state_machine_arn.rsplit(':').next().unwrap().to_owned();
    let gw = gateway(&drill_policy(&s.account(), &canary), Some(&stage.audit_bus), &[]);
    let _forwarder = Forwarder::start(s, &stage.stop_queue_url, gw.clone());
    // Another execution of the canary, which no drill started: it must still be running afterwards.
    let bystander = testkit_bystander(&stage);

    let reports = drill(&config(&stage, true));
    assert_eq!(reports.iter().map(|r| r.canary).collect::<Vec<_>>(), ["state-machine", "durable"]);
    for report in &reports {
        assert_eq!(report.verdict, Ok(()), "{}", report.summary());
        assert_eq!(
            (metrics(report)["FireDrillFailures"].clone(), metrics(report)["Step"].clone()),
            (0.into(), "none".into())
        );
    }
    let machine = reports[0].execution_arn.as_deref().unwrap();
    assert_eq!(s.sfn_status(machine), "ABORTED");
    assert_eq!(s.sfn_stops(machine).len(), 1, "one stop");
    assert_eq!(s.sfn_stops(machine)[0]["error"], "StopGateway.FireDrill");
    let durable = reports[1].execution_arn.as_deref().unwrap();
    assert_eq!(s.durable_status(durable)["Status"], "STOPPED");
    let data: Value = serde_json::from_str(s.durable_status(durable)["Error"]["ErrorData"].as_str().unwrap()).unwrap();
    assert_eq!(data["auditId"].as_str(), reports[1].audit_id.as_deref(), "ErrorData names the drill's record");
    assert_ne!(reports[0].audit_id, reports[1].audit_id, "one record each, through one queue");
    assert_eq!(s.sfn_status(&bystander), "RUNNING", "the drill stops only what it started");
}

/// An execution of the drill's canary that no drill started.
fn testkit_bystander(stage: &DrillStage) -> String {
    let sfn = standins().sfn_client();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let start = sfn.start_execution().state_machine_arn(&stage.state_machine_arn).name("bystander");
    runtime.block_on(start.send()).unwrap().execution_arn().to_owned()
}

#[test]
fn an_unqualified_list_without_the_durable_execution_fails_listed_before_any_request() {
    let s = standins();
    let stage = stage("drill-unlisted");
    let canary = stage.state_machine_arn.rsplit(':').next().unwrap().to_owned();
    let gw = gateway(&drill_policy(&s.account(), &canary), Some(&stage.audit_bus), &[]);
    let forwarder = Forwarder::start(s, &stage.stop_queue_url, gw.clone());
    // The shim: every ListDurableExecutionsByFunction answers an empty page, as a service whose unqualified list
    // covered only some versions would for an execution on version 1. Invoke and GetDurableExecution pass.
    let empty = Fault::Reply(r#"{"DurableExecutions":[]}"#);
    let proxy = FaultProxy::start(
        s.state["durable_adapter"]["endpoint"].as_str().unwrap(),
        &[FaultRule::always("/durable-executions", empty)],
    );
    let reports = drill_with(&aws_with_lambda(Some(proxy.endpoint())), &config(&stage, true));
    assert_eq!(reports[0].verdict, Ok(()), "a state machine has no versions: listed passes without a call");
    assert_failed_at(
        &reports[1],
        Step::Listed,
        "without a qualifier did not show the running execution arn:aws:lambda:",
    );
    assert!(
        reports[1].verdict.as_ref().unwrap_err().why.ends_with("would miss executions running on published versions"),
        "{:?}",
        reports[1].verdict
    );
    assert!(proxy.faulted() >= 2, "the list was retried within its bound: {}", proxy.faulted());
    let durable = reports[1].execution_arn.as_deref().unwrap();
    assert!(durable.contains(":1/durable-execution/"), "started through the alias, on version 1: {durable}");
    assert_eq!(s.durable_status(durable)["Status"], "RUNNING", "no stop was asked for it");
    assert_eq!(forwarder.forwarded(), 1, "only the state machine's request reached the gateway");
}

#[test]
fn a_policy_without_the_drills_rule_fails_request_and_stops_nothing() {
    let s = standins();
    let stage = stage("drill-denied");
    let gw = gateway(&policy_for(&s.account()), Some(&stage.audit_bus), &[]);
    let _forwarder = Forwarder::start(s, &stage.stop_queue_url, gw.clone());
    let reports = drill(&config(&stage, false));
    assert_failed_at(&reports[0], Step::Request, "the gateway refused the stop: denied");
    let arn = reports[0].execution_arn.as_deref().unwrap();
    assert_eq!(s.sfn_status(arn), "RUNNING");
    assert!(s.sfn_stops(arn).is_empty(), "nothing was sent to Step Functions");
}

#[test]
fn a_gateway_that_never_hears_the_request_fails_stopped() {
    let s = standins();
    let stage = stage("drill-unheard");
    let canary = stage.state_machine_arn.rsplit(':').next().unwrap().to_owned();
    // A gateway, but nothing carries the bus's events to it.
    let _gw = gateway(&drill_policy(&s.account(), &canary), Some(&stage.audit_bus), &[]);
    let reports = drill(&config(&stage, false));
    assert_failed_at(&reports[0], Step::Stopped, "no audit record for it arrived");
    assert_eq!(s.sfn_status(reports[0].execution_arn.as_deref().unwrap()), "RUNNING");
}

#[test]
fn a_stop_refused_by_step_functions_fails_stopped_quoting_the_gateway() {
    let s = standins();
    let stage = stage("drill-refused");
    let canary = stage.state_machine_arn.rsplit(':').next().unwrap().to_owned();
    let denied = Fault::Answer { status: 400, error_type: "AccessDeniedException", retry_after: None };
    let proxy = FaultProxy::start(
        s.state["moto_proxy"]["endpoint"].as_str().unwrap(),
        &[FaultRule::always("AWSStepFunctions.StopExecution", denied)],
    );
    let endpoint = proxy.endpoint();
    let gw =
        gateway(&drill_policy(&s.account(), &canary), Some(&stage.audit_bus), &[("AWS_ENDPOINT_URL_SFN", &endpoint)]);
    let _forwarder = Forwarder::start(s, &stage.stop_queue_url, gw.clone());
    let reports = drill(&config(&stage, false));
    assert_failed_at(&reports[0], Step::Stopped, "the gateway answered upstream_error");
    assert!(proxy.faulted() >= 1, "the stop reached the fault proxy");
    assert_eq!(s.sfn_status(reports[0].execution_arn.as_deref().unwrap()), "RUNNING");
}

#[test]
fn a_gateway_without_its_audit_bus_fails_audit_though_the_canary_stopped() {
    let s = standins();
    let stage = stage("drill-unaudited");
    let canary = stage.state_machine_arn.rsplit(':').next().unwrap().to_owned();
    let gw = gateway(&drill_policy(&s.account(), &canary), None, &[]);
    let _forwarder = Forwarder::start(s, &stage.stop_queue_url, gw.clone());
    let reports = drill(&config(&stage, false));
    assert_failed_at(&reports[0], Step::Audit, "no audit record for it reached the audit bus");
    assert_eq!(s.sfn_status(reports[0].execution_arn.as_deref().unwrap()), "ABORTED");
    assert_eq!(gw.audit_lines(1).len(), 1, "the gateway logged its record; only the bus is missing");
}

#[test]
fn a_stop_without_the_records_cause_fails_cause() {
    let s = standins();
    // The stand-in's KMS shim refuses a stop with a cause for a kms-encrypted machine; the gateway sends it again
    // without error and cause, so the execution's history cannot point back to the record.
    let stage = stage("drill-kms-encrypted");
    let canary = stage.state_machine_arn.rsplit(':').next().unwrap().to_owned();
    let gw = gateway(&drill_policy(&s.account(), &canary), Some(&stage.audit_bus), &[]);
    let _forwarder = Forwarder::start(s, &stage.stop_queue_url, gw.clone());
    let reports = drill(&config(&stage, false));
    assert_failed_at(&reports[0], Step::Cause, "ExecutionAborted cause does not name audit id");
    assert_eq!(s.sfn_status(reports[0].execution_arn.as_deref().unwrap()), "ABORTED");
}

/// A stack in moto's CloudFormation whose outputs are `outputs` (one placeholder resource: a stack needs one), as
/// `sam deploy` leaves the real stack's outputs for the first-deployment check.
fn stack_with_outputs(aws: &Aws, name: &str, outputs: &[(&str, &str)]) {
    let outputs: serde_json::Map<String, Value> =
        outputs.iter().map(|(k, v)| (k.to_string(), serde_json::json!({"Value": v}))).collect();
    let template = serde_json::json!({
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": format!("{name}-placeholder")}}},
        "Outputs": outputs,
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let create = aws.cloudformation.create_stack().stack_name(name).template_body(template.to_string());
    runtime.block_on(create.send()).unwrap();
}

#[test]
fn the_first_deployment_check_drills_both_canaries_of_a_stack_through_one_queue() {
    let s = standins();
    let stage = stage("drill-first-deployment");
    let canary = stage.state_machine_arn.rsplit(':').next().unwrap().to_owned();
    let gw = gateway(&drill_policy(&s.account(), &canary), Some(&stage.audit_bus), &[]);
    let _forwarder = Forwarder::start(s, &stage.stop_queue_url, gw.clone());
    let aws = aws();
    let name = format!("prod-{}", std::process::id());
    stack_with_outputs(
        &aws,
        &name,
        &[
            ("FireDrillStateMachineArn", &stage.state_machine_arn),
            ("FireDrillDurableFunctionArn", &stage.durable_function_arn),
            ("FireDrillAuditQueueUrl", &stage.audit_queue_url),
            ("StopRequestBusName", &stage.stop_bus),
            ("AuditBusArn", "not read by the drill"),
        ],
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let checked = runtime.block_on(stop_gateway_drill::stack::check(&aws, &name, Duration::from_secs(5)));
    let (config, reports) = checked.unwrap();
    assert_eq!(config.door.bus, stage.stop_bus);
    let table = stop_gateway_drill::report::table(&reports);
    assert!(table.ends_with("2 of 2 drills passed\n"), "{table}");
    assert!(
        table.contains("state-machine  eventbridge  PASS") && table.contains("durable        eventbridge  PASS"),
        "{table}"
    );
    assert_ne!(reports[0].audit_id, reports[1].audit_id, "each drill took its own record from the one queue");
}

#[test]
fn the_first_deployment_check_refuses_a_stack_without_the_drill_saying_how_to_turn_it_on() {
    let aws = aws();
    let name = format!("no-drill-{}", std::process::id());
    stack_with_outputs(&aws, &name, &[("StopRequestBusName", "stop-requests")]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let refused = runtime.block_on(stop_gateway_drill::stack::check(&aws, &name, Duration::from_secs(5))).unwrap_err();
    assert!(
        refused.contains(&format!("stack {name} has no fire drill: deploy it with FireDrillMinutes above 0")),
        "{refused}"
    );
}

#[test]
fn the_drills_metrics_lines_are_valid_emf_and_both_drill_alarms_watch_what_they_carry() {
    use stop_gateway_drill::step::Failure;
    let mut verdicts = vec![Ok(())];
    verdicts.extend(Step::ALL.iter().map(|step| Err(Failure::at(*step, "why"))));
    let mut text = String::new();
    for verdict in verdicts {
        let report = Report {
            canary: "state-machine",
            door: "eventbridge",
            drill_id: "d".to_owned(),
            execution_arn: None,
            audit_id: None,
            verdict,
        };
        text += &report.metrics_line("StopGateway/FireDrill", 1_795_230_000_000);
        text.push('\n');
    }
    let file = std::env::temp_dir().join(format!("stop-gateway-drill-emf-{}.jsonl", std::process::id()));
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new(testkit::repo().join(".venv/bin/python"))
        .arg(testkit::repo().join("scripts/check-metrics"))
        .arg(&file)
        .args(["--namespace-suffix", "/FireDrill"])
        .output()
        .expect("run scripts/check-metrics with the stand-ins' Python");
    let _ = std::fs::remove_file(&file);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "scripts/check-metrics:\n{report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        report.contains("7 valid EMF lines") && report.contains("2 alarms on them checked, 0 problems"),
        "{report}"
    );
}
