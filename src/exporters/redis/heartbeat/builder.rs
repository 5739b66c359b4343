//! [`HeartbeatPublisherBuilder`]: the publisher's settings, checked before
//! its thread starts.

use std::fmt;
use std::time::Duration;

use super::super::connection::ConnectionSettings;
use super::super::error::{HeartbeatStartError, RedisConfigError};
use super::link::{Link, Nodes};
use super::publisher::{
    HeartbeatPublisher, Shared, Source, DEFAULT_HEARTBEAT_FORGET_AFTER, DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_HEARTBEAT_STOPPED_TTL, DEFAULT_HEARTBEAT_TTL, HEARTBEAT_THREAD_NAME,
};
use super::worker::{host_name, whole_millis, Worker};
use super::{DEFAULT_HEARTBEAT_INDEX, DEFAULT_HEARTBEAT_STALE_AFTER};
use crate::sync::{thread, Arc, StdArc};
use crate::{Clock, SystemClock, Timestamp};

/// Configures a [`HeartbeatPublisher`]; from [`HeartbeatPublisher::builder`].
#[must_use = "a builder does nothing until `start` is called"]
pub struct HeartbeatPublisherBuilder {
    settings: ConnectionSettings,
    key: String,
    source: Source,
    interval: Duration,
    stale_after: Duration,
    ttl: Duration,
    stopped_ttl: Duration,
    /// `None`: the default index (on a cluster, derived from the key).
    index: Option<String>,
    forget_after: Duration,
    host: Option<String>,
    pid: u32,
    clock: StdArc<dyn Clock>,
    /// The cluster's node URLs, when publishing to a Redis Cluster.
    nodes: Nodes,
}

impl HeartbeatPublisher {
    /// A builder for a publisher writing `key` on the server at `url`, with
    /// `source` giving the consumer's last beat (`None`: no beat yet).
    ///
    /// `source` runs on the publisher's thread, which ringtel owns: a
    /// `tracing` event it raises is counted `OwnThread` by ringtel's layer
    /// instead of entering a ring, and an `emit` it makes under a blocking
    /// policy degrades to `Drop` (counted) rather than waiting.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use ringtel::exporters::redis::{HeartbeatPublisher, DEFAULT_HEARTBEAT_KEY};
    /// use ringtel::Timestamp;
    ///
    /// // Nothing listens on port 1: beats fail, are counted, and stop is prompt.
    /// let publisher = HeartbeatPublisher::builder("redis://127.0.0.1:1", DEFAULT_HEARTBEAT_KEY, || {
    ///     Some(Timestamp::from_nanos(1))
    /// })
    /// .interval(Duration::from_millis(10))
    /// .stale_after(Duration::from_millis(300))
    /// .ttl(Duration::from_secs(1))
    /// .host("worker-1")
    /// .start()?;
    /// assert_eq!(publisher.key(), DEFAULT_HEARTBEAT_KEY);
    /// let stats = publisher.stop();
    /// assert_eq!(stats.published, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(
        url: impl Into<String>,
        key: impl Into<String>,
        source: impl FnMut() -> Option<Timestamp> + Send + 'static,
    ) -> HeartbeatPublisherBuilder {
        HeartbeatPublisherBuilder {
            settings: ConnectionSettings::new(url),
            key: key.into(),
            source: Box::new(source),
            interval: DEFAULT_HEARTBEAT_INTERVAL,
            stale_after: DEFAULT_HEARTBEAT_STALE_AFTER,
            ttl: DEFAULT_HEARTBEAT_TTL,
            stopped_ttl: DEFAULT_HEARTBEAT_STOPPED_TTL,
            index: None,
            forget_after: DEFAULT_HEARTBEAT_FORGET_AFTER,
            host: None,
            pid: std::process::id(),
            clock: StdArc::new(SystemClock::new()),
            nodes: None,
        }
    }

    /// A builder for a publisher writing `key` on a Redis Cluster reached
    /// through any of `nodes` (`redis://host:port` URLs; the client learns
    /// the others from them), over the redis crate's sync cluster client.
    /// Feature `redis-cluster`.
    ///
    /// Every beat is the same one script as on a single server, run on the
    /// master owning the key's slot. That script also writes the index, so
    /// the key must carry a hash tag (`{…}`) and the index the same one;
    /// unless [`index`](HeartbeatPublisherBuilder::index) is given, the
    /// index is [`DEFAULT_HEARTBEAT_INDEX`] with the key's tag,
    /// `ringtel:heartbeats:{<tag>}`. Publishers sharing a tag share an index
    /// (and a master); readers find them all with
    /// [`HeartbeatReader::list`](super::HeartbeatReader::list).
    ///
    /// When that master is down, beats fail (counted, with the error) within
    /// a few I/O timeouts each, and `stop` still returns promptly.
    ///
    /// # Examples
    /// ```
    /// use ringtel::exporters::redis::HeartbeatPublisher;
    /// use ringtel::Timestamp;
    ///
    /// let nodes = ["redis://127.0.0.1:1", "redis://127.0.0.1:2"];
    /// // No hash tag: the script could not write the key and the index together.
    /// let err = HeartbeatPublisher::cluster_builder(nodes, "ringtel:heartbeat", || None).start().unwrap_err();
    /// assert!(err.to_string().starts_with(r#"invalid value "ringtel:heartbeat" for `key`"#), "{err}");
    ///
    /// let publisher = HeartbeatPublisher::cluster_builder(nodes, "ringtel:heartbeat:{agents}:w1", || {
    ///     Some(Timestamp::from_nanos(1))
    /// })
    /// .start()?;
    /// assert_eq!(publisher.key(), "ringtel:heartbeat:{agents}:w1");
    /// // Nothing listens there: the first beat fails, is counted, and stop is prompt.
    /// let stats = publisher.stop();
    /// assert_eq!(stats.published, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "redis-cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
    pub fn cluster_builder<N: Into<String>>(
        nodes: impl IntoIterator<Item = N>,
        key: impl Into<String>,
        source: impl FnMut() -> Option<Timestamp> + Send + 'static,
    ) -> HeartbeatPublisherBuilder {
        let nodes: Vec<String> = nodes.into_iter().map(Into::into).collect();
        let mut builder = Self::builder(nodes.first().cloned().unwrap_or_default(), key, source);
        builder.nodes = Some(nodes);
        builder
    }
}

impl HeartbeatPublisherBuilder {
    /// Time between beats; default [`DEFAULT_HEARTBEAT_INTERVAL`].
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The key's TTL, longer than `stale_after`; default
    /// [`DEFAULT_HEARTBEAT_TTL`]. Whole milliseconds (rounded up).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The age after which a beat is stale, longer than the interval and
    /// shorter than the TTL; default
    /// [`DEFAULT_HEARTBEAT_STALE_AFTER`](super::DEFAULT_HEARTBEAT_STALE_AFTER).
    /// Give readers the same value.
    pub fn stale_after(mut self, stale_after: Duration) -> Self {
        self.stale_after = stale_after;
        self
    }

    /// The TTL of the record a graceful stop writes; default
    /// [`DEFAULT_HEARTBEAT_STOPPED_TTL`]; > 0.
    pub fn stopped_ttl(mut self, stopped_ttl: Duration) -> Self {
        self.stopped_ttl = stopped_ttl;
        self
    }

    /// The index (sorted set) the key is added to; default
    /// [`DEFAULT_HEARTBEAT_INDEX`](super::DEFAULT_HEARTBEAT_INDEX).
    pub fn index(mut self, index: impl Into<String>) -> Self {
        self.index = Some(index.into());
        self
    }

    /// How long after its last write a key is pruned from the index; at
    /// least the TTL and the stopped TTL; default
    /// [`DEFAULT_HEARTBEAT_FORGET_AFTER`].
    pub fn forget_after(mut self, forget_after: Duration) -> Self {
        self.forget_after = forget_after;
        self
    }

    /// The host name written; default: the machine's host name
    /// (`/proc/sys/kernel/hostname`, `/etc/hostname`, `$HOSTNAME`), or
    /// `"unknown"`.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The clock the publish time is read from; default [`SystemClock`].
    /// Use the telemetry's clock, so both times in a record agree.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = StdArc::new(clock);
        self
    }

    /// Time to connect; default
    /// [`DEFAULT_REDIS_CONNECT_TIMEOUT`](crate::exporters::redis::DEFAULT_REDIS_CONNECT_TIMEOUT).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// Time one write may take; default
    /// [`DEFAULT_REDIS_IO_TIMEOUT`](crate::exporters::redis::DEFAULT_REDIS_IO_TIMEOUT).
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.settings.io_timeout = timeout;
        self
    }

    /// Validates the settings and starts the publisher thread, which
    /// publishes the first beat at once. Does not wait for Redis.
    ///
    /// # Errors
    /// [`HeartbeatStartError::Config`] for a bad URL, an empty key or index,
    /// a zero interval, stopped TTL or timeout, a TTL not longer than the
    /// interval (the key would expire between beats), a `stale_after` not
    /// strictly between the interval and the TTL (a live consumer would read
    /// stale between beats, or a silent one would never read stale), or a
    /// `forget_after` shorter than a TTL; [`HeartbeatStartError::Spawn`] if
    /// the thread cannot be spawned.
    pub fn start(self) -> Result<HeartbeatPublisher, HeartbeatStartError> {
        if self.key.is_empty() {
            return Err(RedisConfigError::invalid("key", &self.key, "a non-empty key").into());
        }
        if self.interval.is_zero() {
            return Err(RedisConfigError::invalid("interval", self.interval, "a duration > 0").into());
        }
        if self.ttl <= self.interval {
            return Err(
                RedisConfigError::invalid("ttl", self.ttl, "a duration longer than `interval`").into()
            );
        }
        if self.stale_after <= self.interval {
            return Err(RedisConfigError::invalid(
                "stale_after",
                self.stale_after,
                "a duration longer than `interval`",
            )
            .into());
        }
        if self.stale_after >= self.ttl {
            return Err(RedisConfigError::invalid(
                "stale_after",
                self.stale_after,
                "a duration shorter than `ttl`",
            )
            .into());
        }
        if self.stopped_ttl.is_zero() {
            return Err(RedisConfigError::invalid("stopped_ttl", self.stopped_ttl, "a duration > 0").into());
        }
        let index = self.resolved_index()?;
        if index.is_empty() {
            return Err(RedisConfigError::invalid("index", &index, "a non-empty key").into());
        }
        if self.forget_after < self.ttl || self.forget_after < self.stopped_ttl {
            return Err(RedisConfigError::invalid(
                "forget_after",
                self.forget_after,
                "a duration at least `ttl` and `stopped_ttl`",
            )
            .into());
        }
        let link = Link::new(&self.settings, &self.nodes)?;
        let shared = Arc::new(Shared::default());
        let worker = Worker {
            shared: Arc::clone(&shared),
            link,
            key: self.key.clone(),
            source: self.source,
            interval: self.interval,
            ttl_ms: whole_millis(self.ttl),
            stopped_ttl_ms: whole_millis(self.stopped_ttl),
            index,
            forget_ms: whole_millis(self.forget_after),
            last_beat: None,
            host: self.host.unwrap_or_else(host_name),
            pid: self.pid,
            clock: self.clock,
        };
        let thread = thread::Builder::new()
            .name(HEARTBEAT_THREAD_NAME.to_owned())
            .spawn(move || {
                // A ringtel-owned thread: `tracing` events raised here (by
                // the redis client, or by the source) are counted as
                // `OwnThread` and never fed back into a ring, and an emit
                // with a blocking policy degrades to `Drop` instead of
                // waiting on a consumer.
                crate::role::enter_service_thread();
                worker.run();
            })
            .map_err(HeartbeatStartError::Spawn)?;
        Ok(HeartbeatPublisher {
            shared,
            thread: Some(thread),
            key: self.key,
            interval: self.interval,
            stale_after: self.stale_after,
            ttl: self.ttl,
        })
    }
}

impl HeartbeatPublisherBuilder {
    /// The index to write: as given, or the default (on a cluster, the
    /// default with the key's hash tag). On a cluster the key and the index
    /// must share a hash tag: one script writes both.
    fn resolved_index(&self) -> Result<String, RedisConfigError> {
        if self.nodes.is_none() {
            return Ok(self.index.clone().unwrap_or_else(|| DEFAULT_HEARTBEAT_INDEX.to_owned()));
        }
        #[cfg(feature = "redis-cluster")]
        {
            use super::super::cluster::hash_tag;
            let Some(tag) = hash_tag(&self.key) else {
                return Err(RedisConfigError::invalid(
                    "key",
                    &self.key,
                    "a key with a hash tag `{…}` on a cluster (its index shares the tag)",
                ));
            };
            match &self.index {
                None => Ok(super::link::cluster_index(&self.key).expect("the key has a hash tag")),
                Some(index) if hash_tag(index) == Some(tag) => Ok(index.clone()),
                Some(index) => Err(RedisConfigError::invalid(
                    "index",
                    index,
                    "a key with the heartbeat key's hash tag on a cluster (one script writes both)",
                )),
            }
        }
        #[cfg(not(feature = "redis-cluster"))]
        unreachable!("only `cluster_builder` (feature `redis-cluster`) sets nodes")
    }
}

impl fmt::Debug for HeartbeatPublisherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeartbeatPublisherBuilder")
            .field("settings", &self.settings)
            .field("key", &self.key)
            .field("interval", &self.interval)
            .field("stale_after", &self.stale_after)
            .field("ttl", &self.ttl)
            .field("stopped_ttl", &self.stopped_ttl)
            .field("index", &self.index)
            .field("forget_after", &self.forget_after)
            .field("host", &self.host)
            .field("pid", &self.pid)
            .field("clock", &self.clock)
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporters::redis::DEFAULT_HEARTBEAT_KEY;

    #[test]
    fn bad_settings_are_named() {
        let start = |interval, ttl| {
            HeartbeatPublisher::builder("redis://127.0.0.1:1", DEFAULT_HEARTBEAT_KEY, || None)
                .interval(interval)
                .ttl(ttl)
                .start()
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            start(Duration::ZERO, Duration::from_secs(1)),
            "invalid value 0ns for `interval`: expected a duration > 0"
        );
        assert_eq!(
            start(Duration::from_secs(1), Duration::from_secs(1)),
            "invalid value 1s for `ttl`: expected a duration longer than `interval`"
        );
        let with_stale = |interval, stale_after, ttl| {
            HeartbeatPublisher::builder("redis://127.0.0.1:1", DEFAULT_HEARTBEAT_KEY, || None)
                .interval(interval)
                .stale_after(stale_after)
                .ttl(ttl)
                .start()
                .unwrap_err()
                .to_string()
        };
        let ms = Duration::from_millis;
        assert_eq!(
            with_stale(ms(100), ms(100), ms(1_000)),
            "invalid value 100ms for `stale_after`: expected a duration longer than `interval`"
        );
        assert_eq!(
            with_stale(ms(100), ms(1_000), ms(1_000)),
            "invalid value 1s for `stale_after`: expected a duration shorter than `ttl`"
        );
        // The defaults themselves satisfy interval < stale_after < ttl.
        assert!(DEFAULT_HEARTBEAT_INTERVAL < crate::exporters::redis::DEFAULT_HEARTBEAT_STALE_AFTER);
        assert!(crate::exporters::redis::DEFAULT_HEARTBEAT_STALE_AFTER < DEFAULT_HEARTBEAT_TTL);
        let err = HeartbeatPublisher::builder("redis://127.0.0.1:1", DEFAULT_HEARTBEAT_KEY, || None)
            .stopped_ttl(Duration::ZERO)
            .start()
            .unwrap_err();
        assert_eq!(err.to_string(), "invalid value 0ns for `stopped_ttl`: expected a duration > 0");
        let err = HeartbeatPublisher::builder("redis://127.0.0.1:1", DEFAULT_HEARTBEAT_KEY, || None)
            .forget_after(Duration::from_secs(1))
            .start()
            .unwrap_err();
        assert!(err.to_string().starts_with("invalid value 1s for `forget_after`"), "{err}");
        let err = HeartbeatPublisher::builder("redis://127.0.0.1:1", "", || None).start().unwrap_err();
        assert_eq!(err.to_string(), r#"invalid value "" for `key`: expected a non-empty key"#);
    }
}
