//! The Lambda entry point: one payload in, one answer out, exactly one audit record in between.
//!
//! Every path through [`handle`] (unknown shapes, rejections, denials, upstream failures) ends in the single
//! `sink.emit` call, so a request can never go unaudited. Only transient upstream failures of asynchronous
//! (EventBridge) requests become invocation errors, so Lambda retries them; every other outcome is an answer.

use std::time::Instant;

use chrono::{SecondsFormat, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::aws::error_chain;
use crate::domain::audit::{AuditCaller, AuditDecision, AuditEvent, AuditSink, AuditTarget, SCHEMA_VERSION, bounded};
use crate::domain::outcome::{Outcome, StopError};
use crate::domain::policy::Decision;
use crate::domain::request::{Caller, SourceKind};
use crate::inbound::{self, Facts, Inbound};
use crate::service::{Gateway, Handled};

/// Everything an invocation needs, built once at start-up.
pub struct App<S> {
    /// Policy and adapters.
    pub gateway: Gateway,
    /// Where audit records go.
    pub sink: S,
}

/// An invocation error that asks Lambda to retry an asynchronous event.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message} (audit id {audit_id})")]
pub struct RetryableFailure {
    code: &'static str,
    message: String,
    audit_id: String,
}

impl From<RetryableFailure> for Diagnostic {
    fn from(err: RetryableFailure) -> Diagnostic {
        Diagnostic { error_type: format!("StopGateway.{}", err.code), error_message: err.to_string() }
    }
}

/// Handles one invocation.
pub async fn handle<S: AuditSink>(app: &App<S>, event: LambdaEvent<Box<RawValue>>) -> Result<Value, RetryableFailure> {
    let started = Instant::now();
    let received_at = Utc::now();
    let audit_id = uuid::Uuid::now_v7().to_string();
    let Inbound { source, reply, facts, request } = inbound::parse(&event.payload);

    let (decision, error_code, dry_run, result, parsed_reason) = match request {
        Ok(request) => {
            let Handled { decision, error_code, dry_run, result } = app.gateway.stop_target(&request, &audit_id).await;
            (Some(decision), error_code, dry_run, result, Some(request.reason))
        }
        Err(err) => (None, None, facts.dry_run, Err(err), None),
    };
    if let Err(err) = &result {
        log_failure(err, source, &audit_id);
    }
    // The parsed reason (possibly truncated) when there is one, otherwise what was received.
    let (reason, reason_truncated) = match parsed_reason {
        Some(r) => (Some(r.to_string()), r.was_truncated()),
        None => (facts.reason.as_deref().map(bounded), false),
    };
    let record = AuditEvent {
        schema_version: SCHEMA_VERSION,
        audit_id: audit_id.clone(),
        time: received_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        lambda_request_id: event.context.request_id.clone(),
        source: source.as_str(),
        caller: facts.caller.as_ref().map(audit_caller),
        target: audit_target(&facts),
        reason,
        reason_truncated,
        error_code: error_code.as_ref().map(ToString::to_string).or_else(|| facts.error_code.as_deref().map(bounded)),
        decision: decision.as_ref().map(|d| AuditDecision {
            effect: d.effect_name(),
            rule_id: d.rule_id().map(str::to_owned),
            rationale: d.rationale().to_owned(),
        }),
        outcome: match &result {
            Ok(outcome) => outcome.code(),
            Err(err) => err.code(),
        },
        message: result.as_ref().err().map(ToString::to_string),
        previous_status: result.as_ref().ok().map(|o| o.previous_status().to_owned()),
        stopped_at: result.as_ref().ok().and_then(Outcome::stopped_at).map(rfc3339),
        dry_run,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    app.sink.emit(&record).await;

    let decision = decision.as_ref();
    match &result {
        Ok(outcome) => Ok(inbound::respond(reply, 200, success_body(outcome, &facts, &audit_id, dry_run, decision))),
        Err(err) if err.is_retryable() && source == SourceKind::EventBridge => {
            Err(RetryableFailure { code: err.code(), message: err.to_string(), audit_id })
        }
        Err(err) => Ok(inbound::respond(reply, err.http_status(), failure_body(err, &audit_id, decision))),
    }
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn success_body(outcome: &Outcome, facts: &Facts, audit_id: &str, dry_run: bool, decision: Option<&Decision>) -> Value {
    json!({
        "outcome": outcome.code(),
        "targetArn": facts.target,
        "previousStatus": outcome.previous_status(),
        "stoppedAt": outcome.stopped_at().map(rfc3339),
        "auditId": audit_id,
        "dryRun": dry_run,
        "decision": decision.map(decision_body),
    })
}

fn failure_body(err: &StopError, audit_id: &str, decision: Option<&Decision>) -> Value {
    json!({
        "error": {"code": err.code(), "message": err.to_string()},
        "auditId": audit_id,
        "decision": decision.map(decision_body),
    })
}

fn decision_body(decision: &Decision) -> Value {
    json!({"effect": decision.effect_name(), "ruleId": decision.rule_id(), "rationale": decision.rationale()})
}

fn audit_caller(caller: &Caller) -> AuditCaller {
    match caller {
        Caller::Iam { principal, account, org_id } => AuditCaller {
            kind: "iam",
            principal_arn: Some(principal.to_string()),
            event_source: None,
            account: account.to_string(),
            org_id: org_id.as_ref().map(|o| o.as_str().to_owned()),
        },
        Caller::EventBridge { source, account } => AuditCaller {
            kind: "eventbridge",
            principal_arn: None,
            event_source: Some(source.as_str().to_owned()),
            account: account.to_string(),
            org_id: None,
        },
    }
}

fn audit_target(facts: &Facts) -> AuditTarget {
    AuditTarget { arn: facts.target.as_deref().map(bounded), kind: facts.target_kind }
}

/// Logs a failed request once, with the upstream error chain when there is one; never the payload.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::Reply;

    #[test]
    fn retryable_failures_name_their_code() {
        let d: Diagnostic = RetryableFailure { code: "throttled", message: "m".into(), audit_id: "a".into() }.into();
        assert_eq!(d.error_type, "StopGateway.throttled");
        assert_eq!(d.error_message, "throttled: m (audit id a)");
    }

    #[test]
    fn replies_keep_their_shape() {
        assert_eq!(inbound::respond(Reply::Event, 403, json!({"x": 1})), json!({"x": 1}));
    }
}
