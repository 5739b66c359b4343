//! The bounded ring between producers and the consumer.
//!
//! Normally this is [`crossbeam_queue::ArrayQueue`]. Under `--cfg loom` it is a
//! mutex-protected `VecDeque` with the same semantics (push fails when full,
//! `force_push` evicts the oldest), visible to loom. `ArrayQueue`'s own
//! linearizability is crossbeam's to prove; the protocols around the ring
//! (admission, wake-ups, shutdown, accounting) are ringtel's, and loom checks
//! them against this model.

/// A bounded multi-producer multi-consumer FIFO queue.
#[derive(Debug)]
pub(crate) struct Ring<E> {
    #[cfg(not(loom))]
    queue: crossbeam_queue::ArrayQueue<E>,
    #[cfg(loom)]
    queue: crate::sync::Mutex<std::collections::VecDeque<E>>,
    #[cfg(loom)]
    capacity: usize,
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
        Ring { queue: crate::sync::Mutex::new(std::collections::VecDeque::with_capacity(capacity)), capacity }
    }

    pub(crate) fn push(&self, event: E) -> Result<(), E> {
        let mut queue = crate::sync::lock(&self.queue);
        if queue.len() == self.capacity {
            return Err(event);
        }
        queue.push_back(event);
        Ok(())
    }

    pub(crate) fn force_push(&self, event: E) -> Option<E> {
        let mut queue = crate::sync::lock(&self.queue);
        let evicted = if queue.len() == self.capacity { queue.pop_front() } else { None };
        queue.push_back(event);
        evicted
    }

    pub(crate) fn pop(&self) -> Option<E> {
        crate::sync::lock(&self.queue).pop_front()
    }

    pub(crate) fn is_full(&self) -> bool {
        crate::sync::lock(&self.queue).len() == self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        crate::sync::lock(&self.queue).len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}
