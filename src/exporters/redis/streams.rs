//! `RedisStreams`: each batch of events, of any type, is one pipelined round
//! trip of `XADD`s with `MAXLEN ~ N` to one stream.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::connection::{ConnectionSettings, Connector};
use super::error::RedisConfigError;
use crate::clock::wall_now;
use crate::encoding::resolved::{field_key, Text};
use crate::encoding::{FieldValue, Resolved};
use crate::pipeline::Names;
use crate::{Event, ExportError, ExportErrorKind, Exporter, Timestamp};

/// The default name of a [`RedisStreams`] exporter.
pub const DEFAULT_REDIS_STREAMS_NAME: &str = "redis_streams";
/// The default stream key.
pub const DEFAULT_REDIS_STREAM: &str = "ringtel:events";
/// The default bound on the stream's length (`MAXLEN ~ N`).
pub const DEFAULT_REDIS_STREAM_MAX_LEN: usize = 100_000;
/// The field holding the whole JSON object under [`StreamEncoding::Json`].
pub const DEFAULT_REDIS_JSON_FIELD: &str = "json";

/// How an event becomes the fields of one stream entry. Either way the
/// content is exactly that of the event's JSON Lines object (see
/// [`Resolved`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StreamEncoding {
    /// One stream field per JSON key, in the JSON object's order (`ts`,
    /// correlation ids, `event`, `severity`, `message`, then the event's
    /// fields). A string value is stored as its text, any other value as its
    /// JSON text (`42`, `0.5`, `true`, `null` for a float that is not finite,
    /// a nested value's JSON).
    #[default]
    Fields,
    /// One field (named here, for example [`DEFAULT_REDIS_JSON_FIELD`])
    /// holding the whole JSON object, as one line of JSON Lines would.
    Json {
        /// The field name.
        field: String,
    },
}

/// Which stream key each event goes to. With a partition the key is
/// [`partition_key`]`(stream, partition)`: the stream key followed by the
/// partition in a hash tag, `<stream>:{<partition>}`, so on a Redis Cluster
/// each partition's stream lives in one slot and partitions spread over the
/// masters. Order is kept per partition (one key), not across partitions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Partition {
    /// Every event to the stream key as given. The default.
    #[default]
    None,
    /// Every event to one partition, such as this producer's name:
    /// `<stream>:{<name>}`.
    Fixed(String),
    /// Each event to its run's partition, `<stream>:{run-<id>}`
    /// (`<stream>:{run-none}` for events without a run id).
    Run,
}

/// The stream key of `partition` of `stream`: `<stream>:{<partition>}`. On a
/// Redis Cluster the hash tag (`{…}`) decides the slot, so every key of one
/// partition (the stream, and the consumer's default dead-letter stream
/// `<stream>:{<partition>}:dead`) lives on one master.
///
/// # Examples
/// ```
/// use ringtel::exporters::redis::partition_key;
/// assert_eq!(partition_key("ringtel:events", "run-7"), "ringtel:events:{run-7}");
/// ```
pub fn partition_key(stream: &str, partition: &str) -> String {
    format!("{stream}:{{{partition}}}")
}

/// How the stream's length is bounded on every `XADD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trim {
    /// `MAXLEN ~ N`: Redis trims whole internal nodes, so the stream may hold
    /// somewhat more than `N` entries (by at most one node,
    /// `stream-node-max-entries`, default 100). Cheap.
    Approx(usize),
    /// `MAXLEN = N`: exactly `N` entries at most. Costlier on the server.
    Exact(usize),
}

/// An exporter that appends each event, of any [`Event`] type, to a Redis
/// stream, following the [encoding contract](crate::encoding), with names
/// resolved through the [`Names`] registry given with
/// [`RedisStreamsBuilder::names`] (`#index` without one).
///
/// Each batch is one round trip: one `XADD <stream> MAXLEN ~ <N> * <fields…>`
/// per event, pipelined in a single write, replies read against one deadline
/// (the I/O timeout). The connection is made on first use with the connect
/// timeout, read and write timeouts are always set, and after a transport
/// failure or timeout the connection is dropped and remade on the next batch,
/// so a restarted server is picked up again. Failures are [`ExportError`]s:
/// `Transport` (unreachable, connection broken; retryable), `Timeout`
/// (retryable), `Rejected` (an error reply, such as a key of the wrong type),
/// `Encode`. ringtel counts them per exporter and opens its breaker.
///
/// Delivery is at least once per successful batch: when a connection breaks
/// mid-batch, some of its entries may have been added although the batch
/// counts as failed.
///
/// Encoding happens before any I/O, and the [`Names`] lock is released
/// before the round trip, so a slow server never blocks producers that
/// intern names. The commands, their arguments and the packed request are
/// reused from batch to batch: encoding allocates nothing per event.
///
/// # Examples
/// Building does not connect, so this runs without a server:
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use ringtel::exporters::redis::{RedisStreams, StreamEncoding};
/// use ringtel::pipeline::{Names, PipelineEvent};
/// use ringtel::Telemetry;
///
/// let names = Arc::new(Names::new());
/// let exporter = RedisStreams::builder("redis://127.0.0.1:6379/0")
///     .names(Arc::clone(&names))
///     .stream("pipeline:events")
///     .max_len(10_000)
///     .encoding(StreamEncoding::Fields)
///     .connect_timeout(Duration::from_millis(500))
///     .io_timeout(Duration::from_secs(1))
///     .build()?;
/// assert_eq!(exporter.stream(), "pipeline:events");
/// let telemetry = Telemetry::<PipelineEvent>::builder().exporter(exporter).start()?;
/// # drop(telemetry);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedisStreams {
    name: String,
    stream: String,
    trim: Trim,
    encoding: StreamEncoding,
    names: Option<Arc<Names>>,
    partition: Partition,
    /// The key under `Partition::Fixed`; the key of the current event under
    /// `Partition::Run` (reused).
    key: String,
    backend: Backend,
    /// One `XADD` per event of the batch being sent; commands past the
    /// batch's length are kept (cleared) for the next batch.
    commands: Vec<redis::Cmd>,
    /// The batch's commands, packed in the Redis protocol; reused.
    packed: Vec<u8>,
    /// One event's JSON, or one field value's text; reused.
    scratch: Vec<u8>,
}

/// Configures a [`RedisStreams`] exporter; from [`RedisStreams::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RedisStreamsBuilder {
    settings: ConnectionSettings,
    names: Option<Arc<Names>>,
    name: String,
    stream: String,
    max_len: usize,
    exact_trim: bool,
    encoding: StreamEncoding,
    partition: Partition,
    /// The cluster's node URLs, when writing to a Redis Cluster.
    cluster: Option<Vec<String>>,
}

/// Where the batches go. One per exporter, built once and never moved on
/// the hot path, so the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Backend {
    Single(Connector),
    #[cfg(feature = "redis-cluster")]
    Cluster(ClusterBackend),
}

/// A cluster exporter's connection.
#[cfg(feature = "redis-cluster")]
type ClusterBackend = super::cluster::ClusterLink;

#[cfg(feature = "redis-cluster")]
/// Sends the batch's commands as one cluster pipeline: the redis crate
/// groups them by master, sends each group in one write and reads every
/// reply, in order per master (so per key).
fn send_to_cluster(cluster: &mut ClusterBackend, commands: &[redis::Cmd]) -> Result<(), ExportError> {
    let mut pipe = redis::cluster::cluster_pipe();
    for command in commands {
        pipe.add_command(command.clone()).ignore();
    }
    cluster.run(|connection| pipe.query::<()>(connection))
}

impl RedisStreams {
    /// The exporter's name, as shown in `Health` (what [`Exporter::name`]
    /// returns, callable without naming the event type).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A builder for an exporter to the server at `url`
    /// (`redis://[user:password@]host[:port][/db]`), every other setting at
    /// its default.
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use ringtel::exporters::redis::{RedisStreams, DEFAULT_REDIS_STREAM};
    /// use ringtel::pipeline::Names;
    ///
    /// let exporter = RedisStreams::builder("redis://127.0.0.1").names(Arc::new(Names::new())).build()?;
    /// assert_eq!(exporter.stream(), DEFAULT_REDIS_STREAM);
    /// assert_eq!(exporter.target(), "127.0.0.1:6379");
    ///
    /// let err = RedisStreams::builder("http://nowhere").build().unwrap_err();
    /// assert!(err.to_string().starts_with("invalid redis url `http://nowhere`"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(url: impl Into<String>) -> RedisStreamsBuilder {
        RedisStreamsBuilder {
            settings: ConnectionSettings::new(url),
            names: None,
            name: DEFAULT_REDIS_STREAMS_NAME.to_owned(),
            stream: DEFAULT_REDIS_STREAM.to_owned(),
            max_len: DEFAULT_REDIS_STREAM_MAX_LEN,
            exact_trim: false,
            encoding: StreamEncoding::default(),
            partition: Partition::default(),
            cluster: None,
        }
    }

    /// A builder for an exporter to a Redis Cluster reached through any of
    /// `nodes` (`redis://host:port` URLs; the client learns the others from
    /// them), over the redis crate's sync cluster client. Feature
    /// `redis-cluster`. Give it a [`Partition`] so that producers' streams
    /// spread over the masters.
    ///
    /// Each batch is one cluster pipeline (one write per master it
    /// touches). A batch fails as a whole when a master it needs is down:
    /// exporters whose partitions live on other masters keep flowing. Unlike
    /// the single-node path, which reuses its packed request, the cluster
    /// pipeline takes its commands by value: one command is copied per event.
    /// A command is retried at most twice (a `MOVED`/`ASK` redirect, a
    /// broken connection), so a dead master fails a batch within a few I/O
    /// timeouts.
    ///
    /// # Examples
    /// ```
    /// use ringtel::exporters::redis::{Partition, RedisStreams};
    ///
    /// let exporter = RedisStreams::cluster_builder(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"])
    ///     .stream("ringtel:events")
    ///     .partition(Partition::Fixed("producer-1".into()))
    ///     .build()?;
    /// assert_eq!(exporter.target(), "cluster(127.0.0.1:7000,127.0.0.1:7001)");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "redis-cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
    pub fn cluster_builder<N: Into<String>>(nodes: impl IntoIterator<Item = N>) -> RedisStreamsBuilder {
        let nodes: Vec<String> = nodes.into_iter().map(Into::into).collect();
        let mut builder = Self::builder(nodes.first().cloned().unwrap_or_default());
        builder.cluster = Some(nodes);
        builder
    }

    /// Drops the connection (what [`Exporter::close`] does, callable without
    /// naming the event type). Nothing is buffered, so there is nothing to
    /// flush.
    pub fn close(&mut self) {
        match &mut self.backend {
            Backend::Single(connector) => connector.disconnect(),
            #[cfg(feature = "redis-cluster")]
            Backend::Cluster(cluster) => cluster.disconnect(),
        }
    }

    /// The stream key written to.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// How events are spread over stream keys.
    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// The server's `host:port` (`cluster(host:port,…)` for a cluster).
    pub fn target(&self) -> &str {
        match &self.backend {
            Backend::Single(connector) => connector.target(),
            #[cfg(feature = "redis-cluster")]
            Backend::Cluster(cluster) => cluster.target(),
        }
    }

    /// The bytes [`export`](Exporter::export) sends for `batch`, without
    /// sending them: one `XADD` per event, pipelined, in the Redis protocol
    /// (RESP). For inspecting the encoding; the `encode` fuzz target checks
    /// it against the JSON Lines rendering.
    ///
    /// # Errors
    /// [`ExportErrorKind::Encode`] if an event cannot be encoded.
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use ringtel::exporters::redis::RedisStreams;
    /// use ringtel::pipeline::{Names, PipelineEvent, RowId, RunContext, RunId, TokenId};
    /// use ringtel::{ManualClock, Timestamp};
    ///
    /// let mut exporter = RedisStreams::builder("redis://127.0.0.1").names(Arc::new(Names::new())).build()?;
    /// let clock = ManualClock::new(Timestamp::from_nanos(2_000_000_000));
    /// let run = RunContext::new(RunId::new(1), &clock);
    /// let bytes = exporter.encode_batch(&[PipelineEvent::row_created(run, RowId::new(5), TokenId::new(5))])?;
    /// let text = std::str::from_utf8(bytes)?;
    /// assert!(text.starts_with("*18\r\n$4\r\nXADD\r\n"), "{text}");
    /// assert!(text.contains("$5\r\nevent\r\n$11\r\nrow_created\r\n"), "{text}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode_batch<E: Event>(&mut self, batch: &[E]) -> Result<&[u8], ExportError> {
        self.encode(batch, wall_now())?;
        Ok(&self.packed)
    }

    /// Encodes `batch` into the reused commands and packs them: one `XADD`
    /// per event.
    fn encode<E: Event>(&mut self, batch: &[E], taken_at: Timestamp) -> Result<(), ExportError> {
        // Hold the registry's lock only while encoding, never across I/O.
        let names = self.names.clone();
        let view = names.as_deref().map(Names::read);
        if self.commands.len() < batch.len() {
            self.commands.resize_with(batch.len(), redis::Cmd::new);
        }
        self.packed.clear();
        for (command, event) in self.commands.iter_mut().zip(batch) {
            command.clear();
            command.arg("XADD");
            match &self.partition {
                Partition::None => command.arg(&self.stream),
                Partition::Fixed(_) => command.arg(&self.key),
                Partition::Run => {
                    use std::fmt::Write as _;
                    self.key.clear();
                    // Writing into a String cannot fail.
                    let _ = match event.correlation().run {
                        Some(run) => write!(self.key, "{}:{{run-{run}}}", self.stream),
                        None => write!(self.key, "{}:{{run-none}}", self.stream),
                    };
                    command.arg(&self.key)
                }
            };
            command.arg("MAXLEN");
            match self.trim {
                Trim::Approx(n) => command.arg("~").arg(n),
                Trim::Exact(n) => command.arg("=").arg(n),
            };
            command.arg("*");
            let resolved = Resolved::new(event, view.as_ref(), taken_at);
            match &self.encoding {
                StreamEncoding::Json { field } => {
                    self.scratch.clear();
                    serde_json::to_writer(&mut self.scratch, &resolved).map_err(encode_error)?;
                    command.arg(field.as_str()).arg(self.scratch.as_slice());
                }
                StreamEncoding::Fields => fields_args(command, &resolved, &mut self.scratch)?,
            }
            if matches!(self.backend, Backend::Single(_)) {
                command.write_packed_command(&mut self.packed);
            }
        }
        Ok(())
    }
}

/// The `key value` arguments of one event under [`StreamEncoding::Fields`]:
/// the JSON Lines object's keys in its order, string values as their text,
/// others as their JSON text.
fn fields_args<E: Event + ?Sized>(
    command: &mut redis::Cmd,
    resolved: &Resolved<'_, E>,
    scratch: &mut Vec<u8>,
) -> Result<(), ExportError> {
    let event = resolved.event();
    let mut args = Args { command, scratch };
    let str_value = |s| Text::Value(FieldValue::Str(s));
    args.pair(&"ts", Text::Value(FieldValue::U64(resolved.time().as_nanos())))?;
    let ids = event.correlation();
    if let Some(run) = ids.run {
        args.pair(&"run", Text::Value(FieldValue::U64(run)))?;
    }
    if let Some(trace) = ids.trace_id {
        args.hex("trace_id", &trace);
    }
    if let Some(span) = ids.span_id {
        args.hex("span_id", &span);
    }
    args.pair(&"event", str_value(event.name()))?;
    args.pair(&"severity", str_value(event.severity().as_str()))?;
    if let Some(message) = event.message() {
        args.pair(&"message", str_value(message))?;
    }
    let mut result = Ok(());
    resolved.for_each(|key, value| {
        if result.is_ok() {
            result = args.pair(&field_key(key), value);
        }
    });
    result
}

/// Appends `key value` arguments to one command through a reused buffer.
struct Args<'c> {
    command: &'c mut redis::Cmd,
    scratch: &'c mut Vec<u8>,
}

impl Args<'_> {
    fn pair(&mut self, key: &dyn fmt::Display, value: Text<'_>) -> Result<(), ExportError> {
        self.scratch.clear();
        write_key(self.scratch, key);
        let key_len = self.scratch.len();
        value_text(self.scratch, value)?;
        self.command.arg(&self.scratch[..key_len]).arg(&self.scratch[key_len..]);
        Ok(())
    }

    fn hex(&mut self, key: &str, id: &dyn fmt::Display) {
        self.scratch.clear();
        write_key(self.scratch, id);
        self.command.arg(key).arg(self.scratch.as_slice());
    }
}

fn write_key(out: &mut Vec<u8>, key: &dyn fmt::Display) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{key}");
}

/// Appends a field value's text: a string as itself, anything else as its
/// JSON text (serde_json's, so floats are exactly what JSON Lines writes).
fn value_text(out: &mut Vec<u8>, value: Text<'_>) -> Result<(), ExportError> {
    use std::io::Write as _;
    match value {
        Text::Value(FieldValue::Str(s)) | Text::Name(s) => out.extend_from_slice(s.as_bytes()),
        Text::Value(FieldValue::Json(raw)) => out.extend_from_slice(raw.as_bytes()),
        Text::Value(FieldValue::Name(id)) | Text::UnknownName(id) => {
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{id}");
        }
        other => serde_json::to_writer(&mut *out, &other).map_err(encode_error)?,
    }
    Ok(())
}

fn encode_error(err: serde_json::Error) -> ExportError {
    ExportError::new(ExportErrorKind::Encode, err.to_string()).with_source(err)
}

impl<E: Event> Exporter<E> for RedisStreams {
    fn name(&self) -> &str {
        &self.name
    }

    fn export(&mut self, batch: &[E]) -> Result<(), ExportError> {
        self.export_taken(batch, wall_now())
    }

    fn export_taken(&mut self, batch: &[E], taken_at: Timestamp) -> Result<(), ExportError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.encode(batch, taken_at)?;
        match &mut self.backend {
            Backend::Single(connector) => connector.round_trip(&self.packed, batch.len()).map(drop),
            #[cfg(feature = "redis-cluster")]
            Backend::Cluster(cluster) => send_to_cluster(cluster, &self.commands[..batch.len()]),
        }
    }

    /// Nothing is buffered: every batch is sent before `export` returns.
    fn flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Drops the connection.
    fn close(&mut self) -> Result<(), ExportError> {
        RedisStreams::close(self);
        Ok(())
    }
}

impl RedisStreamsBuilder {
    /// The registry that interned names ([`FieldValue::Name`]) resolve
    /// through; without one they are written `#index`.
    pub fn names(mut self, names: Arc<Names>) -> Self {
        self.names = Some(names);
        self
    }

    /// The stream key; default [`DEFAULT_REDIS_STREAM`].
    pub fn stream(mut self, stream: impl Into<String>) -> Self {
        self.stream = stream.into();
        self
    }

    /// Bounds the stream to about `max_len` entries (`MAXLEN ~ max_len`,
    /// at least 1); default [`DEFAULT_REDIS_STREAM_MAX_LEN`].
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// Trims to exactly `max_len` (`MAXLEN = N`) instead of approximately
    /// (`MAXLEN ~ N`, the default, which lets Redis trim whole internal
    /// nodes and is much cheaper).
    pub fn exact_trim(mut self, exact: bool) -> Self {
        self.exact_trim = exact;
        self
    }

    /// How events become stream fields; default [`StreamEncoding::Fields`].
    pub fn encoding(mut self, encoding: StreamEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Which stream key each event goes to; default [`Partition::None`].
    pub fn partition(mut self, partition: Partition) -> Self {
        self.partition = partition;
        self
    }

    /// Time to connect; default
    /// [`DEFAULT_REDIS_CONNECT_TIMEOUT`](super::DEFAULT_REDIS_CONNECT_TIMEOUT).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// Time one batch's round trip may take; default
    /// [`DEFAULT_REDIS_IO_TIMEOUT`](super::DEFAULT_REDIS_IO_TIMEOUT). Keep it
    /// below the telemetry's `export_timeout`, so a slow server is a counted
    /// `Timeout` rather than a hung exporter.
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.settings.io_timeout = timeout;
        self
    }

    /// Names the exporter (as shown in `Health`); default
    /// [`DEFAULT_REDIS_STREAMS_NAME`].
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Validates the settings. Does not connect: the connection is made by
    /// the first batch.
    ///
    /// # Errors
    /// [`RedisConfigError::InvalidUrl`] for a URL the redis client rejects;
    /// [`RedisConfigError::InvalidSetting`] for an empty stream key, a zero
    /// `max_len` or a zero timeout.
    pub fn build(self) -> Result<RedisStreams, RedisConfigError> {
        if self.stream.is_empty() {
            return Err(RedisConfigError::invalid("stream", &self.stream, "a non-empty key"));
        }
        if self.max_len == 0 {
            return Err(RedisConfigError::InvalidSetting {
                field: "max_len",
                value: "0".to_owned(),
                expected: "an integer >= 1",
            });
        }
        if let StreamEncoding::Json { field } = &self.encoding {
            if field.is_empty() {
                return Err(RedisConfigError::invalid("encoding.field", field, "a non-empty field name"));
            }
        }
        if let Partition::Fixed(partition) = &self.partition {
            if partition.is_empty() || partition.contains(['{', '}']) {
                return Err(RedisConfigError::invalid(
                    "partition",
                    partition,
                    "a non-empty name without `{` or `}`",
                ));
            }
        }
        let backend = match &self.cluster {
            None => Backend::Single(self.settings.connector()?),
            #[cfg(feature = "redis-cluster")]
            Some(nodes) => Backend::Cluster(ClusterBackend::new(nodes, &self.settings)?),
            #[cfg(not(feature = "redis-cluster"))]
            Some(_) => unreachable!("only `cluster_builder` (feature `redis-cluster`) sets nodes"),
        };
        let key = match &self.partition {
            Partition::Fixed(partition) => partition_key(&self.stream, partition),
            Partition::None | Partition::Run => String::new(),
        };
        let trim = if self.exact_trim { Trim::Exact(self.max_len) } else { Trim::Approx(self.max_len) };
        Ok(RedisStreams {
            name: self.name,
            stream: self.stream,
            trim,
            encoding: self.encoding,
            names: self.names,
            partition: self.partition,
            key,
            backend,
            commands: Vec::new(),
            packed: Vec::new(),
            scratch: Vec::with_capacity(256),
        })
    }
}

impl fmt::Debug for RedisStreams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStreams")
            .field("name", &self.name)
            .field("stream", &self.stream)
            .field("trim", &self.trim)
            .field("encoding", &self.encoding)
            .field("partition", &self.partition)
            .field("target", &self.target())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{PipelineEvent, RowId, RunContext, RunId, TokenId};
    use crate::{ManualClock, Timestamp};

    fn args(exporter: &RedisStreams, batch: usize) -> Vec<Vec<String>> {
        exporter.commands[..batch]
            .iter()
            .map(|cmd| {
                cmd.args_iter()
                    .map(|arg| match arg {
                        redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                        redis::Arg::Cursor => "<cursor>".to_owned(),
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn encodes_one_xadd_per_event_with_fields_in_json_order() {
        let names = Arc::new(Names::new());
        let clock = ManualClock::new(Timestamp::from_nanos(1_000));
        let run = RunContext::new(RunId::new(7), &clock);
        let events = [
            PipelineEvent::row_created(run, RowId::new(1), TokenId::new(2)),
            PipelineEvent::row_created(run, RowId::new(3), TokenId::new(4)),
        ];
        let mut exporter = RedisStreams::builder("redis://127.0.0.1:1")
            .names(names)
            .stream("s")
            .max_len(50)
            .build()
            .unwrap();
        exporter.encode(&events, Timestamp::EPOCH).unwrap();
        let args = args(&exporter, events.len());
        assert_eq!(args.len(), 2);
        assert_eq!(
            args[0],
            [
                "XADD",
                "s",
                "MAXLEN",
                "~",
                "50",
                "*",
                "ts",
                "1000",
                "run",
                "7",
                "event",
                "row_created",
                "severity",
                "INFO",
                "row",
                "1",
                "token",
                "2"
            ]
        );
    }

    #[test]
    fn json_encoding_and_exact_trim() {
        let names = Arc::new(Names::new());
        let clock = ManualClock::new(Timestamp::from_nanos(5));
        let run = RunContext::new(RunId::new(1), &clock);
        let mut exporter = RedisStreams::builder("redis://127.0.0.1:1")
            .names(names)
            .encoding(StreamEncoding::Json { field: "j".to_owned() })
            .exact_trim(true)
            .max_len(3)
            .build()
            .unwrap();
        exporter
            .encode(&[PipelineEvent::row_created(run, RowId::new(1), TokenId::new(1))], Timestamp::EPOCH)
            .unwrap();
        assert_eq!(
            args(&exporter, 1)[0],
            [
                "XADD",
                DEFAULT_REDIS_STREAM,
                "MAXLEN",
                "=",
                "3",
                "*",
                "j",
                r#"{"ts":5,"run":1,"event":"row_created","severity":"INFO","row":1,"token":1}"#
            ]
        );
    }

    #[test]
    fn partitions_put_events_under_hash_tagged_keys() {
        let clock = ManualClock::new(Timestamp::from_nanos(5));
        let (one, two) = (RunContext::new(RunId::new(7), &clock), RunContext::new(RunId::new(8), &clock));
        let events = [
            PipelineEvent::row_created(one, RowId::new(1), TokenId::new(1)),
            PipelineEvent::row_created(two, RowId::new(2), TokenId::new(2)),
        ];
        let mut exporter = RedisStreams::builder("redis://127.0.0.1:1")
            .stream("s")
            .partition(Partition::Run)
            .build()
            .unwrap();
        exporter.encode(&events, Timestamp::EPOCH).unwrap();
        let keys: Vec<String> = args(&exporter, 2).into_iter().map(|a| a[1].clone()).collect();
        assert_eq!(keys, ["s:{run-7}", "s:{run-8}"]);
        let mut exporter = RedisStreams::builder("redis://127.0.0.1:1")
            .stream("s")
            .partition(Partition::Fixed("p1".into()))
            .build()
            .unwrap();
        exporter.encode(&events, Timestamp::EPOCH).unwrap();
        let keys: Vec<String> = args(&exporter, 2).into_iter().map(|a| a[1].clone()).collect();
        assert_eq!(keys, ["s:{p1}", "s:{p1}"]);
        let err = RedisStreams::builder("redis://127.0.0.1:1")
            .partition(Partition::Fixed("a}b".into()))
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid value "a}b" for `partition`: expected a non-empty name without `{` or `}`"#
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let names = Arc::new(Names::new());
        let err = RedisStreams::builder("redis://127.0.0.1")
            .names(Arc::clone(&names))
            .stream("")
            .build()
            .unwrap_err();
        assert_eq!(err.to_string(), r#"invalid value "" for `stream`: expected a non-empty key"#);
        let err = RedisStreams::builder("redis://127.0.0.1")
            .names(Arc::clone(&names))
            .io_timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(err.to_string(), "invalid value 0ns for `io_timeout`: expected a duration > 0");
        let err = RedisStreams::builder("redis://127.0.0.1")
            .names(names)
            .encoding(StreamEncoding::Json { field: String::new() })
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid value "" for `encoding.field`: expected a non-empty field name"#
        );
    }

    #[test]
    fn unreachable_server_is_a_retryable_transport_error() {
        // Port 1 on loopback: nothing listens, so the connect is refused at once.
        let names = Arc::new(Names::new());
        let clock = ManualClock::new(Timestamp::from_nanos(5));
        let run = RunContext::new(RunId::new(1), &clock);
        let mut exporter = RedisStreams::builder("redis://127.0.0.1:1").names(names).build().unwrap();
        let err =
            exporter.export(&[PipelineEvent::row_created(run, RowId::new(1), TokenId::new(1))]).unwrap_err();
        assert_eq!(err.kind(), ExportErrorKind::Transport, "{err}");
        assert!(err.is_retryable());
        assert!(err.message().starts_with("redis at 127.0.0.1:1: "), "{err}");
    }
}
