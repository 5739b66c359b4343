//! Producer slots: each producer thread leases one of [`PRODUCER_SLOTS`]
//! process-wide slot indices for its lifetime, and counts on the stripe of
//! that index in every telemetry (see `counters`); threads without a slot
//! share the overflow stripe.

/// Stripes per telemetry: the overflow stripe, then the owned ones. A power
/// of two, so that a masked slot value is always a stripe (no bounds check
/// on the hot path). 64 stripes of one cache line pair each is 8 KiB per
/// telemetry.
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
// Under loom no thread leases a slot.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const PRODUCER_SLOTS: usize = STRIPES - 1;
/// The index of the shared overflow stripe, and of its first word: the
/// first, so that the mask that finds a thread's stripe also tells whether
/// it owns one (a zero result sets the flags the owned-stripe test branches
/// on).
pub(super) const OVERFLOW: usize = 0;

#[cfg(not(loom))]
pub(super) use allocator::{current, stripe_base};
#[cfg(loom)]
pub(super) use loom_allocator::current;

/// The slot allocator: process-wide, so outside every loom model (the
/// shim's `StaticMutex`), and its thread-locals are std's (`LEASE` has a
/// destructor, which the shim's `thread_local_cell!` does not offer).
#[cfg(not(loom))]
mod allocator {
    use super::{OVERFLOW, PRODUCER_SLOTS, STRIPES};
    use crate::producer::counters::STRIPE_WORDS;
    use crate::sync::{lock, Cell, MutexGuard, StaticMutex};

    /// Free slot indices and the next never-used one.
    struct Allocator {
        next: usize,
        free: Vec<usize>,
    }

    /// The allocator's mutex also carries the happens-before from a slot's
    /// previous owner (its last relaxed stores) to the next owner.
    static ALLOCATOR: StaticMutex<Allocator> =
        StaticMutex::new(Allocator { next: OVERFLOW + 1, free: Vec::new() });

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
            // Slots are `OVERFLOW + 1 ..= PRODUCER_SLOTS`.
            if alloc.next <= PRODUCER_SLOTS {
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
                SLOT.with(|s| s.set(SETTLED_ON_OVERFLOW));
                allocator().free.push(index);
            }
        }
    }

    /// The bits of `SLOT` that hold a stripe's first word: a slot index
    /// times the stripe's words, both powers of two.
    const BASE_BITS: u32 = ((STRIPES - 1) * STRIPE_WORDS) as u32;
    /// `SLOT` before this thread asked for a lease: the overflow stripe's
    /// first word (zero) once masked, like every value that is not an owned
    /// slot's first word.
    const UNLEASED: u32 = 0;
    /// `SLOT` of a thread that counts on the overflow stripe for good (all
    /// slots leased, or its lease returned as it exits): below a stripe's
    /// word count, so masked it is the overflow stripe, and distinct from
    /// `UNLEASED`.
    const SETTLED_ON_OVERFLOW: u32 = 1;
    const _: () = assert!(STRIPE_WORDS.is_power_of_two() && (SETTLED_ON_OVERFLOW as usize) < STRIPE_WORDS);
    const _: () = assert!(
        UNLEASED & BASE_BITS == OVERFLOW as u32 && SETTLED_ON_OVERFLOW & BASE_BITS == OVERFLOW as u32
    );

    thread_local! {
        /// The index of this thread's stripe's first word (its slot index
        /// times `STRIPE_WORDS`), or `UNLEASED`, or `SETTLED_ON_OVERFLOW`.
        /// A `const` thread-local without a destructor: reading it is one
        /// TLS load, with no lazy-init check, and it stays readable while
        /// other thread-locals are destroyed. A word index rather than a
        /// slot index, so that finding a counter is one mask and an address
        /// the CPU scales itself (no shift).
        static SLOT: Cell<u32> = const { Cell::new(UNLEASED) };
        /// Owns the lease so that it returns to the allocator when the
        /// thread exits.
        static LEASE: Lease = Lease::acquire();
    }

    /// The first word of the stripe this thread counts on, without a
    /// branch: its slot's, or the overflow stripe's (`OVERFLOW`, zero) if it
    /// has none or has not leased one yet (the cold path's `current` leases
    /// it then). One TLS load and one mask.
    #[inline(always)]
    pub(in crate::producer) fn stripe_base() -> usize {
        (SLOT.with(Cell::get) & BASE_BITS) as usize
    }

    /// This thread's exclusive slot (`1..STRIPES`), or `OVERFLOW` to use the
    /// overflow stripe (all slots leased, or the thread is exiting and its
    /// lease was returned). Leases a slot on the thread's first call.
    #[inline(always)]
    pub(in crate::producer) fn current() -> usize {
        // One mask and its zero flag on the common path.
        let base = stripe_base();
        if base != OVERFLOW {
            return base / STRIPE_WORDS;
        }
        crate::hint::cold_path();
        if SLOT.with(Cell::get) != UNLEASED {
            return OVERFLOW;
        }
        lease()
    }

    /// First count on this thread: take a lease (or settle for overflow).
    #[cold]
    #[inline(never)]
    fn lease() -> usize {
        match LEASE.try_with(|lease| lease.0).ok().flatten() {
            Some(index) => {
                SLOT.with(|s| s.set((index * STRIPE_WORDS) as u32));
                index
            }
            None => {
                SLOT.with(|s| s.set(SETTLED_ON_OVERFLOW));
                OVERFLOW
            }
        }
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
