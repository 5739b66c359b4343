//! The state every handle and the consumer thread share, split by who
//! writes it: the producer side ([`ProducerSide`]: the ring, the control
//! word, the producers' counters), the consumer's accounts ([`Accounting`]:
//! ledger, heartbeat, lifecycle, total failure) and the control plane
//! ([`ControlPlane`]: flush and close requests, exporter changes, handles).
//! [`Shared::health`] reads all three.

use crate::consumer::accounting::{Accounting, Lifecycle};
use crate::consumer::close::CloseSync;
use crate::consumer::flush::FlushSync;
use crate::dispatch::roster::Roster;
use crate::health::{ConsumerState, DroppedCounts, Health};
use crate::producer::ProducerSide;
#[cfg(feature = "fault-injection")]
use crate::sync::AtomicBool;
use crate::sync::{AtomicUsize, StdArc};
use crate::{Clock, Config, DropReason, Timestamp};

/// What the handles write and the consumer answers.
#[derive(Debug)]
pub(crate) struct ControlPlane<E> {
    /// The flush handshake (C6).
    pub(crate) flush: FlushSync,
    /// The close handshake (C7).
    pub(crate) close: CloseSync,
    /// Exporter-set changes and the exporters `Health` shows (C14).
    pub(crate) roster: Roster<E>,
    /// Live `Telemetry` handles; the last one to drop closes.
    pub(crate) handles: AtomicUsize,
}

pub(crate) struct Shared<E> {
    /// Written by producers; read by every `emit`.
    pub(crate) producer: ProducerSide<E>,
    /// Written by the consumer.
    pub(crate) accounting: Accounting,
    /// Written by the handles.
    pub(crate) control_plane: ControlPlane<E>,
    pub(crate) clock: StdArc<dyn Clock>,
    /// Validated at start; never changes (granularity and backpressure live
    /// in the control word from then on).
    pub(crate) config: Config,
    /// Test hooks (`fault-injection`): the consumer panics at its next
    /// step; the next exporter worker spawn fails.
    #[cfg(feature = "fault-injection")]
    pub(crate) inject_panic: AtomicBool,
    #[cfg(feature = "fault-injection")]
    pub(crate) inject_spawn_failure: AtomicBool,
}

impl<E> std::fmt::Debug for Shared<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("control", &self.producer.control.load())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<E> Shared<E> {
    /// `config` must be validated.
    pub(crate) fn new(config: &Config, clock: StdArc<dyn Clock>) -> Self {
        Shared {
            producer: ProducerSide::new(config),
            accounting: Accounting::default(),
            control_plane: ControlPlane {
                flush: FlushSync::default(),
                close: CloseSync::default(),
                roster: Roster::default(),
                handles: AtomicUsize::new(1),
            },
            clock,
            config: config.clone(),
            #[cfg(feature = "fault-injection")]
            inject_panic: AtomicBool::new(false),
            #[cfg(feature = "fault-injection")]
            inject_spawn_failure: AtomicBool::new(false),
        }
    }

    /// The address identifying this telemetry (for re-entrancy checks).
    pub(crate) fn id(&self) -> usize {
        self as *const Self as usize
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Records the consumer's heartbeat.
    pub(crate) fn beat(&self) {
        self.accounting.beat(self.now());
    }

    /// A snapshot of every count (see [`Health`] for its consistency).
    pub(crate) fn health(&self) -> Health {
        let producer = &self.producer;
        // Under the ledger's lock, so no event is between the ring and the
        // ledger (see `Ledger::take_popped`).
        let (ledger, ring_len) = self.accounting.ledger.counts_with(|| producer.ring.len());
        let (queue_len, residual) = match ledger.terminal {
            Some(_) => (0, ring_len as u64),
            None => (ring_len, 0),
        };
        // Each producer-side counter is read once, so the sums below agree.
        let dropped_early: [u64; DropReason::COUNT] = DropReason::ALL.map(|r| producer.counters.dropped(r));
        let filtered = producer.counters.filtered();
        let (truncated_fields, truncated_bytes) = producer.counters.truncated();
        let mut dropped = [0u64; DropReason::COUNT];
        for reason in DropReason::ALL {
            dropped[reason.index()] = dropped_early[reason.index()] + ledger.dropped(reason);
        }
        // Broken twin for the loom suite: forget the residual. An emit that
        // read "open" just before close and pushed after the consumer's final
        // drain is then accepted but never counted (C1).
        #[cfg(not(ringtel_broken = "close_skip_residual"))]
        if let Some(terminal) = ledger.terminal {
            dropped[terminal.residual_reason().index()] += residual;
        }
        let overwritten = dropped_early[DropReason::Overwritten.index()];
        // Dropped before entering the ring: everything on the producer side
        // except evictions, which were accepted first.
        let rejected: u64 = dropped_early.iter().sum::<u64>() - overwritten;
        let accepted = ledger.taken + overwritten + ring_len as u64;
        let dropped = DroppedCounts(dropped);
        let control = producer.control.load();
        let taken_at = self.now();
        Health {
            offered: filtered + accepted + rejected,
            filtered,
            accepted,
            delivered: ledger.delivered,
            dropped_total: dropped.total(),
            dropped,
            truncated_fields,
            truncated_bytes,
            in_flight: ledger.in_flight(),
            queue_len,
            capacity: producer.ring.capacity(),
            blocked_producers: producer.waiters.count(),
            granularity: control.granularity(),
            backpressure: control.backpressure(),
            consumer: match self.accounting.lifecycle() {
                Lifecycle::Starting | Lifecycle::Running => ConsumerState::Running,
                Lifecycle::Stopped => ConsumerState::Stopped,
                Lifecycle::Dead(message) => ConsumerState::Dead { message },
            },
            last_heartbeat: self.accounting.heartbeat(),
            taken_at,
            exporters: self.control_plane.roster.snapshot(),
            total_failure: self.accounting.total_failure(),
        }
    }
}
