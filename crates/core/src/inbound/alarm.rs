//! Alarm ingress: EventBridge `CloudWatch Alarm State Change` events and the payload of an alarm's direct
//! Lambda action, turned into a stop request (or an ignored state change).
//!
//! These shapes are parsed with small local structs rather than `aws_lambda_events::cloudwatch_alarms`: the
//! official types require `metricStat` on every metric, so a metric-math alarm (whose metrics are expressions)
//! would not parse, and a kill-switch must not fail on the kind of alarm that fired it.

use std::collections::BTreeMap;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Deserialize;
use serde_json::Value;

use super::error::IngressError;
use crate::domain::alarm::{Alarm, AlarmRouting, AlarmTags};
use crate::domain::audit::Facts;
use crate::domain::caller::{AlarmArn, Caller};
use crate::domain::request::{Door, Parsed, StopRequest};
use crate::domain::status::AlarmState;
use crate::domain::text::excerpt;
use crate::domain::text::{Overflow, Reason};

/// `detail-type` of alarm state changes on EventBridge.
pub const ALARM_DETAIL_TYPE: &str = "CloudWatch Alarm State Change";
/// `source` of events CloudWatch sends.
pub const CLOUDWATCH_SOURCE: &str = "aws.cloudwatch";

/// `alarmData` of a direct action, and `detail` of an EventBridge alarm event.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AlarmData {
    alarm_name: String,
    state: StateData,
    previous_state: Option<StateData>,
    #[serde(default)]
    configuration: Value,
    alarm_tags: Option<Value>,
    alarm_tags_status: Option<String>,
}

#[derive(Deserialize)]
struct StateData {
    value: String,
    #[serde(default)]
    reason: String,
    timestamp: Option<Value>,
}

/// The payload of an alarm's direct Lambda action.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AlarmAction {
    source: String,
    alarm_arn: String,
    account_id: Option<String>,
    time: Option<Value>,
    alarm_data: AlarmData,
}

pub(super) fn from_event(
    event: EventBridgeEvent<Value>,
    facts: &mut Facts,
    routing: &AlarmRouting,
) -> Result<Parsed, IngressError> {
    let arn = match event.resources.as_deref() {
        Some([arn]) => arn.clone(),
        _ => return Err(IngressError::Invalid("alarm event must name exactly one alarm in resources".into())),
    };
    facts.door_request_id.clone_from(&event.id);
    let data = AlarmData::deserialize(event.detail)
        .map_err(|e| IngressError::Invalid(format!("invalid alarm event detail: {e}")))?;
    let time = event.time.map(|t| t.to_rfc3339());
    build(&arn, event.account.as_deref(), time, data, facts, routing, Door::AlarmEvent)
}

pub(super) fn from_action(
    action: AlarmAction,
    facts: &mut Facts,
    routing: &AlarmRouting,
) -> Result<Parsed, IngressError> {
    if action.source != CLOUDWATCH_SOURCE {
        return Err(IngressError::Invalid(format!(
            "alarm action source {} is not {CLOUDWATCH_SOURCE}",
            excerpt(&action.source)
        )));
    }
    let time = action.time.as_ref().and_then(Value::as_str).map(str::to_owned);
    build(&action.alarm_arn, action.account_id.as_deref(), time, action.alarm_data, facts, routing, Door::AlarmAction)
}

fn build(
    arn: &str,
    envelope_account: Option<&str>,
    envelope_time: Option<String>,
    data: AlarmData,
    facts: &mut Facts,
    routing: &AlarmRouting,
    source: Door,
) -> Result<Parsed, IngressError> {
    let alarm_arn = AlarmArn::parse(arn).map_err(|e| IngressError::Invalid(format!("alarm ARN: {e}")))?;
    // The name and account in the payload must be the alarm's own: a mismatch means a crafted payload.
    if data.alarm_name != alarm_arn.name() {
        return Err(IngressError::Invalid("alarmName does not match the alarm ARN".into()));
    }
    if envelope_account.is_some_and(|a| a != alarm_arn.scope().account().as_str()) {
        return Err(IngressError::Invalid("the event's account does not match the alarm ARN".into()));
    }
    facts.caller = Some(Caller::Alarm { alarm: alarm_arn.clone() });
    let tags = match (data.alarm_tags_status.as_deref(), data.alarm_tags) {
        (None, _) => AlarmTags::NotPropagated,
        (Some("SUCCESS"), Some(Value::Object(map))) => AlarmTags::Read(
            map.into_iter()
                .map(|(k, v)| match v {
                    Value::String(v) => Ok((k, v)),
                    _ => Err(IngressError::Invalid(format!("alarm tag {} is not a string", excerpt(&k)))),
                })
                .collect::<Result<BTreeMap<_, _>, _>>()?,
        ),
        (Some("SUCCESS"), _) => AlarmTags::Read(BTreeMap::new()),
        (Some(status), _) => AlarmTags::Unavailable(excerpt(status)),
    };
    let state_time =
        data.state.timestamp.as_ref().and_then(Value::as_str).map(str::to_owned).or(envelope_time).unwrap_or_default();
    let alarm = Alarm {
        arn: alarm_arn.clone(),
        state: AlarmState::parse(&data.state.value),
        previous_state: data.previous_state.map(|s| AlarmState::parse(&s.value)),
        state_reason: data.state.reason,
        state_time,
        tags,
        dimensions: dimensions(&data.configuration),
    };
    let reason_text = alarm.reason_text();
    facts.reason = Some(reason_text.clone());
    if let Some(why) = alarm.ignore_reason() {
        return Ok(Parsed::Ignore(why));
    }
    let (targets, how) = routing.resolve(&alarm).map_err(IngressError::Invalid)?;
    facts.resolution = Some(how.as_str());
    let reason = Reason::parse(&reason_text, Overflow::Truncate)
        .map_err(|e| IngressError::Invalid(format!("alarm reason: {e}")))?;
    let request = StopRequest::from_alarm(&alarm, targets, reason, source);
    *facts = Facts::from_request(&request, facts);
    Ok(Parsed::Stop(Box::new(request)))
}

/// The dimensions of every metric with a `metricStat`; metric-math expressions contribute none.
fn dimensions(configuration: &Value) -> Vec<BTreeMap<String, String>> {
    let Some(metrics) = configuration.get("metrics").and_then(Value::as_array) else { return vec![] };
    metrics
        .iter()
        .filter_map(|m| m.pointer("/metricStat/metric/dimensions").and_then(Value::as_object))
        .map(|dims| dims.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned()))).collect())
        .filter(|d: &BTreeMap<String, String>| !d.is_empty())
        .collect()
}
