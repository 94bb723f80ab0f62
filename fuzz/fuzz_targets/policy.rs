//! Policy documents: arbitrary TOML or JSON through the policy parser; every document that parses is evaluated
//! for a fixed set of callers and targets, and every decision obeys deny-wins and default-deny.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stop_gateway_core::oracles::policy(data));
