//! ringtel: a lock-free ring-buffer telemetry core for programs that emit
//! events from hot loops.
//!
//! Producers call [`Telemetry::emit`]; events go into a bounded lock-free
//! ring; one consumer thread drains them in batches to every [`Exporter`]
//! with failure isolation. Every event is accounted for: delivered, filtered,
//! or dropped under a named [`DropReason`] — never lost silently. `flush` and
//! `close` always return by their deadline.
//!
//! # Quick start
//! ```
//! use std::time::Duration;
//! use ringtel::{Event, Granularity, Telemetry};
//!
//! struct RowDone(u64);
//! impl Event for RowDone { fn granularity(&self) -> Granularity { Granularity::Rows } }
//!
//! let telemetry = Telemetry::<RowDone>::builder().capacity(65_536).start()?;
//! let _ = telemetry.emit(RowDone(1));
//! let report = telemetry.close(Duration::from_secs(5))?;
//! assert!(report.health().is_conserved());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Contracts
//! The design's contracts (C1–C14) are listed in the README; each names the
//! tests that check it.

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![warn(rust_2018_idioms, unreachable_pub)]

// Broken protocol variants exist only to show that the loom models catch
// them; they must never reach a normal build.
#[cfg(all(ringtel_broken, not(loom)))]
compile_error!("`ringtel_broken` variants are for loom builds only (RUSTFLAGS=\"--cfg loom\")");

mod backpressure;
mod builder;
mod clock;
mod config;
mod consumer;
mod control;
mod counters;
mod dispatch;
mod drop_log;
mod emit;
mod error;
mod event;
mod exporter;
mod flush;
mod health;
mod ledger;
mod outcome;
mod ring;
mod role;
mod shared;
mod sync;
mod telemetry;
mod wake;

pub use backpressure::Backpressure;
pub use builder::TelemetryBuilder;
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use config::{
    Config, ConfigError, ConfigLoadError, DEFAULT_BACKPRESSURE, DEFAULT_BATCH_SIZE, DEFAULT_CAPACITY,
    DEFAULT_CLOSE_TIMEOUT, DEFAULT_CONSUMER_IDLE_MAX, DEFAULT_CONSUMER_IDLE_MIN, DEFAULT_CRITICAL_WAIT,
    DEFAULT_DROP_LOG_INTERVAL, DEFAULT_GRANULARITY, DEFAULT_START_TIMEOUT, MAX_BATCH_SIZE, MAX_CAPACITY,
    MAX_CONSUMER_IDLE, MAX_DURATION_SETTING, MIN_CONSUMER_IDLE,
};
pub use error::{CloseError, CloseReport, ExporterFailure, FlushError, StartError};
pub use event::{Event, Granularity};
pub use exporter::{ExportError, ExportErrorKind, Exporter};
pub use health::{ConsumerState, DroppedCounts, ExporterHealth, ExporterState, Health, LastError};
pub use outcome::{DropReason, Emitted};
pub use telemetry::Telemetry;
