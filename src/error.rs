//! One error type per failing operation: start, flush, close.

use std::error::Error;
use std::fmt;
use std::io;
use std::time::Duration;

use crate::{ConfigError, ExportError, ExporterId, ExporterState, Health, Timestamp, TotalFailure};

/// Renders names as "`a`, `b`".
fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// Why `TelemetryBuilder::start` failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// A configuration value is out of range.
    InvalidConfig(ConfigError),
    /// The operating system refused to spawn the consumer thread.
    Spawn(io::Error),
    /// The consumer thread did not report that it runs within `start_timeout`.
    NotReady {
        /// How long `start` waited.
        waited: Duration,
    },
    /// The consumer thread died before it reported that it runs.
    ConsumerFailed {
        /// The panic message.
        message: String,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::InvalidConfig(err) => write!(f, "cannot start telemetry: {err}"),
            StartError::Spawn(err) => write!(f, "cannot spawn the ringtel-consumer thread: {err}"),
            StartError::NotReady { waited } => {
                write!(f, "the ringtel-consumer thread did not start within {waited:?}")
            }
            StartError::ConsumerFailed { message } => {
                write!(f, "the ringtel-consumer thread died while starting: {message}")
            }
        }
    }
}

impl Error for StartError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            StartError::InvalidConfig(err) => Some(err),
            StartError::Spawn(err) => Some(err),
            StartError::NotReady { .. } | StartError::ConsumerFailed { .. } => None,
        }
    }
}

impl From<ConfigError> for StartError {
    fn from(err: ConfigError) -> Self {
        StartError::InvalidConfig(err)
    }
}

/// One exporter's failure during a flush round.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::{ExportError, ExportErrorKind, Exporter, FailureCause, FlushError, Telemetry};
/// # use ringtel::{Event, Granularity};
/// # struct Row; impl Event for Row { fn granularity(&self) -> Granularity { Granularity::Rows } }
/// struct Stuck;
/// impl Exporter<Row> for Stuck {
///     fn name(&self) -> &str { "stuck" }
///     fn export(&mut self, _: &[Row]) -> Result<(), ExportError> { Ok(()) }
///     fn flush(&mut self) -> Result<(), ExportError> {
///         Err(ExportError::new(ExportErrorKind::Io, "disk full"))
///     }
/// }
/// let telemetry = Telemetry::<Row>::builder().exporter(Stuck).start()?;
/// let Err(FlushError::Exporters { failures }) = telemetry.flush(Duration::from_secs(5)) else { panic!() };
/// assert_eq!(failures[0].name, "stuck");
/// assert!(matches!(&failures[0].cause, FailureCause::Flush(e) if e.kind() == ExportErrorKind::Io));
/// # let _ = telemetry.close(Duration::from_secs(5));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExporterFailure {
    /// The exporter's id.
    pub exporter: ExporterId,
    /// The exporter's name.
    pub name: String,
    /// What went wrong.
    pub cause: FailureCause,
}

/// What went wrong for one exporter in a flush round.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureCause {
    /// Its own `flush` failed (or panicked: kind `Panicked`).
    Flush(ExportError),
    /// It did not get every batch since the previous flush round: its
    /// circuit breaker was open, or it was hung.
    Skipped {
        /// Events it skipped.
        events: u64,
    },
}

impl fmt::Display for ExporterFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exporter `{}` ", self.name)?;
        match &self.cause {
            FailureCause::Flush(err) => write!(f, "({err})"),
            FailureCause::Skipped { events } => {
                write!(f, "(skipped {events} events since the previous flush: circuit open or hung)")
            }
        }
    }
}

impl Error for ExporterFailure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.cause {
            FailureCause::Flush(err) => Some(err),
            FailureCause::Skipped { .. } => None,
        }
    }
}

/// An exporter that was hung when a flush gave up: busy in one call for
/// longer than its export timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HungExporter {
    /// The exporter's id.
    pub exporter: ExporterId,
    /// The exporter's name.
    pub name: String,
    /// When the call it is stuck in began (telemetry clock).
    pub since: Timestamp,
}

/// Why `Telemetry::flush` did not confirm that everything was exported.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushError {
    /// The deadline passed before the consumer confirmed the flush.
    Timeout {
        /// How long `flush` waited.
        waited: Duration,
        /// Exporters that were hung when the deadline passed (the usual
        /// reason a flush cannot complete).
        unresponsive: Vec<HungExporter>,
    },
    /// The total-failure policy `Fail` fired and no export has succeeded
    /// since; sticky until one does.
    TotalFailure(TotalFailure),
    /// Every event was handed to every exporter, but some exporters' own
    /// `flush` failed.
    Exporters {
        /// Each failing exporter and its error.
        failures: Vec<ExporterFailure>,
    },
    /// The flush completed (every event accepted before it was handed to
    /// every exporter, and each one's `flush` ran), but this caller woke so
    /// late that the results of so many later rounds were kept since that
    /// its own round's per-exporter failures were forgotten (the history is
    /// bounded, C13). Whether some exporter failed is unknown here; each
    /// exporter's failures are counted in `Health`.
    ResultForgotten,
    /// The telemetry was closed before the flush completed.
    Closed,
    /// The consumer thread died.
    ConsumerDead,
    /// Called from the telemetry's own consumer thread (an exporter flushing
    /// its own telemetry), which would wait for itself.
    OnConsumerThread,
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlushError::Timeout { waited, unresponsive } => {
                write!(f, "flush timed out after {waited:?}")?;
                if !unresponsive.is_empty() {
                    let names = unresponsive.iter().map(|h| h.name.as_str());
                    write!(f, " waiting for hung exporter(s) {}", quoted(names))?;
                }
                Ok(())
            }
            FlushError::TotalFailure(failure) => write!(f, "telemetry export failed: {failure}"),
            FlushError::Exporters { failures } => {
                write!(f, "flush failed for ")?;
                for (i, failure) in failures.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{failure}")?;
                }
                Ok(())
            }
            FlushError::ResultForgotten => {
                f.write_str("flush completed, but its per-exporter result is no longer kept")
            }
            FlushError::Closed => f.write_str("telemetry is closed"),
            FlushError::ConsumerDead => f.write_str("the ringtel-consumer thread is dead"),
            FlushError::OnConsumerThread => {
                f.write_str("flush called from the telemetry's own consumer thread")
            }
        }
    }
}

impl Error for FlushError {
    /// The sticky total failure, or the first exporter's failure.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            FlushError::TotalFailure(failure) => Some(failure),
            FlushError::Exporters { failures } => failures.first().map(|f| f as &(dyn Error + 'static)),
            FlushError::Timeout { .. }
            | FlushError::ResultForgotten
            | FlushError::Closed
            | FlushError::ConsumerDead
            | FlushError::OnConsumerThread => None,
        }
    }
}

/// The final account of a closed telemetry.
#[derive(Debug, Clone, PartialEq)]
pub struct CloseReport {
    // Boxed: the report travels inside `CloseError`, which stays small.
    pub(crate) health: Box<Health>,
}

impl CloseReport {
    /// The final counts.
    pub fn health(&self) -> &Health {
        &self.health
    }
}

/// Why `Telemetry::close` did not end cleanly. Every variant that can carry
/// the final counts does: they are conserved in every case.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CloseError {
    /// The deadline passed; whatever was still queued or in flight is
    /// counted `ShutdownTimeout`.
    Timeout {
        /// The final counts.
        report: CloseReport,
    },
    /// Closed in time, but the total-failure policy `Fail` had fired and no
    /// export succeeded since.
    TotalFailure {
        /// The sticky failure.
        failure: TotalFailure,
        /// The final counts.
        report: CloseReport,
    },
    /// Closed in time, but events that had entered the ring did not all
    /// reach every exporter: every exporter failed a batch (counted
    /// `ExportFailed`), or one exporter failed or panicked on a batch, was
    /// skipped (breaker open, or hung), or failed its `flush` or `close`.
    /// The report names who lost what. (Events the policy turned away are
    /// not counted here: `emit` told their producer, and `DropOldest`
    /// overwriting the oldest is what that policy is for.)
    EventsLost {
        /// The final counts.
        report: CloseReport,
    },
    /// The consumer thread had died; what it left is counted `ConsumerDead`.
    ConsumerDead {
        /// The final counts.
        report: CloseReport,
    },
    /// Called from the telemetry's own consumer thread (an exporter closing
    /// its own telemetry), which would wait for itself. Admission is closed
    /// all the same; the close completes when the exporter returns.
    OnConsumerThread,
}

impl CloseError {
    /// The final counts, where the error carries them.
    pub fn report(&self) -> Option<&CloseReport> {
        match self {
            CloseError::Timeout { report }
            | CloseError::ConsumerDead { report }
            | CloseError::EventsLost { report }
            | CloseError::TotalFailure { report, .. } => Some(report),
            CloseError::OnConsumerThread => None,
        }
    }
}

impl fmt::Display for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseError::Timeout { report } => {
                write!(f, "close timed out")?;
                let open: Vec<&str> = report
                    .health
                    .exporters()
                    .iter()
                    .filter(|e| !matches!(e.state(), ExporterState::Closed | ExporterState::CloseFailed))
                    .map(|e| e.name())
                    .collect();
                if !open.is_empty() {
                    write!(f, " waiting for exporter(s) {}", quoted(open.into_iter()))?;
                }
                write!(
                    f,
                    "; {} events counted as shutdown_timeout",
                    report.health.dropped(crate::DropReason::ShutdownTimeout)
                )
            }
            CloseError::TotalFailure { failure, .. } => write!(f, "telemetry export failed: {failure}"),
            CloseError::EventsLost { report } => {
                let health = &report.health;
                write!(f, "closed, but accepted events were lost")?;
                let mut separator = ": ";
                let export_failed = health.dropped(crate::DropReason::ExportFailed);
                if export_failed > 0 {
                    let whom = if health.exporters().is_empty() {
                        "found no exporter"
                    } else {
                        "failed on every exporter"
                    };
                    let events = if export_failed == 1 { "event" } else { "events" };
                    write!(f, "{separator}{export_failed} {events} {whom} (export_failed)")?;
                    separator = "; ";
                }
                for exporter in health.exporters().iter().filter(|e| e.lost_events()) {
                    write!(f, "{separator}exporter {:?} ({}) had", exporter.name(), exporter.id())?;
                    let mut inner = " ";
                    for (count, what) in [
                        (exporter.failures(), "failed batches"),
                        (exporter.skipped_events(), "skipped events"),
                        (exporter.flush_failures(), "failed flushes"),
                    ] {
                        if count > 0 {
                            write!(f, "{inner}{count} {what}")?;
                            inner = ", ";
                        }
                    }
                    if exporter.state() == ExporterState::CloseFailed {
                        write!(f, "{inner}a failed close")?;
                    }
                    if let Some(last) = exporter.last_error() {
                        write!(f, " (last error: {})", last.message)?;
                    }
                    separator = "; ";
                }
                Ok(())
            }
            CloseError::ConsumerDead { report } => write!(
                f,
                "the ringtel-consumer thread had died ({}); {} events counted as consumer_dead",
                match report.health.consumer() {
                    crate::ConsumerState::Dead { message } => message.as_str(),
                    _ => "no message",
                },
                report.health.dropped(crate::DropReason::ConsumerDead)
            ),
            CloseError::OnConsumerThread => {
                f.write_str("close called from the telemetry's own consumer thread")
            }
        }
    }
}

impl Error for CloseError {
    /// The sticky total failure, for [`CloseError::TotalFailure`].
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            CloseError::TotalFailure { failure, .. } => Some(failure),
            CloseError::Timeout { .. }
            | CloseError::ConsumerDead { .. }
            | CloseError::EventsLost { .. }
            | CloseError::OnConsumerThread => None,
        }
    }
}

/// `remove_exporter` was given an id no exporter of this telemetry ever had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownExporter(pub crate::ExporterId);

impl fmt::Display for UnknownExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no exporter {} in this telemetry", self.0)
    }
}

impl Error for UnknownExporter {}
