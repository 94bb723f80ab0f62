//! Direct calls (`aws::direct`): the hot path's describe and stop, signed without the SDK's orchestrator.
//!
//! - Every documented error, and the unmodelled ones, map to the same outcome as through the SDK: each case is
//!   one HTTP answer, given to the SDK (a mocked reply) and to the direct call (over real HTTP).
//! - The signature is what botocore, an independent SigV4 implementation, computes for the same request.
//! - The requests have the wire shapes of the services' protocols, and transient failures of a read are tried
//!   again while a stop is sent once.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a clear failure

mod support;

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_mocks::mock;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use stop_gateway::aws::direct::{self, Direct, Endpoint, Route};
use stop_gateway::aws::durable::DurableAdapter;
use stop_gateway::aws::sfn::SfnAdapter;
use stop_gateway::aws::{Clients, Regional};
use stop_gateway::domain::arn::TargetArn;
use stop_gateway::domain::outcome::{StopError, StopText};
use stop_gateway::domain::text::{ErrorCode, Overflow, Reason};
use stop_gateway::pacing::Pacer;
use support::e2e::{Request, python, read_request};
use support::{lambda_client, sfn_client};

const SFN: &str = "arn:aws:states:us-east-1:111122223333:execution:orders-api:run-1";
const DURABLE: &str = "arn:aws:lambda:us-east-1:111122223333:function:checkout:$LATEST/durable-execution/o-1/abc";

/// One canned answer: status, headers, body.
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Answer {
    fn ok(body: &str) -> Answer {
        Answer { status: 200, headers: vec![], body: body.to_owned() }
    }

    /// An error as the AWS JSON protocol (Step Functions) sends it: the code in the body's `__type`.
    fn json_error(status: u16, code: &str) -> Answer {
        let body = format!(r#"{{"__type":"com.amazonaws.states#{code}","message":"{code} happened"}}"#);
        // Retry-After 0: the pacer's throttle retries then take no time.
        Answer { status, headers: vec![("retry-after", "0".into())], body }
    }

    /// An error as the REST JSON protocol (Lambda) sends it: the code in `x-amzn-errortype`.
    fn rest_error(status: u16, code: &str) -> Answer {
        let headers = vec![
            ("x-amzn-errortype", format!("{code}:http://internal.amazon.com/coral/")),
            ("retry-after", "0".into()),
        ];
        Answer { status, headers, body: format!(r#"{{"Type":"User","Message":"{code} happened"}}"#) }
    }

    fn sdk_response(&self) -> Response {
        let mut response = Response::new(StatusCode::try_from(self.status).unwrap(), SdkBody::from(self.body.clone()));
        for (name, value) in &self.headers {
            response.headers_mut().insert(*name, value.clone());
        }
        response
    }
}

/// A keep-alive HTTP server that answers every request with the current canned answer and records it.
struct Canned {
    url: String,
    answer: Arc<Mutex<Answer>>,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Canned {
    fn start() -> Canned {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let answer = Arc::new(Mutex::new(Answer::ok("{}")));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (a, s) = (answer.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (answer, seen) = (a.clone(), s.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut stream = stream;
                    while let Some(request) = read_request(&mut reader) {
                        seen.lock().unwrap().push(request);
                        let answer = answer.lock().unwrap().clone();
                        let mut head =
                            format!("HTTP/1.1 {} X\r\ncontent-length: {}\r\n", answer.status, answer.body.len());
                        for (name, value) in &answer.headers {
                            head.push_str(&format!("{name}: {value}\r\n"));
                        }
                        if stream.write_all(format!("{head}\r\n{}", answer.body).as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Canned { url, answer, seen }
    }

    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
        self.seen.lock().unwrap().clear();
    }

    fn requests(&self) -> Vec<Request> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

fn credentials() -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("session-token".into()),
        None,
        "test",
    )
}

/// A route to `url` for `service` ("states" or "lambda"), with fixed credentials, trying a read
/// `read_attempts` times.
fn route_with(url: &str, service: &str, read_attempts: u32) -> Route {
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(credentials()))
        .build();
    let caller = Arc::new(Direct::new(&sdk, direct::connector(&sdk, None)).read_attempts(read_attempts));
    let endpoint = Endpoint::resolve(&sdk, "SFN", service, "us-east-1", |_| {
        Ok(aws_smithy_types::endpoint::Endpoint::builder().url(url.to_owned()).build())
    })
    .unwrap();
    Route { caller, endpoint: Arc::new(endpoint) }
}

fn direct_sfn(url: &str) -> SfnAdapter {
    direct_sfn_with(url, 3)
}

fn direct_sfn_with(url: &str, read_attempts: u32) -> SfnAdapter {
    // The SDK client is never reached: with a route, describe and stop go direct.
    let unused = sfn_client(&[]);
    let route = route_with(url, "states", read_attempts);
    let clients = Clients { read: unused.clone(), stop: unused, direct: Some(route) };
    SfnAdapter::new(Regional::new("us-east-1", move |_: &str| clients.clone()), Arc::new(Pacer::default()))
}

fn direct_durable(url: &str) -> DurableAdapter {
    direct_durable_with(url, 3)
}

fn direct_durable_with(url: &str, read_attempts: u32) -> DurableAdapter {
    let unused = lambda_client(&[]);
    let route = route_with(url, "lambda", read_attempts);
    let clients = Clients { read: unused.clone(), stop: unused, direct: Some(route) };
    DurableAdapter::new(Regional::new("us-east-1", move |_: &str| clients.clone()), Arc::new(Pacer::default()))
}

fn sdk_sfn(client: aws_sdk_sfn::Client) -> SfnAdapter {
    SfnAdapter::new(
        Regional::new("us-east-1", move |_: &str| Clients::same(client.clone())),
        Arc::new(Pacer::default()),
    )
}

fn sdk_durable(client: aws_sdk_lambda::Client) -> DurableAdapter {
    DurableAdapter::new(
        Regional::new("us-east-1", move |_: &str| Clients::same(client.clone())),
        Arc::new(Pacer::default()),
    )
}

/// Far enough not to matter.
fn soon() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(30)
}

fn outcome<T: std::fmt::Debug>(result: Result<T, StopError>) -> (&'static str, bool) {
    let err = result.unwrap_err();
    (err.code(), err.is_retryable())
}

async fn with_text<T>(f: impl AsyncFnOnce(&StopText<'_>) -> T) -> T {
    let code = ErrorCode::parse("Ops.Stop").unwrap();
    let reason = Reason::parse("OPS-1 because \"quoted\" ünïcode", Overflow::Reject).unwrap();
    let text = StopText {
        error_code: &code,
        reason: &reason,
        caller: "caller",
        source: "apigw-http",
        audit_id: "a",
        rule_id: "r",
    };
    f(&text).await
}

/// The unmodelled answers every operation can get.
fn unmodelled(error: fn(u16, &str) -> Answer) -> Vec<Answer> {
    vec![
        error(500, "InternalFailure"),
        error(503, "ServiceUnavailable"),
        error(429, "TooManyRequests"),
        error(400, "ThrottlingException"),
        error(400, "AccessDeniedException"),
        error(403, "UnrecognizedClientException"),
        Answer { status: 502, headers: vec![("retry-after", "0".into())], body: "<html>bad gateway</html>".into() },
    ]
}

#[tokio::test]
async fn step_functions_errors_map_the_same_direct_and_through_the_sdk() {
    let server = Canned::start();
    let target = TargetArn::parse(SFN).unwrap();
    let documented = ["ExecutionDoesNotExist", "InvalidArn", "KmsAccessDeniedException", "KmsInvalidStateException"];
    let mut answers: Vec<Answer> = documented.iter().map(|c| Answer::json_error(400, c)).collect();
    answers.push(Answer::json_error(400, "KmsThrottlingException"));
    answers.extend(unmodelled(Answer::json_error));
    let mut stop_answers = answers.clone();
    stop_answers.push(Answer::json_error(400, "ValidationException"));

    for answer in answers {
        let label = format!("describe {} {}", answer.status, answer.body);
        let reply = answer.clone();
        let rule = mock!(aws_sdk_sfn::Client::describe_execution).then_http_response(move || reply.sdk_response());
        let through_sdk = outcome(sdk_sfn(sfn_client(&[&rule])).describe(&target, soon()).await);
        server.answer(answer);
        let direct = outcome(direct_sfn_with(&server.url, 1).describe(&target, soon()).await);
        assert_eq!(direct, through_sdk, "{label}");
    }
    for answer in stop_answers {
        let label = format!("stop {} {}", answer.status, answer.body);
        let reply = answer.clone();
        let rule = mock!(aws_sdk_sfn::Client::stop_execution).then_http_response(move || reply.sdk_response());
        let through_sdk =
            outcome(with_text(async |t| sdk_sfn(sfn_client(&[&rule])).stop(&target, t, soon()).await).await);
        server.answer(answer);
        let direct = outcome(with_text(async |t| direct_sfn_with(&server.url, 1).stop(&target, t, soon()).await).await);
        assert_eq!(direct, through_sdk, "{label}");
        assert_eq!(server.requests().len(), stop_calls(direct), "{label}");
    }
}

/// Stop calls for an outcome: a throttled stop is tried 15 times in all (the pacer's retries), any other
/// answer ends it at once.
fn stop_calls(outcome: (&str, bool)) -> usize {
    if outcome.0 == "throttled" { 15 } else { 1 }
}

#[tokio::test]
async fn durable_errors_map_the_same_direct_and_through_the_sdk() {
    let server = Canned::start();
    let target = TargetArn::parse(DURABLE).unwrap();
    let documented = [
        "ResourceNotFoundException",
        "InvalidParameterValueException",
        "TooManyRequestsException",
        "ServiceException",
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSNotFoundException",
    ];
    let mut answers: Vec<Answer> = documented.iter().map(|c| Answer::rest_error(400, c)).collect();
    answers.extend(unmodelled(Answer::rest_error));
    for answer in answers {
        let label = format!("{} {:?}", answer.status, answer.headers);
        let reply = answer.clone();
        let get = mock!(aws_sdk_lambda::Client::get_durable_execution).then_http_response(move || reply.sdk_response());
        let through_sdk = outcome(sdk_durable(lambda_client(&[&get])).describe(&target, soon()).await);
        server.answer(answer.clone());
        let direct = outcome(direct_durable_with(&server.url, 1).describe(&target, soon()).await);
        assert_eq!(direct, through_sdk, "get {label}");

        let reply = answer.clone();
        let stop =
            mock!(aws_sdk_lambda::Client::stop_durable_execution).then_http_response(move || reply.sdk_response());
        let through_sdk =
            outcome(with_text(async |t| sdk_durable(lambda_client(&[&stop])).stop(&target, t, soon()).await).await);
        server.answer(answer);
        let direct =
            outcome(with_text(async |t| direct_durable_with(&server.url, 1).stop(&target, t, soon()).await).await);
        assert_eq!(direct, through_sdk, "stop {label}");
        assert_eq!(server.requests().len(), stop_calls(direct), "{label}");
    }
}

#[tokio::test]
async fn requests_have_the_protocols_wire_shapes_and_replies_are_read() {
    let server = Canned::start();
    let adapter = direct_sfn(&server.url);
    let target = TargetArn::parse(SFN).unwrap();

    server.answer(Answer::ok(r#"{"executionArn":"x","status":"RUNNING","startDate":1795230000.123,"extra":[1,{}]}"#));
    let state = adapter.describe(&target, soon()).await.unwrap();
    assert_eq!((state.status.as_str(), state.stoppable, state.ended_at), ("RUNNING", true, None));
    let request = server.requests().remove(0);
    assert_eq!((request.method(), request.path()), ("POST", "/"));
    assert_eq!(request.header("x-amz-target"), Some("AWSStepFunctions.DescribeExecution"));
    assert_eq!(request.header("content-type"), Some("application/x-amz-json-1.0"));
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body, serde_json::json!({ "executionArn": SFN }));

    server.answer(Answer::ok(r#"{"stopDate":1795230765.25}"#));
    let stopped = with_text(async |t| adapter.stop(&target, t, soon()).await).await.unwrap();
    assert_eq!(stopped.map(|t| t.timestamp_millis()), Some(1_795_230_765_250));
    let request = server.requests().remove(0);
    assert_eq!(request.header("x-amz-target"), Some("AWSStepFunctions.StopExecution"));
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["executionArn"], SFN);
    assert_eq!(body["error"], "Ops.Stop");
    assert!(body["cause"].as_str().unwrap().starts_with("OPS-1 because \"quoted\" ünïcode"));

    // An empty reply is no evidence of a stop; a reply that is not JSON is a retryable upstream error.
    server.answer(Answer::ok("{}"));
    assert_eq!(with_text(async |t| adapter.stop(&target, t, soon()).await).await.unwrap(), None);
    server.answer(Answer::ok("<html>"));
    assert_eq!(outcome(adapter.describe(&target, soon()).await), ("upstream_error", true));
    // A reply over 1 MiB is not read to the end.
    server.answer(Answer::ok(&format!(r#"{{"stopDate":1795230765,"pad":"{}"}}"#, "x".repeat(1 << 20))));
    let err = with_text(async |t| adapter.stop(&target, t, soon()).await).await.unwrap_err();
    assert_eq!((err.code(), err.is_retryable()), ("upstream_error", true));
    assert!(stop_gateway::aws::error_chain(&err).contains("length limit"), "{}", stop_gateway::aws::error_chain(&err));

    let durable = direct_durable(&server.url);
    let target = TargetArn::parse(DURABLE).unwrap();
    let encoded = "arn%3Aaws%3Alambda%3Aus-east-1%3A111122223333%3Afunction%3Acheckout%3A%24LATEST%2Fdurable-execution%2Fo-1%2Fabc";
    for (status, stoppable) in [("RUNNING", true), ("PAUSING", true), ("PAUSED", true), ("SUCCEEDED", false)] {
        server.answer(Answer::ok(&format!(r#"{{"Status":"{status}","EndTimestamp":null}}"#)));
        let state = durable.describe(&target, soon()).await.unwrap();
        assert_eq!((state.status.as_str(), state.stoppable), (status, stoppable));
    }
    let request = server.requests().remove(0);
    assert_eq!(
        (request.method(), request.path()),
        ("GET", format!("/2025-12-01/durable-executions/{encoded}").as_str())
    );
    assert_eq!(request.header("content-type"), None);

    server.answer(Answer::ok(r#"{"StopTimestamp":1795230765}"#));
    let stopped = with_text(async |t| durable.stop(&target, t, soon()).await).await.unwrap();
    assert_eq!(stopped.map(|t| t.timestamp()), Some(1_795_230_765));
    let request = server.requests().remove(0);
    assert_eq!(
        (request.method(), request.path()),
        ("POST", format!("/2025-12-01/durable-executions/{encoded}/stop").as_str())
    );
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["ErrorType"], "Ops.Stop");
    assert!(body["ErrorMessage"].as_str().unwrap().starts_with("OPS-1 because"));
    let data: serde_json::Value = serde_json::from_str(body["ErrorData"].as_str().unwrap()).unwrap();
    assert_eq!(data["auditId"], "a");
}

#[tokio::test]
async fn a_transient_read_failure_is_tried_again_and_a_stop_is_not() {
    let server = Canned::start();
    let adapter = direct_sfn(&server.url);
    let target = TargetArn::parse(SFN).unwrap();
    let later = tokio::time::Instant::now() + Duration::from_secs(30);

    server.answer(Answer::json_error(503, "ServiceUnavailable"));
    assert_eq!(outcome(adapter.describe(&target, later).await), ("upstream_error", true));
    assert_eq!(server.requests().len(), 3, "three attempts, as the SDK's standard retry mode");
    assert_eq!(outcome(with_text(async |t| adapter.stop(&target, t, later).await).await), ("upstream_error", true));
    assert_eq!(server.requests().len(), 1, "a stop whose answer was lost may have happened: never resent here");
    server.answer(Answer::json_error(400, "ExecutionDoesNotExist"));
    assert_eq!(outcome(adapter.describe(&target, later).await), ("not_found", false));
    assert_eq!(server.requests().len(), 1, "an answer about the target is final");

    // Nothing listening: a connection failure is transient.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    assert_eq!(outcome(direct_sfn(&url).describe(&target, later).await), ("upstream_error", true));
}

#[tokio::test]
async fn the_signature_is_the_one_botocore_computes() {
    let server = Canned::start();
    let durable = TargetArn::parse(DURABLE).unwrap();
    let mut all = Vec::new();
    server.answer(Answer::ok(r#"{"status":"RUNNING"}"#));
    direct_sfn(&server.url).describe(&TargetArn::parse(SFN).unwrap(), soon()).await.unwrap();
    all.append(&mut server.requests());
    server.answer(Answer::ok(r#"{"StopTimestamp":1795230765}"#));
    with_text(async |t| direct_durable(&server.url).stop(&durable, t, soon()).await).await.unwrap();
    all.append(&mut server.requests());
    server.answer(Answer::ok(r#"{"Status":"RUNNING"}"#));
    direct_durable(&server.url).describe(&durable, soon()).await.unwrap();
    all.append(&mut server.requests());
    assert_eq!(all.len(), 3);
    for request in all {
        let authorization = request.header("authorization").unwrap().to_owned();
        let signed: Vec<&str> =
            authorization.split("SignedHeaders=").nth(1).unwrap().split(',').next().unwrap().split(';').collect();
        assert!(signed.contains(&"host") && signed.contains(&"x-amz-date") && signed.contains(&"x-amz-security-token"));
        assert_eq!(request.header("x-amz-security-token"), Some("session-token"));
        let headers: HashMap<&str, &str> = signed
            .iter()
            .filter(|h| !matches!(**h, "x-amz-date" | "x-amz-security-token"))
            .map(|h| (*h, request.header(h).unwrap()))
            .collect();
        let service = if request.path() == "/" { "states" } else { "lambda" };
        let input = serde_json::json!({
            "method": request.method(),
            "url": format!("{}{}", server.url, request.path()),
            "headers": headers,
            "body": String::from_utf8(request.body.clone()).unwrap(),
            "date": request.header("x-amz-date").unwrap(),
            "service": service,
        });
        let botocore = botocore_authorization(&input);
        assert_eq!(authorization, botocore, "{} {}", request.method(), request.path());
    }
}

/// What botocore's `SigV4Auth` puts in `Authorization` for the same request, credentials and time.
fn botocore_authorization(input: &serde_json::Value) -> String {
    const SCRIPT: &str = r#"
import datetime, json, sys
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
r = json.load(sys.stdin)
when = datetime.datetime.strptime(r["date"], "%Y%m%dT%H%M%SZ")
botocore.auth.get_current_datetime = lambda *a, **k: when
request = AWSRequest(method=r["method"], url=r["url"], headers=r["headers"], data=r["body"].encode())
credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")
botocore.auth.SigV4Auth(credentials, r["service"], "us-east-1").add_auth(request)
print(request.headers["Authorization"])
"#;
    let mut child = std::process::Command::new(python())
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "botocore failed");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}
