//! Producer-side counters that keep `emit` free of shared read-modify-writes.
//!
//! Each producer thread leases one of [`PRODUCER_SLOTS`] process-wide slot
//! indices for its lifetime. Every telemetry has one cache-padded stripe per
//! slot; the thread owning slot `i` is the *only* writer of stripe `i`, so it
//! increments with a relaxed load and store (plain `mov`s, no `lock` prefix)
//! instead of an RMW. Threads beyond the slot count, threads that have not
//! counted anything yet, and every thread under loom, share the overflow
//! stripe (the first one) updated with `fetch_add`. Readers sum all stripes.
//!
//! Only the filtered and dropped paths count here; the success path counts
//! nothing at all, because accepted events are derived from what the consumer
//! takes (see `Ledger`).
//!
//! Drops also feed the drop log (C4) without a shared RMW per drop: each
//! stripe counts its drops per reason, and how many of them were published
//! to the drop log (`published`). The drop log's reasons other than
//! `QueueFull` are also summed in `drops_besides_queue_full`, so that a
//! stripe's logged drops are that sum plus its `QueueFull` count, and a
//! `QueueFull` drop (the `Drop` policy's hot path) increments one counter
//! only. The owner publishes whenever the counter it increments last (the
//! `QueueFull` count, or the sum of the others) reaches a multiple of the
//! log's block size (a power of two); a sweep
//! ([`ProducerCounters::publish_all`]) publishes the rest. Either way each
//! claim of at most one block from `[published, logged)` is a
//! compare-exchange on `published`, so each drop is published exactly once
//! (loom model `drop_log_producer_blocks_and_sweep`, its twin
//! `drop_publish_unclaimed`).
//!
//! The stripes are one flat array of counter words, [`STRIPE_WORDS`] per
//! stripe, and a thread's slot is kept as the index of its stripe's first
//! word. So the hot paths find their counter with one mask of the
//! thread-local and an address the CPU scales itself (`base + word * 8`),
//! with no shift. The overflow stripe is stripe 0, so the mask's zero flag
//! is the filtered path's owned-stripe test. The drop path needs no such
//! test: each stripe holds the block mask it tests, and the overflow stripe
//! holds zero, so that a drop there always takes the cold path, which
//! leases a slot on a thread's first count and otherwise counts with
//! `fetch_add`.

#[cfg(test)]
use super::slot::PRODUCER_SLOTS;
use super::slot::{self, OVERFLOW, STRIPES};
use crate::consumer::drop_log::{DropLog, DropWarning};
use crate::sync::{AtomicU64, Ordering};
use crate::DropReason;

/// Counter words per stripe: 16 × 8 bytes, the 128 bytes that keep two
/// producers' counters off each other's cache lines (the adjacent-line
/// prefetcher pulls pairs of 64-byte lines; `CachePadded`'s size on
/// x86-64). A power of two, so that a masked slot value is a stripe's first
/// word.
pub(super) const STRIPE_WORDS: usize = 16;

/// Where each counter sits in its stripe. The hot counters are not at the
/// stripe's start, where LLVM would keep the array's base address in a
/// register of its own (one instruction more per drop).
mod word {
    use crate::DropReason;

    pub(super) const FILTERED: usize = 0;
    /// `DROPPED + reason.index()`: the drops counted for each reason.
    pub(super) const DROPPED: usize = 1;
    /// Every drop counted here for a reason the drop log sees other than
    /// `QueueFull` (the sum of the `DROPPED` words except `QueueFull` and
    /// `OwnThread`). With the `QueueFull` count, the stripe's logged drops.
    pub(super) const DROPS_BESIDES_QUEUE_FULL: usize = DROPPED + DropReason::COUNT;
    /// How many of the logged drops are published to the drop log. Only
    /// ever advanced, by a successful compare-exchange, owner or sweeper
    /// alike.
    pub(super) const PUBLISHED: usize = DROPS_BESIDES_QUEUE_FULL + 1;
    /// Fields and text bytes that did not fit a fixed-size record (the
    /// `tracing` integration's).
    pub(super) const TRUNCATED_FIELDS: usize = PUBLISHED + 1;
    pub(super) const TRUNCATED_BYTES: usize = TRUNCATED_FIELDS + 1;
    pub(super) const USED: usize = TRUNCATED_BYTES + 1;
}
const _: () = assert!(STRIPE_WORDS.is_power_of_two() && word::USED <= STRIPE_WORDS);

/// Aligned like the stripes it holds, so that no stripe straddles a pair of
/// cache lines with another.
#[derive(Debug)]
#[repr(align(128))]
struct Words([AtomicU64; STRIPES * STRIPE_WORDS]);
const _: () = assert!(std::mem::align_of::<Words>() == STRIPE_WORDS * 8);

/// One stripe's counters: a view of its `STRIPE_WORDS` words.
#[derive(Debug, Clone, Copy)]
struct Stripe<'a>(&'a [AtomicU64]);

impl<'a> Stripe<'a> {
    fn word(self, word: usize) -> &'a AtomicU64 {
        &self.0[word]
    }

    fn dropped(self, reason: DropReason) -> &'a AtomicU64 {
        self.word(word::DROPPED + reason.index())
    }

    /// The drops counted here that the drop log sees. Relaxed loads of two
    /// counters that only grow: the sum is at most what was counted, so a
    /// claim up to it never publishes a drop not yet counted.
    #[inline]
    fn logged(self) -> u64 {
        self.dropped(DropReason::QueueFull).load(Ordering::Relaxed)
            + self.word(word::DROPS_BESIDES_QUEUE_FULL).load(Ordering::Relaxed)
    }

    /// Publishes this stripe's unpublished drops, if any: claims blocks of at
    /// most one block size from `[published, logged)`, each with a
    /// compare-exchange, records each in the drop log and hands any warning
    /// to `warn`. A claim is never larger than a block (`<= interval`), so
    /// one warning never stands for two crossings, even on the shared
    /// overflow stripe where the counts can run ahead by many.
    ///
    /// Relaxed throughout: the claims on `published` form one modification
    /// order, so the claimed blocks are disjoint and contiguous whatever the
    /// interleaving; a stale count only makes a claim shorter (the rest is
    /// claimed later), and `logged <= published` means nothing to do. The
    /// drop log itself is one `fetch_add` per claim. Exactness after the
    /// producers stop comes from the sweeper's happens-before with them, as
    /// for every other counter here.
    #[cold]
    #[inline(never)]
    fn publish(self, log: &DropLog, reason: Option<DropReason>, mut warn: impl FnMut(DropWarning)) {
        let block = log.block_mask() + 1;
        let claimed = self.word(word::PUBLISHED);
        let mut published = claimed.load(Ordering::Relaxed);
        loop {
            let logged = self.logged();
            if logged <= published {
                return;
            }
            let end = logged.min(published + block);
            // The reason is known only for a claim of one drop.
            let reason = if end - published == 1 { reason } else { None };
            // Broken twin for the loom suite: claim with a plain store. Two
            // publishers that read the same `published` both record the
            // block: drops are counted twice and marks warned twice (C4).
            #[cfg(ringtel_broken = "drop_publish_unclaimed")]
            {
                claimed.store(end, Ordering::Relaxed);
                log.record(end - published, reason).map(&mut warn);
                published = end;
                continue;
            }
            #[cfg_attr(ringtel_broken = "drop_publish_unclaimed", allow(unreachable_code))]
            match claimed.compare_exchange_weak(published, end, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    if let Some(warning) = log.record(end - published, reason) {
                        warn(warning);
                    }
                    published = end;
                }
                Err(now) => published = now,
            }
        }
    }
}

/// When a counted drop publishes this stripe's drops to the drop log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Publish {
    /// When the stripe's drop count reaches a multiple of the log's block
    /// (the hot paths; a later sweep publishes the rest).
    OnBlock,
    /// At once: the cold paths, which can run after the last sweep.
    Now,
}

/// What [`ProducerCounters::add_dropped_within_block`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Under loom no stripe is owned, so nothing is counted inline.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) enum BlockDrop {
    /// Counted on the thread's own stripe, within the current block.
    Counted,
    /// Not counted: the drop completes a block (publish), or the thread has
    /// no stripe of its own (yet). `add_dropped_cold` counts it.
    Cold,
}

/// Per-telemetry striped counters.
#[derive(Debug)]
pub(crate) struct ProducerCounters {
    /// The overflow stripe's words, then those of `PRODUCER_SLOTS` owned
    /// stripes. Owned stripe `i` is written only by the thread leasing slot
    /// `i`. A fixed-size array whose length is a power of two, so that a
    /// masked index needs no bounds check on the hot path. Inline (8 KiB,
    /// inside the shared state's one allocation), not boxed: a filtered or
    /// dropped emit then loads no pointer to find its stripe.
    words: Words,
}

impl ProducerCounters {
    /// Zeroed counters.
    pub(crate) fn new() -> Self {
        ProducerCounters { words: Words(std::array::from_fn(|_| AtomicU64::new(0))) }
    }

    /// Stripe `index`.
    fn stripe_at(&self, index: usize) -> Stripe<'_> {
        Stripe(&self.words.0[index * STRIPE_WORDS..][..STRIPE_WORDS])
    }

    fn stripes(&self) -> impl Iterator<Item = Stripe<'_>> {
        self.words.0.chunks_exact(STRIPE_WORDS).map(Stripe)
    }

    /// Word `word` of this thread's stripe, found with no branch: its own
    /// stripe, or the overflow stripe if it has none (yet).
    #[cfg(not(loom))]
    #[inline(always)]
    fn hot_word(&self, base: usize, word: usize) -> &AtomicU64 {
        // `base` is a masked multiple of `STRIPE_WORDS` and `word` below
        // it: always in bounds, and the compiler sees so from the mask.
        &self.words.0[base + word]
    }

    /// Counts one filtered event. Always inlined: `emit` marks its filtered
    /// branch unlikely, and LLVM would not inline a plain `#[inline]` call
    /// there.
    #[inline(always)]
    pub(crate) fn add_filtered(&self) {
        #[cfg(not(loom))]
        {
            // The mask's zero flag is the owned-stripe test.
            let base = slot::stripe_base();
            if base != OVERFLOW {
                increment_owned(self.hot_word(base, word::FILTERED));
                return;
            }
        }
        self.add_filtered_cold();
    }

    /// `add_filtered` on a thread without a stripe of its own (yet).
    #[cold]
    #[inline(never)]
    fn add_filtered_cold(&self) {
        match self.stripe() {
            (stripe, true) => {
                increment_owned(stripe.word(word::FILTERED));
            }
            (stripe, false) => {
                stripe.word(word::FILTERED).fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Counts `fields` fields and `bytes` bytes of text that did not fit a
    /// fixed-size record (the `tracing` integration's), on this thread's
    /// stripe: plain stores when the thread owns it, like `add_filtered`.
    #[cfg(all(feature = "tracing", not(loom)))]
    pub(crate) fn add_truncated(&self, fields: u64, bytes: u64) {
        let add = |counter: &AtomicU64, n: u64, owned: bool| {
            if n == 0 {
            } else if owned {
                counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
            } else {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        };
        let (stripe, owned) = self.stripe();
        add(stripe.word(word::TRUNCATED_FIELDS), fields, owned);
        add(stripe.word(word::TRUNCATED_BYTES), bytes, owned);
    }

    /// Counts one dropped event that the drop log never sees (it is not
    /// added to the logged drops): for `OwnThread` records, which a drop warning
    /// itself raises on a ringtel thread. Counting them in the drop log
    /// would make each warning raise the next one.
    #[cfg(all(feature = "tracing", not(loom)))]
    pub(crate) fn add_dropped_unlogged(&self, reason: DropReason) {
        match self.stripe() {
            (stripe, true) => {
                increment_owned(stripe.dropped(reason));
            }
            (stripe, false) => {
                stripe.dropped(reason).fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Sums of truncated fields and bytes.
    #[cfg(all(feature = "tracing", not(loom)))]
    pub(crate) fn truncated(&self) -> (u64, u64) {
        self.stripes().fold((0, 0), |(f, b), s| {
            (
                f + s.word(word::TRUNCATED_FIELDS).load(Ordering::Relaxed),
                b + s.word(word::TRUNCATED_BYTES).load(Ordering::Relaxed),
            )
        })
    }

    /// Nothing is ever truncated without the `tracing` integration (and
    /// under loom, models load no word they do not need).
    #[cfg(not(all(feature = "tracing", not(loom))))]
    pub(crate) fn truncated(&self) -> (u64, u64) {
        (0, 0)
    }

    /// Counts one event dropped before or at admission (`QueueFull`,
    /// `Overwritten`, `Closed`, `Disabled`, `ConsumerDead`) and publishes this
    /// stripe's drops to `log` when the counter it increments last reaches a
    /// multiple of the block, or at once with [`Publish::Now`] (the cold
    /// paths, which can run after the last sweep: see
    /// `ProducerSide::count_drop_and_publish`). Hands each warning publishing
    /// produced to `warn`.
    #[inline(always)]
    pub(crate) fn add_dropped(
        &self,
        reason: DropReason,
        log: &DropLog,
        publish: Publish,
        warn: impl FnMut(DropWarning),
    ) {
        if publish == Publish::Now || self.add_dropped_within_block(reason, log) == BlockDrop::Cold {
            self.add_dropped_cold(reason, log, publish, warn);
        }
    }

    /// The common case of a [`Publish::OnBlock`] drop, inline: counts it if
    /// this thread owns its stripe and the drop completes no block of
    /// `log`'s, and says whether it did; if not, the caller counts it with
    /// `add_dropped_cold`. The stripe is the thread's slot value masked,
    /// and the mask's zero flag sends a drop on the overflow stripe (a
    /// thread's first count, before it has a slot, too) to the cold path. A
    /// `QueueFull` drop increments its reason's count only, any other
    /// reason also the stripe's `drops_besides_queue_full`.
    #[inline(always)]
    pub(crate) fn add_dropped_within_block(&self, reason: DropReason, log: &DropLog) -> BlockDrop {
        // Under loom the one stripe is the overflow stripe: every drop
        // takes the cold path.
        #[cfg(loom)]
        {
            let _ = (reason, log);
            BlockDrop::Cold
        }
        #[cfg(not(loom))]
        {
            let base = slot::stripe_base();
            if base == OVERFLOW {
                return BlockDrop::Cold;
            }
            // An owned stripe: this thread is its only writer.
            let last = match reason {
                DropReason::QueueFull => self.hot_word(base, word::DROPPED + reason.index()),
                _ => self.hot_word(base, word::DROPS_BESIDES_QUEUE_FULL),
            };
            let next = last.load(Ordering::Relaxed).wrapping_add(1);
            // The log's mask is a plain field: tested in memory, no load of
            // its own.
            if next & log.block_mask() == 0 {
                return BlockDrop::Cold;
            }
            if reason != DropReason::QueueFull {
                increment_owned(self.hot_word(base, word::DROPPED + reason.index()));
            }
            last.store(next, Ordering::Relaxed);
            BlockDrop::Counted
        }
    }

    /// The rest of `add_dropped`: a thread's first count (it leases a slot
    /// then), the shared overflow stripe (`fetch_add`), a completed block or
    /// [`Publish::Now`] (publish).
    #[cold]
    #[inline(never)]
    pub(crate) fn add_dropped_cold(
        &self,
        reason: DropReason,
        log: &DropLog,
        publish: Publish,
        warn: impl FnMut(DropWarning),
    ) {
        let (stripe, owned) = self.stripe();
        let increment = |counter: &AtomicU64| {
            if owned {
                increment_owned(counter)
            } else {
                counter.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
            }
        };
        let count = increment(stripe.dropped(reason));
        let last = match reason {
            DropReason::QueueFull => count,
            _ => increment(stripe.word(word::DROPS_BESIDES_QUEUE_FULL)),
        };
        // The block is a power of two: one mask test, and `published` is
        // not read on the drop path. On the shared overflow stripe every
        // value of each counter is returned to exactly one thread, so each
        // multiple still triggers exactly one publish.
        if last & log.block_mask() == 0 || publish == Publish::Now {
            stripe.publish(log, Some(reason), warn);
        }
    }

    /// Publishes every stripe's unpublished drops (the consumer loop,
    /// `health` and `close` call this), handing each warning to `warn`.
    pub(crate) fn publish_all(&self, log: &DropLog, mut warn: impl FnMut(DropWarning)) {
        for stripe in self.stripes() {
            if stripe.logged() != stripe.word(word::PUBLISHED).load(Ordering::Relaxed) {
                stripe.publish(log, None, &mut warn);
            }
        }
    }

    /// Sum of filtered events. Exact once producers are quiescent; during a
    /// run, a value some producer increments may be missed by one.
    pub(crate) fn filtered(&self) -> u64 {
        // Relaxed: a statistic; exactness after close comes from the
        // happens-before the caller has with the producers (join, or the
        // emits it made itself).
        self.stripes().map(|s| s.word(word::FILTERED).load(Ordering::Relaxed)).sum()
    }

    /// Sum of events dropped for `reason` on the producer side.
    pub(crate) fn dropped(&self, reason: DropReason) -> u64 {
        self.stripes().map(|s| s.dropped(reason).load(Ordering::Relaxed)).sum()
    }

    /// This thread's stripe, and whether it owns it (`false`: the shared
    /// overflow stripe).
    #[inline(always)]
    fn stripe(&self) -> (Stripe<'_>, bool) {
        let index = slot::current();
        (self.stripe_at(index), index != OVERFLOW)
    }
}

/// Adds one to a counter of an owned stripe and returns the new value.
/// Single writer (this thread owns the slot), so a load and a store cannot
/// lose an increment. Relaxed: readers only sum, and publishing claims
/// through `published`.
#[inline(always)]
fn increment_owned(counter: &AtomicU64) -> u64 {
    let next = counter.load(Ordering::Relaxed).wrapping_add(1);
    counter.store(next, Ordering::Relaxed);
    next
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_and_published_drops_are_exact_across_many_threads_including_overflow() {
        let interval = 100;
        let log = Arc::new(DropLog::new(interval));
        let counters = Arc::new(ProducerCounters::new());
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
                        counters.add_dropped(DropReason::QueueFull, &log, Publish::OnBlock, |w| {
                            marks.push(w.mark)
                        });
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

    /// The warnings one drop produced.
    fn drop_one(
        counters: &ProducerCounters,
        log: &DropLog,
        reason: DropReason,
        publish: Publish,
    ) -> Vec<DropWarning> {
        let mut warnings = Vec::new();
        counters.add_dropped(reason, log, publish, |w| warnings.push(w));
        warnings
    }

    #[test]
    fn publish_now_publishes_a_single_drop_at_once() {
        let log = DropLog::new(1);
        let counters = ProducerCounters::new();
        let w = drop_one(&counters, &log, DropReason::Closed, Publish::Now);
        assert_eq!(w.len(), 1, "interval 1 warns at once");
        assert_eq!((w[0].mark, w[0].total, w[0].reason), (1, 1, Some(DropReason::Closed)));
    }

    #[test]
    fn a_block_is_published_when_the_count_reaches_its_multiple() {
        // Interval 6: blocks of 4 (the largest power of two <= 6).
        let log = DropLog::new(6);
        let counters = ProducerCounters::new();
        for _ in 0..7 {
            // The 4th drop publishes 4: total 4, no mark crossed yet.
            assert_eq!(drop_one(&counters, &log, DropReason::QueueFull, Publish::OnBlock), vec![]);
        }
        // The 8th publishes 4 more: total 8 crosses 6. A block of several
        // drops has no single reason.
        let w = drop_one(&counters, &log, DropReason::QueueFull, Publish::OnBlock);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].mark, w[0].total, w[0].since_last_warning, w[0].reason), (6, 8, 6, None));
        // A sweep with nothing unpublished warns nothing.
        counters.publish_all(&log, |w| panic!("nothing to publish: {w:?}"));
    }

    #[test]
    fn a_claim_never_spans_more_than_one_block() {
        // Many unpublished drops on one stripe (as on the shared overflow
        // stripe, where the counts run ahead of the claims): a sweep claims
        // them block by block, so each mark gets its own warning.
        let log = DropLog::new(1);
        let counters = ProducerCounters::new();
        let overflow = counters.stripe_at(OVERFLOW);
        overflow.dropped(DropReason::QueueFull).store(3, Ordering::Relaxed);
        overflow.word(word::DROPS_BESIDES_QUEUE_FULL).store(2, Ordering::Relaxed);
        let mut marks = Vec::new();
        counters.publish_all(&log, |w| {
            assert_eq!(w.since_last_warning, 1, "one crossing per warning: {w:?}");
            marks.push(w.mark);
        });
        assert_eq!(marks, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn mixed_reasons_are_counted_exactly_and_published_once() {
        // Interval 8: blocks of 8. `QueueFull` drops complete blocks of their
        // own count, the other reasons blocks of theirs; whatever the blocks
        // leave, a sweep publishes, and every drop is published once.
        let log = DropLog::new(8);
        let counters = ProducerCounters::new();
        let reasons =
            [DropReason::QueueFull, DropReason::Overwritten, DropReason::QueueFull, DropReason::Closed];
        let mut marks = Vec::new();
        for i in 0..101 {
            let reason = reasons[i % reasons.len()];
            counters.add_dropped(reason, &log, Publish::OnBlock, |w| marks.push(w.mark));
        }
        counters.publish_all(&log, |w| marks.push(w.mark));
        assert_eq!(counters.dropped(DropReason::QueueFull), 51);
        assert_eq!(counters.dropped(DropReason::Overwritten), 25);
        assert_eq!(counters.dropped(DropReason::Closed), 25);
        assert_eq!(counters.dropped(DropReason::Disabled), 0);
        // The marks 8, 16, .., 96 each once: 101 drops published exactly.
        marks.sort_unstable();
        assert_eq!(marks, (1..=12).map(|k| k * 8).collect::<Vec<u64>>());
        let mut last = Vec::new();
        for _ in 0..3 {
            counters.add_dropped(DropReason::QueueFull, &log, Publish::Now, |w| last.push(w.mark));
        }
        assert_eq!(last, vec![104], "the 104th drop crosses the next mark");
    }
}
