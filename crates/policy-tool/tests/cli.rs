//! The policy tool's binary as a person runs it: the same output and exit codes as the library it wraps, on
//! stdout and stderr. The tool's behaviour itself is tested against the function in the function's suite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policy.example.toml").to_string_lossy().into_owned()
}

fn binary(args: &[&str]) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_stop-gateway-policy")).args(args).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (text(&out.stdout), text(&out.stderr), out.status.code().unwrap_or(-1))
}

#[test]
fn the_binary_prints_what_the_library_says_and_exits_with_its_code() {
    let example = example();
    let cases: [&[&str]; 4] = [
        &["check", &example],
        &[
            "explain",
            &example,
            "--caller",
            "arn:aws:iam::999988887777:user/mallory",
            "--target",
            "arn:aws:states:us-east-1:111122223333:execution:orders-api:run-1",
        ],
        &["diff", &example, &example],
        &["frobnicate"],
    ];
    for args in cases {
        let owned: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let run = stop_gateway_policy::run(&owned);
        let (stdout, stderr, code) = binary(args);
        assert_eq!((stdout.as_str(), code), (run.stdout.as_str(), run.code), "{args:?}");
        assert_eq!(stderr.trim_end(), run.stderr.trim_end(), "{args:?}");
    }
    assert_eq!(binary(&["check", &example]).2, 0, "the example checks clean");
}
