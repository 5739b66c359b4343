//! A window onto ringtel's protocol pieces for the loom models in
//! `loom-tests/`, compiled only under `--cfg loom`.
//!
//! The end-to-end models drive the public API (`Telemetry`); the protocol
//! models drive the crate-private types below directly, so that each
//! protocol is checked with as few threads and operations as it needs. Every
//! wrapper forwards to the production type unchanged: what loom checks here
//! is the code that ships, never a copy of it.
//!
//! Nothing here exists in a normal build, so it is no part of the API.

use std::time::Duration;

use crate::consumer::drop_log::DropLog as CoreDropLog;
use crate::consumer::ledger::{Ledger as CoreLedger, Terminal};
use crate::dispatch::BatchOutcome;
use crate::producer::{Admission, Control as CoreControl, ControlWord, ProducerCounters, Publish};
use crate::producer::{WaitOutcome, Waiters as CoreWaiters};
use crate::ring::Ring as CoreRing;
use crate::{Backpressure, DropReason, Granularity};

/// The drop-logging rule (C4), see `consumer/drop_log.rs`.
#[derive(Debug)]
pub struct DropLog(CoreDropLog);

/// One drop warning, as `DropLog::record` decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropWarning {
    /// Drops between the previous warning's mark and this one's.
    pub since_last_warning: u64,
    /// The highest multiple of the interval this record crossed.
    pub mark: u64,
    /// The dropped total right after this record.
    pub total: u64,
}

impl DropLog {
    /// A log warning once per `interval` drops.
    pub fn new(interval: u64) -> Self {
        DropLog(CoreDropLog::new(interval))
    }

    /// Records `count` drops; the warning to log, if this record crossed a mark.
    pub fn record(&self, count: u64) -> Option<DropWarning> {
        self.0.record(count, Some(DropReason::QueueFull)).map(|w| DropWarning {
            since_last_warning: w.since_last_warning,
            mark: w.mark,
            total: w.total,
        })
    }
}

/// Producer drop counting and its publication to the drop log (C4), see
/// `producer/counters.rs`: drops are counted per stripe and published in blocks,
/// each block claimed by a compare-exchange. Under loom every thread uses
/// the shared overflow stripe.
#[derive(Debug)]
pub struct ProducerDrops {
    counters: ProducerCounters,
    log: CoreDropLog,
}

impl ProducerDrops {
    /// Counters and a drop log warning once per `interval` drops
    /// (producers publish in blocks: a power of two `<= min(interval, 512)`).
    pub fn new(interval: u64) -> Self {
        let log = CoreDropLog::new(interval);
        ProducerDrops { counters: ProducerCounters::new(), log }
    }

    /// One producer-side drop; the warning, if publishing crossed a mark.
    pub fn drop_one(&self) -> Vec<DropWarning> {
        let mut warnings = Vec::new();
        self.counters.add_dropped(DropReason::QueueFull, &self.log, Publish::OnBlock, |w| {
            warnings.push(Self::warning(w))
        });
        warnings
    }

    /// A sweep (consumer loop, `health`, `close`): publishes every unpublished
    /// drop; the warnings it produced.
    pub fn sweep(&self) -> Vec<DropWarning> {
        let mut warnings = Vec::new();
        self.counters.publish_all(&self.log, |w| warnings.push(Self::warning(w)));
        warnings
    }

    fn warning(w: crate::consumer::drop_log::DropWarning) -> DropWarning {
        DropWarning { since_last_warning: w.since_last_warning, mark: w.mark, total: w.total }
    }
}

/// Admission as the control word holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionState {
    /// Events are admitted.
    Open,
    /// Close has begun.
    Closed,
    /// Disabled by the total-failure policy.
    Disabled,
    /// The consumer died.
    ConsumerDead,
}

/// A decoded control word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlView {
    /// Admission state.
    pub admission: AdmissionState,
    /// Granularity setting.
    pub granularity: Granularity,
    /// Backpressure policy.
    pub backpressure: Backpressure,
    /// The full-ring hint.
    pub full_hint: bool,
    /// The derived `drop_now` bit: a non-critical `emit` drops without a
    /// push if `is_full` says full (must equal admission open, the full
    /// hint set and the policy `Drop`).
    pub drop_now: bool,
}

/// The packed control word (C14), see `producer/control.rs`.
#[derive(Debug)]
pub struct Control(CoreControl);

impl Control {
    /// A word with admission open and the given settings.
    pub fn new(granularity: Granularity, backpressure: Backpressure) -> Self {
        Control(CoreControl::new(ControlWord::new(Admission::Open, granularity, backpressure)))
    }

    /// What `emit` reads: one load of the whole word.
    pub fn load(&self) -> ControlView {
        let word = self.0.load();
        ControlView {
            admission: match word.admission() {
                Admission::Open => AdmissionState::Open,
                Admission::Closed => AdmissionState::Closed,
                Admission::Disabled => AdmissionState::Disabled,
                Admission::ConsumerDead => AdmissionState::ConsumerDead,
            },
            granularity: word.granularity(),
            backpressure: word.backpressure(),
            full_hint: word.full_hint(),
            drop_now: word.open_full_dropping(),
        }
    }

    /// A hot reconfiguration of both settings in one `Control::update`.
    // TODO(C14): route through `Shared::set_granularity`/`set_backpressure`
    // once the reconfiguration API lands.
    pub fn reconfigure(&self, granularity: Granularity, backpressure: Backpressure) {
        self.0.update(|w| w.with_granularity(granularity).with_backpressure(backpressure));
    }

    /// Closes admission, as `ProducerSide::close_admission` does.
    pub fn close(&self) {
        self.0.update(|w| match w.admission() {
            Admission::ConsumerDead => w,
            Admission::Open | Admission::Closed | Admission::Disabled => w.with_admission(Admission::Closed),
        });
    }

    /// Sets the full-ring hint, as a producer finding the ring full does.
    pub fn set_full_hint(&self) {
        self.0.set_full_hint();
    }

    /// Clears the full-ring hint, as the consumer does after making room.
    pub fn clear_full_hint(&self) {
        self.0.clear_full_hint();
    }
}

/// How a taken batch ended, for [`Ledger::resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// The consumer resolved it.
    Counted,
    /// The ledger had been finished; the batch was counted by whoever finished it.
    AlreadyFinished,
}

/// A copy of the ledger's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerCounts {
    /// Events the consumer took.
    pub taken: u64,
    /// Delivered.
    pub delivered: u64,
    /// Failed on every exporter.
    pub export_failed: u64,
    /// Resolved by a timed-out close.
    pub shutdown_timeout: u64,
    /// Resolved by the death handler.
    pub consumer_dead: u64,
    /// Resolved by a normal close.
    pub closed: u64,
}

/// The consumer-side ledger (C1, C7), see `consumer/ledger.rs`.
#[derive(Debug, Default)]
pub struct Ledger(CoreLedger);

impl Ledger {
    /// An empty, unfinished ledger.
    pub fn new() -> Self {
        Ledger(CoreLedger::default())
    }

    /// The consumer took `count` events; false if the ledger was finished
    /// (the events were then counted under the terminal reason).
    pub fn take(&self, count: u64) -> bool {
        self.0.take(count).is_ok()
    }

    /// The consumer resolves `count` taken events: `delivered`, or failed
    /// on every exporter.
    pub fn resolve(&self, count: u64, delivered: bool) -> Resolved {
        let outcome = if delivered { BatchOutcome::Delivered } else { BatchOutcome::Failed };
        match self.0.resolve(count, outcome) {
            Ok(()) => Resolved::Counted,
            Err(_) => Resolved::AlreadyFinished,
        }
    }

    /// A close that hit its deadline finishes the ledger; returns how many
    /// in-flight events it resolved.
    pub fn finish_timed_out(&self) -> u64 {
        self.0.finish(Terminal::TimedOut).1
    }

    /// The consumer finishes the ledger after a normal close.
    pub fn finish_closed(&self) -> u64 {
        self.0.finish(Terminal::Closed).1
    }

    /// The counts.
    pub fn counts(&self) -> LedgerCounts {
        let c = self.0.counts();
        LedgerCounts {
            taken: c.taken,
            delivered: c.delivered,
            export_failed: c.export_failed,
            shutdown_timeout: c.shutdown_timeout,
            consumer_dead: c.consumer_dead,
            closed: c.closed,
        }
    }
}

/// How a blocking push ended, for [`BlockingRing::push_blocking`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockOutcome {
    /// The event is in the ring.
    Pushed,
    /// Admission closed while waiting; the event was handed back.
    Stopped,
}

/// The ring with its blocked-producer protocol (C2): `Waiters` around `Ring`,
/// wired the way `ProducerSide::wait_and_push` and `Consumer::drain` wire them.
#[derive(Debug)]
pub struct BlockingRing {
    ring: CoreRing<u32>,
    waiters: CoreWaiters,
    control: CoreControl,
}

impl BlockingRing {
    /// A ring of `capacity` events with admission open.
    pub fn new(capacity: usize) -> Self {
        BlockingRing {
            ring: CoreRing::new(capacity),
            waiters: CoreWaiters::default(),
            control: CoreControl::new(ControlWord::new(
                Admission::Open,
                Granularity::Full,
                Backpressure::Block,
            )),
        }
    }

    /// `Backpressure::Block`: pushes, waiting for room as long as admission is open.
    pub fn push_blocking(&self, event: u32) -> BlockOutcome {
        let event = match self.ring.push(event) {
            Ok(()) => return BlockOutcome::Pushed,
            Err(event) => event,
        };
        match self.waiters.wait_for_room(
            event,
            None,
            |e| self.ring.push(e),
            || self.control.load().admission() == Admission::Open,
        ) {
            WaitOutcome::Pushed => BlockOutcome::Pushed,
            WaitOutcome::Stopped(_) => BlockOutcome::Stopped,
            WaitOutcome::TimedOut(_) => unreachable!("no deadline was given"),
        }
    }

    /// The consumer's side: pops one event and, if it made room, wakes the
    /// waiters the way `Consumer::drain` does.
    pub fn pop(&self) -> Option<u32> {
        let event = self.ring.pop()?;
        self.waiters.wake_if_waiting();
        Some(event)
    }

    /// Closes admission and wakes every waiter, as `Shared::begin_close` does.
    pub fn close(&self) {
        self.control.update(|w| w.with_admission(Admission::Closed));
        self.waiters.wake_all();
    }

    /// Events in the ring.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Producers registered as waiting.
    pub fn waiting(&self) -> usize {
        self.waiters.count()
    }
}

/// One exporter's lifecycle state (`Health`'s `ExporterState`), see
/// `dispatch/state.rs`: an `Atomic<Phase>` and the hang's time, written by
/// the consumer and (final states) the worker, read by anyone. Under loom
/// `Atomic` is the shim's model (a loom `AtomicU8` with the same orderings).
#[derive(Debug, Default)]
pub struct ExporterStatus(crate::dispatch::StateCell);

impl ExporterStatus {
    /// `Active`.
    pub fn new() -> Self {
        ExporterStatus::default()
    }

    /// Moves to `state` unless the current one is final (`Closed`,
    /// `CloseFailed`), as `ExporterStats::set_state` does.
    pub fn set(&self, state: crate::ExporterState) {
        self.0.set(state);
    }

    /// The state, as `Health` reads it.
    pub fn get(&self) -> crate::ExporterState {
        self.0.get()
    }
}

/// Loom's untimed wait stands in for every timed wait; deadlines in the
/// end-to-end models are this long so that real time never decides an
/// interleaving.
pub const NEVER: Duration = Duration::from_secs(3_600);
