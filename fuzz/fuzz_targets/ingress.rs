//! Ingress: any JSON payload through shape detection and parsing, then policy evaluation of what it asks for
//! (against the committed example policy) and rendering of the answer. Never panics; a parsed request always
//! names at least one canonical target and an attested caller; every decision obeys deny-wins.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use serde_json::value::RawValue;
use stop_gateway::config::policy_doc::{Format, PolicyDocument, parse_policy};
use stop_gateway::domain::policy::Subject;
use stop_gateway::error::Status;
use stop_gateway::inbound::{self, Parsed, reply};
use stop_gateway_fuzz::{check_decision, check_round_trip};

static POLICY: LazyLock<PolicyDocument> = LazyLock::new(|| {
    parse_policy(include_str!("../../policy.example.toml"), Format::Toml).expect("the example policy parses")
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(payload) = serde_json::from_str::<Box<RawValue>>(text) else { return };
    let parsed = inbound::parse(&payload, &POLICY.routing);
    if let Ok(Parsed::Stop(request)) = &parsed.request {
        assert!(!request.targets.is_empty(), "a stop request names a target");
        assert_eq!(request.source, parsed.source, "the request keeps the door it came through");
        for target in &request.targets {
            check_round_trip(target);
            let subject = Subject {
                caller: &request.caller,
                target,
                reason: &request.reason,
                error_code: request.error_code.as_ref(),
            };
            check_decision(&POLICY.policy, subject, &POLICY.policy.evaluate(subject));
        }
    }
    let code = if parsed.request.is_ok() { 200 } else { 400 };
    let _ = reply::render(parsed.reply, Status { code, allow: None }, json!({ "outcome": "fuzz" }));
});
