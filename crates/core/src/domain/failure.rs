//! What can go wrong with a stop once a request is parsed, and what an upstream failure means: whether trying
//! again may succeed ([`Fault::transient`]) and whether the failed call may have acted ([`Sent`]). The adapters
//! classify (the function crate's `aws::errors`); the stop flow and the disposition only read. No door, no HTTP.

use std::time::Duration;

use super::code::OutcomeCode;

/// A boxed upstream error, kept as the source of [`StopError`] variants so logs can print the whole chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Whether a call that failed may still have acted. A stop flow reads it before it sends a stop again: only a
/// stop that was not sent, or that the service refused, can be resent without describing the execution first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The request never left the gateway (it could not be built, or its credentials could not be had).
    NotSent,
    /// The service answered with a refusal: it did not act.
    Refused,
    /// The answer was lost or is a server fault: the call may have acted.
    Unknown,
}

/// What an upstream failure means, decided in one place (`aws::errors`) for every service: whether trying
/// again may succeed, and whether the failed call may have acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// Whether a later try may succeed (5xx, timeouts, lost connections, the SDK's transient codes).
    pub transient: bool,
    /// Whether the call may have acted.
    pub sent: Sent,
}

/// Every way a stop can fail once a request is parsed: the policy's refusals, the targets', and AWS's. Messages
/// are safe to show callers; upstream detail stays in `source()`. Nothing here knows a door or an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    /// The request is malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// The policy said no.
    #[error("{0}")]
    Denied(String),
    /// A listed execution the gateway will not touch: it does not belong to the listed target, or the policy
    /// does not allow it on its own.
    #[error("{0}")]
    Refused(String),
    /// The execution does not exist.
    #[error("{0} does not exist")]
    NotFound(String),
    /// The target is recognised but cannot be stopped here.
    #[error("{0}")]
    NotStoppable(String),
    /// A bulk stop would stop more executions than the policy allows without confirmation.
    #[error(
        "this request would stop {count} executions; the policy allows {limit} per request, so none were stopped (API callers confirm by resending with \"confirmCount\": {count})"
    )]
    BlastRadiusExceeded {
        /// Executions that would be stopped.
        count: usize,
        /// The policy's cap.
        limit: usize,
    },
    /// The target service is throttling; retry later.
    #[error("{service} is throttling requests; retry later")]
    Throttled {
        /// Which service.
        service: &'static str,
        /// How long the service asked us to wait (`Retry-After`), if it said.
        retry_after: Option<Duration>,
        /// The upstream error.
        #[source]
        source: BoxError,
    },
    /// Step Functions refused a stop because it could not use the execution's KMS key to encrypt the stop's
    /// error and cause (access denied, or the key disabled or pending deletion). A stop without them needs no
    /// KMS permission, so the service may send one (see the policy's `kms_fallback`).
    #[error("{service} could not use the execution's KMS key for the stop's error and cause")]
    KmsKeyUnusable {
        /// Which service.
        service: &'static str,
        /// The upstream error.
        #[source]
        source: BoxError,
    },
    /// A target in another account that the policy names no role for: refused before any call.
    #[error(
        "no role is configured for account {0}: the gateway acts in its own account and in accounts the policy's account_roles name a role for"
    )]
    AccountNotConfigured(String),
    /// The role of a target's account could not be assumed (trust policy, external id, STS).
    #[error("could not assume {role} to act in account {account}")]
    AssumeRoleFailed {
        /// The role's ARN.
        role: String,
        /// The target account.
        account: String,
        /// Whether trying again may succeed (an STS outage, throttling, a timeout), as `aws::errors` classifies it.
        transient: bool,
        /// The upstream error.
        #[source]
        source: BoxError,
    },
    /// The tags of an alarm in ALARM that may latch could not be read, so the latch cannot tell what it covers.
    #[error(
        "could not read the tags of alarm {alarm}, which may latch this target; the latch cannot tell what it covers"
    )]
    LatchUnreadable {
        /// The alarm's ARN.
        alarm: String,
        /// Whether trying again may succeed.
        transient: bool,
        /// The upstream error.
        #[source]
        source: BoxError,
    },
    /// No policy could be loaded (or none yet): nothing can be decided, so nothing is stopped.
    #[error("no policy is in force, so nothing can be allowed: {0}")]
    PolicyUnavailable(String),
    /// The target service failed or could not be reached.
    #[error("{service} request failed")]
    Upstream {
        /// Which service.
        service: &'static str,
        /// Whether trying again may succeed, and whether the call may have acted.
        fault: Fault,
        /// The upstream error.
        #[source]
        source: BoxError,
    },
}

impl StopError {
    /// Stable machine-readable code.
    pub fn code(&self) -> OutcomeCode {
        match self {
            StopError::InvalidRequest(_) => OutcomeCode::InvalidRequest,
            StopError::Denied(_) => OutcomeCode::Denied,
            StopError::AccountNotConfigured(_) => OutcomeCode::AccountNotConfigured,
            StopError::Refused(_) => OutcomeCode::Refused,
            StopError::PolicyUnavailable(_) => OutcomeCode::PolicyUnavailable,
            StopError::NotFound(_) => OutcomeCode::NotFound,
            StopError::NotStoppable(_) => OutcomeCode::NotStoppable,
            StopError::BlastRadiusExceeded { .. } => OutcomeCode::BlastRadiusExceeded,
            StopError::Throttled { .. } => OutcomeCode::Throttled,
            StopError::KmsKeyUnusable { .. }
            | StopError::Upstream { .. }
            | StopError::AssumeRoleFailed { .. }
            | StopError::LatchUnreadable { .. } => OutcomeCode::UpstreamError,
        }
    }

    /// Whether an asynchronous invocation should fail so Lambda retries it: only transient upstream trouble.
    /// Everything else is a handled outcome; retrying would give the same answer.
    pub fn is_retryable(&self) -> bool {
        match self {
            // A fixed document or parameter may be repaired; an event retried later may find it.
            StopError::Throttled { .. } | StopError::PolicyUnavailable(_) => true,
            StopError::Upstream { fault, .. } => fault.transient,
            StopError::AssumeRoleFailed { transient, .. } | StopError::LatchUnreadable { transient, .. } => *transient,
            _ => false,
        }
    }

    /// Whether the failed call may have acted, so that whatever it asked must be checked before it is asked again
    /// (a stop whose answer was lost is followed by a describe, never by a blind second stop).
    pub fn may_have_acted(&self) -> bool {
        matches!(self, StopError::Upstream { fault: Fault { sent: Sent::Unknown, .. }, .. })
    }
}

/// An error and all its sources on one line, for logs.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(source) = next {
        out.push_str(": ");
        out.push_str(&source.to_string());
        next = source.source();
    }
    out
}
