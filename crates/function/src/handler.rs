//! One invocation: the deadline, the policy, parse, the stop flow, the records, the disposition, emit, reply.
//!
//! Every path (unknown shapes, rejections, denials, upstream failures) goes through the single `sink.emit`
//! call, so a request can never go unaudited; `disposition` alone decides whether the invocation answers or
//! fails so that Lambda retries it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use serde_json::value::RawValue;
use stop_gateway_core::domain::alarm::AlarmRouting;
use stop_gateway_core::domain::audit::{AuditEvent, Coded, Invocation};
use stop_gateway_core::domain::aws_ids::AccountId;
use stop_gateway_core::domain::failure::{StopError, error_chain};
use stop_gateway_core::domain::outcome::Outcome;
use stop_gateway_core::domain::policy::PolicyVersion;
use stop_gateway_core::domain::request::{Door, Parsed};
use stop_gateway_core::error::{Disposition, Failure, HttpStatus, RetryableFailure, disposition};
use stop_gateway_core::inbound::{self, Inbound};
use stop_gateway_core::reply;
use tokio::time::Instant;

use crate::aws::policy_source::PolicyStore;
use crate::config::{DoorTimeouts, ServedDoors};
use crate::service::{Settled, StopFlow, new_audit_id};
use crate::sink::AuditSink;

/// Everything an invocation needs, built once at start-up.
pub struct App<S> {
    /// The stop flow (and the latch's).
    pub flow: StopFlow,
    /// The policy in force (and its alarm routing).
    pub policies: PolicyStore,
    /// How long each HTTP door waits for an answer.
    pub doors: DoorTimeouts,
    /// Which doors this function serves.
    pub served: ServedDoors,
    /// Where audit records go.
    pub sink: S,
}

/// Handles one invocation.
pub async fn handle<S: AuditSink>(app: &App<S>, event: LambdaEvent<Box<RawValue>>) -> Result<Value, Diagnostic> {
    let (started, received_at) = (Instant::now(), Utc::now());
    let home = home_account(&event.context.invoked_function_arn);
    let policy = app.policies.current().await;
    let no_routing = AlarmRouting::default();
    let routing = policy.as_ref().map_or(&no_routing, |p| &p.routing);
    let Inbound { door, facts, request } = inbound::parse(&event.payload, routing);
    // A door this function does not serve is refused, and audited, before anything is asked of AWS.
    let request = request.and_then(|r| app.served.check(door).map(|()| r));
    let deadline = app.doors.deadline(door, started, deadline_of(&event.context));
    let settled = match (request, &policy) {
        (Err(err), _) => {
            let dry_run = facts.dry_run;
            vec![Settled::without_decision(facts, Err(err.into()), dry_run)]
        }
        (Ok(Parsed::Ignore(reason)), _) => {
            vec![Settled::without_decision(facts, Ok(Outcome::Ignored { reason }), false)]
        }
        (Ok(parsed), Ok(policy)) => app.flow.handle(parsed, policy, facts, home.as_ref(), deadline).await,
        // Without a policy nothing is decided, so nothing is stopped; the request is still answered and audited.
        (Ok(parsed), Err(why)) => {
            let dry_run = matches!(&parsed, Parsed::Stop(request) if request.dry_run);
            let unavailable = StopError::PolicyUnavailable(why.clone()).into();
            vec![Settled::without_decision(facts, Err(unavailable), dry_run)]
        }
    };
    let context = Context {
        lambda_request_id: &event.context.request_id,
        received_at,
        started,
        door,
        policy: policy.as_ref().ok().map(|p| &p.version),
    };
    let (records, answers) = settle(&context, &settled);
    app.sink.emit(&records, deadline).await;
    answer(door, answers)
}

/// What every record of one invocation shares.
struct Context<'a> {
    lambda_request_id: &'a str,
    received_at: DateTime<Utc>,
    started: Instant,
    door: Door,
    policy: Option<&'a PolicyVersion>,
}

/// What one settled request ends in: an answer (with its status) or a retry.
type Answer = Result<(HttpStatus, Value), RetryableFailure>;

/// The audit records of every settled request (each request record, then one per execution a bulk stop
/// stopped), and how each ends.
fn settle(context: &Context<'_>, settled: &[Settled]) -> (Vec<AuditEvent>, Vec<Answer>) {
    let mut records = Vec::new();
    let mut answers = Vec::with_capacity(settled.len());
    for Settled { audit_id, facts, handled } in settled {
        log_result(&handled.result, context.door, audit_id);
        let invocation = Invocation {
            audit_id,
            lambda_request_id: context.lambda_request_id,
            received_at: context.received_at,
            door: context.door,
            duration: context.started.elapsed(),
            policy: context.policy,
        };
        let request_record = AuditEvent::request(&invocation, facts, handled);
        if let Ok(Outcome::Bulk(report)) = &handled.result {
            let executions = report.executions.iter();
            let stopped = executions.filter_map(|e| AuditEvent::execution(&request_record, new_audit_id(), e));
            let stopped: Vec<AuditEvent> = stopped.collect();
            records.push(request_record);
            records.extend(stopped);
        } else {
            records.push(request_record);
        }
        answers.push(match disposition(context.door, handled.result.as_ref().map(Outcome::progress), audit_id) {
            Disposition::Retry(failure) => Err(failure),
            Disposition::Answer(status) => Ok((status, reply::body(handled, facts, audit_id))),
        });
    }
    (records, answers)
}

/// The invocation's result: the first retry if any request asks for one, else the one answer rendered for its
/// door, or, for a sweep that acted for several alarms, every request's answer, each with its own audit id.
fn answer(door: Door, answers: Vec<Answer>) -> Result<Value, Diagnostic> {
    let answers: Vec<(HttpStatus, Value)> = answers.into_iter().collect::<Result<_, _>>().map_err(diagnostic)?;
    match <[_; 1]>::try_from(answers) {
        Ok([(status, body)]) => Ok(reply::render(door, status, body)),
        Err(answers) => Ok(serde_json::json!({
            "outcome": "sweep",
            "requests": answers.into_iter().map(|(_, body)| body).collect::<Vec<_>>(),
        })),
    }
}

/// The invocation error Lambda retries an asynchronous event on, typed `StopGateway.<code>`.
fn diagnostic(failure: RetryableFailure) -> Diagnostic {
    Diagnostic { error_type: format!("StopGateway.{}", failure.code()), error_message: failure.to_string() }
}

/// The function's own account, from the ARN Lambda says was invoked (`arn:P:lambda:R:ACCOUNT:function:…`).
/// `None` when it says none (local tools): then every target account needs a role, and no alarm latches.
fn home_account(invoked_function_arn: &str) -> Option<AccountId> {
    invoked_function_arn.split(':').nth(4).and_then(|account| AccountId::parse(account).ok())
}

/// When the invocation must have answered. A context without a deadline (tests, local tools) gets a generous one.
fn deadline_of(context: &lambda_runtime::Context) -> Instant {
    let now_ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default();
    let left = match context.deadline {
        0 => Duration::from_secs(15 * 60),
        deadline => Duration::from_millis(deadline.saturating_sub(now_ms)),
    };
    Instant::now() + left
}

/// Logs what a request came to once: a failure with its upstream error chain when there is one, a bulk stop
/// with its counts; never the payload.
fn log_result(result: &Result<Outcome, Failure>, door: Door, audit_id: &str) {
    match result {
        Err(err) => match std::error::Error::source(err) {
            Some(cause) => tracing::warn!(
                outcome = %err.code(),
                source = door.as_str(),
                audit_id,
                retryable = err.is_retryable(),
                error = %error_chain(cause),
                "{err}"
            ),
            None => tracing::info!(outcome = %err.code(), source = door.as_str(), audit_id, "{err}"),
        },
        Ok(Outcome::Bulk(report)) => {
            tracing::info!(audit_id, outcome = %report.code(), counts = ?report.counts(), "bulk stop")
        }
        Ok(_) => {}
    }
}
