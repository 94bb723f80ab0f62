//! The latch through the real handler, CloudWatch and Step Functions mocked: who is audited as the caller, what
//! a burst of status-change events costs in `DescribeAlarms` calls, that a cached state never serves an event
//! newer than it, and that a failed read is a retried, audited failure rather than a silent pass.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use serde_json::value::RawValue;
use stop_gateway::handler::handle;
use testkit::mocks::{
    LATCHING_ALARM, RunningWorld, alarms_in_alarm, app_with, cloudwatch_client, context, example_document,
    example_policy,
};

const STARTED: &str = include_str!("../../events/sfn-status-change-running.json");

/// The status-change sample, for execution `name`, happening at `at`.
fn started(name: &str, at: chrono::DateTime<Utc>) -> String {
    let mut event: Value = serde_json::from_str(STARTED).unwrap();
    let arn = format!("arn:aws:states:us-east-1:111122223333:execution:orders-api:{name}");
    event["detail"]["executionArn"] = Value::String(arn);
    event["time"] = Value::String(at.to_rfc3339());
    event.to_string()
}

async fn run(app: &stop_gateway::handler::App<testkit::mocks::RecordingSink>, payload: &str) -> Result<Value, String> {
    let raw: Box<RawValue> = serde_json::from_str(payload).unwrap();
    handle(app, LambdaEvent::new(raw, context("req-latch"))).await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_burst_of_new_executions_costs_one_alarm_read_and_each_is_stopped_by_the_alarm() {
    let world = RunningWorld::new();
    let (cloudwatch, reads) = alarms_in_alarm(&[LATCHING_ALARM]);
    let app = app_with(world.gateway(example_policy()), example_document().routing, cloudwatch);
    // Events that happened a moment ago: the first read is newer than all of them.
    let at = Utc::now() - Duration::seconds(1);
    for i in 0..5 {
        let answer = run(&app, &started(&format!("burst-{i}"), at)).await.unwrap();
        assert_eq!(answer["outcome"], "stopped", "{answer}");
    }
    assert_eq!(*reads.lock().unwrap(), 1, "one DescribeAlarms for the whole burst");
    assert_eq!(world.sfn_stops.lock().unwrap().len(), 5);
    let records = app.sink.events();
    assert_eq!(records.len(), 5, "one record per event");
    for record in &records {
        assert_eq!(record.source, "latch");
        let caller = record.caller.as_ref().unwrap();
        assert_eq!((caller.kind, caller.alarm_arn.as_deref()), ("alarm", Some(LATCHING_ALARM)));
        assert!(record.reason.as_deref().unwrap().starts_with("Latched: the execution started while the alarm"));
        assert_eq!(record.decision.as_ref().unwrap().rule_id.as_deref(), Some("alarm-kill-switches"));
    }
    let cause = world.sfn_stops.lock().unwrap()[0].cause().unwrap().to_owned();
    assert!(cause.contains(LATCHING_ALARM), "the stop's cause names the alarm: {cause}");

    // An event newer than the cached read is never served from it: the state may have been released since.
    let answer = run(&app, &started("later", Utc::now() + Duration::seconds(1))).await.unwrap();
    assert_eq!(answer["outcome"], "stopped");
    assert_eq!(*reads.lock().unwrap(), 2, "read again for an event newer than the cache");
}

#[tokio::test]
async fn with_no_latching_alarm_in_alarm_a_new_execution_runs_on() {
    let world = RunningWorld::new();
    let (cloudwatch, _) = alarms_in_alarm(&[]);
    let app = app_with(world.gateway(example_policy()), example_document().routing, cloudwatch);
    let answer = run(&app, &started("free", Utc::now())).await.unwrap();
    assert_eq!(answer["outcome"], "ignored");
    assert_eq!(world.sfn_stops.lock().unwrap().len(), 0);
    assert_eq!(world.sfn_describe.num_calls(), 0, "nothing is even described");
    let records = app.sink.events();
    assert_eq!((records.len(), records[0].outcome), (1, "ignored"));
}

#[tokio::test]
async fn an_alarm_in_alarm_that_does_not_latch_stops_nothing() {
    // payments-errors is mapped (to checkout) but not latching; a non-latching alarm in ALARM is no latch.
    let world = RunningWorld::new();
    let (cloudwatch, _) =
        alarms_in_alarm(&["arn:aws:cloudwatch:us-east-1:111122223333:alarm:payments-errors", LATCHING_ALARM]);
    let app = app_with(world.gateway(example_policy()), example_document().routing, cloudwatch);
    let mut event: Value = serde_json::from_str(STARTED).unwrap();
    event["detail"]["executionArn"] =
        Value::String("arn:aws:states:us-east-1:111122223333:execution:orders-batch:other".into());
    event["detail"]["stateMachineArn"] =
        Value::String("arn:aws:states:us-east-1:111122223333:stateMachine:orders-batch".into());
    let answer = run(&app, &event.to_string()).await.unwrap();
    assert_eq!(answer["outcome"], "ignored", "orders-latch-errors latches orders-api, not orders-batch");
    assert_eq!(world.sfn_stops.lock().unwrap().len(), 0);
}

#[tokio::test]
async fn a_failed_alarm_read_is_retried_and_audited() {
    let world = RunningWorld::new();
    // CloudWatch answers 503, as an unavailable service would.
    let unavailable = aws_smithy_mocks::mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(503).unwrap(),
            aws_smithy_types::body::SdkBody::from(""),
        )
    });
    let app = app_with(world.gateway(example_policy()), example_document().routing, cloudwatch_client(&[&unavailable]));
    let err = run(&app, &started("unknown", Utc::now())).await.unwrap_err();
    assert!(err.contains("upstream") || err.contains("CloudWatch"), "{err}");
    let records = app.sink.events();
    assert_eq!(records.len(), 1, "the failure is audited");
    assert_eq!(records[0].outcome, "upstream_error");
    assert_eq!(world.sfn_stops.lock().unwrap().len(), 0);
}

#[tokio::test]
async fn crafted_status_change_envelopes_are_rejected() {
    let world = RunningWorld::new();
    let (cloudwatch, reads) = alarms_in_alarm(&[LATCHING_ALARM]);
    let app = app_with(world.gateway(example_policy()), example_document().routing, cloudwatch);
    let base: Value = serde_json::from_str(STARTED).unwrap();
    type Mutation = fn(&mut Value);
    let cases: [(&str, Mutation); 4] = [
        ("account", |e| e["account"] = Value::String("999999999999".into())),
        ("machine", |e| {
            e["detail"]["stateMachineArn"] =
                Value::String("arn:aws:states:us-east-1:111122223333:stateMachine:payments-ledger".into())
        }),
        ("arn", |e| e["detail"]["executionArn"] = Value::String("arn:aws:states:us-east-1:1:execution:x".into())),
        ("shape", |e| e["detail"]["status"] = Value::Array(vec![])),
    ];
    for (name, mutate) in cases {
        let mut event = base.clone();
        mutate(&mut event);
        let answer = run(&app, &event.to_string()).await.unwrap();
        assert_eq!(answer["error"]["code"], "invalid_request", "{name}: {answer}");
    }
    assert_eq!(*reads.lock().unwrap(), 0, "a crafted event costs no CloudWatch call");
    assert_eq!(app.sink.events().len(), 4, "each rejection is audited");
}
