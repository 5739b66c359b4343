//! The bounded ring between producers and the consumer.
//!
//! Normally this is [`crossbeam_queue::ArrayQueue`]. Under `--cfg loom` it is a
//! mutex-protected `VecDeque` with the same semantics (push fails when full,
//! `force_push` evicts the oldest), visible to loom. `ArrayQueue`'s own
//! linearizability is crossbeam's to prove; the protocols around the ring
//! (admission, wake-ups, shutdown, accounting) are ringtel's, and loom checks
//! them against this model.
//!
//! The model must not synchronise more than `ArrayQueue` does, or loom would
//! accept orderings that fail on real hardware. A mutex alone would: it
//! orders every push before or after every pop. `ArrayQueue::pop` instead
//! reports "empty" after a `SeqCst` fence and a relaxed load of `tail` that
//! may be stale (a push with no happens-before edge to the pop is missed),
//! and `push` reports "full" from a stale `head` the same way. The loom ring
//! keeps `tail` and `head` as loom atomics and decides "empty" and "full"
//! exactly so; the mutex only guards the data.

/// A bounded multi-producer multi-consumer FIFO queue.
#[derive(Debug)]
pub(crate) struct Ring<E> {
    #[cfg(not(loom))]
    queue: crossbeam_queue::ArrayQueue<E>,
    #[cfg(loom)]
    queue: crate::sync::Mutex<std::collections::VecDeque<E>>,
    #[cfg(loom)]
    capacity: usize,
    /// Pushes so far (`ArrayQueue::tail`). Written only under `queue`;
    /// read without it by `pop` to decide "empty".
    #[cfg(loom)]
    tail: crate::sync::AtomicUsize,
    /// Pops and evictions so far (`ArrayQueue::head`). Written only under
    /// `queue`; read without it by `push` to decide "full".
    #[cfg(loom)]
    head: crate::sync::AtomicUsize,
}

#[cfg(not(loom))]
impl<E> Ring<E> {
    /// Allocates a ring holding at most `capacity` events.
    ///
    /// # Panics
    /// If `capacity` is zero; configuration validation rejects that first.
    pub(crate) fn new(capacity: usize) -> Self {
        Ring { queue: crossbeam_queue::ArrayQueue::new(capacity) }
    }

    /// Appends `event`, or hands it back if the ring is full.
    #[inline]
    pub(crate) fn push(&self, event: E) -> Result<(), E> {
        self.queue.push(event)
    }

    /// Appends `event`, evicting and returning the oldest event if full.
    #[inline]
    pub(crate) fn force_push(&self, event: E) -> Option<E> {
        self.queue.force_push(event)
    }

    /// Removes the oldest event.
    #[inline]
    pub(crate) fn pop(&self) -> Option<E> {
        self.queue.pop()
    }

    /// Whether the ring looked full at some instant during the call.
    ///
    /// Racy by nature: a concurrent pop may make room right after. Used only
    /// as a cheap pre-check on the drop path, never to decide correctness.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.queue.is_full()
    }

    /// The number of events in the ring at some instant during the call.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// The fixed capacity.
    pub(crate) fn capacity(&self) -> usize {
        self.queue.capacity()
    }
}

#[cfg(loom)]
impl<E> Ring<E> {
    pub(crate) fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "ring capacity must be non-zero");
        Ring {
            queue: crate::sync::Mutex::new(std::collections::VecDeque::with_capacity(capacity)),
            capacity,
            tail: crate::sync::AtomicUsize::new(0),
            head: crate::sync::AtomicUsize::new(0),
        }
    }

    pub(crate) fn push(&self, event: E) -> Result<(), E> {
        use crate::sync::{fence, Ordering};
        // As `ArrayQueue::push` on a slot it sees occupied: a SeqCst fence,
        // then a relaxed `head` that may miss a pop with no happens-before
        // edge to us; if that `head` says full, the push fails.
        fence(Ordering::SeqCst);
        let head = self.head.load(Ordering::Relaxed);
        let mut queue = crate::sync::lock(&self.queue);
        // Exact: `tail` is written only under the lock we hold.
        let tail = self.tail.load(Ordering::Relaxed);
        debug_assert!(head <= tail && tail - queue.len() >= head);
        if queue.len() == self.capacity || tail - head >= self.capacity {
            return Err(event);
        }
        queue.push_back(event);
        self.tail.store(tail + 1, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn force_push(&self, event: E) -> Option<E> {
        use crate::sync::Ordering;
        // `ArrayQueue::force_push` evicts only after a successful CAS on the
        // real `head`, so it is exact: model it under the lock.
        let mut queue = crate::sync::lock(&self.queue);
        let evicted = if queue.len() == self.capacity {
            self.head.store(self.head.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            queue.pop_front()
        } else {
            None
        };
        queue.push_back(event);
        self.tail.store(self.tail.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        evicted
    }

    pub(crate) fn pop(&self) -> Option<E> {
        use crate::sync::{fence, Ordering};
        // As `ArrayQueue::pop` on a slot it sees empty: a SeqCst fence, then
        // a relaxed `tail` that may miss a push with no happens-before edge
        // to us; if that `tail` says empty, the pop returns `None`.
        fence(Ordering::SeqCst);
        let tail = self.tail.load(Ordering::Relaxed);
        let mut queue = crate::sync::lock(&self.queue);
        // Exact: `head` is written only under the lock we hold.
        let head = self.head.load(Ordering::Relaxed);
        if tail <= head {
            return None;
        }
        let event = queue.pop_front();
        debug_assert!(event.is_some(), "tail {tail} > head {head} but the ring is empty");
        self.head.store(head + 1, Ordering::Relaxed);
        event
    }

    pub(crate) fn is_full(&self) -> bool {
        use crate::sync::Ordering;
        // As `ArrayQueue::is_full`: two loads, either possibly stale.
        let tail = self.tail.load(Ordering::SeqCst);
        let head = self.head.load(Ordering::SeqCst);
        tail.saturating_sub(head) >= self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        crate::sync::lock(&self.queue).len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}
