//! The `tracing` layer allocates nothing per event and per span in steady
//! state: an event (queued or dropped for a full ring), and a span's
//! creation, enter, exit and close. A counting global allocator counts only
//! this thread's allocations while a flag is set (see tests/pipeline_alloc.rs).

use std::time::Duration;

use ringtel::exporters::Null;
use ringtel::tracing::SpanActivity;
use ringtel::{Backpressure, DropReason};
use tracing_subscriber::prelude::*;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations_in;

const PATIENCE: Duration = Duration::from_secs(20);
const MEASURED: u64 = 2_000;

fn events(n: u64) {
    for i in 0..n {
        tracing::info!(rows = i, table = "orders", "row done");
    }
}

fn spans(n: u64) {
    for i in 0..n {
        let span = tracing::info_span!("row", i, table = "orders");
        let entered = span.enter();
        tracing::debug!(i, "inside");
        drop(entered);
        drop(span);
    }
}

#[test]
fn events_and_spans_allocate_nothing_when_queued() {
    let (layer, guard) = ringtel::tracing::layer()
        .capacity(1 << 16)
        .span_activity(SpanActivity::EnterExit)
        .exporter(Null::new())
        .start()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        // Warm up: callsite registration, the registry's span slab pages and
        // span stack, this thread's counter slot.
        events(100);
        spans(100);
        guard.flush(PATIENCE).unwrap();
        assert_eq!(allocations_in(|| events(MEASURED)), 0, "per event");
        guard.flush(PATIENCE).unwrap();
        assert_eq!(allocations_in(|| spans(MEASURED)), 0, "per span");
    });
    let report = guard.close(PATIENCE).unwrap();
    let health = report.health();
    assert_eq!(health.dropped_total(), 0, "{health}");
    assert_eq!(health.delivered(), 100 + 100 * 5 + MEASURED + MEASURED * 5);
}

#[test]
fn events_allocate_nothing_when_the_ring_is_full() {
    // A ring nobody drains fast enough: an exporter-less telemetry with a
    // tiny ring, so nearly every event is dropped (QueueFull) and counted.
    let (layer, guard) = ringtel::tracing::layer()
        .capacity(4)
        .backpressure(Backpressure::Drop)
        .telemetry(|t| t.drop_log_interval(1 << 40).exporter(Null::new()))
        .start()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        events(1_000);
        spans(100);
        assert_eq!(allocations_in(|| events(MEASURED)), 0, "per dropped event");
        assert_eq!(allocations_in(|| spans(MEASURED)), 0, "per span");
    });
    let report = guard.close(PATIENCE).unwrap();
    assert!(report.health().dropped(DropReason::QueueFull) > 0);
    assert!(report.health().is_conserved());
}
