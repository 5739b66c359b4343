//! [`serde_fields`]: a `Serialize` struct's fields as typed [`FieldValue`]s.

use std::cell::RefCell;
use std::fmt;

use serde::ser::{self, Impossible, Serialize};

use super::{FieldValue, FieldVisitor};

mod map_key;
mod scalar;
#[cfg(test)]
mod tests;

use map_key::MapKey;
use scalar::Scalar;

/// Visits the fields of `value` (a struct, a map, or a struct-like enum
/// variant that derives or implements `Serialize`) as typed
/// [`FieldValue`]s, in serialization order. Meant as the body of
/// [`Event::fields`](crate::Event::fields).
///
/// | Rust value | field value |
/// |---|---|
/// | `u8`…`u64`, `usize` | [`FieldValue::U64`] |
/// | `i8`…`i64`, `isize` | [`FieldValue::I64`] |
/// | `f32`, `f64` | [`FieldValue::F64`] |
/// | `bool` | [`FieldValue::Bool`] |
/// | `&str`, `String`, `char`, a unit enum variant, a unit struct | [`FieldValue::Str`] |
/// | `Option<T>` | `T`'s value when `Some`; no field when `None` |
/// | a newtype struct | its inner value |
/// | a `Vec`, tuple, map, nested struct, enum variant with data, bytes, a 128-bit integer outside the 64-bit range | [`FieldValue::Json`] (compact JSON text) |
///
/// An enum event (a unit, newtype or struct variant at the top) gets a first
/// field `variant` holding the variant's name, then the variant's fields; a
/// top-level value that is not a struct, map or variant becomes one field
/// named `value`. A value whose `Serialize` impl fails becomes a field named
/// `encode_error` holding the error's text, so the failure shows where the
/// data should have been instead of vanishing.
///
/// Scalars allocate nothing. Nested values are written as JSON into a
/// per-thread buffer that is reused.
///
/// # Examples
/// ```
/// use ringtel::encoding::{serde_fields, FieldValue};
///
/// #[derive(serde::Serialize)]
/// struct Order { id: u64, delta: i64, tags: Vec<&'static str>, note: Option<&'static str> }
///
/// let mut seen = Vec::new();
/// let order = Order { id: u64::MAX, delta: i64::MIN, tags: vec!["a", "b"], note: None };
/// serde_fields(&order, &mut |key: &str, value: FieldValue<'_>| seen.push(format!("{key}={value:?}")));
/// assert_eq!(seen, [
///     "id=U64(18446744073709551615)",
///     "delta=I64(-9223372036854775808)",
///     r#"tags=Json("[\"a\",\"b\"]")"#,
/// ]);
/// ```
pub fn serde_fields<T: Serialize + ?Sized>(value: &T, out: &mut dyn FieldVisitor) {
    if let Err(err) = value.serialize(TopLevel { out: &mut *out }) {
        out.field("encode_error", FieldValue::Str(err.text()));
    }
}

/// Why a value did not become a scalar field.
#[derive(Debug)]
pub(super) enum Error {
    /// A compound value (the caller writes it as JSON instead).
    NotScalar,
    /// A failure inside a `Serialize` impl, or a shape `serde_fields` cannot
    /// name fields for.
    Custom(String),
}

impl Error {
    fn text(&self) -> &str {
        match self {
            Error::NotScalar => "a compound value",
            Error::Custom(message) => message,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        Error::Custom(msg.to_string())
    }
}

/// The error [`Scalar`] returns for a compound value.
pub(super) fn not_scalar() -> Error {
    Error::NotScalar
}

thread_local! {
    /// Nested values' JSON text, reused.
    static JSON: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Visits `key` with `value`: as a scalar if it is one, else as JSON text.
fn visit_value<T: Serialize + ?Sized>(out: &mut dyn FieldVisitor, key: &str, value: &T) -> Result<(), Error> {
    match value.serialize(Scalar { out: &mut *out, key }) {
        Ok(()) => Ok(()),
        Err(Error::NotScalar) => {
            let reused = JSON.try_with(|cell| match cell.try_borrow_mut() {
                Ok(mut buffer) => Some(visit_json(out, key, value, &mut buffer)),
                Err(_) => None,
            });
            match reused {
                Ok(Some(result)) => result,
                // Re-entered from inside a visitor, or the thread is being
                // torn down: a buffer of its own.
                _ => visit_json(out, key, value, &mut Vec::new()),
            }
        }
        Err(err) => Err(err),
    }
}

fn visit_json<T: Serialize + ?Sized>(
    out: &mut dyn FieldVisitor,
    key: &str,
    value: &T,
    buffer: &mut Vec<u8>,
) -> Result<(), Error> {
    buffer.clear();
    serde_json::to_writer(&mut *buffer, value).map_err(|e| Error::Custom(e.to_string()))?;
    // serde_json writes UTF-8 only.
    let text = std::str::from_utf8(buffer).map_err(|e| Error::Custom(e.to_string()))?;
    out.field(key, FieldValue::Json(text));
    Ok(())
}

/// The value at the top: a struct or map gives fields.
struct TopLevel<'o> {
    out: &'o mut dyn FieldVisitor,
}

/// A struct's, map's or variant's fields.
struct Fields<'o> {
    out: &'o mut dyn FieldVisitor,
    /// A map's current key.
    key: String,
}

macro_rules! top_level_value {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method(self, v: $ty) -> Result<(), Error> {
            visit_value(self.out, "value", &v)
        }
    )*};
}

impl<'o> ser::Serializer for TopLevel<'o> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Fields<'o>;
    type SerializeStruct = Fields<'o>;
    type SerializeStructVariant = Fields<'o>;

    top_level_value!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
    );

    fn serialize_none(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.out.field("variant", FieldValue::Str(variant));
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.field("variant", FieldValue::Str(variant));
        value.serialize(self)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(Error::Custom("serde_fields: a sequence has no field names; wrap it in a struct".to_owned()))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(Error::Custom("serde_fields: a tuple has no field names; wrap it in a struct".to_owned()))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(Error::Custom("serde_fields: a tuple struct has no field names; use named fields".to_owned()))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(Error::Custom("serde_fields: a tuple variant has no field names; use named fields".to_owned()))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Fields<'o>, Error> {
        Ok(Fields { out: self.out, key: String::new() })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Fields<'o>, Error> {
        Ok(Fields { out: self.out, key: String::new() })
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Fields<'o>, Error> {
        self.out.field("variant", FieldValue::Str(variant));
        Ok(Fields { out: self.out, key: String::new() })
    }
}

impl ser::SerializeStruct for Fields<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        visit_value(self.out, key, value)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Fields<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        visit_value(self.out, key, value)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeMap for Fields<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key.clear();
        key.serialize(MapKey(&mut self.key))
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        visit_value(self.out, &self.key, value)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}
