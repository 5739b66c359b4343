//! `tracing` integration (feature `tracing`): a zero-allocation
//! `tracing_subscriber::Layer` that carries `tracing` events and spans
//! through ringtel to every built-in exporter.
//!
//! ```
//! use std::time::Duration;
//! use tracing_subscriber::prelude::*;
//! use ringtel::exporters::Memory;
//!
//! let memory = Memory::new(16);
//! let seen = memory.handle();
//! let (layer, guard) = ringtel::tracing::layer().capacity(1 << 16).exporter(memory).start()?;
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::info!(rows = 3_u64, table = "orders", "row done");
//! });
//! let report = guard.close(Duration::from_secs(2))?;
//! assert_eq!(report.health().delivered(), 1);
//! let events = seen.events();
//! assert_eq!(ringtel::Event::message(&events[0]), Some("row done"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With a global subscriber: `tracing_subscriber::registry().with(layer).init()`
//! (the `EnvFilter` of `tracing-subscriber`'s `env-filter` feature composes as
//! usual: `.with(EnvFilter::from_default_env()).with(layer)`).
//!
//! # What is carried
//! Each event becomes one [`TracingRecord`] of [`RECORD_SIZE`] bytes: the
//! callsite's `&'static Metadata` (never copied), the time, the current span
//! id, a thread index and the field values packed inline (see
//! [`TracingRecord`]); a field that does not fit, and text cut off, are
//! counted in [`Health::truncated_fields`](crate::Health::truncated_fields)
//! and [`Health::truncated_bytes`](crate::Health::truncated_bytes). A span's
//! creation (with its parent and fields) and its close are records too;
//! each exporter's [`SpanPairing`] pairs them into one finished span
//! ([`Shape::Span`](crate::encoding::Shape::Span)), so the OTLP exporter sends
//! it as a span. Values recorded later with `Span::record` are a record of
//! their own ([`RecordKind::Record`]), merged by the pairing into the open
//! span (or passed on by themselves when they do not fit beside its
//! fields). A close record carries no registry lookup: its metadata is a
//! placeholder, and the pairing names the span from its creation. Enter and
//! exit are recorded only with [`SpanActivity::EnterExit`].
//!
//! Every record is accounted for like any ringtel event: `offered =
//! filtered + delivered + dropped` after `close`. Records raised on
//! ringtel's own threads count as [`DropReason::OwnThread`](crate::DropReason::OwnThread).
//!
//! # Time
//! By default ([`EventTime::Batch`]) events are not stamped on the hot path:
//! exporters use the time the consumer took their batch from the ring (see
//! [`encoding`](crate::encoding#time)), later than the event by the time it
//! waited there. Stamping each event ([`EventTime::Emit`]) is a setting.
//! Span records always read the clock, since a span's duration is the
//! difference of two reads.
//!
//! The clock the layer reads is the CPU's time-stamp counter, through
//! `quanta` (about 14 ns a read on a 2-vCPU VM, against about 55 ns for the
//! wall clock's vDSO `clock_gettime`); the record keeps the raw reading, and
//! the exporter side converts it to Unix nanoseconds with quanta's
//! calibration against a fresh wall-clock reading, once per batch, so
//! exported times are wall-clock times and a span's duration is the
//! counter's difference. quanta calibrates once per process, on a thread
//! the first layer starts; records taken before that is done (about a
//! millisecond) read the wall clock. See [`calibrate_clock`].

mod fill;
mod layer;
#[cfg(feature = "log")]
mod log_bridge;
mod pairing;
mod record;
mod record_clock;

use std::time::Duration;

use tracing_subscriber::filter::LevelFilter;

pub use layer::RingtelLayer;
#[cfg(feature = "log")]
pub use log_bridge::LogBridge;
pub use pairing::{PairedRecord, PairingStats, SpanPairing, DEFAULT_OPEN_SPANS};
pub use record::{RecordKind, TracingRecord, RECORD_SIZE};
pub use record_clock::calibrate_clock;

use crate::{
    Backpressure, CloseError, CloseReport, Exporter, FlushError, Granularity, Health, StartError, Telemetry,
    TelemetryBuilder, DEFAULT_CLOSE_TIMEOUT,
};

/// Which span transitions the layer records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpanActivity {
    /// Creation and close only (the default): what a finished span needs.
    #[default]
    Lifecycle,
    /// Also every enter and exit, as log records.
    EnterExit,
}

/// Where an event's time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EventTime {
    /// Use the time the consumer took the event's batch from the ring (the
    /// default): no clock read per event, later by the time the event waited.
    #[default]
    Batch,
    /// Read the clock when the event is recorded: exact, one clock read
    /// (the CPU counter's: about 14 ns) per event.
    Emit,
}

/// A builder for a [`RingtelLayer`] and its [`TracingGuard`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use tracing_subscriber::filter::LevelFilter;
/// use ringtel::exporters::Null;
/// use ringtel::tracing::{EventTime, SpanActivity};
///
/// let (layer, guard) = ringtel::tracing::layer()
///     .capacity(4096)
///     .max_level(LevelFilter::INFO)
///     .span_activity(SpanActivity::EnterExit)
///     .event_time(EventTime::Emit)
///     .exporter(Null::new())
///     .start()?;
/// drop(layer);
/// assert!(guard.close(Duration::from_secs(2))?.health().is_conserved());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until `start` is called"]
#[derive(Debug)]
pub struct TracingBuilder {
    telemetry: TelemetryBuilder<TracingRecord>,
    max_level: LevelFilter,
    activity: SpanActivity,
    event_time: EventTime,
    open_spans: usize,
    pairings: Vec<(String, PairingStats)>,
    close_timeout: Duration,
}

/// A builder with every setting at its default: all levels (filter with an
/// `EnvFilter` or [`max_level`](TracingBuilder::max_level)), granularity
/// `Full` (so `debug!` and `trace!` records, which are `Full`, are kept),
/// creation and close of spans, events stamped with their batch's time
/// ([`EventTime::Batch`]), and no exporter.
pub fn layer() -> TracingBuilder {
    TracingBuilder {
        telemetry: Telemetry::builder().granularity(Granularity::Full),
        max_level: LevelFilter::TRACE,
        activity: SpanActivity::Lifecycle,
        event_time: EventTime::Batch,
        open_spans: DEFAULT_OPEN_SPANS,
        pairings: Vec::new(),
        close_timeout: DEFAULT_CLOSE_TIMEOUT,
    }
}

impl TracingBuilder {
    /// The ring's capacity in records.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.telemetry = self.telemetry.capacity(capacity);
        self
    }

    /// What the layer does when the ring is full (default: drop, counted).
    pub fn backpressure(mut self, backpressure: Backpressure) -> Self {
        self.telemetry = self.telemetry.backpressure(backpressure);
        self
    }

    /// The deadline of the close that runs when the [`TracingGuard`] drops.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self.telemetry = self.telemetry.close_timeout(timeout);
        self
    }

    /// The most verbose level recorded; callsites above it are disabled for
    /// the whole subscriber (`Interest::never`). Default: `TRACE`.
    pub fn max_level(mut self, level: LevelFilter) -> Self {
        self.max_level = level;
        self
    }

    /// Which span transitions are recorded.
    pub fn span_activity(mut self, activity: SpanActivity) -> Self {
        self.activity = activity;
        self
    }

    /// Where event times come from.
    pub fn event_time(mut self, event_time: EventTime) -> Self {
        self.event_time = event_time;
        self
    }

    /// The open spans each exporter's [`SpanPairing`] tracks (default
    /// [`DEFAULT_OPEN_SPANS`]).
    pub fn open_spans(mut self, open_spans: usize) -> Self {
        self.open_spans = open_spans;
        self
    }

    /// Adds an exporter, wrapped in a [`SpanPairing`] of its own (on its own
    /// worker thread, with ringtel's failure isolation). Any built-in
    /// exporter fits: `JsonLines`, `Console`, `OtlpExporter`, `RedisStreams`.
    pub fn exporter(mut self, exporter: impl Exporter<PairedRecord>) -> Self {
        let pairing = SpanPairing::new(exporter, self.open_spans);
        self.pairings.push((pairing.inner_name().to_owned(), pairing.stats()));
        self.telemetry = self.telemetry.exporter(pairing);
        self
    }

    /// Adjusts the underlying [`TelemetryBuilder`] (batch size, breaker,
    /// consumer idle, clock, exporters that take raw [`TracingRecord`]s…).
    pub fn telemetry(
        mut self,
        configure: impl FnOnce(TelemetryBuilder<TracingRecord>) -> TelemetryBuilder<TracingRecord>,
    ) -> Self {
        self.telemetry = configure(self.telemetry);
        self
    }

    /// Starts the telemetry and returns the layer to install and the guard
    /// that closes it.
    ///
    /// # Errors
    /// As [`TelemetryBuilder::start`].
    pub fn start(self) -> Result<(RingtelLayer, TracingGuard), StartError> {
        let telemetry = self.telemetry.start()?;
        record_clock::calibrate_in_background();
        let layer = RingtelLayer {
            telemetry: telemetry.clone(),
            max_level: self.max_level,
            activity: self.activity,
            event_time: self.event_time,
        };
        let guard = TracingGuard {
            telemetry: Some(telemetry),
            pairings: self.pairings,
            close_timeout: self.close_timeout,
            event_time: self.event_time,
        };
        Ok((layer, guard))
    }
}

/// Owns the layer's telemetry: [`close`](TracingGuard::close) it to see the
/// exact final counts; dropping it closes it with the configured close
/// timeout (never longer).
///
/// The layer keeps emitting after `close`; its records are then counted as
/// dropped (`Closed`).
#[must_use = "dropping the guard closes the telemetry: keep it until the program ends"]
#[derive(Debug)]
pub struct TracingGuard {
    telemetry: Option<Telemetry<TracingRecord>>,
    pairings: Vec<(String, PairingStats)>,
    close_timeout: Duration,
    #[cfg_attr(not(feature = "log"), allow(dead_code))]
    event_time: EventTime,
}

impl TracingGuard {
    /// The telemetry the layer emits into.
    pub fn telemetry(&self) -> &Telemetry<TracingRecord> {
        self.telemetry.as_ref().expect("present until close")
    }

    /// A snapshot of every count.
    pub fn health(&self) -> Health {
        self.telemetry().health()
    }

    /// Waits until every record emitted before this call is exported.
    ///
    /// # Errors
    /// As [`Telemetry::flush`].
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        self.telemetry().flush(timeout)
    }

    /// Each exporter's name and its [`SpanPairing`]'s counts, in the order
    /// they were added.
    pub fn span_pairing(&self) -> &[(String, PairingStats)] {
        &self.pairings
    }

    /// Drains, flushes and closes every exporter by `timeout` and returns the
    /// final report (see [`Telemetry::close`]).
    ///
    /// # Errors
    /// As [`Telemetry::close`]; every error carries the report.
    pub fn close(mut self, timeout: Duration) -> Result<CloseReport, CloseError> {
        let telemetry = self.telemetry.take().expect("present until close");
        telemetry.close(timeout)
    }

    /// A `log::Log` that emits `log` records into the same telemetry; install
    /// it with `log::set_boxed_logger`.
    #[cfg(feature = "log")]
    pub fn log_bridge(&self, max_level: log::LevelFilter) -> LogBridge {
        LogBridge::new(self.telemetry().clone(), max_level, self.event_time)
    }
}

impl Drop for TracingGuard {
    fn drop(&mut self) {
        if let Some(telemetry) = self.telemetry.take() {
            // Bounded by the close timeout; the outcome stays in `Health`.
            let _ = telemetry.close(self.close_timeout);
        }
    }
}
