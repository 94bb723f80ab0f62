//! stop-gateway, the Lambda function: the one safe door through which people and alarms stop running work in
//! an AWS account.
//!
//! The flow reads top to bottom: [`handler`] takes one invocation through the core's doors
//! (`stop_gateway_core::inbound`), the [`service`] (the stop flow) and the [`aws`] adapters, then emits exactly
//! one audit record per request through a [`sink::AuditSink`]. [`config`] is the settings `main` builds the
//! rest from; [`metrics`] and [`logging`] write the lines CloudWatch reads.

pub mod aws;
pub mod config;
pub mod handler;
pub mod logging;
pub mod metrics;
pub mod service;
pub mod sink;
