//! [`PipelineEvent`] under the [encoding contract](crate::encoding): its
//! name, severity, run id, span shape and fields, with interned names as
//! [`FieldValue::Name`]s that every exporter resolves through the
//! [`Names`](super::Names) registry it was given.

use std::convert::Infallible;

use super::trace::{child_span_id, run_span_id};
use super::{
    CallStatus, CallVolume, EventKind, GateDecision, NamesView, PipelineEvent, RunStatus, TokenOutcome,
    TransformOutcome,
};
use crate::encoding::{
    Correlation, FieldValue, FieldVisitor, Resolved, Severity, Shape, SpanId, SpanKind, SpanRecord,
    SpanStatus,
};
use crate::{Event, Granularity, Timestamp};

impl PipelineEvent {
    /// This event with its names resolved through `names`: `Serialize` as one
    /// flat JSON object, `Display` as one compact line (see [`Resolved`]).
    ///
    /// A [`NameId`](super::NameId) the registry did not issue renders as `"#index"`.
    ///
    /// # Examples
    /// ```
    /// use ringtel::pipeline::{Names, PipelineEvent, RowId, RunContext, RunId, TokenId, TokenOutcome};
    /// use ringtel::{ManualClock, Timestamp};
    ///
    /// let names = Names::new();
    /// let sink = names.intern("warehouse");
    /// let clock = ManualClock::new(Timestamp::from_nanos(1_500_000_000));
    /// let run = RunContext::new(RunId::new(7), &clock);
    /// let event = PipelineEvent::token_completed(run, RowId::new(2), TokenId::new(3), TokenOutcome::Completed, Some(sink));
    ///
    /// let view = names.read();
    /// assert_eq!(
    ///     serde_json::to_string(&event.resolved(&view)).unwrap(),
    ///     r#"{"ts":1500000000,"run":7,"event":"token_completed","severity":"INFO","row":2,"token":3,"outcome":"completed","sink":"warehouse"}"#,
    /// );
    /// assert_eq!(
    ///     event.resolved(&view).to_string(),
    ///     "1.500 INFO run=7 token_completed row=2 token=3 outcome=completed sink=warehouse",
    /// );
    /// ```
    pub fn resolved<'a>(&'a self, names: &'a NamesView<'a>) -> Resolved<'a, PipelineEvent> {
        Resolved::new(self, Some(names), self.at())
    }

    /// The span this event describes, if it has a duration: a transform
    /// (`transform <node>`), an external call (`<call> <provider>`), or the
    /// run itself (`run`, the root of the run's spans).
    ///
    /// Success leaves the status `Unset`, as the OpenTelemetry specification
    /// asks of instrumentation; a failure sets `Error` with the outcome (the
    /// error kind, for a transform) as the message.
    fn span(&self) -> Option<SpanRecord<'static>> {
        let parent = Some(SpanId(run_span_id(self.run())));
        match *self.kind() {
            EventKind::TransformCompleted { token, node, duration_ns, outcome, .. } => Some(SpanRecord {
                name: "transform",
                detail: Some(FieldValue::Name(node)),
                kind: SpanKind::Internal,
                duration_ns,
                status: match outcome {
                    TransformOutcome::Succeeded => SpanStatus::Unset,
                    TransformOutcome::Failed { error } => SpanStatus::Error(FieldValue::Name(error)),
                },
                id: child_span_id(self, token.get(), node, duration_ns),
                parent,
            }),
            EventKind::ExternalCallCompleted { token, call, provider, duration_ns, status, .. } => {
                Some(SpanRecord {
                    name: call.as_str(),
                    detail: Some(FieldValue::Name(provider)),
                    kind: SpanKind::Client,
                    duration_ns,
                    status: match status {
                        CallStatus::Ok => SpanStatus::Unset,
                        CallStatus::Failed | CallStatus::TimedOut => {
                            SpanStatus::Error(FieldValue::Str(status.as_str()))
                        }
                    },
                    id: child_span_id(self, token.get(), provider, duration_ns),
                    parent,
                })
            }
            EventKind::RunFinished { status, duration_ns, .. } => Some(SpanRecord {
                name: "run",
                detail: None,
                kind: SpanKind::Internal,
                duration_ns,
                status: match status {
                    RunStatus::Completed => SpanStatus::Unset,
                    RunStatus::Failed | RunStatus::Interrupted => {
                        SpanStatus::Error(FieldValue::Str(status.as_str()))
                    }
                },
                id: SpanId(run_span_id(self.run())),
                parent: None,
            }),
            EventKind::RunStarted { .. }
            | EventKind::PhaseChanged { .. }
            | EventKind::RowCreated { .. }
            | EventKind::GateEvaluated { .. }
            | EventKind::TokenCompleted { .. }
            | EventKind::Progress { .. } => None,
        }
    }
}

/// `PipelineEvent` under the encoding contract:
///
/// - name: the snake_case kind (`row_created`);
/// - time: its own;
/// - severity: `Error` for a failed transform, call or run; `Warn` for an
///   interrupted run and a failed or quarantined token; `Info` otherwise;
/// - correlation: the run id (the OTLP exporter derives the trace id from
///   it, see [`trace_id`](super::trace_id));
/// - shape: a span for a transform, an external call and the run's end;
/// - fields: the kind's fields, names as [`FieldValue::Name`].
impl Event for PipelineEvent {
    #[inline]
    fn granularity(&self) -> Granularity {
        self.kind().granularity()
    }

    fn name(&self) -> &str {
        self.kind().name()
    }

    fn timestamp(&self) -> Option<Timestamp> {
        Some(self.at())
    }

    fn severity(&self) -> Severity {
        match *self.kind() {
            EventKind::TransformCompleted { outcome: TransformOutcome::Failed { .. }, .. }
            | EventKind::RunFinished { status: RunStatus::Failed, .. }
            | EventKind::ExternalCallCompleted {
                status: CallStatus::Failed | CallStatus::TimedOut, ..
            } => Severity::Error,
            EventKind::RunFinished { status: RunStatus::Interrupted, .. }
            | EventKind::TokenCompleted {
                outcome: TokenOutcome::Failed | TokenOutcome::Quarantined, ..
            } => Severity::Warn,
            _ => Severity::Info,
        }
    }

    fn correlation(&self) -> Correlation {
        Correlation { run: Some(self.run().get()), ..Correlation::NONE }
    }

    fn shape(&self) -> Shape<'_> {
        match self.span() {
            Some(span) => Shape::Span(span),
            None => Shape::Log,
        }
    }

    fn fields(&self, out: &mut dyn FieldVisitor) {
        let Ok(()) = self.visit_fields(out);
    }
}

impl PipelineEvent {
    /// Visits each kind-specific field, in a fixed order. Durations are
    /// [`FieldValue::Nanos`] under keys ending in `_ns`.
    fn visit_fields(&self, out: &mut dyn FieldVisitor) -> Result<(), Infallible> {
        let mut field = |key: &str, value: FieldValue<'_>| -> Result<(), Infallible> {
            out.field(key, value);
            Ok(())
        };
        let name = FieldValue::Name;
        match *self.kind() {
            EventKind::RunStarted { pipeline } => field("pipeline", name(pipeline)),
            EventKind::RunFinished { status, rows, duration_ns } => {
                field("status", FieldValue::Str(status.as_str()))?;
                field("rows", FieldValue::U64(rows))?;
                field("duration_ns", FieldValue::Nanos(duration_ns))
            }
            EventKind::PhaseChanged { phase } => field("phase", FieldValue::Str(phase.as_str())),
            EventKind::RowCreated { row, token } => {
                field("row", FieldValue::U64(row.get()))?;
                field("token", FieldValue::U64(token.get()))
            }
            EventKind::TransformCompleted { row, token, node, plugin, duration_ns, outcome } => {
                field("row", FieldValue::U64(row.get()))?;
                field("token", FieldValue::U64(token.get()))?;
                field("node", name(node))?;
                field("plugin", name(plugin))?;
                field("duration_ns", FieldValue::Nanos(duration_ns))?;
                field("outcome", FieldValue::Str(outcome.as_str()))?;
                match outcome {
                    TransformOutcome::Succeeded => Ok(()),
                    TransformOutcome::Failed { error } => field("error", name(error)),
                }
            }
            EventKind::GateEvaluated { row, token, gate, decision } => {
                field("row", FieldValue::U64(row.get()))?;
                field("token", FieldValue::U64(token.get()))?;
                field("gate", name(gate))?;
                field("decision", FieldValue::Str(decision.as_str()))?;
                match decision {
                    GateDecision::Route { route } => field("route", name(route)),
                    GateDecision::Fork { branches } => {
                        field("branches", FieldValue::U64(u64::from(branches)))
                    }
                    GateDecision::Continue | GateDecision::Discard => Ok(()),
                }
            }
            EventKind::TokenCompleted { row, token, outcome, sink } => {
                field("row", FieldValue::U64(row.get()))?;
                field("token", FieldValue::U64(token.get()))?;
                field("outcome", FieldValue::Str(outcome.as_str()))?;
                match sink {
                    Some(sink) => field("sink", name(sink)),
                    None => Ok(()),
                }
            }
            EventKind::Progress { counts, rows_per_second } => {
                field("processed", FieldValue::U64(counts.processed))?;
                field("succeeded", FieldValue::U64(counts.succeeded))?;
                field("failed", FieldValue::U64(counts.failed))?;
                field("quarantined", FieldValue::U64(counts.quarantined))?;
                field("rows_per_second", FieldValue::F64(rows_per_second))
            }
            EventKind::ExternalCallCompleted { token, call, provider, duration_ns, status, volume } => {
                field("token", FieldValue::U64(token.get()))?;
                field("call", FieldValue::Str(call.as_str()))?;
                field("provider", name(provider))?;
                field("duration_ns", FieldValue::Nanos(duration_ns))?;
                field("status", FieldValue::Str(status.as_str()))?;
                match volume {
                    CallVolume::None => Ok(()),
                    CallVolume::Tokens { prompt, completion } => {
                        field("prompt_tokens", FieldValue::U64(u64::from(prompt)))?;
                        field("completion_tokens", FieldValue::U64(u64::from(completion)))
                    }
                    CallVolume::Bytes { sent, received } => {
                        field("bytes_sent", FieldValue::U64(u64::from(sent)))?;
                        field("bytes_received", FieldValue::U64(u64::from(received)))
                    }
                }
            }
        }
    }
}
