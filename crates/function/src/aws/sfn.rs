//! AWS Step Functions: `DescribeExecution`, `StopExecution` and `ListExecutions` for standard executions.
//!
//! Knows the SDK and the domain; nothing about doors or the Lambda runtime. Every call goes through the one
//! call skeleton (this request's clients for the target's account and region, paced, cut at the deadline), and
//! every documented error of each operation maps to one outcome (tested with aws-smithy-mocks).

use std::collections::{HashMap, HashSet};

use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::SdkError;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
use aws_sdk_sfn::operation::list_executions::ListExecutionsError;
use aws_sdk_sfn::operation::stop_execution::StopExecutionError;
use aws_sdk_sfn::types::{ExecutionListItem, IncludedData};
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::errors::{log_mapped, refused, throttled, timestamp, upstream};
use super::listing::{Confirming, LIST_PAGE, Listed, collect_listed};
use super::pacing::Api;
use super::reach::Reach;
use super::regional::ServiceClients;
use stop_gateway_core::domain::failure::StopError;
use stop_gateway_core::domain::outcome::{ExecutionState, StopText};
use stop_gateway_core::domain::status::ExecutionStatus;
use stop_gateway_core::domain::target::{Service, TargetArn};

const SERVICE: &str = Service::StepFunctions.display_name();

/// Step Functions adapter over its clients in every account a request reaches.
pub struct SfnAdapter {
    clients: ServiceClients<Client>,
}

impl SfnAdapter {
    /// Wraps the clients.
    pub fn new(clients: ServiceClients<Client>) -> Self {
        SfnAdapter { clients }
    }

    /// Reads the execution's status.
    pub async fn describe(
        &self,
        reach: &Reach,
        target: &TargetArn,
        deadline: Instant,
    ) -> Result<ExecutionState, StopError> {
        let call = |client: Client| async move {
            // Status only: the gateway never needs input or output, and without them an encrypted execution's
            // describe needs no kms:Decrypt.
            let operation =
                client.describe_execution().execution_arn(target.to_string()).included_data(IncludedData::MetadataOnly);
            operation.send().await.map_err(|e| describe_error(target, e))
        };
        let out = self.clients.call(reach, target, Api::DescribeExecution, deadline, call).await?;
        Ok(ExecutionState { status: status(out.status()), ended_at: out.stop_date().and_then(timestamp) })
    }

    /// Stops the execution, with the text's error and cause, or (`text` is `None`) with neither: "A caller can
    /// stop an execution without using any KMS permissions in the execution role if the caller provides a null
    /// value for both error and cause fields" (StopExecution), only after a stop with them was refused over the
    /// execution's key. Returns the stop time the service reported, or `None` if the response carried no
    /// plausible timestamp (the caller then confirms with a describe).
    pub async fn stop(
        &self,
        reach: &Reach,
        target: &TargetArn,
        text: Option<&StopText<'_>>,
        deadline: Instant,
    ) -> Result<Option<DateTime<Utc>>, StopError> {
        let (error, cause) = (text.map(|t| t.error_code.as_str()), text.map(StopText::cause));
        let cause = cause.as_deref();
        let call = |client: Client| async move {
            let operation =
                client.stop_execution().execution_arn(target.to_string()).set_error(error.map(str::to_owned));
            operation.set_cause(cause.map(str::to_owned)).send().await.map_err(|e| stop_error(target, e))
        };
        let out = self.clients.call(reach, target, Api::StopExecution, deadline, call).await?;
        Ok(timestamp(out.stop_date()))
    }

    /// Every RUNNING execution of a state machine (or of a version or alias), following every page.
    pub async fn list_running(
        &self,
        reach: &Reach,
        machine: &TargetArn,
        deadline: Instant,
    ) -> Result<Vec<Listed>, StopError> {
        let mut executions = Vec::new();
        self.list(reach, machine, aws_sdk_sfn::types::ExecutionStatus::Running, deadline, |page| {
            let listed = page.iter().map(|e| (e.execution_arn(), status(e.status()), timestamp(e.start_date())));
            collect_listed(Api::ListExecutions, listed, &mut executions);
            true
        })
        .await?;
        Ok(executions)
    }

    /// Of `wanted` (executions of `machine` this request just stopped, the oldest of which started at
    /// `oldest`, when known), those Step Functions lists as ABORTED, with their stop dates. The list is ordered
    /// by start, newest first ("Results are sorted by time, with the most recent execution first"), so it is
    /// read down to the oldest wanted start and no further; whatever it does not find is left to a describe.
    pub async fn list_aborted(
        &self,
        reach: &Reach,
        machine: &TargetArn,
        (wanted, oldest): (&HashSet<TargetArn>, Option<DateTime<Utc>>),
        deadline: Instant,
    ) -> Result<HashMap<TargetArn, DateTime<Utc>>, StopError> {
        let mut confirming = Confirming::new(wanted, oldest);
        let read = self
            .list(reach, machine, aws_sdk_sfn::types::ExecutionStatus::Aborted, deadline, |page| {
                let items = page
                    .iter()
                    .map(|e| (e.execution_arn(), timestamp(e.start_date()), e.stop_date().and_then(timestamp)));
                confirming.page(items)
            })
            .await;
        // Pages read before a failure (the deadline, most likely) still confirm what they show.
        match read {
            Err(err) if confirming.is_empty() => Err(err),
            _ => Ok(confirming.found()),
        }
    }

    /// Lists `machine`'s executions in `status`, page by page, while `page` returns true.
    async fn list(
        &self,
        reach: &Reach,
        machine: &TargetArn,
        status: aws_sdk_sfn::types::ExecutionStatus,
        deadline: Instant,
        mut page: impl FnMut(&[ExecutionListItem]) -> bool,
    ) -> Result<(), StopError> {
        let mut token: Option<String> = None;
        loop {
            let (status, next) = (&status, token.as_deref());
            let call = |client: Client| async move {
                let operation = client
                    .list_executions()
                    .state_machine_arn(machine.to_string())
                    .status_filter(status.clone())
                    .max_results(LIST_PAGE as i32)
                    .set_next_token(next.map(str::to_owned));
                operation.send().await.map_err(|e| list_error(machine, e))
            };
            let out = self.clients.call(reach, machine, Api::ListExecutions, deadline, call).await?;
            token = out.next_token().map(str::to_owned);
            if !page(out.executions()) || token.is_none() {
                return Ok(());
            }
        }
    }
}

/// The domain's status, mapped once for Step Functions.
fn status(status: &aws_sdk_sfn::types::ExecutionStatus) -> ExecutionStatus {
    ExecutionStatus::parse(status.as_str())
}

/// `ExecutionDoesNotExist` and `InvalidArn` are answers about the target; KMS problems with the execution's
/// key are the account's to fix, except KMS throttling, which passes.
fn describe_error(target: &TargetArn, err: SdkError<DescribeExecutionError>) -> StopError {
    let mapped = match err.as_service_error() {
        Some(DescribeExecutionError::ExecutionDoesNotExist(_)) => StopError::NotFound(target.to_string()),
        Some(DescribeExecutionError::InvalidArn(_)) => {
            StopError::InvalidRequest("Step Functions rejected the target ARN as invalid".into())
        }
        Some(DescribeExecutionError::KmsThrottlingException(_)) => return throttled(SERVICE, err),
        Some(
            DescribeExecutionError::KmsAccessDeniedException(_) | DescribeExecutionError::KmsInvalidStateException(_),
        ) => return refused(SERVICE, err),
        _ => return upstream(SERVICE, err),
    };
    log_mapped(SERVICE, &mapped, &err);
    mapped
}

fn stop_error(target: &TargetArn, err: SdkError<StopExecutionError>) -> StopError {
    let mapped = match err.as_service_error() {
        Some(StopExecutionError::ExecutionDoesNotExist(_)) => StopError::NotFound(target.to_string()),
        Some(StopExecutionError::InvalidArn(_)) => {
            StopError::InvalidRequest("Step Functions rejected the target ARN as invalid".into())
        }
        Some(StopExecutionError::ValidationException(_)) => {
            StopError::InvalidRequest("Step Functions rejected the stop request's error or cause".into())
        }
        Some(StopExecutionError::KmsThrottlingException(_)) => return throttled(SERVICE, err),
        // The key encrypts the stop's error and cause; the same stop without them needs no KMS permission.
        Some(StopExecutionError::KmsAccessDeniedException(_) | StopExecutionError::KmsInvalidStateException(_)) => {
            return StopError::KmsKeyUnusable { service: SERVICE, source: Box::new(err) };
        }
        _ => return upstream(SERVICE, err),
    };
    log_mapped(SERVICE, &mapped, &err);
    mapped
}

/// An unknown state machine is `not_found`; an express one cannot be listed or stopped (`not_stoppable`).
fn list_error(machine: &TargetArn, err: SdkError<ListExecutionsError>) -> StopError {
    let mapped = match err.as_service_error() {
        Some(ListExecutionsError::StateMachineDoesNotExist(_) | ListExecutionsError::ResourceNotFound(_)) => {
            StopError::NotFound(machine.to_string())
        }
        Some(ListExecutionsError::StateMachineTypeNotSupported(_)) => StopError::NotStoppable(
            "express state machines have no stop API: their executions end by their own timeout".into(),
        ),
        Some(
            ListExecutionsError::InvalidArn(_)
            | ListExecutionsError::InvalidToken(_)
            | ListExecutionsError::ValidationException(_),
        ) => StopError::InvalidRequest("Step Functions rejected the list request for the state machine".into()),
        _ => return upstream(SERVICE, err),
    };
    log_mapped(SERVICE, &mapped, &err);
    mapped
}
