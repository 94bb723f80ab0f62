//! What the list calls return, shared by both services' adapters: the executions a list names (each parsed, or
//! logged and left out), and the reader that confirms a bulk stop's stops from a list of ended executions.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use stop_gateway_core::domain::status::ExecutionStatus;
use stop_gateway_core::domain::target::TargetArn;

use super::pacing::Api;

/// The most executions one list page returns (`ListExecutions`, `ListDurableExecutionsByFunction`).
pub(crate) const LIST_PAGE: usize = 1000;

/// The most pages a confirming list reads down to the oldest wanted start: 50 000 executions, half of
/// `ListExecutions`' default burst in the large regions.
const MAX_CONFIRM_PAGES: usize = 50;

/// Reads, page by page, which of the `wanted` executions (those a bulk stop just stopped) a list of stopped
/// executions shows, with their end times. A state machine or function may have a long history of stopped
/// executions, so the reading stops early; what it does not find is left to a describe.
///
/// Where the list is ordered by start, newest first, and the wanted executions' start times are known
/// (`oldest`), it reads down to the oldest of them: a retry's stops sit behind every execution the earlier
/// invocations stopped (which started later), so no count of pages fits both. Otherwise it reads at most a page
/// more than `wanted` could fill.
pub(crate) struct Confirming<'a> {
    wanted: &'a HashSet<TargetArn>,
    found: HashMap<TargetArn, DateTime<Utc>>,
    pages_left: usize,
    oldest: Option<DateTime<Utc>>,
    passed_oldest: bool,
}

impl<'a> Confirming<'a> {
    /// A reader for `wanted`, the oldest of which started at `oldest` when that is known and the list is
    /// ordered by start, newest first.
    pub(crate) fn new(wanted: &'a HashSet<TargetArn>, oldest: Option<DateTime<Utc>>) -> Self {
        let pages_left = match oldest {
            Some(_) => MAX_CONFIRM_PAGES,
            None => wanted.len() / LIST_PAGE + 2,
        };
        Confirming { wanted, found: HashMap::new(), pages_left, oldest, passed_oldest: false }
    }

    /// Takes one page of (execution ARN, start time, end time); whether another page is worth reading.
    pub(crate) fn page<'i>(
        &mut self,
        items: impl Iterator<Item = (&'i str, Option<DateTime<Utc>>, Option<DateTime<Utc>>)>,
    ) -> bool {
        for (arn, started, ended) in items {
            if let (Some(oldest), Some(started)) = (self.oldest, started)
                && started < oldest
            {
                self.passed_oldest = true;
            }
            if let (Ok(arn), Some(ended)) = (TargetArn::parse(arn), ended)
                && self.wanted.contains(&arn)
            {
                self.found.insert(arn, ended);
            }
        }
        self.pages_left -= 1;
        self.found.len() < self.wanted.len() && self.pages_left > 0 && !self.passed_oldest
    }

    /// Whether no wanted execution was found yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// The wanted executions the list showed, with their end times.
    pub(crate) fn found(self) -> HashMap<TargetArn, DateTime<Utc>> {
        self.found
    }
}

/// An execution a list call returned, with the status the list reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The execution.
    pub target: TargetArn,
    /// Its status when listed (running; for durable executions also pausing or paused).
    pub status: ExecutionStatus,
    /// When it started, where its service's list is ordered by start (Step Functions), so that a confirming
    /// list knows how far down to read.
    pub started: Option<DateTime<Utc>>,
}

/// Adds the executions a list call returned, as target ARNs with their listed status and start. An ARN the
/// gateway refuses is one it would never stop, so it is logged rather than dropped silently.
pub(crate) fn collect_listed<'a>(
    api: Api,
    listed: impl Iterator<Item = (&'a str, ExecutionStatus, Option<DateTime<Utc>>)>,
    into: &mut Vec<Listed>,
) {
    for (arn, status, started) in listed {
        match TargetArn::parse(arn) {
            Ok(target) => into.push(Listed { target, status, started }),
            Err(err) => tracing::warn!(api = api.name(), error = %err, "a listed execution ARN is not accepted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACHINE: &str = "arn:aws:states:us-east-1:111122223333:execution:orders-fleet";

    fn arn(name: &str) -> String {
        format!("{MACHINE}:{name}")
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    /// A list item: the execution ARN, its start and its end.
    type Item = (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

    /// A page of `count` executions named `prefix-N`, all started at `started` and ended.
    fn page(prefix: &str, count: usize, started: i64) -> Vec<Item> {
        (0..count).map(|i| (arn(&format!("{prefix}-{i}")), Some(at(started)), Some(at(started + 1)))).collect()
    }

    fn read(confirming: &mut Confirming<'_>, items: &[Item]) -> bool {
        confirming.page(items.iter().map(|(arn, started, ended)| (arn.as_str(), *started, *ended)))
    }

    fn wanted(names: &[&str]) -> HashSet<TargetArn> {
        names.iter().map(|n| TargetArn::parse(&arn(n)).unwrap()).collect()
    }

    #[test]
    fn a_retrys_stops_are_found_behind_every_execution_the_earlier_invocations_stopped() {
        // The first invocation stopped the 6 000 newest; the retry stopped the two oldest, which the list of
        // ABORTED executions (newest start first) shows only on its seventh page.
        let wanted = wanted(&["old-0", "old-1"]);
        let mut confirming = Confirming::new(&wanted, Some(at(100)));
        for n in 0..6 {
            assert!(read(&mut confirming, &page(&format!("earlier{n}"), LIST_PAGE, 200 - n)), "page {n}");
        }
        assert!(!read(&mut confirming, &page("old", 2, 100)), "both found: no further page");
        assert_eq!(confirming.found().len(), 2);
    }

    #[test]
    fn reading_stops_at_the_first_execution_older_than_every_wanted_one() {
        let wanted = wanted(&["gone"]);
        let mut confirming = Confirming::new(&wanted, Some(at(100)));
        assert!(read(&mut confirming, &page("newer", 3, 150)), "still newer than the oldest wanted");
        let mut older = page("newer-still", 1, 120);
        older.extend(page("older", 1, 90));
        assert!(!read(&mut confirming, &older), "nothing wanted can follow an older start");
        assert!(confirming.found().is_empty(), "what was not found is left to a describe");
    }

    #[test]
    fn without_starts_it_reads_a_page_more_than_the_wanted_could_fill() {
        let wanted = wanted(&["w"]);
        let mut confirming = Confirming::new(&wanted, None);
        assert!(read(&mut confirming, &page("other", LIST_PAGE, 200)));
        assert!(!read(&mut confirming, &page("another", LIST_PAGE, 150)), "two pages for fewer than a page wanted");
    }
}
