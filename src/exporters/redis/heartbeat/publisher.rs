//! `HeartbeatPublisher`: a thread of its own that writes the consumer's
//! exact last beat to a Redis key with a TTL, at a fixed cadence.

use std::fmt;
use std::time::Duration;

use super::HeartbeatRecord;
use crate::sync::{self, thread::JoinHandle, Arc, Condvar, Mutex, MutexGuard};
use crate::Timestamp;

/// The default time between two beats.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// The default TTL of the heartbeat key: how long a record outlives its
/// publisher.
pub const DEFAULT_HEARTBEAT_TTL: Duration = Duration::from_secs(10);
/// The default TTL of the record a graceful stop writes: how long readers
/// see [`Liveness::Stopped`](super::Liveness::Stopped) before `Missing`.
pub const DEFAULT_HEARTBEAT_STOPPED_TTL: Duration = Duration::from_secs(5 * 60);
/// The default age after which a key gone from Redis is pruned from the
/// index (by any publisher's next beat).
pub const DEFAULT_HEARTBEAT_FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// The name of the publisher thread.
pub const HEARTBEAT_THREAD_NAME: &str = "ringtel-heartbeat";

/// The source of the consumer's last beat, called once per beat on the
/// publisher thread. `None` means no beat yet; nothing is published then.
pub(super) type Source = Box<dyn FnMut() -> Option<Timestamp> + Send + 'static>;

/// Publishes a consumer's heartbeat to Redis from a thread of its own, so no
/// network I/O ever runs on ringtel's consumer thread.
///
/// Every `interval` (and once at start) it calls its source for the
/// consumer's last beat (typically `Health::last_heartbeat` of a
/// [`Telemetry`](crate::Telemetry)) and writes a [`HeartbeatRecord`] — that
/// exact time, the pid, the host, the publish time and the TTL — with one
/// script that runs `SET <key> <json> PX <ttl>` and adds the key to the
/// index (`ZADD <index> <server ms> <key>`, pruning keys silent for
/// `forget_after`). A [`HeartbeatReader`](super::HeartbeatReader) then tells
/// alive, stale, stopped and missing apart on the server's clock.
///
/// The builder checks `interval < stale_after < ttl`: a beat is due well
/// before a reader calls it stale, and the key outlives the stale threshold,
/// so a silent publisher is reported stale before it goes missing.
///
/// Failures (Redis down, a timeout, a source that panics) are counted in
/// [`HeartbeatStats`] with the last error, never swallowed; the connection is
/// remade on the next beat, so publishing resumes when Redis is back.
///
/// [`stop`](HeartbeatPublisher::stop) or dropping the publisher wakes the
/// thread at once, which writes a final record marked stopped (kept for
/// `stopped_ttl`, so readers see `Stopped { at }` rather than a stale beat)
/// and joins it; that returns within two Redis round trips (bounded by the
/// connect and I/O timeouts). A process killed without cleanup writes no
/// such record: readers see `Stale` (publisher silent), then `Missing`. Do
/// not bind it to `_`: that stops it immediately.
///
/// # Examples
/// Publishing a telemetry's heartbeat (needs a server, so not run here):
/// ```no_run
/// use std::time::Duration;
/// use ringtel::exporters::redis::HeartbeatPublisher;
/// use ringtel::pipeline::PipelineEvent;
/// use ringtel::Telemetry;
///
/// let telemetry = Telemetry::<PipelineEvent>::builder().start()?;
/// // A monitor, not a handle: dropping `telemetry` would still close it.
/// let monitor = telemetry.monitor();
/// let publisher = HeartbeatPublisher::builder("redis://127.0.0.1:6379", "pipeline:heartbeat", move || {
///     monitor.health().last_heartbeat()
/// })
/// .interval(Duration::from_millis(500))
/// .stale_after(Duration::from_secs(2))
/// .ttl(Duration::from_secs(5))
/// .start()?;
/// // ... run ...
/// let stats = publisher.stop();
/// println!("{} beats, {} failures", stats.published, stats.failed);
/// telemetry.close(Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the publisher stops it"]
pub struct HeartbeatPublisher {
    pub(super) shared: Arc<Shared>,
    pub(super) thread: Option<JoinHandle<()>>,
    pub(super) key: String,
    pub(super) interval: Duration,
    pub(super) stale_after: Duration,
    pub(super) ttl: Duration,
}

/// What a [`HeartbeatPublisher`] has done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeartbeatStats {
    /// Records written (the final stop record included).
    pub published: u64,
    /// Beats that failed (Redis error, or the source panicked).
    pub failed: u64,
    /// Beats skipped because the source had no beat yet.
    pub skipped: u64,
    /// The last record written.
    pub last_record: Option<HeartbeatRecord>,
    /// The last failure, as text.
    pub last_error: Option<String>,
}

/// What the publisher and its thread share.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) stop: bool,
    pub(super) stats: HeartbeatStats,
}

/// The state, and the condition variable that wakes the thread for a stop.
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) wake: Condvar,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing here can be left half-updated by a panic: recover.
        sync::lock(&self.state)
    }
}

impl HeartbeatPublisher {
    /// The key written.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The time between beats.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The key's TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The age after which readers should call a beat stale (checked to lie
    /// between the interval and the TTL).
    pub fn stale_after(&self) -> Duration {
        self.stale_after
    }

    /// What it has done so far.
    pub fn stats(&self) -> HeartbeatStats {
        self.shared.lock().stats.clone()
    }

    /// Stops the thread, which writes the final stop record (its TTL is
    /// `stopped_ttl`), joins it, and returns the final stats.
    pub fn stop(mut self) -> HeartbeatStats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // The thread catches the source's panics; a join error could only
            // come from a panic in this module, and it is already recorded
            // by the panic hook. Never propagate it out of `drop`.
            let _ = thread.join();
        }
    }
}

impl Drop for HeartbeatPublisher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for HeartbeatPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeartbeatPublisher")
            .field("key", &self.key)
            .field("interval", &self.interval)
            .field("stale_after", &self.stale_after)
            .field("ttl", &self.ttl)
            .field("running", &self.thread.is_some())
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::exporters::redis::DEFAULT_HEARTBEAT_KEY;

    #[test]
    fn failures_and_skips_are_counted_and_stop_is_prompt() {
        let mut calls = 0u32;
        let publisher =
            HeartbeatPublisher::builder("redis://127.0.0.1:1", DEFAULT_HEARTBEAT_KEY, move || {
                calls += 1;
                match calls {
                    1 => None,
                    2 => panic!("heartbeat source panics on purpose"),
                    _ => Some(Timestamp::from_nanos(1)),
                }
            })
            .interval(Duration::from_millis(1))
            .stale_after(Duration::from_millis(500))
            .ttl(Duration::from_secs(1))
            .start()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while publisher.stats().failed < 3 {
            assert!(Instant::now() < deadline, "no failures counted: {:?}", publisher.stats());
            std::thread::yield_now();
        }
        let started = Instant::now();
        let stats = publisher.stop();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!((stats.published, stats.skipped), (0, 1));
        assert!(stats.last_error.unwrap().starts_with("transport error: redis at 127.0.0.1:1: "));
    }
}
