//! `check FILE`: the policy document loaded exactly as the function loads it, every error with its field and
//! line, and warnings about rules that can never match, allow rules a deny rule shadows, allow rules wider
//! than their neighbours, and target accounts no `[[account_roles]]` entry reaches.

use std::fmt::Write as _;

use serde_json::Value;

use stop_gateway_core::domain::alarm::AlarmRouting;
use stop_gateway_core::domain::aws_ids::{AccountId, Partition, Region};
use stop_gateway_core::domain::glob::{Field, Glob};
use stop_gateway_core::domain::policy::{CallerMatch, Effect, Policy, PrincipalPattern, Rule, TargetMatch};
use stop_gateway_core::policy_doc::{Format, parse_policy};
use stop_gateway_core::policy_doc::{LoadedPolicy, load, sha256_hex};

/// What `check` found.
#[derive(Debug, Default)]
pub struct Report {
    /// Errors the function's loader reports (the document would leave the function without a policy).
    pub errors: Vec<String>,
    /// Things that load but are probably not what the author meant.
    pub warnings: Vec<String>,
}

/// Checks a document's text.
pub fn check(text: &str) -> (Report, Option<LoadedPolicy>) {
    let mut report = Report::default();
    match load(text, "file", None, false) {
        Ok(loaded) => {
            report.warnings = warnings(&loaded.policy, &loaded.routing, text);
            (report, Some(loaded))
        }
        Err(first) => {
            report.errors = every_error(text, &first.to_string()).into_iter().map(|e| with_line(text, &e)).collect();
            (report, None)
        }
    }
}

/// Prints a report the way the command does; the exit code is the caller's.
pub fn render(path: &str, text: &str, report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{path}: sha256 {}", sha256_hex(text));
    for e in &report.errors {
        let _ = writeln!(out, "error: {e}");
    }
    for w in &report.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = writeln!(out, "{} errors, {} warnings", report.errors.len(), report.warnings.len());
    out
}

/// The loader stops at the first error; to list them all, each rule is loaded again on its own (beside a
/// stand-in allow rule, so document-wide checks do not hide it), and the document without its rules, with the
/// loader's own messages and paths.
fn every_error(text: &str, first: &str) -> Vec<String> {
    let mut errors = vec![first.to_owned()];
    let Ok(doc) = as_json(text) else { return errors };
    let Some(object) = doc.as_object() else { return errors };
    let probe_rule = serde_json::json!({
        "id": "__check_probe__", "effect": "allow", "callers": {"accounts": ["*"]},
        "targets": {"services": ["*"], "partitions": ["*"], "accounts": ["*"], "regions": ["*"], "names": ["*"]}
    });
    let mut probe = |rules: Vec<Value>, rename: Option<usize>| {
        let mut doc = object.clone();
        doc.insert("rules".into(), Value::Array(rules));
        if let Err(e) = parse_policy(&Value::Object(doc).to_string(), Format::Json) {
            let message = e.to_string();
            let message = match rename {
                Some(i) => message.replacen("rules[0]", &format!("rules[{i}]"), 1),
                None => message,
            };
            if !message.contains("__check_probe__") && !errors.contains(&message) {
                errors.push(message);
            }
        }
    };
    probe(vec![probe_rule.clone()], None);
    if let Some(rules) = object.get("rules").and_then(Value::as_array) {
        for (i, rule) in rules.iter().enumerate() {
            probe(vec![rule.clone(), probe_rule.clone()], Some(i));
        }
    }
    errors
}

fn as_json(text: &str) -> Result<Value, String> {
    match Format::sniff(text) {
        Format::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
        Format::Toml => toml::from_str(text).map_err(|e| e.to_string()),
    }
}

/// Adds the line an error is about: a syntax error's own position, a rule's `[[rules]]` (or `"id"`) line, or a
/// top-level field's line.
fn with_line(text: &str, error: &str) -> String {
    let line = syntax_line(text).or_else(|| field_line(text, error));
    match line {
        Some(n) => format!("{error} (line {n})"),
        None => error.to_owned(),
    }
}

fn syntax_line(text: &str) -> Option<usize> {
    match Format::sniff(text) {
        Format::Json => serde_json::from_str::<Value>(text).err().map(|e| e.line()),
        Format::Toml => {
            let err = toml::from_str::<toml::Table>(text).err()?;
            err.span().map(|span| text[..span.start.min(text.len())].lines().count().max(1))
        }
    }
}

fn field_line(text: &str, error: &str) -> Option<usize> {
    let line_of = |needle: &dyn Fn(&str) -> bool, nth: usize| {
        text.lines().enumerate().filter(|(_, l)| needle(l)).nth(nth).map(|(i, _)| i + 1)
    };
    if let Some(rest) = error.strip_prefix("rules[") {
        let index: usize = rest.split(']').next()?.parse().ok()?;
        if Format::sniff(text) == Format::Toml {
            return line_of(&|l| l.trim() == "[[rules]]", index);
        }
        let id = error.split("(id \"").nth(1)?.split('"').next()?;
        return line_of(&|l| l.contains(&format!("\"{id}\"")) && l.contains("\"id\""), 0);
    }
    let key = error.split(['.', ':', '[']).next()?.trim();
    if key == "rules" {
        return line_of(&|l| l.trim() == "[[rules]]" || l.trim_start().starts_with("\"rules\""), 0);
    }
    // The most specific key of the path first (`named_targets.x` → `x`), then the outer ones.
    let path = error.split(": ").next()?;
    path.split('.').rev().map(|seg| seg.split('[').next().unwrap_or(seg)).filter(|seg| !seg.is_empty()).find_map(
        |seg| {
            line_of(
                &|l| {
                    let l = l.trim_start().trim_start_matches(['[', '"']);
                    l.strip_prefix(seg).is_some_and(|rest| rest.starts_with([' ', '=', '"', ']', ':']))
                },
                0,
            )
        },
    )
}

/// The document's line of rule `index`, for warnings.
fn rule_line(text: &str, index: usize, id: &str) -> String {
    field_line(text, &format!("rules[{index}] (id \"{id}\")")).map(|n| format!(" (line {n})")).unwrap_or_default()
}

fn warnings(policy: &Policy, routing: &AlarmRouting, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, rule) in policy.rules.iter().enumerate() {
        let at = rule_line(text, i, &rule.id);
        if let Some(why) = never_matches(rule) {
            out.push(format!("rule {:?} can never match: {why}{at}", rule.id));
        }
        if rule.effect == Effect::Allow {
            if let Some(deny) = policy.rules.iter().find(|d| d.effect == Effect::Deny && covers(d, rule)) {
                out.push(format!(
                    "allow rule {:?} is shadowed by deny rule {:?}: every caller and target it allows, the deny rule denies{at}",
                    rule.id, deny.id
                ));
            }
            if let Some((field, neighbour)) = wider_than_neighbour(rule, policy) {
                out.push(format!(
                    "allow rule {:?} allows every {field} where rule {:?} lists them for the same accounts: is the wildcard meant?{at}",
                    rule.id, neighbour.id
                ));
            }
            out.extend(super::alarm_rules::warnings(rule, policy, routing, &at));
            for account in accounts_without_role(rule, policy) {
                out.push(format!(
                    "allow rule {:?} allows targets in account {account}, which account_roles names no role for: unless it is the function's own account, they are refused (account_not_configured){at}",
                    rule.id
                ));
            }
        }
    }
    out
}

/// The exact target accounts an allow rule names that no `[[account_roles]]` entry covers, once the document
/// has any entry (a single-account policy has none, and needs none).
fn accounts_without_role<'a>(rule: &'a Rule, policy: &Policy) -> Vec<&'a str> {
    let (roles, Field::OneOf(accounts)) = (&policy.accounts, &rule.targets.accounts) else { return vec![] };
    if roles.rules.is_empty() {
        return vec![];
    }
    accounts
        .iter()
        .filter(|a| {
            AccountId::parse(a)
                .is_ok_and(|id| roles.access(None, &id) == stop_gateway_core::domain::accounts::Access::NotConfigured)
        })
        .map(String::as_str)
        .collect()
}

/// Why no caller or target could satisfy a rule, if none could.
fn never_matches(rule: &Rule) -> Option<String> {
    let c = &rule.callers;
    let kinds = [
        (c.principals.is_some() || c.org_ids.is_some(), "IAM callers (principals, org_ids)"),
        (c.sources.is_some(), "EventBridge callers (sources)"),
        (c.alarms.is_some(), "alarm callers (alarms)"),
    ];
    let set: Vec<&str> = kinds.iter().filter(|(on, _)| *on).map(|(_, name)| *name).collect();
    if set.len() > 1 {
        return Some(format!("its callers select {}, and no caller is more than one kind", set.join(" and ")));
    }
    let t = &rule.targets;
    if let Field::OneOf(regions) = &t.regions {
        let partition_of = |r: &String| Region::parse(r).ok().map(|r| Partition::of_region(&r));
        if !regions.iter().filter_map(partition_of).any(|p| t.partitions.matches(p.as_str())) {
            return Some("none of its regions is in one of its partitions".to_owned());
        }
    }
    None
}

/// Whether every value `narrow` selects, `wide` selects too.
fn field_covers(wide: &Field, narrow: &Field) -> bool {
    match (wide, narrow) {
        (Field::Any, _) => true,
        (Field::OneOf(_), Field::Any) => false,
        (Field::OneOf(w), Field::OneOf(n)) => n.iter().all(|v| w.contains(v)),
    }
}

fn glob_covers(wide: &Glob, narrow: &Glob) -> bool {
    wide.as_str() == "*" || wide == narrow || (!narrow.as_str().contains('*') && wide.matches(narrow.as_str()))
}

fn globs_cover(wide: &[Glob], narrow: &[Glob]) -> bool {
    narrow.iter().all(|n| wide.iter().any(|w| glob_covers(w, n)))
}

fn principal_covers(wide: &PrincipalPattern, narrow: &PrincipalPattern) -> bool {
    field_covers(&wide.partition, &narrow.partition)
        && field_covers(&wide.service, &narrow.service)
        && field_covers(&wide.account, &narrow.account)
        && glob_covers(&wide.resource, &narrow.resource)
}

/// Whether every caller `narrow` selects, `wide` selects too: each selector `wide` sets, `narrow` sets as
/// narrowly or more.
fn callers_cover(wide: &CallerMatch, narrow: &CallerMatch) -> bool {
    fn opt<T>(w: &Option<T>, n: &Option<T>, f: impl Fn(&T, &T) -> bool) -> bool {
        match (w, n) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(w), Some(n)) => f(w, n),
        }
    }
    opt(&wide.principals, &narrow.principals, |w, n| n.iter().all(|p| w.iter().any(|q| principal_covers(q, p))))
        && opt(&wide.accounts, &narrow.accounts, field_covers)
        && opt(&wide.org_ids, &narrow.org_ids, field_covers)
        && opt(&wide.sources, &narrow.sources, |w, n| globs_cover(w, n))
        && opt(&wide.alarms, &narrow.alarms, |w, n| globs_cover(w, n))
}

fn targets_cover(wide: &TargetMatch, narrow: &TargetMatch) -> bool {
    field_covers(&wide.services, &narrow.services)
        && field_covers(&wide.partitions, &narrow.partitions)
        && field_covers(&wide.accounts, &narrow.accounts)
        && field_covers(&wide.regions, &narrow.regions)
        && globs_cover(&wide.names, &narrow.names)
}

fn covers(deny: &Rule, allow: &Rule) -> bool {
    callers_cover(&deny.callers, &allow.callers) && targets_cover(&deny.targets, &allow.targets)
}

/// An allow rule with `names = ["*"]` where another allow rule for an overlapping account names what it
/// allows (e.g. every state machine of a production account, beside a rule that lists three).
fn wider_than_neighbour<'a>(rule: &Rule, policy: &'a Policy) -> Option<(&'static str, &'a Rule)> {
    if !rule.targets.names.iter().any(|g| g.as_str() == "*") {
        return None;
    }
    let overlap = |a: &Field, b: &Field| match (a, b) {
        (Field::Any, _) | (_, Field::Any) => true,
        (Field::OneOf(a), Field::OneOf(b)) => a.iter().any(|v| b.contains(v)),
    };
    let neighbour = policy.rules.iter().find(|other| {
        other.effect == Effect::Allow
            && other.id != rule.id
            && !other.targets.names.iter().any(|g| g.as_str() == "*")
            && overlap(&other.targets.accounts, &rule.targets.accounts)
    })?;
    Some(("name", neighbour))
}
