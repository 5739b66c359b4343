//! The event model of a row-processing pipeline engine: [`PipelineEvent`],
//! the [`Names`] registry its ids resolve through, the [`RunContext`] that
//! stamps events, and the [`ProgressTicker`].
//!
//! A run interns its names once at setup, then emits `Copy` events of at most
//! 64 bytes that carry only ids and numbers. Exporters hold an `Arc<Names>`
//! (cloned once, at setup) and resolve ids when they write.
//!
//! # Examples
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use ringtel::exporters::Memory;
//! use ringtel::pipeline::{Names, Phase, PipelineEvent, RowId, RunContext, RunId, TokenId};
//! use ringtel::{SystemClock, Telemetry};
//!
//! let names = Arc::new(Names::new());
//! let pipeline = names.intern("demo");
//! let clock = SystemClock::new();
//! let memory = Memory::new(1_024);
//! let received = memory.handle();
//! let telemetry = Telemetry::<PipelineEvent>::builder().clock(clock).exporter(memory).start()?;
//!
//! let run = RunContext::new(RunId::new(1), &clock);
//! let _ = telemetry.emit(PipelineEvent::run_started(run, pipeline));
//! let _ = telemetry.emit(PipelineEvent::phase_changed(run, Phase::Process));
//! let _ = telemetry.emit(PipelineEvent::row_created(run, RowId::new(1), TokenId::new(1)));
//! telemetry.close(Duration::from_secs(5))?;
//! assert_eq!(received.len(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod context;
mod encode;
mod event;
mod ids;
mod kinds;
mod names;
mod progress;
pub(crate) mod trace;

pub use context::RunContext;
pub use event::{EventKind, EventTag, PipelineEvent};
pub use ids::{NameId, RowId, RunId, TokenId};
pub use kinds::{
    CallKind, CallStatus, CallVolume, GateDecision, Phase, RowCounts, RowOutcome, RunStatus, TokenOutcome,
    TransformOutcome,
};
pub use names::{Names, NamesView};
pub use progress::{
    ProgressIntervalError, ProgressTicker, DEFAULT_PROGRESS_EVERY, DEFAULT_PROGRESS_EVERY_ROWS,
};
pub use trace::{run_span_id, trace_id};
/// [`PipelineEvent::resolved`]'s type: the generic
/// [`encoding::Resolved`](crate::encoding::Resolved) for pipeline events.
pub type Resolved<'a> = crate::encoding::Resolved<'a, PipelineEvent>;
