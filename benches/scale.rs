//! Scaling, shutdown, memory and tail latency, each against
//! crossbeam-channel (and, where it has one, the raw `ArrayQueue`) in the
//! same run (issue 22; BENCHMARKS.md, "Scaling, close, memory and tail
//! latency").
//!
//! `cargo bench -p ringtel-bench --bench scale` runs four parts:
//! - `throughput`: end-to-end events/s with 1, 2, 4 and 8 producers (more
//!   than the machine's cores: oversubscribed on 2), ringtel at its default
//!   configuration (capacity, batch size, idle policy) except that it
//!   blocks instead of dropping, so that every event arrives, against
//!   crossbeam-channel and the raw queue at the same bound and batch;
//! - `close`: how long `close` takes with a full ring (65 536 queued) to a
//!   null exporter, against draining a full crossbeam-channel;
//! - `memory`: heap (this binary's counting global allocator) and resident
//!   memory for capacities 4 096, 65 536 and 1 048 576;
//! - `latency`: emit latency percentiles (p50, p99, p99.9) in Drop mode
//!   with an exporter that sleeps 200 µs per call, with the load average.
//!
//! `RINGTEL_BENCH_QUICK=1` shortens every part; `RINGTEL_BENCH_SKIP=close,memory`
//! leaves parts out. Each run prints its tables and writes
//! `target/ringtel-bench/scale/scale-<unix time>.json`. Only the latency part
//! pins threads (as `compare.rs` does); the memory part measures each cell
//! in a child process of its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

#[allow(dead_code)]
#[path = "compare/common.rs"]
mod common;
#[path = "scale/measures.rs"]
mod measures;
#[path = "scale/throughput.rs"]
mod throughput;
#[path = "compare/tsc.rs"]
mod tsc;

/// The system allocator, counting live heap bytes (for the `memory` part).
/// One relaxed RMW per allocation; the paths timed here allocate nothing.
struct Counting;

/// Bytes currently allocated through [`Counting`].
static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with this `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Live heap bytes now.
pub fn live_heap() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// The load average now (`/proc/loadavg`, first three fields).
pub fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn main() {
    if let Ok(spec) = std::env::var(measures::MEMORY_CHILD_ENV) {
        measures::memory_child(&spec);
        return;
    }
    // Every peer's consumer batch is ringtel's default here (common.rs reads
    // it from this variable), unless the caller chose one.
    if std::env::var_os("RINGTEL_BENCH_BATCH").is_none() {
        std::env::set_var("RINGTEL_BENCH_BATCH", ringtel::DEFAULT_BATCH_SIZE.to_string());
    }
    let quick = common::quick();
    let started = std::time::Instant::now();
    let mut report = serde_json::Map::new();
    report.insert("load_start".into(), json!(loadavg()));
    if !common::skipped("throughput") {
        report.insert("throughput".into(), throughput::run(quick));
    }
    if !common::skipped("close") {
        report.insert("close".into(), measures::close(quick));
    }
    if !common::skipped("memory") {
        report.insert("memory".into(), measures::memory());
    }
    if !common::skipped("latency") {
        report.insert("latency".into(), measures::latency(quick));
    }
    report.insert("load_end".into(), json!(loadavg()));
    report.insert("quick".into(), json!(quick));
    report.insert("batch".into(), json!(common::batch()));
    report.insert("wall_seconds".into(), json!(started.elapsed().as_secs()));
    write(Value::Object(report));
}

/// Writes the run's JSON next to the compare bench's.
fn write(report: Value) {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("ringtel-bench").join("scale");
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let path = dir.join(format!("scale-{secs}.json"));
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap_or_default()));
    match written {
        Ok(()) => eprintln!("\nwrote {}", path.display()),
        Err(e) => eprintln!("\ncould not write {}: {e}", path.display()),
    }
}
