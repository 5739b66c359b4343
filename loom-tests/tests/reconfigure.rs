//! Model 7 — hot reconfiguration (C14): a racing `emit` sees the old or the
//! new setting, never a mix, and concurrent changes to the control word
//! (reconfiguration, close, the full-ring hint) never lose one another.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use loom_tests::{close_in_time, ev, start, Log, Recorder};
use ringtel::loom_api::{AdmissionState, Control, NEVER};
use ringtel::{Backpressure, DropReason, Emitted, ExporterOptions, Granularity};

/// One reconfiguration changes granularity and policy together; a
/// concurrent reader (what `emit` does: one load) sees both old or both new.
fn reader_sees_old_or_new() {
    loom::model(|| {
        let control = Arc::new(Control::new(Granularity::Rows, Backpressure::Drop));
        let writer = {
            let control = Arc::clone(&control);
            thread::spawn(move || control.reconfigure(Granularity::Full, Backpressure::Block))
        };
        // Yield first: loom 0.7 never reorders a load before a store that the
        // storing thread preceded with its own load (tokio-rs/loom#392), which
        // `Control::update` does. Letting the writer run first makes the
        // load a branch over every value the word held, including any
        // intermediate one.
        thread::yield_now();
        let seen = control.load();
        let pair = (seen.granularity, seen.backpressure);
        assert!(
            pair == (Granularity::Rows, Backpressure::Drop)
                || pair == (Granularity::Full, Backpressure::Block),
            "C14 violated: torn control word {pair:?}"
        );
        writer.join().unwrap();
        let after = control.load();
        assert_eq!((after.granularity, after.backpressure), (Granularity::Full, Backpressure::Block));
    });
}

/// A reconfiguration, a close and a producer setting the full-ring hint race;
/// the final word holds all three changes.
fn concurrent_changes_all_land() {
    loom::model(|| {
        let control = Arc::new(Control::new(Granularity::Rows, Backpressure::Drop));
        let reconfigure = {
            let control = Arc::clone(&control);
            thread::spawn(move || control.reconfigure(Granularity::Lifecycle, Backpressure::DropOldest))
        };
        let hint = {
            let control = Arc::clone(&control);
            thread::spawn(move || control.set_full_hint())
        };
        control.close();
        reconfigure.join().unwrap();
        hint.join().unwrap();
        let word = control.load();
        assert_eq!(word.admission, AdmissionState::Closed, "C14 violated: the close was lost");
        assert_eq!(
            (word.granularity, word.backpressure),
            (Granularity::Lifecycle, Backpressure::DropOldest),
            "C14 violated: the reconfiguration was lost"
        );
        assert!(word.full_hint, "C14 violated: the full hint was lost");
    });
}

/// End to end, through the public setters: `set_granularity` and
/// `set_backpressure` race an emit and a close. The emit is filtered or not
/// by one setting; both settings land, and the close is not undone.
fn setters_race_emit_and_close() {
    loom::model(|| {
        let telemetry = start(1, Backpressure::Drop, None);
        let reconfigure = {
            let telemetry = telemetry.clone();
            thread::spawn(move || {
                telemetry.set_granularity(Granularity::Lifecycle);
                telemetry.set_backpressure(Backpressure::DropOldest).expect("valid policy");
            })
        };
        let outcome = telemetry.emit(ev(0));
        assert!(
            matches!(outcome, Emitted::Queued | Emitted::Filtered),
            "C14 violated: a Rows event under Full or Lifecycle must be queued or filtered: {outcome:?}"
        );
        let report = close_in_time(&telemetry);
        reconfigure.join().unwrap();
        let health = telemetry.health();
        assert_eq!(
            (health.granularity(), health.backpressure()),
            (Granularity::Lifecycle, Backpressure::DropOldest),
            "C14 violated: a setting was lost"
        );
        assert!(report.health().is_conserved() && health.is_conserved(), "C1 violated: {health:?}");
        assert_eq!(health.offered(), 1);
        assert_eq!(health.filtered(), u64::from(outcome == Emitted::Filtered), "C1 violated: {health:?}");
        assert_eq!(telemetry.emit(ev(1)), Emitted::Filtered, "C14 violated: granularity lost");
        assert_eq!(
            telemetry.emit(ringtel_lifecycle(2)),
            Emitted::Dropped(DropReason::Closed),
            "C14 violated: a reconfiguration reopened admission"
        );
    });
}

/// An exporter removed while the consumer may be mid-batch still receives
/// every event accepted before `remove_exporter`, then flushes and closes
/// exactly once, and leaves `Health`.
fn remove_exporter_racing_batch() {
    loom::model(|| {
        let log = Log::new();
        let telemetry = start(1, Backpressure::Drop, Some(Recorder::new(&log)));
        let id = telemetry.health().exporters()[0].id();
        assert_eq!(telemetry.emit(ev(0)), Emitted::Queued);
        telemetry.remove_exporter(id).expect("known exporter");
        // The worker drops the exporter after closing it; the mutex in `Log`
        // orders everything it did before these reads.
        log.wait_dropped();
        assert!(
            log.exported() & 1 != 0,
            "C14 violated: a removed exporter missed an event accepted before removal"
        );
        assert_eq!(
            (log.flushes(), log.closes()),
            (1, 1),
            "C14 violated: removal must flush and close exactly once"
        );
        let report = telemetry.close(NEVER).expect("close");
        let health = report.health();
        assert_eq!((health.offered(), health.delivered()), (1, 1), "C1 violated: {health:?}");
        assert!(health.exporters().is_empty(), "C14 violated: removed exporter still in health: {health:?}");
    });
}

/// An exporter added while an event is in flight and a close races the
/// addition: whichever wins, the exporter is closed exactly once (by the
/// consumer when the addition is applied, or at once by `add_exporter` when
/// the telemetry is already closed), flushed at most once, and the event is
/// counted exactly once; if the new exporter received it, it counts as
/// delivered.
fn add_exporter_racing_batch_and_close() {
    loom::model(|| {
        let log = Log::new();
        let telemetry = start(1, Backpressure::Drop, None);
        let adder = {
            let telemetry = telemetry.clone();
            let exporter = Recorder::new(&log);
            thread::spawn(move || {
                telemetry.add_exporter(exporter, ExporterOptions::default()).expect("valid options");
            })
        };
        assert_eq!(telemetry.emit(ev(0)), Emitted::Queued);
        let report = close_in_time(&telemetry);
        adder.join().unwrap();
        // `close` returned after the consumer closed every exporter it had
        // added; `join` orders an inline close by `add_exporter` before us.
        assert_eq!(log.closes(), 1, "C7 violated: an added exporter must be closed exactly once");
        assert!(log.flushes() <= 1, "C7 violated: flushed {} times", log.flushes());
        let health = report.health();
        assert!(health.is_conserved(), "C1 violated: {health:?}");
        assert_eq!(health.offered(), 1, "C1 violated: {health:?}");
        if log.exported() & 1 != 0 {
            assert_eq!(log.events(), 1, "C1 violated: the event was exported twice");
            assert_eq!(health.delivered(), 1, "C1 violated: exported but not delivered: {health:?}");
        }
    });
}

/// `flush` after `add_exporter` returns only once the addition is applied:
/// the new exporter is in `Health` and was flushed by that round.
fn flush_after_add_exporter_finds_it_applied() {
    loom::model(|| {
        let log = Log::new();
        let telemetry = start(1, Backpressure::Drop, None);
        telemetry.add_exporter(Recorder::new(&log), ExporterOptions::default()).expect("valid options");
        telemetry.flush(NEVER).expect("flush");
        assert_eq!(
            telemetry.health().exporters().len(),
            1,
            "C14 violated: a flush after add_exporter completed without the addition applied"
        );
        telemetry.close(NEVER).expect("close");
    });
}

fn ringtel_lifecycle(id: u32) -> loom_tests::Ev {
    loom_tests::Ev { id, critical: true }
}

#[test]
fn reconfigure_read_never_torn() {
    reader_sees_old_or_new();
}

#[test]
fn reconfigure_changes_never_lost() {
    concurrent_changes_all_land();
}

#[test]
fn reconfigure_setters_end_to_end() {
    setters_race_emit_and_close();
}

#[test]
fn reconfigure_remove_exporter_racing_batch() {
    remove_exporter_racing_batch();
}

#[test]
fn reconfigure_add_exporter_racing_batch_and_close() {
    add_exporter_racing_batch_and_close();
}

#[test]
fn reconfigure_flush_after_add_exporter() {
    flush_after_add_exporter_finds_it_applied();
}

#[cfg(ringtel_broken = "flush_target_after_changes")]
#[test]
fn twin_flush_target_after_changes_is_caught() {
    loom_tests::assert_caught(
        "flush_target_after_changes",
        &["C14 violated"],
        flush_after_add_exporter_finds_it_applied,
    );
}

#[cfg(ringtel_broken = "close_unsealed_commands")]
#[test]
fn twin_close_unsealed_commands_is_caught() {
    loom_tests::assert_caught(
        "close_unsealed_commands",
        &["C7 violated"],
        add_exporter_racing_batch_and_close,
    );
}

#[cfg(ringtel_broken = "remove_before_drain")]
#[test]
fn twin_remove_before_drain_is_caught() {
    loom_tests::assert_caught("remove_before_drain", &["C14 violated"], remove_exporter_racing_batch);
}

#[cfg(ringtel_broken = "control_torn")]
#[test]
fn twin_control_torn_is_caught() {
    loom_tests::assert_caught("control_torn", &["C14 violated"], reader_sees_old_or_new);
}

#[cfg(ringtel_broken = "control_torn")]
#[test]
fn twin_control_torn_lost_update_is_caught() {
    loom_tests::assert_caught("control_torn", &["C14 violated"], concurrent_changes_all_land);
}
