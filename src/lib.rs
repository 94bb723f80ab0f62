//! stop-gateway: the one safe door through which people and alarms stop running work in an AWS account.
//!
//! The flow reads top to bottom: [`inbound`] recognises the event and builds a [`domain::request::StopRequest`];
//! [`service`] applies the [`domain::policy`] and drives the [`aws`] adapters; [`handler`] ties one invocation
//! together and emits exactly one [`domain::audit::AuditEvent`].

#[cfg(feature = "runtime")]
pub mod aws;
#[cfg(feature = "runtime")]
pub mod config;
pub mod domain;
#[cfg(feature = "runtime")]
pub mod handler;
pub mod inbound;
pub mod logging;
#[cfg(feature = "runtime")]
pub mod pacing;
pub mod policy_file;
#[cfg(feature = "runtime")]
pub mod service;
