//! Bulk stops: a state machine or a function (or an alarm's several targets) expanded into its running
//! executions, each admitted on its own, under the policy's blast-radius cap, stopped with bounded concurrency
//! within the invocation's deadline (listed again, not described one by one, when the quota held them back
//! past a list's freshness), and confirmed by one list of what ended instead of a describe each.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use stop_gateway_core::domain::failure::{StopError, error_chain};
use stop_gateway_core::domain::outcome::{BulkReport, ExecutionResult, Outcome};
use stop_gateway_core::domain::policy::Policy;
use stop_gateway_core::domain::request::StopRequest;
use stop_gateway_core::domain::status::ExecutionStatus;
use stop_gateway_core::domain::target::TargetArn;
use tokio::time::Instant;

use super::decide::{Allowed, admit};
use super::ensure::{Calls, Sent, Stopping};
use crate::aws::listing::Listed;
use crate::config::BulkSettings;

/// How long a list's word that an execution is running is taken without a describe. Past it (a bulk stop that
/// had to wait for its quota this long), the executions not yet stopped are listed again, all at once.
const FRESH_LISTING: Duration = Duration::from_secs(10);

/// One bulk stop's inputs, borrowed for its length.
#[derive(Clone, Copy)]
pub(super) struct BulkRun<'a> {
    /// The policy, which admits each listed execution on its own.
    pub policy: &'a Policy,
    /// The request.
    pub request: &'a StopRequest,
    /// Who asked, as the stop's cause names them.
    pub caller: &'a str,
    /// The request's audit id.
    pub audit_id: &'a str,
    /// Whether nothing is to be stopped.
    pub dry_run: bool,
    /// The request's calls on executions.
    pub calls: Calls<'a>,
    /// Concurrency and deadline margin.
    pub settings: BulkSettings,
}

/// What a list said of an execution: its status and start, and when the list was read.
#[derive(Clone)]
struct Seen {
    status: ExecutionStatus,
    started: Option<DateTime<Utc>>,
    at: Instant,
}

impl Seen {
    fn listed(listed: Listed, at: Instant) -> (TargetArn, Seen) {
        (listed.target, Seen { status: listed.status, started: listed.started, at })
    }
}

/// An execution to stop, the rule that allows it, and what a list said of it (none for an execution named
/// directly, or one a second list no longer showed running: both are described first).
type Found<'a> = (TargetArn, &'a Allowed<'a>, Option<Seen>);

/// Where one execution stands after a pass over the executions to stop.
enum Pass<'a> {
    /// Stopped, sent a stop, found finished, or failed.
    Done(Stopping<'a>),
    /// Not started before the deadline margin: left for a retry.
    Left(TargetArn),
    /// Its list's word went stale before its turn: listed again before it is stopped.
    Stale(Found<'a>),
}

/// Stops every execution the allowed targets name or list.
pub(super) async fn bulk_stop(run: &BulkRun<'_>, allowed: &[Allowed<'_>]) -> Result<BulkReport, StopError> {
    let (executions, refused) = expand(run, allowed).await?;
    if run.dry_run {
        let mut report = BulkReport { executions: refused, remaining: vec![], dry_run: true };
        report.executions.extend(executions.into_iter().map(|(target, _, listed)| {
            // An execution named directly is not described in a dry run; it is reported as it was asked about.
            let previous_status = listed.map_or(ExecutionStatus::Running, |seen| seen.status);
            ExecutionResult { target, result: Ok(Outcome::DryRun { previous_status }) }
        }));
        return Ok(report);
    }
    let limit = allowed.iter().map(|a| a.max_executions).min().unwrap_or(0);
    let count = executions.len();
    if count > limit && run.request.confirm_count != Some(count as u64) {
        return Err(StopError::BlastRadiusExceeded { count, limit });
    }
    let (stopping, remaining) = stop_all(run, executions).await;
    let mut report = BulkReport { executions: refused, remaining, dry_run: false };
    let mut sent = Vec::new();
    for stopping in stopping {
        match stopping {
            Stopping::Done(done) => report.executions.push(done),
            Stopping::Sent(stop) => sent.push(stop),
        }
    }
    report.executions.extend(confirm(run, sent).await);
    Ok(report)
}

/// Every target expanded into executions, remembering which rule allowed each. What a list returns is admitted
/// only if it is an execution of the listed target and the policy allows it on its own; the rest are refused.
async fn expand<'a>(
    run: &BulkRun<'_>,
    allowed: &'a [Allowed<'a>],
) -> Result<(Vec<Found<'a>>, Vec<ExecutionResult>), StopError> {
    let (mut executions, mut refused): (Vec<Found<'a>>, Vec<ExecutionResult>) = (Vec::new(), Vec::new());
    // A set, not a search of what was found so far: a fleet of 10 000 made that search take seconds, long
    // enough for the list it came from to go stale before the first stop.
    let mut seen = HashSet::new();
    for a in allowed {
        let found = match a.target.is_bulk() {
            true => {
                let listed = run.calls.executions.list_running(run.calls.reach, a.target, run.calls.deadline).await?;
                let at = Instant::now();
                listed.into_iter().map(|l| Seen::listed(l, at)).map(|(target, seen)| (target, Some(seen))).collect()
            }
            false => vec![(a.target.clone(), None)],
        };
        for (execution, listed) in found {
            if !seen.insert(execution.clone()) {
                continue;
            }
            match admit(run.policy, run.request, a.target, &execution) {
                Ok(()) => executions.push((execution, a, listed)),
                Err(why) => {
                    tracing::warn!(execution = %execution, listed = %a.target, "{why}");
                    refused.push(ExecutionResult { target: execution, result: Err(StopError::Refused(why)) });
                }
            }
        }
    }
    Ok((executions, refused))
}

/// Stops every execution, in passes: what a pass finds stale is listed again and stopped in the next, until
/// each is settled or left for a retry. Returns what was settled, and what was left.
async fn stop_all<'a>(run: &BulkRun<'a>, mut executions: Vec<Found<'a>>) -> (Vec<Stopping<'a>>, Vec<TargetArn>) {
    let (mut settled, mut left) = (Vec::new(), Vec::new());
    while !executions.is_empty() {
        let before = settled.len() + left.len();
        let mut stale = Vec::new();
        for pass in stop_each(run, executions).await {
            match pass {
                Pass::Done(stopping) => settled.push(stopping),
                Pass::Left(target) => left.push(target),
                Pass::Stale(found) => stale.push(found),
            }
        }
        // A pass that settled nothing (a list slower than its own freshness) would list again for ever: what
        // it left goes through a describe each instead.
        let progressed = settled.len() + left.len() > before;
        executions = match progressed {
            true => list_again(run, stale).await,
            false => stale.into_iter().map(|(target, a, _)| (target, a, None)).collect(),
        };
    }
    (settled, left)
}

/// One pass: each execution, a bounded number at once; one not started before the deadline margin is left
/// for a retry, and one whose list went stale before its turn is handed back to be listed again.
async fn stop_each<'a>(run: &BulkRun<'a>, executions: Vec<Found<'a>>) -> Vec<Pass<'a>> {
    let BulkRun { request, caller, audit_id, calls, settings, .. } = *run;
    stream::iter(executions)
        .map(|(target, a, listed)| async move {
            // Leave time to answer and audit; a retry picks up whatever is left.
            if Instant::now() + settings.deadline_margin >= calls.deadline {
                return Pass::Left(target);
            }
            // An execution a list has just reported running is stopped at once: describing each first would
            // bound the rate by the describe quota (a tenth of the stop burst). What the stop did is confirmed
            // afterwards, all at once, by a list. A list's word gone stale is renewed by another list, for the
            // same reason.
            let text = match &listed {
                Some(seen) if seen.at.elapsed() >= FRESH_LISTING => return Pass::Stale((target, a, listed)),
                _ => a.text(request, caller, audit_id),
            };
            if let Some(Seen { status, started, .. }) = listed {
                return Pass::Done(calls.stop_listed(target, (status, started), a.target, &text, a.kms_fallback).await);
            }
            let result = calls.ensure_stopped(&target, &text, a.kms_fallback, false).await;
            Pass::Done(Stopping::Done(ExecutionResult { target, result }))
        })
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await
}

/// Lists again the running executions of each target whose list went stale, once per target: an execution the
/// new list shows running is stopped on its word; one it does not show may have ended (or the list lags), so
/// it is described first; a list that fails leaves every one of its target's to a describe.
async fn list_again<'a>(run: &BulkRun<'_>, stale: Vec<Found<'a>>) -> Vec<Found<'a>> {
    let calls = run.calls;
    let mut lists: HashMap<&TargetArn, HashMap<TargetArn, Seen>> = HashMap::new();
    for (_, a, _) in &stale {
        if lists.contains_key(a.target) {
            continue;
        }
        let seen = match calls.executions.list_running(calls.reach, a.target, calls.deadline).await {
            Ok(listed) => {
                let at = Instant::now();
                listed.into_iter().map(|l| Seen::listed(l, at)).collect()
            }
            Err(err) => {
                tracing::warn!(listed = %a.target, error = %error_chain(&err), "could not list again; describing each");
                HashMap::new()
            }
        };
        lists.insert(a.target, seen);
    }
    stale
        .into_iter()
        .map(|(target, a, _)| {
            let seen = lists.get(a.target).and_then(|list| list.get(&target)).cloned();
            (target, a, seen)
        })
        .collect()
}

/// What one listed target's confirming list looks for: its executions the request sent a stop, and the
/// oldest start among them (when every start is known).
type Confirmation<'a> = (&'a TargetArn, HashSet<TargetArn>, Option<DateTime<Utc>>);

/// Confirms the stops sent without a describe: one list per listed target of what ended ABORTED (Step
/// Functions) or STOPPED (Lambda), and a describe for anything the list did not show, so an execution that
/// finished on its own between the list and the stop is reported as `already_finished`, never as stopped.
async fn confirm(run: &BulkRun<'_>, sent: Vec<Sent<'_>>) -> Vec<ExecutionResult> {
    let calls = run.calls;
    let mut by_listed: Vec<Confirmation<'_>> = Vec::new();
    for Sent { target, listed, started, .. } in &sent {
        match by_listed.iter_mut().find(|(l, ..)| *l == *listed) {
            Some((_, wanted, oldest)) => {
                wanted.insert(target.clone());
                // The oldest start is known only if every start is.
                *oldest = oldest.zip(*started).map(|(a, b)| a.min(b));
            }
            None => by_listed.push((listed, HashSet::from([target.clone()]), *started)),
        }
    }
    let mut ended: HashMap<TargetArn, DateTime<Utc>> = HashMap::new();
    for (listed, wanted, oldest) in &by_listed {
        match calls.executions.list_stopped(calls.reach, listed, (wanted, *oldest), calls.deadline).await {
            Ok(found) => ended.extend(found),
            Err(err) => {
                tracing::warn!(listed = %listed, error = %error_chain(&err), "could not confirm stops with a list; describing each")
            }
        }
    }
    let unconfirmed = sent.iter().filter(|s| !ended.contains_key(&s.target)).count();
    if unconfirmed > 0 {
        tracing::info!(unconfirmed, "stops the list did not confirm; describing each");
    }
    stream::iter(sent)
        .map(|Sent { target, status, kms_fallback, .. }| {
            let stopped_at = ended.get(&target).copied();
            async move {
                let result = match stopped_at {
                    Some(stopped_at) => Ok(Outcome::Stopped { previous_status: status, stopped_at, kms_fallback }),
                    None => calls.confirm_one(&target, status, kms_fallback).await,
                };
                ExecutionResult { target, result }
            }
        })
        .buffer_unordered(run.settings.concurrency.max(1))
        .collect()
        .await
}
