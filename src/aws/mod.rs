//! Adapters: the only code that knows the AWS SDK. Each owns SDK clients and speaks domain types and
//! [`StopError`](crate::error::StopError) to the rest of the gateway.
//!
//! Our code decides what to call and when (describe first, one stop attempt, a describe before any resend,
//! pacing, the deadline); the SDK decides how (credentials, signing, endpoint rules, retries of reads, error
//! models). Clients are built once from one shared `SdkConfig`, per region on first use.

pub mod audit_bus;
pub mod durable;
pub mod errors;
pub mod pacing;
pub mod regional;
pub mod sdk;
pub mod sfn;
pub mod ssm;

use crate::domain::target::TargetArn;

/// Adds the executions a list call returned, as target ARNs. An ARN the gateway refuses is one it would never
/// stop, so it is logged rather than dropped silently.
pub(crate) fn collect_listed<'a>(api: pacing::Api, arns: impl Iterator<Item = &'a str>, into: &mut Vec<TargetArn>) {
    for arn in arns {
        match TargetArn::parse(arn) {
            Ok(target) => into.push(target),
            Err(err) => tracing::warn!(api = api.name(), error = %err, "a listed execution ARN is not accepted"),
        }
    }
}
