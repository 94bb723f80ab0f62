//! Diagnostic logging (audit records are written separately, see `aws::audit_bus`).
//!
//! Honours Lambda's advanced logging controls: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`, the level from
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO. Whatever level is asked for, the runtime and SDK crates
//! are capped at DEBUG: at TRACE they print whole payloads and HTTP exchanges, which must never reach logs.

use tracing_subscriber::filter::{LevelFilter, Targets};

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

/// Builds the filter from the two level variables (`AWS_LAMBDA_LOG_LEVEL` wins). `RUST_LOG` takes a level and
/// `target=level` directives, comma-separated; a directive that does not parse is skipped, as `EnvFilter` does.
/// `Targets` rather than `EnvFilter`: the latter's span and field filters bring a regex engine into the binary,
/// for a syntax the Lambda log-level controls never use.
pub fn filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> Targets {
    let spec = lambda_level.map(level_name).or(rust_log).unwrap_or("info");
    let mut filter = Targets::new().with_default(LevelFilter::INFO);
    for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match directive.parse::<Targets>() {
            // A bare level parses as a default; `with_targets` would drop it.
            Ok(parsed) => match parsed.default_level() {
                Some(level) => filter = filter.with_default(level),
                None => filter = filter.with_targets(parsed),
            },
            Err(err) => eprintln!("ignoring log directive {directive:?}: {err}"),
        }
    }
    // Only a TRACE request needs capping; adding these directives otherwise would raise the crates to DEBUG.
    if !spec.to_ascii_lowercase().contains("trace") {
        return filter;
    }
    filter.with_targets(CAPPED.iter().map(|krate| (*krate, LevelFilter::DEBUG)))
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
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let lambda_level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(lambda_level.as_deref(), rust_log.as_deref());
    let layer = tracing_subscriber::fmt::layer().with_target(false).without_time();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let layer = if json { layer.json().with_current_span(false).boxed() } else { layer.with_ansi(false).boxed() };
    if let Err(err) = tracing_subscriber::registry().with(layer.with_filter(filter)).try_init() {
        eprintln!("logging already initialised: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tracing::Level;

    #[test]
    fn lambda_level_wins_and_payload_crates_are_capped() {
        let f = filter(Some("TRACE"), Some("warn"));
        assert!(f.would_enable("stop_gateway", &Level::TRACE), "{f}");
        assert!(f.would_enable("lambda_runtime::layers", &Level::DEBUG), "{f}");
        assert!(!f.would_enable("lambda_runtime::layers", &Level::TRACE), "payloads stay out: {f}");
        assert!(!f.would_enable("hyper", &Level::TRACE), "{f}");
        let warn = filter(None, Some("warn"));
        assert!(warn.would_enable("stop_gateway", &Level::WARN) && !warn.would_enable("stop_gateway", &Level::INFO));
        let info = filter(Some("INFO"), None);
        assert!(!info.would_enable("aws_smithy_runtime", &Level::DEBUG), "the default level leaves the SDK at INFO");
        assert!(info.would_enable("stop_gateway", &Level::INFO));
        let fatal = filter(Some("FATAL"), None);
        assert!(fatal.would_enable("audit", &Level::ERROR) && !fatal.would_enable("audit", &Level::WARN));
    }

    #[test]
    fn rust_log_takes_targets_and_skips_what_does_not_parse() {
        let f = filter(None, Some("warn,stop_gateway=debug,hyper=loud,aws_smithy_runtime=error"));
        assert!(f.would_enable("stop_gateway::service", &Level::DEBUG), "{f}");
        assert!(!f.would_enable("stop_gateway::service", &Level::TRACE), "{f}");
        assert!(f.would_enable("lambda_runtime", &Level::WARN) && !f.would_enable("lambda_runtime", &Level::INFO));
        assert!(!f.would_enable("aws_smithy_runtime", &Level::WARN), "{f}");
    }
}
