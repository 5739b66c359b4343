//! Prometheus exposition (issue 9): exact values for a known run, `promtool
//! check metrics`, the scrape endpoint's HTTP behaviour, and a real
//! Prometheus server scraping it on loopback.

mod common;

use std::collections::BTreeMap;
use std::error::Error;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::{free_port, require, ServerProcess};
use common::{close_losing_events, Ev, Probe, PATIENCE};
use ringtel::prometheus::{
    render, render_text, HealthCollector, MetricsServer, CONTENT_TYPE, METRICS_PATH, TEXT_CONTENT_TYPE,
};
use ringtel::{Clock, DropReason, Emitted, Granularity, Health, ManualClock, Telemetry, Timestamp};

/// A user-chosen exporter name holding every character the text formats
/// must escape in a label value.
const AWKWARD_NAME: &str = "bad \"exporter\" \\ with\nnewline";

/// What the Accept header of Prometheus 2.x scrapes looks like.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// A closed telemetry with a known outcome: 3 events delivered (one per
/// batch) to `good` while the failing exporter (named [`AWKWARD_NAME`])
/// fails each batch, 2 filtered, 4 dropped as `Closed`; then the clock moves
/// 2.5 s past the consumer's last heartbeat.
struct KnownRun {
    telemetry: Telemetry<Ev>,
    clock: ManualClock,
    health: Health,
}

fn known_run() -> KnownRun {
    let clock = ManualClock::new(Timestamp::from_nanos(1_000_000_000_000));
    let (good, _good_control) = Probe::new("good");
    let (bad, bad_control) = Probe::new(AWKWARD_NAME);
    bad_control.fail.store(true, Ordering::SeqCst);
    let telemetry = Telemetry::<Ev>::builder()
        .capacity(8)
        .clock(clock.clone())
        .exporter(good)
        .exporter(bad)
        .start()
        .expect("start");
    for seq in 0..3 {
        assert_eq!(telemetry.emit(Ev::row(0, seq)), Emitted::Queued);
        // One event per batch, so the batch counts are exact.
        telemetry.flush(PATIENCE).expect("flush");
    }
    telemetry.set_granularity(Granularity::Lifecycle);
    for seq in 3..5 {
        assert_eq!(telemetry.emit(Ev::row(0, seq)), Emitted::Filtered);
    }
    // The failing exporter lost every batch: the close says so.
    close_losing_events(&telemetry, PATIENCE);
    for seq in 5..9 {
        assert_eq!(telemetry.emit(Ev::lifecycle(0, seq)), Emitted::Dropped(DropReason::Closed));
    }
    let health = telemetry.health();
    assert!(health.is_conserved(), "{health}");
    assert_eq!(health.last_heartbeat(), Some(clock.now()), "the clock has not moved yet");
    clock.advance(Duration::from_millis(2_500));
    KnownRun { telemetry, clock, health }
}

/// The exposition's samples of a known run, as `(series, value)` with the
/// exporter label values unescaped. Checked against the rendering and
/// against what Prometheus stores.
fn expected_series(health: &Health) -> Vec<(String, f64)> {
    let id = |name: &str| {
        health.exporters().iter().find(|e| e.name() == name).map(|e| e.id().get()).expect("exporter")
    };
    let (good, bad) = (id("good"), id(AWKWARD_NAME));
    let exporter = |name: &str, id: u64| format!("exporter={name:?},exporter_id=\"{id}\"");
    let (good, bad) = (exporter("good", good), exporter(AWKWARD_NAME, bad));
    let mut series: Vec<(String, f64)> = vec![
        ("ringtel_events_offered_total".into(), 9.0),
        ("ringtel_events_filtered_total".into(), 2.0),
        ("ringtel_events_accepted_total".into(), 3.0),
        ("ringtel_events_delivered_total".into(), 3.0),
        ("ringtel_events_in_flight".into(), 0.0),
        ("ringtel_queue_length".into(), 0.0),
        ("ringtel_queue_capacity".into(), 8.0),
        ("ringtel_blocked_producers".into(), 0.0),
        ("ringtel_consumer_state{state=\"running\"}".into(), 0.0),
        ("ringtel_consumer_state{state=\"stopped\"}".into(), 1.0),
        ("ringtel_consumer_state{state=\"dead\"}".into(), 0.0),
        ("ringtel_consumer_heartbeat_age_seconds".into(), 2.5),
        ("ringtel_consumer_last_heartbeat_timestamp_seconds".into(), 1000.0),
        ("ringtel_total_failure".into(), 0.0),
        ("ringtel_truncated_fields_total".into(), 0.0),
        ("ringtel_truncated_bytes_total".into(), 0.0),
    ];
    for reason in DropReason::ALL {
        let count = if reason == DropReason::Closed { 4.0 } else { 0.0 };
        series.push((format!("ringtel_events_dropped_total{{reason=\"{reason}\"}}"), count));
    }
    let per_exporter: [(&str, f64, f64); 9] = [
        ("ringtel_exporter_events_exported_total", 3.0, 0.0),
        ("ringtel_exporter_batches_exported_total", 3.0, 0.0),
        ("ringtel_exporter_failures_total", 0.0, 3.0),
        ("ringtel_exporter_panics_total", 0.0, 0.0),
        ("ringtel_exporter_flush_failures_total", 0.0, 0.0),
        ("ringtel_exporter_skipped_batches_total", 0.0, 0.0),
        ("ringtel_exporter_skipped_events_total", 0.0, 0.0),
        ("ringtel_exporter_breaker_opened_total", 0.0, 0.0),
        ("ringtel_exporter_consecutive_failures", 0.0, 3.0),
    ];
    for (name, good_value, bad_value) in per_exporter {
        series.push((format!("{name}{{{good}}}"), good_value));
        series.push((format!("{name}{{{bad}}}"), bad_value));
    }
    for labels in [&good, &bad] {
        for (state, value) in [("closed", 1.0), ("open", 0.0), ("half_open", 0.0)] {
            series.push((format!("ringtel_exporter_breaker_state{{{labels},state=\"{state}\"}}"), value));
        }
        for (state, value) in
            [("active", 0.0), ("hung", 0.0), ("removing", 0.0), ("closed", 1.0), ("close_failed", 0.0)]
        {
            series.push((format!("ringtel_exporter_state{{{labels},state=\"{state}\"}}"), value));
        }
    }
    series
}

/// `series` as it appears in the text formats: Rust's `{:?}` escaping of the
/// label values above (`\"`, `\\`, `\n`) is exactly the exposition's.
fn sample_line(series: &str, value: f64) -> String {
    if value.fract() == 0.0 && !series.contains("seconds") {
        format!("{series} {value}")
    } else {
        format!("{series} {value:?}")
    }
}

#[test]
fn a_known_run_renders_its_exact_counts() {
    let run = known_run();
    let text = render(&run.health, run.clock.now());
    let expected = expected_series(&run.health);
    for (series, value) in &expected {
        let line = sample_line(series, *value);
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
    let samples = text.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(samples, expected.len(), "{text}");
    assert!(text.contains("# TYPE ringtel_events_offered counter\n"), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");

    let classic = render_text(&run.health, run.clock.now());
    for (series, value) in &expected {
        let line = sample_line(series, *value);
        assert!(classic.lines().any(|l| l == line), "missing `{line}` in:\n{classic}");
    }
    assert!(classic.contains("# TYPE ringtel_events_offered_total counter\n"), "{classic}");
    assert!(!classic.contains("# EOF") && !classic.contains("# UNIT"), "{classic}");
}

/// Runs `promtool check metrics` with `text` on stdin.
fn promtool_check(promtool: &PathBuf, text: &str) -> (Option<i32>, String) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write to promtool");
    let output = child.wait_with_output().expect("promtool output");
    let report =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code(), report)
}

#[test]
fn promtool_accepts_the_exposition() {
    let Some(promtool) = require("promtool", "promtool_accepts_the_exposition") else { return };
    let run = known_run();

    // The classic format passes parsing and every lint.
    let classic = render_text(&run.health, run.clock.now());
    let (code, report) = promtool_check(&promtool, &classic);
    assert_eq!(code, Some(0), "promtool rejected:\n{report}\n{classic}");
    assert!(report.trim().is_empty(), "{report}");

    // promtool has no OpenMetrics parser: it reads the OpenMetrics text as
    // classic text, which parses (escaped label values included, exit code 3
    // is lint only), and its only complaint is that each OpenMetrics counter
    // `x` (samples `x_total`) has no help under the name `x_total`.
    let openmetrics = render(&run.health, run.clock.now());
    let (code, report) = promtool_check(&promtool, &openmetrics);
    assert!(matches!(code, Some(0 | 3)), "promtool could not parse:\n{report}\n{openmetrics}");
    for problem in report.lines() {
        assert!(problem.ends_with("_total no help text"), "unexpected lint `{problem}` in:\n{report}");
    }
}

/// A response: status, headers (lowercase names), body.
#[derive(Debug)]
struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A hand-written HTTP/1.0 request (the crate has no HTTP client dependency
/// under this feature); the server closes the connection after answering.
fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    accept: Option<&str>,
) -> Result<HttpResponse, Box<dyn Error>> {
    let mut stream = TcpStream::connect_timeout(&addr, PATIENCE)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.set_write_timeout(Some(PATIENCE))?;
    let accept = accept.map_or_else(String::new, |a| format!("Accept: {a}\r\n"));
    write!(stream, "{method} {target} HTTP/1.0\r\nHost: {addr}\r\n{accept}\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let raw = String::from_utf8(raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").ok_or("no end of headers")?;
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).ok_or("no status line")?.parse()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(HttpResponse { status, headers, body: body.to_owned() })
}

fn serve_known_run(run: &KnownRun) -> MetricsServer {
    let telemetry = run.telemetry.clone();
    let collector = HealthCollector::new(move || telemetry.health(), run.clock.clone());
    MetricsServer::bind("127.0.0.1:0", collector).expect("bind the metrics endpoint")
}

#[test]
fn the_endpoint_negotiates_the_format_and_answers_other_requests_plainly() {
    let run = known_run();
    let server = serve_known_run(&run);
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    assert_eq!(server.url(), format!("http://{addr}/metrics"));

    let scrape = http(addr, "GET", METRICS_PATH, Some(PROMETHEUS_ACCEPT)).unwrap();
    assert_eq!(scrape.status, 200);
    assert_eq!(scrape.header("content-type"), Some(CONTENT_TYPE));
    assert_eq!(scrape.body, render(&run.health, run.clock.now()));

    let plain = http(addr, "GET", "/metrics?debug=1", None).unwrap();
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-type"), Some(TEXT_CONTENT_TYPE));
    assert_eq!(plain.body, render_text(&run.health, run.clock.now()));

    let head = http(addr, "HEAD", METRICS_PATH, None).unwrap();
    assert_eq!((head.status, head.body.as_str()), (200, ""));

    let missing = http(addr, "GET", "/", None).unwrap();
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("/metrics"), "{}", missing.body);

    let post = http(addr, "POST", METRICS_PATH, None).unwrap();
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

/// Waits until nothing accepts connections on `addr` any more.
fn wait_closed(addr: SocketAddr) {
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        assert!(Instant::now() < deadline, "{addr} still accepts connections");
        std::thread::yield_now();
    }
}

#[test]
fn shutdown_and_drop_stop_the_endpoint_promptly() {
    let run = known_run();

    let server = serve_known_run(&run);
    let addr = server.local_addr();
    assert_eq!(http(addr, "GET", METRICS_PATH, None).unwrap().status, 200);
    let began = Instant::now();
    server.shutdown();
    assert!(began.elapsed() < Duration::from_secs(2), "shutdown took {:?}", began.elapsed());
    wait_closed(addr);

    // An idle server (no request ever) stops on drop too.
    let server = serve_known_run(&run);
    let addr = server.local_addr();
    let began = Instant::now();
    drop(server);
    assert!(began.elapsed() < Duration::from_secs(2), "drop took {:?}", began.elapsed());
    wait_closed(addr);
}

#[test]
fn a_panicking_collector_gets_a_500_and_the_next_scrape_works() {
    common::quiet_expected_panics();
    let run = known_run();
    let telemetry = run.telemetry.clone();
    let panicked = Arc::new(AtomicBool::new(false));
    let first = Arc::clone(&panicked);
    let collector = HealthCollector::new(
        move || {
            if !first.swap(true, Ordering::SeqCst) {
                panic!("health source panics on purpose");
            }
            telemetry.health()
        },
        run.clock.clone(),
    );
    let server = MetricsServer::bind("127.0.0.1:0", collector).unwrap();
    assert_eq!(http(server.local_addr(), "GET", METRICS_PATH, None).unwrap().status, 500);
    let scrape = http(server.local_addr(), "GET", METRICS_PATH, None).unwrap();
    assert_eq!(scrape.status, 200);
    assert!(scrape.body.contains("\nringtel_events_offered_total 9\n"), "{}", scrape.body);
}

#[test]
fn binding_a_taken_address_is_an_error_naming_it() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let run = known_run();
    let collector = |health: Health| HealthCollector::new(move || health.clone(), run.clock.clone());
    let error = MetricsServer::bind(addr, collector(run.health.clone())).expect_err("the address is taken");
    assert_eq!(error.addr(), addr.to_string());
    let source = error.source().expect("the bind error's cause");
    assert_eq!(error.to_string(), format!("could not serve metrics on {addr}: {source}"));

    let error = MetricsServer::bind("no-such-host.invalid:9", collector(run.health.clone()))
        .expect_err("the name does not resolve");
    assert!(error.to_string().starts_with("could not serve metrics on no-such-host.invalid:9: "), "{error}");
}

/// Polls `what` every 200 ms until it returns `Some` or `deadline` passes.
/// A foreign process gives no signal but its answers, so this polls.
fn poll<T>(deadline: Instant, mut what: impl FnMut() -> Result<Option<T>, String>) -> Result<T, String> {
    let mut last = String::from("never polled");
    while Instant::now() < deadline {
        match what() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => last = "not yet".into(),
            Err(error) => last = error,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(last)
}

/// A Prometheus HTTP API call's `data`, or why not.
fn prometheus_api(addr: SocketAddr, target: &str) -> Result<serde_json::Value, String> {
    let response = http(addr, "GET", target, None).map_err(|e| e.to_string())?;
    let json: serde_json::Value =
        serde_json::from_str(&response.body).map_err(|e| format!("{e}: {}", response.body))?;
    if json["status"] != "success" {
        return Err(response.body);
    }
    Ok(json["data"].clone())
}

/// A series key in the form of [`expected_series`]: name, then the labels
/// other than `job` and `instance`, sorted, with `{:?}`-escaped values.
fn series_key(metric: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut labels: BTreeMap<&str, &str> =
        metric.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap_or(""))).collect();
    let name = labels.remove("__name__").unwrap_or_default();
    labels.remove("job");
    labels.remove("instance");
    if labels.is_empty() {
        return name.to_owned();
    }
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

#[test]
fn a_real_prometheus_scrapes_the_exact_values() {
    let Some(prometheus) = require("prometheus", "a_real_prometheus_scrapes_the_exact_values") else {
        return;
    };
    let run = known_run();
    let server = serve_known_run(&run);

    let dir = std::env::temp_dir().join(format!(
        "ringtel-prometheus-{}-{}",
        std::process::id(),
        server.local_addr().port()
    ));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: ringtel\n    \
             static_configs:\n      - targets: ['{}']\n",
            server.local_addr()
        ),
    )
    .unwrap();
    let port = free_port();
    let mut command = Command::new(prometheus);
    command.arg(format!("--config.file={}", config.display()));
    command.arg(format!("--storage.tsdb.path={}", dir.join("data").display()));
    command.arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let process = ServerProcess::start("prometheus", command, port);

    let expected = expected_series(&run.health);
    let query = "/api/v1/query?query=%7B__name__%3D~%22ringtel_.%2A%22%7D";
    let deadline = Instant::now() + Duration::from_secs(90);
    let scraped = poll(deadline, || {
        let data = prometheus_api(process.addr, query)?;
        let result = data["result"].as_array().ok_or("no result")?;
        let stored: BTreeMap<String, f64> = result
            .iter()
            .filter_map(|s| {
                let value = s["value"][1].as_str()?.parse().ok()?;
                Some((series_key(s["metric"].as_object()?), value))
            })
            .collect();
        let missing: Vec<&(String, f64)> =
            expected.iter().filter(|(k, v)| stored.get(k) != Some(v)).collect();
        if missing.is_empty() {
            Ok(Some(stored))
        } else {
            Err(format!("missing or different: {missing:?}\nstored: {stored:#?}"))
        }
    });
    let targets = prometheus_api(process.addr, "/api/v1/targets").unwrap_or_default();
    let scraped = scraped.unwrap_or_else(|why| {
        panic!(
            "Prometheus never stored the expected series: {why}\ntargets: {targets}\nlog:\n{}",
            process.take_output()
        )
    });
    assert_eq!(scraped.len(), expected.len(), "unexpected extra series: {scraped:#?}");
    let target = &targets["activeTargets"][0];
    assert_eq!(target["health"], "up", "{targets}");
    assert_eq!(target["lastError"], "", "{targets}");

    // The unit survives only through the OpenMetrics parser (the classic
    // format has no `# UNIT`): Prometheus negotiated OpenMetrics.
    let metadata = prometheus_api(
        process.addr,
        "/api/v1/targets/metadata?metric=ringtel_consumer_heartbeat_age_seconds",
    )
    .unwrap();
    assert_eq!(metadata[0]["unit"], "seconds", "{metadata}");
    assert_eq!(metadata[0]["type"], "gauge", "{metadata}");

    drop(process);
    server.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[path = "prometheus_tracing.rs"]
mod prometheus_tracing;
