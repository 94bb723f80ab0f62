//! The latch's doors: Step Functions `Execution Status Change` events (a new or redriven execution to check
//! against latching alarms) and the scheduled sweep's `Scheduled Event`.
//!
//! Neither carries a caller: what they may stop is decided by which alarms CloudWatch reports in ALARM, read
//! afresh by the gateway, so a forged event can at most make the gateway do what the latch would do anyway.
//! The envelope must still agree with itself (account, region, execution and state machine), or the event is
//! rejected as crafted.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;

use super::error::IngressError;
use crate::domain::audit::Facts;
use crate::domain::aws_ids::{AccountId, Region};
use crate::domain::request::{LatchCheck, Parsed, Started};
use crate::domain::target::{TargetArn, TargetKind};
use crate::domain::text::excerpt;

/// `detail-type` of Step Functions execution status changes.
pub const STATUS_CHANGE_DETAIL_TYPE: &str = "Step Functions Execution Status Change";
/// `source` of events Step Functions sends.
pub const STATES_SOURCE: &str = "aws.states";
/// `detail-type` of EventBridge schedule rules.
pub const SCHEDULED_DETAIL_TYPE: &str = "Scheduled Event";
/// `source` of events EventBridge's schedule rules send.
pub const SCHEDULE_SOURCE: &str = "aws.events";

/// The fields of a status-change `detail` the latch uses; `input` and `output` (up to 256 KB each) are skipped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusChange {
    execution_arn: String,
    state_machine_arn: String,
    status: String,
    #[serde(default)]
    redrive_count: Option<u32>,
}

pub(super) fn from_status_change(event: EventBridgeEvent<Value>, facts: &mut Facts) -> Result<Parsed, IngressError> {
    facts.door_request_id.clone_from(&event.id);
    let detail = StatusChange::deserialize(event.detail)
        .map_err(|e| IngressError::Invalid(format!("invalid Step Functions status change detail: {e}")))?;
    facts.target = Some(detail.execution_arn.clone());
    let execution = TargetArn::parse(&detail.execution_arn)
        .map_err(|e| IngressError::Invalid(format!("status change executionArn: {e}")))?;
    facts.target_kind = Some(execution.kind_name());
    let machine = TargetArn::parse(&detail.state_machine_arn)
        .map_err(|e| IngressError::Invalid(format!("status change stateMachineArn: {e}")))?;
    if !matches!(execution.kind(), TargetKind::SfnExecution { .. }) || !execution.is_execution_of(&machine) {
        return Err(IngressError::Invalid(
            "status change executionArn is not an execution of its stateMachineArn".into(),
        ));
    }
    if event.account.as_deref() != Some(execution.account().as_str())
        || event.region.as_deref() != Some(execution.region().as_str())
    {
        return Err(IngressError::Invalid(
            "the status change event's account or region does not match the execution ARN".into(),
        ));
    }
    if detail.status != "RUNNING" {
        return Ok(Parsed::Ignore(format!(
            "execution status changed to {}; only a RUNNING execution is checked against latches",
            excerpt(&detail.status)
        )));
    }
    let at = event.time.unwrap_or_else(Utc::now);
    Ok(Parsed::Latch(LatchCheck::Started(Started { execution, redrive_count: detail.redrive_count.unwrap_or(0), at })))
}

pub(super) fn from_schedule(event: EventBridgeEvent<Value>, facts: &mut Facts) -> Result<Parsed, IngressError> {
    facts.door_request_id.clone_from(&event.id);
    let account = event.account.as_deref().map(AccountId::parse).transpose();
    let region = event.region.as_deref().map(Region::parse).transpose();
    let (Ok(account), Ok(region)) = (account, region) else {
        return Err(IngressError::Invalid("the scheduled event's account or region is malformed".into()));
    };
    // The sweep acts on alarm states read now, not at the schedule's time: a retry may deliver it minutes late.
    Ok(Parsed::Latch(LatchCheck::Sweep { at: Utc::now(), account, region }))
}
