//! AWS Step Functions: `DescribeExecution` and `StopExecution` for standard executions.
//!
//! Knows the SDK and the domain; nothing about HTTP ingress or the Lambda runtime.

use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::SdkError;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
use aws_sdk_sfn::operation::stop_execution::StopExecutionError;
use aws_sdk_sfn::types::ExecutionStatus;
use chrono::{DateTime, Utc};

use super::{Regional, log_mapped, timestamp, unmodelled};
use crate::domain::arn::TargetArn;
use crate::domain::outcome::{ExecutionState, StopError, StopText};

const SERVICE: &str = "Step Functions";

/// Step Functions adapter; holds one client per region.
pub struct SfnAdapter {
    clients: Regional<Client>,
}

impl SfnAdapter {
    /// Wraps the regional clients.
    pub fn new(clients: Regional<Client>) -> Self {
        SfnAdapter { clients }
    }

    /// Reads the execution's status.
    pub async fn describe(&self, target: &TargetArn) -> Result<ExecutionState, StopError> {
        let out = self
            .clients
            .client(target.region().as_str())
            .describe_execution()
            .execution_arn(target.to_string())
            .send()
            .await
            .map_err(|e| describe_error(target, e))?;
        let status = out.status();
        Ok(ExecutionState {
            status: status.as_str().to_owned(),
            // PENDING_REDRIVE is not running yet; StopExecution is only meaningful while RUNNING.
            stoppable: *status == ExecutionStatus::Running,
            ended_at: out.stop_date().and_then(timestamp),
        })
    }

    /// Stops the execution. Returns the stop time the service reported, or `None` if the response carried no
    /// plausible timestamp (the caller then confirms with a describe).
    pub async fn stop(&self, target: &TargetArn, text: &StopText<'_>) -> Result<Option<DateTime<Utc>>, StopError> {
        let out = self
            .clients
            .client(target.region().as_str())
            .stop_execution()
            .execution_arn(target.to_string())
            .error(text.error_code.as_str())
            .cause(text.cause())
            .send()
            .await
            .map_err(|e| stop_error(target, e))?;
        Ok(timestamp(out.stop_date()))
    }
}

/// `ExecutionDoesNotExist` and `InvalidArn` are answers about the target; KMS problems with the execution's
/// key are the account's to fix, except KMS throttling, which passes.
fn describe_error(target: &TargetArn, err: SdkError<DescribeExecutionError>) -> StopError {
    let mapped = match err.as_service_error() {
        Some(DescribeExecutionError::ExecutionDoesNotExist(_)) => StopError::NotFound(target.to_string()),
        Some(DescribeExecutionError::InvalidArn(_)) => {
            StopError::InvalidRequest("Step Functions rejected the target ARN as invalid".into())
        }
        Some(DescribeExecutionError::KmsThrottlingException(_)) => {
            return StopError::Throttled { service: SERVICE, source: Box::new(err) };
        }
        Some(
            DescribeExecutionError::KmsAccessDeniedException(_) | DescribeExecutionError::KmsInvalidStateException(_),
        ) => return StopError::Upstream { service: SERVICE, retryable: false, source: Box::new(err) },
        _ => return unmodelled(SERVICE, err),
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
        Some(StopExecutionError::KmsThrottlingException(_)) => {
            return StopError::Throttled { service: SERVICE, source: Box::new(err) };
        }
        Some(StopExecutionError::KmsAccessDeniedException(_) | StopExecutionError::KmsInvalidStateException(_)) => {
            return StopError::Upstream { service: SERVICE, retryable: false, source: Box::new(err) };
        }
        _ => return unmodelled(SERVICE, err),
    };
    log_mapped(SERVICE, &mapped, &err);
    mapped
}
