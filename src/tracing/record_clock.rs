//! The clock of the layer's records: the CPU's time-stamp counter (through
//! `quanta`) on the hot path, converted to Unix nanoseconds on the exporter
//! side.
//!
//! Reading the wall clock (`SystemTime::now`, a vDSO `clock_gettime`) cost
//! about 55 ns on the 2-vCPU VM the benches run on, `quanta::Clock::raw`
//! (one `rdtsc`) about 14 ns; a span reads the clock twice. A record's
//! `time` therefore holds either Unix nanoseconds or, with its top bit set
//! ([`TICKS`]), the counter's raw reading. Raw readings are converted with
//! quanta's own calibration ([`quanta::Clock::delta_as_nanos`]) against an
//! [`Anchor`]: a counter reading and a wall-clock reading taken together
//! right before the conversion, so the converted time is the wall clock's
//! now minus the record's age (never a calibration error accumulated since
//! the process started, nor a wall-clock step missed), and a span's
//! duration is the counter's difference, exact whichever batch either end
//! arrived in.
//!
//! quanta calibrates its counter once per process, in `Clock::new`: about
//! 0.6 ms here, at most 200 ms. That runs on a thread of its own, started by
//! the first layer; until it is done (or where there is no usable counter
//! and quanta falls back to the OS monotonic clock), records read the wall
//! clock as before and carry Unix nanoseconds.

use std::sync::{Once, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// The top bit of a record's `time`: set, the rest is a raw
/// `quanta::Clock::raw` reading; clear, Unix nanoseconds (which reach bit 63
/// only in the year 2262).
pub(crate) const TICKS: u64 = 1 << 63;

/// The calibrated counter, once its calibration is done.
static COUNTER: OnceLock<quanta::Clock> = OnceLock::new();
static CALIBRATION_STARTED: Once = Once::new();

/// Starts quanta's calibration on a short-lived thread of its own, once
/// per process, so that no `start` waits for it. If the thread cannot be
/// spawned, records keep reading the wall clock.
pub(crate) fn calibrate_in_background() {
    CALIBRATION_STARTED.call_once(|| {
        let spawned = std::thread::Builder::new().name("ringtel-clock".into()).spawn(|| {
            COUNTER.get_or_init(quanta::Clock::new);
        });
        // Detached: it ends by itself when the calibration is done.
        drop(spawned);
    });
}

/// Calibrates the records' clock on this thread now, if it is not yet, and
/// returns when records read the CPU counter.
///
/// The layer's `start` never waits for the calibration (about a
/// millisecond; at most 200 ms): it runs on a thread of its own, and the
/// records taken before it is done read the wall clock instead (the same
/// times, each read costing about 40 ns more). Call this first where every
/// record should take the cheaper read, as the instruction-count bench
/// does.
///
/// # Examples
/// ```
/// ringtel::tracing::calibrate_clock();
/// ```
pub fn calibrate_clock() {
    COUNTER.get_or_init(quanta::Clock::new);
}

/// Nanoseconds since the Unix epoch (0 before it): one `clock_gettime`
/// and a multiply-add (no 128-bit conversion).
#[inline]
pub(crate) fn wall_nanos() -> u64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs().wrapping_mul(1_000_000_000).wrapping_add(u64::from(d.subsec_nanos())),
        Err(_) => 0,
    }
}

/// The time to store in a record now: the counter's raw reading marked
/// with [`TICKS`] once it is calibrated, Unix nanoseconds until then.
#[inline]
pub(crate) fn record_time() -> u64 {
    match COUNTER.get() {
        Some(counter) => (counter.raw() & !TICKS) | TICKS,
        None => wall_nanos(),
    }
}

/// The nanoseconds from `start` to `end`, two record times (0 if `end` is
/// not later): the counter's difference when both are raw readings, the
/// Unix times' difference otherwise.
#[inline]
pub(crate) fn nanos_between(start: u64, end: u64, anchor: &mut Anchor) -> u64 {
    match COUNTER.get() {
        Some(counter) if start & end & TICKS != 0 => counter.delta_as_nanos(start & !TICKS, end & !TICKS),
        _ => anchor.unix_nanos(end).saturating_sub(anchor.unix_nanos(start)),
    }
}

/// A counter reading and a wall-clock reading taken together, read on
/// first use: converts raw record times to Unix nanoseconds.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Anchor {
    /// `(counter reading, Unix nanoseconds)`, once read.
    taken: Option<(u64, u64)>,
}

/// A wall-clock read the counter saw take longer than this (the thread was
/// preempted between the reads) is taken again, up to [`ANCHOR_TRIES`]
/// times; the tightest pair is kept.
const ANCHOR_WIDTH_NS: u64 = 2_000;
const ANCHOR_TRIES: usize = 4;

impl Anchor {
    /// An anchor that reads the clocks the first time it converts a raw
    /// record time.
    pub(crate) fn new() -> Anchor {
        Anchor::default()
    }

    fn take(counter: &quanta::Clock) -> (u64, u64) {
        let mut best: Option<(u64, u64, u64)> = None;
        for _ in 0..ANCHOR_TRIES {
            let before = counter.raw();
            let unix = wall_nanos();
            let after = counter.raw();
            let width = counter.delta_as_nanos(before, after);
            let middle = before.wrapping_add(after.wrapping_sub(before) / 2);
            if best.is_none_or(|(w, ..)| width < w) {
                best = Some((width, middle, unix));
            }
            if width <= ANCHOR_WIDTH_NS {
                break;
            }
        }
        let (_, ticks, unix) = best.unwrap_or_default();
        (ticks & !TICKS, unix)
    }

    /// `time` (a record's) in Unix nanoseconds: as it is if it already is,
    /// converted if it is a raw counter reading.
    #[inline]
    pub(crate) fn unix_nanos(&mut self, time: u64) -> u64 {
        if time & TICKS == 0 {
            return time;
        }
        self.convert(time)
    }

    fn convert(&mut self, time: u64) -> u64 {
        // A raw reading is stored only once the counter is set, and the
        // record reached this thread after that (through the ring).
        let Some(counter) = COUNTER.get() else { return 0 };
        let (anchor_ticks, anchor_unix) = *self.taken.get_or_insert_with(|| Anchor::take(counter));
        let ticks = time & !TICKS;
        if ticks >= anchor_ticks {
            anchor_unix.saturating_add(counter.delta_as_nanos(anchor_ticks, ticks))
        } else {
            anchor_unix.saturating_sub(counter.delta_as_nanos(ticks, anchor_ticks))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calibrated() -> &'static quanta::Clock {
        calibrate_in_background();
        calibrate_clock();
        COUNTER.get().expect("calibrated")
    }

    #[test]
    fn a_raw_record_time_converts_to_the_wall_clock_time_it_was_read_at() {
        calibrated();
        let before = wall_nanos();
        let time = record_time();
        let after = wall_nanos();
        assert_ne!(time & TICKS, 0, "the counter is calibrated: raw readings");
        let unix = Anchor::new().unix_nanos(time);
        // The anchor's own reads are microseconds apart at worst; allow a
        // millisecond for a preempted test thread.
        assert!(unix + 1_000_000 >= before && unix <= after + 1_000_000, "{before} <= {unix} <= {after}");
    }

    #[test]
    fn unix_times_pass_through_and_mixed_ends_subtract_as_unix_times() {
        calibrated();
        let mut anchor = Anchor::new();
        assert_eq!(anchor.unix_nanos(1_700_000_000_000_000_000), 1_700_000_000_000_000_000);
        assert_eq!(anchor.unix_nanos(0), 0);
        let start = wall_nanos();
        let end = record_time();
        let between = nanos_between(start, end, &mut anchor);
        assert!(between < 1_000_000_000, "{between}");
        assert_eq!(nanos_between(end, start.saturating_sub(5_000_000_000), &mut anchor), 0);
    }

    #[test]
    fn the_duration_between_raw_times_is_the_counters_difference() {
        let counter = calibrated();
        let start = record_time();
        let end = record_time();
        let mut anchor = Anchor::new();
        let between = nanos_between(start, end, &mut anchor);
        assert_eq!(between, counter.delta_as_nanos(start & !TICKS, end & !TICKS));
        assert!(anchor.taken.is_none(), "no wall-clock read for a duration between raw times");
        assert_eq!(nanos_between(end, start, &mut anchor), 0);
    }
}
