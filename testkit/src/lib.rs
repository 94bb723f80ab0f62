//! Test support for stop-gateway, shared by both test suites, the benchmarks and the demo as a real dependency.
//!
//! - [`mocks`]: a gateway whose SDK clients are aws-smithy-mocks clients, the example policy, and a sink that
//!   records audit events in memory;
//! - [`standins`]: the local AWS stand-ins, a Lambda Runtime API in front of the real gateway binary, fault
//!   proxies and samples;
//! - [`quota_proxy`]: a proxy that keeps AWS Step Functions' default API quotas in front of a stand-in and
//!   reports how close its callers came to them;
//! - [`latency_model`]: a latency model of Step Functions (not a stand-in): the three calls the gateway makes,
//!   in memory, each answer held for a fixed, assumed latency, for the bulk benchmark;
//! - [`api_front`]: an HTTP API (v2) front in front of that runtime, for the contract test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a panic with a message is the failure report

pub mod api_front;
pub mod latency_model;
pub mod mocks;
pub mod quota_proxy;
pub mod standins;
