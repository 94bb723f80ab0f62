//! Amazon CloudWatch: which alarms are in ALARM, for the latch. `DescribeAlarms` once for all of them (every
//! page), then `ListTagsForResource` for the few that may latch, kept for a few seconds per instance.
//!
//! The cache serves a burst of status-change events with one read, but never an event newer than the read: a
//! state read before the event happened might have been released since, and a released latch must not stop
//! anything, so such an event reads again. An alarm whose actions are disabled is treated as released: that is
//! how an operator lifts a latch without touching the alarm's threshold.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::errors::{timestamp, unmodelled};
use super::pacing::{Api, Pacer, paced};
use crate::domain::alarm::{Alarm, AlarmTags};
use crate::domain::caller::AlarmArn;
use crate::error::StopError;

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

/// The alarms in ALARM in the function's region, read through one client and cached briefly.
pub struct AlarmWatch {
    client: Client,
    region: String,
    prefix: Option<String>,
    pacer: Arc<Pacer>,
    ttl: Duration,
    cache: Mutex<Option<Snapshot>>,
}

impl AlarmWatch {
    /// Reads alarms in `region` with `client`; a read serves later events for `ttl`.
    pub fn new(client: Client, region: &str, pacer: Arc<Pacer>, ttl: Duration) -> Self {
        AlarmWatch { client, region: region.to_owned(), prefix: None, pacer, ttl, cache: Mutex::new(None) }
    }

    /// Reads only alarms whose name starts with `prefix` (the only ones the function's role may read).
    pub fn with_prefix(mut self, prefix: Option<String>) -> Self {
        self.prefix = prefix;
        self
    }

    /// The alarms in ALARM (with enabled actions) that `may_latch` picks, with their tags, as read no earlier
    /// than `not_before`. `policy_key` identifies the policy behind `may_latch`: a new policy reads again.
    pub async fn in_alarm(
        &self,
        not_before: DateTime<Utc>,
        policy_key: &str,
        may_latch: impl Fn(&AlarmArn) -> bool,
        deadline: Instant,
    ) -> Result<Arc<Vec<Alarm>>, StopError> {
        // Held across the read, so a burst of events waits for one read instead of making one each.
        let mut cache = self.cache.lock().await;
        let now = Utc::now();
        if let Some(snapshot) = cache.as_ref().filter(|s| {
            s.policy_key == policy_key
                && s.read_at >= not_before
                && (now - s.read_at).to_std().is_ok_and(|age| age < self.ttl)
        }) {
            return Ok(snapshot.alarms.clone());
        }
        let read_at = Utc::now();
        let alarms = Arc::new(self.read(&may_latch, deadline).await?);
        *cache = Some(Snapshot { read_at, policy_key: policy_key.to_owned(), alarms: alarms.clone() });
        Ok(alarms)
    }

    async fn read(&self, may_latch: &impl Fn(&AlarmArn) -> bool, deadline: Instant) -> Result<Vec<Alarm>, StopError> {
        let mut alarms = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = paced(&self.pacer, ("", &self.region), Api::DescribeAlarms, deadline, || async {
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
                operation.send().await.map_err(|e| unmodelled(SERVICE, e))
            })
            .await?;
            for m in page.metric_alarms() {
                if m.actions_enabled() == Some(false) {
                    continue;
                }
                let mut dimensions: Vec<BTreeMap<String, String>> = Vec::new();
                let own = pairs(m.dimensions().iter().map(|d| (d.name(), d.value())));
                dimensions.extend(Some(own).filter(|d| !d.is_empty()));
                for query in m.metrics() {
                    let dims = query.metric_stat().and_then(|s| s.metric()).map(|m| m.dimensions()).unwrap_or_default();
                    dimensions
                        .extend(Some(pairs(dims.iter().map(|d| (d.name(), d.value())))).filter(|d| !d.is_empty()));
                }
                let seen = (m.alarm_arn(), m.state_reason(), m.state_updated_timestamp());
                self.keep(&mut alarms, seen, dimensions, may_latch);
            }
            for c in page.composite_alarms() {
                if c.actions_enabled() == Some(false) {
                    continue;
                }
                self.keep(
                    &mut alarms,
                    (c.alarm_arn(), c.state_reason(), c.state_updated_timestamp()),
                    vec![],
                    may_latch,
                );
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        for alarm in &mut alarms {
            alarm.tags = self.tags(&alarm.arn, deadline).await;
        }
        Ok(alarms)
    }

    /// Adds an alarm CloudWatch reported in ALARM, if its ARN parses and the policy may let it latch.
    fn keep(
        &self,
        into: &mut Vec<Alarm>,
        (arn, reason, updated): (Option<&str>, Option<&str>, Option<&aws_smithy_types::DateTime>),
        dimensions: Vec<BTreeMap<String, String>>,
        may_latch: &impl Fn(&AlarmArn) -> bool,
    ) {
        let Some(arn) = arn.and_then(|a| AlarmArn::parse(a).ok()) else {
            tracing::warn!(alarm = ?arn, "DescribeAlarms returned an alarm without a valid ARN");
            return;
        };
        if !may_latch(&arn) {
            return;
        }
        into.push(Alarm {
            arn,
            state: "ALARM".to_owned(),
            previous_state: None,
            state_reason: reason.unwrap_or_default().to_owned(),
            state_time: updated.and_then(timestamp).map(|t| t.to_rfc3339()).unwrap_or_default(),
            // Read next, only for the alarms kept.
            tags: AlarmTags::NotPropagated,
            dimensions,
        });
    }

    /// The alarm's tags; a failure to read them is kept as such, so target resolution fails closed for that
    /// alarm instead of guessing from other sources.
    async fn tags(&self, alarm: &AlarmArn, deadline: Instant) -> AlarmTags {
        let read = paced(&self.pacer, ("", &self.region), Api::ListAlarmTags, deadline, || async {
            let operation = self.client.list_tags_for_resource().resource_arn(alarm.to_string());
            operation.send().await.map_err(|e| unmodelled(SERVICE, e))
        })
        .await;
        match read {
            Ok(out) => AlarmTags::Read(pairs(out.tags().iter().map(|t| (t.key(), t.value())))),
            Err(err) => {
                tracing::warn!(alarm = %alarm, error = %crate::error::error_chain(&err), "could not read the alarm's tags");
                AlarmTags::Unavailable(err.code().to_owned())
            }
        }
    }
}

fn pairs<'a>(items: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>) -> BTreeMap<String, String> {
    items.filter_map(|(k, v)| Some((k?.to_owned(), v?.to_owned()))).collect()
}
