//! An audit record as the drill reads it back: the gateway's `Stop Gateway Decision` event, copied from the audit
//! bus to a queue. Only the fields a drill judges are read, from the JSON the bus delivered (the drill knows the
//! gateway only by what it publishes). And the checks on them, all pure: which outcome is a refusal, whether the
//! records of one drill make exactly one request, whether a stop's cause names the record.

use serde_json::Value;

use crate::step::{Failure, Step};

/// `detail-type` of the gateway's audit events.
pub const AUDIT_DETAIL_TYPE: &str = "Stop Gateway Decision";

/// The fields of one audit record a drill judges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// The record's id, which the stop's cause must name.
    pub audit_id: String,
    /// The target ARN as the gateway received it.
    pub target_arn: String,
    /// The outcome code (`stopped`, `denied`, ...).
    pub outcome: String,
    /// The gateway's detail for outcomes that are not successes.
    pub message: Option<String>,
}

impl AuditRecord {
    /// The request record an audit event carries, or `None` for anything else on the queue (another detail-type,
    /// a bulk stop's per-execution record, text that is not an event).
    pub fn from_event(body: &str) -> Option<AuditRecord> {
        let event: Value = serde_json::from_str(body).ok()?;
        if event["detail-type"] != AUDIT_DETAIL_TYPE || event["detail"]["recordType"] != "request" {
            return None;
        }
        let detail = &event["detail"];
        Some(AuditRecord {
            audit_id: detail["auditId"].as_str()?.to_owned(),
            target_arn: detail["target"]["arn"].as_str()?.to_owned(),
            outcome: detail["outcome"].as_str()?.to_owned(),
            message: detail["message"].as_str().map(str::to_owned),
        })
    }

    /// The outcome and the gateway's message, for a failure's words.
    pub fn describe(&self) -> String {
        match &self.message {
            Some(message) => format!("{} ({message}), audit id {}", self.outcome, self.audit_id),
            None => format!("{}, audit id {}", self.outcome, self.audit_id),
        }
    }
}

/// Whether the gateway refused the request for good: it decided without stopping, and a retry would decide
/// the same. Throttling, upstream errors and incomplete bulk stops are retried by Lambda, so they are not; nor is
/// a dry run, which allowed the stop (it fails `stopped`).
pub fn is_refusal(outcome: &str) -> bool {
    matches!(
        outcome,
        "denied"
            | "door_not_served"
            | "policy_unavailable"
            | "invalid_request"
            | "account_not_configured"
            | "not_stoppable"
            | "not_found"
            | "refused"
            | "blast_radius_exceeded"
            | "unauthenticated"
            | "ignored"
    )
}

/// Adds `record` to `records` unless one with its audit id is already there: EventBridge and SQS deliver at least
/// once, so a record that arrives twice is still one request.
pub fn add_once(records: &mut Vec<AuditRecord>, record: AuditRecord) {
    if !records.iter().any(|r| r.audit_id == record.audit_id) {
        records.push(record);
    }
}

/// The one record of a drill's request, or the `audit` failure: none reached the bus, more than one did (two
/// requests for one stop, e.g. a retried drill), or the one there does not say `stopped`.
pub fn the_one_record(records: &[AuditRecord]) -> Result<&AuditRecord, Failure> {
    match records {
        [] => Err(Failure::at(Step::Audit, "the canary was stopped, but no audit record for it reached the audit bus")),
        [one] if one.outcome == "stopped" => Ok(one),
        [one] => {
            Err(Failure::at(Step::Audit, format!("the one audit record does not say stopped: {}", one.describe())))
        }
        many => {
            let ids: Vec<&str> = many.iter().map(|r| r.audit_id.as_str()).collect();
            Err(Failure::at(Step::Audit, format!("{} audit records for one stop: {}", many.len(), ids.join(", "))))
        }
    }
}

/// Whether a Step Functions stop's cause names the record: the gateway ends it with `audit id ID`.
pub fn cause_names(cause: &str, audit_id: &str) -> bool {
    cause.trim_end().ends_with(&format!("audit id {audit_id}"))
}

/// Whether a durable stop's `ErrorData` (JSON) names the record in its `auditId` field.
pub fn error_data_names(error_data: &str, audit_id: &str) -> bool {
    serde_json::from_str::<Value>(error_data).is_ok_and(|data| data["auditId"] == audit_id)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:prod-fire-drill-canary:fire-drill-1";

    fn event(audit_id: &str, outcome: &str) -> String {
        json!({
            "detail-type": AUDIT_DETAIL_TYPE, "source": "stop-gateway",
            "detail": {"auditId": audit_id, "recordType": "request", "target": {"arn": ARN}, "outcome": outcome,
                       "message": if outcome == "stopped" { Value::Null } else { json!("no rule allows it") }}
        })
        .to_string()
    }

    fn record(audit_id: &str, outcome: &str) -> AuditRecord {
        AuditRecord::from_event(&event(audit_id, outcome)).unwrap()
    }

    #[test]
    fn reads_the_request_record_and_nothing_else() {
        let r = record("a-1", "denied");
        assert_eq!((r.audit_id.as_str(), r.target_arn.as_str(), r.outcome.as_str()), ("a-1", ARN, "denied"));
        assert_eq!(r.describe(), "denied (no rule allows it), audit id a-1");
        let execution_record = event("a-2", "stopped").replace("\"request\"", "\"execution\"");
        assert_eq!(AuditRecord::from_event(&execution_record), None);
        assert_eq!(AuditRecord::from_event(&event("a-3", "stopped").replace(AUDIT_DETAIL_TYPE, "Other")), None);
        assert_eq!(AuditRecord::from_event("not json"), None);
    }

    #[test]
    fn refusals_are_decisions_a_retry_would_not_change() {
        for outcome in ["denied", "door_not_served", "policy_unavailable", "invalid_request", "not_found"] {
            assert!(is_refusal(outcome), "{outcome}");
        }
        for outcome in ["stopped", "already_finished", "dry_run", "throttled", "upstream_error", "incomplete"] {
            assert!(!is_refusal(outcome), "{outcome}");
        }
    }

    #[test]
    fn a_record_delivered_twice_is_one_request() {
        let mut records = Vec::new();
        add_once(&mut records, record("a-1", "stopped"));
        add_once(&mut records, record("a-1", "stopped"));
        assert_eq!(the_one_record(&records).unwrap().audit_id, "a-1");
    }

    #[test]
    fn none_two_or_one_not_stopped_fail_audit() {
        assert_eq!(the_one_record(&[]).unwrap_err().step, Step::Audit);
        let two = [record("a-1", "stopped"), record("a-2", "already_finished")];
        let failure = the_one_record(&two).unwrap_err();
        assert_eq!(failure.step, Step::Audit);
        assert!(failure.why.contains("2 audit records for one stop: a-1, a-2"), "{}", failure.why);
        let failure = the_one_record(&[record("a-3", "dry_run")]).unwrap_err();
        assert!(failure.why.contains("does not say stopped: dry_run"), "{}", failure.why);
    }

    #[test]
    fn the_cause_must_name_this_record() {
        let cause = "fire drill x\n\n[stop-gateway] requested by stop-gateway.fire-drill via eventbridge; rule fire-drill; audit id a-1";
        assert!(cause_names(cause, "a-1"));
        assert!(!cause_names(cause, "a-10"));
        assert!(!cause_names("", "a-1"));
        assert!(error_data_names(r#"{"stoppedBy":"stop-gateway","auditId":"a-1"}"#, "a-1"));
        assert!(!error_data_names(r#"{"auditId":"a-2"}"#, "a-1"));
        assert!(!error_data_names("a-1", "a-1"));
    }
}
