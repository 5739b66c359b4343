//! The exporter trait and its error type.

use crate::sync::StdArc;
use std::error::Error;
use std::fmt;
use std::io;

use serde::Serialize;

use crate::clock::Timestamp;

/// A destination for batches of events: a file, a console, a network peer.
///
/// The consumer thread owns every exporter, so exporters need `Send`, not
/// `Sync`, and take `&mut self`. An `Err` or a panic from any method is
/// contained: it is counted for this exporter (see
/// [`ExporterHealth`](crate::ExporterHealth)) and never reaches producers or
/// other exporters.
///
/// # Examples
/// ```
/// use ringtel::{ExportError, Exporter};
///
/// struct Count(u64);
/// impl<E> Exporter<E> for Count {
///     fn name(&self) -> &str { "count" }
///     fn export(&mut self, batch: &[E]) -> Result<(), ExportError> {
///         self.0 += batch.len() as u64;
///         Ok(())
///     }
/// }
/// let mut c = Count(0);
/// Exporter::<u8>::export(&mut c, &[1, 2, 3]).unwrap();
/// assert_eq!(c.0, 3);
/// ```
pub trait Exporter<E>: Send + 'static {
    /// A short name for health reports and logs.
    fn name(&self) -> &str;

    /// Exports one batch, in emit order.
    ///
    /// An exporter that wraps another (a filter, a fan-out) should implement
    /// [`export_taken`](Exporter::export_taken) as well and pass the time on,
    /// or the inner exporter stamps events that carry no time with its own
    /// clock reading instead of the telemetry's.
    ///
    /// # Errors
    /// Any failure to hand the batch on; the whole batch counts as failed for
    /// this exporter.
    fn export(&mut self, batch: &[E]) -> Result<(), ExportError>;

    /// Exports one batch that the consumer took from the ring at `taken_at`
    /// (by the telemetry's clock). ringtel calls this method; the default
    /// forwards to [`export`](Exporter::export). The built-in exporters use
    /// `taken_at` as the time of events that carry none of their own
    /// ([`Event::timestamp`](crate::Event::timestamp) returns `None`; see
    /// [`encoding`](crate::encoding#time)), and when called through
    /// `export` alone, read the system clock once per batch instead.
    ///
    /// # Errors
    /// As [`export`](Exporter::export).
    fn export_taken(&mut self, batch: &[E], taken_at: Timestamp) -> Result<(), ExportError> {
        let _ = taken_at;
        self.export(batch)
    }

    /// Pushes out anything buffered. Called by `Telemetry::flush` and before
    /// `close`.
    ///
    /// # Errors
    /// Any failure to push buffered data out.
    fn flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Releases resources. Called exactly once, after the final flush.
    ///
    /// # Errors
    /// Any failure to release resources cleanly.
    fn close(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

impl<E, X: Exporter<E> + ?Sized> Exporter<E> for Box<X> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn export(&mut self, batch: &[E]) -> Result<(), ExportError> {
        (**self).export(batch)
    }
    fn export_taken(&mut self, batch: &[E], taken_at: Timestamp) -> Result<(), ExportError> {
        (**self).export_taken(batch, taken_at)
    }
    fn flush(&mut self) -> Result<(), ExportError> {
        (**self).flush()
    }
    fn close(&mut self) -> Result<(), ExportError> {
        (**self).close()
    }
}

/// What kind of failure an [`ExportError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExportErrorKind {
    /// A local I/O failure (file, disk full, broken pipe).
    Io,
    /// The events could not be encoded.
    Encode,
    /// The peer could not be reached or the connection broke.
    Transport,
    /// The peer answered and refused the data.
    Rejected,
    /// The operation did not finish in time.
    Timeout,
    /// A panic inside the exporter, caught by ringtel.
    Panicked,
    /// Anything else.
    Other,
}

impl ExportErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ExportErrorKind::Io => "i/o error",
            ExportErrorKind::Encode => "encode error",
            ExportErrorKind::Transport => "transport error",
            ExportErrorKind::Rejected => "rejected by peer",
            ExportErrorKind::Timeout => "timed out",
            ExportErrorKind::Panicked => "exporter panicked",
            ExportErrorKind::Other => "export error",
        }
    }
}

/// Why an exporter could not export, flush or close.
///
/// Cloning shares the [`source`](Error::source): the same error travels from
/// the exporter's worker thread to a flush's [`ExporterFailure`](crate::ExporterFailure)
/// and the exporter's [`LastError`](crate::LastError), kind and cause intact.
///
/// # Examples
/// ```
/// use std::error::Error;
/// use ringtel::{ExportError, ExportErrorKind};
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
/// let err = ExportError::new(ExportErrorKind::Transport, "connection refused").retryable(true).with_source(io);
/// assert_eq!(err.to_string(), "transport error: connection refused");
/// assert!(err.is_retryable());
/// assert_eq!(err.clone().source().unwrap().to_string(), "refused");
/// ```
#[derive(Debug, Clone)]
pub struct ExportError {
    kind: ExportErrorKind,
    message: String,
    retryable: bool,
    source: Option<StdArc<dyn Error + Send + Sync + 'static>>,
}

/// Equal when kind, message and retryability are (the source is not compared).
impl PartialEq for ExportError {
    fn eq(&self, other: &Self) -> bool {
        (self.kind, &self.message, self.retryable) == (other.kind, &other.message, other.retryable)
    }
}

impl Eq for ExportError {}

impl ExportError {
    /// An error of `kind` with a human-readable `message`.
    pub fn new(kind: ExportErrorKind, message: impl Into<String>) -> Self {
        ExportError { kind, message: message.into(), retryable: false, source: None }
    }

    /// Marks whether trying again later may succeed.
    #[must_use]
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Attaches the underlying cause, reported by [`Error::source`].
    #[must_use]
    pub fn with_source(mut self, source: impl Error + Send + Sync + 'static) -> Self {
        self.source = Some(StdArc::new(source));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ExportErrorKind {
        self.kind
    }

    /// The message, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl Error for ExportError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

impl From<io::Error> for ExportError {
    fn from(err: io::Error) -> Self {
        let retryable = matches!(
            err.kind(),
            io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        );
        ExportError::new(ExportErrorKind::Io, err.to_string()).retryable(retryable).with_source(err)
    }
}
