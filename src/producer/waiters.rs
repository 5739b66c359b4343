//! Producers blocked on a full ring, and the consumer waking them: both
//! sides of the wait-for-room handshake (C2).
//!
//! A slow path. The steady-state `emit` never touches it, and the consumer
//! wakes blocked producers only when the waiter count says someone waits.

use crate::sync::{fence, lock, wait, wait_timeout, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering};

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
