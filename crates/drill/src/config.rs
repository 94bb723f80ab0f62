//! The drill's settings: plain data read once at start-up from the environment (or built from a stack's outputs
//! by [`crate::stack`]). Each error names the variable, so a misconfigured drill says what to fix.

use std::time::Duration;

use crate::canary::Canary;

/// `source` of the drill's `Stop Requested` events unless `FIRE_DRILL_SOURCE` says otherwise; the policy rule
/// and the stop-request bus's allowed sources name it.
pub const DEFAULT_SOURCE: &str = "stop-gateway.fire-drill";
/// CloudWatch namespace of the drill's metrics unless `FIRE_DRILL_METRICS_NAMESPACE` says otherwise: not the
/// gateway's own, whose alarms must each watch something the gateway emits.
pub const DEFAULT_NAMESPACE: &str = "StopGateway/FireDrill";
/// How long a drill waits for its canary to be stopped unless `FIRE_DRILL_DEADLINE_SECONDS` says otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);

/// A setting that is missing or wrong, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable (or stack output) at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn invalid(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError { variable, problem: problem.into() }
}

/// Where and how the drill asks for a stop: the `Stop Requested` door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopDoor {
    /// The stop-request bus (name or ARN).
    pub bus: String,
    /// The events' `source`.
    pub source: String,
}

/// Everything a drill needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillConfig {
    /// The canaries to drill, each once per run: the state machine, and the durable function when enabled.
    pub canaries: Vec<Canary>,
    /// The door the stop is asked through.
    pub door: StopDoor,
    /// The queue the audit bus's drill rule copies records to.
    pub audit_queue_url: String,
    /// How long to wait for the canary to be stopped.
    pub deadline: Duration,
    /// CloudWatch namespace of the metrics line.
    pub metrics_namespace: String,
}

impl DrillConfig {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<DrillConfig, ConfigError> {
        DrillConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a test's table); empty counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<DrillConfig, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let required = |name: &'static str| get(name).ok_or_else(|| invalid(name, "required, and not set"));
        let mut canaries = vec![
            Canary::state_machine(&required("FIRE_DRILL_STATE_MACHINE_ARN")?)
                .map_err(|p| invalid("FIRE_DRILL_STATE_MACHINE_ARN", p))?,
        ];
        if let Some(function) = get("FIRE_DRILL_DURABLE_FUNCTION_ARN") {
            canaries.push(Canary::durable(&function).map_err(|p| invalid("FIRE_DRILL_DURABLE_FUNCTION_ARN", p))?);
        }
        let source = get("FIRE_DRILL_SOURCE").unwrap_or_else(|| DEFAULT_SOURCE.to_owned());
        check_source(&source).map_err(|p| invalid("FIRE_DRILL_SOURCE", p))?;
        let door = StopDoor { bus: required("FIRE_DRILL_STOP_REQUEST_BUS")?, source };
        let audit_queue_url = required("FIRE_DRILL_AUDIT_QUEUE_URL")?;
        let deadline = match get("FIRE_DRILL_DEADLINE_SECONDS") {
            None => DEFAULT_DEADLINE,
            Some(text) => parse_deadline(&text).map_err(|p| invalid("FIRE_DRILL_DEADLINE_SECONDS", p))?,
        };
        let metrics_namespace = get("FIRE_DRILL_METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        if metrics_namespace.starts_with("AWS/") || metrics_namespace.len() > 255 {
            return Err(invalid("FIRE_DRILL_METRICS_NAMESPACE", "must not start with AWS/ and fit in 255 characters"));
        }
        Ok(DrillConfig { canaries, door, audit_queue_url, deadline, metrics_namespace })
    }
}

/// A deadline in whole seconds, 5 to 600: shorter cannot see a stop through EventBridge, longer outlives the
/// function's own timeout.
pub fn parse_deadline(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(seconds @ 5..=600) => Ok(Duration::from_secs(seconds)),
        _ => Err(format!("{text:?} is not a whole number of seconds from 5 to 600")),
    }
}

/// EventBridge refuses sources that start with `aws.` from anyone but AWS, and a source is at most 256 characters.
fn check_source(source: &str) -> Result<(), String> {
    if source.starts_with("aws.") || source.len() > 256 {
        return Err(format!("{source:?}: a source must not start with aws. and fit in 256 characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:prod-fire-drill-canary";
    const DURABLE: &str = "arn:aws:lambda:us-east-1:123456789012:function:prod-fire-drill-canary:live";

    fn read(pairs: &[(&str, &str)]) -> Result<DrillConfig, ConfigError> {
        let base = [
            ("FIRE_DRILL_STATE_MACHINE_ARN", MACHINE),
            ("FIRE_DRILL_STOP_REQUEST_BUS", "prod-stop-requests"),
            ("FIRE_DRILL_AUDIT_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/q"),
        ];
        let mut env: HashMap<String, String> =
            base.iter().chain(pairs).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.retain(|_, v| v != "<unset>");
        DrillConfig::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn the_defaults_drill_the_state_machine_through_the_drills_own_source() {
        let config = read(&[]).unwrap();
        assert_eq!(config.canaries, [Canary::state_machine(MACHINE).unwrap()]);
        assert_eq!(config.door.source, DEFAULT_SOURCE);
        assert_eq!(config.deadline, DEFAULT_DEADLINE);
        assert_eq!(config.metrics_namespace, DEFAULT_NAMESPACE);
    }

    #[test]
    fn a_durable_function_adds_a_second_canary() {
        let config = read(&[("FIRE_DRILL_DURABLE_FUNCTION_ARN", DURABLE)]).unwrap();
        assert_eq!(config.canaries.len(), 2);
        assert_eq!(config.canaries[1], Canary::durable(DURABLE).unwrap());
    }

    #[test]
    fn each_error_names_its_variable() {
        let cases = [
            ("FIRE_DRILL_STATE_MACHINE_ARN", "<unset>"),
            ("FIRE_DRILL_STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:execution:m:e"),
            ("FIRE_DRILL_DURABLE_FUNCTION_ARN", "arn:aws:lambda:us-east-1:123456789012:function:unqualified"),
            ("FIRE_DRILL_STOP_REQUEST_BUS", "  "),
            ("FIRE_DRILL_AUDIT_QUEUE_URL", "<unset>"),
            ("FIRE_DRILL_SOURCE", "aws.states"),
            ("FIRE_DRILL_DEADLINE_SECONDS", "4"),
            ("FIRE_DRILL_DEADLINE_SECONDS", "a minute"),
            ("FIRE_DRILL_METRICS_NAMESPACE", "AWS/Lambda"),
        ];
        for (variable, value) in cases {
            let err = read(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable, "{value:?}: {err}");
            assert!(err.to_string().starts_with(variable), "{err}");
        }
    }
}
