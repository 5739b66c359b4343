//! The control word: admission state, granularity, backpressure and the
//! full-ring hint, packed into one `AtomicU64` so that `emit` decides filter,
//! admission and policy with a single relaxed load, and so that a racing
//! reconfiguration is seen whole or not at all (C14).
//!
//! Layout (most significant first):
//! `[drop_now:1][block_for_nanos:55][admission:2][policy:2][full_hint:1][rejects:3]`.
//! `rejects` holds the granularity setting as one bit per granularity, set
//! for each one it filters (`Rows`, `Full`; `Lifecycle`'s bit 0 is never
//! set), so that the filter test is one bit test at bit `granularity` of the
//! word (`bt` on x86), with no mask to build from the granularity. The flags
//! sit in the low bits, so the masks are 32-bit immediates (no 64-bit
//! constants to keep in registers across the push).
//!
//! `drop_now` is derived from the other fields, never set on its own: it is
//! set exactly when admission is open, the full hint is set and the policy
//! is `Drop`, the state in which a non-critical event is dropped if
//! `is_full` still says full. `emit` tests that state with one sign test
//! (it is the top bit) instead of a mask and a compare. Every write keeps the
//! field derived: `Control::update` recomputes it for each new word, setting
//! the hint is such an update, and clearing the hint clears it with the
//! hint in one RMW (loom model `drop_now_follows_the_fields`, its twin
//! `full_hint_stale_policy`).

use std::time::Duration;

use crate::clock::duration_nanos;
use crate::sync::{AtomicU64, Ordering};
use crate::{Backpressure, Granularity};

/// 2^55 ns is about 1.1 years; `BlockFor` is validated to at most
/// `MAX_DURATION_SETTING` (one hour), and `Backpressure::MAX_BLOCK_FOR` is
/// this field's largest value.
const NANOS_BITS: u32 = 55;
/// `block_for_nanos` after shifting it down by `NANOS_SHIFT`.
const NANOS_MASK: u64 = (1 << NANOS_BITS) - 1;
const NANOS_SHIFT: u32 = 8;
/// Bit `REJECTS_BASE + k` is set when granularity `k` (1 or 2) is filtered;
/// bit `REJECTS_BASE` (`Lifecycle`) is always clear. At the bottom, so the
/// granularity is the bit index as it is.
const REJECTS_BASE: u32 = 0;
const REJECTS_MASK: u64 = 0b110 << REJECTS_BASE;
const FULL_HINT: u64 = 1 << 3;
const POLICY_SHIFT: u32 = 4;
const ADMISSION_SHIFT: u32 = 6;
const TWO_BITS: u64 = 0b11;
/// The policy field's value for `Backpressure::Drop`.
const POLICY_DROP: u64 = 2;
/// Set exactly when admission is open, the full hint set and the policy
/// `Drop` (derived: see the module's documentation). The top bit, so that
/// its test is a sign test (`test` and `js`: a low bit's test compiles to a
/// copy, an `and` and a branch, measured in benches/user-crate).
const DROP_NOW: u64 = 1 << 63;
/// The fields `drop_now` is derived from, and their values that set it.
const DROP_NOW_FIELDS: u64 = (TWO_BITS << ADMISSION_SHIFT) | FULL_HINT | (TWO_BITS << POLICY_SHIFT);
const DROP_NOW_STATE: u64 =
    ((Admission::Open as u64) << ADMISSION_SHIFT) | FULL_HINT | (POLICY_DROP << POLICY_SHIFT);
const _: () = assert!(ADMISSION_SHIFT + 2 == NANOS_SHIFT && NANOS_SHIFT + NANOS_BITS == 63);
const _: () = assert!(POLICY_SHIFT + 2 == ADMISSION_SHIFT);

/// Whether `emit` may put events into the ring, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Events are admitted.
    Open = 0,
    /// `close` has begun; events are dropped as `Closed`.
    Closed = 1,
    /// Admission was disabled (total-failure policy); events are dropped as `Disabled`.
    Disabled = 2,
    /// The consumer died; events are dropped as `ConsumerDead`.
    ConsumerDead = 3,
}

/// The `rejects` bit of granularity `event` (never set for `Lifecycle`).
#[inline(always)]
fn rejects_bit(event: Granularity) -> u64 {
    1 << (REJECTS_BASE + event.to_bits() as u32)
}

/// A decoded copy of the control word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ControlWord(u64);

impl ControlWord {
    pub(crate) fn new(admission: Admission, granularity: Granularity, backpressure: Backpressure) -> Self {
        ControlWord(0).with_admission(admission).with_granularity(granularity).with_backpressure(backpressure)
    }

    #[inline]
    pub(crate) fn admission(self) -> Admission {
        match (self.0 >> ADMISSION_SHIFT) & TWO_BITS {
            0 => Admission::Open,
            1 => Admission::Closed,
            2 => Admission::Disabled,
            _ => Admission::ConsumerDead,
        }
    }

    #[inline]
    pub(crate) fn granularity(self) -> Granularity {
        // Thermometer code: each filtered granularity is one bit.
        Granularity::from_bits(2 - u64::from((self.0 & REJECTS_MASK).count_ones()))
    }

    #[inline]
    pub(crate) fn backpressure(self) -> Backpressure {
        match (self.0 >> POLICY_SHIFT) & TWO_BITS {
            0 => Backpressure::Block,
            1 => Backpressure::BlockFor(Duration::from_nanos((self.0 >> NANOS_SHIFT) & NANOS_MASK)),
            POLICY_DROP => Backpressure::Drop,
            _ => Backpressure::DropOldest,
        }
    }

    /// Whether a telemetry with this word admits an event of granularity
    /// `event`: the same as `self.granularity().admits(event)`, as one bit
    /// test on the raw word (`emit`'s first test).
    #[inline(always)]
    pub(crate) fn admits(self, event: Granularity) -> bool {
        self.0 & rejects_bit(event) == 0
    }

    /// Admission open and no full hint: `emit` may push an admitted event
    /// straight away. One mask test.
    #[inline(always)]
    pub(crate) fn open_without_full_hint(self) -> bool {
        self.0 & ((TWO_BITS << ADMISSION_SHIFT) | FULL_HINT) == 0
    }

    /// Admission open, the full hint set and the policy `Drop`: the state in
    /// which a non-critical `emit` drops without pushing if the ring is still
    /// full. One sign test (the derived `drop_now` bit is the top bit).
    #[inline(always)]
    pub(crate) fn open_full_dropping(self) -> bool {
        const _: () = assert!(DROP_NOW == 1 << 63);
        (self.0 as i64) < 0
    }

    /// The same word with `drop_now` derived from its other fields.
    #[inline]
    fn with_drop_now_derived(self) -> Self {
        let rest = self.0 & !DROP_NOW;
        let drop_now = if rest & DROP_NOW_FIELDS == DROP_NOW_STATE { DROP_NOW } else { 0 };
        ControlWord(rest | drop_now)
    }

    /// The same word with the full hint set.
    fn with_full_hint(self) -> Self {
        ControlWord(self.0 | FULL_HINT).with_drop_now_derived()
    }

    /// Whether some producer recently found the ring full and the consumer has
    /// not popped since.
    #[inline]
    pub(crate) fn full_hint(self) -> bool {
        self.0 & FULL_HINT != 0
    }

    pub(crate) fn with_admission(self, admission: Admission) -> Self {
        ControlWord((self.0 & !(TWO_BITS << ADMISSION_SHIFT)) | ((admission as u64) << ADMISSION_SHIFT))
            .with_drop_now_derived()
    }

    pub(crate) fn with_granularity(self, granularity: Granularity) -> Self {
        // Every granularity above the setting is filtered.
        let rejects = ((0b110 << granularity.to_bits()) & 0b110) << REJECTS_BASE;
        ControlWord((self.0 & !REJECTS_MASK) | rejects)
    }

    pub(crate) fn with_backpressure(self, backpressure: Backpressure) -> Self {
        let (policy, nanos) = match backpressure {
            Backpressure::Block => (0, 0),
            Backpressure::BlockFor(wait) => {
                // Config validation caps BlockFor at MAX_BLOCK_FOR (this
                // field's largest value) and at MAX_DURATION_SETTING.
                debug_assert!(duration_nanos(wait) <= NANOS_MASK);
                (1, duration_nanos(wait).min(NANOS_MASK))
            }
            Backpressure::Drop => (POLICY_DROP, 0),
            Backpressure::DropOldest => (3, 0),
        };
        ControlWord(
            (self.0 & !(TWO_BITS << POLICY_SHIFT) & !(NANOS_MASK << NANOS_SHIFT))
                | (policy << POLICY_SHIFT)
                | (nanos << NANOS_SHIFT),
        )
        .with_drop_now_derived()
    }
}

/// The shared control word.
#[derive(Debug)]
pub(crate) struct Control {
    /// Written by `close`, the consumer (death, full-hint clearing),
    /// reconfiguration and producers (full hint); read by every `emit`.
    word: AtomicU64,
}

impl Control {
    pub(crate) fn new(initial: ControlWord) -> Self {
        Control { word: AtomicU64::new(initial.0) }
    }

    /// The current word.
    ///
    /// Relaxed: `emit` needs no data published by whoever changed the word.
    /// A stale admission state is harmless because the shutdown protocol
    /// counts events that slip in after the consumer's final drain as
    /// residual drops (see `Ledger`), and a stale granularity or policy is a
    /// legitimate "old setting" (C14).
    #[inline]
    pub(crate) fn load(&self) -> ControlWord {
        ControlWord(self.word.load(Ordering::Relaxed))
    }

    /// Applies `change` atomically; returns the word before and after.
    ///
    /// AcqRel on success: a change is a single RMW, so concurrent changes to
    /// different fields never tear or lose one another. The new word's
    /// `drop_now` field is derived from its other fields in the same RMW.
    pub(crate) fn update(
        &self,
        mut change: impl FnMut(ControlWord) -> ControlWord,
    ) -> (ControlWord, ControlWord) {
        // Broken twin for the loom suite: write the fields one after another
        // (as if granularity and policy were separate atomics) and without a
        // CAS. A racing `emit` can see the new granularity with the old
        // policy, and a racing change (close, full hint) can be lost (C14).
        #[cfg(ringtel_broken = "control_torn")]
        {
            let current = self.word.load(Ordering::Relaxed);
            let next = change(ControlWord(current)).with_drop_now_derived().0;
            let policy = (TWO_BITS << POLICY_SHIFT) | (NANOS_MASK << NANOS_SHIFT);
            self.word.store((next & !policy) | (current & policy), Ordering::Relaxed);
            self.word.store(next, Ordering::Relaxed);
            return (ControlWord(current), ControlWord(next));
        }
        #[cfg_attr(ringtel_broken = "control_torn", allow(unreachable_code))]
        let mut current = self.word.load(Ordering::Relaxed);
        loop {
            let next = change(ControlWord(current)).with_drop_now_derived().0;
            if next == current {
                return (ControlWord(current), ControlWord(next));
            }
            match self.word.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return (ControlWord(current), ControlWord(next)),
                Err(actual) => current = actual,
            }
        }
    }

    /// Sets the full hint (a producer found the ring full).
    ///
    /// An update (a compare-exchange), not a `fetch_or`: `drop_now` is set
    /// with the hint only if the word it is set in has admission open and
    /// the policy `Drop`, which only the exchange can know. The hint itself
    /// only steers a cheap pre-check (a stale hint costs one failed or one
    /// extra push; `drop_now` still drops only when `is_full` says full).
    #[cold]
    pub(crate) fn set_full_hint(&self) {
        // Broken twin for the loom suite: derive `drop_now` from an earlier
        // load, then set it with the hint by `fetch_or`. A reconfiguration
        // (or close) in between leaves `drop_now` set under a policy that is
        // not `Drop`, so `emit` drops where it must wait or evict (C14).
        #[cfg(ringtel_broken = "full_hint_stale_policy")]
        {
            let seen = self.load();
            let set = seen.with_full_hint().0 & (FULL_HINT | DROP_NOW);
            self.word.fetch_or(set, Ordering::Relaxed);
            return;
        }
        #[cfg_attr(ringtel_broken = "full_hint_stale_policy", allow(unreachable_code))]
        self.update(ControlWord::with_full_hint);
    }

    /// Clears the full hint after the consumer made room. Writes only when the
    /// hint is set, so in steady state the consumer never touches the line.
    /// `drop_now` is cleared in the same RMW (it is never set without the
    /// hint).
    pub(crate) fn clear_full_hint(&self) {
        if self.load().full_hint() {
            self.word.fetch_and(!(FULL_HINT | DROP_NOW), Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fast_path_masks_agree_with_the_decoded_fields() {
        let admissions = [Admission::Open, Admission::Closed, Admission::Disabled, Admission::ConsumerDead];
        let policies = [
            Backpressure::Block,
            Backpressure::BlockFor(Duration::from_nanos(12_345)),
            Backpressure::Drop,
            Backpressure::DropOldest,
        ];
        for admission in admissions {
            for granularity in Granularity::ALL {
                for policy in policies {
                    for hint in [false, true] {
                        let mut word = ControlWord::new(admission, granularity, policy);
                        if hint {
                            word = word.with_full_hint();
                        }
                        let open = admission == Admission::Open;
                        assert_eq!(word.open_without_full_hint(), open && !hint, "{word:?}");
                        assert_eq!(
                            word.open_full_dropping(),
                            open && hint && policy == Backpressure::Drop,
                            "{word:?}"
                        );
                        for event in Granularity::ALL {
                            let admitted = granularity.admits(event);
                            assert_eq!(word.admits(event), admitted, "{word:?} {event:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn fields_round_trip_independently() {
        let policies = [
            Backpressure::Block,
            Backpressure::BlockFor(Duration::from_millis(7)),
            Backpressure::BlockFor(Backpressure::MAX_BLOCK_FOR),
            Backpressure::BlockFor(crate::config::MAX_DURATION_SETTING),
            Backpressure::Drop,
            Backpressure::DropOldest,
        ];
        let admissions = [Admission::Open, Admission::Closed, Admission::Disabled, Admission::ConsumerDead];
        for admission in admissions {
            for granularity in Granularity::ALL {
                for policy in policies {
                    let word = ControlWord::new(admission, granularity, policy);
                    assert_eq!(word.admission(), admission);
                    assert_eq!(word.granularity(), granularity);
                    assert_eq!(word.backpressure(), policy);
                    assert!(!word.full_hint());
                    let with_hint = word.with_full_hint();
                    assert!(with_hint.full_hint());
                    assert_eq!(with_hint.backpressure(), policy);
                    assert_eq!(with_hint.admission(), admission);
                    assert_eq!(with_hint.granularity(), granularity);
                }
            }
        }
    }

    #[test]
    fn drop_now_follows_every_write() {
        let dropping = |control: &Control| control.load().open_full_dropping();
        let control = Control::new(ControlWord::new(Admission::Open, Granularity::Full, Backpressure::Drop));
        assert!(!dropping(&control), "no hint yet");
        control.set_full_hint();
        assert!(dropping(&control));
        control.update(|w| w.with_backpressure(Backpressure::Block));
        assert!(control.load().full_hint() && !dropping(&control), "Block waits");
        control.update(|w| w.with_backpressure(Backpressure::Drop));
        assert!(dropping(&control), "Drop again, hint still set");
        control.update(|w| w.with_granularity(Granularity::Rows));
        assert!(dropping(&control), "granularity is no part of it");
        control.clear_full_hint();
        assert!(!dropping(&control), "cleared with the hint");
        control.set_full_hint();
        control.update(|w| w.with_admission(Admission::Closed));
        assert!(control.load().full_hint() && !dropping(&control), "closed: rejected, not dropped");
        control.update(|w| w.with_admission(Admission::Open));
        assert!(dropping(&control));
    }
}
