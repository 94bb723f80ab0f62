//! Pacing: every AWS call at the rate the quota allows, tried again while it is throttled, and never past the
//! invocation's deadline.
//!
//! One token bucket per (account, region, API), sized like AWS's default API quotas, so a bulk stop runs at the fastest
//! rate the account allows instead of tripping throttling and backing off; [`paced`] wraps every call the
//! adapters make. Knows nothing of the SDK: calls come in as closures that return [`StopError`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::errors::{MAX_THROTTLE_WAIT, abandoned, unsent};
#[cfg(test)]
use crate::config::PacingShare;
use crate::config::RateLimit;
use stop_gateway_core::domain::failure::StopError;
use stop_gateway_core::domain::target::Service;

/// The APIs the gateway calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// Step Functions `DescribeExecution`.
    DescribeExecution,
    /// Step Functions `StopExecution`.
    StopExecution,
    /// Step Functions `ListExecutions`.
    ListExecutions,
    /// Lambda `GetDurableExecution`.
    GetDurableExecution,
    /// Lambda `StopDurableExecution`.
    StopDurableExecution,
    /// Lambda `ListDurableExecutionsByFunction`.
    ListDurableExecutionsByFunction,
    /// Lambda `GetAlias` (to find the versions an alias serves).
    GetAlias,
    /// CloudWatch `DescribeAlarms` (which latching alarms are in ALARM).
    DescribeAlarms,
    /// CloudWatch `ListTagsForResource` on an alarm (its target tag).
    ListAlarmTags,
}

impl Api {
    const ALL: [Api; 9] = [
        Api::DescribeExecution,
        Api::StopExecution,
        Api::ListExecutions,
        Api::GetDurableExecution,
        Api::StopDurableExecution,
        Api::ListDurableExecutionsByFunction,
        Api::GetAlias,
        Api::DescribeAlarms,
        Api::ListAlarmTags,
    ];

    /// The service the API belongs to, as people write it.
    pub fn service_name(self) -> &'static str {
        match self {
            Api::DescribeExecution | Api::StopExecution | Api::ListExecutions => Service::StepFunctions.display_name(),
            Api::DescribeAlarms | Api::ListAlarmTags => "CloudWatch",
            _ => Service::Lambda.display_name(),
        }
    }

    /// Whether the call stops something (and so makes a single attempt: see `regional::Clients`).
    pub fn is_stop(self) -> bool {
        matches!(self, Api::StopExecution | Api::StopDurableExecution)
    }

    /// The API's name, as used in `RATE_LIMITS`.
    pub fn name(self) -> &'static str {
        match self {
            Api::DescribeExecution => "DescribeExecution",
            Api::StopExecution => "StopExecution",
            Api::ListExecutions => "ListExecutions",
            Api::GetDurableExecution => "GetDurableExecution",
            Api::StopDurableExecution => "StopDurableExecution",
            Api::ListDurableExecutionsByFunction => "ListDurableExecutionsByFunction",
            Api::GetAlias => "GetAlias",
            Api::DescribeAlarms => "DescribeAlarms",
            Api::ListAlarmTags => "ListTagsForResource",
        }
    }
}

/// A token bucket's size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens available at once.
    pub burst: f64,
    /// Tokens added per second.
    pub per_second: f64,
}

/// The part of each burst the pacer leaves unspent. Its calls reach AWS a little closer together or further
/// apart than they left it (connections, scheduling); once a fleet has spent the burst and runs at the refill
/// rate, a call that arrives early finds AWS's bucket empty and is throttled. Holding this much back keeps
/// AWS's bucket that many calls ahead of the pacer's own, for the cost of as many calls of the burst
/// (`scripts/bench-bulk`: 563 describes throttled in a 10 000-execution run without it).
const JITTER_RESERVE: f64 = 0.05;

impl Rate {
    /// What the pacer's own bucket holds: the burst less the reserve, and never less than one call (a burst of
    /// one or two has nothing to spare).
    fn paced_burst(self) -> f64 {
        (self.burst * (1.0 - JITTER_RESERVE)).max(self.burst.min(1.0))
    }
}

/// Step Functions and Lambda's durable APIs give these three regions bigger quotas.
const LARGE_REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

/// AWS's default quota for `api` in `region`. Step Functions' numbers follow its published API quotas
/// (`StopExecution` 1000 burst / 200 per second in the large regions, 500 / 25 elsewhere); Lambda's follow its
/// published durable-function quotas. Override any of them with `RATE_LIMITS` (an account with raised quotas).
pub fn default_rate(region: &str, api: Api) -> Rate {
    let large = LARGE_REGIONS.contains(&region);
    let (burst, per_second) = match (api, large) {
        (Api::StopExecution, true) => (1000.0, 200.0),
        (Api::StopExecution, false) => (500.0, 25.0),
        (Api::DescribeExecution, true) => (250.0, 100.0),
        (Api::DescribeExecution, false) => (200.0, 25.0),
        (Api::ListExecutions, _) => (100.0, 5.0),
        // Lambda's durable-function quotas (Lambda Developer Guide, quotas): GetDurableExecution 30 requests per
        // second, ListDurableExecutionsByFunction 15, StopDurableExecution 300 (600 in us-east-1, us-west-2 and
        // eu-west-1, the same three regions). No burst is published, so the bucket holds one second's worth.
        (Api::GetDurableExecution, _) => (30.0, 30.0),
        (Api::ListDurableExecutionsByFunction, _) => (15.0, 15.0),
        (Api::StopDurableExecution, true) => (600.0, 600.0),
        (Api::StopDurableExecution, false) => (300.0, 300.0),
        // GetAlias counts against Lambda's control-plane quota of 15 requests per second.
        (Api::GetAlias, _) => (15.0, 15.0),
        // CloudWatch: 9 DescribeAlarms a second, a conservative rate (a latch check makes one call, and one per
        // page of alarms in ALARM); tags are read for the few alarms that may latch. RATE_LIMITS overrides both.
        (Api::DescribeAlarms, _) => (9.0, 9.0),
        (Api::ListAlarmTags, _) => (10.0, 10.0),
    };
    Rate { burst, per_second }
}

#[derive(Debug)]
struct Bucket {
    rate: Rate,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let earned = now.duration_since(self.last).as_secs_f64() * self.rate.per_second;
        self.tokens = (self.tokens + earned).min(self.rate.paced_burst());
        self.last = now;
    }
}

/// One bucket, shared by every task calling that API in that account and region.
type SharedBucket = Arc<tokio::sync::Mutex<Bucket>>;

/// Token buckets per (account, region, API), created on first use and shared by every request the process
/// handles: AWS's quotas are per account and region. Each instance paces itself to its share of the quota
/// (`share`: the function's share, divided among its instances), so that every instance the function's reserved
/// concurrency allows, and the deployment's other function, together stay within it.
#[derive(Debug)]
pub struct Pacer {
    overrides: HashMap<Api, Rate>,
    share: f64,
    buckets: Mutex<HashMap<(String, String, Api), SharedBucket>>,
}

impl Default for Pacer {
    /// AWS's default quotas, all of them for this one instance.
    fn default() -> Self {
        Pacer { overrides: HashMap::new(), share: 1.0, buckets: Mutex::default() }
    }
}

impl Pacer {
    /// A pacer with AWS's defaults, overridden per API by `limits` (`RATE_LIMITS`), each taken at `share` (the
    /// fraction of every quota one instance may use); an API this pacer does not know is an error naming the
    /// ones it does.
    pub fn new(limits: &[RateLimit], share: f64) -> Result<Pacer, String> {
        let mut overrides = HashMap::new();
        for limit in limits {
            let api = Api::ALL.into_iter().find(|a| a.name() == limit.api).ok_or_else(|| {
                format!("unknown API {:?} (one of {})", limit.api, Api::ALL.map(Api::name).join(", "))
            })?;
            overrides.insert(api, Rate { burst: limit.burst, per_second: limit.per_second });
        }
        Ok(Pacer { overrides, share: share.clamp(f64::MIN_POSITIVE, 1.0), buckets: Mutex::default() })
    }

    /// What one instance paces every API to in `region`, for the start-up log: the share is stated, so an
    /// operator can see what a fleet costs in time.
    pub fn describe(&self, region: &str) -> String {
        let rates: Vec<String> = Api::ALL
            .iter()
            .map(|api| {
                let r = self.rate(region, *api);
                format!("{}={:.1}/{:.2}", api.name(), r.burst, r.per_second)
            })
            .collect();
        format!("{:.4} of each quota per instance: {}", self.share, rates.join(", "))
    }

    /// The rate this instance paces `api` to in `region`: the quota in force (AWS's default, or the override),
    /// times this instance's share. A bucket always holds at least one call, so a small share slows calls down
    /// but never forbids them.
    pub fn rate(&self, region: &str, api: Api) -> Rate {
        let quota = self.overrides.get(&api).copied().unwrap_or_else(|| default_rate(region, api));
        Rate { burst: (quota.burst * self.share).max(1.0), per_second: quota.per_second * self.share }
    }

    /// Waits until a request to `api` in `account` and `region` fits the quota, then takes a token.
    pub async fn acquire(&self, account: &str, region: &str, api: Api) {
        let bucket = {
            let Ok(mut buckets) = self.buckets.lock() else { return };
            buckets
                .entry((account.to_owned(), region.to_owned(), api))
                .or_insert_with(|| {
                    let rate = self.rate(region, api);
                    let tokens = rate.paced_burst();
                    Arc::new(tokio::sync::Mutex::new(Bucket { rate, tokens, last: Instant::now() }))
                })
                .clone()
        };
        // Waiters queue on the bucket's lock, so tokens go out in arrival order.
        let mut bucket = bucket.lock().await;
        loop {
            bucket.refill(Instant::now());
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                return;
            }
            let wait = (1.0 - bucket.tokens) / bucket.rate.per_second;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
}

/// SDK attempts per operation for reads (standard retry mode); stops make one (see `Clients`).
pub(crate) const MAX_ATTEMPTS: u32 = 3;
/// Kept back from the deadline for answering and auditing.
const ANSWER_RESERVE: Duration = Duration::from_millis(750);
/// How often a throttled call is tried again after the SDK's own retries gave up.
const THROTTLE_RETRIES: u32 = 4;

/// How often `paced` tries a throttled call again: stop calls make a single SDK attempt, so they get as many
/// tries in all as a read does with the SDK's retries (a throttled request was not processed; trying it again
/// is safe).
fn throttle_retries(api: Api) -> u32 {
    match api {
        Api::StopExecution | Api::StopDurableExecution => (THROTTLE_RETRIES + 1) * MAX_ATTEMPTS - 1,
        _ => THROTTLE_RETRIES,
    }
}

/// Runs one API call at the pace the quota allows, abandoning it if the invocation's `deadline` (less time to
/// answer and audit) comes first: the SDK's own timeouts are fixed, and no call may outlive the invocation.
/// When the service still throttles after the SDK's retries, waits as long as `Retry-After` asks (or backs off
/// exponentially) and tries again, a bounded number of times and never past the deadline. Safe because every
/// caller either reads or stops after describing first.
pub(crate) async fn paced<T, F, Fut>(
    pacer: &Pacer,
    (account, region): (&str, &str),
    api: Api,
    deadline: Instant,
    mut call: F,
) -> Result<T, StopError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StopError>>,
{
    let mut attempt = 0;
    let cutoff = deadline.checked_sub(ANSWER_RESERVE).unwrap_or(deadline);
    loop {
        // The wait for the quota counts against the deadline too: at a small share (one instance of many) the
        // calls queued behind a bucket can outlast the invocation, which Lambda would then end unanswered.
        if tokio::time::timeout_at(cutoff, pacer.acquire(account, region, api)).await.is_err() {
            return Err(unsent(api.service_name(), api.name()));
        }
        let Ok(result) = tokio::time::timeout_at(cutoff, call()).await else {
            return Err(abandoned(api.service_name(), api.name()));
        };
        match result {
            Err(StopError::Throttled { retry_after, .. })
                if attempt < throttle_retries(api)
                    && Instant::now() + wait_for(retry_after, attempt) + ANSWER_RESERVE < deadline =>
            {
                let wait = wait_for(retry_after, attempt);
                tracing::debug!(
                    api = api.name(),
                    account,
                    region,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "throttled; waiting"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// How long to wait before trying a throttled call again: what `Retry-After` asked, or exponential backoff.
fn wait_for(retry_after: Option<Duration>, attempt: u32) -> Duration {
    retry_after.unwrap_or(Duration::from_millis(100 << attempt)).min(MAX_THROTTLE_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_published_stop_execution_quota() {
        assert_eq!(default_rate("us-east-1", Api::StopExecution), Rate { burst: 1000.0, per_second: 200.0 });
        assert_eq!(default_rate("eu-west-1", Api::StopExecution), Rate { burst: 1000.0, per_second: 200.0 });
        assert_eq!(default_rate("ap-south-1", Api::StopExecution), Rate { burst: 500.0, per_second: 25.0 });
    }

    fn limit(api: &str, burst: f64, per_second: f64) -> RateLimit {
        RateLimit { api: api.into(), burst, per_second }
    }

    /// A pacer whose StopExecution bucket is `burst`/`per_second`.
    fn stops(burst: f64, per_second: f64) -> Pacer {
        Pacer::new(&[limit("StopExecution", burst, per_second)], 1.0).unwrap()
    }

    #[test]
    fn overrides_replace_the_defaults_and_unknown_apis_are_named() {
        let pacer =
            Pacer::new(&[limit("StopExecution", 10.0, 5.0), limit("DescribeExecution", 3.0, 1.0)], 1.0).unwrap();
        assert_eq!(pacer.rate("us-east-1", Api::StopExecution), Rate { burst: 10.0, per_second: 5.0 });
        assert_eq!(pacer.rate("us-east-1", Api::ListExecutions), default_rate("us-east-1", Api::ListExecutions));
        assert!(Pacer::new(&[limit("Stop", 1.0, 1.0)], 1.0).unwrap_err().contains("unknown API"));
        assert!(Pacer::new(&[], 1.0).is_ok());
    }

    #[test]
    fn each_instance_paces_itself_to_its_share_so_that_all_of_them_stay_within_the_quota() {
        // Eight instances of a function with 80 % of each quota: a tenth each.
        let share = PacingShare { instances: 8, share_percent: 80 }.per_instance();
        let pacer = Pacer::new(&[limit("DescribeExecution", 250.0, 100.0)], share).unwrap();
        assert_eq!(pacer.rate("us-east-1", Api::StopExecution), Rate { burst: 100.0, per_second: 20.0 });
        assert_eq!(pacer.rate("us-east-1", Api::DescribeExecution), Rate { burst: 25.0, per_second: 10.0 });
        let sum = |api| 8.0 * pacer.rate("ap-south-1", api).per_second;
        assert!(sum(Api::StopExecution) <= 25.0 * 0.8 + 1e-9, "eight instances within 80 % of 25/s");
        // A share so small that a bucket would hold less than a call still lets one call through at a time.
        let tiny = Pacer::new(&[], 0.001).unwrap();
        assert_eq!(tiny.rate("ap-south-1", Api::ListExecutions).burst, 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn each_account_has_its_own_quota() {
        let pacer = stops(20.0, 1.0);
        let start = tokio::time::Instant::now();
        for account in ["111122223333", "222233334444"] {
            for _ in 0..19 {
                pacer.acquire(account, "us-east-1", Api::StopExecution).await;
            }
        }
        assert!(start.elapsed() < Duration::from_millis(1), "a second account's burst is its own");
        pacer.acquire("111122223333", "us-east-1", Api::StopExecution).await;
        assert!(start.elapsed() >= Duration::from_millis(900), "the first account's bucket is empty");
    }

    #[tokio::test(start_paused = true)]
    async fn a_drained_bucket_refills_at_its_rate() {
        let pacer = stops(20.0, 10.0);
        let start = tokio::time::Instant::now();
        for _ in 0..39 {
            pacer.acquire("111122223333", "us-east-1", Api::StopExecution).await;
        }
        // 19 from the burst (a twentieth held back), then 20 at 10 per second: two seconds of (virtual) time.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((1.9..2.2).contains(&elapsed), "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_the_quota_has_no_room_for_before_the_deadline_is_not_sent_and_says_so() {
        let pacer = stops(1.0, 0.1);
        pacer.acquire("111122223333", "us-east-1", Api::StopExecution).await;
        let start = tokio::time::Instant::now();
        let deadline = start + Duration::from_secs(5);
        let sent = std::sync::atomic::AtomicBool::new(false);
        let result: Result<(), StopError> =
            paced(&pacer, ("111122223333", "us-east-1"), Api::StopExecution, deadline, || async {
                sent.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            })
            .await;
        let err = result.unwrap_err();
        assert!(!sent.load(std::sync::atomic::Ordering::SeqCst), "never sent");
        assert!(!err.may_have_acted() && err.is_retryable(), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(5), "given up at the deadline, not after the 10 s wait");
    }

    #[tokio::test(start_paused = true)]
    async fn a_twentieth_of_each_burst_is_held_back_so_that_an_early_arrival_finds_a_token() {
        let pacer = stops(1000.0, 200.0);
        let start = tokio::time::Instant::now();
        for _ in 0..950 {
            pacer.acquire("111122223333", "us-east-1", Api::StopExecution).await;
        }
        assert!(start.elapsed() < Duration::from_millis(1), "950 of the 1 000 at once");
        pacer.acquire("111122223333", "us-east-1", Api::StopExecution).await;
        assert!(start.elapsed() >= Duration::from_millis(4), "the 951st waits for the refill");
        // A bucket of one call has nothing to spare.
        let single = stops(1.0, 1.0);
        single.acquire("111122223333", "us-east-1", Api::StopExecution).await;
        assert!(start.elapsed() < Duration::from_millis(10), "one call at once");
    }
}
