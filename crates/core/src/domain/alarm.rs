//! CloudWatch alarms as kill-switches: when an alarm acts, and what it stops.
//!
//! An alarm acts only on a transition *into* `ALARM`. Its targets are resolved in a fixed order, each source
//! fail-closed (a source that is present but unusable rejects the request instead of falling through to the
//! next one, which could stop something nobody meant):
//! 1. propagated alarm tags (only when CloudWatch reports `alarmTagsStatus: SUCCESS`): the tag
//!    [`TARGET_TAG`] holds target ARNs or names of targets defined in the policy;
//! 2. the policy's mapping from alarm name (glob) or alarm ARN (exact) to targets;
//! 3. the alarm's metric dimensions: `StateMachineArn`, or `FunctionName` (with `Resource` for a qualifier).
//!
//! Pure: no SDK, no serde.

use std::collections::BTreeMap;

use super::caller::AlarmArn;
use super::glob::Glob;
use super::status::AlarmState;
use super::target::{TargetArn, TargetKind};

/// The alarm tag that names targets: whitespace-separated target ARNs or named targets.
pub const TARGET_TAG: &str = "stop-gateway:target";

/// What CloudWatch said about the alarm's tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmTags {
    /// Tag propagation is not enabled for this alarm.
    NotPropagated,
    /// Tags were read (`alarmTagsStatus: SUCCESS`).
    Read(BTreeMap<String, String>),
    /// CloudWatch could not deliver the tags (any status other than SUCCESS).
    Unavailable(String),
}

/// Everything the gateway uses from an alarm state change, whichever way it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    /// The alarm (also the caller that policy rules match).
    pub arn: AlarmArn,
    /// New state.
    pub state: AlarmState,
    /// Previous state, when reported.
    pub previous_state: Option<AlarmState>,
    /// CloudWatch's reason for the new state.
    pub state_reason: String,
    /// When the state changed, as CloudWatch wrote it.
    pub state_time: String,
    /// Propagated tags.
    pub tags: AlarmTags,
    /// Dimensions of each metric the alarm watches (metric-math expressions have none).
    pub dimensions: Vec<BTreeMap<String, String>>,
}

impl Alarm {
    /// `None` when this change should act; otherwise why it is ignored.
    pub fn ignore_reason(&self) -> Option<String> {
        if self.state != AlarmState::Alarm {
            return Some(format!(
                "alarm {} changed to {}; only a transition into ALARM acts",
                self.arn.name(),
                self.state
            ));
        }
        if self.previous_state == Some(AlarmState::Alarm) {
            return Some(format!("alarm {} was already in ALARM; a repeat does not act again", self.arn.name()));
        }
        None
    }

    /// The reason sent with the stops: alarm name, time and CloudWatch's own reason. Control characters in
    /// CloudWatch's text become spaces and invisible formatting characters are dropped, so an odd reason can
    /// never block a kill-switch.
    pub fn reason_text(&self) -> String {
        let clean = |s: &str| {
            s.chars()
                .filter(|&c| !super::text::is_invisible_format(c))
                .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
                .collect::<String>()
        };
        format!(
            "CloudWatch alarm {} entered ALARM at {} (was {}): {}",
            clean(self.arn.name()),
            clean(&self.state_time),
            clean(self.previous_state.as_ref().map_or("unknown", AlarmState::as_str)),
            clean(&self.state_reason)
        )
    }
}

/// The policy's part in target resolution: named targets, alarm mappings, and how far tags may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlarmRouting {
    /// Named targets, usable from alarm tags and mappings.
    pub named: BTreeMap<String, TargetArn>,
    /// Alarm → targets, first match wins.
    pub mappings: Vec<AlarmMapping>,
    /// How far an alarm's target tag may reach, unless its mapping says otherwise.
    pub tags: TagScope,
}

/// How far an alarm's `stop-gateway:target` tag may reach. Anyone who may tag an alarm can point its tag
/// anywhere; `Narrow` keeps a tag within what the policy's mapping already gives the alarm, so a tag can only
/// make a kill-switch smaller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TagScope {
    /// A tag names any target (the policy still decides every stop).
    #[default]
    Any,
    /// A tag names only targets within the alarm's mapping: one of its targets, a version or alias of one,
    /// or an execution of one. An alarm no mapping covers has nothing a tag could narrow, so its tag is refused.
    Narrow,
}

/// Which alarm a mapping applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmSelector {
    /// An exact alarm ARN.
    Arn(String),
    /// A glob over the alarm name.
    Name(Glob),
}

/// One mapping from alarms to targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmMapping {
    /// Which alarms.
    pub alarm: AlarmSelector,
    /// Their targets.
    pub targets: Vec<TargetArn>,
    /// Whether these alarms latch their targets while in ALARM (see `domain::latch`).
    pub latch: bool,
    /// How far these alarms' tags may reach, when the mapping says (otherwise the policy's `alarm_tags`).
    pub tags: Option<TagScope>,
}

/// How the targets were found, for the audit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// From the alarm's tags.
    Tags,
    /// From the policy's alarm mapping.
    Mapping,
    /// From the alarm's metric dimensions.
    Dimensions,
}

impl Resolution {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Tags => "tags",
            Resolution::Mapping => "policy-mapping",
            Resolution::Dimensions => "metric-dimensions",
        }
    }
}

impl AlarmRouting {
    /// Resolves the alarm's targets (see the module docs for the order). Errors say what to fix.
    pub fn resolve(&self, alarm: &Alarm) -> Result<(Vec<TargetArn>, Resolution), String> {
        match &alarm.tags {
            AlarmTags::Unavailable(status) => {
                return Err(format!(
                    "alarm tags could not be read (alarmTagsStatus {status}); refusing to guess targets from other sources"
                ));
            }
            AlarmTags::Read(tags) => {
                if let Some(value) = tags.get(TARGET_TAG) {
                    let targets = value
                        .split_whitespace()
                        .map(|token| self.target(token).map_err(|e| format!("alarm tag {TARGET_TAG}: {e}")))
                        .collect::<Result<Vec<_>, _>>()?;
                    if targets.is_empty() {
                        return Err(format!("alarm tag {TARGET_TAG} is empty"));
                    }
                    self.within_scope(&alarm.arn, &targets)?;
                    return Ok((dedup(targets), Resolution::Tags));
                }
            }
            AlarmTags::NotPropagated => {}
        }
        if let Some(mapping) = self.mapping_for(&alarm.arn) {
            return Ok((mapping.targets.clone(), Resolution::Mapping));
        }
        let mut targets = Vec::new();
        for dims in &alarm.dimensions {
            if let Some(arn) = dims.get("StateMachineArn") {
                let target = TargetArn::parse(arn).map_err(|e| format!("metric dimension StateMachineArn: {e}"))?;
                if !matches!(target.kind(), TargetKind::StateMachine { .. }) {
                    return Err("metric dimension StateMachineArn does not name a state machine".to_owned());
                }
                targets.push(target);
            }
            if let Some(name) = dims.get("FunctionName") {
                // `Resource` is `NAME` or `NAME:QUALIFIER`; only its qualifier matters, and only for this function.
                let qualifier =
                    dims.get("Resource").and_then(|r| r.strip_prefix(name.as_str())).and_then(|r| r.strip_prefix(':'));
                let target = TargetArn::function(alarm.arn.scope(), name, qualifier)
                    .map_err(|e| format!("metric dimension FunctionName: {e}"))?;
                targets.push(target);
            }
        }
        if targets.is_empty() {
            return Err(format!(
                "alarm {} names no target: tag it {TARGET_TAG}=<target ARN or policy target name>, map it in the policy's alarm_targets, or alarm on a metric with a StateMachineArn or FunctionName dimension",
                alarm.arn.name()
            ));
        }
        Ok((dedup(targets), Resolution::Dimensions))
    }

    /// Refuses tag targets beyond the alarm's mapping when tags may only narrow it.
    fn within_scope(&self, alarm: &AlarmArn, tagged: &[TargetArn]) -> Result<(), String> {
        let mapping = self.mapping_for(alarm);
        if mapping.and_then(|m| m.tags).unwrap_or(self.tags) == TagScope::Any {
            return Ok(());
        }
        let Some(mapping) = mapping else {
            return Err(format!(
                "alarm tags may only narrow an alarm's mapping (alarm_tags = \"narrow\"), and no alarm_targets entry maps alarm {}",
                alarm.name()
            ));
        };
        match tagged.iter().find(|t| !mapping.targets.iter().any(|m| t.is_within(m))) {
            Some(wider) => Err(format!(
                "alarm tag {TARGET_TAG} names {wider}, which the alarm's mapping does not cover; tags may only narrow it (alarm_tags = \"narrow\")"
            )),
            None => Ok(()),
        }
    }

    /// The policy mapping that applies to `alarm` (the first that matches), if any.
    pub fn mapping_for(&self, alarm: &AlarmArn) -> Option<&AlarmMapping> {
        let arn = alarm.to_string();
        self.mappings.iter().find(|m| match &m.alarm {
            AlarmSelector::Arn(exact) => *exact == arn,
            AlarmSelector::Name(glob) => glob.matches(alarm.name()),
        })
    }

    /// A target ARN, or the name of a policy target.
    fn target(&self, token: &str) -> Result<TargetArn, String> {
        if token.starts_with("arn:") {
            return TargetArn::parse(token).map_err(|e| e.to_string());
        }
        self.named.get(token).cloned().ok_or_else(|| format!("no target named {token:?} in the policy"))
    }
}

fn dedup(targets: Vec<TargetArn>) -> Vec<TargetArn> {
    let mut out: Vec<TargetArn> = Vec::with_capacity(targets.len());
    for t in targets {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACHINE: &str = "arn:aws:states:us-east-1:111122223333:stateMachine:orders-api";

    fn alarm(state: &str, previous: Option<&str>) -> Alarm {
        Alarm {
            arn: AlarmArn::parse("arn:aws:cloudwatch:us-east-1:111122223333:alarm:orders-error-rate").unwrap(),
            state: AlarmState::parse(state),
            previous_state: previous.map(AlarmState::parse),
            state_reason: "Threshold Crossed: 1 datapoint [42.0] was greater than 5.0".into(),
            state_time: "2026-11-21T03:12:45.000+0000".into(),
            tags: AlarmTags::NotPropagated,
            dimensions: vec![],
        }
    }

    fn routing() -> AlarmRouting {
        AlarmRouting {
            named: BTreeMap::from([("orders".to_owned(), TargetArn::parse(MACHINE).unwrap())]),
            mappings: vec![AlarmMapping {
                alarm: AlarmSelector::Name(Glob::new("payments-*").unwrap()),
                targets: vec![TargetArn::parse("arn:aws:lambda:us-east-1:111122223333:function:checkout").unwrap()],
                latch: false,
                tags: None,
            }],
            tags: TagScope::Any,
        }
    }

    #[test]
    fn narrow_tags_may_only_name_what_the_mapping_covers() {
        let mut routing = routing();
        routing.tags = TagScope::Narrow;
        let tagged = |value: &str| {
            let mut a = alarm("ALARM", Some("OK"));
            a.arn = AlarmArn::parse("arn:aws:cloudwatch:us-east-1:111122223333:alarm:payments-errors").unwrap();
            a.tags = AlarmTags::Read(BTreeMap::from([(TARGET_TAG.to_owned(), value.to_owned())]));
            a
        };
        let checkout = "arn:aws:lambda:us-east-1:111122223333:function:checkout";
        // The mapping's own target, a version or alias of it, and one of its executions: narrower or equal.
        for narrower in [
            checkout.to_owned(),
            format!("{checkout}:7"),
            format!("{checkout}:live"),
            format!("{checkout}:7/durable-execution/order-1/abc"),
        ] {
            let (targets, how) = routing.resolve(&tagged(&narrower)).unwrap();
            assert_eq!((targets[0].to_string(), how), (narrower.clone(), Resolution::Tags));
        }
        // Anything else is refused, not resolved some other way.
        for wider in [MACHINE, "arn:aws:lambda:us-east-1:111122223333:function:checkout-v2", "orders"] {
            let err = routing.resolve(&tagged(wider)).unwrap_err();
            assert!(err.contains("does not cover") && err.contains("narrow"), "{wider}: {err}");
        }
        // An alarm no mapping covers has nothing a tag could narrow.
        let mut unmapped = tagged(checkout);
        unmapped.arn = AlarmArn::parse("arn:aws:cloudwatch:us-east-1:111122223333:alarm:orders-errors").unwrap();
        assert!(routing.resolve(&unmapped).unwrap_err().contains("no alarm_targets entry maps"));
        // A mapping may say otherwise for its own alarms.
        routing.mappings[0].tags = Some(TagScope::Any);
        assert_eq!(routing.resolve(&tagged(MACHINE)).unwrap().1, Resolution::Tags);
    }

    #[test]
    fn acts_only_on_a_transition_into_alarm() {
        assert_eq!(alarm("ALARM", Some("OK")).ignore_reason(), None);
        assert_eq!(alarm("ALARM", None).ignore_reason(), None);
        assert!(alarm("OK", Some("ALARM")).ignore_reason().unwrap().contains("changed to OK"));
        assert!(alarm("INSUFFICIENT_DATA", Some("OK")).ignore_reason().is_some());
        assert!(alarm("ALARM", Some("ALARM")).ignore_reason().unwrap().contains("already in ALARM"));
    }

    #[test]
    fn tags_win_and_may_name_policy_targets() {
        let mut a = alarm("ALARM", Some("OK"));
        a.tags = AlarmTags::Read(BTreeMap::from([(TARGET_TAG.to_owned(), format!("orders {MACHINE}"))]));
        a.dimensions = vec![BTreeMap::from([("FunctionName".to_owned(), "other".to_owned())])];
        let (targets, how) = routing().resolve(&a).unwrap();
        assert_eq!(how, Resolution::Tags);
        assert_eq!(targets.len(), 1, "duplicates collapse");
    }

    #[test]
    fn every_source_fails_closed() {
        let mut a = alarm("ALARM", Some("OK"));
        a.tags = AlarmTags::Read(BTreeMap::from([(TARGET_TAG.to_owned(), "nonexistent".to_owned())]));
        assert!(routing().resolve(&a).unwrap_err().contains("no target named"));
        a.tags = AlarmTags::Unavailable("FAILED".into());
        a.dimensions = vec![BTreeMap::from([("StateMachineArn".to_owned(), MACHINE.to_owned())])];
        assert!(routing().resolve(&a).unwrap_err().contains("refusing to guess"));
        a.tags = AlarmTags::NotPropagated;
        a.dimensions = vec![BTreeMap::from([(
            "StateMachineArn".to_owned(),
            "arn:aws:states:us-east-1:111122223333:execution:m:e".to_owned(),
        )])];
        assert!(routing().resolve(&a).unwrap_err().contains("does not name a state machine"));
        a.dimensions = vec![];
        assert!(routing().resolve(&a).unwrap_err().contains("names no target"));
    }

    #[test]
    fn mapping_comes_before_dimensions() {
        let mut a = alarm("ALARM", Some("OK"));
        a.arn = AlarmArn::parse("arn:aws:cloudwatch:us-east-1:111122223333:alarm:payments-latency").unwrap();
        a.dimensions = vec![BTreeMap::from([("StateMachineArn".to_owned(), MACHINE.to_owned())])];
        let (targets, how) = routing().resolve(&a).unwrap();
        assert_eq!((how, targets[0].kind_name()), (Resolution::Mapping, "function"));
    }

    #[test]
    fn dimensions_name_state_machines_and_functions() {
        let mut a = alarm("ALARM", Some("OK"));
        a.dimensions = vec![
            BTreeMap::from([("StateMachineArn".to_owned(), MACHINE.to_owned())]),
            BTreeMap::from([
                ("FunctionName".to_owned(), "checkout".to_owned()),
                ("Resource".to_owned(), "checkout:live".to_owned()),
            ]),
        ];
        let (targets, how) = routing().resolve(&a).unwrap();
        assert_eq!(how, Resolution::Dimensions);
        assert_eq!(targets[1].to_string(), "arn:aws:lambda:us-east-1:111122223333:function:checkout:live");
    }

    #[test]
    fn reason_names_alarm_time_and_cause_without_control_characters() {
        let mut a = alarm("ALARM", Some("OK"));
        a.state_reason = "bad\u{1b}[31m text".into();
        let text = a.reason_text();
        assert!(text.starts_with("CloudWatch alarm orders-error-rate entered ALARM at 2026-11-21T03:12:45.000+0000 (was OK): bad [31m text"), "{text}");
    }
}
