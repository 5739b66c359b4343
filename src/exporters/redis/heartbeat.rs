//! The heartbeat record kept under a Redis key, and reading it back as a
//! [`Liveness`] that tells alive, stale, stopped and missing apart.
//!
//! A TTL key alone misreports liveness: a process that crashed between beats
//! still looks alive until the key expires, and a process whose publisher
//! runs while its consumer is stuck looks alive for ever. So the key holds
//! the consumer's *exact* last-beat time (with the pid, the host, the
//! publish time and the TTL it was written with), and the reader judges the
//! beat's age itself; the TTL only bounds how long a dead process's record
//! lingers.
//!
//! Ages never compare two hosts' clocks. The reader reads the record, its
//! remaining TTL (`PTTL`) and the server's `TIME` in one script: the time
//! since the record was written is `ttl_ms - PTTL`, on the server's clock;
//! the consumer's lag behind that write is `published_at - last_beat`, two
//! times taken on the publishing host. Their sum is the beat's age, whatever
//! the reader's (or the publisher's) clock says the time is.
//!
//! Publishers also add their key to an index (a sorted set, score = the
//! server's time of the last write), so [`HeartbeatReader::list`] finds
//! every agent without `SCAN`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::connection::{ConnectionSettings, Connector};
use super::error::{HeartbeatError, RedisConfigError};
use crate::{Clock, Timestamp};

/// The default heartbeat key.
pub const DEFAULT_HEARTBEAT_KEY: &str = "ringtel:heartbeat";
/// The default age after which a beat is stale (between the default
/// interval and the default TTL).
pub const DEFAULT_HEARTBEAT_STALE_AFTER: Duration = Duration::from_secs(5);
/// The default index: a sorted set of heartbeat keys, scored by the
/// server's time of their last write.
pub const DEFAULT_HEARTBEAT_INDEX: &str = "ringtel:heartbeats";

/// What a heartbeat key holds, as JSON:
/// `{"last_beat":<ns>,"published_at":<ns>,"pid":<pid>,"host":"<host>","ttl_ms":<ms>}`
/// plus `"stopped_at":<ns>` in the record a graceful stop writes (times in
/// nanoseconds since the Unix epoch, on the publishing host's clocks).
///
/// # Examples
/// ```
/// use ringtel::exporters::redis::HeartbeatRecord;
/// use ringtel::Timestamp;
///
/// let record = HeartbeatRecord::parse(
///     "ringtel:heartbeat",
///     br#"{"last_beat":1000,"published_at":1500,"pid":42,"host":"worker-1","ttl_ms":10000}"#,
/// )?;
/// assert_eq!(record.last_beat, Timestamp::from_nanos(1_000));
/// assert_eq!((record.ttl_ms, record.stopped_at), (10_000, None));
/// assert_eq!(record.published_at, Timestamp::from_nanos(1_500));
/// assert_eq!((record.pid, record.host.as_str()), (42, "worker-1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HeartbeatRecord {
    /// The consumer thread's last beat (`Health::last_heartbeat`), on the
    /// telemetry's clock.
    pub last_beat: Timestamp,
    /// When the publisher wrote this record, on the publisher's clock.
    pub published_at: Timestamp,
    /// The publishing process's id.
    pub pid: u32,
    /// The publishing host's name.
    pub host: String,
    /// The TTL (ms) the record was written with: the reader's `PTTL` is
    /// measured against it.
    pub ttl_ms: u64,
    /// Set only in the record written by a graceful stop: when the
    /// publisher stopped, on its clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<Timestamp>,
}

impl HeartbeatRecord {
    pub(crate) fn new(
        last_beat: Timestamp,
        published_at: Timestamp,
        pid: u32,
        host: String,
        ttl_ms: u64,
    ) -> Self {
        HeartbeatRecord { last_beat, published_at, pid, host, ttl_ms, stopped_at: None }
    }

    /// Parses a record read from `key`.
    ///
    /// # Errors
    /// [`HeartbeatError::Malformed`] if `value` is not a heartbeat record.
    pub fn parse(key: &str, value: &[u8]) -> Result<HeartbeatRecord, HeartbeatError> {
        serde_json::from_slice(value)
            .map_err(|e| HeartbeatError::Malformed { key: key.to_owned(), reason: e.to_string() })
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a heartbeat record always serializes")
    }
}

/// Why a beat is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StaleCause {
    /// The record is being refreshed (its publish time is recent), but the
    /// consumer's last beat is old: the consumer thread is stuck or dead
    /// while the process lives.
    ConsumerStuck,
    /// The record itself has not been refreshed for longer than the
    /// threshold: the publisher (likely the whole process) stopped, and the
    /// key has not expired yet.
    PublisherSilent,
}

/// What a heartbeat says about a consumer: a variant per outcome, never a
/// bare `bool` or `Option`.
///
/// [`HeartbeatReader`] measures ages on the server's clock (see the module
/// docs). [`Liveness::judge`] is that judgment given the record and how
/// long ago the server says it was written; [`Liveness::classify`] judges a
/// record against a clock of the caller's instead (skew between hosts then
/// adds to or subtracts from the ages).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::exporters::redis::{HeartbeatRecord, Liveness, StaleCause};
/// use ringtel::Timestamp;
///
/// // The consumer's beat is 9 s older than the record, written 1 s ago.
/// let record = HeartbeatRecord::parse(
///     "k",
///     br#"{"last_beat":0,"published_at":9000000000,"pid":1,"host":"h","ttl_ms":10000}"#,
/// )?;
/// let stale_after = Duration::from_secs(5);
/// let server_now = Timestamp::from_nanos(10_000_000_000);
/// match Liveness::judge(Some(record), Duration::from_secs(1), server_now, stale_after) {
///     Liveness::Stale { age, cause, .. } => {
///         assert_eq!(age, Duration::from_secs(10));
///         assert_eq!(cause, StaleCause::ConsumerStuck);
///     }
///     other => panic!("expected stale, got {other:?}"),
/// }
/// assert_eq!(Liveness::judge(None, Duration::ZERO, server_now, stale_after), Liveness::Missing);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Liveness {
    /// The consumer beat within the threshold.
    Alive {
        /// The consumer's last beat.
        last_beat: Timestamp,
        /// How long ago it was, at the time of reading.
        age: Duration,
        /// The whole record.
        record: HeartbeatRecord,
    },
    /// The key is there but the consumer's last beat is older than the
    /// threshold.
    Stale {
        /// The consumer's last beat.
        last_beat: Timestamp,
        /// How long ago it was, at the time of reading (over the threshold).
        age: Duration,
        /// Whether the record is still being refreshed.
        cause: StaleCause,
        /// The whole record.
        record: HeartbeatRecord,
    },
    /// The publisher stopped gracefully
    /// ([`HeartbeatPublisher::stop`](super::HeartbeatPublisher::stop) or
    /// drop) and wrote a final record, kept for its `stopped_ttl`.
    Stopped {
        /// When it stopped: on the server's clock when read by a
        /// [`HeartbeatReader`], on the caller's clock with
        /// [`Liveness::classify`].
        at: Timestamp,
        /// The final record.
        record: HeartbeatRecord,
    },
    /// No heartbeat key: never written, expired (the publisher died at
    /// least a TTL ago, or stopped a `stopped_ttl` ago), or deleted.
    Missing,
}

impl Liveness {
    /// Judges `record` (`None`: no key) at `now` on the caller's clock:
    /// stopped if it is a stop record, alive if the last beat is at most
    /// `stale_after` old, stale otherwise. The ages compare the publishing
    /// host's clock with the caller's; a [`HeartbeatReader`] uses
    /// [`Liveness::judge`] on the server's clock instead.
    pub fn classify(record: Option<HeartbeatRecord>, now: Timestamp, stale_after: Duration) -> Liveness {
        let Some(record) = record else { return Liveness::Missing };
        let written_ago = now.saturating_duration_since(record.published_at);
        Liveness::judge(Some(record), written_ago, now, stale_after)
    }

    /// Judges `record` (`None`: no key) written `written_ago` before
    /// `now` (both on one clock, typically the server's: `written_ago` is
    /// `ttl_ms - PTTL`). The beat's age is `written_ago` plus the
    /// consumer's lag behind the write (`published_at - last_beat`, both on
    /// the publishing host); the cause of staleness is
    /// [`StaleCause::ConsumerStuck`] while the record itself is fresher than
    /// `stale_after`, [`StaleCause::PublisherSilent`] otherwise.
    pub fn judge(
        record: Option<HeartbeatRecord>,
        written_ago: Duration,
        now: Timestamp,
        stale_after: Duration,
    ) -> Liveness {
        let Some(record) = record else { return Liveness::Missing };
        if record.stopped_at.is_some() {
            let at = Timestamp::from_nanos(now.as_nanos().saturating_sub(duration_nanos(written_ago)));
            return Liveness::Stopped { at, record };
        }
        let last_beat = record.last_beat;
        let age = written_ago.saturating_add(record.published_at.saturating_duration_since(last_beat));
        if age <= stale_after {
            return Liveness::Alive { last_beat, age, record };
        }
        let cause =
            if written_ago <= stale_after { StaleCause::ConsumerStuck } else { StaleCause::PublisherSilent };
        Liveness::Stale { last_beat, age, cause, record }
    }

    /// Whether this is [`Liveness::Alive`].
    pub fn is_alive(&self) -> bool {
        matches!(self, Liveness::Alive { .. })
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One agent of [`HeartbeatReader::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentLiveness {
    /// Its heartbeat key.
    pub key: String,
    /// What its heartbeat says.
    pub liveness: Liveness,
}

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
    connector: Connector,
}

/// Configures a [`HeartbeatReader`]; from [`HeartbeatReader::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct HeartbeatReaderBuilder {
    settings: ConnectionSettings,
    key: String,
    index: String,
    stale_after: Duration,
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
            index: DEFAULT_HEARTBEAT_INDEX.to_owned(),
            stale_after: DEFAULT_HEARTBEAT_STALE_AFTER,
        }
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
        let packed = redis::cmd("EVAL").arg(READ_LUA).arg(1).arg(&self.key).get_packed_command();
        let mut replies = self.connector.round_trip(&packed, 1)?;
        let reply = replies.pop().unwrap_or(redis::Value::Nil);
        let (value, pttl, secs, micros): (Option<Vec<u8>>, i64, u64, u64) =
            redis::from_redis_value(&reply).map_err(|e| HeartbeatError::Malformed {
                key: self.key.clone(),
                reason: format!("unexpected reply {reply:?}: {e}"),
            })?;
        let now = Timestamp::from_nanos(secs.saturating_mul(1_000_000_000).saturating_add(micros * 1_000));
        judge_read(&self.key, value.as_deref(), pttl, now, self.stale_after)
    }

    /// Reads the record as it is, without judging it (`None`: no key).
    ///
    /// # Errors
    /// As [`HeartbeatReader::read`].
    pub fn read_record(&mut self) -> Result<Option<HeartbeatRecord>, HeartbeatError> {
        let packed = redis::cmd("GET").arg(&self.key).get_packed_command();
        let mut replies = self.connector.round_trip(&packed, 1)?;
        match replies.pop() {
            Some(redis::Value::Nil) => Ok(None),
            Some(redis::Value::BulkString(bytes)) => HeartbeatRecord::parse(&self.key, &bytes).map(Some),
            Some(redis::Value::SimpleString(text)) => {
                HeartbeatRecord::parse(&self.key, text.as_bytes()).map(Some)
            }
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
        let packed = redis::cmd("ZRANGE").arg(&self.index).arg(0).arg(-1).get_packed_command();
        let reply = self.connector.round_trip(&packed, 1)?.pop().unwrap_or(redis::Value::Nil);
        let mut keys: Vec<String> =
            redis::from_redis_value(&reply).map_err(|e| HeartbeatError::Malformed {
                key: self.index.clone(),
                reason: format!("not a sorted set of keys: {e}"),
            })?;
        keys.sort();
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("TIME");
        for key in &keys {
            pipe.cmd("GET").arg(key).cmd("PTTL").arg(key);
        }
        // MULTI, one QUEUED per command, then EXEC's array.
        let commands = 1 + 2 * keys.len();
        let mut replies = self.connector.round_trip(&pipe.get_packed_pipeline(), commands + 2)?;
        let malformed = |reason: String| HeartbeatError::Malformed { key: self.index.clone(), reason };
        let exec = replies.pop().unwrap_or(redis::Value::Nil);
        let mut values = match exec {
            redis::Value::Array(values) if values.len() == commands => values.into_iter(),
            other => return Err(malformed(format!("unexpected EXEC reply {other:?}"))),
        };
        let (secs, micros): (u64, u64) = redis::from_redis_value(&values.next().unwrap_or(redis::Value::Nil))
            .map_err(|e| malformed(format!("TIME: {e}")))?;
        let now = Timestamp::from_nanos(secs.saturating_mul(1_000_000_000).saturating_add(micros * 1_000));
        let mut agents = Vec::with_capacity(keys.len());
        for key in keys {
            let value: Option<Vec<u8>> = redis::from_redis_value(&values.next().unwrap_or(redis::Value::Nil))
                .map_err(|e| malformed(format!("GET {key}: {e}")))?;
            let pttl: i64 = redis::from_redis_value(&values.next().unwrap_or(redis::Value::Nil))
                .map_err(|e| malformed(format!("PTTL {key}: {e}")))?;
            let liveness = judge_read(&key, value.as_deref(), pttl, now, self.stale_after)?;
            agents.push(AgentLiveness { key, liveness });
        }
        Ok(agents)
    }
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
            .field("connector", &self.connector)
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
        self.index = index.into();
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
    /// [`DEFAULT_REDIS_CONNECT_TIMEOUT`](super::DEFAULT_REDIS_CONNECT_TIMEOUT).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// Time one read may take; default
    /// [`DEFAULT_REDIS_IO_TIMEOUT`](super::DEFAULT_REDIS_IO_TIMEOUT).
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.settings.io_timeout = timeout;
        self
    }

    /// Validates the settings; does not connect.
    ///
    /// # Errors
    /// [`RedisConfigError`] for a bad URL, an empty key or index, or a zero
    /// duration.
    pub fn build(self) -> Result<HeartbeatReader, RedisConfigError> {
        if self.key.is_empty() {
            return Err(RedisConfigError::invalid("key", &self.key, "a non-empty key"));
        }
        if self.index.is_empty() {
            return Err(RedisConfigError::invalid("index", &self.index, "a non-empty key"));
        }
        if self.stale_after.is_zero() {
            return Err(RedisConfigError::invalid("stale_after", self.stale_after, "a duration > 0"));
        }
        let connector = self.settings.connector()?;
        Ok(HeartbeatReader { key: self.key, index: self.index, stale_after: self.stale_after, connector })
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
    fn classify_alive_stale_missing() {
        let stale_after = Duration::from_nanos(100);
        let at = Timestamp::from_nanos;
        assert_eq!(
            Liveness::classify(Some(record(1_000, 1_000)), at(1_100), stale_after),
            Liveness::Alive {
                last_beat: at(1_000),
                age: Duration::from_nanos(100),
                record: record(1_000, 1_000)
            }
        );
        assert_eq!(
            Liveness::classify(Some(record(1_000, 1_050)), at(1_101), stale_after),
            Liveness::Stale {
                last_beat: at(1_000),
                age: Duration::from_nanos(101),
                cause: StaleCause::ConsumerStuck,
                record: record(1_000, 1_050),
            }
        );
        assert!(matches!(
            Liveness::classify(Some(record(1_000, 1_000)), at(1_101), stale_after),
            Liveness::Stale { cause: StaleCause::PublisherSilent, .. }
        ));
        // A beat from the reader's future (clock skew) is age zero, alive.
        assert!(matches!(
            Liveness::classify(Some(record(2_000, 2_000)), at(1_000), stale_after),
            Liveness::Alive { age: Duration::ZERO, .. }
        ));
        assert_eq!(Liveness::classify(None, at(0), stale_after), Liveness::Missing);
    }

    #[test]
    fn record_round_trips_and_rejects_garbage() {
        let r = record(1, 2);
        assert_eq!(r.to_json(), r#"{"last_beat":1,"published_at":2,"pid":7,"host":"h","ttl_ms":10000}"#);
        let stopped = HeartbeatRecord { stopped_at: Some(Timestamp::from_nanos(3)), ..r.clone() };
        assert_eq!(
            stopped.to_json(),
            r#"{"last_beat":1,"published_at":2,"pid":7,"host":"h","ttl_ms":10000,"stopped_at":3}"#
        );
        assert_eq!(HeartbeatRecord::parse("k", stopped.to_json().as_bytes()).unwrap(), stopped);
        assert_eq!(HeartbeatRecord::parse("k", r.to_json().as_bytes()).unwrap(), r);
        let err = HeartbeatRecord::parse("k", br#"{"last_beat":1}"#).unwrap_err();
        assert!(err.to_string().starts_with("malformed heartbeat at `k`: missing field"), "{err}");
    }

    #[test]
    fn judge_adds_the_server_age_to_the_publishers_lag_and_tells_stopped() {
        let stale_after = Duration::from_secs(5);
        let at = |s: u64| Timestamp::from_nanos(s * 1_000_000_000);
        // Written 1 s ago (server), beat 2 s before the write (publisher):
        // 3 s, whatever either host's clock reads.
        let r = record(at(100).as_nanos(), at(102).as_nanos());
        match Liveness::judge(Some(r.clone()), Duration::from_secs(1), at(5_000), stale_after) {
            Liveness::Alive { age, .. } => assert_eq!(age, Duration::from_secs(3)),
            other => panic!("{other:?}"),
        }
        // The record itself is 6 s old: the publisher went silent.
        assert!(matches!(
            Liveness::judge(Some(r.clone()), Duration::from_secs(6), at(5_000), stale_after),
            Liveness::Stale { cause: StaleCause::PublisherSilent, .. }
        ));
        let stopped = HeartbeatRecord { stopped_at: Some(at(102)), ..r };
        assert_eq!(
            Liveness::judge(Some(stopped.clone()), Duration::from_secs(2), at(5_000), stale_after),
            Liveness::Stopped { at: at(4_998), record: stopped }
        );
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
