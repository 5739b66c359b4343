//! Producer slots: each producer thread leases one of [`PRODUCER_SLOTS`]
//! process-wide slot indices for its lifetime, and counts on the stripe of
//! that index in every telemetry (see `counters`); threads without a slot
//! share the overflow stripe.

/// Stripes per telemetry: the owned ones, then the overflow stripe. A power
/// of two, so that a slot index masked with `STRIPES - 1` is always a stripe
/// (no bounds check on the hot path). 64 stripes of one cache line pair each
/// is 8 KiB per telemetry.
#[cfg(not(loom))]
pub(super) const STRIPES: usize = 64;
/// Under loom every thread uses the overflow stripe (see `loom_allocator`), so owned
/// stripes would never be written; leaving them out keeps each `health()`
/// from adding 63 × 9 loom loads (branch points) to every model.
#[cfg(loom)]
pub(super) const STRIPES: usize = 1;
const _: () = assert!(STRIPES.is_power_of_two());

/// How many producer threads get an exclusive, RMW-free stripe. Beyond this,
/// threads share the overflow stripe (correct, but contended).
pub(crate) const PRODUCER_SLOTS: usize = STRIPES - 1;
/// The index of the shared overflow stripe, the last one; also the mask that
/// turns any slot value into a stripe index.
pub(super) const OVERFLOW: usize = STRIPES - 1;

#[cfg(not(loom))]
pub(super) use allocator::{current, stripe_index};
#[cfg(loom)]
pub(super) use loom_allocator::current;

/// The slot allocator: process-wide, so outside every loom model (the
/// shim's `StaticMutex`), and its thread-locals are std's (`LEASE` has a
/// destructor, which the shim's `thread_local_cell!` does not offer).
#[cfg(not(loom))]
mod allocator {
    use super::{OVERFLOW, PRODUCER_SLOTS};
    use crate::sync::{lock, Cell, MutexGuard, StaticMutex};

    /// Free slot indices and the next never-used one.
    struct Allocator {
        next: usize,
        free: Vec<usize>,
    }

    /// The allocator's mutex also carries the happens-before from a slot's
    /// previous owner (its last relaxed stores) to the next owner.
    static ALLOCATOR: StaticMutex<Allocator> = StaticMutex::new(Allocator { next: 0, free: Vec::new() });

    fn allocator() -> MutexGuard<'static, Allocator> {
        // Outside loom, `StaticMutex` is the shim's `Mutex`.
        lock(&ALLOCATOR)
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
                SLOT.with(|s| s.set(OVERFLOW));
                allocator().free.push(index);
            }
        }
    }

    /// `SLOT` before this thread asked for a lease. Above every slot, and
    /// the overflow stripe's index once masked (`stripe_index`).
    const UNLEASED: usize = usize::MAX;
    const _: () = assert!(UNLEASED & OVERFLOW == OVERFLOW);

    thread_local! {
        /// This thread's slot index, `OVERFLOW` for the overflow stripe, or
        /// `UNLEASED`. A `const` thread-local without a
        /// destructor: reading it is one TLS load, with no lazy-init check,
        /// and it stays readable while other thread-locals are destroyed.
        static SLOT: Cell<usize> = const { Cell::new(UNLEASED) };
        /// Owns the lease so that it returns to the allocator when the
        /// thread exits.
        static LEASE: Lease = Lease::acquire();
    }

    /// This thread's exclusive slot (`< PRODUCER_SLOTS`), or `OVERFLOW`
    /// to use the overflow stripe (all slots leased, or the thread is
    /// exiting and its lease was returned).
    #[inline(always)]
    pub(in crate::producer) fn current() -> usize {
        let slot = SLOT.with(Cell::get);
        // One compare on the common path: `UNLEASED` is above every slot.
        if slot < PRODUCER_SLOTS {
            return slot;
        }
        crate::hint::cold_path();
        if slot != UNLEASED {
            return slot;
        }
        lease()
    }

    /// The stripe this thread counts on, without a branch: its slot, or the
    /// overflow stripe if it has none, or has not leased one yet (the cold
    /// path's `current` leases it then).
    #[inline(always)]
    pub(in crate::producer) fn stripe_index() -> usize {
        SLOT.with(Cell::get) & OVERFLOW
    }

    /// First count on this thread: take a lease (or settle for overflow).
    #[cold]
    #[inline(never)]
    fn lease() -> usize {
        let slot = LEASE.try_with(|lease| lease.0).ok().flatten().unwrap_or(OVERFLOW);
        SLOT.with(|s| s.set(slot));
        slot
    }
}

#[cfg(loom)]
mod loom_allocator {
    /// Under loom every thread shares the overflow stripe (`fetch_add`), so the
    /// models check the protocols around the counters, not the slot allocator.
    pub(in crate::producer) fn current() -> usize {
        super::OVERFLOW
    }
}
