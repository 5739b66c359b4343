//! Argument checks, without a server.

use super::*;
use crate::ConfigError;

#[test]
fn bad_arguments_are_named() {
    let mut gate =
        Approvals::builder("redis://127.0.0.1:1", "a").max_timeout(Duration::from_secs(5)).build().unwrap();
    let err = gate.request("deploy", b"", Duration::from_secs(6)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "approval: invalid value 6s for `timeout`: expected a duration from 1ms to 5s"
    );
    let err = gate.request("", b"", Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, ApprovalError::Invalid(ref v) if v.field == "step"));
    let err = gate.respond(ApprovalId(1), Decision::approve("", "")).unwrap_err();
    assert!(matches!(err, ApprovalError::Invalid(ref v) if v.field == "by"));
    let err = Approvals::builder("redis://127.0.0.1:1", "a").wait_slice(Duration::ZERO).build().unwrap_err();
    assert!(matches!(err, ConfigError::Invalid(ref v) if v.field == "wait_slice"));
    assert_eq!(ApprovalId::from_u64(7).to_string(), "approval#7");
}
