//! `stop-gateway-policy`: check a policy document, explain a decision, and diff two documents, with the
//! function's own loader and evaluation code, so what the tool says is what the function will do.
//!
//! ```text
//! stop-gateway-policy check FILE [--deny-warnings]        exit 0 fine, 1 errors, 2 warnings (with the flag)
//! stop-gateway-policy explain FILE --caller C --target T  exit 0 allow, 1 deny
//!     [--org-id O] [--reason R] [--error-code E] [--source DOOR]
//! stop-gateway-policy diff OLD NEW                        exit 0 no change, 1 decisions change
//! ```
//! A caller is an IAM principal ARN, an alarm ARN, or `eventbridge:SOURCE@ACCOUNT`. Exit 64 for a command line
//! it cannot use, 3 for a document that does not load (explain and diff).

mod alarm_rules;
mod check;
mod diff;
mod explain;

use stop_gateway_core::policy_doc::{LoadedPolicy, load};

pub use check::{Report, check};
pub use explain::{Question, explain};

/// What the command prints and how it exits.
#[derive(Debug)]
pub struct Run {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The exit code.
    pub code: i32,
}

const USAGE: &str = "usage:
  stop-gateway-policy check FILE [--deny-warnings]
  stop-gateway-policy explain FILE --caller CALLER --target ARN [--org-id ID] [--reason TEXT] [--error-code CODE] [--source DOOR]
  stop-gateway-policy diff OLD NEW
CALLER: an IAM principal ARN, an alarm ARN, or eventbridge:SOURCE@ACCOUNT";

fn fail(code: i32, message: impl Into<String>) -> Run {
    Run { stdout: String::new(), stderr: message.into(), code }
}

fn read(path: &str) -> Result<String, Run> {
    std::fs::read_to_string(path).map_err(|e| fail(3, format!("{path}: {e}")))
}

fn loaded(path: &str) -> Result<LoadedPolicy, Run> {
    let text = read(path)?;
    load(&text, "file", None, false).map_err(|e| fail(3, format!("{path}: invalid policy at {e}")))
}

/// Runs one command line (without the program name).
pub fn run(args: &[String]) -> Run {
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => return fail(64, USAGE),
    };
    let result = match command {
        "check" => run_check(rest),
        "explain" => run_explain(rest),
        "diff" => run_diff(rest),
        "-h" | "--help" | "help" => Ok(Run { stdout: format!("{USAGE}\n"), stderr: String::new(), code: 0 }),
        other => Err(fail(64, format!("unknown command {other:?}\n{USAGE}"))),
    };
    result.unwrap_or_else(|run| run)
}

fn run_check(args: &[String]) -> Result<Run, Run> {
    let deny_warnings = args.iter().any(|a| a == "--deny-warnings");
    let paths: Vec<&String> = args.iter().filter(|a| *a != "--deny-warnings").collect();
    let [path] = paths.as_slice() else { return Err(fail(64, USAGE)) };
    let text = read(path)?;
    let (report, _) = check(&text);
    let code = if !report.errors.is_empty() {
        1
    } else if deny_warnings && !report.warnings.is_empty() {
        2
    } else {
        0
    };
    Ok(Run { stdout: check::render(path, &text, &report), stderr: String::new(), code })
}

fn run_explain(args: &[String]) -> Result<Run, Run> {
    let Some((path, flags)) = args.split_first() else { return Err(fail(64, USAGE)) };
    let mut question = Question::default();
    let mut pairs = flags.chunks(2);
    for pair in pairs.by_ref() {
        let [flag, value] = pair else { return Err(fail(64, format!("{} needs a value\n{USAGE}", pair[0]))) };
        let slot = match flag.as_str() {
            "--caller" => &mut question.caller,
            "--target" => &mut question.target,
            "--org-id" => question.org_id.insert(String::new()),
            "--reason" => question.reason.insert(String::new()),
            "--error-code" => question.error_code.insert(String::new()),
            "--source" => question.source.insert(String::new()),
            other => return Err(fail(64, format!("unknown option {other:?}\n{USAGE}"))),
        };
        value.clone_into(slot);
    }
    if question.caller.is_empty() || question.target.is_empty() {
        return Err(fail(64, format!("explain needs --caller and --target\n{USAGE}")));
    }
    let policy = loaded(path)?;
    let (text, allowed) = explain(&policy.policy, &question).map_err(|e| fail(64, e))?;
    let text = format!("policy: {path} (sha256 {})\n{text}", policy.version.sha256);
    Ok(Run { stdout: text, stderr: String::new(), code: if allowed { 0 } else { 1 } })
}

fn run_diff(args: &[String]) -> Result<Run, Run> {
    let [old, new] = args else { return Err(fail(64, USAGE)) };
    let (old, new) = (loaded(old)?, loaded(new)?);
    let (changes, asked) = diff::diff(&old.policy, &new.policy);
    let code = if changes.is_empty() { 0 } else { 1 };
    Ok(Run { stdout: diff::render(&changes, asked), stderr: String::new(), code })
}
