//! A parcel: the batches the consumer hands every exporter's worker in one
//! hand-off, and the set of them an exporter accepted.
//!
//! Waking a worker costs a few microseconds, the same for one batch as for
//! several; under load the consumer fills a parcel with up to
//! `Config::handoff_batches` batches, so they share one wake-up. The
//! exporter still gets one call per batch, and each batch is accounted on
//! its own (delivered or failed, C1).

use crate::config::MAX_HANDOFF_BATCHES;

/// Up to [`MAX_HANDOFF_BATCHES`] batches, each with its own preallocated
/// buffer of `batch_size` events. Pooled by the dispatcher: filled by the
/// consumer while no worker holds it, then shared read-only.
#[derive(Debug)]
pub(crate) struct Parcel<E> {
    /// Every buffer; the first `filled` hold this parcel's batches.
    buffers: Vec<Vec<E>>,
    filled: usize,
}

impl<E> Parcel<E> {
    /// An empty parcel of `batches` buffers of `batch_size` events.
    pub(crate) fn new(batches: usize, batch_size: usize) -> Self {
        debug_assert!((1..=MAX_HANDOFF_BATCHES).contains(&batches));
        Parcel { buffers: (0..batches).map(|_| Vec::with_capacity(batch_size)).collect(), filled: 0 }
    }

    /// The batches, in ring order.
    pub(crate) fn batches(&self) -> &[Vec<E>] {
        &self.buffers[..self.filled]
    }

    /// Events in all batches.
    pub(crate) fn events(&self) -> u64 {
        self.batches().iter().map(|b| b.len() as u64).sum()
    }

    /// The next empty buffer, or `None` when the parcel is full. Fill it,
    /// then [`Parcel::keep_batch`] (an empty buffer is not a batch).
    pub(crate) fn spare_buffer(&mut self) -> Option<&mut Vec<E>> {
        self.buffers.get_mut(self.filled)
    }

    /// Makes the buffer [`Parcel::spare_buffer`] returned a batch of the
    /// parcel, if it holds events.
    pub(crate) fn keep_batch(&mut self) {
        if self.buffers.get(self.filled).is_some_and(|b| !b.is_empty()) {
            self.filled += 1;
        }
    }

    /// Drops every event; the buffers keep their capacity.
    pub(crate) fn clear(&mut self) {
        for buffer in &mut self.buffers[..self.filled] {
            buffer.clear();
        }
        self.filled = 0;
    }
}

/// Which batches of a parcel (by index) an exporter accepted, or, across
/// exporters, at least one did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BatchSet(u32);

const _: () = assert!(MAX_HANDOFF_BATCHES <= u32::BITS as usize);

impl BatchSet {
    /// No batch.
    pub(crate) const EMPTY: BatchSet = BatchSet(0);

    /// Adds batch `index`.
    pub(crate) fn insert(&mut self, index: usize) {
        self.0 |= 1 << index;
    }

    /// Whether batch `index` is in the set.
    pub(crate) fn contains(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }

    /// The batches in either set.
    pub(crate) fn union(self, other: BatchSet) -> BatchSet {
        BatchSet(self.0 | other.0)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn an_empty_buffer_is_not_kept_and_a_full_parcel_has_no_spare() {
        let mut parcel = Parcel::<u8>::new(2, 4);
        parcel.keep_batch();
        assert!(parcel.batches().is_empty());
        parcel.spare_buffer().expect("spare").extend([1, 2]);
        parcel.keep_batch();
        parcel.spare_buffer().expect("spare").push(3);
        parcel.keep_batch();
        assert!(parcel.spare_buffer().is_none());
        assert_eq!(parcel.batches(), &[vec![1, 2], vec![3]]);
        assert_eq!(parcel.events(), 3);
        parcel.clear();
        assert!(parcel.batches().is_empty());
        assert_eq!(parcel.spare_buffer().map(|b| (b.len(), b.capacity() >= 4)), Some((0, true)));
    }

    #[test]
    fn batch_sets_hold_indices_up_to_the_largest_parcel() {
        let mut set = BatchSet::EMPTY;
        set.insert(0);
        set.insert(MAX_HANDOFF_BATCHES - 1);
        assert!(set.contains(0) && set.contains(MAX_HANDOFF_BATCHES - 1) && !set.contains(1));
        let mut other = BatchSet::EMPTY;
        other.insert(1);
        assert!(set.union(other).contains(1));
    }
}
