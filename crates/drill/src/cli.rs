//! The command line: no arguments runs the drill as a Lambda function (the schedule's), and
//! `--once --stack NAME [--region R] [--deadline SECONDS]` runs the first-deployment check with the operator's
//! own credentials and prints a table.

use std::time::Duration;

use crate::config::{DEFAULT_DEADLINE, parse_deadline};

/// How to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Under the Lambda runtime, configured from the environment.
    Lambda,
    /// One drill per canary and door against a deployed stack, then a table.
    Once {
        /// The stack's name.
        stack: String,
        /// The stack's region, when not the SDK's default.
        region: Option<String>,
        /// How long each drill waits for its stop.
        deadline: Duration,
    },
}

/// What to type.
pub const USAGE: &str = "usage: stop-gateway-drill                      (as the Lambda function)\n       \
                         stop-gateway-drill --once --stack NAME [--region REGION] [--deadline SECONDS]";

/// Reads the arguments (without the program's name).
pub fn parse(args: &[String]) -> Result<Command, String> {
    if args.is_empty() {
        return Ok(Command::Lambda);
    }
    let (mut once, mut stack, mut region, mut deadline) = (false, None, None, DEFAULT_DEADLINE);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = || rest.next().cloned().ok_or_else(|| format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--once" => once = true,
            "--stack" => stack = Some(value()?),
            "--region" => region = Some(value()?),
            "--deadline" => deadline = parse_deadline(&value()?).map_err(|e| format!("--deadline: {e}"))?,
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    match (once, stack) {
        (true, Some(stack)) => Ok(Command::Once { stack, region, deadline }),
        _ => Err(format!("--once and --stack NAME go together\n{USAGE}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn reads_the_lambda_and_the_first_deployment_forms() {
        assert_eq!(parse(&[]), Ok(Command::Lambda));
        assert_eq!(
            parse(&args("--once --stack prod --region eu-west-1 --deadline 90")),
            Ok(Command::Once {
                stack: "prod".into(),
                region: Some("eu-west-1".into()),
                deadline: Duration::from_secs(90)
            })
        );
        assert_eq!(
            parse(&args("--stack prod --once")),
            Ok(Command::Once { stack: "prod".into(), region: None, deadline: DEFAULT_DEADLINE })
        );
    }

    #[test]
    fn refuses_what_it_cannot_read_with_the_usage() {
        for bad in ["--once", "--stack prod", "--once --stack", "--once --stack p --deadline 1", "--now"] {
            let err = parse(&args(bad)).unwrap_err();
            assert!(err.contains("usage: stop-gateway-drill") || err.contains("--deadline"), "{bad}: {err}");
        }
    }
}
