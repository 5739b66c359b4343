//! The close handshake (C7), both sides.
//!
//! The caller ([`Shared::close`]) closes admission, sets the request, rings
//! the consumer and wakes blocked producers, then waits for the ledger to
//! finish. The consumer ([`Consumer::finish_close`]) drains the ring, runs a
//! final flush round, closes every exporter and finishes the ledger. If the
//! deadline passes first, the caller finishes the ledger itself
//! (`ShutdownTimeout`), and the consumer, finding it finished, abandons
//! ([`Consumer::abandon`]). Either way the first outcome is kept and every
//! later close returns it.

use std::time::{Duration, Instant};

use super::accounting::Lifecycle;
use super::flush::{FinalRound, FlushEnd};
use super::ledger::Terminal;
use super::{Consumer, Step};
use crate::dispatch::CloseFlush;
use crate::error::{CloseError, CloseReport};
use crate::role;
use crate::shared::Shared;
use crate::sync::{lock, Arc, AtomicBool, Mutex, Ordering};
use crate::{DropReason, Event};

/// The close request and the first close's outcome.
#[derive(Debug, Default)]
pub(crate) struct CloseSync {
    /// Set once by `close` (Release) after admission closed; the consumer's
    /// Acquire load tells it to drain, flush, close and finish.
    requested: AtomicBool,
    /// The first close's outcome, returned by every later close.
    outcome: Mutex<Option<Result<CloseReport, CloseError>>>,
}

impl CloseSync {
    /// The consumer's side: whether a close was requested.
    pub(crate) fn requested(&self) -> bool {
        // Acquire: pairs with the Release store in `Shared::begin_close`,
        // after the admission change.
        self.requested.load(Ordering::Acquire)
    }
}

impl<E> Shared<E> {
    /// Closes admission (unless the consumer is dead, which stays the reason
    /// for later drops), asks the consumer to finish, and wakes every blocked
    /// producer so it sees the change.
    pub(crate) fn begin_close(&self) {
        self.producer.close_admission();
        self.control_plane.close.requested.store(true, Ordering::Release);
        self.producer.doorbell.ring();
        // Broken twin for the loom suite: no wake-up on close. A producer
        // blocked on a ring the consumer cannot drain (a hung exporter)
        // then waits forever (C7).
        #[cfg(not(ringtel_broken = "close_no_wake"))]
        self.producer.waiters.wake_all();
    }

    /// The caller's side (see `Telemetry::close`).
    pub(crate) fn close(&self, timeout: Duration) -> Result<CloseReport, CloseError> {
        self.begin_close();
        if role::on_consumer_of(self.id()) {
            return Err(CloseError::OnConsumerThread);
        }
        let deadline = Instant::now() + timeout;
        let ledger = &self.accounting.ledger;
        let terminal = match ledger.wait_finished(Some(deadline)) {
            Some(terminal) => terminal,
            None => {
                let (terminal, resolved) = ledger.finish(Terminal::TimedOut);
                self.producer.drop_log.record_and_log(resolved, Some(DropReason::ShutdownTimeout));
                self.producer.waiters.wake_all();
                // No flush round can complete any more: the consumer is stuck
                // behind a hung exporter, and when it returns it finds the
                // ledger finished and stops. Flushes waiting now, and later
                // ones, learn it at once instead of at their deadlines.
                self.control_plane.flush.end(FlushEnd::Closed);
                terminal
            }
        };
        self.close_outcome(terminal)
    }

    /// Returns the first close's outcome, computing it from the current
    /// health if this is the first close to finish.
    fn close_outcome(&self, terminal: Terminal) -> Result<CloseReport, CloseError> {
        // Before the lock: publishing may log, and a tracing subscriber
        // that closes this telemetry must not find the lock held.
        self.producer.publish_drops();
        let mut cached = lock(&self.control_plane.close.outcome);
        if let Some(outcome) = cached.as_ref() {
            return outcome.clone();
        }
        let health = self.health();
        let failure = health.total_failure;
        let report = CloseReport { health: Box::new(health) };
        let outcome = match terminal {
            Terminal::Closed => match failure {
                Some(failure) => Err(CloseError::TotalFailure { failure, report }),
                None if report.health.lost_accepted_events() => Err(CloseError::EventsLost { report }),
                None => Ok(report),
            },
            Terminal::TimedOut => Err(CloseError::Timeout { report }),
            Terminal::ConsumerDead => Err(CloseError::ConsumerDead { report }),
        };
        *cached = Some(outcome.clone());
        outcome
    }
}

impl<E: Event> Consumer<E> {
    /// Close requested and the ring drained: flush, close, finish.
    pub(super) fn finish_close(&mut self) -> Step {
        let shared = Arc::clone(&self.shared);
        // Broken twin for the loom suite: an `add_exporter` queued after the
        // last pass stays queued, and that exporter is never closed (C7, C14;
        // the bug fuzzing found, see fuzz/README.md finding 1).
        #[cfg(not(ringtel_broken = "close_unsealed_commands"))]
        self.seal_commands();
        let flush = match self.final_flush_round() {
            FinalRound::Completed => CloseFlush::AlreadyFlushed,
            FinalRound::ExporterHung => CloseFlush::FlushFirst,
        };
        // Wait for every exporter to close, unless a timed-out close gives up
        // on us first (a hung exporter closes when it returns).
        self.dispatcher.close_all(flush, || shared.accounting.ledger.counts().terminal.is_some());
        shared.accounting.set_lifecycle(Lifecycle::Stopped);
        shared.accounting.ledger.finish(Terminal::Closed);
        shared.control_plane.flush.end(FlushEnd::Closed);
        shared.producer.waiters.wake_all();
        Step::Stop
    }

    /// A timed-out close finished the ledger while we were busy; whatever we
    /// held was counted there. Ask the exporters to close and stop.
    pub(super) fn abandon(&mut self) -> Step {
        self.seal_commands();
        self.dispatcher.close_all(CloseFlush::FlushFirst, || true);
        self.shared.accounting.set_lifecycle(Lifecycle::Stopped);
        self.shared.control_plane.flush.end(FlushEnd::Closed);
        Step::Stop
    }
}
