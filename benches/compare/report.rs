//! Samples, the ratio table, the targets, and `target/ringtel-bench/compare.json`
//! (plus one file per run under `runs/`, and a summary over the runs so far).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::measures::RAW_FULL;

/// Every sample of every (measure, peer), in arrival order.
#[derive(Debug, Default)]
pub struct Recorder {
    samples: RefCell<BTreeMap<(String, String), Vec<f64>>>,
    /// Per measure: only the last N samples count (criterion's measurement
    /// samples come after its warm-up calls to the same routine).
    keep: RefCell<BTreeMap<String, usize>>,
}

impl Recorder {
    pub fn keep_last(&self, measure: &str, n: usize) {
        self.keep.borrow_mut().insert(measure.to_owned(), n);
    }

    /// One `iter_custom` sample: `elapsed` for `iters` operations.
    pub fn sample(&self, measure: &str, peer: &str, elapsed: Duration, iters: u64) {
        self.value(measure, peer, elapsed.as_nanos() as f64 / iters.max(1) as f64);
    }

    pub fn value(&self, measure: &str, peer: &str, value: f64) {
        self.samples.borrow_mut().entry((measure.to_owned(), peer.to_owned())).or_default().push(value);
    }

    pub fn stats(&self, measure: &str, peer: &str) -> Option<Stats> {
        let samples = self.samples.borrow();
        let all = samples.get(&(measure.to_owned(), peer.to_owned()))?;
        let keep = self.keep.borrow().get(measure).copied().unwrap_or(all.len());
        Stats::of(&all[all.len().saturating_sub(keep)..])
    }

    fn peers(&self, measure: &str) -> Vec<String> {
        self.samples.borrow().keys().filter(|(m, _)| m == measure).map(|(_, p)| p.clone()).collect()
    }
}

/// Median and spread of a set of samples.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub n: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub p25: f64,
    pub p75: f64,
}

impl Stats {
    pub fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let pos = q * (v.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
        };
        Some(Stats {
            n: v.len(),
            median: at(0.5),
            min: v[0],
            max: v[v.len() - 1],
            p25: at(0.25),
            p75: at(0.75),
        })
    }

    /// Interquartile range as a percentage of the median.
    pub fn spread_pct(&self) -> f64 {
        if self.median > 0.0 {
            (self.p75 - self.p25) / self.median * 100.0
        } else {
            0.0
        }
    }

    fn json(&self) -> Value {
        json!({
            "median": round(self.median), "min": round(self.min), "max": round(self.max),
            "p25": round(self.p25), "p75": round(self.p75), "iqr_pct": round(self.spread_pct()), "n": self.n,
        })
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Measures in table order, with what each means.
pub const MEASURES: [(&str, &str); 8] = [
    ("emit_room", "emit with room, 1 producer (ns/emit)"),
    ("emit_full", "emit into a full queue: the drop path (ns/emit)"),
    ("emit_filtered", "filtered emit (ns/emit)"),
    ("e2e_1p", "end-to-end to a null exporter, 1 producer (ns/event)"),
    ("e2e_2p", "end-to-end to a null exporter, 2 producers (ns/event)"),
    ("latency_p50", "emit latency p50, Drop mode, slow exporter (ns)"),
    ("latency_p99", "emit latency p99, Drop mode, slow exporter (ns)"),
    ("latency_p99.9", "emit latency p99.9, Drop mode, slow exporter (ns)"),
];

const RINGTEL: &str = "ringtel";

/// Builds the run's JSON from the samples, the instruction counts and the
/// machine description.
pub fn build(rec: &Recorder, instructions: Value, machine: Value, quick: bool) -> Value {
    let mut measures = Vec::new();
    let mut ringtel = serde_json::Map::new();
    for (measure, what) in MEASURES {
        let Some(r) = rec.stats(measure, RINGTEL) else { continue };
        ringtel.insert(measure.to_owned(), json!({ "what": what, "ns": r.json() }));
        for peer in rec.peers(measure) {
            if peer == RINGTEL {
                continue;
            }
            let Some(p) = rec.stats(measure, &peer) else { continue };
            measures.push(json!({
                "measure": measure,
                "ringtel_ns": round(r.median),
                "peer": peer,
                "peer_ns": round(p.median),
                "ratio": round(r.median / p.median),
                "speedup": round(p.median / r.median),
                "ringtel_iqr_pct": round(r.spread_pct()),
                "peer_iqr_pct": round(p.spread_pct()),
                "samples": [r.n, p.n],
            }));
        }
    }
    let mut report = json!({
        "schema": 1,
        "quick": quick,
        "ratio_is": "ringtel_ns / peer_ns (below 1: ringtel is faster); speedup = peer_ns / ringtel_ns",
        "measures": measures,
        "ringtel": ringtel,
        "instructions": instructions,
        "machine": machine,
    });
    let targets = targets(&report);
    report["targets"] = targets;
    report
}

fn lookup(report: &Value, measure: &str, peer: &str, field: &str) -> Option<f64> {
    report["measures"]
        .as_array()?
        .iter()
        .find(|m| m["measure"] == measure && m["peer"] == peer)
        .and_then(|m| m[field].as_f64())
}

/// The targets, each with the measured value and whether it holds.
fn targets(report: &Value) -> Value {
    let raw = "raw ArrayQueue::push";
    let instr = |key: &str| report["instructions"]["ratios"][key].as_f64();
    let ringtel_ns = |measure: &str| report["ringtel"][measure]["ns"]["median"].as_f64();
    let rows: Vec<(&str, Option<f64>, &str, f64)> = vec![
        ("emit with room / raw push (time)", lookup(report, "emit_room", raw, "ratio"), "<=", 1.2),
        ("emit with room / raw push (instructions)", instr("room_vs_raw_push"), "<=", 1.2),
        ("drop path / failing raw push (time)", lookup(report, "emit_full", RAW_FULL, "ratio"), "<=", 0.5),
        ("drop path / failing raw push (instructions)", instr("drop_vs_failing_raw_push"), "<=", 0.5),
        ("filtered emit, ns", ringtel_ns("emit_filtered"), "<=", 1.0),
        (
            "end-to-end 2 producers: speedup vs crossbeam-channel",
            lookup(report, "e2e_2p", "crossbeam-channel bounded", "speedup"),
            ">=",
            1.2,
        ),
        (
            "end-to-end 2 producers: speedup vs sync_channel",
            lookup(report, "e2e_2p", "std::sync::mpsc::sync_channel", "speedup"),
            ">=",
            1.2,
        ),
        (
            "emit: speedup vs tracing-appender non_blocking",
            lookup(report, "emit_room", "tracing-appender non_blocking", "speedup"),
            ">=",
            10.0,
        ),
        (
            "emit: speedup vs OTel BatchLogProcessor",
            lookup(report, "emit_room", "opentelemetry_sdk BatchLogProcessor", "speedup"),
            ">=",
            5.0,
        ),
        (
            "2 producers: speedup vs the locked ELSPETH port",
            lookup(report, "e2e_2p", "ELSPETH locked port", "speedup"),
            ">=",
            5.0,
        ),
        ("p99.9 emit, Drop mode, slow exporter, ns", ringtel_ns("latency_p99.9"), "<=", 50.0),
    ];
    Value::Array(
        rows.into_iter()
            .map(|(target, value, op, limit)| {
                let met = value.map(|v| if op == "<=" { v <= limit } else { v >= limit });
                json!({ "target": target, "value": value.map(round), "op": op, "limit": limit, "met": met })
            })
            .collect(),
    )
}

/// Prints the ratio table and the targets.
pub fn print(report: &Value) {
    eprintln!("\n== ringtel vs peers (median of samples; ratio = ringtel/peer, speedup = peer/ringtel) ==");
    eprintln!(
        "{:<14} {:<38} {:>11} {:>11} {:>8} {:>9}  {:>11}",
        "measure", "peer", "ringtel ns", "peer ns", "ratio", "speedup", "IQR% r/p"
    );
    for m in report["measures"].as_array().into_iter().flatten() {
        eprintln!(
            "{:<14} {:<38} {:>11.2} {:>11.2} {:>8.3} {:>8.2}x  {:>5.1}/{:<5.1}",
            m["measure"].as_str().unwrap_or(""),
            m["peer"].as_str().unwrap_or(""),
            m["ringtel_ns"].as_f64().unwrap_or(f64::NAN),
            m["peer_ns"].as_f64().unwrap_or(f64::NAN),
            m["ratio"].as_f64().unwrap_or(f64::NAN),
            m["speedup"].as_f64().unwrap_or(f64::NAN),
            m["ringtel_iqr_pct"].as_f64().unwrap_or(f64::NAN),
            m["peer_iqr_pct"].as_f64().unwrap_or(f64::NAN),
        );
    }
    if let Some(f) = report["ringtel"]["emit_filtered"]["ns"]["median"].as_f64() {
        eprintln!("{:<14} {:<38} {:>11.2}", "emit_filtered", "(ringtel alone)", f);
    }
    print_instructions(&report["instructions"]);
    eprintln!("\n== targets ==");
    for t in report["targets"].as_array().into_iter().flatten() {
        let verdict = match t["met"].as_bool() {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not measured",
        };
        eprintln!(
            "{:<56} {:>9} {} {:<5} {}",
            t["target"].as_str().unwrap_or(""),
            t["value"].as_f64().map_or("-".to_owned(), |v| format!("{v:.3}")),
            t["op"].as_str().unwrap_or(""),
            t["limit"],
            verdict
        );
    }
}

fn print_instructions(instr: &Value) {
    let Some(per_op) = instr["per_op"].as_object() else {
        if let Some(why) = instr["skipped"].as_str() {
            eprintln!("\ninstructions: skipped ({why})");
        }
        return;
    };
    eprintln!("\n== instructions per operation (callgrind, loop and event construction subtracted) ==");
    for (name, v) in per_op {
        eprintln!("{name:<40} {:>8.2}", v.as_f64().unwrap_or(f64::NAN));
    }
    for (name, v) in instr["ratios"].as_object().into_iter().flatten() {
        eprintln!("{name:<40} {:>8.3}", v.as_f64().unwrap_or(f64::NAN));
    }
}

/// `target/` of the build that made this binary (`target/release/deps/compare-…`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Writes `compare.json` and `runs/compare-<time>.json`; returns the out dir.
pub fn write(report: &Value) -> std::io::Result<PathBuf> {
    let dir = target_dir().join("ringtel-bench");
    std::fs::create_dir_all(dir.join("runs"))?;
    let text = serde_json::to_string_pretty(report).expect("serializable");
    std::fs::write(dir.join("compare.json"), &text)?;
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let kind = if report["quick"] == true { "quick" } else { "full" };
    std::fs::write(dir.join("runs").join(format!("compare-{kind}-{stamp}.json")), &text)?;
    Ok(dir)
}

/// Medians over every stored run of the same kind (full or quick) and the
/// same batch size and hand-off as this run: the numbers BENCHMARKS.md quotes. Prints
/// them and writes `summary-<kind>.json`.
pub fn summarize(dir: &Path, quick: bool, batch: usize, handoff: usize) -> std::io::Result<()> {
    let kind = if quick { "quick" } else { "full" };
    let mut runs: Vec<Value> = Vec::new();
    for entry in std::fs::read_dir(dir.join("runs"))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with(&format!("compare-{kind}-")) {
            if let Ok(v) = serde_json::from_str::<Value>(&std::fs::read_to_string(&path)?) {
                // Runs from before the batch was recorded count as their
                // ringtel default; every peer's batch moves ringtel's e2e.
                let ran_at = v["machine"]["batch"].as_u64().unwrap_or(0) as usize;
                // Runs from before the hand-off setting handed over batch by batch.
                let ran_handoff = v["machine"]["handoff_batches"].as_u64().unwrap_or(1) as usize;
                if ran_at == batch && ran_handoff == handoff {
                    runs.push(v);
                }
            }
        }
    }
    if runs.len() < 2 {
        return Ok(());
    }
    type Samples = Vec<(f64, f64, f64)>;
    let mut by_key: BTreeMap<(String, String), Samples> = BTreeMap::new();
    for run in &runs {
        for m in run["measures"].as_array().into_iter().flatten() {
            let key =
                (m["measure"].as_str().unwrap_or("").to_owned(), m["peer"].as_str().unwrap_or("").to_owned());
            let triple = (
                m["ringtel_ns"].as_f64().unwrap_or(f64::NAN),
                m["peer_ns"].as_f64().unwrap_or(f64::NAN),
                m["ratio"].as_f64().unwrap_or(f64::NAN),
            );
            by_key.entry(key).or_default().push(triple);
        }
    }
    let mut rows = Vec::new();
    eprintln!("\n== median over {} {kind} runs at batch {batch} (min..max across runs) ==", runs.len());
    let order = |m: &str| MEASURES.iter().position(|(name, _)| *name == m).unwrap_or(usize::MAX);
    let mut keys: Vec<_> = by_key.keys().cloned().collect();
    keys.sort_by_key(|(m, p)| (order(m), p.clone()));
    for key in keys {
        let v = &by_key[&key];
        let col = |f: fn(&(f64, f64, f64)) -> f64| Stats::of(&v.iter().map(f).collect::<Vec<_>>());
        let (Some(r), Some(p), Some(q)) = (col(|t| t.0), col(|t| t.1), col(|t| t.2)) else { continue };
        eprintln!(
            "{:<14} {:<38} ringtel {:>9.2} ({:.2}..{:.2})  peer {:>9.2} ({:.2}..{:.2})  ratio {:.3} ({:.3}..{:.3})",
            key.0, key.1, r.median, r.min, r.max, p.median, p.min, p.max, q.median, q.min, q.max
        );
        rows.push(json!({
            "measure": key.0, "peer": key.1, "runs": v.len(),
            "ringtel_ns": r.json(), "peer_ns": p.json(), "ratio": q.json(),
        }));
    }
    let mut scalars: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for run in &runs {
        for (k, v) in run["instructions"]["per_op"].as_object().into_iter().flatten() {
            scalars.entry(format!("instructions {k}")).or_default().extend(v.as_f64());
        }
        for t in run["targets"].as_array().into_iter().flatten() {
            if let (Some(name), Some(v)) = (t["target"].as_str(), t["value"].as_f64()) {
                scalars.entry(format!("target {name}")).or_default().push(v);
            }
        }
        if let Some(f) = run["ringtel"]["emit_filtered"]["ns"]["median"].as_f64() {
            scalars.entry("ringtel emit_filtered ns".to_owned()).or_default().push(f);
        }
    }
    let scalars: serde_json::Map<String, Value> = scalars
        .into_iter()
        .filter_map(|(k, v)| {
            let s = Stats::of(&v)?;
            eprintln!("{k:<70} {:>9.3} ({:.3}..{:.3})", s.median, s.min, s.max);
            Some((k, s.json()))
        })
        .collect();
    let summary =
        json!({ "kind": kind, "batch": batch, "runs": runs.len(), "rows": rows, "scalars": scalars });
    std::fs::write(
        dir.join(format!("summary-{kind}.json")),
        serde_json::to_string_pretty(&summary).expect("serializable"),
    )
}
