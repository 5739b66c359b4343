//! [`RedisStreamsBuilder`]: the exporter's settings, checked before use.

use std::sync::Arc;
use std::time::Duration;

use super::super::connection::ConnectionSettings;
use super::super::error::RedisConfigError;
#[cfg(feature = "redis-cluster")]
use super::ClusterBackend;
use super::{
    partition_key, Backend, Partition, RedisStreams, StreamEncoding, Trim, DEFAULT_REDIS_STREAM,
    DEFAULT_REDIS_STREAMS_NAME, DEFAULT_REDIS_STREAM_MAX_LEN,
};
#[cfg(doc)]
use crate::encoding::FieldValue;
use crate::pipeline::Names;

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

impl RedisStreams {
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
    /// [`DEFAULT_REDIS_CONNECT_TIMEOUT`](crate::exporters::redis::DEFAULT_REDIS_CONNECT_TIMEOUT).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// Time one batch's round trip may take; default
    /// [`DEFAULT_REDIS_IO_TIMEOUT`](crate::exporters::redis::DEFAULT_REDIS_IO_TIMEOUT). Keep it
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
