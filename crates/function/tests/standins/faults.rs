//! Fault injection: the real gateway binary against the stand-ins, through a proxy that throttles (429 with
//! `Retry-After`), fails (500/503), answers slowly (past the SDK's attempt timeout, or past the invocation's
//! deadline) or resets connections (before and after forwarding), and with the audit bus down. Every case must
//! end in the right outcome (a retryable invocation error for EventBridge; 429 or 503 with `retryable` for HTTP) and then heal:
//! no execution is ever stopped twice (counted at the stand-in), and every request has its audit line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use testkit::{
    fault_proxy::{Fault, FaultProxy, FaultRule},
    gateway_process::{GatewayProcess, body, outcome, policy_for, sample},
    runtime_api::Invocation,
    standins::Standins,
};

static STANDINS: OnceLock<Standins> = OnceLock::new();

fn standins() -> &'static Standins {
    STANDINS.get_or_init(Standins::start)
}

const DESCRIBE: &str = "AWSStepFunctions.DescribeExecution";
const STOP: &str = "AWSStepFunctions.StopExecution";
const PUT_EVENTS: &str = "AWSEvents.PutEvents";

/// The stand-in endpoint a service's SDK client would use.
fn endpoint(variable: &str) -> String {
    standins().env().into_iter().find(|(k, _)| k == variable).unwrap().1
}

/// A gateway whose Step Functions calls go through a fault proxy, with an audit bus (itself behind a proxy
/// when `bus_faults` is given).
struct Rig {
    gateway: GatewayProcess,
    sfn: FaultProxy,
    lambda: FaultProxy,
    _bus: Option<FaultProxy>,
    account: String,
}

impl Rig {
    fn new(sfn_faults: &[FaultRule], bus_faults: Option<&[FaultRule]>) -> Rig {
        Rig::with_env(sfn_faults, bus_faults, &[])
    }

    fn with_env(sfn_faults: &[FaultRule], bus_faults: Option<&[FaultRule]>, extra: &[(&str, &str)]) -> Rig {
        let s = standins();
        let account = s.account();
        let sfn = FaultProxy::start(&endpoint("AWS_ENDPOINT_URL_SFN"), sfn_faults);
        let lambda = FaultProxy::start(&endpoint("AWS_ENDPOINT_URL_LAMBDA"), &[]);
        let bus = bus_faults.map(|rules| FaultProxy::start(&endpoint("AWS_ENDPOINT_URL_EVENTBRIDGE"), rules));
        let audit_bus = s.audit_bus();
        let policy = policy_for(&account);
        let (sfn_url, lambda_url, bus_url) =
            (sfn.endpoint(), lambda.endpoint(), bus.as_ref().map(FaultProxy::endpoint));
        let mut env = vec![
            ("POLICY", policy.as_str()),
            ("AUDIT_EVENT_BUS", audit_bus.name.as_str()),
            ("AWS_ENDPOINT_URL_SFN", sfn_url.as_str()),
            ("AWS_ENDPOINT_URL_LAMBDA", lambda_url.as_str()),
        ];
        if let Some(url) = &bus_url {
            env.push(("AWS_ENDPOINT_URL_EVENTBRIDGE", url.as_str()));
        }
        env.extend_from_slice(extra);
        let gateway = GatewayProcess::start(Path::new(env!("CARGO_BIN_EXE_stop-gateway")), s, &env);
        Rig { gateway, sfn, lambda, _bus: bus, account }
    }

    /// Two running executions of a fresh state machine: one for an HTTP request, one for an EventBridge event.
    fn executions(&self, name: &str) -> (String, String) {
        let arns = standins().sfn_start(name, 2);
        (arns[0].clone(), arns[1].clone())
    }

    fn http(&self, target: &str, timeout: Duration) -> Invocation {
        self.gateway.invoke_within(&sample("apigw-rest-stop-sfn.json", &self.account, Some(target)), timeout)
    }

    fn event(&self, target: &str, timeout: Duration) -> Invocation {
        self.gateway.invoke_within(&sample("eventbridge-stop-sfn.json", &self.account, Some(target)), timeout)
    }

    /// One audit line per request so far, each naming its outcome; returns the outcomes in order.
    fn audited(&self, requests: usize) -> Vec<String> {
        let lines = self.gateway.audit_lines(requests);
        assert_eq!(lines.len(), requests, "one audit line per request, whatever failed");
        lines.iter().map(|l| l["audit"]["outcome"].as_str().unwrap().to_owned()).collect()
    }
}

const LONG: Duration = Duration::from_secs(30);

/// HTTP got `status` with error `code`; EventBridge failed the invocation (so Lambda retries) with that code.
fn assert_failed(http: &Invocation, event: &Invocation, status: u16, code: &str) {
    assert_eq!(http.body["statusCode"], status, "{:?}", http.body);
    assert_eq!(outcome(http), code, "{:?}", http.body);
    assert_eq!(body(http)["error"]["retryable"], true, "{:?}", http.body);
    assert!(event.error, "an EventBridge request must fail the invocation to be retried: {:?}", event.body);
    assert_eq!(event.body["errorType"], format!("StopGateway.{code}"), "{:?}", event.body);
}

/// The request heals once the faults are gone: stopped now, and the stand-in saw exactly one stop.
fn assert_heals(rig: &Rig, http_target: &str, event_target: &str) {
    rig.sfn.set_rules(&[]);
    let s = standins();
    for (answer, arn) in [(rig.http(http_target, LONG), http_target), (rig.event(event_target, LONG), event_target)] {
        assert!(!answer.error, "{:?}", answer.body);
        assert!(matches!(outcome(&answer).as_str(), "stopped" | "already_finished"), "{:?}", answer.body);
        assert_eq!(s.sfn_status(arn), "ABORTED");
        assert_eq!(s.sfn_stops(arn).len(), 1, "stopped exactly once");
    }
}

#[test]
fn throttled_stops_answer_429_or_retry_and_heal() {
    let rig = Rig::new(&[FaultRule::always(STOP, Fault::throttle("0.05"))], None);
    let (a, b) = rig.executions("orders-faults-throttle");
    let (http, event) = (rig.http(&a, LONG), rig.event(&b, LONG));
    assert_failed(&http, &event, 429, "throttled");
    let s = standins();
    assert_eq!((s.sfn_status(&a), s.sfn_status(&b)), ("RUNNING".into(), "RUNNING".into()));
    assert!(rig.sfn.faulted() >= 10, "the stop was tried again after Retry-After ({} faults)", rig.sfn.faulted());
    assert_heals(&rig, &a, &b);
    assert_eq!(rig.audited(4), ["throttled", "throttled", "stopped", "stopped"]);
}

#[test]
fn throttled_describes_are_retried_by_the_sdk_then_answered() {
    // The first two describes are throttled: the SDK's own retries absorb them.
    let rig = Rig::new(&[FaultRule::first(2, DESCRIBE, Fault::throttle("0"))], None);
    let (a, _) = rig.executions("orders-faults-throttle-read");
    let answer = rig.http(&a, LONG);
    assert_eq!(outcome(&answer), "stopped", "{:?}", answer.body);
    assert_eq!(rig.sfn.faulted(), 2);
    assert_eq!(standins().sfn_stops(&a).len(), 1);
    assert_eq!(rig.audited(1), ["stopped"]);
}

#[test]
fn server_errors_answer_503_or_retry_and_heal() {
    for status in [500, 503] {
        let rig = Rig::new(&[FaultRule::always(DESCRIBE, Fault::server_error(status))], None);
        let (a, b) = rig.executions(&format!("orders-faults-{status}"));
        let (http, event) = (rig.http(&a, LONG), rig.event(&b, LONG));
        assert_failed(&http, &event, 503, "upstream_error");
        // Three SDK attempts per describe, nothing stopped.
        assert_eq!(rig.sfn.faulted(), 6, "{status}");
        assert_eq!(standins().sfn_stops(&a).len() + standins().sfn_stops(&b).len(), 0);
        assert_heals(&rig, &a, &b);
        assert_eq!(rig.audited(4), ["upstream_error", "upstream_error", "stopped", "stopped"]);
    }
}

#[test]
fn a_failed_stop_is_described_again_before_it_is_sent_again() {
    // The first stop fails with 500 before reaching the service: still running, so it is sent once more.
    let rig = Rig::new(&[FaultRule::first(1, STOP, Fault::server_error(500))], None);
    let (a, _) = rig.executions("orders-faults-stop-500");
    let answer = rig.http(&a, LONG);
    assert_eq!(outcome(&answer), "stopped", "{:?}", answer.body);
    assert_eq!(standins().sfn_stops(&a).len(), 1, "one stop reached the service");
    assert_eq!(rig.audited(1), ["stopped"]);
}

#[test]
fn a_stop_whose_answer_is_lost_is_confirmed_not_repeated() {
    // The stop reaches the service, then the connection is reset: the describe that follows finds it ABORTED.
    let rig = Rig::new(&[FaultRule::first(2, STOP, Fault::ResetAfterForward)], None);
    let (a, b) = rig.executions("orders-faults-reset-after");
    for (answer, arn) in [(rig.http(&a, LONG), &a), (rig.event(&b, LONG), &b)] {
        assert!(!answer.error, "{:?}", answer.body);
        assert_eq!(outcome(&answer), "stopped", "{:?}", answer.body);
        assert_eq!(body(&answer)["previousStatus"], "RUNNING");
        assert_eq!(standins().sfn_status(arn), "ABORTED");
        assert_eq!(standins().sfn_stops(arn).len(), 1, "never sent twice");
    }
    assert_eq!(rig.audited(2), ["stopped", "stopped"]);
}

#[test]
fn connection_resets_answer_503_or_retry_and_heal() {
    // Every stop is reset before it reaches the service: each of the three tries is preceded by a describe.
    let rig = Rig::new(&[FaultRule::always(STOP, Fault::Reset)], None);
    let (a, b) = rig.executions("orders-faults-reset");
    let (http, event) = (rig.http(&a, LONG), rig.event(&b, LONG));
    assert_failed(&http, &event, 503, "upstream_error");
    assert_eq!(rig.sfn.faulted(), 6, "three stop attempts per request");
    assert_heals(&rig, &a, &b);
    assert_eq!(rig.audited(4), ["upstream_error", "upstream_error", "stopped", "stopped"]);
}

#[test]
fn a_slow_describe_past_the_attempt_timeout_is_tried_again() {
    // The first describe is held for longer than the SDK's 5 s attempt timeout; the second attempt answers.
    let rig = Rig::new(&[FaultRule::first(1, DESCRIBE, Fault::Slow(Duration::from_secs(8)))], None);
    let (a, _) = rig.executions("orders-faults-slow-read");
    let answer = rig.http(&a, LONG);
    assert_eq!(outcome(&answer), "stopped", "{:?}", answer.body);
    assert_eq!(standins().sfn_stops(&a).len(), 1);
    assert_eq!(rig.audited(1), ["stopped"]);
}

#[test]
fn a_slow_stop_past_the_deadline_answers_in_time_and_is_not_repeated() {
    // The stop reaches the service but its answer is held past the invocation's deadline (3 s). The gateway
    // gives up in time to answer and audit; the retry finds the execution already stopped.
    let rig = Rig::new(&[FaultRule::first(2, STOP, Fault::Slow(Duration::from_secs(6)))], None);
    let (a, b) = rig.executions("orders-faults-slow-stop");
    let short = Duration::from_secs(3);
    let started = std::time::Instant::now();
    let (http, event) = (rig.http(&a, short), rig.event(&b, short));
    assert!(started.elapsed() < Duration::from_secs(6), "both answered within their deadlines");
    assert_failed(&http, &event, 503, "upstream_error");
    rig.sfn.set_rules(&[]);
    for (answer, arn) in [(rig.http(&a, LONG), &a), (rig.event(&b, LONG), &b)] {
        assert_eq!(outcome(&answer), "already_finished", "{:?}", answer.body);
        assert_eq!(standins().sfn_stops(arn).len(), 1, "the held stop was the only one");
    }
    assert_eq!(rig.audited(4), ["upstream_error", "upstream_error", "already_finished", "already_finished"]);
}

#[test]
fn with_the_audit_bus_down_stops_happen_and_every_record_is_logged() {
    for (i, fault) in [Fault::server_error(500), Fault::Reset, Fault::throttle("0")].into_iter().enumerate() {
        let rig = Rig::new(&[], Some(&[FaultRule::always(PUT_EVENTS, fault)]));
        let (a, b) = rig.executions(&format!("orders-faults-bus-{i}"));
        let (http, event) = (rig.http(&a, LONG), rig.event(&b, LONG));
        assert_eq!(outcome(&http), "stopped", "{:?}", http.body);
        assert!(!event.error, "{:?}", event.body);
        assert_eq!(outcome(&event), "stopped");
        let lines = rig.gateway.audit_lines(2);
        assert_eq!(lines.len(), 2, "{fault:?}");
        for line in &lines {
            assert_eq!(line["busDelivery"]["status"], "failed", "{fault:?}: {line}");
            assert_eq!(line["level"], "WARN");
            assert_eq!(line["audit"]["outcome"], "stopped");
        }
        assert_eq!(standins().sfn_stops(&a).len() + standins().sfn_stops(&b).len(), 2);
    }
}

#[test]
fn a_durable_stop_whose_answer_is_lost_is_confirmed_and_a_failing_one_retried() {
    let rig = Rig::new(&[], None);
    let s = standins();
    let arns = s.durable_start("checkout", 2);
    let durable = |arn: &str| sample("apigw-http-stop-durable.json", &rig.account, Some(arn));
    // The first stop reaches the server, then the connection is reset: confirmed by describing, not repeated.
    rig.lambda.set_rules(&[FaultRule::first(1, "/stop", Fault::ResetAfterForward)]);
    let answer = rig.gateway.invoke_within(&durable(&arns[0]), LONG);
    assert_eq!(outcome(&answer), "stopped", "{:?}", answer.body);
    assert_eq!(s.durable_status(&arns[0])["Status"], "STOPPED");
    assert_eq!(s.durable_stops(&arns[0]).len(), 1, "never sent twice");
    // Every stop answered 503: three tries, each after a describe, then 503 (retryable); the execution still runs.
    rig.lambda.set_rules(&[FaultRule::always("/stop", Fault::server_error(503))]);
    let answer = rig.gateway.invoke_within(&durable(&arns[1]), LONG);
    assert_eq!(answer.body["statusCode"], 503, "{:?}", answer.body);
    assert_eq!(body(&answer)["error"]["retryable"], true, "{:?}", answer.body);
    assert_eq!(rig.lambda.faulted(), 1 + 3);
    assert_eq!(s.durable_status(&arns[1])["Status"], "RUNNING");
    rig.lambda.set_rules(&[]);
    let answer = rig.gateway.invoke_within(&durable(&arns[1]), LONG);
    assert_eq!(outcome(&answer), "stopped", "{:?}", answer.body);
    assert_eq!(s.durable_stops(&arns[1]).len(), 1);
    assert_eq!(rig.audited(3), ["stopped", "upstream_error", "stopped"]);
}

#[test]
fn a_bulk_http_stop_longer_than_the_door_answers_incomplete_with_remaining_before_it_cuts() {
    // Every stop is held 300 ms and the gateway works one execution at a time, so ten executions take about 3 s
    // of a door that waits 4 s (a short door for the test's sake: the default 29 s is a unit test of the
    // settings), of which the last 1.5 s are kept to confirm the stops and answer: longer than the door allows,
    // though well within the function's own timeout. The caller gets `incomplete` and what is left, in time,
    // instead of API Gateway's bare 503.
    let rig = Rig::with_env(
        &[FaultRule::always(STOP, Fault::Slow(Duration::from_millis(300)))],
        None,
        &[("BULK_CONCURRENCY", "1"), ("HTTP_API_TIMEOUT_MS", "4000"), ("DEADLINE_MARGIN_MS", "1500")],
    );
    let arns = standins().sfn_start("orders-faults-door", 10);
    let machine = arns[0].rsplit_once(':').unwrap().0.replace(":execution:", ":stateMachine:");
    let request = sample("apigw-http-bulk-state-machine.json", &rig.account, Some(&machine));
    let started = std::time::Instant::now();
    let answer = rig.gateway.invoke_within(&request, Duration::from_secs(120));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "answered before the door's 4 s cut: {took:?}");
    assert!(took > Duration::from_millis(2500), "the door's deadline, not an early failure: {took:?}");
    assert_eq!(answer.body["statusCode"], 503, "{:?}", answer.body);
    let b = body(&answer);
    assert_eq!(b["outcome"], "incomplete");
    let remaining = b["remaining"].as_array().unwrap().len();
    let stopped = b["counts"]["stopped"].as_u64().unwrap() as usize;
    // A stop still in flight at the deadline is cut off and reported as a transient failure, also for a resend.
    let cut = b["executions"].as_array().unwrap().iter().filter(|e| e["outcome"] == "upstream_error").count();
    assert!(remaining > 0 && stopped > 0 && cut <= 1 && stopped + remaining + cut == 10, "{b}");

    // The caller resends, as the answer says: the rest is stopped, nothing twice.
    rig.sfn.set_rules(&[]);
    let again = rig.gateway.invoke_within(&request, Duration::from_secs(120));
    assert_eq!(outcome(&again), "stopped", "{:?}", again.body);
    for arn in &arns {
        assert_eq!(standins().sfn_status(arn), "ABORTED", "{arn}");
        assert_eq!(standins().sfn_stops(arn).len(), 1, "{arn} stopped once");
    }
}
