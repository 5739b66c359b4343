//! The `ops` harness: an arbitrary sequence of operations on a running
//! telemetry, checked against a reference model (C1, C2, C5, C6, C7, C8, C9,
//! C14).
//!
//! Shared, not copied: the `ops` fuzz target and `tests/fuzz_corpus.rs`
//! include this file with `#[path]`. It depends only on `ringtel` (with the
//! `fault-injection` feature), `arbitrary` and std.
//!
//! # How a run goes
//! The input decides a small configuration (capacity ≤ 16, batch ≤ 8, every
//! policy and granularity, breaker, export timeout and total-failure policy),
//! up to three logical producers (each a real thread fed commands over a
//! channel), up to three exporters whose behaviour the input controls (`Err`
//! or panic in `export`/`flush`/`close`, stall on a gate, release, recover), a
//! [`ManualClock`], and up to [`MAX_OPS`] operations: emits with every
//! granularity, flush, health, granularity and backpressure changes (valid
//! and invalid), clock moves (breaker cooldowns, hung exporters), exporter
//! faults, `add_exporter`/`remove_exporter`, close mid-run and consumer death.
//! It ends with a close: either clean (every gate opened first) or
//! deliberately while exporters may be stalled, with a short deadline, the
//! gates opening only afterwards.
//!
//! # What is checked
//! The consumer and the exporter workers are real threads, so which event a
//! full ring drops is timing; the model takes each `Emitted` returned by
//! `emit` as ground truth for the producer side and checks everything that
//! follows from it exactly:
//! - offered, filtered, accepted and the producer-side drop reasons equal the
//!   outcomes; delivered equals the distinct events some exporter accepted
//!   (exactly, unless a close timed out or an exporter may have been declared
//!   hung: then what it accepted after ringtel gave up on it is counted
//!   `shutdown_timeout` or `export_failed`, never twice);
//!   `offered = filtered + delivered + dropped_total` after close (C1);
//! - no exporter receives an event twice, or an event `emit` did not queue;
//!   each producer's events reach each exporter in emit order, except a
//!   lifecycle event that `DropOldest` rescued to the back of the ring (C5);
//! - a flush that confirms has handed every event queued before it to every
//!   exporter it does not name as failed (C6); flush and close return by
//!   their deadlines (C6, C7);
//! - every exporter's `close` runs exactly once and nothing runs after it;
//!   close is idempotent; its report is exact (C7); per-exporter failure,
//!   panic and flush-failure counts and the final state in `Health` equal
//!   what the exporters did (C9);
//! - outcomes follow the configuration in force (C2, C14); a removed
//!   exporter still gets what was queued before its removal (C14);
//! - nothing hangs: a producer either returns or is seen blocked, and every
//!   wait in the harness has a deadline.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use ringtel::{
    Backpressure, BreakerConfig, CloseError, CloseReport, ConsumerState, DropReason, Emitted, Event,
    ExportError, ExportErrorKind, Exporter, ExporterHealth, ExporterId, ExporterOptions, ExporterState,
    FlushError, Granularity, Health, ManualClock, Telemetry, Timestamp, TotalFailurePolicy,
};

/// Most operations run per input (the rest of the input is ignored).
pub const MAX_OPS: usize = 48;
/// Most logical producers (threads).
pub const MAX_PRODUCERS: usize = 3;
/// Most exporters at start.
pub const MAX_EXPORTERS: usize = 3;
/// Most exporters added while running.
pub const MAX_ADDED: usize = 3;
/// Longest a producer may take to return or show up as blocked, and longest
/// the consumer may take to finish after its gates opened, before the run
/// counts as hung. Generous: fuzzing shares small machines.
pub const HANG: Duration = Duration::from_secs(10);
/// Lateness tolerated on a `flush`/`close` deadline before it counts as
/// "did not return on time" (scheduling noise on a loaded machine).
pub const DEADLINE_SLACK: Duration = Duration::from_secs(3);
/// Wait until an added exporter shows in `Health` before the next operation,
/// and add none while an exporter is stalled, after close or a kill.
///
/// Was a workaround for a ringtel bug found by this target, now fixed (see
/// `fuzz/README.md`, "Findings"): an exporter whose `add_exporter` command
/// was still queued when the consumer saw `close` was never added nor
/// closed. Off: adds race closes, stalls and deaths.
pub const WAIT_FOR_ADDED_EXPORTERS: bool = false;
/// After a close that timed out, check its report (and `Health` while the
/// consumer may still run) only for what cannot move, not exactly.
///
/// Was a workaround for a ringtel bug found by this target, now fixed (see
/// `fuzz/README.md`, "Findings", and `fuzz/regressions/ops/`): events the
/// consumer had popped from the ring but not yet recorded in its ledger were
/// in neither place, so the `CloseReport` of a timed-out close could miss
/// them. Off: reports are checked exactly.
pub const SKIP_OPEN_TIMED_OUT_REPORT: bool = false;
/// The deadline of the final clean close: everything is unblocked by then,
/// so this is only reached if something hangs.
pub const CLEAN_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs one input; panics on any violation.
pub fn run(data: &[u8]) {
    quiet_expected_panics();
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
    run_input(&input);
}

/// The decoded form of an input, for debugging a corpus file.
pub fn decode(data: &[u8]) -> Option<Input> {
    Input::arbitrary_take_rest(Unstructured::new(data)).ok()
}

// ---------------------------------------------------------------------------
// Input

/// A granularity, as the input spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Level {
    Lifecycle,
    Rows,
    Full,
}

impl Level {
    fn granularity(self) -> Granularity {
        match self {
            Level::Lifecycle => Granularity::Lifecycle,
            Level::Rows => Granularity::Rows,
            Level::Full => Granularity::Full,
        }
    }
}

/// A backpressure policy, as the input spells it; waits are tiny so runs stay fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Policy {
    Block,
    /// In units of 100 µs, at most 2 ms.
    BlockFor(u8),
    Drop,
    DropOldest,
    /// A `BlockFor` wait above the accepted range: must be refused.
    BlockForTooLong,
}

impl Policy {
    fn backpressure(self) -> Backpressure {
        match self {
            Policy::Block => Backpressure::Block,
            Policy::BlockFor(units) => {
                Backpressure::BlockFor(Duration::from_micros(100 * u64::from(units % 21)))
            }
            Policy::Drop => Backpressure::Drop,
            Policy::DropOldest => Backpressure::DropOldest,
            Policy::BlockForTooLong => Backpressure::BlockFor(ringtel::MAX_DURATION_SETTING * 2),
        }
    }
}

/// The configuration a run starts with.
#[derive(Debug, Clone, Arbitrary)]
pub struct Setup {
    /// `1 + capacity % 16`.
    pub capacity: u8,
    /// `1 + batch_size % 8`.
    pub batch_size: u8,
    pub policy: Policy,
    pub granularity: Level,
    /// `exporters % (MAX_EXPORTERS + 1)`: zero exporters is a case too.
    pub exporters: u8,
    /// `1 + producers % MAX_PRODUCERS`.
    pub producers: u8,
    /// `critical_wait % 5` × 500 µs.
    pub critical_wait: u8,
    /// Consumer idle sleep, max: `(1 + idle % 8)` × 125 µs.
    pub idle: u8,
    /// Export timeout on the manual clock: 1 ms, 10 ms, 1 s or 5 s.
    pub export_timeout: u8,
    /// Breaker: opens after `1 + open_after % 5` failures.
    pub open_after: u8,
    /// Breaker cooldown on the manual clock: `1 + cooldown % 50` ms.
    pub cooldown: u8,
    /// Total-failure streak: `1 + threshold % 4` batches.
    pub failure_threshold: u8,
    pub on_total_failure: FailurePolicy,
}

/// The total-failure policy, as the input spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum FailurePolicy {
    Continue,
    Disable,
    Fail,
}

impl FailurePolicy {
    fn policy(self) -> TotalFailurePolicy {
        match self {
            FailurePolicy::Continue => TotalFailurePolicy::Continue,
            FailurePolicy::Disable => TotalFailurePolicy::Disable,
            FailurePolicy::Fail => TotalFailurePolicy::Fail,
        }
    }
}

/// What an exporter does from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Fault {
    /// Clear every fault (errors and panics; gates stay as they are).
    Recover,
    FailExport,
    PanicExport,
    FailFlush,
    PanicFlush,
    FailClose,
    PanicClose,
    /// Close the gate: every call blocks until it opens.
    Stall,
    /// Open the gate.
    Release,
}

/// One operation.
#[derive(Debug, Clone, Arbitrary)]
pub enum Op {
    /// `1 + count % 16` events from `producer`, of granularity `level`, or
    /// cycling through every granularity from `level` when `mixed`.
    Emit {
        producer: u8,
        level: Level,
        count: u8,
        mixed: bool,
    },
    /// `flush` with a deadline of `timeout % 20` ms.
    Flush {
        timeout: u8,
    },
    Health,
    SetGranularity(Level),
    SetBackpressure(Policy),
    Fault {
        exporter: u8,
        fault: Fault,
    },
    /// Moves the manual clock by this many milliseconds.
    AdvanceClock(u16),
    /// `close` mid-run, with a deadline of `timeout % 10` ms.
    Close {
        timeout: u8,
    },
    /// Makes the consumer thread panic at its next loop iteration.
    KillConsumer,
    /// Adds an exporter while running (C14).
    AddExporter,
    /// Removes an exporter while running (C14).
    RemoveExporter {
        exporter: u8,
    },
}

/// How the run ends.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Ending {
    /// Open every gate, let every producer finish, close with a long deadline.
    Clean,
    /// Close with a deadline of `timeout % 10` ms while gates may be closed;
    /// open them afterwards.
    WhileStalled { timeout: u8 },
}

/// A whole input.
#[derive(Debug, Clone, Arbitrary)]
pub struct Input {
    pub setup: Setup,
    pub ending: Ending,
    pub ops: Vec<Op>,
}

// ---------------------------------------------------------------------------
// Events and exporters

/// A small event: its producer, its sequence number within that producer,
/// its granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ev {
    pub producer: u8,
    pub seq: u32,
    pub granularity: Granularity,
}

impl Ev {
    fn key(self) -> (u8, u32) {
        (self.producer, self.seq)
    }
}

impl Event for Ev {
    fn granularity(&self) -> Granularity {
        self.granularity
    }
}

/// Marks panics the harness causes on purpose, so the panic hook keeps them quiet.
const ON_PURPOSE: &str = "on purpose";

/// Everything one exporter did, for the checks.
#[derive(Debug, Default)]
struct ProbeLog {
    /// Every event handed to `export`, in order, whatever the call returned.
    seen: Vec<Ev>,
    /// Events of `export` calls that returned `Ok`, in order.
    accepted: Vec<Ev>,
    export_errors: u64,
    export_panics: u64,
    flush_errors: u64,
    flush_panics: u64,
    close_errors: u64,
    close_panics: u64,
    closes: u64,
    /// `export`/`flush`/`close` calls after the first `close`.
    calls_after_close: u64,
}

/// The input's handle on one exporter.
#[derive(Debug, Default)]
struct ProbeControl {
    fail_export: AtomicBool,
    panic_export: AtomicBool,
    fail_flush: AtomicBool,
    panic_flush: AtomicBool,
    fail_close: AtomicBool,
    panic_close: AtomicBool,
    /// Ever told to fail or panic in `export` (its batches may be skipped by
    /// a circuit breaker, so C6 "handed to every live exporter" exempts it).
    ever_failed_export: AtomicBool,
    gate_closed: Mutex<bool>,
    gate: Condvar,
    log: Mutex<ProbeLog>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic on purpose never happens while a harness lock is held, but a
    // poisoned lock must not turn one failure into a cascade.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ProbeControl {
    fn apply(&self, fault: Fault) {
        let flags = [
            (Fault::FailExport, &self.fail_export),
            (Fault::PanicExport, &self.panic_export),
            (Fault::FailFlush, &self.fail_flush),
            (Fault::PanicFlush, &self.panic_flush),
            (Fault::FailClose, &self.fail_close),
            (Fault::PanicClose, &self.panic_close),
        ];
        match fault {
            Fault::Recover => flags.iter().for_each(|(_, flag)| flag.store(false, Ordering::SeqCst)),
            Fault::Stall => *lock(&self.gate_closed) = true,
            Fault::Release => self.open_gate(),
            _ => {
                for (f, flag) in flags {
                    if f == fault {
                        flag.store(true, Ordering::SeqCst);
                    }
                }
                if matches!(fault, Fault::FailExport | Fault::PanicExport) {
                    self.ever_failed_export.store(true, Ordering::SeqCst);
                }
            }
        }
    }

    fn open_gate(&self) {
        *lock(&self.gate_closed) = false;
        self.gate.notify_all();
    }

    fn pass_gate(&self) {
        let mut closed = lock(&self.gate_closed);
        while *closed {
            closed = self.gate.wait(closed).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn log(&self) -> MutexGuard<'_, ProbeLog> {
        lock(&self.log)
    }
}

/// An exporter that does what its [`ProbeControl`] says and logs everything.
struct Probe {
    name: String,
    control: Arc<ProbeControl>,
}

impl Probe {
    /// Logs the call; whether it is one after `close`.
    fn enter(&self) {
        let mut log = self.control.log();
        if log.closes > 0 {
            log.calls_after_close += 1;
        }
    }
}

impl Exporter<Ev> for Probe {
    fn name(&self) -> &str {
        &self.name
    }

    fn export(&mut self, batch: &[Ev]) -> Result<(), ExportError> {
        self.control.pass_gate();
        self.enter();
        let mut log = self.control.log();
        log.seen.extend_from_slice(batch);
        if self.control.panic_export.load(Ordering::SeqCst) {
            log.export_panics += 1;
            drop(log);
            panic!("probe `{}` export panics {ON_PURPOSE}", self.name);
        }
        if self.control.fail_export.load(Ordering::SeqCst) {
            log.export_errors += 1;
            return Err(ExportError::new(ExportErrorKind::Transport, "export fails on purpose"));
        }
        log.accepted.extend_from_slice(batch);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.control.pass_gate();
        self.enter();
        let mut log = self.control.log();
        if self.control.panic_flush.load(Ordering::SeqCst) {
            log.flush_panics += 1;
            drop(log);
            panic!("probe `{}` flush panics {ON_PURPOSE}", self.name);
        }
        if self.control.fail_flush.load(Ordering::SeqCst) {
            log.flush_errors += 1;
            return Err(ExportError::new(ExportErrorKind::Io, "flush fails on purpose"));
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), ExportError> {
        self.control.pass_gate();
        self.enter();
        let mut log = self.control.log();
        log.closes += 1;
        if self.control.panic_close.load(Ordering::SeqCst) {
            log.close_panics += 1;
            drop(log);
            panic!("probe `{}` close panics {ON_PURPOSE}", self.name);
        }
        if self.control.fail_close.load(Ordering::SeqCst) {
            log.close_errors += 1;
            return Err(ExportError::new(ExportErrorKind::Io, "close fails on purpose"));
        }
        Ok(())
    }
}

/// Keeps the panics the harness causes on purpose (exporter faults, the
/// injected consumer panic) quiet, and passes every other panic to the hook
/// that was installed before: the test harness's, or libFuzzer's, which
/// aborts and so reports it even when ringtel contains it.
pub fn quiet_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !(message.contains(ON_PURPOSE) || message.contains("injected consumer panic")) {
                // libFuzzer's fork mode deletes its workers' logs; keep the
                // reason for a crash where the campaign can read it.
                if let Some(path) = std::env::var_os("RINGTEL_FUZZ_PANIC_LOG") {
                    use std::io::Write as _;
                    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                        let _ = writeln!(f, "---\n{info}");
                    }
                }
                previous(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------
// Producers

/// One `emit` and what it returned.
#[derive(Debug, Clone, Copy)]
struct Record {
    event: Ev,
    outcome: Emitted,
    /// The command that emitted it.
    command: usize,
}

/// A batch of emits for one producer thread.
#[derive(Debug, Clone)]
struct Command {
    id: usize,
    levels: Vec<Granularity>,
}

/// The model's state when a command was sent, and whether it ran start to
/// finish before the next operation (then its outcomes are predictable).
#[derive(Debug, Clone, Copy)]
struct Sent {
    granularity: Granularity,
    backpressure: Backpressure,
    closed: bool,
    kill_requested: bool,
    synchronous: bool,
}

/// The main thread's side of one producer thread.
struct ProducerHandle {
    commands: mpsc::Sender<Command>,
    /// Commands sent and not yet finished. Incremented by the main thread
    /// before sending, decremented (Release) by the producer after it
    /// recorded the last outcome.
    pending: Arc<AtomicUsize>,
}

fn producer_loop(
    telemetry: &Telemetry<Ev>,
    producer: u8,
    commands: mpsc::Receiver<Command>,
    pending: &AtomicUsize,
    records: &Mutex<Vec<Record>>,
) {
    let mut seq = 0u32;
    for command in commands {
        for &granularity in &command.levels {
            let event = Ev { producer, seq, granularity };
            seq += 1;
            let outcome = telemetry.emit(event);
            lock(records).push(Record { event, outcome, command: command.id });
        }
        // Release: the main thread's Acquire load of `pending` sees the
        // records and the counters this command wrote.
        pending.fetch_sub(1, Ordering::Release);
    }
}

// ---------------------------------------------------------------------------
// The run

/// One exporter the harness made.
struct ProbeEntry {
    name: String,
    control: Arc<ProbeControl>,
    /// Its id, when added while running.
    id: Option<ExporterId>,
    /// Added while running (it may miss events queued before).
    added: bool,
    /// `remove_exporter` was called for it.
    removed: bool,
    /// Events queued before its addition showed in `Health` (it may never
    /// see those); `None` if it was there from the start, or not waited for.
    queued_before_add: Option<HashSet<(u8, u32)>>,
    /// Events queued before its removal (and after its addition), which it
    /// must still be handed.
    must_see: HashSet<(u8, u32)>,
}

/// The reference model: what the harness did and what it was told.
struct Model {
    granularity: Granularity,
    backpressure: Backpressure,
    on_total_failure: TotalFailurePolicy,
    drop_oldest_ever: bool,
    /// `close` has been called (admission is closed from then on).
    closed: bool,
    kill_requested: bool,
    /// The clock moved while exporters existed: a busy exporter may have
    /// been declared hung and skipped batches.
    hung_possible: bool,
    /// Some close returned `Err(Timeout)`.
    close_timed_out: bool,
    /// The first close's outcome; every later close must return the same.
    first_close: Option<Result<CloseReport, CloseError>>,
    /// Emits that had returned when the first close was called, and whether
    /// any producer was still busy then.
    at_first_close: Option<(usize, bool)>,
    sent: Vec<Sent>,
    /// The previous mid-run health snapshot, for monotonicity.
    last_health: Option<Health>,
}

struct Run<'a> {
    telemetry: &'a Telemetry<Ev>,
    clock: ManualClock,
    probes: Vec<ProbeEntry>,
    /// Every probe's control, shared with the unwind guard.
    controls: &'a Mutex<Vec<Arc<ProbeControl>>>,
    producers: Vec<ProducerHandle>,
    records: &'a Mutex<Vec<Record>>,
    model: Model,
}

/// Opens every gate and closes the telemetry if the run unwinds, so that
/// producer threads blocked on a stalled ring and the thread scope end
/// instead of hanging the test that reports the failure.
struct Unblock<'a> {
    telemetry: &'a Telemetry<Ev>,
    controls: &'a Mutex<Vec<Arc<ProbeControl>>>,
}

impl Drop for Unblock<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            lock(self.controls).iter().for_each(|p| p.open_gate());
            let _ = self.telemetry.close(Duration::ZERO);
        }
    }
}

fn new_probe(index: usize, added: bool) -> (Probe, ProbeEntry) {
    let name = format!("probe-{index}");
    let control = Arc::new(ProbeControl::default());
    let probe = Probe { name: name.clone(), control: Arc::clone(&control) };
    let entry = ProbeEntry {
        name,
        control,
        id: None,
        added,
        removed: false,
        queued_before_add: None,
        must_see: HashSet::new(),
    };
    (probe, entry)
}

fn run_input(input: &Input) {
    let setup = &input.setup;
    let clock = ManualClock::new(Timestamp::from_nanos(1_000_000_000));
    let exporters = usize::from(setup.exporters) % (MAX_EXPORTERS + 1);
    let producers = 1 + usize::from(setup.producers) % MAX_PRODUCERS;
    let initial_policy = match setup.policy {
        Policy::BlockForTooLong => Policy::Drop,
        p => p,
    };
    let idle_max = Duration::from_micros(125 * (1 + u64::from(setup.idle % 8)));
    let export_timeout = [1, 10, 1_000, 5_000][usize::from(setup.export_timeout % 4)];
    let cooldown = Duration::from_millis(1 + u64::from(setup.cooldown % 50));
    let on_total_failure = setup.on_total_failure.policy();
    let mut builder = Telemetry::<Ev>::builder()
        .capacity(1 + usize::from(setup.capacity) % 16)
        .batch_size(1 + usize::from(setup.batch_size) % 8)
        .backpressure(initial_policy.backpressure())
        .granularity(setup.granularity.granularity())
        .critical_wait(Duration::from_micros(500 * u64::from(setup.critical_wait % 5)))
        .consumer_idle(Duration::from_micros(10), idle_max)
        .close_timeout(Duration::from_millis(100))
        .export_timeout(Duration::from_millis(export_timeout))
        .breaker(BreakerConfig {
            open_after: 1 + u32::from(setup.open_after % 5),
            cooldown,
            max_cooldown: cooldown * 4,
        })
        .on_total_failure(1 + u64::from(setup.failure_threshold % 4), on_total_failure)
        .clock(clock.clone());
    let mut probes = Vec::new();
    for i in 0..exporters {
        let (probe, entry) = new_probe(i, false);
        builder = builder.exporter(probe);
        probes.push(entry);
    }
    let telemetry = builder.start().expect("a valid configuration starts");
    let records = Mutex::new(Vec::new());
    let controls = Mutex::new(probes.iter().map(|p| Arc::clone(&p.control)).collect::<Vec<_>>());
    let _unblock = Unblock { telemetry: &telemetry, controls: &controls };

    let (model, probes) = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for p in 0..producers {
            let (tx, rx) = mpsc::channel();
            let pending = Arc::new(AtomicUsize::new(0));
            let (telemetry, records, pending_p) = (&telemetry, &records, Arc::clone(&pending));
            std::thread::Builder::new()
                .name(format!("fuzz-producer-{p}"))
                .spawn_scoped(scope, move || producer_loop(telemetry, p as u8, rx, &pending_p, records))
                .expect("spawn a producer thread");
            handles.push(ProducerHandle { commands: tx, pending });
        }
        let mut run = Run {
            telemetry: &telemetry,
            clock,
            probes,
            controls: &controls,
            producers: handles,
            records: &records,
            model: Model {
                granularity: setup.granularity.granularity(),
                backpressure: initial_policy.backpressure(),
                on_total_failure,
                drop_oldest_ever: initial_policy == Policy::DropOldest,
                closed: false,
                kill_requested: false,
                hung_possible: false,
                close_timed_out: false,
                first_close: None,
                at_first_close: None,
                sent: Vec::new(),
                last_health: None,
            },
        };
        for op in input.ops.iter().take(MAX_OPS) {
            run.step(op);
        }
        // Dropping the senders (with `run`) ends the producer threads; the
        // scope joins them.
        run.end(input.ending)
    });
    check_final(&telemetry, &records, &probes, &model);
}

impl Run<'_> {
    fn busy(&self) -> usize {
        // Acquire: pairs with the producers' Release decrement.
        self.producers.iter().filter(|p| p.pending.load(Ordering::Acquire) > 0).count()
    }

    /// Waits until every producer has finished its commands or is blocked in
    /// ringtel (waiting for room). Panics if neither happens in time: an emit
    /// that neither returns nor waits for room is a hang.
    fn settle(&self) {
        let deadline = Instant::now() + HANG;
        let mut spins = 0u32;
        loop {
            let busy = self.busy();
            if busy == 0 {
                return;
            }
            spins += 1;
            if spins > 64 && self.telemetry.health().blocked_producers() >= busy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "hang: {busy} producer(s) neither returned from emit nor waited for room within {HANG:?}"
            );
            std::thread::yield_now();
        }
    }

    /// Waits until no producer has a command left (blocked ones must have
    /// been released by the caller).
    fn drain_producers(&self, what: &str) {
        let deadline = Instant::now() + HANG;
        while self.busy() > 0 {
            assert!(Instant::now() < deadline, "hang: producers still inside emit {HANG:?} after {what}");
            std::thread::yield_now();
        }
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Emit { producer, level, count, mixed } => self.emit(producer, level, count, mixed),
            Op::Flush { timeout } => self.flush(Duration::from_millis(u64::from(timeout % 20))),
            Op::Health => self.health(),
            Op::SetGranularity(level) => {
                self.telemetry.set_granularity(level.granularity());
                self.model.granularity = level.granularity();
            }
            Op::SetBackpressure(policy) => self.set_backpressure(policy),
            Op::Fault { exporter, fault } => {
                if !self.probes.is_empty() {
                    let index = usize::from(exporter) % self.probes.len();
                    self.probes[index].control.apply(fault);
                }
            }
            Op::AdvanceClock(ms) => {
                self.clock.advance(Duration::from_millis(u64::from(ms)));
                self.model.hung_possible |= !self.probes.is_empty();
            }
            Op::Close { timeout } => {
                // Checked inside; the outcome is kept in the model.
                let _ = self.close(Duration::from_millis(u64::from(timeout % 10)));
            }
            Op::KillConsumer => {
                self.telemetry.inject_consumer_panic();
                self.model.kill_requested = true;
            }
            Op::AddExporter => self.add_exporter(),
            Op::RemoveExporter { exporter } => self.remove_exporter(exporter),
        }
        self.settle();
    }

    fn add_exporter(&mut self) {
        let added = self.probes.iter().filter(|p| p.added).count();
        let stalled = self.probes.iter().any(|p| *lock(&p.control.gate_closed));
        if added >= MAX_ADDED
            || (WAIT_FOR_ADDED_EXPORTERS && (stalled || self.model.closed || self.model.kill_requested))
        {
            return;
        }
        let (probe, mut entry) = new_probe(self.probes.len(), true);
        let id = self
            .telemetry
            .add_exporter(probe, ExporterOptions::default())
            .expect("default options are valid");
        assert!(self.probes.iter().all(|p| p.id != Some(id)), "exporter id {id} reused");
        entry.id = Some(id);
        lock(self.controls).push(Arc::clone(&entry.control));
        self.probes.push(entry);
        // Events queued before the consumer applied the addition may have
        // been taken before it; only what is queued after the addition shows
        // in `Health` is sure to reach it (without that wait: nothing is).
        if WAIT_FOR_ADDED_EXPORTERS {
            let deadline = Instant::now() + HANG;
            while !self.telemetry.health().exporters().iter().any(|e| e.id() == id) {
                assert!(Instant::now() < deadline, "hang: exporter {id} not added within {HANG:?}");
                std::thread::yield_now();
            }
            let before = self.queued_so_far();
            self.probes.last_mut().expect("just pushed").queued_before_add = Some(before);
        }
    }

    fn remove_exporter(&mut self, exporter: u8) {
        if self.probes.is_empty() {
            return;
        }
        let queued = self.queued_so_far();
        let index = usize::from(exporter) % self.probes.len();
        let health = self.telemetry.health();
        let entry = &mut self.probes[index];
        if entry.removed {
            return;
        }
        // Exporters given to the builder get their ids at start; find it.
        let id = match entry.id {
            Some(id) => id,
            None => match health.exporters().iter().find(|e| e.name() == entry.name) {
                Some(e) => e.id(),
                None => return,
            },
        };
        self.telemetry.remove_exporter(id).expect("a known exporter id");
        entry.id = Some(id);
        entry.removed = true;
        entry.must_see = match (entry.added, &entry.queued_before_add) {
            (false, _) => queued,
            (true, Some(before)) => queued.difference(before).copied().collect(),
            (true, None) => HashSet::new(),
        };
    }

    fn emit(&mut self, producer: u8, level: Level, count: u8, mixed: bool) {
        let p = usize::from(producer) % self.producers.len();
        let n = 1 + usize::from(count % 16);
        let first = level as usize;
        let levels = (0..n)
            .map(|i| Granularity::ALL[if mixed { (first + i) % Granularity::ALL.len() } else { first }])
            .collect();
        let id = self.model.sent.len();
        let handle = &self.producers[p];
        let idle_before = handle.pending.load(Ordering::Acquire) == 0;
        self.model.sent.push(Sent {
            granularity: self.model.granularity,
            backpressure: self.model.backpressure,
            closed: self.model.closed,
            kill_requested: self.model.kill_requested,
            synchronous: false,
        });
        handle.pending.fetch_add(1, Ordering::AcqRel);
        handle.commands.send(Command { id, levels }).expect("producer thread alive");
        self.settle();
        // It ran start to finish while nothing else changed: its outcomes
        // must follow the model's configuration exactly.
        self.model.sent[id].synchronous = idle_before && handle.pending.load(Ordering::Acquire) == 0;
    }

    /// Events whose `emit` returned `Queued` so far.
    fn queued_so_far(&self) -> HashSet<(u8, u32)> {
        lock(self.records).iter().filter(|r| r.outcome == Emitted::Queued).map(|r| r.event.key()).collect()
    }

    fn is_probe(&self, name: &str) -> bool {
        self.probes.iter().any(|p| p.name == name)
    }

    fn flush(&mut self, timeout: Duration) {
        let queued_before = self.queued_so_far();
        let started = Instant::now();
        let result = self.telemetry.flush(timeout);
        let took = started.elapsed();
        assert!(took <= timeout + DEADLINE_SLACK, "flush({timeout:?}) took {took:?}: {result:?}");
        let mut exempt: HashSet<String> = HashSet::new();
        match &result {
            Ok(()) => {}
            Err(FlushError::Exporters { failures }) => {
                assert!(!failures.is_empty(), "an Exporters error names who failed");
                for f in failures {
                    assert!(self.is_probe(&f.name), "unknown exporter in {f:?}");
                    exempt.insert(f.name.clone());
                }
            }
            Err(FlushError::Timeout { unresponsive, .. }) => {
                for hung in unresponsive {
                    assert!(self.is_probe(&hung.name), "unknown unresponsive exporter {hung:?}");
                }
                return;
            }
            Err(FlushError::TotalFailure(_)) => {
                assert_eq!(self.model.on_total_failure, TotalFailurePolicy::Fail, "{result:?}");
                return;
            }
            Err(FlushError::Closed) => {
                assert!(self.model.closed, "flush says closed before any close");
                return;
            }
            Err(FlushError::ConsumerDead) => {
                assert!(self.model.kill_requested, "flush says the consumer died, but nobody killed it");
                return;
            }
            Err(other) => panic!("unexpected flush error from a producer thread: {other:?}"),
        }
        // C6: everything queued before the call was handed to every live
        // exporter the error does not name. DropOldest may have evicted some
        // of it; after a close or a death the flush can be the close's own;
        // exporters that failed or may have hung can have skipped batches
        // (breaker open, hung), and exporters added while running may have
        // joined after some of it was taken.
        if self.model.drop_oldest_ever || self.model.closed || self.model.kill_requested {
            return;
        }
        for probe in &self.probes {
            let c = &probe.control;
            if exempt.contains(&probe.name)
                || probe.added
                || probe.removed
                || c.ever_failed_export.load(Ordering::SeqCst)
                || self.model.hung_possible
            {
                continue;
            }
            let seen: HashSet<(u8, u32)> = c.log().seen.iter().map(|e| e.key()).collect();
            let missing = queued_before.difference(&seen).count();
            assert_eq!(
                missing, 0,
                "flush returned {result:?} but {} never saw {missing} queued events",
                probe.name
            );
        }
    }

    fn health(&mut self) {
        // Read before the snapshot: a producer that finishes while it is
        // taken would make an exact comparison wrong.
        let quiescent = self.busy() == 0;
        let health = self.telemetry.health();
        assert_eq!(health.granularity(), self.model.granularity);
        assert_eq!(health.backpressure(), self.model.backpressure);
        for e in health.exporters() {
            assert!(self.is_probe(e.name()), "unknown exporter {} in health", e.name());
        }
        if let Some(beat) = health.last_heartbeat() {
            assert!(beat <= self.clock_now(), "heartbeat {beat} after the clock's now");
        }
        if health.total_failure().is_some() {
            assert_eq!(self.model.on_total_failure, TotalFailurePolicy::Fail, "total failure raised");
        }
        match health.consumer() {
            ConsumerState::Running => {}
            ConsumerState::Stopped => assert!(self.model.closed, "consumer stopped before any close"),
            ConsumerState::Dead { .. } => assert!(self.model.kill_requested, "consumer died on its own"),
        }
        if let Some(previous) = &self.model.last_health {
            assert!(health.filtered() >= previous.filtered(), "filtered went down");
            assert!(health.delivered() >= previous.delivered(), "delivered went down");
            for reason in DropReason::ALL {
                assert!(
                    health.dropped(reason) >= previous.dropped(reason),
                    "dropped({reason}) went down:\n{previous}\nthen\n{health}"
                );
            }
        }
        let exact = !(SKIP_OPEN_TIMED_OUT_REPORT && self.model.close_timed_out);
        if quiescent && self.model.closed && exact {
            // Every emit has returned and close has: exact (C1).
            assert!(health.is_conserved(), "not conserved after close:\n{health}");
            assert_eq!((health.queue_len(), health.in_flight()), (0, 0), "after close:\n{health}");
        }
        if quiescent {
            // Producers are quiescent: their counters are exact.
            let records = lock(self.records);
            let count = |o: Emitted| records.iter().filter(|r| r.outcome == o).count() as u64;
            assert_eq!(health.filtered(), count(Emitted::Filtered), "filtered");
            assert_eq!(
                health.dropped(DropReason::QueueFull),
                count(Emitted::Dropped(DropReason::QueueFull)),
                "queue_full"
            );
            assert!(health.offered() <= records.len() as u64, "offered exceeds the emits made");
        }
        self.model.last_health = Some(health);
    }

    fn clock_now(&self) -> Timestamp {
        use ringtel::Clock;
        self.clock.now()
    }

    fn set_backpressure(&mut self, policy: Policy) {
        let backpressure = policy.backpressure();
        let result = self.telemetry.set_backpressure(backpressure);
        if policy == Policy::BlockForTooLong {
            let err = result.expect_err("a BlockFor wait above the range is refused");
            assert_eq!(err.field(), "backpressure.block-for");
            assert!(err.to_string().contains("`backpressure.block-for`"), "{err}");
        } else {
            result.expect("a valid policy is accepted");
            self.model.backpressure = backpressure;
            self.model.drop_oldest_ever |= backpressure == Backpressure::DropOldest;
        }
    }

    /// Calls `close(timeout)` and checks what it returns.
    fn close(&mut self, timeout: Duration) -> Result<CloseReport, CloseError> {
        // In this order: once no producer is busy, the records cannot grow.
        let busy = self.busy() > 0;
        let emitted_before = lock(self.records).len();
        let started = Instant::now();
        let result = self.telemetry.close(timeout);
        let took = started.elapsed();
        assert!(took <= timeout + DEADLINE_SLACK, "close({timeout:?}) took {took:?}");
        self.model.closed = true;
        match &result {
            Ok(report) | Err(CloseError::EventsLost { report }) => {
                // `Ok` only when nothing accepted was lost; `EventsLost` only
                // when the report shows what was.
                assert_eq!(
                    matches!(result, Err(CloseError::EventsLost { .. })),
                    lost_accepted_events(report.health()),
                    "close outcome against {}",
                    report.health()
                );
                assert_eq!(report.health().consumer(), &ConsumerState::Stopped, "closed cleanly");
                assert_eq!(
                    report.health().dropped(DropReason::ShutdownTimeout),
                    0,
                    "clean close timed nothing out"
                );
            }
            Err(CloseError::Timeout { .. }) => self.model.close_timed_out = true,
            Err(CloseError::TotalFailure { .. }) => {
                assert_eq!(self.model.on_total_failure, TotalFailurePolicy::Fail, "{result:?}")
            }
            Err(CloseError::ConsumerDead { report }) => {
                assert!(self.model.kill_requested, "close says the consumer died, but nobody killed it");
                assert!(matches!(report.health().consumer(), ConsumerState::Dead { .. }));
            }
            Err(other) => panic!("unexpected close error from the main thread: {other:?}"),
        }
        if let Some(report) = result.as_ref().ok().or_else(|| result.as_ref().err().and_then(|e| e.report()))
        {
            let h = report.health();
            assert_eq!((h.queue_len(), h.in_flight()), (0, 0), "nothing queued or in flight after close");
        }
        match &self.model.first_close {
            None => {
                self.model.first_close = Some(result.clone());
                self.model.at_first_close = Some((emitted_before, busy));
            }
            Some(first) => assert_eq!(&result, first, "close is idempotent"),
        }
        result
    }

    fn open_gates(&self) {
        self.probes.iter().for_each(|p| p.control.open_gate());
    }

    /// Ends the run (see [`Ending`]) and waits until the consumer and every
    /// exporter finished; returns the model and the probes for the final checks.
    fn end(mut self, ending: Ending) -> (Model, Vec<ProbeEntry>) {
        match ending {
            Ending::Clean => {
                self.open_gates();
                if !self.model.closed {
                    // Everyone blocked gets room once the gates are open.
                    self.drain_producers("the gates opened");
                }
                let was_closed = self.model.closed;
                let kill_requested = self.model.kill_requested;
                let result = self.close(CLEAN_CLOSE_TIMEOUT);
                if !was_closed {
                    match &result {
                        Ok(_) | Err(CloseError::TotalFailure { .. } | CloseError::EventsLost { .. }) => {
                            assert!(!kill_requested, "a killed consumer cannot close cleanly: {result:?}")
                        }
                        Err(CloseError::ConsumerDead { .. }) => {}
                        Err(e) => panic!("clean close with open gates failed: {e}"),
                    }
                    if kill_requested {
                        assert!(matches!(result, Err(CloseError::ConsumerDead { .. })), "{result:?}");
                    }
                }
            }
            Ending::WhileStalled { timeout } => {
                let _ = self.close(Duration::from_millis(u64::from(timeout % 10)));
                self.open_gates();
            }
        }
        // Close woke every blocked producer; they all return now.
        self.drain_producers("close");
        // The consumer finishes once the gates are open, and every exporter
        // it had closes exactly once (on its worker, maybe after close returned).
        let deadline = Instant::now() + HANG;
        loop {
            let health = self.telemetry.health();
            let stopped = health.consumer() != &ConsumerState::Running;
            let exporters_done = health
                .exporters()
                .iter()
                .all(|e| matches!(e.state(), ExporterState::Closed | ExporterState::CloseFailed));
            let probes_closed = self.probes.iter().all(|p| p.control.log().closes > 0);
            if stopped && exporters_done && probes_closed {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "hang: the consumer or an exporter did not finish after close:\n{health}"
            );
            std::thread::yield_now();
        }
        (self.model, self.probes)
    }
}

// ---------------------------------------------------------------------------
// Final checks

fn check_final(
    telemetry: &Telemetry<Ev>,
    records: &Mutex<Vec<Record>>,
    probes: &[ProbeEntry],
    model: &Model,
) {
    let h = telemetry.health();
    let records = lock(records);
    let count = |o: Emitted| records.iter().filter(|r| r.outcome == o).count() as u64;
    let outcome_of: HashMap<(u8, u32), Emitted> =
        records.iter().map(|r| (r.event.key(), r.outcome)).collect();

    // Each outcome is one the model allows.
    for r in records.iter() {
        check_outcome(r, &model.sent[r.command], model);
    }

    // C1: producer side, exactly.
    assert_eq!(h.offered(), records.len() as u64, "offered = emits");
    assert_eq!(h.filtered(), count(Emitted::Filtered), "filtered = Filtered outcomes");
    assert_eq!(h.accepted(), count(Emitted::Queued), "accepted = Queued outcomes");
    for reason in [DropReason::QueueFull, DropReason::Disabled] {
        assert_eq!(h.dropped(reason), count(Emitted::Dropped(reason)), "dropped({reason}) = outcomes");
    }
    for reason in [DropReason::Closed, DropReason::ConsumerDead] {
        // Plus what the consumer left in the ring or had in flight.
        assert!(h.dropped(reason) >= count(Emitted::Dropped(reason)), "dropped({reason}) >= outcomes");
    }
    if !model.drop_oldest_ever {
        assert_eq!(h.dropped(DropReason::Overwritten), 0, "Overwritten without DropOldest");
    }
    if !model.close_timed_out {
        assert_eq!(h.dropped(DropReason::ShutdownTimeout), 0, "ShutdownTimeout without a timed-out close");
    }
    if !model.kill_requested {
        assert_eq!(h.dropped(DropReason::ConsumerDead), 0, "ConsumerDead without a death");
        assert!(!matches!(h.consumer(), ConsumerState::Dead { .. }), "the consumer died on its own");
    }
    let any_export_fault = probes.iter().any(|p| p.control.ever_failed_export.load(Ordering::SeqCst));
    let any_removal_or_addition = probes.iter().any(|p| p.added || p.removed);
    if !probes.is_empty() && !any_export_fault && !model.hung_possible && !any_removal_or_addition {
        assert_eq!(h.dropped(DropReason::ExportFailed), 0, "ExportFailed while every exporter succeeded");
    }
    if h.total_failure().is_some() {
        assert_eq!(model.on_total_failure, TotalFailurePolicy::Fail, "total failure raised");
    }

    // What exporters received: only queued events, each at most once per
    // exporter, in per-producer order.
    let mut delivered: HashSet<(u8, u32)> = HashSet::new();
    for probe in probes {
        let name = &probe.name;
        let log = probe.control.log();
        for (what, events) in [("seen", &log.seen), ("accepted", &log.accepted)] {
            let mut keys = HashSet::new();
            for e in events {
                assert!(keys.insert(e.key()), "{name} {what} {e:?} twice");
                assert_eq!(outcome_of.get(&e.key()), Some(&Emitted::Queued), "{name} {what} {e:?}");
            }
            check_order(events, model.drop_oldest_ever, &format!("{name} {what}"));
        }
        delivered.extend(log.accepted.iter().map(|e| e.key()));

        // C7: closed exactly once, nothing after.
        assert_eq!(log.closes, 1, "{name} closed {} times", log.closes);
        assert_eq!(log.calls_after_close, 0, "{name} called after close");

        // C14: a removed exporter still gets everything accepted before its
        // removal (unless evicted, timed out, killed, or skipped).
        let c = &probe.control;
        if probe.removed
            && !model.drop_oldest_ever
            && !model.close_timed_out
            && !model.kill_requested
            && !model.hung_possible
            && !c.ever_failed_export.load(Ordering::SeqCst)
        {
            let seen: HashSet<(u8, u32)> = log.seen.iter().map(|e| e.key()).collect();
            let missing = probe.must_see.difference(&seen).count();
            assert_eq!(missing, 0, "removed {name} never saw {missing} events queued before its removal");
        }

        // C9, C10: counted per exporter (a removed one may have left Health).
        let Some(eh) = h.exporters().iter().find(|e| e.name() == name) else {
            // Removed and gone, or added after the final close sealed the
            // command queue (then closed at once by `add_exporter`).
            assert!(probe.removed || probe.added, "{name} missing from Health");
            continue;
        };
        check_exporter_health(eh, &log);
    }
    let received = delivered.len() as u64;
    if model.close_timed_out || model.hung_possible {
        // A hung exporter may accept a batch after the consumer gave up on
        // it: counted ExportFailed (others failed) or ShutdownTimeout (close
        // timed out), not delivered, and never both.
        let loose = h.dropped(DropReason::ShutdownTimeout) + h.dropped(DropReason::ExportFailed);
        assert!(h.delivered() <= received, "delivered {} > received {received}", h.delivered());
        assert!(
            received <= h.delivered() + loose,
            "received {received} > delivered {} + shutdown_timeout + export_failed {loose}",
            h.delivered()
        );
    } else {
        assert_eq!(h.delivered(), received, "delivered = distinct events some exporter accepted");
    }

    // C1 after close, exactly.
    assert_eq!((h.queue_len(), h.in_flight()), (0, 0), "nothing queued or in flight after close");
    assert_eq!(h.offered(), h.filtered() + h.delivered() + h.dropped_total(), "conservation:\n{h}");
    assert!(h.is_conserved());

    // The close report was exact when it was made, and the consumer's
    // counts did not move afterwards (nothing counted twice when a stalled
    // exporter returned after the deadline).
    let first = model.first_close.as_ref().expect("the run closed");
    let report = match first {
        Ok(report) => report,
        Err(e) => e.report().expect("the main thread's close carries a report"),
    };
    let r = report.health();
    assert_eq!(r.delivered(), h.delivered(), "delivered moved after close");
    assert_eq!(
        r.dropped(DropReason::ExportFailed),
        h.dropped(DropReason::ExportFailed),
        "export_failed moved"
    );
    let (emitted_before, busy) = model.at_first_close.expect("recorded with the first close");
    let exact = !(SKIP_OPEN_TIMED_OUT_REPORT && model.close_timed_out);
    if !busy && !exact {
        assert!(r.offered() <= emitted_before as u64, "report offered > emits before close");
        assert!(r.dropped(DropReason::ShutdownTimeout) <= h.dropped(DropReason::ShutdownTimeout));
    }
    if !busy && exact {
        assert_eq!(r.offered(), emitted_before as u64, "report offered = emits before close");
        assert!(r.is_conserved(), "the close report is conserved:\n{r}");
        assert_eq!(
            r.dropped(DropReason::ShutdownTimeout),
            h.dropped(DropReason::ShutdownTimeout),
            "shutdown_timeout moved after close"
        );
    }
}

/// One exporter's `Health` equals what it did (C9).
fn check_exporter_health(eh: &ExporterHealth, log: &ProbeLog) {
    let name = eh.name();
    assert_eq!(eh.events_exported(), log.accepted.len() as u64, "{name} events_exported");
    assert_eq!(eh.failures(), log.export_errors + log.export_panics, "{name} failures");
    assert_eq!(eh.panics(), log.export_panics + log.flush_panics + log.close_panics, "{name} panics");
    assert_eq!(eh.flush_failures(), log.flush_errors + log.flush_panics, "{name} flush_failures");
    let close_failed = log.close_errors + log.close_panics > 0;
    let state = if close_failed { ExporterState::CloseFailed } else { ExporterState::Closed };
    assert_eq!(eh.state(), state, "{name} state");
}

/// Checks one outcome against the configuration in force when its command
/// was sent (exact for commands that ran without interleaving).
fn check_outcome(r: &Record, sent: &Sent, model: &Model) {
    let g = r.event.granularity;
    if r.outcome == Emitted::Filtered {
        assert_ne!(g, Granularity::Lifecycle, "a lifecycle event was filtered: {r:?}");
    }
    let disabled_possible = model.on_total_failure == TotalFailurePolicy::Disable;
    if let Emitted::Dropped(reason) = r.outcome {
        assert!(
            matches!(
                reason,
                DropReason::QueueFull | DropReason::Closed | DropReason::ConsumerDead | DropReason::Disabled
            ),
            "emit cannot return a consumer-side reason: {r:?}"
        );
        if reason == DropReason::Disabled {
            assert!(disabled_possible, "Disabled without the Disable policy: {r:?}");
        }
        if reason == DropReason::ConsumerDead {
            assert!(model.kill_requested, "ConsumerDead without a consumer death: {r:?}");
        }
    }
    if !sent.synchronous {
        return;
    }
    let filtered = !sent.granularity.admits(g);
    assert_eq!(r.outcome == Emitted::Filtered, filtered, "filtering under {:?}: {r:?}", sent.granularity);
    if filtered {
        return;
    }
    let dead = sent.kill_requested && r.outcome == Emitted::Dropped(DropReason::ConsumerDead);
    if sent.closed {
        assert!(r.outcome == Emitted::Dropped(DropReason::Closed) || dead, "emit after close: {r:?}");
        return;
    }
    assert_ne!(r.outcome, Emitted::Dropped(DropReason::Closed), "Closed before any close: {r:?}");
    if dead || (disabled_possible && r.outcome == Emitted::Dropped(DropReason::Disabled)) {
        return;
    }
    match sent.backpressure {
        Backpressure::Block | Backpressure::DropOldest => {
            assert_eq!(
                r.outcome,
                Emitted::Queued,
                "{:?} never drops for a full ring: {r:?}",
                sent.backpressure
            )
        }
        Backpressure::Drop | Backpressure::BlockFor(_) => assert!(
            matches!(r.outcome, Emitted::Queued | Emitted::Dropped(DropReason::QueueFull)),
            "{:?}: {r:?}",
            sent.backpressure
        ),
    }
}

/// C5: each producer's events in emit order. Under `DropOldest`, a rescued
/// lifecycle event re-enters at the back of the ring (the documented
/// exception), so only the other events' order is guaranteed.
fn check_order(events: &[Ev], drop_oldest_ever: bool, what: &str) {
    let mut last: HashMap<u8, u32> = HashMap::new();
    for e in events {
        if drop_oldest_ever && e.granularity == Granularity::Lifecycle {
            continue;
        }
        if let Some(&prev) = last.get(&e.producer) {
            assert!(e.seq > prev, "{what}: producer {} out of order: {} after {}", e.producer, e.seq, prev);
        }
        last.insert(e.producer, e.seq);
    }
}

/// Whether `health` shows events lost after they entered the ring: counted
/// `ExportFailed`, or failed, skipped or left unflushed by one exporter (what
/// turns a clean close into `CloseError::EventsLost`).
fn lost_accepted_events(health: &ringtel::Health) -> bool {
    health.dropped(DropReason::ExportFailed) > 0
        || health.exporters().iter().any(|e| {
            e.failures() > 0
                || e.skipped_events() > 0
                || e.flush_failures() > 0
                || e.state() == ringtel::ExporterState::CloseFailed
        })
}
