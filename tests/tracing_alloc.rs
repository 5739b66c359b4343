//! The `tracing` layer allocates nothing per event and per span in steady
//! state: an event (queued or dropped for a full ring), and a span's
//! creation, enter, exit and close. A counting global allocator counts only
//! this thread's allocations while a flag is set (see tests/pipeline_alloc.rs).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use ringtel::exporters::Null;
use ringtel::tracing::SpanActivity;
use ringtel::{Backpressure, DropReason};
use tracing_subscriber::prelude::*;

struct CountingAllocator;

thread_local! {
    // `const` and destructor-free: reading them never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the only addition is a thread-local counter update, which does
// not allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: `ptr` came from this allocator, which is `System` underneath.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which is `System` underneath.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` and returns how many allocations this thread made in it.
fn allocations_in(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

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
