//! End to end: the real gateway binary under a Lambda Runtime API, against real HTTP stand-ins that are not ours
//! (moto for Step Functions, EventBridge and SQS; AWS's local durable-functions server). The truth is read back
//! from the stand-ins, never taken from the gateway's reply. Needs `standins/setup.sh` (scripts/test runs it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;
use testkit::{
    fault_proxy::{Fault, FaultProxy, FaultRule},
    gateway_process::{GatewayProcess, body, outcome, policy_for, sample},
    standins::{AuditBus, Standins},
};

static STANDINS: OnceLock<Standins> = OnceLock::new();

/// One set of stand-ins for the whole file; each test uses its own executions, bus and gateway process.
fn standins() -> &'static Standins {
    STANDINS.get_or_init(Standins::start)
}

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_stop-gateway"))
}

/// A gateway with the example policy and its own audit bus.
fn gateway(extra: &[(&str, &str)]) -> (GatewayProcess, AuditBus) {
    let s = standins();
    let bus = s.audit_bus();
    let policy = policy_for(&s.account());
    let mut env = vec![("POLICY", policy.as_str()), ("AUDIT_EVENT_BUS", bus.name.as_str())];
    env.extend_from_slice(extra);
    (GatewayProcess::start(binary(), s, &env), bus)
}

/// Every request's audit record reached the bus (read back through the SQS target) and equals the log line.
fn assert_audit_delivered(gateway: &GatewayProcess, bus: &AuditBus, requests: usize) -> Vec<Value> {
    let lines = gateway.audit_lines(requests);
    assert_eq!(lines.len(), requests, "one audit log line per request");
    let events = standins().audit_events(bus, requests);
    assert_eq!(events.len(), requests, "one audit event on the bus per request");
    for line in &lines {
        assert_eq!(line["busDelivery"]["status"], "delivered", "{line}");
        let id = &line["audit"]["auditId"];
        let event =
            events.iter().find(|e| &e["detail"]["auditId"] == id).unwrap_or_else(|| panic!("no bus event for {id}"));
        assert_eq!(event["detail"], line["audit"], "bus event equals the log line");
        assert_eq!(event["detail-type"], "Stop Gateway Decision");
        assert_eq!(event["source"], "stop-gateway");
    }
    lines
}

#[test]
fn http_stop_aborts_a_running_execution_with_the_policy_error_and_cause() {
    let s = standins();
    let account = s.account();
    let arn = &s.sfn_start("orders-e2e-rest", 1)[0];
    let (gw, bus) = gateway(&[]);

    let first = gw.invoke(&sample("apigw-rest-stop-sfn.json", &account, Some(arn)));
    assert_eq!(first.body["statusCode"], 200);
    assert_eq!(outcome(&first), "stopped");
    assert_eq!(s.sfn_status(arn), "ABORTED", "the stand-in says it is stopped");
    let stops = s.sfn_stops(arn);
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0]["error"], "Ops.RetryStorm", "the error code the request asked for and the rule allows");
    let cause = stops[0]["cause"].as_str().unwrap();
    let audit_id = body(&first)["auditId"].as_str().unwrap().to_owned();
    assert!(
        cause.starts_with(
            "OPS-1234 orders-api retry storm, stopping run 42\n\n[stop-gateway] requested by arn:aws:sts::"
        ),
        "{cause}"
    );
    assert!(cause.ends_with(&format!("audit id {audit_id}")), "{cause}");

    // Again: describe-first sees it finished, so nothing is sent and nothing is faked.
    let second = gw.invoke(&sample("apigw-rest-stop-sfn.json", &account, Some(arn)));
    assert_eq!(outcome(&second), "already_finished");
    assert_eq!(body(&second)["previousStatus"], "ABORTED");
    assert_eq!(s.sfn_stops(arn).len(), 1, "no second StopExecution");
    assert_audit_delivered(&gw, &bus, 2);
}

#[test]
fn an_execution_that_succeeded_on_its_own_is_reported_as_it_ended_never_as_stopped() {
    let s = standins();
    let account = s.account();
    let arn = &s.sfn_start("orders-e2e-finished", 1)[0];
    s.sfn_finish(arn);
    let (gw, bus) = gateway(&[]);

    let answer = gw.invoke(&sample("apigw-rest-stop-sfn.json", &account, Some(arn)));
    assert_eq!(answer.body["statusCode"], 200, "{:?}", answer.body);
    assert_eq!(outcome(&answer), "already_finished");
    assert_eq!(body(&answer)["previousStatus"], "SUCCEEDED", "the status it ended in, not ABORTED");
    assert_eq!(s.sfn_status(arn), "SUCCEEDED", "the stand-in still says it succeeded");
    assert!(s.sfn_stops(arn).is_empty(), "describe-first: no StopExecution was sent");
    let lines = assert_audit_delivered(&gw, &bus, 1);
    assert_eq!(lines[0]["audit"]["outcome"], "already_finished", "{}", lines[0]);
}

#[test]
fn eventbridge_and_function_url_stops_abort_running_executions() {
    let s = standins();
    let account = s.account();
    let arns = s.sfn_start("orders-e2e-events", 2);
    let (gw, bus) = gateway(&[]);

    let event = gw.invoke(&sample("eventbridge-stop-sfn.json", &account, Some(&arns[0])));
    assert!(!event.error, "{:?}", event.body);
    assert_eq!(outcome(&event), "stopped");
    let url = gw.invoke(&sample("function-url-stop-sfn.json", &account, Some(&arns[1])));
    assert_eq!(url.body["statusCode"], 200);
    assert_eq!(outcome(&url), "stopped");
    for arn in &arns {
        assert_eq!(s.sfn_status(arn), "ABORTED");
    }
    assert_eq!(s.sfn_stops(&arns[0])[0]["error"], "StopGateway.AlarmKillSwitch");
    assert_eq!(s.sfn_stops(&arns[1])[0]["error"], "Ops.ManualStop", "the rule's default code");
    assert_audit_delivered(&gw, &bus, 2);
}

#[test]
fn durable_stop_stops_a_running_execution_with_the_error_object() {
    let s = standins();
    let account = s.account();
    let arn = &s.durable_start("checkout", 1)[0];
    assert_eq!(s.durable_status(arn)["Status"], "RUNNING");
    let (gw, bus) = gateway(&[]);

    let first = gw.invoke(&sample("apigw-http-stop-durable.json", &account, Some(arn)));
    assert_eq!(outcome(&first), "stopped", "{:?}", first.body);
    let status = s.durable_status(arn);
    assert_eq!(status["Status"], "STOPPED");
    assert_eq!(status["Error"]["ErrorType"], "Ops.ManualStop");
    assert_eq!(status["Error"]["ErrorMessage"], "OPS-1235 checkout stuck waiting on payment callback");
    let sent = s.durable_stops(arn);
    assert_eq!(sent.len(), 1);
    let data: Value = serde_json::from_str(sent[0]["ErrorData"].as_str().unwrap()).unwrap();
    assert_eq!(data["auditId"], body(&first)["auditId"]);
    assert_eq!(data["ruleId"], "oncall-orders");

    let second = gw.invoke(&sample("apigw-http-stop-durable.json", &account, Some(arn)));
    assert_eq!(outcome(&second), "already_finished");
    assert_eq!(body(&second)["previousStatus"], "STOPPED");
    assert_eq!(s.durable_stops(arn).len(), 1, "no second stop");
    assert_audit_delivered(&gw, &bus, 2);
}

#[test]
fn unknown_executions_are_not_found() {
    let s = standins();
    let account = s.account();
    s.sfn_start("orders-e2e-missing", 1);
    let (gw, bus) = gateway(&[]);
    let sfn = format!("arn:aws:states:us-east-1:{account}:execution:orders-e2e-missing:no-such-run");
    let durable = format!("arn:aws:lambda:us-east-1:{account}:function:checkout:$LATEST/durable-execution/nope/0000");
    let a = gw.invoke(&sample("apigw-rest-stop-sfn.json", &account, Some(&sfn)));
    assert_eq!((a.body["statusCode"].clone(), outcome(&a)), (Value::from(404), "not_found".to_owned()));
    let b = gw.invoke(&sample("apigw-http-stop-durable.json", &account, Some(&durable)));
    assert_eq!((b.body["statusCode"].clone(), outcome(&b)), (Value::from(404), "not_found".to_owned()));
    assert_audit_delivered(&gw, &bus, 2);
}

#[test]
fn denied_invalid_unauthenticated_and_dry_run_requests_leave_executions_running() {
    let s = standins();
    let account = s.account();
    let sfn = &s.sfn_start("orders-e2e-hold", 1)[0];
    let durable = &s.durable_start("checkout", 1)[0];
    let (gw, bus) = gateway(&[]);
    let cases = [
        ("apigw-http-no-ticket.json", Some(sfn.as_str()), "denied"),
        ("apigw-http-bad-arn.json", None, "invalid_request"),
        ("apigw-http-missing-reason.json", Some(sfn), "invalid_request"),
        ("apigw-http-caller-in-body.json", Some(sfn), "invalid_request"),
        ("apigw-http-no-iam-identity.json", Some(sfn), "unauthenticated"),
        ("apigw-http-dry-run.json", Some(sfn), "dry_run"),
        ("eventbridge-dry-run.json", Some(sfn), "dry_run"),
        ("eventbridge-denied-source.json", Some(sfn), "denied"),
        ("eventbridge-durable-not-allowed.json", Some(durable.as_str()), "denied"),
        ("apigw-rest-wrong-route.json", Some(sfn), "route_not_found"),
        ("unknown-shape.json", None, "invalid_request"),
    ];
    for (name, target, expected) in cases {
        let answer = gw.invoke(&sample(name, &account, target));
        assert!(!answer.error, "{name}: handled outcomes are not invocation errors");
        assert_eq!(outcome(&answer), expected, "{name}: {:?}", answer.body);
    }
    assert_eq!(s.sfn_status(sfn), "RUNNING", "nothing stopped the execution");
    assert_eq!(s.durable_status(durable)["Status"], "RUNNING");
    assert!(s.sfn_stops(sfn).is_empty() && s.durable_stops(durable).is_empty(), "no stop call reached AWS");
    let lines = assert_audit_delivered(&gw, &bus, cases.len());
    let dry = lines.iter().filter(|l| l["audit"]["outcome"] == "dry_run").count();
    assert_eq!(dry, 2);
}

#[test]
fn an_unreachable_audit_bus_does_not_change_the_outcome_and_is_logged() {
    let s = standins();
    let account = s.account();
    let arn = &s.sfn_start("orders-e2e-busdown", 1)[0];
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = format!("http://127.0.0.1:{closed}");
    let (gw, _bus) = gateway(&[("AWS_ENDPOINT_URL_EVENTBRIDGE", &dead)]);

    let answer = gw.invoke(&sample("apigw-rest-stop-sfn.json", &account, Some(arn)));
    assert_eq!(outcome(&answer), "stopped");
    assert_eq!(s.sfn_status(arn), "ABORTED", "the stop happened although the audit bus is down");
    let lines = gw.audit_lines(1);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["busDelivery"]["status"], "failed");
    assert_eq!(lines[0]["level"], "WARN");
    assert!(lines[0]["busDelivery"]["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(lines[0]["audit"]["outcome"], "stopped", "the log line still carries the whole record");
}

/// An alarm event whose `stop-gateway:target` tag names these targets, in the stand-ins' account.
fn alarm_naming(account: &str, targets: &[String]) -> String {
    let mut event: Value = serde_json::from_str(&sample("alarm-event-tags.json", account, None)).unwrap();
    event["detail"]["alarmTags"]["stop-gateway:target"] = Value::String(targets.join(" "));
    event.to_string()
}

#[test]
fn one_alarm_stops_a_fleet_through_injected_throttling_each_execution_once() {
    use aws_sdk_sfn::types::ExecutionStatus;
    let s = standins();
    let account = s.account();
    s.sfn_start("orders-fleet", 200);
    s.durable_start("orders-fleet", 20);
    assert_eq!(s.sfn_count("orders-fleet", ExecutionStatus::Running), 200);
    assert_eq!(s.durable_count("orders-fleet", "RUNNING"), 20);
    // Every other StopExecution is answered 429 + Retry-After before it reaches the stand-in.
    let sfn_endpoint = s.env().into_iter().find(|(k, _)| k == "AWS_ENDPOINT_URL_SFN").unwrap().1;
    let fault = FaultProxy::start(
        &sfn_endpoint,
        &[FaultRule::every(2, "AWSStepFunctions.StopExecution", Fault::throttle("0.05"))],
    );
    let endpoint = fault.endpoint();
    let (gw, bus) = gateway(&[("AWS_ENDPOINT_URL_SFN", &endpoint)]);

    let targets = [
        format!("arn:aws:states:us-east-1:{account}:stateMachine:orders-fleet"),
        format!("arn:aws:lambda:us-east-1:{account}:function:orders-fleet"),
    ];
    let answer = gw.invoke(&alarm_naming(&account, &targets));
    assert!(!answer.error, "{:?}", answer.body);
    let b = body(&answer);
    assert_eq!(b["outcome"], "stopped", "{}", b["counts"]);
    assert_eq!(b["counts"]["stopped"], 220);
    assert!(fault.faulted() >= 100, "throttling was injected ({} throttled)", fault.faulted());

    // The truth, from the stand-ins: all stopped, none twice.
    assert_eq!(s.sfn_count("orders-fleet", ExecutionStatus::Aborted), 200);
    assert_eq!(s.sfn_count("orders-fleet", ExecutionStatus::Running), 0);
    assert_eq!(s.durable_count("orders-fleet", "STOPPED"), 20);
    let stops = s.sfn_stops_by_execution("orders-fleet");
    assert_eq!(stops.len(), 200, "every execution got its StopExecution");
    assert!(stops.values().all(|&n| n == 1), "no execution was stopped twice");

    // One request record and one record per stopped execution, all on the bus and in the log.
    let lines = assert_audit_delivered(&gw, &bus, 221);
    let request = lines.iter().find(|l| l["audit"]["recordType"] == "request").unwrap();
    assert_eq!(request["audit"]["counts"]["stopped"], 220);
    assert_eq!(request["audit"]["resolution"], "tags");
    assert_eq!(lines.iter().filter(|l| l["audit"]["parentAuditId"] == request["audit"]["auditId"]).count(), 220);
}

#[test]
fn the_blast_radius_cap_stops_none_until_the_count_is_confirmed() {
    use aws_sdk_sfn::types::ExecutionStatus;
    let s = standins();
    let account = s.account();
    s.sfn_start("orders-e2e-cap", 12);
    let (gw, bus) = gateway(&[]);
    let machine = format!("arn:aws:states:us-east-1:{account}:stateMachine:orders-e2e-cap");

    let refused = gw.invoke(&sample("apigw-http-bulk-over-cap.json", &account, Some(&machine)));
    assert_eq!(refused.body["statusCode"], 409);
    let b = body(&refused);
    assert_eq!(
        (b["error"]["code"].as_str(), b["error"]["count"].as_u64(), b["error"]["limit"].as_u64()),
        (Some("blast_radius_exceeded"), Some(12), Some(10))
    );
    assert_eq!(s.sfn_count("orders-e2e-cap", ExecutionStatus::Running), 12, "the cap stopped none");
    assert!(s.sfn_stops_by_execution("orders-e2e-cap").is_empty());

    let confirmed = gw.invoke(&sample("apigw-http-bulk-confirmed.json", &account, Some(&machine)));
    assert_eq!(confirmed.body["statusCode"], 200);
    assert_eq!(body(&confirmed)["counts"]["stopped"], 12);
    assert_eq!(s.sfn_count("orders-e2e-cap", ExecutionStatus::Aborted), 12);
    assert_audit_delivered(&gw, &bus, 2 + 12);
}

#[test]
fn payloads_the_runtime_cannot_parse_deeply_are_still_audited() {
    let (gw, _bus) = gateway(&[]);
    for (case, payload) in [
        ("nested 10 000 deep", format!("{}{}", "[".repeat(10_000), "]".repeat(10_000))),
        ("nested in an object", format!("{{\"detail\":{}1{}}}", "{\"a\":".repeat(5_000), "}".repeat(5_000))),
    ] {
        let answer = gw.invoke(&payload);
        assert!(!answer.error, "{case}: {:?}", answer.body);
        assert_eq!(outcome(&answer), "invalid_request", "{case}");
    }
    assert_eq!(gw.audit_lines(2).len(), 2, "each is audited");
}

#[test]
fn an_encrypted_execution_refusing_error_and_cause_is_stopped_without_them_and_audited() {
    // The stand-in's KMS shim makes executions of this machine refuse a stop that carries error or cause
    // (KmsAccessDeniedException), as an execution encrypted with a key the role may not use would.
    let s = standins();
    let account = s.account();
    let arn = &s.sfn_start("orders-kms-encrypted", 1)[0];
    let (gw, bus) = gateway(&[]);

    let stopped = gw.invoke(&sample("apigw-rest-stop-sfn.json", &account, Some(arn)));
    assert_eq!(stopped.body["statusCode"], 200, "{:?}", stopped.body);
    assert_eq!(outcome(&stopped), "stopped");
    assert_eq!(body(&stopped)["kmsFallback"], true);
    assert_eq!(s.sfn_status(arn), "ABORTED", "the stand-in says it is stopped");
    let stops = s.sfn_stops(arn);
    assert_eq!(stops.len(), 2, "{stops:?}");
    assert_eq!(stops[0]["error"], "Ops.RetryStorm", "first with the error code");
    assert!(stops[0]["cause"].as_str().is_some_and(|c| c.contains("[stop-gateway]")), "and the cause");
    assert!(stops[1].get("error").is_none() && stops[1].get("cause").is_none(), "then without either: {}", stops[1]);

    let lines = assert_audit_delivered(&gw, &bus, 1);
    let audit = &lines[0]["audit"];
    assert_eq!(audit["kmsFallback"], true);
    let why = audit["kmsFallbackReason"].as_str().unwrap();
    assert!(why.contains("KmsAccessDeniedException"), "the audit says why: {why}");
    assert!(body(&stopped).get("kmsFallbackReason").is_none(), "the reason stays in the audit record");
}

/// The HTTP bulk sample aimed at `function` (with `qualifier`, empty for none).
fn durable_bulk(account: &str, function: &str, qualifier: &str) -> String {
    let arn = format!("arn:aws:lambda:us-east-1:{account}:function:{function}{qualifier}");
    sample("apigw-http-bulk-state-machine.json", account, Some(&arn))
}

#[test]
fn a_function_wide_stop_reaches_every_version_and_paused_executions() {
    let s = standins();
    let account = s.account();
    let f = "orders-versions";
    let mut all = s.durable_start_on(f, "$LATEST", 1);
    all.extend(s.durable_start_on(f, "1", 1));
    all.extend(s.durable_start_on(f, "2", 2));
    s.durable_pause(&all[3]);
    assert!(all[1].contains(&format!(":function:{f}:1/durable-execution/")), "{}", all[1]);
    assert_eq!(s.durable_status(&all[3])["Status"], "PAUSED");
    let (gw, bus) = gateway(&[]);

    let stopped = gw.invoke(&durable_bulk(&account, f, ""));
    assert_eq!(stopped.body["statusCode"], 200, "{:?}", stopped.body);
    assert_eq!(outcome(&stopped), "stopped");
    assert_eq!(body(&stopped)["counts"]["stopped"], 4, "$LATEST, versions 1 and 2, and the paused one");
    for arn in &all {
        assert_eq!(s.durable_status(arn)["Status"], "STOPPED", "{arn}");
        assert_eq!(s.durable_stops(arn).len(), 1, "{arn} stopped once");
    }
    let paused =
        body(&stopped)["executions"].as_array().unwrap().iter().find(|e| e["executionArn"] == all[3].as_str()).cloned();
    assert_eq!(paused.unwrap()["previousStatus"], "PAUSED");
    assert_audit_delivered(&gw, &bus, 1 + 4); // the request's record and one per stopped execution
}

#[test]
fn a_qualified_stop_reaches_only_its_version_and_an_alias_the_versions_it_serves() {
    let s = standins();
    let account = s.account();
    let f = "orders-qualified";
    let latest = s.durable_start_on(f, "$LATEST", 1);
    let v1 = s.durable_start_on(f, "1", 2);
    let v2 = s.durable_start_on(f, "2", 1);
    let v3 = s.durable_start_on(f, "3", 1);
    let (gw, bus) = gateway(&[]);

    let one = gw.invoke(&durable_bulk(&account, f, ":1"));
    assert_eq!(body(&one)["counts"]["stopped"], 2, "{:?}", one.body);
    assert!(v1.iter().all(|a| s.durable_status(a)["Status"] == "STOPPED"));
    for arn in latest.iter().chain(&v2).chain(&v3) {
        assert_eq!(s.durable_status(arn)["Status"], "RUNNING", "{arn} is not version 1's");
    }

    // An alias is resolved to the versions it serves: here 2, with 10% of traffic routed to 3.
    s.durable_alias(f, "live", "2", &["3=0.1"]);
    let live = gw.invoke(&durable_bulk(&account, f, ":live"));
    assert_eq!(outcome(&live), "stopped", "{:?}", live.body);
    assert_eq!(body(&live)["counts"]["stopped"], 2);
    assert_eq!(s.durable_status(&v2[0])["Status"], "STOPPED");
    assert_eq!(s.durable_status(&v3[0])["Status"], "STOPPED");
    assert_eq!(s.durable_status(&latest[0])["Status"], "RUNNING", "$LATEST is not what the alias serves");

    let missing = gw.invoke(&durable_bulk(&account, f, ":no-such-alias"));
    assert_eq!((missing.body["statusCode"].clone(), outcome(&missing)), (Value::from(404), "not_found".to_owned()));
    assert_audit_delivered(&gw, &bus, 3 + 2 + 2); // three requests, and one record per stopped execution
}

/// The stand-ins' metrics lines of one kind so far.
fn metric_lines(gateway: &GatewayProcess, metric: &str) -> usize {
    gateway
        .stdout()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get(metric).is_some())
        .count()
}

#[test]
fn a_policy_in_ssm_changes_after_the_refresh_and_a_broken_update_keeps_the_last_good_one() {
    let s = standins();
    let account = s.account();
    let name = format!("/stop-gateway/policy-{}", std::process::id());
    let policy = policy_for(&account);
    let dry = format!("{}\n", policy.replacen("dry_run = false", "dry_run = true", 1));
    assert_ne!(dry.trim(), policy.trim(), "the example policy has a global dry_run to flip");
    assert_eq!(s.ssm_put(&name, &dry), 1);
    let arns = s.sfn_start("orders-e2e-ssm", 2);
    let bus = s.audit_bus();
    let env =
        [("POLICY_PARAMETER", name.as_str()), ("POLICY_REFRESH_SECONDS", "1"), ("AUDIT_EVENT_BUS", bus.name.as_str())];
    let gw = GatewayProcess::start(binary(), s, &env);

    let first = gw.invoke(&sample("apigw-rest-stop-sfn.json", &account, Some(&arns[0])));
    assert_eq!(outcome(&first), "dry_run", "version 1 makes every stop a dry run: {:?}", first.body);
    assert_eq!(s.sfn_status(&arns[0]), "RUNNING");

    // The next version allows real stops; the next decision after the refresh interval uses it.
    assert_eq!(s.ssm_put(&name, &policy), 2);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let second = gw.invoke(&sample("apigw-rest-stop-sfn.json", &account, Some(&arns[0])));
    assert_eq!(outcome(&second), "stopped", "{:?}", second.body);
    assert_eq!(s.sfn_status(&arns[0]), "ABORTED");

    // A broken update is not taken: version 2 stays in force, the failure is logged and metered.
    assert_eq!(s.ssm_put(&name, "version = 1\n[[rules]]\nid = \"half a rule\"\n"), 3);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let third = gw.invoke(&sample("apigw-rest-stop-sfn.json", &account, Some(&arns[1])));
    assert_eq!(outcome(&third), "stopped", "{:?}", third.body);
    assert_eq!(metric_lines(&gw, "PolicyRefreshFailures"), 1, "one failed refresh, metered");
    assert!(gw.stdout().iter().any(|l| l.contains("policy refresh failed; keeping the last good policy")));

    let lines = assert_audit_delivered(&gw, &bus, 3);
    let versions: Vec<(Value, Value)> = lines
        .iter()
        .map(|l| (l["audit"]["policy"]["ssmVersion"].clone(), l["audit"]["policy"]["origin"].clone()))
        .collect();
    assert_eq!(versions, [(1.into(), "ssm".into()), (2.into(), "ssm".into()), (2.into(), "ssm".into())]);
    let hashes: Vec<&str> = lines.iter().map(|l| l["audit"]["policy"]["sha256"].as_str().unwrap()).collect();
    assert!(hashes[0] != hashes[1] && hashes[1] == hashes[2], "{hashes:?}");
}

#[test]
fn a_missing_policy_parameter_is_answered_and_audited_not_a_crash_loop() {
    let s = standins();
    let account = s.account();
    let bus = s.audit_bus();
    let env = [("POLICY_PARAMETER", "/stop-gateway/no-such-parameter"), ("AUDIT_EVENT_BUS", bus.name.as_str())];
    let gw = GatewayProcess::start(binary(), s, &env);
    let arn = format!("arn:aws:states:us-east-1:{account}:execution:orders-api:run-1");
    let http = gw.invoke(&sample("apigw-rest-stop-sfn.json", &account, Some(&arn)));
    assert_eq!(http.body["statusCode"], 503, "{:?}", http.body);
    assert_eq!(outcome(&http), "policy_unavailable");
    assert!(body(&http)["error"]["message"].as_str().unwrap().contains("does not exist"), "{:?}", http.body);
    let lines = assert_audit_delivered(&gw, &bus, 1);
    assert_eq!(lines[0]["audit"]["outcome"], "policy_unavailable");
    assert_eq!(lines[0]["audit"]["policy"], Value::Null);
}
