//! A user's own event type, defined here and not in ringtel, through every
//! built-in exporter: JSON Lines parsed back equal, the console one line per
//! event, OTLP decoded by the real Python receiver with exact attribute
//! types, and Redis Streams read back with XRANGE equal.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::server::{free_port, require, servers_required, ServerProcess};
use ringtel::encoding::{serde_fields, Correlation, FieldVisitor, Severity, SpanId, TraceId};
use ringtel::exporters::otlp::OtlpExporter;
use ringtel::exporters::redis::RedisStreams;
use ringtel::exporters::{Console, JsonLines};
use ringtel::{Event, Exporter, Granularity, ManualClock, Telemetry, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The user's event: no time of its own (ringtel stamps it), every kind of
/// field the contract promises to keep exact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Trade {
    id: u64,
    delta: i64,
    price: f64,
    filled: bool,
    venue: String,
    tags: Vec<String>,
}

impl Event for Trade {
    fn granularity(&self) -> Granularity {
        Granularity::Rows
    }
    fn name(&self) -> &str {
        "trade"
    }
    fn severity(&self) -> Severity {
        if self.filled {
            Severity::Info
        } else {
            Severity::Warn
        }
    }
    fn correlation(&self) -> Correlation {
        Correlation { run: Some(9), trace_id: Some(TraceId([0xab; 16])), span_id: Some(SpanId([0xcd; 8])) }
    }
    fn fields(&self, out: &mut dyn FieldVisitor) {
        serde_fields(self, out)
    }
}

/// Quotes, a newline, a tab, a backslash and non-ASCII text.
const NASTY: &str = "say \"hi\"\nthen\tleave \\ — 日本語 ✓";

fn trades() -> Vec<Trade> {
    vec![
        Trade {
            id: u64::MAX,
            delta: i64::MIN,
            price: 0.1 + 0.2,
            filled: true,
            venue: NASTY.to_owned(),
            tags: vec!["a=b".to_owned(), NASTY.to_owned()],
        },
        Trade {
            id: 0,
            delta: i64::MAX,
            price: -1.5e300,
            filled: false,
            venue: String::new(),
            tags: Vec::new(),
        },
        Trade { id: 1 << 63, delta: -1, price: 42.0, filled: true, venue: "x".to_owned(), tags: vec![] },
    ]
}

/// When the test's manual clock says the consumer took the batch.
const TAKEN_AT: u64 = 1_700_000_000_123_456_789;

fn temp_path(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("user_event");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = fs::remove_file(&path);
    path
}

#[test]
fn json_lines_parse_back_equal_through_a_telemetry_that_stamps_them() {
    let path = temp_path("trades.jsonl");
    let clock = ManualClock::new(Timestamp::from_nanos(TAKEN_AT));
    let telemetry = Telemetry::<Trade>::builder()
        .clock(clock.clone())
        .exporter(JsonLines::create(&path).unwrap())
        .start()
        .unwrap();
    for trade in trades() {
        assert!(telemetry.emit(trade).is_queued());
    }
    let report = telemetry.close(Duration::from_secs(20)).unwrap();
    assert!(report.health().is_conserved());
    assert_eq!(report.health().delivered(), 3);

    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (line, trade) in lines.iter().zip(trades()) {
        // The user's own type reads its line back: unknown envelope keys
        // are ignored by serde, every field is exact.
        let back: Trade = serde_json::from_str(line).unwrap();
        assert_eq!(back.id, trade.id);
        assert_eq!(back.delta, trade.delta);
        assert_eq!(back.price.to_bits(), trade.price.to_bits());
        assert_eq!(back, trade);
        let json: Value = serde_json::from_str(line).unwrap();
        assert_eq!(json["event"], "trade");
        assert_eq!(json["ts"], TAKEN_AT, "stamped when the consumer took the batch");
        assert_eq!(json["severity"], if trade.filled { "INFO" } else { "WARN" });
        assert_eq!(json["run"], 9);
        assert_eq!(json["trace_id"], "ab".repeat(16));
        assert_eq!(json["span_id"], "cd".repeat(8));
        // The envelope first, then the fields in the struct's order.
        let order =
            ["ts", "run", "trace_id", "span_id", "event", "severity", "id", "delta", "price", "filled"];
        let at: Vec<usize> = order
            .iter()
            .map(|k| line.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("{k}: {line}")))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "keys out of order: {line}");
        assert_eq!(json.as_object().unwrap().len(), 12, "{line}");
    }
    // u64 above i64::MAX is a JSON integer, not a float or a string.
    assert!(lines[0].contains("\"id\":18446744073709551615"), "{}", lines[0]);
}

#[test]
fn console_writes_one_line_per_event_whatever_the_text() {
    let mut console = Console::new(Vec::new());
    console.export_taken(&trades(), Timestamp::from_nanos(TAKEN_AT)).unwrap();
    let text = String::from_utf8(console.get_ref().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("1700000000.123 INFO run=9 trade id=18446744073709551615 "), "{}", lines[0]);
    assert!(lines[0].contains(r#"venue="say \"hi\"\nthen\tleave \\ — 日本語 ✓""#), "{}", lines[0]);
    assert!(
        lines[1].starts_with("1700000000.123 WARN run=9 trade id=0 delta=9223372036854775807 "),
        "{}",
        lines[1]
    );
}

/// Starts the OTLP receiver script, or `None` (loudly) when it cannot run.
fn otlp_receiver(test: &str) -> Option<(ServerProcess, PathBuf, u16)> {
    let python = require("python3", test)?;
    let module = "opentelemetry.proto.collector.logs.v1.logs_service_pb2";
    let probe = Command::new(&python).args(["-c", &format!("import {module}")]).output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        assert!(!servers_required(), "{test}: opentelemetry-proto is not importable");
        eprintln!("SKIPPED {test}: the Python package opentelemetry-proto is not importable");
        return None;
    }
    let out = temp_path(&format!("{test}.otlp.jsonl"));
    let port = free_port();
    let mut command = Command::new(python);
    command
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/otlp_receiver.py"))
        .args(["--port", &port.to_string(), "--out"])
        .arg(&out)
        .args(["--status", "200"]);
    Some((ServerProcess::start("otlp_receiver", command, port), out, port))
}

#[test]
fn otlp_receiver_decodes_exact_attribute_types() {
    let test = "otlp_receiver_decodes_exact_attribute_types";
    let Some((_server, out, port)) = otlp_receiver(test) else { return };
    let mut exporter = OtlpExporter::builder(format!("http://127.0.0.1:{port}")).build().unwrap();
    exporter.export_taken(&trades(), Timestamp::from_nanos(TAKEN_AT)).unwrap();

    let text = fs::read_to_string(&out).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["signal"] == "log")
        .collect();
    assert_eq!(records.len(), 3, "{text}");
    let first = &records[0];
    assert_eq!(first["event_name"], "trade");
    assert_eq!(first["severity_text"], "INFO");
    assert_eq!(first["severity_number"], 9);
    assert_eq!(records[1]["severity_text"], "WARN");
    assert_eq!(first["time_unix_nano"], TAKEN_AT);
    assert_eq!(first["trace_id"], "ab".repeat(16));
    assert_eq!(first["span_id"], "cd".repeat(8));
    let attrs = &first["attributes"];
    // The receiver writes each attribute as the Python value of its OTLP
    // oneof: a string stays a string, an int an int, a double a double.
    assert_eq!(attrs["id"], u64::MAX.to_string(), "a u64 above i64::MAX is its exact decimal string");
    assert_eq!(attrs["delta"], i64::MIN);
    assert!(attrs["price"].is_f64(), "a double, not an integer: {}", attrs["price"]);
    assert_eq!(attrs["price"].as_f64().unwrap().to_bits(), (0.1f64 + 0.2).to_bits());
    assert_eq!(attrs["filled"], true);
    assert_eq!(attrs["venue"], NASTY);
    assert_eq!(attrs["tags"], serde_json::json!(["a=b", NASTY]), "a nested array stays an array");
    assert_eq!(attrs["event"], "trade");
    assert_eq!(attrs["run"], 9);
    assert_eq!(records[2]["attributes"]["id"], (1u64 << 63).to_string());
    assert_eq!(records[1]["attributes"]["delta"], i64::MAX);
    assert_eq!(records[1]["attributes"]["price"], -1.5e300);
}

fn start_redis(test: &str) -> Option<(ServerProcess, u16)> {
    let binary = require("redis-server", test)?;
    let port = free_port();
    let mut command = Command::new(binary);
    command.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
    Some((ServerProcess::start("redis-server", command, port), port))
}

#[test]
fn redis_stream_reads_back_equal_with_xrange() {
    let test = "redis_stream_reads_back_equal_with_xrange";
    let Some((_server, port)) = start_redis(test) else { return };
    let url = format!("redis://127.0.0.1:{port}");
    let mut exporter = RedisStreams::builder(url.as_str()).stream("trades").build().unwrap();
    exporter.export_taken(&trades(), Timestamp::from_nanos(TAKEN_AT)).unwrap();

    let mut connection = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
    let entries: Vec<(String, Vec<String>)> =
        redis::cmd("XRANGE").arg("trades").arg("-").arg("+").query(&mut connection).unwrap();
    assert_eq!(entries.len(), 3);
    for ((_, flat), trade) in entries.iter().zip(trades()) {
        let pairs: Vec<(&str, &str)> = flat.chunks(2).map(|kv| (kv[0].as_str(), kv[1].as_str())).collect();
        let map: BTreeMap<&str, &str> = pairs.iter().copied().collect();
        assert_eq!(map["event"], "trade");
        assert_eq!(map["ts"], TAKEN_AT.to_string());
        assert_eq!(map["id"], trade.id.to_string());
        assert_eq!(map["delta"], trade.delta.to_string());
        assert_eq!(map["price"].parse::<f64>().unwrap().to_bits(), trade.price.to_bits());
        assert_eq!(map["filled"], trade.filled.to_string());
        assert_eq!(map["venue"], trade.venue, "strings are stored as their text");
        assert_eq!(serde_json::from_str::<Vec<String>>(map["tags"]).unwrap(), trade.tags);
        // The entry holds exactly the JSON Lines object's keys, in its order.
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [
                "ts", "run", "trace_id", "span_id", "event", "severity", "id", "delta", "price", "filled",
                "venue", "tags"
            ]
        );
    }
}

/// A user event with a message, a field named like an envelope key, and a
/// span shape: a job that ran for a while.
#[derive(Debug, Clone, Serialize)]
struct JobDone {
    /// Collides with the envelope's `event` key.
    event: &'static str,
    rows: u64,
    #[serde(skip)]
    message: &'static str,
    #[serde(skip)]
    at: u64,
}

impl Event for JobDone {
    fn granularity(&self) -> Granularity {
        Granularity::Lifecycle
    }
    fn timestamp(&self) -> Option<Timestamp> {
        Some(Timestamp::from_nanos(self.at))
    }
    fn message(&self) -> Option<&str> {
        Some(self.message)
    }
    fn shape(&self) -> ringtel::encoding::Shape<'_> {
        ringtel::encoding::Shape::Span(ringtel::encoding::SpanRecord {
            name: "job",
            detail: Some(ringtel::encoding::FieldValue::Str(self.event)),
            kind: ringtel::encoding::SpanKind::Internal,
            duration_ns: 2_000,
            status: ringtel::encoding::SpanStatus::Error(ringtel::encoding::FieldValue::Str("boom")),
            id: SpanId([5; 8]),
            parent: None,
        })
    }
    fn fields(&self, out: &mut dyn FieldVisitor) {
        serde_fields(self, out)
    }
}

fn job(message: &'static str) -> JobDone {
    JobDone { event: "nightly", rows: 7, message, at: 10_000 }
}

#[test]
fn a_message_and_a_reserved_field_name_keep_their_places() {
    let forged = "retry status=ok\nsecond line";
    let mut console = Console::new(Vec::new());
    console.export_taken(&[job(forged)], Timestamp::EPOCH).unwrap();
    let line = String::from_utf8(console.get_ref().clone()).unwrap();
    assert_eq!(line, "0.000 INFO JobDone: \"retry status=ok\\nsecond line\" event=nightly rows=7\n");

    let path = temp_path("jobs.jsonl");
    let mut jsonl = JsonLines::create(&path).unwrap();
    jsonl.export_taken(&[job(forged)], Timestamp::EPOCH).unwrap();
    jsonl.close().unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 1);
    let json: Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(json["event"], "JobDone", "the envelope keeps its key");
    assert_eq!(json["field.event"], "nightly", "the colliding field is prefixed");
    assert_eq!(json["message"], forged);
    assert_eq!(json["ts"], 10_000, "the event's own time wins over the batch's");
}

#[test]
fn a_user_span_reaches_the_receiver_and_a_reused_request_holds_nothing_stale() {
    let test = "a_user_span_reaches_the_receiver_and_a_reused_request_holds_nothing_stale";
    let Some((_server, out, port)) = otlp_receiver(test) else { return };
    let mut exporter = OtlpExporter::builder(format!("http://127.0.0.1:{port}")).build().unwrap();
    // A batch of three trades, then one job (fewer events, other fields, a
    // message, a span), then three trades again: each request must carry
    // only its own batch's data.
    exporter.export_taken(&trades(), Timestamp::from_nanos(TAKEN_AT)).unwrap();
    exporter.export_taken(&[job("done")], Timestamp::from_nanos(TAKEN_AT)).unwrap();
    exporter.export_taken(&trades()[..2], Timestamp::from_nanos(TAKEN_AT)).unwrap();

    let text = fs::read_to_string(&out).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let logs: Vec<&Value> = lines.iter().filter(|l| l["signal"] == "log").collect();
    let spans: Vec<&Value> = lines.iter().filter(|l| l["signal"] == "span").collect();
    assert_eq!(logs.len(), 3 + 1 + 2, "{text}");
    let job_log = logs[3];
    assert_eq!(job_log["body"], "done");
    assert_eq!(job_log["event_name"], "JobDone");
    assert_eq!(job_log["span_id"], "05".repeat(8), "the log record carries its span's id");
    let attrs = job_log["attributes"].as_object().unwrap();
    let keys: Vec<&str> = attrs.keys().map(String::as_str).collect();
    assert_eq!(keys, ["event", "field.event", "rows"], "no attribute left from the trades before");
    assert_eq!(logs[4]["attributes"]["venue"], NASTY, "the next batch is whole again");
    assert_eq!(logs[5]["attributes"].as_object().unwrap().len(), 8);
    assert_eq!(spans.len(), 1, "{text}");
    let span = spans[0];
    assert_eq!(span["name"], "job nightly");
    assert_eq!(span["start_time_unix_nano"], 8_000);
    assert_eq!(span["end_time_unix_nano"], 10_000);
    assert_eq!(span["status"]["code"], 2);
    assert_eq!(span["status"]["message"], "boom");
    let trace = span["trace_id"].as_str().unwrap();
    assert_eq!(trace.len(), 32, "a span with no trace of its own still gets a valid trace id");
    assert_ne!(trace, "0".repeat(32));
}
