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

use crate::domain::alarm::AlarmRouting;
use crate::domain::audit::{AuditEvent, AuditSink, Invocation};
use crate::domain::outcome::{Handled, Outcome};
use crate::domain::request::SourceKind;
use crate::error::{Disposition, RetryableFailure, StopError, disposition, error_chain};
use crate::inbound::{self, Inbound, Parsed, reply};
use crate::service::Gateway;

/// Everything an invocation needs, built once at start-up.
pub struct App<S> {
    /// Policy and adapters.
    pub gateway: Gateway,
    /// How alarms find their targets.
    pub routing: AlarmRouting,
    /// Where audit records go.
    pub sink: S,
}

/// Handles one invocation.
pub async fn handle<S: AuditSink>(app: &App<S>, event: LambdaEvent<Box<RawValue>>) -> Result<Value, RetryableFailure> {
    let (started, received_at) = (Instant::now(), Utc::now());
    let audit_id = uuid::Uuid::now_v7().to_string();
    let deadline = deadline_of(&event.context);

    let Inbound { source, reply, facts, request } = inbound::parse(&event.payload, &app.routing);
    let handled = match request {
        Ok(Parsed::Stop(request)) => app.gateway.stop_targets(&request, &audit_id, deadline).await,
        Ok(Parsed::Ignore(reason)) => Handled::without_decision(Ok(Outcome::Ignored { reason }), false),
        Err(err) => Handled::without_decision(Err(err), facts.dry_run),
    };
    log_result(&handled, source, &audit_id);

    let invocation = Invocation {
        audit_id: &audit_id,
        lambda_request_id: &event.context.request_id,
        received_at,
        source,
        duration: started.elapsed(),
    };
    let request_record = AuditEvent::request(&invocation, &facts, &handled);
    let executions = match &handled.result {
        Ok(Outcome::Bulk(report)) => report.executions.as_slice(),
        _ => &[],
    };
    let execution_records: Vec<AuditEvent> = executions
        .iter()
        .filter_map(|e| AuditEvent::execution(&request_record, uuid::Uuid::now_v7().to_string(), e))
        .collect();
    let records: Vec<AuditEvent> = std::iter::once(request_record).chain(execution_records).collect();
    app.sink.emit(&records, deadline).await;

    match disposition(source, handled.result.as_ref().map(Outcome::progress), &audit_id) {
        Disposition::Retry(failure) => Err(failure),
        Disposition::Answer(status) => Ok(reply::render(reply, status, reply::body(&handled, &facts, &audit_id))),
    }
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
