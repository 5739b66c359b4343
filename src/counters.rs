//! Producer-side counters that keep `emit` free of shared read-modify-writes.
//!
//! Each producer thread leases one of [`PRODUCER_SLOTS`] process-wide slot
//! indices for its lifetime. Every telemetry has one cache-padded stripe per
//! slot; the thread owning slot `i` is the *only* writer of stripe `i`, so it
//! increments with a relaxed load and store (plain `mov`s, no `lock` prefix)
//! instead of an RMW. Threads beyond the slot count, and every thread under
//! loom, share an overflow stripe updated with `fetch_add`. Readers sum all
//! stripes.
//!
//! Only the filtered and dropped paths count here; the success path counts
//! nothing at all, because accepted events are derived from what the consumer
//! takes (see `Ledger`).

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering};
use crate::DropReason;

/// How many producer threads get an exclusive, RMW-free stripe. Beyond this,
/// threads share the overflow stripe (correct, but contended). 64 stripes of
/// one cache line pair each is 8 KiB per telemetry.
#[cfg(not(loom))]
pub(crate) const PRODUCER_SLOTS: usize = 64;
/// Under loom every thread uses the overflow stripe (see `slot`), so owned
/// stripes would never be written; leaving them out keeps each `health()`
/// from adding 64 × 8 loom loads (branch points) to every model.
#[cfg(loom)]
pub(crate) const PRODUCER_SLOTS: usize = 0;

/// The counters one stripe holds.
#[derive(Debug, Default)]
struct Stripe {
    filtered: AtomicU64,
    dropped: [AtomicU64; DropReason::COUNT],
}

/// Per-telemetry striped counters.
#[derive(Debug)]
pub(crate) struct ProducerCounters {
    /// `PRODUCER_SLOTS` owned stripes, then the overflow stripe.
    /// Owned stripe `i` is written only by the thread leasing slot `i`.
    /// A fixed-size array, so an index checked `< PRODUCER_SLOTS` needs no
    /// bounds check on the hot path.
    stripes: Box<[CachePadded<Stripe>; PRODUCER_SLOTS + 1]>,
}

impl ProducerCounters {
    pub(crate) fn new() -> Self {
        ProducerCounters { stripes: Box::new(std::array::from_fn(|_| CachePadded::new(Stripe::default()))) }
    }

    /// Counts one filtered event.
    #[inline]
    pub(crate) fn add_filtered(&self) {
        self.bump(|stripe| &stripe.filtered);
    }

    /// Counts one event dropped before or at admission (`QueueFull`,
    /// `Overwritten`, `Closed`, `Disabled`, `ConsumerDead`).
    #[inline]
    pub(crate) fn add_dropped(&self, reason: DropReason) {
        self.bump(|stripe| &stripe.dropped[reason.index()]);
    }

    /// Sum of filtered events. Exact once producers are quiescent; during a
    /// run, a value some producer increments may be missed by one.
    pub(crate) fn filtered(&self) -> u64 {
        // Relaxed: a statistic; exactness after close comes from the
        // happens-before the caller has with the producers (join, or the
        // emits it made itself).
        self.stripes.iter().map(|s| s.filtered.load(Ordering::Relaxed)).sum()
    }

    /// Sum of events dropped for `reason` on the producer side.
    pub(crate) fn dropped(&self, reason: DropReason) -> u64 {
        self.stripes.iter().map(|s| s.dropped[reason.index()].load(Ordering::Relaxed)).sum()
    }

    #[inline(always)]
    // Under loom there are no owned slots (`PRODUCER_SLOTS == 0`), so the
    // first branch never runs there.
    #[cfg_attr(loom, allow(clippy::absurd_extreme_comparisons))]
    fn bump(&self, counter: impl Fn(&Stripe) -> &AtomicU64) {
        let index = slot::current();
        if index < PRODUCER_SLOTS {
            let c = counter(&self.stripes[index]);
            // Single writer (this thread owns the slot), so load + store
            // cannot lose an increment. Relaxed: readers only sum.
            c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        } else {
            counter(&self.stripes[PRODUCER_SLOTS]).fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(not(loom))]
mod slot {
    use std::cell::Cell;

    use super::PRODUCER_SLOTS;
    use crate::sync::StaticMutex;

    /// Free slot indices and the next never-used one.
    struct Allocator {
        next: usize,
        free: Vec<usize>,
    }

    /// The allocator's mutex also carries the happens-before from a slot's
    /// previous owner (its last relaxed stores) to the next owner.
    static ALLOCATOR: StaticMutex<Allocator> = StaticMutex::new(Allocator { next: 0, free: Vec::new() });

    fn allocator() -> std::sync::MutexGuard<'static, Allocator> {
        ALLOCATOR.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A thread's slot, returned to the allocator when the thread exits.
    struct Lease(Option<usize>);

    impl Lease {
        fn acquire() -> Lease {
            let mut alloc = allocator();
            if let Some(index) = alloc.free.pop() {
                return Lease(Some(index));
            }
            if alloc.next < PRODUCER_SLOTS {
                alloc.next += 1;
                return Lease(Some(alloc.next - 1));
            }
            Lease(None)
        }
    }

    impl Drop for Lease {
        fn drop(&mut self) {
            if let Some(index) = self.0 {
                // Later counts on this exiting thread (from other
                // thread-locals' destructors) go to the overflow stripe: the
                // slot may be leased again at once, and must have one writer.
                SLOT.with(|s| s.set(PRODUCER_SLOTS));
                allocator().free.push(index);
            }
        }
    }

    /// `SLOT` before this thread asked for a lease.
    const UNLEASED: usize = usize::MAX;

    thread_local! {
        /// This thread's slot index, `PRODUCER_SLOTS` for the overflow
        /// stripe, or `UNLEASED`. A `const` thread-local without a
        /// destructor: reading it is one TLS load, with no lazy-init check,
        /// and it stays readable while other thread-locals are destroyed.
        static SLOT: Cell<usize> = const { Cell::new(UNLEASED) };
        /// Owns the lease so that it returns to the allocator when the
        /// thread exits.
        static LEASE: Lease = Lease::acquire();
    }

    /// This thread's exclusive slot (`< PRODUCER_SLOTS`), or `PRODUCER_SLOTS`
    /// to use the overflow stripe (all slots leased, or the thread is
    /// exiting and its lease was returned).
    #[inline(always)]
    pub(super) fn current() -> usize {
        let slot = SLOT.with(Cell::get);
        if slot != UNLEASED {
            return slot;
        }
        lease()
    }

    /// First count on this thread: take a lease (or settle for overflow).
    #[cold]
    #[inline(never)]
    fn lease() -> usize {
        let slot = LEASE.try_with(|lease| lease.0).ok().flatten().unwrap_or(PRODUCER_SLOTS);
        SLOT.with(|s| s.set(slot));
        slot
    }
}

#[cfg(loom)]
mod slot {
    /// Under loom every thread shares the overflow stripe (`fetch_add`), so the
    /// models check the protocols around the counters, not the slot allocator.
    pub(super) fn current() -> usize {
        super::PRODUCER_SLOTS
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_are_exact_across_many_threads_including_overflow() {
        let counters = Arc::new(ProducerCounters::new());
        let threads = PRODUCER_SLOTS + 8; // forces some through the overflow stripe
        let per_thread = 1_000;
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let counters = Arc::clone(&counters);
                std::thread::spawn(move || {
                    for _ in 0..per_thread {
                        counters.add_filtered();
                        counters.add_dropped(DropReason::QueueFull);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(counters.filtered(), (threads * per_thread) as u64);
        assert_eq!(counters.dropped(DropReason::QueueFull), (threads * per_thread) as u64);
        assert_eq!(counters.dropped(DropReason::Closed), 0);
    }
}
