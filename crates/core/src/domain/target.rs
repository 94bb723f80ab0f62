//! Target ARNs: the only strings the gateway ever hands to AWS as a target.
//!
//! An ARN is classified by its fields, never by substring or prefix checks: every field is checked against the
//! grammar AWS documents for it, and the partition must agree with the region. Anything outside those grammars
//! (whitespace, control characters, non-ASCII look-alikes, unknown partitions, over-long input) is rejected with
//! an error naming the field. Pure: no SDK, no serde.

use std::fmt;

use super::aws_ids::{AccountId, ArnError, ArnScope, Partition, Region};
use super::text::excerpt;

/// Step Functions accepts execution ARNs up to 2048 characters; nothing we accept is longer.
pub const MAX_ARN_LEN: usize = 2048;
/// `StopDurableExecution` documents `DurableExecutionArn` as at most 1024 characters.
pub const MAX_DURABLE_ARN_LEN: usize = 1024;

/// The version a durable execution runs on: `$LATEST`, `$LATEST.PUBLISHED` or a published version number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DurableQualifier {
    /// `$LATEST`.
    Latest,
    /// `$LATEST.PUBLISHED`.
    LatestPublished,
    /// A published version number (no leading zeros, as Lambda assigns them).
    Version(u64),
}

impl DurableQualifier {
    /// The version a qualifier names, or `None` for an alias: `$LATEST`, `$LATEST.PUBLISHED` (Lambda's "latest
    /// published" version type, a version and not an alias) or a version number without leading zeros. The one
    /// definition of "a version", for execution ARNs, for which executions a function's list may return, and for
    /// which qualifiers need an alias resolved.
    pub fn parse(value: &str) -> Option<DurableQualifier> {
        match value {
            "$LATEST" => Some(DurableQualifier::Latest),
            "$LATEST.PUBLISHED" => Some(DurableQualifier::LatestPublished),
            v if (1..=10).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()) && !v.starts_with('0') => {
                v.parse().ok().map(DurableQualifier::Version)
            }
            _ => None,
        }
    }
}

impl fmt::Display for DurableQualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurableQualifier::Latest => f.write_str("$LATEST"),
            DurableQualifier::LatestPublished => f.write_str("$LATEST.PUBLISHED"),
            DurableQualifier::Version(v) => write!(f, "{v}"),
        }
    }
}

/// What an ARN names, with its validated name fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// `…:states:…:execution:MACHINE:NAME`, stopped with `StopExecution`.
    SfnExecution {
        /// State machine name.
        state_machine: String,
        /// Execution name.
        name: String,
    },
    /// `…:lambda:…:function:FN:QUAL/durable-execution/NAME/ID`, stopped with `StopDurableExecution`.
    DurableExecution {
        /// Function name.
        function: String,
        /// Version the execution runs on.
        qualifier: DurableQualifier,
        /// Durable execution name.
        name: String,
        /// Durable execution id.
        id: String,
    },
    /// `…:states:…:express:MACHINE:NAME:ID`: express executions have no stop API.
    SfnExpressExecution {
        /// State machine name.
        state_machine: String,
        /// Execution name.
        name: String,
        /// Execution id.
        id: String,
    },
    /// A child workflow execution of a Distributed Map run: `…:states:…:execution:MACHINE/LABEL:NAME` (standard
    /// children) or `…:states:…:express:MACHINE/LABEL:NAME:ID` (express children). Contained only by stopping the
    /// parent execution: the Map Run goes on starting children while a stopped one counts as a failed item.
    SfnMapRunChild {
        /// The parent's state machine name.
        state_machine: String,
        /// Map run label.
        label: String,
        /// Execution name.
        name: String,
        /// The id of an express child; `None` for a standard child.
        express_id: Option<String>,
    },
    /// `…:states:…:mapRun:MACHINE/LABEL:ID`: a Distributed Map run, stopped only through its parent execution.
    SfnMapRun {
        /// State machine name.
        state_machine: String,
        /// Map run label.
        label: String,
        /// Map run id.
        id: String,
    },
    /// `…:states:…:stateMachine:MACHINE[:VERSION|ALIAS]`.
    StateMachine {
        /// State machine name.
        name: String,
        /// Version number or alias name, if any.
        qualifier: Option<String>,
    },
    /// `…:lambda:…:function:FN[:QUALIFIER]`.
    Function {
        /// Function name.
        name: String,
        /// Version, alias or `$LATEST`, if any.
        qualifier: Option<String>,
    },
}

/// The AWS service that owns a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// AWS Step Functions (`states`).
    StepFunctions,
    /// AWS Lambda (`lambda`).
    Lambda,
}

impl Service {
    /// The service's name as it appears in ARNs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Service::StepFunctions => "states",
            Service::Lambda => "lambda",
        }
    }

    /// The service's name as people write it, for messages.
    pub const fn display_name(self) -> &'static str {
        match self {
            Service::StepFunctions => "Step Functions",
            Service::Lambda => "Lambda",
        }
    }
}

/// A parsed, classified target ARN. `Display` prints the canonical ARN, and `parse(display(x)) == x`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetArn {
    scope: ArnScope,
    kind: TargetKind,
}

impl TargetArn {
    /// Parses and classifies a target ARN.
    pub fn parse(s: &str) -> Result<TargetArn, ArnError> {
        if s.is_empty() {
            return Err(ArnError::Empty);
        }
        if s.len() > MAX_ARN_LEN {
            return Err(ArnError::TooLong { len: s.len(), max: MAX_ARN_LEN });
        }
        if let Some(position) = s.bytes().position(|b| !b.is_ascii_graphic()) {
            return Err(ArnError::Character { position });
        }
        let mut fields = s.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(resource)) =
            (fields.next(), fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(ArnError::NotAnArn);
        };
        let scope = ArnScope::parse(partition, region, account)?;
        let kind = match service {
            "states" => parse_states_resource(resource)?,
            "lambda" => {
                let kind = parse_lambda_resource(resource)?;
                if matches!(kind, TargetKind::DurableExecution { .. }) && s.len() > MAX_DURABLE_ARN_LEN {
                    return Err(ArnError::TooLong { len: s.len(), max: MAX_DURABLE_ARN_LEN });
                }
                kind
            }
            other => return Err(ArnError::Service(excerpt(other))),
        };
        Ok(TargetArn { scope, kind })
    }

    /// Where the target lives.
    pub fn scope(&self) -> &ArnScope {
        &self.scope
    }

    /// The partition.
    pub fn partition(&self) -> Partition {
        self.scope.partition()
    }

    /// The region.
    pub fn region(&self) -> &Region {
        self.scope.region()
    }

    /// The account.
    pub fn account(&self) -> &AccountId {
        self.scope.account()
    }

    /// What the ARN names.
    pub fn kind(&self) -> &TargetKind {
        &self.kind
    }

    /// The owning service.
    pub fn service(&self) -> Service {
        match self.kind {
            TargetKind::SfnExecution { .. }
            | TargetKind::SfnExpressExecution { .. }
            | TargetKind::SfnMapRun { .. }
            | TargetKind::SfnMapRunChild { .. }
            | TargetKind::StateMachine { .. } => Service::StepFunctions,
            TargetKind::DurableExecution { .. } | TargetKind::Function { .. } => Service::Lambda,
        }
    }

    /// The state machine or function name that policy rules match on.
    pub fn resource_name(&self) -> &str {
        match &self.kind {
            TargetKind::SfnExecution { state_machine, .. }
            | TargetKind::SfnExpressExecution { state_machine, .. }
            | TargetKind::SfnMapRun { state_machine, .. }
            | TargetKind::SfnMapRunChild { state_machine, .. } => state_machine,
            TargetKind::StateMachine { name, .. } | TargetKind::Function { name, .. } => name,
            TargetKind::DurableExecution { function, .. } => function,
        }
    }

    /// A short stable name for the kind of target, used in responses and audit records.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            TargetKind::SfnExecution { .. } => "sfn-execution",
            TargetKind::DurableExecution { .. } => "durable-execution",
            TargetKind::SfnExpressExecution { .. } => "sfn-express-execution",
            TargetKind::SfnMapRun { .. } => "sfn-map-run",
            TargetKind::SfnMapRunChild { express_id: None, .. } => "sfn-map-run-child",
            TargetKind::SfnMapRunChild { express_id: Some(_), .. } => "sfn-map-run-express-child",
            TargetKind::StateMachine { .. } => "state-machine",
            TargetKind::Function { .. } => "function",
        }
    }

    /// Why this target cannot be stopped here, or `None` when it can (directly, or in bulk).
    pub fn not_stoppable_reason(&self) -> Option<&'static str> {
        match self.kind {
            TargetKind::SfnExpressExecution { .. } => Some(
                "express executions cannot be stopped: Step Functions has no stop API for them; they end by their own timeout (at most 5 minutes)",
            ),
            TargetKind::SfnMapRun { .. } => Some(
                "a Map Run cannot be stopped directly (Step Functions has no stop API for it): stop the parent execution that started the Distributed Map; DescribeMapRun names it (executionArn)",
            ),
            TargetKind::SfnMapRunChild { .. } => Some(
                "this is a child execution of a Distributed Map run: stopping one child does not stop the Map Run, which starts further children and counts a stopped one as a failed item; stop the parent execution instead (DescribeExecution of this child gives its mapRunArn, and DescribeMapRun the parent's executionArn)",
            ),
            _ => None,
        }
    }

    /// Whether the target names many executions (a state machine or a function) rather than one.
    pub fn is_bulk(&self) -> bool {
        matches!(self.kind, TargetKind::StateMachine { .. } | TargetKind::Function { .. })
    }

    /// Whether `self` is an execution that a list of `parent` (a state machine or function) may rightly return:
    /// same partition, region and account, and an execution of that state machine or function. A function
    /// qualified by a version or `$LATEST` owns only the executions on that version; one qualified by an alias
    /// owns executions on any version, because an execution's ARN names the version the alias pointed to, never
    /// the alias. A state machine's version or alias does not appear in its executions' ARNs, so for state
    /// machines the name is what can be checked.
    pub fn is_execution_of(&self, parent: &TargetArn) -> bool {
        if self.scope != parent.scope {
            return false;
        }
        match (&self.kind, &parent.kind) {
            (TargetKind::SfnExecution { state_machine, .. }, TargetKind::StateMachine { name, .. }) => {
                state_machine == name
            }
            (TargetKind::DurableExecution { function, qualifier, .. }, TargetKind::Function { name, qualifier: q }) => {
                function == name
                    && match q.as_deref().map(|q| (q, DurableQualifier::parse(q))) {
                        None => true,
                        Some((_, Some(version))) => *qualifier == version,
                        Some((_alias, None)) => true,
                    }
            }
            _ => false,
        }
    }

    /// Whether `self` names nothing beyond `other`: the same target, an execution of it, or (for a state
    /// machine or function named without a qualifier) one of its versions or aliases.
    pub fn is_within(&self, other: &TargetArn) -> bool {
        if self == other || self.is_execution_of(other) {
            return true;
        }
        if self.scope != other.scope {
            return false;
        }
        match (&self.kind, &other.kind) {
            (TargetKind::StateMachine { name, .. }, TargetKind::StateMachine { name: outer, qualifier: None })
            | (TargetKind::Function { name, .. }, TargetKind::Function { name: outer, qualifier: None }) => {
                name == outer
            }
            _ => false,
        }
    }

    /// The function `name` (optionally qualified) in this partition, region and account, e.g. from an alarm's
    /// `FunctionName` dimension. Built through the parser, so it obeys the same grammar as any other ARN.
    pub fn function(scope: &ArnScope, name: &str, qualifier: Option<&str>) -> Result<TargetArn, ArnError> {
        let (partition, region, account) = (scope.partition(), scope.region(), scope.account());
        let qualifier = qualifier.map(|q| format!(":{q}")).unwrap_or_default();
        TargetArn::parse(&format!("arn:{partition}:lambda:{region}:{account}:function:{name}{qualifier}"))
    }
}

impl fmt::Display for TargetArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (partition, region, account) = (self.partition(), self.region(), self.account());
        write!(f, "arn:{partition}:{}:{region}:{account}:", self.service().as_str())?;
        match &self.kind {
            TargetKind::SfnExecution { state_machine, name } => write!(f, "execution:{state_machine}:{name}"),
            TargetKind::SfnExpressExecution { state_machine, name, id } => {
                write!(f, "express:{state_machine}:{name}:{id}")
            }
            TargetKind::SfnMapRun { state_machine, label, id } => write!(f, "mapRun:{state_machine}/{label}:{id}"),
            TargetKind::SfnMapRunChild { state_machine, label, name, express_id: None } => {
                write!(f, "execution:{state_machine}/{label}:{name}")
            }
            TargetKind::SfnMapRunChild { state_machine, label, name, express_id: Some(id) } => {
                write!(f, "express:{state_machine}/{label}:{name}:{id}")
            }
            TargetKind::StateMachine { name, qualifier } => {
                write!(f, "stateMachine:{name}")?;
                qualifier.iter().try_for_each(|q| write!(f, ":{q}"))
            }
            TargetKind::DurableExecution { function, qualifier, name, id } => {
                write!(f, "function:{function}:{qualifier}/durable-execution/{name}/{id}")
            }
            TargetKind::Function { name, qualifier } => {
                write!(f, "function:{name}")?;
                qualifier.iter().try_for_each(|q| write!(f, ":{q}"))
            }
        }
    }
}

/// `value` as an owned name when `ok`, otherwise a field error quoting the grammar it breaks.
fn checked(field: &'static str, value: &str, ok: bool, rule: &'static str) -> Result<String, ArnError> {
    if ok { Ok(value.to_owned()) } else { Err(ArnError::Field { field, value: excerpt(value), rule }) }
}

/// Step Functions names: 1–80 characters, none of the characters the service forbids in names. We also refuse
/// non-ASCII (already excluded by the caller) so look-alike names cannot be smuggled in.
fn sfn_name(field: &'static str, value: &str) -> Result<String, ArnError> {
    const FORBIDDEN: &[u8] = b" <>{}[]?*\"#%\\^|~`$&,;:/";
    let ok = (1..=80).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic() && !FORBIDDEN.contains(&b));
    checked(field, value, ok, "1-80 characters, none of whitespace or < > { } [ ] ? * \" # % \\ ^ | ~ ` $ & , ; : /")
}

/// Lambda names and durable execution names/ids: `[A-Za-z0-9_-]`, bounded length.
fn lambda_name(field: &'static str, value: &str, max: usize) -> Result<String, ArnError> {
    let ok =
        (1..=max).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let rule = match max {
        64 => "1-64 characters from A-Z a-z 0-9 - _",
        128 => "1-128 characters from A-Z a-z 0-9 - _",
        _ => "characters from A-Z a-z 0-9 - _",
    };
    checked(field, value, ok, rule)
}

/// A Step Functions state machine version number or alias name.
fn sfn_qualifier(value: &str) -> Result<String, ArnError> {
    sfn_name("state machine version or alias", value)
}

fn parse_states_resource(resource: &str) -> Result<TargetKind, ArnError> {
    let parts: Vec<&str> = resource.split(':').collect();
    let kind = match parts.as_slice() {
        ["execution", machine_and_label, name] if machine_and_label.contains('/') => {
            let (state_machine, label) = map_run_label(machine_and_label)?;
            TargetKind::SfnMapRunChild {
                state_machine,
                label,
                name: sfn_name("execution name", name)?,
                express_id: None,
            }
        }
        ["express", machine_and_label, name, id] if machine_and_label.contains('/') => {
            let (state_machine, label) = map_run_label(machine_and_label)?;
            let (name, id) = (sfn_name("execution name", name)?, sfn_name("execution id", id)?);
            TargetKind::SfnMapRunChild { state_machine, label, name, express_id: Some(id) }
        }
        ["execution", machine, name] => TargetKind::SfnExecution {
            state_machine: sfn_name("state machine name", machine)?,
            name: sfn_name("execution name", name)?,
        },
        ["express", machine, name, id] => TargetKind::SfnExpressExecution {
            state_machine: sfn_name("state machine name", machine)?,
            name: sfn_name("execution name", name)?,
            id: sfn_name("execution id", id)?,
        },
        ["mapRun", machine_and_label, id] => {
            let (state_machine, label) = map_run_label(machine_and_label)?;
            TargetKind::SfnMapRun { state_machine, label, id: sfn_name("map run id", id)? }
        }
        ["stateMachine", machine] => {
            TargetKind::StateMachine { name: sfn_name("state machine name", machine)?, qualifier: None }
        }
        ["stateMachine", machine, qualifier] => TargetKind::StateMachine {
            name: sfn_name("state machine name", machine)?,
            qualifier: Some(sfn_qualifier(qualifier)?),
        },
        _ => return Err(ArnError::Resource { service: "states", resource: excerpt(resource) }),
    };
    Ok(kind)
}

/// `STATE_MACHINE/LABEL`, as Map Runs and their children name their parent's state machine and Map state.
fn map_run_label(value: &str) -> Result<(String, String), ArnError> {
    let (machine, label) = value.split_once('/').ok_or(ArnError::Field {
        field: "map run",
        value: excerpt(value),
        rule: "STATE_MACHINE/LABEL",
    })?;
    Ok((sfn_name("state machine name", machine)?, sfn_name("map run label", label)?))
}

fn parse_durable_qualifier(value: &str) -> Result<DurableQualifier, ArnError> {
    DurableQualifier::parse(value).ok_or_else(|| qualifier_error(value))
}

fn qualifier_error(value: &str) -> ArnError {
    ArnError::Field {
        field: "durable execution qualifier",
        value: excerpt(value),
        rule: "$LATEST, $LATEST.PUBLISHED or a version number",
    }
}

/// A function qualifier outside durable ARNs: `$LATEST`, a version or an alias.
fn function_qualifier(value: &str) -> Result<String, ArnError> {
    if value == "$LATEST" || value == "$LATEST.PUBLISHED" {
        return Ok(value.to_owned());
    }
    lambda_name("function qualifier", value, 128)
}

fn parse_lambda_resource(resource: &str) -> Result<TargetKind, ArnError> {
    let unsupported = || ArnError::Resource { service: "lambda", resource: excerpt(resource) };
    let rest = match resource.split_once(':') {
        Some(("function", rest)) => rest,
        _ => return Err(unsupported()),
    };
    if let Some((function_and_qualifier, execution)) = rest.split_once("/durable-execution/") {
        let (function, qualifier) = function_and_qualifier.split_once(':').ok_or_else(|| ArnError::Field {
            field: "durable execution",
            value: excerpt(function_and_qualifier),
            rule: "function:NAME:QUALIFIER/durable-execution/NAME/ID",
        })?;
        let (name, id) = execution.split_once('/').ok_or_else(|| ArnError::Field {
            field: "durable execution",
            value: excerpt(execution),
            rule: "durable-execution/NAME/ID",
        })?;
        return Ok(TargetKind::DurableExecution {
            function: lambda_name("function name", function, 64)?,
            qualifier: parse_durable_qualifier(qualifier)?,
            name: lambda_name("durable execution name", name, 64)?,
            id: lambda_name("durable execution id", id, MAX_DURABLE_ARN_LEN)?,
        });
    }
    let mut parts = rest.split(':');
    let name = lambda_name("function name", parts.next().unwrap_or_default(), 64)?;
    let qualifier = parts.next().map(function_qualifier).transpose()?;
    if parts.next().is_some() {
        return Err(unsupported());
    }
    Ok(TargetKind::Function { name, qualifier })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SFN: &str = "arn:aws:states:us-east-1:123456789012:execution:orders:run-42";
    const DURABLE: &str =
        "arn:aws:lambda:eu-west-1:123456789012:function:checkout:$LATEST/durable-execution/order-7/3f2a9c1e-0b7d";

    fn kind(s: &str) -> &'static str {
        TargetArn::parse(s).map(|t| t.kind_name()).unwrap_or("invalid")
    }

    #[test]
    fn classifies_every_supported_kind() {
        let table = [
            (SFN, "sfn-execution"),
            ("arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:a_b-c:1", "sfn-execution"),
            (DURABLE, "durable-execution"),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST.PUBLISHED/durable-execution/n/i",
                "durable-execution",
            ),
            ("arn:aws:lambda:us-east-1:123456789012:function:f:12/durable-execution/n/i", "durable-execution"),
            ("arn:aws:states:us-east-1:123456789012:express:orders:run:0bd3", "sfn-express-execution"),
            ("arn:aws:states:us-east-1:123456789012:mapRun:orders/fanout:2c9e", "sfn-map-run"),
            ("arn:aws:states:us-east-1:123456789012:execution:orders/fanout:a1b2", "sfn-map-run-child"),
            ("arn:aws:states:us-east-1:123456789012:express:orders/fanout:a1b2:c3d4", "sfn-map-run-express-child"),
            ("arn:aws:states:us-east-1:123456789012:stateMachine:orders", "state-machine"),
            ("arn:aws:states:us-east-1:123456789012:stateMachine:orders:3", "state-machine"),
            ("arn:aws:states:us-east-1:123456789012:stateMachine:orders:prod", "state-machine"),
            ("arn:aws:lambda:us-east-1:123456789012:function:checkout", "function"),
            ("arn:aws:lambda:us-east-1:123456789012:function:checkout:live", "function"),
            ("arn:aws-cn:states:cn-north-1:123456789012:execution:m:e", "sfn-execution"),
            ("arn:aws-iso-b:states:us-isob-east-1:123456789012:execution:m:e", "sfn-execution"),
            ("arn:aws-eusc:states:eusc-de-east-1:123456789012:execution:m:e", "sfn-execution"),
        ];
        for (arn, expected) in table {
            assert_eq!(kind(arn), expected, "{arn}");
        }
    }

    #[test]
    fn express_executions_and_map_runs_are_not_stoppable() {
        assert!(TargetArn::parse(SFN).unwrap().not_stoppable_reason().is_none());
        assert!(TargetArn::parse(DURABLE).unwrap().not_stoppable_reason().is_none());
        let express = TargetArn::parse("arn:aws:states:us-east-1:123456789012:express:m:e:i").unwrap();
        assert!(express.not_stoppable_reason().unwrap().contains("express"));
        for arn in [
            "arn:aws:states:us-east-1:123456789012:mapRun:m/l:i",
            "arn:aws:states:us-east-1:123456789012:execution:m/l:child-1",
            "arn:aws:states:us-east-1:123456789012:express:m/l:child-1:i",
        ] {
            let t = TargetArn::parse(arn).unwrap();
            assert!(t.not_stoppable_reason().unwrap().contains("parent execution"), "{arn}");
            assert_eq!(t.resource_name(), "m", "policy rules match the parent's state machine");
            assert!(!t.is_bulk());
        }
    }

    #[test]
    fn state_machines_and_functions_are_bulk_targets() {
        for arn in [
            "arn:aws:states:us-east-1:123456789012:stateMachine:orders",
            "arn:aws:states:us-east-1:123456789012:stateMachine:orders:7",
            "arn:aws:states:us-east-1:123456789012:stateMachine:orders:live",
            "arn:aws:lambda:us-east-1:123456789012:function:checkout",
        ] {
            let t = TargetArn::parse(arn).unwrap();
            assert!(t.is_bulk() && t.not_stoppable_reason().is_none(), "{arn}");
        }
        assert!(!TargetArn::parse(SFN).unwrap().is_bulk());
        let scope = ArnScope::parse("aws", "eu-west-1", "123456789012").unwrap();
        let f = TargetArn::function(&scope, "checkout", Some("live")).unwrap();
        assert_eq!(f.to_string(), "arn:aws:lambda:eu-west-1:123456789012:function:checkout:live");
        assert!(TargetArn::function(f.scope(), "bad name", None).is_err());
    }

    #[test]
    fn a_listed_execution_must_belong_to_the_listed_target() {
        let machine = TargetArn::parse("arn:aws:states:us-east-1:123456789012:stateMachine:orders").unwrap();
        let function = TargetArn::parse("arn:aws:lambda:us-east-1:123456789012:function:checkout").unwrap();
        let durable =
            |q: &str| format!("arn:aws:lambda:us-east-1:123456789012:function:checkout:{q}/durable-execution/n/i");
        let table = [
            (&machine, "arn:aws:states:us-east-1:123456789012:execution:orders:run-1".to_owned(), true),
            (&machine, "arn:aws:states:us-east-1:123456789012:execution:orders-2:run-1".to_owned(), false),
            (&machine, "arn:aws:states:us-east-1:999999999999:execution:orders:run-1".to_owned(), false),
            (&machine, "arn:aws:states:eu-west-1:123456789012:execution:orders:run-1".to_owned(), false),
            (&machine, "arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:orders:r".to_owned(), false),
            (&machine, "arn:aws:states:us-east-1:123456789012:stateMachine:orders".to_owned(), false),
            (&machine, durable("$LATEST"), false),
            (&function, durable("$LATEST"), true),
            (&function, durable("7"), true),
            (
                &function,
                "arn:aws:lambda:us-east-1:123456789012:function:other:1/durable-execution/n/i".to_owned(),
                false,
            ),
            (&function, "arn:aws:states:us-east-1:123456789012:execution:checkout:r".to_owned(), false),
        ];
        for (parent, child, expected) in table {
            assert_eq!(TargetArn::parse(&child).unwrap().is_execution_of(parent), expected, "{child} of {parent}");
        }
        let qualified = |q: &str| {
            TargetArn::parse(&format!("arn:aws:lambda:us-east-1:123456789012:function:checkout:{q}")).unwrap()
        };
        let on = |q: &str| TargetArn::parse(&durable(q)).unwrap();
        assert!(on("7").is_execution_of(&qualified("7")));
        assert!(!on("8").is_execution_of(&qualified("7")));
        assert!(!on("7").is_execution_of(&qualified("$LATEST")));
        assert!(on("$LATEST").is_execution_of(&qualified("$LATEST")));
        assert!(on("7").is_execution_of(&qualified("live")), "an alias owns executions on any version");
    }

    #[test]
    fn exposes_fields_for_policy() {
        let t = TargetArn::parse(DURABLE).unwrap();
        assert_eq!(t.partition(), Partition::Aws);
        assert_eq!(t.region().as_str(), "eu-west-1");
        assert_eq!(t.account().as_str(), "123456789012");
        assert_eq!(t.resource_name(), "checkout");
        assert_eq!(t.service(), Service::Lambda);
    }

    #[test]
    fn display_round_trips() {
        for arn in [
            SFN,
            DURABLE,
            "arn:aws:lambda:us-east-1:123456789012:function:f:7/durable-execution/n/i",
            "arn:aws:states:us-east-1:123456789012:mapRun:m/l:i",
            "arn:aws:states:us-east-1:123456789012:express:m:e:i",
            "arn:aws:states:us-east-1:123456789012:stateMachine:m:alias",
            "arn:aws:lambda:us-east-1:123456789012:function:f",
        ] {
            let parsed = TargetArn::parse(arn).unwrap();
            assert_eq!(parsed.to_string(), arn);
            assert_eq!(TargetArn::parse(&parsed.to_string()).unwrap(), parsed);
        }
    }

    #[test]
    fn rejects_hostile_and_malformed_input() {
        let long_name = format!("arn:aws:states:us-east-1:123456789012:execution:m:{}", "e".repeat(81));
        let too_long = format!("arn:aws:states:us-east-1:123456789012:execution:m:{}", "e".repeat(3000));
        let durable_too_long = format!(
            "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/n/{}",
            "i".repeat(1000)
        );
        let table: Vec<(String, &str)> = vec![
            (String::new(), "empty"),
            (format!(" {SFN}"), "leading space"),
            (format!("{SFN} "), "trailing space"),
            (format!("{SFN}\n"), "trailing newline"),
            (SFN.replace("orders", "ord\u{0}ers"), "NUL"),
            (SFN.replace("orders", "ord\u{200b}ers"), "zero-width space"),
            (SFN.replace("orders", "оrders"), "Cyrillic o"),
            (SFN.replace("arn:aws:", "arn:ａws:"), "fullwidth a"),
            (SFN.replace("arn:", "ARN:"), "upper-case prefix"),
            (SFN.replace("arn:aws:", "arn:AWS:"), "upper-case partition"),
            (SFN.replace("arn:aws:", "arn:aws-xx:"), "unknown partition"),
            (SFN.replace("arn:aws:", "arn:aws-cn:"), "partition/region mismatch"),
            (SFN.replace("us-east-1", "us-gov-west-1"), "gov region in aws partition"),
            (SFN.replace("us-east-1", "US-EAST-1"), "upper-case region"),
            (SFN.replace("us-east-1", "useast1"), "malformed region"),
            (SFN.replace("123456789012", "12345678901"), "11-digit account"),
            (SFN.replace("123456789012", "1234567890123"), "13-digit account"),
            (SFN.replace("123456789012", "12345678901a"), "letter in account"),
            (SFN.replace(":states:", ":ecs:"), "other service"),
            (SFN.replace(":states:", ":State:"), "service case"),
            (SFN.replace(":execution:", ":Execution:"), "resource type case"),
            (SFN.replace(":execution:", ":activity:"), "activity"),
            (format!("{SFN}:extra"), "extra field"),
            (SFN.replace("run-42", "run/42"), "slash in execution name"),
            (SFN.replace("orders", "a/b/c"), "two slashes in the machine segment"),
            (SFN.replace("orders", "/ers"), "map run child without a machine"),
            (SFN.replace("orders", "ord/"), "map run child without a label"),
            (SFN.replace("orders", "ord%2Fers"), "encoded slash"),
            (SFN.replace("orders", "ord*"), "wildcard"),
            (SFN.replace("run-42", ""), "empty execution name"),
            (long_name, "81-char name"),
            (too_long, "over 2048"),
            (durable_too_long, "durable over 1024"),
            (DURABLE.replace("$LATEST", "$latest"), "qualifier case"),
            (DURABLE.replace("$LATEST", "007"), "leading zero version"),
            (DURABLE.replace("$LATEST", "live"), "alias qualifier on durable"),
            (DURABLE.replace(":$LATEST", ""), "durable without qualifier"),
            (DURABLE.replace("/3f2a9c1e-0b7d", ""), "durable without id"),
            (DURABLE.replace("/3f2a9c1e-0b7d", "/a/b"), "durable with extra segment"),
            (DURABLE.replace("order-7", "order.7"), "dot in durable name"),
            (DURABLE.replace("checkout", "check.out"), "dot in function name"),
            (format!("{DURABLE}\u{202e}"), "bidi override"),
            ("arn:aws:states:us-east-1:123456789012".to_owned(), "no resource"),
            ("arn:aws:states".to_owned(), "truncated"),
            ("states:us-east-1:123456789012:execution:m:e".to_owned(), "no arn prefix"),
            ("arn:aws:lambda:us-east-1:123456789012:layer:l:1".to_owned(), "lambda layer"),
            ("arn:aws:lambda:us-east-1:123456789012:function:f:1:2".to_owned(), "two qualifiers"),
        ];
        for (input, case) in table {
            assert!(TargetArn::parse(&input).is_err(), "accepted {case}: {input:?}");
        }
    }

    #[test]
    fn errors_name_the_field_and_escape_input() {
        let err = TargetArn::parse(&SFN.replace("123456789012", "1234")).unwrap_err();
        assert_eq!(err.to_string(), "account \"1234\" is not a 12-digit account id");
        let err = TargetArn::parse("arn:aws:states:us-east-1:123456789012:execution:m\u{7}:e").unwrap_err();
        assert!(matches!(err, ArnError::Character { position: 49 }), "{err}");
        let err = TargetArn::parse(&format!("arn:{}:states:us-east-1:1:execution:m:e", "x".repeat(200))).unwrap_err();
        assert!(err.to_string().len() < 200, "excerpt is bounded: {err}");
    }

    #[test]
    fn a_function_on_latest_published_owns_only_the_executions_on_that_version() {
        let function =
            TargetArn::parse("arn:aws:lambda:us-east-1:111122223333:function:checkout:$LATEST.PUBLISHED").unwrap();
        let on = |qualifier: &str| {
            TargetArn::parse(&format!(
                "arn:aws:lambda:us-east-1:111122223333:function:checkout:{qualifier}/durable-execution/n/i"
            ))
            .unwrap()
        };
        assert!(on("$LATEST.PUBLISHED").is_execution_of(&function));
        assert!(!on("3").is_execution_of(&function), "$LATEST.PUBLISHED is a version, not an alias");
        assert!(!on("$LATEST").is_execution_of(&function));
    }
}
