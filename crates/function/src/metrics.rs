//! Metrics in CloudWatch's embedded metric format (EMF): one JSON log line per request, which CloudWatch Logs
//! turns into metrics. No API call, no client, nothing at start-up.
//!
//! Dimensions are low-cardinality only: the door (`Source`) and the outcome code (`Outcome`), plus one set with
//! no dimension at all for the alarms; never an ARN or a caller. The names here are the ones `template.yaml`'s
//! alarms use (checked by `scripts/check-metrics`).

use std::io::Write;

use serde_json::{Map, Value, json};
use stop_gateway_core::domain::audit::AuditEvent;
use stop_gateway_core::domain::outcome::OutcomeCode;
/// Requests handled (1 per line), by source and outcome.
pub const REQUESTS: &str = "Requests";
/// Executions this request stopped.
pub const STOPPED_EXECUTIONS: &str = "StoppedExecutions";
/// Executions a bulk stop left for a retry (`remaining`).
pub const REMAINING_EXECUTIONS: &str = "RemainingExecutions";
/// 1 when a stop asked for by an alarm or by automation (EventBridge) did not happen: nobody reads its answer,
/// so this metric, and its alarm, is how a failed kill-switch gets noticed.
pub const FAILED_AUTOMATED_STOPS: &str = "FailedAutomatedStops";
/// 1 when a request from an alarm or automation ended `dry_run`: a kill-switch left reporting instead of
/// stopping (the policy's, a rule's or `DRY_RUN`'s dry run) is a success for every other metric, so this one,
/// and its alarm, is how it gets noticed.
pub const DRY_RUN_AUTOMATED_STOPS: &str = "DryRunAutomatedStops";
/// Audit records that did not reach the audit bus (the log line still holds them).
pub const AUDIT_BUS_DELIVERY_FAILURES: &str = "AuditBusDeliveryFailures";
/// Time spent on the request.
pub const DURATION: &str = "Duration";
/// 1 when the policy parameter could not be read or did not validate (the last good policy stays in force).
pub const POLICY_REFRESH_FAILURES: &str = "PolicyRefreshFailures";

/// Writes EMF lines under one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    namespace: String,
}

impl Metrics {
    /// Metrics under `namespace` (validated with the settings: 1 to 255 printable ASCII characters, not `AWS/`).
    pub fn new(namespace: String) -> Metrics {
        Metrics { namespace }
    }

    /// The EMF line for one request, from its request record and how many of its records missed the bus.
    pub fn line(&self, request: &AuditEvent, bus_failures: usize, timestamp_ms: i64) -> String {
        let stopped = match &request.counts {
            Some(counts) => counts.get(OutcomeCode::Stopped.as_str()).copied().unwrap_or(0),
            None => usize::from(request.outcome == OutcomeCode::Stopped),
        };
        let remaining = request.counts.as_ref().and_then(|c| c.get("remaining").copied()).unwrap_or(0);
        let automated = request.source.is_automated();
        let failed_automated = automated && !request.outcome.is_success();
        let dry_run_automated = automated && request.outcome == OutcomeCode::DryRun;
        let counts = [
            (REQUESTS, 1),
            (STOPPED_EXECUTIONS, stopped),
            (REMAINING_EXECUTIONS, remaining),
            (FAILED_AUTOMATED_STOPS, usize::from(failed_automated)),
            (DRY_RUN_AUTOMATED_STOPS, usize::from(dry_run_automated)),
            (AUDIT_BUS_DELIVERY_FAILURES, bus_failures),
        ];
        let mut definitions: Vec<Value> =
            counts.iter().map(|(name, _)| json!({"Name": name, "Unit": "Count"})).collect();
        definitions.push(json!({"Name": DURATION, "Unit": "Milliseconds"}));
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    // Per door and outcome, and in all (the empty set), which is what the alarms watch.
                    "Dimensions": [["Source", "Outcome"], []],
                    "Metrics": definitions,
                }],
            }),
        );
        root.insert("Source".into(), request.source.as_str().into());
        root.insert("Outcome".into(), request.outcome.as_str().into());
        for (name, value) in counts {
            root.insert(name.into(), value.into());
        }
        root.insert(DURATION.into(), request.duration_ms.into());
        // Joins the line to its audit record in Logs Insights, without making the id a dimension.
        root.insert("auditId".into(), request.audit_id.clone().into());
        Value::Object(root).to_string()
    }
}

impl Metrics {
    /// Records a policy refresh that was not taken: its line goes to stdout in one locked write, like every
    /// other metrics and audit line, so lines never interleave.
    pub fn policy_refresh_failed(&self) {
        let mut line = self.policy_refresh_failure_line(chrono::Utc::now().timestamp_millis());
        line.push('\n');
        let mut stdout = std::io::stdout().lock();
        if let Err(err) = stdout.write_all(line.as_bytes()).and_then(|()| stdout.flush()) {
            tracing::error!(error = %err, "could not write a metrics line");
        }
    }

    /// The EMF line for a policy refresh that was not taken.
    pub fn policy_refresh_failure_line(&self, timestamp_ms: i64) -> String {
        json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [[]],
                    "Metrics": [{"Name": POLICY_REFRESH_FAILURES, "Unit": "Count"}],
                }],
            },
            POLICY_REFRESH_FAILURES: 1,
        })
        .to_string()
    }
}
