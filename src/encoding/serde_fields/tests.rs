//! Unit tests of `serde_fields`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::*;

/// The fields of `value`, as `key=value` with the value's Debug.
fn fields_of<T: Serialize + ?Sized>(value: &T) -> Vec<String> {
    let mut seen = Vec::new();
    serde_fields(value, &mut |key: &str, value: FieldValue<'_>| seen.push(format!("{key}={value:?}")));
    seen
}

#[derive(serde::Serialize)]
struct Inner {
    a: u8,
}

#[derive(serde::Serialize)]
enum Ev {
    Ping,
    Moved { x: i32, y: i32 },
    Wrapped(Inner),
}

#[test]
fn options_nested_values_and_128_bit_integers() {
    #[derive(serde::Serialize)]
    struct S {
        some: Option<u32>,
        none: Option<u32>,
        nested: Inner,
        list: Vec<u8>,
        big: u128,
        small: i128,
        unit: (),
        c: char,
        f: f32,
    }
    let s = S {
        some: Some(3),
        none: None,
        nested: Inner { a: 1 },
        list: vec![1, 2],
        big: u128::MAX,
        small: -5,
        unit: (),
        c: 'é',
        f: 0.5,
    };
    assert_eq!(
        fields_of(&s),
        [
            "some=U64(3)",
            r#"nested=Json("{\"a\":1}")"#,
            r#"list=Json("[1,2]")"#,
            r#"big=Json("340282366920938463463374607431768211455")"#,
            "small=I64(-5)",
            r#"c=Str("é")"#,
            "f=F64(0.5)",
        ]
    );
}

#[test]
fn an_enum_event_names_its_variant() {
    assert_eq!(fields_of(&Ev::Ping), [r#"variant=Str("Ping")"#]);
    assert_eq!(fields_of(&Ev::Moved { x: 1, y: -2 }), [r#"variant=Str("Moved")"#, "x=I64(1)", "y=I64(-2)"]);
    assert_eq!(fields_of(&Ev::Wrapped(Inner { a: 7 })), [r#"variant=Str("Wrapped")"#, "a=U64(7)"]);
}

#[test]
fn maps_give_their_keys_as_text() {
    let map: BTreeMap<u32, &str> = [(2, "b"), (1, "a")].into_iter().collect();
    assert_eq!(fields_of(&map), [r#"1=Str("a")"#, r#"2=Str("b")"#]);
    let bad: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
    assert_eq!(
        fields_of(&bad),
        [r#"encode_error=Str("serde_fields: a map key must be a string, a number, a bool or a char")"#]
    );
}

#[test]
fn a_top_level_scalar_is_one_field_and_a_sequence_is_an_error() {
    assert_eq!(fields_of(&42u8), ["value=U64(42)"]);
    let fields = fields_of(&[1, 2]);
    assert_eq!(fields.len(), 1);
    assert!(fields[0].starts_with("encode_error="), "{fields:?}");
}

#[test]
fn a_failing_serialize_impl_is_reported_not_dropped() {
    struct Fails;
    impl Serialize for Fails {
        fn serialize<S: ser::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(ser::Error::custom(""))
        }
    }
    #[derive(serde::Serialize)]
    struct Holder {
        ok: u8,
        bad: Fails,
    }
    // Even an empty message is an error, not a compound value.
    assert_eq!(fields_of(&Holder { ok: 1, bad: Fails }), ["ok=U64(1)", r#"encode_error=Str("")"#]);
}

#[test]
fn a_visitor_may_call_serde_fields_again() {
    #[derive(serde::Serialize)]
    struct Outer {
        list: Vec<u8>,
    }
    let mut seen = Vec::new();
    serde_fields(&Outer { list: vec![1] }, &mut |key: &str, value: FieldValue<'_>| {
        // Re-entered while the per-thread buffer holds `list`'s JSON.
        serde_fields(&Outer { list: vec![2] }, &mut |k: &str, v: FieldValue<'_>| {
            seen.push(format!("{k}={v:?}"));
        });
        seen.push(format!("{key}={value:?}"));
    });
    assert_eq!(seen, [r#"list=Json("[2]")"#, r#"list=Json("[1]")"#]);
}
