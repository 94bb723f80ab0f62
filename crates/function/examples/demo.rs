//! The demo behind `scripts/demo`: the real gateway binary against the local AWS stand-ins, in four short
//! sections (people and automation stop single executions; an alarm stops a fleet; a latching alarm holds its
//! targets stopped until it returns to OK; a stop lands in a second account through its role), then the audit
//! trail as it arrived on the audit bus. Every step checks what it shows, so a step that behaves otherwise ends
//! the demo with a message and a non-zero exit instead of a misleading table.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a demo: a panic with a message is the report

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;
use testkit::gateway_process::{GatewayProcess, alarm_state_change, body, outcome, policy_for, sample};
use testkit::gateway_process::{status_change_now, sweep_now};
use testkit::runtime_api::Invocation;
use testkit::standins::{AuditBus, Standins};

/// The second account (moto keeps resources per account) and the role the gateway assumes there.
const OTHER: &str = "222233334444";
const ROLE: &str = "arn:aws:iam::222233334444:role/stop-gateway-target";

/// Added to the example policy: a latching alarm route, and on-call stops in the second account through its role.
const POLICY_ADDITIONS: &str = r#"
[[alarm_targets]]
alarm = "orders-billing-errors"
latch = true
targets = ["arn:aws:states:us-east-1:HOME:stateMachine:orders-billing", "arn:aws:lambda:us-east-1:HOME:function:orders-billing-worker"]

[[rules]]
id = "oncall-orders-member"
effect = "allow"
callers = { principals = ["arn:aws:sts::HOME:assumed-role/OnCall/*"], org_ids = ["o-a1b2c3d4e5"] }
targets = { services = ["states"], partitions = ["aws"], accounts = ["OTHER"], regions = ["us-east-1"], names = ["orders-*"] }
reason = { pattern = "[A-Z]+-[0-9]+" }
error_codes = { allowed = ["Ops.*"] }

[[account_roles]]
accounts = ["OTHER"]
role = "ROLE"
"#;

const BREACHED: &str =
    "Threshold Crossed: 1 out of the last 1 datapoints [7.0] was greater than or equal to the threshold";

/// The stand-ins, the gateway under them, and how many audit records the steps so far must have produced.
struct Demo {
    gw: GatewayProcess, // first, so it is dropped first: the gateway stops before the stand-ins it talks to
    s: Standins,
    bus: AuditBus,
    home: String,
    records: usize,
}

impl Demo {
    fn start() -> Demo {
        let s = Standins::start();
        let home = s.account();
        let added = POLICY_ADDITIONS.replace("HOME", &home).replace("OTHER", OTHER).replace("ROLE", ROLE);
        let (policy, bus) = (policy_for(&home) + &added, s.audit_bus());
        // Every latch check reads CloudWatch afresh, so the release shows at once rather than after the cache window.
        let env = [("POLICY", policy.as_str()), ("AUDIT_EVENT_BUS", bus.name.as_str()), ("LATCH_CACHE_SECONDS", "0")];
        let gw = GatewayProcess::start(&gateway_binary(), &s, &env);
        Demo { gw, s, bus, home, records: 0 }
    }

    /// Invokes the gateway, checks its outcome; `records` is how many audit records the invocation must write.
    #[track_caller]
    fn invoke(&mut self, payload: &str, want: &str, records: usize) -> Invocation {
        self.records += records;
        let answer = self.gw.invoke(payload);
        let got = outcome(&answer);
        check(got == want, format!("the gateway should answer {want}, answered {got}: {}", answer.body));
        answer
    }

    /// The audit record the gateway logged for an answer.
    fn record(&self, answer: &Invocation) -> Value {
        let id = body(answer)["auditId"].clone();
        let mut records = self.gw.audit_lines(self.records).into_iter().map(|l| l["audit"].clone());
        records.find(|r| r["auditId"] == id).unwrap_or_else(|| panic!("no audit record {id} in the gateway's log"))
    }

    fn statuses(&self, arns: &[String]) -> Vec<String> {
        let status = |a: &String| match a.contains(":execution:") {
            true => self.s.sfn_status(a),
            false => self.s.durable_status(a)["Status"].as_str().unwrap_or("?").to_owned(),
        };
        arns.iter().map(status).collect()
    }

    /// Prints each execution's status before and after, then checks the after column is what the step leaves.
    fn before_after(&self, arns: &[String], before: &[String], want: &[&str]) {
        let after = self.statuses(arns);
        let mut rows = vec![row(["execution", "before", "after"])];
        rows.extend(arns.iter().zip(before).zip(&after).map(|((a, b), n)| row([&name(a), b, n])));
        table(&rows);
        for ((arn, now), want) in arns.iter().zip(&after).zip(want) {
            check(now == want, format!("{} should be {want} now, but is {now}", name(arn)));
        }
    }
}

fn main() {
    std::panic::set_hook(Box::new(|info| eprintln!("\nDEMO FAILED: {info}")));
    let started = Instant::now();
    println!("stop-gateway demo: the real gateway binary against local AWS stand-ins");
    let mut d = Demo::start();
    let up = started.elapsed().as_secs_f64();
    println!("stand-ins up in {up:.1} s: moto (Step Functions, CloudWatch, EventBridge, SQS, STS), durable functions");
    single_stops(&mut d);
    alarm_fleet(&mut d);
    latch(&mut d);
    other_account(&mut d);
    audit_trail(&d);
    let (records, logs) = (d.records, d.s.state["moto"]["log"].as_str().map(PathBuf::from));
    drop(d);
    remove_run_dir(logs.as_deref());
    let took = started.elapsed().as_secs_f64();
    println!("\nShown: single stops over HTTP and EventBridge, a denial, a dry run; an alarm stopping a fleet of 5;");
    println!("a latch stopping 4, then releasing itself; a stop in {OTHER} through its role; {records} audit records.");
    println!("Gateway and stand-ins stopped; {took:.1} s in all.");
}

fn single_stops(d: &mut Demo) {
    title("1. People and automation stop single executions");
    let runs = d.s.sfn_start("orders-api", 3);
    let requests = [
        ("on-call engineer over HTTPS, ticket OPS-1234", "apigw-rest-stop-sfn.json", &runs[0], "stopped"),
        ("automation over EventBridge (Stop Requested)", "eventbridge-stop-sfn.json", &runs[1], "stopped"),
        ("on-call engineer without a ticket id", "apigw-http-no-ticket.json", &runs[2], "denied"),
        ("the same, as a dry run with a ticket", "apigw-http-dry-run.json", &runs[2], "dry_run"),
    ];
    let before = d.statuses(&runs);
    let (mut rows, mut denial) = (vec![row(["request", "target", "answer", "rule"])], String::new());
    for (who, file, target, want) in requests {
        let answer = d.invoke(&sample(file, &d.home, Some(target)), want, 1);
        let door = answer.body["statusCode"].as_i64().map_or("event".to_owned(), |c| format!("HTTP {c}"));
        let decision = &body(&answer)["decision"];
        rows.push(row([who, &name(target), &format!("{door} {want}"), decision["ruleId"].as_str().unwrap_or("-")]));
        if want == "denied" {
            denial = decision["rationale"].as_str().unwrap_or_default().to_owned();
        }
    }
    table(&rows);
    println!("   denied: {denial}");
    d.before_after(&runs, &before, &["ABORTED", "ABORTED", "RUNNING"]);
}

fn alarm_fleet(d: &mut Demo) {
    title("2. An alarm stops a fleet");
    let (alarm, machine) =
        ("orders-fulfilment-errors", format!("arn:aws:states:us-east-1:{}:stateMachine:orders-fulfilment", d.home));
    let fleet = d.s.sfn_start("orders-fulfilment", 5);
    d.s.alarm_put(alarm, &[("StateMachineArn", &machine)], &[]);
    let previous = d.s.alarm_describe(alarm);
    d.s.alarm_state_because(alarm, "ALARM", BREACHED);
    let now = d.s.alarm_describe(alarm);
    check(now["StateValue"] == "ALARM", format!("alarm {alarm} should be in ALARM: {now}"));
    println!("   alarm {alarm}, dimension StateMachineArn={machine}");
    let was = previous["StateValue"].as_str().unwrap_or("?");
    println!("   {was} -> ALARM; its \"CloudWatch Alarm State Change\" event reaches the gateway");
    let before = d.statuses(&fleet);
    let answer = d.invoke(&alarm_state_change(&previous, &now), "stopped", 1 + fleet.len());
    let (counts, record) = (&body(&answer)["counts"], d.record(&answer));
    let resolution = record["resolution"].as_str().unwrap_or("none");
    check(counts["stopped"] == 5, format!("the alarm should stop all 5 executions: {counts}"));
    check(resolution == "metric-dimensions", format!("targets from the dimension, not {resolution}"));
    println!("   answer: stopped, counts {counts}; the audit record's resolution: {resolution}");
    d.before_after(&fleet, &before, &["ABORTED"; 5]);
}

fn latch(d: &mut Demo) {
    title("3. A latching alarm keeps its targets stopped until it returns to OK");
    let alarm = "orders-billing-errors";
    let machine = format!("arn:aws:states:us-east-1:{}:stateMachine:orders-billing", d.home);
    d.s.alarm_put(alarm, &[("StateMachineArn", &machine)], &[]);
    d.s.alarm_state_because(alarm, "ALARM", BREACHED);
    println!("   alarm {alarm} is in ALARM; the policy latches orders-billing and orders-billing-worker to it");
    let header = row(["execution", "what reaches the gateway", "answer", "before", "after"]);
    let started = "started now: its status-change event";
    let late = d.s.sfn_start("orders-billing", 1);
    let mut rows = vec![header.clone()];
    rows.extend(d.latch_step(&labelled(&late, started), &status_change_now(&d.home, &late[0]), "stopped", 1));
    let mut swept = labelled(&d.s.sfn_start("orders-billing", 1), "its event was lost: the sweep");
    swept.extend(labelled(&d.s.durable_start("orders-billing-worker", 2), "durable, sends none: the sweep"));
    rows.extend(d.latch_step(&swept, &sweep_now(&d.home), "stopped", 1 + swept.len()));
    table(&rows);
    d.s.alarm_state_because(alarm, "OK", "Threshold Crossed: no datapoints were above the threshold");
    println!("   the alarm returns to OK; nobody tells the gateway");
    let free = d.s.sfn_start("orders-billing", 1);
    let mut rows = vec![header];
    rows.extend(d.latch_step(&labelled(&free, started), &status_change_now(&d.home, &free[0]), "ignored", 1));
    rows.extend(d.latch_step(&labelled(&free, "and the next sweep"), &sweep_now(&d.home), "ignored", 1));
    table(&rows);
}

impl Demo {
    /// Sends `event` and returns a row per execution: how the gateway learned of it, its answer, its status before
    /// and after (checked: stopped on a stop, still running otherwise).
    fn latch_step(&mut self, runs: &[(String, &str)], event: &str, want: &str, records: usize) -> Vec<Vec<String>> {
        let arns: Vec<String> = runs.iter().map(|(arn, _)| arn.clone()).collect();
        let before = self.statuses(&arns);
        self.invoke(event, want, records);
        let after = self.statuses(&arns);
        let mut rows = Vec::new();
        for (((arn, how), was), now) in runs.iter().zip(&before).zip(&after) {
            let stopped = now == "ABORTED" || now == "STOPPED";
            check(stopped == (want == "stopped"), format!("{} is {now} after a latch answer of {want}", name(arn)));
            rows.push(row([&name(arn), how, want, was, now]));
        }
        rows
    }
}

fn other_account(d: &mut Demo) {
    title("4. A stop lands in a second account through its role");
    let run = d.s.sfn_start_in(OTHER, "orders-refunds", 1);
    let before = d.statuses(&run);
    println!("   an on-call engineer in account {} stops an execution in account {OTHER}", d.home);
    println!("   policy: [[account_roles]] accounts = [\"{OTHER}\"], role = \"{ROLE}\"");
    let answer = d.invoke(&sample("apigw-rest-stop-sfn.json", &d.home, Some(&run[0])), "stopped", 1);
    d.before_after(&run, &before, &["ABORTED"]);
    let record = d.record(&answer);
    let audit_id = record["auditId"].as_str().unwrap();
    let session = format!("arn:aws:sts::{OTHER}:assumed-role/stop-gateway-target/stop-gateway-{audit_id}");
    let callers = d.s.sfn_stop_callers(&run[0]);
    check(callers == [session.clone()], format!("the stop should be made by {session}, was by {callers:?}"));
    println!("   StopExecution made by {session} (as moto's STS names it)");
    let accounts = (record["caller"]["account"].as_str(), record["target"]["account"].as_str());
    check(accounts == (Some(d.home.as_str()), Some(OTHER)), format!("the record names both accounts: {record}"));
    println!("   audit record {audit_id}: caller account {}, target account {OTHER}", d.home);
}

/// Prints the audit records as they arrived on the bus, after checking they are every record the gateway logged.
fn audit_trail(d: &Demo) {
    let logged: Vec<Value> = d.gw.audit_lines(d.records).into_iter().map(|l| l["audit"].clone()).collect();
    let events = d.s.audit_events(&d.bus, d.records);
    let mut records: Vec<&Value> = events.iter().map(|e| &e["detail"]).collect();
    records.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
    let ids = |rs: &mut dyn Iterator<Item = &Value>| rs.map(|r| r["auditId"].to_string()).collect::<BTreeSet<_>>();
    let on_bus = ids(&mut records.iter().copied()) == ids(&mut logged.iter());
    let what = format!("expected {} audit records, logged {}, on the bus {}", d.records, logged.len(), records.len());
    check(logged.len() == d.records && on_bus, what);
    title(&format!("Audit trail: {} records on the audit bus, read back through SQS", records.len()));
    let mut rows = vec![row(["source", "caller", "outcome", "target", "audit id"])];
    for r in records {
        let c = &r["caller"];
        let caller = c["principalArn"].as_str().map(|p| p.split_once("::").map_or(p, |(_, rest)| rest));
        let alarm = c["alarmArn"].as_str().map(|a| a.rsplit(':').next().unwrap());
        // A bulk stop's record per execution goes under its request's record; a request's further targets count.
        let item = if r["recordType"] == "execution" { "└ " } else { "" };
        let more = r["target"]["additional"].as_array().map_or(String::new(), |a| format!(" +{}", a.len()));
        let target = r["target"]["arn"].as_str().map_or("-".to_owned(), |a| format!("{item}{}{more}", name(a)));
        let field = |f: &str| r[f].as_str().unwrap_or("-").to_owned();
        let caller = caller.or(c["eventSource"].as_str()).or(alarm).unwrap_or("-");
        rows.push(row([&field("source"), caller, &field("outcome"), &target, &field("auditId")]));
    }
    table(&rows);
}

/// Executions, each with a note of how the gateway learns of it.
fn labelled<'a>(arns: &[String], how: &'a str) -> Vec<(String, &'a str)> {
    arns.iter().map(|arn| (arn.clone(), how)).collect()
}

/// Removes the stand-ins' run directory (`<dir>/state.json.logs/moto.log`) once they have stopped; only after a
/// run that succeeded: a failed one keeps its logs.
fn remove_run_dir(moto_log: Option<&Path>) {
    let dir = moto_log.and_then(Path::parent).and_then(Path::parent);
    let ours = |d: &&Path| d.file_name().is_some_and(|n| n.to_string_lossy().starts_with("stop-gateway-e2e-"));
    if let Some(dir) = dir.filter(ours) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn gateway_binary() -> PathBuf {
    // The example lives in <target>/<profile>/examples/; the gateway binary one level up.
    let exe = std::env::current_exe().unwrap();
    let binary = exe.parent().and_then(|p| p.parent()).unwrap().join("stop-gateway");
    check(binary.exists(), "build the gateway first: cargo build --bin stop-gateway".into());
    binary
}

/// A short name: an execution's name, a durable execution's function and id, else the ARN's resource; prefixed
/// with the account when it is the second one.
fn name(arn: &str) -> String {
    let account = if arn.split(':').nth(4) == Some(OTHER) { format!("{OTHER}:") } else { String::new() };
    let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
    let short = if let Some(execution) = resource.strip_prefix("execution:") {
        execution.rsplit(':').next().unwrap().to_owned()
    } else if let Some((function, execution)) = resource.split_once("/durable-execution/") {
        let id = execution.rsplit('/').next().unwrap();
        format!("{}/…/{}", function.split(':').nth(1).unwrap(), &id[..id.len().min(8)])
    } else {
        resource.to_owned()
    };
    account + &short
}

fn title(text: &str) {
    println!("\n{text}\n{}", "=".repeat(text.chars().count()));
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

/// Prints rows as aligned columns, the first row as the header, underlined.
fn table(rows: &[Vec<String>]) {
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap()).collect();
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    for r in rows.iter().take(1).chain([&rule]).chain(rows.iter().skip(1)) {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("   {}", cells.join("  ").trim_end());
    }
}

/// Ends the demo when a step misbehaves; the panic unwinds, so the gateway and the stand-ins are still stopped.
#[track_caller]
fn check(ok: bool, what: String) {
    assert!(ok, "{what}");
}
