//! What the list calls return, shared by both services' adapters: the executions a list names (each parsed, or
//! logged and left out), and the reader that confirms a bulk stop's stops from a list of ended executions.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use stop_gateway_core::domain::status::ExecutionStatus;
use stop_gateway_core::domain::target::TargetArn;

use super::pacing::Api;

/// The most executions one list page returns (`ListExecutions`, `ListDurableExecutionsByFunction`).
pub(crate) const LIST_PAGE: usize = 1000;

/// Reads, page by page, which of the `wanted` executions (those a bulk stop just stopped) a list of stopped
/// executions shows, with their end times. A state machine or function may have a long history of stopped
/// executions, so it reads at most a page more than `wanted` could fill; what it does not find is left to a
/// describe.
pub(crate) struct Confirming<'a> {
    wanted: &'a HashSet<TargetArn>,
    found: HashMap<TargetArn, DateTime<Utc>>,
    pages_left: usize,
}

impl<'a> Confirming<'a> {
    pub(crate) fn new(wanted: &'a HashSet<TargetArn>) -> Self {
        Confirming { wanted, found: HashMap::new(), pages_left: wanted.len() / LIST_PAGE + 2 }
    }

    /// Takes one page of (execution ARN, end time); whether another page is worth reading.
    pub(crate) fn page<'i>(&mut self, items: impl Iterator<Item = (&'i str, Option<DateTime<Utc>>)>) -> bool {
        for (arn, ended) in items {
            if let (Ok(arn), Some(ended)) = (TargetArn::parse(arn), ended)
                && self.wanted.contains(&arn)
            {
                self.found.insert(arn, ended);
            }
        }
        self.pages_left -= 1;
        self.found.len() < self.wanted.len() && self.pages_left > 0
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
}

/// Adds the executions a list call returned, as target ARNs with their listed status. An ARN the gateway
/// refuses is one it would never stop, so it is logged rather than dropped silently.
pub(crate) fn collect_listed<'a>(
    api: Api,
    listed: impl Iterator<Item = (&'a str, ExecutionStatus)>,
    into: &mut Vec<Listed>,
) {
    for (arn, status) in listed {
        match TargetArn::parse(arn) {
            Ok(target) => into.push(Listed { target, status }),
            Err(err) => tracing::warn!(api = api.name(), error = %err, "a listed execution ARN is not accepted"),
        }
    }
}
