//! The door a drill asks through: a `Stop Requested` event on the stop-request bus, as any automation sends it.
//! Its detail names exactly one execution, the one this drill started, so even a wrong or open policy can only
//! let the drill stop its own canary.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::{Value, json};

use crate::aws::{Aws, error_text};
use crate::config::StopDoor;

/// `detail-type` the gateway's EventBridge door accepts.
pub const STOP_DETAIL_TYPE: &str = "Stop Requested";

/// The door's name, as the report and the log line give it.
pub const DOOR_NAME: &str = "eventbridge";

/// The event's detail: the execution, and a reason that says which drill asked (the policy rule may require its
/// prefix). No error code: the rule's default is sent.
pub fn stop_detail(execution_arn: &str, drill_id: &str) -> Value {
    json!({
        "targetArn": execution_arn,
        "reason": format!("fire drill {drill_id}: stop the canary execution this drill started"),
    })
}

/// Puts the `Stop Requested` event for `execution_arn` on the door's bus; the gateway's answer comes back only
/// as its audit record.
pub async fn request_stop(aws: &Aws, door: &StopDoor, execution_arn: &str, drill_id: &str) -> Result<(), String> {
    let entry = PutEventsRequestEntry::builder()
        .event_bus_name(&door.bus)
        .source(&door.source)
        .detail_type(STOP_DETAIL_TYPE)
        .resources(execution_arn)
        .detail(stop_detail(execution_arn, drill_id).to_string())
        .build();
    let put = aws.events.put_events().entries(entry).send().await.map_err(|e| error_text("PutEvents", &e))?;
    // PutEvents answers 200 with per-entry failures (a bus policy's deny among them).
    match put.entries().first() {
        Some(entry) if entry.error_code().is_some() => Err(format!(
            "PutEvents refused the event on {}: {} {}",
            door.bus,
            entry.error_code().unwrap_or_default(),
            entry.error_message().unwrap_or_default()
        )),
        _ if put.failed_entry_count() > 0 => Err(format!("PutEvents refused the event on {}", door.bus)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_detail_names_only_the_drills_own_execution() {
        let arn = "arn:aws:states:us-east-1:123456789012:execution:prod-fire-drill-canary:fire-drill-x";
        let detail = stop_detail(arn, "x");
        assert_eq!(detail["targetArn"], arn);
        assert!(detail["reason"].as_str().unwrap().starts_with("fire drill x: "));
        assert_eq!(detail.as_object().unwrap().len(), 2, "no error code, no other target: {detail}");
    }
}
