//! The latch's plan: which latching alarms CloudWatch reports in ALARM (a read no older than the event) → the
//! domain's latches → one stop request per alarm, which the stop flow then runs like any other.
//!
//! It fails closed: a read that fails, or an alarm whose tags cannot be read when no other alarm settles the
//! question, is an upstream failure (audited, and retried by Lambda), never "nothing latched". A sweep that
//! arrives within the cache window of the last sweep's read is answered from it, so a flood of schedule events
//! costs one read; a sweep from another account or region than the function's own is refused.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use stop_gateway_core::domain::aws_ids::AccountId;
use stop_gateway_core::domain::caller::AlarmArn;
use stop_gateway_core::domain::failure::StopError;
use stop_gateway_core::domain::latch;
use stop_gateway_core::domain::outcome::Outcome;
use stop_gateway_core::domain::request::{LatchCheck, StopRequest};
use stop_gateway_core::policy_doc::LoadedPolicy;

use crate::aws::alarms::AlarmWatch;

/// What the latch asks of the stop flow for one check.
#[derive(Debug)]
pub enum LatchPlan {
    /// Nothing to stop: the check's one answer (ignored, refused, or a failed read).
    Answer(Result<Outcome, StopError>),
    /// Stop these, one request per alarm, and report each failure (an alarm whose tags could not be read) as
    /// a failed request of its own.
    Stop {
        /// The latched stops.
        stops: Vec<StopRequest>,
        /// The alarms whose part in the decision is unknown.
        failures: Vec<StopError>,
        /// When the alarms were read.
        read_at: DateTime<Utc>,
    },
}

/// Plans `check` under `policy`, reading alarms through `alarms`; `home` is the function's own account.
pub async fn plan(
    alarms: &AlarmWatch,
    check: &LatchCheck,
    policy: &LoadedPolicy,
    home: Option<&AccountId>,
    deadline: Instant,
) -> LatchPlan {
    let key = &policy.version.sha256;
    if let LatchCheck::Sweep { account, region, .. } = check {
        if account.as_ref() != home || region.as_ref().map(|r| r.as_str()) != Some(alarms.region()) {
            let why = "the scheduled event's account or region is not the function's own; a sweep acts only there";
            return LatchPlan::Answer(Err(StopError::InvalidRequest(why.into())));
        }
        if let Some((read_at, audit_id)) = alarms.recent_sweep(key).await {
            let ago = (Utc::now() - read_at).num_milliseconds().max(0);
            let reason = format!(
                "the sweep of {} (audit id {audit_id}) read the alarms {ago} ms ago; a sweep within the cache window adds nothing",
                read_at.to_rfc3339()
            );
            return LatchPlan::Answer(Ok(Outcome::Ignored { reason }));
        }
    }
    let may_latch = |alarm: &AlarmArn| latch::may_latch(alarm, &policy.routing, &policy.policy);
    let read = match alarms.in_alarm(check.fresh_after(), key, home, may_latch, deadline).await {
        Ok(read) => read,
        Err(err) => return LatchPlan::Answer(Err(err)),
    };
    let in_force = latch::in_force(&read.alarms, &policy.routing, &policy.policy);
    let stops = latch::requests(check, &in_force);
    let mut failures: Vec<StopError> = read.unreadable.into_iter().map(|(_, err)| err).collect();
    match check {
        // An alarm whose tags could not be read may cover this execution: only another alarm that does
        // settles the decision without it.
        LatchCheck::Started(_) if stops.is_empty() && !failures.is_empty() => {
            return LatchPlan::Answer(Err(failures.swap_remove(0)));
        }
        LatchCheck::Started(_) => failures.clear(),
        LatchCheck::Sweep { .. } => {}
    }
    if stops.is_empty() && failures.is_empty() {
        let reason = match check {
            LatchCheck::Started(_) => "no latching alarm in ALARM covers this execution",
            LatchCheck::Sweep { .. } => "no latching alarm is in ALARM",
        };
        return LatchPlan::Answer(Ok(Outcome::Ignored { reason: reason.into() }));
    }
    LatchPlan::Stop { stops, failures, read_at: read.read_at }
}
