//! Adapters: the only code that knows the AWS SDK. Each owns SDK clients and speaks domain types and
//! [`StopError`](crate::error::StopError) to the rest of the gateway.
//!
//! Our code decides what to call and when (describe first, one stop attempt, a describe before any resend,
//! pacing, the deadline); the SDK decides how (credentials, signing, endpoint rules, retries of reads, error
//! models). Clients are built once from one shared `SdkConfig`, per region on first use.

pub mod accounts;
pub mod alarms;
pub mod audit_bus;
pub mod durable;
pub mod errors;
pub mod pacing;
pub mod regional;
pub mod sdk;
pub mod sfn;
pub mod ssm;

use crate::domain::target::TargetArn;

/// An execution a list call returned, with the status the list reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The execution.
    pub target: TargetArn,
    /// Its status when listed (`RUNNING`; for durable executions also `PAUSING` or `PAUSED`).
    pub status: String,
}

/// Adds the executions a list call returned, as target ARNs with their listed status. An ARN the gateway
/// refuses is one it would never stop, so it is logged rather than dropped silently.
pub(crate) fn collect_listed<'a>(
    api: pacing::Api,
    listed: impl Iterator<Item = (&'a str, &'a str)>,
    into: &mut Vec<Listed>,
) {
    for (arn, status) in listed {
        match TargetArn::parse(arn) {
            Ok(target) => into.push(Listed { target, status: status.to_owned() }),
            Err(err) => tracing::warn!(api = api.name(), error = %err, "a listed execution ARN is not accepted"),
        }
    }
}
