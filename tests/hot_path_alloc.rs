//! C3/C13: `emit` allocates nothing in steady state, on the queued, filtered
//! and dropped paths (a counting global allocator watches this thread only).

mod common;

use std::time::Duration;

use common::{start_stalled, Ev};
use ringtel::{Backpressure, DropReason, Emitted, ExportError, Exporter, Granularity, Telemetry};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations_in;

/// Accepts everything, allocates nothing.
struct Discard;
impl Exporter<Ev> for Discard {
    fn name(&self) -> &str {
        "discard"
    }
    fn export(&mut self, _: &[Ev]) -> Result<(), ExportError> {
        Ok(())
    }
}

const N: u64 = 100_000;

#[test]
fn queued_and_filtered_emits_allocate_nothing() {
    let telemetry = Telemetry::builder()
        .capacity(1024)
        .backpressure(Backpressure::Block)
        .granularity(Granularity::Rows)
        .exporter(Discard)
        .start()
        .unwrap();
    // Warm-up: the first emit on a thread leases its counter slot.
    let _ = telemetry.emit(Ev::full(0, 0));
    let _ = telemetry.emit(Ev::row(0, 0));
    let mut queued = 0;
    let allocations = allocations_in(|| {
        for seq in 0..N {
            queued += u64::from(telemetry.emit(Ev::row(0, seq)) == Emitted::Queued);
            assert_eq!(telemetry.emit(Ev::full(0, seq)), Emitted::Filtered);
        }
    });
    assert_eq!(allocations, 0);
    assert_eq!(queued, N);
    telemetry.close(Duration::from_secs(20)).unwrap();
}

#[test]
fn dropped_and_overwritten_emits_allocate_nothing() {
    for policy in [Backpressure::Drop, Backpressure::DropOldest] {
        let (telemetry, control) =
            start_stalled("gate", Telemetry::builder().capacity(8).batch_size(1).backpressure(policy));
        for seq in 1..=16 {
            let _ = telemetry.emit(Ev::row(0, seq));
        }
        let allocations = allocations_in(|| {
            for seq in 0..N {
                let outcome = telemetry.emit(Ev::row(1, seq));
                match policy {
                    Backpressure::Drop => assert_eq!(outcome, Emitted::Dropped(DropReason::QueueFull)),
                    _ => assert_eq!(outcome, Emitted::Queued),
                }
            }
        });
        assert_eq!(allocations, 0, "{policy:?}");
        control.open_gate();
        telemetry.close(Duration::from_secs(20)).unwrap();
    }
}
