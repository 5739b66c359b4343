//! The publisher thread: one beat per interval, a final record on stop.

use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::super::error::HeartbeatError;
use super::link::Link;
use super::publisher::{HeartbeatStats, Shared, Source};
use super::HeartbeatRecord;
use crate::sync::{self, Arc, StdArc};
use crate::{Clock, Timestamp};

/// The publisher thread's state.
pub(super) struct Worker {
    pub(super) shared: Arc<Shared>,
    pub(super) link: Link,
    pub(super) key: String,
    pub(super) source: Source,
    pub(super) interval: Duration,
    pub(super) ttl_ms: u64,
    pub(super) stopped_ttl_ms: u64,
    pub(super) index: String,
    pub(super) forget_ms: u64,
    /// The last beat the source gave, for the stop record.
    pub(super) last_beat: Option<Timestamp>,
    pub(super) host: String,
    pub(super) pid: u32,
    pub(super) clock: StdArc<dyn Clock>,
}

/// Writes a record and indexes its key, with the server's time as the score.
const BEAT_LUA: &str = "\
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], string.format('%.0f', now), KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.format('%.0f', now - tonumber(ARGV[3])))
return 1";

/// The outcome of one beat.
enum Beat {
    Published(HeartbeatRecord),
    NoBeatYet,
    Failed(String),
}

impl Worker {
    pub(super) fn run(mut self) {
        loop {
            let beat = self.beat();
            let mut state = self.shared.lock();
            record_beat(&mut state.stats, beat);
            // Wait for the next beat or a stop, whichever comes first.
            let next = Instant::now() + self.interval;
            while !state.stop {
                let left = next.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                state = sync::wait_timeout(&self.shared.wake, state, left);
            }
            if state.stop {
                drop(state);
                let beat = self.stop_record();
                record_beat(&mut self.shared.lock().stats, beat);
                return;
            }
        }
    }

    /// Writes the final record, marked stopped, with the stopped TTL. Not
    /// written if no beat was ever given (readers then see `Missing`).
    fn stop_record(&mut self) -> Beat {
        let last_beat = match panic::catch_unwind(AssertUnwindSafe(&mut self.source)) {
            Ok(Some(last_beat)) => Some(last_beat),
            Ok(None) | Err(_) => self.last_beat,
        };
        let Some(last_beat) = last_beat else { return Beat::NoBeatYet };
        let now = self.clock.now();
        let mut record =
            HeartbeatRecord::new(last_beat, now, self.pid, self.host.clone(), self.stopped_ttl_ms);
        record.stopped_at = Some(now);
        self.write(record, self.stopped_ttl_ms)
    }

    fn write(&mut self, record: HeartbeatRecord, ttl_ms: u64) -> Beat {
        let mut command = redis::cmd("EVAL");
        command
            .arg(BEAT_LUA)
            .arg(2)
            .arg(&self.key)
            .arg(&self.index)
            .arg(record.to_json())
            .arg(ttl_ms)
            .arg(self.forget_ms);
        match self.link.query(&command) {
            Ok(_) => Beat::Published(record),
            Err(err) => Beat::Failed(HeartbeatError::Redis(err).to_string()),
        }
    }

    fn beat(&mut self) -> Beat {
        let last_beat = match panic::catch_unwind(AssertUnwindSafe(&mut self.source)) {
            Ok(Some(last_beat)) => last_beat,
            Ok(None) => return Beat::NoBeatYet,
            Err(_) => return Beat::Failed("the heartbeat source panicked".to_owned()),
        };
        self.last_beat = Some(last_beat);
        let record =
            HeartbeatRecord::new(last_beat, self.clock.now(), self.pid, self.host.clone(), self.ttl_ms);
        self.write(record, self.ttl_ms)
    }
}

fn record_beat(stats: &mut HeartbeatStats, beat: Beat) {
    match beat {
        Beat::Published(record) => {
            stats.published += 1;
            stats.last_record = Some(record);
        }
        Beat::NoBeatYet => stats.skipped += 1,
        Beat::Failed(error) => {
            stats.failed += 1;
            stats.last_error = Some(error);
        }
    }
}

/// Whole milliseconds, rounded up, saturating.
pub(super) fn whole_millis(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// The machine's host name, without extra dependencies.
pub(super) fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .chain(std::env::var("HOSTNAME").ok())
        .chain(std::env::var("COMPUTERNAME").ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_name_is_never_empty() {
        assert!(!host_name().is_empty());
    }
}
