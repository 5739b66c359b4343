//! `Console`: a compact human-readable line per event, or a periodic summary,
//! to any `io::Write` (stderr by default).

use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use crate::pipeline::{EventKind, EventTag, Names, PipelineEvent, RowCounts, RunId};
use crate::{ExportError, Exporter, Timestamp};

/// The default name of a [`Console`] exporter.
pub const DEFAULT_CONSOLE_NAME: &str = "console";
/// Bytes a [`Console`] gathers before writing them out in one call; a batch
/// is always written out before `export` returns.
pub const DEFAULT_CONSOLE_BUFFER_CAPACITY: usize = 16 * 1024;

/// What a [`Console`] prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleMode {
    /// One line per event.
    Events,
    /// One summary line each time event time advances by `every` (by the
    /// events' own timestamps, so a `ManualClock` drives it in tests), and a
    /// last one at `close`.
    Summary {
        /// The interval between summaries.
        every: Duration,
    },
}

/// An exporter that writes [`PipelineEvent`]s for people: one compact line
/// per event (`<secs>.<millis> run=<id> <event> key=value…`, see
/// [`Resolved`](crate::pipeline::Resolved)), or a periodic summary of counts
/// by kind and the latest progress.
///
/// Each batch is written out before `export` returns, in writes of at most
/// [`DEFAULT_CONSOLE_BUFFER_CAPACITY`] bytes (plus one line). A write error is
/// returned as an [`ExportError`] of kind `Io`.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use ringtel::exporters::Console;
/// use ringtel::pipeline::{Names, PipelineEvent, RowId, RunContext, RunId, TokenId};
/// use ringtel::{Exporter, ManualClock, Timestamp};
///
/// let names = Arc::new(Names::new());
/// let mut console = Console::new(Vec::new(), Arc::clone(&names));
/// let clock = ManualClock::new(Timestamp::from_nanos(2_000_000_000));
/// let run = RunContext::new(RunId::new(1), &clock);
/// console.export(&[PipelineEvent::row_created(run, RowId::new(5), TokenId::new(5))])?;
/// assert_eq!(String::from_utf8_lossy(console.get_ref()), "2.000 run=1 row_created row=5 token=5\n");
/// # Ok::<(), ringtel::ExportError>(())
/// ```
pub struct Console<W = io::Stderr> {
    name: String,
    out: W,
    names: Arc<Names>,
    mode: ConsoleMode,
    buffer: Vec<u8>,
    buffer_capacity: usize,
    summary: Summary,
}

/// Counts for summary mode.
#[derive(Debug, Default)]
struct Summary {
    by_tag: [u64; EventTag::COUNT],
    total: u64,
    since_last: u64,
    progress: Option<(RowCounts, f64)>,
    run: Option<RunId>,
    last_at: Timestamp,
    next_due: Option<Timestamp>,
}

impl Console<io::Stderr> {
    /// A console exporter writing one line per event to stderr.
    pub fn stderr(names: Arc<Names>) -> Self {
        Console::new(io::stderr(), names)
    }
}

impl<W: Write + Send + 'static> Console<W> {
    /// A console exporter writing one line per event to `out`.
    pub fn new(out: W, names: Arc<Names>) -> Self {
        Console {
            name: DEFAULT_CONSOLE_NAME.to_owned(),
            out,
            names,
            mode: ConsoleMode::Events,
            buffer: Vec::with_capacity(DEFAULT_CONSOLE_BUFFER_CAPACITY),
            buffer_capacity: DEFAULT_CONSOLE_BUFFER_CAPACITY,
            summary: Summary::default(),
        }
    }

    /// Prints a summary every `every` of event time instead of every event.
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use ringtel::exporters::Console;
    /// use ringtel::pipeline::{Names, PipelineEvent, RowId, RunContext, RunId, TokenId};
    /// use ringtel::{Exporter, ManualClock, Timestamp};
    ///
    /// let mut console = Console::new(Vec::new(), Arc::new(Names::new())).summary_every(Duration::from_secs(1));
    /// let clock = ManualClock::new(Timestamp::from_nanos(0));
    /// let run = RunContext::new(RunId::new(1), &clock);
    /// let row = |i| PipelineEvent::row_created(run, RowId::new(i), TokenId::new(i));
    /// console.export(&[row(1), row(2)])?;
    /// assert!(console.get_ref().is_empty(), "no summary before a second of event time");
    /// clock.advance(Duration::from_secs(1));
    /// console.export(&[row(3)])?;
    /// assert_eq!(
    ///     String::from_utf8_lossy(console.get_ref()),
    ///     "1.000 run=1 summary events=3 (+3) row_created=3\n",
    /// );
    /// # Ok::<(), ringtel::ExportError>(())
    /// ```
    #[must_use]
    pub fn summary_every(mut self, every: Duration) -> Self {
        self.mode = ConsoleMode::Summary { every };
        self
    }

    /// Renames the exporter (as shown in `Health`).
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// What this exporter prints.
    pub fn mode(&self) -> ConsoleMode {
        self.mode
    }

    /// The writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Writes the buffer out and empties it, even on error.
    fn write_out(&mut self) -> io::Result<()> {
        let result = self.out.write_all(&self.buffer);
        self.buffer.clear();
        result
    }

    fn write_summary_line(&mut self) -> io::Result<()> {
        let line = SummaryLine(&self.summary);
        writeln!(self.buffer, "{line}")?;
        self.summary.since_last = 0;
        Ok(())
    }

    fn export_batch(&mut self, batch: &[PipelineEvent]) -> io::Result<()> {
        let names = Arc::clone(&self.names);
        let view = names.read();
        for event in batch {
            match self.mode {
                ConsoleMode::Events => writeln!(self.buffer, "{}", event.resolved(&view))?,
                ConsoleMode::Summary { every } => {
                    let s = &mut self.summary;
                    s.by_tag[event.kind().tag().index()] += 1;
                    s.total += 1;
                    s.since_last += 1;
                    s.run = Some(event.run());
                    s.last_at = s.last_at.max(event.at());
                    if let EventKind::Progress { counts, rows_per_second } = *event.kind() {
                        s.progress = Some((counts, rows_per_second));
                    }
                    let due = *s.next_due.get_or_insert(event.at() + every);
                    if event.at() >= due {
                        s.next_due = Some(event.at() + every);
                        self.write_summary_line()?;
                    }
                }
            }
            if self.buffer.len() >= self.buffer_capacity {
                self.write_out()?;
            }
        }
        self.write_out()
    }
}

impl<W: Write + Send + 'static> Exporter<PipelineEvent> for Console<W> {
    fn name(&self) -> &str {
        &self.name
    }

    fn export(&mut self, batch: &[PipelineEvent]) -> Result<(), ExportError> {
        self.export_batch(batch).map_err(|e| {
            self.buffer.clear();
            ExportError::from(e)
        })
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.out.flush().map_err(ExportError::from)
    }

    /// In summary mode, writes a last summary if anything arrived since the
    /// previous one; then flushes.
    fn close(&mut self) -> Result<(), ExportError> {
        if matches!(self.mode, ConsoleMode::Summary { .. }) && self.summary.since_last > 0 {
            self.write_summary_line()?;
            self.write_out()?;
        }
        self.out.flush().map_err(ExportError::from)
    }
}

/// `<secs>.<millis> run=<id> summary events=<total> (+<new>) <kind>=<n>… [progress …]`
struct SummaryLine<'a>(&'a Summary);

impl fmt::Display for SummaryLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let nanos = s.last_at.as_nanos();
        write!(f, "{}.{:03} ", nanos / 1_000_000_000, nanos % 1_000_000_000 / 1_000_000)?;
        if let Some(run) = s.run {
            write!(f, "run={run} ")?;
        }
        write!(f, "summary events={} (+{})", s.total, s.since_last)?;
        for tag in EventTag::ALL {
            let n = s.by_tag[tag.index()];
            if n > 0 {
                write!(f, " {}={n}", tag.name())?;
            }
        }
        if let Some((c, rate)) = s.progress {
            write!(
                f,
                " | processed={} succeeded={} failed={} quarantined={} rows/s={rate:.0}",
                c.processed, c.succeeded, c.failed, c.quarantined
            )?;
        }
        Ok(())
    }
}

impl<W> fmt::Debug for Console<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Console")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .field("buffered", &self.buffer.len())
            .field("events", &self.summary.total)
            .finish_non_exhaustive()
    }
}
