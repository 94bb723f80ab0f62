//! The outcome codes: the stable names every answer, audit record and metrics line uses for what a request came
//! to, and which of them mean success. One list, so the metrics, the disposition's table and
//! `scripts/check-metrics`' sample lines can each cover all of them.

use std::fmt;

/// Every outcome code a request record can carry, stable across releases: answers, audit records and metrics
/// use these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutcomeCode {
    /// The execution was running and is now stopped (or every execution of a bulk stop ended stopped).
    Stopped,
    /// It had already ended.
    AlreadyFinished,
    /// Allowed, only reported.
    DryRun,
    /// Nothing to act on.
    Ignored,
    /// A bulk stop with work left for a retry.
    Incomplete,
    /// A bulk stop that left executions running for good.
    StopFailed,
    /// Malformed request.
    InvalidRequest,
    /// A target in an account the policy names no role for.
    AccountNotConfigured,
    /// An HTTP path other than the route.
    RouteNotFound,
    /// An HTTP method other than the route's.
    MethodNotAllowed,
    /// An HTTP body over the limit.
    PayloadTooLarge,
    /// An HTTP request without an IAM identity.
    Unauthenticated,
    /// A door this function does not serve (the other function of the deployment does).
    DoorNotServed,
    /// The policy said no.
    Denied,
    /// A listed execution the gateway will not touch.
    Refused,
    /// The execution does not exist.
    NotFound,
    /// The target cannot be stopped here.
    NotStoppable,
    /// A bulk stop over the cap.
    BlastRadiusExceeded,
    /// AWS is throttling.
    Throttled,
    /// AWS failed.
    UpstreamError,
    /// No policy is in force.
    PolicyUnavailable,
}

impl OutcomeCode {
    /// Every code, for checks that must cover them all (the metrics, `scripts/check-metrics`' sample lines).
    pub const ALL: [OutcomeCode; 21] = [
        OutcomeCode::Stopped,
        OutcomeCode::AlreadyFinished,
        OutcomeCode::DryRun,
        OutcomeCode::Ignored,
        OutcomeCode::Incomplete,
        OutcomeCode::StopFailed,
        OutcomeCode::InvalidRequest,
        OutcomeCode::AccountNotConfigured,
        OutcomeCode::RouteNotFound,
        OutcomeCode::MethodNotAllowed,
        OutcomeCode::PayloadTooLarge,
        OutcomeCode::Unauthenticated,
        OutcomeCode::DoorNotServed,
        OutcomeCode::Denied,
        OutcomeCode::Refused,
        OutcomeCode::NotFound,
        OutcomeCode::NotStoppable,
        OutcomeCode::BlastRadiusExceeded,
        OutcomeCode::Throttled,
        OutcomeCode::UpstreamError,
        OutcomeCode::PolicyUnavailable,
    ];

    /// The code's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeCode::Stopped => "stopped",
            OutcomeCode::AlreadyFinished => "already_finished",
            OutcomeCode::DryRun => "dry_run",
            OutcomeCode::Ignored => "ignored",
            OutcomeCode::Incomplete => "incomplete",
            OutcomeCode::StopFailed => "stop_failed",
            OutcomeCode::InvalidRequest => "invalid_request",
            OutcomeCode::AccountNotConfigured => "account_not_configured",
            OutcomeCode::RouteNotFound => "route_not_found",
            OutcomeCode::MethodNotAllowed => "method_not_allowed",
            OutcomeCode::PayloadTooLarge => "payload_too_large",
            OutcomeCode::Unauthenticated => "unauthenticated",
            OutcomeCode::DoorNotServed => "door_not_served",
            OutcomeCode::Denied => "denied",
            OutcomeCode::Refused => "refused",
            OutcomeCode::NotFound => "not_found",
            OutcomeCode::NotStoppable => "not_stoppable",
            OutcomeCode::BlastRadiusExceeded => "blast_radius_exceeded",
            OutcomeCode::Throttled => "throttled",
            OutcomeCode::UpstreamError => "upstream_error",
            OutcomeCode::PolicyUnavailable => "policy_unavailable",
        }
    }

    /// Whether what was asked for is done, or nothing was asked: everything else is a failure (for automated
    /// doors, a kill-switch that did not act).
    pub fn is_success(self) -> bool {
        matches!(self, OutcomeCode::Stopped | OutcomeCode::AlreadyFinished | OutcomeCode::DryRun | OutcomeCode::Ignored)
    }
}

impl fmt::Display for OutcomeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for OutcomeCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}
