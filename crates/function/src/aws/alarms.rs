//! Amazon CloudWatch: which alarms are in ALARM, for the latch. `DescribeAlarms` once for all of them (every
//! page), then `ListTagsForResource` for the few that may latch, kept for a few seconds per instance.
//!
//! The cache serves a burst of status-change events with one read, but only events that certainly happened
//! before the read: a state read before the event might have been released since, and a released latch must not
//! stop anything, so such an event reads again. An alarm whose actions are disabled is treated as released: that
//! is how an operator lifts a latch without touching the alarm's threshold.
//!
//! Nothing in the answer is taken on trust: only alarms of the function's own account and region that CloudWatch
//! reports in ALARM can latch; anything else is logged and ignored. An alarm whose tags cannot be read is not
//! silently left out: it is reported as unreadable, so the latch decision it may change fails and is retried.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::types::{AlarmType, MetricAlarm, StateValue};
use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::errors::{timestamp, upstream};
use super::pacing::{Api, Pacer, paced};
use stop_gateway_core::domain::alarm::{Alarm, AlarmTags};
use stop_gateway_core::domain::aws_ids::AccountId;
use stop_gateway_core::domain::caller::AlarmArn;
use stop_gateway_core::domain::failure::StopError;
use stop_gateway_core::domain::status::AlarmState;

const SERVICE: &str = "CloudWatch";

/// How long a read of the alarms in ALARM serves later events, unless `LATCH_CACHE_SECONDS` says otherwise.
pub const DEFAULT_CACHE: Duration = Duration::from_secs(5);

/// One read of the alarms in ALARM.
struct Snapshot {
    /// When the read started: every state in it is at least this fresh.
    read_at: DateTime<Utc>,
    /// Which policy's filter chose the alarms whose tags were read.
    policy_key: String,
    alarms: Arc<Vec<Alarm>>,
}

/// What one read (or the cached read that serves it) found.
#[derive(Debug)]
pub struct LatchRead {
    /// When the read started.
    pub read_at: DateTime<Utc>,
    /// The alarms of the function's own account and region in ALARM, with enabled actions, that the policy may
    /// let latch, with their tags.
    pub alarms: Arc<Vec<Alarm>>,
    /// Such alarms whose tags could not be read: what they latch is unknown. A read with any is never cached.
    pub unreadable: Vec<(AlarmArn, StopError)>,
}

/// The last sweep that read the alarms: sweeps within the cache window after it are answered from it.
struct SweepMark {
    read_at: DateTime<Utc>,
    policy_key: String,
    audit_id: String,
}

/// The alarms in ALARM in the function's region, read through one client and cached briefly.
pub struct AlarmWatch {
    client: Client,
    region: String,
    prefix: Option<String>,
    pacer: Arc<Pacer>,
    ttl: Duration,
    cache: Mutex<Option<Snapshot>>,
    last_sweep: Mutex<Option<SweepMark>>,
}

impl AlarmWatch {
    /// Reads alarms in `region` with `client`; a read serves later events for `ttl`.
    pub fn new(client: Client, region: &str, pacer: Arc<Pacer>, ttl: Duration) -> Self {
        let (cache, last_sweep) = (Mutex::new(None), Mutex::new(None));
        AlarmWatch { client, region: region.to_owned(), prefix: None, pacer, ttl, cache, last_sweep }
    }

    /// The region whose alarms are read: the function's own.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Reads only alarms whose name starts with `prefix` (the only ones the function's role may read).
    pub fn with_prefix(mut self, prefix: Option<String>) -> Self {
        self.prefix = prefix;
        self
    }

    /// The alarms in ALARM (with enabled actions) of `home`, the function's own account, in its region, that
    /// `may_latch` picks, with their tags, as read no earlier than `not_before`. `policy_key` identifies the
    /// policy behind `may_latch`: a new policy reads again. Without a known home account no alarm can be shown to
    /// be the function's own, so none latches.
    pub async fn in_alarm(
        &self,
        not_before: DateTime<Utc>,
        policy_key: &str,
        home: Option<&AccountId>,
        may_latch: impl Fn(&AlarmArn) -> bool,
        deadline: Instant,
    ) -> Result<LatchRead, StopError> {
        // Held across the read, so a burst of events waits for one read instead of making one each.
        let mut cache = self.cache.lock().await;
        let now = Utc::now();
        if let Some(snapshot) = cache.as_ref().filter(|s| {
            s.policy_key == policy_key
                && s.read_at >= not_before
                && (now - s.read_at).to_std().is_ok_and(|age| age < self.ttl)
        }) {
            return Ok(LatchRead { read_at: snapshot.read_at, alarms: snapshot.alarms.clone(), unreadable: vec![] });
        }
        let read_at = Utc::now();
        let own = |alarm: &AlarmArn| self.is_own(alarm, home);
        let (alarms, unreadable) = self.read(&|alarm: &AlarmArn| own(alarm) && may_latch(alarm), deadline).await?;
        let alarms = Arc::new(alarms);
        *cache = unreadable.is_empty().then(|| Snapshot {
            read_at,
            policy_key: policy_key.to_owned(),
            alarms: alarms.clone(),
        });
        Ok(LatchRead { read_at, alarms, unreadable })
    }

    /// Whether a sweep under `policy_key` read the alarms within the cache window; if so, the audit id of its
    /// request and when it read. A sweep then has nothing to add: that one stopped what was latched, and what
    /// started since is stopped by its own status-change event or the next sweep. A release in between is
    /// honoured because nothing is acted on for the later sweep.
    pub async fn recent_sweep(&self, policy_key: &str) -> Option<(DateTime<Utc>, String)> {
        let mark = self.last_sweep.lock().await;
        let mark = mark.as_ref().filter(|m| m.policy_key == policy_key)?;
        let fresh = (Utc::now() - mark.read_at).to_std().is_ok_and(|age| age < self.ttl);
        fresh.then(|| (mark.read_at, mark.audit_id.clone()))
    }

    /// Notes a sweep whose read (at `read_at`, every alarm readable) acted for `audit_id`.
    pub async fn swept(&self, read_at: DateTime<Utc>, policy_key: &str, audit_id: &str) {
        let mark = SweepMark { read_at, policy_key: policy_key.to_owned(), audit_id: audit_id.to_owned() };
        *self.last_sweep.lock().await = Some(mark);
    }

    /// Whether an alarm CloudWatch returned is in the function's own account and region; others are logged.
    fn is_own(&self, alarm: &AlarmArn, home: Option<&AccountId>) -> bool {
        let own = Some(alarm.scope().account()) == home && alarm.scope().region().as_str() == self.region;
        if !own {
            tracing::warn!(alarm = %alarm, "alarm outside the function's own account and region ignored by the latch");
        }
        own
    }

    /// Every alarm in ALARM `may_latch` picks (every page), then the tags of each: those read, and those whose
    /// tags could not be.
    async fn read(
        &self,
        may_latch: &impl Fn(&AlarmArn) -> bool,
        deadline: Instant,
    ) -> Result<(Vec<Alarm>, Vec<(AlarmArn, StopError)>), StopError> {
        let mut alarms = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.describe_page(token.take(), deadline).await?;
            for m in page.metric_alarms().iter().filter(|m| m.actions_enabled() != Some(false)) {
                let seen = (m.alarm_arn(), m.state_value(), m.state_reason(), m.state_updated_timestamp());
                self.keep(&mut alarms, seen, metric_dimensions(m), may_latch);
            }
            for c in page.composite_alarms().iter().filter(|c| c.actions_enabled() != Some(false)) {
                let seen = (c.alarm_arn(), c.state_value(), c.state_reason(), c.state_updated_timestamp());
                self.keep(&mut alarms, seen, vec![], may_latch);
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        let (mut readable, mut unreadable) = (Vec::with_capacity(alarms.len()), Vec::new());
        for mut alarm in alarms {
            match self.tags(&alarm.arn, deadline).await {
                Ok(tags) => {
                    alarm.tags = tags;
                    readable.push(alarm);
                }
                Err(err) => unreadable.push((alarm.arn, err)),
            }
        }
        Ok((readable, unreadable))
    }

    /// One page of `DescribeAlarms` for the alarms in ALARM.
    async fn describe_page(&self, token: Option<String>, deadline: Instant) -> Result<DescribeAlarmsOutput, StopError> {
        paced(&self.pacer, ("", &self.region), Api::DescribeAlarms, deadline, || async {
            // Composite alarms come back only to a DescribeAlarms permission scoped to "*" (DescribeAlarms
            // reference); with a prefix the role's permission is narrower, so only metric alarms are asked.
            let types = match self.prefix {
                Some(_) => vec![AlarmType::MetricAlarm],
                None => vec![AlarmType::MetricAlarm, AlarmType::CompositeAlarm],
            };
            let operation = self
                .client
                .describe_alarms()
                .state_value(StateValue::Alarm)
                .set_alarm_types(Some(types))
                .set_alarm_name_prefix(self.prefix.clone())
                .max_records(100)
                .set_next_token(token.clone());
            operation.send().await.map_err(|e| upstream(SERVICE, e))
        })
        .await
    }

    /// Adds an alarm CloudWatch reported, if its ARN parses, CloudWatch says it is in ALARM (the request asked
    /// for no other state, and the answer is checked anyway), and the policy may let it latch.
    fn keep(
        &self,
        into: &mut Vec<Alarm>,
        (arn, state, reason, updated): AlarmSeen<'_>,
        dimensions: Vec<BTreeMap<String, String>>,
        may_latch: &impl Fn(&AlarmArn) -> bool,
    ) {
        let Some(arn) = arn.and_then(|a| AlarmArn::parse(a).ok()) else {
            tracing::warn!(alarm = ?arn, "DescribeAlarms returned an alarm without a valid ARN; ignored by the latch");
            return;
        };
        if state != Some(&StateValue::Alarm) {
            let state = state.map(StateValue::as_str);
            tracing::warn!(alarm = %arn, ?state, "DescribeAlarms returned an alarm not in ALARM; ignored by the latch");
            return;
        }
        if !may_latch(&arn) {
            return;
        }
        into.push(Alarm {
            arn,
            state: AlarmState::Alarm,
            previous_state: None,
            state_reason: reason.unwrap_or_default().to_owned(),
            state_time: updated.and_then(timestamp).map(|t| t.to_rfc3339()).unwrap_or_default(),
            // Read next, only for the alarms kept.
            tags: AlarmTags::NotPropagated,
            dimensions,
        });
    }

    /// The alarm's tags. A failure to read them is the latch's failure (the tags may name what the alarm latches),
    /// classified like the read it is.
    async fn tags(&self, alarm: &AlarmArn, deadline: Instant) -> Result<AlarmTags, StopError> {
        let read = paced(&self.pacer, ("", &self.region), Api::ListAlarmTags, deadline, || async {
            let operation = self.client.list_tags_for_resource().resource_arn(alarm.to_string());
            operation.send().await.map_err(|e| upstream(SERVICE, e))
        })
        .await;
        match read {
            Ok(out) => Ok(AlarmTags::Read(pairs(out.tags().iter().map(|t| (t.key(), t.value()))))),
            Err(err) => {
                tracing::warn!(alarm = %alarm, error = %stop_gateway_core::domain::failure::error_chain(&err), "could not read the alarm's tags");
                let transient = err.is_retryable();
                Err(StopError::LatchUnreadable { alarm: alarm.to_string(), transient, source: Box::new(err) })
            }
        }
    }
}

/// What `DescribeAlarms` said of one alarm: its ARN, state, state reason and when the state changed.
type AlarmSeen<'a> = (Option<&'a str>, Option<&'a StateValue>, Option<&'a str>, Option<&'a aws_smithy_types::DateTime>);

/// The dimensions of a metric alarm's own metric and of each metric its expressions query (metric math has
/// none of its own).
fn metric_dimensions(alarm: &MetricAlarm) -> Vec<BTreeMap<String, String>> {
    let own = pairs(alarm.dimensions().iter().map(|d| (d.name(), d.value())));
    let queried = alarm.metrics().iter().map(|query| {
        let dims = query.metric_stat().and_then(|s| s.metric()).map(|m| m.dimensions()).unwrap_or_default();
        pairs(dims.iter().map(|d| (d.name(), d.value())))
    });
    std::iter::once(own).chain(queried).filter(|d| !d.is_empty()).collect()
}

fn pairs<'a>(items: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>) -> BTreeMap<String, String> {
    items.filter_map(|(k, v)| Some((k?.to_owned(), v?.to_owned()))).collect()
}
