//! ARN parsing: target, principal and alarm ARNs from arbitrary text. Never panics; every accepted target
//! round-trips through its canonical form and stays printable ASCII within the length limit.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stop_gateway_core::oracles::arn(data));
