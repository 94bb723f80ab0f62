//! The stop body both the HTTP and the EventBridge doors carry (`targetArn`, `reason`, `error`, `dryRun`,
//! `confirmCount`), and its parsing into a [`StopRequest`] for an attested caller.

use serde::Deserialize;

use super::error::IngressError;
use crate::domain::audit::Facts;
use crate::domain::caller::Caller;
use crate::domain::request::{Door, StopRequest};
use crate::domain::target::TargetArn;
use crate::domain::text::{ErrorCode, Overflow, Reason};

/// The body of an HTTP stop request and the `detail` of a stop event: the one request shape both doors share. Unknown fields are refused, so an
/// identity smuggled into the body (`"caller"`, `"principal"`, …) is an error rather than silently ignored.
/// A field may be left out but not sent as `null`: `"dryRun": null` must not quietly mean a real stop.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct StopBody {
    #[serde(default, deserialize_with = "not_null")]
    target_arn: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    reason: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    error: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    dry_run: Option<bool>,
    /// A count of executions; more than `u32::MAX` is a malformed request, not a confirmation.
    #[serde(default, deserialize_with = "not_null")]
    confirm_count: Option<u32>,
}

/// A present field must hold a value of its type; only absence means "not given".
fn not_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Parses a stop body sent by an attested `caller` into a request, noting what it said in `facts` first.
pub(super) fn build_request(
    body: StopBody,
    caller: Caller,
    source: Door,
    facts: &mut Facts,
) -> Result<StopRequest, IngressError> {
    facts.target.clone_from(&body.target_arn);
    facts.reason.clone_from(&body.reason);
    facts.error_code.clone_from(&body.error);
    facts.dry_run = body.dry_run.unwrap_or(false);
    let invalid = |field: &str, err: &dyn std::fmt::Display| IngressError::Invalid(format!("{field}: {err}"));
    let target = body.target_arn.as_deref().ok_or_else(|| IngressError::Invalid("targetArn is required".into()))?;
    let target = TargetArn::parse(target).map_err(|e| invalid("targetArn", &e))?;
    let reason = body.reason.as_deref().ok_or_else(|| IngressError::Invalid("reason is required".into()))?;
    // People can shorten and resend; an alarm cannot, and a kill-switch must not fail over its text.
    let overflow = if source.is_http() { Overflow::Reject } else { Overflow::Truncate };
    let reason = Reason::parse(reason, overflow).map_err(|e| invalid("reason", &e))?;
    let error_code = body.error.as_deref().map(ErrorCode::parse).transpose().map_err(|e| invalid("error", &e))?;
    let request = StopRequest {
        targets: vec![target],
        reason,
        error_code,
        dry_run: facts.dry_run,
        caller,
        door: source,
        confirm_count: body.confirm_count.map(u64::from),
    };
    *facts = Facts::from_request(&request, facts);
    Ok(request)
}
