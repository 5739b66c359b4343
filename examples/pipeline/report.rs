//! The final health table and the two checks the run must pass.

use std::path::{Path, PathBuf};
use std::time::Duration;

use comfy_table::{presets, Cell, Table};
use ringtel::pipeline::RowCounts;
use ringtel::{ConsumerState, DropReason, Health, Timestamp};

use crate::progress::human;
use crate::rows::EmitCounts;
use crate::JSONL_KEEP;

/// The two checks the run must pass.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checks {
    /// `offered = filtered + delivered + dropped`, nothing left in flight.
    pub(crate) conserved: bool,
    /// `offered` and `filtered` equal what this program counted itself.
    pub(crate) counted: bool,
}

impl Checks {
    pub(crate) fn new(health: &Health, emitted: EmitCounts) -> Checks {
        Checks {
            conserved: health.is_conserved() && health.in_flight() == 0 && health.queue_len() == 0,
            counted: emitted.calls == health.offered() && emitted.filtered == health.filtered(),
        }
    }
}

pub(crate) struct Report<'a> {
    pub(crate) health: &'a Health,
    pub(crate) emitted: EmitCounts,
    pub(crate) rows: RowCounts,
    pub(crate) run_time: Duration,
    pub(crate) close_time: Duration,
    pub(crate) checks: Checks,
    pub(crate) out: &'a Path,
    pub(crate) now: Timestamp,
}

/// `<path>.<index>`, as `JsonLines` names rotated files.
pub(crate) fn rotated_path(path: &Path, index: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{index}"));
    PathBuf::from(name)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "✓ pass"
    } else {
        "✗ FAIL"
    }
}

pub(crate) fn print_report(r: &Report<'_>) {
    let h = r.health;
    let secs = r.run_time.as_secs_f64().max(1e-9);
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    table.set_header(vec!["ringtel health", "value"]);
    let mut row = |key: &str, value: String| {
        table.add_row(vec![Cell::new(key), Cell::new(value)]);
    };
    row(
        "run",
        format!(
            "{} rows in {:.2} s ({} rows/s): {} succeeded, {} failed, {} quarantined",
            human(r.rows.processed),
            secs,
            human((r.rows.processed as f64 / secs) as u64),
            human(r.rows.succeeded),
            human(r.rows.failed),
            human(r.rows.quarantined),
        ),
    );
    row(
        "events",
        format!("{} offered, {} events/s", human(h.offered()), human((h.offered() as f64 / secs) as u64)),
    );
    row("close", format!("drained, flushed and closed in {:.3} s", r.close_time.as_secs_f64()));
    row("offered", human(h.offered()));
    row("filtered", format!("{} (granularity {:?})", human(h.filtered()), h.granularity()));
    row("delivered", human(h.delivered()));
    for reason in DropReason::ALL {
        row(&format!("dropped: {reason}"), human(h.dropped(reason)));
    }
    row("dropped total", human(h.dropped_total()));
    row("ring", format!("capacity {}, backpressure {:?}", human(h.capacity() as u64), h.backpressure()));
    for e in h.exporters() {
        let last_error = e.last_error().map_or_else(String::new, |l| format!("; last error: {}", l.message));
        row(
            &format!("exporter {}", e.name()),
            format!(
                "{}, breaker {} (opened {}x): {} events in {} batches, {} skipped, {} failures, \
                 {} flush failures, {} panics{last_error}",
                e.state(),
                match e.breaker() {
                    ringtel::BreakerState::Closed { .. } => "closed",
                    ringtel::BreakerState::Open { .. } => "open",
                    ringtel::BreakerState::HalfOpen { .. } => "half-open",
                },
                e.breaker_opened(),
                human(e.events_exported()),
                human(e.batches_exported()),
                human(e.skipped_events()),
                e.failures(),
                e.flush_failures(),
                e.panics(),
            ),
        );
    }
    let consumer = match h.consumer() {
        ConsumerState::Running => "running".to_owned(),
        ConsumerState::Stopped => "stopped".to_owned(),
        ConsumerState::Dead { message } => format!("dead: {message}"),
    };
    let heartbeat = h.last_heartbeat().map_or_else(
        || "never".to_owned(),
        |t| format!("{:.1} ms before this report", r.now.saturating_duration_since(t).as_secs_f64() * 1e3),
    );
    row("consumer", format!("{consumer}; last heartbeat {heartbeat}"));
    row(
        "offered = filtered + delivered + dropped",
        format!(
            "{} = {} + {} + {}  {}",
            h.offered(),
            h.filtered(),
            h.delivered(),
            h.dropped_total(),
            verdict(r.checks.conserved)
        ),
    );
    row(
        "emit() calls counted by this program",
        format!(
            "{} calls (filtered {}, dropped at emit {}) = offered {}  {}",
            r.emitted.calls,
            r.emitted.filtered,
            r.emitted.dropped,
            h.offered(),
            verdict(r.checks.counted)
        ),
    );
    let size = std::fs::metadata(r.out).map_or(0, |m| m.len());
    let rotated = (1..=JSONL_KEEP).filter(|i| rotated_path(r.out, *i).exists()).count();
    row(
        "json lines",
        format!(
            "{} ({:.1} MiB, {rotated} rotated files beside it)",
            r.out.display(),
            size as f64 / (1024.0 * 1024.0)
        ),
    );
    eprintln!("{table}");
}
