//! A user's crate measuring ringtel's emit path against a raw
//! `crossbeam_queue::ArrayQueue` under callgrind (issue 22; BENCHMARKS.md,
//! "The hot path in a user's crate").
//!
//! Run as `ringtel-user-crate <scenario> <size> <operations>`; `callgrind.sh`
//! runs every scenario under `valgrind --tool=callgrind` with collection
//! switched on only inside the scenario's loop function, so set-up, warm-up
//! and the consumer's threads never count.
//!
//! The events are the user's own, of 16, 40 and 64 bytes; `granularity()`
//! reads it from a field. Each event's granularity is read from a table
//! indexed by the loop index (every entry the same, but only known at run
//! time), so it is a value per event that cannot be hoisted out of the
//! loop. Every loop builds its events from the loop index and
//! the table, the raw queue's loops too, so construction is counted on both
//! sides.

use std::hint::black_box;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use ringtel::{Backpressure, Emitted, ExportError, Exporter, Granularity, Telemetry};

const ROWS: Granularity = Granularity::Rows;
const FULL: Granularity = Granularity::Full;

/// Entries in the table of granularities the loops read.
const LEVELS: usize = 64;
/// The table: each event's granularity, by loop index modulo `LEVELS`.
type Levels = [Granularity; LEVELS];

/// The user's events.
trait UserEvent: ringtel::Event + Sized {
    /// Builds event number `i` at `level`.
    fn build(i: u64, level: Granularity) -> Self;
}

/// 16 bytes: a sequence number, a code and a granularity.
// The payload is only carried: nothing here reads it back.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy)]
pub struct Ev16 {
    seq: u64,
    code: u32,
    level: Granularity,
}

/// 40 bytes: four payload words, a code and a granularity.
// The payload is only carried: nothing here reads it back.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy)]
pub struct Ev40 {
    words: [u64; 4],
    code: u32,
    level: Granularity,
}

/// 64 bytes: seven payload words and a granularity.
// The payload is only carried: nothing here reads it back.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy)]
pub struct Ev64 {
    words: [u64; 7],
    level: Granularity,
}

const _: () = assert!(std::mem::size_of::<Ev16>() == 16);
const _: () = assert!(std::mem::size_of::<Ev40>() == 40);
const _: () = assert!(std::mem::size_of::<Ev64>() == 64);

impl ringtel::Event for Ev16 {
    fn granularity(&self) -> Granularity {
        self.level
    }
}
impl ringtel::Event for Ev40 {
    fn granularity(&self) -> Granularity {
        self.level
    }
}
impl ringtel::Event for Ev64 {
    fn granularity(&self) -> Granularity {
        self.level
    }
}

impl UserEvent for Ev16 {
    #[inline]
    fn build(i: u64, level: Granularity) -> Self {
        Ev16 { seq: i, code: i as u32 ^ 0x5a5a, level }
    }
}
impl UserEvent for Ev40 {
    #[inline]
    fn build(i: u64, level: Granularity) -> Self {
        Ev40 { words: [i, i ^ 0x5a5a, i.wrapping_mul(3), i + 7], code: i as u32, level }
    }
}
impl UserEvent for Ev64 {
    #[inline]
    fn build(i: u64, level: Granularity) -> Self {
        let w = [i, i ^ 0x5a5a, i.wrapping_mul(3), i + 7, i >> 3, i | 1, !i];
        Ev64 { words: w, level }
    }
}

/// The bare loop, subtracted from every other count.
#[no_mangle]
#[inline(never)]
pub fn uc_baseline(n: u64) {
    for i in 0..n {
        black_box(i);
    }
}

// One loop function per operation and size, each with its own symbol for
// `--toggle-collect` (bodies differ by type, so the linker folds none).
macro_rules! loops {
    ($ev:ty, $raw:ident, $emit:ident) => {
        #[no_mangle]
        #[inline(never)]
        pub fn $raw(queue: &ArrayQueue<$ev>, n: u64, levels: &Levels) {
            for i in 0..n {
                black_box(queue.push(<$ev>::build(i, levels[i as usize % LEVELS])).is_ok());
            }
        }

        #[no_mangle]
        #[inline(never)]
        pub fn $emit(telemetry: &Telemetry<$ev>, n: u64, levels: &Levels) {
            for i in 0..n {
                let _ = black_box(telemetry.emit(<$ev>::build(i, levels[i as usize % LEVELS])));
            }
        }
    };
}
loops!(Ev16, uc_raw_push_16, uc_emit_16);
loops!(Ev40, uc_raw_push_40, uc_emit_40);
loops!(Ev64, uc_raw_push_64, uc_emit_64);

/// Lets the bench hold the exporter inside `export`, so that the consumer
/// stops taking events and the ring stays full.
#[derive(Debug, Default)]
struct Gate {
    /// (closed, an export is waiting at the gate)
    state: Mutex<(bool, bool)>,
    changed: Condvar,
}

impl Gate {
    fn set_closed(&self, closed: bool) {
        self.state.lock().unwrap().0 = closed;
        self.changed.notify_all();
    }

    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        while state.0 {
            state.1 = true;
            self.changed.notify_all();
            state = self.changed.wait(state).unwrap();
        }
        state.1 = false;
    }

    fn wait_blocked(&self) {
        let mut state = self.state.lock().unwrap();
        while !state.1 {
            state = self.changed.wait(state).unwrap();
        }
    }
}

/// A no-op exporter behind the gate.
struct Null(Arc<Gate>);

impl<E: ringtel::Event> Exporter<E> for Null {
    fn name(&self) -> &str {
        "null"
    }
    fn export(&mut self, batch: &[E]) -> Result<(), ExportError> {
        self.0.pass();
        black_box(batch.len());
        Ok(())
    }
}

/// Drop mode, granularity `Rows`, a consumer that looks only once a second.
fn telemetry<E: ringtel::Event>(capacity: usize, gate: &Arc<Gate>) -> Telemetry<E> {
    Telemetry::builder()
        .capacity(capacity)
        .backpressure(Backpressure::Drop)
        .granularity(Granularity::Rows)
        .consumer_idle(Duration::from_secs(1), Duration::from_secs(1))
        .exporter(Null(Arc::clone(gate)))
        .start()
        .expect("ringtel starts")
}

fn run<E: UserEvent>(
    scenario: &str,
    n: u64,
    raw: fn(&ArrayQueue<E>, u64, &Levels),
    emit: fn(&Telemetry<E>, u64, &Levels),
) {
    let small = 1024;
    let rows = black_box(ROWS);
    let rows_table = black_box([ROWS; LEVELS]);
    match scenario {
        "raw_room" => {
            let queue = ArrayQueue::new(n as usize + 16);
            let _ = queue.push(E::build(0, rows));
            raw(&queue, n, &rows_table);
            assert_eq!(queue.len() as u64, n + 1, "every push found room");
        }
        "raw_full" => {
            let queue = ArrayQueue::new(small);
            while queue.push(E::build(0, rows)).is_ok() {}
            raw(&queue, n, &rows_table);
            assert!(queue.is_full());
        }
        "emit_room" => {
            let gate = Arc::new(Gate::default());
            let t = telemetry::<E>(n as usize + 16, &gate);
            assert_eq!(t.emit(E::build(0, rows)), Emitted::Queued);
            emit(&t, n, &rows_table);
            let report = t.close(Duration::from_secs(60)).expect("closes");
            assert_eq!(report.health().dropped_total(), 0, "every emit found room");
        }
        "emit_drop" => {
            let gate = Arc::new(Gate::default());
            let t = telemetry::<E>(small, &gate);
            // Hold the worker inside export, then fill the ring and keep
            // emitting until the consumer has no free batch left to fill.
            gate.set_closed(true);
            let _ = t.emit(E::build(0, rows));
            let _ = t.flush(Duration::from_millis(1));
            gate.wait_blocked();
            while t.emit(E::build(0, rows)) == Emitted::Queued {}
            for _ in 0..2_000 {
                let _ = t.emit(E::build(0, rows));
            }
            let before = t.health().dropped_total();
            emit(&t, n, &rows_table);
            let after = t.health().dropped_total();
            assert_eq!(after - before, n, "every measured emit was dropped and counted");
            gate.set_closed(false);
            let _ = t.close(Duration::from_secs(60));
        }
        "emit_filtered" => {
            let gate = Arc::new(Gate::default());
            let t = telemetry::<E>(small, &gate);
            let full = black_box(FULL);
            assert_eq!(t.emit(E::build(0, full)), Emitted::Filtered);
            emit(&t, n, &black_box([FULL; LEVELS]));
            let report = t.close(Duration::from_secs(60)).expect("closes");
            assert_eq!(report.health().filtered(), n + 1, "every emit was filtered");
        }
        other => panic!("unknown scenario {other:?}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: ringtel-user-crate <baseline|raw_room|raw_full|emit_room|emit_drop|emit_filtered> <16|40|64> <operations>";
    let [scenario, size, n] = args.as_slice() else { panic!("{usage}") };
    let n: u64 = n.parse().expect(usage);
    if scenario == "baseline" {
        uc_baseline(n);
        return;
    }
    match size.as_str() {
        "16" => run::<Ev16>(scenario, n, uc_raw_push_16, uc_emit_16),
        "40" => run::<Ev40>(scenario, n, uc_raw_push_40, uc_emit_40),
        "64" => run::<Ev64>(scenario, n, uc_raw_push_64, uc_emit_64),
        other => panic!("size {other:?}: {usage}"),
    }
}
