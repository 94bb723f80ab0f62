//! The first-deployment check's settings, from the stack the operator just deployed: its outputs name the
//! canaries, the stop-request bus and the audit queue, so the operator passes only the stack's name.

use std::collections::HashMap;
use std::time::Duration;

use crate::aws::{Aws, error_text};
use crate::config::{ConfigError, DrillConfig};
use crate::drill::run_all;
use crate::report::Report;

/// Which stack output stands for which drill setting.
const OUTPUTS: [(&str, &str); 4] = [
    ("FIRE_DRILL_STATE_MACHINE_ARN", "FireDrillStateMachineArn"),
    ("FIRE_DRILL_DURABLE_FUNCTION_ARN", "FireDrillDurableFunctionArn"),
    ("FIRE_DRILL_STOP_REQUEST_BUS", "StopRequestBusName"),
    ("FIRE_DRILL_AUDIT_QUEUE_URL", "FireDrillAuditQueueUrl"),
];

/// The drill settings the outputs of `stack` give, with the deadline the operator chose.
pub fn from_outputs(
    stack: &str,
    outputs: &HashMap<String, String>,
    deadline: Duration,
) -> Result<DrillConfig, ConfigError> {
    if !outputs.contains_key("FireDrillStateMachineArn") {
        return Err(ConfigError {
            variable: "FireDrillStateMachineArn",
            problem: format!(
                "stack {stack} has no fire drill: deploy it with FireDrillMinutes above 0 (and FireDrillDurable=true \
                 for the durable canary), then run this check again"
            ),
        });
    }
    let lookup = |variable: &str| {
        let output = OUTPUTS.iter().find(|(v, _)| *v == variable).map(|(_, output)| *output)?;
        outputs.get(output).cloned()
    };
    let mut config = DrillConfig::from_lookup(lookup).map_err(|err| ConfigError {
        variable: OUTPUTS.iter().find(|(v, _)| *v == err.variable).map_or(err.variable, |(_, output)| output),
        problem: format!("in the outputs of stack {stack}: {}", err.problem),
    })?;
    config.deadline = deadline;
    Ok(config)
}

/// The first-deployment check: the drill's settings from the outputs of `stack`, then one drill of each canary
/// through the door, side by side. `Err` when the stack cannot be read or has no drill.
pub async fn check(aws: &Aws, stack: &str, deadline: Duration) -> Result<(DrillConfig, Vec<Report>), String> {
    let config = from_outputs(stack, &outputs(aws, stack).await?, deadline).map_err(|e| e.to_string())?;
    let reports = run_all(aws, &config).await;
    Ok((config, reports))
}

/// The outputs of `stack` (`DescribeStacks`), by output key.
pub async fn outputs(aws: &Aws, stack: &str) -> Result<HashMap<String, String>, String> {
    let described = aws.cloudformation.describe_stacks().stack_name(stack).send().await;
    let described = described.map_err(|e| error_text("DescribeStacks", &e))?;
    let found = described.stacks().first().ok_or_else(|| format!("DescribeStacks: no stack {stack}"))?;
    let pairs = found.outputs().iter().filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())));
    Ok(pairs.collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::Canary;

    fn outputs(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_outputs_name_both_canaries_the_bus_and_the_queue() {
        let stack = outputs(&[
            ("FireDrillStateMachineArn", "arn:aws:states:us-east-1:123456789012:stateMachine:prod-fire-drill-canary"),
            (
                "FireDrillDurableFunctionArn",
                "arn:aws:lambda:us-east-1:123456789012:function:prod-fire-drill-canary:live",
            ),
            ("StopRequestBusName", "prod-stop-requests"),
            ("FireDrillAuditQueueUrl", "https://sqs.us-east-1.amazonaws.com/123456789012/prod-fire-drill"),
            ("AuditBusArn", "ignored"),
        ]);
        let config = from_outputs("prod", &stack, Duration::from_secs(90)).unwrap();
        assert_eq!(config.canaries.iter().map(Canary::kind).collect::<Vec<_>>(), ["state-machine", "durable"]);
        assert_eq!(config.door.bus, "prod-stop-requests");
        assert_eq!(config.deadline, Duration::from_secs(90));
    }

    #[test]
    fn a_stack_without_the_drill_is_refused_saying_how_to_turn_it_on() {
        let err = from_outputs("prod", &outputs(&[("StopRequestBusName", "b")]), Duration::from_secs(60)).unwrap_err();
        assert!(
            err.to_string().contains("stack prod has no fire drill: deploy it with FireDrillMinutes above 0"),
            "{err}"
        );
        let without_queue = outputs(&[
            ("FireDrillStateMachineArn", "arn:aws:states:us-east-1:123456789012:stateMachine:c"),
            ("StopRequestBusName", "b"),
        ]);
        let err = from_outputs("prod", &without_queue, Duration::from_secs(60)).unwrap_err();
        assert_eq!(err.variable, "FireDrillAuditQueueUrl", "{err}");
    }
}
