//! The policy tool against the function: its output and exit codes, through the library the binary is a thin
//! wrapper of (the binary itself is run in `crates/policy-tool/tests/cli.rs`). `check` reports every document
//! the function's loader refuses (the same documents fed to both), `explain` agrees with the function on every
//! sample in `events/`, and `diff` finds the decisions two documents disagree on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use stop_gateway_core::policy_doc::{load, sha256_hex};
use testkit::mocks::{RunningWorld, context, example_policy};

const EXAMPLE: &str = include_str!("../../../../policy.example.toml");

/// Runs the tool as its binary would; returns (stdout, exit code).
fn tool(args: &[&str]) -> (String, i32) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let run = stop_gateway_policy::run(&args);
    (run.stdout, run.code)
}

/// Writes a document to a file of its own, with the right extension.
fn file(name: &str, text: &str) -> String {
    let ext = if text.trim_start().starts_with('{') { "json" } else { "toml" };
    let path = std::env::temp_dir().join(format!("stop-gateway-policy-{}-{name}.{ext}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

const TARGETS: &str =
    r#"{ services = ["*"], partitions = ["aws"], accounts = ["111122223333"], regions = ["*"], names = ["*"] }"#;

fn rule(id: &str, effect: &str, callers: &str, targets: &str) -> String {
    format!("[[rules]]\nid = \"{id}\"\neffect = \"{effect}\"\ncallers = {callers}\ntargets = {targets}\n")
}

#[test]
fn the_example_checks_clean_and_names_its_hash() {
    let path = file("example", EXAMPLE);
    let (out, code) = tool(&["check", &path]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("sha256 {}", sha256_hex(EXAMPLE))), "{out}");
    assert!(out.ends_with("0 errors, 0 warnings\n"), "{out}");
}

#[test]
fn check_reports_every_document_the_loader_refuses() {
    let ok = rule("ok", "allow", r#"{ accounts = ["111122223333"] }"#, TARGETS);
    let bad_docs = [
        "version = 1\n[[rules]\n".to_owned(),
        "{\"version\": 1, \"rules\": [}".to_owned(),
        format!("version = 2\n{ok}"),
        format!("version = 1\nunknown_field = 1\n{ok}"),
        format!("version = 1\nmax_executions = 0\n{ok}"),
        format!("version = 1\n{}", rule("a", "allow", r#"{ accounts = ["1234"] }"#, TARGETS)),
        format!("version = 1\n{ok}{ok}"),
        format!("version = 1\n{}", rule("d", "deny", r#"{ accounts = ["*"] }"#, TARGETS)),
        format!("version = 1\n{ok}[rules.reason]\npattern = \"([\"\n"),
        format!(
            "version = 1\n{}",
            rule("n", "allow", r#"{ accounts = ["*"] }"#, &TARGETS.replace("names = [\"*\"]", "names = []"))
        ),
        format!("version = 1\n{}", rule("s", "allow", "{}", TARGETS)),
        format!("version = 1\n[named_targets]\nx = \"arn:aws:states:us-east-1:1:execution:a:b\"\n{ok}"),
    ];
    for (i, doc) in bad_docs.iter().enumerate() {
        let loader = load(doc, "file", None, false).expect_err("the function's loader refuses it");
        let (out, code) = tool(&["check", &file(&format!("bad-{i}"), doc)]);
        assert_eq!(code, 1, "document {i}:\n{doc}\n{out}");
        let loader = loader.to_string();
        let first = loader.split(" (line").next().unwrap();
        assert!(out.contains(first.split(':').next().unwrap()), "document {i}: check names {loader:?}:\n{out}");
        assert!(out.contains("(line "), "document {i}: errors say where:\n{out}");
    }
}

#[test]
fn check_lists_every_broken_rule_with_its_line() {
    let doc = format!(
        "version = 1\n{}{}{}",
        rule("first", "allow", r#"{ accounts = ["1"] }"#, TARGETS),
        rule("fine", "allow", r#"{ accounts = ["111122223333"] }"#, TARGETS),
        rule("third", "allow", r#"{ accounts = ["111122223333"] }"#, &TARGETS.replace("\"aws\"", "\"aws-xx\"")),
    );
    let (out, code) = tool(&["check", &file("several", &doc)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(r#"rules[0] (id "first").callers.accounts[0]"#) && out.contains("(line 2)"), "{out}");
    assert!(out.contains(r#"rules[2] (id "third").targets.partitions[0]"#) && out.contains("(line 12)"), "{out}");
    assert!(out.contains("2 errors"), "{out}");
}

#[test]
fn check_warns_on_rules_that_cannot_match_are_shadowed_or_are_wider_than_their_neighbours() {
    let cases = [
        (
            rule(
                "both",
                "allow",
                r#"{ principals = ["arn:aws:iam::111122223333:user/*"], sources = ["com.example"] }"#,
                TARGETS,
            ),
            "rule \"both\" can never match",
        ),
        (
            rule(
                "nowhere",
                "allow",
                r#"{ accounts = ["111122223333"] }"#,
                &TARGETS.replace("regions = [\"*\"]", "regions = [\"cn-north-1\"]"),
            ),
            "none of its regions is in one of its partitions",
        ),
        (
            format!(
                "{}{}",
                rule(
                    "oncall",
                    "allow",
                    r#"{ accounts = ["111122223333"] }"#,
                    &TARGETS.replace("names = [\"*\"]", "names = [\"orders-api\"]")
                ),
                rule(
                    "no-orders",
                    "deny",
                    r#"{ accounts = ["*"] }"#,
                    &TARGETS.replace("names = [\"*\"]", "names = [\"orders-*\"]")
                ),
            ),
            "allow rule \"oncall\" is shadowed by deny rule \"no-orders\"",
        ),
        (
            format!(
                "{}{}",
                rule(
                    "narrow",
                    "allow",
                    r#"{ accounts = ["111122223333"] }"#,
                    &TARGETS.replace("names = [\"*\"]", "names = [\"orders-api\"]")
                ),
                rule("everything", "allow", r#"{ accounts = ["111122223333"] }"#, TARGETS),
            ),
            "allow rule \"everything\" allows every name where rule \"narrow\" lists them",
        ),
        (
            format!(
                "{}\n[[account_roles]]\naccounts = [\"222233334444\"]\nrole = \"arn:aws:iam::222233334444:role/t\"\n",
                rule(
                    "two-accounts",
                    "allow",
                    r#"{ accounts = ["111122223333"] }"#,
                    &TARGETS
                        .replace(r#"accounts = ["111122223333"]"#, r#"accounts = ["222233334444", "555566667777"]"#)
                ),
            ),
            "allows targets in account 555566667777, which account_roles names no role for",
        ),
        (
            rule("any-region", "allow", r#"{ alarms = ["orders-*"], accounts = ["111122223333"] }"#, TARGETS),
            "alarm rule \"any-region\" lets its alarms stop targets in every region",
        ),
        (
            format!(
                "[[alarm_targets]]\nalarm = \"orders-latch-*\"\ntargets = [\"arn:aws:states:us-east-1:111122223333:execution:orders:run-1\"]\n{}",
                rule(
                    "wide-cap",
                    "allow",
                    r#"{ alarms = ["orders-*"], accounts = ["111122223333"] }"#,
                    &TARGETS.replace("regions = [\"*\"]", "regions = [\"us-east-1\"]"),
                ),
            ),
            "allows 100 executions per request, but its alarms' mappings name 1 executions",
        ),
    ];
    for (i, (rules, warning)) in cases.iter().enumerate() {
        let path = file(&format!("warn-{i}"), &format!("version = 1\n{rules}"));
        let (out, code) = tool(&["check", &path]);
        assert_eq!(code, 0, "warnings alone pass:\n{out}");
        assert!(out.contains(warning) && out.contains("(line "), "expected {warning:?}:\n{out}");
        assert_eq!(tool(&["check", "--deny-warnings", &path]).1, 2, "{out}");
    }
}

/// The decision the tool prints: (effect, rule id).
fn printed_decision(out: &str) -> (String, Option<String>) {
    let line = out.lines().find_map(|l| l.strip_prefix("decision: ")).unwrap();
    let effect = line.split(' ').next().unwrap().to_owned();
    let rule = line.split(" by rule ").nth(1).map(|r| r.split(' ').next().unwrap().to_owned());
    (effect, rule)
}

#[tokio::test]
async fn explain_agrees_with_the_function_on_every_sample() {
    let path = file("explain", EXAMPLE);
    let mut compared = 0;
    let mut entries: Vec<_> = std::fs::read_dir(testkit::repo().join("events")).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let payload = std::fs::read_to_string(entry.path()).unwrap();
        let world = RunningWorld::new();
        let (_, audit) = testkit::mocks::invoke(world.gateway(example_policy()), &payload, context("r")).await;
        let record = serde_json::to_value(&audit[0]).unwrap();
        let (Some(decision), Some(caller)) = (record["decision"].as_object(), record["caller"].as_object()) else {
            continue;
        };
        let caller_arg = match caller["kind"].as_str().unwrap() {
            "iam" => caller["principalArn"].as_str().unwrap().to_owned(),
            "alarm" => caller["alarmArn"].as_str().unwrap().to_owned(),
            _ => format!(
                "eventbridge:{}@{}",
                caller["eventSource"].as_str().unwrap(),
                caller["account"].as_str().unwrap()
            ),
        };
        let mut args = vec!["explain".to_owned(), path.clone(), "--caller".into(), caller_arg];
        args.extend(["--target".into(), record["target"]["arn"].as_str().unwrap().to_owned()]);
        args.extend(["--source".into(), record["source"].as_str().unwrap().to_owned()]);
        if let Some(reason) = record["reason"].as_str() {
            args.extend(["--reason".into(), reason.to_owned()]);
        }
        if let Some(org) = caller.get("orgId").and_then(Value::as_str) {
            args.extend(["--org-id".into(), org.to_owned()]);
        }
        let body: Value = serde_json::from_str(&payload).unwrap();
        let requested =
            body["body"].as_str().and_then(|b| serde_json::from_str::<Value>(b).ok()).or(Some(body["detail"].clone()));
        if let Some(code) = requested.as_ref().and_then(|r| r["error"].as_str()) {
            args.extend(["--error-code".into(), code.to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, code) = tool(&args);
        let expected =
            (decision["effect"].as_str().unwrap().to_owned(), decision["ruleId"].as_str().map(str::to_owned));
        assert_eq!(printed_decision(&out), expected, "{}:\n{out}", entry.path().display());
        assert_eq!(code, if expected.0 == "allow" { 0 } else { 1 }, "{out}");
        compared += 1;
    }
    assert!(compared >= 20, "only {compared} samples reached the policy");
}

#[test]
fn diff_names_the_decisions_that_change() {
    let old = file("diff-old", EXAMPLE);
    let (out, code) = tool(&["diff", &old, &old]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("0 of ") && out.contains(" decisions change"), "{out}");
    let narrowed = EXAMPLE.replacen(r#"names = ["orders-*", "checkout"] }"#, r#"names = ["orders-api"] }"#, 1);
    assert_ne!(narrowed, EXAMPLE);
    let (out, code) = tool(&["diff", &old, &file("diff-new", &narrowed)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.lines().any(|l| l.contains("checkout") && l.contains("allow by oncall-orders → deny")), "{out}");
    assert!(!out.lines().any(|l| l.contains(":orders-api:") && l.contains("→")), "orders-api is still allowed:\n{out}");
}

#[test]
fn a_command_line_it_cannot_use_says_how() {
    let (_, code) = tool(&[]);
    assert_eq!(code, 64);
    assert_eq!(tool(&["explain", "x.toml", "--caller"]).1, 64);
    assert_eq!(tool(&["frobnicate"]).1, 64);
    let (out, code) = tool(&["--help"]);
    assert_eq!((code, out.contains("usage:")), (0, true));
    let missing = tool(&["diff", "/nonexistent/a.toml", "/nonexistent/b.toml"]);
    assert_eq!(missing.1, 3);
}
