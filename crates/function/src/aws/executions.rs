//! The one facade over both services' executions, so "which adapter serves this target" is written once: Step
//! Functions for its executions and state machines, Lambda for durable executions and functions.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use stop_gateway_core::domain::failure::StopError;
use stop_gateway_core::domain::outcome::{ExecutionState, StopText};
use stop_gateway_core::domain::target::{Service, TargetArn};
use tokio::time::Instant;

use super::durable::DurableAdapter;
use super::listing::Listed;
use super::reach::Reach;
use super::sfn::SfnAdapter;

/// Both services' executions.
pub struct Executions {
    sfn: SfnAdapter,
    durable: DurableAdapter,
}

impl Executions {
    /// The two adapters.
    pub fn new(sfn: SfnAdapter, durable: DurableAdapter) -> Self {
        Executions { sfn, durable }
    }

    /// An execution's status.
    pub async fn describe(
        &self,
        reach: &Reach,
        target: &TargetArn,
        deadline: Instant,
    ) -> Result<ExecutionState, StopError> {
        match target.service() {
            Service::StepFunctions => self.sfn.describe(reach, target, deadline).await,
            Service::Lambda => self.durable.describe(reach, target, deadline).await,
        }
    }

    /// One stop call, with the text's error and cause (`text`), or with neither (`None`: Step Functions only,
    /// after a stop with them was refused over the execution's KMS key; a durable stop always carries them).
    /// The stop time the service reported, if plausible.
    pub async fn stop(
        &self,
        reach: &Reach,
        target: &TargetArn,
        text: &StopText<'_>,
        with_text: bool,
        deadline: Instant,
    ) -> Result<Option<DateTime<Utc>>, StopError> {
        match target.service() {
            Service::StepFunctions => self.sfn.stop(reach, target, with_text.then_some(text), deadline).await,
            Service::Lambda => self.durable.stop(reach, target, text, deadline).await,
        }
    }

    /// Every stoppable execution of a state machine or function.
    pub async fn list_running(
        &self,
        reach: &Reach,
        target: &TargetArn,
        deadline: Instant,
    ) -> Result<Vec<Listed>, StopError> {
        match target.service() {
            Service::StepFunctions => self.sfn.list_running(reach, target, deadline).await,
            Service::Lambda => self.durable.list_running(reach, target, deadline).await,
        }
    }

    /// Of `wanted` (the oldest of which started at `oldest`, when known), those a list of `listed`'s stopped
    /// executions shows (ABORTED or STOPPED), with their end times.
    pub async fn list_stopped(
        &self,
        reach: &Reach,
        listed: &TargetArn,
        (wanted, oldest): (&HashSet<TargetArn>, Option<DateTime<Utc>>),
        deadline: Instant,
    ) -> Result<HashMap<TargetArn, DateTime<Utc>>, StopError> {
        match listed.service() {
            Service::StepFunctions => self.sfn.list_aborted(reach, listed, (wanted, oldest), deadline).await,
            Service::Lambda => self.durable.list_stopped(reach, listed, wanted, deadline).await,
        }
    }
}
