//! The stop flow, behind the one entry the handler calls ([`StopFlow::handle`]): a parsed stop request, or a
//! latch check, under the policy in force, comes back as the requests it settled, one per audit record.
//!
//! The flow is split by idea: [`decide`](decide) (the policy for every target), ensure-stopped (describe, stop,
//! confirm: `ensure`), bulk stops (expand, admit, cap, run, confirm: `bulk`) and the latch (CloudWatch read →
//! domain latch → requests: `latch`). It knows the adapters through the one facade over both services
//! (`aws::executions`) and builds each request's reach of accounts; no serde, no Lambda runtime types.

mod bulk;
mod decide;
mod ensure;
mod latch;

use stop_gateway_core::domain::audit::Facts;
use stop_gateway_core::domain::aws_ids::AccountId;
use stop_gateway_core::domain::outcome::{Handled, Outcome};
use stop_gateway_core::domain::policy::Policy;
use stop_gateway_core::domain::request::{LatchCheck, Parsed, StopRequest};
use stop_gateway_core::domain::target::TargetArn;
use stop_gateway_core::error::Failure;
use stop_gateway_core::policy_doc::LoadedPolicy;
use tokio::time::Instant;

use crate::aws::alarms::AlarmWatch;
use crate::aws::executions::Executions;
use crate::aws::reach::Accounts;
use crate::config::BulkSettings;
use bulk::{BulkRun, bulk_stop};
use decide::{Decided, decide};
use ensure::Calls;
use latch::{LatchPlan, plan};

/// One request an invocation comes to, with its own audit id: exactly one, except for a sweep, which makes one
/// per latching alarm in ALARM.
#[derive(Debug)]
pub struct Settled {
    /// The request's audit id.
    pub audit_id: String,
    /// What was learned of it, for its audit record.
    pub facts: Facts,
    /// What it came to.
    pub handled: Handled<Failure>,
}

impl Settled {
    /// A request that never reached the policy: refused at the door, ignored, or failed before.
    pub fn without_decision(facts: Facts, result: Result<Outcome, Failure>, dry_run: bool) -> Settled {
        Settled { audit_id: new_audit_id(), facts, handled: Handled::without_decision(result, dry_run) }
    }
}

/// A fresh audit id (UUIDv7: time-ordered).
pub fn new_audit_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The stop flow: both services' executions, the alarm reader for the latch, the accounts requests may reach,
/// and how bulk stops run. The policy in force and the function's own account come with each request.
pub struct StopFlow {
    executions: Executions,
    alarms: AlarmWatch,
    accounts: Accounts,
    bulk: BulkSettings,
}

impl StopFlow {
    /// Assembles the flow from parts built once at start-up.
    pub fn new(executions: Executions, alarms: AlarmWatch, accounts: Accounts, bulk: BulkSettings) -> Self {
        StopFlow { executions, alarms, accounts, bulk }
    }

    /// The same flow reading alarms with `alarms` (tests swap the CloudWatch client).
    pub fn with_alarms(self, alarms: AlarmWatch) -> Self {
        StopFlow { alarms, ..self }
    }

    /// Settles what a door asked, under `policy`: a stop request, a latch check, or a change that asks nothing.
    /// `home` is the function's own account, as Lambda names it in this invocation; `deadline` is when the
    /// invocation must have answered.
    pub async fn handle(
        &self,
        parsed: Parsed,
        policy: &LoadedPolicy,
        facts: Facts,
        home: Option<&AccountId>,
        deadline: Instant,
    ) -> Vec<Settled> {
        match parsed {
            Parsed::Stop(request) => {
                let audit_id = new_audit_id();
                let handled = self.stop_targets(&policy.policy, &request, &audit_id, home, deadline).await;
                vec![Settled { audit_id, facts, handled: handled.map_err(Failure::Stop) }]
            }
            Parsed::Latch(check) => self.latch(&check, policy, facts, home, deadline).await,
            Parsed::Ignore(reason) => vec![Settled::without_decision(facts, Ok(Outcome::Ignored { reason }), false)],
        }
    }

    /// Decides for every target, then makes sure they are stopped (or reports why not). Every call acts in the
    /// accounts this request reaches: its own with the function's credentials, others through the policy's role
    /// for each, in a session named for `audit_id`.
    pub async fn stop_targets(
        &self,
        policy: &Policy,
        request: &StopRequest,
        audit_id: &str,
        home: Option<&AccountId>,
        deadline: Instant,
    ) -> Handled {
        let Decided { allowed, decision, dry_run } = match decide(policy, request) {
            Ok(decided) => decided,
            Err(refused) => return *refused,
        };
        let decision = Some(decision);
        // Every target's account must be reachable before anything is called: one without a role is refused,
        // and a role that cannot be assumed is reported as such, naming it.
        let accounts = request.targets.iter().map(TargetArn::account);
        let reach = match self.accounts.reach(home, &policy.accounts, accounts, audit_id, deadline).await {
            Ok(reach) => reach,
            Err(err) => return Handled { decision, dry_run, result: Err(err) },
        };
        let calls = Calls { executions: &self.executions, reach: &reach, deadline };
        let caller = request.caller.to_string();
        let result = match allowed.as_slice() {
            [single] if !single.target.is_bulk() => {
                let text = single.text(request, &caller, audit_id);
                calls.ensure_stopped(single.target, &text, single.kms_fallback, dry_run).await
            }
            _ => {
                let run = BulkRun { policy, request, caller: &caller, audit_id, dry_run, calls, settings: self.bulk };
                bulk_stop(&run, &allowed).await.map(Outcome::Bulk)
            }
        };
        Handled { decision, dry_run, result }
    }

    async fn latch(
        &self,
        check: &LatchCheck,
        policy: &LoadedPolicy,
        facts: Facts,
        home: Option<&AccountId>,
        deadline: Instant,
    ) -> Vec<Settled> {
        let (stops, failures, read_at) = match plan(&self.alarms, check, policy, home, deadline).await {
            LatchPlan::Answer(result) => {
                return vec![Settled::without_decision(facts, result.map_err(Failure::Stop), false)];
            }
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
            let handled = handled.map_err(Failure::Stop);
            settled.push(Settled { audit_id, facts: Facts::from_request(stop, &facts), handled });
        }
        let failed = failures.into_iter().map(|err| Settled::without_decision(facts.clone(), Err(err.into()), false));
        settled.extend(failed);
        if sweep
            && complete
            && let Some(first) = settled.first()
        {
            self.alarms.swept(read_at, &policy.version.sha256, &first.audit_id).await;
        }
        settled
    }
}
