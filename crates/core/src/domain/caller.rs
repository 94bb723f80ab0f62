//! Who asked: the IAM principal, the EventBridge source or the CloudWatch alarm behind a request.
//!
//! Callers are taken from what AWS itself attests (the IAM identity API Gateway or Lambda verified, the
//! EventBridge envelope, the alarm's own ARN), never from the request body. Pure: no SDK, no serde.

use std::fmt;

use super::aws_ids::{AccountId, ArnError, ArnScope, Partition};
use super::text::excerpt;

/// An IAM principal ARN as API Gateway or a function URL reports it (`arn:aws:iam::A:user/x`,
/// `arn:aws:sts::A:assumed-role/Role/session`, …), split into the fields policy rules match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalArn {
    partition: Partition,
    service: String,
    account: AccountId,
    resource: String,
}

impl PrincipalArn {
    /// Parses `arn:PARTITION:(iam|sts)::ACCOUNT:RESOURCE`, printable ASCII only, at most 2048 characters.
    pub fn parse(s: &str) -> Result<PrincipalArn, ArnError> {
        if s.len() > 2048 {
            return Err(ArnError::TooLong { len: s.len(), max: 2048 });
        }
        if let Some(position) = s.bytes().position(|b| !b.is_ascii_graphic()) {
            return Err(ArnError::Character { position });
        }
        let mut fields = s.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(service @ ("iam" | "sts")), Some(""), Some(account), Some(resource)) =
            (fields.next(), fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(ArnError::NotAnArn);
        };
        if resource.is_empty() {
            return Err(ArnError::NotAnArn);
        }
        Ok(PrincipalArn {
            partition: Partition::parse_field(partition)?,
            service: service.to_owned(),
            account: AccountId::parse(account)?,
            resource: resource.to_owned(),
        })
    }

    /// Partition of the principal.
    pub fn partition(&self) -> Partition {
        self.partition
    }

    /// `iam` or `sts`.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Account of the principal.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// Resource part, e.g. `assumed-role/OnCall/alice`.
    pub fn resource(&self) -> &str {
        &self.resource
    }
}

impl fmt::Display for PrincipalArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "arn:{}:{}::{}:{}", self.partition, self.service, self.account, self.resource)
    }
}

/// A CloudWatch alarm ARN, `arn:PARTITION:cloudwatch:REGION:ACCOUNT:alarm:NAME`. Alarm names may hold spaces
/// and punctuation; they may not hold control characters or exceed 255 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmArn {
    scope: ArnScope,
    name: String,
}

impl AlarmArn {
    /// Parses an alarm ARN.
    pub fn parse(s: &str) -> Result<AlarmArn, ArnError> {
        let mut fields = s.splitn(7, ':');
        let (Some("arn"), Some(partition), Some("cloudwatch"), Some(region), Some(account), Some("alarm"), Some(name)) =
            (fields.next(), fields.next(), fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(ArnError::NotAnArn);
        };
        if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
            return Err(ArnError::Field {
                field: "alarm name",
                value: excerpt(name),
                rule: "1-255 characters, no control characters",
            });
        }
        Ok(AlarmArn { scope: ArnScope::parse(partition, region, account)?, name: name.to_owned() })
    }

    /// Where the alarm lives.
    pub fn scope(&self) -> &ArnScope {
        &self.scope
    }

    /// Alarm name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for AlarmArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = &self.scope;
        write!(f, "arn:{}:cloudwatch:{}:{}:alarm:{}", scope.partition(), scope.region(), scope.account(), self.name)
    }
}

/// An AWS Organizations id, `o-` and 10–32 lowercase letters or digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgId(String);

impl OrgId {
    /// Parses an organization id.
    pub fn parse(s: &str) -> Option<OrgId> {
        let body = s.strip_prefix("o-")?;
        ((10..=32).contains(&body.len()) && body.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
            .then(|| OrgId(s.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An EventBridge `source`: 1–256 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSource(String);

impl EventSource {
    /// Parses an event source.
    pub fn parse(s: &str) -> Option<EventSource> {
        ((1..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())).then(|| EventSource(s.to_owned()))
    }

    /// The source.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who asked for the stop, as attested by AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An IAM principal authenticated by API Gateway or a function URL (SigV4).
    Iam {
        /// The principal's ARN.
        principal: PrincipalArn,
        /// The principal's account.
        account: AccountId,
        /// The principal's organization, when AWS reports one.
        org_id: Option<OrgId>,
    },
    /// The sender of an EventBridge event.
    EventBridge {
        /// The event's `source`.
        source: EventSource,
        /// The event's `account`.
        account: AccountId,
    },
    /// A CloudWatch alarm acting as a kill-switch.
    Alarm {
        /// The alarm.
        alarm: AlarmArn,
    },
}

impl Caller {
    /// The caller's account.
    pub fn account(&self) -> &AccountId {
        match self {
            Caller::Iam { account, .. } | Caller::EventBridge { account, .. } => account,
            Caller::Alarm { alarm } => alarm.scope().account(),
        }
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Iam { principal, .. } => write!(f, "{principal}"),
            Caller::EventBridge { source, account } => write!(f, "events:{}@{account}", source.as_str()),
            Caller::Alarm { alarm } => write!(f, "{alarm}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_principals_of_every_kind() {
        for arn in [
            "arn:aws:iam::123456789012:user/ops/alice",
            "arn:aws:iam::123456789012:root",
            "arn:aws:sts::123456789012:assumed-role/OnCall/alice",
            "arn:aws-us-gov:sts::123456789012:federated-user/bob",
        ] {
            let p = PrincipalArn::parse(arn).unwrap();
            assert_eq!(p.to_string(), arn);
        }
    }

    #[test]
    fn rejects_principals_that_are_not_iam_identities() {
        for bad in [
            "",
            "arn:aws:iam:us-east-1:123456789012:user/a",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::123456789012:",
            "arn:aws:iam::12345:user/a",
            "arn:aws:iam::123456789012:user/a b",
            "arn:aws:iam::123456789012:user/ａ",
        ] {
            assert!(PrincipalArn::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn alarm_arns_keep_their_name_and_fields() {
        let a = AlarmArn::parse("arn:aws:cloudwatch:us-east-1:111122223333:alarm:orders error rate: high").unwrap();
        assert_eq!(a.name(), "orders error rate: high");
        assert_eq!(a.scope().account().as_str(), "111122223333");
        assert_eq!(a.to_string(), "arn:aws:cloudwatch:us-east-1:111122223333:alarm:orders error rate: high");
        for bad in [
            "arn:aws:cloudwatch:us-east-1:111122223333:alarm:",
            "arn:aws:cloudwatch:us-east-1:1:alarm:x",
            "arn:aws:sns:us-east-1:111122223333:alarm:x",
            "arn:aws:cloudwatch:us-east-1:111122223333:alarm:a\nb",
        ] {
            assert!(AlarmArn::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn org_ids_and_sources_are_strict() {
        assert!(OrgId::parse("o-a1b2c3d4e5").is_some());
        assert!(OrgId::parse("o-short").is_none());
        assert!(OrgId::parse("O-A1B2C3D4E5").is_none());
        assert!(EventSource::parse("com.example.alarms").is_some());
        assert!(EventSource::parse("with space").is_none());
        assert!(EventSource::parse("").is_none());
    }
}
