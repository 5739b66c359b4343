//! The flush handshake (C6), both sides: callers take a generation number
//! ([`Shared::flush`]), the consumer completes generations after draining
//! and flushing every exporter ([`Consumer::flush_round`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::accounting::Lifecycle;
use super::Consumer;
use crate::dispatch::Unresponsive;
use crate::error::{ExporterFailure, FlushError};
use crate::role;
use crate::shared::Shared;
use crate::sync::{lock, wait, wait_timeout, AtomicU64, Condvar, Mutex, Ordering};
use crate::Event;

/// How many completed flush rounds keep their per-exporter failures, so a
/// caller that wakes late still learns its own round's result. Bounded (C13).
const FLUSH_HISTORY: usize = 16;

/// How a close's final flush round went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FinalRound {
    /// Every exporter flushed (or failed to, reported to the waiters).
    Completed,
    /// An exporter is hung: the round could not run; exporters flush as
    /// they close.
    ExporterHung,
}

/// Why the consumer will complete no more flushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlushEnd {
    Closed,
    ConsumerDead,
}

#[derive(Debug, Default)]
struct FlushState {
    /// Every generation up to this one is complete.
    completed: u64,
    /// `(first generation covered, last generation covered, failures)` of the
    /// most recent rounds, oldest first.
    history: VecDeque<(u64, u64, Vec<ExporterFailure>)>,
    ended: Option<FlushEnd>,
}

#[derive(Debug, Default)]
pub(crate) struct FlushSync {
    /// The newest generation requested. `fetch_add` by callers (AcqRel: the
    /// caller's earlier pushes are published to the consumer's Acquire load in
    /// `pending`, so the consumer's drain after that load sees them).
    requested: AtomicU64,
    state: Mutex<FlushState>,
    condvar: Condvar,
}

impl FlushSync {
    /// Registers a flush request; returns its generation.
    pub(crate) fn request(&self) -> u64 {
        // The Release half is what C6 needs: the caller's pushes (the ring's
        // `tail` advance) happen-before the consumer's Acquire load in
        // `requested`, so the drain after that load cannot miss them; with
        // `ArrayQueue` a pop without that edge may report "empty" from a
        // stale `tail`. Concurrent requests form one RMW chain, so the
        // consumer reading the newest generation synchronises with every
        // earlier requester too (release sequence).
        #[cfg(not(ringtel_broken = "flush_relaxed_request"))]
        let order = Ordering::AcqRel;
        // Broken twin for the loom suite: a relaxed request. The consumer can
        // see the new generation, drain a ring that still looks empty, and
        // complete the flush before the caller's event is exported.
        #[cfg(ringtel_broken = "flush_relaxed_request")]
        let order = Ordering::Relaxed;
        self.requested.fetch_add(1, order) + 1
    }

    /// The newest requested generation (consumer side).
    pub(crate) fn requested(&self) -> u64 {
        // Acquire: pairs with the AcqRel `fetch_add` in `request`.
        #[cfg(not(ringtel_broken = "flush_relaxed_request"))]
        let order = Ordering::Acquire;
        #[cfg(ringtel_broken = "flush_relaxed_request")]
        let order = Ordering::Relaxed;
        self.requested.load(order)
    }

    /// Marks every generation up to `upto` complete, with this round's failures.
    pub(crate) fn complete(&self, upto: u64, failures: Vec<ExporterFailure>) {
        let mut state = lock(&self.state);
        if upto <= state.completed {
            return;
        }
        let first = state.completed + 1;
        state.completed = upto;
        if state.history.len() == FLUSH_HISTORY {
            state.history.pop_front();
        }
        state.history.push_back((first, upto, failures));
        drop(state);
        // Every waiter: one round can complete several callers' generations.
        #[cfg(not(ringtel_broken = "flush_notify_one"))]
        self.condvar.notify_all();
        // Broken twin for the loom suite: wake one waiter. With two callers
        // covered by one round, the other sleeps on forever (C6, C7).
        #[cfg(ringtel_broken = "flush_notify_one")]
        self.condvar.notify_one();
    }

    /// No more completions will come; wakes every waiter.
    pub(crate) fn end(&self, why: FlushEnd) {
        let mut state = lock(&self.state);
        state.ended.get_or_insert(why);
        drop(state);
        self.condvar.notify_all();
    }

    /// Waits until `generation` completes, the consumer ends, or `deadline`.
    pub(crate) fn wait(&self, generation: u64, deadline: Instant) -> Result<(), FlushError> {
        let started = Instant::now();
        let mut state = lock(&self.state);
        loop {
            if state.completed >= generation {
                let round =
                    state.history.iter().find(|(first, last, _)| (*first..=*last).contains(&generation));
                return match round {
                    Some((_, _, failures)) if failures.is_empty() => Ok(()),
                    Some((_, _, failures)) => Err(FlushError::Exporters { failures: failures.clone() }),
                    // Its round aged out of the bounded history.
                    None => Err(FlushError::ResultForgotten),
                };
            }
            match state.ended {
                Some(FlushEnd::Closed) => return Err(FlushError::Closed),
                Some(FlushEnd::ConsumerDead) => return Err(FlushError::ConsumerDead),
                None => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(FlushError::Timeout { waited: now - started, unresponsive: Vec::new() });
            }
            state = if cfg!(loom) {
                wait(&self.condvar, state)
            } else {
                wait_timeout(&self.condvar, state, deadline - now)
            };
        }
    }
}

impl<E> Shared<E> {
    /// The caller's side (see `Telemetry::flush`).
    pub(crate) fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        if role::on_consumer_of(self.id()) {
            return Err(FlushError::OnConsumerThread);
        }
        match self.accounting.lifecycle() {
            Lifecycle::Dead(_) => return Err(FlushError::ConsumerDead),
            Lifecycle::Stopped => return Err(FlushError::Closed),
            Lifecycle::Starting | Lifecycle::Running => {}
        }
        let deadline = Instant::now() + timeout;
        let flush = &self.control_plane.flush;
        let generation = flush.request();
        self.producer.doorbell.ring();
        match flush.wait(generation, deadline) {
            Ok(()) => match self.accounting.total_failure() {
                Some(failure) => Err(FlushError::TotalFailure(failure)),
                None => Ok(()),
            },
            Err(FlushError::Timeout { waited, .. }) => {
                Err(FlushError::Timeout { waited, unresponsive: self.control_plane.roster.hung() })
            }
            // The round ran (or its result aged out): the sticky total
            // failure is reported first until an export succeeds again (C9).
            Err(other @ (FlushError::Exporters { .. } | FlushError::ResultForgotten)) => {
                match self.accounting.total_failure() {
                    Some(failure) => Err(FlushError::TotalFailure(failure)),
                    None => Err(other),
                }
            }
            Err(other) => Err(other),
        }
    }
}

impl<E: Event> Consumer<E> {
    /// The consumer's side, after a drain that covered every event accepted
    /// before generation `target` was requested: flushes every exporter and
    /// completes the generations up to `target`. If an exporter is hung the
    /// round stays pending; waiters time out naming it, and the round
    /// completes once it returns.
    pub(super) fn flush_round(&mut self, target: u64) {
        if let Ok(failures) = self.dispatcher.flush() {
            self.shared.control_plane.flush.complete(target, failures);
            self.flushed_upto = target;
        }
    }

    /// The final round of a close: everyone who asked for a flush before now
    /// is covered by it.
    pub(super) fn final_flush_round(&mut self) -> FinalRound {
        let flush = &self.shared.control_plane.flush;
        let requested = flush.requested();
        match self.dispatcher.flush() {
            Ok(failures) => {
                flush.complete(requested, failures);
                FinalRound::Completed
            }
            Err(Unresponsive) => FinalRound::ExporterHung,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::FailureCause;
    use crate::health::ExporterId;

    fn skipped(events: u64) -> Vec<ExporterFailure> {
        let cause = FailureCause::Skipped { events };
        vec![ExporterFailure { exporter: ExporterId(0), name: "x".into(), cause }]
    }

    #[test]
    fn a_waiter_gets_its_own_rounds_result() {
        let sync = FlushSync::default();
        let (first, second) = (sync.request(), sync.request());
        sync.complete(first, skipped(1));
        sync.complete(second, Vec::new());
        let soon = Instant::now() + Duration::from_secs(5);
        assert_eq!(sync.wait(first, soon), Err(FlushError::Exporters { failures: skipped(1) }));
        assert_eq!(sync.wait(second, soon), Ok(()));
    }

    #[test]
    fn a_waiter_whose_round_aged_out_learns_that_its_result_is_forgotten() {
        let sync = FlushSync::default();
        let late = sync.request();
        sync.complete(late, skipped(7));
        // FLUSH_HISTORY later rounds, all clean, push the late waiter's out.
        for _ in 0..FLUSH_HISTORY {
            let generation = sync.request();
            sync.complete(generation, Vec::new());
        }
        let soon = Instant::now() + Duration::from_secs(5);
        // Not the oldest kept round's clean `Ok` (which hid its failure).
        assert_eq!(sync.wait(late, soon), Err(FlushError::ResultForgotten));
    }
}
