//! One exporter's lifecycle state, as `Health` reads it: an `Atomic<Phase>`
//! and the time it got hung, with no lock.
//!
//! Two threads write it: the consumer (`Active`, `Hung`, `Removing`) and the
//! exporter's worker (`Closed`, `CloseFailed`, which are final); any thread
//! reads it. A change is a compare-exchange that refuses to leave a final
//! phase, so a late consumer write can never hide a close. `Hung` carries a
//! time: it is stored before the phase and published by the phase's Release
//! store, so a reader that sees `Hung` (Acquire) sees its time too.
//!
//! Loom model: `loom-tests/tests/exporter_state.rs`, on the shim's model of
//! `Atomic` (loom cannot see inside the `atomic` crate); broken twins
//! `exporter_state_check_then_store` and `exporter_state_since_after_phase`.

use bytemuck::{CheckedBitPattern, NoUninit};

use crate::clock::Timestamp;
use crate::health::ExporterState;
use crate::sync::{Atomic, AtomicU64, Ordering};

/// [`ExporterState`] without its data, one byte wide for `Atomic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, NoUninit, CheckedBitPattern)]
#[repr(u8)]
enum Phase {
    Active,
    Hung,
    Removing,
    Closed,
    CloseFailed,
}

impl Phase {
    /// Closed and CloseFailed are final.
    fn is_final(self) -> bool {
        matches!(self, Phase::Closed | Phase::CloseFailed)
    }
}

/// An exporter's state, shared by the consumer, its worker and `Health`.
#[derive(Debug)]
pub(crate) struct StateCell {
    phase: Atomic<Phase>,
    /// Clock nanos of when the call it is hung in began; meaningful while
    /// `phase` is `Hung`. Written only by the consumer, before the phase.
    hung_since: AtomicU64,
}

impl Default for StateCell {
    fn default() -> Self {
        StateCell { phase: Atomic::new(Phase::Active), hung_since: AtomicU64::new(0) }
    }
}

impl StateCell {
    /// Moves to `state`, unless the current state is final.
    pub(crate) fn set(&self, state: ExporterState) {
        let phase = match state {
            ExporterState::Active => Phase::Active,
            ExporterState::Hung { since } => {
                // Broken twin for the loom suite: store the time after the
                // phase, so a reader that sees `Hung` can read the time of an
                // earlier hang, or none.
                #[cfg(not(ringtel_broken = "exporter_state_since_after_phase"))]
                // Relaxed: published by the Release exchange below.
                self.hung_since.store(since.as_nanos(), Ordering::Relaxed);
                #[cfg(ringtel_broken = "exporter_state_since_after_phase")]
                let _ = since;
                Phase::Hung
            }
            ExporterState::Removing => Phase::Removing,
            ExporterState::Closed => Phase::Closed,
            ExporterState::CloseFailed => Phase::CloseFailed,
        };
        self.enter(phase);
        #[cfg(ringtel_broken = "exporter_state_since_after_phase")]
        if let ExporterState::Hung { since } = state {
            self.hung_since.store(since.as_nanos(), Ordering::Relaxed);
        }
    }

    fn enter(&self, phase: Phase) {
        // Broken twin for the loom suite: check, then store. A worker's
        // `Closed` landing between the two is overwritten by the consumer's
        // write, and `Health` shows a closed exporter as active.
        #[cfg(ringtel_broken = "exporter_state_check_then_store")]
        {
            if !self.phase.load(Ordering::Acquire).is_final() {
                self.phase.store(phase, Ordering::Release);
            }
            return;
        }
        // Relaxed first read: the exchange re-checks it.
        #[cfg_attr(ringtel_broken = "exporter_state_check_then_store", allow(unreachable_code))]
        let mut current = self.phase.load(Ordering::Relaxed);
        while !current.is_final() {
            // Release: publishes `hung_since` to the Acquire load in `get`.
            match self.phase.compare_exchange_weak(current, phase, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// The current state (racy: it may change right after).
    pub(crate) fn get(&self) -> ExporterState {
        // Acquire: pairs with the Release exchange in `enter`, so a `Hung`
        // comes with the time stored before it (or, if the consumer has
        // already moved on and is marking a later hang, that later time).
        match self.phase.load(Ordering::Acquire) {
            Phase::Active => ExporterState::Active,
            Phase::Hung => {
                ExporterState::Hung { since: Timestamp::from_nanos(self.hung_since.load(Ordering::Relaxed)) }
            }
            Phase::Removing => ExporterState::Removing,
            Phase::Closed => ExporterState::Closed,
            Phase::CloseFailed => ExporterState::CloseFailed,
        }
    }
}
