//! ringtel against what users would pick instead, in one run, as ratios
//! (issue 7; docs/design.md §8). See BENCHMARKS.md for the method and results.
//!
//! `cargo bench --bench compare` measures, per peer and in this order:
//! emit with room, emit when full (the drop path), filtered emit, end-to-end
//! events/s with 1 and 2 producers (criterion, `iter_custom`), then emit
//! latency percentiles in Drop mode with a slow exporter (TSC per emit), then
//! instruction counts under callgrind. It prints a ratio table and the
//! targets, and writes `target/ringtel-bench/compare.json` (plus
//! `runs/compare-{full,quick}-<time>.json` and, from the second run on, a
//! `summary-{full,quick}.json` with medians over the stored runs at the same
//! batch size).
//!
//! `RINGTEL_BENCH_QUICK=1` shortens everything (well under 3 minutes).
//! `RINGTEL_BENCH_SKIP=latency,instructions` leaves parts out.
//! `RINGTEL_BENCH_BATCH=<n>` sets every peer's consumer batch (default
//! ringtel's, 512). `RINGTEL_BENCH_HANDOFF=<n>` sets ringtel's batches per
//! hand-off to its exporter's worker (default ringtel's, 4).
//!
//! Thread placement: the measuring thread is pinned to CPU 0 and every
//! consumer to CPU 1; in end-to-end runs producer k is pinned to CPU k (so
//! with 2 producers the consumer shares CPU 1 with producer 1).

use serde_json::{json, Value};

#[path = "compare/common.rs"]
mod common;
#[path = "compare/elspeth.rs"]
mod elspeth;
#[path = "compare/instructions.rs"]
mod instructions;
#[path = "compare/latency.rs"]
mod latency;
#[path = "compare/measures.rs"]
mod measures;
#[path = "compare/peers.rs"]
mod peers;
#[path = "compare/report.rs"]
mod report;
#[path = "compare/tsc.rs"]
mod tsc;

fn main() {
    if let Ok(scenario) = std::env::var(instructions::SCENARIO_ENV) {
        instructions::run_scenario(&scenario);
        return;
    }
    let quick = common::quick();
    let timing = measures::Timing::new(quick);
    let started = std::time::Instant::now();
    let mut machine = machine(quick);
    let mut busy = vec![busy_now("start")];
    common::pin_current(common::PRODUCER_CPU);

    let rec = report::Recorder::default();
    for m in ["emit_room", "emit_full", "emit_filtered"] {
        rec.keep_last(m, timing.sample_size);
    }
    for m in ["e2e_1p", "e2e_2p"] {
        rec.keep_last(m, timing.e2e_sample_size);
    }
    let mut c = timing.criterion();
    measures::emit_room(&mut c, &rec, &timing);
    busy.push(busy_now("after emit_room"));
    measures::emit_full(&mut c, &rec, &timing);
    measures::emit_filtered(&mut c, &rec, &timing);
    busy.push(busy_now("after emit_full, emit_filtered"));
    measures::end_to_end(&mut c, &rec, &timing, 1);
    measures::end_to_end(&mut c, &rec, &timing, 2);
    busy.push(busy_now("after e2e"));
    c.final_summary();

    if !common::skipped("latency") {
        let cal = latency::run(&rec, quick);
        machine["tsc_ghz"] = json!((cal.ghz * 1000.0).round() / 1000.0);
        machine["timer_overhead_cycles"] = json!(cal.overhead_cycles);
        busy.push(busy_now("after latency"));
    }
    let out_dir = report::target_dir().join("ringtel-bench");
    let instructions = instructions::run(&out_dir, quick);
    busy.push(busy_now("end"));
    machine["busy"] = Value::Array(busy);
    machine["wall_seconds"] = json!(started.elapsed().as_secs());

    let report = report::build(&rec, instructions, machine, quick);
    report::print(&report);
    match report::write(&report) {
        Ok(dir) => {
            eprintln!("\nwrote {}", dir.join("compare.json").display());
            if let Err(e) = report::summarize(&dir, quick, common::batch(), common::handoff()) {
                eprintln!("no summary over runs: {e}");
            }
        }
        Err(e) => eprintln!("could not write the report: {e}"),
    }
}

/// What the numbers were measured on.
fn machine(quick: bool) -> Value {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default().trim().to_owned();
    let cpuinfo = read("/proc/cpuinfo");
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_owned())
    };
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    json!({
        "cpu": field("model name"),
        "cpu_mhz": field("cpu MHz"),
        "hypervisor": cpuinfo.contains(" hypervisor"),
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "kernel": read("/proc/sys/kernel/osrelease"),
        "clocksource": read("/sys/devices/system/clocksource/clocksource0/current_clocksource"),
        "rustc": rustc,
        "profile": "bench (lto = true, codegen-units = 1, debug = true)",
        "quick": quick,
        "capacity": common::CAPACITY,
        "batch": common::batch(),
        "handoff_batches": common::handoff(),
        "ringtel_default_batch": ringtel::DEFAULT_BATCH_SIZE,
        "git": git_state(),
        "placement": "measuring thread on CPU 0; every peer's consumer on CPU 1, except ringtel's: its exporter's worker pins itself to CPU 1 and its consumer thread is not pinned; e2e producer k on CPU k",
    })
}

/// The commit measured and whether the work tree had changes, so a stored
/// run names the build it came from.
fn git_state() -> Value {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    json!({
        "rev": git(&["rev-parse", "HEAD"]),
        "dirty": git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty()),
    })
}

/// The load average and how many compiler processes ran at this moment: other
/// engineers' builds share this machine, and this says how much.
fn busy_now(when: &str) -> Value {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut compilers = 0;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            if matches!(comm.trim(), "rustc" | "cc" | "ld" | "cc1" | "lld" | "cargo-fuzz") {
                compilers += 1;
            }
        }
    }
    json!({ "when": when, "loadavg": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
            "compiler_processes": compilers })
}
