//! [`StreamConsumer`]: reads what [`RedisStreams`](super::RedisStreams)
//! writes back, through a consumer group, with acks, reclaiming of dead
//! consumers' entries and a dead-letter stream.

use std::collections::HashSet;
use std::error::Error;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use redis::streams::{StreamAutoClaimOptions, StreamPendingCountReply, StreamReadOptions};
use redis::{FromRedisValue, RedisError, Value};
use serde::de::{DeserializeOwned, IntoDeserializer};

use super::connection::{ConnectionSettings, DEFAULT_REDIS_CONNECT_TIMEOUT, DEFAULT_REDIS_IO_TIMEOUT};
use super::error::RedisConfigError;
use crate::Timestamp;

/// The default consumer group name.
pub const DEFAULT_CONSUMER_GROUP: &str = "ringtel";
/// The default bound on deliveries: an entry delivered more often than this
/// goes to the dead-letter stream.
pub const DEFAULT_MAX_DELIVERIES: u64 = 5;
/// Appended to the stream key to name the default dead-letter stream.
pub const DEFAULT_DEAD_LETTER_SUFFIX: &str = ":dead";

/// Where a new group starts reading, when [`StreamConsumer`] creates it.
/// An existing group keeps its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum GroupStart {
    /// From the stream's first entry (`XGROUP CREATE … 0`): nothing
    /// published before the group existed is lost. The default.
    #[default]
    Beginning,
    /// Only entries added after the group is created (`XGROUP CREATE … $`).
    NewEntries,
}

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
/// Under [`StreamEncoding::Fields`](super::StreamEncoding::Fields) the fields
/// are the event's JSON Lines keys (`ts`, correlation ids, `event`,
/// `severity`, `message`, then the event's own fields), string values as
/// their text and every other value as its JSON text; under
/// [`StreamEncoding::Json`](super::StreamEncoding::Json) there is one field
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

/// What one [`StreamConsumer::poll`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Entries to process (at least one); ack each once processed.
    Events(Vec<Entry>),
    /// Nothing arrived within the block time.
    Idle {
        /// How long the poll waited.
        blocked_for: Duration,
    },
}

/// What one [`StreamConsumer::reclaim`] step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reclaimed {
    /// Entries taken over from other consumers, now this consumer's to
    /// process and ack.
    pub entries: Vec<Entry>,
    /// IDs moved to the dead-letter stream (and acked) because they had
    /// been delivered more than the maximum number of times.
    pub dead_lettered: Vec<String>,
    /// Pending IDs whose entries no longer exist in the stream (trimmed);
    /// Redis removes them from the pending list.
    pub deleted: Vec<String>,
    /// Whether the scan of the pending list went round.
    pub scan: Scan,
}

/// Where the reclaim scan of the pending list stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// More of the pending list is left; the next step continues there.
    More,
    /// The scan reached the end; the next step starts from the beginning.
    Complete,
}

/// Counters of one [`StreamConsumer`], since it was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConsumerStats {
    /// Entries returned by [`poll`](StreamConsumer::poll) (new and own
    /// pending).
    pub delivered: u64,
    /// Entries taken over by [`reclaim`](StreamConsumer::reclaim).
    pub reclaimed: u64,
    /// IDs acked by [`ack`](StreamConsumer::ack) that were pending.
    pub acked: u64,
    /// Entries moved to the dead-letter stream.
    pub dead_lettered: u64,
    /// Calls that returned an error.
    pub errors: u64,
}

/// What kind of failure a [`ConsumerError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsumerErrorKind {
    /// Redis could not be reached or the connection broke (retryable; the
    /// connection is remade on the next call).
    Transport,
    /// No reply within the deadline (retryable).
    Timeout,
    /// The group does not exist (the stream or group was deleted); the next
    /// call creates it again.
    NoGroup,
    /// The server answered with another error reply.
    Rejected,
    /// A reply had a shape the consumer does not understand.
    Malformed,
}

/// A failed consumer call, naming the command, stream, group and consumer.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::exporters::redis::{ConsumerErrorKind, StreamConsumer};
///
/// // Nothing listens on port 1: the connect is refused at once.
/// let mut consumer = StreamConsumer::builder("redis://127.0.0.1:1", "s", "g", "c").build()?;
/// let err = consumer.poll(10, Duration::ZERO).unwrap_err();
/// assert_eq!(err.kind(), ConsumerErrorKind::Transport);
/// assert!(err.is_retryable());
/// assert!(err.to_string().starts_with("XGROUP CREATE on stream `s`, group `g`, consumer `c` at 127.0.0.1:1: "), "{err}");
/// assert!(std::error::Error::source(&err).is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ConsumerError(Box<ErrorInner>);

#[derive(Debug)]
struct ErrorInner {
    kind: ConsumerErrorKind,
    command: &'static str,
    stream: String,
    group: String,
    consumer: String,
    target: String,
    detail: String,
    source: Option<RedisError>,
}

impl ConsumerError {
    /// The kind of failure.
    pub fn kind(&self) -> ConsumerErrorKind {
        self.0.kind
    }
    /// The Redis command that failed (`XREADGROUP`, `XACK`, …).
    pub fn command(&self) -> &'static str {
        self.0.command
    }
    /// The stream key.
    pub fn stream(&self) -> &str {
        &self.0.stream
    }
    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.0.group
    }
    /// The consumer name.
    pub fn consumer(&self) -> &str {
        &self.0.consumer
    }
    /// Whether calling again may succeed (transport failures, timeouts, a
    /// group that will be re-created, a server loading or failing over).
    pub fn is_retryable(&self) -> bool {
        match self.0.kind {
            ConsumerErrorKind::Transport | ConsumerErrorKind::Timeout | ConsumerErrorKind::NoGroup => true,
            ConsumerErrorKind::Rejected => self.0.source.as_ref().is_some_and(|err| {
                matches!(
                    err.kind(),
                    redis::ErrorKind::BusyLoadingError
                        | redis::ErrorKind::TryAgain
                        | redis::ErrorKind::ClusterDown
                        | redis::ErrorKind::MasterDown
                )
            }),
            ConsumerErrorKind::Malformed => false,
        }
    }
}

impl fmt::Display for ConsumerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on stream `{}`, group `{}`, consumer `{}` at {}: {}",
            self.0.command, self.0.stream, self.0.group, self.0.consumer, self.0.target, self.0.detail
        )
    }
}

impl Error for ConsumerError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source.as_ref().map(|err| err as &(dyn Error + 'static))
    }
}

/// Configures a [`StreamConsumer`]; from [`StreamConsumer::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct StreamConsumerBuilder {
    settings: ConnectionSettings,
    stream: String,
    group: String,
    consumer: String,
    dead_letter: Option<String>,
    max_deliveries: u64,
    start: GroupStart,
    /// The cluster's node URLs, when reading from a Redis Cluster.
    cluster: Option<Vec<String>>,
}

impl StreamConsumerBuilder {
    /// The dead-letter stream; default the stream key followed by
    /// [`DEFAULT_DEAD_LETTER_SUFFIX`].
    pub fn dead_letter_stream(mut self, key: impl Into<String>) -> Self {
        self.dead_letter = Some(key.into());
        self
    }

    /// An entry delivered more than `max` times (counted by the server:
    /// every read of it by any consumer, and every reclaim) goes to the
    /// dead-letter stream instead of being returned; at least 1; default
    /// [`DEFAULT_MAX_DELIVERIES`].
    pub fn max_deliveries(mut self, max: u64) -> Self {
        self.max_deliveries = max;
        self
    }

    /// Where the group starts when this consumer creates it; default
    /// [`GroupStart::Beginning`].
    pub fn group_start(mut self, start: GroupStart) -> Self {
        self.start = start;
        self
    }

    /// Time to connect; default [`DEFAULT_REDIS_CONNECT_TIMEOUT`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// Time one non-blocking command may take; a blocking read may take
    /// its block time plus this. Default [`DEFAULT_REDIS_IO_TIMEOUT`].
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.settings.io_timeout = timeout;
        self
    }

    /// Validates the settings. Does not connect.
    ///
    /// # Errors
    /// [`RedisConfigError::InvalidUrl`] for a URL the redis client rejects;
    /// [`RedisConfigError::InvalidSetting`] for an empty stream, group or
    /// consumer name, a dead-letter stream equal to the stream, a zero
    /// `max_deliveries` or a zero timeout.
    pub fn build(self) -> Result<StreamConsumer, RedisConfigError> {
        for (field, value) in [("stream", &self.stream), ("group", &self.group), ("consumer", &self.consumer)]
        {
            if value.is_empty() {
                return Err(RedisConfigError::invalid(field, value, "a non-empty name"));
            }
        }
        if self.max_deliveries == 0 {
            return Err(RedisConfigError::invalid("max_deliveries", 0, "an integer >= 1"));
        }
        let dead_letter =
            self.dead_letter.unwrap_or_else(|| format!("{}{DEFAULT_DEAD_LETTER_SUFFIX}", self.stream));
        if dead_letter.is_empty() || dead_letter == self.stream {
            return Err(RedisConfigError::invalid(
                "dead_letter_stream",
                &dead_letter,
                "a non-empty key other than the stream",
            ));
        }
        let (client, target) = match &self.cluster {
            None => {
                // Validates the timeouts too.
                drop(self.settings.connector()?);
                let (client, target) = self.settings.client()?;
                (Target::Single(client), target)
            }
            #[cfg(feature = "redis-cluster")]
            Some(nodes) => {
                let client = super::cluster::client(nodes, &self.settings)?;
                (Target::Cluster(client), super::cluster::target(nodes))
            }
            #[cfg(not(feature = "redis-cluster"))]
            Some(_) => unreachable!("only `cluster_builder` (feature `redis-cluster`) sets nodes"),
        };
        let link = |target| Link { target, connect_timeout: self.settings.connect_timeout, connection: None };
        Ok(StreamConsumer {
            stream: self.stream,
            group: self.group,
            consumer: self.consumer,
            dead_letter,
            max_deliveries: self.max_deliveries,
            start: self.start,
            io_timeout: self.settings.io_timeout,
            target,
            commands: link(client.clone()),
            blocking: link(client),
            group_ready: false,
            phase: Phase::Pending { after: "0".to_owned() },
            claim_cursor: "0-0".to_owned(),
            stats: ConsumerStats::default(),
        })
    }
}

/// A connection made on first use and dropped after a failure that may
/// have left it out of step.
struct Link {
    target: Target,
    connect_timeout: Duration,
    connection: Option<Connection>,
}

/// What a [`Link`] connects to.
#[derive(Clone)]
pub(crate) enum Target {
    /// One server.
    Single(redis::Client),
    /// A Redis Cluster, through the redis crate's cluster client.
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster::ClusterClient),
}

enum Connection {
    Single(redis::Connection),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster::ClusterConnection),
}

impl Link {
    fn run<T>(
        &mut self,
        timeout: Duration,
        f: impl FnOnce(&mut dyn redis::ConnectionLike) -> redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
        if self.connection.is_none() {
            self.connection = Some(match &self.target {
                Target::Single(client) => {
                    Connection::Single(client.get_connection_with_timeout(self.connect_timeout)?)
                }
                #[cfg(feature = "redis-cluster")]
                Target::Cluster(client) => Connection::Cluster(client.get_connection()?),
            });
        }
        let result = match self.connection.as_mut().expect("connected just above") {
            Connection::Single(connection) => connection
                .set_read_timeout(Some(timeout))
                .and_then(|()| connection.set_write_timeout(Some(timeout)))
                .and_then(|()| f(connection)),
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(connection) => connection
                .set_read_timeout(Some(timeout))
                .and_then(|()| connection.set_write_timeout(Some(timeout)))
                .and_then(|()| f(connection)),
        };
        if let Err(err) = &result {
            if err.is_io_error()
                || err.is_timeout()
                || err.is_connection_dropped()
                || err.is_unrecoverable_error()
            {
                self.connection = None;
            }
        }
        result
    }
}

enum Phase {
    /// Reading this consumer's own pending entries, after this ID.
    Pending { after: String },
    /// Reading new entries (`>`).
    New,
}

/// Reads a Redis stream written by [`RedisStreams`](super::RedisStreams)
/// as one consumer of a consumer group.
///
/// - The group is created on first use (`XGROUP CREATE … MKSTREAM`, from the
///   stream's beginning by default, see [`GroupStart`]); a group that
///   exists already (`BUSYGROUP`) is used as it is.
/// - [`poll`](Self::poll) first returns this consumer's own pending entries
///   (read with ID `0`: what it was given before a restart and never
///   acked), then new entries (`>`), blocking up to the given time for
///   those. Blocking reads use a connection of their own whose read timeout
///   is the block time plus the I/O timeout; every other command uses a
///   second connection with the I/O timeout.
/// - [`ack`](Self::ack) acknowledges processed entries.
/// - [`reclaim`](Self::reclaim) takes over entries other consumers were
///   given and have not acked for a minimum idle time (`XAUTOCLAIM`).
/// - An entry delivered more than [`max_deliveries`] times, seen by `poll`
///   among its own pending entries or by `reclaim`, is added to the
///   dead-letter stream (its fields, then `dead_letter_id`,
///   `dead_letter_deliveries`, `dead_letter_consumer`), then acked and
///   counted, instead of being returned.
/// - Every failure is a [`ConsumerError`] returned to the caller; the
///   consumer stays usable (a broken connection is remade on the next call,
///   a deleted group re-created).
///
/// Delivery is at least once: an entry is redelivered when its consumer
/// dies (or is slow past the reclaim idle time) before acking it, when the
/// ack is lost with a broken connection, and (to the dead-letter stream)
/// when a consumer dies between adding a dead letter and acking it.
///
/// [`max_deliveries`]: StreamConsumerBuilder::max_deliveries
///
/// # Examples
/// Building does not connect; this needs a server to run:
/// ```no_run
/// use std::time::Duration;
/// use ringtel::exporters::redis::{Poll, StreamConsumer};
///
/// let mut consumer = StreamConsumer::builder("redis://127.0.0.1:6379", "ringtel:events", "audit", "worker-1")
///     .max_deliveries(3)
///     .build()?;
/// loop {
///     // Take over what dead workers left unacked for 30 s.
///     let reclaimed = consumer.reclaim(Duration::from_secs(30), 100)?;
///     let mut entries = reclaimed.entries;
///     if let Poll::Events(new) = consumer.poll(100, Duration::from_secs(1))? {
///         entries.extend(new);
///     }
///     for entry in &entries {
///         println!("{} {:?} {:?}", entry.id, entry.event_name(), entry.timestamp());
///     }
///     let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
///     consumer.ack(&ids)?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StreamConsumer {
    stream: String,
    group: String,
    consumer: String,
    dead_letter: String,
    max_deliveries: u64,
    start: GroupStart,
    io_timeout: Duration,
    target: String,
    commands: Link,
    blocking: Link,
    group_ready: bool,
    phase: Phase,
    claim_cursor: String,
    stats: ConsumerStats,
}

impl StreamConsumer {
    /// A builder for consumer `consumer` of group `group` on `stream` at
    /// `url` (`redis://[user:password@]host[:port][/db]`).
    ///
    /// # Examples
    /// ```
    /// use ringtel::exporters::redis::{StreamConsumer, DEFAULT_REDIS_STREAM};
    ///
    /// let consumer = StreamConsumer::builder("redis://127.0.0.1", DEFAULT_REDIS_STREAM, "audit", "w1").build()?;
    /// assert_eq!(consumer.dead_letter_stream(), "ringtel:events:dead");
    /// let err = StreamConsumer::builder("redis://127.0.0.1", "s", "", "w1").build().unwrap_err();
    /// assert_eq!(err.to_string(), r#"invalid value "" for `group`: expected a non-empty name"#);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(
        url: impl Into<String>,
        stream: impl Into<String>,
        group: impl Into<String>,
        consumer: impl Into<String>,
    ) -> StreamConsumerBuilder {
        let mut settings = ConnectionSettings::new(url);
        settings.connect_timeout = DEFAULT_REDIS_CONNECT_TIMEOUT;
        settings.io_timeout = DEFAULT_REDIS_IO_TIMEOUT;
        StreamConsumerBuilder {
            settings,
            stream: stream.into(),
            group: group.into(),
            consumer: consumer.into(),
            dead_letter: None,
            max_deliveries: DEFAULT_MAX_DELIVERIES,
            start: GroupStart::default(),
            cluster: None,
        }
    }

    /// A builder for a consumer of `stream` on a Redis Cluster reached
    /// through any of `nodes` (`redis://host:port` URLs; the client learns
    /// the others from them). Feature `redis-cluster`.
    ///
    /// On a cluster the stream, its pending list and the group live on the
    /// master owning the stream key's slot. The dead-letter stream may be
    /// elsewhere: it is written with commands of its own.
    ///
    /// # Examples
    /// ```
    /// use ringtel::exporters::redis::{partition_key, StreamConsumer};
    ///
    /// let nodes = ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"];
    /// let stream = partition_key("ringtel:events", "producer-1");
    /// assert_eq!(stream, "ringtel:events:{producer-1}");
    /// let consumer = StreamConsumer::cluster_builder(nodes, &stream, "audit", "w1").build()?;
    /// assert_eq!(consumer.dead_letter_stream(), "ringtel:events:{producer-1}:dead");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "redis-cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
    pub fn cluster_builder<N: Into<String>>(
        nodes: impl IntoIterator<Item = N>,
        stream: impl Into<String>,
        group: impl Into<String>,
        consumer: impl Into<String>,
    ) -> StreamConsumerBuilder {
        let nodes: Vec<String> = nodes.into_iter().map(Into::into).collect();
        let mut builder = Self::builder(nodes.first().cloned().unwrap_or_default(), stream, group, consumer);
        builder.cluster = Some(nodes);
        builder
    }

    /// The stream key read.
    pub fn stream(&self) -> &str {
        &self.stream
    }
    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }
    /// This consumer's name in the group.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }
    /// The dead-letter stream key.
    pub fn dead_letter_stream(&self) -> &str {
        &self.dead_letter
    }
    /// The counters so far.
    pub fn stats(&self) -> ConsumerStats {
        self.stats
    }

    fn error(&self, command: &'static str, err: RedisError) -> ConsumerError {
        let kind = if err.is_timeout() {
            ConsumerErrorKind::Timeout
        } else if err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() {
            ConsumerErrorKind::Transport
        } else if err.code() == Some("NOGROUP") {
            ConsumerErrorKind::NoGroup
        } else if err.kind() == redis::ErrorKind::ParseError || err.kind() == redis::ErrorKind::TypeError {
            ConsumerErrorKind::Malformed
        } else {
            ConsumerErrorKind::Rejected
        };
        self.make_error(kind, command, err.to_string(), Some(err))
    }

    fn make_error(
        &self,
        kind: ConsumerErrorKind,
        command: &'static str,
        detail: String,
        source: Option<RedisError>,
    ) -> ConsumerError {
        ConsumerError(Box::new(ErrorInner {
            kind,
            command,
            stream: self.stream.clone(),
            group: self.group.clone(),
            consumer: self.consumer.clone(),
            target: self.target.clone(),
            detail,
            source,
        }))
    }

    fn counted<T>(&mut self, result: Result<T, ConsumerError>) -> Result<T, ConsumerError> {
        if let Err(err) = &result {
            self.stats.errors += 1;
            if err.0.kind == ConsumerErrorKind::NoGroup {
                self.group_ready = false;
            }
        }
        result
    }

    fn ensure_group(&mut self) -> Result<(), ConsumerError> {
        if self.group_ready {
            return Ok(());
        }
        let start = match self.start {
            GroupStart::Beginning => "0",
            GroupStart::NewEntries => "$",
        };
        let mut command = redis::cmd("XGROUP");
        command.arg("CREATE").arg(&self.stream).arg(&self.group).arg(start).arg("MKSTREAM");
        let result: redis::RedisResult<()> = self.commands.run(self.io_timeout, |c| command.query(c));
        match result {
            Ok(()) => {}
            Err(err) if err.code() == Some("BUSYGROUP") => {}
            Err(err) => return Err(self.error("XGROUP CREATE", err)),
        }
        self.group_ready = true;
        Ok(())
    }

    /// Up to `max` entries: this consumer's own pending entries first (once
    /// they are all read, new entries only), waiting up to `block` for new
    /// ones. `block` zero does not wait. Entries delivered more than the
    /// maximum number of times are dead-lettered instead (see the type's
    /// documentation), so `Events` may hold fewer than were read. `max` is
    /// at least 1. An own pending entry whose stream entry was trimmed away
    /// meanwhile comes back with no fields; ack it like any other.
    ///
    /// # Errors
    /// A [`ConsumerError`] for any failure; the consumer stays usable.
    pub fn poll(&mut self, max: usize, block: Duration) -> Result<Poll, ConsumerError> {
        let result = self.try_poll(max.max(1), block);
        self.counted(result)
    }

    fn try_poll(&mut self, max: usize, block: Duration) -> Result<Poll, ConsumerError> {
        self.ensure_group()?;
        let started = Instant::now();
        while let Phase::Pending { after } = &self.phase {
            let after = after.clone();
            let options = StreamReadOptions::default().group(&self.group, &self.consumer).count(max);
            let entries = self.read(false, &options, &after, Origin::Pending)?;
            let Some(last) = entries.last() else {
                self.phase = Phase::New;
                break;
            };
            self.phase = Phase::Pending { after: last.id.clone() };
            let entries = self.screen(entries)?;
            if !entries.is_empty() {
                self.stats.delivered += entries.len() as u64;
                return Ok(Poll::Events(entries));
            }
        }
        let mut options = StreamReadOptions::default().group(&self.group, &self.consumer).count(max);
        if !block.is_zero() {
            // BLOCK 0 would wait forever: round a sub-millisecond block up.
            options = options.block(block.as_millis().max(1).try_into().unwrap_or(usize::MAX));
        }
        let entries = self.read(!block.is_zero(), &options, ">", Origin::New)?;
        if entries.is_empty() {
            return Ok(Poll::Idle { blocked_for: started.elapsed() });
        }
        self.stats.delivered += entries.len() as u64;
        Ok(Poll::Events(entries))
    }

    /// One `XREADGROUP` of this stream from `id`.
    fn read(
        &mut self,
        blocking: bool,
        options: &StreamReadOptions,
        id: &str,
        origin: Origin,
    ) -> Result<Vec<Entry>, ConsumerError> {
        let mut command = redis::cmd("XREADGROUP");
        command.arg(options).arg("STREAMS").arg(&self.stream).arg(id);
        let result: redis::RedisResult<Value> = if blocking {
            let timeout = options_block(options).saturating_add(self.io_timeout);
            self.blocking.run(timeout, |c| command.query(c))
        } else {
            self.commands.run(self.io_timeout, |c| command.query(c))
        };
        let value = result.map_err(|err| self.error("XREADGROUP", err))?;
        parse_read_reply(&value, origin)
            .map_err(|reason| self.make_error(ConsumerErrorKind::Malformed, "XREADGROUP", reason, None))
    }

    /// Splits off the entries delivered too often, dead-letters them, and
    /// returns the others.
    fn screen(&mut self, entries: Vec<Entry>) -> Result<Vec<Entry>, ConsumerError> {
        if entries.is_empty() {
            return Ok(entries);
        }
        let mut pipe = redis::pipe();
        for entry in &entries {
            pipe.cmd("XPENDING").arg(&self.stream).arg(&self.group).arg(&entry.id).arg(&entry.id).arg(1);
        }
        let result: redis::RedisResult<Vec<StreamPendingCountReply>> =
            self.commands.run(self.io_timeout, |c| pipe.query(c));
        let replies = result.map_err(|err| self.error("XPENDING", err))?;
        let mut keep = Vec::with_capacity(entries.len());
        let mut dead = Vec::new();
        for (entry, reply) in entries.into_iter().zip(replies) {
            match reply.ids.first() {
                Some(pending) if pending.times_delivered as u64 > self.max_deliveries => {
                    dead.push((entry, pending.times_delivered));
                }
                // Not pending any more (acked meanwhile by a consumer that
                // had it before it was reclaimed): still returned; acking it
                // again is harmless.
                _ => keep.push(entry),
            }
        }
        if !dead.is_empty() {
            self.dead_letter(&dead)?;
        }
        Ok(keep)
    }

    /// Adds each entry to the dead-letter stream, then acks it.
    fn dead_letter(&mut self, dead: &[(Entry, usize)]) -> Result<(), ConsumerError> {
        let mut pipe = redis::pipe();
        for (entry, deliveries) in dead {
            let command = pipe.cmd("XADD").arg(&self.dead_letter).arg("*");
            for (key, value) in &entry.fields {
                command.arg(key).arg(value);
            }
            command
                .arg("dead_letter_id")
                .arg(&entry.id)
                .arg("dead_letter_deliveries")
                .arg(*deliveries)
                .arg("dead_letter_consumer")
                .arg(&self.consumer)
                .ignore();
        }
        let result: redis::RedisResult<()> = self.commands.run(self.io_timeout, |c| pipe.query(c));
        result.map_err(|err| self.error("XADD (dead letter)", err))?;
        // A command of its own: on a cluster the dead-letter stream may be
        // on another master than the stream.
        let ids: Vec<&str> = dead.iter().map(|(entry, _)| entry.id.as_str()).collect();
        let mut ack = redis::cmd("XACK");
        ack.arg(&self.stream).arg(&self.group).arg(&ids);
        let result: redis::RedisResult<u64> = self.commands.run(self.io_timeout, |c| ack.query(c));
        result.map_err(|err| self.error("XACK (dead letter)", err))?;
        self.stats.dead_lettered += dead.len() as u64;
        Ok(())
    }

    /// Acknowledges processed entries (`XACK`); returns how many of them
    /// were pending (an ID acked twice, or never delivered to the group,
    /// counts 0). An empty slice sends nothing.
    ///
    /// # Errors
    /// A [`ConsumerError`]; on a broken connection the ack may or may not
    /// have reached the server (acking again is harmless).
    pub fn ack<S: AsRef<str>>(&mut self, ids: &[S]) -> Result<u64, ConsumerError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
        let mut command = redis::cmd("XACK");
        command.arg(&self.stream).arg(&self.group).arg(&ids);
        let result: redis::RedisResult<u64> = self.commands.run(self.io_timeout, |c| command.query(c));
        let result = result.map_err(|err| self.error("XACK", err));
        let acked = self.counted(result)?;
        self.stats.acked += acked;
        Ok(acked)
    }

    /// One reclaim step: takes over up to `max` entries that any consumer
    /// of the group (this one included) was given and has not acked for at
    /// least `min_idle` (`XAUTOCLAIM`, continuing the scan of the pending
    /// list where the previous step stopped). Claiming counts as a
    /// delivery: an entry whose count then exceeds the maximum is
    /// dead-lettered and acked instead of returned.
    ///
    /// # Errors
    /// A [`ConsumerError`]; the consumer stays usable.
    pub fn reclaim(&mut self, min_idle: Duration, max: usize) -> Result<Reclaimed, ConsumerError> {
        let result = self.try_reclaim(min_idle, max.max(1));
        self.counted(result)
    }

    fn try_reclaim(&mut self, min_idle: Duration, max: usize) -> Result<Reclaimed, ConsumerError> {
        self.ensure_group()?;
        let mut command = redis::cmd("XAUTOCLAIM");
        command
            .arg(&self.stream)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(u64::try_from(min_idle.as_millis()).unwrap_or(u64::MAX))
            .arg(&self.claim_cursor)
            .arg(StreamAutoClaimOptions::default().count(max));
        let result: redis::RedisResult<Value> = self.commands.run(self.io_timeout, |c| command.query(c));
        let value = result.map_err(|err| self.error("XAUTOCLAIM", err))?;
        let (cursor, claimed, deleted) = parse_autoclaim_reply(&value)
            .map_err(|reason| self.make_error(ConsumerErrorKind::Malformed, "XAUTOCLAIM", reason, None))?;
        let scan = if cursor == "0-0" { Scan::Complete } else { Scan::More };
        self.claim_cursor = cursor;
        let claimed_ids: HashSet<String> = claimed.iter().map(|e| e.id.clone()).collect();
        let dead_before = self.stats.dead_lettered;
        let entries = self.screen(claimed)?;
        let kept: HashSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        let mut dead_lettered: Vec<String> =
            claimed_ids.iter().filter(|id| !kept.contains(id.as_str())).cloned().collect();
        dead_lettered.sort_unstable();
        debug_assert_eq!(dead_lettered.len() as u64, self.stats.dead_lettered - dead_before);
        self.stats.reclaimed += entries.len() as u64;
        Ok(Reclaimed { entries, dead_lettered, deleted, scan })
    }

    /// Drops both connections; the next call reconnects.
    pub fn disconnect(&mut self) {
        self.commands.connection = None;
        self.blocking.connection = None;
    }
}

fn options_block(options: &StreamReadOptions) -> Duration {
    // StreamReadOptions does not expose its block time; read it back from
    // its arguments.
    let args = redis::ToRedisArgs::to_redis_args(options);
    args.iter()
        .position(|arg| arg.as_slice() == b"BLOCK")
        .and_then(|i| args.get(i + 1))
        .and_then(|ms| std::str::from_utf8(ms).ok()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_millis)
}

impl fmt::Debug for StreamConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamConsumer")
            .field("stream", &self.stream)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("dead_letter", &self.dead_letter)
            .field("max_deliveries", &self.max_deliveries)
            .field("target", &self.target)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// `[[id, [field, value, …]], …]`, in order. An entry that no longer
/// exists (a pending ID whose entry was trimmed) comes with nil fields and
/// is returned with none.
fn parse_entries(value: &Value, origin: Origin) -> Result<Vec<Entry>, String> {
    let Value::Array(items) = value else {
        return Err(format!("expected an array of entries, got {value:?}"));
    };
    items
        .iter()
        .map(|item| {
            let Value::Array(parts) = item else {
                return Err(format!("expected [id, fields], got {item:?}"));
            };
            let [id, fields] = parts.as_slice() else {
                return Err(format!("expected [id, fields], got {item:?}"));
            };
            let id = String::from_redis_value(id).map_err(|e| e.to_string())?;
            let fields = match fields {
                Value::Nil => Vec::new(),
                Value::Array(flat) => flat
                    .chunks(2)
                    .map(|pair| match pair {
                        [k, v] => Ok((
                            String::from_redis_value(k).map_err(|e| e.to_string())?,
                            String::from_redis_value(v).map_err(|e| e.to_string())?,
                        )),
                        _ => Err(format!("entry {id}: odd number of field values")),
                    })
                    .collect::<Result<_, _>>()?,
                // RESP3 servers answer with a map.
                Value::Map(pairs) => pairs
                    .iter()
                    .map(|(k, v)| {
                        Ok((
                            String::from_redis_value(k).map_err(|e| e.to_string())?,
                            String::from_redis_value(v).map_err(|e| e.to_string())?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
                other => return Err(format!("entry {id}: unexpected fields {other:?}")),
            };
            Ok(Entry { id, fields, origin })
        })
        .collect()
}

/// `XREADGROUP`'s reply: nil (nothing), or `[[stream, entries]]` (an array
/// or, on RESP3, a map).
fn parse_read_reply(value: &Value, origin: Origin) -> Result<Vec<Entry>, String> {
    match value {
        Value::Nil => Ok(Vec::new()),
        Value::Array(streams) => match streams.first() {
            None => Ok(Vec::new()),
            Some(Value::Array(pair)) if pair.len() == 2 => parse_entries(&pair[1], origin),
            Some(other) => Err(format!("expected [stream, entries], got {other:?}")),
        },
        Value::Map(streams) => match streams.first() {
            None => Ok(Vec::new()),
            Some((_, entries)) => parse_entries(entries, origin),
        },
        other => Err(format!("unexpected reply {other:?}")),
    }
}

/// `XAUTOCLAIM`'s reply: `[cursor, entries, deleted ids]`.
fn parse_autoclaim_reply(value: &Value) -> Result<(String, Vec<Entry>, Vec<String>), String> {
    let Value::Array(items) = value else {
        return Err(format!("unexpected reply {value:?}"));
    };
    let (cursor, entries, deleted) = match items.as_slice() {
        [cursor, entries] => (cursor, entries, None),
        [cursor, entries, deleted] => (cursor, entries, Some(deleted)),
        _ => return Err(format!("unexpected reply {value:?}")),
    };
    let cursor = String::from_redis_value(cursor).map_err(|e| e.to_string())?;
    let entries = parse_entries(entries, Origin::Reclaimed)?;
    let deleted = match deleted {
        Some(deleted) => Vec::<String>::from_redis_value(deleted).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    Ok((cursor, entries, deleted))
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

    #[test]
    fn replies_parse_in_order_with_trimmed_entries() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("s"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("1-0"),
                    Value::Array(vec![bulk("z"), bulk("1"), bulk("a"), bulk("2")]),
                ]),
                Value::Array(vec![bulk("2-0"), Value::Nil]),
            ]),
        ])]);
        let entries = parse_read_reply(&reply, Origin::Pending).unwrap();
        assert_eq!(entries[0].fields, [("z".to_owned(), "1".to_owned()), ("a".to_owned(), "2".to_owned())]);
        assert!(entries[1].fields.is_empty());
        assert_eq!(parse_read_reply(&Value::Nil, Origin::New).unwrap(), []);
    }

    #[test]
    fn block_time_is_read_back_from_the_options() {
        assert_eq!(options_block(&StreamReadOptions::default().count(3)), Duration::ZERO);
        assert_eq!(
            options_block(&StreamReadOptions::default().block(250).count(3)),
            Duration::from_millis(250)
        );
    }
}
