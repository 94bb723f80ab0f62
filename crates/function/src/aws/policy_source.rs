//! The policy in force, beside its Parameter Store I/O. Loaded at start-up from `POLICY` or `POLICY_FILE`, or
//! read from an SSM parameter, again when `POLICY_REFRESH_SECONDS` have passed, at the next request (a Lambda
//! instance runs nothing between requests). A refresh that fails or does not validate keeps the last good
//! policy, logged and metered (`Metrics`). When no policy could ever be loaded, every request is still
//! answered and audited, as `policy_unavailable`, and the parameter is read again within seconds.

use std::sync::Arc;
use std::time::Duration;

use stop_gateway_core::policy_doc::{LoadedPolicy, load};
use tokio::sync::Mutex;
use tokio::time::Instant;

use stop_gateway_core::domain::failure::error_chain;

use super::ssm::PolicyParameter;
use crate::metrics::Metrics;

/// Where the policy comes from.
enum Source {
    /// Loaded once at start-up (`POLICY`, `POLICY_FILE`, or a test's document).
    Fixed,
    /// An SSM parameter, read again every `refresh`.
    Parameter { parameter: PolicyParameter, refresh: Duration, dry_run: bool },
}

struct State {
    current: Option<Arc<LoadedPolicy>>,
    /// Why there is no policy (or why the last refresh was not taken).
    error: Option<String>,
    /// When the parameter is to be read next (`None`: at the next request).
    read_next: Option<Instant>,
    /// Reads that failed in a row while no policy was in force (the backoff's exponent).
    failed_reads: u32,
}

/// While an instance has no policy at all, it reads again after 1, 2, 4, then every 8 seconds, whatever the
/// refresh interval: every request in between is answered `policy_unavailable`, so a cold start that met a
/// Parameter Store blip must not stay without a policy for an hour. With a policy in force, a failed refresh
/// waits the ordinary interval: the last good policy goes on deciding.
const NO_POLICY_RETRY_MAX: Duration = Duration::from_secs(8);

fn no_policy_backoff(failed_reads: u32) -> Duration {
    Duration::from_secs(1 << failed_reads.saturating_sub(1).min(3)).min(NO_POLICY_RETRY_MAX)
}

/// The policy in force, shared by every request of an instance.
pub struct PolicyStore {
    source: Source,
    state: Mutex<State>,
    metrics: Option<Metrics>,
}

impl PolicyStore {
    /// A policy loaded once: `loaded` is the document, or why it could not be used.
    pub fn fixed(loaded: Result<LoadedPolicy, String>) -> PolicyStore {
        let (current, error) = match loaded {
            Ok(policy) => (Some(Arc::new(policy)), None),
            Err(why) => (None, Some(why)),
        };
        let state = State { current, error, read_next: None, failed_reads: 0 };
        PolicyStore { source: Source::Fixed, state: Mutex::new(state), metrics: None }
    }

    /// A policy read from an SSM parameter at the first request and again every `refresh`; refresh failures
    /// are written as metrics under `metrics`.
    pub fn parameter(parameter: PolicyParameter, refresh: Duration, dry_run: bool, metrics: Metrics) -> PolicyStore {
        PolicyStore {
            source: Source::Parameter { parameter, refresh, dry_run },
            state: Mutex::new(State { current: None, error: None, read_next: None, failed_reads: 0 }),
            metrics: Some(metrics),
        }
    }

    /// The policy in force, read again first when a parameter's refresh is due; or why there is none.
    pub async fn current(&self) -> Result<Arc<LoadedPolicy>, String> {
        let mut state = self.state.lock().await;
        if let Source::Parameter { parameter, refresh, dry_run } = &self.source
            && state.read_next.is_none_or(|at| Instant::now() >= at)
        {
            state.read_next = Some(Instant::now() + *refresh);
            let known = state.current.as_ref().and_then(|c| c.version.ssm_version);
            let read = match parameter.fetch().await {
                Ok(value) if known == Some(value.version) => Ok(None),
                Ok(value) => load(&value.text, "ssm", Some(value.version), *dry_run).map(Some).map_err(|why| {
                    format!("parameter {} version {}: invalid policy at {why}", parameter.name(), value.version)
                }),
                Err(err) => {
                    tracing::warn!(parameter = parameter.name(), error = %error_chain(&err), "policy parameter read failed");
                    Err(err.to_string())
                }
            };
            match read {
                Ok(None) => {}
                Ok(Some(loaded)) => {
                    tracing::info!(
                        parameter = parameter.name(),
                        ssm_version = loaded.version.ssm_version,
                        sha256 = %loaded.version.sha256,
                        "policy loaded"
                    );
                    state.current = Some(Arc::new(loaded));
                    state.error = None;
                    state.failed_reads = 0;
                }
                Err(why) => {
                    let kept = state.current.as_ref().map(|c| c.version.sha256.clone());
                    tracing::warn!(parameter = parameter.name(), kept = ?kept, error = %why, "policy refresh failed; keeping the last good policy");
                    if let Some(metrics) = &self.metrics {
                        metrics.policy_refresh_failed();
                    }
                    state.error = Some(why);
                    if state.current.is_none() {
                        state.failed_reads += 1;
                        state.read_next = Some(Instant::now() + no_policy_backoff(state.failed_reads).min(*refresh));
                    }
                }
            }
        }
        match &state.current {
            Some(policy) => Ok(policy.clone()),
            None => Err(state.error.clone().unwrap_or_else(|| "no policy has been loaded".to_owned())),
        }
    }
}
