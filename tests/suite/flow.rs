//! The ensure-stopped flow through the handler: finished executions, unknown ones, throttling on each door,
//! stop replies that prove nothing, and targets in other regions.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a clear failure

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
use aws_sdk_sfn::operation::stop_execution::StopExecutionOutput;
use aws_sdk_sfn::types::ExecutionStatus;
use aws_sdk_sfn::types::error::{ExecutionDoesNotExist, KmsThrottlingException};
use aws_smithy_mocks::{Rule, mock};
use aws_smithy_types::DateTime;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use serde_json::value::RawValue;
use stop_gateway::aws::durable::DurableAdapter;
use stop_gateway::aws::regional::{Clients, Regional};
use stop_gateway::aws::sfn::SfnAdapter;
use stop_gateway::domain::audit::AuditEvent;
use stop_gateway::handler::handle;
use stop_gateway::service::Gateway;
use testkit::mocks::{example_policy, gateway, lambda_client, sfn_client, sfn_status};

const HTTP: &str = include_str!("../../events/apigw-rest-stop-sfn.json");
const EVENT: &str = include_str!("../../events/eventbridge-stop-sfn.json");

async fn run(gateway: Gateway, payload: &str) -> (Result<Value, String>, Vec<AuditEvent>) {
    testkit::mocks::invoke(gateway, payload, Context::default()).await
}

fn sfn_only(rules: &[&Rule]) -> Gateway {
    gateway(example_policy(), sfn_client(rules), lambda_client(&[]))
}

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn finished_execution_is_reported_not_stopped() {
    for status in [
        ExecutionStatus::Succeeded,
        ExecutionStatus::Failed,
        ExecutionStatus::Aborted,
        ExecutionStatus::TimedOut,
        ExecutionStatus::PendingRedrive,
    ] {
        let s = status.clone();
        let describe = mock!(aws_sdk_sfn::Client::describe_execution)
            .then_compute_output(move |r| sfn_status(r.execution_arn().unwrap(), s.clone()));
        let stop = mock!(aws_sdk_sfn::Client::stop_execution).then_output(|| unreachable!("must not stop"));
        let (result, audit) = run(sfn_only(&[&describe, &stop]), HTTP).await;
        let response = result.unwrap();
        assert_eq!(response["statusCode"], 200);
        assert_eq!(body(&response)["outcome"], "already_finished");
        assert_eq!(body(&response)["previousStatus"], status.as_str());
        assert_eq!(audit[0].previous_status.as_deref(), Some(status.as_str()));
        assert_eq!(stop.num_calls(), 0);
    }
}

#[tokio::test]
async fn unknown_execution_is_not_found_on_both_doors() {
    for (payload, http) in [(HTTP, true), (EVENT, false)] {
        let describe = mock!(aws_sdk_sfn::Client::describe_execution).then_error(|| {
            DescribeExecutionError::ExecutionDoesNotExist(ExecutionDoesNotExist::builder().message("nope").build())
        });
        let (result, audit) = run(sfn_only(&[&describe]), payload).await;
        let response = result.expect("not found is a handled outcome, never a retry");
        let b = if http {
            assert_eq!(response["statusCode"], 404);
            body(&response)
        } else {
            response
        };
        assert_eq!(b["error"]["code"], "not_found");
        assert_eq!(audit[0].outcome, "not_found");
    }
}

#[tokio::test]
async fn throttling_is_429_for_http_and_a_retry_for_events() {
    let throttle = || DescribeExecutionError::KmsThrottlingException(KmsThrottlingException::builder().build());
    let describe = mock!(aws_sdk_sfn::Client::describe_execution).then_error(throttle);
    let (result, audit) = run(sfn_only(&[&describe]), HTTP).await;
    assert_eq!(result.unwrap()["statusCode"], 429);
    assert_eq!(audit[0].outcome, "throttled");

    let describe = mock!(aws_sdk_sfn::Client::describe_execution).then_error(throttle);
    let (result, audit) = run(sfn_only(&[&describe]), EVENT).await;
    let err = result.expect_err("EventBridge requests fail so Lambda retries");
    assert!(err.starts_with("throttled:"), "{err}");
    assert_eq!(audit.len(), 1, "the failed attempt is audited too");
    assert_eq!(audit[0].outcome, "throttled");
}

#[tokio::test]
async fn a_stop_reply_without_a_timestamp_is_confirmed_by_describing_again() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let describe = mock!(aws_sdk_sfn::Client::describe_execution).then_compute_output(move |r| {
        let arn = r.execution_arn().unwrap();
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            sfn_status(arn, ExecutionStatus::Running)
        } else {
            let mut out = sfn_status(arn, ExecutionStatus::Aborted);
            out.stop_date = Some(DateTime::from_secs(1_795_230_800));
            out
        }
    });
    let stop = mock!(aws_sdk_sfn::Client::stop_execution)
        .then_output(|| StopExecutionOutput::builder().stop_date(DateTime::from_secs(0)).build().unwrap());
    let (result, _) = run(sfn_only(&[&describe, &stop]), HTTP).await;
    let b = body(&result.unwrap());
    assert_eq!(b["outcome"], "stopped");
    assert_eq!(b["stoppedAt"], "2026-11-21T03:13:20.000Z", "the time comes from the confirming describe");
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // Still running after an accepted stop: never reported as stopped.
    let describe = mock!(aws_sdk_sfn::Client::describe_execution)
        .then_compute_output(|r| sfn_status(r.execution_arn().unwrap(), ExecutionStatus::Running));
    let stop = mock!(aws_sdk_sfn::Client::stop_execution)
        .then_output(|| StopExecutionOutput::builder().stop_date(DateTime::from_secs(0)).build().unwrap());
    let (result, audit) = run(sfn_only(&[&describe, &stop]), HTTP).await;
    assert_eq!(result.unwrap()["statusCode"], 502);
    assert_eq!(audit[0].outcome, "upstream_error");
}

#[tokio::test]
async fn targets_in_another_region_get_their_own_cached_client() {
    let describe = mock!(aws_sdk_sfn::Client::describe_execution)
        .then_compute_output(|r| sfn_status(r.execution_arn().unwrap(), ExecutionStatus::Succeeded));
    let client = sfn_client(&[&describe]);
    let regions = Arc::new(std::sync::Mutex::new(Vec::new()));
    let built = regions.clone();
    let sfn = Regional::new("us-east-1", move |region: &str| {
        built.lock().unwrap().push(region.to_owned());
        Clients::same(client.clone())
    });
    let pacer = std::sync::Arc::new(stop_gateway::aws::pacing::Pacer::default());
    let gateway = Gateway::new(
        example_policy(),
        SfnAdapter::new(sfn, pacer.clone()),
        DurableAdapter::new(Regional::new("us-east-1", |_: &str| Clients::same(lambda_client(&[]))), pacer),
        stop_gateway::service::BulkSettings::default(),
    );
    let app = testkit::mocks::app(gateway);
    let eu = HTTP.replace("arn:aws:states:us-east-1:", "arn:aws:states:eu-west-1:");
    for _ in 0..3 {
        let raw: Box<RawValue> = serde_json::from_str(&eu).unwrap();
        let response = handle(&app, LambdaEvent::new(raw, Context::default())).await.unwrap();
        assert_eq!(body(&response)["outcome"], "already_finished");
    }
    assert_eq!(*regions.lock().unwrap(), vec!["us-east-1".to_owned(), "eu-west-1".to_owned()]);
}
