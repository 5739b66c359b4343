//! `HeartbeatPublisher`: a thread of its own that writes the consumer's
//! exact last beat to a Redis key with a TTL, at a fixed cadence.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::connection::{ConnectionSettings, Connector};
use super::error::{HeartbeatError, HeartbeatStartError, RedisConfigError};
use super::heartbeat::{HeartbeatRecord, DEFAULT_HEARTBEAT_INDEX, DEFAULT_HEARTBEAT_STALE_AFTER};
use crate::{Clock, SystemClock, Timestamp};

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
type Source = Box<dyn FnMut() -> Option<Timestamp> + Send + 'static>;

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
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    key: String,
    interval: Duration,
    stale_after: Duration,
    ttl: Duration,
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
    index: String,
    forget_after: Duration,
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
            index: DEFAULT_HEARTBEAT_INDEX.to_owned(),
            forget_after: DEFAULT_HEARTBEAT_FORGET_AFTER,
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
        self.index = index.into();
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
        if self.index.is_empty() {
            return Err(RedisConfigError::invalid("index", &self.index, "a non-empty key").into());
        }
        if self.forget_after < self.ttl || self.forget_after < self.stopped_ttl {
            return Err(RedisConfigError::invalid(
                "forget_after",
                self.forget_after,
                "a duration at least `ttl` and `stopped_ttl`",
            )
            .into());
        }
        let connector = self.settings.connector()?;
        let shared = Arc::new(Shared::default());
        let worker = Worker {
            shared: Arc::clone(&shared),
            connector,
            key: self.key.clone(),
            source: self.source,
            interval: self.interval,
            ttl_ms: whole_millis(self.ttl),
            stopped_ttl_ms: whole_millis(self.stopped_ttl),
            index: self.index,
            forget_ms: whole_millis(self.forget_after),
            last_beat: None,
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
            stale_after: self.stale_after,
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
            .field("stale_after", &self.stale_after)
            .field("ttl", &self.ttl)
            .field("stopped_ttl", &self.stopped_ttl)
            .field("index", &self.index)
            .field("forget_after", &self.forget_after)
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
    stopped_ttl_ms: u64,
    index: String,
    forget_ms: u64,
    /// The last beat the source gave, for the stop record.
    last_beat: Option<Timestamp>,
    host: String,
    pid: u32,
    clock: Arc<dyn Clock>,
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
    fn run(mut self) {
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
                state = self.shared.wake.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
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
        let packed = redis::cmd("EVAL")
            .arg(BEAT_LUA)
            .arg(2)
            .arg(&self.key)
            .arg(&self.index)
            .arg(record.to_json())
            .arg(ttl_ms)
            .arg(self.forget_ms)
            .get_packed_command();
        match self.connector.round_trip(&packed, 1) {
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
fn whole_millis(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
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
