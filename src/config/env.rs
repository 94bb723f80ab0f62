//! The function's environment, read once at start-up into a typed [`Config`].
//!
//! [`Config::from_lookup`] takes any lookup function so tests never touch the process environment. Every error
//! names the variable it is about.

use std::time::Duration;

use super::policy_doc::{Format, PolicyDocument, PolicyError, parse_policy};
use crate::aws::pacing::Pacer;
use crate::domain::alarm::AlarmRouting;
use crate::domain::aws_ids::Region;
use crate::domain::policy::Policy;
use crate::handler::DoorTimeouts;
use crate::metrics::{DEFAULT_NAMESPACE, Metrics};
use crate::service::BulkSettings;

/// Source used for audit events when `AUDIT_EVENT_SOURCE` is unset.
pub const DEFAULT_AUDIT_SOURCE: &str = "stop-gateway";

/// Validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The policy (with `DRY_RUN` folded into its global dry-run flag).
    pub policy: Policy,
    /// How alarms find their targets (the policy document's named targets and alarm mappings).
    pub routing: AlarmRouting,
    /// The region the function runs in (`AWS_REGION`).
    pub region: Region,
    /// EventBridge bus for audit events (`AUDIT_EVENT_BUS`), name or ARN.
    pub audit_bus: Option<String>,
    /// `source` of audit events (`AUDIT_EVENT_SOURCE`).
    pub audit_source: String,
    /// Client-side API pacing (`RATE_LIMITS` overrides AWS's default quotas).
    pub pacer: Pacer,
    /// Bulk stop concurrency and deadline margin (`BULK_CONCURRENCY`, `DEADLINE_MARGIN_MS`).
    pub bulk: BulkSettings,
    /// Where the metrics go (`METRICS_NAMESPACE`).
    pub metrics: Metrics,
    /// How long each HTTP door waits (`REST_API_TIMEOUT_MS`, `HTTP_API_TIMEOUT_MS`, `FUNCTION_URL_TIMEOUT_MS`).
    pub doors: DoorTimeouts,
    /// Root certificates to trust instead of the embedded Amazon roots (`SSL_CERT_FILE`, PEM).
    pub trusted_roots: Option<Vec<u8>>,
}

/// A configuration problem, naming the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable has an unusable value.
    #[error("{var}: {message}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The policy document is invalid.
    #[error("{var}: invalid policy at {source}")]
    Policy {
        /// `POLICY` or `POLICY_FILE`.
        var: &'static str,
        /// The field-level error.
        #[source]
        source: PolicyError,
    },
}

fn invalid(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { var, message: message.into() }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let region = get("AWS_REGION").ok_or(ConfigError::Missing("AWS_REGION"))?;
        let region = Region::parse(&region).map_err(|e| invalid("AWS_REGION", e.to_string()))?;
        let (var, text, format) = match (get("POLICY"), get("POLICY_FILE")) {
            (Some(_), Some(_)) => return Err(invalid("POLICY", "set POLICY or POLICY_FILE, not both")),
            (Some(text), None) => {
                let format = Format::sniff(&text);
                ("POLICY", text, format)
            }
            (None, Some(path)) => {
                let format = if path.ends_with(".json") {
                    Format::Json
                } else if path.ends_with(".toml") {
                    Format::Toml
                } else {
                    return Err(invalid("POLICY_FILE", format!("{path}: name a .toml or .json file")));
                };
                let text =
                    std::fs::read_to_string(&path).map_err(|e| invalid("POLICY_FILE", format!("{path}: {e}")))?;
                ("POLICY_FILE", text, format)
            }
            (None, None) => return Err(invalid("POLICY", "set POLICY (the document) or POLICY_FILE (its path)")),
        };
        let PolicyDocument { mut policy, routing } =
            parse_policy(&text, format).map_err(|source| ConfigError::Policy { var, source })?;
        policy.dry_run |= parse_bool("DRY_RUN", get("DRY_RUN"))?;
        let audit_bus = get("AUDIT_EVENT_BUS").map(|bus| validate_bus(&bus).map(|()| bus)).transpose()?;
        let audit_source = get("AUDIT_EVENT_SOURCE").unwrap_or_else(|| DEFAULT_AUDIT_SOURCE.to_owned());
        if audit_source.starts_with("aws.")
            || audit_source.len() > 256
            || !audit_source.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(invalid(
                "AUDIT_EVENT_SOURCE",
                "use up to 256 printable ASCII characters not starting with \"aws.\"",
            ));
        }
        let pacer = Pacer::from_spec(&get("RATE_LIMITS").unwrap_or_default()).map_err(|e| invalid("RATE_LIMITS", e))?;
        let defaults = BulkSettings::default();
        let bulk = BulkSettings {
            concurrency: parse_number("BULK_CONCURRENCY", get("BULK_CONCURRENCY"), 1..=256)?
                .map_or(defaults.concurrency, |n| n as usize),
            deadline_margin: parse_number("DEADLINE_MARGIN_MS", get("DEADLINE_MARGIN_MS"), 0..=600_000)?
                .map_or(defaults.deadline_margin, Duration::from_millis),
        };
        let door = |var: &'static str, default: Option<Duration>| {
            // `0` means "no limit of the door's own": only Lambda's deadline applies.
            Ok::<_, ConfigError>(match parse_number(var, get(var), 0..=900_000)? {
                None => default,
                Some(0) => None,
                Some(ms) => Some(Duration::from_millis(ms)),
            })
        };
        let metrics = Metrics::new(&get("METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()))
            .map_err(|e| invalid("METRICS_NAMESPACE", e))?;
        let defaults = DoorTimeouts::default();
        let doors = DoorTimeouts {
            rest_api: door("REST_API_TIMEOUT_MS", defaults.rest_api)?,
            http_api: door("HTTP_API_TIMEOUT_MS", defaults.http_api)?,
            function_url: door("FUNCTION_URL_TIMEOUT_MS", defaults.function_url)?,
        };
        let trusted_roots = get("SSL_CERT_FILE")
            .map(|path| {
                let pem = std::fs::read(&path).map_err(|e| invalid("SSL_CERT_FILE", format!("{path}: {e}")))?;
                parse_certificates(&pem).map_err(|e| invalid("SSL_CERT_FILE", format!("{path}: {e}")))?;
                Ok::<_, ConfigError>(pem)
            })
            .transpose()?;
        Ok(Config { policy, routing, region, audit_bus, audit_source, pacer, bulk, metrics, doors, trusted_roots })
    }
}

/// Counts the certificates in a PEM bundle; an error if it has none or a malformed one.
pub fn parse_certificates(pem: &[u8]) -> Result<usize, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("malformed PEM: {e:?}"))?;
    if certs.is_empty() { Err("no PEM certificate in the file".to_owned()) } else { Ok(certs.len()) }
}

fn parse_number(
    var: &'static str,
    value: Option<String>,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>, ConfigError> {
    let Some(value) = value else { return Ok(None) };
    match value.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(invalid(var, format!("{value:?} is not a whole number from {} to {}", range.start(), range.end()))),
    }
}

fn parse_bool(var: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None => Ok(false),
        Some("true" | "TRUE" | "True" | "1") => Ok(true),
        Some("false" | "FALSE" | "False" | "0") => Ok(false),
        Some(other) => Err(invalid(var, format!("{other:?} is not true/false/1/0"))),
    }
}

/// A bus name (`[A-Za-z0-9._\-/]`, 1–256) or an `arn:…:events:…:event-bus/NAME` ARN.
fn validate_bus(bus: &str) -> Result<(), ConfigError> {
    let name = match bus.strip_prefix("arn:") {
        Some(rest) => match rest.split(':').collect::<Vec<_>>().as_slice() {
            [_, "events", _, _, resource] => resource.strip_prefix("event-bus/").unwrap_or_default(),
            _ => "",
        },
        None => bus,
    };
    let ok = (1..=256).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
    if ok { Ok(()) } else { Err(invalid("AUDIT_EVENT_BUS", format!("{bus:?} is not an event bus name or ARN"))) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::request::SourceKind;
    use std::collections::HashMap;

    const POLICY: &str = r#"{"version":1,"rules":[{"id":"r","effect":"allow","callers":{"accounts":["*"]},
        "targets":{"services":["*"],"partitions":["aws"],"accounts":["111122223333"],"regions":["*"],"names":["*"]}}]}"#;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn reads_a_complete_environment() {
        let c = config(&[
            ("AWS_REGION", "us-east-1"),
            ("POLICY", POLICY),
            ("AUDIT_EVENT_BUS", "audit"),
            ("DRY_RUN", "true"),
        ])
        .unwrap();
        assert_eq!(c.region.as_str(), "us-east-1");
        assert_eq!(c.audit_bus.as_deref(), Some("audit"));
        assert_eq!(c.audit_source, DEFAULT_AUDIT_SOURCE);
        assert!(c.policy.dry_run, "DRY_RUN folds into the policy");
    }

    #[test]
    fn reads_the_example_policy_file() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/policy.example.toml");
        let c = config(&[("AWS_REGION", "us-east-1"), ("POLICY_FILE", path)]).unwrap();
        assert!(!c.policy.dry_run);
    }

    #[test]
    fn errors_name_the_variable() {
        let table: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("POLICY", POLICY)], "AWS_REGION is not set"),
            (vec![("AWS_REGION", "us-east-1")], "POLICY: set POLICY"),
            (
                vec![("AWS_REGION", "us-east-1"), ("POLICY", POLICY), ("POLICY_FILE", "p.toml")],
                "POLICY: set POLICY or POLICY_FILE, not both",
            ),
            (
                vec![("AWS_REGION", "us-east-1"), ("POLICY_FILE", "p.yaml")],
                "POLICY_FILE: p.yaml: name a .toml or .json file",
            ),
            (vec![("AWS_REGION", "us-east-1"), ("POLICY_FILE", "missing.toml")], "POLICY_FILE: missing.toml:"),
            (vec![("AWS_REGION", "us-east-1"), ("POLICY", "{\"version\":1}")], "POLICY: invalid policy at rules:"),
            (vec![("AWS_REGION", "us-east-1"), ("POLICY", POLICY), ("DRY_RUN", "yes")], "DRY_RUN: \"yes\" is not"),
            (vec![("AWS_REGION", "us-east-1"), ("POLICY", POLICY), ("AUDIT_EVENT_BUS", "bad bus")], "AUDIT_EVENT_BUS:"),
            (
                vec![("AWS_REGION", "us-east-1"), ("POLICY", POLICY), ("AUDIT_EVENT_SOURCE", "aws.fake")],
                "AUDIT_EVENT_SOURCE:",
            ),
        ];
        for (vars, expected) in table {
            let err = config(&vars).unwrap_err().to_string();
            assert!(err.starts_with(expected), "expected {expected:?}, got {err:?}");
        }
    }

    #[test]
    fn http_doors_wait_29_s_unless_told_otherwise() {
        let base = [("AWS_REGION", "us-east-1"), ("POLICY", POLICY)];
        let c = config(&base).unwrap();
        assert_eq!(c.doors, DoorTimeouts::default());
        assert_eq!(c.doors.for_source(SourceKind::HttpApi), Some(Duration::from_secs(29)));
        assert_eq!(c.doors.for_source(SourceKind::RestApi), Some(Duration::from_secs(29)));
        assert_eq!(c.doors.for_source(SourceKind::FunctionUrl), None, "a function URL waits for the function");
        assert_eq!(c.doors.for_source(SourceKind::EventBridge), None);
        let c = config(&[
            base[0],
            base[1],
            ("REST_API_TIMEOUT_MS", "50000"),
            ("HTTP_API_TIMEOUT_MS", "0"),
            ("FUNCTION_URL_TIMEOUT_MS", "60000"),
        ])
        .unwrap();
        assert_eq!(c.doors.rest_api, Some(Duration::from_secs(50)), "a REST API whose timeout was raised");
        assert_eq!(c.doors.http_api, None, "0: only Lambda's deadline");
        assert_eq!(c.doors.function_url, Some(Duration::from_secs(60)));
        let err = config(&[base[0], base[1], ("HTTP_API_TIMEOUT_MS", "29s")]).unwrap_err().to_string();
        assert!(err.starts_with("HTTP_API_TIMEOUT_MS:"), "{err}");
    }

    #[test]
    fn accepts_bus_names_and_arns() {
        assert!(validate_bus("stop-gateway-audit").is_ok());
        assert!(validate_bus("arn:aws:events:us-east-1:111122223333:event-bus/audit").is_ok());
        assert!(validate_bus("arn:aws:events:us-east-1:111122223333:rule/audit").is_err());
    }
}
