//! Bypass attempts through the real handler: look-alike and over-long ARNs, other partitions and accounts,
//! case and unicode tricks, encoded slashes, identity smuggled into the body, events from unexpected sources
//! and accounts, oversized reasons and bodies, deeply nested JSON. Every one is rejected or denied with a
//! clear code, stops nothing, and leaves exactly one audit record.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use stop_gateway_core::domain::audit::AuditEvent;
use testkit::mocks::{RunningWorld, example_policy, invoke as invoke_handler};

const SFN: &str = "arn:aws:states:us-east-1:111122223333:execution:orders-api:order-run-0042";

async fn invoke(payload: &str) -> (Value, Vec<AuditEvent>, RunningWorld) {
    let world = RunningWorld::new();
    let (result, events) =
        invoke_handler(world.gateway(example_policy()), payload, testkit::mocks::context("bypass")).await;
    (result.expect("handled, not an invocation error"), events, world)
}

/// The HTTP API sample with its body replaced.
fn http_with_body(body: &str) -> String {
    let mut event: Value = serde_json::from_str(include_str!("../../../../events/apigw-http-dry-run.json")).unwrap();
    event["body"] = Value::String(body.to_owned());
    event.to_string()
}

fn code(response: &Value) -> (u64, String) {
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    (response["statusCode"].as_u64().unwrap(), body["error"]["code"].as_str().unwrap_or("none").to_owned())
}

async fn assert_refused(case: &str, payload: &str, expected: (u64, &str)) {
    let (response, audit, world) = invoke(payload).await;
    let (status, code) = code(&response);
    assert_eq!((status, code.as_str()), expected, "{case}");
    assert_eq!(audit.len(), 1, "{case}: one audit record");
    assert_eq!(audit[0].outcome.as_str(), expected.1, "{case}");
    assert!(
        world.sfn_stops.lock().unwrap().is_empty() && world.durable_stops.lock().unwrap().is_empty(),
        "{case}: nothing stopped"
    );
}

#[tokio::test]
async fn crafted_target_arns_are_refused() {
    let long = format!("arn:aws:states:us-east-1:111122223333:execution:orders-api:{}", "r".repeat(5000));
    let cases: Vec<(&str, String, (u64, &str))> = vec![
        ("Cyrillic look-alike in the machine name", SFN.replace("orders", "оrders"), (400, "invalid_request")),
        ("fullwidth letters", SFN.replace("orders", "ｏrders"), (400, "invalid_request")),
        ("zero-width joiner", SFN.replace("orders", "ord\u{200d}ers"), (400, "invalid_request")),
        ("upper-case service", SFN.replace(":states:", ":STATES:"), (400, "invalid_request")),
        ("encoded slash", SFN.replace("orders-api", "orders%2Fapi"), (400, "invalid_request")),
        // `..` is a well-formed state machine name, so this is a Map Run child of a machine no rule allows.
        ("path traversal", SFN.replace("orders-api", "../orders-api"), (403, "denied")),
        (
            "a Map Run child of an allowed machine",
            SFN.replace("orders-api", "orders-api/fanout"),
            (409, "not_stoppable"),
        ),
        ("a Map Run child with two labels", SFN.replace("orders-api", "orders-api/a/b"), (400, "invalid_request")),
        ("trailing newline", format!("{SFN}\n"), (400, "invalid_request")),
        ("over-long", long, (400, "invalid_request")),
        (
            "other partition (outside the allow rule)",
            SFN.replace("arn:aws:", "arn:aws-us-gov:").replace("us-east-1", "us-gov-west-1"),
            (403, "denied"),
        ),
        ("other account (outside the allow rule)", SFN.replace("111122223333", "999988887777"), (403, "denied")),
        ("ledger, protected by a deny rule", SFN.replace("orders-api", "ledger-core"), (403, "denied")),
        ("name glob is not a prefix match", SFN.replace("orders-api", "xorders-api"), (403, "denied")),
    ];
    for (case, arn, expected) in cases {
        let body = json!({"targetArn": arn, "reason": "OPS-1 bypass attempt"}).to_string();
        assert_refused(case, &http_with_body(&body), expected).await;
    }
}

#[tokio::test]
async fn identity_in_the_body_is_refused_and_never_trusted() {
    for field in ["caller", "principalArn", "userArn", "accountId", "requestContext"] {
        let body = json!({"targetArn": SFN, "reason": "OPS-1 trust me", field: "arn:aws:sts::111122223333:assumed-role/OnCall/bob"}).to_string();
        assert_refused(field, &http_with_body(&body), (400, "invalid_request")).await;
    }
    // Without an IAM identity in the context, a body that claims one is still unauthenticated.
    let mut event: Value =
        serde_json::from_str(include_str!("../../../../events/apigw-http-no-iam-identity.json")).unwrap();
    event["body"] = Value::String(json!({"targetArn": SFN, "reason": "OPS-1 trust me"}).to_string());
    assert_refused("no identity", &event.to_string(), (401, "unauthenticated")).await;
}

#[tokio::test]
async fn explicit_nulls_and_out_of_range_numbers_are_refused() {
    // `"dryRun": null` must not quietly become a real stop; a count beyond u32 is not a confirmation.
    for (field, value) in [
        ("dryRun", json!(null)),
        ("error", json!(null)),
        ("confirmCount", json!(null)),
        ("confirmCount", json!(-1)),
        ("confirmCount", json!(4_294_967_296u64)),
        ("dryRun", json!("true")),
    ] {
        let mut body = json!({"targetArn": SFN, "reason": "OPS-1 runaway"});
        body[field] = value.clone();
        assert_refused(&format!("{field}: {value}"), &http_with_body(&body.to_string()), (400, "invalid_request"))
            .await;
    }
}

#[tokio::test]
async fn oversized_and_deeply_nested_bodies_are_refused() {
    let huge_reason = json!({"targetArn": SFN, "reason": format!("OPS-1 {}", "x".repeat(30_000))}).to_string();
    assert_refused("reason over the API limit", &http_with_body(&huge_reason), (400, "invalid_request")).await;
    let six_mb = json!({"targetArn": SFN, "reason": "x".repeat(6 * 1024 * 1024)}).to_string();
    assert_refused("6 MB body", &http_with_body(&six_mb), (413, "payload_too_large")).await;
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_refused("deeply nested JSON body", &http_with_body(&nested), (400, "invalid_request")).await;
    let duplicate = format!(
        r#"{{"targetArn": "{SFN}", "reason": "OPS-1 a", "targetArn": "arn:aws:states:us-east-1:111122223333:execution:ledger-core:x"}}"#
    );
    assert_refused("duplicate targetArn keys", &http_with_body(&duplicate), (400, "invalid_request")).await;
}

#[tokio::test]
async fn events_from_unexpected_sources_or_accounts_stop_nothing() {
    let base: Value = serde_json::from_str(include_str!("../../../../events/eventbridge-stop-sfn.json")).unwrap();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("look-alike source", json!({"source": "com.example.alarms.evil"}), "denied"),
        ("source with a suffix space", json!({"source": "com.example.alarms "}), "invalid_request"),
        ("another account", json!({"account": "999988887777"}), "denied"),
        ("an AWS service source", json!({"source": "aws.events"}), "denied"),
        ("a malformed account", json!({"account": "11112222333x"}), "invalid_request"),
    ];
    for (case, patch, expected) in cases {
        let mut event = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            event[k] = v.clone();
        }
        let (response, audit, world) = invoke(&event.to_string()).await;
        assert_eq!(response["error"]["code"], expected, "{case}");
        assert_eq!(audit.len(), 1, "{case}");
        assert!(world.sfn_stops.lock().unwrap().is_empty(), "{case}");
    }
}

/// A sample made ambiguous: `key` said twice, the first time with `first` (already JSON-encoded).
fn twice(sample: &str, key: &str, first: &str) -> String {
    let compact = serde_json::from_str::<Value>(sample).unwrap().to_string();
    let needle = format!("\"{key}\":");
    assert!(compact.contains(&needle), "{key} in the sample");
    compact.replacen(&needle, &format!("{needle}{first},{needle}"), 1)
}

#[tokio::test]
async fn a_key_said_twice_is_refused_on_every_door() {
    let other = "\"arn:aws:states:us-east-1:111122223333:execution:ledger-core:x\"";
    let cases = [
        ("EventBridge detail", twice(include_str!("../../../../events/eventbridge-stop-sfn.json"), "targetArn", other)),
        (
            "EventBridge envelope",
            twice(include_str!("../../../../events/eventbridge-stop-sfn.json"), "account", "\"999988887777\""),
        ),
        ("REST envelope", twice(include_str!("../../../../events/apigw-rest-stop-sfn.json"), "httpMethod", "\"GET\"")),
        (
            "HTTP API identity",
            twice(
                include_str!("../../../../events/apigw-http-dry-run.json"),
                "userArn",
                "\"arn:aws:iam::111122223333:root\"",
            ),
        ),
        (
            "function URL path",
            twice(include_str!("../../../../events/function-url-stop-sfn.json"), "rawPath", "\"/x\""),
        ),
        (
            "alarm event tags",
            twice(include_str!("../../../../events/alarm-event-tags.json"), "stop-gateway:target", other),
        ),
        ("alarm event state", twice(include_str!("../../../../events/alarm-event-tags.json"), "value", "\"OK\"")),
        ("alarm action", twice(include_str!("../../../../events/alarm-action-direct.json"), "alarmName", "\"other\"")),
    ];
    for (case, payload) in cases {
        let (response, audit, world) = invoke(&payload).await;
        let (status, code) = match response.get("body").and_then(Value::as_str) {
            Some(_) => code(&response),
            None => (400, response["error"]["code"].as_str().unwrap_or("none").to_owned()),
        };
        assert_eq!((status, code.as_str()), (400, "invalid_request"), "{case}: {response}");
        let message = audit[0].message.as_deref().unwrap_or_default();
        assert!(message.contains("appears twice"), "{case}: {message}");
        assert_eq!(audit.len(), 1, "{case}: one audit record");
        assert!(
            world.sfn_stops.lock().unwrap().is_empty() && world.durable_stops.lock().unwrap().is_empty(),
            "{case}: nothing stopped"
        );
    }
}
