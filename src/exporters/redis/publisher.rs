//! `HeartbeatPublisher`: a thread of its own that writes the consumer's
//! exact last beat to a Redis key with a TTL, at a fixed cadence.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::connection::{ConnectionSettings, Connector};
use super::error::{HeartbeatError, HeartbeatStartError, RedisConfigError};
use super::heartbeat::HeartbeatRecord;
use crate::{Clock, SystemClock, Timestamp};

/// The default time between two beats.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// The default TTL of the heartbeat key: how long a record outlives its
/// publisher.
pub const DEFAULT_HEARTBEAT_TTL: Duration = Duration::from_secs(10);
/// The name of the publisher thread.
pub const HEARTBEAT_THREAD_NAME: &str = "ringtel-heartbeat";

/// The source of the consumer's last beat, called once per beat on the
/// publisher thread. `None` means no beat yet; nothing is published then.
type Source = Box<dyn FnMut() -> Option<Timestamp> + Send + 'static>;

/// Publishes a consumer's heartbeat to Redis from a thread of its own, so no
/// network I/O ever runs on ringtel's consumer thread.
///
/// Every `interval` (and once at start) it calls its source for the
/// consumer's last beat (typically `Health::last_heartbeat` of a
/// [`Telemetry`](crate::Telemetry)) and writes a [`HeartbeatRecord`] — that
/// exact time, the pid, the host and the publish time — with
/// `SET <key> <json> PX <ttl>`. A [`HeartbeatReader`](super::HeartbeatReader)
/// then tells alive, stale and missing apart.
///
/// Failures (Redis down, a timeout, a source that panics) are counted in
/// [`HeartbeatStats`] with the last error, never swallowed; the connection is
/// remade on the next beat, so publishing resumes when Redis is back.
///
/// [`stop`](HeartbeatPublisher::stop) or dropping the publisher wakes the
/// thread at once and joins it; that returns within one Redis round trip
/// (bounded by the connect and I/O timeouts). Do not bind it to `_`: that
/// stops it immediately.
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
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    key: String,
    interval: Duration,
    ttl: Duration,
}

/// What a [`HeartbeatPublisher`] has done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeartbeatStats {
    /// Records written.
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

/// Configures a [`HeartbeatPublisher`]; from [`HeartbeatPublisher::builder`].
#[must_use = "a builder does nothing until `start` is called"]
pub struct HeartbeatPublisherBuilder {
    settings: ConnectionSettings,
    key: String,
    source: Source,
    interval: Duration,
    ttl: Duration,
    host: Option<String>,
    pid: u32,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, Default)]
struct State {
    stop: bool,
    stats: HeartbeatStats,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing here can be left half-updated by a panic: recover.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl HeartbeatPublisher {
    /// A builder for a publisher writing `key` on the server at `url`, with
    /// `source` giving the consumer's last beat (`None`: no beat yet).
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
            ttl: DEFAULT_HEARTBEAT_TTL,
            host: None,
            pid: std::process::id(),
            clock: Arc::new(SystemClock::new()),
        }
    }

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

    /// What it has done so far.
    pub fn stats(&self) -> HeartbeatStats {
        self.shared.lock().stats.clone()
    }

    /// Stops the thread and joins it (within one Redis round trip), then
    /// returns the final stats. The key is left to expire.
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
            .field("ttl", &self.ttl)
            .field("running", &self.thread.is_some())
            .field("stats", &self.stats())
            .finish()
    }
}

impl HeartbeatPublisherBuilder {
    /// Time between beats; default [`DEFAULT_HEARTBEAT_INTERVAL`].
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The key's TTL, longer than the interval; default
    /// [`DEFAULT_HEARTBEAT_TTL`]. Whole milliseconds (rounded up).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
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
        self.clock = Arc::new(clock);
        self
    }

    /// Time to connect; default
    /// [`DEFAULT_REDIS_CONNECT_TIMEOUT`](super::DEFAULT_REDIS_CONNECT_TIMEOUT).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// Time one write may take; default
    /// [`DEFAULT_REDIS_IO_TIMEOUT`](super::DEFAULT_REDIS_IO_TIMEOUT).
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.settings.io_timeout = timeout;
        self
    }

    /// Validates the settings and starts the publisher thread, which
    /// publishes the first beat at once. Does not wait for Redis.
    ///
    /// # Errors
    /// [`HeartbeatStartError::Config`] for a bad URL, an empty key, a zero
    /// interval or timeout, or a TTL not longer than the interval (the key
    /// would expire between beats); [`HeartbeatStartError::Spawn`] if the
    /// thread cannot be spawned.
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
        let connector = self.settings.connector()?;
        let shared = Arc::new(Shared::default());
        let worker = Worker {
            shared: Arc::clone(&shared),
            connector,
            key: self.key.clone(),
            source: self.source,
            interval: self.interval,
            ttl_ms: u64::try_from(self.ttl.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX),
            host: self.host.unwrap_or_else(host_name),
            pid: self.pid,
            clock: self.clock,
        };
        let thread = thread::Builder::new()
            .name(HEARTBEAT_THREAD_NAME.to_owned())
            .spawn(move || worker.run())
            .map_err(HeartbeatStartError::Spawn)?;
        Ok(HeartbeatPublisher {
            shared,
            thread: Some(thread),
            key: self.key,
            interval: self.interval,
            ttl: self.ttl,
        })
    }
}

impl fmt::Debug for HeartbeatPublisherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeartbeatPublisherBuilder")
            .field("settings", &self.settings)
            .field("key", &self.key)
            .field("interval", &self.interval)
            .field("ttl", &self.ttl)
            .field("host", &self.host)
            .field("pid", &self.pid)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// The publisher thread's state.
struct Worker {
    shared: Arc<Shared>,
    connector: Connector,
    key: String,
    source: Source,
    interval: Duration,
    ttl_ms: u64,
    host: String,
    pid: u32,
    clock: Arc<dyn Clock>,
}

/// The outcome of one beat.
enum Beat {
    Published(HeartbeatRecord),
    NoBeatYet,
    Failed(String),
}

impl Worker {
    fn run(mut self) {
        loop {
            let beat = self.beat();
            let mut state = self.shared.lock();
            match beat {
                Beat::Published(record) => {
                    state.stats.published += 1;
                    state.stats.last_record = Some(record);
                }
                Beat::NoBeatYet => state.stats.skipped += 1,
                Beat::Failed(error) => {
                    state.stats.failed += 1;
                    state.stats.last_error = Some(error);
                }
            }
            // Wait for the next beat or a stop, whichever comes first.
            let next = Instant::now() + self.interval;
            while !state.stop {
                let left = next.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                state = self.shared.wake.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
            }
            if state.stop {
                return;
            }
        }
    }

    fn beat(&mut self) -> Beat {
        let last_beat = match panic::catch_unwind(AssertUnwindSafe(&mut self.source)) {
            Ok(Some(last_beat)) => last_beat,
            Ok(None) => return Beat::NoBeatYet,
            Err(_) => return Beat::Failed("the heartbeat source panicked".to_owned()),
        };
        let record = HeartbeatRecord::new(last_beat, self.clock.now(), self.pid, self.host.clone());
        let packed = redis::cmd("SET")
            .arg(&self.key)
            .arg(record.to_json())
            .arg("PX")
            .arg(self.ttl_ms)
            .get_packed_command();
        match self.connector.round_trip(&packed, 1) {
            Ok(_) => Beat::Published(record),
            Err(err) => Beat::Failed(HeartbeatError::Redis(err).to_string()),
        }
    }
}

/// The machine's host name, without extra dependencies.
fn host_name() -> String {
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
        let err = HeartbeatPublisher::builder("redis://127.0.0.1:1", "", || None).start().unwrap_err();
        assert_eq!(err.to_string(), r#"invalid value "" for `key`: expected a non-empty key"#);
    }

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
            .ttl(Duration::from_secs(1))
            .start()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while publisher.stats().failed < 3 {
            assert!(Instant::now() < deadline, "no failures counted: {:?}", publisher.stats());
            thread::yield_now();
        }
        let started = Instant::now();
        let stats = publisher.stop();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!((stats.published, stats.skipped), (0, 1));
        assert!(stats.last_error.unwrap().starts_with("transport error: redis at 127.0.0.1:1: "));
    }

    #[test]
    fn host_name_is_never_empty() {
        assert!(!host_name().is_empty());
    }
}
