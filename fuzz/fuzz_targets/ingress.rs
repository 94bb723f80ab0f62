//! Ingress: any JSON payload through shape detection and parsing, then policy evaluation of what it asks for
//! (against the committed example policy) and rendering of the answer. Never panics; a parsed request always
//! names at least one canonical target and an attested caller; every decision obeys deny-wins.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stop_gateway_core::oracles::ingress(data));
