//! The Lambda entry point: one payload in, one answer out, exactly one audit record in between.
//!
//! Every path through [`handle`] (unknown shapes, rejections, denials, upstream failures) ends in the single
//! `sink.emit` call, so a request can never go unaudited. Only transient upstream failures of asynchronous
//! (EventBridge) requests become invocation errors, so Lambda retries them; every other outcome is an answer.

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::aws::error_chain;
use crate::domain::audit::{AuditCaller, AuditDecision, AuditEvent, AuditSink, AuditTarget, SCHEMA_VERSION, bounded};
use crate::domain::outcome::{Outcome, StopError};
use crate::domain::policy::Decision;
use crate::domain::request::{Caller, SourceKind};
use crate::inbound::{self, Facts, Inbound, Parsed};
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
    let deadline = deadline_of(&event.context);
    let Inbound { source, reply, facts, request } = inbound::parse(&event.payload, &app.gateway.policy().routing);

    let (decision, error_code, dry_run, result, parsed_reason) = match request {
        Ok(Parsed::Stop(request)) => {
            let Handled { decision, error_code, dry_run, result } =
                app.gateway.stop_targets(&request, &audit_id, deadline).await;
            (Some(decision), error_code, dry_run, result, Some(request.reason))
        }
        Ok(Parsed::Ignore(reason)) => (None, None, false, Ok(Outcome::Ignored { reason }), None),
        Err(err) => (None, None, facts.dry_run, Err(err), None),
    };
    match &result {
        Err(err) => log_failure(err, source, &audit_id),
        Ok(Outcome::Bulk(report)) => {
            tracing::info!(audit_id, outcome = report.code(), counts = ?report.counts(), "bulk stop")
        }
        Ok(_) => {}
    }
    // The parsed reason (possibly truncated) when there is one, otherwise what was received.
    let (reason, reason_truncated) = match parsed_reason {
        Some(r) => (Some(r.to_string()), r.was_truncated()),
        None => (facts.reason.as_deref().map(bounded), false),
    };
    let request_record = AuditEvent {
        schema_version: SCHEMA_VERSION,
        audit_id: audit_id.clone(),
        record_type: "request",
        parent_audit_id: None,
        time: rfc3339(received_at),
        lambda_request_id: event.context.request_id.clone(),
        source: source.as_str(),
        caller: facts.caller.as_ref().map(audit_caller),
        target: AuditTarget {
            arn: facts.target.as_deref().map(bounded),
            kind: facts.target_kind,
            additional: facts.extra_targets.clone(),
        },
        reason,
        reason_truncated,
        error_code: error_code.as_ref().map(ToString::to_string).or_else(|| facts.error_code.as_deref().map(bounded)),
        decision: decision.as_ref().map(|d| AuditDecision {
            effect: d.effect_name(),
            rule_id: d.rule_id().map(str::to_owned),
            rationale: d.rationale().to_owned(),
        }),
        resolution: facts.resolution,
        counts: match &result {
            Ok(Outcome::Bulk(report)) => Some(report.counts()),
            _ => None,
        },
        outcome: match &result {
            Ok(outcome) => outcome.code(),
            Err(err) => err.code(),
        },
        message: match &result {
            Err(err) => Some(err.to_string()),
            Ok(Outcome::Ignored { reason }) => Some(reason.clone()),
            Ok(_) => None,
        },
        previous_status: result.as_ref().ok().and_then(Outcome::previous_status).map(str::to_owned),
        stopped_at: result.as_ref().ok().and_then(Outcome::stopped_at).map(rfc3339),
        dry_run,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    // One record per execution a bulk stop stopped, so every stopped execution can be found in the trail.
    let execution_records = match &result {
        Ok(Outcome::Bulk(report)) => report
            .executions
            .iter()
            .filter_map(|e| match &e.result {
                Ok(Outcome::Stopped { previous_status, stopped_at }) => Some(AuditEvent {
                    audit_id: uuid::Uuid::now_v7().to_string(),
                    record_type: "execution",
                    parent_audit_id: Some(audit_id.clone()),
                    target: AuditTarget {
                        arn: Some(e.target.to_string()),
                        kind: Some(e.target.kind_name()),
                        additional: vec![],
                    },
                    decision: None,
                    counts: None,
                    outcome: "stopped",
                    message: None,
                    previous_status: Some(previous_status.clone()),
                    stopped_at: Some(rfc3339(*stopped_at)),
                    ..request_record.clone()
                }),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut records = Vec::with_capacity(1 + execution_records.len());
    records.push(request_record);
    records.extend(execution_records);
    app.sink.emit(&records, deadline).await;

    let decision = decision.as_ref();
    match &result {
        Ok(outcome) if source.retries_on_failure() && outcome.http_status() != 200 => Err(RetryableFailure {
            code: outcome.code(),
            message: "executions are left (deadline reached or transient failures); a retry continues".to_owned(),
            audit_id,
        }),
        Ok(outcome) => {
            let body = success_body(outcome, &facts, &audit_id, dry_run, decision);
            Ok(inbound::respond(reply, outcome.http_status(), body))
        }
        Err(err) if err.is_retryable() && source.retries_on_failure() => {
            Err(RetryableFailure { code: err.code(), message: err.to_string(), audit_id })
        }
        Err(err) => Ok(inbound::respond(reply, err.http_status(), failure_body(err, &audit_id, decision))),
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

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn success_body(outcome: &Outcome, facts: &Facts, audit_id: &str, dry_run: bool, decision: Option<&Decision>) -> Value {
    let mut body = json!({
        "outcome": outcome.code(),
        "targetArn": facts.target,
        "auditId": audit_id,
        "dryRun": dry_run,
        "decision": decision.map(decision_body),
    });
    match outcome {
        Outcome::Bulk(report) => {
            body["counts"] = json!(report.counts());
            body["executions"] = report
                .executions
                .iter()
                .map(|e| match &e.result {
                    Ok(o) => json!({
                        "executionArn": e.target.to_string(),
                        "outcome": o.code(),
                        "previousStatus": o.previous_status(),
                        "stoppedAt": o.stopped_at().map(rfc3339),
                    }),
                    Err(err) => json!({
                        "executionArn": e.target.to_string(),
                        "outcome": err.code(),
                        "message": err.to_string(),
                    }),
                })
                .collect();
            body["remaining"] = report.remaining.iter().map(ToString::to_string).collect();
        }
        Outcome::Ignored { reason } => body["message"] = json!(reason),
        _ => {
            body["previousStatus"] = json!(outcome.previous_status());
            body["stoppedAt"] = json!(outcome.stopped_at().map(rfc3339));
        }
    }
    if !facts.extra_targets.is_empty() {
        body["additionalTargets"] = json!(facts.extra_targets);
    }
    if let Some(how) = facts.resolution {
        body["resolution"] = json!(how);
    }
    body
}

fn failure_body(err: &StopError, audit_id: &str, decision: Option<&Decision>) -> Value {
    let mut error = json!({"code": err.code(), "message": err.to_string(), "retryable": err.is_retryable()});
    if let StopError::BlastRadiusExceeded { count, limit } = err {
        error["count"] = json!(count);
        error["limit"] = json!(limit);
    }
    json!({"error": error, "auditId": audit_id, "decision": decision.map(decision_body)})
}

fn decision_body(decision: &Decision) -> Value {
    json!({"effect": decision.effect_name(), "ruleId": decision.rule_id(), "rationale": decision.rationale()})
}

fn audit_caller(caller: &Caller) -> AuditCaller {
    let none = AuditCaller {
        kind: "",
        principal_arn: None,
        event_source: None,
        alarm_arn: None,
        account: caller.account().to_string(),
        org_id: None,
    };
    match caller {
        Caller::Iam { principal, org_id, .. } => AuditCaller {
            kind: "iam",
            principal_arn: Some(principal.to_string()),
            org_id: org_id.as_ref().map(|o| o.as_str().to_owned()),
            ..none
        },
        Caller::EventBridge { source, .. } => {
            AuditCaller { kind: "eventbridge", event_source: Some(source.as_str().to_owned()), ..none }
        }
        Caller::Alarm { alarm } => AuditCaller { kind: "alarm", alarm_arn: Some(alarm.to_string()), ..none },
    }
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
