//! One stop request, whatever door it came through: the targets, the text, the caller and the door.
//!
//! Pure: no SDK, no serde.

use chrono::{DateTime, TimeDelta, Utc};

use super::alarm::Alarm;
use super::aws_ids::{AccountId, Region};
use super::caller::Caller;
use super::target::TargetArn;
use super::text::{ErrorCode, Reason};

/// The door a request came through ("source" in audit records and metrics, which predate the word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Door {
    /// An EventBridge event (`detail-type: Stop Requested`).
    EventBridge,
    /// An EventBridge `CloudWatch Alarm State Change` event.
    AlarmEvent,
    /// The payload of an alarm's direct Lambda action.
    AlarmAction,
    /// API Gateway REST API, v1 proxy payload.
    RestApi,
    /// API Gateway HTTP API, v2 payload.
    HttpApi,
    /// Lambda function URL.
    FunctionUrl,
    /// A Step Functions execution status-change event, checked against latching alarms.
    Latch,
    /// A scheduled sweep of what latching alarms in ALARM cover.
    Sweep,
    /// A payload of no accepted shape.
    Unknown,
}

impl Door {
    /// Every door.
    pub const ALL: [Door; 9] = [
        Door::EventBridge,
        Door::AlarmEvent,
        Door::AlarmAction,
        Door::RestApi,
        Door::HttpApi,
        Door::FunctionUrl,
        Door::Latch,
        Door::Sweep,
        Door::Unknown,
    ];

    /// The door named as [`as_str`](Self::as_str) names it.
    pub fn from_name(name: &str) -> Option<Door> {
        Door::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Stable name used in responses, logs and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Door::EventBridge => "eventbridge",
            Door::AlarmEvent => "alarm-event",
            Door::AlarmAction => "alarm-action",
            Door::RestApi => "apigw-rest",
            Door::HttpApi => "apigw-http",
            Door::FunctionUrl => "function-url",
            Door::Latch => "latch",
            Door::Sweep => "sweep",
            Door::Unknown => "unknown",
        }
    }

    /// Whether the sender is a person or tool over HTTP, who reads the answer (with its status) and can resend.
    pub fn is_http(self) -> bool {
        matches!(self, Door::RestApi | Door::HttpApi | Door::FunctionUrl)
    }

    /// Whether the sender is an alarm or automation that nobody waits on: an asynchronous invocation, which a
    /// transient failure fails so that Lambda retries it, and whose failures and dry runs only metrics reveal.
    pub fn is_automated(self) -> bool {
        matches!(self, Door::EventBridge | Door::AlarmEvent | Door::AlarmAction | Door::Latch | Door::Sweep)
    }
}

/// A fully parsed stop request: everything in it is already valid for the target API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopRequest {
    /// What to stop: one target for HTTP and `Stop Requested` events; one or more for alarms. Never empty.
    pub targets: Vec<TargetArn>,
    /// Why.
    pub reason: Reason,
    /// The error code the caller asked for; the policy supplies a default when absent.
    pub error_code: Option<ErrorCode>,
    /// Whether the caller asked for a dry run.
    pub dry_run: bool,
    /// Who asked.
    pub caller: Caller,
    /// Which door the request came through.
    pub door: Door,
    /// The execution count an API caller confirms when a bulk stop exceeds the blast-radius cap.
    pub confirm_count: Option<u64>,
}

impl StopRequest {
    /// What an alarm asks: its targets stopped for `reason`, with the alarm as the caller and the matching rule's
    /// default error code, never a dry run of its own and never a confirmed count (an alarm cannot confirm).
    pub fn from_alarm(alarm: &Alarm, targets: Vec<TargetArn>, reason: Reason, door: Door) -> StopRequest {
        StopRequest {
            targets,
            reason,
            error_code: None,
            dry_run: false,
            caller: Caller::Alarm { alarm: alarm.arn.clone() },
            door,
            confirm_count: None,
        }
    }
}

/// What a valid payload asks for: a stop, or nothing at all (an alarm state change that does not act).
#[derive(Debug)]
pub enum Parsed {
    /// Stop these targets.
    Stop(Box<StopRequest>),
    /// Nothing: an alarm state change that is not a transition into ALARM (audited, not acted on).
    Ignore(String),
    /// Ask the latch: a new execution, or a scheduled sweep.
    Latch(LatchCheck),
}

/// A Step Functions execution that has just started running (or been redriven), from its status-change event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The execution.
    pub execution: TargetArn,
    /// How often it has been redriven (0 for a new execution).
    pub redrive_count: u32,
    /// When the event says the change happened.
    pub at: DateTime<Utc>,
}

/// What a status-change or sweep event asks of the latch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LatchCheck {
    /// Stop this new execution if a latching alarm covers it.
    Started(Started),
    /// Stop whatever every latching alarm in ALARM covers (a scheduled sweep arriving at `at`).
    Sweep {
        /// When the sweep arrived.
        at: DateTime<Utc>,
        /// The account the scheduled event says it comes from.
        account: Option<AccountId>,
        /// The region the scheduled event says it comes from.
        region: Option<Region>,
    },
}

/// EventBridge stamps an event's `time` in whole seconds: an event stamped T happened somewhere in [T, T + 1 s).
pub const EVENT_TIME_RESOLUTION: TimeDelta = TimeDelta::seconds(1);

impl LatchCheck {
    /// The earliest alarm read that may decide this check: one made after the event certainly happened. A read
    /// from within the event's own second may predate it (an alarm released at .500 and an execution started at
    /// .600, stamped with the same second as a read at .020), so it does not serve the event.
    pub fn fresh_after(&self) -> DateTime<Utc> {
        match self {
            LatchCheck::Started(started) => started.at + EVENT_TIME_RESOLUTION,
            LatchCheck::Sweep { at, .. } => *at,
        }
    }
}
