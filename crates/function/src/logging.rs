//! Diagnostic logging (audit records are written separately, see `aws::audit_bus`).
//!
//! Honours Lambda's advanced logging controls: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`, the level from
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO. Whatever level is asked for, the runtime and SDK crates
//! are capped at DEBUG: at TRACE they print whole payloads and HTTP exchanges, which must never reach logs.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// Crates whose TRACE output contains payloads or headers.
const CAPPED: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "hyper",
    "h2",
    "rustls",
];

/// Builds the filter from the two level variables (`AWS_LAMBDA_LOG_LEVEL` wins).
pub fn filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> EnvFilter {
    let spec = lambda_level.map(level_name).or(rust_log).unwrap_or("info");
    let mut filter = EnvFilter::builder().with_default_directive(LevelFilter::INFO.into()).parse_lossy(spec);
    // Only a TRACE request needs capping; adding these directives otherwise would raise the crates to DEBUG.
    if !spec.to_ascii_lowercase().contains("trace") {
        return filter;
    }
    for krate in CAPPED {
        if let Ok(directive) = format!("{krate}=debug").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Lambda names levels in upper case and has FATAL, which tracing calls ERROR.
fn level_name(level: &str) -> &'static str {
    match level.to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        _ => "info",
    }
}

/// Installs the global subscriber.
pub fn init() {
    let lambda_level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(lambda_level.as_deref(), rust_log.as_deref());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).without_time();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let installed =
        if json { builder.json().with_current_span(false).try_init() } else { builder.with_ansi(false).try_init() };
    if let Err(err) = installed {
        eprintln!("logging already initialised: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_level_wins_and_payload_crates_are_capped() {
        let f = filter(Some("TRACE"), Some("warn")).to_string();
        assert!(f.contains("trace"), "{f}");
        assert!(f.contains("lambda_runtime=debug"), "{f}");
        assert!(filter(None, Some("warn")).to_string().contains("warn"));
        let info = filter(Some("INFO"), None).to_string();
        assert!(!info.contains("debug"), "the default level leaves the SDK at INFO: {info}");
        assert!(filter(Some("FATAL"), None).to_string().contains("error"));
    }
}
