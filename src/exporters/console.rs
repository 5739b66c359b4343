//! `Console`: a compact human-readable line per event of any type, or a
//! periodic summary, to any `io::Write` (stderr by default).

use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::wall_now;
use crate::encoding::{LineText, Resolved};
use crate::pipeline::Names;
use crate::{Event, ExportError, Exporter, Timestamp};

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

/// An exporter that writes events of any [`Event`] type for people: one
/// compact line per event (`<secs>.<millis> <SEVERITY> [run=<id> ]<event>[: <message>] key=value…`,
/// see [`Resolved`]), or a periodic summary of counts by event name and the
/// latest `progress` event's fields.
///
/// Each batch is written out before `export` returns, in writes of at most
/// [`DEFAULT_CONSOLE_BUFFER_CAPACITY`] bytes (plus one line). A write error is
/// returned as an [`ExportError`] of kind `Io`. Lines are formatted straight
/// into the reused buffer: nothing is allocated per event.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use ringtel::exporters::Console;
/// use ringtel::pipeline::{Names, PipelineEvent, RowId, RunContext, RunId, TokenId};
/// use ringtel::{Exporter, ManualClock, Timestamp};
///
/// let names = Arc::new(Names::new());
/// let mut console = Console::new(Vec::new()).names(Arc::clone(&names));
/// let clock = ManualClock::new(Timestamp::from_nanos(2_000_000_000));
/// let run = RunContext::new(RunId::new(1), &clock);
/// console.export(&[PipelineEvent::row_created(run, RowId::new(5), TokenId::new(5))])?;
/// assert_eq!(String::from_utf8_lossy(console.get_ref()), "2.000 INFO run=1 row_created row=5 token=5\n");
/// # Ok::<(), ringtel::ExportError>(())
/// ```
pub struct Console<W = io::Stderr> {
    name: String,
    out: W,
    names: Option<Arc<Names>>,
    mode: ConsoleMode,
    buffer: Vec<u8>,
    buffer_capacity: usize,
    summary: Summary,
}

/// The most distinct event names a summary counts one by one; the rest are
/// counted together as `(other names)`, so the summary stays bounded (C13).
pub const MAX_SUMMARY_NAMES: usize = 64;

/// The event name whose latest fields a summary line shows.
const PROGRESS_EVENT: &str = "progress";

/// Counts for summary mode.
#[derive(Debug, Default)]
struct Summary {
    /// Counts by event name, in first-seen order.
    by_name: Vec<(Box<str>, u64)>,
    /// Events whose name came after [`MAX_SUMMARY_NAMES`] others.
    other: u64,
    total: u64,
    since_last: u64,
    /// The latest `progress` event's fields, rendered (reused).
    progress: String,
    run: Option<u64>,
    last_at: Timestamp,
    next_due: Option<Timestamp>,
}

impl Summary {
    fn count(&mut self, name: &str) {
        if let Some((_, n)) = self.by_name.iter_mut().find(|(n, _)| &**n == name) {
            *n += 1;
        } else if self.by_name.len() < MAX_SUMMARY_NAMES {
            self.by_name.push((name.into(), 1));
        } else {
            self.other += 1;
        }
    }
}

impl Console<io::Stderr> {
    /// A console exporter writing one line per event to stderr.
    pub fn stderr() -> Self {
        Console::new(io::stderr())
    }
}

impl<W: Write + Send + 'static> Console<W> {
    /// The exporter's name, as shown in `Health` (what [`Exporter::name`]
    /// returns, callable without naming the event type).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A console exporter writing one line per event to `out`.
    pub fn new(out: W) -> Self {
        Console {
            name: DEFAULT_CONSOLE_NAME.to_owned(),
            out,
            names: None,
            mode: ConsoleMode::Events,
            buffer: Vec::with_capacity(DEFAULT_CONSOLE_BUFFER_CAPACITY),
            buffer_capacity: DEFAULT_CONSOLE_BUFFER_CAPACITY,
            summary: Summary::default(),
        }
    }

    /// Resolves interned names ([`FieldValue::Name`](crate::encoding::FieldValue::Name))
    /// through `names`; without a registry they are written `#index`.
    #[must_use]
    pub fn names(mut self, names: Arc<Names>) -> Self {
        self.names = Some(names);
        self
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
    /// let mut console = Console::new(Vec::new()).names(Arc::new(Names::new())).summary_every(Duration::from_secs(1));
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

    /// Flushes the writer: what [`Exporter::flush`] does, callable without
    /// naming the event type.
    ///
    /// # Errors
    /// An `Io` [`ExportError`].
    pub fn flush(&mut self) -> Result<(), ExportError> {
        self.out.flush().map_err(ExportError::from)
    }

    /// In summary mode, writes a last summary if anything arrived since the
    /// previous one; then flushes.
    ///
    /// # Errors
    /// An `Io` [`ExportError`].
    pub fn close(&mut self) -> Result<(), ExportError> {
        if matches!(self.mode, ConsoleMode::Summary { .. }) && self.summary.since_last > 0 {
            self.write_summary_line()?;
            self.write_out()?;
        }
        self.out.flush().map_err(ExportError::from)
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

    fn export_batch<E: Event>(&mut self, batch: &[E], taken_at: Timestamp) -> io::Result<()> {
        let names = self.names.clone();
        let view = names.as_deref().map(Names::read);
        for event in batch {
            let resolved = Resolved::new(event, view.as_ref(), taken_at);
            match self.mode {
                ConsoleMode::Events => writeln!(self.buffer, "{resolved}")?,
                ConsoleMode::Summary { every } => {
                    let s = &mut self.summary;
                    let at = resolved.time();
                    s.count(event.name());
                    s.total += 1;
                    s.since_last += 1;
                    if let Some(run) = event.correlation().run {
                        s.run = Some(run);
                    }
                    s.last_at = s.last_at.max(at);
                    if event.name() == PROGRESS_EVENT {
                        s.progress.clear();
                        // Writing into a String cannot fail.
                        let _ = resolved.write_fields(&mut s.progress);
                    }
                    let due = *s.next_due.get_or_insert(at + every);
                    if at >= due {
                        s.next_due = Some(at + every);
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

impl<W: Write + Send + 'static, E: Event> Exporter<E> for Console<W> {
    fn name(&self) -> &str {
        &self.name
    }

    fn export(&mut self, batch: &[E]) -> Result<(), ExportError> {
        self.export_taken(batch, wall_now())
    }

    fn export_taken(&mut self, batch: &[E], taken_at: Timestamp) -> Result<(), ExportError> {
        self.export_batch(batch, taken_at).map_err(|e| {
            self.buffer.clear();
            ExportError::from(e)
        })
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        Console::flush(self)
    }

    fn close(&mut self) -> Result<(), ExportError> {
        Console::close(self)
    }
}

/// `<secs>.<millis> [run=<id> ]summary events=<total> (+<new>) <name>=<n>…[ other=<n>][ | <progress fields>]`
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
        for (name, n) in &s.by_name {
            write!(f, " {}={n}", LineText(name))?;
        }
        if s.other > 0 {
            // Parenthesised: no event name can be mistaken for it.
            write!(f, " (other names)={}", s.other)?;
        }
        if !s.progress.is_empty() {
            write!(f, " |{}", s.progress)?;
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
