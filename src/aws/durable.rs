//! AWS Lambda durable executions: `GetDurableExecution` and `StopDurableExecution`.
//!
//! Knows the SDK and the domain; nothing about HTTP ingress or the Lambda runtime.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::get_durable_execution::GetDurableExecutionError;
use aws_sdk_lambda::operation::stop_durable_execution::StopDurableExecutionError;
use aws_sdk_lambda::types::ErrorObject;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Regional, log_mapped, timestamp, unmodelled};
use crate::domain::arn::TargetArn;
use crate::domain::outcome::{ExecutionState, StopError, StopText};

const SERVICE: &str = "Lambda";

/// Statuses in which a durable execution can still be stopped. `PAUSING`/`PAUSED` are not in the SDK's enum
/// yet, so statuses are compared as strings.
const STOPPABLE: &[&str] = &["RUNNING", "PAUSING", "PAUSED"];

/// Durable execution adapter; holds one client per region.
pub struct DurableAdapter {
    clients: Regional<Client>,
}

/// `ErrorData` of the stop: machine-readable pointers back to the audit trail.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorData<'a> {
    stopped_by: &'static str,
    caller: &'a str,
    source: &'a str,
    rule_id: &'a str,
    audit_id: &'a str,
}

impl DurableAdapter {
    /// Wraps the regional clients.
    pub fn new(clients: Regional<Client>) -> Self {
        DurableAdapter { clients }
    }

    /// Reads the execution's status.
    pub async fn describe(&self, target: &TargetArn) -> Result<ExecutionState, StopError> {
        let out = self
            .clients
            .client(target.region().as_str())
            .get_durable_execution()
            .durable_execution_arn(target.to_string())
            .send()
            .await
            .map_err(|e| get_error(target, e))?;
        let status = out.status().as_str();
        Ok(ExecutionState {
            status: status.to_owned(),
            stoppable: STOPPABLE.contains(&status),
            ended_at: out.end_timestamp().and_then(timestamp),
        })
    }

    /// Stops the execution with an `ErrorObject` built from `text`. Returns the reported stop time, or `None` if
    /// the response carried no plausible timestamp.
    pub async fn stop(&self, target: &TargetArn, text: &StopText<'_>) -> Result<Option<DateTime<Utc>>, StopError> {
        let data = ErrorData {
            stopped_by: "stop-gateway",
            caller: text.caller,
            source: text.source,
            rule_id: text.rule_id,
            audit_id: text.audit_id,
        };
        let error = ErrorObject::builder()
            .error_type(text.error_code.as_str())
            .error_message(text.reason.as_str())
            // Serialising a struct of strings cannot fail; an empty string would only lose the pointers.
            .error_data(serde_json::to_string(&data).unwrap_or_default())
            .build();
        let out = self
            .clients
            .client(target.region().as_str())
            .stop_durable_execution()
            .durable_execution_arn(target.to_string())
            .error(error)
            .send()
            .await
            .map_err(|e| stop_error(target, e))?;
        Ok(timestamp(out.stop_timestamp()))
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
            Some($error::TooManyRequestsException(_)) => {
                return StopError::Throttled { service: SERVICE, source: Box::new(err) };
            }
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
