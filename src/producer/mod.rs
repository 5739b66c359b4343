//! The producer side: everything `emit` touches, and nothing else.
//!
//! [`ProducerSide`] holds the control word (filter, admission, policy), the
//! ring, the striped producer counters, the drop log they publish to, the
//! blocked-producer waiters and the consumer's doorbell that a producer about
//! to wait rings. Producers write the ring, their counter stripes and (when
//! the ring is full) the full hint; the consumer and the control plane write
//! the control word's admission and settings (`emit.rs` is the hot path).

use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::consumer::doorbell::Doorbell;
use crate::consumer::drop_log::{self, DropLog};
use crate::ring::Ring;
use crate::{Backpressure, Config, DropReason};

mod control;
mod counters;
mod emit;
mod slot;
mod waiters;

pub(crate) use control::{Admission, Control, ControlWord};
pub(crate) use counters::{BlockDrop, ProducerCounters, Publish};
pub(crate) use waiters::{WaitOutcome, Waiters};

/// Which backpressure policies a producer's wait for room lasts under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitScope {
    /// While the policy stays this one: a change ends the wait, and the
    /// event is handled again under the new policy (C14).
    WhilePolicyIs(Backpressure),
    /// Under any policy (a critical event's rescue after an eviction).
    AnyPolicy,
}

impl WaitScope {
    /// Whether a wait in this scope continues under `policy`.
    #[inline]
    fn admits(self, policy: Backpressure) -> bool {
        match self {
            WaitScope::WhilePolicyIs(p) => p == policy,
            WaitScope::AnyPolicy => true,
        }
    }
}

/// What every `emit` reads and what producers write.
///
/// `repr(C)`, in this order, so that no field `emit` counts in sits at the
/// start: the counters there share their address with `self`, which LLVM
/// then keeps in a register of its own on the filtered and drop paths (one
/// `lea` more each, measured in benches/user-crate).
#[repr(C)]
pub(crate) struct ProducerSide<E> {
    /// Read by every `emit`; written rarely. Padded, so that the consumer's
    /// writes to neighbouring fields (heartbeat, ledger, locks) do not evict
    /// it from the producers' caches.
    pub(crate) control: CachePadded<Control>,
    /// Padded for the same reason: `ArrayQueue` pads its head and tail, but
    /// the read-only fields after them (buffer, capacity) that every push
    /// reads would otherwise share a line with consumer-written fields.
    pub(crate) ring: CachePadded<Ring<E>>,
    /// Filtered and dropped counts, one stripe per producer thread.
    pub(crate) counters: ProducerCounters,
    /// The drop warnings (C4): producers publish their drops to it in
    /// blocks, the consumer its own drops as they happen.
    pub(crate) drop_log: DropLog,
    /// Producers waiting for room (`Block`, `BlockFor`, critical events).
    pub(crate) waiters: Waiters,
    /// The consumer's doorbell. A producer about to wait for room rings it;
    /// so do flush, close and exporter changes.
    pub(crate) doorbell: Doorbell,
    /// Longest wait for room for a critical event (`Config::critical_wait`).
    pub(crate) critical_wait: Duration,
}

impl<E> ProducerSide<E> {
    /// The ring, counters and control word for `config`, admission open.
    pub(crate) fn new(config: &Config) -> Self {
        let drop_log = DropLog::new(config.drop_log_interval);
        ProducerSide {
            control: CachePadded::new(Control::new(ControlWord::new(
                Admission::Open,
                config.granularity,
                config.backpressure,
            ))),
            ring: CachePadded::new(Ring::new(config.capacity)),
            counters: ProducerCounters::new(),
            drop_log,
            waiters: Waiters::default(),
            doorbell: Doorbell::default(),
            critical_wait: config.critical_wait,
        }
    }

    /// Closes admission (unless the consumer is dead, which stays the reason
    /// for later drops).
    pub(crate) fn close_admission(&self) {
        self.control.update(|w| match w.admission() {
            Admission::ConsumerDead => w,
            Admission::Open | Admission::Closed | Admission::Disabled => w.with_admission(Admission::Closed),
        });
    }

    /// Counts an event dropped before it entered the ring (or evicted from
    /// it), and logs a warning when publishing this thread's drops crosses
    /// the interval (C4; see `counters.rs` for the blocks).
    #[inline(always)]
    pub(crate) fn count_drop(&self, reason: DropReason) {
        if self.counters.add_dropped_within_block(reason, &self.drop_log) == BlockDrop::Cold {
            self.count_drop_cold(reason);
        }
    }

    /// The rest of `count_drop`, out of line. A method of `ProducerSide`,
    /// not of the counters: the call then passes the pointer `emit` already
    /// has, and LLVM keeps no second base address in a register on the hot
    /// path (measured in benches/user-crate).
    #[cold]
    #[inline(never)]
    fn count_drop_cold(&self, reason: DropReason) {
        self.counters.add_dropped_cold(reason, &self.drop_log, Publish::OnBlock, drop_log::log_warning);
    }

    /// As `count_drop`, and publishes this thread's drops at once. For the
    /// cold paths that can run after the last sweep: rejections after close
    /// or death, and waits that close ended (a timed-out `BlockFor`, a
    /// critical event that could not be rescued).
    ///
    /// One hot-path case remains: a `Drop`-mode emit that read the admission
    /// as open just before `close` began can count its drop after close's
    /// sweep; it is published by that thread's next block or cold drop, or
    /// by the next `health()`, just as its count reaches `Health` only then.
    #[cold]
    pub(crate) fn count_drop_and_publish(&self, reason: DropReason) {
        self.counters.add_dropped(reason, &self.drop_log, Publish::Now, drop_log::log_warning);
    }

    /// Counts an event refused before it entered the ring, outside the drop
    /// log: for the `tracing` integration's `OwnThread` records, which are
    /// often a drop warning itself coming back to the layer (on the
    /// consumer's thread, or re-entering a producer's emit). Warning about
    /// them would raise one more each time. They count in `Health` at once.
    #[cfg(all(feature = "tracing", not(loom)))]
    pub(crate) fn count_drop_unlogged(&self, reason: DropReason) {
        self.counters.add_dropped_unlogged(reason);
    }

    /// Publishes every producer's unpublished drops to the drop log, logging
    /// any warning on this thread (the consumer's step, `Telemetry::health`,
    /// and `close` before it takes the report lock).
    pub(crate) fn publish_drops(&self) {
        self.counters.publish_all(&self.drop_log, drop_log::log_warning);
    }
}
