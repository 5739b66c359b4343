//! Wake-ups: the consumer's sleep, and producers blocked on a full ring.
//!
//! Both are slow paths. The steady-state `emit` never touches them: producers
//! do not wake the consumer per event (it wakes on its own adaptive timer),
//! and the consumer wakes blocked producers only when the waiter count says
//! someone waits (C2).

use std::time::Duration;

use crate::sync::{fence, lock, wait, wait_timeout, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering};

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

/// Producers waiting for room in the ring (policies `Block`, `BlockFor`, and
/// critical events).
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    /// Producers registered as waiting. Incremented under `lock` before the
    /// waiter's last push attempt; read by the consumer after each batch.
    count: AtomicUsize,
    lock: Mutex<()>,
    condvar: Condvar,
}

/// Why a wait for room ended without a successful push.
pub(crate) enum WaitOutcome<E> {
    /// The event is in the ring.
    Pushed,
    /// The deadline passed; the event is handed back.
    TimedOut(E),
    /// `keep_waiting` said stop (admission changed); the event is handed back.
    Stopped(E),
}

impl Waiters {
    /// Registers as a waiter and retries `try_push` until it succeeds, the
    /// deadline passes (`None`: never) or `keep_waiting` returns false.
    ///
    /// Lost wake-ups are impossible: the registration (count increment) and
    /// every push attempt happen under `lock`, and the consumer notifies under
    /// `lock` after it made room and saw the count. The SeqCst fences pair
    /// with the one in [`Waiters::wake_if_waiting`] for the real
    /// `ArrayQueue`, whose operations are not ordered by our mutex.
    pub(crate) fn wait_for_room<E>(
        &self,
        mut event: E,
        deadline: Option<std::time::Instant>,
        mut try_push: impl FnMut(E) -> Result<(), E>,
        mut keep_waiting: impl FnMut() -> bool,
    ) -> WaitOutcome<E> {
        let mut guard: MutexGuard<'_, ()> = lock(&self.lock);
        #[cfg(not(ringtel_broken = "block_register_late"))]
        {
            self.count.fetch_add(1, Ordering::SeqCst);
            // Pairs with the fence in `wake_if_waiting`: either the consumer
            // sees our registration, or our next push sees its pop.
            fence(Ordering::SeqCst);
        }
        let outcome = loop {
            if !keep_waiting() {
                break WaitOutcome::Stopped(event);
            }
            match try_push(event) {
                Ok(()) => break WaitOutcome::Pushed,
                Err(back) => event = back,
            }
            // Broken twin for the loom suite: register after the last push
            // attempt, outside the lock. A consumer that makes room in
            // between sees no waiter and never notifies: a lost wake-up.
            #[cfg(ringtel_broken = "block_register_late")]
            {
                drop(guard);
                self.count.fetch_add(1, Ordering::SeqCst);
                guard = lock(&self.lock);
            }
            guard = match deadline {
                None => wait(&self.condvar, guard),
                Some(deadline) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        break WaitOutcome::TimedOut(event);
                    }
                    wait_timeout(&self.condvar, guard, deadline - now)
                }
            };
            #[cfg(ringtel_broken = "block_register_late")]
            {
                self.count.fetch_sub(1, Ordering::SeqCst);
            }
        };
        // Relaxed: deregistering publishes nothing. A consumer that still
        // sees the old count only takes `lock` and notifies nobody.
        #[cfg(not(ringtel_broken = "block_register_late"))]
        self.count.fetch_sub(1, Ordering::Relaxed);
        drop(guard);
        outcome
    }

    /// Called by the consumer after it made room: wakes every waiter if any
    /// is registered. Costs one fence and one load when nobody waits.
    pub(crate) fn wake_if_waiting(&self) {
        // Pairs with the fence in `wait_for_room` (see there).
        fence(Ordering::SeqCst);
        // Relaxed after the fence: the fence pair, not this load's ordering,
        // decides what it must see (checked by the loom `block` models).
        if self.count.load(Ordering::Relaxed) > 0 {
            self.wake_all();
        }
    }

    /// Wakes every waiter so it re-checks admission and room (close, death,
    /// reconfiguration).
    pub(crate) fn wake_all(&self) {
        let _guard = lock(&self.lock);
        self.condvar.notify_all();
    }

    /// How many producers wait right now (racy; for health and tests).
    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}
