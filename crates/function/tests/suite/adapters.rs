//! Adapters: every documented error of DescribeExecution, StopExecution, GetDurableExecution and
//! StopDurableExecution, plus unmodelled HTTP failures and a real connection failure, mapped to an outcome; and a
//! confirming list cut short.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a clear failure

use std::sync::Arc;

use aws_sdk_lambda::operation::get_durable_execution::GetDurableExecutionError;
use aws_sdk_lambda::operation::stop_durable_execution::{StopDurableExecutionError, StopDurableExecutionOutput};
use aws_sdk_lambda::types::error as lambda_err;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
use aws_sdk_sfn::operation::stop_execution::{StopExecutionError, StopExecutionOutput};
use aws_sdk_sfn::types::error as sfn_err;
use aws_smithy_mocks::{Rule, mock};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::DateTime;
use aws_smithy_types::body::SdkBody;
use stop_gateway::aws::pacing::Pacer;
use stop_gateway::aws::regional::{Clients, ServiceClients};
use stop_gateway::aws::sfn::SfnAdapter;
use stop_gateway_core::domain::failure::StopError;
use stop_gateway_core::domain::target::TargetArn;
use testkit::mocks::{
    durable_adapter, far_deadline, lambda_client, offline_sdk, own_reach, running_durable, running_sfn, sfn_adapter,
    sfn_client, with_text,
};

const SFN: &str = "arn:aws:states:us-east-1:111122223333:execution:orders-api:run-1";
const DURABLE: &str = "arn:aws:lambda:us-east-1:111122223333:function:checkout:$LATEST/durable-execution/o-1/abc";

/// An error to inject and the (code, retryable) outcome it must map to.
type Case<E> = (fn() -> E, (&'static str, bool));

/// A throttled read is tried again (after backing off) four more times before throttling is the answer; a
/// throttled stop, which the SDK does not retry itself, fourteen more times (as many tries as a read's three
/// SDK attempts each).
fn calls_for(expected: (&str, bool), stop: bool) -> usize {
    match (expected.0, stop) {
        ("throttled", false) => 5,
        ("throttled", true) => 15,
        _ => 1,
    }
}

fn outcome(err: &StopError) -> (&'static str, bool) {
    (err.code().as_str(), err.is_retryable())
}

/// Injects each case's error through the rule `rule_for` builds, makes the call `run` makes, and checks the
/// outcome and how often the call was tried (`stop`: a stop call, which the SDK does not retry itself).
async fn assert_maps<E: std::fmt::Debug>(
    cases: Vec<Case<E>>,
    stop: bool,
    rule_for: impl Fn(fn() -> E) -> Rule,
    run: impl AsyncFn(&Rule) -> StopError,
) {
    for (error, expected) in cases {
        let label = format!("{:?}", error());
        let rule = rule_for(error);
        let err = run(&rule).await;
        assert_eq!(outcome(&err), expected, "{label}");
        assert_eq!(rule.num_calls(), calls_for(expected, stop), "{label}");
    }
}

fn http(status: u16, error_type: Option<&str>) -> Response {
    let mut response = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from("{}"));
    if let Some(t) = error_type {
        response.headers_mut().insert("x-amzn-errortype", t.to_owned());
    }
    response
}

// Paused time: the throttle backoff (up to 5 s a wait) passes instantly.
#[tokio::test(start_paused = true)]
async fn describe_execution_errors_map_to_outcomes() {
    let target = TargetArn::parse(SFN).unwrap();
    let cases: Vec<Case<DescribeExecutionError>> = vec![
        (
            || DescribeExecutionError::ExecutionDoesNotExist(sfn_err::ExecutionDoesNotExist::builder().build()),
            ("not_found", false),
        ),
        (|| DescribeExecutionError::InvalidArn(sfn_err::InvalidArn::builder().build()), ("invalid_request", false)),
        (
            || DescribeExecutionError::KmsAccessDeniedException(sfn_err::KmsAccessDeniedException::builder().build()),
            ("upstream_error", false),
        ),
        (
            || DescribeExecutionError::KmsInvalidStateException(sfn_err::KmsInvalidStateException::builder().build()),
            ("upstream_error", false),
        ),
        (
            || DescribeExecutionError::KmsThrottlingException(sfn_err::KmsThrottlingException::builder().build()),
            ("throttled", true),
        ),
    ];
    let rule_for = |error| {
        mock!(aws_sdk_sfn::Client::describe_execution)
            .match_requests(|r| r.execution_arn() == Some(SFN))
            .then_error(error)
    };
    let run = async |rule: &Rule| {
        sfn_adapter(sfn_client(&[rule])).describe(&own_reach(), &target, far_deadline()).await.unwrap_err()
    };
    assert_maps(cases, false, rule_for, run).await;
}

// Paused time: the throttle backoff (up to 5 s a wait) passes instantly.
#[tokio::test(start_paused = true)]
async fn stop_execution_errors_map_to_outcomes() {
    let target = TargetArn::parse(SFN).unwrap();
    let cases: Vec<Case<StopExecutionError>> = vec![
        (
            || StopExecutionError::ExecutionDoesNotExist(sfn_err::ExecutionDoesNotExist::builder().build()),
            ("not_found", false),
        ),
        (|| StopExecutionError::InvalidArn(sfn_err::InvalidArn::builder().build()), ("invalid_request", false)),
        (
            || StopExecutionError::ValidationException(sfn_err::ValidationException::builder().build()),
            ("invalid_request", false),
        ),
        (
            || StopExecutionError::KmsAccessDeniedException(sfn_err::KmsAccessDeniedException::builder().build()),
            ("upstream_error", false),
        ),
        (
            || StopExecutionError::KmsInvalidStateException(sfn_err::KmsInvalidStateException::builder().build()),
            ("upstream_error", false),
        ),
        (
            || StopExecutionError::KmsThrottlingException(sfn_err::KmsThrottlingException::builder().build()),
            ("throttled", true),
        ),
    ];
    let rule_for = |error| mock!(aws_sdk_sfn::Client::stop_execution).then_error(error);
    let run = async |rule: &Rule| {
        with_text(async |t| sfn_adapter(sfn_client(&[rule])).stop(&own_reach(), &target, Some(t), far_deadline()).await)
            .await
            .unwrap_err()
    };
    assert_maps(cases, true, rule_for, run).await;
}

// Paused time: the throttle backoff (up to 5 s a wait) passes instantly.
#[tokio::test(start_paused = true)]
async fn durable_errors_map_to_outcomes() {
    let target = TargetArn::parse(DURABLE).unwrap();
    macro_rules! cases {
        ($error:ident) => {
            vec![
                (
                    || {
                        $error::InvalidParameterValueException(
                            lambda_err::InvalidParameterValueException::builder().build(),
                        )
                    },
                    ("invalid_request", false),
                ),
                (
                    || $error::ResourceNotFoundException(lambda_err::ResourceNotFoundException::builder().build()),
                    ("not_found", false),
                ),
                (
                    || $error::TooManyRequestsException(lambda_err::TooManyRequestsException::builder().build()),
                    ("throttled", true),
                ),
                (
                    || $error::ServiceException(lambda_err::ServiceException::builder().build()),
                    ("upstream_error", true),
                ),
                (
                    || $error::KmsAccessDeniedException(lambda_err::KmsAccessDeniedException::builder().build()),
                    ("upstream_error", false),
                ),
                (
                    || $error::KmsDisabledException(lambda_err::KmsDisabledException::builder().build()),
                    ("upstream_error", false),
                ),
                (
                    || $error::KmsInvalidStateException(lambda_err::KmsInvalidStateException::builder().build()),
                    ("upstream_error", false),
                ),
                (
                    || $error::KmsNotFoundException(lambda_err::KmsNotFoundException::builder().build()),
                    ("upstream_error", false),
                ),
            ]
        };
    }
    let get_cases: Vec<Case<GetDurableExecutionError>> = cases!(GetDurableExecutionError);
    let rule_for = |error| {
        mock!(aws_sdk_lambda::Client::get_durable_execution)
            .match_requests(|r| r.durable_execution_arn() == Some(DURABLE))
            .then_error(error)
    };
    let run = async |rule: &Rule| {
        durable_adapter(lambda_client(&[rule])).describe(&own_reach(), &target, far_deadline()).await.unwrap_err()
    };
    assert_maps(get_cases, false, rule_for, run).await;
    let stop_cases: Vec<Case<StopDurableExecutionError>> = cases!(StopDurableExecutionError);
    let rule_for = |error| mock!(aws_sdk_lambda::Client::stop_durable_execution).then_error(error);
    let run = async |rule: &Rule| {
        with_text(async |t| {
            durable_adapter(lambda_client(&[rule])).stop(&own_reach(), &target, t, far_deadline()).await
        })
        .await
        .unwrap_err()
    };
    assert_maps(stop_cases, true, rule_for, run).await;
}

#[tokio::test]
async fn unmodelled_http_failures_map_by_status_and_code() {
    let target = TargetArn::parse(SFN).unwrap();
    let cases = [
        (500, None, ("upstream_error", true)),
        (503, None, ("upstream_error", true)),
        (429, None, ("throttled", true)),
        (400, Some("ThrottlingException"), ("throttled", true)),
        (400, Some("AccessDeniedException"), ("upstream_error", false)),
        (403, None, ("upstream_error", false)),
    ];
    for (status, error_type, expected) in cases {
        let rule = mock!(aws_sdk_sfn::Client::describe_execution).then_http_response(move || http(status, error_type));
        let err = sfn_adapter(sfn_client(&[&rule])).describe(&own_reach(), &target, far_deadline()).await.unwrap_err();
        assert_eq!(outcome(&err), expected, "{status} {error_type:?}");
        assert!(std::error::Error::source(&err).is_some(), "the SDK error is kept as the source");
    }
}

#[tokio::test]
async fn a_connection_failure_is_a_retryable_upstream_error() {
    // A real client against a port nothing listens on: the transport fails, not a mock.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let conf = aws_sdk_sfn::Config::builder()
        .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
        .region(aws_sdk_sfn::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sfn::config::Credentials::for_tests())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled())
        .http_client(stop_gateway::aws::sdk::https_client(None))
        .build();
    let adapter = sfn_adapter(aws_sdk_sfn::Client::from_conf(conf));
    let err = adapter.describe(&own_reach(), &TargetArn::parse(SFN).unwrap(), far_deadline()).await.unwrap_err();
    assert_eq!(outcome(&err), ("upstream_error", true));
}

#[tokio::test]
async fn successful_calls_report_status_and_stop_time() {
    let sfn_target = TargetArn::parse(SFN).unwrap();
    // Status only: no input or output, so an encrypted execution's describe needs no kms:Decrypt.
    let describe = mock!(aws_sdk_sfn::Client::describe_execution)
        .match_requests(|r| r.included_data() == Some(&aws_sdk_sfn::types::IncludedData::MetadataOnly))
        .then_output(|| running_sfn(SFN));
    let stop = mock!(aws_sdk_sfn::Client::stop_execution)
        .match_requests(|r| r.error() == Some("Ops.Stop") && r.cause().is_some_and(|c| c.starts_with("OPS-1 because")))
        .then_output(|| StopExecutionOutput::builder().stop_date(DateTime::from_secs(1_795_230_765)).build().unwrap());
    let adapter = sfn_adapter(sfn_client(&[&describe, &stop]));
    let state = adapter.describe(&own_reach(), &sfn_target, far_deadline()).await.unwrap();
    assert_eq!((state.status.as_str(), state.status.is_stoppable()), ("RUNNING", true));
    let stopped =
        with_text(async |t| adapter.stop(&own_reach(), &sfn_target, Some(t), far_deadline()).await).await.unwrap();
    assert_eq!(stopped.map(|t| t.timestamp()), Some(1_795_230_765));

    let durable_target = TargetArn::parse(DURABLE).unwrap();
    for (status, stoppable) in [
        ("RUNNING", true),
        ("PAUSING", true),
        ("PAUSED", true),
        ("SUCCEEDED", false),
        ("STOPPED", false),
        ("FAILED", false),
        ("TIMED_OUT", false),
    ] {
        let get = mock!(aws_sdk_lambda::Client::get_durable_execution)
            .then_output(move || testkit::mocks::durable_status(DURABLE, status));
        let state = durable_adapter(lambda_client(&[&get]))
            .describe(&own_reach(), &durable_target, far_deadline())
            .await
            .unwrap();
        assert_eq!((state.status.as_str(), state.status.is_stoppable()), (status, stoppable));
    }
    let get = mock!(aws_sdk_lambda::Client::get_durable_execution).then_output(|| running_durable(DURABLE));
    // An empty stop reply deserialises to the epoch: it is not taken as proof of a stop.
    let stop = mock!(aws_sdk_lambda::Client::stop_durable_execution)
        .then_output(|| StopDurableExecutionOutput::builder().stop_timestamp(DateTime::from_secs(0)).build().unwrap());
    let adapter = durable_adapter(lambda_client(&[&get, &stop]));
    assert_eq!(
        with_text(async |t| adapter.stop(&own_reach(), &durable_target, t, far_deadline()).await).await.unwrap(),
        None
    );
}

// The clients as production builds them: reads retry transient failures in the SDK, stops make one attempt
// (a stop whose answer was lost may have happened; the service describes before any resend).
#[tokio::test(start_paused = true)]
async fn a_transient_read_failure_is_tried_again_and_a_stop_is_not() {
    use aws_smithy_mocks::{RuleMode, mock_client};
    use stop_gateway::aws::sdk::{read_retries, single_attempt};
    let target = TargetArn::parse(SFN).unwrap();
    let describe = mock!(aws_sdk_sfn::Client::describe_execution)
        .sequence()
        .http_status(500, None)
        .times(2)
        .output(|| running_sfn(SFN))
        .build();
    let stop = mock!(aws_sdk_sfn::Client::stop_execution)
        .sequence()
        .http_status(503, None)
        .output(|| StopExecutionOutput::builder().stop_date(DateTime::from_secs(1_795_230_765)).build().unwrap())
        .build();
    let rules = [&describe, &stop];
    let read = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, &rules, |c| c.retry_config(read_retries()));
    let stop_client = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, &rules, |c| c.retry_config(single_attempt()));
    let adapter = SfnAdapter::new(ServiceClients::new(&offline_sdk(), Arc::new(Pacer::default()), move |_, _| {
        Clients { read: read.clone(), stop: stop_client.clone() }
    }));
    let state = adapter.describe(&own_reach(), &target, far_deadline()).await.unwrap();
    assert_eq!((state.status.as_str(), describe.num_calls()), ("RUNNING", 3), "two 500s, then the answer");
    let err =
        with_text(async |t| adapter.stop(&own_reach(), &target, Some(t), far_deadline()).await).await.unwrap_err();
    assert_eq!(outcome(&err), ("upstream_error", true));
    assert_eq!(stop.num_calls(), 1, "a stop is never sent twice by the SDK");
}

#[tokio::test]
async fn throttle_retries_never_outlive_the_deadline() {
    let target = TargetArn::parse(SFN).unwrap();
    let throttle =
        || DescribeExecutionError::KmsThrottlingException(sfn_err::KmsThrottlingException::builder().build());
    let rule = mock!(aws_sdk_sfn::Client::describe_execution).then_error(throttle);
    // Too close to the deadline for even one backoff and an answer: give up at once.
    let soon = tokio::time::Instant::now() + std::time::Duration::from_millis(300);
    let started = std::time::Instant::now();
    let err = sfn_adapter(sfn_client(&[&rule])).describe(&own_reach(), &target, soon).await.unwrap_err();
    assert_eq!(outcome(&err), ("throttled", true));
    assert_eq!(rule.num_calls(), 1, "no retry that could not finish in time");
    assert!(started.elapsed() < std::time::Duration::from_millis(300));
}

#[tokio::test]
async fn a_call_that_would_outlive_the_invocation_is_cut_off_at_the_deadline() {
    // A server that accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _hold = std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(4).collect();
        std::thread::sleep(std::time::Duration::from_secs(10));
        drop(held);
    });
    let conf = aws_sdk_sfn::Config::builder()
        .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
        .region(aws_sdk_sfn::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sfn::config::Credentials::for_tests())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled())
        .http_client(stop_gateway::aws::sdk::https_client(None))
        .build();
    let adapter = sfn_adapter(aws_sdk_sfn::Client::from_conf(conf));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(1500);
    let started = std::time::Instant::now();
    let err = adapter.describe(&own_reach(), &TargetArn::parse(SFN).unwrap(), deadline).await.unwrap_err();
    assert_eq!(outcome(&err), ("upstream_error", true), "{err}");
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_millis(1400), "cut off before the deadline, not after: {took:?}");
}

/// What each durable list call asked for: (qualifier, statuses).
type Asked = Arc<std::sync::Mutex<Vec<(Option<String>, Vec<String>)>>>;

fn durable_lister(asked: Asked) -> Rule {
    mock!(aws_sdk_lambda::Client::list_durable_executions_by_function)
        .match_requests(move |r| {
            let statuses = r.statuses().iter().map(|s| s.as_str().to_owned()).collect();
            asked.lock().unwrap().push((r.qualifier().map(str::to_owned), statuses));
            r.function_name() == Some("arn:aws:lambda:us-east-1:111122223333:function:checkout")
        })
        .then_compute_output(|r| {
            let q = r.qualifier().unwrap_or("$LATEST");
            let id = q.trim_start_matches('$');
            let arn = format!("arn:aws:lambda:us-east-1:111122223333:function:checkout:{q}/durable-execution/n/{id}");
            let e = aws_sdk_lambda::types::Execution::builder()
                .durable_execution_arn(arn)
                .durable_execution_name("n")
                .function_arn("arn:aws:lambda:us-east-1:111122223333:function:checkout")
                .status(aws_sdk_lambda::types::ExecutionStatus::from("PAUSED"))
                .start_timestamp(DateTime::from_secs(1_795_230_000))
                .build()
                .unwrap();
            aws_sdk_lambda::operation::list_durable_executions_by_function::ListDurableExecutionsByFunctionOutput::builder()
                .durable_executions(e)
                .build()
        })
}

#[tokio::test]
async fn durable_lists_ask_for_every_stoppable_status_and_the_right_versions() {
    let stoppable = vec!["RUNNING".to_owned(), "PAUSING".to_owned(), "PAUSED".to_owned()];
    let alias =
        mock!(aws_sdk_lambda::Client::get_alias).match_requests(|r| r.name() == Some("live")).then_output(|| {
            let routing = aws_sdk_lambda::types::AliasRoutingConfiguration::builder()
                .additional_version_weights("4", 0.1)
                .build();
            aws_sdk_lambda::operation::get_alias::GetAliasOutput::builder()
                .function_version("3")
                .routing_config(routing)
                .build()
        });
    let table: [(&str, Vec<Option<&str>>); 4] = [
        ("", vec![None]),
        (":$LATEST", vec![Some("$LATEST")]),
        (":7", vec![Some("7")]),
        (":live", vec![Some("3"), Some("4")]),
    ];
    for (qualifier, expected) in table {
        let asked: Asked = Arc::default();
        let lister = durable_lister(asked.clone());
        let adapter = durable_adapter(lambda_client(&[&alias, &lister]));
        let function =
            TargetArn::parse(&format!("arn:aws:lambda:us-east-1:111122223333:function:checkout{qualifier}")).unwrap();
        let listed = adapter.list_running(&own_reach(), &function, far_deadline()).await.unwrap();
        let asked = asked.lock().unwrap().clone();
        let qualifiers: Vec<Option<&str>> = asked.iter().map(|(q, _)| q.as_deref()).collect();
        assert_eq!(qualifiers, expected, "{qualifier}: one list per version, an alias resolved first");
        assert!(asked.iter().all(|(_, s)| *s == stoppable), "{qualifier}: running, pausing and paused: {asked:?}");
        assert_eq!(listed.len(), expected.len(), "{qualifier}");
    }
}

#[tokio::test]
async fn a_durable_describe_never_asks_for_the_execution_data() {
    let target = TargetArn::parse(DURABLE).unwrap();
    let get = mock!(aws_sdk_lambda::Client::get_durable_execution)
        .match_requests(|r| r.include_execution_data() == Some(false))
        .then_output(|| testkit::mocks::durable_status(DURABLE, "PAUSED"));
    let state = durable_adapter(lambda_client(&[&get])).describe(&own_reach(), &target, far_deadline()).await.unwrap();
    assert_eq!((state.status.as_str(), state.status.is_stoppable(), get.num_calls()), ("PAUSED", true, 1));
}

fn raw_error(status: u16, error_type: Option<&str>, body: &str) -> Response {
    let mut response = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body.to_owned()));
    response.headers_mut().insert("content-type", "application/json");
    if let Some(t) = error_type {
        response.headers_mut().insert("x-amzn-errortype", t.to_owned());
    }
    response
}

/// Error answers as AWS sends them, parsed by the SDK's own protocol code: the `X-Amzn-ErrorType` header
/// first, then `__type` or `code` in the body, with a namespace (`…#`) and anything after `:` stripped;
/// `message` or `Message`; and the statuses the models give (Step Functions 400s; Lambda 404, 429, 500, 502).
#[tokio::test(start_paused = true)]
async fn error_bodies_as_aws_sends_them_map_to_the_same_outcomes() {
    struct Case {
        name: &'static str,
        status: u16,
        header: Option<&'static str>,
        body: &'static str,
        expect: (&'static str, bool),
    }
    let sfn_cases = [
        Case {
            name: "__type with a namespace, lower-case message",
            status: 400,
            header: None,
            body: r#"{"__type":"com.amazonaws.swf.service.v2.model#ExecutionDoesNotExist","message":"gone"}"#,
            expect: ("not_found", false),
        },
        Case {
            name: "code, upper-case Message",
            status: 400,
            header: None,
            body: r#"{"code":"InvalidArn","Message":"bad"}"#,
            expect: ("invalid_request", false),
        },
        Case {
            name: "the header wins over the body",
            status: 400,
            header: Some("ExecutionDoesNotExist"),
            body: r#"{"__type":"InvalidArn","message":"x"}"#,
            expect: ("not_found", false),
        },
        Case {
            name: "a header with a URL after ':'",
            status: 400,
            header: Some("ExecutionDoesNotExist:http://internal.amazon.com/coral/com.amazonaws.swf.service.v2.model/"),
            body: "{}",
            expect: ("not_found", false),
        },
        Case {
            name: "KMS throttling is throttling",
            status: 400,
            header: None,
            body: r#"{"__type":"KmsThrottlingException","message":"slow down"}"#,
            expect: ("throttled", true),
        },
        Case {
            name: "an unmodelled throttling code",
            status: 400,
            header: None,
            body: r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            expect: ("throttled", true),
        },
        Case {
            name: "a missing permission",
            status: 400,
            header: None,
            body: r#"{"__type":"AccessDeniedException","Message":"not authorized"}"#,
            expect: ("upstream_error", false),
        },
    ];
    let target = TargetArn::parse(SFN).unwrap();
    for c in sfn_cases {
        let (status, header, body) = (c.status, c.header, c.body);
        let rule =
            mock!(aws_sdk_sfn::Client::describe_execution).then_http_response(move || raw_error(status, header, body));
        let err = sfn_adapter(sfn_client(&[&rule])).describe(&own_reach(), &target, far_deadline()).await.unwrap_err();
        assert_eq!(outcome(&err), c.expect, "{}", c.name);
    }
    let lambda_cases = [
        Case {
            name: "404 ResourceNotFoundException, Message",
            status: 404,
            header: Some("ResourceNotFoundException"),
            body: r#"{"Type":"User","Message":"Durable execution not found"}"#,
            expect: ("not_found", false),
        },
        Case {
            name: "429 TooManyRequestsException, message",
            status: 429,
            header: Some("TooManyRequestsException"),
            body: r#"{"Type":"User","message":"Rate exceeded","retryAfterSeconds":"1"}"#,
            expect: ("throttled", true),
        },
        Case {
            name: "500 ServiceException",
            status: 500,
            header: Some("ServiceException"),
            body: r#"{"Type":"Service","Message":"internal"}"#,
            expect: ("upstream_error", true),
        },
        Case {
            name: "502 KMSAccessDeniedException",
            status: 502,
            header: Some("KMSAccessDeniedException"),
            body: r#"{"Type":"User","Message":"KMS access denied"}"#,
            expect: ("upstream_error", false),
        },
        Case {
            name: "400 InvalidParameterValueException",
            status: 400,
            header: Some("InvalidParameterValueException"),
            body: r#"{"Type":"User","message":"bad ARN"}"#,
            expect: ("invalid_request", false),
        },
        Case {
            name: "a bare 502 with no error type",
            status: 502,
            header: None,
            body: "",
            expect: ("upstream_error", true),
        },
    ];
    let target = TargetArn::parse(DURABLE).unwrap();
    for c in lambda_cases {
        let (status, header, body) = (c.status, c.header, c.body);
        let rule = mock!(aws_sdk_lambda::Client::get_durable_execution)
            .then_http_response(move || raw_error(status, header, body));
        let err =
            durable_adapter(lambda_client(&[&rule])).describe(&own_reach(), &target, far_deadline()).await.unwrap_err();
        assert_eq!(outcome(&err), c.expect, "{}", c.name);
    }
}

/// A confirming list whose second page fails (a 500, as when the deadline or an outage cuts it short): what
/// the first page showed is still confirmed, and the rest is left to a describe; a list that fails before it
/// showed anything is an error.
#[tokio::test]
async fn a_confirming_list_cut_short_keeps_what_its_pages_showed() {
    use aws_sdk_sfn::operation::list_executions::ListExecutionsOutput;
    use aws_sdk_sfn::types::{ExecutionListItem, ExecutionStatus};
    const MACHINE: &str = "arn:aws:states:us-east-1:111122223333:stateMachine:orders-api";
    fn arn(name: &str) -> String {
        format!("arn:aws:states:us-east-1:111122223333:execution:orders-api:{name}")
    }
    let item = |name: &str| {
        ExecutionListItem::builder()
            .execution_arn(arn(name))
            .state_machine_arn(MACHINE)
            .name(name)
            .status(ExecutionStatus::Aborted)
            .start_date(DateTime::from_secs(1_795_230_000))
            .stop_date(DateTime::from_secs(1_795_230_765))
            .build()
            .unwrap()
    };
    let first = mock!(aws_sdk_sfn::Client::list_executions).match_requests(|r| r.next_token().is_none()).then_output(
        move || ListExecutionsOutput::builder().executions(item("run-1")).next_token("page-2").build().unwrap(),
    );
    let failing = mock!(aws_sdk_sfn::Client::list_executions)
        .then_http_response(|| Response::new(StatusCode::try_from(500).unwrap(), SdkBody::from("")));
    let machine = TargetArn::parse(MACHINE).unwrap();
    let wanted: std::collections::HashSet<TargetArn> =
        ["run-1", "run-2"].iter().map(|n| TargetArn::parse(&arn(n)).unwrap()).collect();
    let oldest = chrono::DateTime::from_timestamp(1_795_229_000, 0);
    let adapter = sfn_adapter(sfn_client(&[&first, &failing]));
    let found = adapter.list_aborted(&own_reach(), &machine, (&wanted, oldest), far_deadline()).await.unwrap();
    assert_eq!(found.keys().map(ToString::to_string).collect::<Vec<_>>(), [arn("run-1")]);
    assert_eq!((first.num_calls(), failing.num_calls()), (1, 1));
    let adapter = sfn_adapter(sfn_client(&[&failing]));
    let nothing = adapter.list_aborted(&own_reach(), &machine, (&wanted, oldest), far_deadline()).await;
    assert!(nothing.is_err(), "a list that showed nothing is an error");
}
