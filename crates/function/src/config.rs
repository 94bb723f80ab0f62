//! The function's settings, read from the environment once at start-up: plain data in types of its own, every
//! error naming the variable. It imports only the core (the domain and the policy document); `main` turns these
//! settings into the pacer, the stop flow, the alarm reader and the policy store.
//!
//! [`Settings::from_lookup`] takes any lookup function, so tests never touch the process environment.

use std::time::Duration;

use stop_gateway_core::domain::aws_ids::Region;
use stop_gateway_core::domain::request::Door;
use stop_gateway_core::inbound::IngressError;
use stop_gateway_core::policy_doc::{LoadedPolicy, load};
use tokio::time::Instant;

/// Source used for audit events when `AUDIT_EVENT_SOURCE` is unset.
pub const DEFAULT_AUDIT_SOURCE: &str = "stop-gateway";
/// The metrics namespace when `METRICS_NAMESPACE` is unset.
pub const DEFAULT_NAMESPACE: &str = "StopGateway";
/// How long one read of the alarms in ALARM serves later latch checks, unless `LATCH_CACHE_SECONDS` says otherwise.
pub const DEFAULT_LATCH_CACHE: Duration = Duration::from_secs(5);

/// Validated settings.
#[derive(Debug)]
pub struct Settings {
    /// Where the policy comes from, and for `POLICY`/`POLICY_FILE` the loaded document or why it could not be
    /// used. A policy problem does not stop the function: it answers every request as `policy_unavailable`.
    pub policy: PolicySource,
    /// `DRY_RUN`: every allowed stop is only reported, whatever the document says.
    pub dry_run: bool,
    /// The region the function runs in (`AWS_REGION`).
    pub region: Region,
    /// EventBridge bus for audit events (`AUDIT_EVENT_BUS`), name or ARN.
    pub audit_bus: Option<String>,
    /// `source` of audit events (`AUDIT_EVENT_SOURCE`).
    pub audit_source: String,
    /// Overrides of AWS's default quotas for the client-side pacing (`RATE_LIMITS`).
    pub rate_limits: Vec<RateLimit>,
    /// Bulk stop concurrency and deadline margin (`BULK_CONCURRENCY`, `DEADLINE_MARGIN_MS`).
    pub bulk: BulkSettings,
    /// The metrics namespace (`METRICS_NAMESPACE`): 1–255 printable ASCII characters, not `AWS/…`.
    pub metrics_namespace: String,
    /// How long each HTTP door waits (`REST_API_TIMEOUT_MS`, `HTTP_API_TIMEOUT_MS`, `FUNCTION_URL_TIMEOUT_MS`).
    pub doors: DoorTimeouts,
    /// Root certificates to trust instead of the embedded Amazon roots (`SSL_CERT_FILE`, PEM).
    pub trusted_roots: Option<Vec<u8>>,
    /// How the latch reads alarms (`LATCH_CACHE_SECONDS`, `LATCH_ALARM_PREFIX`).
    pub latch: LatchSettings,
    /// Which doors this function serves (`DOORS`).
    pub served: ServedDoors,
    /// This function's share of each account quota, across its instances (`PACING_INSTANCES`,
    /// `PACING_SHARE_PERCENT`).
    pub pacing: PacingShare,
}

/// The doors a function serves: a deployment gives the automated doors (alarms, the latch, automation) a
/// function of their own, with its own reserved concurrency, so that no flood of HTTP requests can take the
/// capacity a kill-switch needs, and the HTTP doors another. Every door by default (local runs, one function).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedDoors(Vec<Door>);

impl ServedDoors {
    /// Every door.
    pub fn all() -> ServedDoors {
        ServedDoors(Door::ALL.to_vec())
    }

    /// Whether a request through `door` is this function's to handle. A payload of no known shape is refused
    /// as malformed by every function, so it is served everywhere.
    pub fn serves(&self, door: Door) -> bool {
        door == Door::Unknown || self.0.contains(&door)
    }

    /// `door_not_served` for a door this function does not serve.
    pub fn check(&self, door: Door) -> Result<(), IngressError> {
        if self.serves(door) { Ok(()) } else { Err(IngressError::DoorNotServed { door: door.as_str() }) }
    }
}

/// This function's part of each account quota: `share_percent` of it, divided among the `instances` Lambda may
/// run at once (the function's reserved concurrency), so that all of them together stay within the quota.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingShare {
    /// Instances that may call AWS at once (`PACING_INSTANCES`, 1 to 1000; default 1).
    pub instances: u32,
    /// Percent of each quota this function may use (`PACING_SHARE_PERCENT`, 1 to 100; default 100).
    pub share_percent: u32,
}

impl PacingShare {
    /// The fraction of each quota one instance paces itself to.
    pub fn per_instance(&self) -> f64 {
        f64::from(self.share_percent) / 100.0 / f64::from(self.instances.max(1))
    }
}

impl Default for PacingShare {
    fn default() -> Self {
        PacingShare { instances: 1, share_percent: 100 }
    }
}

/// One `RATE_LIMITS` entry: `API=BURST/PER_SECOND` (the API's name is checked against the pacer's list when the
/// pacer is built).
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    /// The API, e.g. `StopExecution`.
    pub api: String,
    /// Calls available at once.
    pub burst: f64,
    /// Calls added per second.
    pub per_second: f64,
}

/// How bulk stops run.
#[derive(Debug, Clone, Copy)]
pub struct BulkSettings {
    /// Executions handled at once.
    pub concurrency: usize,
    /// No execution is started when less than this is left before the invocation's deadline.
    pub deadline_margin: Duration,
}

impl Default for BulkSettings {
    /// 64 at once: a listed execution costs one stop call, so a fleet is contained in about
    /// ⌈executions / concurrency⌉ round trips; at 30–50 ms a call, 1 000 take about 0.5–0.9 s of waiting, where 16
    /// would take 2–3 s (`scripts/bench-bulk`). Pacing still keeps every call within the quotas.
    fn default() -> Self {
        BulkSettings { concurrency: 64, deadline_margin: Duration::from_secs(3) }
    }
}

/// How the latch reads alarms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatchSettings {
    /// How long one read of the alarms in ALARM serves later latch checks (`LATCH_CACHE_SECONDS`, 0 to 60).
    pub cache: Duration,
    /// Only alarms named with this prefix can latch (`LATCH_ALARM_PREFIX`): the function reads only those, which
    /// is what its IAM policy allows.
    pub alarm_prefix: Option<String>,
}

/// How long each HTTP door waits for the function before it answers the caller itself: API Gateway cuts an
/// HTTP API integration at 30 s (not raisable) and a REST API one at 29 s by default, while the function may run
/// for minutes. The gateway's own deadline is the earlier of Lambda's and the door's, so an HTTP caller always
/// gets its answer (`incomplete` with `remaining`, when a bulk stop is cut short), never the door's bare 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoorTimeouts {
    /// API Gateway REST APIs (`REST_API_TIMEOUT_MS`).
    pub rest_api: Option<Duration>,
    /// API Gateway HTTP APIs (`HTTP_API_TIMEOUT_MS`).
    pub http_api: Option<Duration>,
    /// Function URLs (`FUNCTION_URL_TIMEOUT_MS`): 29 s too, so a long request cannot hold an instance (and its
    /// share of the reserved concurrency) for the function's whole timeout; 0 lifts it.
    pub function_url: Option<Duration>,
}

impl Default for DoorTimeouts {
    fn default() -> Self {
        let door = Some(Duration::from_secs(29));
        DoorTimeouts { rest_api: door, http_api: door, function_url: door }
    }
}

impl DoorTimeouts {
    /// The door's own limit, if it has one.
    pub fn for_door(&self, door: Door) -> Option<Duration> {
        match door {
            Door::RestApi => self.rest_api,
            Door::HttpApi => self.http_api,
            Door::FunctionUrl => self.function_url,
            _ => None,
        }
    }

    /// When a request through `door` that arrived at `started` must have answered: the earlier of Lambda's
    /// deadline and the door's own.
    pub fn deadline(&self, door: Door, started: Instant, lambda: Instant) -> Instant {
        self.for_door(door).map_or(lambda, |limit| (started + limit).min(lambda))
    }
}

/// Where the policy comes from.
#[derive(Debug)]
pub enum PolicySource {
    /// `POLICY` or `POLICY_FILE`, loaded now; or why no policy could be loaded (the message names the variable).
    Loaded(Result<LoadedPolicy, String>),
    /// `POLICY_PARAMETER`, read by the function at its first request and again every `refresh`
    /// (`POLICY_REFRESH_SECONDS`).
    Parameter {
        /// The parameter's name or ARN.
        name: String,
        /// How often to read it again.
        refresh: Duration,
    },
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
}

/// An unusable value of `var`.
pub fn invalid(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { var, message: message.into() }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let region = get("AWS_REGION").ok_or(ConfigError::Missing("AWS_REGION"))?;
        let region = Region::parse(&region).map_err(|e| invalid("AWS_REGION", e.to_string()))?;
        let dry_run = parse_bool("DRY_RUN", get("DRY_RUN"))?;
        Ok(Settings {
            policy: policy_source(&get, dry_run)?,
            dry_run,
            region,
            audit_bus: get("AUDIT_EVENT_BUS").map(|bus| validate_bus(&bus).map(|()| bus)).transpose()?,
            audit_source: audit_source(get("AUDIT_EVENT_SOURCE"))?,
            rate_limits: rate_limits(&get("RATE_LIMITS").unwrap_or_default())?,
            bulk: bulk(&get)?,
            metrics_namespace: metrics_namespace(get("METRICS_NAMESPACE"))?,
            doors: doors(&get)?,
            trusted_roots: get("SSL_CERT_FILE").map(|path| trusted_roots(&path)).transpose()?,
            latch: latch(&get)?,
            served: served(get("DOORS"))?,
            pacing: pacing(&get)?,
        })
    }
}

fn audit_source(value: Option<String>) -> Result<String, ConfigError> {
    let source = value.unwrap_or_else(|| DEFAULT_AUDIT_SOURCE.to_owned());
    if source.starts_with("aws.") || source.len() > 256 || !source.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            "AUDIT_EVENT_SOURCE",
            "use up to 256 printable ASCII characters not starting with \"aws.\"",
        ));
    }
    Ok(source)
}

/// `API=BURST/PER_SECOND`, comma-separated, e.g. `StopExecution=5000/1000,DescribeExecution=500/200`.
fn rate_limits(spec: &str) -> Result<Vec<RateLimit>, ConfigError> {
    let mut limits = Vec::new();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let malformed = || invalid("RATE_LIMITS", format!("{entry:?}: expected API=BURST/PER_SECOND"));
        let (api, rate) = entry.split_once('=').ok_or_else(malformed)?;
        let (burst, per_second) = rate.split_once('/').ok_or_else(malformed)?;
        let number = |v: &str| v.trim().parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 1.0);
        let (Some(burst), Some(per_second)) = (number(burst), number(per_second)) else {
            return Err(invalid("RATE_LIMITS", format!("{entry:?}: burst and rate must be numbers of at least 1")));
        };
        limits.push(RateLimit { api: api.trim().to_owned(), burst, per_second });
    }
    Ok(limits)
}

fn bulk(get: &impl Fn(&str) -> Option<String>) -> Result<BulkSettings, ConfigError> {
    let defaults = BulkSettings::default();
    Ok(BulkSettings {
        concurrency: parse_number("BULK_CONCURRENCY", get("BULK_CONCURRENCY"), 1..=256)?
            .map_or(defaults.concurrency, |n| n as usize),
        deadline_margin: parse_number("DEADLINE_MARGIN_MS", get("DEADLINE_MARGIN_MS"), 0..=600_000)?
            .map_or(defaults.deadline_margin, Duration::from_millis),
    })
}

fn metrics_namespace(value: Option<String>) -> Result<String, ConfigError> {
    let namespace = value.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    let ok = (1..=255).contains(&namespace.len())
        && namespace.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && !namespace.starts_with("AWS/");
    if !ok {
        return Err(invalid("METRICS_NAMESPACE", "use 1-255 printable ASCII characters, not starting with \"AWS/\""));
    }
    Ok(namespace)
}

fn doors(get: &impl Fn(&str) -> Option<String>) -> Result<DoorTimeouts, ConfigError> {
    let door = |var: &'static str, default: Option<Duration>| {
        // `0` means "no limit of the door's own": only Lambda's deadline applies.
        Ok::<_, ConfigError>(match parse_number(var, get(var), 0..=900_000)? {
            None => default,
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
        })
    };
    let defaults = DoorTimeouts::default();
    Ok(DoorTimeouts {
        rest_api: door("REST_API_TIMEOUT_MS", defaults.rest_api)?,
        http_api: door("HTTP_API_TIMEOUT_MS", defaults.http_api)?,
        function_url: door("FUNCTION_URL_TIMEOUT_MS", defaults.function_url)?,
    })
}

fn trusted_roots(path: &str) -> Result<Vec<u8>, ConfigError> {
    let pem = std::fs::read(path).map_err(|e| invalid("SSL_CERT_FILE", format!("{path}: {e}")))?;
    parse_certificates(&pem).map_err(|e| invalid("SSL_CERT_FILE", format!("{path}: {e}")))?;
    Ok(pem)
}

/// `DOORS`: door names (`apigw-rest`, `eventbridge`, …) and the groups `interactive` (the HTTP doors) and
/// `automated` (the others), comma-separated.
fn served(value: Option<String>) -> Result<ServedDoors, ConfigError> {
    let Some(value) = value else { return Ok(ServedDoors::all()) };
    let mut doors = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let group: Vec<Door> = match name {
            "interactive" => Door::ALL.into_iter().filter(|d| d.is_http()).collect(),
            "automated" => Door::ALL.into_iter().filter(|d| d.is_automated()).collect(),
            "all" => Door::ALL.to_vec(),
            door => match Door::from_name(door) {
                Some(door) if door != Door::Unknown => vec![door],
                _ => {
                    let known: Vec<&str> =
                        Door::ALL.iter().filter(|d| **d != Door::Unknown).map(|d| d.as_str()).collect();
                    let known = known.join(", ");
                    return Err(invalid(
                        "DOORS",
                        format!("{door:?}: use interactive, automated, all or door names ({known})"),
                    ));
                }
            },
        };
        doors.extend(group.into_iter().filter(|d| !doors.contains(d)).collect::<Vec<_>>());
    }
    if doors.is_empty() {
        return Err(invalid("DOORS", "name at least one door"));
    }
    Ok(ServedDoors(doors))
}

fn pacing(get: &impl Fn(&str) -> Option<String>) -> Result<PacingShare, ConfigError> {
    let defaults = PacingShare::default();
    let instances = parse_number("PACING_INSTANCES", get("PACING_INSTANCES"), 1..=1000)?;
    let share = parse_number("PACING_SHARE_PERCENT", get("PACING_SHARE_PERCENT"), 1..=100)?;
    Ok(PacingShare {
        instances: instances.map_or(defaults.instances, |n| n as u32),
        share_percent: share.map_or(defaults.share_percent, |n| n as u32),
    })
}

fn latch(get: &impl Fn(&str) -> Option<String>) -> Result<LatchSettings, ConfigError> {
    let cache = parse_number("LATCH_CACHE_SECONDS", get("LATCH_CACHE_SECONDS"), 0..=60)?
        .map_or(DEFAULT_LATCH_CACHE, Duration::from_secs);
    let alarm_prefix = get("LATCH_ALARM_PREFIX");
    if alarm_prefix.as_ref().is_some_and(|p| p.len() > 255 || !p.bytes().all(|b| b.is_ascii_graphic())) {
        return Err(invalid("LATCH_ALARM_PREFIX", "use up to 255 printable ASCII characters"));
    }
    Ok(LatchSettings { cache, alarm_prefix })
}

/// Where the policy comes from. Exactly one of `POLICY`, `POLICY_FILE` and `POLICY_PARAMETER`; a problem with
/// the document itself (or with these variables) is kept as the reason every request is `policy_unavailable`,
/// so the function still answers and audits. Only a malformed `POLICY_REFRESH_SECONDS` stops it at start-up.
fn policy_source(get: &impl Fn(&str) -> Option<String>, dry_run: bool) -> Result<PolicySource, ConfigError> {
    let loaded = |var: &'static str, origin, text: Result<String, String>| {
        PolicySource::Loaded(
            text.and_then(|text| load(&text, origin, None, dry_run).map_err(|e| format!("invalid policy at {e}")))
                .map_err(|e| format!("{var}: {e}")),
        )
    };
    let refresh = parse_number("POLICY_REFRESH_SECONDS", get("POLICY_REFRESH_SECONDS"), 1..=3600)?;
    Ok(match (get("POLICY"), get("POLICY_FILE"), get("POLICY_PARAMETER")) {
        (Some(text), None, None) => loaded("POLICY", "env", Ok(text)),
        (None, Some(path), None) => {
            let text = if path.ends_with(".json") || path.ends_with(".toml") {
                std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))
            } else {
                Err(format!("{path}: name a .toml or .json file"))
            };
            loaded("POLICY_FILE", "file", text)
        }
        (None, None, Some(name)) => {
            PolicySource::Parameter { name, refresh: Duration::from_secs(refresh.unwrap_or(DEFAULT_REFRESH_SECONDS)) }
        }
        (None, None, None) => loaded(
            "POLICY",
            "env",
            Err("set POLICY (the document), POLICY_FILE (its path) or POLICY_PARAMETER (an SSM parameter)".into()),
        ),
        _ => loaded("POLICY", "env", Err("set one of POLICY, POLICY_FILE and POLICY_PARAMETER, not several".into())),
    })
}

/// How often an SSM policy parameter is read again, unless `POLICY_REFRESH_SECONDS` says otherwise.
pub const DEFAULT_REFRESH_SECONDS: u64 = 60;

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
    use std::collections::HashMap;

    const POLICY: &str = r#"{"version":1,"rules":[{"id":"r","effect":"allow","callers":{"accounts":["*"]},
        "targets":{"services":["*"],"partitions":["aws"],"accounts":["111122223333"],"regions":["*"],"names":["*"]}}]}"#;

    fn config(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
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
        assert!(loaded(&c).policy.dry_run, "DRY_RUN folds into the policy");
        assert_eq!(loaded(&c).version.origin, "env");
        assert_eq!(loaded(&c).version.sha256, stop_gateway_core::policy_doc::sha256_hex(POLICY));
    }

    #[test]
    fn reads_the_example_policy_file() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policy.example.toml");
        let c = config(&[("AWS_REGION", "us-east-1"), ("POLICY_FILE", path)]).unwrap();
        assert!(!loaded(&c).policy.dry_run);
        assert_eq!(loaded(&c).version.origin, "file");
    }

    #[test]
    fn errors_name_the_variable() {
        let table: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("POLICY", POLICY)], "AWS_REGION is not set"),
            (
                vec![("AWS_REGION", "us-east-1"), ("POLICY_PARAMETER", "p"), ("POLICY_REFRESH_SECONDS", "0")],
                "POLICY_REFRESH_SECONDS:",
            ),
            (vec![("AWS_REGION", "us-east-1"), ("POLICY", POLICY), ("DRY_RUN", "yes")], "DRY_RUN: \"yes\" is not"),
            (vec![("AWS_REGION", "us-east-1"), ("POLICY", POLICY), ("AUDIT_EVENT_BUS", "bad bus")], "AUDIT_EVENT_BUS:"),
            (
                vec![("AWS_REGION", "us-east-1"), ("POLICY", POLICY), ("AUDIT_EVENT_SOURCE", "aws.fake")],
                "AUDIT_EVENT_SOURCE:",
            ),
            (
                vec![("AWS_REGION", "us-east-1"), ("POLICY", POLICY), ("LATCH_CACHE_SECONDS", "61")],
                "LATCH_CACHE_SECONDS:",
            ),
            (
                vec![("AWS_REGION", "us-east-1"), ("POLICY", POLICY), ("LATCH_ALARM_PREFIX", "bad prefix")],
                "LATCH_ALARM_PREFIX:",
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
        assert_eq!(c.doors.for_door(Door::HttpApi), Some(Duration::from_secs(29)));
        assert_eq!(c.doors.for_door(Door::RestApi), Some(Duration::from_secs(29)));
        assert_eq!(
            c.doors.for_door(Door::FunctionUrl),
            Some(Duration::from_secs(29)),
            "a URL request cannot hold an instance longer"
        );
        assert_eq!(c.doors.for_door(Door::EventBridge), None);
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
    fn a_function_serves_the_doors_it_is_told_to_and_every_door_by_default() {
        let base = [("AWS_REGION", "us-east-1"), ("POLICY", POLICY)];
        let every = config(&base).unwrap().served;
        assert!(Door::ALL.into_iter().all(|d| every.serves(d)));
        let automated = config(&[base[0], base[1], ("DOORS", "automated")]).unwrap().served;
        let interactive = config(&[base[0], base[1], ("DOORS", "interactive")]).unwrap().served;
        for door in Door::ALL.into_iter().filter(|d| *d != Door::Unknown) {
            assert_eq!(automated.serves(door), door.is_automated(), "{door:?}");
            assert_eq!(interactive.serves(door), door.is_http(), "{door:?}");
            assert_ne!(automated.serves(door), interactive.serves(door), "each door reaches exactly one: {door:?}");
        }
        assert!(automated.serves(Door::Unknown) && interactive.serves(Door::Unknown), "malformed: refused anywhere");
        let some = config(&[base[0], base[1], ("DOORS", "sweep, apigw-http")]).unwrap().served;
        assert!(some.serves(Door::Sweep) && some.serves(Door::HttpApi) && !some.serves(Door::AlarmEvent));
        assert_eq!(
            automated.check(Door::HttpApi).unwrap_err().code().as_str(),
            "door_not_served",
            "a handled, audited refusal"
        );
        for bad in ["people", "unknown", " , "] {
            let err = config(&[base[0], base[1], ("DOORS", bad)]).unwrap_err().to_string();
            assert!(err.starts_with("DOORS:"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn pacing_shares_each_quota_among_the_instances() {
        let base = [("AWS_REGION", "us-east-1"), ("POLICY", POLICY)];
        assert_eq!(config(&base).unwrap().pacing.per_instance(), 1.0, "one instance, the whole quota");
        let c = config(&[base[0], base[1], ("PACING_INSTANCES", "5"), ("PACING_SHARE_PERCENT", "80")]).unwrap();
        assert!((c.pacing.per_instance() - 0.16).abs() < 1e-12);
        for (var, value) in [("PACING_INSTANCES", "0"), ("PACING_SHARE_PERCENT", "101"), ("PACING_SHARE_PERCENT", "x")]
        {
            let err = config(&[base[0], base[1], (var, value)]).unwrap_err().to_string();
            assert!(err.starts_with(var), "{var}={value}: {err}");
        }
    }

    #[test]
    fn rate_limits_parse_and_their_errors_name_the_variable() {
        let base = [("AWS_REGION", "us-east-1"), ("POLICY", POLICY)];
        let c = config(&[base[0], base[1], ("RATE_LIMITS", "StopExecution=5000/1000, DescribeExecution=500/200")]);
        let limits = c.unwrap().rate_limits;
        assert_eq!(limits[0], RateLimit { api: "StopExecution".into(), burst: 5000.0, per_second: 1000.0 });
        assert_eq!(limits.len(), 2);
        for bad in ["StopExecution=1", "StopExecution", "StopExecution=0/1", "StopExecution=a/b"] {
            let err = config(&[base[0], base[1], ("RATE_LIMITS", bad)]).unwrap_err().to_string();
            assert!(err.starts_with("RATE_LIMITS:"), "{bad:?}: {err}");
        }
    }

    fn loaded(c: &Settings) -> &LoadedPolicy {
        match &c.policy {
            PolicySource::Loaded(Ok(policy)) => policy,
            other => panic!("expected a loaded policy, got {other:?}"),
        }
    }

    /// A problem with the policy does not stop the function: it is why every request is `policy_unavailable`.
    #[test]
    fn policy_problems_are_kept_as_the_reason_not_a_start_up_failure() {
        let table: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![], "POLICY: set POLICY (the document), POLICY_FILE (its path) or POLICY_PARAMETER"),
            (vec![("POLICY", POLICY), ("POLICY_FILE", "p.toml")], "POLICY: set one of POLICY, POLICY_FILE"),
            (vec![("POLICY", POLICY), ("POLICY_PARAMETER", "p")], "POLICY: set one of POLICY, POLICY_FILE"),
            (vec![("POLICY_FILE", "p.yaml")], "POLICY_FILE: p.yaml: name a .toml or .json file"),
            (vec![("POLICY_FILE", "missing.toml")], "POLICY_FILE: missing.toml:"),
            (vec![("POLICY", "{\"version\":1}")], "POLICY: invalid policy at rules:"),
        ];
        for (vars, expected) in table {
            let mut vars = vars.clone();
            vars.push(("AWS_REGION", "us-east-1"));
            let c = config(&vars).unwrap();
            let PolicySource::Loaded(Err(why)) = &c.policy else { panic!("{vars:?}: {:?}", c.policy) };
            assert!(why.starts_with(expected), "expected {expected:?}, got {why:?}");
        }
        let c = config(&[("AWS_REGION", "us-east-1"), ("POLICY_PARAMETER", "/stop-gateway/policy")]).unwrap();
        assert!(matches!(c.policy, PolicySource::Parameter { refresh, .. } if refresh == Duration::from_secs(60)));
    }

    #[test]
    fn accepts_bus_names_and_arns() {
        assert!(validate_bus("stop-gateway-audit").is_ok());
        assert!(validate_bus("arn:aws:events:us-east-1:111122223333:event-bus/audit").is_ok());
        assert!(validate_bus("arn:aws:events:us-east-1:111122223333:rule/audit").is_err());
    }
}
