//! The demo behind `scripts/demo`: starts the local AWS stand-ins, starts real executions, runs the real gateway
//! binary on sample events (an on-call engineer over HTTPS, an alarm over EventBridge, a denied request, a dry
//! run), then prints the before/after statuses and the audit trail as it arrived on the audit bus.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a demo: a panic with a message is the report

use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;
use testkit::{
    gateway_process::{GatewayProcess, body, outcome, policy_for, sample},
    standins::Standins,
};

fn gateway_binary() -> PathBuf {
    // The example lives in <target>/<profile>/examples/; the gateway binary one level up.
    let exe = std::env::current_exe().unwrap();
    let binary = exe.parent().and_then(|p| p.parent()).unwrap().join("stop-gateway");
    assert!(binary.exists(), "build the gateway first: cargo build --bin stop-gateway");
    binary
}

fn short(arn: &str) -> String {
    match arn.split_once(":execution:") {
        Some((_, rest)) => format!("sfn      {rest}"),
        None => {
            let tail = arn.split(":function:").nth(1).unwrap_or(arn);
            let function = tail.split(':').next().unwrap_or(tail);
            let id = tail.rsplit('/').next().unwrap_or(tail);
            format!("durable  {function}/…/{}", &id[..id.len().min(8)])
        }
    }
}

fn statuses(s: &Standins, sfn: &[String], durable: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = sfn.iter().map(|a| (short(a), s.sfn_status(a))).collect();
    out.extend(durable.iter().map(|a| (short(a), s.durable_status(a)["Status"].as_str().unwrap_or("?").to_owned())));
    out
}

fn main() {
    println!("stop-gateway demo: the real gateway binary against local AWS stand-ins\n");
    let started = Instant::now();
    let s = Standins::start();
    println!(
        "stand-ins up in {:.1} s: moto (Step Functions, EventBridge, SQS) and AWS's durable-functions server",
        started.elapsed().as_secs_f64()
    );
    let account = s.account();
    let sfn = s.sfn_start("orders-api", 3);
    let durable = s.durable_start("checkout", 1);
    let bus = s.audit_bus();
    let policy = policy_for(&account);
    let gateway = GatewayProcess::start(
        &gateway_binary(),
        &s,
        &[("POLICY", policy.as_str()), ("AUDIT_EVENT_BUS", bus.name.as_str())],
    );

    let before = statuses(&s, &sfn, &durable);
    println!("\nbefore:");
    for (name, status) in &before {
        println!("  {name:<48} {status}");
    }

    let requests = [
        ("on-call engineer, HTTP API, ticket OPS-1234", "apigw-rest-stop-sfn.json", sfn[0].as_str()),
        ("alarm automation, EventBridge \"Stop Requested\"", "eventbridge-stop-sfn.json", sfn[1].as_str()),
        ("on-call engineer without a ticket id", "apigw-http-no-ticket.json", sfn[2].as_str()),
        ("dry run over HTTP", "apigw-http-dry-run.json", sfn[2].as_str()),
        ("on-call engineer, durable execution", "apigw-http-stop-durable.json", durable[0].as_str()),
    ];
    println!("\nrequests:");
    for (i, (what, file, target)) in requests.iter().enumerate() {
        let answer = gateway.invoke(&sample(file, &account, Some(target)));
        let b = body(&answer);
        let status = answer.body["statusCode"].as_i64().map(|c| format!("HTTP {c}")).unwrap_or_else(|| "event".into());
        println!("  {}. {what}\n     {} -> {status} {}", i + 1, short(target), outcome(&answer));
        let detail = b["decision"]["rationale"].as_str().or(b["error"]["message"].as_str()).unwrap_or("");
        println!("     {detail}");
    }

    println!("\nafter:");
    for ((name, was), (_, now)) in before.iter().zip(statuses(&s, &sfn, &durable)) {
        println!("  {name:<48} {was} -> {now}");
    }

    let events = s.audit_events(&bus, requests.len());
    let mut records: Vec<&Value> = events.iter().map(|e| &e["detail"]).collect();
    records.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
    println!("\naudit trail ({} events on the audit bus, read back through SQS):", records.len());
    for r in records {
        let caller = r["caller"]["principalArn"].as_str().or(r["caller"]["eventSource"].as_str()).unwrap_or("-");
        println!(
            "  {}  {:<11} {:<16} rule={:<18} {:<56} {}",
            r["time"].as_str().unwrap_or("?"),
            r["source"].as_str().unwrap_or("?"),
            r["outcome"].as_str().unwrap_or("?"),
            r["decision"]["ruleId"].as_str().unwrap_or("-"),
            caller,
            r["auditId"].as_str().unwrap_or("?"),
        );
    }
    drop(gateway);
    drop(s);
    println!("\ncleaned up; demo took {:.1} s", started.elapsed().as_secs_f64());
}
