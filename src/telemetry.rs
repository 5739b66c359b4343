//! The `Telemetry` handle: emit, flush, health, close.

use std::time::Duration;

use crate::dispatch::roster::{Command, Refused};
use crate::dispatch::{validate_options, worker};
use crate::error::{CloseError, CloseReport, FlushError, UnknownExporter};
use crate::monitor::TelemetryMonitor;
use crate::shared::Shared;
use crate::sync::{Arc, Ordering};
use crate::{
    Backpressure, Emitted, Event, Exporter, ExporterId, ExporterOptions, Granularity, Health,
    TelemetryBuilder,
};

/// A handle to a running telemetry: cheap to clone, `Send + Sync`.
///
/// Dropping the last handle closes the telemetry with the configured
/// `close_timeout` (see [`Telemetry::close`]); call `close` yourself to see
/// the report and choose the deadline.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::{exporters::Null, Emitted, Event, Granularity, Telemetry};
///
/// #[derive(Debug)]
/// struct RowDone(u64);
/// impl Event for RowDone {
///     fn granularity(&self) -> Granularity { Granularity::Rows }
/// }
///
/// let telemetry = Telemetry::<RowDone>::builder().capacity(1024).exporter(Null::new()).start()?;
/// for row in 0..100 {
///     assert_eq!(telemetry.emit(RowDone(row)), Emitted::Queued);
/// }
/// telemetry.flush(Duration::from_secs(5))?;
/// let report = telemetry.close(Duration::from_secs(5))?;
/// assert_eq!(report.health().offered(), 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the last handle closes the telemetry"]
pub struct Telemetry<E: Event> {
    shared: Arc<Shared<E>>,
}

impl<E: Event> Telemetry<E> {
    /// A builder with every setting at its default.
    pub fn builder() -> TelemetryBuilder<E> {
        TelemetryBuilder::default()
    }

    pub(crate) fn from_shared(shared: Arc<Shared<E>>) -> Self {
        Telemetry { shared }
    }

    /// Offers one event; never blocks longer than the backpressure policy
    /// allows, never panics.
    ///
    /// With room in the ring this takes no lock, makes no system call,
    /// allocates nothing and writes no shared counter (C3). An event below the
    /// granularity setting costs one relaxed load and a per-thread counter
    /// increment.
    #[inline(always)]
    pub fn emit(&self, event: E) -> Emitted {
        self.shared.producer.emit(event)
    }

    /// Counts one event that the `tracing` integration refused to offer (it
    /// was raised on a ringtel thread, or while this thread was already
    /// recording one), under `reason`, as offered and dropped.
    #[cfg(all(feature = "tracing", not(loom)))]
    #[inline]
    pub(crate) fn count_refused(&self, reason: crate::DropReason) {
        self.shared.producer.count_drop_unlogged(reason);
    }

    /// Counts fields and text bytes that did not fit a fixed-size record.
    #[cfg(all(feature = "tracing", not(loom)))]
    #[inline]
    pub(crate) fn count_truncated(&self, fields: u64, bytes: u64) {
        self.shared.producer.counters.add_truncated(fields, bytes);
    }

    /// Waits until every event accepted before this call has been handed to
    /// every exporter and each exporter's `flush` ran (C6).
    ///
    /// # Errors
    /// [`FlushError::Timeout`] at the deadline, whatever an exporter does;
    /// [`FlushError::TotalFailure`] while the total-failure policy `Fail`
    /// has fired and no export has succeeded since (C9), before any other
    /// outcome of a round that ran; [`FlushError::Exporters`] if exporters'
    /// own flushes failed; [`FlushError::ResultForgotten`] if so many later
    /// flushes completed meanwhile that this round's result is no longer
    /// kept; `Closed`, `ConsumerDead` or `OnConsumerThread` when no flush
    /// can run.
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        self.shared.flush(timeout)
    }

    /// Adds an exporter while producers run (C14); it receives batches taken
    /// from the ring after the consumer applies the change (promptly: the
    /// consumer is rung awake).
    ///
    /// # Errors
    /// [`ConfigError`](crate::ConfigError) if `options` are out of range.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use ringtel::{Event, ExporterOptions, Granularity, Telemetry};
    /// use ringtel::exporters::Null;
    /// struct Row;
    /// impl Event for Row { fn granularity(&self) -> Granularity { Granularity::Rows } }
    /// let telemetry = Telemetry::<Row>::builder().start().unwrap();
    /// let id = telemetry.add_exporter(Null::new(), ExporterOptions::default()).unwrap();
    /// telemetry.flush(Duration::from_secs(5)).unwrap(); // the change is applied by now
    /// assert_eq!(telemetry.health().exporters()[0].id(), id);
    /// telemetry.remove_exporter(id).unwrap();
    /// ```
    pub fn add_exporter(
        &self,
        exporter: impl Exporter<E>,
        options: ExporterOptions,
    ) -> Result<ExporterId, crate::ConfigError> {
        validate_options(&options)?;
        let roster = &self.shared.control_plane.roster;
        let id = roster.allocate_id();
        match roster.queue(Command::Add { id, exporter: Box::new(exporter), options }) {
            Ok(()) => self.shared.producer.doorbell.ring(),
            Err(Refused::Sealed(command)) => {
                // Closed already: the exporter will never get a batch; close
                // it now so it is still closed exactly once.
                if let Command::Add { mut exporter, .. } = command {
                    let _ = worker::contained(|| exporter.close());
                }
            }
        }
        Ok(id)
    }

    /// Removes an exporter while producers run (C14). It still receives every
    /// batch accepted before this call, then flushes and closes exactly once,
    /// then leaves `Health`. Returns without waiting for that.
    ///
    /// # Errors
    /// [`UnknownExporter`] if no exporter with this id was ever added.
    pub fn remove_exporter(&self, id: ExporterId) -> Result<(), UnknownExporter> {
        let roster = &self.shared.control_plane.roster;
        if !roster.ever_allocated(id) {
            return Err(UnknownExporter(id));
        }
        // Refused once sealed: the final close closes every exporter anyway.
        let _ = roster.queue(Command::Remove(id));
        self.shared.producer.doorbell.ring();
        Ok(())
    }

    /// A read-only view that reads [`health`](Telemetry::health) without
    /// counting as a handle, so dropping every handle still closes the
    /// telemetry; see [`TelemetryMonitor`].
    pub fn monitor(&self) -> TelemetryMonitor<E> {
        TelemetryMonitor::new(Arc::clone(&self.shared))
    }

    /// A snapshot of every count, the ring, the consumer and each exporter.
    ///
    /// Also publishes the producers' not yet published drops to the drop
    /// warning count, so a drop warning (C4) that was due may be logged on
    /// the calling thread.
    pub fn health(&self) -> Health {
        self.shared.producer.publish_drops();
        self.shared.health()
    }

    /// Stops admission, drains the ring, flushes and closes every exporter
    /// exactly once, and returns the final counts, all by `timeout` (C7).
    ///
    /// Idempotent: every later call (and concurrent ones) returns the same
    /// outcome. Later emits return `Dropped(Closed)`. Wakes every producer
    /// blocked on a full ring.
    ///
    /// # Errors
    /// [`CloseError::Timeout`] if the deadline passed first (an exporter hung,
    /// say): what was still queued or in flight is counted `ShutdownTimeout`
    /// and nothing is counted twice if the exporter returns later.
    /// [`CloseError::ConsumerDead`] if the consumer thread had died.
    /// [`CloseError::EventsLost`] if it closed in time but events that had
    /// entered the ring did not all reach every exporter (an export failed,
    /// a batch was skipped, a flush or close failed), and
    /// [`CloseError::TotalFailure`] if the `Fail` policy's failure stands:
    /// `Ok` means nothing accepted was lost. All four carry the final report.
    pub fn close(&self, timeout: Duration) -> Result<CloseReport, CloseError> {
        self.shared.close(timeout)
    }

    /// Changes the granularity while producers run, without pausing them
    /// (C14). A racing `emit` sees the old or the new setting, never a mix.
    ///
    /// # Examples
    /// ```
    /// use ringtel::{Emitted, Event, Granularity, Telemetry};
    /// struct Row;
    /// impl Event for Row { fn granularity(&self) -> Granularity { Granularity::Rows } }
    /// let telemetry = Telemetry::<Row>::builder().granularity(Granularity::Rows).start().unwrap();
    /// assert_eq!(telemetry.emit(Row), Emitted::Queued);
    /// telemetry.set_granularity(Granularity::Lifecycle);
    /// assert_eq!(telemetry.emit(Row), Emitted::Filtered);
    /// ```
    pub fn set_granularity(&self, granularity: Granularity) {
        self.shared.producer.control.update(|w| w.with_granularity(granularity));
    }

    /// Changes the backpressure policy while producers run (C14). Producers
    /// already waiting under a blocking policy re-check their wait when woken;
    /// a switch away from `Block` wakes them so they apply the new policy.
    ///
    /// # Errors
    /// [`ConfigError`](crate::ConfigError) if a `BlockFor` wait is out of range.
    pub fn set_backpressure(&self, backpressure: Backpressure) -> Result<(), crate::ConfigError> {
        crate::Config { backpressure, ..crate::Config::default() }.validate()?;
        self.shared.producer.control.update(|w| w.with_backpressure(backpressure));
        self.shared.producer.waiters.wake_all();
        Ok(())
    }

    /// Makes the consumer thread panic at its next loop iteration, to test
    /// consumer-death handling (C8). Only with the `fault-injection` feature.
    #[cfg(feature = "fault-injection")]
    #[doc(hidden)]
    pub fn inject_consumer_panic(&self) {
        // A swap, not a store: loom mis-orders a plain store racing the
        // consumer's `swap` (tokio-rs/loom#254), which would make the
        // consumer-death model miss the injection. Same effect either way.
        self.shared.inject_panic.swap(true, Ordering::Relaxed);
        self.shared.producer.doorbell.ring();
    }
}

impl<E: Event> Telemetry<E> {
    /// Makes the worker spawn of the next exporter the consumer adds fail as
    /// if the operating system refused the thread, to test that the failure
    /// shows in `Health`. Only with the `fault-injection` feature.
    #[cfg(feature = "fault-injection")]
    #[doc(hidden)]
    pub fn inject_worker_spawn_failure(&self) {
        self.shared.inject_spawn_failure.store(true, Ordering::Relaxed);
    }
}

impl<E: Event> Clone for Telemetry<E> {
    fn clone(&self) -> Self {
        // Relaxed: like `Arc::clone`, a new handle comes from an existing one,
        // which keeps the count above zero.
        self.shared.control_plane.handles.fetch_add(1, Ordering::Relaxed);
        Telemetry { shared: Arc::clone(&self.shared) }
    }
}

impl<E: Event> Drop for Telemetry<E> {
    fn drop(&mut self) {
        // AcqRel: the last handle's close must see every other handle's
        // emits (as `Arc`'s drop does).
        if self.shared.control_plane.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Bounded by close_timeout; never panics. The outcome stays in
            // the shared state for anyone holding it (e.g. the consumer).
            let _ = self.close(self.shared.config.close_timeout);
        }
    }
}

impl<E: Event> std::fmt::Debug for Telemetry<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").field("shared", &self.shared).finish()
    }
}
