//! The stop flow: policy, then ensure-stopped against the right service, for one execution or many.
//!
//! Describe first, so a finished execution is reported as such instead of a fake success; stop only what is
//! running; and take nothing the stop call returns on faith (an implausible reply is confirmed by describing
//! again). State machines and functions expand into their running executions, each through that same path,
//! under the policy's blast-radius cap, with bounded concurrency and within the invocation's deadline. No serde,
//! no Lambda runtime types.

mod latch;

use latch::LatchPlan;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use futures_util::StreamExt;
use futures_util::stream;
use tokio::time::Instant;

use crate::aws::alarms::AlarmWatch;
use crate::aws::durable::DurableAdapter;
use crate::aws::errors::still_running;
use crate::aws::reach::{Accounts, Reach};
use crate::aws::sfn::SfnAdapter;
use crate::config::store::LoadedPolicy;
use crate::domain::audit::Facts;
use crate::domain::aws_ids::AccountId;
use crate::domain::outcome::{BulkReport, ExecutionResult, ExecutionState, Handled, Outcome, StopText};
use crate::domain::policy::{Decision, Policy, Subject};
use crate::domain::request::{LatchCheck, StopRequest};
use crate::domain::target::{TargetArn, TargetKind};
use crate::domain::text::ErrorCode;
use crate::error::{StopError, error_chain};

/// Stop calls per execution: each after a describe that found it still running.
const STOP_ATTEMPTS: u32 = 3;
/// How long a list's word that an execution is running is taken without a describe. Past it (a bulk stop that
/// had to wait for its quota this long), each execution is described first again.
const FRESH_LISTING: Duration = Duration::from_secs(10);
/// What a dry run reports for an execution named directly, which it does not describe.
const LISTED_STATUS: &str = "RUNNING";

/// What a list said about an execution (its status), and when.
type ListedAt = (String, Instant);

/// Where one execution of a bulk stop stands after its stop phase.
enum Stopping<'a> {
    /// Finished: stopped after a describe, found finished, or failed.
    Done(ExecutionResult),
    /// A stop was accepted without a describe first; a list (or a describe) confirms what it did.
    Sent(Sent<'a>),
}

/// A stop accepted without a describe first, waiting for its confirmation.
struct Sent<'a> {
    /// The execution.
    target: TargetArn,
    /// Its status when listed.
    status: String,
    /// The state machine or function whose list reported it running.
    listed: &'a TargetArn,
    /// Why it went without error and cause, if it had to.
    kms_fallback: Option<String>,
}

/// A stop's KMS fallback: whether the rule allows it, and why it was used, once it was.
struct Kms {
    allowed: bool,
    used: Option<String>,
}

/// How bulk stops run.
#[derive(Debug, Clone, Copy)]
pub struct BulkSettings {
    /// Executions handled at once.
    pub concurrency: usize,
    /// No execution is started when less than this is left before the invocation's deadline.
    pub deadline_margin: Duration,
}

impl Default for BulkSettings {
    /// 64 at once: a listed execution costs one stop call, so a fleet is contained in about
    /// ⌈executions / concurrency⌉ round trips; at 30–50 ms a call, 1 000 take about 0.5–0.9 s of waiting, where 16
    /// would take 2–3 s (`scripts/bench-bulk`). Pacing still keeps every call within the quotas.
    fn default() -> Self {
        BulkSettings { concurrency: 64, deadline_margin: Duration::from_secs(3) }
    }
}

/// One request an invocation comes to, with its own audit id: exactly one, except for a sweep, which makes one
/// per latching alarm in ALARM.
#[derive(Debug)]
pub struct Settled {
    /// The request's audit id.
    pub audit_id: String,
    /// What was learned of it, for its audit record.
    pub facts: Facts,
    /// What it came to.
    pub handled: Handled,
}

impl Settled {
    /// A request that never reached the policy: refused, ignored, or failed before.
    pub fn without_decision(facts: Facts, result: Result<Outcome, StopError>, dry_run: bool) -> Settled {
        Settled { audit_id: new_audit_id(), facts, handled: Handled::without_decision(result, dry_run) }
    }
}

/// A fresh audit id (UUIDv7: time-ordered).
pub fn new_audit_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The gateway: one adapter per target service, the alarm reader for the latch, and the accounts requests may
/// reach; the policy in force and the function's own account come with each request.
pub struct Gateway {
    sfn: SfnAdapter,
    durable: DurableAdapter,
    alarms: AlarmWatch,
    accounts: Accounts,
    bulk: BulkSettings,
}

/// One bulk stop's inputs, borrowed for its length.
#[derive(Clone, Copy)]
struct BulkRun<'a> {
    policy: &'a Policy,
    reach: &'a Reach,
    request: &'a StopRequest,
    caller: &'a str,
    audit_id: &'a str,
    dry_run: bool,
    deadline: Instant,
}

/// What the policy allowed for one target.
struct Allowed<'a> {
    target: &'a TargetArn,
    rule_id: String,
    error_code: ErrorCode,
    max_executions: usize,
    kms_fallback: bool,
}

impl<'a> Allowed<'a> {
    /// What a stop under this rule writes on the execution.
    fn text<'t>(&'t self, request: &'t StopRequest, caller: &'t str, audit_id: &'t str) -> StopText<'t> {
        StopText {
            error_code: &self.error_code,
            reason: &request.reason,
            caller,
            source: request.source.as_str(),
            audit_id,
            rule_id: &self.rule_id,
        }
    }
}

impl Gateway {
    /// Assembles the gateway from parts built once at start-up.
    pub fn new(
        sfn: SfnAdapter,
        durable: DurableAdapter,
        alarms: AlarmWatch,
        accounts: Accounts,
        bulk: BulkSettings,
    ) -> Self {
        Gateway { sfn, durable, alarms, accounts, bulk }
    }

    /// The same gateway reading alarms with `alarms` (tests swap the CloudWatch client).
    pub fn with_alarms(self, alarms: AlarmWatch) -> Self {
        Gateway { alarms, ..self }
    }

    /// Stops what the latching alarms in ALARM cover: the new execution of a status-change event, or, for a
    /// sweep, every target of every such alarm, one request per alarm. `home` is the function's own account:
    /// only its alarms latch. A latching alarm whose tags could not be read is a failed request of its own.
    pub async fn latch(
        &self,
        check: &LatchCheck,
        policy: &LoadedPolicy,
        facts: Facts,
        home: Option<&AccountId>,
        deadline: Instant,
    ) -> Vec<Settled> {
        let (stops, failures, read_at) = match latch::plan(&self.alarms, check, policy, home, deadline).await {
            LatchPlan::Answer(result) => return vec![Settled::without_decision(facts, result, false)],
            LatchPlan::Stop { stops, failures, read_at } => (stops, failures, read_at),
        };
        let sweep = matches!(check, LatchCheck::Sweep { .. });
        let complete = failures.is_empty();
        let mut settled = Vec::with_capacity(stops.len() + failures.len());
        for stop in &stops {
            let audit_id = new_audit_id();
            let mut handled = self.stop_targets(&policy.policy, stop, &audit_id, home, deadline).await;
            // A sweep that finds nothing running under an alarm asked nothing of a particular execution, so
            // nothing "had already ended": it is ignored.
            if let (true, Ok(Outcome::Bulk(report))) = (sweep, &handled.result)
                && report.executions.is_empty()
                && report.remaining.is_empty()
            {
                handled.result = Ok(Outcome::Ignored { reason: "nothing the alarm latches is running".into() });
            }
            settled.push(Settled { audit_id, facts: Facts::from_request(stop, &facts), handled });
        }
        settled.extend(failures.into_iter().map(|err| Settled::without_decision(facts.clone(), Err(err), false)));
        if sweep
            && complete
            && let Some(first) = settled.first()
        {
            self.alarms.swept(read_at, &policy.version.sha256, &first.audit_id).await;
        }
        settled
    }

    /// Decides for every target, then makes sure they are stopped (or reports why not). `home` is the function's
    /// own account, as Lambda names it in this invocation; `deadline` is when the invocation must have answered.
    /// Every call acts in the accounts this request reaches: its own with the function's credentials, others
    /// through the policy's role for each, in a session named for `audit_id`.
    pub async fn stop_targets(
        &self,
        policy: &Policy,
        request: &StopRequest,
        audit_id: &str,
        home: Option<&AccountId>,
        deadline: Instant,
    ) -> Handled {
        let mut allowed = Vec::with_capacity(request.targets.len());
        let mut first_allow = None;
        let mut dry_run = request.dry_run;
        for target in &request.targets {
            let decision = policy.evaluate(Subject {
                caller: &request.caller,
                target,
                reason: &request.reason,
                error_code: request.error_code.as_ref(),
            });
            match &decision {
                // One denied target denies the request: an alarm or tool pointed at something it may not
                // touch is a mistake to surface, not to half-execute.
                Decision::Deny { rationale, .. } => {
                    let result = Err(StopError::Denied(rationale.clone()));
                    return Handled { decision: Some(decision), dry_run: request.dry_run, result };
                }
                Decision::Allow {
                    rule_id, error_code, dry_run: policy_dry_run, max_executions, kms_fallback, ..
                } => {
                    dry_run |= *policy_dry_run;
                    allowed.push(Allowed {
                        target,
                        rule_id: rule_id.clone(),
                        error_code: error_code.clone(),
                        max_executions: *max_executions,
                        kms_fallback: *kms_fallback,
                    });
                }
            }
            first_allow.get_or_insert(decision);
        }
        let Some(decision) = first_allow else {
            let result = Err(StopError::InvalidRequest("the request names no target".into()));
            let decision = Some(Decision::Deny { rule_id: None, rationale: "no target".into() });
            return Handled { decision, dry_run, result };
        };
        let decision = Some(decision);
        if let Some(why) = request.targets.iter().find_map(TargetArn::not_stoppable_reason) {
            return Handled { decision, dry_run, result: Err(StopError::NotStoppable(why.to_owned())) };
        }
        // Every target's account must be reachable before anything is called: one without a role is refused,
        // and a role that cannot be assumed is reported as such, naming it.
        let accounts = request.targets.iter().map(TargetArn::account);
        let reach = match self.accounts.reach(home, &policy.accounts, accounts, audit_id, deadline).await {
            Ok(reach) => reach,
            Err(err) => return Handled { decision, dry_run, result: Err(err) },
        };
        let reach = &reach;
        let caller = request.caller.to_string();
        let result = match allowed.as_slice() {
            [single] if !single.target.is_bulk() => {
                let text = single.text(request, &caller, audit_id);
                self.ensure_stopped(reach, single.target, &text, single.kms_fallback, dry_run, deadline).await
            }
            _ => {
                let run = BulkRun { policy, reach, request, caller: &caller, audit_id, dry_run, deadline };
                self.bulk_stop(&run, &allowed).await.map(Outcome::Bulk)
            }
        };
        Handled { decision, dry_run, result }
    }

    async fn bulk_stop(&self, run: &BulkRun<'_>, allowed: &[Allowed<'_>]) -> Result<BulkReport, StopError> {
        let BulkRun { policy, reach, request, caller, audit_id, dry_run, deadline } = *run;
        // Expand every target into executions, remembering which rule allowed each. What a list returns is
        // admitted only if it is an execution of the listed target and the policy allows it on its own.
        let mut executions: Vec<(TargetArn, &Allowed<'_>, Option<ListedAt>)> = Vec::new();
        let mut refused = Vec::new();
        for a in allowed {
            let found = match a.target.kind() {
                TargetKind::StateMachine { .. } => self.sfn.list_running(reach, a.target, deadline).await?,
                TargetKind::Function { .. } => self.durable.list_running(reach, a.target, deadline).await?,
                _ => vec![],
            };
            let listed_at = Instant::now();
            let found = match a.target.is_bulk() {
                true => found.into_iter().map(|l| (l.target, Some((l.status, listed_at)))).collect(),
                false => vec![(a.target.clone(), None)],
            };
            for (execution, listed) in found {
                if executions.iter().any(|(e, ..)| *e == execution)
                    || refused.iter().any(|r: &ExecutionResult| r.target == execution)
                {
                    continue;
                }
                match admit(policy, request, a.target, &execution) {
                    Ok(()) => executions.push((execution, a, listed)),
                    Err(why) => {
                        tracing::warn!(execution = %execution, listed = %a.target, "{why}");
                        refused.push(ExecutionResult { target: execution, result: Err(StopError::Refused(why)) });
                    }
                }
            }
        }
        if dry_run {
            let mut report = BulkReport { executions: refused, remaining: vec![], dry_run: true };
            report.executions.extend(executions.into_iter().map(|(target, _, listed)| ExecutionResult {
                target,
                result: Ok(Outcome::DryRun {
                    previous_status: listed.map_or_else(|| LISTED_STATUS.to_owned(), |(status, _)| status),
                }),
            }));
            return Ok(report);
        }
        let limit = allowed.iter().map(|a| a.max_executions).min().unwrap_or(0);
        let count = executions.len();
        if count > limit && request.confirm_count != Some(count as u64) {
            return Err(StopError::BlastRadiusExceeded { count, limit });
        }
        let margin = self.bulk.deadline_margin;
        let results: Vec<Result<Stopping, TargetArn>> = stream::iter(executions)
            .map(|(target, a, listed)| async move {
                // Leave time to answer and audit; a retry picks up whatever is left.
                if Instant::now() + margin >= deadline {
                    return Err(target);
                }
                let text = a.text(request, caller, audit_id);
                // An execution a list has just reported running is stopped at once: describing each first would
                // bound the rate by the describe quota (a tenth of the stop burst). What the stop did is
                // confirmed afterwards, all at once, by a list.
                if let Some((status, _)) = listed.filter(|(_, at)| at.elapsed() < FRESH_LISTING) {
                    return Ok(self.stop_listed(reach, target, status, a, &text, deadline).await);
                }
                let result = self.ensure_stopped(reach, &target, &text, a.kms_fallback, false, deadline).await;
                Ok(Stopping::Done(ExecutionResult { target, result }))
            })
            .buffer_unordered(self.bulk.concurrency.max(1))
            .collect()
            .await;
        let mut report = BulkReport { executions: refused, dry_run: false, ..BulkReport::default() };
        let mut sent = Vec::new();
        for r in results {
            match r {
                Ok(Stopping::Done(done)) => report.executions.push(done),
                Ok(Stopping::Sent(stop)) => sent.push(stop),
                Err(left) => report.remaining.push(left),
            }
        }
        report.executions.extend(self.confirm(reach, sent, deadline).await);
        Ok(report)
    }

    /// Stops an execution a list has just reported running, without describing it first. A stop whose answer
    /// was lost may have happened, so it goes on through a describe like any other; every other answer is
    /// final here, and a sent stop is confirmed later with the rest.
    async fn stop_listed<'a>(
        &self,
        reach: &Reach,
        target: TargetArn,
        status: String,
        a: &'a Allowed<'a>,
        text: &StopText<'_>,
        deadline: Instant,
    ) -> Stopping<'a> {
        let mut fallback = None;
        loop {
            let sent = self.send_stop(reach, &target, text, fallback.is_some(), deadline).await;
            let result = match sent {
                Ok(_) => return Stopping::Sent(Sent { target, status, listed: a.target, kms_fallback: fallback }),
                Err(err @ StopError::KmsKeyUnusable { .. }) if a.kms_fallback && fallback.is_none() => {
                    let why = error_chain(&err);
                    tracing::warn!(execution = %target, error = %why, "stop refused over the execution's KMS key; sending it without error and cause");
                    fallback = Some(why);
                    continue;
                }
                Err(err) if err.may_have_acted() => {
                    let kms = Kms { allowed: a.kms_fallback, used: fallback };
                    self.after_lost_stop(reach, &target, status, text, kms, deadline).await
                }
                Err(err) => Err(err),
            };
            return Stopping::Done(ExecutionResult { target, result });
        }
    }

    /// After a stop whose answer was lost: stopped if a describe says it ended ABORTED or STOPPED, otherwise the
    /// describe-first path (which stops again only what is still running).
    async fn after_lost_stop(
        &self,
        reach: &Reach,
        target: &TargetArn,
        status: String,
        text: &StopText<'_>,
        kms: Kms,
        deadline: Instant,
    ) -> Result<Outcome, StopError> {
        let now = self.describe(reach, target, deadline).await?;
        if !now.stoppable {
            return Ok(finished_after_stop(status, now, kms.used));
        }
        self.ensure_stopped(reach, target, text, kms.allowed, false, deadline).await
    }

    /// Confirms the stops sent without a describe: one list per listed target of what ended ABORTED (Step
    /// Functions) or STOPPED (Lambda), and a describe for anything the list did not show, so an execution that
    /// finished on its own between the list and the stop is reported as `already_finished`, never as stopped.
    async fn confirm(&self, reach: &Reach, sent: Vec<Sent<'_>>, deadline: Instant) -> Vec<ExecutionResult> {
        let mut by_listed: Vec<(&TargetArn, HashSet<TargetArn>)> = Vec::new();
        for Sent { target, listed, .. } in &sent {
            match by_listed.iter_mut().find(|(l, _)| *l == *listed) {
                Some((_, wanted)) => {
                    wanted.insert(target.clone());
                }
                None => by_listed.push((listed, HashSet::from([target.clone()]))),
            }
        }
        let mut ended: HashMap<TargetArn, DateTime<Utc>> = HashMap::new();
        for (listed, wanted) in &by_listed {
            let found = match listed.kind() {
                TargetKind::StateMachine { .. } => self.sfn.list_aborted(reach, listed, wanted, deadline).await,
                _ => self.durable.list_stopped(reach, listed, wanted, deadline).await,
            };
            match found {
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
                        None => self.confirm_one(reach, &target, status, kms_fallback, deadline).await,
                    };
                    ExecutionResult { target, result }
                }
            })
            .buffer_unordered(self.bulk.concurrency.max(1))
            .collect()
            .await
    }

    /// What a describe shows about an execution this request sent an accepted stop to: stopped, finished some
    /// other way, or (implausibly) still running, which a retry settles.
    async fn confirm_one(
        &self,
        reach: &Reach,
        target: &TargetArn,
        status: String,
        kms_fallback: Option<String>,
        deadline: Instant,
    ) -> Result<Outcome, StopError> {
        let after = self.describe(reach, target, deadline).await?;
        if after.stoppable {
            return Err(still_running(target.service().display_name(), &after.status));
        }
        Ok(finished_after_stop(status, after, kms_fallback))
    }

    /// Describe, then stop only a running execution, and confirm what a stop reply does not prove. A stop
    /// refused over the execution's KMS key is sent once more without error and cause when `kms_fallback`
    /// allows it: the refusal is a definite answer (nothing was stopped), so this is not a resend of a stop
    /// that may have happened.
    async fn ensure_stopped(
        &self,
        reach: &Reach,
        target: &TargetArn,
        text: &StopText<'_>,
        kms_fallback: bool,
        dry_run: bool,
        deadline: Instant,
    ) -> Result<Outcome, StopError> {
        let before = self.describe(reach, target, deadline).await?;
        if !before.stoppable {
            return Ok(Outcome::AlreadyFinished { status: before.status });
        }
        if dry_run {
            return Ok(Outcome::DryRun { previous_status: before.status });
        }
        let mut attempt = 1;
        // Why the stop went without error and cause, once it has to.
        let mut fallback: Option<String> = None;
        let reported = loop {
            let sent = self.send_stop(reach, target, text, fallback.is_some(), deadline).await;
            match sent {
                Ok(reported) => break reported,
                Err(err @ StopError::KmsKeyUnusable { .. }) if kms_fallback && fallback.is_none() => {
                    let why = error_chain(&err);
                    tracing::warn!(execution = %target, error = %why, "stop refused over the execution's KMS key; sending it without error and cause");
                    fallback = Some(why);
                }
                // The stop's answer was lost (timeout, reset, 5xx): it may have happened. Stop calls make one
                // attempt each, so the only way to another stop is through a fresh describe: never twice.
                Err(err) if err.may_have_acted() => {
                    let now = self.describe(reach, target, deadline).await?;
                    if !now.stoppable {
                        return Ok(finished_after_stop(before.status, now, fallback));
                    }
                    if attempt == STOP_ATTEMPTS {
                        return Err(err);
                    }
                    tracing::info!(execution = %target, attempt, error = %err, "stop failed; still running, trying again");
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        };
        if let Some(stopped_at) = reported {
            return Ok(Outcome::Stopped { previous_status: before.status, stopped_at, kms_fallback: fallback });
        }
        // The service accepted the call but its reply proves nothing; ask again.
        self.confirm_one(reach, target, before.status, fallback, deadline).await
    }

    /// One stop call to the execution's service; `without_text` sends a Step Functions stop with neither error
    /// nor cause (after one was refused over the execution's KMS key).
    async fn send_stop(
        &self,
        reach: &Reach,
        target: &TargetArn,
        text: &StopText<'_>,
        without_text: bool,
        deadline: Instant,
    ) -> Result<Option<DateTime<Utc>>, StopError> {
        match (target.kind(), without_text) {
            (TargetKind::SfnExecution { .. }, false) => self.sfn.stop(reach, target, text, deadline).await,
            (TargetKind::SfnExecution { .. }, true) => self.sfn.stop_without_text(reach, target, deadline).await,
            _ => self.durable.stop(reach, target, text, deadline).await,
        }
    }

    async fn describe(
        &self,
        reach: &Reach,
        target: &TargetArn,
        deadline: Instant,
    ) -> Result<ExecutionState, StopError> {
        match target.kind() {
            TargetKind::SfnExecution { .. } => self.sfn.describe(reach, target, deadline).await,
            _ => self.durable.describe(reach, target, deadline).await,
        }
    }
}

/// Whether an execution a list returned for `listed` may be stopped: it must be one of `listed`'s own
/// executions (the gateway does not rely on the service listing only those), and the policy must allow it as if
/// it had been named directly.
fn admit(policy: &Policy, request: &StopRequest, listed: &TargetArn, execution: &TargetArn) -> Result<(), String> {
    if execution != listed && !execution.is_execution_of(listed) {
        return Err(format!("the list for {listed} returned {execution}, which is not one of its executions"));
    }
    let subject = Subject {
        caller: &request.caller,
        target: execution,
        reason: &request.reason,
        error_code: request.error_code.as_ref(),
    };
    match policy.evaluate(subject) {
        Decision::Allow { .. } => Ok(()),
        Decision::Deny { rationale, .. } => Err(format!("the policy does not allow stopping it: {rationale}")),
    }
}

/// What a describe after a stop attempt shows: stopped (by this request, or by someone at the same moment; the
/// execution was running when this request looked), or finished some other way.
fn finished_after_stop(previous_status: String, after: ExecutionState, kms_fallback: Option<String>) -> Outcome {
    match after.ended_at {
        Some(stopped_at) if is_stopped_status(&after.status) => {
            Outcome::Stopped { previous_status, stopped_at, kms_fallback }
        }
        _ => Outcome::AlreadyFinished { status: after.status },
    }
}

fn is_stopped_status(status: &str) -> bool {
    matches!(status, "ABORTED" | "STOPPED")
}
