//! `PipelineEvent`: the telemetry of a row-processing pipeline, in 64 bytes.

use std::time::Duration;

use super::{
    CallKind, CallStatus, CallVolume, GateDecision, NameId, Phase, RowCounts, RowId, RunContext, RunId,
    RunStatus, TokenId, TokenOutcome, TransformOutcome,
};
use crate::clock::{duration_nanos, Timestamp};
use crate::Granularity;

/// One event of a pipeline run: when, which run, and what happened.
///
/// `Copy` and at most 64 bytes (asserted at compile time): names travel as
/// [`NameId`]s interned in a [`Names`](super::Names) registry, durations as
/// nanoseconds. Building one reads the clock once and allocates nothing.
///
/// Constructors take a [`RunContext`] (the run id and a borrowed clock) and
/// fill in the time, so call sites read like the event they describe.
///
/// | granularity | events |
/// |---|---|
/// | `Lifecycle` (critical) | `RunStarted`, `RunFinished`, `PhaseChanged` |
/// | `Rows` | `RowCreated`, `TransformCompleted`, `GateEvaluated`, `TokenCompleted`, `Progress` |
/// | `Full` | `ExternalCallCompleted` |
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::pipeline::{EventKind, Names, PipelineEvent, RowId, RunContext, RunId, TokenId};
/// use ringtel::{Event, Granularity, ManualClock, Timestamp};
///
/// let clock = ManualClock::new(Timestamp::from_nanos(1_000));
/// let run = RunContext::new(RunId::new(7), &clock);
///
/// let event = PipelineEvent::row_created(run, RowId::new(1), TokenId::new(1));
/// assert_eq!(event.at(), Timestamp::from_nanos(1_000));
/// assert_eq!(event.run(), RunId::new(7));
/// assert_eq!(event.name(), "row_created");
/// assert_eq!(event.granularity(), Granularity::Rows);
/// assert!(matches!(event.kind(), EventKind::RowCreated { row, .. } if row.get() == 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PipelineEvent {
    at: Timestamp,
    run: RunId,
    kind: EventKind,
}

// Contract: an event fits one cache line, so the ring holds 64 Ki events in
// 4 MiB and a copy into it is one line.
const _: () = assert!(std::mem::size_of::<PipelineEvent>() <= 64);

/// What a [`PipelineEvent`] reports.
///
/// Durations are nanoseconds (`duration_ns`), saturating at `u64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EventKind {
    /// A run began. Lifecycle.
    RunStarted {
        /// The pipeline's name.
        pipeline: NameId,
    },
    /// A run ended. Lifecycle.
    RunFinished {
        /// How it ended.
        status: RunStatus,
        /// Rows processed.
        rows: u64,
        /// How long it ran.
        duration_ns: u64,
    },
    /// The run entered a phase. Lifecycle.
    PhaseChanged {
        /// The phase entered.
        phase: Phase,
    },
    /// The source produced a row. Rows.
    RowCreated {
        /// The row.
        row: RowId,
        /// Its first token.
        token: TokenId,
    },
    /// A transform finished with a token. Rows.
    TransformCompleted {
        /// The row.
        row: RowId,
        /// The token.
        token: TokenId,
        /// The graph node.
        node: NameId,
        /// The plugin that ran at the node.
        plugin: NameId,
        /// How long it took.
        duration_ns: u64,
        /// What came of it.
        outcome: TransformOutcome,
    },
    /// A gate decided where a token goes. Rows.
    GateEvaluated {
        /// The row.
        row: RowId,
        /// The token.
        token: TokenId,
        /// The gate.
        gate: NameId,
        /// Its decision.
        decision: GateDecision,
    },
    /// A token's journey ended. Rows.
    TokenCompleted {
        /// The row.
        row: RowId,
        /// The token.
        token: TokenId,
        /// How it ended.
        outcome: TokenOutcome,
        /// The sink it was written to, if any.
        sink: Option<NameId>,
    },
    /// Periodic run progress. Rows.
    Progress {
        /// Rows so far, by outcome.
        counts: RowCounts,
        /// Average rate since the run (or ticker) started.
        rows_per_second: f64,
    },
    /// An external call (HTTP, LLM, SQL) finished. Full.
    ExternalCallCompleted {
        /// The token on whose behalf the call was made.
        token: TokenId,
        /// What kind of call.
        call: CallKind,
        /// Who answered (an API, a model provider, a database).
        provider: NameId,
        /// How long it took.
        duration_ns: u64,
        /// How it ended.
        status: CallStatus,
        /// What it moved.
        volume: CallVolume,
    },
}

impl EventKind {
    /// The granularity of this kind of event.
    pub fn granularity(&self) -> Granularity {
        match self {
            EventKind::RunStarted { .. } | EventKind::RunFinished { .. } | EventKind::PhaseChanged { .. } => {
                Granularity::Lifecycle
            }
            EventKind::RowCreated { .. }
            | EventKind::TransformCompleted { .. }
            | EventKind::GateEvaluated { .. }
            | EventKind::TokenCompleted { .. }
            | EventKind::Progress { .. } => Granularity::Rows,
            EventKind::ExternalCallCompleted { .. } => Granularity::Full,
        }
    }

    /// A stable snake_case name (`"row_created"`), as written in the
    /// `"event"` field of the JSON Lines exporter.
    pub fn name(&self) -> &'static str {
        self.tag().name()
    }

    /// The variant, without its data.
    pub fn tag(&self) -> EventTag {
        match self {
            EventKind::RunStarted { .. } => EventTag::RunStarted,
            EventKind::RunFinished { .. } => EventTag::RunFinished,
            EventKind::PhaseChanged { .. } => EventTag::PhaseChanged,
            EventKind::RowCreated { .. } => EventTag::RowCreated,
            EventKind::TransformCompleted { .. } => EventTag::TransformCompleted,
            EventKind::GateEvaluated { .. } => EventTag::GateEvaluated,
            EventKind::TokenCompleted { .. } => EventTag::TokenCompleted,
            EventKind::Progress { .. } => EventTag::Progress,
            EventKind::ExternalCallCompleted { .. } => EventTag::ExternalCallCompleted,
        }
    }
}

/// The variants of [`EventKind`] without their data, for counting events by
/// kind.
///
/// # Examples
/// ```
/// use ringtel::pipeline::EventTag;
/// assert_eq!(EventTag::ALL.len(), EventTag::COUNT);
/// assert_eq!(EventTag::ALL[EventTag::Progress.index()], EventTag::Progress);
/// assert_eq!(EventTag::Progress.name(), "progress");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventTag {
    /// [`EventKind::RunStarted`].
    RunStarted,
    /// [`EventKind::RunFinished`].
    RunFinished,
    /// [`EventKind::PhaseChanged`].
    PhaseChanged,
    /// [`EventKind::RowCreated`].
    RowCreated,
    /// [`EventKind::TransformCompleted`].
    TransformCompleted,
    /// [`EventKind::GateEvaluated`].
    GateEvaluated,
    /// [`EventKind::TokenCompleted`].
    TokenCompleted,
    /// [`EventKind::Progress`].
    Progress,
    /// [`EventKind::ExternalCallCompleted`].
    ExternalCallCompleted,
}

impl EventTag {
    /// Every tag, in declaration order.
    pub const ALL: [EventTag; 9] = [
        EventTag::RunStarted,
        EventTag::RunFinished,
        EventTag::PhaseChanged,
        EventTag::RowCreated,
        EventTag::TransformCompleted,
        EventTag::GateEvaluated,
        EventTag::TokenCompleted,
        EventTag::Progress,
        EventTag::ExternalCallCompleted,
    ];

    /// The number of tags.
    pub const COUNT: usize = Self::ALL.len();

    /// The tag's position in [`EventTag::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// A stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            EventTag::RunStarted => "run_started",
            EventTag::RunFinished => "run_finished",
            EventTag::PhaseChanged => "phase_changed",
            EventTag::RowCreated => "row_created",
            EventTag::TransformCompleted => "transform_completed",
            EventTag::GateEvaluated => "gate_evaluated",
            EventTag::TokenCompleted => "token_completed",
            EventTag::Progress => "progress",
            EventTag::ExternalCallCompleted => "external_call_completed",
        }
    }
}

impl PipelineEvent {
    /// An event at an explicit time. The named constructors below read the
    /// time from a [`RunContext`] instead.
    ///
    /// # Examples
    /// ```
    /// use ringtel::pipeline::{EventKind, Phase, PipelineEvent, RunId};
    /// use ringtel::Timestamp;
    /// let e = PipelineEvent::new(Timestamp::from_nanos(5), RunId::new(1), EventKind::PhaseChanged { phase: Phase::Process });
    /// assert_eq!(e.name(), "phase_changed");
    /// ```
    pub const fn new(at: Timestamp, run: RunId, kind: EventKind) -> PipelineEvent {
        PipelineEvent { at, run, kind }
    }

    /// When it happened, by the run's clock.
    pub fn at(&self) -> Timestamp {
        self.at
    }

    /// The run it belongs to.
    pub fn run(&self) -> RunId {
        self.run
    }

    /// What happened.
    pub fn kind(&self) -> &EventKind {
        &self.kind
    }

    /// A stable snake_case name for the kind (`"row_created"`).
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// A run began.
    pub fn run_started(run: RunContext<'_>, pipeline: NameId) -> PipelineEvent {
        run.event(EventKind::RunStarted { pipeline })
    }

    /// A run ended after processing `rows` rows in `duration`.
    pub fn run_finished(
        run: RunContext<'_>,
        status: RunStatus,
        rows: u64,
        duration: Duration,
    ) -> PipelineEvent {
        run.event(EventKind::RunFinished { status, rows, duration_ns: duration_nanos(duration) })
    }

    /// The run entered `phase`.
    pub fn phase_changed(run: RunContext<'_>, phase: Phase) -> PipelineEvent {
        run.event(EventKind::PhaseChanged { phase })
    }

    /// The source produced `row`, carried by `token`.
    pub fn row_created(run: RunContext<'_>, row: RowId, token: TokenId) -> PipelineEvent {
        run.event(EventKind::RowCreated { row, token })
    }

    /// The transform at `node` (running `plugin`) finished with `token` after
    /// `duration`.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use ringtel::pipeline::{Names, PipelineEvent, RowId, RunContext, RunId, TokenId, TransformOutcome};
    /// use ringtel::SystemClock;
    ///
    /// let names = Names::new();
    /// let (node, plugin) = (names.intern("enrich"), names.intern("llm_enricher"));
    /// let clock = SystemClock::new();
    /// let run = RunContext::new(RunId::new(1), &clock);
    /// let outcome = TransformOutcome::Failed { error: names.intern("rate_limited") };
    /// let e = PipelineEvent::transform_completed(
    ///     run, RowId::new(4), TokenId::new(4), node, plugin, Duration::from_millis(3), outcome,
    /// );
    /// assert_eq!(e.name(), "transform_completed");
    /// ```
    pub fn transform_completed(
        run: RunContext<'_>,
        row: RowId,
        token: TokenId,
        node: NameId,
        plugin: NameId,
        duration: Duration,
        outcome: TransformOutcome,
    ) -> PipelineEvent {
        run.event(EventKind::TransformCompleted {
            row,
            token,
            node,
            plugin,
            duration_ns: duration_nanos(duration),
            outcome,
        })
    }

    /// `gate` decided `decision` for `token`.
    pub fn gate_evaluated(
        run: RunContext<'_>,
        row: RowId,
        token: TokenId,
        gate: NameId,
        decision: GateDecision,
    ) -> PipelineEvent {
        run.event(EventKind::GateEvaluated { row, token, gate, decision })
    }

    /// `token` finished with `outcome`, written to `sink` if any.
    pub fn token_completed(
        run: RunContext<'_>,
        row: RowId,
        token: TokenId,
        outcome: TokenOutcome,
        sink: Option<NameId>,
    ) -> PipelineEvent {
        run.event(EventKind::TokenCompleted { row, token, outcome, sink })
    }

    /// Run progress: `counts` so far, at `rows_per_second` on average.
    pub fn progress(run: RunContext<'_>, counts: RowCounts, rows_per_second: f64) -> PipelineEvent {
        run.event(EventKind::Progress { counts, rows_per_second })
    }

    /// An external call made for `token` finished.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use ringtel::pipeline::{CallKind, CallStatus, CallVolume, Names, PipelineEvent, RunContext, RunId, TokenId};
    /// use ringtel::{Event, Granularity, SystemClock};
    ///
    /// let names = Names::new();
    /// let clock = SystemClock::new();
    /// let run = RunContext::new(RunId::new(1), &clock);
    /// let e = PipelineEvent::external_call_completed(
    ///     run, TokenId::new(4), CallKind::Llm, names.intern("openai"), Duration::from_millis(850),
    ///     CallStatus::Ok, CallVolume::Tokens { prompt: 120, completion: 40 },
    /// );
    /// assert_eq!(e.granularity(), Granularity::Full);
    /// ```
    pub fn external_call_completed(
        run: RunContext<'_>,
        token: TokenId,
        call: CallKind,
        provider: NameId,
        duration: Duration,
        status: CallStatus,
        volume: CallVolume,
    ) -> PipelineEvent {
        run.event(EventKind::ExternalCallCompleted {
            token,
            call,
            provider,
            duration_ns: duration_nanos(duration),
            status,
            volume,
        })
    }
}
