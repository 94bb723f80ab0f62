//! AWS Lambda durable executions: `GetDurableExecution`, `StopDurableExecution` and
//! `ListDurableExecutionsByFunction`.
//!
//! Knows the SDK and the domain; nothing about doors or the Lambda runtime. Every call goes through the one
//! call skeleton (this request's clients for the target's account and region, paced, cut at the deadline), and
//! every documented error of each operation maps to one outcome (tested with aws-smithy-mocks).

use std::collections::{HashMap, HashSet};

use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::get_alias::GetAliasError;
use aws_sdk_lambda::operation::get_durable_execution::GetDurableExecutionError;
use aws_sdk_lambda::operation::list_durable_executions_by_function::ListDurableExecutionsByFunctionError;
use aws_sdk_lambda::operation::stop_durable_execution::StopDurableExecutionError;
use aws_sdk_lambda::types::{ErrorObject, Execution};
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::errors::{log_mapped, refused, server_fault, throttled, timestamp, upstream};
use super::listing::{Confirming, LIST_PAGE, Listed, collect_listed};
use super::pacing::Api;
use super::reach::Reach;
use super::regional::ServiceClients;
use stop_gateway_core::domain::failure::StopError;
use stop_gateway_core::domain::outcome::{ExecutionState, StopText};
use stop_gateway_core::domain::status::ExecutionStatus;
use stop_gateway_core::domain::target::{DurableQualifier, Service, TargetArn, TargetKind};

const SERVICE: &str = Service::Lambda.display_name();

/// Statuses in which a durable execution can still be stopped: "Stops a running or paused durable execution"
/// (StopDurableExecution). `PAUSING`/`PAUSED` are not in the locked SDK's enum yet, so they are sent through
/// `ExecutionStatus::from`.
const STOPPABLE: &[&str] = &["RUNNING", "PAUSING", "PAUSED"];

/// Durable execution adapter over its clients in every account a request reaches.
pub struct DurableAdapter {
    clients: ServiceClients<Client>,
}

impl DurableAdapter {
    /// Wraps the clients.
    pub fn new(clients: ServiceClients<Client>) -> Self {
        DurableAdapter { clients }
    }

    /// Reads the execution's status.
    pub async fn describe(
        &self,
        reach: &Reach,
        target: &TargetArn,
        deadline: Instant,
    ) -> Result<ExecutionState, StopError> {
        let call = |client: Client| async move {
            // Status only: an input or result of up to 6 MB never needs to reach the gateway.
            let operation =
                client.get_durable_execution().durable_execution_arn(target.to_string()).include_execution_data(false);
            operation.send().await.map_err(|e| get_error(target, e))
        };
        let out = self.clients.call(reach, target, Api::GetDurableExecution, deadline, call).await?;
        let status = ExecutionStatus::parse(out.status().as_str());
        Ok(ExecutionState { status, ended_at: out.end_timestamp().and_then(timestamp) })
    }

    /// Stops the execution with an `ErrorObject` built from `text`. Returns the reported stop time, or `None` if
    /// the response carried no plausible timestamp.
    pub async fn stop(
        &self,
        reach: &Reach,
        target: &TargetArn,
        text: &StopText<'_>,
        deadline: Instant,
    ) -> Result<Option<DateTime<Utc>>, StopError> {
        // Serialising a struct of strings cannot fail; an empty string would only lose the pointers.
        let error_data = serde_json::to_string(&text.error_data()).unwrap_or_default();
        let error = &ErrorObject::builder()
            .error_type(text.error_code.as_str())
            .error_message(text.reason.as_str())
            .error_data(error_data)
            .build();
        let call = |client: Client| async move {
            let operation =
                client.stop_durable_execution().durable_execution_arn(target.to_string()).error(error.clone());
            operation.send().await.map_err(|e| stop_error(target, e))
        };
        let out = self.clients.call(reach, target, Api::StopDurableExecution, deadline, call).await?;
        Ok(timestamp(out.stop_timestamp()))
    }

    /// Every stoppable durable execution (running, pausing or paused) of a function, following every page.
    /// Unqualified, the list covers every version ("If you don't specify a qualifier, this operation returns
    /// executions across all versions", ListDurableExecutionsByFunction in the current model). A version or
    /// `$LATEST` is passed as the qualifier. An alias is resolved first (GetAlias: its version and any
    /// weighted routing version), because execution ARNs name versions, never aliases, and the model documents
    /// the qualifier as a version.
    pub async fn list_running(
        &self,
        reach: &Reach,
        function: &TargetArn,
        deadline: Instant,
    ) -> Result<Vec<Listed>, StopError> {
        let TargetKind::Function { qualifier, .. } = function.kind() else {
            return Err(StopError::InvalidRequest("only a function ARN lists durable executions".into()));
        };
        let versions = match qualifier.as_deref() {
            None => vec![None],
            Some(q) if is_version(q) => vec![Some(q.to_owned())],
            Some(alias) => self.alias_versions(reach, function, alias, deadline).await?,
        };
        let mut executions = Vec::new();
        for version in versions {
            self.list_version(reach, function, version, STOPPABLE, deadline, |page| {
                // No order is documented for this list, so no start is kept for the confirming list to read to.
                let arns =
                    page.iter().map(|e| (e.durable_execution_arn(), ExecutionStatus::parse(e.status().as_str()), None));
                collect_listed(Api::ListDurableExecutionsByFunction, arns, &mut executions);
                true
            })
            .await?;
        }
        Ok(executions)
    }

    /// Of `wanted` (executions of `function` this request just stopped), those Lambda lists as STOPPED, with
    /// their end times: every version at once, reading at most a page more than `wanted` could fill; whatever
    /// it does not find is left to a describe.
    pub async fn list_stopped(
        &self,
        reach: &Reach,
        function: &TargetArn,
        wanted: &HashSet<TargetArn>,
        deadline: Instant,
    ) -> Result<HashMap<TargetArn, DateTime<Utc>>, StopError> {
        let mut confirming = Confirming::new(wanted, None);
        self.list_version(reach, function, None, &["STOPPED"], deadline, |page| {
            let items = page.iter().map(|e| (e.durable_execution_arn(), None, e.end_timestamp().and_then(timestamp)));
            confirming.page(items)
        })
        .await?;
        Ok(confirming.found())
    }

    async fn list_version(
        &self,
        reach: &Reach,
        function: &TargetArn,
        qualifier: Option<String>,
        statuses: &[&str],
        deadline: Instant,
        mut page: impl FnMut(&[Execution]) -> bool,
    ) -> Result<(), StopError> {
        let unqualified = unqualified(function)?;
        let (unqualified, qualifier) = (unqualified.as_str(), qualifier.as_deref());
        let mut marker: Option<String> = None;
        loop {
            let next = marker.as_deref();
            let call = |client: Client| async move {
                let statuses = statuses.iter().map(|s| aws_sdk_lambda::types::ExecutionStatus::from(*s)).collect();
                let operation = client
                    .list_durable_executions_by_function()
                    .function_name(unqualified)
                    .set_qualifier(qualifier.map(str::to_owned))
                    .set_statuses(Some(statuses))
                    .max_items(LIST_PAGE as i32)
                    .set_marker(next.map(str::to_owned));
                operation.send().await.map_err(|e| list_error(function, e))
            };
            let out = self.clients.call(reach, function, Api::ListDurableExecutionsByFunction, deadline, call).await?;
            // Every listed execution still goes through describe-first, so a stale page cannot stop a finished one.
            marker = out.next_marker().map(str::to_owned);
            if !page(out.durable_executions()) || marker.is_none() {
                return Ok(());
            }
        }
    }

    /// The versions an alias serves: the one it points to, and any that weighted routing sends traffic to.
    async fn alias_versions(
        &self,
        reach: &Reach,
        function: &TargetArn,
        alias: &str,
        deadline: Instant,
    ) -> Result<Vec<Option<String>>, StopError> {
        let unqualified = unqualified(function)?;
        let unqualified = unqualified.as_str();
        let call = |client: Client| async move {
            let operation = client.get_alias().function_name(unqualified).name(alias);
            operation.send().await.map_err(|e| alias_error(function, e))
        };
        let out = self.clients.call(reach, function, Api::GetAlias, deadline, call).await?;
        let mut versions: Vec<String> = out.function_version().into_iter().map(str::to_owned).collect();
        if let Some(weights) = out.routing_config().and_then(|r| r.additional_version_weights()) {
            versions.extend(weights.keys().cloned());
        }
        versions.sort();
        versions.dedup();
        if versions.is_empty() || !versions.iter().all(|v| is_version(v)) {
            return Err(refused(
                SERVICE,
                format!("alias {alias} of {unqualified} resolves to no usable version: {versions:?}"),
            ));
        }
        Ok(versions.into_iter().map(Some).collect())
    }
}

/// The function's unqualified ARN, which works across accounts where a bare name would not.
fn unqualified(function: &TargetArn) -> Result<String, StopError> {
    let TargetKind::Function { name, .. } = function.kind() else {
        return Err(StopError::InvalidRequest("only a function ARN lists durable executions".into()));
    };
    TargetArn::function(function.scope(), name, None)
        .map(|arn| arn.to_string())
        .map_err(|e| StopError::InvalidRequest(format!("function ARN: {e}")))
}

/// A version qualifier (`$LATEST`, `$LATEST.PUBLISHED` or a number) rather than an alias.
fn is_version(qualifier: &str) -> bool {
    DurableQualifier::parse(qualifier).is_some()
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
            Some($error::ServiceException(_)) => return server_fault(SERVICE, err),
            Some(
                $error::KmsAccessDeniedException(_)
                | $error::KmsDisabledException(_)
                | $error::KmsInvalidStateException(_)
                | $error::KmsNotFoundException(_),
                // Lambda answers these with 502, which the classification by status would take as transient.
            ) => return refused(SERVICE, err),
            _ => return upstream(SERVICE, err),
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

/// An unknown alias is `not_found`; the rest as for any Lambda call.
fn alias_error(function: &TargetArn, err: SdkError<GetAliasError>) -> StopError {
    let mapped = match err.as_service_error() {
        Some(GetAliasError::ResourceNotFoundException(_)) => StopError::NotFound(function.to_string()),
        Some(GetAliasError::InvalidParameterValueException(_)) => {
            StopError::InvalidRequest("Lambda rejected the alias lookup as invalid".into())
        }
        Some(GetAliasError::TooManyRequestsException(_)) => return throttled(SERVICE, err),
        Some(GetAliasError::ServiceException(_)) => return server_fault(SERVICE, err),
        _ => return upstream(SERVICE, err),
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
        Some(ListDurableExecutionsByFunctionError::ServiceException(_)) => return server_fault(SERVICE, err),
        _ => return upstream(SERVICE, err),
    };
    log_mapped(SERVICE, &mapped, &err);
    mapped
}
