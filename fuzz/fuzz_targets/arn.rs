//! ARN parsing: target, principal and alarm ARNs from arbitrary text. Never panics; every accepted target
//! round-trips through its canonical form and stays printable ASCII within the length limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stop_gateway::domain::caller::{AlarmArn, PrincipalArn};
use stop_gateway::domain::target::TargetArn;
use stop_gateway_fuzz::check_round_trip;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(target) = TargetArn::parse(text) {
        assert!(text.len() <= 2048 && text.bytes().all(|b| b.is_ascii_graphic()), "accepted {text:?}");
        check_round_trip(&target);
        let _ = (target.kind_name(), target.not_stoppable_reason(), target.is_bulk(), target.resource_name());
    }
    if let Ok(principal) = PrincipalArn::parse(text) {
        assert_eq!(PrincipalArn::parse(&principal.to_string()).as_ref(), Ok(&principal));
    }
    if let Ok(alarm) = AlarmArn::parse(text) {
        assert_eq!(AlarmArn::parse(&alarm.to_string()).as_ref(), Ok(&alarm));
    }
});
