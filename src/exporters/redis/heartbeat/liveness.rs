//! [`Liveness`]: what a heartbeat record says, judged on one clock.

use std::time::Duration;

#[cfg(doc)]
use super::HeartbeatReader;
use super::HeartbeatRecord;
use crate::Timestamp;

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
}
