//! Calling exporters with failure isolation (C9): an `Err` or a panic is
//! caught, counted for that exporter, and never reaches anyone else.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::clock::Timestamp;
use crate::health::{ExporterHealth, ExporterState, LastError};
use crate::sync::{lock, Arc, AtomicU64, AtomicU8, Mutex, Ordering};
use crate::{ExportError, ExportErrorKind, Exporter};

/// Per-exporter counters, written only by the consumer thread and read by
/// `health()`. Relaxed everywhere: they are statistics, published to a
/// reader that needs exact values by the ledger mutex or the close handshake.
#[derive(Debug)]
pub(crate) struct ExporterStats {
    name: String,
    batches: AtomicU64,
    events: AtomicU64,
    failures: AtomicU64,
    panics: AtomicU64,
    consecutive_failures: AtomicU64,
    flush_failures: AtomicU64,
    state: AtomicU8,
    last_error: Mutex<Option<LastError>>,
}

impl ExporterStats {
    fn new(name: String) -> Self {
        ExporterStats {
            name,
            batches: AtomicU64::new(0),
            events: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            flush_failures: AtomicU64::new(0),
            state: AtomicU8::new(ExporterState::Active as u8),
            last_error: Mutex::new(None),
        }
    }

    /// A copy for `Health`.
    pub(crate) fn snapshot(&self) -> ExporterHealth {
        ExporterHealth {
            name: self.name.clone(),
            state: ExporterState::from_u8(self.state.load(Ordering::Relaxed)),
            batches_exported: self.batches.load(Ordering::Relaxed),
            events_exported: self.events.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            panics: self.panics.load(Ordering::Relaxed),
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            flush_failures: self.flush_failures.load(Ordering::Relaxed),
            last_error: lock(&self.last_error).clone(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    fn bump(counter: &AtomicU64, by: u64) {
        // Single writer (the consumer thread): load + store loses nothing.
        counter.store(counter.load(Ordering::Relaxed) + by, Ordering::Relaxed);
    }

    fn record_error(&self, err: &ExportError, at: Timestamp) {
        if err.kind() == ExportErrorKind::Panicked {
            Self::bump(&self.panics, 1);
        }
        *lock(&self.last_error) = Some(LastError { message: err.to_string(), at });
    }
}

/// One exporter owned by the consumer, with its statistics.
pub(crate) struct ExporterSlot<E> {
    exporter: Box<dyn Exporter<E>>,
    stats: Arc<ExporterStats>,
    closed: bool,
}

impl<E: 'static> std::fmt::Debug for ExporterSlot<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExporterSlot").field("stats", &self.stats).field("closed", &self.closed).finish()
    }
}

impl<E: 'static> ExporterSlot<E> {
    pub(crate) fn new(exporter: Box<dyn Exporter<E>>) -> Self {
        let name = contained(|| Ok(exporter.name().to_owned())).unwrap_or_else(|_| "<unnamed>".to_owned());
        ExporterSlot { exporter, stats: Arc::new(ExporterStats::new(name)), closed: false }
    }

    pub(crate) fn stats(&self) -> &Arc<ExporterStats> {
        &self.stats
    }

    /// Exports `batch`; returns whether this exporter accepted it.
    pub(crate) fn export(&mut self, batch: &[E], now: Timestamp) -> bool {
        let exporter = &mut self.exporter;
        match contained(|| exporter.export(batch)) {
            Ok(()) => {
                ExporterStats::bump(&self.stats.batches, 1);
                ExporterStats::bump(&self.stats.events, batch.len() as u64);
                self.stats.consecutive_failures.store(0, Ordering::Relaxed);
                true
            }
            Err(err) => {
                ExporterStats::bump(&self.stats.failures, 1);
                ExporterStats::bump(&self.stats.consecutive_failures, 1);
                self.stats.record_error(&err, now);
                false
            }
        }
    }

    /// Flushes; on failure returns the error text (also kept in health).
    pub(crate) fn flush(&mut self, now: Timestamp) -> Result<(), String> {
        if self.closed {
            return Ok(());
        }
        let exporter = &mut self.exporter;
        contained(|| exporter.flush()).map_err(|err| {
            ExporterStats::bump(&self.stats.flush_failures, 1);
            self.stats.record_error(&err, now);
            err.to_string()
        })
    }

    /// Closes exactly once; later calls do nothing.
    pub(crate) fn close(&mut self, now: Timestamp) -> Result<(), String> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let exporter = &mut self.exporter;
        let result = contained(|| exporter.close());
        let state = if result.is_ok() { ExporterState::Closed } else { ExporterState::CloseFailed };
        self.stats.state.store(state as u8, Ordering::Relaxed);
        result.map_err(|err| {
            self.stats.record_error(&err, now);
            err.to_string()
        })
    }
}

/// Runs an exporter call, turning a panic into an `ExportError`.
fn contained<T>(call: impl FnOnce() -> Result<T, ExportError>) -> Result<T, ExportError> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(result) => result,
        Err(payload) => Err(ExportError::new(ExportErrorKind::Panicked, panic_message(payload.as_ref()))),
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
