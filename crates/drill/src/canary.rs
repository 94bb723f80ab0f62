//! The canaries: a Standard state machine that only waits, and (when enabled) a durable function that only
//! waits, both created by the stack for the drill alone. Here: starting one execution of a canary, reading
//! whether it is still running, stopped or ended otherwise, and reading what its stop left behind (the
//! `ExecutionAborted` event's cause; durable: the `Error`'s `ErrorData`), and, for the durable canary, whether
//! the function's unqualified list of running executions shows one. The drill only ever names executions it
//! started itself.

use aws_sdk_lambda::types::{ExecutionStatus, InvocationType};
use aws_sdk_sfn::types::{HistoryEventType, IncludedData};

use crate::aws::{Aws, error_text};

/// A canary the drill starts executions of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canary {
    /// A Standard state machine (its ARN).
    StateMachine {
        /// `arn:PARTITION:states:REGION:ACCOUNT:stateMachine:NAME`.
        arn: String,
    },
    /// A durable function, qualified by a version or alias (durable functions are invoked by qualified ARN).
    Durable {
        /// `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME:QUALIFIER`.
        function: String,
    },
}

/// Where a canary execution is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Still running (or not yet visible as ended).
    Running,
    /// Stopped: Step Functions `ABORTED`, durable `STOPPED`.
    Stopped,
    /// Ended some other way (succeeded, failed, timed out), with the status as the service gave it.
    Ended(String),
}

impl Canary {
    /// The state machine canary, checked to be a state machine ARN.
    pub fn state_machine(arn: &str) -> Result<Canary, String> {
        let fields: Vec<&str> = arn.split(':').collect();
        match fields.as_slice() {
            ["arn", _, "states", _, _, "stateMachine", name] if !name.is_empty() => {
                Ok(Canary::StateMachine { arn: arn.to_owned() })
            }
            _ => Err(format!("{arn:?} is not a state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)")),
        }
    }

    /// The durable canary, checked to be a qualified function ARN.
    pub fn durable(function: &str) -> Result<Canary, String> {
        let fields: Vec<&str> = function.split(':').collect();
        match fields.as_slice() {
            ["arn", _, "lambda", _, _, "function", name, qualifier] if !name.is_empty() && !qualifier.is_empty() => {
                Ok(Canary::Durable { function: function.to_owned() })
            }
            _ => Err(format!(
                "{function:?} is not a qualified function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME:ALIAS): \
                 durable functions are invoked by version or alias"
            )),
        }
    }

    /// What kind of canary, as the report and the log line name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Canary::StateMachine { .. } => "state-machine",
            Canary::Durable { .. } => "durable",
        }
    }

    /// Starts one execution named `name`; its ARN, or why it could not start.
    pub async fn start(&self, aws: &Aws, name: &str) -> Result<String, String> {
        match self {
            Canary::StateMachine { arn } => {
                let start = aws.sfn.start_execution().state_machine_arn(arn).name(name).input("{}");
                let started = start.send().await.map_err(|e| error_text("StartExecution", &e))?;
                Ok(started.execution_arn().to_owned())
            }
            Canary::Durable { function } => {
                // Asynchronously: a synchronous invocation of a durable function waits for the whole execution.
                let invoke = aws.lambda.invoke().function_name(function).invocation_type(InvocationType::Event);
                let invoked = invoke.durable_execution_name(name).send().await;
                let invoked = invoked.map_err(|e| error_text("Invoke", &e))?;
                invoked.durable_execution_arn().map(str::to_owned).ok_or_else(|| {
                    format!("Invoke of {function} answered {} without a durable execution ARN: is DurableConfig set on that version?", invoked.status_code())
                })
            }
        }
    }

    /// The durable canary's function without its qualifier (`…:function:NAME`), as the gateway names a whole
    /// function; `None` for the state machine, which has no versions to list across.
    pub fn unqualified_function(&self) -> Option<&str> {
        match self {
            Canary::StateMachine { .. } => None,
            Canary::Durable { function } => function.rsplit_once(':').map(|(unqualified, _)| unqualified),
        }
    }

    /// Whether the durable canary's running executions, listed without a qualifier (every page), include `arn`:
    /// the list the gateway's stop of a whole function reads. `Ok(false)` for the state machine.
    pub async fn lists_running(&self, aws: &Aws, arn: &str) -> Result<bool, String> {
        let Some(function) = self.unqualified_function() else {
            return Ok(false);
        };
        let mut marker: Option<String> = None;
        loop {
            let list = aws.lambda.list_durable_executions_by_function().function_name(function);
            let list = list.statuses(ExecutionStatus::Running).set_marker(marker.take());
            let page = list.send().await.map_err(|e| error_text("ListDurableExecutionsByFunction", &e))?;
            if page.durable_executions().iter().any(|e| e.durable_execution_arn() == arn) {
                return Ok(true);
            }
            match page.next_marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
                _ => return Ok(false),
            }
        }
    }

    /// Where the execution `arn` is now.
    pub async fn status(&self, aws: &Aws, arn: &str) -> Result<Status, String> {
        let status = match self {
            Canary::StateMachine { .. } => {
                // Metadata only: the status needs no kms:Decrypt, even for an execution encrypted with a KMS key.
                let describe =
                    aws.sfn.describe_execution().execution_arn(arn).included_data(IncludedData::MetadataOnly);
                let describe = describe.send().await;
                describe.map_err(|e| error_text("DescribeExecution", &e))?.status().as_str().to_owned()
            }
            Canary::Durable { .. } => {
                let get = aws.lambda.get_durable_execution().durable_execution_arn(arn).send().await;
                get.map_err(|e| error_text("GetDurableExecution", &e))?.status().as_str().to_owned()
            }
        };
        Ok(match status.as_str() {
            "ABORTED" | "STOPPED" => Status::Stopped,
            "RUNNING" | "PENDING_REDRIVE" | "PAUSING" | "PAUSED" => Status::Running,
            _ => Status::Ended(status),
        })
    }

    /// What the stop left on the execution for the audit trail: the `ExecutionAborted` event's cause (where Step
    /// Functions keeps a stop's cause), or the durable execution's `ErrorData`. `None` when there is none.
    pub async fn stop_evidence(&self, aws: &Aws, arn: &str) -> Result<Option<String>, String> {
        match self {
            Canary::StateMachine { .. } => {
                let history = aws.sfn.get_execution_history().execution_arn(arn).reverse_order(true).max_results(20);
                let history = history.send().await.map_err(|e| error_text("GetExecutionHistory", &e))?;
                let aborted = history.events().iter().find(|e| e.r#type() == &HistoryEventType::ExecutionAborted);
                Ok(aborted.and_then(|e| e.execution_aborted_event_details()).and_then(|d| d.cause()).map(str::to_owned))
            }
            Canary::Durable { .. } => {
                let get = aws.lambda.get_durable_execution().durable_execution_arn(arn).send().await;
                let got = get.map_err(|e| error_text("GetDurableExecution", &e))?;
                Ok(got.error().and_then(|e| e.error_data()).map(str::to_owned))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canaries_are_named_by_the_arns_their_services_invoke() {
        let machine = "arn:aws:states:us-east-1:123456789012:stateMachine:prod-fire-drill-canary";
        assert_eq!(Canary::state_machine(machine).unwrap().kind(), "state-machine");
        let function = "arn:aws:lambda:us-east-1:123456789012:function:prod-fire-drill-canary:live";
        assert_eq!(Canary::durable(function).unwrap().kind(), "durable");
        let refused = [
            "arn:aws:states:us-east-1:123456789012:execution:m:e",
            "arn:aws:states:us-east-1:123456789012:stateMachine:",
            "prod-fire-drill-canary",
        ];
        for arn in refused {
            assert!(Canary::state_machine(arn).is_err(), "{arn}");
        }
        let unqualified = "arn:aws:lambda:us-east-1:123456789012:function:prod-fire-drill-canary";
        assert!(Canary::durable(unqualified).unwrap_err().contains("invoked by version or alias"));
        assert_eq!(Canary::durable(function).unwrap().unqualified_function(), Some(unqualified));
        assert_eq!(Canary::state_machine(machine).unwrap().unqualified_function(), None);
    }
}
