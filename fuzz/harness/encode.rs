//! The `encode` harness: arbitrary `PipelineEvent`s through every encoder
//! ringtel ships: the JSON Lines exporter (with batching, buffering and
//! rotation), the human-readable line (`Display`), the OTLP requests and
//! the Redis Streams commands (both encodings); and a user's own event type
//! (through `serde_fields`, the generic path) through the same four.
//!
//! Shared, not copied: the `encode` fuzz target and `tests/fuzz_corpus.rs`
//! include this file with `#[path]`. It depends on `ringtel`, `arbitrary`,
//! `serde_json` (to parse the output back) and std.
//!
//! Checked: nothing panics; `export`, `flush` and `close` succeed on a
//! writable file; the files (oldest rotation first) hold exactly one line per
//! event, in order, each a JSON object equal to what a reference rendering
//! built here from the input says (timestamp, run, event name, every field,
//! names resolved or `#index`); the name registry interns idempotently; the
//! `Display` line is one line.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use ringtel::exporters::otlp::proto::tonic::common::v1::any_value;
use ringtel::exporters::otlp::{trace_id, OtlpExporter};
use ringtel::exporters::redis::{
    RedisStreams, StreamEncoding, DEFAULT_REDIS_JSON_FIELD, DEFAULT_REDIS_STREAM_MAX_LEN,
};
use ringtel::exporters::JsonLines;
use ringtel::pipeline::{
    CallKind, CallStatus, CallVolume, EventKind, GateDecision, NameId, Names, Phase, PipelineEvent,
    RowCounts, RowId, RunContext, RunId, RunStatus, TokenId, TokenOutcome, TransformOutcome,
};
use ringtel::{Exporter, ManualClock, Timestamp};
use serde_json::{json, Map, Value};

/// Most names interned and events encoded per input.
pub const MAX_NAMES: usize = 8;
pub const MAX_EVENTS: usize = 32;

/// Runs one input; panics on any violation.
pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
    check(&input);
}

/// A name reference: an interned name (by position), or an id the registry
/// never issued (rendered `#index`).
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum NameRef {
    Known(u8),
    Foreign(u8),
}

/// One event, as the input spells it.
#[derive(Debug, Clone, Arbitrary)]
pub struct Spec {
    pub at: u64,
    pub run: u64,
    pub kind: KindSpec,
}

#[derive(Debug, Clone, Arbitrary)]
pub enum KindSpec {
    RunStarted {
        pipeline: NameRef,
    },
    RunFinished {
        status: u8,
        rows: u64,
        duration_ns: u64,
    },
    PhaseChanged {
        phase: u8,
    },
    RowCreated {
        row: u64,
        token: u64,
    },
    TransformCompleted {
        row: u64,
        token: u64,
        node: NameRef,
        plugin: NameRef,
        duration_ns: u64,
        error: Option<NameRef>,
    },
    GateEvaluated {
        row: u64,
        token: u64,
        gate: NameRef,
        decision: u8,
        route: NameRef,
        branches: u16,
    },
    TokenCompleted {
        row: u64,
        token: u64,
        outcome: u8,
        sink: Option<NameRef>,
    },
    Progress {
        processed: u64,
        succeeded: u64,
        failed: u64,
        quarantined: u64,
        rows_per_second: f64,
    },
    ExternalCall {
        token: u64,
        call: u8,
        provider: NameRef,
        duration_ns: u64,
        status: u8,
        volume: u8,
        a: u32,
        b: u32,
    },
}

/// A whole input.
#[derive(Debug, Clone, Arbitrary)]
pub struct Input {
    pub names: Vec<String>,
    /// Exporter buffer: `1 + buffer % 4096` bytes.
    pub buffer: u16,
    /// Rotate at `64 + rotate` bytes, when set.
    pub rotate: Option<u16>,
    /// Split points of the batches handed to `export`.
    pub split: u32,
    pub events: Vec<Spec>,
}

/// The model's name registry: distinct names in interning order.
struct Registry {
    names: Arc<Names>,
    texts: Vec<String>,
    /// A registry with more names, whose ids the main one never issued.
    foreign: Names,
}

impl Registry {
    fn new(input: &[String]) -> Registry {
        let names = Arc::new(Names::new());
        let mut texts: Vec<String> = Vec::new();
        for name in input.iter().take(MAX_NAMES) {
            let position = match texts.iter().position(|t| t == name) {
                Some(p) => p,
                None => {
                    texts.push(name.clone());
                    texts.len() - 1
                }
            };
            let id = names.intern(name);
            assert_eq!(id.index(), position, "intern({name:?}) gave index {}", id.index());
            assert_eq!(names.intern(name), id, "interning is idempotent");
        }
        assert_eq!(names.len(), texts.len());
        let foreign = Names::new();
        for i in 0..texts.len() + 16 {
            foreign.intern(&format!("foreign-{i}"));
        }
        Registry { names, texts, foreign }
    }

    fn id(&self, r: NameRef) -> NameId {
        match r {
            NameRef::Known(i) if !self.texts.is_empty() => {
                let text = &self.texts[usize::from(i) % self.texts.len()];
                self.names.lookup(text).expect("interned")
            }
            // An id past the end of the main registry.
            NameRef::Known(i) | NameRef::Foreign(i) => {
                let index = self.texts.len() + usize::from(i) % 16;
                self.foreign.lookup(&format!("foreign-{index}")).expect("interned in the foreign registry")
            }
        }
    }

    /// What a JSON encoder must write for `id`.
    fn expected(&self, id: NameId) -> Value {
        match self.texts.get(id.index()) {
            Some(text) => Value::String(text.clone()),
            None => Value::String(format!("#{}", id.index())),
        }
    }
}

/// Builds the event and the JSON object a correct encoder writes for it.
fn build(spec: &Spec, reg: &Registry) -> (PipelineEvent, Value) {
    let clock = ManualClock::new(Timestamp::from_nanos(spec.at));
    let run = RunContext::new(RunId::new(spec.run), &clock);
    let mut fields = Map::new();
    let mut put = |k: &str, v: Value| {
        fields.insert(k.to_owned(), v);
    };
    let (kind, name) = match spec.kind {
        KindSpec::RunStarted { pipeline } => {
            let pipeline = reg.id(pipeline);
            put("pipeline", reg.expected(pipeline));
            (EventKind::RunStarted { pipeline }, "run_started")
        }
        KindSpec::RunFinished { status, rows, duration_ns } => {
            let (status, text) = [
                (RunStatus::Completed, "completed"),
                (RunStatus::Failed, "failed"),
                (RunStatus::Interrupted, "interrupted"),
            ][usize::from(status) % 3];
            put("status", json!(text));
            put("rows", json!(rows));
            put("duration_ns", json!(duration_ns));
            (EventKind::RunFinished { status, rows, duration_ns }, "run_finished")
        }
        KindSpec::PhaseChanged { phase } => {
            let (phase, text) = [
                (Phase::Config, "config"),
                (Phase::Graph, "graph"),
                (Phase::Source, "source"),
                (Phase::Process, "process"),
                (Phase::Sink, "sink"),
                (Phase::Export, "export"),
            ][usize::from(phase) % 6];
            put("phase", json!(text));
            (EventKind::PhaseChanged { phase }, "phase_changed")
        }
        KindSpec::RowCreated { row, token } => {
            put("row", json!(row));
            put("token", json!(token));
            (EventKind::RowCreated { row: RowId::new(row), token: TokenId::new(token) }, "row_created")
        }
        KindSpec::TransformCompleted { row, token, node, plugin, duration_ns, error } => {
            let (node, plugin) = (reg.id(node), reg.id(plugin));
            put("row", json!(row));
            put("token", json!(token));
            put("node", reg.expected(node));
            put("plugin", reg.expected(plugin));
            put("duration_ns", json!(duration_ns));
            let outcome = match error {
                None => {
                    put("outcome", json!("succeeded"));
                    TransformOutcome::Succeeded
                }
                Some(error) => {
                    let error = reg.id(error);
                    put("outcome", json!("failed"));
                    put("error", reg.expected(error));
                    TransformOutcome::Failed { error }
                }
            };
            let kind = EventKind::TransformCompleted {
                row: RowId::new(row),
                token: TokenId::new(token),
                node,
                plugin,
                duration_ns,
                outcome,
            };
            (kind, "transform_completed")
        }
        KindSpec::GateEvaluated { row, token, gate, decision, route, branches } => {
            let gate = reg.id(gate);
            put("row", json!(row));
            put("token", json!(token));
            put("gate", reg.expected(gate));
            let decision = match decision % 4 {
                0 => {
                    put("decision", json!("continue"));
                    GateDecision::Continue
                }
                1 => {
                    let route = reg.id(route);
                    put("decision", json!("route"));
                    put("route", reg.expected(route));
                    GateDecision::Route { route }
                }
                2 => {
                    put("decision", json!("fork"));
                    put("branches", json!(branches));
                    GateDecision::Fork { branches }
                }
                _ => {
                    put("decision", json!("discard"));
                    GateDecision::Discard
                }
            };
            let kind =
                EventKind::GateEvaluated { row: RowId::new(row), token: TokenId::new(token), gate, decision };
            (kind, "gate_evaluated")
        }
        KindSpec::TokenCompleted { row, token, outcome, sink } => {
            let (outcome, text) = [
                (TokenOutcome::Completed, "completed"),
                (TokenOutcome::Routed, "routed"),
                (TokenOutcome::Forked, "forked"),
                (TokenOutcome::Failed, "failed"),
                (TokenOutcome::Quarantined, "quarantined"),
                (TokenOutcome::Discarded, "discarded"),
            ][usize::from(outcome) % 6];
            let sink = sink.map(|s| reg.id(s));
            put("row", json!(row));
            put("token", json!(token));
            put("outcome", json!(text));
            if let Some(sink) = sink {
                put("sink", reg.expected(sink));
            }
            let kind =
                EventKind::TokenCompleted { row: RowId::new(row), token: TokenId::new(token), outcome, sink };
            (kind, "token_completed")
        }
        KindSpec::Progress { processed, succeeded, failed, quarantined, rows_per_second } => {
            put("processed", json!(processed));
            put("succeeded", json!(succeeded));
            put("failed", json!(failed));
            put("quarantined", json!(quarantined));
            // JSON has no NaN or infinity: serde_json writes `null`.
            put("rows_per_second", json!(rows_per_second));
            let counts = RowCounts { processed, succeeded, failed, quarantined };
            (EventKind::Progress { counts, rows_per_second }, "progress")
        }
        KindSpec::ExternalCall { token, call, provider, duration_ns, status, volume, a, b } => {
            let (call, call_text) =
                [(CallKind::Http, "http"), (CallKind::Llm, "llm"), (CallKind::Sql, "sql")]
                    [usize::from(call) % 3];
            let (status, status_text) =
                [(CallStatus::Ok, "ok"), (CallStatus::Failed, "failed"), (CallStatus::TimedOut, "timed_out")]
                    [usize::from(status) % 3];
            let provider = reg.id(provider);
            put("token", json!(token));
            put("call", json!(call_text));
            put("provider", reg.expected(provider));
            put("duration_ns", json!(duration_ns));
            put("status", json!(status_text));
            let volume = match volume % 3 {
                0 => CallVolume::None,
                1 => {
                    put("prompt_tokens", json!(a));
                    put("completion_tokens", json!(b));
                    CallVolume::Tokens { prompt: a, completion: b }
                }
                _ => {
                    put("bytes_sent", json!(a));
                    put("bytes_received", json!(b));
                    CallVolume::Bytes { sent: a, received: b }
                }
            };
            let kind = EventKind::ExternalCallCompleted {
                token: TokenId::new(token),
                call,
                provider,
                duration_ns,
                status,
                volume,
            };
            (kind, "external_call_completed")
        }
    };
    let event = run.event(kind);
    assert_eq!(event.at(), Timestamp::from_nanos(spec.at));
    assert_eq!(event.run(), RunId::new(spec.run));
    assert_eq!(event.name(), name);
    fields.insert("ts".to_owned(), json!(spec.at));
    fields.insert("run".to_owned(), json!(spec.run));
    fields.insert("event".to_owned(), json!(name));
    // The severity the encoding contract gives each outcome, spelled out
    // here independently of ringtel's own table.
    let severity = match &spec.kind {
        KindSpec::TransformCompleted { error: Some(_), .. } => "ERROR",
        KindSpec::RunFinished { status, .. } => ["INFO", "ERROR", "WARN"][usize::from(*status) % 3],
        KindSpec::ExternalCall { status, .. } => ["INFO", "ERROR", "ERROR"][usize::from(*status) % 3],
        KindSpec::TokenCompleted { outcome, .. } => {
            ["INFO", "INFO", "INFO", "WARN", "WARN", "INFO"][usize::from(*outcome) % 6]
        }
        _ => "INFO",
    };
    fields.insert("severity".to_owned(), json!(severity));
    (event, Value::Object(fields))
}

/// A fresh path (unique per process and call) in memory where there is a
/// tmpfs (`close` syncs the file: on a disk, that would dominate a run),
/// else under the temporary directory.
fn temp_path() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() { shm.to_owned() } else { std::env::temp_dir() };
    dir.join(format!("ringtel-fuzz-encode-{}-{n}.jsonl", std::process::id()))
}

/// Removes the file and its rotations when dropped, even on a failed check.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn check(input: &Input) {
    let reg = Registry::new(&input.names);
    let built: Vec<(PipelineEvent, Value)> =
        input.events.iter().take(MAX_EVENTS).map(|spec| build(spec, &reg)).collect();
    let events: Vec<PipelineEvent> = built.iter().map(|(e, _)| *e).collect();
    let rates: Vec<Option<f64>> = events
        .iter()
        .map(|e| match *e.kind() {
            EventKind::Progress { rows_per_second, .. } => Some(rows_per_second),
            _ => None,
        })
        .collect();

    // The human-readable line: one line, never a panic.
    {
        let view = reg.names.read();
        // A finding of this target, fixed: names holding line breaks used
        // to be written verbatim; they are now quoted with escapes.
        for event in &events {
            let line = event.resolved(&view).to_string();
            assert!(!line.contains(['\n', '\r']), "a Display line spans lines: {line:?}");
        }
    }

    // JSON Lines, through the exporter, in batches.
    let path = temp_path();
    let keep = MAX_EVENTS + 2; // enough rotations that no line is deleted
    let mut cleanup = Cleanup(vec![path.clone()]);
    cleanup.0.extend((1..=keep).map(|i| {
        let mut name = path.clone().into_os_string();
        name.push(format!(".{i}"));
        PathBuf::from(name)
    }));
    let mut builder = JsonLines::builder(&path)
        .names(Arc::clone(&reg.names))
        .buffer_capacity(1 + usize::from(input.buffer % 4096));
    if let Some(rotate) = input.rotate {
        builder = builder.rotate(64 + u64::from(rotate), keep);
    }
    let mut exporter = builder.create().expect("a temporary file opens");
    let mut rest: &[PipelineEvent] = &events;
    let mut split = input.split;
    while !rest.is_empty() {
        let n = 1 + (split as usize % rest.len());
        split = split.rotate_right(5);
        exporter.export(&rest[..n]).expect("export to a writable file");
        rest = &rest[n..];
    }
    exporter.flush().expect("flush");
    exporter.close().expect("close");
    let rotations = (1..=keep).take_while(|&i| exporter.rotated_path(i).exists()).count();
    let mut files: Vec<PathBuf> = (1..=rotations).rev().map(|i| exporter.rotated_path(i)).collect();
    files.push(path.clone());
    if input.rotate.is_none() {
        assert_eq!(rotations, 0, "rotation without a rotation setting");
    }
    let mut lines = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("the output is UTF-8");
        assert!(text.is_empty() || text.ends_with('\n'), "{} ends in half a line", file.display());
        lines.extend(text.lines().map(str::to_owned));
    }
    assert_eq!(lines.len(), built.len(), "one line per event");
    for (i, (line, (_, expected))) in lines.iter().zip(&built).enumerate() {
        let parsed: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {i} is not JSON ({e}): {line}"));
        assert!(same(&parsed, expected), "line {i} decodes to other values:\n{line}\nexpected {expected}");
        if let Some(rate) = rates[i] {
            // Exactly the same float, or `null` for NaN and infinities.
            let text = raw_field(line, "rows_per_second").expect("progress has rows_per_second");
            if rate.is_finite() {
                let back: f64 = text.parse().unwrap_or_else(|e| panic!("line {i}: {text:?}: {e}"));
                assert_eq!(
                    back.to_bits(),
                    rate.to_bits(),
                    "line {i}: rows_per_second {rate:e} written as {text}"
                );
            } else {
                assert_eq!(text, "null", "line {i}: a non-finite rows_per_second");
            }
        }
    }

    check_otlp(&reg, &built, &rates);
    // The builder's default trim (no setters called, so a changed default is
    // caught), then a trim taken from the input's `split` word (so the
    // stored corpus keeps its meaning): exact or approximate, MAXLEN in
    // 1..=2^31.
    let input_trim = Trim { max_len: 1 + (input.split >> 1) as usize, exact: input.split & 1 == 1 };
    let json = || StreamEncoding::Json { field: DEFAULT_REDIS_JSON_FIELD.to_owned() };
    check_redis(&reg, &built, &rates, StreamEncoding::Fields, None);
    check_redis(&reg, &built, &rates, json(), None);
    check_redis(&reg, &built, &rates, StreamEncoding::Fields, Some(input_trim));
    check_redis(&reg, &built, &rates, json(), Some(input_trim));
    check_user_events(input);
}

/// A user's own event type, as a program outside ringtel defines it: every
/// scalar kind of field, text from the input, a nested value, no time of its
/// own; its fields come from `serde_fields`.
#[derive(Debug, Clone, serde::Serialize)]
struct UserEvent {
    id: u64,
    delta: i64,
    ratio: f64,
    flag: bool,
    text: String,
    tags: Vec<String>,
}

impl ringtel::Event for UserEvent {
    fn granularity(&self) -> ringtel::Granularity {
        ringtel::Granularity::Rows
    }
    fn name(&self) -> &str {
        "user_event"
    }
    fn fields(&self, out: &mut dyn ringtel::encoding::FieldVisitor) {
        ringtel::encoding::serde_fields(self, out)
    }
}

/// The generic path: user events built from the input's numbers and names
/// (so the stored corpus keeps its meaning) through JSON Lines (each line
/// parses back to exactly the event, floats bit for bit, stamped with the
/// batch's time), the console (one line each), OTLP (attribute types kept:
/// a u64 above i64::MAX as its decimal string, a double bit for bit, the
/// nested list as an array) and Redis `Fields` (each value the JSON Lines
/// value's text).
fn check_user_events(input: &Input) {
    let text = |i: usize| input.names.get(i % input.names.len().max(1)).cloned().unwrap_or_default();
    let events: Vec<UserEvent> = input
        .events
        .iter()
        .take(MAX_EVENTS)
        .enumerate()
        .map(|(i, spec)| UserEvent {
            id: spec.at,
            delta: spec.run as i64,
            ratio: f64::from_bits(spec.at ^ spec.run.rotate_left(17)),
            flag: spec.run & 1 == 1,
            text: text(i),
            tags: (0..(spec.at % 3) as usize).map(|k| text(i + k + 1)).collect(),
        })
        .collect();
    let taken = Timestamp::from_nanos(u64::from(input.split));

    let path = temp_path();
    let _cleanup = Cleanup(vec![path.clone()]);
    let mut exporter = JsonLines::builder(&path).create().expect("a temporary file opens");
    exporter.export_taken(&events, taken).expect("export to a writable file");
    exporter.close().expect("close");
    let written = std::fs::read_to_string(&path).expect("the output is UTF-8");
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), events.len(), "one line per user event");
    for (i, (line, event)) in lines.iter().zip(&events).enumerate() {
        let parsed: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("user line {i} ({e}): {line}"));
        assert_eq!(parsed["ts"], json!(taken.as_nanos()), "user line {i}: stamped with the batch's time");
        assert_eq!(parsed["event"], "user_event");
        assert_eq!(parsed["severity"], "INFO");
        assert_eq!(parsed["id"].as_u64(), Some(event.id), "user line {i}: id");
        assert_eq!(parsed["delta"].as_i64(), Some(event.delta), "user line {i}: delta");
        assert_eq!(parsed["flag"], json!(event.flag));
        assert_eq!(parsed["text"], json!(event.text));
        assert_eq!(parsed["tags"], json!(event.tags));
        let raw = raw_field(line, "ratio").expect("a ratio");
        check_rate(i, event.ratio, raw);
        assert_eq!(parsed.as_object().map(|o| o.len()), Some(9), "user line {i}: keys {line}");
    }

    let mut console = ringtel::exporters::Console::new(Vec::new());
    console.export_taken(&events, taken).expect("console export to memory");
    let shown = String::from_utf8(console.get_ref().clone()).expect("the console writes UTF-8");
    assert_eq!(shown.lines().count(), events.len(), "one console line per user event: {shown:?}");

    let mut otlp = OtlpExporter::builder("http://127.0.0.1:9").build().expect("a valid endpoint");
    let logs = otlp.encode_logs(&events);
    let records = &logs.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(records.len(), events.len());
    for (i, (record, event)) in records.iter().zip(&events).enumerate() {
        let attr = |key: &str| {
            record
                .attributes
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| v.value.clone())
                .unwrap_or_else(|| panic!("record {i}: no attribute {key}"))
        };
        let id_ok = match attr("id") {
            any_value::Value::IntValue(n) => u64::try_from(n).ok() == Some(event.id),
            any_value::Value::StringValue(s) => event.id > i64::MAX as u64 && s == event.id.to_string(),
            _ => false,
        };
        assert!(id_ok, "record {i}: id {:?} for {}", attr("id"), event.id);
        assert_eq!(attr("delta"), any_value::Value::IntValue(event.delta));
        assert_eq!(attr("flag"), any_value::Value::BoolValue(event.flag));
        assert_eq!(attr("text"), any_value::Value::StringValue(event.text.clone()));
        match attr("ratio") {
            any_value::Value::DoubleValue(x) => {
                assert_eq!(x.to_bits(), event.ratio.to_bits(), "record {i}: ratio")
            }
            other => panic!("record {i}: ratio as {other:?}"),
        }
        match attr("tags") {
            any_value::Value::ArrayValue(array) => assert_eq!(array.values.len(), event.tags.len()),
            other => panic!("record {i}: tags as {other:?}"),
        }
    }

    let mut redis = RedisStreams::builder("redis://127.0.0.1:9").build().expect("a valid url");
    let bytes = redis.encode_batch(&events).expect("every user event encodes").to_vec();
    let commands = resp_commands(&bytes);
    assert_eq!(commands.len(), events.len());
    for (i, (command, line)) in commands.iter().zip(&lines).enumerate() {
        let parsed: Value = serde_json::from_str(line).expect("checked above");
        for pair in command[6..].chunks_exact(2) {
            let key = String::from_utf8(pair[0].clone()).expect("UTF-8 key");
            let value = String::from_utf8(pair[1].clone()).expect("UTF-8 value");
            let want = &parsed[key.as_str()];
            let ok = match want {
                // `encode_batch` stamps with the wall clock, not the batch's time.
                _ if key == "ts" => value.parse::<u64>().is_ok(),
                Value::String(s) => *s == value,
                Value::Number(_) if key == "id" || key == "delta" => {
                    *want == value.parse::<Value>().unwrap_or(Value::Null)
                }
                Value::Number(_) | Value::Null => raw_field(line, &key) == Some(value.as_str()),
                other => serde_json::from_str::<Value>(&value).is_ok_and(|v| &v == other),
            };
            assert!(ok, "command {i}: field {key} is {value:?}, the JSON Lines value is {want}");
        }
    }
}

/// How a Redis stream is trimmed: `MAXLEN ~ max_len`, or `MAXLEN = max_len`
/// when `exact`.
#[derive(Debug, Clone, Copy)]
struct Trim {
    max_len: usize,
    exact: bool,
}

/// The Redis Streams encoding: one `XADD <stream> MAXLEN <~ or => <n> *` per event,
/// in order, in well-formed RESP; with `Fields`, one stream field per JSON
/// Lines key (`ts`, `run`, `event`, `severity` first), strings as their text and other
/// values as their JSON text, each key once, floats bit for bit; with
/// `Json`, one field holding the JSON Lines object.
fn check_redis(
    reg: &Registry,
    built: &[(PipelineEvent, Value)],
    rates: &[Option<f64>],
    encoding: StreamEncoding,
    trim: Option<Trim>,
) {
    let mut builder =
        RedisStreams::builder("redis://127.0.0.1:9").names(Arc::clone(&reg.names)).encoding(encoding.clone());
    if let Some(trim) = trim {
        builder = builder.max_len(trim.max_len).exact_trim(trim.exact);
    }
    let mut exporter =
        builder.build().expect("a valid url and a max_len of at least 1 build without connecting");
    // What the builder's defaults must give: `MAXLEN ~ 100000`.
    let trim = trim.unwrap_or(Trim { max_len: DEFAULT_REDIS_STREAM_MAX_LEN, exact: false });
    let events: Vec<PipelineEvent> = built.iter().map(|(e, _)| *e).collect();
    let bytes = exporter.encode_batch(&events).expect("every event encodes");
    let commands = resp_commands(bytes);
    assert_eq!(commands.len(), events.len(), "one XADD per event");
    let max_len = trim.max_len.to_string();
    let how = if trim.exact { "=" } else { "~" };
    let head = ["XADD", exporter.stream(), "MAXLEN", how, max_len.as_str(), "*"];
    for (i, (command, (_, expected))) in commands.iter().zip(built).enumerate() {
        let text =
            |arg: &[u8]| String::from_utf8(arg.to_vec()).unwrap_or_else(|e| panic!("command {i}: {e}"));
        let args: Vec<String> = command.iter().map(|a| text(a)).collect();
        assert!(args.len() >= head.len() && args[..head.len()] == head, "command {i}: {args:?}");
        let fields = &args[head.len()..];
        assert!(fields.len() % 2 == 0 && !fields.is_empty(), "command {i}: odd or no fields: {fields:?}");
        let Value::Object(want) = expected else { panic!("the reference rendering is an object") };
        match &encoding {
            StreamEncoding::Json { field } => {
                assert_eq!(fields.len(), 2, "command {i}: one JSON field");
                assert_eq!(&fields[0], field, "command {i}: field name");
                let parsed: Value = serde_json::from_str(&fields[1])
                    .unwrap_or_else(|e| panic!("command {i}: not JSON ({e}): {}", fields[1]));
                assert!(
                    same(&parsed, expected),
                    "command {i}: {} decodes to other values than {expected}",
                    fields[1]
                );
                if let Some(rate) = rates[i] {
                    let text =
                        raw_field(&fields[1], "rows_per_second").expect("progress has rows_per_second");
                    check_rate(i, rate, text);
                }
            }
            StreamEncoding::Fields => {
                let keys: Vec<&str> = fields.iter().step_by(2).map(String::as_str).collect();
                assert_eq!(
                    keys.get(..4),
                    Some(&["ts", "run", "event", "severity"][..]),
                    "command {i}: field order"
                );
                let distinct: std::collections::BTreeSet<&str> = keys.iter().copied().collect();
                let wanted: std::collections::BTreeSet<&str> = want.keys().map(String::as_str).collect();
                assert_eq!(distinct.len(), keys.len(), "command {i}: a field twice: {keys:?}");
                assert_eq!(distinct, wanted, "command {i}: fields {keys:?}, expected {want:?}");
                for pair in fields.chunks_exact(2) {
                    let (key, value) = (&pair[0], &pair[1]);
                    let wanted =
                        want.get(key).unwrap_or_else(|| panic!("command {i}: unexpected field {key}"));
                    let ok = match wanted {
                        Value::String(s) => s == value,
                        other => serde_json::from_str::<Value>(value).is_ok_and(|v| same(&v, other)),
                    };
                    assert!(ok, "command {i}: field {key} is {value:?}, expected {wanted}");
                    if let (Some(rate), "rows_per_second") = (rates[i], key.as_str()) {
                        check_rate(i, rate, value);
                    }
                }
            }
            other => panic!("an encoding this harness does not know: {other:?}"),
        }
    }
}

/// `rows_per_second` written as `text`: exactly the same float, or `null`
/// for NaN and infinities.
fn check_rate(i: usize, rate: f64, text: &str) {
    if rate.is_finite() {
        let back: f64 = text.parse().unwrap_or_else(|e| panic!("command {i}: {text:?}: {e}"));
        assert_eq!(back.to_bits(), rate.to_bits(), "command {i}: rows_per_second {rate:e} written as {text}");
    } else {
        assert_eq!(text, "null", "command {i}: a non-finite rows_per_second");
    }
}

/// Splits RESP bytes into commands (arrays of bulk strings); panics on
/// anything else.
fn resp_commands(bytes: &[u8]) -> Vec<Vec<Vec<u8>>> {
    fn number(bytes: &[u8], at: &mut usize, marker: u8) -> usize {
        assert_eq!(bytes.get(*at), Some(&marker), "RESP: expected {:?} at byte {at}", marker as char);
        let end = (*at..bytes.len().saturating_sub(1))
            .find(|&j| &bytes[j..j + 2] == b"\r\n")
            .unwrap_or_else(|| panic!("RESP: unterminated line at byte {at}"));
        let digits = std::str::from_utf8(&bytes[*at + 1..end]).expect("RESP: ASCII length");
        assert!(
            !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0')),
            "RESP: bad length {digits:?}"
        );
        *at = end + 2;
        digits.parse().unwrap_or_else(|e| panic!("RESP: bad length {digits:?}: {e}"))
    }
    let mut commands = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let n = number(bytes, &mut at, b'*');
        let mut args = Vec::with_capacity(n);
        for _ in 0..n {
            let len = number(bytes, &mut at, b'$');
            let end = at.checked_add(len).expect("RESP: length overflows");
            assert!(end + 2 <= bytes.len() && &bytes[end..end + 2] == b"\r\n", "RESP: bulk string overruns");
            args.push(bytes[at..end].to_vec());
            at = end + 2;
        }
        commands.push(args);
    }
    commands
}

/// The OTLP encoding (issue 9): one log record per event, in order, whose
/// attributes are the JSON Lines fields (`ts` is the record's time), with
/// integers above `i64::MAX` as decimal strings and floats bit for bit; a
/// span for each transform, external call and finished run; trace ids
/// derived from the run; and the protobuf bytes survive a decode.
fn check_otlp(reg: &Registry, built: &[(PipelineEvent, Value)], rates: &[Option<f64>]) {
    use prost::Message;
    use ringtel::exporters::otlp::proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use ringtel::exporters::otlp::proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    let mut exporter = OtlpExporter::builder("http://127.0.0.1:9")
        .names(Arc::clone(&reg.names))
        .build()
        .expect("a valid endpoint builds without connecting");
    let events: Vec<PipelineEvent> = built.iter().map(|(e, _)| *e).collect();

    let logs = exporter.encode_logs(&events);
    let bytes = logs.encode_to_vec();
    let back = ExportLogsServiceRequest::decode(bytes.as_slice()).expect("our own logs request decodes");
    assert_eq!(back.encode_to_vec(), bytes, "the logs request changes through a decode");
    let records: Vec<_> =
        logs.resource_logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records).collect();
    assert_eq!(records.len(), events.len(), "one log record per event");
    for (i, (record, (event, expected))) in records.iter().zip(built).enumerate() {
        assert_eq!(record.time_unix_nano, event.at().as_nanos(), "record {i}: time");
        assert_eq!(record.trace_id, trace_id(event.run()).to_vec(), "record {i}: trace id");
        let Value::Object(fields) = expected else { panic!("the reference rendering is an object") };
        assert_eq!(
            Some(&Value::from(record.severity_text.as_str())),
            fields.get("severity"),
            "record {i}: severity"
        );
        let expected_keys = fields.keys().filter(|k| !matches!(k.as_str(), "ts" | "severity")).count();
        assert_eq!(record.attributes.len(), expected_keys, "record {i}: attributes {:?}", record.attributes);
        for attribute in &record.attributes {
            let value = attribute.value.as_ref().and_then(|v| v.value.as_ref());
            let want = fields
                .get(&attribute.key)
                .unwrap_or_else(|| panic!("record {i}: attribute {} is no JSON Lines field", attribute.key));
            let ok = match (want, value) {
                (Value::String(s), Some(any_value::Value::StringValue(got))) => s == got,
                (Value::Number(n), Some(any_value::Value::IntValue(got))) => {
                    n.as_u64() == u64::try_from(*got).ok()
                }
                (Value::Number(n), Some(any_value::Value::StringValue(got))) => {
                    n.as_u64().is_some_and(|n| n > i64::MAX as u64 && got == &n.to_string())
                }
                (Value::Number(_) | Value::Null, Some(any_value::Value::DoubleValue(got))) => {
                    let rate = rates[i].expect("only progress has a float");
                    got.to_bits() == rate.to_bits()
                }
                _ => false,
            };
            assert!(
                ok,
                "record {i}: attribute {} is {value:?}, the JSON Lines field is {want}",
                attribute.key
            );
        }
    }

    let spans_expected = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind(),
                EventKind::TransformCompleted { .. }
                    | EventKind::ExternalCallCompleted { .. }
                    | EventKind::RunFinished { .. }
            )
        })
        .collect::<Vec<_>>();
    match exporter.encode_traces(&events) {
        None => {
            assert!(spans_expected.is_empty(), "no traces request for {} span events", spans_expected.len())
        }
        Some(traces) => {
            let bytes = traces.encode_to_vec();
            let back =
                ExportTraceServiceRequest::decode(bytes.as_slice()).expect("our own traces request decodes");
            assert_eq!(back.encode_to_vec(), bytes, "the traces request changes through a decode");
            let spans: Vec<_> =
                traces.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).collect();
            assert_eq!(spans.len(), spans_expected.len(), "one span per transform, call and finished run");
            for (span, event) in spans.iter().zip(spans_expected) {
                assert_eq!(span.trace_id, trace_id(event.run()).to_vec(), "span trace id");
                assert_eq!(span.end_time_unix_nano, event.at().as_nanos(), "span end");
                assert!(span.start_time_unix_nano <= span.end_time_unix_nano, "span starts after it ends");
            }
        }
    }
}

/// JSON equality, floats aside: serde_json's default float parser is
/// best-effort (exact parsing is its `float_roundtrip` feature), so a decoded
/// float says nothing exact about the encoder. Floats are checked on the raw
/// text instead, with Rust's exact parser (see `check`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => x.is_f64() && y.is_f64(),
        _ => a == b,
    }
}

/// The raw text of the value of `key` in a flat JSON object line.
fn raw_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &line[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(&rest[..end])
}
