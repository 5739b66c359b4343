//! The heartbeat record kept under a Redis key.

use serde::{Deserialize, Serialize};

use super::super::error::HeartbeatError;
use crate::Timestamp;

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
}
