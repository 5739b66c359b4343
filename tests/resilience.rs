//! C9 failure policies, C10 circuit breakers, hang isolation, C14 hot
//! reconfiguration, and a chaos test of all of them against exact
//! conservation. Time moves through a `ManualClock`; nothing sleeps.

mod common;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{assert_per_producer_order, close_losing_events, close_report, wait_until, Ev, Probe};
use ringtel::{
    Backpressure, BreakerConfig, BreakerState, CloseError, DropReason, Emitted, ExporterOptions,
    ExporterState, FlushError, Granularity, ManualClock, Telemetry, Timestamp, TotalFailurePolicy,
};

const LONG: Duration = Duration::from_secs(20);
const PATIENT: ExporterOptions =
    ExporterOptions { breaker: None, export_timeout: Some(Duration::from_secs(3600)) };

fn clock() -> ManualClock {
    ManualClock::new(Timestamp::from_nanos(1_000_000_000))
}

#[test]
fn breaker_opens_skips_then_a_trial_after_the_cooldown_closes_it() {
    let clock = clock();
    let (flaky, control) = Probe::new("flaky");
    let breaker = BreakerConfig {
        open_after: 2,
        cooldown: Duration::from_secs(1),
        max_cooldown: Duration::from_secs(8),
    };
    let telemetry = Telemetry::builder()
        .clock(clock.clone())
        .exporter_with(flaky, ExporterOptions { breaker: Some(breaker), export_timeout: None })
        .start()
        .unwrap();
    control.fail.store(true, Ordering::SeqCst);
    for seq in 0..2 {
        let _ = telemetry.emit(Ev::row(0, seq));
        let _ = telemetry.flush(LONG);
    }
    let exporter = telemetry.health().exporters()[0].clone();
    let BreakerState::Open { next_trial, cooldown } = exporter.breaker() else { panic!("{exporter:?}") };
    assert_eq!(cooldown, Duration::from_secs(1));
    assert_eq!(exporter.breaker_opened(), 1);

    // While open, batches are skipped and counted for it; flush says so.
    let _ = telemetry.emit(Ev::row(0, 2));
    let err = telemetry.flush(LONG).unwrap_err();
    assert!(err.to_string().contains("skipped 1 events"), "{err}");
    assert_eq!(control.exports.load(Ordering::SeqCst), 2, "no export attempt while open");
    assert_eq!(telemetry.health().exporters()[0].skipped_events(), 1);

    // The trial fails: reopened with a doubled cooldown.
    clock.set(next_trial);
    let _ = telemetry.emit(Ev::row(0, 3));
    let _ = telemetry.flush(LONG);
    let BreakerState::Open { cooldown, next_trial } = telemetry.health().exporters()[0].breaker() else {
        panic!()
    };
    assert_eq!(cooldown, Duration::from_secs(2));

    // The next trial succeeds: closed again, batches flow.
    control.fail.store(false, Ordering::SeqCst);
    clock.set(next_trial);
    let _ = telemetry.emit(Ev::row(0, 4));
    telemetry.flush(LONG).unwrap();
    let _ = telemetry.emit(Ev::row(0, 5));
    telemetry.flush(LONG).unwrap();
    let health = close_losing_events(&telemetry, LONG).health().clone();
    assert_eq!(health.exporters()[0].breaker(), BreakerState::Closed { consecutive_failures: 0 });
    assert_eq!(control.received().iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
    assert_eq!((health.delivered(), health.dropped(DropReason::ExportFailed)), (2, 4));
    assert!(health.is_conserved());
}

#[test]
fn a_hung_exporter_is_isolated_skipped_and_resumes_when_it_returns() {
    let clock = clock();
    let (hung, a) = Probe::new("a");
    let (healthy, b) = Probe::new("b");
    let telemetry = Telemetry::builder()
        .clock(clock.clone())
        .export_timeout(Duration::from_secs(10))
        .backpressure(Backpressure::Block)
        .exporter(hung)
        // A clock jump must not make the healthy exporter look hung too.
        .exporter_with(healthy, PATIENT)
        .start()
        .unwrap();
    a.close_gate();
    let _ = telemetry.emit(Ev::row(0, 0));
    wait_until("a hangs in export", || a.blocked.load(Ordering::SeqCst) == 1);
    // Slow is not hung: until the timeout passes, the consumer waits.
    assert_eq!(telemetry.health().exporters()[0].state(), ExporterState::Active);
    wait_until("b received event 0", || b.received_len() == 1);
    clock.advance(Duration::from_secs(11));
    wait_until("a is declared hung", || {
        matches!(telemetry.health().exporters()[0].state(), ExporterState::Hung { .. })
    });
    let ExporterState::Hung { since } = telemetry.health().exporters()[0].state() else { unreachable!() };
    assert_eq!(since, Timestamp::from_nanos(1_000_000_000));
    for seq in 1..100 {
        assert_eq!(telemetry.emit(Ev::row(0, seq)), Emitted::Queued);
    }
    let err = telemetry.flush(Duration::from_millis(100)).unwrap_err();
    let FlushError::Timeout { unresponsive, .. } = &err else { panic!("{err:?}") };
    let hung: Vec<_> = unresponsive.iter().map(|h| (h.exporter, h.name.as_str(), h.since)).collect();
    let a_id = telemetry.health().exporters()[0].id();
    assert_eq!(hung, vec![(a_id, "a", Timestamp::from_nanos(1_000_000_000))]);
    assert!(err.to_string().contains("`a`"), "{err}");
    assert_eq!(b.received_len(), 100, "b received every event while a hung");
    assert!(telemetry.health().exporters()[0].skipped_events() >= 99);

    // a returns: it resumes with new batches.
    a.open_gate();
    wait_until("a is active again", || telemetry.health().exporters()[0].state() == ExporterState::Active);
    let _ = telemetry.emit(Ev::row(0, 100));
    // (The round left pending while `a` hung completed when it returned,
    // reporting what `a` skipped; a new round is clean.)
    telemetry.flush(LONG).unwrap();
    let health = close_losing_events(&telemetry, LONG).health().clone();
    assert_eq!(a.received().last().map(|e| e.seq), Some(100));
    assert_eq!((health.offered(), health.delivered()), (101, 101));
    assert_eq!(a.closes.load(Ordering::SeqCst) + b.closes.load(Ordering::SeqCst), 2);
}

#[test]
fn close_with_an_exporter_hung_forever_returns_on_time_naming_it() {
    let clock = clock();
    let (hung, a) = Probe::new("a");
    let (healthy, b) = Probe::new("b");
    let telemetry = Telemetry::builder()
        .clock(clock.clone())
        .export_timeout(Duration::from_secs(1))
        .exporter(hung)
        // A clock jump must not make the healthy exporter look hung too.
        .exporter_with(healthy, PATIENT)
        .start()
        .unwrap();
    a.close_gate();
    let _ = telemetry.emit(Ev::row(0, 0));
    wait_until("a hangs", || a.blocked.load(Ordering::SeqCst) == 1);
    clock.advance(Duration::from_secs(2));
    for seq in 1..10 {
        let _ = telemetry.emit(Ev::row(0, seq));
    }
    wait_until("b has everything", || b.received_len() == 10);
    wait_until("a is hung", || {
        matches!(telemetry.health().exporters()[0].state(), ExporterState::Hung { .. })
    });
    wait_until("every batch is resolved", || telemetry.health().delivered() == 10);
    let started = std::time::Instant::now();
    let err = telemetry.close(Duration::from_millis(200)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    let CloseError::Timeout { report } = &err else { panic!("{err:?}") };
    assert!(err.to_string().contains("`a`"), "{err}");
    let health = report.health();
    assert_eq!((health.offered(), health.delivered()), (10, 10), "b got everything");
    assert!(health.is_conserved());
    assert_eq!(b.closes.load(Ordering::SeqCst), 1);
    // When a finally returns it is closed exactly once, and nothing is recounted.
    a.open_gate();
    wait_until("a closes", || a.closes.load(Ordering::SeqCst) == 1);
    assert_eq!(telemetry.health().delivered(), 10);
    assert_eq!(telemetry.health().offered(), 10);
}

#[test]
fn a_slow_exporter_backpressures_block_without_loss() {
    let (slow, control) = Probe::new("slow");
    let telemetry = Telemetry::builder()
        .capacity(2)
        .batch_size(1)
        .backpressure(Backpressure::Block)
        .exporter(slow)
        .start()
        .unwrap();
    control.close_gate();
    let producer = {
        let telemetry = telemetry.clone();
        std::thread::spawn(move || (0..20).map(|seq| telemetry.emit(Ev::row(0, seq))).collect::<Vec<_>>())
    };
    wait_until("the producer blocks behind the slow exporter", || {
        telemetry.health().blocked_producers() == 1
    });
    control.open_gate();
    assert!(producer.join().unwrap().iter().all(|o| *o == Emitted::Queued));
    let health = telemetry.close(LONG).unwrap().health().clone();
    assert_eq!((health.delivered(), health.dropped_total()), (20, 0));
    assert_eq!(control.received().iter().map(|e| e.seq).collect::<Vec<_>>(), (0..20).collect::<Vec<_>>());
}

#[test]
fn total_failure_disable_stops_admission() {
    let (a, control) = Probe::new("a");
    control.fail.store(true, Ordering::SeqCst);
    let telemetry =
        Telemetry::builder().on_total_failure(2, TotalFailurePolicy::Disable).exporter(a).start().unwrap();
    for seq in 0..2 {
        assert_eq!(telemetry.emit(Ev::row(0, seq)), Emitted::Queued);
        let _ = telemetry.flush(LONG);
    }
    assert_eq!(telemetry.emit(Ev::row(0, 2)), Emitted::Dropped(DropReason::Disabled));
    assert_eq!(telemetry.emit(Ev::lifecycle(0, 3)), Emitted::Dropped(DropReason::Disabled));
    let health = close_losing_events(&telemetry, LONG).health().clone();
    assert_eq!((health.dropped(DropReason::Disabled), health.dropped(DropReason::ExportFailed)), (2, 2));
    assert!(health.is_conserved());
}

#[test]
fn total_failure_fail_is_sticky_until_an_export_succeeds() {
    let (a, control) = Probe::new("a");
    control.fail.store(true, Ordering::SeqCst);
    let telemetry = Telemetry::builder()
        .on_total_failure(3, TotalFailurePolicy::Fail)
        .breaker(BreakerConfig { open_after: 100, ..BreakerConfig::default() })
        .exporter(a)
        .start()
        .unwrap();
    for seq in 0..3 {
        let _ = telemetry.emit(Ev::row(0, seq));
        let _ = telemetry.flush(LONG);
    }
    // Reported by flush (repeatedly: reading never clears it) and health.
    for _ in 0..2 {
        let err = telemetry.flush(LONG).unwrap_err();
        assert!(matches!(err, FlushError::TotalFailure(f) if f.consecutive_batches == 3), "{err:?}");
    }
    assert!(telemetry.health().total_failure().is_some());
    control.fail.store(false, Ordering::SeqCst);
    let _ = telemetry.emit(Ev::row(0, 3));
    telemetry.flush(LONG).unwrap();
    assert!(telemetry.health().total_failure().is_none());
    // Recovered, but the first three batches stay lost.
    close_losing_events(&telemetry, LONG);
}

#[test]
fn total_failure_fail_is_reported_by_close() {
    let (a, control) = Probe::new("a");
    control.fail.store(true, Ordering::SeqCst);
    let telemetry =
        Telemetry::builder().on_total_failure(1, TotalFailurePolicy::Fail).exporter(a).start().unwrap();
    let _ = telemetry.emit(Ev::row(0, 0));
    let err = telemetry.close(LONG).unwrap_err();
    let CloseError::TotalFailure { report, .. } = &err else { panic!("{err:?}") };
    assert_eq!(report.health().dropped(DropReason::ExportFailed), 1);
    assert_eq!(telemetry.close(LONG).unwrap_err(), err);
}

#[test]
fn exporters_are_added_and_removed_while_producers_run() {
    let (first, first_control) = Probe::new("first");
    let telemetry = Telemetry::builder().backpressure(Backpressure::Block).exporter(first).start().unwrap();
    let first_id = telemetry.health().exporters()[0].id();
    for seq in 0..10 {
        let _ = telemetry.emit(Ev::row(0, seq));
    }
    let (second, second_control) = Probe::new("second");
    let second_id = telemetry.add_exporter(second, ExporterOptions::default()).unwrap();
    telemetry.flush(LONG).unwrap();
    for seq in 10..20 {
        let _ = telemetry.emit(Ev::row(0, seq));
    }
    telemetry.remove_exporter(first_id).unwrap();
    // The removed exporter got everything accepted before its removal, then
    // flush and close exactly once, and left Health.
    wait_until("first leaves", || telemetry.health().exporters().len() == 1);
    assert_eq!(first_control.received_len(), 20);
    assert_eq!(first_control.closes.load(Ordering::SeqCst), 1);
    for seq in 20..30 {
        let _ = telemetry.emit(Ev::row(0, seq));
    }
    let health = telemetry.close(LONG).unwrap().health().clone();
    assert_eq!(health.exporters()[0].id(), second_id);
    let second_seqs: Vec<u64> = second_control.received().iter().map(|e| e.seq).collect();
    assert!(second_seqs.ends_with(&(10..30).collect::<Vec<_>>()), "{second_seqs:?}");
    assert_eq!(first_control.received_len(), 20);
    assert_eq!(health.delivered(), 30);
}

#[test]
fn bad_exporter_options_are_typed_errors() {
    let (a, _) = Probe::new("a");
    let bad = ExporterOptions {
        breaker: Some(BreakerConfig { open_after: 0, ..BreakerConfig::default() }),
        export_timeout: None,
    };
    let err = Telemetry::builder().exporter_with(a, bad).start().unwrap_err();
    assert!(err.to_string().contains("`exporter.breaker.open_after`"), "{err}");
    let telemetry = Telemetry::<Ev>::builder().start().unwrap();
    let (b, _) = Probe::new("b");
    let err = telemetry
        .add_exporter(b, ExporterOptions { breaker: None, export_timeout: Some(Duration::ZERO) })
        .unwrap_err();
    assert_eq!(err.field(), "exporter.export_timeout");
    assert!(telemetry.set_backpressure(Backpressure::BlockFor(Duration::from_secs(7200))).is_err());
}

/// Producers under every policy, exporters that fail, panic, hang and
/// recover, and configuration changing underneath: conservation stays exact.
#[test]
fn chaos_keeps_exact_conservation() {
    let clock = clock();
    let probes: Vec<_> = (0..3).map(|i| Probe::new(&format!("chaos-{i}"))).collect();
    let mut builder = Telemetry::builder()
        .clock(clock.clone())
        .capacity(16)
        .batch_size(4)
        .backpressure(Backpressure::Block)
        .critical_wait(Duration::from_millis(1))
        .export_timeout(Duration::from_secs(1))
        .breaker(BreakerConfig {
            open_after: 3,
            cooldown: Duration::from_secs(1),
            max_cooldown: Duration::from_secs(4),
        })
        .on_total_failure(ringtel::MAX_COUNT_SETTING, TotalFailurePolicy::Continue);
    let controls: Vec<_> = probes.iter().map(|(_, c)| c.clone()).collect();
    for (probe, _) in probes {
        builder = builder.exporter(probe);
    }
    let telemetry = builder.start().unwrap();
    let policies = [
        Backpressure::Block,
        Backpressure::Drop,
        Backpressure::DropOldest,
        Backpressure::BlockFor(Duration::from_micros(200)),
    ];
    let outcomes: Vec<Vec<(u64, Emitted)>> = std::thread::scope(|s| {
        let producers: Vec<_> = (0..3u32)
            .map(|p| {
                let telemetry = &telemetry;
                s.spawn(move || {
                    (0..3_000u64)
                        .map(|seq| {
                            let g = [Granularity::Rows, Granularity::Full, Granularity::Lifecycle]
                                [(seq % 7 % 3) as usize];
                            (seq, telemetry.emit(Ev { producer: p, seq, granularity: g }))
                        })
                        .collect()
                })
            })
            .collect();
        // The chaos monkey: flips faults, hangs and settings while producers run.
        for round in 0..60u64 {
            let c = &controls[(round % 3) as usize];
            match round % 5 {
                0 => c.fail.store(!c.fail.load(Ordering::SeqCst), Ordering::SeqCst),
                1 => c.panic.store(round % 2 == 1, Ordering::SeqCst),
                2 => c.close_gate(),
                3 => {
                    clock.advance(Duration::from_millis(700));
                    c.open_gate();
                }
                _ => {
                    telemetry.set_backpressure(policies[(round % 4) as usize]).unwrap();
                    telemetry.set_granularity([Granularity::Full, Granularity::Rows][(round % 2) as usize]);
                }
            }
            std::thread::yield_now();
        }
        for c in &controls {
            c.fail.store(false, Ordering::SeqCst);
            c.panic.store(false, Ordering::SeqCst);
            c.open_gate();
        }
        telemetry.set_backpressure(Backpressure::Drop).unwrap();
        producers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let report = close_report(telemetry.close(LONG));
    let health = report.health();
    let all: Vec<Emitted> = outcomes.iter().flatten().map(|(_, o)| *o).collect();
    let count = |wanted: Emitted| all.iter().filter(|&&o| o == wanted).count() as u64;
    assert_eq!(health.offered(), all.len() as u64);
    assert_eq!(health.filtered(), count(Emitted::Filtered));
    assert_eq!(health.accepted(), count(Emitted::Queued));
    assert_eq!(health.dropped(DropReason::QueueFull), count(Emitted::Dropped(DropReason::QueueFull)));
    let mut received: HashSet<(u32, u64)> = HashSet::new();
    for c in &controls {
        let events = c.received();
        let non_critical: Vec<Ev> =
            events.iter().filter(|e| e.granularity != Granularity::Lifecycle).copied().collect();
        assert_per_producer_order(&non_critical);
        received.extend(events.iter().map(|e| (e.producer, e.seq)));
        assert_eq!(c.closes.load(Ordering::SeqCst), 1);
    }
    assert_eq!(health.delivered(), received.len() as u64);
    assert_eq!(health.offered(), health.filtered() + health.delivered() + health.dropped_total());
}
