//! The AWS identifiers every ARN shares: partition, region and account, and the scope they make together.
//!
//! Target, principal and alarm ARNs all parse these fields the same way, so they live here once, with the one
//! error type for ARNs of any kind. Messages say "ARN", never which kind: the caller adds the noun. Pure: no SDK,
//! no serde.

use std::fmt;

use super::text::excerpt;

/// An AWS partition the gateway knows how to address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partition {
    /// Commercial regions.
    Aws,
    /// China regions.
    AwsCn,
    /// AWS GovCloud (US).
    AwsUsGov,
    /// AWS Secret Region (`aws-iso`).
    AwsIso,
    /// AWS Top Secret Region (`aws-iso-b`).
    AwsIsoB,
    /// `aws-iso-e`.
    AwsIsoE,
    /// `aws-iso-f`.
    AwsIsoF,
    /// AWS European Sovereign Cloud.
    AwsEusc,
}

impl Partition {
    /// Every partition, for documentation and error messages.
    pub const ALL: [Partition; 8] = [
        Partition::Aws,
        Partition::AwsCn,
        Partition::AwsUsGov,
        Partition::AwsIso,
        Partition::AwsIsoB,
        Partition::AwsIsoE,
        Partition::AwsIsoF,
        Partition::AwsEusc,
    ];

    /// The partition's name as it appears in ARNs.
    pub fn as_str(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
            Partition::AwsIso => "aws-iso",
            Partition::AwsIsoB => "aws-iso-b",
            Partition::AwsIsoE => "aws-iso-e",
            Partition::AwsIsoF => "aws-iso-f",
            Partition::AwsEusc => "aws-eusc",
        }
    }

    /// Parses an exact partition name (case-sensitive, as AWS writes them).
    pub fn parse(s: &str) -> Option<Partition> {
        Partition::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Parses the partition field of an ARN, with an error quoting it.
    pub fn parse_field(s: &str) -> Result<Partition, ArnError> {
        Partition::parse(s).ok_or_else(|| ArnError::Partition(excerpt(s)))
    }

    /// The partition a well-formed region name belongs to, from its leading labels.
    pub fn of_region(region: &Region) -> Partition {
        let mut labels = region.0.split('-');
        let first = labels.next().unwrap_or_default();
        let second = labels.next().unwrap_or_default();
        match (first, second) {
            ("cn", _) => Partition::AwsCn,
            ("eusc", _) => Partition::AwsEusc,
            (_, "gov") => Partition::AwsUsGov,
            (_, "iso") => Partition::AwsIso,
            (_, "isob") => Partition::AwsIsoB,
            (_, "isoe") => Partition::AwsIsoE,
            (_, "isof") => Partition::AwsIsoF,
            _ => Partition::Aws,
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A region name such as `us-east-1` or `us-gov-west-1`: lowercase labels, then a one- or two-digit number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl Region {
    /// Parses a region name by its grammar; unknown-but-well-formed regions are accepted so new regions work.
    pub fn parse(s: &str) -> Result<Region, ArnError> {
        let bad = || ArnError::Region(excerpt(s));
        let labels: Vec<&str> = s.split('-').collect();
        let (number, names) = labels.split_last().ok_or_else(bad)?;
        let number_ok = (1..=2).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit());
        let names_ok = names.len() >= 2
            && names.iter().all(|l| (2..=10).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase()));
        if number_ok && names_ok { Ok(Region(s.to_owned())) } else { Err(bad()) }
    }

    /// The region name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    /// Parses exactly twelve ASCII digits.
    pub fn parse(s: &str) -> Result<AccountId, ArnError> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AccountId(s.to_owned()))
        } else {
            Err(ArnError::Account(excerpt(s)))
        }
    }

    /// The account id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an ARN lives: its partition, a region of that partition, and an account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArnScope {
    partition: Partition,
    region: Region,
    account: AccountId,
}

impl ArnScope {
    /// Parses the three fields, refusing a region outside the partition.
    pub fn parse(partition: &str, region: &str, account: &str) -> Result<ArnScope, ArnError> {
        let partition = Partition::parse_field(partition)?;
        let region = Region::parse(region)?;
        if Partition::of_region(&region) != partition {
            return Err(ArnError::PartitionMismatch { partition, region: region.0 });
        }
        Ok(ArnScope { partition, region, account: AccountId::parse(account)? })
    }

    /// The partition.
    pub fn partition(&self) -> Partition {
        self.partition
    }

    /// The region.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The account.
    pub fn account(&self) -> &AccountId {
        &self.account
    }
}

/// Why a string is not an ARN of the kind asked for. Messages quote at most a short, escaped excerpt of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    /// Empty input.
    #[error("ARN is empty")]
    Empty,
    /// Longer than any ARN the target APIs accept.
    #[error("ARN is {len} characters long; the limit is {max}")]
    TooLong {
        /// Length seen.
        len: usize,
        /// Limit for this kind of ARN.
        max: usize,
    },
    /// A byte outside printable ASCII (whitespace, control characters, non-ASCII look-alikes).
    #[error(
        "ARN has a character that is not printable ASCII at byte {position} (no whitespace, control or non-ASCII characters are allowed)"
    )]
    Character {
        /// Byte offset of the first offending character.
        position: usize,
    },
    /// Does not have the `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` structure.
    #[error("not an ARN of the form arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE")]
    NotAnArn,
    /// Unknown partition.
    #[error(
        "unknown partition {0} (expected one of aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc)"
    )]
    Partition(String),
    /// Malformed region.
    #[error("malformed region {0}")]
    Region(String),
    /// Region does not belong to the partition.
    #[error("region {region} is not in partition {partition}")]
    PartitionMismatch {
        /// Partition named in the ARN.
        partition: Partition,
        /// Region named in the ARN.
        region: String,
    },
    /// Account is not 12 digits.
    #[error("account {0} is not a 12-digit account id")]
    Account(String),
    /// A service other than Step Functions or Lambda.
    #[error("service {0} is not supported (only states and lambda targets can be stopped)")]
    Service(String),
    /// Resource part does not match any supported resource type.
    #[error("{service} resource {resource} is not an execution, durable execution, state machine or function")]
    Resource {
        /// The ARN's service.
        service: &'static str,
        /// Excerpt of the resource part.
        resource: String,
    },
    /// A name field breaks its grammar.
    #[error("{field} {value} is invalid: {rule}")]
    Field {
        /// Which field.
        field: &'static str,
        /// Excerpt of the value.
        value: String,
        /// The grammar it breaks.
        rule: &'static str,
    },
}
