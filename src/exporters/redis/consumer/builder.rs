//! [`StreamConsumerBuilder`]: a consumer's settings, checked before use.

use std::time::Duration;

use super::super::connection::{ConnectionSettings, DEFAULT_REDIS_CONNECT_TIMEOUT, DEFAULT_REDIS_IO_TIMEOUT};
use super::super::error::RedisConfigError;
use super::link::{Link, Target};
use super::{ConsumerStats, Phase, StreamConsumer, DEFAULT_DEAD_LETTER_SUFFIX, DEFAULT_MAX_DELIVERIES};

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
                let client = super::super::cluster::client(nodes, &self.settings)?;
                (Target::Cluster(client), super::super::cluster::target(nodes))
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
}
