//! A snapshot of a telemetry's counts and components.

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::clock::Timestamp;
use crate::BreakerState;
use crate::{Backpressure, DropReason, ExportErrorKind, Granularity, TotalFailure};

/// A snapshot of a telemetry: every count of the conservation law (C1), the
/// ring, the consumer and each exporter.
///
/// While the telemetry runs, the counters are read one after another, not
/// atomically together, so a snapshot can be off by the events that moved
/// while it was taken. After `close` returns (and every concurrent `emit` has
/// returned), [`Health::is_conserved`] holds exactly.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::{exporters::Null, Event, Granularity, Telemetry};
///
/// struct Tick;
/// impl Event for Tick { fn granularity(&self) -> Granularity { Granularity::Rows } }
///
/// let telemetry = Telemetry::<Tick>::builder().exporter(Null::new()).start().unwrap();
/// let _ = telemetry.emit(Tick);
/// let report = telemetry.close(Duration::from_secs(5)).unwrap();
/// let health = report.health();
/// assert_eq!(health.offered(), 1);
/// assert!(health.is_conserved());
/// println!("{health}");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub(crate) offered: u64,
    pub(crate) filtered: u64,
    pub(crate) accepted: u64,
    pub(crate) delivered: u64,
    pub(crate) dropped: DroppedCounts,
    pub(crate) dropped_total: u64,
    pub(crate) truncated_fields: u64,
    pub(crate) truncated_bytes: u64,
    pub(crate) in_flight: u64,
    pub(crate) queue_len: usize,
    pub(crate) capacity: usize,
    pub(crate) blocked_producers: usize,
    pub(crate) granularity: Granularity,
    pub(crate) backpressure: Backpressure,
    pub(crate) consumer: ConsumerState,
    pub(crate) last_heartbeat: Option<Timestamp>,
    pub(crate) taken_at: Timestamp,
    pub(crate) exporters: Vec<ExporterHealth>,
    pub(crate) total_failure: Option<TotalFailure>,
}

impl Health {
    /// Events passed to `emit`.
    pub fn offered(&self) -> u64 {
        self.offered
    }
    /// Events below the granularity setting, not recorded.
    pub fn filtered(&self) -> u64 {
        self.filtered
    }
    /// Events that entered the ring.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }
    /// Events at least one exporter accepted.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }
    /// Events dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(reason)
    }
    /// Events dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }
    /// Fields left out of delivered or dropped records because the record
    /// (of fixed size, such as the `tracing` integration's) had no room for
    /// them. The record itself is counted as usual; this counts what it lost.
    pub fn truncated_fields(&self) -> u64 {
        self.truncated_fields
    }
    /// Bytes of text (messages, string fields) cut off to fit a fixed-size
    /// record, including the text of fields counted in
    /// [`truncated_fields`](Health::truncated_fields).
    pub fn truncated_bytes(&self) -> u64 {
        self.truncated_bytes
    }
    /// Events taken by the consumer and not yet resolved.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }
    /// Events waiting in the ring (0 once the run has ended: what is left
    /// then is counted as dropped).
    pub fn queue_len(&self) -> usize {
        self.queue_len
    }
    /// The ring's capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Producers waiting for room right now.
    pub fn blocked_producers(&self) -> usize {
        self.blocked_producers
    }
    /// The granularity setting.
    pub fn granularity(&self) -> Granularity {
        self.granularity
    }
    /// The backpressure policy.
    pub fn backpressure(&self) -> Backpressure {
        self.backpressure
    }
    /// The consumer thread's state.
    pub fn consumer(&self) -> &ConsumerState {
        &self.consumer
    }
    /// The clock time of the consumer's last loop iteration.
    pub fn last_heartbeat(&self) -> Option<Timestamp> {
        self.last_heartbeat
    }
    /// When this snapshot was taken, by the telemetry's clock.
    pub fn taken_at(&self) -> Timestamp {
        self.taken_at
    }
    /// How long before this snapshot the consumer's last heartbeat was
    /// (`None` before the first).
    pub fn heartbeat_age(&self) -> Option<std::time::Duration> {
        self.last_heartbeat.map(|beat| self.taken_at.saturating_duration_since(beat))
    }
    /// Each exporter's counts and state.
    pub fn exporters(&self) -> &[ExporterHealth] {
        &self.exporters
    }

    /// The sticky total failure raised by the `Fail` policy, until an export
    /// succeeds again.
    pub fn total_failure(&self) -> Option<&TotalFailure> {
        self.total_failure.as_ref()
    }

    /// Whether events that entered the ring were lost after it: counted
    /// `ExportFailed`, or owed to an exporter that failed, skipped or could
    /// not flush or close them (see
    /// [`CloseError::EventsLost`](crate::CloseError::EventsLost)).
    pub(crate) fn lost_accepted_events(&self) -> bool {
        self.dropped(DropReason::ExportFailed) > 0 || self.exporters.iter().any(ExporterHealth::lost_events)
    }

    /// Whether `offered = filtered + delivered + dropped_total + in_flight +
    /// queue_len` (C1). After `close`, `in_flight` and `queue_len` are 0 and
    /// this is `offered = filtered + delivered + dropped_total`.
    pub fn is_conserved(&self) -> bool {
        self.offered
            == self.filtered + self.delivered + self.dropped_total + self.in_flight + self.queue_len as u64
    }
}

/// Dropped events by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DroppedCounts(pub(crate) [u64; DropReason::COUNT]);

impl DroppedCounts {
    /// The count for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }
    /// The sum over all reasons.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    /// `(reason, count)` pairs in reason order.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(move |&r| (r, self.get(r)))
    }
}

impl Serialize for DroppedCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(DropReason::COUNT))?;
        for (reason, count) in self.iter() {
            map.serialize_entry(reason.as_str(), &count)?;
        }
        map.end()
    }
}

/// The consumer thread's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConsumerState {
    /// Running; draining the ring.
    Running,
    /// Stopped after a close (normal or timed out).
    Stopped,
    /// Died of a panic outside exporter containment.
    Dead {
        /// The panic message.
        message: String,
    },
}

/// Identifies an exporter of one telemetry (returned by `add_exporter`,
/// shown in `Health`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ExporterId(pub(crate) u64);

impl ExporterId {
    /// The numeric id (unique within one telemetry, never reused).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ExporterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One exporter's counts and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExporterHealth {
    pub(crate) id: ExporterId,
    pub(crate) name: String,
    pub(crate) state: ExporterState,
    pub(crate) breaker: BreakerState,
    pub(crate) breaker_opened: u64,
    pub(crate) skipped_batches: u64,
    pub(crate) skipped_events: u64,
    pub(crate) batches_exported: u64,
    pub(crate) events_exported: u64,
    pub(crate) failures: u64,
    pub(crate) panics: u64,
    pub(crate) consecutive_failures: u64,
    pub(crate) flush_failures: u64,
    pub(crate) last_error: Option<LastError>,
}

impl ExporterHealth {
    /// The exporter's id.
    pub fn id(&self) -> ExporterId {
        self.id
    }
    /// Its circuit breaker's state.
    pub fn breaker(&self) -> BreakerState {
        self.breaker
    }
    /// How many times its breaker opened.
    pub fn breaker_opened(&self) -> u64 {
        self.breaker_opened
    }
    /// Batches it did not get (breaker open, or hung).
    pub fn skipped_batches(&self) -> u64 {
        self.skipped_batches
    }
    /// Events in those batches.
    pub fn skipped_events(&self) -> u64 {
        self.skipped_events
    }
    /// The exporter's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its state.
    pub fn state(&self) -> ExporterState {
        self.state
    }
    /// Batches it accepted.
    pub fn batches_exported(&self) -> u64 {
        self.batches_exported
    }
    /// Events it accepted.
    pub fn events_exported(&self) -> u64 {
        self.events_exported
    }
    /// Batches it failed (errors and panics).
    pub fn failures(&self) -> u64 {
        self.failures
    }
    /// Panics caught in any of its methods.
    pub fn panics(&self) -> u64 {
        self.panics
    }
    /// Failures since its last success.
    pub fn consecutive_failures(&self) -> u64 {
        self.consecutive_failures
    }
    /// Failed `flush` calls.
    pub fn flush_failures(&self) -> u64 {
        self.flush_failures
    }
    /// Its most recent error, kept until replaced (never cleared by a read).
    pub fn last_error(&self) -> Option<&LastError> {
        self.last_error.as_ref()
    }

    /// Whether it lost events it was owed: a failed batch, a skipped one, a
    /// failed flush or a failed close. (What a clean close turns into
    /// [`CloseError::EventsLost`](crate::CloseError::EventsLost).)
    pub(crate) fn lost_events(&self) -> bool {
        self.failures > 0
            || self.skipped_events > 0
            || self.flush_failures > 0
            || self.state == ExporterState::CloseFailed
    }
}

/// An exporter's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ExporterState {
    /// Receiving batches.
    Active,
    /// Busy in one call for longer than its export timeout; its batches are
    /// skipped (and counted for it) until the call returns.
    Hung {
        /// When the call it is stuck in began (telemetry clock).
        since: Timestamp,
    },
    /// Removed; it flushes and closes, then leaves `Health`.
    Removing,
    /// Closed cleanly.
    Closed,
    /// Its `close` returned an error or panicked.
    CloseFailed,
}

impl fmt::Display for ExporterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExporterState::Active => f.write_str("active"),
            ExporterState::Hung { since } => write!(f, "hung since {since}"),
            ExporterState::Removing => f.write_str("removing"),
            ExporterState::Closed => f.write_str("closed"),
            ExporterState::CloseFailed => f.write_str("close failed"),
        }
    }
}

/// An exporter's most recent error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LastError {
    /// What kind of failure it was.
    pub kind: ExportErrorKind,
    /// The error text.
    pub message: String,
    /// When it happened, by the telemetry's clock.
    pub at: Timestamp,
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<(String, String)> = [
            ("offered".to_owned(), self.offered.to_string()),
            ("filtered".to_owned(), self.filtered.to_string()),
            ("accepted".to_owned(), self.accepted.to_string()),
            ("delivered".to_owned(), self.delivered.to_string()),
        ]
        .into_iter()
        .chain(self.dropped.iter().map(|(r, c)| (format!("dropped: {r}"), c.to_string())))
        .chain([
            ("dropped total".to_owned(), self.dropped_total.to_string()),
            (
                "truncated".to_owned(),
                format!("{} fields, {} bytes", self.truncated_fields, self.truncated_bytes),
            ),
            ("in flight".to_owned(), self.in_flight.to_string()),
            ("queue".to_owned(), format!("{} / {}", self.queue_len, self.capacity)),
            ("blocked producers".to_owned(), self.blocked_producers.to_string()),
            ("granularity".to_owned(), format!("{:?}", self.granularity)),
            ("backpressure".to_owned(), format!("{:?}", self.backpressure)),
            (
                "consumer".to_owned(),
                match &self.consumer {
                    ConsumerState::Running => "running".to_owned(),
                    ConsumerState::Stopped => "stopped".to_owned(),
                    ConsumerState::Dead { message } => format!("dead: {message}"),
                },
            ),
            (
                "last heartbeat".to_owned(),
                match (self.last_heartbeat, self.heartbeat_age()) {
                    (Some(beat), Some(age)) => {
                        format!("{} ago ({})", format_age(age), beat.to_rfc3339())
                    }
                    _ => "never".to_owned(),
                },
            ),
            ("conservation".to_owned(), if self.is_conserved() { "holds" } else { "VIOLATED" }.to_owned()),
        ])
        .chain(self.exporters.iter().map(|e| {
            (
                format!("exporter {}", e.name),
                format!(
                    "{}, breaker {}, {} events in {} batches, {} failures, {} panics, {} skipped{}",
                    e.state,
                    match e.breaker {
                        BreakerState::Closed { .. } => "closed",
                        BreakerState::Open { .. } => "open",
                        BreakerState::HalfOpen { .. } => "half-open",
                    },
                    e.events_exported,
                    e.batches_exported,
                    e.failures,
                    e.panics,
                    e.skipped_events,
                    e.last_error
                        .as_ref()
                        .map_or_else(String::new, |l| format!(", last error: {}", l.message))
                ),
            )
        }))
        .collect();
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (key, value) in rows {
            writeln!(f, "{key:<width$}  {value}")?;
        }
        Ok(())
    }
}

/// A short age for the health text: `850 µs`, `12.3 ms`, `4.56 s`, `3 min 20 s`.
fn format_age(age: std::time::Duration) -> String {
    let secs = age.as_secs_f64();
    if secs < 1e-3 {
        format!("{} µs", age.as_micros())
    } else if secs < 1.0 {
        format!("{:.1} ms", secs * 1e3)
    } else if secs < 60.0 {
        format!("{secs:.2} s")
    } else {
        format!("{} min {} s", age.as_secs() / 60, age.as_secs() % 60)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use crate::{Event, Granularity, ManualClock, Telemetry, Timestamp};

    struct Tick;
    impl Event for Tick {
        fn granularity(&self) -> Granularity {
            Granularity::Rows
        }
    }

    #[test]
    fn the_text_shows_the_heartbeat_as_an_age_and_an_rfc3339_time() {
        let beat = Timestamp::from_nanos(1_796_167_667_864_041_664);
        let clock = ManualClock::new(beat);
        let telemetry = Telemetry::<Tick>::builder().clock(clock).start().unwrap();
        let mut health = telemetry.close(Duration::from_secs(5)).unwrap().health().clone();
        assert_eq!(health.taken_at(), beat, "read from the telemetry's clock");
        health.last_heartbeat = Some(beat);
        health.taken_at = beat + Duration::from_micros(2_500);
        assert_eq!(health.heartbeat_age(), Some(Duration::from_micros(2_500)));
        let text = health.to_string();
        let line = text.lines().find(|l| l.starts_with("last heartbeat")).unwrap();
        assert!(line.ends_with("  2.5 ms ago (2026-12-01T23:27:47.864041Z)"), "{line}");
        health.taken_at = beat + Duration::from_secs(200);
        assert!(health.to_string().contains("3 min 20 s ago"), "{health}");
        health.last_heartbeat = None;
        assert_eq!(health.heartbeat_age(), None);
        assert!(health.to_string().lines().any(|l| l.starts_with("last heartbeat") && l.ends_with("never")));
    }
}
