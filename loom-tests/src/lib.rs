//! Loom models of ringtel's atomic protocols live in `tests/`; this library
//! holds what they share: a tiny event type, a recording exporter built from
//! loom primitives, a builder preset that keeps the state space small, and
//! the helper that asserts loom catches a broken twin.
//!
//! Everything here exists only under `--cfg loom` (see `README.md`).
#![cfg(loom)]
#![warn(missing_docs, rust_2018_idioms)]

use std::sync::Once;

use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use ringtel::loom_api::NEVER;
use ringtel::{
    Backpressure, Clock, CloseError, CloseReport, Config, DropReason, Event, ExportError, Exporter,
    Granularity, Telemetry, Timestamp,
};

/// A model event: an id (a bit in [`Log::exported`]) and whether it is critical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ev {
    /// `0..64`, unique within a model.
    pub id: u32,
    /// A `Granularity::Lifecycle` event.
    pub critical: bool,
}

impl Event for Ev {
    fn granularity(&self) -> Granularity {
        if self.critical {
            Granularity::Lifecycle
        } else {
            Granularity::Rows
        }
    }
}

/// A non-critical event with this id.
pub fn ev(id: u32) -> Ev {
    Ev { id, critical: false }
}

/// What the recording exporter saw.
///
/// Every counter is written only by the consumer thread, with a relaxed load
/// and store. The model thread reads them with relaxed loads, so it sees the
/// final values only if ringtel's own protocol (the flush or close
/// handshake) gives it a happens-before edge from the consumer: the model
/// checks that edge too.
#[derive(Debug, Default)]
pub struct Log {
    exported: AtomicU64,
    events: AtomicUsize,
    flushes: AtomicUsize,
    closes: AtomicUsize,
    gate: Mutex<Gate>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Gate {
    /// Gated exporters block in `export` until this is set.
    open: bool,
    /// The exporter was dropped: its worker thread is exiting.
    dropped: bool,
}

fn bump(counter: &AtomicUsize) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

impl Log {
    /// A fresh log.
    pub fn new() -> Arc<Log> {
        Arc::new(Log::default())
    }

    /// The ids exported so far, as a bit mask.
    pub fn exported(&self) -> u64 {
        self.exported.load(Ordering::Relaxed)
    }

    /// Events exported so far, duplicates included.
    pub fn events(&self) -> usize {
        self.events.load(Ordering::Relaxed)
    }

    /// Calls to the exporter's `flush`.
    pub fn flushes(&self) -> usize {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Calls to the exporter's `close`.
    pub fn closes(&self) -> usize {
        self.closes.load(Ordering::Relaxed)
    }

    /// Lets a gated exporter's `export` return.
    pub fn open_gate(&self) {
        self.gate.lock().unwrap().open = true;
        self.changed.notify_all();
    }

    /// Waits until the exporter's worker has closed it and dropped it. The
    /// mutex gives the caller a happens-before edge from everything the
    /// worker did.
    pub fn wait_dropped(&self) {
        let mut gate = self.gate.lock().unwrap();
        while !gate.dropped {
            gate = self.changed.wait(gate).unwrap();
        }
    }
}

/// An exporter recording into a [`Log`]; a gated one blocks in `export`
/// until [`Log::open_gate`] (a hung exporter).
#[derive(Debug)]
pub struct Recorder {
    log: Arc<Log>,
    gated: bool,
}

impl Recorder {
    /// A recorder that never blocks.
    pub fn new(log: &Arc<Log>) -> Recorder {
        Recorder { log: Arc::clone(log), gated: false }
    }

    /// A recorder whose `export` blocks until the gate opens.
    pub fn gated(log: &Arc<Log>) -> Recorder {
        Recorder { log: Arc::clone(log), gated: true }
    }
}

impl Exporter<Ev> for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    fn export(&mut self, batch: &[Ev]) -> Result<(), ExportError> {
        if self.gated {
            let mut gate = self.log.gate.lock().unwrap();
            while !gate.open {
                gate = self.log.changed.wait(gate).unwrap();
            }
        }
        // No assertion here: ringtel contains exporter panics. A duplicate
        // shows as `events()` exceeding the number of bits in `exported()`.
        let mask = batch.iter().fold(self.log.exported.load(Ordering::Relaxed), |m, e| m | 1 << e.id);
        self.log.exported.store(mask, Ordering::Relaxed);
        let events = self.log.events.load(Ordering::Relaxed);
        self.log.events.store(events + batch.len(), Ordering::Relaxed);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        bump(&self.log.flushes);
        Ok(())
    }

    fn close(&mut self) -> Result<(), ExportError> {
        bump(&self.log.closes);
        Ok(())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.log.gate.lock().unwrap().dropped = true;
        self.log.changed.notify_all();
    }
}

/// A clock that never moves. Exporter hang detection, breaker cooldowns and
/// heartbeats read the telemetry's clock; frozen, it can never declare an
/// exporter hung, so real time never decides an interleaving. (Loom's
/// untimed waits stand in for the timed ones, see `ringtel::loom_api::NEVER`.)
#[derive(Debug, Clone, Copy)]
pub struct FrozenClock;

impl Clock for FrozenClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_nanos(1)
    }
}

/// The report of `close(NEVER)`, which must close in time: `Ok`, or
/// `EventsLost` exactly when the report counts `ExportFailed` (a model
/// without an exporter, or whose exporter comes late, loses what it accepted:
/// the close says so).
///
/// # Panics
/// On any other outcome, or an outcome the report's counts disagree with.
pub fn close_in_time(telemetry: &Telemetry<Ev>) -> CloseReport {
    let outcome = telemetry.close(NEVER);
    let (report, reported_lost) = match outcome {
        Ok(report) => (report, false),
        Err(CloseError::EventsLost { report }) => (report, true),
        Err(other) => panic!("C7 violated: close(NEVER) failed: {other:?}"),
    };
    let lost = report.health().dropped(DropReason::ExportFailed) > 0;
    assert_eq!(reported_lost, lost, "close outcome against {:?}", report.health());
    report
}

/// Starts a telemetry sized for loom: a ring of `capacity` events, batches
/// of `capacity`, granularity `Full`, one warning per drop, a
/// [`FrozenClock`], every deadline [`NEVER`], and `exporter` if given (each
/// exporter adds a worker thread to the model; without one, batches count
/// as `ExportFailed`).
///
/// # Panics
/// If `start` fails.
pub fn start(capacity: usize, backpressure: Backpressure, exporter: Option<Recorder>) -> Telemetry<Ev> {
    start_batched(capacity, capacity, backpressure, exporter)
}

/// [`start`] with batches of `batch_size` events, so one drain pops and
/// exports several batches.
///
/// # Panics
/// If `start` fails.
pub fn start_batched(
    capacity: usize,
    batch_size: usize,
    backpressure: Backpressure,
    exporter: Option<Recorder>,
) -> Telemetry<Ev> {
    let config = Config {
        capacity,
        batch_size,
        backpressure,
        granularity: Granularity::Full,
        drop_log_interval: 1,
        critical_wait: NEVER,
        close_timeout: NEVER,
        start_timeout: NEVER,
        export_timeout: NEVER,
        ..Config::default()
    };
    let builder = Telemetry::builder().config(config).clock(FrozenClock);
    match exporter {
        Some(exporter) => builder.exporter(exporter),
        None => builder,
    }
    .start()
    .expect("start")
}

/// Silences the default panic hook for panics the models cause on purpose
/// (the injected consumer panic), which would otherwise print once per
/// explored interleaving.
pub fn quiet_injected_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
                .unwrap_or("");
            if !message.contains("injected consumer panic") {
                default(info);
            }
        }));
    });
}

/// Environment variable marking the child process of [`assert_caught`].
const TWIN_CHILD: &str = "RINGTEL_LOOM_TWIN_CHILD";
/// Printed by a child whose model passed: the twin was not caught.
const NOT_CAUGHT: &str = "RINGTEL-LOOM-TWIN-NOT-CAUGHT";

/// Asserts that loom catches a broken twin: runs `model` (a `loom::model`
/// call, in a build with `ringtel_broken` set) and requires it to fail with
/// one of `expected` (substrings of the failure: a contract's assertion
/// message, loom's `deadlock`, or loom's branch limit when a thread can
/// never be woken while another polls).
///
/// The model runs in a child process (this test binary again, filtered to
/// the calling test): once loom reports a deadlock no loom thread is active,
/// and unwinding through the model's loom objects then aborts the process.
/// The parent judges the child by its exit status and output.
///
/// # Panics
/// If the model passes (the twin was not caught) or fails for another reason.
pub fn assert_caught(twin: &str, expected: &[&str], model: impl FnOnce()) {
    if std::env::var_os(TWIN_CHILD).is_some() {
        model();
        println!("{NOT_CAUGHT}");
        return;
    }
    let test = std::thread::current().name().expect("libtest names each test's thread").to_owned();
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = std::process::Command::new(exe)
        .args(["--exact", &test, "--nocapture", "--test-threads=1"])
        .env(TWIN_CHILD, twin)
        .output()
        .expect("re-run the test binary");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let tail: String =
        text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    assert!(
        !output.status.success() && !text.contains(NOT_CAUGHT),
        "loom did NOT catch the broken twin `{twin}`:\n{tail}"
    );
    let Some(reason) = text.lines().find(|line| expected.iter().any(|e| line.contains(e))) else {
        panic!("broken twin `{twin}` failed for an unexpected reason:\n{tail}");
    };
    eprintln!("loom caught broken twin `{twin}`: {}", reason.trim());
}
