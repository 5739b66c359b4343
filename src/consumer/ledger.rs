//! The consumer-side ledger: what the consumer took from the ring and what
//! became of it, and the one-time transition to a terminal state.
//!
//! The consumer updates it once per batch (never per event, never on the
//! producer path). `close` on timeout and the consumer's death handler race
//! the consumer to finish it; the mutex makes "resolve a batch" and "finish"
//! mutually exclusive, so every taken event is resolved exactly once: by the
//! consumer (delivered / export failed) or by whoever finished the ledger
//! (shutdown timeout / consumer dead). A hung exporter that returns after the
//! close deadline finds the ledger finished and counts nothing twice.

use crate::dispatch::BatchOutcome;
use crate::sync::{lock, wait, wait_timeout, Condvar, Mutex};
use crate::DropReason;

/// How the run ended; events still in the ring afterwards are dropped for
/// this reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Terminal {
    /// `close` drained and closed everything in time.
    Closed,
    /// `close` hit its deadline.
    TimedOut,
    /// The consumer thread died.
    ConsumerDead,
}

impl Terminal {
    /// The drop reason for events left behind.
    pub(crate) fn residual_reason(self) -> DropReason {
        match self {
            Terminal::Closed => DropReason::Closed,
            Terminal::TimedOut => DropReason::ShutdownTimeout,
            Terminal::ConsumerDead => DropReason::ConsumerDead,
        }
    }
}

/// A copy of the ledger's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LedgerCounts {
    /// Events the consumer took from the ring.
    pub(crate) taken: u64,
    /// Taken events at least one exporter accepted.
    pub(crate) delivered: u64,
    /// Taken events that every exporter failed or skipped.
    pub(crate) export_failed: u64,
    /// Taken events resolved as `ShutdownTimeout` by a timed-out close.
    pub(crate) shutdown_timeout: u64,
    /// Taken events resolved as `ConsumerDead` by the death handler.
    pub(crate) consumer_dead: u64,
    /// Taken events resolved as `Closed` after a normal close finished.
    pub(crate) closed: u64,
    /// Set once; never changes afterwards.
    pub(crate) terminal: Option<Terminal>,
}

impl LedgerCounts {
    /// Taken events not yet resolved.
    pub(crate) fn in_flight(&self) -> u64 {
        let resolved =
            self.delivered + self.export_failed + self.shutdown_timeout + self.consumer_dead + self.closed;
        debug_assert!(self.taken >= resolved, "resolved more events than were taken: {self:?}");
        self.taken - resolved
    }

    /// Consumer-side drops for `reason`.
    pub(crate) fn dropped(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::ExportFailed => self.export_failed,
            DropReason::ShutdownTimeout => self.shutdown_timeout,
            DropReason::ConsumerDead => self.consumer_dead,
            DropReason::Closed => self.closed,
            DropReason::QueueFull
            | DropReason::Overwritten
            | DropReason::Disabled
            | DropReason::OwnThread => 0,
        }
    }

    fn resolve_as_terminal(&mut self, terminal: Terminal, count: u64) {
        match terminal {
            // A normal close resolves everything before finishing (nothing
            // is in flight), and the consumer stops taking once it finished
            // the ledger; kept exact all the same.
            Terminal::Closed => self.closed += count,
            Terminal::TimedOut => self.shutdown_timeout += count,
            Terminal::ConsumerDead => self.consumer_dead += count,
        }
    }
}

/// The ledger was already finished; the consumer must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Finished(pub(crate) Terminal);

/// The consumer-side ledger and its "finished" notification.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    counts: Mutex<LedgerCounts>,
    /// Notified once, when the ledger finishes.
    finished: Condvar,
}

impl Ledger {
    /// Records that the consumer took `count` events from the ring (the loom
    /// models drive the ledger directly with this; the consumer uses
    /// [`Ledger::take_popped`]).
    ///
    /// # Errors
    /// If the ledger is finished, the events are resolved right here under
    /// the terminal reason and the consumer must stop.
    #[cfg(loom)]
    pub(crate) fn take(&self, count: u64) -> Result<(), Finished> {
        let mut c = lock(&self.counts);
        c.taken += count;
        match c.terminal {
            None => Ok(()),
            Some(terminal) => {
                c.resolve_as_terminal(terminal, count);
                Err(Finished(terminal))
            }
        }
    }

    /// Runs `pop` (which moves events from the ring into a batch and returns
    /// how many) and records them as taken, atomically with respect to
    /// `finish` and `counts_with`: a snapshot never sees events that left the
    /// ring but are not yet taken, so even a timed-out close's report counts
    /// every accepted event.
    ///
    /// # Errors
    /// If the ledger is finished; then nothing is popped.
    pub(crate) fn take_popped(&self, pop: impl FnOnce() -> u64) -> Result<u64, Finished> {
        let mut c = lock(&self.counts);
        if let Some(terminal) = c.terminal {
            return Err(Finished(terminal));
        }
        let count = pop();
        c.taken += count;
        Ok(count)
    }

    /// A copy of the counts and `read()`'s result, taken under the same lock
    /// (see [`Ledger::take_popped`]).
    pub(crate) fn counts_with<R>(&self, read: impl FnOnce() -> R) -> (LedgerCounts, R) {
        let c = lock(&self.counts);
        let r = read();
        (*c, r)
    }

    /// Resolves `count` taken events: delivered, or failed on every exporter.
    ///
    /// # Errors
    /// If the ledger finished meanwhile; the events were already resolved by
    /// whoever finished it and are not counted again.
    pub(crate) fn resolve(&self, count: u64, outcome: BatchOutcome) -> Result<(), Finished> {
        let mut c = lock(&self.counts);
        // Broken twin for the loom suite: resolve without checking whether a
        // timed-out close already finished the ledger (and so resolved this
        // batch as `ShutdownTimeout`): the batch is counted twice (C1).
        #[cfg(not(ringtel_broken = "ledger_double_resolve"))]
        if let Some(terminal) = c.terminal {
            return Err(Finished(terminal));
        }
        debug_assert!(c.in_flight() >= count);
        match outcome {
            BatchOutcome::Delivered => c.delivered += count,
            BatchOutcome::Failed => c.export_failed += count,
        }
        Ok(())
    }

    /// Moves `count` events from `export_failed` to `delivered`: a hung
    /// exporter returned and accepted a batch that had been counted failed.
    /// Ignored once the ledger is finished (the final report stands).
    pub(crate) fn reclassify_as_delivered(&self, count: u64) {
        let mut c = lock(&self.counts);
        if c.terminal.is_none() {
            let count = count.min(c.export_failed);
            c.export_failed -= count;
            c.delivered += count;
        }
    }

    /// Finishes the ledger with `terminal` unless it is already finished;
    /// resolves whatever is in flight under that terminal reason. Returns the
    /// terminal state that holds, and how many in-flight events this call
    /// resolved (for drop logging).
    pub(crate) fn finish(&self, terminal: Terminal) -> (Terminal, u64) {
        let mut c = lock(&self.counts);
        if let Some(existing) = c.terminal {
            return (existing, 0);
        }
        let in_flight = c.in_flight();
        c.resolve_as_terminal(terminal, in_flight);
        c.terminal = Some(terminal);
        drop(c);
        self.finished.notify_all();
        (terminal, in_flight)
    }

    /// A copy of the counts.
    pub(crate) fn counts(&self) -> LedgerCounts {
        *lock(&self.counts)
    }

    /// Waits until the ledger is finished, at most until `deadline` (`None`:
    /// forever). Returns the terminal state if finished.
    pub(crate) fn wait_finished(&self, deadline: Option<std::time::Instant>) -> Option<Terminal> {
        let mut c = lock(&self.counts);
        loop {
            if let Some(terminal) = c.terminal {
                return Some(terminal);
            }
            match deadline {
                None => c = wait(&self.finished, c),
                Some(deadline) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    c = wait_timeout(&self.finished, c, deadline - now);
                }
            }
        }
    }
}
