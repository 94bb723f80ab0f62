//! Bulk stops: a state machine or a function (or an alarm's several targets) expanded into its running
//! executions, each admitted on its own, under the policy's blast-radius cap, stopped with bounded concurrency
//! within the invocation's deadline, and confirmed by one list of what ended instead of a describe each.

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
use crate::config::BulkSettings;

/// How long a list's word that an execution is running is taken without a describe. Past it (a bulk stop that
/// had to wait for its quota this long), each execution is described first again.
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

/// An execution to stop, the rule that allows it, and what a list said of it and when (none for an execution
/// named directly).
type Found<'a> = (TargetArn, &'a Allowed<'a>, Option<(ExecutionStatus, Instant)>);

/// Stops every execution the allowed targets name or list.
pub(super) async fn bulk_stop(run: &BulkRun<'_>, allowed: &[Allowed<'_>]) -> Result<BulkReport, StopError> {
    let (executions, refused) = expand(run, allowed).await?;
    if run.dry_run {
        let mut report = BulkReport { executions: refused, remaining: vec![], dry_run: true };
        report.executions.extend(executions.into_iter().map(|(target, _, listed)| {
            // An execution named directly is not described in a dry run; it is reported as it was asked about.
            let previous_status = listed.map_or(ExecutionStatus::Running, |(status, _)| status);
            ExecutionResult { target, result: Ok(Outcome::DryRun { previous_status }) }
        }));
        return Ok(report);
    }
    let limit = allowed.iter().map(|a| a.max_executions).min().unwrap_or(0);
    let count = executions.len();
    if count > limit && run.request.confirm_count != Some(count as u64) {
        return Err(StopError::BlastRadiusExceeded { count, limit });
    }
    let mut report = BulkReport { executions: refused, dry_run: false, ..BulkReport::default() };
    let mut sent = Vec::new();
    for stopping in stop_each(run, executions).await {
        match stopping {
            Ok(Stopping::Done(done)) => report.executions.push(done),
            Ok(Stopping::Sent(stop)) => sent.push(stop),
            Err(left) => report.remaining.push(left),
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
    for a in allowed {
        let found = match a.target.is_bulk() {
            true => {
                let listed = run.calls.executions.list_running(run.calls.reach, a.target, run.calls.deadline).await?;
                let at = Instant::now();
                listed.into_iter().map(|l| (l.target, Some((l.status, at)))).collect()
            }
            false => vec![(a.target.clone(), None)],
        };
        for (execution, listed) in found {
            let seen =
                executions.iter().any(|(e, ..)| *e == execution) || refused.iter().any(|r| r.target == execution);
            if seen {
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

/// Stops each execution, a bounded number at once; an execution not started before the deadline margin is
/// left (`Err`) for a retry.
async fn stop_each<'a>(run: &BulkRun<'a>, executions: Vec<Found<'a>>) -> Vec<Result<Stopping<'a>, TargetArn>> {
    let BulkRun { request, caller, audit_id, calls, settings, .. } = *run;
    stream::iter(executions)
        .map(|(target, a, listed)| async move {
            // Leave time to answer and audit; a retry picks up whatever is left.
            if Instant::now() + settings.deadline_margin >= calls.deadline {
                return Err(target);
            }
            let text = a.text(request, caller, audit_id);
            // An execution a list has just reported running is stopped at once: describing each first would
            // bound the rate by the describe quota (a tenth of the stop burst). What the stop did is confirmed
            // afterwards, all at once, by a list.
            if let Some((status, _)) = listed.filter(|(_, at)| at.elapsed() < FRESH_LISTING) {
                return Ok(calls.stop_listed(target, status, a.target, &text, a.kms_fallback).await);
            }
            let result = calls.ensure_stopped(&target, &text, a.kms_fallback, false).await;
            Ok(Stopping::Done(ExecutionResult { target, result }))
        })
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await
}

/// Confirms the stops sent without a describe: one list per listed target of what ended ABORTED (Step
/// Functions) or STOPPED (Lambda), and a describe for anything the list did not show, so an execution that
/// finished on its own between the list and the stop is reported as `already_finished`, never as stopped.
async fn confirm(run: &BulkRun<'_>, sent: Vec<Sent<'_>>) -> Vec<ExecutionResult> {
    let calls = run.calls;
    let mut by_listed: Vec<(&TargetArn, HashSet<TargetArn>)> = Vec::new();
    for Sent { target, listed, .. } in &sent {
        match by_listed.iter_mut().find(|(l, _)| *l == *listed) {
            Some((_, wanted)) => drop(wanted.insert(target.clone())),
            None => by_listed.push((listed, HashSet::from([target.clone()]))),
        }
    }
    let mut ended: HashMap<TargetArn, DateTime<Utc>> = HashMap::new();
    for (listed, wanted) in &by_listed {
        match calls.executions.list_stopped(calls.reach, listed, wanted, calls.deadline).await {
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
