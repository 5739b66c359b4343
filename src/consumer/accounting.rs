//! What the consumer writes for everyone else to read: the ledger of taken
//! events, the heartbeat, its lifecycle (with the start handshake, C8) and
//! the sticky total failure (C9).

use std::time::{Duration, Instant};

use super::ledger::Ledger;
use crate::sync::{lock, wait, wait_timeout, AtomicU64, Condvar, Mutex, Ordering};
use crate::{Timestamp, TotalFailure};

/// The consumer thread's lifecycle, for the start handshake and `Health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    Starting,
    Running,
    Stopped,
    Dead(String),
}

/// Marks "no heartbeat yet" in [`Accounting::heartbeat`].
const NO_HEARTBEAT: u64 = u64::MAX;

/// The consumer's accounts.
#[derive(Debug)]
pub(crate) struct Accounting {
    /// Taken events and what became of them; finished once (C1, C7).
    pub(crate) ledger: Ledger,
    /// Clock nanos of the consumer's last loop iteration; written only by the
    /// consumer. Relaxed: a statistic.
    heartbeat: AtomicU64,
    lifecycle: Mutex<Lifecycle>,
    lifecycle_changed: Condvar,
    /// Set when the `Fail` total-failure policy fires; cleared by the
    /// consumer only when an export succeeds again (C9), never by a read.
    total_failure: Mutex<Option<TotalFailure>>,
}

impl Default for Accounting {
    fn default() -> Self {
        Accounting {
            ledger: Ledger::default(),
            heartbeat: AtomicU64::new(NO_HEARTBEAT),
            lifecycle: Mutex::new(Lifecycle::Starting),
            lifecycle_changed: Condvar::new(),
            total_failure: Mutex::new(None),
        }
    }
}

impl Accounting {
    /// Records a heartbeat at `now` (consumer only).
    pub(crate) fn beat(&self, now: Timestamp) {
        self.heartbeat.store(now.as_nanos().min(NO_HEARTBEAT - 1), Ordering::Relaxed);
    }

    /// The last heartbeat, if there was one.
    pub(crate) fn heartbeat(&self) -> Option<Timestamp> {
        let beat = self.heartbeat.load(Ordering::Relaxed);
        (beat != NO_HEARTBEAT).then(|| Timestamp::from_nanos(beat))
    }

    /// Moves the lifecycle on; `Dead` is final.
    pub(crate) fn set_lifecycle(&self, next: Lifecycle) {
        let mut lifecycle = lock(&self.lifecycle);
        // Dead is final: a late "Stopped" must not hide a death.
        if !matches!(*lifecycle, Lifecycle::Dead(_)) {
            *lifecycle = next;
        }
        drop(lifecycle);
        self.lifecycle_changed.notify_all();
    }

    pub(crate) fn lifecycle(&self) -> Lifecycle {
        lock(&self.lifecycle).clone()
    }

    /// The start handshake's caller side: waits until the consumer leaves
    /// `Starting`, at most `timeout`.
    pub(crate) fn wait_started(&self, timeout: Duration) -> Lifecycle {
        let deadline = Instant::now() + timeout;
        let mut lifecycle = lock(&self.lifecycle);
        while *lifecycle == Lifecycle::Starting {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            lifecycle = if cfg!(loom) {
                wait(&self.lifecycle_changed, lifecycle)
            } else {
                wait_timeout(&self.lifecycle_changed, lifecycle, deadline - now)
            };
        }
        lifecycle.clone()
    }

    /// The sticky total failure, if raised.
    pub(crate) fn total_failure(&self) -> Option<TotalFailure> {
        *lock(&self.total_failure)
    }

    /// Raises (`Some`) or clears (`None`) the sticky total failure.
    pub(crate) fn set_total_failure(&self, failure: Option<TotalFailure>) {
        *lock(&self.total_failure) = failure;
    }
}
