//! Adapters: the only code that knows the AWS SDK. Each owns SDK clients and speaks domain types and
//! `StopError` to the rest of the gateway; [`executions`] is the one facade the stop flow calls for either
//! service's executions, and [`errors`] the one classification of what fails.
//!
//! Our code decides what to call and when (describe first, one stop attempt, a describe before any resend,
//! pacing, the deadline); the SDK decides how (credentials, signing, endpoint rules, retries of reads, error
//! models). Clients are built once from one shared `SdkConfig`, per region on first use; another account's are
//! built per request from its role session ([`reach`]).

pub mod alarms;
pub mod audit_bus;
pub mod durable;
pub mod errors;
pub mod executions;
pub mod listing;
pub mod pacing;
pub mod policy_source;
pub mod reach;
pub mod regional;
pub mod sdk;
pub mod sfn;
pub mod ssm;
