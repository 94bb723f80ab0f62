//! One drill, from start to verdict: start a canary execution (durable: and see it on the function's unqualified
//! list, or `listed` fails), ask the gateway to stop it through the door, then
//! watch until the deadline: the execution's status, and the audit records about it on the queue. A refusal in a
//! record fails `request` at once; no stop by the deadline fails `stopped`; then exactly one record, saying
//! `stopped`, or `audit` fails; then the stop's cause must name that record, or `cause` fails.

use std::time::Duration;

use tokio::time::Instant;

use crate::audit_queue::AuditQueue;
use crate::aws::Aws;
use crate::canary::{Canary, Status};
use crate::config::DrillConfig;
use crate::door::{DOOR_NAME, request_stop};
use crate::record::{AuditRecord, add_once, cause_names, error_data_names, is_refusal, the_one_record};
use crate::report::Report;
use crate::step::{Failure, Step, Verdict};

/// How long to keep reading the queue once the stop and a record were both seen: a second record for the same
/// stop (a retried request) arrives about as fast as the first, and must be seen to be refused.
const SETTLE: Duration = Duration::from_secs(2);
/// Time a record still gets after a stop seen near (or after) the deadline: the bus delivers the record after the
/// stop, so a late stop must not fail `audit` for want of time.
const AUDIT_GRACE: Duration = Duration::from_secs(10);
/// Pause between looks (besides the queue's own second of long polling).
const POLL: Duration = Duration::from_millis(250);
/// How long the unqualified list gets to show a just-started durable execution: the list is eventually
/// consistent, so a miss is retried this long (never past the drill's deadline) before `listed` fails.
const LIST_BOUND: Duration = Duration::from_secs(10);
/// Pause between two looks at the unqualified list.
const LIST_PAUSE: Duration = Duration::from_secs(1);

/// Runs one drill of every configured canary, side by side (they share the audit queue), in the configured
/// order.
pub async fn run_all(aws: &Aws, config: &DrillConfig) -> Vec<Report> {
    futures_util::future::join_all(config.canaries.iter().map(|canary| run(aws, config, canary))).await
}

/// Runs one drill of `canary` through the configured door.
pub async fn run(aws: &Aws, config: &DrillConfig, canary: &Canary) -> Report {
    let drill_id = uuid::Uuid::now_v7().to_string();
    let mut report = Report {
        canary: canary.kind(),
        door: DOOR_NAME,
        drill_id: drill_id.clone(),
        execution_arn: None,
        audit_id: None,
        verdict: Ok(()),
    };
    report.verdict = drive(aws, config, canary, &mut report).await;
    report
}

async fn drive(aws: &Aws, config: &DrillConfig, canary: &Canary, report: &mut Report) -> Verdict {
    let name = format!("fire-drill-{}", report.drill_id);
    let arn = canary.start(aws, &name).await.map_err(|why| Failure::at(Step::Start, why))?;
    report.execution_arn = Some(arn.clone());
    listed(aws, canary, &arn, LIST_BOUND.min(config.deadline)).await?;
    request_stop(aws, &config.door, &arn, &report.drill_id).await.map_err(|why| Failure::at(Step::Request, why))?;
    let seen = watch(aws, config, canary, &arn).await;
    report.audit_id = seen.records.first().map(|r| r.audit_id.clone());
    let records = seen.verdict?;
    let record = the_one_record(&records)?;
    let evidence = canary.stop_evidence(aws, &arn).await.map_err(|why| Failure::at(Step::Cause, why))?;
    names_the_record(canary, evidence.as_deref(), &record.audit_id)
}

/// The `listed` step (durable canaries; a state machine passes it without a call): lists the function's running
/// executions without a qualifier until `arn` shows, for at most `bound`, each look bounded by what is left.
async fn listed(aws: &Aws, canary: &Canary, arn: &str, bound: Duration) -> Verdict {
    let Some(function) = canary.unqualified_function() else {
        return Ok(());
    };
    let until = Instant::now() + bound;
    let seen = loop {
        let left = until.saturating_duration_since(Instant::now());
        let seen = match tokio::time::timeout(left, canary.lists_running(aws, arn)).await {
            Ok(seen) => seen,
            Err(_) => Err(format!("ListDurableExecutionsByFunction: no answer within {}s", bound.as_secs())),
        };
        if seen == Ok(true) || Instant::now() + LIST_PAUSE >= until {
            break seen;
        }
        tokio::time::sleep(LIST_PAUSE).await;
    };
    if seen == Ok(false) {
        // A list of RUNNING executions rightly leaves out one that already ended: no fault of the list.
        let ended = match canary.status(aws, arn).await {
            Ok(Status::Stopped) => Some("STOPPED".to_owned()),
            Ok(Status::Ended(status)) => Some(status),
            Ok(Status::Running) | Err(_) => None,
        };
        if let Some(status) = ended {
            let why = format!("the canary execution ended {status} before the drill asked for it to be stopped");
            return Err(Failure::at(Step::Stopped, why));
        }
    }
    on_the_list(function, arn, seen, bound)
}

/// The `listed` verdict on what the unqualified list of `function` last said about the running execution `arn`
/// after `waited`: on it, not on it, or no answer. Each failure says what it means for the gateway.
pub fn on_the_list(function: &str, arn: &str, seen: Result<bool, String>, waited: Duration) -> Verdict {
    let why = match seen {
        Ok(true) => return Ok(()),
        Ok(false) => format!(
            "ListDurableExecutionsByFunction of {function} without a qualifier did not show the running execution \
             {arn} within {}s: the unqualified list does not cover every version, so the gateway's stops of the \
             whole function (its unqualified ARN) would miss executions running on published versions",
            waited.as_secs()
        ),
        Err(why) => format!(
            "could not list {function}'s running durable executions without a qualifier, which the gateway's stops \
             of the whole function rely on: {why}"
        ),
    };
    Err(Failure::at(Step::Listed, why))
}

/// What the watch saw: the records about the execution, and whether the stop and request steps held.
struct Seen {
    records: Vec<AuditRecord>,
    verdict: Result<Vec<AuditRecord>, Failure>,
}

/// Watches the execution and the queue until the verdict on `request` and `stopped` is known.
async fn watch(aws: &Aws, config: &DrillConfig, canary: &Canary, arn: &str) -> Seen {
    let queue = AuditQueue::new(&config.audit_queue_url);
    let deadline = Instant::now() + config.deadline;
    let (mut records, mut stopped_at, mut trouble) = (Vec::new(), None, None);
    let verdict = loop {
        match queue.take_own(aws, arn).await {
            Ok(own) => own.into_iter().for_each(|r| add_once(&mut records, r)),
            Err(why) => trouble = Some(why),
        }
        if let Some(refused) = records.iter().find(|r| is_refusal(&r.outcome)) {
            break Err(Failure::at(Step::Request, format!("the gateway refused the stop: {}", refused.describe())));
        }
        if stopped_at.is_none() {
            match canary.status(aws, arn).await {
                Ok(Status::Stopped) => stopped_at = Some(Instant::now()),
                Ok(Status::Ended(status)) => {
                    break Err(Failure::at(Step::Stopped, format!("the canary execution ended {status}, not stopped")));
                }
                Ok(Status::Running) => {}
                Err(why) => trouble = Some(why),
            }
        }
        let now = Instant::now();
        match stopped_at {
            Some(at) if !records.is_empty() && now >= at + SETTLE => break Ok(records.clone()),
            Some(at) if now >= deadline.max(at + AUDIT_GRACE) => break Ok(records.clone()),
            None if now >= deadline => break Err(not_stopped(config.deadline, &records, trouble.as_deref())),
            _ => tokio::time::sleep(POLL).await,
        }
    };
    Seen { records, verdict }
}

/// The `stopped` failure: still running at the deadline, with what the gateway said (its last record), or that
/// it said nothing at all.
fn not_stopped(deadline: Duration, records: &[AuditRecord], trouble: Option<&str>) -> Failure {
    let said = match records.last() {
        Some(record) => format!("the gateway answered {}", record.describe()),
        None => "no audit record for it arrived: is the gateway receiving Stop Requested events?".to_owned(),
    };
    let trouble = trouble.map(|t| format!("; last error: {t}")).unwrap_or_default();
    Failure::at(
        Step::Stopped,
        format!("the canary execution was not stopped within {}s; {said}{trouble}", deadline.as_secs()),
    )
}

/// The `cause` step: the stop's cause (durable: `ErrorData`) names the drill's audit record.
pub fn names_the_record(canary: &Canary, evidence: Option<&str>, audit_id: &str) -> Verdict {
    let (named, place) = match canary {
        Canary::StateMachine { .. } => (evidence.is_some_and(|c| cause_names(c, audit_id)), "ExecutionAborted cause"),
        Canary::Durable { .. } => (evidence.is_some_and(|d| error_data_names(d, audit_id)), "ErrorData"),
    };
    if named {
        return Ok(());
    }
    let seen = match evidence {
        Some(text) => format!("it reads {:?}", text.chars().take(300).collect::<String>()),
        None => "there is none".to_owned(),
    };
    Err(Failure::at(Step::Cause, format!("the stop's {place} does not name audit id {audit_id}: {seen}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_step_reads_the_place_each_service_keeps_it() {
        let machine = Canary::state_machine("arn:aws:states:us-east-1:123456789012:stateMachine:c").unwrap();
        let durable = Canary::durable("arn:aws:lambda:us-east-1:123456789012:function:c:live").unwrap();
        assert_eq!(names_the_record(&machine, Some("r\n\n[stop-gateway] ...; audit id a-1"), "a-1"), Ok(()));
        assert_eq!(names_the_record(&durable, Some(r#"{"auditId":"a-1"}"#), "a-1"), Ok(()));
        let none = names_the_record(&machine, None, "a-1").unwrap_err();
        assert_eq!(none.step, Step::Cause);
        assert!(none.why.contains("ExecutionAborted cause does not name audit id a-1: there is none"), "{}", none.why);
        let other = names_the_record(&durable, Some(r#"{"auditId":"a-2"}"#), "a-1").unwrap_err();
        assert!(other.why.contains("ErrorData does not name audit id a-1"), "{}", other.why);
    }

    #[test]
    fn listed_passes_only_when_the_unqualified_list_shows_the_execution() {
        let function = "arn:aws:lambda:us-east-1:123456789012:function:c";
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:c:1/durable-execution/fire-drill-d/e";
        let ten = Duration::from_secs(10);
        assert_eq!(on_the_list(function, arn, Ok(true), ten), Ok(()));
        let missed = on_the_list(function, arn, Ok(false), ten).unwrap_err();
        assert_eq!(missed.step, Step::Listed);
        assert!(
            missed.why.starts_with(&format!(
                "ListDurableExecutionsByFunction of {function} without a qualifier did not show the running \
                 execution {arn} within 10s"
            )) && missed.why.ends_with(
                "the gateway's stops of the whole function (its unqualified ARN) would miss executions running on \
                 published versions"
            ),
            "{}",
            missed.why
        );
        let refused = on_the_list(function, arn, Err("ListDurableExecutionsByFunction: AccessDenied".into()), ten);
        let refused = refused.unwrap_err();
        assert_eq!(refused.step, Step::Listed);
        assert!(refused.why.ends_with("rely on: ListDurableExecutionsByFunction: AccessDenied"), "{}", refused.why);
    }

    #[test]
    fn not_stopped_quotes_the_gateways_last_answer_or_its_silence() {
        let record = AuditRecord {
            audit_id: "a-1".to_owned(),
            target_arn: "t".to_owned(),
            outcome: "upstream_error".to_owned(),
            message: Some("AccessDenied".to_owned()),
        };
        let answered = not_stopped(Duration::from_secs(60), &[record], None);
        assert_eq!(answered.step, Step::Stopped);
        assert!(
            answered.why.ends_with("the gateway answered upstream_error (AccessDenied), audit id a-1"),
            "{}",
            answered.why
        );
        let silent = not_stopped(Duration::from_secs(60), &[], Some("ReceiveMessage: timeout"));
        assert!(
            silent.why.contains("no audit record for it arrived")
                && silent.why.ends_with("last error: ReceiveMessage: timeout")
        );
    }
}
