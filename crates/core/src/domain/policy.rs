//! Who may stop what, and with which words: a pure, deny-by-default policy.
//!
//! Rules match a caller and a target field by field. A field is either an explicit `*` or a list of exact values;
//! names (state machine / function names, principal resources, event sources, error codes) may be globs where `*`
//! stands for any run of characters. There are no prefix or substring matches. Deny rules win over allow rules;
//! with no matching allow rule the answer is deny. Pure: no SDK, no serde; documents are parsed elsewhere.

use super::accounts::AccountRoles;
use super::caller::Caller;
use super::glob::{Field, Glob};
use super::target::TargetArn;
use super::text::{ErrorCode, Reason};

/// A pattern for IAM principal ARNs: exact (or `*`) partition, service and account; a glob on the resource
/// (e.g. `assumed-role/OnCall/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalPattern {
    /// Partition.
    pub partition: Field,
    /// `iam` or `sts`.
    pub service: Field,
    /// Account id.
    pub account: Field,
    /// Resource glob.
    pub resource: Glob,
}

/// Which callers a rule applies to. Every selector that is set must match; a selector the caller has no value
/// for (e.g. `principals` for an EventBridge caller) does not match. A rule sets at least one selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerMatch {
    /// IAM principal patterns (HTTP callers only).
    pub principals: Option<Vec<PrincipalPattern>>,
    /// Caller accounts (both kinds).
    pub accounts: Option<Field>,
    /// Organization ids (HTTP callers whose organization AWS reports).
    pub org_ids: Option<Field>,
    /// EventBridge sources (event callers only).
    pub sources: Option<Vec<Glob>>,
    /// CloudWatch alarm name globs (alarm callers only).
    pub alarms: Option<Vec<Glob>>,
}

impl CallerMatch {
    /// Whether the caller is selected.
    pub fn matches(&self, caller: &Caller) -> bool {
        self.mismatch(caller).is_none()
    }

    /// The first selector that does not select the caller, or `None` when all that are set do.
    pub fn mismatch(&self, caller: &Caller) -> Option<&'static str> {
        let principal_ok = self.principals.as_ref().is_none_or(|patterns| match caller {
            Caller::Iam { principal, .. } => patterns.iter().any(|p| {
                p.partition.matches(principal.partition().as_str())
                    && p.service.matches(principal.service())
                    && p.account.matches(principal.account().as_str())
                    && p.resource.matches(principal.resource())
            }),
            _ => false,
        });
        let account_ok = self.accounts.as_ref().is_none_or(|f| f.matches(caller.account().as_str()));
        let org_ok = self.org_ids.as_ref().is_none_or(|f| match caller {
            Caller::Iam { org_id: Some(org), .. } => f.matches(org.as_str()),
            _ => false,
        });
        let source_ok = self.sources.as_ref().is_none_or(|globs| match caller {
            Caller::EventBridge { source, .. } => globs.iter().any(|g| g.matches(source.as_str())),
            _ => false,
        });
        let alarm_ok = self.alarms.as_ref().is_none_or(|globs| match caller {
            Caller::Alarm { alarm } => globs.iter().any(|g| g.matches(alarm.name())),
            _ => false,
        });
        [
            (principal_ok, "callers.principals"),
            (account_ok, "callers.accounts"),
            (org_ok, "callers.org_ids"),
            (source_ok, "callers.sources"),
            (alarm_ok, "callers.alarms"),
        ]
        .into_iter()
        .find_map(|(ok, field)| (!ok).then_some(field))
    }
}

/// Which targets a rule applies to. Every field is required in the document, `*` included, so a rule never
/// matches more than its author wrote down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetMatch {
    /// `states` and/or `lambda`.
    pub services: Field,
    /// Partitions.
    pub partitions: Field,
    /// Target accounts.
    pub accounts: Field,
    /// Target regions.
    pub regions: Field,
    /// State machine or function name globs.
    pub names: Vec<Glob>,
}

impl TargetMatch {
    /// Whether the target is selected.
    pub fn matches(&self, target: &TargetArn) -> bool {
        self.mismatch(target).is_none()
    }

    /// The first field that does not select the target, or `None` when every field does.
    pub fn mismatch(&self, target: &TargetArn) -> Option<&'static str> {
        [
            (self.services.matches(target.service().as_str()), "targets.services"),
            (self.partitions.matches(target.partition().as_str()), "targets.partitions"),
            (self.accounts.matches(target.account().as_str()), "targets.accounts"),
            (self.regions.matches(target.region().as_str()), "targets.regions"),
            (self.names.iter().any(|g| g.matches(target.resource_name())), "targets.names"),
        ]
        .into_iter()
        .find_map(|(ok, field)| (!ok).then_some(field))
    }
}

/// What an allow rule demands of the reason.
#[derive(Debug, Clone)]
pub struct ReasonRule {
    /// Minimum length in characters.
    pub min_chars: usize,
    /// Maximum length in characters, if tighter than the API limit.
    pub max_chars: Option<usize>,
    /// A pattern that must be found somewhere in the reason (anchor it with `^…$` to match the whole).
    pub pattern: Option<regex_lite::Regex>,
}

impl Default for ReasonRule {
    fn default() -> Self {
        ReasonRule { min_chars: 1, max_chars: None, pattern: None }
    }
}

impl ReasonRule {
    /// `None` when the reason satisfies the rule, otherwise what is missing.
    fn violation(&self, reason: &Reason) -> Option<String> {
        let len = reason.char_len();
        if len < self.min_chars {
            return Some(format!("the reason must be at least {} characters (got {len})", self.min_chars));
        }
        if let Some(max) = self.max_chars.filter(|&max| len > max) {
            return Some(format!("the reason must be at most {max} characters (got {len})"));
        }
        match &self.pattern {
            Some(re) if !re.is_match(reason.as_str()) => {
                Some(format!("the reason must contain a match for /{}/", re.as_str()))
            }
            _ => None,
        }
    }
}

/// Which error codes an allow rule lets callers send, and the one it uses when they send none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCodeRule {
    /// Allowed codes (globs). The default is always allowed.
    pub allowed: Vec<Glob>,
    /// Code used when the request names none.
    pub default: ErrorCode,
}

impl ErrorCodeRule {
    fn resolve(&self, requested: Option<&ErrorCode>) -> Result<ErrorCode, String> {
        match requested {
            None => Ok(self.default.clone()),
            Some(code) if code == &self.default || self.allowed.iter().any(|g| g.matches(code.as_str())) => {
                Ok(code.clone())
            }
            Some(code) => {
                let allowed: Vec<&str> =
                    std::iter::once(self.default.as_str()).chain(self.allowed.iter().map(Glob::as_str)).collect();
                Err(format!("error code {code} is not allowed (allowed: {})", allowed.join(", ")))
            }
        }
    }
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Lets matching callers stop matching targets, under the rule's text requirements.
    Allow,
    /// Forbids; wins over every allow.
    Deny,
}

/// One policy rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique id, quoted in decisions and audit records.
    pub id: String,
    /// Allow or deny.
    pub effect: Effect,
    /// Stop nothing, only report, when this rule allows.
    pub dry_run: bool,
    /// Who.
    pub callers: CallerMatch,
    /// What.
    pub targets: TargetMatch,
    /// Reason requirements (allow rules).
    pub reason: ReasonRule,
    /// Error code requirements (allow rules).
    pub error_codes: ErrorCodeRule,
    /// Blast-radius cap for this rule's bulk stops, instead of the policy's default (a kill-switch rule may
    /// need a larger one than people get).
    pub max_executions: Option<usize>,
    /// Whether a stop refused over the execution's KMS key may be sent again without error and cause, instead
    /// of the policy's default.
    pub kms_fallback: Option<bool>,
    /// Whether the alarms this rule lets stop its targets latch: while one is in ALARM, the targets' new
    /// executions are stopped as they appear (see `domain::latch`).
    pub latch: bool,
}

/// Which policy document decided: its SHA-256, where it came from, and the SSM parameter version when it came
/// from Parameter Store. Every audit record carries it, so a decision can be replayed against that document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVersion {
    /// Hex SHA-256 of the document's text.
    pub sha256: String,
    /// `env` (`POLICY`), `file` (`POLICY_FILE`) or `ssm` (`POLICY_PARAMETER`).
    pub origin: &'static str,
    /// The parameter's version, for `ssm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssm_version: Option<i64>,
}

/// The whole policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Every allowed stop is a dry run.
    pub dry_run: bool,
    /// Rules, in document order.
    pub rules: Vec<Rule>,
    /// Blast-radius cap: a request that would stop more executions stops none unless confirmed.
    pub max_executions: usize,
    /// Whether a Step Functions stop that fails on the execution's KMS key (access denied, key unusable) is sent
    /// once more with neither error nor cause, which needs no KMS permission; rules may say otherwise.
    pub kms_fallback: bool,
    /// The role to assume in each other account the rules reach.
    pub accounts: AccountRoles,
}

/// The policy's answer, with the rule that decided and one line of rationale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow {
        /// Deciding rule.
        rule_id: String,
        /// Error code to send.
        error_code: ErrorCode,
        /// Whether policy makes this a dry run.
        dry_run: bool,
        /// Most executions one request may stop without confirmation.
        max_executions: usize,
        /// Whether a stop refused over the execution's KMS key is sent again without error and cause.
        kms_fallback: bool,
        /// Whether the deciding rule makes an alarm caller a latching kill-switch.
        latch: bool,
        /// One line of why.
        rationale: String,
    },
    /// Do not.
    Deny {
        /// Deciding rule; `None` for the default deny.
        rule_id: Option<String>,
        /// One line of why.
        rationale: String,
    },
}

impl Decision {
    /// The deciding rule, if any.
    pub fn rule_id(&self) -> Option<&str> {
        match self {
            Decision::Allow { rule_id, .. } => Some(rule_id),
            Decision::Deny { rule_id, .. } => rule_id.as_deref(),
        }
    }

    /// The one-line rationale.
    pub fn rationale(&self) -> &str {
        match self {
            Decision::Allow { rationale, .. } | Decision::Deny { rationale, .. } => rationale,
        }
    }

    /// The error code an allowed stop sends.
    pub fn error_code(&self) -> Option<&ErrorCode> {
        match self {
            Decision::Allow { error_code, .. } => Some(error_code),
            Decision::Deny { .. } => None,
        }
    }

    /// `allow` or `deny`.
    pub fn effect_name(&self) -> &'static str {
        match self {
            Decision::Allow { .. } => "allow",
            Decision::Deny { .. } => "deny",
        }
    }
}

/// What a decision is about.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Who.
    pub caller: &'a Caller,
    /// What.
    pub target: &'a TargetArn,
    /// Why.
    pub reason: &'a Reason,
    /// The error code asked for.
    pub error_code: Option<&'a ErrorCode>,
}

fn describe_target(target: &TargetArn) -> String {
    format!(
        "{} of {} in {}:{}:{}",
        target.kind_name(),
        target.resource_name(),
        target.partition(),
        target.account(),
        target.region()
    )
}

/// How one rule sees a subject: which of its fields does not select it, or what an allow rule's text
/// requirements miss, or that it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A caller selector does not select the caller (its field name).
    Caller(&'static str),
    /// A target field does not select the target (its field name).
    Target(&'static str),
    /// An allow rule selects caller and target, but the reason or error code does not meet it.
    Unmet(String),
    /// The rule applies: a deny rule (`None`), or an allow rule with the error code it would send.
    Applies(Option<ErrorCode>),
}

impl Rule {
    /// How this rule sees `subject`: the one matching code both the decision and its explanation use.
    pub fn verdict(&self, subject: Subject<'_>) -> Verdict {
        if let Some(field) = self.callers.mismatch(subject.caller) {
            return Verdict::Caller(field);
        }
        if let Some(field) = self.targets.mismatch(subject.target) {
            return Verdict::Target(field);
        }
        if self.effect == Effect::Deny {
            return Verdict::Applies(None);
        }
        match (self.reason.violation(subject.reason), self.error_codes.resolve(subject.error_code)) {
            (Some(why), _) | (None, Err(why)) => Verdict::Unmet(why),
            (None, Ok(code)) => Verdict::Applies(Some(code)),
        }
    }
}

impl Policy {
    /// Every rule's verdict on `subject`, in document order, for explaining a decision.
    pub fn explain(&self, subject: Subject<'_>) -> Vec<(&Rule, Verdict)> {
        self.rules.iter().map(|r| (r, r.verdict(subject))).collect()
    }

    /// Decides. Deny rules are checked first and win; then the first allow rule whose callers and targets match
    /// and whose text requirements are met; otherwise deny, quoting the first matching allow rule's unmet
    /// requirement if there was one.
    pub fn evaluate(&self, subject: Subject<'_>) -> Decision {
        let Subject { caller, target, .. } = subject;
        let deny = |r: &&Rule| r.effect == Effect::Deny && r.verdict(subject) == Verdict::Applies(None);
        if let Some(rule) = self.rules.iter().find(deny) {
            return Decision::Deny {
                rule_id: Some(rule.id.clone()),
                rationale: format!("rule {} denies {caller} stopping {}", rule.id, describe_target(target)),
            };
        }
        let mut first_unmet: Option<(&Rule, String)> = None;
        for rule in self.rules.iter().filter(|r| r.effect == Effect::Allow) {
            let unmet = match rule.verdict(subject) {
                Verdict::Caller(_) | Verdict::Target(_) => continue,
                Verdict::Unmet(why) => why,
                Verdict::Applies(code) => {
                    let code = code.unwrap_or_else(|| rule.error_codes.default.clone());
                    return Decision::Allow {
                        rule_id: rule.id.clone(),
                        error_code: code,
                        dry_run: self.dry_run || rule.dry_run,
                        max_executions: rule.max_executions.unwrap_or(self.max_executions),
                        kms_fallback: rule.kms_fallback.unwrap_or(self.kms_fallback),
                        latch: rule.latch,
                        rationale: format!("rule {} allows {caller} to stop {}", rule.id, describe_target(target)),
                    };
                }
            };
            first_unmet.get_or_insert((rule, unmet));
        }
        match first_unmet {
            Some((rule, unmet)) => Decision::Deny {
                rule_id: Some(rule.id.clone()),
                rationale: format!("rule {} matches {caller} and the target, but {unmet}", rule.id),
            },
            None => Decision::Deny {
                rule_id: None,
                rationale: format!("no allow rule matches {caller} for {}; denied by default", describe_target(target)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::aws_ids::AccountId;
    use crate::domain::caller::{EventSource, OrgId, PrincipalArn};
    use crate::domain::text::Overflow;

    fn glob(p: &str) -> Glob {
        Glob::new(p).unwrap()
    }

    fn exact(values: &[&str]) -> Field {
        Field::OneOf(values.iter().map(|v| v.to_string()).collect())
    }

    fn targets(names: &[&str]) -> TargetMatch {
        TargetMatch {
            services: Field::Any,
            partitions: exact(&["aws"]),
            accounts: exact(&["111122223333"]),
            regions: Field::Any,
            names: names.iter().map(|n| glob(n)).collect(),
        }
    }

    fn rule(id: &str, effect: Effect, callers: CallerMatch, targets: TargetMatch) -> Rule {
        Rule {
            id: id.into(),
            effect,
            dry_run: false,
            callers,
            targets,
            reason: ReasonRule::default(),
            error_codes: ErrorCodeRule { allowed: vec![], default: ErrorCode::parse("StopGateway.Stopped").unwrap() },
            max_executions: None,
            kms_fallback: None,
            latch: false,
        }
    }

    fn policy(rules: Vec<Rule>) -> Policy {
        Policy { dry_run: false, rules, max_executions: 100, kms_fallback: true, accounts: AccountRoles::default() }
    }

    fn oncall() -> CallerMatch {
        CallerMatch {
            principals: Some(vec![PrincipalPattern {
                partition: exact(&["aws"]),
                service: exact(&["sts"]),
                account: exact(&["111122223333"]),
                resource: glob("assumed-role/OnCall/*"),
            }]),
            ..CallerMatch::default()
        }
    }

    fn alarms() -> CallerMatch {
        CallerMatch { sources: Some(vec![glob("com.example.alarms")]), ..CallerMatch::default() }
    }

    fn iam(principal: &str, org: Option<&str>) -> Caller {
        let principal = PrincipalArn::parse(principal).unwrap();
        Caller::Iam { account: principal.account().clone(), principal, org_id: org.and_then(OrgId::parse) }
    }

    fn events(source: &str, account: &str) -> Caller {
        Caller::EventBridge { source: EventSource::parse(source).unwrap(), account: AccountId::parse(account).unwrap() }
    }

    fn target(name: &str) -> TargetArn {
        TargetArn::parse(&format!("arn:aws:states:us-east-1:111122223333:execution:{name}:run-1")).unwrap()
    }

    fn decide(policy: &Policy, caller: &Caller, target: &TargetArn, reason: &str, code: Option<&str>) -> Decision {
        let reason = Reason::parse(reason, Overflow::Reject).unwrap();
        let code = code.map(|c| ErrorCode::parse(c).unwrap());
        policy.evaluate(Subject { caller, target, reason: &reason, error_code: code.as_ref() })
    }

    fn sample_policy() -> Policy {
        let mut strict = rule("oncall-orders", Effect::Allow, oncall(), targets(&["orders-*"]));
        strict.reason.pattern = Some(regex_lite::Regex::new("[A-Z]+-[0-9]+").unwrap());
        strict.reason.min_chars = 10;
        strict.error_codes.allowed = vec![glob("Ops.*")];
        policy(vec![
            strict,
            rule("alarms-orders", Effect::Allow, alarms(), targets(&["orders-*"])),
            rule(
                "protect-ledger",
                Effect::Deny,
                CallerMatch { accounts: Some(Field::Any), ..Default::default() },
                targets(&["orders-ledger"]),
            ),
        ])
    }

    #[test]
    fn decides_the_table() {
        let policy = sample_policy();
        let alice = iam("arn:aws:sts::111122223333:assumed-role/OnCall/alice", None);
        let mallory = iam("arn:aws:sts::111122223333:assumed-role/OnCallEvil/mallory", None);
        let other_account = iam("arn:aws:sts::999999999999:assumed-role/OnCall/alice", None);
        let alarm = events("com.example.alarms", "111122223333");
        let spoof = events("com.example.alarms.evil", "111122223333");
        // (case, caller, state machine, reason, error code, expected effect, expected rule)
        type Row<'a> = (&'a str, &'a Caller, &'a str, &'a str, Option<&'a str>, &'a str, Option<&'a str>);
        let table: Vec<Row> = vec![
            ("on-call with ticket", &alice, "orders-api", "OPS-123 runaway", None, "allow", Some("oncall-orders")),
            (
                "on-call allowed code",
                &alice,
                "orders-api",
                "OPS-123 runaway",
                Some("Ops.Runaway"),
                "allow",
                Some("oncall-orders"),
            ),
            (
                "on-call code outside list",
                &alice,
                "orders-api",
                "OPS-123 runaway",
                Some("Other.Code"),
                "deny",
                Some("oncall-orders"),
            ),
            ("on-call without ticket", &alice, "orders-api", "runaway loop again", None, "deny", Some("oncall-orders")),
            ("on-call short reason", &alice, "orders-api", "OPS-1", None, "deny", Some("oncall-orders")),
            ("role name glob is whole-segment", &mallory, "orders-api", "OPS-123 runaway", None, "deny", None),
            ("principal in another account", &other_account, "orders-api", "OPS-123 runaway", None, "deny", None),
            ("name outside glob", &alice, "billing", "OPS-123 runaway", None, "deny", None),
            ("name glob is not a prefix match", &alice, "xorders-api", "OPS-123 runaway", None, "deny", None),
            ("deny wins over allow", &alice, "orders-ledger", "OPS-123 runaway", None, "deny", Some("protect-ledger")),
            ("alarm source", &alarm, "orders-api", "alarm fired", None, "allow", Some("alarms-orders")),
            ("look-alike source", &spoof, "orders-api", "alarm fired", None, "deny", None),
            (
                "IAM caller never matches a sources rule",
                &alice,
                "orders-api",
                "no ticket here",
                None,
                "deny",
                Some("oncall-orders"),
            ),
        ];
        for (case, caller, name, reason, code, effect, rule_id) in table {
            let d = decide(&policy, caller, &target(name), reason, code);
            assert_eq!((d.effect_name(), d.rule_id()), (effect, rule_id), "{case}: {}", d.rationale());
            assert!(!d.rationale().contains('\n'), "{case}: rationale is one line");
        }
    }

    #[test]
    fn empty_policy_denies_everything() {
        let policy = policy(vec![]);
        let d = decide(&policy, &events("a.b", "111122223333"), &target("orders"), "why", None);
        assert_eq!(d.rule_id(), None);
        assert!(d.rationale().contains("denied by default"), "{}", d.rationale());
    }

    #[test]
    fn explains_the_unmet_requirement() {
        let policy = sample_policy();
        let alice = iam("arn:aws:sts::111122223333:assumed-role/OnCall/alice", None);
        let d = decide(&policy, &alice, &target("orders-api"), "runaway loop again", None);
        assert!(d.rationale().contains("[A-Z]+-[0-9]+"), "{}", d.rationale());
        let d = decide(&policy, &alice, &target("orders-api"), "OPS-123 runaway", Some("Bad"));
        assert!(d.rationale().contains("error code Bad is not allowed"), "{}", d.rationale());
    }

    #[test]
    fn default_error_code_and_dry_run_come_from_the_rule() {
        let mut policy = sample_policy();
        policy.rules[1].dry_run = true;
        let d = decide(&policy, &events("com.example.alarms", "111122223333"), &target("orders-api"), "why", None);
        let Decision::Allow { error_code, dry_run, .. } = d else { panic!("expected allow") };
        assert_eq!(error_code.as_str(), "StopGateway.Stopped");
        assert!(dry_run);
        policy.rules[1].dry_run = false;
        policy.dry_run = true;
        let d = decide(&policy, &events("com.example.alarms", "111122223333"), &target("orders-api"), "why", None);
        assert!(matches!(d, Decision::Allow { dry_run: true, .. }), "global dry-run applies");
    }

    #[test]
    fn org_selector_requires_a_reported_org() {
        let policy = policy(vec![rule(
            "org",
            Effect::Allow,
            CallerMatch { org_ids: Some(exact(&["o-a1b2c3d4e5"])), ..Default::default() },
            targets(&["*"]),
        )]);
        let in_org = iam("arn:aws:iam::111122223333:user/a", Some("o-a1b2c3d4e5"));
        let no_org = iam("arn:aws:iam::111122223333:user/a", None);
        assert_eq!(decide(&policy, &in_org, &target("x"), "why", None).effect_name(), "allow");
        assert_eq!(decide(&policy, &no_org, &target("x"), "why", None).effect_name(), "deny");
        assert_eq!(decide(&policy, &events("a.b", "111122223333"), &target("x"), "why", None).effect_name(), "deny");
    }

    #[test]
    fn alarm_callers_match_alarm_name_globs_and_accounts() {
        let mut r = rule(
            "alarms",
            Effect::Allow,
            CallerMatch {
                alarms: Some(vec![glob("orders-*")]),
                accounts: Some(exact(&["111122223333"])),
                ..Default::default()
            },
            targets(&["*"]),
        );
        r.max_executions = Some(500);
        let policy = policy(vec![r]);
        let alarm = |arn: &str| Caller::Alarm { alarm: crate::domain::caller::AlarmArn::parse(arn).unwrap() };
        let ok = alarm("arn:aws:cloudwatch:us-east-1:111122223333:alarm:orders-error-rate");
        let d = decide(&policy, &ok, &target("x"), "why", None);
        assert!(
            matches!(d, Decision::Allow { max_executions: 500, .. }),
            "the rule's own cap replaces the policy default: {d:?}"
        );
        let other = alarm("arn:aws:cloudwatch:us-east-1:111122223333:alarm:billing-error-rate");
        assert_eq!(decide(&policy, &other, &target("x"), "why", None).effect_name(), "deny");
        let other_account = alarm("arn:aws:cloudwatch:us-east-1:999999999999:alarm:orders-error-rate");
        assert_eq!(decide(&policy, &other_account, &target("x"), "why", None).effect_name(), "deny");
        let events = events("orders-x", "111122223333");
        assert_eq!(
            decide(&policy, &events, &target("x"), "why", None).effect_name(),
            "deny",
            "an alarms selector never matches events"
        );
    }
}
