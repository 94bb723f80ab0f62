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
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use serde_json::value::RawValue;
use stop_gateway::aws::durable::DurableAdapter;
use stop_gateway::aws::executions::Executions;
use stop_gateway::aws::regional::{Clients, ServiceClients};
use stop_gateway::aws::sfn::SfnAdapter;
use stop_gateway::handler::handle;
use stop_gateway::service::StopFlow;
use stop_gateway_core::domain::audit::AuditEvent;
use testkit::mocks::{Armed, example_policy, gateway, lambda_client, offline_sdk, sfn_client, sfn_status};

const HTTP: &str = include_str!("../../../../events/apigw-rest-stop-sfn.json");
const EVENT: &str = include_str!("../../../../events/eventbridge-stop-sfn.json");

async fn run(gateway: Armed, payload: &str) -> (Result<Value, String>, Vec<AuditEvent>) {
    testkit::mocks::invoke(gateway, payload, testkit::mocks::context("flow")).await
}

fn sfn_only(rules: &[&Rule]) -> Armed {
    gateway(example_policy(), sfn_client(rules), lambda_client(&[]))
}

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
}

/// A StopExecution rule that records every execution it is asked to stop (`stopped`), and the confirming list of
/// ABORTED executions that shows exactly those: AWS's view after stops that all landed.
fn recorded_stops() -> (Arc<std::sync::Mutex<Vec<String>>>, Rule, Rule) {
    let stopped = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (seen, confirmed) = (stopped.clone(), stopped.clone());
    let stop = mock!(aws_sdk_sfn::Client::stop_execution)
        .match_requests(move |r| {
            seen.lock().unwrap().push(r.execution_arn().unwrap().to_owned());
            true
        })
        .then_output(|| StopExecutionOutput::builder().stop_date(DateTime::from_secs(1_795_230_765)).build().unwrap());
    let confirm = testkit::mocks::aborted_list_rule(move || confirmed.lock().unwrap().clone());
    (stopped, stop, confirm)
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
        assert_eq!(audit[0].previous_status.as_ref().map(|s| s.as_str()), Some(status.as_str()));
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
        assert_eq!(audit[0].outcome.as_str(), "not_found");
    }
}

#[tokio::test]
async fn throttling_is_429_for_http_and_a_retry_for_events() {
    let throttle = || DescribeExecutionError::KmsThrottlingException(KmsThrottlingException::builder().build());
    let describe = mock!(aws_sdk_sfn::Client::describe_execution).then_error(throttle);
    let (result, audit) = run(sfn_only(&[&describe]), HTTP).await;
    assert_eq!(result.unwrap()["statusCode"], 429);
    assert_eq!(audit[0].outcome.as_str(), "throttled");

    let describe = mock!(aws_sdk_sfn::Client::describe_execution).then_error(throttle);
    let (result, audit) = run(sfn_only(&[&describe]), EVENT).await;
    let err = result.expect_err("EventBridge requests fail so Lambda retries");
    assert!(err.starts_with("throttled:"), "{err}");
    assert_eq!(audit.len(), 1, "the failed attempt is audited too");
    assert_eq!(audit[0].outcome.as_str(), "throttled");
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
    let result = result.unwrap();
    assert_eq!(result["statusCode"], 503, "a transient failure: the caller resends, and the retry settles it");
    assert_eq!(body(&result)["error"]["retryable"], true);
    assert_eq!(audit[0].outcome.as_str(), "upstream_error");
}

#[tokio::test]
async fn targets_in_another_region_get_their_own_cached_client() {
    let describe = mock!(aws_sdk_sfn::Client::describe_execution)
        .then_compute_output(|r| sfn_status(r.execution_arn().unwrap(), ExecutionStatus::Succeeded));
    let client = sfn_client(&[&describe]);
    let regions = Arc::new(std::sync::Mutex::new(Vec::new()));
    let built = regions.clone();
    let pacer = std::sync::Arc::new(stop_gateway::aws::pacing::Pacer::default());
    let sfn = ServiceClients::new(&offline_sdk(), pacer.clone(), move |_, region: &str| {
        built.lock().unwrap().push(region.to_owned());
        Clients::same(client.clone())
    });
    let lambda = ServiceClients::new(&offline_sdk(), pacer, |_, _| Clients::same(lambda_client(&[])));
    let flow = StopFlow::new(
        Executions::new(SfnAdapter::new(sfn), DurableAdapter::new(lambda)),
        testkit::mocks::alarm_watch(testkit::mocks::alarms_in_alarm(&[]).0),
        stop_gateway::aws::reach::Accounts::new(offline_sdk()),
        stop_gateway::config::BulkSettings::default(),
    );
    let app = testkit::mocks::app(Armed { flow, policy: example_policy() });
    let eu = HTTP.replace("arn:aws:states:us-east-1:", "arn:aws:states:eu-west-1:");
    for _ in 0..3 {
        let raw: Box<RawValue> = serde_json::from_str(&eu).unwrap();
        let response = handle(&app, LambdaEvent::new(raw, testkit::mocks::context("r"))).await.unwrap();
        assert_eq!(body(&response)["outcome"], "already_finished");
    }
    // Built on first use and kept: the home region's clients were never needed, so never built.
    assert_eq!(*regions.lock().unwrap(), vec!["eu-west-1".to_owned()]);
}

const BULK: &str = include_str!("../../../../events/apigw-http-bulk-state-machine.json");
const BATCH: &str = "arn:aws:states:us-east-1:111122223333:stateMachine:orders-batch";

/// A list reply for orders-batch that also names executions that are not its own.
fn list_with_foreign() -> aws_sdk_sfn::operation::list_executions::ListExecutionsOutput {
    let item = |arn: &str| {
        aws_sdk_sfn::types::ExecutionListItem::builder()
            .execution_arn(arn)
            .state_machine_arn(BATCH)
            .name("n")
            .status(ExecutionStatus::Running)
            .start_date(DateTime::from_secs(1_795_230_000))
            .build()
            .unwrap()
    };
    aws_sdk_sfn::operation::list_executions::ListExecutionsOutput::builder()
        .executions(item("arn:aws:states:us-east-1:111122223333:execution:orders-batch:own-1"))
        // Another state machine, another account, a machine the caller may not touch: none may be stopped.
        .executions(item("arn:aws:states:us-east-1:111122223333:execution:orders-api:foreign-1"))
        .executions(item("arn:aws:states:us-east-1:999999999999:execution:orders-batch:foreign-2"))
        .executions(item("arn:aws:states:us-east-1:111122223333:execution:payments-ledger:foreign-3"))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_list_reply_naming_foreign_executions_stops_nothing_foreign() {
    let (stopped, stop, confirm) = recorded_stops();
    let list = mock!(aws_sdk_sfn::Client::list_executions).then_output(list_with_foreign);
    let describe = mock!(aws_sdk_sfn::Client::describe_execution)
        .then_compute_output(|r| sfn_status(r.execution_arn().unwrap(), ExecutionStatus::Running));
    let (result, audit) = run(sfn_only(&[&confirm, &list, &describe, &stop]), BULK).await;
    assert_eq!(
        *stopped.lock().unwrap(),
        vec!["arn:aws:states:us-east-1:111122223333:execution:orders-batch:own-1".to_owned()],
        "only the state machine's own execution is stopped"
    );
    let response = result.unwrap();
    assert_eq!(response["statusCode"], 502, "a bulk that refused some never answers success");
    let b = body(&response);
    assert_eq!(b["outcome"], "stop_failed");
    assert_eq!((b["counts"]["stopped"].as_u64(), b["counts"]["refused"].as_u64()), (Some(1), Some(3)));
    let refused: Vec<&str> = b["executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "refused")
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(refused.iter().filter(|m| m.contains("not one of its executions")).count(), 3, "{refused:?}");
    assert_eq!(audit[0].outcome.as_str(), "stop_failed");
    assert_eq!(audit.iter().filter(|r| r.record_type == "execution").count(), 1, "one record per stopped execution");
}

#[tokio::test]
async fn a_bulk_with_one_permanent_failure_never_answers_stopped_on_any_door() {
    // orders-batch has three running executions; the stop of one fails for good (the role may not stop it).
    let describe = mock!(aws_sdk_sfn::Client::describe_execution)
        .then_compute_output(|r| sfn_status(r.execution_arn().unwrap(), ExecutionStatus::Running));
    let forbidden = mock!(aws_sdk_sfn::Client::stop_execution)
        .match_requests(|r| r.execution_arn().is_some_and(|a| a.ends_with(":run-1")))
        .then_http_response(|| {
            let mut response = aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
                aws_smithy_types::body::SdkBody::from(r#"{"__type":"AccessDeniedException","message":"no"}"#),
            );
            response.headers_mut().insert("content-type", "application/x-amz-json-1.0");
            response
        });
    let (_, stop, confirm) = recorded_stops();
    let list = mock!(aws_sdk_sfn::Client::list_executions)
        .then_compute_output(|r| testkit::mocks::running_list(r.state_machine_arn().unwrap()));
    let rules = [&confirm, &list, &describe, &forbidden, &stop];
    let (result, audit) = run(sfn_only(&rules), BULK).await;
    let response = result.unwrap();
    assert_eq!(response["statusCode"], 502);
    let b = body(&response);
    assert_eq!(b["outcome"], "stop_failed");
    assert_eq!((b["counts"]["stopped"].as_u64(), b["counts"]["upstream_error"].as_u64()), (Some(2), Some(1)));
    assert_eq!(audit[0].outcome.as_str(), "stop_failed");

    // The same over EventBridge: answered (a retry would fail the same way), never `stopped`.
    let mut event: Value = serde_json::from_str(EVENT).unwrap();
    event["detail"]["targetArn"] = BATCH.into();
    let (result, audit) = run(sfn_only(&rules), &event.to_string()).await;
    assert_eq!(result.unwrap()["outcome"], "stop_failed");
    assert_eq!(audit[0].outcome.as_str(), "stop_failed");
}

/// A stop that carries error or cause is refused over the execution's KMS key; one without them is accepted,
/// as the StopExecution reference says for an execution encrypted with a key the role may not use.
fn encrypted_execution(sent: Arc<std::sync::Mutex<Vec<(bool, bool)>>>) -> (Rule, Rule, Rule) {
    let describe = mock!(aws_sdk_sfn::Client::describe_execution)
        .then_compute_output(|r| sfn_status(r.execution_arn().unwrap(), ExecutionStatus::Running));
    let record = sent.clone();
    let refused = mock!(aws_sdk_sfn::Client::stop_execution)
        .match_requests(move |r| {
            let with_text = r.error().is_some() || r.cause().is_some();
            if with_text {
                record.lock().unwrap().push((r.error().is_some(), r.cause().is_some()));
            }
            with_text
        })
        .then_error(|| {
            aws_sdk_sfn::operation::stop_execution::StopExecutionError::KmsAccessDeniedException(
                aws_sdk_sfn::types::error::KmsAccessDeniedException::builder()
                    .message("no kms:GenerateDataKey")
                    .build(),
            )
        });
    let accepted = mock!(aws_sdk_sfn::Client::stop_execution)
        .match_requests(move |r| {
            sent.lock().unwrap().push((r.error().is_some(), r.cause().is_some()));
            true
        })
        .then_output(|| StopExecutionOutput::builder().stop_date(DateTime::from_secs(1_795_230_765)).build().unwrap());
    (describe, refused, accepted)
}

#[tokio::test]
async fn a_stop_refused_over_the_kms_key_is_sent_again_without_error_and_cause() {
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (describe, refused, accepted) = encrypted_execution(sent.clone());
    let (result, audit) = run(sfn_only(&[&describe, &refused, &accepted]), HTTP).await;
    assert_eq!(*sent.lock().unwrap(), vec![(true, true), (false, false)], "first with error and cause, then without");
    let response = result.unwrap();
    assert_eq!(response["statusCode"], 200);
    let b = body(&response);
    assert_eq!((b["outcome"].as_str(), b["kmsFallback"].as_bool()), (Some("stopped"), Some(true)));
    assert!(b.to_string().find("GenerateDataKey").is_none(), "the KMS detail stays in the audit record");
    assert!(audit[0].kms_fallback);
    let why = audit[0].kms_fallback_reason.as_deref().unwrap();
    assert!(why.contains("KmsAccessDeniedException") && why.contains("GenerateDataKey"), "{why}");
}

#[tokio::test]
async fn the_policy_can_forbid_the_kms_fallback() {
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (describe, refused, accepted) = encrypted_execution(sent.clone());
    let mut policy = example_policy();
    policy.kms_fallback = false;
    let gateway = gateway(policy, sfn_client(&[&describe, &refused, &accepted]), lambda_client(&[]));
    let (result, audit) = run(gateway, HTTP).await;
    assert_eq!(*sent.lock().unwrap(), vec![(true, true)], "no stop without error and cause");
    assert_eq!(result.unwrap()["statusCode"], 502);
    assert_eq!(audit[0].outcome.as_str(), "upstream_error");
    assert!(!audit[0].kms_fallback);
}

#[tokio::test]
async fn a_bulk_stop_skips_the_describe_and_a_list_confirms_what_each_stop_did() {
    // orders-batch has three running executions. Between the list and the stops, run-1 ends on its own: its
    // stop is accepted (as Step Functions accepts a stop of an execution that has just ended) but it never
    // shows up as ABORTED. run-2's stop answer is lost (503): a describe finds it ABORTED.
    let stopped = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (seen, confirmed) = (stopped.clone(), stopped.clone());
    let lost = mock!(aws_sdk_sfn::Client::stop_execution)
        .match_requests(|r| r.execution_arn().is_some_and(|a| a.ends_with(":run-2")))
        .then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(503).unwrap(),
                aws_smithy_types::body::SdkBody::from(""),
            )
        });
    let stop = mock!(aws_sdk_sfn::Client::stop_execution)
        .match_requests(move |r| {
            let arn = r.execution_arn().unwrap().to_owned();
            if !arn.ends_with(":run-1") {
                seen.lock().unwrap().push(arn);
            }
            true
        })
        .then_output(|| StopExecutionOutput::builder().stop_date(DateTime::from_secs(1_795_230_765)).build().unwrap());
    let describe = mock!(aws_sdk_sfn::Client::describe_execution).then_compute_output(|r| {
        let arn = r.execution_arn().unwrap();
        let status = if arn.ends_with(":run-1") { ExecutionStatus::Succeeded } else { ExecutionStatus::Aborted };
        let mut out = sfn_status(arn, status);
        out.stop_date = Some(DateTime::from_secs(1_795_230_766));
        out
    });
    let confirm = testkit::mocks::aborted_list_rule(move || confirmed.lock().unwrap().clone());
    let list = mock!(aws_sdk_sfn::Client::list_executions)
        .then_compute_output(|r| testkit::mocks::running_list(r.state_machine_arn().unwrap()));
    let rules = [&confirm, &list, &lost, &stop, &describe];
    let (result, audit) = run(sfn_only(&rules), BULK).await;
    let b = body(&result.unwrap());
    assert_eq!((b["counts"]["stopped"].as_u64(), b["counts"]["already_finished"].as_u64()), (Some(2), Some(1)), "{b}");
    let outcome_of = |suffix: &str| {
        let e =
            b["executions"].as_array().unwrap().iter().find(|e| e["executionArn"].as_str().unwrap().ends_with(suffix));
        e.unwrap()["outcome"].as_str().unwrap().to_owned()
    };
    assert_eq!(outcome_of(":run-0"), "stopped");
    assert_eq!(outcome_of(":run-1"), "already_finished", "never reported as stopped by us");
    assert_eq!(outcome_of(":run-2"), "stopped", "the lost answer is settled by a describe");
    assert_eq!(describe.num_calls(), 2, "only run-1 (not in the ABORTED list) and run-2 (lost answer) are described");
    assert_eq!(audit.iter().filter(|r| r.record_type == "execution").count(), 2, "one record per stopped execution");
}

/// A gateway whose StopExecution quota admits one call, then one every 11 s, and whose bulk stops handle one
/// execution at a time: of orders-batch's three executions, the third comes up past a list's freshness (10 s).
fn held_back_by_the_quota(sfn: aws_sdk_sfn::Client) -> Armed {
    use stop_gateway::aws::pacing::Pacer;
    use stop_gateway::config::{BulkSettings, RateLimit};
    let limit = RateLimit { api: "StopExecution".into(), burst: 1.0, per_second: 1.0 / 11.0 };
    let pacer = Arc::new(Pacer::new(&[limit], 1.0).unwrap());
    let sfn = ServiceClients::new(&offline_sdk(), pacer.clone(), move |_, _| Clients::same(sfn.clone()));
    let lambda = ServiceClients::new(&offline_sdk(), pacer, |_, _| Clients::same(lambda_client(&[])));
    let flow = StopFlow::new(
        Executions::new(SfnAdapter::new(sfn), DurableAdapter::new(lambda)),
        testkit::mocks::alarm_watch(testkit::mocks::alarms_in_alarm(&[]).0),
        stop_gateway::aws::reach::Accounts::new(offline_sdk()),
        BulkSettings { concurrency: 1, ..BulkSettings::default() },
    );
    Armed { flow, policy: example_policy() }
}

#[tokio::test(start_paused = true)]
async fn executions_the_quota_held_back_past_a_lists_freshness_are_listed_again_not_described_one_by_one() {
    // The list keeps showing every execution running (a list may lag behind the stops): only the one that went
    // stale is stopped on the second list's word, and none is stopped twice.
    let (stopped, stop, confirm) = recorded_stops();
    let list = mock!(aws_sdk_sfn::Client::list_executions)
        .then_compute_output(|r| testkit::mocks::running_list(r.state_machine_arn().unwrap()));
    let describe = mock!(aws_sdk_sfn::Client::describe_execution)
        .then_compute_output(|r| sfn_status(r.execution_arn().unwrap(), ExecutionStatus::Running));
    let armed = held_back_by_the_quota(sfn_client(&[&confirm, &list, &describe, &stop]));
    let started = tokio::time::Instant::now();
    let (result, _) = run(armed, BULK).await;
    let b = body(&result.unwrap());
    assert_eq!(b["outcome"], "stopped", "{b}");
    assert_eq!(b["counts"]["stopped"].as_u64(), Some(3), "{b}");
    let mut stops = stopped.lock().unwrap().clone();
    stops.sort();
    stops.dedup();
    assert_eq!((stops.len(), stopped.lock().unwrap().len()), (3, 3), "each stopped exactly once");
    assert!(started.elapsed() >= std::time::Duration::from_secs(22), "the quota held the third back");
    assert_eq!(describe.num_calls(), 0, "no describe one by one");
    assert_eq!(list.num_calls(), 2, "the running executions were listed once more, for the stale one");
    assert_eq!(confirm.num_calls(), 1, "and one list confirmed all three");
}
