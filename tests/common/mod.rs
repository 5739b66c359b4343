//! Shared test fixtures: a small event, exporters that record, fail, panic or
//! hang on command, and waiting on a condition with a deadline (never sleeping).
#![allow(dead_code, unreachable_pub)]

pub mod cluster;
pub mod redis;
pub mod server;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ringtel::pipeline::{PipelineEvent, RowId, RunContext, TokenId};
use ringtel::{
    CloseError, CloseReport, Emitted, Event, ExportError, ExportErrorKind, Exporter, Granularity, Telemetry,
    TelemetryBuilder,
};

/// How long a test waits for something that should happen promptly before it
/// declares failure. Generous: CI machines are noisy 2-core VMs.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A 24-byte event: which producer, its sequence number, its granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ev {
    pub producer: u32,
    pub seq: u64,
    pub granularity: Granularity,
}

impl Ev {
    pub fn row(producer: u32, seq: u64) -> Ev {
        Ev { producer, seq, granularity: Granularity::Rows }
    }
    pub fn lifecycle(producer: u32, seq: u64) -> Ev {
        Ev { producer, seq, granularity: Granularity::Lifecycle }
    }
    pub fn full(producer: u32, seq: u64) -> Ev {
        Ev { producer, seq, granularity: Granularity::Full }
    }
}

impl Event for Ev {
    fn granularity(&self) -> Granularity {
        self.granularity
    }
}

/// Polls `condition` until it holds or `PATIENCE` passes, yielding between
/// polls; panics with `what` on timeout.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::yield_now();
    }
}

/// What a [`Probe`] exporter does on its next calls.
#[derive(Debug, Default)]
pub struct ProbeControl {
    /// Every `export` returns an error while set.
    pub fail: AtomicBool,
    /// Every `export` panics while set.
    pub panic: AtomicBool,
    /// Every `flush` returns an error while set.
    pub fail_flush: AtomicBool,
    /// While closed, `export`/`flush`/`close` block until the gate opens.
    gate_closed: Mutex<bool>,
    gate: Condvar,
    /// Calls currently blocked at the gate.
    pub blocked: AtomicUsize,
    pub exports: AtomicU64,
    pub flushes: AtomicU64,
    pub closes: AtomicU64,
    /// Events received, in order.
    pub received: Mutex<Vec<Ev>>,
}

impl ProbeControl {
    pub fn new() -> Arc<ProbeControl> {
        Arc::new(ProbeControl::default())
    }
    /// Makes the next calls block until [`ProbeControl::open_gate`].
    pub fn close_gate(&self) {
        *self.gate_closed.lock().unwrap() = true;
    }
    pub fn open_gate(&self) {
        *self.gate_closed.lock().unwrap() = false;
        self.gate.notify_all();
    }
    fn pass_gate(&self) {
        let mut closed = self.gate_closed.lock().unwrap();
        if *closed {
            self.blocked.fetch_add(1, Ordering::SeqCst);
            while *closed {
                closed = self.gate.wait(closed).unwrap();
            }
            self.blocked.fetch_sub(1, Ordering::SeqCst);
        }
    }
    pub fn received(&self) -> Vec<Ev> {
        self.received.lock().unwrap().clone()
    }
    pub fn received_len(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

/// An exporter driven by a [`ProbeControl`].
#[derive(Debug)]
pub struct Probe {
    pub name: String,
    pub control: Arc<ProbeControl>,
}

impl Probe {
    pub fn new(name: &str) -> (Probe, Arc<ProbeControl>) {
        quiet_expected_panics();
        let control = ProbeControl::new();
        (Probe { name: name.to_owned(), control: Arc::clone(&control) }, control)
    }
}

impl Exporter<Ev> for Probe {
    fn name(&self) -> &str {
        &self.name
    }
    fn export(&mut self, batch: &[Ev]) -> Result<(), ExportError> {
        self.control.pass_gate();
        self.control.exports.fetch_add(1, Ordering::SeqCst);
        if self.control.panic.load(Ordering::SeqCst) {
            panic!("probe `{}` panics on purpose", self.name);
        }
        if self.control.fail.load(Ordering::SeqCst) {
            return Err(ExportError::new(ExportErrorKind::Transport, "probe fails on purpose"));
        }
        self.control.received.lock().unwrap().extend_from_slice(batch);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), ExportError> {
        self.control.pass_gate();
        self.control.flushes.fetch_add(1, Ordering::SeqCst);
        if self.control.fail_flush.load(Ordering::SeqCst) {
            return Err(ExportError::new(ExportErrorKind::Io, "probe flush fails on purpose"));
        }
        Ok(())
    }
    fn close(&mut self) -> Result<(), ExportError> {
        self.control.pass_gate();
        self.control.closes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Asserts that each producer's events appear in increasing `seq` order (C5).
pub fn assert_per_producer_order(events: &[Ev]) {
    let mut last: std::collections::HashMap<u32, u64> = std::collections::HashMap::new();
    for e in events {
        if let Some(&prev) = last.get(&e.producer) {
            assert!(e.seq > prev, "producer {} out of order: {} after {}", e.producer, e.seq, prev);
        }
        last.insert(e.producer, e.seq);
    }
}

/// Keeps panics that tests cause on purpose (messages containing "on
/// purpose" or "injected") out of the test log; other panics print as usual.
pub fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !(message.contains("on purpose") || message.contains("injected")) {
                default(info);
            }
        }));
    });
}

/// Starts `builder` with a gated [`Probe`] named `name` and parks the consumer
/// inside its export of `Ev::row(0, 0)`: until the gate opens, the consumer
/// takes nothing more, and the ring is empty.
pub fn start_stalled(name: &str, builder: TelemetryBuilder<Ev>) -> (Telemetry<Ev>, Arc<ProbeControl>) {
    let (probe, control) = Probe::new(name);
    let telemetry = builder.exporter(probe).start().unwrap();
    control.close_gate();
    assert_eq!(telemetry.emit(Ev::row(0, 0)), Emitted::Queued);
    wait_until("the consumer holds event 0 in export", || control.blocked.load(Ordering::SeqCst) == 1);
    (telemetry, control)
}

/// `RowCreated` events of `run` for rows (and tokens) `range`, in order.
pub fn rows(run: RunContext<'_>, range: std::ops::Range<u64>) -> Vec<PipelineEvent> {
    range.map(|i| PipelineEvent::row_created(run, RowId::new(i), TokenId::new(i))).collect()
}

/// The report of a close the test arranged to lose accepted events (a
/// failing, panicking, skipped or hung exporter): the close must say so with
/// `Err(EventsLost)`; any other outcome panics.
pub fn close_losing_events<E: Event>(telemetry: &Telemetry<E>, timeout: Duration) -> CloseReport {
    match telemetry.close(timeout) {
        Err(CloseError::EventsLost { report }) => {
            assert!(lost_accepted_events(report.health()), "EventsLost, but {}", report.health());
            report
        }
        other => panic!("expected a close that reports lost events, got {other:?}"),
    }
}

/// The report of a close that may or may not have lost accepted events (a
/// server that may answer one batch with a redirect, say): `Ok`, or
/// `Err(EventsLost)` whose report shows the losses; any other outcome panics.
/// Either way the outcome must agree with the report's own counts.
pub fn close_report(outcome: Result<CloseReport, CloseError>) -> CloseReport {
    let (report, reported_lost) = match outcome {
        Ok(report) => (report, false),
        Err(CloseError::EventsLost { report }) => (report, true),
        Err(other) => panic!("expected a clean close, with or without lost events, got {other:?}"),
    };
    assert_eq!(
        reported_lost,
        lost_accepted_events(report.health()),
        "close outcome against {}",
        report.health()
    );
    report
}

/// Whether `health` shows events lost after they entered the ring: counted
/// `ExportFailed`, or failed, skipped or left unflushed by one exporter.
pub fn lost_accepted_events(health: &ringtel::Health) -> bool {
    health.dropped(ringtel::DropReason::ExportFailed) > 0
        || health.exporters().iter().any(|e| {
            e.failures() > 0
                || e.skipped_events() > 0
                || e.flush_failures() > 0
                || e.state() == ringtel::ExporterState::CloseFailed
        })
}
