//! [`Entry`]: one stream entry read back, decodable into the event.

use std::error::Error;
use std::fmt;
use std::str::FromStr;

use serde::de::{DeserializeOwned, IntoDeserializer};

use crate::Timestamp;

#[cfg(doc)]
use super::StreamConsumer;

/// How an [`Entry`] reached this consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// Never delivered to this group before (read with ID `>`).
    New,
    /// This consumer's own pending entry, delivered before and never acked
    /// (read with ID `0` when the consumer starts, for example after a
    /// restart under the same name).
    Pending,
    /// Taken over from another consumer by [`StreamConsumer::reclaim`].
    Reclaimed,
}

/// One stream entry: its ID and its fields, in the order they were written.
///
/// Under [`StreamEncoding::Fields`](crate::exporters::redis::StreamEncoding::Fields) the fields
/// are the event's JSON Lines keys (`ts`, correlation ids, `event`,
/// `severity`, `message`, then the event's own fields), string values as
/// their text and every other value as its JSON text; under
/// [`StreamEncoding::Json`](crate::exporters::redis::StreamEncoding::Json) there is one field
/// holding the whole JSON object.
///
/// # Examples
/// ```
/// use ringtel::exporters::redis::{Entry, Origin};
///
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Tick { symbol: String, price: f64, seq: u64, note: Option<String> }
///
/// let entry = Entry::new("1-0", Origin::New, [
///     ("ts", "1700000000000000000"), ("event", "Tick"), ("severity", "INFO"),
///     ("symbol", "42"), ("price", "101.25"), ("seq", "18446744073709551615"),
/// ]);
/// assert_eq!(entry.event_name(), Some("Tick"));
/// assert_eq!(entry.timestamp()?.as_nanos(), 1_700_000_000_000_000_000);
/// assert_eq!(entry.parse::<u64>("seq")?, u64::MAX);
/// let tick: Tick = entry.decode()?;
/// assert_eq!(tick, Tick { symbol: "42".into(), price: 101.25, seq: u64::MAX, note: None });
///
/// let json = Entry::new("2-0", Origin::New, [("json", r#"{"ts":5,"event":"Tick","symbol":"A","price":1.5,"seq":2}"#)]);
/// assert_eq!(json.decode::<Tick>()?.symbol, "A");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's stream ID (`<ms>-<seq>`).
    pub id: String,
    /// The entry's fields, in the order they were written.
    pub fields: Vec<(String, String)>,
    /// How the entry reached this consumer.
    pub origin: Origin,
}

impl Entry {
    /// An entry from its parts (for tests and examples; the consumer makes
    /// its entries from the server's replies).
    pub fn new<K: Into<String>, V: Into<String>>(
        id: impl Into<String>,
        origin: Origin,
        fields: impl IntoIterator<Item = (K, V)>,
    ) -> Entry {
        Entry {
            id: id.into(),
            origin,
            fields: fields.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        }
    }

    /// The text of the first field named `key`.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The `event` field (the event's name) under the Fields encoding.
    pub fn event_name(&self) -> Option<&str> {
        self.field("event")
    }

    /// The `severity` field under the Fields encoding.
    pub fn severity(&self) -> Option<&str> {
        self.field("severity")
    }

    /// The field `key` parsed with [`FromStr`].
    ///
    /// # Errors
    /// [`DecodeError::MissingField`] when there is no such field;
    /// [`DecodeError::InvalidField`] (with the parse error as its source)
    /// when its text does not parse.
    pub fn parse<T>(&self, key: &str) -> Result<T, DecodeError>
    where
        T: FromStr,
        T::Err: Error + Send + Sync + 'static,
    {
        let text = self
            .field(key)
            .ok_or_else(|| DecodeError::MissingField { id: self.id.clone(), field: key.to_owned() })?;
        text.parse().map_err(|err: T::Err| DecodeError::InvalidField {
            id: self.id.clone(),
            field: key.to_owned(),
            text: text.to_owned(),
            source: Box::new(err),
        })
    }

    /// The `ts` field: the event's time, in nanoseconds since the Unix epoch.
    ///
    /// # Errors
    /// As [`Entry::parse`].
    pub fn timestamp(&self) -> Result<Timestamp, DecodeError> {
        self.parse::<u64>("ts").map(Timestamp::from_nanos)
    }

    /// The event, deserialized: from the one field's JSON when the entry has
    /// exactly one field (the Json encoding, whatever the field's name),
    /// otherwise from the fields (the Fields encoding; see
    /// [`Entry::decode_fields`]).
    ///
    /// # Errors
    /// [`DecodeError::Event`] with the deserializer's error as its source.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, DecodeError> {
        match self.fields.as_slice() {
            [(_, json)] => self.decode_json_text(json),
            _ => self.decode_fields(),
        }
    }

    /// The event deserialized from the JSON object in field `field` (the
    /// Json encoding). The object is the event's JSON Lines line, so every
    /// value comes back exactly as JSON Lines wrote it.
    ///
    /// # Errors
    /// [`DecodeError::MissingField`], or [`DecodeError::Event`] with the
    /// `serde_json` error as its source.
    pub fn decode_json<T: DeserializeOwned>(&self, field: &str) -> Result<T, DecodeError> {
        let text = self
            .field(field)
            .ok_or_else(|| DecodeError::MissingField { id: self.id.clone(), field: field.to_owned() })?;
        self.decode_json_text(text)
    }

    fn decode_json_text<T: DeserializeOwned>(&self, text: &str) -> Result<T, DecodeError> {
        serde_json::from_str(text).map_err(|err| DecodeError::Event {
            id: self.id.clone(),
            encoding: "json",
            source: Box::new(err),
        })
    }

    /// The event deserialized from the fields (the Fields encoding), as a
    /// map from field name to value. A field read as a string (`String`,
    /// `char`, a unit enum variant) is its text exactly, even when the text
    /// looks like a number; any other type is read from the field's JSON
    /// text. So strings, integers (all of `u64` and `i64`), finite floats
    /// (serde_json's shortest round-trip text), bools, unit variants,
    /// `Option`s and nested values (`Vec`, maps, structs) round-trip
    /// exactly. Not exactly: a non-finite float (written `null`), and an
    /// `Option<String>` holding the text `null` (read back as `None`). The
    /// reserved keys (`ts`, `event`, `severity`, …) are fields too: a struct
    /// with `#[serde(deny_unknown_fields)]` must declare them.
    ///
    /// # Errors
    /// [`DecodeError::Event`] with the deserializer's error as its source.
    pub fn decode_fields<T: DeserializeOwned>(&self) -> Result<T, DecodeError> {
        let map = serde::de::value::MapDeserializer::<_, serde::de::value::Error>::new(
            self.fields.iter().map(|(k, v)| (k.as_str(), FieldText(v.as_str()))),
        );
        T::deserialize(map).map_err(|err| DecodeError::Event {
            id: self.id.clone(),
            encoding: "fields",
            source: Box::new(err),
        })
    }
}

/// One field's text, deserialized as a string when a string is asked for,
/// and from its JSON text otherwise.
#[derive(Clone, Copy)]
struct FieldText<'a>(&'a str);

impl<'de, 'a> IntoDeserializer<'de, serde::de::value::Error> for FieldText<'a> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

type DeError = serde::de::value::Error;

fn json_error(err: serde_json::Error) -> DeError {
    serde::de::Error::custom(err)
}

impl<'de> serde::Deserializer<'de> for FieldText<'_> {
    type Error = DeError;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match serde_json::from_str::<serde_json::Value>(self.0) {
            Ok(value) => serde::Deserializer::deserialize_any(value, visitor).map_err(json_error),
            Err(_) => visitor.visit_str(self.0),
        }
    }

    fn deserialize_str<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_str(self.0)
    }

    fn deserialize_string<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_str(self.0)
    }

    fn deserialize_char<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_str(self.0)
    }

    fn deserialize_identifier<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_str(self.0)
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0 == "null" {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if self.0.starts_with('{') {
            let value = serde_json::from_str::<serde_json::Value>(self.0).map_err(json_error)?;
            serde::Deserializer::deserialize_enum(value, name, variants, visitor).map_err(json_error)
        } else {
            let text: serde::de::value::StrDeserializer<'_, DeError> = self.0.into_deserializer();
            text.deserialize_enum(name, variants, visitor)
        }
    }

    fn deserialize_newtype_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 bytes byte_buf unit unit_struct
        seq tuple tuple_struct map struct ignored_any
    }
}

/// Why an [`Entry`] could not be decoded.
#[derive(Debug)]
#[non_exhaustive]
pub enum DecodeError {
    /// The entry has no field of that name.
    MissingField {
        /// The entry's ID.
        id: String,
        /// The field looked for.
        field: String,
    },
    /// A field's text does not parse as the type asked for.
    InvalidField {
        /// The entry's ID.
        id: String,
        /// The field.
        field: String,
        /// Its text.
        text: String,
        /// The parse error.
        source: Box<dyn Error + Send + Sync>,
    },
    /// The entry does not deserialize into the event type.
    Event {
        /// The entry's ID.
        id: String,
        /// `"fields"` or `"json"`: which encoding was read.
        encoding: &'static str,
        /// The deserializer's error.
        source: Box<dyn Error + Send + Sync>,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::MissingField { id, field } => write!(f, "entry {id} has no field `{field}`"),
            DecodeError::InvalidField { id, field, text, source } => {
                write!(f, "entry {id}: field `{field}` = {text:?} does not parse: {source}")
            }
            DecodeError::Event { id, encoding, source } => {
                write!(f, "entry {id} does not decode from its {encoding} encoding: {source}")
            }
        }
    }
}

impl Error for DecodeError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            DecodeError::MissingField { .. } => None,
            DecodeError::InvalidField { source, .. } | DecodeError::Event { source, .. } => Some(&**source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Side {
        Buy,
        Sell,
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Order {
        name: String,
        qty: i64,
        big: u64,
        price: f64,
        ok: bool,
        side: Side,
        tags: Vec<String>,
        note: Option<String>,
        absent: Option<u8>,
    }

    #[test]
    fn fields_decode_typed_values_and_keep_strings_as_text() {
        let entry = Entry::new(
            "1-1",
            Origin::New,
            [
                ("ts", "5"),
                ("event", "Order"),
                ("severity", "INFO"),
                ("name", "true"),
                ("qty", "-9223372036854775808"),
                ("big", "18446744073709551615"),
                ("price", "0.1"),
                ("ok", "true"),
                ("side", "sell"),
                ("tags", r#"["a","b"]"#),
                ("note", "12"),
            ],
        );
        let order: Order = entry.decode().unwrap();
        assert_eq!(
            order,
            Order {
                name: "true".into(),
                qty: i64::MIN,
                big: u64::MAX,
                price: 0.1,
                ok: true,
                side: Side::Sell,
                tags: vec!["a".into(), "b".into()],
                note: Some("12".into()),
                absent: None,
            }
        );
        let _ = Side::Buy;
        let err = Entry::new("1-2", Origin::New, [("a", "1"), ("qty", "x")]).decode::<Order>().unwrap_err();
        assert!(err.to_string().starts_with("entry 1-2 does not decode from its fields encoding: "), "{err}");
        assert!(err.source().is_some());
    }

    #[test]
    fn parse_names_the_field() {
        let entry = Entry::new("3-0", Origin::New, [("ts", "soon")]);
        let err = entry.timestamp().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"entry 3-0: field `ts` = "soon" does not parse: invalid digit found in string"#
        );
        assert!(matches!(entry.parse::<u8>("nope"), Err(DecodeError::MissingField { .. })));
    }
}
