//! One exporter's statistics: written by its worker (exports, flushes,
//! closes) and by the consumer (skips, breaker, state), read by `Health`.
//! Here, below both writers, so that neither imports the other.

use super::breaker::{Breaker, BreakerState};
use super::state::StateCell;
use crate::clock::Timestamp;
use crate::health::{ExporterHealth, ExporterId, ExporterState, LastError};
use crate::sync::{lock, ArcSwap, AtomicU64, Mutex, Ordering, StdArc};
use crate::{ExportError, ExportErrorKind};

/// The breaker as `Health` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BreakerView {
    state: BreakerState,
    opened: u64,
}

/// One exporter's counters. The worker thread writes the export counters,
/// the consumer writes the skip counters; each field has one writer, so
/// load + store increments lose nothing. Relaxed everywhere: statistics.
#[derive(Debug)]
pub(crate) struct ExporterStats {
    id: ExporterId,
    name: String,
    batches: AtomicU64,
    events: AtomicU64,
    failures: AtomicU64,
    panics: AtomicU64,
    consecutive_failures: AtomicU64,
    flush_failures: AtomicU64,
    skipped_batches: AtomicU64,
    skipped_events: AtomicU64,
    last_error: Mutex<Option<LastError>>,
    /// Written by the consumer and (final states) the worker; see `state.rs`.
    state: StateCell,
    /// Written only by the consumer, and only when it changes (so not per
    /// batch in steady state); read by `Health` without a lock.
    breaker: ArcSwap<BreakerView>,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Ordering::Relaxed) + by, Ordering::Relaxed);
}

impl ExporterStats {
    pub(super) fn new(id: ExporterId, name: String, breaker: BreakerState) -> Self {
        ExporterStats {
            id,
            name,
            batches: AtomicU64::new(0),
            events: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            flush_failures: AtomicU64::new(0),
            skipped_batches: AtomicU64::new(0),
            skipped_events: AtomicU64::new(0),
            last_error: Mutex::new(None),
            state: StateCell::default(),
            breaker: ArcSwap::from_pointee(BreakerView { state: breaker, opened: 0 }),
        }
    }

    /// Statistics for a worker built by hand in a unit test.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn new_for_test(id: ExporterId, name: &str) -> Self {
        ExporterStats::new(
            id,
            name.to_owned(),
            Breaker::new(super::breaker::BreakerConfig::default()).state(),
        )
    }

    pub(crate) fn id(&self) -> ExporterId {
        self.id
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// A copy for `Health`.
    pub(crate) fn snapshot(&self) -> ExporterHealth {
        let breaker = *self.breaker.load_full();
        ExporterHealth {
            id: self.id,
            name: self.name.clone(),
            state: self.state.get(),
            breaker: breaker.state,
            breaker_opened: breaker.opened,
            batches_exported: self.batches.load(Ordering::Relaxed),
            events_exported: self.events.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            panics: self.panics.load(Ordering::Relaxed),
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            flush_failures: self.flush_failures.load(Ordering::Relaxed),
            skipped_batches: self.skipped_batches.load(Ordering::Relaxed),
            skipped_events: self.skipped_events.load(Ordering::Relaxed),
            last_error: lock(&self.last_error).clone(),
        }
    }

    pub(crate) fn state(&self) -> ExporterState {
        self.state.get()
    }

    /// Moves to `state`; Closed and CloseFailed are final.
    pub(super) fn set_state(&self, state: ExporterState) {
        self.state.set(state);
    }

    /// Publishes the breaker's state if it changed (consumer only: one
    /// writer, so the load and the swap cannot lose an update).
    ///
    /// The view replaced last time is kept in `spare` and overwritten in
    /// place when no reader holds it any more, so a breaker whose state
    /// changes every batch (failures and successes alternating) does not
    /// allocate per batch (C13). `swap` hands back the old view only once
    /// every reader that loaded it holds a real reference count, so
    /// `get_mut` succeeds only when no one can still read it.
    pub(super) fn set_breaker(&self, breaker: &Breaker, spare: &mut Option<StdArc<BreakerView>>) {
        let view = BreakerView { state: breaker.state(), opened: breaker.times_opened() };
        if *self.breaker.load_full() == view {
            return;
        }
        let next = match spare.take() {
            Some(mut reused) => match StdArc::get_mut(&mut reused) {
                Some(slot) => {
                    *slot = view;
                    reused
                }
                None => StdArc::new(view),
            },
            None => StdArc::new(view),
        };
        *spare = Some(self.breaker.swap(next));
    }

    fn record_error(&self, err: &ExportError, at: Timestamp) {
        if err.kind() == ExportErrorKind::Panicked {
            bump(&self.panics, 1);
        }
        *lock(&self.last_error) = Some(LastError { kind: err.kind(), message: err.to_string(), at });
    }

    // Written by the worker thread.
    pub(crate) fn record_export(&self, events: u64) {
        bump(&self.batches, 1);
        bump(&self.events, events);
        self.consecutive_failures.store(0, Ordering::Relaxed);
    }

    pub(crate) fn record_export_failure(&self, err: &ExportError, at: Timestamp) {
        bump(&self.failures, 1);
        bump(&self.consecutive_failures, 1);
        self.record_error(err, at);
    }

    pub(crate) fn record_flush_failure(&self, err: &ExportError, at: Timestamp) {
        bump(&self.flush_failures, 1);
        self.record_error(err, at);
    }

    pub(crate) fn record_close(&self, closed: &Result<(), ExportError>, at: Timestamp) {
        match closed {
            Ok(()) => self.set_state(ExporterState::Closed),
            Err(err) => {
                self.record_error(err, at);
                self.set_state(ExporterState::CloseFailed);
            }
        }
    }

    /// Its worker thread could not be spawned (the exporter was closed when
    /// the unrun worker was dropped): kept as its last error, so that
    /// `Health` shows why it never exported.
    pub(crate) fn record_spawn_failure(&self, err: &std::io::Error, at: Timestamp) {
        let message = format!("cannot spawn its worker thread: {err}");
        self.record_error(&ExportError::new(ExportErrorKind::Io, message), at);
    }

    // Written by the consumer thread.
    pub(super) fn record_skip(&self, events: u64) {
        bump(&self.skipped_batches, 1);
        bump(&self.skipped_events, events);
    }
}
