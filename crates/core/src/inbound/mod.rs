//! Ingress: recognise the event's shape and turn it into a [`StopRequest`], keeping what it said for the audit.
//!
//! Shapes are detected the way `lambda_http`'s deserializer does it, by trying them in a fixed order, but with a
//! cheap probe of the discriminating fields first so a payload that *looks* like one shape and is broken gets an
//! error about that shape instead of a generic "unknown". Each door has its own file (`http`, `eventbridge`,
//! `alarm`); answers are rendered in `reply`. Callers are taken only from what AWS attests in the envelope,
//! never from the body. Everything learned before a failure is kept in [`Facts`] for the audit record.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;

mod alarm;
mod body;
pub mod error;
mod eventbridge;
mod http;
mod latch;
mod strict;

use crate::domain::alarm::AlarmRouting;
pub use crate::domain::audit::Facts;
use crate::domain::request::Door;
pub use crate::domain::request::Parsed;
pub use alarm::{ALARM_DETAIL_TYPE, CLOUDWATCH_SOURCE};
pub use error::IngressError;
pub use eventbridge::STOP_DETAIL_TYPE;
pub use http::MAX_BODY_BYTES;
pub use latch::{SCHEDULE_SOURCE, SCHEDULED_DETAIL_TYPE, STATES_SOURCE, STATUS_CHANGE_DETAIL_TYPE};

const ACCEPTED_SHAPES: &str = "expected one of: an EventBridge event with detail-type \"Stop Requested\"; an EventBridge \"CloudWatch Alarm State Change\" event; a Step Functions \"Execution Status Change\" event; an EventBridge \"Scheduled Event\"; a CloudWatch alarm's Lambda action payload; an API Gateway REST API (v1 proxy) request; an API Gateway HTTP API (v2) request; a Lambda function URL request";

/// A recognised (or unrecognised) payload, with its parse result.
#[derive(Debug)]
pub struct Inbound {
    /// Which door (which also says how to answer).
    pub door: Door,
    /// What could be learned.
    pub facts: Facts,
    /// The request, or why there is none.
    pub request: Result<Parsed, IngressError>,
}

/// Just enough of a payload to tell the shapes apart.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "detail-type")]
    detail_type: Option<Value>,
    source: Option<Value>,
    detail: Option<IgnoredAny>,
    #[serde(rename = "alarmData")]
    alarm_data: Option<IgnoredAny>,
    #[serde(rename = "requestContext")]
    request_context: Option<ContextProbe>,
}

#[derive(Deserialize)]
struct ContextProbe {
    http: Option<IgnoredAny>,
    #[serde(rename = "httpMethod")]
    http_method: Option<IgnoredAny>,
    #[serde(rename = "domainName")]
    domain_name: Option<Value>,
}

/// Recognises the payload's shape and parses it. `routing` resolves alarm targets.
pub fn parse(payload: &RawValue, routing: &AlarmRouting) -> Inbound {
    let unknown = |message: String| Inbound {
        door: Door::Unknown,
        facts: Facts::default(),
        request: Err(IngressError::Invalid(message)),
    };
    let Ok(probe) = serde_json::from_str::<Probe>(payload.get()) else {
        return unknown(format!("unrecognised payload: not a JSON object of a known shape; {ACCEPTED_SHAPES}"));
    };
    if probe.alarm_data.is_some() {
        return parse_shape(payload, Door::AlarmAction, "alarm action payload", |a, f| {
            alarm::from_action(a, f, routing)
        });
    }
    if let (Some(detail_type), Some(source), Some(_)) = (&probe.detail_type, &probe.source, &probe.detail) {
        match (detail_type.as_str(), source.as_str()) {
            (Some(ALARM_DETAIL_TYPE), Some(CLOUDWATCH_SOURCE)) => {
                return parse_shape(payload, Door::AlarmEvent, "alarm state change event", |e, f| {
                    alarm::from_event(e, f, routing)
                });
            }
            (Some(latch::STATUS_CHANGE_DETAIL_TYPE), Some(latch::STATES_SOURCE)) => {
                return parse_shape(payload, Door::Latch, "Step Functions status change event", {
                    latch::from_status_change
                });
            }
            (Some(latch::SCHEDULED_DETAIL_TYPE), Some(latch::SCHEDULE_SOURCE)) => {
                return parse_shape(payload, Door::Sweep, "scheduled event", latch::from_schedule);
            }
            _ => {}
        }
        return parse_shape(payload, Door::EventBridge, "EventBridge event", |e, f| {
            eventbridge::from_event(e, f).map(|r| Parsed::Stop(Box::new(r)))
        });
    }
    match probe.request_context {
        Some(ContextProbe { http: Some(_), domain_name, .. }) if http::is_function_url_domain(domain_name.as_ref()) => {
            parse_shape(payload, Door::FunctionUrl, "function URL request", |e, f| {
                http::from_function_url(e, http::principal_org_id(payload).as_deref(), f)
                    .map(|r| Parsed::Stop(Box::new(r)))
            })
        }
        Some(ContextProbe { http: Some(_), .. }) => {
            parse_shape(payload, Door::HttpApi, "HTTP API (v2) request", |e, f| {
                http::from_http_api(e, f).map(|r| Parsed::Stop(Box::new(r)))
            })
        }
        Some(ContextProbe { http_method: Some(_), .. }) => {
            parse_shape(payload, Door::RestApi, "REST API (v1) request", |e, f| {
                http::from_rest_api(e, http::principal_org_id(payload).as_deref(), f).map(|r| Parsed::Stop(Box::new(r)))
            })
        }
        _ => unknown(format!("unrecognised payload; {ACCEPTED_SHAPES}")),
    }
}

fn parse_shape<T: serde::de::DeserializeOwned>(
    payload: &RawValue,
    door: Door,
    name: &str,
    convert: impl FnOnce(T, &mut Facts) -> Result<Parsed, IngressError>,
) -> Inbound {
    let mut facts = Facts::default();
    let parsed = strict::reject_duplicate_keys(payload.get()).and_then(|()| serde_json::from_str::<T>(payload.get()));
    let request = match parsed {
        Ok(event) => convert(event, &mut facts),
        Err(err) => Err(IngressError::Invalid(format!("malformed {name}: {err}"))),
    };
    Inbound { door, facts, request }
}
