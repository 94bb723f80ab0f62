//! The policy document (TOML or JSON) and its translation into the domain [`Policy`].
//!
//! Parsed once at start-up. Every error names the exact field, as a path such as
//! `rules[1] (id "oncall").targets.accounts[0]`, so a broken deployment says what to fix. See
//! `policy.example.toml` for an annotated example.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use crate::domain::accounts::{ACCOUNT_PLACEHOLDER, AccountRoleRule, AccountRoles, Accounts};
use crate::domain::alarm::{AlarmMapping, AlarmRouting, AlarmSelector, TagScope};
use crate::domain::aws_ids::{AccountId, Partition, Region};
use crate::domain::caller::{AlarmArn, OrgId};
use crate::domain::glob::{Field, Glob};
use crate::domain::policy::{
    CallerMatch, Effect, ErrorCodeRule, Policy, PolicyVersion, PrincipalPattern, ReasonRule, Rule, TargetMatch,
};
use crate::domain::target::TargetArn;
use crate::domain::text::{ErrorCode, MAX_REASON_BYTES};

/// Error code used when neither the request nor the policy names one.
pub const DEFAULT_ERROR_CODE: &str = "StopGateway.Stopped";
/// Blast-radius cap when the policy sets none.
pub const DEFAULT_MAX_EXECUTIONS: usize = 100;
/// Longest reason pattern accepted; keeps regex compilation and matching cheap.
const MAX_PATTERN_LEN: usize = 512;

/// A policy document that could not be used, with the path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PolicyError {
    /// Where (`rules[0] (id "x").targets.names`), or `document` for syntax errors.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// The document's syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TOML (`[[rules]]` tables; comments allowed).
    Toml,
    /// JSON (compact enough for an environment variable).
    Json,
}

impl Format {
    /// JSON when the text starts with `{`, TOML otherwise.
    pub fn sniff(text: &str) -> Format {
        if text.trim_start().starts_with('{') { Format::Json } else { Format::Toml }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDoc {
    version: u32,
    #[serde(default)]
    dry_run: bool,
    default_error_code: Option<String>,
    max_executions: Option<usize>,
    kms_fallback: Option<bool>,
    #[serde(default)]
    named_targets: BTreeMap<String, String>,
    #[serde(default)]
    alarm_targets: Vec<AlarmTargetsDoc>,
    /// Whether an alarm's `stop-gateway:target` tag may name any target (`any`, the default) or only narrow
    /// what the alarm's mapping names (`narrow`).
    alarm_tags: Option<TagScopeDoc>,
    #[serde(default)]
    rules: Vec<RuleDoc>,
    #[serde(default)]
    account_roles: Vec<AccountRoleDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountRoleDoc {
    accounts: Vec<String>,
    role: String,
    external_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlarmTargetsDoc {
    alarm: String,
    targets: Vec<String>,
    #[serde(default)]
    latch: bool,
    alarm_tags: Option<TagScopeDoc>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum TagScopeDoc {
    Any,
    Narrow,
}

impl From<TagScopeDoc> for TagScope {
    fn from(doc: TagScopeDoc) -> TagScope {
        match doc {
            TagScopeDoc::Any => TagScope::Any,
            TagScopeDoc::Narrow => TagScope::Narrow,
        }
    }
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum EffectDoc {
    Allow,
    Deny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    id: String,
    effect: EffectDoc,
    #[allow(dead_code)] // for people reading the document; not used in decisions
    description: Option<String>,
    #[serde(default)]
    dry_run: bool,
    callers: CallersDoc,
    targets: TargetsDoc,
    reason: Option<ReasonDoc>,
    error_codes: Option<ErrorCodesDoc>,
    max_executions: Option<usize>,
    kms_fallback: Option<bool>,
    #[serde(default)]
    latch: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallersDoc {
    principals: Option<Vec<String>>,
    accounts: Option<Vec<String>>,
    org_ids: Option<Vec<String>>,
    sources: Option<Vec<String>>,
    alarms: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsDoc {
    services: Vec<String>,
    partitions: Vec<String>,
    accounts: Vec<String>,
    regions: Vec<String>,
    names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonDoc {
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorCodesDoc {
    #[serde(default)]
    allowed: Vec<String>,
    default: Option<String>,
}

/// A parsed policy document: the rules, and how alarms find their targets. They are written together but used
/// apart: ingress resolves alarm targets, the service applies the rules.
#[derive(Debug, Clone)]
pub struct PolicyDocument {
    /// Who may stop what.
    pub policy: Policy,
    /// Named targets and alarm mappings.
    pub routing: AlarmRouting,
}

/// Parses and validates a policy document.
pub fn parse_policy(text: &str, format: Format) -> Result<PolicyDocument, PolicyError> {
    let doc: PolicyDoc = match format {
        Format::Json => {
            let de = &mut serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|e| syntax(e.path().to_string(), e.inner().to_string()))?
        }
        Format::Toml => {
            let de = toml::Deserializer::parse(text).map_err(|e| syntax(String::new(), e.message().to_owned()))?;
            serde_path_to_error::deserialize(de)
                .map_err(|e| syntax(e.path().to_string(), e.inner().message().to_owned()))?
        }
    };
    if doc.version != 1 {
        return Err(PolicyError {
            path: "version".into(),
            message: format!("unsupported version {} (expected 1)", doc.version),
        });
    }
    let default_code = match &doc.default_error_code {
        Some(code) => ErrorCode::parse(code).map_err(|e| at("default_error_code", e))?,
        None => ErrorCode::parse(DEFAULT_ERROR_CODE).map_err(|e| at("default_error_code", e))?,
    };
    let mut ids = HashSet::new();
    let mut rules = Vec::with_capacity(doc.rules.len());
    for (i, rule) in doc.rules.into_iter().enumerate() {
        let path = format!("rules[{i}] (id {:?})", rule.id);
        if !ids.insert(rule.id.clone()) {
            return Err(at(format!("{path}.id"), "duplicate rule id"));
        }
        rules.push(parse_rule(rule, &path, &default_code)?);
    }
    if !rules.iter().any(|r| r.effect == Effect::Allow) {
        return Err(at("rules", "the policy has no allow rule, so it would deny every request"));
    }
    let max_executions = match doc.max_executions {
        Some(0) => return Err(at("max_executions", "must be at least 1")),
        Some(n) => n,
        None => DEFAULT_MAX_EXECUTIONS,
    };
    let mut routing = parse_routing(doc.named_targets, doc.alarm_targets)?;
    routing.tags = doc.alarm_tags.map_or(TagScope::Any, TagScope::from);
    let kms_fallback = doc.kms_fallback.unwrap_or(true);
    let accounts = parse_account_roles(doc.account_roles)?;
    Ok(PolicyDocument {
        policy: Policy { dry_run: doc.dry_run, rules, max_executions, kms_fallback, accounts },
        routing,
    })
}

/// `[[account_roles]]`: each role must be an IAM role in the account it is assumed for (a role elsewhere would
/// act in the wrong account), written with `{account}` when the entry covers every account.
fn parse_account_roles(docs: Vec<AccountRoleDoc>) -> Result<AccountRoles, PolicyError> {
    let mut roles = AccountRoles::default();
    for (i, doc) in docs.into_iter().enumerate() {
        let path = format!("account_roles[{i}]");
        let accounts = match doc.accounts.as_slice() {
            [] => return Err(at(format!("{path}.accounts"), "list at least one account, or \"*\" for any")),
            [only] if only == "*" => Accounts::Any,
            list => {
                let mut exact = Vec::with_capacity(list.len());
                for (j, a) in list.iter().enumerate() {
                    exact.push(AccountId::parse(a).map_err(|e| at(format!("{path}.accounts[{j}]"), e))?);
                }
                Accounts::Exact(exact)
            }
        };
        let role_path = format!("{path}.role");
        match &accounts {
            Accounts::Any => {
                if !doc.role.contains(ACCOUNT_PLACEHOLDER) {
                    return Err(at(role_path, "an entry for every account names the role with {account}"));
                }
                check_role_arn(&doc.role.replace(ACCOUNT_PLACEHOLDER, "111111111111"), "111111111111")
                    .map_err(|e| at(&role_path, e))?;
            }
            Accounts::Exact(list) => {
                for account in list {
                    let arn = doc.role.replace(ACCOUNT_PLACEHOLDER, account.as_str());
                    check_role_arn(&arn, account.as_str()).map_err(|e| at(&role_path, e))?;
                }
            }
        }
        if let Some(id) = &doc.external_id {
            let ok = (2..=1224).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/_-".contains(&b));
            if !ok {
                return Err(at(
                    format!("{path}.external_id"),
                    "use 2-1224 characters from A-Z a-z 0-9 + = , . @ : / _ -",
                ));
            }
        }
        roles.rules.push(AccountRoleRule { accounts, role: doc.role, external_id: doc.external_id });
    }
    Ok(roles)
}

/// `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME` in `account`, in the grammar IAM documents for role names
/// (`[\w+=,.@-]`, at most 64) and paths.
fn check_role_arn(arn: &str, account: &str) -> Result<(), String> {
    let fields: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", partition, "iam", "", role_account, resource] = fields.as_slice() else {
        return Err(format!("{arn:?} is not an IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/NAME)"));
    };
    if Partition::parse(partition).is_none() {
        return Err(format!("{arn:?}: unknown partition {partition:?}"));
    }
    if *role_account != account {
        return Err(format!("{arn:?} is not in account {account}: the role must be in the account it acts in"));
    }
    let name = resource.strip_prefix("role/").and_then(|r| r.rsplit('/').next()).unwrap_or_default();
    let valid = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b));
    if name.is_empty() || name.len() > 64 || !valid(resource) || resource.len() > 512 {
        return Err(format!("{arn:?}: the role name must be 1-64 characters from A-Z a-z 0-9 + = , . @ _ -"));
    }
    Ok(())
}

fn parse_routing(named: BTreeMap<String, String>, mappings: Vec<AlarmTargetsDoc>) -> Result<AlarmRouting, PolicyError> {
    let mut routing = AlarmRouting::default();
    for (name, arn) in named {
        let path = format!("named_targets.{name}");
        if !is_identifier(&name) {
            return Err(at(path, format!("target names use {IDENTIFIER}")));
        }
        let target = TargetArn::parse(&arn).map_err(|e| at(&path, e))?;
        routing.named.insert(name, target);
    }
    for (i, doc) in mappings.into_iter().enumerate() {
        let path = format!("alarm_targets[{i}]");
        let alarm = if doc.alarm.starts_with("arn:") {
            AlarmSelector::Arn(AlarmArn::parse(&doc.alarm).map_err(|e| at(format!("{path}.alarm"), e))?.to_string())
        } else {
            AlarmSelector::Name(Glob::new(&doc.alarm).map_err(|e| at(format!("{path}.alarm"), e))?)
        };
        if doc.targets.is_empty() {
            return Err(at(format!("{path}.targets"), "list at least one target"));
        }
        let mut targets = Vec::with_capacity(doc.targets.len());
        for (j, t) in doc.targets.iter().enumerate() {
            let tpath = format!("{path}.targets[{j}]");
            let target = if t.starts_with("arn:") {
                TargetArn::parse(t).map_err(|e| at(&tpath, e))?
            } else {
                routing
                    .named
                    .get(t)
                    .cloned()
                    .ok_or_else(|| at(&tpath, format!("no target named {t:?} in named_targets")))?
            };
            targets.push(target);
        }
        let tags = doc.alarm_tags.map(TagScope::from);
        routing.mappings.push(AlarmMapping { alarm, targets, latch: doc.latch, tags });
    }
    Ok(routing)
}

fn syntax(path: String, message: String) -> PolicyError {
    let path = if path.is_empty() || path == "." { "document".to_owned() } else { path };
    PolicyError { path, message }
}

fn at(path: impl Into<String>, message: impl ToString) -> PolicyError {
    PolicyError { path: path.into(), message: message.to_string() }
}

/// The grammar of rule ids and target names, which decisions and audit records quote.
const IDENTIFIER: &str = "1-64 characters from A-Z a-z 0-9 . _ -";

fn is_identifier(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn parse_rule(doc: RuleDoc, path: &str, default_code: &ErrorCode) -> Result<Rule, PolicyError> {
    if !is_identifier(&doc.id) {
        return Err(at(format!("{path}.id"), format!("use {IDENTIFIER}")));
    }
    let effect = match doc.effect {
        EffectDoc::Allow => Effect::Allow,
        EffectDoc::Deny => Effect::Deny,
    };
    if effect == Effect::Deny
        && (doc.reason.is_some()
            || doc.error_codes.is_some()
            || doc.dry_run
            || doc.max_executions.is_some()
            || doc.kms_fallback.is_some()
            || doc.latch)
    {
        return Err(at(
            path,
            "reason, error_codes, dry_run, max_executions, kms_fallback and latch only apply to allow rules",
        ));
    }
    // Only alarms latch; a rule that could never be matched by one would suggest a latch that never holds.
    if doc.latch && doc.callers.alarms.is_none() {
        return Err(at(format!("{path}.latch"), "latch applies to alarm callers: set callers.alarms"));
    }
    Ok(Rule {
        id: doc.id,
        effect,
        dry_run: doc.dry_run,
        callers: parse_callers(doc.callers, &format!("{path}.callers"))?,
        targets: parse_targets(doc.targets, &format!("{path}.targets"))?,
        reason: doc.reason.map(|r| parse_reason(r, &format!("{path}.reason"))).transpose()?.unwrap_or_default(),
        error_codes: parse_error_codes(doc.error_codes, &format!("{path}.error_codes"), default_code)?,
        max_executions: match doc.max_executions {
            Some(0) => return Err(at(format!("{path}.max_executions"), "must be at least 1")),
            n => n,
        },
        kms_fallback: doc.kms_fallback,
        latch: doc.latch,
    })
}

/// A whole-field selector: `["*"]` or exact values, each checked by `valid`.
fn field<E: ToString>(
    values: &[String],
    path: &str,
    valid: impl Fn(&str) -> Result<(), E>,
) -> Result<Field, PolicyError> {
    match values {
        [] => Err(at(path, "list at least one value, or \"*\" for any")),
        [only] if only == "*" => Ok(Field::Any),
        _ => {
            for (i, v) in values.iter().enumerate() {
                if v == "*" {
                    return Err(at(format!("{path}[{i}]"), "\"*\" must be the only value"));
                }
                valid(v).map_err(|e| at(format!("{path}[{i}]"), e))?;
            }
            Ok(Field::OneOf(values.to_vec()))
        }
    }
}

fn globs(values: &[String], path: &str) -> Result<Vec<Glob>, PolicyError> {
    if values.is_empty() {
        return Err(at(path, "list at least one value, or \"*\" for any"));
    }
    values.iter().enumerate().map(|(i, v)| Glob::new(v).map_err(|e| at(format!("{path}[{i}]"), e))).collect()
}

fn account(v: &str) -> Result<(), String> {
    AccountId::parse(v).map(drop).map_err(|e| e.to_string())
}

fn partition(v: &str) -> Result<(), String> {
    Partition::parse(v).map(drop).ok_or_else(|| format!("unknown partition {v:?}"))
}

fn principal(v: &str, path: &str) -> Result<PrincipalPattern, PolicyError> {
    if v == "*" {
        let any = Glob::new("*").map_err(|e| at(path, e))?;
        return Ok(PrincipalPattern { partition: Field::Any, service: Field::Any, account: Field::Any, resource: any });
    }
    let fields: Vec<&str> = v.splitn(6, ':').collect();
    let ["arn", p, service, "", acct, resource] = fields.as_slice() else {
        return Err(at(
            path,
            "expected \"*\" or arn:PARTITION:(iam|sts)::ACCOUNT:RESOURCE (each field exact or \"*\")",
        ));
    };
    let one = |value: &str, check: &dyn Fn(&str) -> Result<(), String>| -> Result<Field, PolicyError> {
        field(&[value.to_owned()], path, check)
    };
    Ok(PrincipalPattern {
        partition: one(p, &partition)?,
        service: one(service, &|s| {
            if matches!(s, "iam" | "sts") { Ok(()) } else { Err(format!("service {s:?} is not iam or sts")) }
        })?,
        account: one(acct, &account)?,
        resource: Glob::new(resource).map_err(|e| at(path, e))?,
    })
}

fn parse_callers(doc: CallersDoc, path: &str) -> Result<CallerMatch, PolicyError> {
    if doc.principals.is_none()
        && doc.accounts.is_none()
        && doc.org_ids.is_none()
        && doc.sources.is_none()
        && doc.alarms.is_none()
    {
        return Err(at(
            path,
            "set at least one of principals, accounts, org_ids, sources, alarms (use accounts = [\"*\"] for anyone)",
        ));
    }
    let principals = doc
        .principals
        .map(|list| {
            if list.is_empty() {
                return Err(at(format!("{path}.principals"), "list at least one principal"));
            }
            list.iter().enumerate().map(|(i, v)| principal(v, &format!("{path}.principals[{i}]"))).collect()
        })
        .transpose()?;
    Ok(CallerMatch {
        principals,
        accounts: doc.accounts.map(|a| field(&a, &format!("{path}.accounts"), account)).transpose()?,
        org_ids: doc
            .org_ids
            .map(|o| {
                field(&o, &format!("{path}.org_ids"), |v| {
                    OrgId::parse(v).map(drop).ok_or("not an organization id (o-…)")
                })
            })
            .transpose()?,
        sources: doc.sources.map(|s| globs(&s, &format!("{path}.sources"))).transpose()?,
        alarms: doc.alarms.map(|a| globs(&a, &format!("{path}.alarms"))).transpose()?,
    })
}

fn parse_targets(doc: TargetsDoc, path: &str) -> Result<TargetMatch, PolicyError> {
    Ok(TargetMatch {
        services: field(&doc.services, &format!("{path}.services"), |s| {
            if matches!(s, "states" | "lambda") {
                Ok(())
            } else {
                Err(format!("service {s:?} is not states or lambda"))
            }
        })?,
        partitions: field(&doc.partitions, &format!("{path}.partitions"), partition)?,
        accounts: field(&doc.accounts, &format!("{path}.accounts"), account)?,
        regions: field(&doc.regions, &format!("{path}.regions"), |r| {
            Region::parse(r).map(drop).map_err(|e| e.to_string())
        })?,
        names: globs(&doc.names, &format!("{path}.names"))?,
    })
}

fn parse_reason(doc: ReasonDoc, path: &str) -> Result<ReasonRule, PolicyError> {
    let min_chars = doc.min_length.unwrap_or(1);
    if min_chars == 0 {
        return Err(at(format!("{path}.min_length"), "must be at least 1 (a reason is always required)"));
    }
    if let Some(max) = doc.max_length.filter(|&max| max < min_chars || max > MAX_REASON_BYTES) {
        return Err(at(
            format!("{path}.max_length"),
            format!("{max} is out of range: must be between min_length ({min_chars}) and {MAX_REASON_BYTES}"),
        ));
    }
    let pattern = doc
        .pattern
        .map(|p| {
            if p.len() > MAX_PATTERN_LEN {
                return Err(at(format!("{path}.pattern"), format!("longer than {MAX_PATTERN_LEN} characters")));
            }
            regex_lite::Regex::new(&p).map_err(|e| at(format!("{path}.pattern"), e))
        })
        .transpose()?;
    Ok(ReasonRule { min_chars, max_chars: doc.max_length, pattern })
}

fn parse_error_codes(
    doc: Option<ErrorCodesDoc>,
    path: &str,
    policy_default: &ErrorCode,
) -> Result<ErrorCodeRule, PolicyError> {
    let Some(doc) = doc else {
        return Ok(ErrorCodeRule { allowed: vec![], default: policy_default.clone() });
    };
    let default = match doc.default {
        Some(code) => ErrorCode::parse(&code).map_err(|e| at(format!("{path}.default"), e))?,
        None => policy_default.clone(),
    };
    let mut allowed = Vec::with_capacity(doc.allowed.len());
    for (i, code) in doc.allowed.iter().enumerate() {
        allowed.push(ErrorCode::glob(code).map_err(|e| at(format!("{path}.allowed[{i}]"), e))?);
    }
    Ok(ErrorCodeRule { allowed, default })
}

/// A policy document in force, and which one it is.
#[derive(Debug)]
pub struct LoadedPolicy {
    /// Who may stop what.
    pub policy: Policy,
    /// How alarms find their targets.
    pub routing: AlarmRouting,
    /// The document's hash and origin, for every audit record decided under it.
    pub version: PolicyVersion,
}

/// Parses `text` exactly as the function does, and names it by its SHA-256 and origin. `dry_run` (the
/// `DRY_RUN` variable) folds into the document's own flag.
pub fn load(
    text: &str,
    origin: &'static str,
    ssm_version: Option<i64>,
    dry_run: bool,
) -> Result<LoadedPolicy, PolicyError> {
    let PolicyDocument { mut policy, routing } = parse_policy(text, Format::sniff(text))?;
    policy.dry_run |= dry_run;
    let version = PolicyVersion { sha256: sha256_hex(text), origin, ssm_version };
    Ok(LoadedPolicy { policy, routing, version })
}

/// The hex SHA-256 of a document's text, as `stop-gateway-policy check` prints it and audit records carry it.
pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../policy.example.toml");

    const MINIMAL: &str = r#"
version = 1
[[rules]]
id = "r"
effect = "allow"
[rules.callers]
accounts = ["111122223333"]
[rules.targets]
services = ["*"]
partitions = ["aws"]
accounts = ["111122223333"]
regions = ["*"]
names = ["*"]
"#;

    fn error(text: &str) -> String {
        parse_policy(text, Format::sniff(text)).unwrap_err().to_string()
    }

    #[test]
    fn the_committed_example_parses() {
        let policy = parse_policy(EXAMPLE, Format::Toml).unwrap().policy;
        assert!(policy.rules.len() >= 3);
    }

    #[test]
    fn json_and_toml_mean_the_same() {
        let json = r#"{"version":1,"rules":[{"id":"r","effect":"allow","callers":{"accounts":["111122223333"]},
            "targets":{"services":["*"],"partitions":["aws"],"accounts":["111122223333"],"regions":["*"],"names":["*"]}}]}"#;
        let a = parse_policy(json, Format::sniff(json)).unwrap().policy;
        let b = parse_policy(MINIMAL, Format::sniff(MINIMAL)).unwrap().policy;
        assert_eq!(a.rules[0].targets, b.rules[0].targets);
        assert_eq!(a.rules[0].callers, b.rules[0].callers);
    }

    #[test]
    fn errors_name_the_field() {
        let table = [
            (MINIMAL.replace("names = [\"*\"]", ""), "rules[0].targets: missing field `names`"),
            (
                MINIMAL.replace("[\"111122223333\"]\nregions", "[\"1234\"]\nregions"),
                "rules[0] (id \"r\").targets.accounts[0]: account \"1234\" is not a 12-digit account id",
            ),
            (
                MINIMAL.replace("partitions = [\"aws\"]", "partitions = [\"aws\", \"*\"]"),
                "rules[0] (id \"r\").targets.partitions[1]: \"*\" must be the only value",
            ),
            (
                MINIMAL.replace("partitions = [\"aws\"]", "partitions = []"),
                "rules[0] (id \"r\").targets.partitions: list at least one value",
            ),
            (MINIMAL.replace("effect = \"allow\"", "effect = \"permit\""), "rules[0].effect: unknown variant `permit`"),
            (MINIMAL.replace("version = 1", "version = 2"), "version: unsupported version 2"),
            (
                MINIMAL.replace("[rules.callers]\naccounts = [\"111122223333\"]", "[rules.callers]"),
                "rules[0] (id \"r\").callers: set at least one of",
            ),
            (MINIMAL.replace("effect = \"allow\"", "effect = \"deny\""), "rules: the policy has no allow rule"),
            (format!("{MINIMAL}\n[rules.reason]\npattern = \"([\"\n"), "rules[0] (id \"r\").reason.pattern:"),
            (
                format!("{MINIMAL}\n[rules.error_codes]\ndefault = \"bad code\"\n"),
                "rules[0] (id \"r\").error_codes.default: error code",
            ),
            (format!("{MINIMAL}\n[rules.callers2]\n"), "rules[0].callers2: unknown field `callers2`"),
            (format!("{MINIMAL}{}", MINIMAL.replace("version = 1", "")), "rules[1] (id \"r\").id: duplicate rule id"),
            ("version = ".to_owned(), "document:"),
        ];
        for (text, expected) in table {
            let err = error(&text);
            assert!(err.starts_with(expected) || err.contains(expected), "expected {expected:?}, got {err:?}");
        }
    }

    #[test]
    fn principal_patterns_are_field_wise() {
        let text = MINIMAL.replace(
            "accounts = [\"111122223333\"]\n[rules.targets]",
            "principals = [\"arn:aws:sts::111122223333:assumed-role/OnCall/*\", \"arn:*:iam::*:user/ops-*\"]\n[rules.targets]",
        );
        let policy = parse_policy(&text, Format::Toml).unwrap().policy;
        let principals = policy.rules[0].callers.principals.as_ref().unwrap();
        assert_eq!(principals[1].partition, Field::Any);
        assert_eq!(principals[1].resource.as_str(), "user/ops-*");
        let bad = MINIMAL.replace(
            "accounts = [\"111122223333\"]\n[rules.targets]",
            "principals = [\"arn:aws:sts:us-east-1:111122223333:x\"]\n[rules.targets]",
        );
        assert!(error(&bad).contains("principals[0]"), "{}", error(&bad));
    }

    #[test]
    fn account_roles_must_name_a_role_in_the_account_they_act_in() {
        let ok = format!(
            "{MINIMAL}\n[[account_roles]]\naccounts = [\"222233334444\"]\nrole = \"arn:aws:iam::222233334444:role/t\"\nexternal_id = \"ext-1\"\n\n[[account_roles]]\naccounts = [\"*\"]\nrole = \"arn:aws:iam::{{account}}:role/path/stop-gateway-target\"\n"
        );
        let roles = parse_policy(&ok, Format::Toml).unwrap().policy.accounts;
        assert_eq!(roles.rules.len(), 2);
        let entry = |body: &str| format!("{MINIMAL}\n[[account_roles]]\n{body}\n");
        let table = [
            (
                entry("accounts = []\nrole = \"arn:aws:iam::222233334444:role/t\""),
                "account_roles[0].accounts: list at least one",
            ),
            (entry("accounts = [\"1\"]\nrole = \"arn:aws:iam::222233334444:role/t\""), "account_roles[0].accounts[0]:"),
            (
                entry("accounts = [\"222233334444\"]\nrole = \"arn:aws:iam::999999999999:role/t\""),
                "account_roles[0].role: \"arn:aws:iam::999999999999:role/t\" is not in account 222233334444",
            ),
            (
                entry("accounts = [\"*\"]\nrole = \"arn:aws:iam::222233334444:role/t\""),
                "account_roles[0].role: an entry for every account",
            ),
            (
                entry("accounts = [\"222233334444\"]\nrole = \"arn:aws:iam::222233334444:user/t\""),
                "account_roles[0].role:",
            ),
            (
                entry("accounts = [\"222233334444\"]\nrole = \"arn:aws:iam::222233334444:role/t t\""),
                "account_roles[0].role:",
            ),
            (
                entry(
                    "accounts = [\"222233334444\"]\nrole = \"arn:aws:iam::222233334444:role/t\"\nexternal_id = \"x\"",
                ),
                "account_roles[0].external_id:",
            ),
        ];
        for (text, expected) in table {
            let err = error(&text);
            assert!(err.starts_with(expected), "expected {expected:?}, got {err:?}");
        }
    }

    #[test]
    fn the_kms_fallback_is_on_by_default_and_rules_may_turn_it_off() {
        assert!(parse_policy(MINIMAL, Format::sniff(MINIMAL)).unwrap().policy.kms_fallback);
        let off = format!("kms_fallback = false\n{MINIMAL}");
        let policy = parse_policy(&off, Format::Toml).unwrap().policy;
        assert!(!policy.kms_fallback);
        let rule_off = MINIMAL.replacen("effect = \"allow\"", "effect = \"allow\"\nkms_fallback = false", 1);
        let policy = parse_policy(&rule_off, Format::Toml).unwrap().policy;
        assert_eq!((policy.kms_fallback, policy.rules[0].kms_fallback), (true, Some(false)));
        let deny = MINIMAL.replacen("effect = \"allow\"", "effect = \"deny\"\nkms_fallback = true", 1);
        let err = parse_policy(&deny, Format::Toml).unwrap_err().to_string();
        assert!(err.contains("only apply to allow rules"), "{err}");
    }
}
