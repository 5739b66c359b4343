//! Injectable time: every timer in ringtel reads a [`Clock`].
//!
//! Batch timers, the consumer heartbeat, drop-log times and (with the
//! resilience layer) breaker cooldowns read the telemetry's clock, so tests
//! move a [`ManualClock`] instead of sleeping. Waits that spend a *caller's*
//! real time budget (`flush(timeout)`, `close(timeout)`, `BlockFor`) are
//! measured in real time, since that is what the caller's deadline means.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::sync::{Arc, AtomicU64, Ordering};

/// A point in time: nanoseconds since the Unix epoch.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::Timestamp;
/// let t = Timestamp::from_nanos(1_500);
/// assert_eq!(t + Duration::from_nanos(500), Timestamp::from_nanos(2_000));
/// assert_eq!(t.saturating_duration_since(Timestamp::from_nanos(1_000)), Duration::from_nanos(500));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// A timestamp `nanos` nanoseconds after the Unix epoch.
    pub const fn from_nanos(nanos: u64) -> Timestamp {
        Timestamp(nanos)
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// This instant as an RFC 3339 UTC date and time, to the microsecond.
    ///
    /// (`Display` shows the raw seconds since the epoch instead.)
    ///
    /// # Examples
    /// ```
    /// use ringtel::Timestamp;
    /// let t = Timestamp::from_nanos(1_796_167_667_864_041_664);
    /// assert_eq!(t.to_rfc3339(), "2026-12-01T23:27:47.864041Z");
    /// ```
    pub fn to_rfc3339(self) -> String {
        let time = std::time::UNIX_EPOCH + Duration::from_nanos(self.0);
        humantime::format_rfc3339_micros(time).to_string()
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_nanos(rhs)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1_000_000_000;
        let nanos = self.0 % 1_000_000_000;
        write!(f, "{secs}.{nanos:09}s")
    }
}

/// Converts a duration to nanoseconds, saturating at `u64::MAX` (584 years).
pub(crate) fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The wall clock, read once: for exporters called outside ringtel's
/// consumer (which passes the time it took the batch instead).
#[cfg(not(loom))]
pub(crate) fn wall_now() -> Timestamp {
    Timestamp(SystemTime::now().duration_since(UNIX_EPOCH).map(duration_nanos).unwrap_or(0))
}

/// A source of time. Implementations must be cheap and monotonic.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The real clock: monotonic, anchored to the wall clock once at creation.
///
/// Reads [`Instant`] (a vDSO call on Linux, no system call), so wall-clock
/// steps (NTP, manual changes) never make ringtel's time go backwards.
///
/// # Examples
/// ```
/// use ringtel::{Clock, SystemClock};
/// let clock = SystemClock::new();
/// let a = clock.now();
/// assert!(clock.now() >= a);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    anchor_instant: Instant,
    anchor_unix_nanos: u64,
}

impl SystemClock {
    /// A clock anchored at the current wall-clock time.
    pub fn new() -> Self {
        let anchor_unix_nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(duration_nanos).unwrap_or(0);
        SystemClock { anchor_instant: Instant::now(), anchor_unix_nanos }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let elapsed = duration_nanos(self.anchor_instant.elapsed());
        Timestamp(self.anchor_unix_nanos.saturating_add(elapsed))
    }
}

/// A clock that moves only when told to; clones share the same time.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::{Clock, ManualClock, Timestamp};
/// let clock = ManualClock::new(Timestamp::from_nanos(0));
/// let handle = clock.clone();
/// handle.advance(Duration::from_millis(5));
/// assert_eq!(clock.now(), Timestamp::from_nanos(5_000_000));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock { nanos: Arc::new(AtomicU64::new(start.as_nanos())) }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        // Relaxed: the clock value carries no other data; readers that need
        // ordering get it from the structure they then inspect.
        self.nanos.fetch_add(duration_nanos(by), Ordering::Relaxed);
    }

    /// Sets the clock to `to` (which may be earlier, to test robustness).
    pub fn set(&self, to: Timestamp) {
        self.nanos.store(to.as_nanos(), Ordering::Relaxed);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new(Timestamp::EPOCH)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.nanos.load(Ordering::Relaxed))
    }
}
