//! One invocation: parse → decide and stop → audit → answer.
//!
//! Every path (unknown shapes, rejections, denials, upstream failures) goes through the single `sink.emit`
//! call, so a request can never go unaudited; [`disposition`] alone decides whether the invocation answers or
//! fails so that Lambda retries it.

use std::time::{Duration, Instant};

use chrono::Utc;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::config::store::PolicyStore;
use crate::domain::alarm::AlarmRouting;
use crate::domain::audit::{AuditEvent, AuditSink, Invocation};
use crate::domain::aws_ids::AccountId;
use crate::domain::outcome::{Handled, Outcome};
use crate::domain::request::SourceKind;
use crate::error::{Disposition, RetryableFailure, StopError, disposition, error_chain};
use crate::inbound::{self, Inbound, Parsed, reply};
use crate::service::{Gateway, Settled, new_audit_id};

/// Everything an invocation needs, built once at start-up.
pub struct App<S> {
    /// The adapters and the stop flow (the latch's too).
    pub gateway: Gateway,
    /// The policy in force (and its alarm routing).
    pub policies: PolicyStore,
    /// How long each HTTP door waits for an answer.
    pub doors: DoorTimeouts,
    /// Where audit records go.
    pub sink: S,
}

/// How long each HTTP door waits for the function before it answers the caller itself: API Gateway cuts an
/// HTTP API integration at 30 s (not raisable) and a REST API one at 29 s by default, while the function may run
/// for minutes. The gateway's own deadline is the earlier of Lambda's and the door's, so an HTTP caller always
/// gets its answer (`incomplete` with `remaining`, when a bulk stop is cut short), never the door's bare 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoorTimeouts {
    /// API Gateway REST APIs (`REST_API_TIMEOUT_MS`).
    pub rest_api: Option<Duration>,
    /// API Gateway HTTP APIs (`HTTP_API_TIMEOUT_MS`).
    pub http_api: Option<Duration>,
    /// Function URLs (`FUNCTION_URL_TIMEOUT_MS`): none by default, the function's own timeout applies.
    pub function_url: Option<Duration>,
}

impl Default for DoorTimeouts {
    fn default() -> Self {
        DoorTimeouts {
            rest_api: Some(Duration::from_secs(29)),
            http_api: Some(Duration::from_secs(29)),
            function_url: None,
        }
    }
}

impl DoorTimeouts {
    /// The door's own limit, if it has one.
    pub fn for_source(&self, source: SourceKind) -> Option<Duration> {
        match source {
            SourceKind::RestApi => self.rest_api,
            SourceKind::HttpApi => self.http_api,
            SourceKind::FunctionUrl => self.function_url,
            _ => None,
        }
    }
}

/// Handles one invocation.
pub async fn handle<S: AuditSink>(app: &App<S>, event: LambdaEvent<Box<RawValue>>) -> Result<Value, RetryableFailure> {
    let (started, received_at) = (Instant::now(), Utc::now());
    let lambda_deadline = deadline_of(&event.context);
    let home = home_account(&event.context.invoked_function_arn);
    let home = home.as_ref();

    let policy = app.policies.current().await;
    let no_routing = AlarmRouting::default();
    let routing = policy.as_ref().map_or(&no_routing, |p| &p.routing);
    let Inbound { source, reply, facts, request } = inbound::parse(&event.payload, routing);
    let door = app.doors.for_source(source).map(|limit| tokio::time::Instant::from_std(started) + limit);
    let deadline = door.map_or(lambda_deadline, |door| door.min(lambda_deadline));
    let requests = match (request, &policy) {
        (Ok(Parsed::Stop(request)), Ok(policy)) => {
            let audit_id = new_audit_id();
            let handled = app.gateway.stop_targets(&policy.policy, &request, &audit_id, home, deadline).await;
            vec![Settled { audit_id, facts, handled }]
        }
        (Ok(Parsed::Latch(check)), Ok(policy)) => app.gateway.latch(&check, policy, facts, home, deadline).await,
        // Without a policy nothing is decided, so nothing is stopped; the request is still answered and audited.
        (Ok(Parsed::Stop(request)), Err(why)) => {
            vec![Settled::without_decision(facts, Err(StopError::PolicyUnavailable(why.clone())), request.dry_run)]
        }
        (Ok(Parsed::Latch(_)), Err(why)) => {
            vec![Settled::without_decision(facts, Err(StopError::PolicyUnavailable(why.clone())), false)]
        }
        (Ok(Parsed::Ignore(reason)), _) => {
            vec![Settled::without_decision(facts, Ok(Outcome::Ignored { reason }), false)]
        }
        (Err(err), _) => {
            let dry_run = facts.dry_run;
            vec![Settled::without_decision(facts, Err(err), dry_run)]
        }
    };

    let mut records = Vec::new();
    let mut answers = Vec::with_capacity(requests.len());
    let mut retry = None;
    for Settled { audit_id, facts, handled } in &requests {
        log_result(handled, source, audit_id);
        let invocation = Invocation {
            audit_id,
            lambda_request_id: &event.context.request_id,
            received_at,
            source,
            duration: started.elapsed(),
            policy: policy.as_ref().ok().map(|p| &p.version),
        };
        let request_record = AuditEvent::request(&invocation, facts, handled);
        let executions = match &handled.result {
            Ok(Outcome::Bulk(report)) => report.executions.as_slice(),
            _ => &[],
        };
        let execution_records: Vec<AuditEvent> =
            executions.iter().filter_map(|e| AuditEvent::execution(&request_record, new_audit_id(), e)).collect();
        records.push(request_record);
        records.extend(execution_records);
        match disposition(source, handled.result.as_ref().map(Outcome::progress), audit_id) {
            Disposition::Retry(failure) => retry = retry.or(Some(failure)),
            Disposition::Answer(status) => answers.push((status, reply::body(handled, facts, audit_id))),
        }
    }
    app.sink.emit(&records, deadline).await;

    if let Some(failure) = retry {
        return Err(failure);
    }
    match <[_; 1]>::try_from(answers) {
        Ok([(status, body)]) => Ok(reply::render(reply, status, body)),
        // A sweep that acted for several alarms: every request's answer, each with its own audit id.
        Err(answers) => Ok(serde_json::json!({
            "outcome": "sweep",
            "requests": answers.into_iter().map(|(_, body)| body).collect::<Vec<_>>(),
        })),
    }
}

/// The function's own account, from the ARN Lambda says was invoked (`arn:P:lambda:R:ACCOUNT:function:…`).
/// `None` when it says none (local tools): then every target account needs a role, and no alarm latches.
fn home_account(invoked_function_arn: &str) -> Option<AccountId> {
    invoked_function_arn.split(':').nth(4).and_then(|account| AccountId::parse(account).ok())
}

/// When the invocation must have answered. A context without a deadline (tests, local tools) gets a generous one.
fn deadline_of(context: &lambda_runtime::Context) -> tokio::time::Instant {
    let now_ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default();
    let left = match context.deadline {
        0 => Duration::from_secs(15 * 60),
        deadline => Duration::from_millis(deadline.saturating_sub(now_ms)),
    };
    tokio::time::Instant::now() + left
}

/// Logs what a request came to once: a failure with its upstream error chain when there is one, a bulk stop
/// with its counts; never the payload.
fn log_result(handled: &Handled, source: SourceKind, audit_id: &str) {
    match &handled.result {
        Err(err) => log_failure(err, source, audit_id),
        Ok(Outcome::Bulk(report)) => {
            tracing::info!(audit_id, outcome = report.code(), counts = ?report.counts(), "bulk stop")
        }
        Ok(_) => {}
    }
}

fn log_failure(err: &StopError, source: SourceKind, audit_id: &str) {
    match std::error::Error::source(err) {
        Some(cause) => tracing::warn!(
            outcome = err.code(),
            source = source.as_str(),
            audit_id,
            retryable = err.is_retryable(),
            error = %error_chain(cause),
            "{err}"
        ),
        None => tracing::info!(outcome = err.code(), source = source.as_str(), audit_id, "{err}"),
    }
}
