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

const STARTED: &str = include_str!("../../../../events/sfn-status-change-running.json");

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
    handle(app, LambdaEvent::new(raw, context("req-latch"))).await.map_err(|e| e.error_message)
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
        assert_eq!(record.source.as_str(), "latch");
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
    assert_eq!((records.len(), records[0].outcome.as_str()), (1, "ignored"));
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
    assert_eq!(records[0].outcome.as_str(), "upstream_error");
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

/// A CloudWatch reporting these metric alarms (ARN, state) for `DescribeAlarms`, answering
/// `ListTagsForResource` with `tags`; counts the `DescribeAlarms` calls.
fn cloudwatch_reporting(
    alarms: &[(&str, aws_sdk_cloudwatch::types::StateValue)],
    tags: aws_smithy_mocks::Rule,
) -> (aws_sdk_cloudwatch::Client, std::sync::Arc<std::sync::Mutex<usize>>) {
    use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
    let alarms: Vec<_> = alarms
        .iter()
        .map(|(arn, state)| {
            aws_sdk_cloudwatch::types::MetricAlarm::builder()
                .alarm_arn(*arn)
                .alarm_name(arn.rsplit(':').next().unwrap())
                .state_value(state.clone())
                .state_reason("Threshold Crossed")
                .state_updated_timestamp(aws_smithy_types::DateTime::from_secs(1_795_230_000))
                .actions_enabled(true)
                .build()
        })
        .collect();
    let calls = std::sync::Arc::new(std::sync::Mutex::new(0));
    let counter = calls.clone();
    let describe = aws_smithy_mocks::mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(move |_| {
            *counter.lock().unwrap() += 1;
            true
        })
        .then_compute_output(move |_| DescribeAlarmsOutput::builder().set_metric_alarms(Some(alarms.clone())).build());
    (cloudwatch_client(&[&describe, &tags]), calls)
}

fn no_tags() -> aws_smithy_mocks::Rule {
    aws_smithy_mocks::mock!(aws_sdk_cloudwatch::Client::list_tags_for_resource).then_output(|| {
        aws_sdk_cloudwatch::operation::list_tags_for_resource::ListTagsForResourceOutput::builder().build()
    })
}

#[tokio::test]
async fn a_failed_tag_read_is_a_retried_upstream_failure_naming_the_alarm() {
    let world = RunningWorld::new();
    let unavailable =
        aws_smithy_mocks::mock!(aws_sdk_cloudwatch::Client::list_tags_for_resource).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(500).unwrap(),
                aws_smithy_types::body::SdkBody::from(""),
            )
        });
    let in_alarm = aws_sdk_cloudwatch::types::StateValue::Alarm;
    let (cloudwatch, _) = cloudwatch_reporting(&[(LATCHING_ALARM, in_alarm)], unavailable);
    let app = app_with(world.gateway(example_policy()), example_document().routing, cloudwatch);
    let err = run(&app, &started("tags-unread", Utc::now() - Duration::seconds(2))).await.unwrap_err();
    assert!(err.contains("upstream_error"), "the invocation fails so Lambda retries it: {err}");
    let records = app.sink.events();
    assert_eq!((records.len(), records[0].outcome.as_str()), (1, "upstream_error"));
    let message = records[0].message.as_deref().unwrap();
    assert!(message.contains("tags") && message.contains("orders-latch-errors"), "names what failed: {message}");
    assert_eq!(world.sfn_stops.lock().unwrap().len(), 0);
}

/// Alarms latch only when CloudWatch reports them in ALARM in the function's own account and region, whatever
/// else the answer holds; a rule with no caller account would let any of them stop.
#[tokio::test]
async fn only_alarms_of_the_functions_own_account_and_region_in_alarm_latch() {
    use aws_sdk_cloudwatch::types::StateValue;
    let text = r#"
version = 1
[[alarm_targets]]
alarm = "orders-latch-*"
latch = true
targets = ["arn:aws:states:us-east-1:111122223333:stateMachine:orders-api"]
[[rules]]
id = "any-alarm"
effect = "allow"
callers = { alarms = ["*"] }
targets = { services = ["states"], partitions = ["aws"], accounts = ["111122223333"], regions = ["*"], names = ["*"] }
"#;
    let doc = stop_gateway_core::policy_doc::parse_policy(text, stop_gateway_core::policy_doc::Format::Toml).unwrap();
    let cases = [
        ("arn:aws:cloudwatch:us-east-1:999999999999:alarm:orders-latch-foreign", StateValue::Alarm),
        ("arn:aws:cloudwatch:eu-west-1:111122223333:alarm:orders-latch-elsewhere", StateValue::Alarm),
        ("arn:aws:cloudwatch:us-east-1:111122223333:alarm:orders-latch-calm", StateValue::Ok),
    ];
    for (arn, state) in cases {
        let world = RunningWorld::new();
        let (cloudwatch, _) = cloudwatch_reporting(&[(arn, state.clone())], no_tags());
        let app = app_with(world.gateway(doc.policy.clone()), doc.routing.clone(), cloudwatch);
        let answer = run(&app, &started("foreign", Utc::now() - Duration::seconds(2))).await.unwrap();
        assert_eq!(answer["outcome"], "ignored", "{arn} {state:?}: {answer}");
        assert_eq!(world.sfn_stops.lock().unwrap().len(), 0, "{arn}");
    }
    // The same alarm in the function's own account and region, in ALARM, does latch.
    let world = RunningWorld::new();
    let own = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:orders-latch-own";
    let (cloudwatch, _) = cloudwatch_reporting(&[(own, StateValue::Alarm)], no_tags());
    let app = app_with(world.gateway(doc.policy.clone()), doc.routing.clone(), cloudwatch);
    let answer = run(&app, &started("own", Utc::now() - Duration::seconds(2))).await.unwrap();
    assert_eq!(answer["outcome"], "stopped", "{answer}");
}

/// EventBridge stamps events in whole seconds: an event stamped T happened somewhere in [T, T+1 s), so a read
/// made within that second may predate it and cannot serve it.
#[tokio::test]
async fn a_read_within_the_events_own_second_does_not_serve_it() {
    for _ in 0..5 {
        let world = RunningWorld::new();
        let (cloudwatch, reads) = alarms_in_alarm(&[LATCHING_ALARM]);
        let app = app_with(world.gateway(example_policy()), example_document().routing, cloudwatch);
        let second = Utc::now().timestamp();
        let at = chrono::DateTime::from_timestamp(second, 0).unwrap();
        run(&app, &started("first", at)).await.unwrap();
        run(&app, &started("second", at)).await.unwrap();
        if Utc::now().timestamp() != second {
            continue; // the reads straddled a second boundary; the second event could then be served
        }
        assert_eq!(*reads.lock().unwrap(), 2, "each event of the read's own second reads again");
        return;
    }
    panic!("no attempt fitted within one second");
}

fn sweep_in(account: &str, region: &str) -> String {
    let mut event: Value = serde_json::from_str(include_str!("../../../../events/schedule-latch-sweep.json")).unwrap();
    event["account"] = Value::String(account.into());
    event["region"] = Value::String(region.into());
    event.to_string()
}

#[tokio::test]
async fn sweeps_within_the_cache_window_share_one_read() {
    let world = RunningWorld::new();
    let (cloudwatch, reads) = alarms_in_alarm(&[LATCHING_ALARM]);
    let app = app_with(world.gateway(example_policy()), example_document().routing, cloudwatch);
    let first = run(&app, &sweep_in("111122223333", "us-east-1")).await.unwrap();
    assert_eq!(first["outcome"], "stopped", "{first}");
    for _ in 0..4 {
        let again = run(&app, &sweep_in("111122223333", "us-east-1")).await.unwrap();
        assert_eq!(again["outcome"], "ignored", "{again}");
        assert!(again["message"].as_str().unwrap().contains("sweep"), "{again}");
    }
    assert_eq!(*reads.lock().unwrap(), 1, "five sweeps, one DescribeAlarms");
    assert_eq!(app.sink.events().iter().filter(|r| r.record_type == "request").count(), 5, "each is audited");
}

#[tokio::test]
async fn a_sweep_from_another_account_or_region_is_refused_without_a_read() {
    let world = RunningWorld::new();
    let (cloudwatch, reads) = alarms_in_alarm(&[LATCHING_ALARM]);
    let app = app_with(world.gateway(example_policy()), example_document().routing, cloudwatch);
    for (account, region) in [("999999999999", "us-east-1"), ("111122223333", "eu-west-1")] {
        let answer = run(&app, &sweep_in(account, region)).await.unwrap();
        assert_eq!(answer["error"]["code"], "invalid_request", "{account} {region}: {answer}");
    }
    assert_eq!(*reads.lock().unwrap(), 0);
    assert_eq!(world.sfn_stops.lock().unwrap().len(), 0);
}

#[tokio::test]
async fn a_latched_sweep_with_nothing_running_is_ignored() {
    let text = r#"
version = 1
[[alarm_targets]]
alarm = "orders-latch-*"
latch = true
targets = ["arn:aws:states:us-east-1:111122223333:stateMachine:orders-idle"]
[[rules]]
id = "alarms"
effect = "allow"
callers = { alarms = ["orders-*"], accounts = ["111122223333"] }
targets = { services = ["states"], partitions = ["aws"], accounts = ["111122223333"], regions = ["*"], names = ["*"] }
"#;
    let doc = stop_gateway_core::policy_doc::parse_policy(text, stop_gateway_core::policy_doc::Format::Toml).unwrap();
    let world = RunningWorld::new();
    let (cloudwatch, _) = alarms_in_alarm(&[LATCHING_ALARM]);
    let app = app_with(world.gateway(doc.policy), doc.routing, cloudwatch);
    let answer = run(&app, &sweep_in("111122223333", "us-east-1")).await.unwrap();
    assert_eq!(answer["outcome"], "ignored", "nothing to stop is not already_finished: {answer}");
}
