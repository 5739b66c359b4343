//! The consumer's doorbell: its idle sleep, and everyone who rings it awake
//! (flush, close, exporter changes, blocked producers; the dispatcher's own
//! bell is rung by the exporter workers after each job). Both sides of the
//! handshake are here.
//!
//! A slow path: producers do not ring it per event (the consumer wakes on
//! its own adaptive timer).

use std::time::Duration;

use crate::sync::{lock, wait_timeout, Condvar, Mutex};

/// A doorbell one thread sleeps on: the consumer. Its own is rung by flush,
/// close, exporter changes and blocked producers; the dispatcher's by the
/// exporter workers after each job.
///
/// One thread sleeps on a doorbell. A ring notifies the
/// condition variable only while that thread is inside its wait: the flag
/// is set and read under the same lock the wait releases, so no ring is
/// missed, and a ring while the consumer is busy costs no system call.
#[derive(Debug, Default)]
pub(crate) struct Doorbell {
    state: Mutex<BellState>,
    condvar: Condvar,
}

#[derive(Debug, Default)]
struct BellState {
    /// Rung since the last sleep.
    rung: bool,
    /// The consumer is waiting on the condition variable.
    sleeping: bool,
}

impl Doorbell {
    /// Wakes the consumer if it sleeps, or makes its next sleep return at once.
    pub(crate) fn ring(&self) {
        // Broken twin for the loom suite: look whether the consumer sleeps
        // before recording the ring, in a separate critical section. A
        // consumer that checks `rung` in between then sleeps through the
        // ring (a lost wake-up).
        #[cfg(ringtel_broken = "doorbell_check_then_ring")]
        let sleeping = lock(&self.state).sleeping;
        let mut state = lock(&self.state);
        state.rung = true;
        #[cfg(not(ringtel_broken = "doorbell_check_then_ring"))]
        let sleeping = state.sleeping;
        drop(state);
        if sleeping {
            self.condvar.notify_one();
        }
    }

    /// Sleeps up to `timeout` unless the bell was rung since the last sleep.
    /// Returns whether it was rung.
    pub(crate) fn sleep(&self, timeout: Duration) -> bool {
        let mut state = lock(&self.state);
        if !state.rung {
            #[cfg(not(loom))]
            {
                state.sleeping = true;
                state = wait_timeout(&self.condvar, state, timeout);
                state.sleeping = false;
            }
            // Loom has no clock: a timed sleep would be an untimed wait that
            // nobody may end. Yield instead; loom then schedules others.
            #[cfg(loom)]
            {
                let _ = timeout;
                drop(state);
                crate::sync::thread::yield_now();
                state = lock(&self.state);
            }
        }
        std::mem::replace(&mut state.rung, false)
    }

    /// Waits up to `timeout` for a ring that is sure to come (an exporter
    /// worker finishing its job), unless the bell was rung since the last
    /// wait. Returns whether it was rung.
    ///
    /// Unlike [`Doorbell::sleep`] (an idle timer, which loom models as a
    /// yield), this is a timed wait, and under loom every timed wait is an
    /// untimed one: the waiter has a ringer, and if a ring were missing loom
    /// would report the deadlock instead of spinning through the timeout.
    pub(crate) fn wait_for_ring(&self, timeout: Duration) -> bool {
        let mut state = lock(&self.state);
        if !state.rung {
            state.sleeping = true;
            state = wait_timeout(&self.condvar, state, timeout);
            state.sleeping = false;
        }
        std::mem::replace(&mut state.rung, false)
    }
}
