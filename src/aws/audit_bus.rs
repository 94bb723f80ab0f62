//! The production audit sink: one JSON log line per record, and a `PutEvents` entry when a bus is configured.
//!
//! The bus is tried first so the log line can say whether delivery worked; a failed delivery never changes the
//! request's outcome, and the log line (which Lambda ships to CloudWatch Logs) still carries the whole record.

use std::io::Write;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::Serialize;

use super::error_chain;
use crate::domain::audit::{AuditEvent, AuditSink};

/// `detail-type` of audit events on the bus.
pub const DETAIL_TYPE: &str = "Stop Gateway Decision";

/// Where audit events are published.
pub struct AuditBus {
    client: Client,
    bus: String,
    source: String,
}

impl AuditBus {
    /// A bus (name or ARN) and the `source` to publish under.
    pub fn new(client: Client, bus: String, source: String) -> Self {
        AuditBus { client, bus, source }
    }

    async fn put(&self, event: &AuditEvent, detail: String) -> Delivery {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(&self.source)
            .detail_type(DETAIL_TYPE)
            .detail(detail)
            .set_resources(event.target.kind.and(event.target.arn.clone()).map(|arn| vec![arn]))
            .build();
        match self.client.put_events().entries(entry).send().await {
            // PutEvents answers 200 even when entries fail; the per-entry error is the truth.
            Ok(out) if out.failed_entry_count() == 0 => {
                Delivery::Delivered { event_id: out.entries().first().and_then(|e| e.event_id()).map(str::to_owned) }
            }
            Ok(out) => {
                let entry = out.entries().first();
                Delivery::Failed {
                    error: format!(
                        "{}: {}",
                        entry.and_then(|e| e.error_code()).unwrap_or("UnknownError"),
                        entry.and_then(|e| e.error_message()).unwrap_or("entry rejected")
                    ),
                }
            }
            Err(err) => Delivery::Failed { error: error_chain(&err) },
        }
    }
}

/// What happened on the bus.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
enum Delivery {
    Disabled,
    #[serde(rename_all = "camelCase")]
    Delivered {
        event_id: Option<String>,
    },
    Failed {
        error: String,
    },
}

/// The log line: a fixed envelope around the record, so log queries can select `target = "audit"`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditLine<'a> {
    timestamp: String,
    level: &'static str,
    target: &'static str,
    message: &'static str,
    audit: &'a AuditEvent,
    bus_delivery: Delivery,
}

/// Writes every record to stdout and, when configured, to an EventBridge bus.
pub struct AuditPublisher {
    bus: Option<AuditBus>,
}

impl AuditPublisher {
    /// A publisher; `bus` is `None` when `AUDIT_EVENT_BUS` is unset.
    pub fn new(bus: Option<AuditBus>) -> Self {
        AuditPublisher { bus }
    }
}

impl AuditSink for AuditPublisher {
    async fn emit(&self, event: &AuditEvent) {
        let bus_delivery = match &self.bus {
            None => Delivery::Disabled,
            Some(bus) => match serde_json::to_string(event) {
                Ok(detail) => bus.put(event, detail).await,
                Err(err) => Delivery::Failed { error: err.to_string() },
            },
        };
        let failed = matches!(bus_delivery, Delivery::Failed { .. });
        let line = AuditLine {
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            level: if failed { "WARN" } else { "INFO" },
            target: "audit",
            message: if failed { "audit record (bus delivery failed)" } else { "audit record" },
            audit: event,
            bus_delivery,
        };
        match serde_json::to_vec(&line) {
            Ok(mut bytes) => {
                bytes.push(b'\n');
                // One write of the whole line, so concurrent output cannot interleave inside it.
                let mut out = std::io::stdout().lock();
                if let Err(err) = out.write_all(&bytes).and_then(|()| out.flush()) {
                    tracing::error!(error = %err, audit_id = %event.audit_id, "could not write audit log line");
                }
            }
            Err(err) => tracing::error!(error = %err, audit_id = %event.audit_id, "could not serialise audit record"),
        }
    }
}
