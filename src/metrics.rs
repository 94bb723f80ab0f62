//! Metrics in CloudWatch's embedded metric format (EMF): one JSON log line per request, which CloudWatch Logs
//! turns into metrics. No API call, no client, nothing at start-up.
//!
//! Dimensions are low-cardinality only: the door (`Source`) and the outcome code (`Outcome`), plus one set with
//! no dimension at all for the alarms; never an ARN or a caller. The names here are the ones `template.yaml`'s
//! alarms use (checked by `scripts/check-metrics`).

use serde_json::{Map, Value, json};

use crate::domain::audit::AuditEvent;

/// The namespace when `METRICS_NAMESPACE` is unset.
pub const DEFAULT_NAMESPACE: &str = "StopGateway";
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

/// Outcomes that mean what was asked for is done, or that nothing was asked: everything else is a failure.
const SUCCESSES: [&str; 4] = ["stopped", "already_finished", "dry_run", "ignored"];
/// Sources whose requests nobody waits on: alarms, latches and automation.
const AUTOMATED: [&str; 5] = ["eventbridge", "alarm-event", "alarm-action", "latch", "sweep"];

/// Writes EMF lines under one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    namespace: String,
}

impl Metrics {
    /// Metrics under `namespace`: 1 to 255 printable ASCII characters, not in the `AWS/` namespaces.
    pub fn new(namespace: &str) -> Result<Metrics, String> {
        let ok = (1..=255).contains(&namespace.len())
            && namespace.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
            && !namespace.starts_with("AWS/");
        if ok {
            Ok(Metrics { namespace: namespace.to_owned() })
        } else {
            Err("use 1-255 printable ASCII characters, not starting with \"AWS/\"".to_owned())
        }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The EMF line for one request, from its request record and how many of its records missed the bus.
    pub fn line(&self, request: &AuditEvent, bus_failures: usize, timestamp_ms: i64) -> String {
        let stopped = match &request.counts {
            Some(counts) => counts.get("stopped").copied().unwrap_or(0),
            None => usize::from(request.outcome == "stopped"),
        };
        let remaining = request.counts.as_ref().and_then(|c| c.get("remaining").copied()).unwrap_or(0);
        let automated = AUTOMATED.contains(&request.source);
        let failed_automated = automated && !SUCCESSES.contains(&request.outcome);
        let dry_run_automated = automated && request.outcome == "dry_run";
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
        root.insert("Source".into(), request.source.into());
        root.insert("Outcome".into(), request.outcome.into());
        for (name, value) in counts {
            root.insert(name.into(), value.into());
        }
        root.insert(DURATION.into(), request.duration_ms.into());
        // Joins the line to its audit record in Logs Insights, without making the id a dimension.
        root.insert("auditId".into(), request.audit_id.clone().into());
        Value::Object(root).to_string()
    }
}

/// Every outcome code a request record can carry, for tests and for `scripts/check-metrics`' sample lines.
pub const OUTCOMES: [&str; 20] = [
    "stopped",
    "already_finished",
    "dry_run",
    "ignored",
    "incomplete",
    "stop_failed",
    "invalid_request",
    "account_not_configured",
    "route_not_found",
    "method_not_allowed",
    "payload_too_large",
    "unauthenticated",
    "denied",
    "refused",
    "not_found",
    "not_stoppable",
    "blast_radius_exceeded",
    "throttled",
    "upstream_error",
    "policy_unavailable",
];

impl Metrics {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_checked() {
        assert!(Metrics::new("StopGateway").is_ok());
        assert!(Metrics::new("Team/Stop Gateway").is_ok());
        for bad in ["", "AWS/Lambda", "tab\there", &"n".repeat(256)] {
            assert!(Metrics::new(bad).is_err(), "{bad:?}");
        }
    }
}
