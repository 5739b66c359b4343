//! `RedisStreams`: each batch of events, of any type, is one pipelined round
//! trip of `XADD`s with `MAXLEN ~ N` to one stream.

//!
//! Modules: `layout` (stream keys, partitions, the entry encoding),
//! `fields` (one entry's field arguments), `builder` (the settings).

use std::fmt;
use std::sync::Arc;

use super::connection::Connector;
use crate::clock::wall_now;
use crate::encoding::Resolved;
use crate::pipeline::Names;
#[cfg(doc)]
use crate::ExportErrorKind;
use crate::{Event, ExportError, Exporter, Timestamp};

mod builder;
mod fields;
mod layout;

pub use builder::RedisStreamsBuilder;
use fields::{encode_error, fields_args};
use layout::Trim;
pub use layout::{partition_key, Partition, StreamEncoding};

/// The default name of a [`RedisStreams`] exporter.
pub const DEFAULT_REDIS_STREAMS_NAME: &str = "redis_streams";
/// The default stream key.
pub const DEFAULT_REDIS_STREAM: &str = "ringtel:events";
/// The default bound on the stream's length (`MAXLEN ~ N`).
pub const DEFAULT_REDIS_STREAM_MAX_LEN: usize = 100_000;
/// The field holding the whole JSON object under [`StreamEncoding::Json`].
pub const DEFAULT_REDIS_JSON_FIELD: &str = "json";

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
        // Resolve names only while encoding.
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
mod tests;
