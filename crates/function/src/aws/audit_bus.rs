//! The production audit sink: one JSON log line per record, a `PutEvents` entry when a bus is configured, and
//! the request's metrics line (EMF).
//!
//! The bus is tried first so the log line can say whether delivery worked; a failed delivery never changes the
//! request's outcome, and the log line (which Lambda ships to CloudWatch Logs) still carries the whole record.
//! The metrics line comes last, so it can count the records the bus missed.

use std::io::Write;
use std::time::Duration;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use futures_util::{StreamExt, stream};
use serde::Serialize;
use tokio::time::Instant;

use stop_gateway_core::domain::audit::AuditEvent;

use crate::metrics::Metrics;
use crate::sink::AuditSink;
use stop_gateway_core::domain::failure::error_chain;

/// `detail-type` of audit events on the bus.
pub const DETAIL_TYPE: &str = "Stop Gateway Decision";

/// Where audit events are published.
pub struct AuditBus {
    client: Client,
    bus: String,
    source: String,
}

/// Time kept after bus delivery for the log lines and the response.
const LOG_RESERVE: Duration = Duration::from_millis(500);
/// PutEvents takes at most 10 entries and 256 KB per call; stay below both.
const MAX_ENTRIES: usize = 10;
const MAX_BATCH_BYTES: usize = 200 * 1024;
/// Batches in flight at once.
const PARALLEL_BATCHES: usize = 8;

impl AuditBus {
    /// A bus (name or ARN) and the `source` to publish under.
    pub fn new(client: Client, bus: String, source: String) -> Self {
        AuditBus { client, bus, source }
    }

    /// Publishes every record, batched, and says for each whether it arrived. A batch still under way at
    /// `deadline` is reported as not delivered, so the log lines are always written in time.
    async fn put_all(&self, events: &[AuditEvent], deadline: Instant) -> Vec<Delivery> {
        // Owned (resource, detail) pairs: the batches outlive no borrow, which keeps the future `Send`.
        let mut batches: Vec<Vec<(Option<String>, String)>> = Vec::new();
        let mut size = 0;
        for event in events {
            let detail = match serde_json::to_string(event) {
                Ok(detail) => detail,
                Err(err) => {
                    tracing::error!(error = %err, audit_id = %event.audit_id, "could not serialise audit record");
                    String::new()
                }
            };
            let full = batches.last().is_none_or(|b| b.len() == MAX_ENTRIES || size + detail.len() > MAX_BATCH_BYTES);
            if full {
                batches.push(Vec::new());
                size = 0;
            }
            size += detail.len();
            if let Some(batch) = batches.last_mut() {
                batch.push((event.target.kind.and(event.target.arn.clone()), detail));
            }
        }
        let results: Vec<Vec<Delivery>> = stream::iter(batches)
            .map(|batch| async move {
                let len = batch.len();
                tokio::time::timeout_at(deadline, self.put(batch)).await.unwrap_or_else(|_| {
                    let error = "not delivered before the invocation deadline".to_owned();
                    (0..len).map(|_| Delivery::Failed { error: error.clone() }).collect()
                })
            })
            .buffered(PARALLEL_BATCHES)
            .collect()
            .await;
        results.into_iter().flatten().collect()
    }

    async fn put(&self, batch: Vec<(Option<String>, String)>) -> Vec<Delivery> {
        let entries: Vec<PutEventsRequestEntry> = batch
            .iter()
            .map(|(resource, detail)| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(&self.source)
                    .detail_type(DETAIL_TYPE)
                    .detail(detail)
                    .set_resources(resource.clone().map(|arn| vec![arn]))
                    .build()
            })
            .collect();
        match self.client.put_events().set_entries(Some(entries)).send().await {
            // PutEvents answers 200 even when entries fail; each entry's result is the truth, in order.
            Ok(out) => (0..batch.len())
                .map(|i| match out.entries().get(i) {
                    Some(e) if e.error_code().is_none() => {
                        Delivery::Delivered { event_id: e.event_id().map(str::to_owned) }
                    }
                    Some(e) => Delivery::Failed {
                        error: format!(
                            "{}: {}",
                            e.error_code().unwrap_or("UnknownError"),
                            e.error_message().unwrap_or("entry rejected")
                        ),
                    },
                    None => Delivery::Failed { error: "no result for this entry".to_owned() },
                })
                .collect(),
            Err(err) => {
                let error = error_chain(&err);
                batch.iter().map(|_| Delivery::Failed { error: error.clone() }).collect()
            }
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

/// Writes every record to stdout and, when configured, to an EventBridge bus; then the request's metrics.
pub struct AuditPublisher {
    bus: Option<AuditBus>,
    metrics: Metrics,
}

impl AuditPublisher {
    /// A publisher; `bus` is `None` when `AUDIT_EVENT_BUS` is unset.
    pub fn new(bus: Option<AuditBus>, metrics: Metrics) -> Self {
        AuditPublisher { bus, metrics }
    }
}

impl AuditSink for AuditPublisher {
    async fn emit(&self, events: &[AuditEvent], deadline: Instant) {
        // Keep a moment after the bus for writing the log lines and answering.
        let bus_deadline = deadline.checked_sub(LOG_RESERVE).unwrap_or(deadline);
        let deliveries = match &self.bus {
            None => events.iter().map(|_| Delivery::Disabled).collect(),
            Some(bus) => bus.put_all(events, bus_deadline).await,
        };
        let mut out = Vec::new();
        let bus_failures = deliveries.iter().filter(|d| matches!(d, Delivery::Failed { .. })).count();
        for (event, bus_delivery) in events.iter().zip(deliveries) {
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
                Ok(bytes) => {
                    out.extend_from_slice(&bytes);
                    out.push(b'\n');
                }
                Err(err) => {
                    tracing::error!(error = %err, audit_id = %event.audit_id, "could not serialise audit record")
                }
            }
        }
        if let Some(request) = events.first() {
            out.extend_from_slice(
                self.metrics.line(request, bus_failures, chrono::Utc::now().timestamp_millis()).as_bytes(),
            );
            out.push(b'\n');
        }
        // One write of whole lines, so concurrent output cannot interleave inside a record.
        let mut stdout = std::io::stdout().lock();
        if let Err(err) = stdout.write_all(&out).and_then(|()| stdout.flush()) {
            tracing::error!(error = %err, "could not write audit log lines");
        }
    }
}
