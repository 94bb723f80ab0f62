//! `diff OLD NEW`: for callers and targets drawn from both documents, which decisions change.
//!
//! The probes are what the documents themselves mention: every principal pattern, account, event source and
//! alarm glob as a caller (a `*` stands for a sample value), and every service, partition, account, region and
//! name of every rule as a target, each asked with a ticket-like reason and with none of the optional inputs.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use stop_gateway_core::domain::aws_ids::{Partition, Region};
use stop_gateway_core::domain::caller::Caller;
use stop_gateway_core::domain::glob::Field;
use stop_gateway_core::domain::policy::{Decision, Policy, Subject};
use stop_gateway_core::domain::target::TargetArn;
use stop_gateway_core::domain::text::{Overflow, Reason};

use super::explain::parse_caller;

/// Reasons every probe is asked with: one that meets a ticket pattern, one that meets none.
const REASONS: [&str; 2] = ["OPS-1234 policy diff probe", "policy diff probe"];
/// A value that stands for any account where a document says `*`.
const ANY_ACCOUNT: &str = "999999999999";

/// Lines, one per probe whose decision differs, and how many probes were asked.
pub fn diff(old: &Policy, new: &Policy) -> (Vec<String>, usize) {
    let callers = callers(&[old, new]);
    let targets = targets(&[old, new]);
    let mut changes = Vec::new();
    let mut asked = 0;
    for caller in &callers {
        for target in &targets {
            for text in REASONS {
                let Ok(reason) = Reason::parse(text, Overflow::Reject) else { continue };
                let subject = Subject { caller, target, reason: &reason, error_code: None };
                asked += 1;
                let (a, b) = (old.evaluate(subject), new.evaluate(subject));
                if summary(&a) != summary(&b) {
                    changes.push(format!("{caller} → {target} (reason {text:?}): {} → {}", summary(&a), summary(&b)));
                }
            }
        }
    }
    (changes, asked)
}

/// Prints the result the way the command does.
pub fn render(changes: &[String], asked: usize) -> String {
    let mut out = String::new();
    for line in changes {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "{} of {asked} decisions change", changes.len());
    out
}

fn summary(d: &Decision) -> String {
    match d {
        Decision::Allow { rule_id, dry_run: true, .. } => format!("allow (dry run) by {rule_id}"),
        Decision::Allow { rule_id, .. } => format!("allow by {rule_id}"),
        Decision::Deny { rule_id: Some(rule_id), .. } => format!("deny by {rule_id}"),
        Decision::Deny { rule_id: None, .. } => "deny by default".to_owned(),
    }
}

fn sample(value: &str) -> String {
    value.replace('*', "x")
}

fn values(field: &Field, any: &str) -> Vec<String> {
    match field {
        Field::Any => vec![any.to_owned()],
        Field::OneOf(values) => values.clone(),
    }
}

fn callers(policies: &[&Policy]) -> Vec<Caller> {
    // (caller text, organization id): IAM callers are probed with every organization the documents name.
    let mut texts: BTreeSet<(String, Option<String>)> = BTreeSet::new();
    let orgs: BTreeSet<Option<String>> = policies
        .iter()
        .flat_map(|p| &p.rules)
        .filter_map(|r| r.callers.org_ids.as_ref())
        .flat_map(|f| values(f, "o-aaaaaaaaaa"))
        .map(Some)
        .chain([None])
        .collect();
    for rule in policies.iter().flat_map(|p| &p.rules) {
        let c = &rule.callers;
        let accounts = c.accounts.as_ref().map_or(vec![ANY_ACCOUNT.to_owned()], |f| values(f, ANY_ACCOUNT));
        for p in c.principals.iter().flatten() {
            let partitions = values(&p.partition, "aws");
            let services = values(&p.service, "sts");
            let principal_accounts = values(&p.account, ANY_ACCOUNT);
            for ((partition, service), account) in partitions
                .iter()
                .flat_map(|a| services.iter().map(move |b| (a, b)))
                .zip(principal_accounts.iter().cycle())
            {
                for org in &orgs {
                    let text = format!("arn:{partition}:{service}::{account}:{}", sample(p.resource.as_str()));
                    texts.insert((text, org.clone()));
                }
            }
        }
        for account in &accounts {
            for source in c.sources.iter().flatten() {
                texts.insert((format!("eventbridge:{}@{account}", sample(source.as_str())), None));
            }
            for alarm in c.alarms.iter().flatten() {
                let text = format!("arn:aws:cloudwatch:us-east-1:{account}:alarm:{}", sample(alarm.as_str()));
                texts.insert((text, None));
            }
            if c.principals.is_none() && c.sources.is_none() && c.alarms.is_none() {
                for org in &orgs {
                    texts.insert((format!("arn:aws:sts::{account}:assumed-role/probe/probe"), org.clone()));
                }
            }
        }
    }
    texts.iter().filter_map(|(text, org)| parse_caller(text, org.as_deref()).ok()).collect()
}

fn targets(policies: &[&Policy]) -> Vec<TargetArn> {
    let mut arns = BTreeSet::new();
    for rule in policies.iter().flat_map(|p| &p.rules) {
        let t = &rule.targets;
        let accounts = values(&t.accounts, ANY_ACCOUNT);
        let regions = values(&t.regions, "us-east-1");
        for name in &t.names {
            let name = sample(name.as_str());
            for region in &regions {
                let Ok(parsed) = Region::parse(region) else { continue };
                let partition = Partition::of_region(&parsed);
                if !t.partitions.matches(partition.as_str()) {
                    continue;
                }
                for account in &accounts {
                    for service in values(&t.services, "states") {
                        let resource = match service.as_str() {
                            "lambda" => format!("function:{name}:$LATEST/durable-execution/probe/probe"),
                            _ => format!("execution:{name}:probe"),
                        };
                        arns.insert(format!("arn:{partition}:{service}:{region}:{account}:{resource}"));
                    }
                }
            }
        }
    }
    arns.iter().filter_map(|a| TargetArn::parse(a).ok()).collect()
}
