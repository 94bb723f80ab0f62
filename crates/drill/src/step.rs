//! The steps of a drill, in the order they run, and its verdict: the first step that failed, with why.

use std::fmt;

/// One step of a drill. The first that fails is the verdict; a drill that passes them all reports `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Starting the canary execution.
    Start,
    /// Durable drills only: the canary function's durable executions listed without a qualifier (as the gateway
    /// lists them to stop a whole function) include the one just started on a version. A state-machine drill
    /// has nothing to list and passes it without a call, so its verdict, table row and metrics are as before.
    Listed,
    /// Asking the gateway to stop it, and the gateway's decision (a refusal fails here).
    Request,
    /// The execution ended stopped (ABORTED; durable: STOPPED) within the deadline.
    Stopped,
    /// Exactly one audit record for it reached the audit bus, and it says `stopped`.
    Audit,
    /// The stop's cause (durable: `ErrorData`) names that record.
    Cause,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 6] = [Step::Start, Step::Listed, Step::Request, Step::Stopped, Step::Audit, Step::Cause];

    /// The step's name, as the metrics' `Step` dimension and the log line carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Start => "start",
            Step::Listed => "listed",
            Step::Request => "request",
            Step::Stopped => "stopped",
            Step::Audit => "audit",
            Step::Cause => "cause",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed drill: the step that failed and what was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The first step that failed.
    pub step: Step,
    /// What was seen, in words an operator can act on.
    pub why: String,
}

impl Failure {
    /// A failure at `step`.
    pub fn at(step: Step, why: impl Into<String>) -> Failure {
        Failure { step, why: why.into() }
    }
}

/// The verdict of one drill.
pub type Verdict = Result<(), Failure>;

/// The `Step` dimension of a verdict: the failing step, or `none` for a pass.
pub fn step_name(verdict: &Verdict) -> &'static str {
    match verdict {
        Ok(()) => "none",
        Err(failure) => failure.step.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_named_in_the_order_they_run() {
        let names: Vec<&str> = Step::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["start", "listed", "request", "stopped", "audit", "cause"]);
    }

    #[test]
    fn a_pass_has_step_none_and_a_failure_its_step() {
        assert_eq!(step_name(&Ok(())), "none");
        assert_eq!(step_name(&Err(Failure::at(Step::Audit, "no record"))), "audit");
    }
}
