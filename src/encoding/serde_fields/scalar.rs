//! The scalar serializer: one field value if it is a scalar.

use serde::ser::{self, Impossible, Serialize};

use super::{not_scalar, Error};
use crate::encoding::{FieldValue, FieldVisitor};

/// Serializes one value if it is a scalar; any compound value answers
/// [`not_scalar`], and the caller writes it as JSON instead.
pub(super) struct Scalar<'o, 'k> {
    pub(super) out: &'o mut dyn FieldVisitor,
    pub(super) key: &'k str,
}

impl Scalar<'_, '_> {
    fn emit(self, value: FieldValue<'_>) -> Result<(), Error> {
        self.out.field(self.key, value);
        Ok(())
    }
}

impl ser::Serializer for Scalar<'_, '_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.emit(FieldValue::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.emit(FieldValue::I64(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.emit(FieldValue::I64(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.emit(FieldValue::I64(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.emit(FieldValue::I64(v))
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        match (u64::try_from(v), i64::try_from(v)) {
            (Ok(u), _) => self.emit(FieldValue::U64(u)),
            (_, Ok(i)) => self.emit(FieldValue::I64(i)),
            _ => Err(not_scalar()),
        }
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.emit(FieldValue::U64(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.emit(FieldValue::U64(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.emit(FieldValue::U64(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.emit(FieldValue::U64(v))
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        match u64::try_from(v) {
            Ok(u) => self.emit(FieldValue::U64(u)),
            Err(_) => Err(not_scalar()),
        }
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.emit(FieldValue::F64(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.emit(FieldValue::F64(v))
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        let mut utf8 = [0; 4];
        let text: &str = v.encode_utf8(&mut utf8);
        self.emit(FieldValue::Str(text))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.emit(FieldValue::Str(v))
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(not_scalar())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<(), Error> {
        self.emit(FieldValue::Str(name))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.emit(FieldValue::Str(variant))
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
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(not_scalar())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(not_scalar())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(not_scalar())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(not_scalar())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(not_scalar())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(not_scalar())
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, Error> {
        Err(not_scalar())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(not_scalar())
    }
}
