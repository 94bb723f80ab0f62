//! AWS Lambda durable executions: `GetDurableExecution`, `StopDurableExecution` and
//! `ListDurableExecutionsByFunction`.
//!
//! Knows the SDK and the domain; nothing about HTTP ingress or the Lambda runtime. Every call is paced, and
//! every documented error of each operation maps to one outcome (tested with aws-smithy-mocks).

use std::sync::Arc;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::get_durable_execution::GetDurableExecutionError;
use aws_sdk_lambda::operation::list_durable_executions_by_function::ListDurableExecutionsByFunctionError;
use aws_sdk_lambda::operation::stop_durable_execution::StopDurableExecutionError;
use aws_sdk_lambda::types::{ErrorObject, ExecutionStatus};
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::errors::{log_mapped, throttled, timestamp, unmodelled};
use super::pacing::{Api, Pacer, paced};
use super::regional::{Clients, Regional};
use crate::domain::outcome::{ExecutionState, StopText};
use crate::domain::target::{Service, TargetArn, TargetKind};
use crate::error::StopError;

const SERVICE: &str = Service::Lambda.display_name();

/// Statuses in which a durable execution can still be stopped. `PAUSING`/`PAUSED` are not in the SDK's enum
/// yet, so statuses are compared as strings.
const STOPPABLE: &[&str] = &["RUNNING", "PAUSING", "PAUSED"];

/// Durable execution adapter; holds one client per region and the shared pacer.
pub struct DurableAdapter {
    clients: Regional<Clients<Client>>,
    pacer: Arc<Pacer>,
}

impl DurableAdapter {
    /// Wraps the regional clients.
    pub fn new(clients: Regional<Clients<Client>>, pacer: Arc<Pacer>) -> Self {
        DurableAdapter { clients, pacer }
    }

    /// Reads the execution's status.
    pub async fn describe(&self, target: &TargetArn, deadline: Instant) -> Result<ExecutionState, StopError> {
        let region = target.region().as_str();
        let client = self.clients.client(region).read;
        let out = paced(&self.pacer, region, Api::GetDurableExecution, deadline, || async {
            let operation = client.get_durable_execution().durable_execution_arn(target.to_string());
            operation.send().await.map_err(|e| get_error(target, e))
        })
        .await?;
        let status = out.status().as_str();
        Ok(ExecutionState {
            status: status.to_owned(),
            stoppable: STOPPABLE.contains(&status),
            ended_at: out.end_timestamp().and_then(timestamp),
        })
    }

    /// Stops the execution with an `ErrorObject` built from `text`. Returns the reported stop time, or `None` if
    /// the response carried no plausible timestamp.
    pub async fn stop(
        &self,
        target: &TargetArn,
        text: &StopText<'_>,
        deadline: Instant,
    ) -> Result<Option<DateTime<Utc>>, StopError> {
        // Serialising a struct of strings cannot fail; an empty string would only lose the pointers.
        let error_data = serde_json::to_string(&text.error_data()).unwrap_or_default();
        let client = self.clients.client(target.region().as_str()).stop;
        let region = target.region().as_str();
        let error = ErrorObject::builder()
            .error_type(text.error_code.as_str())
            .error_message(text.reason.as_str())
            .error_data(error_data)
            .build();
        let out = paced(&self.pacer, region, Api::StopDurableExecution, deadline, || async {
            let operation =
                client.stop_durable_execution().durable_execution_arn(target.to_string()).error(error.clone());
            operation.send().await.map_err(|e| stop_error(target, e))
        })
        .await?;
        Ok(timestamp(out.stop_timestamp()))
    }

    /// Every RUNNING durable execution of a function (and qualifier, if the ARN names one), following every
    /// page. The API model's statuses have no PAUSING/PAUSED to filter on; a paused execution is still stopped
    /// when it is named directly.
    pub async fn list_running(&self, function: &TargetArn, deadline: Instant) -> Result<Vec<TargetArn>, StopError> {
        let TargetKind::Function { name, qualifier } = function.kind() else {
            return Err(StopError::InvalidRequest("only a function ARN lists durable executions".into()));
        };
        let (region, client) = (function.region().as_str(), self.clients.client(function.region().as_str()).read);
        // The unqualified ARN works across accounts, where a bare name would not.
        let unqualified =
            format!("arn:{}:lambda:{region}:{}:function:{name}", function.partition(), function.account());
        let mut executions = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = paced(&self.pacer, region, Api::ListDurableExecutionsByFunction, deadline, || async {
                let operation = client
                    .list_durable_executions_by_function()
                    .function_name(&unqualified)
                    .set_qualifier(qualifier.clone())
                    .statuses(ExecutionStatus::Running)
                    .max_items(1000)
                    .set_marker(marker.clone());
                operation.send().await.map_err(|e| list_error(function, e))
            })
            .await?;
            // Every listed execution still goes through describe-first, so a stale page cannot stop a finished one.
            let arns = page.durable_executions().iter().map(|e| e.durable_execution_arn());
            super::collect_listed(Api::ListDurableExecutionsByFunction, arns, &mut executions);
            marker = page.next_marker().map(str::to_owned);
            if marker.is_none() {
                return Ok(executions);
            }
        }
    }
}

/// Shared by both operations, which document the same errors.
macro_rules! map_lambda_error {
    ($error:ident, $target:expr, $err:expr) => {{
        let err = $err;
        let mapped = match err.as_service_error() {
            Some($error::ResourceNotFoundException(_)) => StopError::NotFound($target.to_string()),
            Some($error::InvalidParameterValueException(_)) => {
                StopError::InvalidRequest("Lambda rejected the durable execution request as invalid".into())
            }
            Some($error::TooManyRequestsException(_)) => return throttled(SERVICE, err),
            Some($error::ServiceException(_)) => {
                return StopError::Upstream { service: SERVICE, retryable: true, source: Box::new(err) };
            }
            Some(
                $error::KmsAccessDeniedException(_)
                | $error::KmsDisabledException(_)
                | $error::KmsInvalidStateException(_)
                | $error::KmsNotFoundException(_),
            ) => return StopError::Upstream { service: SERVICE, retryable: false, source: Box::new(err) },
            _ => return unmodelled(SERVICE, err),
        };
        log_mapped(SERVICE, &mapped, &err);
        mapped
    }};
}

fn get_error(target: &TargetArn, err: SdkError<GetDurableExecutionError>) -> StopError {
    map_lambda_error!(GetDurableExecutionError, target, err)
}

fn stop_error(target: &TargetArn, err: SdkError<StopDurableExecutionError>) -> StopError {
    map_lambda_error!(StopDurableExecutionError, target, err)
}

fn list_error(function: &TargetArn, err: SdkError<ListDurableExecutionsByFunctionError>) -> StopError {
    let mapped = match err.as_service_error() {
        Some(ListDurableExecutionsByFunctionError::ResourceNotFoundException(_)) => {
            StopError::NotFound(function.to_string())
        }
        Some(ListDurableExecutionsByFunctionError::InvalidParameterValueException(_)) => {
            StopError::InvalidRequest("Lambda rejected the durable execution list request as invalid".into())
        }
        Some(ListDurableExecutionsByFunctionError::TooManyRequestsException(_)) => return throttled(SERVICE, err),
        Some(ListDurableExecutionsByFunctionError::ServiceException(_)) => {
            return StopError::Upstream { service: SERVICE, retryable: true, source: Box::new(err) };
        }
        _ => return unmodelled(SERVICE, err),
    };
    log_mapped(SERVICE, &mapped, &err);
    mapped
}
