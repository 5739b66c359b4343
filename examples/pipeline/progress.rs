//! The progress bar (stderr): rows/s, events/s, queue fill and drops, read
//! from `Telemetry::health()` while the run goes.

use std::io::{self, IsTerminal, Write};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ringtel::Health;

use crate::Args;

/// Routes the console exporter's lines above the progress bar.
pub(crate) struct BarWriter {
    pub(crate) bar: ProgressBar,
    pub(crate) pending: Vec<u8>,
}

impl Write for BarWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.bar.println(String::from_utf8_lossy(&line[..end]));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(crate) fn progress_bar(args: &Args) -> ProgressBar {
    if args.health_json || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(args.rows), ProgressDrawTarget::stderr_with_hz(10));
    let style = ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{bar:24}] {human_pos}/{human_len} rows | {msg}",
    )
    .expect("the template is valid")
    .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// Refreshes the bar from `Health`: events/s, queue fill, drops.
pub(crate) struct Monitor {
    pub(crate) last_at: Instant,
    pub(crate) last_offered: u64,
    pub(crate) last_rows: u64,
}

impl Monitor {
    pub(crate) fn refresh(&mut self, bar: &ProgressBar, health: &Health, rows_done: u64) {
        let now = Instant::now();
        let dt = now.duration_since(self.last_at).as_secs_f64();
        let rate = |now: u64, then: u64| if dt > 0.0 { now.saturating_sub(then) as f64 / dt } else { 0.0 };
        let (rows_per_sec, events_per_sec) =
            (rate(rows_done, self.last_rows), rate(health.offered(), self.last_offered));
        self.last_at = now;
        self.last_offered = health.offered();
        self.last_rows = rows_done;
        let fill = 100.0 * health.queue_len() as f64 / health.capacity().max(1) as f64;
        bar.set_position(rows_done);
        bar.set_message(format!(
            "{} rows/s | {} events/s | queue {fill:>3.0}% of {} | dropped {} | blocked {}",
            human(rows_per_sec as u64),
            human(events_per_sec as u64),
            human(health.capacity() as u64),
            human(health.dropped_total()),
            health.blocked_producers(),
        ));
    }
}

/// `1234567` as `1,234,567`.
pub(crate) fn human(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
