//! The states the gateway reads: an execution's status (Step Functions and durable executions in one
//! vocabulary, mapped once by each adapter) and an alarm's state. What can be stopped and what counts as stopped
//! is decided here, never by comparing strings elsewhere.

use std::fmt;

/// An execution's status, as either service reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExecutionStatus {
    /// Running (both services).
    Running,
    /// A durable execution being paused.
    Pausing,
    /// A durable execution paused.
    Paused,
    /// A durable execution stopped (`StopDurableExecution`).
    Stopped,
    /// A Step Functions execution stopped (`StopExecution`).
    Aborted,
    /// Ended successfully.
    Succeeded,
    /// Ended with a failure.
    Failed,
    /// Ended by its timeout.
    TimedOut,
    /// A Step Functions execution waiting to be redriven: not running yet, so not stoppable.
    PendingRedrive,
    /// A status this build does not know (a service may add one): never stoppable, reported as received.
    Other(String),
}

impl ExecutionStatus {
    /// The status as the services spell it (`RUNNING`, `TIMED_OUT`, …).
    pub fn parse(status: &str) -> ExecutionStatus {
        match status {
            "RUNNING" => ExecutionStatus::Running,
            "PAUSING" => ExecutionStatus::Pausing,
            "PAUSED" => ExecutionStatus::Paused,
            "STOPPED" => ExecutionStatus::Stopped,
            "ABORTED" => ExecutionStatus::Aborted,
            "SUCCEEDED" => ExecutionStatus::Succeeded,
            "FAILED" => ExecutionStatus::Failed,
            "TIMED_OUT" => ExecutionStatus::TimedOut,
            "PENDING_REDRIVE" => ExecutionStatus::PendingRedrive,
            other => ExecutionStatus::Other(other.to_owned()),
        }
    }

    /// The service's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Pausing => "PAUSING",
            ExecutionStatus::Paused => "PAUSED",
            ExecutionStatus::Stopped => "STOPPED",
            ExecutionStatus::Aborted => "ABORTED",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::PendingRedrive => "PENDING_REDRIVE",
            ExecutionStatus::Other(other) => other,
        }
    }

    /// Whether a stop call would act on it: running, or (durable executions) pausing or paused. "Stops a running
    /// or paused durable execution" (StopDurableExecution); StopExecution acts only while RUNNING.
    pub fn is_stoppable(&self) -> bool {
        matches!(self, ExecutionStatus::Running | ExecutionStatus::Pausing | ExecutionStatus::Paused)
    }

    /// Whether it ended by a stop (ABORTED for Step Functions, STOPPED for durable executions).
    pub fn is_stopped(&self) -> bool {
        matches!(self, ExecutionStatus::Aborted | ExecutionStatus::Stopped)
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CloudWatch alarm's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmState {
    /// `ALARM`: the only state that acts or latches.
    Alarm,
    /// `OK`.
    Ok,
    /// `INSUFFICIENT_DATA`.
    InsufficientData,
    /// A state this build does not know: never acts.
    Other(String),
}

impl AlarmState {
    /// The state as CloudWatch spells it.
    pub fn parse(state: &str) -> AlarmState {
        match state {
            "ALARM" => AlarmState::Alarm,
            "OK" => AlarmState::Ok,
            "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
            other => AlarmState::Other(other.to_owned()),
        }
    }

    /// CloudWatch's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            AlarmState::Alarm => "ALARM",
            AlarmState::Ok => "OK",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
            AlarmState::Other(other) => other,
        }
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_only_running_or_paused_ones_are_stoppable() {
        let all = [
            "RUNNING",
            "PAUSING",
            "PAUSED",
            "STOPPED",
            "ABORTED",
            "SUCCEEDED",
            "FAILED",
            "TIMED_OUT",
            "PENDING_REDRIVE",
            "NEW",
        ];
        for status in all {
            let parsed = ExecutionStatus::parse(status);
            assert_eq!(parsed.as_str(), status);
            assert_eq!(parsed.is_stoppable(), ["RUNNING", "PAUSING", "PAUSED"].contains(&status), "{status}");
            assert_eq!(parsed.is_stopped(), ["STOPPED", "ABORTED"].contains(&status), "{status}");
        }
        assert_eq!(AlarmState::parse("ALARM"), AlarmState::Alarm);
        assert_eq!(AlarmState::parse("LATER").as_str(), "LATER");
    }
}
