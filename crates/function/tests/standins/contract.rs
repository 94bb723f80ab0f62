//! The API contract: `openapi/openapi.yaml` checked against the running function by schemathesis (property-based
//! API testing), through the Lambda Runtime API and an HTTP API stand-in, with the AWS stand-ins behind it. Every
//! response must be documented, match its schema and content type, never be a 5xx; invalid requests must be
//! refused with a 4xx, unsigned ones with 401, other methods with 405 and an `Allow` header.
//! Needs `.venv-contract` (scripts/test installs it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use testkit::api_front::{ApiFront, CREDENTIAL};
use testkit::{
    gateway_process::{GatewayProcess, policy_for},
    repo,
    standins::Standins,
};

/// Requests schemathesis generates per phase (examples, coverage, fuzzing). `CONTRACT_MAX_EXAMPLES` raises it
/// for a longer run.
const MAX_EXAMPLES: &str = "150";

#[test]
fn the_http_api_answers_as_its_openapi_document_says() {
    let schemathesis = repo().join(".venv-contract/bin/schemathesis");
    assert!(schemathesis.exists(), "schemathesis is not installed: run scripts/test, which installs .venv-contract");
    let s = Standins::start();
    let account = s.account();
    // The document's examples name orders-api in account 111122223333: give them something real to act on.
    s.sfn_start("orders-api", 3);
    let policy = policy_for(&account);
    let gateway = GatewayProcess::start(Path::new(env!("CARGO_BIN_EXE_stop-gateway")), &s, &[("POLICY", &policy)]);
    let principal = format!("arn:aws:sts::{account}:assumed-role/OnCall/contract");
    let front = ApiFront::start(Arc::new(gateway), principal, "o-a1b2c3d4e5".to_owned());

    // The committed document, with the examples' account made the stand-ins' account.
    let dir = std::env::temp_dir().join(format!("stop-gateway-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let document = dir.join("openapi.yaml");
    let text = std::fs::read_to_string(repo().join("openapi/openapi.yaml")).unwrap();
    std::fs::write(&document, text.replace("111122223333", &account)).unwrap();

    let max_examples = std::env::var("CONTRACT_MAX_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.to_owned());
    let output = Command::new("timeout")
        .arg("600")
        .arg(&schemathesis)
        .arg("run")
        .arg(&document)
        .args(["--url", &front.url()])
        .args(["--header", &format!("Authorization: {CREDENTIAL}")])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--checks", "all"])
        // Policy and ARN grammar refuse much that the schema's types allow (a 400 or 403 for a well-typed
        // request is the contract, not a failure); the stateful checks need links this API does not have.
        .args([
            "--exclude-checks",
            "positive_data_acceptance,use_after_free,ensure_resource_availability,object_level_authorization",
        ])
        .args(["--max-examples", &max_examples])
        .args(["--generation-deterministic", "--workers", "2", "--request-timeout", "30", "--no-color"])
        .current_dir(&dir)
        .output()
        .expect("run schemathesis");
    let report = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    println!("{report}");
    assert!(output.status.success(), "schemathesis found contract violations ({}):\n{report}", output.status);
    let _ = std::fs::remove_dir_all(&dir);
}
