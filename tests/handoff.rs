//! The hand-off of several batches at once (`Config::handoff_batches`): a
//! backlog reaches the exporter as one call per batch of at most
//! `batch_size` events, each batch is accounted on its own (C1), the export
//! timeout applies per call, and a breaker counts the calls of one hand-off
//! as one admission. Time moves through a `ManualClock`; nothing sleeps.

mod common;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{close_losing_events, wait_until, Ev};
use ringtel::{
    BreakerConfig, BreakerState, DropReason, Emitted, ExportError, ExportErrorKind, Exporter,
    ExporterOptions, ExporterState, ManualClock, Telemetry, TelemetryBuilder, Timestamp,
};

const LONG: Duration = Duration::from_secs(20);
const START: Timestamp = Timestamp::from_nanos(1_000_000_000);

/// What the scripted exporter does, shared with the test.
#[derive(Default)]
struct Script {
    state: Mutex<ScriptState>,
    changed: Condvar,
}

#[derive(Default)]
struct ScriptState {
    /// The events of each call, in call order.
    calls: Vec<usize>,
    /// Calls (by index) that fail.
    failing: Vec<usize>,
    /// Calls (by index) that wait at the gate until `release`.
    gated: Vec<usize>,
    /// The call waiting at the gate, if one does.
    waiting: Option<usize>,
    /// How far each call moves the clock.
    advance: Duration,
}

impl Script {
    fn new(change: impl FnOnce(&mut ScriptState)) -> Arc<Script> {
        let script = Script::default();
        change(&mut script.state.lock().unwrap());
        Arc::new(script)
    }

    /// Waits until call `index` is held at the gate.
    fn wait_gated(&self, index: usize) {
        wait_until(&format!("call {index} waits at the gate"), || {
            self.state.lock().unwrap().waiting == Some(index)
        });
    }

    /// Lets the call at the gate go on.
    fn release(&self) {
        let mut state = self.state.lock().unwrap();
        let index = state.waiting.expect("a call waits at the gate");
        state.gated.retain(|&i| i != index);
        self.changed.notify_all();
    }

    fn calls(&self) -> Vec<usize> {
        self.state.lock().unwrap().calls.clone()
    }
}

struct Scripted {
    script: Arc<Script>,
    clock: ManualClock,
}

impl Exporter<Ev> for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    fn export(&mut self, batch: &[Ev]) -> Result<(), ExportError> {
        let mut state = self.script.state.lock().unwrap();
        let index = state.calls.len();
        while state.gated.contains(&index) {
            state.waiting = Some(index);
            state = self.script.changed.wait(state).unwrap();
        }
        state.waiting = None;
        state.calls.push(batch.len());
        self.clock.advance(state.advance);
        match state.failing.contains(&index) {
            true => Err(ExportError::new(ExportErrorKind::Transport, "scripted to fail")),
            false => Ok(()),
        }
    }
}

/// A ring of 64 in batches of 4, four batches per hand-off, the scripted
/// exporter with `options`, the clock at [`START`].
fn builder(script: &Arc<Script>, clock: &ManualClock, options: ExporterOptions) -> TelemetryBuilder<Ev> {
    Telemetry::builder()
        .clock(clock.clone())
        .capacity(64)
        .batch_size(4)
        .handoff_batches(4)
        .exporter_with(Scripted { script: Arc::clone(script), clock: clock.clone() }, options)
}

/// Queues event `first`, which `script`'s exporter holds at the gate of
/// its call `call`, then sixteen more behind it: four full batches, which
/// the consumer takes as one hand-off once that call returns.
fn queue_a_backlog(telemetry: &Telemetry<Ev>, script: &Script, first: u64, call: usize) {
    assert_eq!(telemetry.emit(Ev::row(0, first)), Emitted::Queued);
    script.wait_gated(call);
    for seq in first + 1..=first + 16 {
        assert_eq!(telemetry.emit(Ev::row(0, seq)), Emitted::Queued);
    }
}

#[test]
fn a_backlog_goes_out_one_call_per_batch_and_each_batch_is_accounted_on_its_own() {
    let clock = ManualClock::new(START);
    // Calls 2 and 4 (the second and fourth batches of the backlog) fail.
    let script = Script::new(|s| {
        s.gated = vec![0];
        s.failing = vec![2, 4];
    });
    let telemetry = builder(&script, &clock, ExporterOptions::default()).start().unwrap();
    queue_a_backlog(&telemetry, &script, 0, 0);
    script.release();
    // Export failures are counted, not a flush failure (nothing was skipped).
    telemetry.flush(LONG).unwrap();
    assert_eq!(script.calls(), vec![1, 4, 4, 4, 4], "one call per batch, none over batch_size");
    let health = close_losing_events(&telemetry, LONG).health().clone();
    assert_eq!(health.offered(), 17);
    assert_eq!(health.delivered(), 9, "event 0 and the first and third batches");
    assert_eq!(health.dropped(DropReason::ExportFailed), 8, "the second and fourth batches");
}

#[test]
fn the_export_timeout_applies_to_each_call_of_a_hand_off() {
    let clock = ManualClock::new(START);
    // Each call takes 6 s on the telemetry's clock, under the 10 s timeout;
    // the fourth call of the backlog (call 4) then hangs.
    let script = Script::new(|s| {
        s.gated = vec![0, 4];
        s.advance = Duration::from_secs(6);
    });
    let options = ExporterOptions { breaker: None, export_timeout: Some(Duration::from_secs(10)) };
    let telemetry = builder(&script, &clock, options).start().unwrap();
    queue_a_backlog(&telemetry, &script, 0, 0);
    // Call 0 returns at START + 6 s; calls 1–3 end at + 12, + 18, + 24 s.
    script.release();
    script.wait_gated(4);
    assert_eq!(
        telemetry.health().exporters()[0].state(),
        ExporterState::Active,
        "24 s for three calls is not a hang"
    );
    clock.advance(Duration::from_secs(11));
    wait_until("call 4 is declared hung", || {
        matches!(telemetry.health().exporters()[0].state(), ExporterState::Hung { .. })
    });
    let ExporterState::Hung { since } = telemetry.health().exporters()[0].state() else { unreachable!() };
    assert_eq!(since, START + Duration::from_secs(24), "timed from the call's own start");
    // It returns and accepts the batch after all: nothing stays failed.
    script.release();
    wait_until("the exporter is active again", || {
        telemetry.health().exporters()[0].state() == ExporterState::Active
    });
    telemetry.flush(LONG).unwrap();
    let health = telemetry.close(LONG).unwrap().health().clone();
    assert_eq!((health.offered(), health.delivered()), (17, 17));
    assert_eq!(script.calls(), vec![1, 4, 4, 4, 4]);
}

#[test]
fn the_calls_of_one_hand_off_open_a_breaker_once() {
    let clock = ManualClock::new(START);
    let script = Script::new(|s| {
        s.gated = vec![0];
        s.failing = vec![1, 2, 3, 4];
    });
    let breaker = BreakerConfig {
        open_after: 2,
        cooldown: Duration::from_secs(1),
        max_cooldown: Duration::from_secs(8),
    };
    let options = ExporterOptions { breaker: Some(breaker), export_timeout: None };
    let telemetry = builder(&script, &clock, options).start().unwrap();
    queue_a_backlog(&telemetry, &script, 0, 0);
    script.release();
    telemetry.flush(LONG).unwrap();
    let exporter = telemetry.health().exporters()[0].clone();
    // The four calls were admitted together: the second opens the breaker,
    // the two after it are not failed trials that lengthen the cooldown.
    let BreakerState::Open { cooldown, .. } = exporter.breaker() else { panic!("{exporter:?}") };
    assert_eq!((cooldown, exporter.breaker_opened()), (Duration::from_secs(1), 1));
    assert_eq!(script.calls(), vec![1, 4, 4, 4, 4]);
    let health = close_losing_events(&telemetry, LONG).health().clone();
    assert_eq!((health.delivered(), health.dropped(DropReason::ExportFailed)), (1, 16));
}

#[test]
fn a_half_open_breakers_trial_stops_at_its_failed_call_and_skips_the_rest() {
    let clock = ManualClock::new(START);
    // `a` fails its first call (its breaker opens) and its trial; `b`
    // holds the consumer in its second call while a backlog queues.
    let a = Script::new(|s| s.failing = vec![0, 1]);
    let b = Script::new(|s| s.gated = vec![1]);
    let breaker = BreakerConfig {
        open_after: 1,
        cooldown: Duration::from_secs(1),
        max_cooldown: Duration::from_secs(8),
    };
    let patient = ExporterOptions { breaker: None, export_timeout: Some(Duration::from_secs(3600)) };
    let telemetry = builder(&a, &clock, ExporterOptions { breaker: Some(breaker), export_timeout: None })
        .exporter_with(Scripted { script: Arc::clone(&b), clock: clock.clone() }, patient)
        .start()
        .unwrap();
    assert_eq!(telemetry.emit(Ev::row(0, 0)), Emitted::Queued);
    telemetry.flush(LONG).unwrap();
    assert!(matches!(telemetry.health().exporters()[0].breaker(), BreakerState::Open { .. }));
    // While `a` is open, event 1 goes to `b` only, which holds it.
    queue_a_backlog(&telemetry, &b, 1, 1);
    clock.advance(Duration::from_secs(1));
    b.release();
    let err = telemetry.flush(LONG).unwrap_err();
    assert!(err.to_string().contains("skipped"), "{err}");
    // The trial was the backlog's first batch; it failed, so the other
    // three were not sent to `a` but skipped, and counted for it.
    assert_eq!(a.calls(), vec![1, 4]);
    let exporter = telemetry.health().exporters()[0].clone();
    assert_eq!(exporter.skipped_events(), 1 + 12, "{exporter:?}");
    let BreakerState::Open { cooldown, .. } = exporter.breaker() else { panic!("{exporter:?}") };
    assert_eq!((cooldown, exporter.breaker_opened()), (Duration::from_secs(2), 2));
    assert_eq!(b.calls(), vec![1, 1, 4, 4, 4, 4]);
    let health = close_losing_events(&telemetry, LONG).health().clone();
    assert_eq!((health.offered(), health.delivered()), (18, 18), "`b` accepted everything");
}
