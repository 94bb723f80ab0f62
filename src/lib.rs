//! stop-gateway: the one safe door through which people and alarms stop running work in an AWS account.
//!
//! The flow reads top to bottom: [`inbound`] recognises the event and builds a [`domain::request::StopRequest`];
//! [`service`] applies the [`domain::policy`] and drives the [`aws`] adapters; [`error`] decides what the result
//! means for the door; [`handler`] ties one invocation together and emits exactly one audit record.
//!
//! Without the `runtime` feature the library is ingress, domain and the policy document only (no SDK, no Lambda
//! runtime), which is what the fuzz targets build.

#[cfg(feature = "runtime")]
pub mod aws;
pub mod config;
pub mod domain;
pub mod error;
#[cfg(feature = "runtime")]
pub mod handler;
pub mod inbound;
pub mod logging;
pub mod metrics;
#[cfg(feature = "runtime")]
pub mod policy_tool;
#[cfg(feature = "runtime")]
pub mod service;
