//! [`HeartbeatReader`]: reads heartbeat keys back and judges them on the
//! server's clock.

use std::fmt;
use std::time::Duration;

use super::super::connection::{ConnectionSettings, Connector};
use super::super::error::{HeartbeatError, RedisConfigError};
use super::link::{Link, Nodes};
use super::{
    AgentLiveness, HeartbeatRecord, Liveness, DEFAULT_HEARTBEAT_INDEX, DEFAULT_HEARTBEAT_STALE_AFTER,
};
use crate::{Clock, Timestamp};

/// Reads heartbeat keys and judges them on the server's clock.
///
/// Connects on first use with the connect timeout and always sets read and
/// write timeouts; a failed read drops the connection, and the next one
/// reconnects.
///
/// # Examples
/// Building does not connect:
/// ```
/// use std::time::Duration;
/// use ringtel::exporters::redis::{HeartbeatReader, DEFAULT_HEARTBEAT_INDEX};
///
/// let reader = HeartbeatReader::builder("redis://127.0.0.1:6379", "pipeline:heartbeat")
///     .stale_after(Duration::from_secs(3))
///     .build()?;
/// assert_eq!(reader.key(), "pipeline:heartbeat");
/// assert_eq!(reader.index(), DEFAULT_HEARTBEAT_INDEX);
/// assert_eq!(reader.stale_after(), Duration::from_secs(3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HeartbeatReader {
    key: String,
    index: String,
    stale_after: Duration,
    link: Link,
}

/// Configures a [`HeartbeatReader`]; from [`HeartbeatReader::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct HeartbeatReaderBuilder {
    settings: ConnectionSettings,
    key: String,
    /// `None`: the default index (on a cluster, derived from the key).
    index: Option<String>,
    stale_after: Duration,
    /// The cluster's node URLs, when reading from a Redis Cluster.
    nodes: Nodes,
}

/// Reads one key, its remaining TTL and the server's time, atomically.
pub(crate) const READ_LUA: &str = "\
local t = redis.call('TIME')
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]), t[1], t[2]}";

impl HeartbeatReader {
    /// A builder for a reader of `key` on the server at `url`.
    pub fn builder(url: impl Into<String>, key: impl Into<String>) -> HeartbeatReaderBuilder {
        HeartbeatReaderBuilder {
            settings: ConnectionSettings::new(url),
            key: key.into(),
            index: None,
            stale_after: DEFAULT_HEARTBEAT_STALE_AFTER,
            nodes: None,
        }
    }

    /// A builder for a reader of `key` on a Redis Cluster reached through
    /// any of `nodes` (`redis://host:port` URLs). Feature `redis-cluster`.
    ///
    /// [`read`](HeartbeatReader::read) goes to the master owning the key's
    /// slot; [`list`](HeartbeatReader::list) reads the index there, then
    /// each listed key on its own master (one write per master), each
    /// judged on its master's clock. Unless [`index`](HeartbeatReaderBuilder::index)
    /// is given, the index is the one a cluster publisher of `key` writes:
    /// `ringtel:heartbeats:{<tag>}` for a key with hash tag `{<tag>}`; a
    /// key without one needs an explicit index, or
    /// [`build`](HeartbeatReaderBuilder::build) fails (no cluster
    /// publisher writes [`DEFAULT_HEARTBEAT_INDEX`]).
    ///
    /// # Examples
    /// ```
    /// use ringtel::exporters::redis::HeartbeatReader;
    ///
    /// let nodes = ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"];
    /// let reader = HeartbeatReader::cluster_builder(nodes, "ringtel:heartbeat:{agents}:worker-1").build()?;
    /// assert_eq!(reader.index(), "ringtel:heartbeats:{agents}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "redis-cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
    pub fn cluster_builder<N: Into<String>>(
        nodes: impl IntoIterator<Item = N>,
        key: impl Into<String>,
    ) -> HeartbeatReaderBuilder {
        let nodes: Vec<String> = nodes.into_iter().map(Into::into).collect();
        let mut builder = Self::builder(nodes.first().cloned().unwrap_or_default(), key);
        builder.nodes = Some(nodes);
        builder
    }

    /// The key read.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The index [`list`](HeartbeatReader::list) reads.
    pub fn index(&self) -> &str {
        &self.index
    }

    /// The age after which a beat is stale.
    pub fn stale_after(&self) -> Duration {
        self.stale_after
    }

    /// Reads the key and judges it on the server's clock.
    ///
    /// # Errors
    /// [`HeartbeatError::Redis`] if Redis cannot be reached, times out or
    /// refuses; [`HeartbeatError::Malformed`] if the key holds something else.
    pub fn read(&mut self) -> Result<Liveness, HeartbeatError> {
        let mut command = redis::cmd("EVAL");
        command.arg(READ_LUA).arg(1).arg(&self.key);
        let reply = self.link.query(&command)?;
        let read = ServerRead::parse(&self.key, &reply)?;
        judge_read(&self.key, read.value.as_deref(), read.pttl, read.now, self.stale_after)
    }

    /// Reads the record as it is, without judging it (`None`: no key).
    ///
    /// # Errors
    /// As [`HeartbeatReader::read`].
    pub fn read_record(&mut self) -> Result<Option<HeartbeatRecord>, HeartbeatError> {
        let mut command = redis::cmd("GET");
        command.arg(&self.key);
        match self.link.query(&command)? {
            redis::Value::Nil => Ok(None),
            redis::Value::BulkString(bytes) => HeartbeatRecord::parse(&self.key, &bytes).map(Some),
            redis::Value::SimpleString(text) => HeartbeatRecord::parse(&self.key, text.as_bytes()).map(Some),
            other => Err(HeartbeatError::Malformed {
                key: self.key.clone(),
                reason: format!("unexpected reply {other:?}"),
            }),
        }
    }

    /// Every agent in the index (each key a publisher with this index has
    /// written), judged on the server's clock, in key order. A key that has
    /// expired is [`Liveness::Missing`] until publishers prune it from the
    /// index (`forget_after`). Two round trips, no `SCAN`.
    ///
    /// # Errors
    /// [`HeartbeatError::Redis`] as for [`read`](HeartbeatReader::read);
    /// [`HeartbeatError::Malformed`] if the index or a key holds something
    /// else.
    pub fn list(&mut self) -> Result<Vec<AgentLiveness>, HeartbeatError> {
        let mut command = redis::cmd("ZRANGE");
        command.arg(&self.index).arg(0).arg(-1);
        let reply = self.link.query(&command)?;
        let mut keys: Vec<String> =
            redis::from_redis_value(&reply).map_err(|e| HeartbeatError::Malformed {
                key: self.index.clone(),
                reason: format!("not a sorted set of keys: {e}"),
            })?;
        keys.sort();
        let reads = match &mut self.link {
            Link::Single(connector) => read_in_one_transaction(connector, &self.index, &keys)?,
            #[cfg(feature = "redis-cluster")]
            Link::Cluster(cluster) => read_on_each_master(cluster, &keys)?,
        };
        let mut agents = Vec::with_capacity(keys.len());
        for (key, read) in keys.into_iter().zip(reads) {
            let liveness = judge_read(&key, read.value.as_deref(), read.pttl, read.now, self.stale_after)?;
            agents.push(AgentLiveness { key, liveness });
        }
        Ok(agents)
    }
}

/// What the server said about one key: its value, its `PTTL` and the
/// server's time.
struct ServerRead {
    value: Option<Vec<u8>>,
    pttl: i64,
    now: Timestamp,
}

impl ServerRead {
    /// Parses [`READ_LUA`]'s reply for `key`.
    fn parse(key: &str, reply: &redis::Value) -> Result<ServerRead, HeartbeatError> {
        let (value, pttl, secs, micros): (Option<Vec<u8>>, i64, u64, u64) = redis::from_redis_value(reply)
            .map_err(|e| HeartbeatError::Malformed {
                key: key.to_owned(),
                reason: format!("unexpected reply {reply:?}: {e}"),
            })?;
        Ok(ServerRead { value, pttl, now: server_time(secs, micros) })
    }
}

fn server_time(secs: u64, micros: u64) -> Timestamp {
    Timestamp::from_nanos(secs.saturating_mul(1_000_000_000).saturating_add(micros * 1_000))
}

/// One server: `TIME`, then `GET` and `PTTL` of every key, in one
/// `MULTI`/`EXEC`, so every key is judged at one instant.
fn read_in_one_transaction(
    connector: &mut Connector,
    index: &str,
    keys: &[String],
) -> Result<Vec<ServerRead>, HeartbeatError> {
    let mut pipe = redis::pipe();
    pipe.atomic().cmd("TIME");
    for key in keys {
        pipe.cmd("GET").arg(key).cmd("PTTL").arg(key);
    }
    // MULTI, one QUEUED per command, then EXEC's array.
    let commands = 1 + 2 * keys.len();
    let mut replies = connector.round_trip(&pipe.get_packed_pipeline(), commands + 2)?;
    let malformed = |reason: String| HeartbeatError::Malformed { key: index.to_owned(), reason };
    let exec = replies.pop().unwrap_or(redis::Value::Nil);
    let mut values = match exec {
        redis::Value::Array(values) if values.len() == commands => values.into_iter(),
        other => return Err(malformed(format!("unexpected EXEC reply {other:?}"))),
    };
    let (secs, micros): (u64, u64) = redis::from_redis_value(&values.next().unwrap_or(redis::Value::Nil))
        .map_err(|e| malformed(format!("TIME: {e}")))?;
    let now = server_time(secs, micros);
    let mut reads = Vec::with_capacity(keys.len());
    for key in keys {
        let value: Option<Vec<u8>> = redis::from_redis_value(&values.next().unwrap_or(redis::Value::Nil))
            .map_err(|e| malformed(format!("GET {key}: {e}")))?;
        let pttl: i64 = redis::from_redis_value(&values.next().unwrap_or(redis::Value::Nil))
            .map_err(|e| malformed(format!("PTTL {key}: {e}")))?;
        reads.push(ServerRead { value, pttl, now });
    }
    Ok(reads)
}

/// A cluster: [`READ_LUA`] for every key as one cluster pipeline (the
/// redis crate sends each master its keys in one write), each key judged
/// on its own master's clock. Keys may live on any master.
#[cfg(feature = "redis-cluster")]
fn read_on_each_master(
    cluster: &mut super::super::cluster::ClusterLink,
    keys: &[String],
) -> Result<Vec<ServerRead>, HeartbeatError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::cluster::cluster_pipe();
    for key in keys {
        pipe.cmd("EVAL").arg(READ_LUA).arg(1).arg(key);
    }
    let replies: Vec<redis::Value> = cluster.run(|connection| pipe.query(connection))?;
    keys.iter().zip(&replies).map(|(key, reply)| ServerRead::parse(key, reply)).collect()
}

/// Judges what the server returned for `key`: the value, its `PTTL` and the
/// server's time.
fn judge_read(
    key: &str,
    value: Option<&[u8]>,
    pttl: i64,
    now: Timestamp,
    stale_after: Duration,
) -> Result<Liveness, HeartbeatError> {
    let Some(value) = value else { return Ok(Liveness::Missing) };
    let record = HeartbeatRecord::parse(key, value)?;
    let Ok(remaining) = u64::try_from(pttl) else {
        return Err(HeartbeatError::Malformed {
            key: key.to_owned(),
            reason: format!("the key has no TTL (PTTL {pttl}): not written by a publisher"),
        });
    };
    let written_ago = Duration::from_millis(record.ttl_ms.saturating_sub(remaining));
    Ok(Liveness::judge(Some(record), written_ago, now, stale_after))
}

impl fmt::Debug for HeartbeatReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeartbeatReader")
            .field("key", &self.key)
            .field("index", &self.index)
            .field("stale_after", &self.stale_after)
            .field("link", &self.link)
            .finish()
    }
}

impl HeartbeatReaderBuilder {
    /// The age after which a beat is stale; default
    /// [`DEFAULT_HEARTBEAT_STALE_AFTER`]. Use the publisher's value: the
    /// publisher checks it lies between its interval and its TTL.
    pub fn stale_after(mut self, stale_after: Duration) -> Self {
        self.stale_after = stale_after;
        self
    }

    /// The index [`HeartbeatReader::list`] reads; default
    /// [`DEFAULT_HEARTBEAT_INDEX`].
    pub fn index(mut self, index: impl Into<String>) -> Self {
        self.index = Some(index.into());
        self
    }

    /// Formerly the clock ages were measured on. Ages now come from the
    /// server's clock, so the reader's clock is not read at all: this does
    /// nothing.
    #[deprecated(note = "ages are measured on the Redis server's clock; the reader's clock is not used")]
    pub fn clock(self, clock: impl Clock) -> Self {
        let _ = clock;
        self
    }

    /// Time to connect; default
    /// [`DEFAULT_REDIS_CONNECT_TIMEOUT`](crate::exporters::redis::DEFAULT_REDIS_CONNECT_TIMEOUT).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// Time one read may take; default
    /// [`DEFAULT_REDIS_IO_TIMEOUT`](crate::exporters::redis::DEFAULT_REDIS_IO_TIMEOUT).
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.settings.io_timeout = timeout;
        self
    }

    /// Validates the settings; does not connect.
    ///
    /// # Errors
    /// [`RedisConfigError`] for a bad URL, an empty key or index, a zero
    /// duration, or on a cluster a key without a hash tag and no index.
    pub fn build(self) -> Result<HeartbeatReader, RedisConfigError> {
        if self.key.is_empty() {
            return Err(RedisConfigError::invalid("key", &self.key, "a non-empty key"));
        }
        let index = match self.index {
            Some(index) => index,
            #[cfg(feature = "redis-cluster")]
            // No cluster publisher writes the default index (it has no hash
            // tag to share with a key), so `list` would find nothing, ever.
            None if self.nodes.is_some() => super::link::cluster_index(&self.key).ok_or_else(|| {
                RedisConfigError::invalid(
                    "key",
                    &self.key,
                    "a key with a hash tag `{…}` on a cluster (the index a publisher writes shares it), \
                     or an explicit `index`",
                )
            })?,
            None => DEFAULT_HEARTBEAT_INDEX.to_owned(),
        };
        if index.is_empty() {
            return Err(RedisConfigError::invalid("index", &index, "a non-empty key"));
        }
        if self.stale_after.is_zero() {
            return Err(RedisConfigError::invalid("stale_after", self.stale_after, "a duration > 0"));
        }
        let link = Link::new(&self.settings, &self.nodes)?;
        Ok(HeartbeatReader { key: self.key, index, stale_after: self.stale_after, link })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(last_beat: u64, published_at: u64) -> HeartbeatRecord {
        HeartbeatRecord::new(
            Timestamp::from_nanos(last_beat),
            Timestamp::from_nanos(published_at),
            7,
            "h".to_owned(),
            10_000,
        )
    }

    #[test]
    fn a_key_without_ttl_is_malformed() {
        let value = record(1, 2).to_json();
        let err = judge_read("k", Some(value.as_bytes()), -1, Timestamp::EPOCH, Duration::from_secs(1))
            .unwrap_err();
        assert!(err.to_string().contains("no TTL"), "{err}");
        assert_eq!(
            judge_read("k", None, -2, Timestamp::EPOCH, Duration::from_secs(1)).unwrap(),
            Liveness::Missing
        );
    }
}
