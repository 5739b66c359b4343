//! One error type per failing operation: start, flush, close.

use std::error::Error;
use std::fmt;
use std::io;
use std::time::Duration;

use crate::{ConfigError, ExporterState, Health, TotalFailure};

/// Renders names as "`a`, `b`".
fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
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

/// One exporter's failure during a flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExporterFailure {
    /// The exporter's name.
    pub exporter: String,
    /// What went wrong.
    pub error: String,
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
        unresponsive: Vec<String>,
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
                    write!(f, " waiting for hung exporter(s) {}", quoted(unresponsive))?;
                }
                Ok(())
            }
            FlushError::TotalFailure(failure) => write!(f, "telemetry export failed: {failure}"),
            FlushError::Exporters { failures } => {
                write!(f, "flush failed for ")?;
                for (i, failure) in failures.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}exporter `{}` ({})", failure.exporter, failure.error)?;
                }
                Ok(())
            }
            FlushError::Closed => f.write_str("telemetry is closed"),
            FlushError::ConsumerDead => f.write_str("the ringtel-consumer thread is dead"),
            FlushError::OnConsumerThread => {
                f.write_str("flush called from the telemetry's own consumer thread")
            }
        }
    }
}

impl Error for FlushError {}

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
                let open: Vec<String> = report
                    .health
                    .exporters()
                    .iter()
                    .filter(|e| !matches!(e.state(), ExporterState::Closed | ExporterState::CloseFailed))
                    .map(|e| e.name().to_owned())
                    .collect();
                if !open.is_empty() {
                    write!(f, " waiting for exporter(s) {}", quoted(&open))?;
                }
                write!(
                    f,
                    "; {} events counted as shutdown_timeout",
                    report.health.dropped(crate::DropReason::ShutdownTimeout)
                )
            }
            CloseError::TotalFailure { failure, .. } => write!(f, "telemetry export failed: {failure}"),
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

impl Error for CloseError {}

/// `remove_exporter` was given an id no exporter of this telemetry ever had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownExporter(pub crate::ExporterId);

impl fmt::Display for UnknownExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no exporter {} in this telemetry", self.0)
    }
}

impl Error for UnknownExporter {}
