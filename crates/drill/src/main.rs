//! The drill binary: as a Lambda function (no arguments) it runs one drill per canary on each scheduled
//! invocation and answers normally whatever the verdict (a retry would start a second drill, with a second
//! audit id); with `--once --stack NAME` it is the first-deployment check, run by an operator, printing a table
//! and exiting 1 unless every drill passed.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use stop_gateway_drill::aws::{self, Aws};
use stop_gateway_drill::cli::{self, Command};
use stop_gateway_drill::config::DrillConfig;
use stop_gateway_drill::{drill, report, stack};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::parse(&args) {
        Err(usage) => {
            eprintln!("{usage}");
            ExitCode::from(2)
        }
        Ok(Command::Lambda) => match lambda().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!("{err}");
                ExitCode::FAILURE
            }
        },
        Ok(Command::Once { stack, region, deadline }) => once(&stack, region, deadline).await,
    }
}

/// The scheduled drill: settings from the environment (an error stops it at start-up, naming the variable), then
/// the runtime loop.
async fn lambda() -> Result<(), lambda_runtime::Error> {
    init_logging(true);
    let config = DrillConfig::from_env().map_err(|err| format!("configuration error: {err}"))?;
    let aws = Aws::new(&aws::load(None).await);
    let (aws, config) = (&aws, &config);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let reports = drill::run_all(aws, config).await;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let mut out = std::io::stdout().lock();
        for report in &reports {
            report.log();
            // One write per line, so the metrics line is never interleaved with a log line.
            let line = format!("{}\n", report.metrics_line(&config.metrics_namespace, now));
            let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
        }
        Ok::<Value, lambda_runtime::Error>(report::run_summary(&reports))
    }))
    .await
}

/// The first-deployment check against `stack`, with the operator's credentials.
async fn once(stack_name: &str, region: Option<String>, deadline: Duration) -> ExitCode {
    init_logging(false);
    let aws = Aws::new(&aws::load(region).await);
    eprintln!(
        "stop-gateway-drill: drilling stack {stack_name} through the Stop Requested door, {}s each",
        deadline.as_secs()
    );
    match stack::check(&aws, stack_name, deadline).await {
        Err(why) => {
            eprintln!("stop-gateway-drill: {why}");
            ExitCode::from(2)
        }
        Ok((config, reports)) => {
            println!("stack {stack_name}: stop-request bus {}", config.door.bus);
            print!("{}", report::table(&reports));
            if reports.iter().all(report::Report::passed) { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
    }
}

/// JSON lines on stdout in Lambda (the log format the template sets); plain warnings on stderr for an operator,
/// whose stdout holds the table. `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` choose the level.
fn init_logging(lambda: bool) {
    use tracing_subscriber::EnvFilter;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG"));
    let default = if lambda { "info" } else { "warn" };
    let filter = EnvFilter::try_new(level.unwrap_or_else(|_| default.to_owned()).to_lowercase())
        .unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = if lambda {
        builder.json().flatten_event(true).without_time().with_writer(std::io::stdout).try_init()
    } else {
        builder.with_writer(std::io::stderr).try_init()
    };
}
