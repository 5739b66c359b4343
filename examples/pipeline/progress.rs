//! The progress bar (stderr): rows/s, events/s, queue fill and drops, read
//! from `Telemetry::health()` while the run goes.

use std::io::{self, IsTerminal, Write};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ringtel::Health;

use crate::report::NARROW_BELOW;
use crate::Args;

/// Writes the console exporter's lines to stderr, above the progress bar
/// when there is one, each wrapped to the terminal's width.
pub(crate) struct ConsoleWriter {
    pub(crate) bar: Option<ProgressBar>,
    pub(crate) width: u16,
    pub(crate) pending: Vec<u8>,
}

impl Write for ConsoleWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let text = wrap(&String::from_utf8_lossy(&line[..end]), usize::from(self.width)).join("\n");
            match &self.bar {
                Some(bar) => bar.println(text),
                None => writeln!(io::stderr(), "{text}")?,
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// `line` cut at spaces into lines of at most `width` characters, the
/// continuation lines indented by two spaces (a word longer than a line is
/// cut where it must be).
pub(crate) fn wrap(line: &str, width: usize) -> Vec<String> {
    const INDENT: &str = "  ";
    let width = width.max(INDENT.len() + 8);
    let mut lines = Vec::new();
    let mut current = String::new();
    // Characters in `current`, and whether it holds a word yet.
    let (mut len, mut has_word) = (0, false);
    for word in line.split(' ') {
        let mut rest: Vec<char> = word.chars().collect();
        loop {
            let sep = usize::from(has_word);
            if len + sep + rest.len() <= width {
                if has_word {
                    current.push(' ');
                }
                current.extend(&rest);
                (len, has_word) = (len + sep + rest.len(), true);
                break;
            }
            if !has_word {
                // Alone on its line and still too wide: cut the word.
                let room = width - len;
                current.extend(rest.drain(..room));
            }
            lines.push(std::mem::replace(&mut current, INDENT.to_owned()));
            (len, has_word) = (INDENT.len(), false);
        }
    }
    lines.push(current);
    lines
}

/// The bar, drawn on stderr when it is a terminal (hidden otherwise, and
/// with `--health-json`). Laid out for `width` columns: below
/// [`NARROW_BELOW`] a shorter bar and message; the message is cut to what
/// fits in either case, so the line never wraps.
pub(crate) fn progress_bar(args: &Args, width: u16) -> ProgressBar {
    if args.health_json || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(args.rows), ProgressDrawTarget::stderr_with_hz(10));
    let template = if width < NARROW_BELOW {
        "{spinner} {elapsed_precise} [{bar:16}] {percent:>3}% {wide_msg}"
    } else {
        "{spinner} {elapsed_precise} [{bar:24}] {human_pos}/{human_len} rows | {wide_msg}"
    };
    let style = ProgressStyle::with_template(template).expect("the template is valid").progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// Refreshes the bar from `Health`: rows/s, events/s, queue fill, drops.
pub(crate) struct Monitor {
    narrow: bool,
    last_at: Instant,
    last_offered: u64,
    last_rows: u64,
}

impl Monitor {
    pub(crate) fn new(width: u16) -> Monitor {
        Monitor { narrow: width < NARROW_BELOW, last_at: Instant::now(), last_offered: 0, last_rows: 0 }
    }

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
        bar.set_message(if self.narrow {
            format!(
                "{} rows/s | queue {fill:.0}% | dropped {}",
                human(rows_per_sec as u64),
                human(health.dropped_total()),
            )
        } else {
            let blocked = match health.blocked_producers() {
                0 => String::new(),
                n => format!(" | blocked {n}"),
            };
            format!(
                "{} rows/s | {} events/s | queue {fill:.0}% | dropped {}{blocked}",
                human(rows_per_sec as u64),
                human(events_per_sec as u64),
                human(health.dropped_total()),
            )
        });
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
