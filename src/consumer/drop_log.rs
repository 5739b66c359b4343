//! Drop logging (C4): one warning each time the total dropped count crosses a
//! multiple of the interval, decided by a single atomic RMW so that no two
//! threads can claim the same crossing and none can be missed.
//!
//! The total counts *published* drops. The consumer publishes its own drops
//! (failed batches, shutdown) as they happen. Producers count their drops in
//! their own counter stripe with plain stores and publish them in blocks
//! (the largest power of two `<= min(interval, 512)`, see `counters.rs`);
//! sweeps by the consumer's step, `Telemetry::health` and `close` publish
//! what is left. Every drop is published exactly once, so every crossing of
//! the published total is warned exactly once; what changes is *when*: a
//! warning can come up to a block minus one drops per producer thread late,
//! and the last drops before a pause wait for the next sweep (the consumer
//! steps at least once per idle period, but not while it waits out an
//! exporter's `export_timeout`, nor after it died: then `health` or `close`).
//! Cold paths that can run after the last sweep (rejections after close or
//! death, waits that close ended) publish at once.

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering};
use crate::DropReason;

/// The largest block in which producers publish drops: one shared RMW per
/// 512 drops instead of one per drop, and a warning at most 511 drops per
/// producer thread late (the counts in `Health` are exact at once). At 64,
/// publishing cost the `Drop` policy's hot path two instructions per drop
/// on average (benches/user-crate).
const PRODUCER_BLOCK: u64 = 512;

/// One warning's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DropWarning {
    /// Drops between the previous warning's mark and this one's: the number
    /// of interval multiples this record crossed, times the interval.
    pub(crate) since_last_warning: u64,
    /// The highest multiple of the interval crossed (the mark this warning
    /// stands for).
    pub(crate) mark: u64,
    /// The published dropped total right after the record that crossed the
    /// mark. It can lag `Health::dropped_total` by the producers' drops not
    /// yet published.
    pub(crate) total: u64,
    /// The reason of the drops published by the record that crossed the
    /// mark, or `None` for a claim of several producer drops (possibly of
    /// mixed reasons).
    pub(crate) reason: Option<DropReason>,
}

/// The shared dropped total and the crossing rule.
#[derive(Debug)]
pub(crate) struct DropLog {
    /// Every published drop, any reason, any thread. Written by `fetch_add`
    /// only: once per producer block or sweep claim, once per consumer-side
    /// record (failed batch, shutdown).
    total: CachePadded<AtomicU64>,
    /// Fixed at start; `>= 1` (validated).
    interval: u64,
    /// Producers publish their drops whenever their count reaches a multiple
    /// of `block_mask + 1`, a power of two `<= interval` (so one block
    /// crosses at most one mark).
    block_mask: u64,
}

impl DropLog {
    pub(crate) fn new(interval: u64) -> Self {
        debug_assert!(interval >= 1);
        let interval = interval.max(1);
        let block = 1 << interval.min(PRODUCER_BLOCK).ilog2();
        DropLog { total: CachePadded::new(AtomicU64::new(0)), interval, block_mask: block - 1 }
    }

    /// A producer publishes when its drop count is a multiple of
    /// `block_mask + 1` (a power of two, `1..=512`).
    #[inline(always)]
    pub(crate) fn block_mask(&self) -> u64 {
        self.block_mask
    }

    /// Records `count` drops and returns the warning to log if this record
    /// crossed one or more multiples of the interval.
    ///
    /// Relaxed suffices: the RMWs on `total` form one modification order, so
    /// each record sees a unique `[previous, previous + count)` range and
    /// exactly one record's range contains each multiple. No other data is
    /// published through `total`.
    #[inline]
    pub(crate) fn record(&self, count: u64, reason: Option<DropReason>) -> Option<DropWarning> {
        if count == 0 {
            return None;
        }
        #[cfg(not(ringtel_broken = "drop_log_check_then_act"))]
        let previous = self.total.fetch_add(count, Ordering::Relaxed);
        // Broken twin for the loom suite: read, then write back. Two threads
        // can read the same value, so a crossing is claimed twice or counts
        // are lost.
        #[cfg(ringtel_broken = "drop_log_check_then_act")]
        let previous = {
            let seen = self.total.load(Ordering::Relaxed);
            self.total.store(seen + count, Ordering::Relaxed);
            seen
        };
        let total = previous + count;
        let (before, after) = (previous / self.interval, total / self.interval);
        (after > before).then(|| DropWarning {
            since_last_warning: (after - before) * self.interval,
            mark: after * self.interval,
            total,
            reason,
        })
    }

    /// Records drops and logs the warning, if any, through `tracing`.
    #[inline]
    pub(crate) fn record_and_log(&self, count: u64, reason: Option<DropReason>) {
        if let Some(warning) = self.record(count, reason) {
            log_warning(warning);
        }
    }
}

#[cold]
pub(crate) fn log_warning(w: DropWarning) {
    tracing::warn!(
        target: "ringtel",
        dropped_since_last_warning = w.since_last_warning,
        dropped_mark = w.mark,
        dropped_total = w.total,
        reason = w.reason.map_or("producer drops", DropReason::as_str),
        "ringtel dropped {} events since the last warning ({} in total)",
        w.since_last_warning,
        w.total,
    );
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn single_steps_warn_at_every_multiple() {
        let log = DropLog::new(3);
        let warnings: Vec<_> = (0..10).filter_map(|_| log.record(1, Some(DropReason::QueueFull))).collect();
        assert_eq!(warnings.iter().map(|w| w.mark).collect::<Vec<_>>(), vec![3, 6, 9]);
        assert!(warnings.iter().all(|w| w.since_last_warning == 3));
    }

    #[test]
    fn a_batch_crossing_several_marks_warns_once_with_their_span() {
        let log = DropLog::new(100);
        assert_eq!(log.record(95, Some(DropReason::ExportFailed)), None);
        let w = log.record(260, Some(DropReason::ExportFailed)).unwrap();
        assert_eq!((w.since_last_warning, w.mark, w.total), (300, 300, 355));
        assert_eq!(log.record(0, Some(DropReason::ExportFailed)), None);
    }
}
