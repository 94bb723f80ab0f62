//! The EventBridge door: `Stop Requested` events from automation. The caller is the event's `source` and
//! `account` from the envelope; the `detail` is the same stop body HTTP callers send.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Deserialize;
use serde_json::Value;

use super::body::{StopBody, build_request};
use super::error::IngressError;
use crate::domain::audit::Facts;
use crate::domain::aws_ids::AccountId;
use crate::domain::caller::{Caller, EventSource};
use crate::domain::request::{Door, StopRequest};
use crate::domain::text::excerpt;

/// `detail-type` of stop requests sent over EventBridge.
pub const STOP_DETAIL_TYPE: &str = "Stop Requested";

pub(super) fn from_event(event: EventBridgeEvent<Value>, facts: &mut Facts) -> Result<StopRequest, IngressError> {
    facts.door_request_id.clone_from(&event.id);
    let source = EventSource::parse(&event.source);
    let account = event.account.as_deref().map(AccountId::parse);
    if let (Some(source), Some(Ok(account))) = (source.clone(), account.clone()) {
        facts.caller = Some(Caller::EventBridge { source, account });
    }
    if event.detail_type != STOP_DETAIL_TYPE {
        return Err(IngressError::Invalid(format!(
            "unsupported EventBridge detail-type {} from source {}: only \"{STOP_DETAIL_TYPE}\" is accepted",
            excerpt(&event.detail_type),
            excerpt(&event.source)
        )));
    }
    let Some(caller) = facts.caller.clone() else {
        return Err(IngressError::Invalid(match (source, account) {
            (None, _) => format!("EventBridge source {} is not a valid source", excerpt(&event.source)),
            (_, None) => "EventBridge event has no account".to_owned(),
            (_, Some(Err(err))) => format!("EventBridge event {err}"),
            (Some(_), Some(Ok(_))) => "EventBridge event has no valid caller".to_owned(),
        }));
    };
    let body = StopBody::deserialize(event.detail)
        .map_err(|err| IngressError::Invalid(format!("invalid event detail: {err}")))?;
    build_request(body, caller, Door::EventBridge, facts)
}
