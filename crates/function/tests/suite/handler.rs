//! Wiring: every sample in `events/` through the real handler, with SDK clients mocked, checking the response
//! shape and status, the single audit record, and what was (or was not) sent to AWS.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a clear failure

use std::collections::BTreeMap;

use lambda_runtime::Context;
use serde_json::Value;
use stop_gateway_core::domain::audit::AuditEvent;
use testkit::mocks::{RunningWorld, context, example_policy};

/// What each sample must produce: HTTP status (`None` for events, which get the plain body), outcome code,
/// deciding rule, and how many Step Functions and durable stop calls it makes.
struct Expect {
    status: Option<u16>,
    outcome: &'static str,
    rule: Option<&'static str>,
    stops: (usize, usize),
}

fn expectations() -> BTreeMap<&'static str, Expect> {
    let e = |status, outcome, rule, stops| Expect { status, outcome, rule, stops };
    let (none, sfn, durable) = ((0, 0), (1, 0), (0, 1));
    BTreeMap::from([
        ("eventbridge-stop-sfn.json", e(None, "stopped", Some("alarm-kill-switch"), sfn)),
        ("eventbridge-dry-run.json", e(None, "dry_run", Some("alarm-kill-switch"), none)),
        ("eventbridge-denied-source.json", e(None, "denied", None, none)),
        ("eventbridge-other-service.json", e(None, "invalid_request", None, none)),
        ("eventbridge-durable-not-allowed.json", e(None, "denied", None, none)),
        ("apigw-rest-stop-sfn.json", e(Some(200), "stopped", Some("oncall-orders"), sfn)),
        ("apigw-http-stop-durable.json", e(Some(200), "stopped", Some("oncall-orders"), durable)),
        ("apigw-http-dry-run.json", e(Some(200), "dry_run", Some("oncall-orders"), none)),
        ("function-url-stop-sfn.json", e(Some(200), "stopped", Some("oncall-orders"), sfn)),
        ("apigw-http-express-not-stoppable.json", e(Some(409), "not_stoppable", Some("oncall-orders"), none)),
        // Every ARN form Step Functions issues, with its true answer.
        ("apigw-http-map-run-child.json", e(Some(409), "not_stoppable", Some("oncall-orders"), none)),
        ("apigw-http-map-run-express-child.json", e(Some(409), "not_stoppable", Some("oncall-orders"), none)),
        ("apigw-http-map-run.json", e(Some(409), "not_stoppable", Some("oncall-orders"), none)),
        ("eventbridge-map-run-child.json", e(None, "not_stoppable", Some("alarm-kill-switch"), none)),
        ("apigw-http-stop-redriven.json", e(Some(200), "stopped", Some("oncall-orders"), sfn)),
        ("apigw-http-bulk-state-machine-version.json", e(Some(200), "stopped", Some("oncall-orders"), (3, 0))),
        ("apigw-http-bulk-state-machine-alias.json", e(Some(200), "stopped", Some("oncall-orders"), (3, 0))),
        ("apigw-http-bad-arn.json", e(Some(400), "invalid_request", None, none)),
        ("apigw-http-missing-reason.json", e(Some(400), "invalid_request", None, none)),
        ("apigw-http-no-ticket.json", e(Some(403), "denied", Some("oncall-orders"), none)),
        ("apigw-http-no-iam-identity.json", e(Some(401), "unauthenticated", None, none)),
        ("apigw-http-caller-in-body.json", e(Some(400), "invalid_request", None, none)),
        ("apigw-http-invalid-json.json", e(Some(400), "invalid_request", None, none)),
        ("apigw-rest-wrong-route.json", e(Some(404), "route_not_found", None, none)),
        ("unknown-shape.json", e(None, "invalid_request", None, none)),
        // Alarms and bulk stops: orders-api has 12 running executions, orders-batch 3, every function 2.
        ("alarm-event-tags.json", e(None, "stopped", Some("alarm-kill-switches"), (12, 0))),
        ("alarm-event-dimensions.json", e(None, "stopped", Some("alarm-kill-switches"), (3, 0))),
        ("alarm-event-mapping.json", e(None, "stopped", Some("alarm-kill-switches"), (0, 2))),
        ("alarm-event-metric-math.json", e(None, "stopped", Some("alarm-kill-switches"), (12, 0))),
        ("alarm-event-ok.json", e(None, "ignored", None, none)),
        ("alarm-event-repeat.json", e(None, "ignored", None, none)),
        ("alarm-action-direct.json", e(None, "stopped", Some("alarm-kill-switches"), (0, 2))),
        ("apigw-http-bulk-state-machine.json", e(Some(200), "stopped", Some("oncall-orders"), (3, 0))),
        ("apigw-http-bulk-over-cap.json", e(Some(409), "blast_radius_exceeded", Some("oncall-orders"), none)),
        ("apigw-http-bulk-confirmed.json", e(Some(200), "stopped", Some("oncall-orders"), (12, 0))),
        // The latch: CloudWatch reports the example policy's orders-latch-errors alarm in ALARM.
        ("sfn-status-change-running.json", e(None, "stopped", Some("alarm-kill-switches"), sfn)),
        ("sfn-status-change-redriven.json", e(None, "stopped", Some("alarm-kill-switches"), sfn)),
        ("sfn-status-change-succeeded.json", e(None, "ignored", None, none)),
        ("schedule-latch-sweep.json", e(None, "stopped", Some("alarm-kill-switches"), (12, 0))),
    ])
}

async fn invoke(payload: &str) -> (Result<Value, String>, Vec<AuditEvent>, RunningWorld) {
    invoke_with(payload, context("req-1")).await
}

/// The JSON body of a response: HTTP shapes carry it as a string in `body`.
fn body_of(response: &Value, http: bool) -> Value {
    if http {
        serde_json::from_str(response["body"].as_str().expect("HTTP responses carry a string body")).unwrap()
    } else {
        response.clone()
    }
}

#[tokio::test]
async fn every_sample_event_gets_its_response_and_one_audit_record() {
    let dir = testkit::repo().join("events");
    let expectations = expectations();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let expect = expectations.get(name.as_str()).unwrap_or_else(|| panic!("{name}: add an expectation"));
        seen += 1;
        let (result, audit, world) = invoke(&std::fs::read_to_string(&path).unwrap()).await;
        let response = result.unwrap_or_else(|e| panic!("{name}: handled outcomes are not invocation errors: {e}"));

        let requests: Vec<&AuditEvent> = audit.iter().filter(|r| r.record_type == "request").collect();
        assert_eq!(requests.len(), 1, "{name}: exactly one request record");
        let record = requests[0];
        assert_eq!(record.outcome.as_str(), expect.outcome, "{name}: audit outcome ({:?})", record.message);
        assert_eq!(record.lambda_request_id, "req-1");
        assert_eq!(record.schema_version, 1);
        assert_eq!(record.decision.as_ref().and_then(|d| d.rule_id.as_deref()), expect.rule, "{name}: rule");

        let http = expect.status.is_some();
        if let Some(status) = expect.status {
            assert_eq!(response["statusCode"], status, "{name}: status");
            assert_eq!(response["headers"]["content-type"], "application/json", "{name}: content type");
        }
        let body = body_of(&response, http);
        assert_eq!(body["auditId"], record.audit_id.as_str(), "{name}: response names the audit record");
        let code = body["outcome"].as_str().or(body["error"]["code"].as_str());
        assert_eq!(code, Some(expect.outcome), "{name}: body {body}");
        let bulk = body.get("executions").is_some();
        if body.get("error").is_some() {
            assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: error message");
        } else if !bulk && expect.outcome != "ignored" {
            assert_eq!(body["targetArn"], record.target.arn.as_deref().unwrap(), "{name}");
            assert_eq!(body["previousStatus"], "RUNNING", "{name}");
        }

        let stops = (world.sfn_stops.lock().unwrap().len(), world.durable_stops.lock().unwrap().len());
        assert_eq!(stops, expect.stops, "{name}: stop calls");
        if bulk {
            let stopped = stops.0 + stops.1;
            assert_eq!(body["executions"].as_array().unwrap().len(), stopped, "{name}: every execution reported");
            assert_eq!(body["counts"]["stopped"], stopped, "{name}: counts");
            let execution_records = audit.iter().filter(|r| r.record_type == "execution").count();
            assert_eq!(execution_records, stopped, "{name}: one audit record per stopped execution");
            assert!(
                audit
                    .iter()
                    .filter(|r| r.record_type == "execution")
                    .all(|r| r.parent_audit_id.as_deref() == Some(record.audit_id.as_str()))
            );
        } else if stops != (0, 0) {
            assert_eq!(audit.len(), 1, "{name}: a single stop has only its request record");
            assert_eq!(body["stoppedAt"], "2026-11-21T03:12:45.000Z", "{name}");
            assert_eq!(record.stopped_at.as_deref(), Some("2026-11-21T03:12:45.000Z"), "{name}");
        }
    }
    assert_eq!(seen, expectations.len(), "every expectation has a sample");
}

#[tokio::test]
async fn sfn_stop_sends_the_policy_error_code_and_a_cause_naming_caller_and_audit_id() {
    let payload = include_str!("../../../../events/apigw-rest-stop-sfn.json");
    let (_, audit, world) = invoke(payload).await;
    let stops = world.sfn_stops.lock().unwrap();
    let stop = &stops[0];
    assert_eq!(stop.execution_arn(), Some("arn:aws:states:us-east-1:111122223333:execution:orders-api:order-run-0042"));
    assert_eq!(stop.error(), Some("Ops.RetryStorm"));
    let cause = stop.cause().unwrap();
    assert!(cause.starts_with("OPS-1234 orders-api retry storm, stopping run 42\n\n[stop-gateway] requested by arn:aws:sts::111122223333:assumed-role/OnCall/alice via apigw-rest"), "{cause}");
    assert!(cause.ends_with(&format!("audit id {}", audit[0].audit_id)), "{cause}");
    assert_eq!(world.sfn_describe.num_calls(), 1, "describe first, once");
}

#[tokio::test]
async fn durable_stop_sends_an_error_object_pointing_at_the_audit_record() {
    let payload = include_str!("../../../../events/apigw-http-stop-durable.json");
    let (_, audit, world) = invoke(payload).await;
    let stops = world.durable_stops.lock().unwrap();
    let error = stops[0].error().unwrap();
    assert_eq!(error.error_type(), Some("Ops.ManualStop"), "the rule's default code");
    assert_eq!(error.error_message(), Some("OPS-1235 checkout stuck waiting on payment callback"));
    let data: Value = serde_json::from_str(error.error_data().unwrap()).unwrap();
    assert_eq!(data["auditId"], audit[0].audit_id.as_str());
    assert_eq!(data["caller"], "arn:aws:sts::111122223333:assumed-role/OnCall/alice");
    assert_eq!(data["ruleId"], "oncall-orders");
    assert_eq!(audit[0].caller.as_ref().unwrap().org_id.as_deref(), Some("o-a1b2c3d4e5"));
}

#[tokio::test]
async fn audit_record_keeps_who_what_why_and_decision() {
    let (_, audit, _) = invoke(include_str!("../../../../events/apigw-http-no-ticket.json")).await;
    let r = &audit[0];
    assert_eq!(r.source.as_str(), "apigw-http");
    assert_eq!(
        r.caller.as_ref().unwrap().principal_arn.as_deref(),
        Some("arn:aws:sts::111122223333:assumed-role/OnCall/alice")
    );
    assert_eq!(r.target.kind, Some("sfn-execution"));
    assert_eq!(r.reason.as_deref(), Some("stopping it because it looks stuck"));
    let decision = r.decision.as_ref().unwrap();
    assert_eq!(decision.effect, "deny");
    assert!(decision.rationale.contains("[A-Z]+-[0-9]+"), "{}", decision.rationale);
    let json = serde_json::to_value(r).unwrap();
    for field in [
        "schemaVersion",
        "auditId",
        "time",
        "lambdaRequestId",
        "source",
        "caller",
        "target",
        "reason",
        "errorCode",
        "decision",
        "outcome",
        "previousStatus",
        "stoppedAt",
        "dryRun",
        "durationMs",
    ] {
        assert!(json.get(field).is_some(), "audit record has {field}");
    }
}

#[tokio::test]
async fn unknown_shape_names_the_accepted_shapes() {
    let (result, audit, _) = invoke(include_str!("../../../../events/unknown-shape.json")).await;
    let message = result.unwrap()["error"]["message"].as_str().unwrap().to_owned();
    for shape in ["EventBridge", "REST API (v1", "HTTP API (v2)", "function URL"] {
        assert!(message.contains(shape), "{message}");
    }
    assert_eq!(audit[0].source.as_str(), "unknown");
}

#[tokio::test]
async fn non_object_payloads_are_rejected_and_audited() {
    for payload in ["null", "42", "\"stop\"", "[]", "{}", "{\"detail-type\": 1}"] {
        let (result, audit, _) = invoke(payload).await;
        assert_eq!(result.unwrap()["error"]["code"], "invalid_request", "{payload}");
        assert_eq!(audit.len(), 1, "{payload}");
    }
}

#[tokio::test]
async fn alarm_reasons_are_truncated_but_api_reasons_are_refused() {
    let long = "x".repeat(40_000);
    let mut event: Value = serde_json::from_str(include_str!("../../../../events/eventbridge-stop-sfn.json")).unwrap();
    event["detail"]["reason"] = Value::String(long.clone());
    let (result, audit, world) = invoke(&event.to_string()).await;
    assert_eq!(result.unwrap()["outcome"], "stopped");
    assert!(audit[0].reason_truncated);
    let cause = world.sfn_stops.lock().unwrap()[0].cause().unwrap().to_owned();
    assert!(cause.len() <= 32_768 && cause.contains("[truncated by stop-gateway]"));

    let mut event: Value = serde_json::from_str(include_str!("../../../../events/apigw-http-dry-run.json")).unwrap();
    event["body"] = Value::String(serde_json::json!({"targetArn": "arn:aws:states:us-east-1:111122223333:execution:orders-api:r", "reason": format!("OPS-1 {long}")}).to_string());
    let (result, _, _) = invoke(&event.to_string()).await;
    let response = result.unwrap();
    assert_eq!(response["statusCode"], 400);
    assert!(response["body"].as_str().unwrap().contains("reason"), "{response}");
}

async fn invoke_with(payload: &str, context: Context) -> (Result<Value, String>, Vec<AuditEvent>, RunningWorld) {
    let world = RunningWorld::new();
    let (result, events) = testkit::mocks::invoke(world.gateway(example_policy()), payload, context).await;
    (result, events, world)
}

#[tokio::test]
async fn over_cap_answers_with_the_count_and_limit_and_stops_nothing() {
    let (result, audit, world) = invoke(include_str!("../../../../events/apigw-http-bulk-over-cap.json")).await;
    let body = body_of(&result.unwrap(), true);
    assert_eq!((body["error"]["count"].as_u64(), body["error"]["limit"].as_u64()), (Some(12), Some(10)));
    assert!(body["error"]["message"].as_str().unwrap().contains("\"confirmCount\": 12"));
    assert_eq!(world.sfn_describe.num_calls(), 0, "nothing is even described");
    assert_eq!(audit.len(), 1);
}

#[tokio::test]
async fn bulk_dry_run_lists_every_execution_that_would_stop() {
    let mut event: Value =
        serde_json::from_str(include_str!("../../../../events/apigw-http-bulk-over-cap.json")).unwrap();
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    body["dryRun"] = Value::Bool(true);
    event["body"] = Value::String(body.to_string());
    let (result, _, world) = invoke(&event.to_string()).await;
    let body = body_of(&result.unwrap(), true);
    assert_eq!(body["outcome"], "dry_run", "a dry run is not capped: it stops nothing");
    assert_eq!(body["executions"].as_array().unwrap().len(), 12);
    assert_eq!(world.sfn_stops.lock().unwrap().len(), 0);
}

#[tokio::test]
async fn alarm_records_name_the_alarm_and_how_targets_were_found() {
    let (_, audit, _) = invoke(include_str!("../../../../events/alarm-event-tags.json")).await;
    let r = &audit[0];
    assert_eq!((r.source.as_str(), r.resolution), ("alarm-event", Some("tags")));
    let caller = r.caller.as_ref().unwrap();
    assert_eq!(
        (caller.kind, caller.alarm_arn.as_deref()),
        ("alarm", Some("arn:aws:cloudwatch:us-east-1:111122223333:alarm:orders-error-rate"))
    );
    assert_eq!(r.error_code.as_deref(), Some("StopGateway.AlarmKillSwitch"));
    assert!(r.reason.as_deref().unwrap().starts_with(
        "CloudWatch alarm orders-error-rate entered ALARM at 2026-11-21T03:12:45.123+0000 (was OK): Threshold Crossed"
    ));
    assert_eq!(r.counts.as_ref().unwrap()["stopped"], 12);

    let (result, audit, _) = invoke(include_str!("../../../../events/alarm-event-ok.json")).await;
    assert_eq!(result.unwrap()["outcome"], "ignored");
    assert!(audit[0].message.as_deref().unwrap().contains("changed to OK"));
}

#[tokio::test]
async fn crafted_alarm_payloads_are_rejected() {
    let base: Value = serde_json::from_str(include_str!("../../../../events/alarm-event-tags.json")).unwrap();
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("name differs from ARN", Box::new(|e| e["detail"]["alarmName"] = "other".into())),
        ("account differs from ARN", Box::new(|e| e["account"] = "999999999999".into())),
        ("two alarms in resources", Box::new(|e| e["resources"] = serde_json::json!(["a", "b"]))),
        ("tags unreadable", Box::new(|e| e["detail"]["alarmTagsStatus"] = "FAILED".into())),
        ("tag names an unknown target", Box::new(|e| e["detail"]["alarmTags"]["stop-gateway:target"] = "nope".into())),
        (
            "tag names a look-alike ARN",
            Box::new(|e| {
                e["detail"]["alarmTags"]["stop-gateway:target"] =
                    "arn:aws:states:us-east-1:111122223333:stateMachine:оrders-api".into()
            }),
        ),
        ("no state", Box::new(|e| e["detail"].as_object_mut().unwrap().remove("state").map(drop).unwrap_or(()))),
    ];
    for (case, mutate) in cases {
        let mut event = base.clone();
        mutate(&mut event);
        let (result, audit, world) = invoke(&event.to_string()).await;
        assert_eq!(result.unwrap()["error"]["code"], "invalid_request", "{case}");
        assert_eq!(audit.len(), 1, "{case}");
        assert_eq!(world.sfn_stops.lock().unwrap().len(), 0, "{case}");
    }
}

#[tokio::test]
async fn a_bulk_stop_out_of_time_reports_what_is_left_and_events_retry() {
    let soon = || {
        let mut ctx = context("req-deadline");
        // One second left, inside the three-second margin: nothing may start.
        ctx.deadline = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap() + 1_000;
        ctx
    };
    let (result, audit, world) =
        invoke_with(include_str!("../../../../events/apigw-http-bulk-state-machine.json"), soon()).await;
    let response = result.unwrap();
    assert_eq!(response["statusCode"], 503);
    let body = body_of(&response, true);
    assert_eq!(body["outcome"], "incomplete");
    assert_eq!(body["remaining"].as_array().unwrap().len(), 3);
    assert_eq!(world.sfn_stops.lock().unwrap().len(), 0);
    assert_eq!(audit[0].counts.as_ref().unwrap()["remaining"], 3);

    let (result, audit, _) = invoke_with(include_str!("../../../../events/alarm-event-dimensions.json"), soon()).await;
    assert!(result.unwrap_err().starts_with("incomplete:"), "alarm events fail so Lambda retries and continues");
    assert_eq!(audit[0].outcome.as_str(), "incomplete");
}

#[tokio::test]
async fn every_record_names_its_policy_and_the_id_the_door_gave_the_request() {
    let samples = [
        (include_str!("../../../../events/apigw-rest-stop-sfn.json"), "/requestContext/requestId"),
        (include_str!("../../../../events/apigw-http-dry-run.json"), "/requestContext/requestId"),
        (include_str!("../../../../events/function-url-stop-sfn.json"), "/requestContext/requestId"),
        (include_str!("../../../../events/eventbridge-stop-sfn.json"), "/id"),
        (include_str!("../../../../events/alarm-event-tags.json"), "/id"),
    ];
    for (payload, pointer) in samples {
        let expected: Value = serde_json::from_str(payload).unwrap();
        let expected = expected.pointer(pointer).and_then(Value::as_str).unwrap().to_owned();
        let (_, audit, _) = invoke(payload).await;
        for record in &audit {
            assert_eq!(record.door_request_id.as_deref(), Some(expected.as_str()), "{pointer}");
            let policy = record.policy.as_ref().expect("the policy in force is named");
            assert_eq!((policy.sha256.len(), policy.origin), (64, "env"));
        }
    }
}

#[tokio::test]
async fn without_a_policy_every_request_is_answered_and_audited_as_policy_unavailable() {
    use stop_gateway::aws::policy_source::PolicyStore;
    let world = RunningWorld::new();
    let mut app = testkit::mocks::app(world.gateway(example_policy()));
    app.policies = PolicyStore::fixed(Err("POLICY: invalid policy at rules: the policy has no allow rule".into()));
    let call = async |payload: &str| {
        let raw: Box<serde_json::value::RawValue> = serde_json::from_str(payload).unwrap();
        let result = stop_gateway::handler::handle(&app, lambda_runtime::LambdaEvent::new(raw, context("req-1"))).await;
        result.map_err(|e| e.error_message)
    };
    let http = call(include_str!("../../../../events/apigw-rest-stop-sfn.json")).await.unwrap();
    assert_eq!(http["statusCode"], 503);
    let body = body_of(&http, true);
    assert_eq!(body["error"]["code"], "policy_unavailable");
    assert!(body["error"]["message"].as_str().unwrap().contains("no allow rule"), "{body}");
    let event = call(include_str!("../../../../events/eventbridge-stop-sfn.json")).await;
    assert!(event.unwrap_err().contains("policy_unavailable"), "an event is retried: the policy may be repaired");
    let ignored = call(include_str!("../../../../events/alarm-event-ok.json")).await.unwrap();
    assert_eq!(ignored["outcome"], "ignored", "nothing to decide, nothing lost");
    let invalid = call(include_str!("../../../../events/apigw-http-bad-arn.json")).await.unwrap();
    assert_eq!(invalid["statusCode"], 400);
    let audit = app.sink.events();
    let outcomes: Vec<&str> = audit.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(outcomes, ["policy_unavailable", "policy_unavailable", "ignored", "invalid_request"]);
    assert!(audit.iter().all(|r| r.policy.is_none() && r.decision.is_none()));
    assert!(world.sfn_stops.lock().unwrap().is_empty(), "nothing stopped without a policy");
}
