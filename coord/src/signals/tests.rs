//! Decoding and argument checks, without a server.

use super::*;

#[test]
fn latest_values_decode_and_garbage_is_malformed() {
    let signal = decode_latest("s", "go", b"17-2\n100\n300\na\n*\nline1\nline2", Target::Broadcast).unwrap();
    assert_eq!(signal.id.entry(), "17-2");
    assert_eq!(signal.id.target(), &Target::Broadcast);
    assert_eq!(signal.sent_at, from_millis(100));
    assert_eq!(signal.expires_at, from_millis(300));
    assert_eq!(signal.payload, b"line1\nline2");
    let err = decode_latest("s", "go", b"17-2\n100", Target::Broadcast).unwrap_err();
    assert_eq!(err.kind(), crate::BackendErrorKind::Malformed);
}

#[test]
fn entry_ids_order_numerically() {
    assert!(entry_order("10-0") > entry_order("9-5"));
    assert!(entry_order("10-11") > entry_order("10-2"));
}

#[test]
fn bad_arguments_are_named_before_anything_is_sent() {
    let mut signals =
        Signals::builder("redis://127.0.0.1:1", "a").max_ttl(Duration::from_secs(1)).build().unwrap();
    let b = || Target::agent("b").unwrap();
    let err = signals.send(b(), "go", b"", Duration::from_secs(2)).unwrap_err();
    assert_eq!(err.to_string(), "signal: invalid value 2s for `ttl`: expected a duration from 1ms to 1s");
    let err = signals.send(b(), "go", b"", Duration::from_micros(10)).unwrap_err();
    assert!(matches!(err, SignalError::Invalid(ref v) if v.field == "ttl"));
    let err = signals.send(b(), "", b"", Duration::from_millis(5)).unwrap_err();
    assert!(matches!(err, SignalError::Invalid(ref v) if v.field == "kind"));
    for bad in ["", "*", "a b", "a:b"] {
        assert_eq!(Target::agent(bad).unwrap_err().field, "target");
    }
    assert!(Signals::builder("redis://127.0.0.1:1", "*").build().is_err());
    let err = Signals::builder("redis://127.0.0.1:1", "a")
        .max_ttl(Duration::from_secs(10))
        .retention(Duration::from_secs(5))
        .build()
        .unwrap_err();
    assert!(err.to_string().starts_with("invalid value 5s for `retention`"), "{err}");
}
