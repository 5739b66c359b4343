//! State shared by every handle and the consumer thread.

use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::control::{Admission, Control, ControlWord};
use crate::counters::ProducerCounters;
use crate::dispatch::{DispatchSettings, ExporterOptions, ExporterStats};
use crate::drop_log::{self, DropLog};
use crate::error::{CloseError, CloseReport};
use crate::flush::FlushSync;
use crate::health::{ConsumerState, DroppedCounts, ExporterId, Health};
use crate::ledger::{Ledger, Terminal};
use crate::ring::Ring;
use crate::sync::{
    lock, wait, wait_timeout, Arc, AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering, StdArc,
};
use crate::wake::{Doorbell, Waiters};
use crate::{
    BreakerConfig, Clock, Config, DropReason, Exporter, Timestamp, TotalFailure, TotalFailurePolicy,
};

/// Settings fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) capacity: usize,
    /// `min(batch_size, capacity)`.
    pub(crate) batch_size: usize,
    pub(crate) critical_wait: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) idle_min: Duration,
    pub(crate) idle_max: Duration,
    pub(crate) start_timeout: Duration,
    pub(crate) export_timeout: Duration,
    pub(crate) breaker: BreakerConfig,
    pub(crate) total_failure_threshold: u64,
    pub(crate) on_total_failure: TotalFailurePolicy,
}

impl Settings {
    pub(crate) fn from_config(config: &Config) -> Self {
        Settings {
            capacity: config.capacity,
            batch_size: config.batch_size.min(config.capacity),
            critical_wait: config.critical_wait,
            close_timeout: config.close_timeout,
            idle_min: config.consumer_idle_min,
            idle_max: config.consumer_idle_max,
            start_timeout: config.start_timeout,
            export_timeout: config.export_timeout,
            breaker: config.breaker,
            total_failure_threshold: config.total_failure_threshold,
            on_total_failure: config.on_total_failure,
        }
    }
}

/// The consumer thread's lifecycle, for the start handshake and `Health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    Starting,
    Running,
    Stopped,
    Dead(String),
}

/// An exporter-set change for the consumer.
pub(crate) enum Command<E> {
    Add { id: ExporterId, exporter: Box<dyn Exporter<E>>, options: ExporterOptions },
    Remove(ExporterId),
}

/// Marks "no heartbeat yet" in [`Shared::heartbeat`].
const NO_HEARTBEAT: u64 = u64::MAX;

pub(crate) struct Shared<E> {
    /// Read by every `emit`; written rarely. Padded, so that the consumer's
    /// writes to neighbouring fields (heartbeat, ledger, locks) do not evict
    /// it from the producers' caches.
    pub(crate) control: CachePadded<Control>,
    /// Padded for the same reason: `ArrayQueue` pads its head and tail, but
    /// the read-only fields after them (buffer, capacity) that every push
    /// reads would otherwise share a line with consumer-written fields.
    pub(crate) ring: CachePadded<Ring<E>>,
    pub(crate) counters: ProducerCounters,
    pub(crate) drop_log: DropLog,
    pub(crate) waiters: Waiters,
    pub(crate) doorbell: Doorbell,
    pub(crate) flush: FlushSync,
    pub(crate) ledger: Ledger,
    /// Set once by `close` (Release) after admission closed; the consumer's
    /// Acquire load tells it to drain, flush, close and finish.
    pub(crate) close_requested: AtomicBool,
    /// Clock nanos of the consumer's last loop iteration; written only by the
    /// consumer. Relaxed: a statistic.
    heartbeat: AtomicU64,
    lifecycle: Mutex<Lifecycle>,
    lifecycle_changed: Condvar,
    /// Every exporter's statistics, for `Health`; changed by the consumer as
    /// exporters are added and removed.
    pub(crate) exporters: Mutex<Vec<Arc<ExporterStats>>>,
    /// Exporter-set changes for the consumer to apply (C14).
    /// `None` once the consumer has begun its final close: later additions
    /// are closed at once by the caller instead of being queued forever.
    pub(crate) commands: Mutex<Option<Vec<Command<E>>>>,
    /// The next exporter id; ids are never reused.
    pub(crate) next_exporter_id: AtomicU64,
    /// Set when the `Fail` total-failure policy fires; cleared by the
    /// consumer only when an export succeeds again (C9), never by a read.
    pub(crate) total_failure: Mutex<Option<TotalFailure>>,
    pub(crate) clock: StdArc<dyn Clock>,
    pub(crate) settings: Settings,
    /// Live `Telemetry` handles; the last one to drop closes.
    pub(crate) handles: AtomicUsize,
    /// The first close's outcome, returned by every later close.
    report: Mutex<Option<Result<CloseReport, CloseError>>>,
    #[cfg(feature = "fault-injection")]
    pub(crate) inject_panic: AtomicBool,
}

impl<E> std::fmt::Debug for Shared<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("control", &self.control.load())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<E> Shared<E> {
    pub(crate) fn new(config: &Config, clock: StdArc<dyn Clock>) -> Self {
        Shared {
            control: CachePadded::new(Control::new(ControlWord::new(
                Admission::Open,
                config.granularity,
                config.backpressure,
            ))),
            ring: CachePadded::new(Ring::new(config.capacity)),
            counters: ProducerCounters::new(),
            drop_log: DropLog::new(config.drop_log_interval),
            waiters: Waiters::default(),
            doorbell: Doorbell::default(),
            flush: FlushSync::default(),
            ledger: Ledger::default(),
            close_requested: AtomicBool::new(false),
            heartbeat: AtomicU64::new(NO_HEARTBEAT),
            lifecycle: Mutex::new(Lifecycle::Starting),
            lifecycle_changed: Condvar::new(),
            exporters: Mutex::new(Vec::new()),
            commands: Mutex::new(Some(Vec::new())),
            next_exporter_id: AtomicU64::new(0),
            total_failure: Mutex::new(None),
            clock,
            settings: Settings::from_config(config),
            handles: AtomicUsize::new(1),
            report: Mutex::new(None),
            #[cfg(feature = "fault-injection")]
            inject_panic: AtomicBool::new(false),
        }
    }

    /// What the exporter dispatcher needs to know.
    pub(crate) fn dispatch_settings(&self) -> DispatchSettings {
        DispatchSettings {
            batch_size: self.settings.batch_size,
            idle_max: self.settings.idle_max,
            breaker: self.settings.breaker,
            export_timeout: self.settings.export_timeout,
        }
    }

    /// A fresh exporter id.
    pub(crate) fn allocate_exporter_id(&self) -> ExporterId {
        // Relaxed: only uniqueness matters.
        ExporterId(self.next_exporter_id.fetch_add(1, Ordering::Relaxed))
    }

    /// The address identifying this telemetry (for re-entrancy checks).
    pub(crate) fn id(&self) -> usize {
        self as *const Self as usize
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn beat(&self) {
        self.heartbeat.store(self.now().as_nanos().min(NO_HEARTBEAT - 1), Ordering::Relaxed);
    }

    pub(crate) fn set_lifecycle(&self, next: Lifecycle) {
        let mut lifecycle = lock(&self.lifecycle);
        // Dead is final: a late "Stopped" must not hide a death.
        if !matches!(*lifecycle, Lifecycle::Dead(_)) {
            *lifecycle = next;
        }
        drop(lifecycle);
        self.lifecycle_changed.notify_all();
    }

    pub(crate) fn lifecycle(&self) -> Lifecycle {
        lock(&self.lifecycle).clone()
    }

    /// Waits until the consumer leaves `Starting`, at most `timeout`.
    pub(crate) fn wait_started(&self, timeout: Duration) -> Lifecycle {
        let deadline = Instant::now() + timeout;
        let mut lifecycle = lock(&self.lifecycle);
        while *lifecycle == Lifecycle::Starting {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            lifecycle = if cfg!(loom) {
                wait(&self.lifecycle_changed, lifecycle)
            } else {
                wait_timeout(&self.lifecycle_changed, lifecycle, deadline - now)
            };
        }
        lifecycle.clone()
    }

    /// Closes admission (unless the consumer is dead, which stays the reason
    /// for later drops), asks the consumer to finish, and wakes every blocked
    /// producer so it sees the change.
    pub(crate) fn begin_close(&self) {
        self.control.update(|w| match w.admission() {
            Admission::ConsumerDead => w,
            Admission::Open | Admission::Closed | Admission::Disabled => w.with_admission(Admission::Closed),
        });
        self.close_requested.store(true, Ordering::Release);
        self.doorbell.ring();
        // Broken twin for the loom suite: no wake-up on close. A producer
        // blocked on a ring the consumer cannot drain (a hung exporter)
        // then waits forever (C7).
        #[cfg(not(ringtel_broken = "close_no_wake"))]
        self.waiters.wake_all();
    }

    /// Counts an event dropped before it entered the ring (or evicted from
    /// it), and logs a warning when publishing this thread's drops crosses
    /// the interval (C4; see `counters.rs` for the blocks).
    #[inline(always)]
    pub(crate) fn count_drop(&self, reason: DropReason) {
        self.counters.add_dropped(reason, &self.drop_log, false, drop_log::log_warning);
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
        self.counters.add_dropped(reason, &self.drop_log, true, drop_log::log_warning);
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

    /// Returns the first close's outcome, computing it from the current
    /// health if this is the first close to finish.
    pub(crate) fn close_outcome(&self, terminal: Terminal) -> Result<CloseReport, CloseError> {
        // Before the lock: publishing may log, and a tracing subscriber
        // that closes this telemetry must not find the lock held.
        self.publish_drops();
        let mut cached = lock(&self.report);
        if let Some(outcome) = cached.as_ref() {
            return outcome.clone();
        }
        let health = self.health();
        let failure = health.total_failure;
        let report = CloseReport { health: Box::new(health) };
        let outcome = match terminal {
            Terminal::Closed => match failure {
                None => Ok(report),
                Some(failure) => Err(CloseError::TotalFailure { failure, report }),
            },
            Terminal::TimedOut => Err(CloseError::Timeout { report }),
            Terminal::ConsumerDead => Err(CloseError::ConsumerDead { report }),
        };
        *cached = Some(outcome.clone());
        outcome
    }

    /// A snapshot of every count (see [`Health`] for its consistency).
    pub(crate) fn health(&self) -> Health {
        // Under the ledger's lock, so no event is between the ring and the
        // ledger (see `Ledger::take_popped`).
        let (ledger, ring_len) = self.ledger.counts_with(|| self.ring.len());
        let (queue_len, residual) = match ledger.terminal {
            Some(_) => (0, ring_len as u64),
            None => (ring_len, 0),
        };
        // Each producer-side counter is read once, so the sums below agree.
        let producer: [u64; DropReason::COUNT] = DropReason::ALL.map(|r| self.counters.dropped(r));
        let filtered = self.counters.filtered();
        let (truncated_fields, truncated_bytes) = self.counters.truncated();
        let mut dropped = [0u64; DropReason::COUNT];
        for reason in DropReason::ALL {
            dropped[reason.index()] = producer[reason.index()] + ledger.dropped(reason);
        }
        // Broken twin for the loom suite: forget the residual. An emit that
        // read "open" just before close and pushed after the consumer's final
        // drain is then accepted but never counted (C1).
        #[cfg(not(ringtel_broken = "close_skip_residual"))]
        if let Some(terminal) = ledger.terminal {
            dropped[terminal.residual_reason().index()] += residual;
        }
        let overwritten = producer[DropReason::Overwritten.index()];
        // Dropped before entering the ring: everything on the producer side
        // except evictions, which were accepted first.
        let rejected: u64 = producer.iter().sum::<u64>() - overwritten;
        let accepted = ledger.taken + overwritten + ring_len as u64;
        let dropped = DroppedCounts(dropped);
        let control = self.control.load();
        let heartbeat = self.heartbeat.load(Ordering::Relaxed);
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
            capacity: self.ring.capacity(),
            blocked_producers: self.waiters.count(),
            granularity: control.granularity(),
            backpressure: control.backpressure(),
            consumer: match self.lifecycle() {
                Lifecycle::Starting | Lifecycle::Running => ConsumerState::Running,
                Lifecycle::Stopped => ConsumerState::Stopped,
                Lifecycle::Dead(message) => ConsumerState::Dead { message },
            },
            last_heartbeat: (heartbeat != NO_HEARTBEAT).then(|| Timestamp::from_nanos(heartbeat)),
            taken_at,
            exporters: lock(&self.exporters).iter().map(|e| e.snapshot()).collect(),
            total_failure: *lock(&self.total_failure),
        }
    }
}
