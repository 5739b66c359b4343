//! Rendering events with their names resolved: JSON (serde) and a compact
//! human-readable line (`Display`).

use std::fmt;
use std::time::Duration;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::{CallVolume, EventKind, GateDecision, NameId, NamesView, PipelineEvent, TransformOutcome};

impl PipelineEvent {
    /// This event with its names resolved through `names`: `Serialize` as one
    /// flat JSON object, `Display` as one compact line.
    ///
    /// A [`NameId`] the registry did not issue renders as `"#index"`.
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
    ///     r#"{"ts":1500000000,"run":7,"event":"token_completed","row":2,"token":3,"outcome":"completed","sink":"warehouse"}"#,
    /// );
    /// assert_eq!(
    ///     event.resolved(&view).to_string(),
    ///     "1.500 run=7 token_completed row=2 token=3 outcome=completed sink=warehouse",
    /// );
    /// ```
    pub fn resolved<'a>(&'a self, names: &'a NamesView<'a>) -> Resolved<'a> {
        Resolved { event: self, names }
    }
}

/// A [`PipelineEvent`] with its names resolved, from [`PipelineEvent::resolved`].
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'a> {
    event: &'a PipelineEvent,
    names: &'a NamesView<'a>,
}

/// A name, resolved or rendered as `#index`.
struct Name<'a> {
    id: NameId,
    names: &'a NamesView<'a>,
}

impl Serialize for Name<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.names.resolve(self.id) {
            Some(name) => serializer.serialize_str(name),
            None => serializer.collect_str(&self.id),
        }
    }
}

/// In the one-line rendering a name is written bare when that is
/// unambiguous, and otherwise quoted with Rust string escapes (`"a b"`,
/// `"evil\nline"`): a name can then never split the line or forge a
/// `key=value` pair (found by fuzzing; see `fuzz/README.md`).
impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.names.resolve(self.id) {
            Some(name) if is_bare(name) => f.write_str(name),
            Some(name) => write!(f, "{name:?}"),
            None => fmt::Display::fmt(&self.id, f),
        }
    }
}

/// Whether `name` can be written unquoted in a `key=value` line.
fn is_bare(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('#')
        && name.chars().all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '"' | '\\' | '='))
}

/// A value of one field: what both renderings need to know about it.
enum Value<'a> {
    U64(u64),
    F64(f64),
    Str(&'static str),
    Name(Name<'a>),
    Nanos(u64),
}

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::U64(n) | Value::Nanos(n) => serializer.serialize_u64(*n),
            Value::F64(x) => serializer.serialize_f64(*x),
            Value::Str(s) => serializer.serialize_str(s),
            Value::Name(name) => name.serialize(serializer),
        }
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::U64(n) => write!(f, "{n}"),
            Value::F64(x) => write!(f, "{x:.1}"),
            Value::Str(s) => f.write_str(s),
            Value::Name(name) => name.fmt(f),
            Value::Nanos(n) => write!(f, "{:?}", Duration::from_nanos(*n)),
        }
    }
}

impl<'a> Resolved<'a> {
    /// Calls `field(key, value)` for each kind-specific field, in a fixed
    /// order. JSON keys of durations end in `_ns`; the line shows them as
    /// durations under the key without the suffix.
    fn for_each_field<E>(
        &self,
        mut field: impl FnMut(&'static str, Value<'a>) -> Result<(), E>,
    ) -> Result<(), E> {
        let name = |id| Value::Name(Name { id, names: self.names });
        match *self.event.kind() {
            EventKind::RunStarted { pipeline } => field("pipeline", name(pipeline)),
            EventKind::RunFinished { status, rows, duration_ns } => {
                field("status", Value::Str(status.as_str()))?;
                field("rows", Value::U64(rows))?;
                field("duration_ns", Value::Nanos(duration_ns))
            }
            EventKind::PhaseChanged { phase } => field("phase", Value::Str(phase.as_str())),
            EventKind::RowCreated { row, token } => {
                field("row", Value::U64(row.get()))?;
                field("token", Value::U64(token.get()))
            }
            EventKind::TransformCompleted { row, token, node, plugin, duration_ns, outcome } => {
                field("row", Value::U64(row.get()))?;
                field("token", Value::U64(token.get()))?;
                field("node", name(node))?;
                field("plugin", name(plugin))?;
                field("duration_ns", Value::Nanos(duration_ns))?;
                field("outcome", Value::Str(outcome.as_str()))?;
                match outcome {
                    TransformOutcome::Succeeded => Ok(()),
                    TransformOutcome::Failed { error } => field("error", name(error)),
                }
            }
            EventKind::GateEvaluated { row, token, gate, decision } => {
                field("row", Value::U64(row.get()))?;
                field("token", Value::U64(token.get()))?;
                field("gate", name(gate))?;
                field("decision", Value::Str(decision.as_str()))?;
                match decision {
                    GateDecision::Route { route } => field("route", name(route)),
                    GateDecision::Fork { branches } => field("branches", Value::U64(u64::from(branches))),
                    GateDecision::Continue | GateDecision::Discard => Ok(()),
                }
            }
            EventKind::TokenCompleted { row, token, outcome, sink } => {
                field("row", Value::U64(row.get()))?;
                field("token", Value::U64(token.get()))?;
                field("outcome", Value::Str(outcome.as_str()))?;
                match sink {
                    Some(sink) => field("sink", name(sink)),
                    None => Ok(()),
                }
            }
            EventKind::Progress { counts, rows_per_second } => {
                field("processed", Value::U64(counts.processed))?;
                field("succeeded", Value::U64(counts.succeeded))?;
                field("failed", Value::U64(counts.failed))?;
                field("quarantined", Value::U64(counts.quarantined))?;
                field("rows_per_second", Value::F64(rows_per_second))
            }
            EventKind::ExternalCallCompleted { token, call, provider, duration_ns, status, volume } => {
                field("token", Value::U64(token.get()))?;
                field("call", Value::Str(call.as_str()))?;
                field("provider", name(provider))?;
                field("duration_ns", Value::Nanos(duration_ns))?;
                field("status", Value::Str(status.as_str()))?;
                match volume {
                    CallVolume::None => Ok(()),
                    CallVolume::Tokens { prompt, completion } => {
                        field("prompt_tokens", Value::U64(u64::from(prompt)))?;
                        field("completion_tokens", Value::U64(u64::from(completion)))
                    }
                    CallVolume::Bytes { sent, received } => {
                        field("bytes_sent", Value::U64(u64::from(sent)))?;
                        field("bytes_received", Value::U64(u64::from(received)))
                    }
                }
            }
        }
    }
}

/// One flat JSON object: `ts` (nanoseconds since the Unix epoch), `run`,
/// `event` (the snake_case kind), then the kind's fields with names resolved
/// to strings. Durations are `*_ns` integers.
impl Serialize for Resolved<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("ts", &self.event.at().as_nanos())?;
        map.serialize_entry("run", &self.event.run().get())?;
        map.serialize_entry("event", self.event.name())?;
        self.for_each_field(|key, value| map.serialize_entry(key, &value))?;
        map.end()
    }
}

/// One compact line, no newline: `<secs>.<millis> run=<id> <event> key=value…`.
impl fmt::Display for Resolved<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.event.at().as_nanos();
        write!(
            f,
            "{}.{:03} run={} {}",
            nanos / 1_000_000_000,
            nanos % 1_000_000_000 / 1_000_000,
            self.event.run(),
            self.event.name()
        )?;
        self.for_each_field(|key, value| {
            let key = key.strip_suffix("_ns").unwrap_or(key);
            write!(f, " {key}={value}")
        })
    }
}
