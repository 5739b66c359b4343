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
//!
//! Drops also feed the drop log (C4) without a shared RMW per drop: each
//! stripe counts its drops (`drops`) and how many of them were published to
//! the drop log (`published`). The owner publishes once `drops - published`
//! reaches the log's block size; a sweep ([`ProducerCounters::publish_all`])
//! publishes the rest. Either way a block `[published, drops)` is claimed by
//! a compare-exchange on `published`, so each drop is published exactly once
//! (loom model `drop_log`, its twin `drop_publish_unclaimed`).

use crossbeam_utils::CachePadded;

use crate::drop_log::{DropLog, DropWarning};
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
    /// Every drop counted here, any reason (the sum of `dropped`).
    drops: AtomicU64,
    /// How many of `drops` are published to the drop log. Only ever
    /// advanced, by a successful compare-exchange, owner or sweeper alike.
    published: AtomicU64,
}

impl Stripe {
    /// Publishes this stripe's unpublished drops, if any: claims the block
    /// `[published, drops)` and records it in the drop log.
    ///
    /// Relaxed throughout: the claims on `published` form one modification
    /// order, so the claimed blocks are disjoint and contiguous whatever the
    /// interleaving; a stale `drops` only makes a block shorter (the rest is
    /// claimed later), and `drops <= published` means nothing to do. The
    /// drop log itself is one `fetch_add` per block. Exactness after the
    /// producers stop comes from the sweeper's happens-before with them, as
    /// for every other counter here.
    #[cold]
    #[inline(never)]
    fn publish(&self, log: &DropLog, reason: Option<DropReason>) -> Option<DropWarning> {
        let mut published = self.published.load(Ordering::Relaxed);
        loop {
            let drops = self.drops.load(Ordering::Relaxed);
            if drops <= published {
                return None;
            }
            // Broken twin for the loom suite: claim with a plain store. Two
            // publishers that read the same `published` both record the
            // block: drops are counted twice and marks warned twice (C4).
            #[cfg(ringtel_broken = "drop_publish_unclaimed")]
            {
                self.published.store(drops, Ordering::Relaxed);
                return log.record(drops - published, reason);
            }
            #[cfg_attr(ringtel_broken = "drop_publish_unclaimed", allow(unreachable_code))]
            match self.published.compare_exchange_weak(published, drops, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return log.record(drops - published, reason),
                Err(now) => published = now,
            }
        }
    }
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
        let (stripe, owned) = self.stripe();
        increment(&stripe.filtered, owned);
    }

    /// Counts one event dropped before or at admission (`QueueFull`,
    /// `Overwritten`, `Closed`, `Disabled`, `ConsumerDead`) and publishes this
    /// thread's drops to `log` once a block is complete, or at once if
    /// `publish_now` (the cold reasons, so that drops after close, when no
    /// sweep may follow, are never left unpublished). Returns the warning to
    /// log, if publishing crossed a mark.
    #[inline(always)]
    pub(crate) fn add_dropped(
        &self,
        reason: DropReason,
        log: &DropLog,
        publish_now: bool,
    ) -> Option<DropWarning> {
        let (stripe, owned) = self.stripe();
        increment(&stripe.dropped[reason.index()], owned);
        let drops = increment(&stripe.drops, owned);
        let unpublished = drops.wrapping_sub(stripe.published.load(Ordering::Relaxed));
        if unpublished >= log.publish_every() || publish_now {
            return stripe.publish(log, if publish_now { Some(reason) } else { None });
        }
        None
    }

    /// Publishes every stripe's unpublished drops (the consumer loop,
    /// `health` and `close` call this), handing each warning to `warn`.
    pub(crate) fn publish_all(&self, log: &DropLog, mut warn: impl FnMut(DropWarning)) {
        for stripe in self.stripes.iter() {
            if stripe.drops.load(Ordering::Relaxed) != stripe.published.load(Ordering::Relaxed) {
                if let Some(warning) = stripe.publish(log, None) {
                    warn(warning);
                }
            }
        }
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

    /// This thread's stripe, and whether it owns it (`false`: the shared
    /// overflow stripe).
    #[inline(always)]
    // Under loom there are no owned slots (`PRODUCER_SLOTS == 0`), so the
    // first branch never runs there.
    #[cfg_attr(loom, allow(clippy::absurd_extreme_comparisons))]
    fn stripe(&self) -> (&Stripe, bool) {
        let index = slot::current();
        if index < PRODUCER_SLOTS {
            (&self.stripes[index], true)
        } else {
            (&self.stripes[PRODUCER_SLOTS], false)
        }
    }
}

/// Adds one to `counter` and returns the new value. On an owned stripe
/// (single writer: this thread owns the slot) a load and a store cannot lose
/// an increment; the overflow stripe is shared and takes a `fetch_add`.
/// Relaxed: readers only sum, and publishing claims through `published`.
#[inline(always)]
fn increment(counter: &AtomicU64, owned: bool) -> u64 {
    if owned {
        let next = counter.load(Ordering::Relaxed).wrapping_add(1);
        counter.store(next, Ordering::Relaxed);
        next
    } else {
        counter.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
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
    fn counts_and_published_drops_are_exact_across_many_threads_including_overflow() {
        let counters = Arc::new(ProducerCounters::new());
        let interval = 100;
        let log = Arc::new(DropLog::new(interval));
        let threads = PRODUCER_SLOTS + 8; // forces some through the overflow stripe
        let per_thread = 1_000;
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let counters = Arc::clone(&counters);
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    let mut marks = Vec::new();
                    for _ in 0..per_thread {
                        counters.add_filtered();
                        marks
                            .extend(counters.add_dropped(DropReason::QueueFull, &log, false).map(|w| w.mark));
                    }
                    marks
                })
            })
            .collect();
        let mut marks: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        let total = (threads * per_thread) as u64;
        assert_eq!(counters.filtered(), total);
        assert_eq!(counters.dropped(DropReason::QueueFull), total);
        assert_eq!(counters.dropped(DropReason::Closed), 0);
        // Blocks of at most 64 < interval: each claim crosses at most one mark.
        counters.publish_all(&log, |w| marks.push(w.mark));
        marks.sort_unstable();
        let expected: Vec<u64> = (1..=total / interval).map(|k| k * interval).collect();
        assert_eq!(marks, expected, "every mark warned exactly once once all drops are published");
        // A second sweep finds nothing left.
        counters.publish_all(&log, |w| panic!("published twice: {w:?}"));
    }

    #[test]
    fn publish_now_publishes_a_single_drop_at_once() {
        let counters = ProducerCounters::new();
        let log = DropLog::new(1);
        let w = counters.add_dropped(DropReason::Closed, &log, true).expect("interval 1 warns at once");
        assert_eq!((w.mark, w.total, w.reason), (1, 1, Some(DropReason::Closed)));
        let log = DropLog::new(3);
        assert_eq!(counters.add_dropped(DropReason::QueueFull, &log, false), None);
        assert_eq!(counters.add_dropped(DropReason::QueueFull, &log, false), None);
        // The third drop completes a block of 3 = publish_every: published.
        assert_eq!(counters.add_dropped(DropReason::QueueFull, &log, false).map(|w| w.mark), Some(3));
    }
}
