//! AWS Lambda durable executions: `GetDurableExecution`, `StopDurableExecution` and
//! `ListDurableExecutionsByFunction`.
//!
//! Knows the SDK and the domain; nothing about HTTP ingress or the Lambda runtime. Every call is paced. The
//! get and the stop go direct when the region has a [`direct::Route`] (the binary's case), through the SDK
//! otherwise; both ways map every documented error the same way (tested).

use std::sync::Arc;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::get_durable_execution::GetDurableExecutionError;
use aws_sdk_lambda::operation::list_durable_executions_by_function::ListDurableExecutionsByFunctionError;
use aws_sdk_lambda::operation::stop_durable_execution::StopDurableExecutionError;
use aws_sdk_lambda::types::{ErrorObject, ExecutionStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use tokio::time::Instant;

use super::direct::{self, DirectError};
use super::{
    Clients, Regional, collect_listed, direct_throttled, direct_unmodelled, log_mapped, paced, throttled, timestamp,
    unmodelled,
};
use crate::domain::arn::{TargetArn, TargetKind};
use crate::domain::outcome::{ExecutionState, StopError, StopText};
use crate::pacing::{Api, Pacer};

const SERVICE: &str = "Lambda";

/// Statuses in which a durable execution can still be stopped. `PAUSING`/`PAUSED` are not in the SDK's enum
/// yet, so statuses are compared as strings.
const STOPPABLE: &[&str] = &["RUNNING", "PAUSING", "PAUSED"];

/// The REST API's version prefix for durable executions.
const API_PATH: &str = "/2025-12-01/durable-executions/";

/// The part of `GetDurableExecution`'s reply the gateway reads.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetOutput {
    status: String,
    end_timestamp: Option<f64>,
}

/// `StopDurableExecution`'s body is the `ErrorObject` itself.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StopInput<'a> {
    error_type: &'a str,
    error_message: &'a str,
    error_data: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StopOutput {
    stop_timestamp: Option<f64>,
}

/// Durable execution adapter; holds one client per region and the shared pacer.
pub struct DurableAdapter {
    clients: Regional<Clients<Client>>,
    pacer: Arc<Pacer>,
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
    pub fn new(clients: Regional<Clients<Client>>, pacer: Arc<Pacer>) -> Self {
        DurableAdapter { clients, pacer }
    }

    /// Reads the execution's status.
    pub async fn describe(&self, target: &TargetArn, deadline: Instant) -> Result<ExecutionState, StopError> {
        let region = target.region().as_str();
        let Clients { read: client, direct, .. } = self.clients.client(region);
        if let Some(route) = direct {
            let path = format!("{API_PATH}{}", direct::encode_label(&target.to_string()));
            let request =
                direct::Request { method: "GET", path: &path, target: None, content_type: None, body: Vec::new() };
            let out: GetOutput = paced(&self.pacer, region, Api::GetDurableExecution, deadline, || async {
                route.call(&request, true).await.map_err(|e| direct_error(target, e))
            })
            .await?;
            return Ok(ExecutionState {
                stoppable: STOPPABLE.contains(&out.status.as_str()),
                status: out.status,
                ended_at: direct::epoch_seconds(out.end_timestamp),
            });
        }
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
        let data = ErrorData {
            stopped_by: "stop-gateway",
            caller: text.caller,
            source: text.source,
            rule_id: text.rule_id,
            audit_id: text.audit_id,
        };
        // Serialising a struct of strings cannot fail; an empty string would only lose the pointers.
        let error_data = serde_json::to_string(&data).unwrap_or_default();
        let region = target.region().as_str();
        let Clients { stop: client, direct, .. } = self.clients.client(region);
        if let Some(route) = direct {
            let path = format!("{API_PATH}{}/stop", direct::encode_label(&target.to_string()));
            let input = StopInput {
                error_type: text.error_code.as_str(),
                error_message: text.reason.as_str(),
                error_data: &error_data,
            };
            let request = direct::Request {
                method: "POST",
                path: &path,
                target: None,
                content_type: Some("application/json"),
                body: serde_json::to_vec(&input).unwrap_or_default(),
            };
            let out: StopOutput = paced(&self.pacer, region, Api::StopDurableExecution, deadline, || async {
                route.call(&request, false).await.map_err(|e| direct_error(target, e))
            })
            .await?;
            return Ok(direct::epoch_seconds(out.stop_timestamp));
        }
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
            collect_listed(Api::ListDurableExecutionsByFunction, arns, &mut executions);
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

/// The macro's mapping for a direct call, by error code: the same outcomes for the same documented errors.
fn direct_error(target: &TargetArn, err: DirectError) -> StopError {
    let mapped = match err.code() {
        Some("ResourceNotFoundException") => StopError::NotFound(target.to_string()),
        Some("InvalidParameterValueException") => {
            StopError::InvalidRequest("Lambda rejected the durable execution request as invalid".into())
        }
        Some("TooManyRequestsException") => return direct_throttled(SERVICE, err),
        Some("ServiceException") => {
            return StopError::Upstream { service: SERVICE, retryable: true, source: Box::new(err) };
        }
        Some(
            "KMSAccessDeniedException" | "KMSDisabledException" | "KMSInvalidStateException" | "KMSNotFoundException",
        ) => {
            return StopError::Upstream { service: SERVICE, retryable: false, source: Box::new(err) };
        }
        _ => return direct_unmodelled(SERVICE, err),
    };
    log_mapped(SERVICE, &mapped, &err);
    mapped
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
