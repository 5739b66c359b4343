//! Instruction counts, which stay stable on a noisy machine: this same bench
//! binary re-runs itself under `valgrind --tool=callgrind` once per scenario,
//! with collection switched on only inside that scenario's loop function
//! (`--toggle-collect=<its loop function>`) and one profile per thread
//! (`--separate-threads=yes`), so consumer threads never count. Per-operation
//! counts subtract the bare loop (`baseline`) and divide by the loop length.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use ringtel::{Backpressure, Emitted, ExportError, Exporter, Granularity, Telemetry};
use serde_json::{json, Value};

use crate::common::{ev, ev_full, Ev64, ExportCore, Hooks};

/// Set in the child to run one scenario instead of the benches.
pub const SCENARIO_ENV: &str = "RINGTEL_CALLGRIND_SCENARIO";
const N_ENV: &str = "RINGTEL_CALLGRIND_N";

/// Every scenario: the operation each loop iteration performs.
pub const SCENARIOS: [(&str, &str); 8] = [
    ("baseline", "the bare loop (subtracted from the others)"),
    ("raw_push_room", "ArrayQueue::push with room"),
    ("raw_push_full", "ArrayQueue::push on a full queue (fails)"),
    ("ringtel_room", "ringtel emit with room"),
    ("ringtel_drop", "ringtel emit on a full ring, Drop (dropped, counted)"),
    ("ringtel_filtered", "ringtel emit below the granularity (filtered, counted)"),
    ("crossbeam_channel_room", "crossbeam-channel try_send with room"),
    ("crossbeam_channel_full", "crossbeam-channel try_send on a full channel"),
];

// One loop function per operation, shared by the scenarios that differ only
// in queue state: identical bodies under different names would be folded
// into one symbol by the linker, and callgrind would see only that one.

#[no_mangle]
#[inline(never)]
pub fn ringtel_ct_baseline(n: u64) {
    for i in 0..n {
        black_box(i);
    }
}

#[no_mangle]
#[inline(never)]
pub fn ringtel_ct_raw_push(queue: &ArrayQueue<Ev64>, n: u64) {
    for i in 0..n {
        black_box(queue.push(ev(i)).is_ok());
    }
}

#[no_mangle]
#[inline(never)]
pub fn ringtel_ct_emit(telemetry: &Telemetry<Ev64>, n: u64) {
    for i in 0..n {
        let _ = black_box(telemetry.emit(ev(i)));
    }
}

#[no_mangle]
#[inline(never)]
pub fn ringtel_ct_emit_filtered(telemetry: &Telemetry<Ev64>, n: u64) {
    for i in 0..n {
        let _ = black_box(telemetry.emit(ev_full(i)));
    }
}

#[no_mangle]
#[inline(never)]
pub fn ringtel_ct_crossbeam_try_send(tx: &crossbeam_channel::Sender<Ev64>, n: u64) {
    for i in 0..n {
        black_box(tx.try_send(ev(i)).is_ok());
    }
}

/// The function whose inclusive instructions a scenario counts.
fn collected_function(scenario: &str) -> &'static str {
    match scenario {
        "baseline" => "ringtel_ct_baseline",
        "raw_push_room" | "raw_push_full" => "ringtel_ct_raw_push",
        "ringtel_room" | "ringtel_drop" => "ringtel_ct_emit",
        "ringtel_filtered" => "ringtel_ct_emit_filtered",
        _ => "ringtel_ct_crossbeam_try_send",
    }
}

struct Null(ExportCore);
impl Exporter<Ev64> for Null {
    fn name(&self) -> &str {
        "null"
    }
    fn export(&mut self, batch: &[Ev64]) -> Result<(), ExportError> {
        self.0.export(batch, batch.len());
        Ok(())
    }
}

/// A telemetry whose consumer sleeps a full second between looks (so it
/// stays out of the way), with the bench's gated no-op exporter.
fn telemetry(capacity: usize, hooks: &Hooks) -> Telemetry<Ev64> {
    Telemetry::builder()
        .capacity(capacity)
        .backpressure(Backpressure::Drop)
        .granularity(Granularity::Rows)
        .consumer_idle(Duration::from_secs(1), Duration::from_secs(1))
        .exporter(Null(hooks.core()))
        .start()
        .expect("ringtel starts")
}

/// The child: sets up, warms up outside the collected function, runs it once.
pub fn run_scenario(name: &str) {
    let n: u64 = std::env::var(N_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let small = 1024;
    match name {
        "baseline" => ringtel_ct_baseline(n),
        "raw_push_room" => {
            let queue = ArrayQueue::new(n as usize + 16);
            let _ = queue.push(ev(0));
            ringtel_ct_raw_push(&queue, n);
        }
        "raw_push_full" => {
            let queue = ArrayQueue::new(small);
            while queue.push(ev(0)).is_ok() {}
            ringtel_ct_raw_push(&queue, n);
        }
        "ringtel_room" => {
            let hooks = Hooks::new(None);
            let t = telemetry(n as usize + 16, &hooks);
            assert_eq!(t.emit(ev(0)), Emitted::Queued);
            ringtel_ct_emit(&t, n);
            let _ = t.close(Duration::from_secs(60));
        }
        "ringtel_drop" => {
            let hooks = Hooks::new(None);
            let t = telemetry(small, &hooks);
            hooks.gate.close();
            let _ = t.emit(ev(0));
            let _ = t.flush(Duration::from_millis(1));
            hooks.gate.wait_blocked();
            while t.emit(ev(0)) == Emitted::Queued {}
            for _ in 0..2_000 {
                let _ = t.emit(ev(0));
            }
            ringtel_ct_emit(&t, n);
            hooks.gate.open();
            let _ = t.close(Duration::from_secs(60));
        }
        "ringtel_filtered" => {
            let hooks = Hooks::new(None);
            let t = telemetry(small, &hooks);
            assert_eq!(t.emit(ev_full(0)), Emitted::Filtered);
            ringtel_ct_emit_filtered(&t, n);
            let _ = t.close(Duration::from_secs(60));
        }
        "crossbeam_channel_room" => {
            let (tx, rx) = crossbeam_channel::bounded(n as usize + 16);
            let _ = tx.try_send(ev(0));
            ringtel_ct_crossbeam_try_send(&tx, n);
            drop(rx);
        }
        "crossbeam_channel_full" => {
            let (tx, rx) = crossbeam_channel::bounded(small);
            while tx.try_send(ev(0)).is_ok() {}
            ringtel_ct_crossbeam_try_send(&tx, n);
            drop(rx);
        }
        other => panic!("unknown callgrind scenario {other:?}"),
    }
}

/// The parent: runs every scenario under callgrind and returns the JSON
/// `instructions` section (or why it was skipped).
pub fn run(out_dir: &Path, quick: bool) -> Value {
    if crate::common::skipped("instructions") {
        return json!({ "skipped": "RINGTEL_BENCH_SKIP contains instructions" });
    }
    let version = match Command::new("valgrind").arg("--version").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        _ => return json!({ "skipped": "valgrind not found (apt-get install valgrind)" }),
    };
    let Ok(exe) = std::env::current_exe() else {
        return json!({ "skipped": "cannot find the bench binary" });
    };
    let n: u64 = if quick { 500_000 } else { 1_000_000 };
    let dir = out_dir.join("callgrind");
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return json!({ "skipped": format!("cannot create {}: {e}", dir.display()) });
    }
    eprintln!("instructions: {version}, {n} operations per scenario");
    let mut totals = serde_json::Map::new();
    for (name, _) in SCENARIOS {
        let out = dir.join(format!("{name}.out"));
        let status = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg("--separate-threads=yes")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(format!("--toggle-collect={}", collected_function(name)))
            .arg(&exe)
            .env(SCENARIO_ENV, name)
            .env(N_ENV, n.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            return json!({ "skipped": format!("callgrind run of {name} failed: {status:?}") });
        }
        match main_thread_total(&dir, name) {
            Some(ir) => {
                totals.insert(name.to_owned(), json!(ir));
            }
            None => {
                return json!({ "skipped": format!("no callgrind totals for {name} in {}", dir.display()) })
            }
        }
    }
    let ir = |k: &str| totals[k].as_f64().unwrap_or(f64::NAN);
    let base = ir("baseline");
    let mut per_op = serde_json::Map::new();
    for (name, _) in SCENARIOS.iter().skip(1) {
        per_op.insert((*name).to_owned(), json!(((ir(name) - base) / n as f64 * 100.0).round() / 100.0));
    }
    let op = |k: &str| per_op[k].as_f64().unwrap_or(f64::NAN);
    let ratio = |a: &str, b: &str| ((op(a) / op(b)) * 1000.0).round() / 1000.0;
    json!({
        "tool": version,
        "operations_per_scenario": n,
        "method": "valgrind --tool=callgrind --separate-threads=yes --toggle-collect=<its loop function>; \
                   per_op = (Ir(scenario) - Ir(baseline)) / operations, producer thread only",
        "scenarios": SCENARIOS.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "baseline_per_iteration": (base / n as f64 * 100.0).round() / 100.0,
        "totals": totals,
        "per_op": per_op,
        "ratios": {
            "room_vs_raw_push": ratio("ringtel_room", "raw_push_room"),
            "drop_vs_failing_raw_push": ratio("ringtel_drop", "raw_push_full"),
            "filtered_vs_raw_push": ratio("ringtel_filtered", "raw_push_room"),
            "crossbeam_channel_room_vs_raw_push": ratio("crossbeam_channel_room", "raw_push_room"),
        },
        "profiles": dir.display().to_string(),
    })
}

/// The instruction total of the main thread's profile (`<out>-01`).
fn main_thread_total(dir: &Path, name: &str) -> Option<u64> {
    let path = dir.join(format!("{name}.out-01"));
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("totals:").or_else(|| l.strip_prefix("summary:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}
