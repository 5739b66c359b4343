//! `ProgressTicker`: a `Progress` event every N rows or every T of clock
//! time, whichever comes first.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use super::{PipelineEvent, RowCounts, RowOutcome, RunContext};
use crate::clock::Timestamp;

/// Default row interval: a `Progress` event every this many rows.
pub const DEFAULT_PROGRESS_EVERY_ROWS: u64 = 100;
/// Default time interval: a `Progress` event once this much clock time has
/// passed since the last one, if the row interval has not come first.
pub const DEFAULT_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Counts rows by outcome and produces a `Progress` event every `every_rows`
/// rows or every `every` of clock time, whichever comes first; each event
/// restarts both intervals.
///
/// One ticker belongs to one thread (it takes `&mut self`): put it where every
/// row's outcome is known, such as the sink loop. Recording a row reads the
/// clock once and allocates nothing. The reported rate is the average since
/// the ticker was created.
///
/// Time is read from the [`RunContext`]'s clock, so tests drive it with a
/// [`ManualClock`](crate::ManualClock). If the clock steps backwards, the time
/// interval waits for it to catch up; the row interval still fires.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::pipeline::{EventKind, ProgressTicker, RowOutcome, RunContext, RunId};
/// use ringtel::{ManualClock, Timestamp};
///
/// let clock = ManualClock::new(Timestamp::from_nanos(0));
/// let run = RunContext::new(RunId::new(1), &clock);
/// let mut ticker = ProgressTicker::new(run, 3, Duration::from_secs(5)).unwrap();
///
/// assert!(ticker.record(RowOutcome::Succeeded).is_none());
/// assert!(ticker.record(RowOutcome::Failed).is_none());
/// clock.advance(Duration::from_secs(1));
/// let event = ticker.record(RowOutcome::Succeeded).expect("every 3 rows");
/// match event.kind() {
///     EventKind::Progress { counts, rows_per_second } => {
///         assert_eq!((counts.processed, counts.succeeded, counts.failed), (3, 2, 1));
///         assert_eq!(*rows_per_second, 3.0);
///     }
///     other => panic!("unexpected {other:?}"),
/// }
///
/// // Or after 5 s of clock time, whichever comes first.
/// assert!(ticker.record(RowOutcome::Succeeded).is_none());
/// clock.advance(Duration::from_secs(5));
/// assert!(ticker.poll().is_some());
/// ```
#[derive(Debug)]
pub struct ProgressTicker<'c> {
    run: RunContext<'c>,
    every_rows: u64,
    every: Duration,
    counts: RowCounts,
    started: Timestamp,
    last_at: Timestamp,
    last_processed: u64,
}

impl<'c> ProgressTicker<'c> {
    /// A ticker for `run` that fires every `every_rows` rows or every `every`
    /// of clock time. Pass `u64::MAX` or `Duration::MAX` to (practically)
    /// disable one trigger.
    ///
    /// # Errors
    /// [`ProgressIntervalError`] if `every_rows` is 0 or `every` is zero.
    pub fn new(run: RunContext<'c>, every_rows: u64, every: Duration) -> Result<Self, ProgressIntervalError> {
        if every_rows == 0 {
            return Err(ProgressIntervalError { field: "every_rows", value: "0".to_owned() });
        }
        if every.is_zero() {
            return Err(ProgressIntervalError { field: "every", value: format!("{every:?}") });
        }
        let now = run.now();
        Ok(ProgressTicker {
            run,
            every_rows,
            every,
            counts: RowCounts::default(),
            started: now,
            last_at: now,
            last_processed: 0,
        })
    }

    /// A ticker with [`DEFAULT_PROGRESS_EVERY_ROWS`] and [`DEFAULT_PROGRESS_EVERY`].
    pub fn with_defaults(run: RunContext<'c>) -> Self {
        ProgressTicker::new(run, DEFAULT_PROGRESS_EVERY_ROWS, DEFAULT_PROGRESS_EVERY)
            .expect("the default intervals are valid")
    }

    /// Counts one row; returns a `Progress` event if an interval has passed.
    #[inline]
    pub fn record(&mut self, outcome: impl Into<RowOutcome>) -> Option<PipelineEvent> {
        self.counts.record(outcome.into());
        let now = self.run.now();
        if self.counts.processed - self.last_processed >= self.every_rows || self.time_is_up(now) {
            Some(self.emit_at(now))
        } else {
            None
        }
    }

    /// Returns a `Progress` event if the time interval has passed, without
    /// counting a row (call it while rows are slow to come).
    pub fn poll(&mut self) -> Option<PipelineEvent> {
        let now = self.run.now();
        self.time_is_up(now).then(|| self.emit_at(now))
    }

    /// A `Progress` event now, whatever the intervals (for the end of a run).
    pub fn finish(&mut self) -> PipelineEvent {
        let now = self.run.now();
        self.emit_at(now)
    }

    /// The rows counted so far.
    pub fn counts(&self) -> RowCounts {
        self.counts
    }

    /// The row interval.
    pub fn every_rows(&self) -> u64 {
        self.every_rows
    }

    /// The time interval.
    pub fn every(&self) -> Duration {
        self.every
    }

    fn time_is_up(&self, now: Timestamp) -> bool {
        now.saturating_duration_since(self.last_at) >= self.every
    }

    fn emit_at(&mut self, now: Timestamp) -> PipelineEvent {
        self.last_at = now;
        self.last_processed = self.counts.processed;
        let elapsed = now.saturating_duration_since(self.started).as_secs_f64();
        // `as f64` loses precision only past 2^53 rows.
        let rate = if elapsed > 0.0 { self.counts.processed as f64 / elapsed } else { 0.0 };
        PipelineEvent::new(
            now,
            self.run.id(),
            super::EventKind::Progress { counts: self.counts, rows_per_second: rate },
        )
    }
}

/// A progress interval that can never fire.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::pipeline::{ProgressTicker, RunContext, RunId};
/// use ringtel::SystemClock;
/// let clock = SystemClock::new();
/// let err = ProgressTicker::new(RunContext::new(RunId::new(1), &clock), 0, Duration::from_secs(1)).unwrap_err();
/// assert_eq!(err.to_string(), "invalid value 0 for `every_rows`: expected a value greater than zero");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressIntervalError {
    field: &'static str,
    value: String,
}

impl ProgressIntervalError {
    /// The setting: `"every_rows"` or `"every"`.
    pub fn field(&self) -> &'static str {
        self.field
    }
}

impl fmt::Display for ProgressIntervalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid value {} for `{}`: expected a value greater than zero", self.value, self.field)
    }
}

impl Error for ProgressIntervalError {}
