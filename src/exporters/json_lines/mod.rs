//! `JsonLines`: one JSON object per line for any event type, names resolved,
//! written through a bounded buffer to a file, with optional size-based
//! rotation.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clock::wall_now;
use crate::encoding::Resolved;
use crate::pipeline::Names;
use crate::{Event, ExportError, ExportErrorKind, Exporter, Timestamp};

mod builder;

pub use builder::{JsonLinesBuilder, JsonLinesError, Rotation};

/// The default name of a [`JsonLines`] exporter.
pub const DEFAULT_JSON_LINES_NAME: &str = "json_lines";
/// Default size of the write buffer: lines are gathered up to this many bytes
/// (plus one line) before one `write` call.
pub const DEFAULT_JSON_LINES_BUFFER_CAPACITY: usize = 64 * 1024;

/// An exporter that writes each event, of any [`Event`] type, as one JSON
/// object per line: the [encoding contract](crate::encoding)'s envelope
/// (`ts`, correlation ids, `event`, `severity`, `message`) and then the
/// event's own typed fields (see [`Resolved`] for the exact rules). Interned
/// names resolve through the [`Names`] registry given with
/// [`JsonLinesBuilder::names`] (`"#index"` without one).
///
/// Encoding allocates nothing per event: each line is written by
/// `serde_json` straight into the reused, bounded write buffer.
///
/// Lines are gathered in a buffer of bounded size and every batch is written
/// to the file before `export` returns, so an `Ok` from `export` means the
/// batch reached the operating system, and an I/O error (a full disk, a
/// revoked permission) fails exactly the batch it hit. After a failed write
/// the file is truncated back to the end of the last complete batch, so it
/// never holds half a line (lines that a rotation earlier in the same batch
/// moved to `<path>.1` stay there). Errors are returned as [`ExportError`]s
/// (kind `Io`, or `Encode`), never panics; ringtel counts them per exporter.
///
/// `flush` flushes; `close` flushes and syncs the file to disk.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use ringtel::exporters::JsonLines;
/// use ringtel::pipeline::{Names, PipelineEvent, RowId, RunContext, RunId, TokenId};
/// use ringtel::{SystemClock, Telemetry};
///
/// let dir = std::env::temp_dir().join(format!("ringtel-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("events.jsonl");
///
/// let names = Arc::new(Names::new());
/// let clock = SystemClock::new();
/// let telemetry = Telemetry::<PipelineEvent>::builder()
///     .clock(clock)
///     .exporter(JsonLines::builder(&path).names(Arc::clone(&names)).create()?)
///     .start()?;
/// let run = RunContext::new(RunId::new(1), &clock);
/// let _ = telemetry.emit(PipelineEvent::row_created(run, RowId::new(1), TokenId::new(1)));
/// telemetry.close(Duration::from_secs(5))?;
///
/// let text = std::fs::read_to_string(&path)?;
/// let line: serde_json::Value = serde_json::from_str(text.trim_end())?;
/// assert_eq!(line["event"], "row_created");
/// assert_eq!(line["row"], 1);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JsonLines {
    name: String,
    path: PathBuf,
    names: Option<Arc<Names>>,
    append: bool,
    /// `None` after `close`, or after a rotation could not reopen the file.
    file: Option<File>,
    /// Whether `path` is a regular file (so truncating, syncing and rotating
    /// it make sense), as opposed to a device or a pipe.
    regular: bool,
    closed: bool,
    /// Bytes of complete lines known to be in the current file.
    file_len: u64,
    buffer: Vec<u8>,
    /// Whole lines in `buffer` (each event adds one).
    buffered_lines: u64,
    buffer_capacity: usize,
    rotation: Option<Rotation>,
    stats: JsonLinesStats,
}

/// What a [`JsonLines`] exporter has written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonLinesStats {
    /// Lines written to files.
    pub lines_written: u64,
    /// Bytes written to files.
    pub bytes_written: u64,
    /// Files rotated.
    pub rotations: u64,
    /// Lines encoded but not written because the write failed (their batch
    /// failed and ringtel counted it).
    pub lines_discarded: u64,
}

impl JsonLines {
    /// The exporter's name, as shown in `Health` (what [`Exporter::name`]
    /// returns, callable without naming the event type).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates (or truncates) the file at `path` and returns an exporter
    /// writing to it with default settings and no rotation.
    ///
    /// # Errors
    /// [`JsonLinesError::Open`] if the file cannot be opened for writing.
    pub fn create(path: impl AsRef<Path>) -> Result<JsonLines, JsonLinesError> {
        JsonLines::builder(path).create()
    }

    /// A builder for an exporter writing to `path`.
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use ringtel::exporters::JsonLines;
    /// use ringtel::pipeline::Names;
    ///
    /// let path = std::env::temp_dir().join(format!("ringtel-doc-builder-{}.jsonl", std::process::id()));
    /// let exporter = JsonLines::builder(&path)
    ///     .names(Arc::new(Names::new()))
    ///     .buffer_capacity(16 * 1024)
    ///     .rotate(64 * 1024 * 1024, 3)
    ///     .append(true)
    ///     .name("audit")
    ///     .create()?;
    /// assert_eq!(exporter.path(), path);
    ///
    /// let err = JsonLines::builder(&path).rotate(0, 3).create().unwrap_err();
    /// assert_eq!(err.to_string(), "invalid value 0 for `rotation.max_bytes`: expected an integer >= 1");
    /// # drop(exporter);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(path: impl AsRef<Path>) -> JsonLinesBuilder {
        JsonLinesBuilder::new(path.as_ref().to_owned())
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What it has written so far.
    pub fn stats(&self) -> JsonLinesStats {
        self.stats
    }

    /// The path of the `index`-th rotated file: `<path>.<index>`.
    pub fn rotated_path(&self, index: usize) -> PathBuf {
        rotated_path(&self.path, index)
    }

    fn open(path: &Path, append: bool) -> io::Result<(File, bool, u64)> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let meta = file.metadata()?;
        let regular = meta.is_file();
        let mut len = if regular { meta.len() } else { 0 };
        if regular && !append && len > 0 {
            file.set_len(0)?;
            len = 0;
        }
        Ok((file, regular, len))
    }

    fn ensure_open(&mut self) -> Result<(), ExportError> {
        if self.closed {
            return Err(ExportError::new(ExportErrorKind::Other, "json lines exporter is closed"));
        }
        if self.file.is_none() {
            // A rotation renamed the old file but could not open a new one;
            // appending is right whichever step failed.
            let (file, regular, len) =
                JsonLines::open(&self.path, true).map_err(|e| io_error(&self.path, e))?;
            self.file = Some(file);
            self.regular = regular;
            self.file_len = len;
        }
        Ok(())
    }

    /// The open file, or an error if a failed rotation left none.
    fn file(&mut self) -> Result<&mut File, ExportError> {
        self.file.as_mut().ok_or_else(|| ExportError::new(ExportErrorKind::Io, "json lines file is not open"))
    }

    /// Writes the first `len` buffered bytes (`lines` whole lines) to the
    /// file. With rotation, writes only the lines that fit under
    /// `max_bytes`, rotating in between as often as needed.
    fn write_prefix(&mut self, mut len: usize, mut lines: u64) -> Result<(), ExportError> {
        while len > 0 {
            debug_assert_eq!(self.buffer[len - 1], b'\n', "only whole lines are written");
            let chunk = match self.rotation {
                Some(rotation) if self.regular => {
                    let room = usize::try_from(rotation.max_bytes.saturating_sub(self.file_len))
                        .unwrap_or(usize::MAX);
                    match whole_lines_within(&self.buffer[..len], room) {
                        0 if self.file_len > 0 => {
                            self.rotate(rotation.keep)?;
                            continue;
                        }
                        // A line longer than `max_bytes` gets a file of its own.
                        0 => first_line_len(&self.buffer[..len]),
                        fit => fit,
                    }
                }
                _ => len,
            };
            let (file, path) = (self.file.as_mut(), &self.path);
            let file =
                file.ok_or_else(|| ExportError::new(ExportErrorKind::Io, "json lines file is not open"))?;
            file.write_all(&self.buffer[..chunk]).map_err(|e| io_error(path, e))?;
            // Lines are counted as they are added; only a chunk cut by
            // rotation is scanned.
            let chunk_lines = if chunk == len { lines } else { count_lines(&self.buffer[..chunk]) };
            debug_assert_eq!(chunk_lines, count_lines(&self.buffer[..chunk]));
            lines -= chunk_lines;
            self.buffered_lines -= chunk_lines;
            self.buffer.drain(..chunk);
            len -= chunk;
            self.file_len += chunk as u64;
            self.stats.lines_written += chunk_lines;
            self.stats.bytes_written += chunk as u64;
        }
        Ok(())
    }

    fn rotate(&mut self, keep: usize) -> Result<(), ExportError> {
        debug_assert!(keep >= 1, "validated by the builder");
        self.file = None;
        let path = &self.path;
        for index in (1..keep).rev() {
            match fs::rename(rotated_path(path, index), rotated_path(path, index + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_error(path, e)),
                _ => {}
            }
        }
        fs::rename(path, rotated_path(path, 1)).map_err(|e| io_error(path, e))?;
        self.stats.rotations += 1;
        self.file_len = 0;
        let (file, regular, len) = JsonLines::open(path, false).map_err(|e| io_error(path, e))?;
        self.file = Some(file);
        self.regular = regular;
        self.file_len = len;
        Ok(())
    }

    fn write_batch<E: Event>(&mut self, batch: &[E], taken_at: Timestamp) -> Result<(), ExportError> {
        let names = self.names.clone();
        let view = names.as_deref().map(Names::read);
        for event in batch {
            let start = self.buffer.len();
            if let Err(e) =
                serde_json::to_writer(&mut self.buffer, &Resolved::new(event, view.as_ref(), taken_at))
            {
                self.buffer.truncate(start);
                return Err(ExportError::new(ExportErrorKind::Encode, e.to_string()).with_source(e));
            }
            self.buffer.push(b'\n');
            self.buffered_lines += 1;
            if self.buffer.len() >= self.buffer_capacity {
                // Write the lines before this one first, so rotation can put
                // a line over `max_bytes` in a file of its own.
                self.write_prefix(start, self.buffered_lines - 1)?;
                self.write_buffered()?;
            }
        }
        self.write_buffered()
    }

    /// Writes every buffered line to the file.
    fn write_buffered(&mut self) -> Result<(), ExportError> {
        let (len, lines) = (self.buffer.len(), self.buffered_lines);
        self.write_prefix(len, lines)
    }

    /// Writes out what is buffered and flushes the file: what
    /// [`Exporter::flush`] does, callable without naming the event type.
    ///
    /// # Errors
    /// An `Io` [`ExportError`] naming the file.
    pub fn flush(&mut self) -> Result<(), ExportError> {
        self.ensure_open()?;
        self.write_buffered()?;
        let path = self.path.clone();
        self.file()?.flush().map_err(|e| io_error(&path, e))
    }

    /// Flushes, then syncs the file to disk (regular files only; a device or
    /// pipe has nothing to sync).
    /// What [`Exporter::close`] does, callable without naming the event
    /// type.
    ///
    /// # Errors
    /// An `Io` [`ExportError`] naming the file.
    pub fn close(&mut self) -> Result<(), ExportError> {
        JsonLines::flush(self)?;
        self.closed = true;
        match self.file.take() {
            Some(file) if self.regular => file.sync_all().map_err(|e| io_error(&self.path, e)),
            _ => Ok(()),
        }
    }

    /// After a failed batch: drop what is buffered and cut the file back to
    /// the last complete batch, so it never ends in half a line.
    fn discard_failed_batch(&mut self, batch_start_len: u64, rotations_before: u64) -> Option<io::Error> {
        self.stats.lines_discarded += self.buffered_lines;
        self.buffered_lines = 0;
        self.buffer.clear();
        let keep_len = if self.stats.rotations == rotations_before { batch_start_len } else { 0 };
        let file = self.file.as_ref()?;
        if !self.regular {
            return None;
        }
        match file.set_len(keep_len) {
            Ok(()) => {
                self.file_len = keep_len;
                None
            }
            Err(e) => {
                if let Ok(meta) = file.metadata() {
                    self.file_len = meta.len();
                }
                Some(e)
            }
        }
    }
}

impl<E: Event> Exporter<E> for JsonLines {
    fn name(&self) -> &str {
        &self.name
    }

    fn export(&mut self, batch: &[E]) -> Result<(), ExportError> {
        self.export_taken(batch, wall_now())
    }

    fn export_taken(&mut self, batch: &[E], taken_at: Timestamp) -> Result<(), ExportError> {
        self.ensure_open()?;
        let (start_len, rotations) = (self.file_len, self.stats.rotations);
        self.write_batch(batch, taken_at).map_err(|err| {
            match self.discard_failed_batch(start_len, rotations) {
                None => err,
                Some(truncate) => {
                    let message = format!(
                        "{}; truncating back to the last batch also failed: {truncate}",
                        err.message()
                    );
                    ExportError::new(err.kind(), message).retryable(err.is_retryable()).with_source(err)
                }
            }
        })
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        JsonLines::flush(self)
    }

    /// Flushes, then syncs the file to disk (regular files only).
    fn close(&mut self) -> Result<(), ExportError> {
        JsonLines::close(self)
    }
}

/// An `Io` export error naming the file.
fn io_error(path: &Path, err: io::Error) -> ExportError {
    let retryable = matches!(
        err.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    );
    ExportError::new(ExportErrorKind::Io, format!("{}: {err}", path.display()))
        .retryable(retryable)
        .with_source(err)
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// The length of the longest prefix of `bytes` made of whole lines and at
/// most `room` bytes long.
fn whole_lines_within(bytes: &[u8], room: usize) -> usize {
    let window = &bytes[..bytes.len().min(room)];
    window.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

/// The length of the first line of `bytes`, newline included.
fn first_line_len(bytes: &[u8]) -> usize {
    bytes.iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| i + 1)
}

fn rotated_path(path: &Path, index: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{index}"));
    PathBuf::from(name)
}

impl fmt::Debug for JsonLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLines")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("append", &self.append)
            .field("open", &self.file.is_some())
            .field("file_len", &self.file_len)
            .field("buffered", &self.buffer.len())
            .field("rotation", &self.rotation)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
