//! C6 flush.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{wait_until, Ev, Probe};
use ringtel::{Backpressure, ExportError, ExportErrorKind, Exporter, FailureCause, FlushError, Telemetry};

const LONG: Duration = Duration::from_secs(20);

#[test]
fn flush_returns_after_everything_before_it_was_exported_and_flushed() {
    let (probe, control) = Probe::new("probe");
    let telemetry = Telemetry::builder()
        .capacity(256)
        .backpressure(Backpressure::Block)
        // A consumer that would otherwise sleep long: flush must ring it awake.
        .consumer_idle(Duration::from_millis(500), Duration::from_secs(1))
        .exporter(probe)
        .start()
        .unwrap();
    for seq in 0..1000 {
        let _ = telemetry.emit(Ev::row(0, seq));
    }
    let flushes_before = control.flushes.load(Ordering::SeqCst);
    let started = Instant::now();
    telemetry.flush(LONG).unwrap();
    assert!(started.elapsed() < Duration::from_millis(400), "flush waited for the idle timer");
    assert_eq!(control.received_len(), 1000);
    assert!(control.flushes.load(Ordering::SeqCst) > flushes_before);
    telemetry.close(LONG).unwrap();
}

#[test]
fn flush_racing_producers_covers_each_producers_earlier_events() {
    let (probe, control) = Probe::new("probe");
    let telemetry =
        Telemetry::builder().capacity(64).backpressure(Backpressure::Block).exporter(probe).start().unwrap();
    std::thread::scope(|s| {
        for producer in 0..2u32 {
            let telemetry = &telemetry;
            let control = &control;
            s.spawn(move || {
                for seq in 0..2_000u64 {
                    let _ = telemetry.emit(Ev::row(producer, seq));
                    if seq % 500 == 499 {
                        telemetry.flush(LONG).unwrap();
                        let received = control.received();
                        assert!(
                            received.iter().any(|e| e.producer == producer && e.seq == seq),
                            "event {seq} of producer {producer} was not exported before flush returned"
                        );
                    }
                }
            });
        }
    });
    telemetry.close(LONG).unwrap();
}

#[test]
fn flush_times_out_at_its_deadline_when_an_exporter_hangs() {
    let (probe, control) = Probe::new("hung");
    let telemetry = Telemetry::builder().exporter(probe).start().unwrap();
    control.close_gate();
    let _ = telemetry.emit(Ev::row(0, 0));
    wait_until("the exporter hangs", || control.blocked.load(Ordering::SeqCst) == 1);
    let timeout = Duration::from_millis(50);
    let started = Instant::now();
    let err = telemetry.flush(timeout).unwrap_err();
    assert!(matches!(err, FlushError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() >= timeout && started.elapsed() < timeout + Duration::from_secs(5));
    control.open_gate();
    telemetry.flush(LONG).unwrap();
    telemetry.close(LONG).unwrap();
}

#[test]
fn a_failing_exporter_flush_is_reported_by_name() {
    let (good, _) = Probe::new("good");
    let (bad, bad_control) = Probe::new("bad");
    bad_control.fail_flush.store(true, Ordering::SeqCst);
    let telemetry = Telemetry::builder().exporter(good).exporter(bad).start().unwrap();
    let _ = telemetry.emit(Ev::row(0, 0));
    let err = telemetry.flush(LONG).unwrap_err();
    let FlushError::Exporters { failures } = &err else { panic!("{err:?}") };
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].name, "bad");
    let FailureCause::Flush(cause) = &failures[0].cause else { panic!("{err:?}") };
    assert_eq!(cause.kind(), ExportErrorKind::Io, "the exporter's own error crosses the worker hand-off");
    let source = std::error::Error::source(&err).expect("the failure is the flush error's source");
    assert_eq!(source.to_string(), failures[0].to_string());
    assert!(err.to_string().contains("exporter `bad`"), "{err}");
    let health = telemetry.health();
    assert_eq!(failures[0].exporter, health.exporters()[1].id());
    assert_eq!(health.exporters()[1].last_error().unwrap().kind, ExportErrorKind::Io);
    assert_eq!(health.exporters()[1].flush_failures(), 1);
    assert!(health.exporters()[1].last_error().unwrap().message.contains("flush fails"));
    bad_control.fail_flush.store(false, Ordering::SeqCst);
    telemetry.flush(LONG).unwrap();
    let _ = telemetry.close(LONG);
}

#[test]
fn flush_after_close_says_closed() {
    let telemetry = Telemetry::<Ev>::builder().start().unwrap();
    telemetry.close(LONG).unwrap();
    assert_eq!(telemetry.flush(LONG), Err(FlushError::Closed));
}

/// An exporter that flushes and closes its own telemetry from the consumer.
struct SelfFlusher {
    telemetry: Arc<Mutex<Option<Telemetry<Ev>>>>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Exporter<Ev> for SelfFlusher {
    fn name(&self) -> &str {
        "self-flusher"
    }
    fn export(&mut self, _batch: &[Ev]) -> Result<(), ExportError> {
        if let Some(t) = self.telemetry.lock().unwrap().as_ref() {
            let flush = t.flush(Duration::from_secs(60)).unwrap_err();
            self.seen.lock().unwrap().push(flush.to_string());
        }
        Ok(())
    }
}

#[test]
fn flush_from_the_consumer_thread_fails_fast_instead_of_deadlocking() {
    let slot = Arc::new(Mutex::new(None));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let telemetry = Telemetry::builder()
        .exporter(SelfFlusher { telemetry: Arc::clone(&slot), seen: Arc::clone(&seen) })
        .start()
        .unwrap();
    *slot.lock().unwrap() = Some(telemetry.clone());
    let _ = telemetry.emit(Ev::row(0, 0));
    wait_until("the exporter tried to flush", || !seen.lock().unwrap().is_empty());
    assert_eq!(seen.lock().unwrap()[0], FlushError::OnConsumerThread.to_string());
    drop(slot.lock().unwrap().take());
    telemetry.close(LONG).unwrap();
}
