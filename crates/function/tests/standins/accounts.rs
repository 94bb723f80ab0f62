//! Targets in other accounts end to end: the real gateway binary running in moto's default account, stopping
//! executions in a second account through a role assumed with moto's STS (which keeps resources per account, so
//! a stop made with the wrong credentials finds nothing). What happened is read back in the account it happened
//! in, and who made each stop is what moto's STS says of the credentials used.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::Value;
use testkit::{
    fault_proxy::{Fault, FaultProxy, FaultRule},
    gateway_process::{GatewayProcess, body, outcome, sample},
    standins::Standins,
};

const OTHER: &str = "222233334444";
const UNCONFIGURED: &str = "555566667777";
const ROLE: &str = "arn:aws:iam::222233334444:role/stop-gateway-target";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_stop-gateway"))
}

fn policy(home: &str) -> String {
    let targets = format!(
        r#"{{ services = ["*"], partitions = ["aws"], accounts = ["{home}", "{OTHER}", "{UNCONFIGURED}"], regions = ["*"], names = ["*"] }}"#
    );
    format!(
        r#"version = 1

[[rules]]
id = "org-oncall"
effect = "allow"
callers = {{ accounts = ["{home}"] }}
targets = {targets}
error_codes = {{ allowed = ["*"] }}

[[rules]]
id = "org-alarms"
effect = "allow"
callers = {{ alarms = ["*"], accounts = ["{home}"] }}
targets = {targets}
max_executions = 1000

[[account_roles]]
accounts = ["{OTHER}"]
role = "{ROLE}"
external_id = "org-external-1"
"#
    )
}

fn moto(s: &Standins) -> String {
    s.env().into_iter().find(|(k, _)| k == "AWS_ENDPOINT_URL_EVENTBRIDGE").unwrap().1
}

#[test]
fn stops_in_another_account_go_through_its_role_and_are_audited_with_both_accounts() {
    let s = Standins::start();
    let home = s.account();
    // STS through a proxy that counts calls and can refuse them.
    let sts = FaultProxy::start(&moto(&s), &[]);
    let policy = policy(&home);
    let gw =
        GatewayProcess::start(binary(), &s, &[("POLICY", policy.as_str()), ("AWS_ENDPOINT_URL_STS", &sts.endpoint())]);

    // One request stops an execution in the other account; read back there.
    let theirs = s.sfn_start_in(OTHER, "orders-cross", 1).remove(0);
    let answer = gw.invoke(&sample("apigw-rest-stop-sfn.json", &home, Some(&theirs)));
    assert_eq!(outcome(&answer), "stopped", "{}", answer.body);
    assert_eq!(s.sfn_status(&theirs), "ABORTED", "stopped in the account it runs in");
    let audit_id = body(&answer)["auditId"].as_str().unwrap().to_owned();
    assert_eq!(
        s.sfn_stop_callers(&theirs),
        vec![format!("arn:aws:sts::{OTHER}:assumed-role/stop-gateway-target/stop-gateway-{audit_id}")],
        "the role session names the audit record"
    );
    let record = &gw.audit_lines(1)[0]["audit"];
    assert_eq!(
        (record["caller"]["account"].as_str(), record["target"]["account"].as_str()),
        (Some(home.as_str()), Some(OTHER))
    );
    let assumed = sts.forwarded();
    assert!(assumed >= 1, "the role was assumed through STS");

    // An account the policy names no role for is refused before any call, STS included.
    let nowhere = format!("arn:aws:states:us-east-1:{UNCONFIGURED}:execution:orders-cross:x");
    let refused = gw.invoke(&sample("apigw-rest-stop-sfn.json", &home, Some(&nowhere)));
    assert_eq!(refused.body["statusCode"], 403);
    assert_eq!(outcome(&refused), "account_not_configured");
    assert_eq!(sts.forwarded(), assumed, "no STS call for an unconfigured account");

    // A role that cannot be assumed is a clear, audited error naming it; nothing is stopped.
    let second = s.sfn_start_in(OTHER, "orders-cross", 1).remove(0);
    sts.set_rules(&[FaultRule::always(
        "/",
        Fault::Answer { status: 403, error_type: "AccessDenied", retry_after: None },
    )]);
    let denied = gw.invoke(&sample("apigw-rest-stop-sfn.json", &home, Some(&second)));
    assert_eq!(outcome(&denied), "upstream_error", "{}", denied.body);
    let message = body(&denied)["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains(ROLE) && message.contains(OTHER), "{message}");
    assert_eq!(s.sfn_status(&second), "RUNNING");
    sts.set_rules(&[]);

    // One alarm, two accounts: each state machine's executions stopped in its own account, each audited with it.
    let ours = s.sfn_start("orders-home-fleet", 3);
    let fleet = s.sfn_start_in(OTHER, "orders-other-fleet", 3);
    let mut event: Value = serde_json::from_str(&sample("alarm-event-tags.json", &home, None)).unwrap();
    event["detail"]["alarmTags"]["stop-gateway:target"] = Value::String(format!(
        "arn:aws:states:us-east-1:{home}:stateMachine:orders-home-fleet arn:aws:states:us-east-1:{OTHER}:stateMachine:orders-other-fleet"
    ));
    let bulk = gw.invoke(&event.to_string());
    assert_eq!(outcome(&bulk), "stopped", "{}", bulk.body);
    assert_eq!(body(&bulk)["counts"]["stopped"], 6);
    for arn in ours.iter().chain(&fleet) {
        assert_eq!(s.sfn_status(arn), "ABORTED", "{arn}");
    }
    let lines = gw.audit_lines(4 + 6);
    let executions: Vec<&Value> = lines.iter().filter(|l| l["audit"]["recordType"] == "execution").collect();
    let in_account = |a: &str| executions.iter().filter(|l| l["audit"]["target"]["account"] == a).count();
    assert_eq!((in_account(&home), in_account(OTHER)), (3, 3));
}
