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
//! use ringtel::{exporters::Memory, Event, Granularity, Telemetry};
//!
//! #[derive(Debug, Clone, PartialEq)]
//! struct RowDone(u64);
//! impl Event for RowDone { fn granularity(&self) -> Granularity { Granularity::Rows } }
//!
//! let memory = Memory::new(1024);
//! let received = memory.handle();
//! let telemetry = Telemetry::<RowDone>::builder().capacity(65_536).exporter(memory).start()?;
//! let _ = telemetry.emit(RowDone(1));
//! // `Err` if an accepted event did not reach every exporter.
//! let report = telemetry.close(Duration::from_secs(5))?;
//! assert!(report.health().is_conserved());
//! assert_eq!(received.events(), vec![RowDone(1)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Contracts
//! The design's contracts (C1–C14) are listed in the README; each names the
//! tests that check it.

#![forbid(unsafe_code)]
// docs.rs builds with every feature and `--cfg docsrs` (Cargo.toml
// `[package.metadata.docs.rs]`): each optional module is marked with the
// feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]
// `loom` is a test-only build of the crate: not a portability note for users.
#![cfg_attr(docsrs, doc(auto_cfg(hide(loom))))]
#![deny(missing_docs, missing_debug_implementations)]
#![warn(rust_2018_idioms, unreachable_pub)]

// Broken protocol variants (loom-tests/twins.txt) are refused outside a loom
// build by build.rs.

mod backpressure;
mod builder;
mod clock;
mod config;
mod consumer;
mod dispatch;
pub mod encoding;
mod error;
mod event;
mod exporter;
// Built-in exporters and the pipeline event model sit outside the atomic
// protocol; loom builds leave them out.
#[cfg(not(loom))]
pub mod exporters;
mod health;
mod hint;
// Protocol pieces for the loom models in `loom-tests/`; absent from normal builds.
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_api;
mod monitor;
mod outcome;
#[cfg(not(loom))]
pub mod pipeline;
mod producer;
// Prometheus exposition of `Health` (feature `prometheus`), off the hot path.
#[cfg(all(feature = "prometheus", not(loom)))]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod prometheus;
mod ring;
mod role;
mod shared;
mod sync;
mod telemetry;
// The `tracing` integration (feature `tracing`); outside the atomic protocol.
#[cfg(all(feature = "tracing", not(loom)))]
pub mod tracing;

/// The README's examples compile and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use backpressure::Backpressure;
pub use builder::TelemetryBuilder;
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use config::{
    Config, ConfigError, ConfigLoadError, ConfigParseError, Location, DEFAULT_BACKPRESSURE,
    DEFAULT_BATCH_SIZE, DEFAULT_CAPACITY, DEFAULT_CLOSE_TIMEOUT, DEFAULT_CONSUMER_IDLE_MAX,
    DEFAULT_CONSUMER_IDLE_MIN, DEFAULT_CRITICAL_WAIT, DEFAULT_DROP_LOG_INTERVAL, DEFAULT_EXPORT_TIMEOUT,
    DEFAULT_GRANULARITY, DEFAULT_HANDOFF_BATCHES, DEFAULT_ON_TOTAL_FAILURE, DEFAULT_START_TIMEOUT,
    DEFAULT_TOTAL_FAILURE_THRESHOLD, MAX_BATCH_SIZE, MAX_CAPACITY, MAX_CONSUMER_IDLE, MAX_COUNT_SETTING,
    MAX_DURATION_SETTING, MAX_HANDOFF_BATCHES, MIN_CONSUMER_IDLE,
};
pub use consumer::failure::{TotalFailure, TotalFailurePolicy};
pub use dispatch::breaker::{
    BreakerConfig, BreakerState, DEFAULT_BREAKER_COOLDOWN, DEFAULT_BREAKER_MAX_COOLDOWN,
    DEFAULT_BREAKER_OPEN_AFTER,
};
pub use dispatch::ExporterOptions;
pub use error::{
    CloseError, CloseReport, ExporterFailure, FailureCause, FlushError, HungExporter, StartError,
    UnknownExporter,
};
pub use event::{Event, Granularity};
pub use exporter::{ExportError, ExportErrorKind, Exporter};
#[cfg(not(loom))]
pub use exporters::{Console, JsonLines, Memory, Null};
pub use health::{
    ConsumerState, DroppedCounts, ExporterHealth, ExporterId, ExporterState, Health, LastError,
};
pub use monitor::TelemetryMonitor;
pub use outcome::{DropReason, Emitted};
#[cfg(not(loom))]
pub use pipeline::{Names, PipelineEvent, ProgressTicker, RunContext};
pub use telemetry::Telemetry;
