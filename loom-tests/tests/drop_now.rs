//! Model 10 — the control word's derived `drop_now` bit (C14, C2): `emit`
//! drops a non-critical event without pushing (if `is_full` says full) when
//! one bit of the control word is set, so that bit must be set exactly when
//! admission is open, the full hint set and the policy `Drop`, in every word
//! the control word ever holds, whatever races it.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use ringtel::loom_api::{AdmissionState, Control, ControlView};
use ringtel::{Backpressure, Granularity};

/// Whether `view`'s `drop_now` bit agrees with its fields.
fn derived(view: &ControlView) -> bool {
    view.drop_now
        == (view.admission == AdmissionState::Open
            && view.full_hint
            && view.backpressure == Backpressure::Drop)
}

/// A producer sets the full hint while the control plane switches the
/// policy from `Drop` to `Block` and closes; a reader (what `emit` does: one
/// load) checks every word it can see, and the final word is checked after
/// both. The hint, the policy and the close all land, and `drop_now` never
/// disagrees with them: an `emit` never drops under `Block` or after close.
fn drop_now_follows_the_fields() {
    loom::model(|| {
        let control = Arc::new(Control::new(Granularity::Rows, Backpressure::Drop));
        let producer = {
            let control = Arc::clone(&control);
            thread::spawn(move || control.set_full_hint())
        };
        let reconfigure = {
            let control = Arc::clone(&control);
            thread::spawn(move || {
                control.reconfigure(Granularity::Rows, Backpressure::Block);
                control.close();
            })
        };
        // Yield first: loom 0.7 never reorders a load before a store that
        // the storing thread preceded with its own load (tokio-rs/loom#392);
        // letting the writers run first makes this load a branch over every
        // value the word held.
        thread::yield_now();
        let seen = control.load();
        assert!(derived(&seen), "C14 violated: drop_now disagrees with the word it is in: {seen:?}");
        producer.join().unwrap();
        reconfigure.join().unwrap();
        let last = control.load();
        assert!(derived(&last), "C14 violated: drop_now disagrees with the final word: {last:?}");
        assert!(last.full_hint, "C14 violated: the full hint was lost: {last:?}");
        assert_eq!(
            (last.admission, last.backpressure),
            (AdmissionState::Closed, Backpressure::Block),
            "C14 violated: a change was lost: {last:?}"
        );
        // Clearing the hint clears the bit with it; reopening is not
        // possible here, so the bit stays clear.
        control.clear_full_hint();
        let cleared = control.load();
        assert!(!cleared.drop_now && derived(&cleared), "C14 violated: {cleared:?}");
    });
}

/// The hint is set while the policy goes from `Block` to `Drop`: once both
/// landed, `drop_now` is set (a set hint under `Drop` drops without a push).
fn drop_now_set_when_the_policy_becomes_drop() {
    loom::model(|| {
        let control = Arc::new(Control::new(Granularity::Rows, Backpressure::Block));
        let producer = {
            let control = Arc::clone(&control);
            thread::spawn(move || control.set_full_hint())
        };
        control.reconfigure(Granularity::Rows, Backpressure::Drop);
        let seen = control.load();
        assert!(derived(&seen), "C14 violated: {seen:?}");
        producer.join().unwrap();
        let last = control.load();
        assert!(last.drop_now && derived(&last), "C14 violated: drop_now not derived: {last:?}");
    });
}

#[test]
fn drop_now_follows_the_fields_under_races() {
    drop_now_follows_the_fields();
}

#[test]
fn drop_now_set_when_the_policy_becomes_drop_under_races() {
    drop_now_set_when_the_policy_becomes_drop();
}

#[cfg(ringtel_broken = "full_hint_stale_policy")]
#[test]
fn twin_full_hint_stale_policy_is_caught() {
    loom_tests::assert_caught("full_hint_stale_policy", &["C14 violated"], drop_now_follows_the_fields);
}
