//! OTLP/HTTP export against a real receiver: `scripts/otlp_receiver.py`
//! decodes every request with the official `opentelemetry-proto` Python
//! package and records what it decoded, one JSON line per log record, span
//! and request. Checked: a known run's record counts, resolved attributes,
//! resource, trace ids from run ids, span parents and error status; a
//! default-size and a 4x batch, one whole request each; the gzip path; a
//! receiver answering 503 (typed retryable error, `ExportFailed`, breaker
//! opens, recovery); a receiver that is down (refused connection,
//! prompt close); a receiver that never answers (timeout on time). Nothing
//! waits by sleeping.

mod common;

use std::error::Error;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::{free_port, require, servers_required, ServerProcess};
use common::{close_losing_events, rows, PATIENCE};
use ringtel::exporters::otlp::{run_span_id, trace_id, OtlpExporter, OtlpStatusError};
use ringtel::pipeline::{
    CallKind, CallStatus, CallVolume, GateDecision, Names, Phase, PipelineEvent, RowId, RunContext, RunId,
    RunStatus, TokenId, TokenOutcome, TransformOutcome,
};
use ringtel::{
    BreakerConfig, BreakerState, CloseError, DropReason, ExportErrorKind, Exporter, ExporterOptions,
    Granularity, ManualClock, Telemetry, Timestamp,
};
use serde_json::Value;

/// The Python module the receiver decodes with.
const PROTO_MODULE: &str = "opentelemetry.proto.collector.logs.v1.logs_service_pb2";

/// Span status codes (`opentelemetry.proto.trace.v1.Status.StatusCode`).
const STATUS_UNSET: i64 = 0;
const STATUS_ERROR: i64 = 2;

/// A running receiver, the file it records to, and its port.
struct Receiver {
    _server: ServerProcess,
    out: PathBuf,
    port: u16,
    /// For an https receiver: its self-signed certificate (PEM).
    certificate: Option<PathBuf>,
}

impl Receiver {
    /// Starts the receiver for `test`, answering `status`; `None` (after a
    /// loud SKIPPED line) when python3 or the proto package is missing,
    /// unless servers are required.
    fn start(test: &str, status: u16) -> Option<Receiver> {
        Receiver::start_with(test, status, false)
    }

    /// An https receiver with a fresh self-signed certificate for 127.0.0.1.
    fn start_tls(test: &str) -> Option<Receiver> {
        // The receiver makes its certificate with the openssl command.
        require("openssl", test)?;
        Receiver::start_with(test, 200, true)
    }

    fn start_with(test: &str, status: u16, tls: bool) -> Option<Receiver> {
        let python = require("python3", test)?;
        let probe = Command::new(&python).args(["-c", &format!("import {PROTO_MODULE}")]).output();
        if !probe.as_ref().is_ok_and(|o| o.status.success()) {
            // The last line of a traceback says what failed to import.
            let why = probe.map_or_else(
                |e| e.to_string(),
                |o| String::from_utf8_lossy(&o.stderr).trim().lines().last().unwrap_or("").to_owned(),
            );
            let message = format!(
                "{test}: the Python package `opentelemetry-proto` is not importable \
                 (pip install opentelemetry-proto): {}",
                why.trim()
            );
            assert!(!servers_required(), "{message}, and RINGTEL_REQUIRE_SERVERS=1 forbids skipping");
            eprintln!("SKIPPED {message} (set RINGTEL_REQUIRE_SERVERS=1 to make this fail)");
            return None;
        }
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("otlp");
        fs::create_dir_all(&dir).unwrap();
        let out = dir.join(format!("{test}.jsonl"));
        let _ = fs::remove_file(&out);
        let port = free_port();
        let mut command = Command::new(python);
        command
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/otlp_receiver.py"))
            .arg("--port")
            .arg(port.to_string())
            .arg("--out")
            .arg(&out)
            .arg("--status")
            .arg(status.to_string());
        let tls_dir = dir.join(format!("{test}-tls"));
        if tls {
            let _ = fs::remove_dir_all(&tls_dir);
            command.arg("--tls-dir").arg(&tls_dir);
        }
        // The receiver writes its certificate before it listens.
        let server = ServerProcess::start("otlp_receiver", command, port);
        let certificate = tls.then(|| tls_dir.join("cert.pem"));
        Some(Receiver { _server: server, out, port, certificate })
    }

    fn endpoint(&self) -> String {
        let scheme = if self.certificate.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Every line recorded so far. The receiver writes a request's records,
    /// then its `request` line, before it answers; so after `export`
    /// returns, everything it sent is here.
    fn lines(&self) -> Vec<Value> {
        let text = fs::read_to_string(&self.out).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    fn signal(&self, signal: &str) -> Vec<Value> {
        self.lines().into_iter().filter(|l| l["signal"] == signal).collect()
    }

    /// Makes the receiver answer `status` from now on.
    fn set_status(&self, status: u16) {
        let url = format!("{}/control/status", self.endpoint());
        let mut response = ureq::post(&url).send(status.to_string()).expect("control request");
        assert_eq!(response.body_mut().read_to_string().unwrap(), "ok\n");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A known run: 9 rows (every third transform fails, every row is gated and
/// completed), one LLM call and one timed-out HTTP call, then `RunFinished`.
/// Returns the events and the number of events with durations (spans).
fn known_run(names: &Names, run: RunContext<'_>, clock: &ManualClock) -> (Vec<PipelineEvent>, usize) {
    let (node, plugin, gate, sink) = (
        names.intern("enrich"),
        names.intern("llm_enricher"),
        names.intern("router"),
        names.intern("warehouse"),
    );
    let error = names.intern("rate_limited");
    let mut events = vec![
        PipelineEvent::run_started(run, names.intern("demo")),
        PipelineEvent::phase_changed(run, Phase::Process),
    ];
    let mut spans = 0;
    for i in 0..9 {
        clock.advance(Duration::from_millis(1));
        let (row, token) = (RowId::new(i), TokenId::new(i));
        events.push(PipelineEvent::row_created(run, row, token));
        let outcome =
            if i % 3 == 0 { TransformOutcome::Failed { error } } else { TransformOutcome::Succeeded };
        events.push(PipelineEvent::transform_completed(
            run,
            row,
            token,
            node,
            plugin,
            Duration::from_micros(500),
            outcome,
        ));
        spans += 1;
        events.push(PipelineEvent::gate_evaluated(run, row, token, gate, GateDecision::Continue));
        let done = if i % 3 == 0 { TokenOutcome::Failed } else { TokenOutcome::Completed };
        events.push(PipelineEvent::token_completed(run, row, token, done, (i % 3 != 0).then_some(sink)));
    }
    events.push(PipelineEvent::external_call_completed(
        run,
        TokenId::new(1),
        CallKind::Llm,
        names.intern("openai"),
        Duration::from_millis(850),
        CallStatus::Ok,
        CallVolume::Tokens { prompt: 120, completion: 40 },
    ));
    events.push(PipelineEvent::external_call_completed(
        run,
        TokenId::new(2),
        CallKind::Http,
        names.intern("geo_api"),
        Duration::from_millis(30),
        CallStatus::TimedOut,
        CallVolume::None,
    ));
    spans += 2;
    clock.advance(Duration::from_millis(1));
    events.push(PipelineEvent::run_finished(run, RunStatus::Completed, 9, Duration::from_secs(1)));
    spans += 1;
    (events, spans)
}

#[test]
fn a_known_run_arrives_with_names_resource_trace_ids_and_span_status() {
    let test = "a_known_run_arrives_with_names_resource_trace_ids_and_span_status";
    let Some(receiver) = Receiver::start(test, 200) else { return };
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(1_700_000_000_000_000_000));
    let exporter = OtlpExporter::builder(receiver.endpoint())
        .names(Arc::clone(&names))
        .service_name("ringtel-test")
        .resource_attribute("deployment.environment", "ci")
        .header("x-api-key", "k-123")
        .build()
        .unwrap();
    let telemetry = Telemetry::<PipelineEvent>::builder()
        .clock(clock.clone())
        .granularity(Granularity::Full)
        .batch_size(16)
        .exporter(exporter)
        .start()
        .unwrap();

    let (events, spans) = known_run(&names, RunContext::new(RunId::new(42), &clock), &clock);
    // A second, short run: its records must carry its own trace id.
    let other = RunContext::new(RunId::new(43), &clock);
    let other_events = vec![
        PipelineEvent::run_started(other, names.intern("other")),
        PipelineEvent::run_finished(other, RunStatus::Failed, 0, Duration::from_millis(5)),
    ];
    for &event in events.iter().chain(&other_events) {
        let _ = telemetry.emit(event);
    }
    let report = telemetry.close(PATIENCE).unwrap();
    let health = report.health();
    let total = (events.len() + other_events.len()) as u64;
    assert_eq!((health.offered(), health.delivered()), (total, total), "{health}");
    assert_eq!(health.exporters()[0].failures(), 0, "{health}");

    // Log records: one per event, names resolved, resource and trace ids.
    let logs = receiver.signal("log");
    assert_eq!(logs.len() as u64, total);
    for log in &logs {
        let resource = &log["resource"];
        assert_eq!(resource["service.name"], "ringtel-test");
        assert_eq!(resource["deployment.environment"], "ci");
        assert_eq!(resource["telemetry.sdk.name"], "ringtel");
        assert_eq!(log["scope"]["name"], "ringtel");
        let run = log["attributes"]["run"].as_u64().unwrap();
        assert_eq!(log["trace_id"], hex(&trace_id(RunId::new(run))));
    }
    let of_run = |run: u64| logs.iter().filter(|l| l["attributes"]["run"] == run).count();
    assert_eq!((of_run(42), of_run(43)), (events.len(), other_events.len()));
    assert_eq!(hex(&trace_id(RunId::new(42))), "72696e6774656c00000000000000002a");

    // Order within the run is emit order.
    let kinds: Vec<&str> = logs.iter().map(|l| l["attributes"]["event"].as_str().unwrap()).collect();
    let expected: Vec<&str> = events.iter().chain(&other_events).map(PipelineEvent::name).collect();
    assert_eq!(kinds, expected);

    let transforms: Vec<&Value> =
        logs.iter().filter(|l| l["attributes"]["event"] == "transform_completed").collect();
    assert_eq!(transforms.len(), 9);
    for t in &transforms {
        let attrs = &t["attributes"];
        assert_eq!(
            (attrs["node"].as_str(), attrs["plugin"].as_str()),
            (Some("enrich"), Some("llm_enricher"))
        );
        assert_eq!(attrs["duration_ns"], 500_000);
        let failed = attrs["row"].as_u64().unwrap() % 3 == 0;
        assert_eq!(attrs["outcome"], if failed { "failed" } else { "succeeded" });
        assert_eq!(attrs["error"].as_str(), failed.then_some("rate_limited"));
        assert_eq!(t["severity_text"], if failed { "ERROR" } else { "INFO" });
        assert_eq!(t["span_id"].as_str().unwrap().len(), 16, "a span's log record names the span");
    }
    let call = logs.iter().find(|l| l["attributes"]["event"] == "external_call_completed").unwrap();
    assert_eq!(call["attributes"]["provider"], "openai");
    assert_eq!(call["attributes"]["prompt_tokens"], 120);
    let started = logs.iter().find(|l| l["attributes"]["event"] == "run_started").unwrap();
    assert_eq!(started["attributes"]["pipeline"], "demo");
    assert_eq!(started["time_unix_nano"], 1_700_000_000_000_000_000u64);
    assert!(started["body"].as_str().unwrap().contains("run=42 run_started pipeline=demo"), "{started}");

    // Spans: transforms, calls and the run's root span, with error status
    // on failures and the run span as parent.
    let spans_seen = receiver.signal("span");
    assert_eq!(spans_seen.len(), spans + 1, "run 43's RunFinished is a span too");
    let root = hex(&run_span_id(RunId::new(42)));
    let of_42: Vec<&Value> = spans_seen.iter().filter(|s| s["attributes"]["run"] == 42).collect();
    for span in &of_42 {
        assert_eq!(span["trace_id"], hex(&trace_id(RunId::new(42))));
        assert_eq!(span["resource"]["service.name"], "ringtel-test");
        if span["name"] == "run" {
            assert_eq!((span["span_id"].as_str(), span["parent_span_id"].as_str()), (Some(&*root), Some("")));
        } else {
            assert_eq!(span["parent_span_id"], root);
        }
        let (start, end) =
            (span["start_time_unix_nano"].as_u64().unwrap(), span["end_time_unix_nano"].as_u64());
        assert_eq!(Some(start + span["attributes"]["duration_ns"].as_u64().unwrap()), end);
    }
    let transform_spans: Vec<&&Value> = of_42.iter().filter(|s| s["name"] == "transform enrich").collect();
    assert_eq!(transform_spans.len(), 9);
    for span in transform_spans {
        let failed = span["attributes"]["row"].as_u64().unwrap() % 3 == 0;
        let status = &span["status"];
        if failed {
            assert_eq!(
                (status["code"].as_i64(), status["message"].as_str()),
                (Some(STATUS_ERROR), Some("rate_limited"))
            );
        } else {
            assert_eq!(status["code"], STATUS_UNSET);
        }
        assert_eq!(span["kind"], 1, "SPAN_KIND_INTERNAL");
    }
    let status_of =
        |name: &str| of_42.iter().find(|s| s["name"] == name).map(|s| s["status"]["code"].clone());
    assert_eq!(status_of("llm openai"), Some(STATUS_UNSET.into()));
    assert_eq!(status_of("http geo_api"), Some(STATUS_ERROR.into()));
    assert_eq!(status_of("run"), Some(STATUS_UNSET.into()));
    let failed_run = spans_seen.iter().find(|s| s["attributes"]["run"] == 43).unwrap();
    assert_eq!(
        (failed_run["status"]["code"].as_i64(), failed_run["status"]["message"].as_str()),
        (Some(STATUS_ERROR), Some("failed"))
    );

    // Requests: protobuf, no gzip, the configured header.
    let requests = receiver.signal("request");
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(request["status"], 200);
        assert_eq!(request["content_type"], "application/x-protobuf");
        assert_eq!(request["content_encoding"], "");
        assert_eq!(request["headers"]["x-api-key"], "k-123");
    }
}

#[test]
fn https_with_the_receivers_root_delivers_and_an_unknown_certificate_is_refused() {
    let test = "https_with_the_receivers_root_delivers_and_an_unknown_certificate_is_refused";
    let Some(receiver) = Receiver::start_tls(test) else { return };
    let certificate = fs::read(receiver.certificate.as_ref().unwrap()).expect("the receiver's certificate");
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(1_000_000_000));
    let (events, spans) = known_run(&names, RunContext::new(RunId::new(9), &clock), &clock);

    // Trusting the receiver's own certificate: delivered over TLS.
    let mut exporter = OtlpExporter::builder(receiver.endpoint())
        .names(Arc::clone(&names))
        .tls_root_certificates_pem(certificate)
        .build()
        .unwrap();
    exporter.export(&events).unwrap();
    assert_eq!(receiver.signal("log").len(), events.len());
    assert_eq!(receiver.signal("span").len(), spans);

    // The bundled Mozilla roots do not know a self-signed certificate: a
    // typed transport error, not retryable (trying again will not help).
    let mut stranger = OtlpExporter::builder(receiver.endpoint()).names(Arc::clone(&names)).build().unwrap();
    let err = stranger.export(&events).unwrap_err();
    assert_eq!((err.kind(), err.is_retryable()), (ExportErrorKind::Transport, false), "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");
    assert_eq!(receiver.signal("log").len(), events.len(), "nothing more arrived");

    // Root certificates that are not PEM certificates are a typed config error.
    let err = OtlpExporter::builder(receiver.endpoint())
        .names(Arc::clone(&names))
        .tls_root_certificates_pem("not a certificate")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("tls_root_certificates_pem"), "{err}");
}

/// A batch of ringtel's default size, and one four times larger (what a
/// user who raises `batch_size` for a cheap exporter sends), each arrive as
/// one request the receiver decodes whole, records in order.
#[test]
fn default_and_large_batches_arrive_whole_in_one_request_each() {
    let test = "default_and_large_batches_arrive_whole_in_one_request_each";
    let Some(receiver) = Receiver::start(test, 200) else { return };
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(1_700_000_000_000_000_000));
    let mut exporter = OtlpExporter::builder(receiver.endpoint()).names(Arc::clone(&names)).build().unwrap();
    let run = RunContext::new(RunId::new(7), &clock);
    let (default, large) = (ringtel::DEFAULT_BATCH_SIZE as u64, 4 * ringtel::DEFAULT_BATCH_SIZE as u64);
    exporter.export(&rows(run, 0..default)).expect("a default-size batch is accepted");
    exporter.export(&rows(run, default..default + large)).expect("a 4x batch is accepted");

    let requests: Vec<Value> =
        receiver.signal("request").into_iter().filter(|r| r["path"] == "/v1/logs").collect();
    assert_eq!(requests.len(), 2, "one logs request per batch: {requests:?}");
    for request in &requests {
        assert_eq!(request["status"], 200, "{request}");
    }
    let logs = receiver.signal("log");
    assert_eq!(logs.len() as u64, default + large);
    for (i, log) in logs.iter().enumerate() {
        assert_eq!(log["attributes"]["row"], i as u64, "record {i}");
    }
}

#[test]
fn gzip_requests_decode_to_the_same_records() {
    let test = "gzip_requests_decode_to_the_same_records";
    let Some(receiver) = Receiver::start(test, 200) else { return };
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(1_000_000_000));
    let mut exporter =
        OtlpExporter::builder(receiver.endpoint()).names(Arc::clone(&names)).gzip(true).build().unwrap();
    let (events, spans) = known_run(&names, RunContext::new(RunId::new(7), &clock), &clock);
    exporter.export(&events).unwrap();
    Exporter::<PipelineEvent>::flush(&mut exporter).unwrap();
    let stats = exporter.stats();
    assert_eq!(
        (stats.batches, stats.log_records, stats.spans, stats.requests),
        (1, events.len() as u64, spans as u64, 2)
    );
    exporter.close();
    let err = exporter.export(&events).unwrap_err();
    assert_eq!(err.to_string(), "export error: otlp exporter is closed");

    let requests = receiver.signal("request");
    let paths: Vec<&str> = requests.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/v1/logs", "/v1/traces"]);
    for request in &requests {
        assert_eq!(
            (request["status"].as_u64(), request["content_encoding"].as_str()),
            (Some(200), Some("gzip"))
        );
    }
    let sent: u64 = requests.iter().map(|r| r["bytes"].as_u64().unwrap()).sum();
    assert_eq!(sent, stats.bytes_sent, "the gzipped bytes are what was sent");
    let logs = receiver.signal("log");
    assert_eq!(logs.len(), events.len());
    assert!(logs.iter().all(|l| l["trace_id"] == hex(&trace_id(RunId::new(7)))));
    assert_eq!(receiver.signal("span").len(), spans);
}

#[test]
fn a_receiver_answering_503_is_retryable_counted_opens_the_breaker_and_recovers() {
    let test = "a_receiver_answering_503_is_retryable_counted_opens_the_breaker_and_recovers";
    let Some(receiver) = Receiver::start(test, 503) else { return };
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(1_000_000_000));
    let run = RunContext::new(RunId::new(1), &clock);
    let row = |i| PipelineEvent::row_created(run, RowId::new(i), TokenId::new(i));

    // The typed error, straight from the exporter.
    let mut direct = OtlpExporter::builder(receiver.endpoint()).names(Arc::clone(&names)).build().unwrap();
    let err = direct.export(&[row(0)]).unwrap_err();
    assert_eq!((err.kind(), err.is_retryable()), (ExportErrorKind::Rejected, true), "{err}");
    let status = err.source().and_then(|s| s.downcast_ref::<OtlpStatusError>()).expect("status source");
    assert_eq!((status.status(), status.url()), (503, direct.logs_url()));
    // A 400 is not worth retrying.
    receiver.set_status(400);
    let err = direct.export(&[row(0)]).unwrap_err();
    assert_eq!((err.kind(), err.is_retryable()), (ExportErrorKind::Rejected, false), "{err}");
    receiver.set_status(503);

    // Through ringtel: failures counted, the breaker opens, then a trial
    // after the cooldown succeeds once the receiver recovers.
    let breaker = BreakerConfig {
        open_after: 2,
        cooldown: Duration::from_secs(1),
        max_cooldown: Duration::from_secs(8),
    };
    let exporter = OtlpExporter::builder(receiver.endpoint()).names(Arc::clone(&names)).build().unwrap();
    let telemetry = Telemetry::<PipelineEvent>::builder()
        .clock(clock.clone())
        .exporter_with(exporter, ExporterOptions { breaker: Some(breaker), export_timeout: None })
        .start()
        .unwrap();
    for i in 0..2 {
        let _ = telemetry.emit(row(i));
        let _ = telemetry.flush(PATIENCE);
    }
    let health = telemetry.health();
    let exporter = &health.exporters()[0];
    let BreakerState::Open { next_trial, .. } = exporter.breaker() else { panic!("{health}") };
    assert_eq!((exporter.failures(), exporter.breaker_opened()), (2, 1));
    assert!(exporter.last_error().unwrap().message.contains("http status 503"), "{health}");
    assert_eq!(health.dropped(DropReason::ExportFailed), 2);
    let requests_while_closed = receiver.signal("request").len();

    // Open: skipped without a request.
    let _ = telemetry.emit(row(2));
    assert!(telemetry.flush(PATIENCE).is_err());
    assert_eq!(receiver.signal("request").len(), requests_while_closed, "no request while open");

    receiver.set_status(200);
    clock.set(next_trial);
    let _ = telemetry.emit(row(3));
    telemetry.flush(PATIENCE).unwrap();
    let health = close_losing_events(&telemetry, PATIENCE).health().clone();
    assert_eq!(health.exporters()[0].breaker(), BreakerState::Closed { consecutive_failures: 0 });
    assert_eq!((health.delivered(), health.dropped(DropReason::ExportFailed)), (1, 3));
    assert!(health.is_conserved());
    let rows: Vec<u64> =
        receiver.signal("log").iter().map(|l| l["attributes"]["row"].as_u64().unwrap()).collect();
    assert_eq!(rows, [3]);
}

#[test]
fn a_receiver_that_is_down_is_a_transport_error_and_close_is_on_time() {
    // Nothing listens on this port: every connection is refused.
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(1_000_000_000));
    let run = RunContext::new(RunId::new(1), &clock);
    let row = |i| PipelineEvent::row_created(run, RowId::new(i), TokenId::new(i));

    let mut direct = OtlpExporter::builder(&endpoint).names(Arc::clone(&names)).build().unwrap();
    let err = direct.export(&[row(0)]).unwrap_err();
    assert_eq!((err.kind(), err.is_retryable()), (ExportErrorKind::Transport, true), "{err}");
    let source = err.source().and_then(|s| s.downcast_ref::<ureq::Error>()).expect("the ureq error");
    assert!(
        matches!(source, ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{source:?}"
    );

    let breaker = BreakerConfig { open_after: 2, ..BreakerConfig::default() };
    let exporter = OtlpExporter::builder(&endpoint)
        .names(Arc::clone(&names))
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let telemetry = Telemetry::<PipelineEvent>::builder()
        .clock(clock.clone())
        .exporter_with(exporter, ExporterOptions { breaker: Some(breaker), export_timeout: None })
        .start()
        .unwrap();
    for i in 0..2 {
        let _ = telemetry.emit(row(i));
        let _ = telemetry.flush(PATIENCE);
    }
    assert!(matches!(telemetry.health().exporters()[0].breaker(), BreakerState::Open { .. }));
    for i in 2..10 {
        let _ = telemetry.emit(row(i));
    }
    let deadline = Duration::from_secs(5);
    let started = Instant::now();
    let outcome = telemetry.close(deadline);
    let took = started.elapsed();
    assert!(took <= deadline + Duration::from_millis(500), "close took {took:?}");
    let Err(CloseError::EventsLost { report }) = outcome else { panic!("{outcome:?}") };
    let health = report.health();
    assert_eq!(health.dropped(DropReason::ExportFailed), 10, "{health}");
    assert_eq!(health.delivered(), 0);
    assert!(health.is_conserved());
    let exporter = &health.exporters()[0];
    assert_eq!(exporter.breaker_opened(), 1);
    assert!(exporter.last_error().unwrap().message.contains("transport error"), "{health}");
}

#[test]
fn a_receiver_that_never_answers_times_out_on_time() {
    // Connections complete in the kernel's backlog, but nothing ever
    // accepts or answers them.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(1_000_000_000));
    let run = RunContext::new(RunId::new(1), &clock);
    let timeout = Duration::from_millis(300);
    let mut exporter = OtlpExporter::builder(endpoint).names(names).timeout(timeout).build().unwrap();
    let started = Instant::now();
    let err =
        exporter.export(&[PipelineEvent::row_created(run, RowId::new(1), TokenId::new(1))]).unwrap_err();
    let took = started.elapsed();
    assert_eq!((err.kind(), err.is_retryable()), (ExportErrorKind::Timeout, true), "{err}");
    assert!(took >= timeout - Duration::from_millis(50), "gave up early: {took:?}");
    assert!(took < timeout + Duration::from_secs(2), "hung past the timeout: {took:?}");
    drop(silent);
}
