//! The final health table, the checks the run must pass, and the verdict.
//!
//! The table fits the terminal: its width is `COLUMNS` when set, else the
//! width of the terminal on stderr, else 120; below 100 columns it uses a
//! narrow layout (short labels, values wrapped inside their cells).

use std::path::{Path, PathBuf};
use std::time::Duration;

use comfy_table::{presets, Cell, ContentArrangement, Table};
use ringtel::pipeline::{RowCounts, RunStatus};
use ringtel::{BreakerState, ConsumerState, DropReason, ExporterHealth, Health, Timestamp};

use crate::progress::human;
use crate::rows::EmitCounts;

/// Width used when neither `COLUMNS` nor a terminal says otherwise.
const FALLBACK_WIDTH: u16 = 120;
/// Below this many columns, the narrow layout.
pub(crate) const NARROW_BELOW: u16 = 100;
/// The narrowest layout the table attempts.
const MIN_WIDTH: u16 = 40;

/// The width to lay out for: `COLUMNS`, else the terminal on stderr, else 120.
pub(crate) fn terminal_width() -> u16 {
    let from_env = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<u16>().ok());
    let from_terminal = || console::Term::stderr().size_checked().map(|(_rows, columns)| columns);
    from_env.or_else(from_terminal).filter(|w| *w > 0).unwrap_or(FALLBACK_WIDTH).max(MIN_WIDTH)
}

/// Whether one exporter received every event the consumer handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExporterCheck {
    /// It took every event, and every flush succeeded.
    Complete { name: String, events: u64 },
    /// It lost events: failed or skipped batches, or a failed flush.
    Lost { name: String, handed: u64, exported: u64, flush_failures: u64 },
}

impl ExporterCheck {
    fn new(exporter: &ExporterHealth, handed: u64) -> ExporterCheck {
        let name = exporter.name().to_owned();
        let exported = exporter.events_exported();
        if exported >= handed && exporter.flush_failures() == 0 {
            ExporterCheck::Complete { name, events: exported }
        } else {
            ExporterCheck::Lost { name, handed, exported, flush_failures: exporter.flush_failures() }
        }
    }

    fn is_complete(&self) -> bool {
        matches!(self, ExporterCheck::Complete { .. })
    }
}

/// The checks the run must pass.
#[derive(Debug, Clone)]
pub(crate) struct Checks {
    /// `offered = filtered + delivered + dropped`, nothing left in flight.
    pub(crate) conserved: bool,
    /// `offered` and `filtered` equal what this program counted itself.
    pub(crate) counted: bool,
    /// One per exporter, in `Health` order. `delivered` only means that at
    /// least one exporter took an event; this says whether each one did.
    pub(crate) exporters: Vec<ExporterCheck>,
}

/// How the run ended; decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every check passed (exit 0).
    Pass,
    /// A check failed (exit 1).
    Fail,
    /// Ctrl-C ended the run early (exit 130), whatever the checks say.
    Interrupted,
}

impl Checks {
    pub(crate) fn new(health: &Health, emitted: EmitCounts) -> Checks {
        // Every exporter is attached from the start and never removed, so
        // each was handed every event the consumer dispatched: those some
        // exporter took (`delivered`) and those every exporter failed.
        let handed = health.delivered() + health.dropped(DropReason::ExportFailed);
        Checks {
            conserved: health.is_conserved() && health.in_flight() == 0 && health.queue_len() == 0,
            counted: emitted.calls == health.offered() && emitted.filtered == health.filtered(),
            exporters: health.exporters().iter().map(|e| ExporterCheck::new(e, handed)).collect(),
        }
    }

    fn exporters_complete(&self) -> bool {
        self.exporters.iter().all(ExporterCheck::is_complete)
    }

    fn all_pass(&self) -> bool {
        self.conserved && self.counted && self.exporters_complete()
    }

    pub(crate) fn verdict(&self, status: RunStatus) -> Verdict {
        match status {
            RunStatus::Interrupted => Verdict::Interrupted,
            _ if self.all_pass() => Verdict::Pass,
            _ => Verdict::Fail,
        }
    }
}

pub(crate) struct Report<'a> {
    pub(crate) health: &'a Health,
    pub(crate) emitted: EmitCounts,
    pub(crate) rows: RowCounts,
    pub(crate) status: RunStatus,
    pub(crate) run_time: Duration,
    pub(crate) close_time: Duration,
    pub(crate) checks: &'a Checks,
    pub(crate) out: &'a Path,
    /// Rotated files kept beside `out`.
    pub(crate) keep: usize,
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

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", human(n), if n == 1 { one } else { many })
}

fn breaker(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed { .. } => "closed",
        BreakerState::Open { .. } => "open",
        BreakerState::HalfOpen { .. } => "half-open",
    }
}

/// One exporter's line: delivered and failed first, then the details.
fn exporter_row(check: &ExporterCheck, e: &ExporterHealth) -> String {
    let head = match check {
        ExporterCheck::Complete { events, .. } => {
            format!(
                "✓ took all {} in {}",
                plural(*events, "event", "events"),
                plural(e.batches_exported(), "batch", "batches")
            )
        }
        ExporterCheck::Lost { handed, exported, flush_failures, .. } => {
            let lost = handed.saturating_sub(*exported);
            let flush = if *flush_failures > 0 {
                format!(", {} failed", plural(*flush_failures, "flush", "flushes"))
            } else {
                String::new()
            };
            format!(
                "✗ LOST {}: took {} of {}{flush}",
                plural(lost, "event", "events"),
                human(*exported),
                human(*handed)
            )
        }
    };
    let mut details = format!(
        "{}, breaker {} (opened {}x), {} skipped, {} failed, {}",
        e.state(),
        breaker(e.breaker()),
        e.breaker_opened(),
        plural(e.skipped_events(), "event", "events"),
        plural(e.failures(), "batch", "batches"),
        plural(e.panics(), "panic", "panics"),
    );
    if let Some(last) = e.last_error() {
        details.push_str(&format!("; last error: {}", last.message));
    }
    format!("{head}\n{details}")
}

/// The table as text, laid out for `width` columns.
pub(crate) fn render_report(r: &Report<'_>, width: u16) -> String {
    let narrow = width < NARROW_BELOW;
    let h = r.health;
    let secs = r.run_time.as_secs_f64().max(1e-9);
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    table.set_content_arrangement(ContentArrangement::Dynamic);
    table.set_width(width);
    table.set_header(vec!["ringtel health", "value"]);
    let mut row = |key: &str, value: String| {
        table.add_row(vec![Cell::new(key), Cell::new(value)]);
    };
    for (check, e) in r.checks.exporters.iter().zip(h.exporters()) {
        row(&format!("exporter {}", e.name()), exporter_row(check, e));
    }
    let status = match r.status {
        RunStatus::Completed => "completed",
        RunStatus::Failed => "failed",
        RunStatus::Interrupted => "interrupted (Ctrl-C)",
    };
    row(
        "run",
        format!(
            "{status}: {} in {secs:.2} s ({} rows/s)\n{} succeeded, {} failed, {} quarantined",
            plural(r.rows.processed, "row", "rows"),
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
    row("filtered", format!("{} (granularity {:?})", human(h.filtered()), h.granularity()));
    row("delivered", format!("{} (to at least one exporter)", human(h.delivered())));
    let reasons: Vec<String> = DropReason::ALL
        .iter()
        .filter(|reason| h.dropped(**reason) > 0)
        .map(|reason| format!("{reason} {}", human(h.dropped(*reason))))
        .collect();
    row(
        "dropped",
        if reasons.is_empty() {
            human(h.dropped_total())
        } else {
            format!("{} ({})", human(h.dropped_total()), reasons.join(", "))
        },
    );
    row("ring", format!("capacity {}, backpressure {:?}", human(h.capacity() as u64), h.backpressure()));
    let consumer = match h.consumer() {
        ConsumerState::Running => "running".to_owned(),
        ConsumerState::Stopped => "stopped".to_owned(),
        ConsumerState::Dead { message } => format!("dead: {message}"),
    };
    let heartbeat = h.last_heartbeat().map_or_else(
        || "never".to_owned(),
        |t| {
            format!(
                "{:.1} ms before this report ({})",
                r.now.saturating_duration_since(t).as_secs_f64() * 1e3,
                t.to_rfc3339()
            )
        },
    );
    row("consumer", format!("{consumer}; last heartbeat {heartbeat}"));
    row("close", format!("drained, flushed and closed in {:.3} s", r.close_time.as_secs_f64()));
    let size = std::fs::metadata(r.out).map_or(0, |m| m.len());
    let rotated = (1..=r.keep).filter(|i| rotated_path(r.out, *i).exists()).count() as u64;
    row(
        "json lines",
        format!(
            "{}\n{:.1} MiB, {} beside it",
            r.out.display(),
            size as f64 / (1024.0 * 1024.0),
            plural(rotated, "rotated file", "rotated files")
        ),
    );
    let (conservation, counted) = if narrow {
        ("conservation", "emit() count")
    } else {
        ("offered = filtered + delivered + dropped", "emit() calls counted by this program")
    };
    row(
        conservation,
        format!(
            "{} = {} + {} + {}  {}",
            human(h.offered()),
            human(h.filtered()),
            human(h.delivered()),
            human(h.dropped_total()),
            verdict(r.checks.conserved)
        ),
    );
    row(
        counted,
        format!(
            "{} calls (filtered {}, dropped at emit {}) = offered {}  {}",
            human(r.emitted.calls),
            human(r.emitted.filtered),
            human(r.emitted.dropped),
            human(h.offered()),
            verdict(r.checks.counted)
        ),
    );
    let lost: Vec<&str> = r
        .checks
        .exporters
        .iter()
        .filter_map(|c| match c {
            ExporterCheck::Lost { name, .. } => Some(name.as_str()),
            ExporterCheck::Complete { .. } => None,
        })
        .collect();
    row(
        if narrow { "every exporter" } else { "every exporter took every event" },
        if lost.is_empty() {
            verdict(true).to_owned()
        } else {
            format!("{}: {} lost events", verdict(false), lost.join(", "))
        },
    );
    let overall = match r.checks.verdict(r.status) {
        Verdict::Pass => "✓ pass (exit 0)".to_owned(),
        Verdict::Fail => "✗ FAIL (exit 1)".to_owned(),
        Verdict::Interrupted => {
            let checks = if r.checks.all_pass() { "checks pass" } else { "a check FAILED" };
            format!("interrupted by Ctrl-C, {checks} (exit 130)")
        }
    };
    row("verdict", overall);
    table.to_string()
}

pub(crate) fn print_report(r: &Report<'_>, width: u16) {
    eprintln!("{}", render_report(r, width));
}
