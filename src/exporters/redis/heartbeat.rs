//! The heartbeat record kept under a Redis key, and reading it back as a
//! [`Liveness`] that tells alive, stale and missing apart.
//!
//! A TTL key alone misreports liveness: a process that crashed between beats
//! still looks alive until the key expires, and a process whose publisher
//! runs while its consumer is stuck looks alive for ever. So the key holds
//! the consumer's *exact* last-beat time (with the pid, the host and the
//! publish time), and the reader judges the beat's age itself; the TTL only
//! bounds how long a dead process's record lingers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::connection::{ConnectionSettings, Connector};
use super::error::{HeartbeatError, RedisConfigError};
use crate::{Clock, SystemClock, Timestamp};

/// The default heartbeat key.
pub const DEFAULT_HEARTBEAT_KEY: &str = "ringtel:heartbeat";
/// The default age after which a beat is stale.
pub const DEFAULT_HEARTBEAT_STALE_AFTER: Duration = Duration::from_secs(5);

/// What a heartbeat key holds, as JSON:
/// `{"last_beat":<ns>,"published_at":<ns>,"pid":<pid>,"host":"<host>"}`
/// (times in nanoseconds since the Unix epoch).
///
/// # Examples
/// ```
/// use ringtel::exporters::redis::HeartbeatRecord;
/// use ringtel::Timestamp;
///
/// let record = HeartbeatRecord::parse(
///     "ringtel:heartbeat",
///     br#"{"last_beat":1000,"published_at":1500,"pid":42,"host":"worker-1"}"#,
/// )?;
/// assert_eq!(record.last_beat, Timestamp::from_nanos(1_000));
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
}

impl HeartbeatRecord {
    pub(crate) fn new(last_beat: Timestamp, published_at: Timestamp, pid: u32, host: String) -> Self {
        HeartbeatRecord { last_beat, published_at, pid, host }
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
/// Ages are measured on the reader's clock against times written on the
/// publishing host's clocks, so clock skew between hosts adds to (or
/// subtracts from) them; a beat from the reader's future has age zero.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::exporters::redis::{HeartbeatRecord, Liveness, StaleCause};
/// use ringtel::Timestamp;
///
/// let record = HeartbeatRecord::parse("k", br#"{"last_beat":0,"published_at":9000000000,"pid":1,"host":"h"}"#)?;
/// let stale_after = Duration::from_secs(5);
/// let now = Timestamp::from_nanos(10_000_000_000);
/// match Liveness::classify(Some(record), now, stale_after) {
///     Liveness::Stale { age, cause, .. } => {
///         assert_eq!(age, Duration::from_secs(10));
///         assert_eq!(cause, StaleCause::ConsumerStuck);
///     }
///     other => panic!("expected stale, got {other:?}"),
/// }
/// assert_eq!(Liveness::classify(None, now, stale_after), Liveness::Missing);
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
    /// No heartbeat key: never written, expired (the publisher stopped at
    /// least a TTL ago), or deleted.
    Missing,
}

impl Liveness {
    /// Judges `record` (`None`: no key) at `now`: alive if the last beat is
    /// at most `stale_after` old, stale otherwise.
    pub fn classify(record: Option<HeartbeatRecord>, now: Timestamp, stale_after: Duration) -> Liveness {
        let Some(record) = record else { return Liveness::Missing };
        let last_beat = record.last_beat;
        let age = now.saturating_duration_since(last_beat);
        if age <= stale_after {
            return Liveness::Alive { last_beat, age, record };
        }
        let cause = if now.saturating_duration_since(record.published_at) <= stale_after {
            StaleCause::ConsumerStuck
        } else {
            StaleCause::PublisherSilent
        };
        Liveness::Stale { last_beat, age, cause, record }
    }

    /// Whether this is [`Liveness::Alive`].
    pub fn is_alive(&self) -> bool {
        matches!(self, Liveness::Alive { .. })
    }
}

/// Reads a heartbeat key and judges it on its own clock.
///
/// Connects on first use with the connect timeout and always sets read and
/// write timeouts; a failed read drops the connection, and the next one
/// reconnects.
///
/// # Examples
/// Building does not connect:
/// ```
/// use std::time::Duration;
/// use ringtel::exporters::redis::HeartbeatReader;
/// use ringtel::{ManualClock, Timestamp};
///
/// let reader = HeartbeatReader::builder("redis://127.0.0.1:6379", "pipeline:heartbeat")
///     .stale_after(Duration::from_secs(3))
///     .clock(ManualClock::new(Timestamp::from_nanos(0)))
///     .build()?;
/// assert_eq!(reader.key(), "pipeline:heartbeat");
/// assert_eq!(reader.stale_after(), Duration::from_secs(3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HeartbeatReader {
    key: String,
    stale_after: Duration,
    clock: Arc<dyn Clock>,
    connector: Connector,
}

/// Configures a [`HeartbeatReader`]; from [`HeartbeatReader::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct HeartbeatReaderBuilder {
    settings: ConnectionSettings,
    key: String,
    stale_after: Duration,
    clock: Arc<dyn Clock>,
}

impl HeartbeatReader {
    /// A builder for a reader of `key` on the server at `url`.
    pub fn builder(url: impl Into<String>, key: impl Into<String>) -> HeartbeatReaderBuilder {
        HeartbeatReaderBuilder {
            settings: ConnectionSettings::new(url),
            key: key.into(),
            stale_after: DEFAULT_HEARTBEAT_STALE_AFTER,
            clock: Arc::new(SystemClock::new()),
        }
    }

    /// The key read.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The age after which a beat is stale.
    pub fn stale_after(&self) -> Duration {
        self.stale_after
    }

    /// Reads the key and judges it at the reader clock's current time.
    ///
    /// # Errors
    /// [`HeartbeatError::Redis`] if Redis cannot be reached, times out or
    /// refuses; [`HeartbeatError::Malformed`] if the key holds something else.
    pub fn read(&mut self) -> Result<Liveness, HeartbeatError> {
        let record = self.read_record()?;
        Ok(Liveness::classify(record, self.clock.now(), self.stale_after))
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
}

impl fmt::Debug for HeartbeatReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeartbeatReader")
            .field("key", &self.key)
            .field("stale_after", &self.stale_after)
            .field("clock", &self.clock)
            .field("connector", &self.connector)
            .finish()
    }
}

impl HeartbeatReaderBuilder {
    /// The age after which a beat is stale; default
    /// [`DEFAULT_HEARTBEAT_STALE_AFTER`]. Set it well above the publisher's
    /// interval, or a live consumer reads as stale between beats.
    pub fn stale_after(mut self, stale_after: Duration) -> Self {
        self.stale_after = stale_after;
        self
    }

    /// The clock ages are measured on; default [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
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
    /// [`RedisConfigError`] for a bad URL, an empty key, or a zero duration.
    pub fn build(self) -> Result<HeartbeatReader, RedisConfigError> {
        if self.key.is_empty() {
            return Err(RedisConfigError::invalid("key", &self.key, "a non-empty key"));
        }
        if self.stale_after.is_zero() {
            return Err(RedisConfigError::invalid("stale_after", self.stale_after, "a duration > 0"));
        }
        let connector = self.settings.connector()?;
        Ok(HeartbeatReader { key: self.key, stale_after: self.stale_after, clock: self.clock, connector })
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
        assert_eq!(r.to_json(), r#"{"last_beat":1,"published_at":2,"pid":7,"host":"h"}"#);
        assert_eq!(HeartbeatRecord::parse("k", r.to_json().as_bytes()).unwrap(), r);
        let err = HeartbeatRecord::parse("k", br#"{"last_beat":1}"#).unwrap_err();
        assert!(err.to_string().starts_with("malformed heartbeat at `k`: missing field"), "{err}");
    }
}
