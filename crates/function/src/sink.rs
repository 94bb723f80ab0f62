//! Where audit records go: the seam between the handler and the audit bus (and a test's memory). Emitting never
//! fails from the caller's point of view: a sink that cannot deliver says so in its own log lines, and the
//! request's outcome is unchanged.

use std::future::Future;

use stop_gateway_core::domain::audit::AuditEvent;

/// A destination for audit records.
pub trait AuditSink {
    /// Records the events of one invocation (each request record first, then its execution records),
    /// finishing before `deadline` so the invocation can still answer.
    fn emit(&self, events: &[AuditEvent], deadline: tokio::time::Instant) -> impl Future<Output = ()> + Send;
}
