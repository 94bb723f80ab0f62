//! Adapters: the only code that knows the AWS SDK. Each owns SDK clients and speaks domain types and
//! [`StopError`](crate::error::StopError) to the rest of the gateway.
//!
//! Our code decides what to call and when (describe first, one stop attempt, a describe before any resend,
//! pacing, the deadline); the SDK decides how (credentials, signing, endpoint rules, retries of reads, error
//! models). Clients are built once from one shared `SdkConfig`, per region on first use.

pub mod alarms;
pub mod audit_bus;
pub mod durable;
pub mod errors;
pub mod pacing;
pub mod reach;
pub mod regional;
pub mod sdk;
pub mod sfn;
pub mod ssm;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::domain::target::TargetArn;

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
    /// Its status when listed (`RUNNING`; for durable executions also `PAUSING` or `PAUSED`).
    pub status: String,
}

/// Adds the executions a list call returned, as target ARNs with their listed status. An ARN the gateway
/// refuses is one it would never stop, so it is logged rather than dropped silently.
pub(crate) fn collect_listed<'a>(
    api: pacing::Api,
    listed: impl Iterator<Item = (&'a str, &'a str)>,
    into: &mut Vec<Listed>,
) {
    for (arn, status) in listed {
        match TargetArn::parse(arn) {
            Ok(target) => into.push(Listed { target, status: status.to_owned() }),
            Err(err) => tracing::warn!(api = api.name(), error = %err, "a listed execution ARN is not accepted"),
        }
    }
}
