//! The audit record: exactly one per request, whatever happened to it.
//!
//! The record is a versioned, self-describing value; sinks decide where it goes (a log line, an event bus, a
//! test's memory). It derives `serde::Serialize` so every sink writes the same shape, but nothing here knows a
//! wire format. Bump [`SCHEMA_VERSION`] on any incompatible change to the field set.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

use serde::Serialize;

/// Version of the audit record's shape.
pub const SCHEMA_VERSION: u32 = 1;

/// Longest untrusted string copied into an audit record; longer input is cut with a marker.
pub const MAX_AUDIT_FIELD_BYTES: usize = 32_768;

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
    /// The door: `eventbridge`, `apigw-rest`, `apigw-http`, `function-url` or `unknown`.
    pub source: &'static str,
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
    /// How an alarm's targets were found (`tags`, `policy-mapping`, `metric-dimensions`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<&'static str>,
    /// For bulk stops: how many executions ended in each outcome (plus `remaining`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<BTreeMap<&'static str, usize>>,
    /// Outcome code (`stopped`, `denied`, …).
    pub outcome: &'static str,
    /// Human-readable detail for outcomes that are not successes.
    pub message: Option<String>,
    /// The execution status seen before acting.
    pub previous_status: Option<String>,
    /// When the execution was stopped (RFC 3339).
    pub stopped_at: Option<String>,
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

/// Copies untrusted text into a record, bounded to [`MAX_AUDIT_FIELD_BYTES`] on a UTF-8 boundary.
pub fn bounded(text: &str) -> String {
    if text.len() <= MAX_AUDIT_FIELD_BYTES {
        return text.to_owned();
    }
    let mut cut = MAX_AUDIT_FIELD_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…[{} bytes not recorded]", &text[..cut], text.len() - cut)
}

/// Where audit records go. Emitting never fails from the caller's point of view: a sink that cannot deliver
/// says so in its own log lines, and the request's outcome is unchanged.
pub trait AuditSink {
    /// Records the events of one request (its request record first, then any execution records), finishing
    /// before `deadline` so the invocation can still answer.
    fn emit(&self, events: &[AuditEvent], deadline: tokio::time::Instant) -> impl Future<Output = ()> + Send;
}

/// Keeps records in memory, for tests and local tooling.
#[derive(Debug, Default)]
pub struct RecordingSink {
    events: Mutex<Vec<AuditEvent>>,
}

impl RecordingSink {
    /// Everything recorded so far.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl AuditSink for RecordingSink {
    async fn emit(&self, events: &[AuditEvent], _deadline: tokio::time::Instant) {
        if let Ok(mut recorded) = self.events.lock() {
            recorded.extend_from_slice(events);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_untrusted_text_on_a_char_boundary() {
        assert_eq!(bounded("short"), "short");
        let long = "é".repeat(MAX_AUDIT_FIELD_BYTES);
        let cut = bounded(&long);
        assert!(cut.len() < MAX_AUDIT_FIELD_BYTES + 64);
        assert!(cut.ends_with("bytes not recorded]"));
    }
}
