//! The audit record: exactly one per request, whatever happened to it.
//!
//! The record is a versioned, self-describing value; sinks decide where it goes (a log line, an event bus, a
//! test's memory). It derives `serde::Serialize` so every sink writes the same shape, but nothing here knows a
//! wire format. Bump [`SCHEMA_VERSION`] on any incompatible change to the field set.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::aws_ids::AccountId;
use super::caller::Caller;
use super::failure::StopError;
use super::outcome::{ExecutionResult, Handled, Outcome, OutcomeCode};
use super::policy::PolicyVersion;
use super::request::{Door, StopRequest};
use super::status::ExecutionStatus;
use super::text::bounded;

/// Version of the audit record's shape.
pub const SCHEMA_VERSION: u32 = 1;

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Shape version, [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Unique id of this record, also returned to the caller and written into the stop's cause.
    pub audit_id: String,
    /// `request` (one per request, always) or `execution` (one per execution a bulk stop stopped).
    pub record_type: &'static str,
    /// For `execution` records: the request record they belong to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_audit_id: Option<String>,
    /// When the request arrived (RFC 3339, UTC).
    pub time: String,
    /// The Lambda request id of the invocation.
    pub lambda_request_id: String,
    /// The id the door gave the request (EventBridge event `id`, API Gateway or function URL request id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub door_request_id: Option<String>,
    /// The door: `eventbridge`, `alarm-event`, `alarm-action`, `latch`, `sweep`, `apigw-rest`, `apigw-http`,
    /// `function-url` or `unknown`.
    #[serde(serialize_with = "door_name")]
    pub source: Door,
    /// Who asked, when known.
    pub caller: Option<AuditCaller>,
    /// What was to be stopped.
    pub target: AuditTarget,
    /// The reason as received (bounded), or as truncated for alarm-driven requests.
    pub reason: Option<String>,
    /// Whether the reason was truncated to fit the API limit.
    pub reason_truncated: bool,
    /// The error code sent (or that would have been sent).
    pub error_code: Option<String>,
    /// The policy decision, when the request got that far.
    pub decision: Option<AuditDecision>,
    /// The policy document in force (hash, origin, SSM version), or `null` when none could be loaded: with the
    /// decision's rule id, enough to replay the decision with `stop-gateway-policy explain`.
    pub policy: Option<PolicyVersion>,
    /// How an alarm's targets were found (`tags`, `policy-mapping`, `metric-dimensions`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<&'static str>,
    /// For bulk stops: how many executions ended in each outcome (plus `remaining`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<BTreeMap<&'static str, usize>>,
    /// Outcome code (`stopped`, `denied`, …).
    pub outcome: OutcomeCode,
    /// Human-readable detail for outcomes that are not successes.
    pub message: Option<String>,
    /// The execution status seen before acting.
    #[serde(serialize_with = "status_name")]
    pub previous_status: Option<ExecutionStatus>,
    /// When the execution was stopped (RFC 3339).
    pub stopped_at: Option<String>,
    /// Whether the stop went without error and cause because its first try was refused over the execution's
    /// KMS key.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub kms_fallback: bool,
    /// Why it had to (the refusal, as the service gave it); only in the audit record, never in an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_fallback_reason: Option<String>,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Time spent handling the request, in milliseconds.
    pub duration_ms: u64,
}

/// The caller, flattened for querying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditCaller {
    /// `iam`, `eventbridge` or `alarm`.
    pub kind: &'static str,
    /// IAM principal ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_arn: Option<String>,
    /// EventBridge source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_source: Option<String>,
    /// CloudWatch alarm ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_arn: Option<String>,
    /// Caller account.
    pub account: String,
    /// Organization id, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

/// The target as received, and how it was classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditTarget {
    /// The ARN as received (bounded), or `null` if none was sent.
    pub arn: Option<String>,
    /// Kind of target (`sfn-execution`, …) when the ARN parsed.
    pub kind: Option<&'static str>,
    /// The target's account, when the ARN parsed: with the caller's, the two accounts a cross-account stop
    /// spans.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Further targets (an alarm may resolve to several).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional: Vec<String>,
}

/// The policy decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditDecision {
    /// `allow` or `deny`.
    pub effect: &'static str,
    /// Deciding rule, `null` for the default deny.
    pub rule_id: Option<String>,
    /// One line of why.
    pub rationale: String,
}

/// Whatever could be learned about a request, even one that failed to parse: ingress fills it as it goes, so
/// a rejected request is audited with everything it said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Caller, if attested.
    pub caller: Option<Caller>,
    /// Target ARN as received (the first, when an alarm resolved several).
    pub target: Option<String>,
    /// Further targets an alarm resolved to.
    pub extra_targets: Vec<String>,
    /// How an alarm's targets were found (`tags`, `policy-mapping`, `metric-dimensions`).
    pub resolution: Option<&'static str>,
    /// Kind of target, once the ARN parsed.
    pub target_kind: Option<&'static str>,
    /// The target's account, once the ARN parsed.
    pub target_account: Option<AccountId>,
    /// Reason: as parsed (possibly truncated) once it parsed, otherwise as received.
    pub reason: Option<String>,
    /// Whether the parsed reason was truncated to fit the API limit.
    pub reason_truncated: bool,
    /// Error code as received.
    pub error_code: Option<String>,
    /// Dry-run flag as received.
    pub dry_run: bool,
    /// The id the door gave the request: the EventBridge event `id`, API Gateway's or the function URL's
    /// `requestContext.requestId`. A caller finds its record by it; a consumer recognises a redelivery.
    pub door_request_id: Option<String>,
}

impl Facts {
    /// The facts of a request the gateway built itself (a latched stop: alarm caller, targets, reason), keeping
    /// what the door that prompted it said (`door`: its request id, error code).
    pub fn from_request(request: &StopRequest, door: &Facts) -> Facts {
        Facts {
            caller: Some(request.caller.clone()),
            target: request.targets.first().map(ToString::to_string),
            extra_targets: request.targets.iter().skip(1).map(ToString::to_string).collect(),
            target_kind: request.targets.first().map(|t| t.kind_name()),
            target_account: request.targets.first().map(|t| t.account().clone()),
            reason: Some(request.reason.to_string()),
            reason_truncated: request.reason.was_truncated(),
            ..door.clone()
        }
    }
}

/// The invocation a record belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    /// The request record's id.
    pub audit_id: &'a str,
    /// The Lambda request id.
    pub lambda_request_id: &'a str,
    /// When the request arrived.
    pub received_at: DateTime<Utc>,
    /// The door.
    pub door: Door,
    /// Time spent handling it.
    pub duration: Duration,
    /// The policy document in force, when there was one.
    pub policy: Option<&'a PolicyVersion>,
}

impl AuditEvent {
    /// The one record every request gets, whatever happened to it.
    pub fn request<E: Coded>(invocation: &Invocation<'_>, facts: &Facts, handled: &Handled<E>) -> AuditEvent {
        let result = &handled.result;
        let decision = handled.decision.as_ref();
        AuditEvent {
            schema_version: SCHEMA_VERSION,
            audit_id: invocation.audit_id.to_owned(),
            record_type: "request",
            parent_audit_id: None,
            time: rfc3339(invocation.received_at),
            lambda_request_id: invocation.lambda_request_id.to_owned(),
            door_request_id: facts.door_request_id.as_deref().map(bounded),
            source: invocation.door,
            caller: facts.caller.as_ref().map(AuditCaller::from),
            target: AuditTarget {
                arn: facts.target.as_deref().map(bounded),
                kind: facts.target_kind,
                account: facts.target_account.as_ref().map(ToString::to_string),
                additional: facts.extra_targets.clone(),
            },
            reason: facts.reason.as_deref().map(bounded),
            reason_truncated: facts.reason_truncated,
            error_code: decision
                .and_then(|d| d.error_code())
                .map(ToString::to_string)
                .or_else(|| facts.error_code.as_deref().map(bounded)),
            decision: decision.map(|d| AuditDecision {
                effect: d.effect_name(),
                rule_id: d.rule_id().map(str::to_owned),
                rationale: d.rationale().to_owned(),
            }),
            policy: invocation.policy.cloned(),
            resolution: facts.resolution,
            counts: match result {
                Ok(Outcome::Bulk(report)) => Some(report.counts()),
                _ => None,
            },
            outcome: match result {
                Ok(outcome) => outcome.code(),
                Err(err) => err.code(),
            },
            message: match result {
                Err(err) => Some(err.to_string()),
                Ok(Outcome::Ignored { reason }) => Some(reason.clone()),
                Ok(_) => None,
            },
            previous_status: result.as_ref().ok().and_then(Outcome::previous_status).cloned(),
            stopped_at: result.as_ref().ok().and_then(Outcome::stopped_at).map(rfc3339),
            kms_fallback: result.as_ref().ok().and_then(Outcome::kms_fallback).is_some(),
            kms_fallback_reason: result.as_ref().ok().and_then(Outcome::kms_fallback).map(str::to_owned),
            dry_run: handled.dry_run,
            duration_ms: u64::try_from(invocation.duration.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The record of one execution a bulk stop stopped, under its request record, so every stopped execution
    /// can be found in the trail. `None` for executions that were not stopped (the request record counts them).
    pub fn execution(request: &AuditEvent, audit_id: String, execution: &ExecutionResult) -> Option<AuditEvent> {
        let Ok(Outcome::Stopped { previous_status, stopped_at, kms_fallback }) = &execution.result else {
            return None;
        };
        Some(AuditEvent {
            audit_id,
            record_type: "execution",
            parent_audit_id: Some(request.audit_id.clone()),
            target: AuditTarget {
                arn: Some(execution.target.to_string()),
                kind: Some(execution.target.kind_name()),
                account: Some(execution.target.account().to_string()),
                additional: vec![],
            },
            decision: None,
            counts: None,
            outcome: OutcomeCode::Stopped,
            message: None,
            previous_status: Some(previous_status.clone()),
            stopped_at: Some(rfc3339(*stopped_at)),
            kms_fallback: kms_fallback.is_some(),
            kms_fallback_reason: kms_fallback.clone(),
            ..request.clone()
        })
    }
}

impl From<&Caller> for AuditCaller {
    fn from(caller: &Caller) -> AuditCaller {
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
}

/// Timestamps in records and replies: RFC 3339, UTC, milliseconds.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// What an audit record (and an answer) needs of a failure: a stable code, and a message safe to show.
pub trait Coded: fmt::Display {
    /// The outcome code.
    fn code(&self) -> OutcomeCode;
}

impl Coded for StopError {
    fn code(&self) -> OutcomeCode {
        StopError::code(self)
    }
}

fn door_name<S: serde::Serializer>(door: &Door, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(door.as_str())
}

fn status_name<S: serde::Serializer>(status: &Option<ExecutionStatus>, serializer: S) -> Result<S::Ok, S::Error> {
    match status {
        Some(status) => serializer.serialize_str(status.as_str()),
        None => serializer.serialize_none(),
    }
}
