//! Test support for stop-gateway, shared by both test suites, the benchmarks and the demo as a real dependency.
//!
//! - [`mocks`]: a gateway whose SDK clients are aws-smithy-mocks clients, the example policy, and a sink that
//!   records audit events in memory;
//! - [`standins`]: the local AWS stand-ins, started as one Python process and read through the AWS SDK for Rust
//!   and the proxies' own endpoints;
//! - [`gateway_process`]: the real gateway binary under a [`runtime_api`] emulator, and the samples sent to it;
//! - [`fault_proxy`]: a proxy that injects throttling, errors, slowness and resets in front of a stand-in;
//! - [`raw_http`]: HTTP/1.1 by hand, for the emulators and proxies here and the stand-ins' own endpoints;
//! - [`quota_proxy`]: a proxy that keeps AWS Step Functions' default API quotas in front of a stand-in and
//!   reports how close its callers came to them;
//! - [`latency_model`]: a latency model of Step Functions (not a stand-in): the three calls the gateway makes,
//!   in memory, each answer held for a fixed, assumed latency, for the bulk benchmark;
//! - [`api_front`]: an HTTP API (v2) front in front of that runtime, for the contract test;
//! - [`fire_drill`]: the buses, queues and canaries of a fire drill at the stand-ins, and the forwarder shim that
//!   stands in for the stop-request bus's rule targeting the gateway.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a panic with a message is the failure report

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub mod api_front;
pub mod fault_proxy;
pub mod fire_drill;
pub mod gateway_process;
pub mod latency_model;
pub mod mocks;
pub mod quota_proxy;
pub mod raw_http;
pub mod runtime_api;
pub mod standins;

/// How long any stand-in, helper call or invocation may take before the suite gives up with a message.
pub const WAIT: Duration = Duration::from_secs(60);

/// The repository root (this crate lives one folder below it).
pub fn repo() -> PathBuf {
    let testkit = Path::new(env!("CARGO_MANIFEST_DIR"));
    testkit.parent().unwrap_or(testkit).to_path_buf()
}

/// A number no other call in this process returns (the clock, with a counter for calls in the same tick), for
/// names of temporary files, request ids and test resources.
pub(crate) fn unique() -> u128 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    (nanos << 16) | u128::from(CALLS.fetch_add(1, Ordering::Relaxed) & 0xffff)
}
