//! Redis Streams export against a real `redis-server` on a free loopback
//! port: stream contents after a run, a default-size and a 4x batch landing
//! whole and in order, MAXLEN trimming, error replies, and a server killed
//! mid-run (counted failures, breaker, prompt close, recovery after a
//! restart), frozen or unreachable. Nothing waits by sleeping. Heartbeats
//! are in `heartbeat.rs`.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::redis::{client, get_record, redis, start_redis, url, NODE_ENTRIES};
use common::server::free_port;
use common::{close_losing_events, rows, wait_until, PATIENCE};
use ringtel::exporters::redis::{
    HeartbeatError, HeartbeatPublisher, HeartbeatReader, RedisStreams, StreamEncoding,
};
use ringtel::pipeline::{
    GateDecision, Names, PipelineEvent, RowId, RunContext, RunId, TokenId, TokenOutcome, TransformOutcome,
};
use ringtel::{BreakerConfig, DropReason, ExportErrorKind, Exporter, ManualClock, Telemetry, Timestamp};

fn xlen(port: u16, stream: &str) -> usize {
    redis::cmd("XLEN").arg(stream).query(&mut client(port)).unwrap()
}

/// Every entry of `stream`, in order: `(id, [field, value, field, value, …])`.
fn xrange(port: u16, stream: &str) -> Vec<(String, Vec<String>)> {
    redis::cmd("XRANGE").arg(stream).arg("-").arg("+").query(&mut client(port)).unwrap()
}

/// The JSON Lines object of `event`, as `(key, text)` pairs in its order:
/// what a stream entry must hold under `StreamEncoding::Fields`.
fn expected_fields(event: &PipelineEvent, names: &Names) -> Vec<String> {
    let line = serde_json::to_string(&event.resolved(&names.read())).unwrap();
    // serde_json (without `preserve_order`) sorts a `Map`, so walk the text
    // in order with a streaming deserializer of pairs instead.
    struct Pairs(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Pairs {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Pairs;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                        out.push(k);
                        out.push(match v {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        });
                    }
                    Ok(Pairs(out))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_str::<Pairs>(&line).unwrap().0
}

/// A run's worth of mixed events: rows, transforms (one failed), gates and
/// completions, with names to resolve.
fn run_events(run: RunContext<'_>, names: &Names, rows: u64) -> Vec<PipelineEvent> {
    let (node, plugin, gate, sink, error) = (
        names.intern("parse"),
        names.intern("csv"),
        names.intern("gate"),
        names.intern("warehouse"),
        names.intern("bad row"),
    );
    let mut events = Vec::new();
    for i in 0..rows {
        let (row, token) = (RowId::new(i), TokenId::new(i));
        events.push(PipelineEvent::row_created(run, row, token));
        let outcome =
            if i % 7 == 3 { TransformOutcome::Failed { error } } else { TransformOutcome::Succeeded };
        events.push(PipelineEvent::transform_completed(
            run,
            row,
            token,
            node,
            plugin,
            Duration::from_micros(i),
            outcome,
        ));
        events.push(PipelineEvent::gate_evaluated(run, row, token, gate, GateDecision::Continue));
        events.push(PipelineEvent::token_completed(run, row, token, TokenOutcome::Completed, Some(sink)));
    }
    events
}

// ---- Streams -------------------------------------------------------------

#[test]
fn stream_holds_every_event_in_order_after_a_run() {
    let Some((_binary, port, _server)) = redis("stream_holds_every_event_in_order_after_a_run") else {
        return;
    };
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(1_700_000_000_000_000_000));
    let exporter = RedisStreams::builder(url(port))
        .names(Arc::clone(&names))
        .stream("run:events")
        .max_len(100_000)
        .build()
        .unwrap();
    let telemetry = Telemetry::<PipelineEvent>::builder()
        .clock(clock.clone())
        .batch_size(64)
        .exporter(exporter)
        .start()
        .unwrap();
    let run = RunContext::new(RunId::new(42), &clock);
    let events = run_events(run, &names, 250);
    for event in &events {
        let _ = telemetry.emit(*event);
        clock.advance(Duration::from_micros(3));
    }
    let report = telemetry.close(PATIENCE).unwrap();
    let health = report.health();
    assert!(health.is_conserved(), "{health}");
    assert_eq!(health.delivered(), events.len() as u64, "{health}");
    assert_eq!(health.exporters()[0].failures(), 0, "{health}");
    assert_eq!(health.exporters()[0].events_exported(), events.len() as u64);

    assert_eq!(xlen(port, "run:events"), events.len());
    let entries = xrange(port, "run:events");
    for (event, (id, fields)) in events.iter().zip(&entries) {
        assert_eq!(fields, &expected_fields(event, &names), "entry {id}");
    }
    // Spot-check one entry by hand: names resolved, durations in `_ns`.
    let failed = &entries[3 * 4 + 1].1;
    let get = |key: &str| failed.chunks(2).find(|kv| kv[0] == key).map(|kv| kv[1].as_str());
    assert_eq!(get("event"), Some("transform_completed"));
    assert_eq!(get("node"), Some("parse"));
    assert_eq!(get("error"), Some("bad row"));
    assert_eq!(get("duration_ns"), Some("3000"));
    assert_eq!(get("run"), Some("42"));
}

/// A batch of ringtel's default size, and one four times larger (what a
/// user who raises `batch_size` for a cheap exporter sends), each land in
/// one round trip, whole and in order.
#[test]
fn default_and_large_batches_land_whole_and_in_order() {
    let Some((_binary, port, _server)) = redis("default_and_large_batches_land_whole_and_in_order") else {
        return;
    };
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(1_700_000_000_000_000_000));
    let mut exporter =
        RedisStreams::builder(url(port)).names(Arc::clone(&names)).stream("big").build().unwrap();
    let run = RunContext::new(RunId::new(7), &clock);
    let (default, large) = (ringtel::DEFAULT_BATCH_SIZE as u64, 4 * ringtel::DEFAULT_BATCH_SIZE as u64);
    exporter.export(&rows(run, 0..default)).expect("a default-size batch is accepted");
    exporter.export(&rows(run, default..default + large)).expect("a 4x batch is accepted");
    let entries = xrange(port, "big");
    assert_eq!(entries.len() as u64, default + large);
    for (i, (id, fields)) in entries.iter().enumerate() {
        let row = fields.chunks(2).find(|kv| kv[0] == "row").map(|kv| kv[1].clone());
        assert_eq!(row, Some(i.to_string()), "entry {id}");
    }
}

#[test]
fn json_encoding_stores_the_json_lines_object() {
    let Some((_binary, port, _server)) = redis("json_encoding_stores_the_json_lines_object") else { return };
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(5));
    let run = RunContext::new(RunId::new(1), &clock);
    let events = run_events(run, &names, 3);
    let mut exporter = RedisStreams::builder(url(port))
        .names(Arc::clone(&names))
        .stream("json")
        .encoding(StreamEncoding::Json { field: "line".to_owned() })
        .build()
        .unwrap();
    exporter.export(&events).unwrap();
    let entries = xrange(port, "json");
    assert_eq!(entries.len(), events.len());
    for (event, (_, fields)) in events.iter().zip(&entries) {
        let line = serde_json::to_string(&event.resolved(&names.read())).unwrap();
        assert_eq!(fields, &["line".to_owned(), line]);
    }
}

#[test]
fn maxlen_bounds_the_stream() {
    let Some((_binary, port, _server)) = redis("maxlen_bounds_the_stream") else { return };
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(5));
    let run = RunContext::new(RunId::new(1), &clock);
    let events = rows(run, 0..500);
    let node: usize = NODE_ENTRIES.parse().unwrap();

    // `MAXLEN ~ 50`: Redis trims whole nodes, so between 50 and 50 + a node.
    let mut approx = RedisStreams::builder(url(port))
        .names(Arc::clone(&names))
        .stream("approx")
        .max_len(50)
        .build()
        .unwrap();
    for batch in events.chunks(25) {
        approx.export(batch).unwrap();
    }
    let len = xlen(port, "approx");
    assert!((50..50 + node).contains(&len), "XLEN {len} after MAXLEN ~ 50");
    let entries = xrange(port, "approx");
    assert_eq!(entries.last().unwrap().1, expected_fields(&events[499], &names), "the newest entry is kept");

    // `MAXLEN = 50`: exactly 50, the newest.
    let mut exact = RedisStreams::builder(url(port))
        .names(Arc::clone(&names))
        .stream("exact")
        .max_len(50)
        .exact_trim(true)
        .build()
        .unwrap();
    for batch in events.chunks(25) {
        exact.export(batch).unwrap();
    }
    let entries = xrange(port, "exact");
    assert_eq!(entries.len(), 50);
    for (event, (_, fields)) in events[450..].iter().zip(&entries) {
        assert_eq!(fields, &expected_fields(event, &names));
    }
}

#[test]
fn an_error_reply_is_rejected_and_the_connection_stays_usable() {
    let Some((_binary, port, _server)) = redis("an_error_reply_is_rejected_and_the_connection_stays_usable")
    else {
        return;
    };
    let _: () = redis::cmd("SET").arg("not-a-stream").arg("x").query(&mut client(port)).unwrap();
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(5));
    let run = RunContext::new(RunId::new(1), &clock);
    let mut exporter = RedisStreams::builder(url(port)).names(names).stream("not-a-stream").build().unwrap();
    let err = exporter.export(&rows(run, 0..3)).unwrap_err();
    assert_eq!(err.kind(), ExportErrorKind::Rejected, "{err}");
    assert!(!err.is_retryable());
    assert!(err.message().contains("WRONGTYPE"), "{err}");
    // Every reply was read, so the next batch on the same connection works.
    let _: () = redis::cmd("DEL").arg("not-a-stream").query(&mut client(port)).unwrap();
    exporter.export(&rows(run, 0..3)).unwrap();
    assert_eq!(xlen(port, "not-a-stream"), 3);
}

#[test]
fn server_killed_mid_run_counts_failures_closes_on_time_and_recovers_after_restart() {
    let test = "server_killed_mid_run_counts_failures_closes_on_time_and_recovers_after_restart";
    let Some((binary, port, mut server)) = redis(test) else { return };
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(1_000_000_000));
    let exporter = RedisStreams::builder(url(port))
        .names(Arc::clone(&names))
        .stream("events")
        .connect_timeout(Duration::from_secs(1))
        .io_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let breaker = BreakerConfig {
        open_after: 2,
        cooldown: Duration::from_millis(100),
        max_cooldown: Duration::from_millis(100),
    };
    let telemetry = Telemetry::<PipelineEvent>::builder()
        .clock(clock.clone())
        .batch_size(10)
        .breaker(breaker)
        .exporter(exporter)
        .start()
        .unwrap();
    let handle = telemetry.clone();
    let publisher = HeartbeatPublisher::builder(url(port), "hb", move || handle.health().last_heartbeat())
        .interval(Duration::from_millis(10))
        .ttl(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(1))
        .io_timeout(Duration::from_secs(1))
        .clock(clock.clone())
        .start()
        .unwrap();
    let mut reader = HeartbeatReader::builder(url(port), "hb").build().unwrap();
    let run = RunContext::new(RunId::new(1), &clock);

    // Before: everything arrives.
    for event in rows(run, 0..100) {
        let _ = telemetry.emit(event);
    }
    telemetry.flush(PATIENCE).unwrap();
    assert_eq!(xlen(port, "events"), 100);
    wait_until("a beat is published", || publisher.stats().published >= 1);

    // Kill the server mid-run: the next batches fail or are skipped by the
    // open breaker, each counted; flush and the reader return promptly.
    server.kill();
    let started = Instant::now();
    for (i, event) in rows(run, 100..200).into_iter().enumerate() {
        let _ = telemetry.emit(event);
        if i % 10 == 9 {
            // Spread the failures over several batches.
            let _ = telemetry.flush(PATIENCE);
        }
    }
    let _ = telemetry.flush(PATIENCE);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "flushing against a dead server took {:?}",
        started.elapsed()
    );
    let health = telemetry.health();
    let exporter = &health.exporters()[0];
    assert!(exporter.failures() >= 2, "{health}");
    assert!(exporter.breaker_opened() >= 1, "{health}");
    assert_eq!(health.dropped(DropReason::ExportFailed), 100, "{health}");
    assert_eq!(exporter.events_exported(), 100, "{health}");
    let last = exporter.last_error().expect("the failure is kept");
    assert!(last.message.contains("transport error: redis at 127.0.0.1:"), "{}", last.message);

    match reader.read() {
        Err(HeartbeatError::Redis(err)) => {
            assert_eq!(err.kind(), ExportErrorKind::Transport, "{err}");
            assert!(err.is_retryable());
        }
        other => panic!("a dead server must be an error, not {other:?}"),
    }
    let failed_before = publisher.stats().failed;
    wait_until("the publisher counts failures", || publisher.stats().failed > failed_before);
    assert!(publisher.stats().last_error.unwrap().contains("transport error"));

    // Restart on the same port (empty: no persistence). Move past the
    // breaker's cooldown: the trial batch reconnects, and everything after
    // the restart arrives.
    let _server = start_redis(&binary, port);
    clock.advance(Duration::from_secs(1));
    for event in rows(run, 200..250) {
        let _ = telemetry.emit(event);
    }
    telemetry.flush(PATIENCE).unwrap();
    let entries = xrange(port, "events");
    assert_eq!(entries.len(), 50);
    assert_eq!(entries[0].1, expected_fields(&rows(run, 200..201)[0], &names));
    wait_until("the heartbeat is back", || get_record(port, "hb").is_some());
    assert!(reader.read().unwrap().is_alive());

    let stats = publisher.stop();
    assert!(stats.failed >= 1 && stats.published >= 2, "{stats:?}");
    let started = Instant::now();
    let report = close_losing_events(&telemetry, PATIENCE);
    assert!(started.elapsed() < Duration::from_secs(5));
    let health = report.health();
    assert!(health.is_conserved(), "{health}");
    assert_eq!(health.delivered(), 150, "{health}");
    assert_eq!(health.dropped(DropReason::ExportFailed), 100, "{health}");
}

#[test]
fn a_frozen_server_is_a_timeout_within_one_deadline_per_batch() {
    let Some((_binary, port, server)) = redis("a_frozen_server_is_a_timeout_within_one_deadline_per_batch")
    else {
        return;
    };
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(1));
    let run = RunContext::new(RunId::new(1), &clock);
    let io_timeout = Duration::from_millis(300);
    let mut exporter =
        RedisStreams::builder(url(port)).names(names).stream("s").io_timeout(io_timeout).build().unwrap();
    exporter.export(&rows(run, 0..1)).unwrap();

    // SIGSTOP by PID: the server keeps its sockets but never answers.
    let signal = |sig: &str| {
        let status = Command::new("kill").args([sig, &server.pid().to_string()]).status().unwrap();
        assert!(status.success(), "kill {sig} failed");
    };
    signal("-STOP");
    let started = Instant::now();
    let err = exporter.export(&rows(run, 1..101)).unwrap_err();
    let took = started.elapsed();
    signal("-CONT");
    assert_eq!(err.kind(), ExportErrorKind::Timeout, "{err}");
    assert!(err.is_retryable());
    // One deadline for the whole batch of 100, not one read timeout per reply.
    assert!(took >= io_timeout && took < io_timeout * 5, "a 100-event batch took {took:?}");

    // The connection was dropped; the next batch reconnects and succeeds.
    exporter.export(&rows(run, 101..102)).unwrap();
    wait_until("the frozen batch and the next one are in", || xlen(port, "s") >= 2);
}

#[test]
fn unreachable_redis_is_counted_and_close_is_prompt() {
    // No server needed: nothing listens on a fresh free port.
    let port = free_port();
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(1));
    let exporter = RedisStreams::builder(url(port)).names(names).build().unwrap();
    let telemetry = Telemetry::<PipelineEvent>::builder()
        .clock(clock.clone())
        .batch_size(10)
        .exporter(exporter)
        .start()
        .unwrap();
    let run = RunContext::new(RunId::new(1), &clock);
    for event in rows(run, 0..30) {
        let _ = telemetry.emit(event);
    }
    let started = Instant::now();
    let report = close_losing_events(&telemetry, PATIENCE);
    assert!(started.elapsed() < Duration::from_secs(5), "close took {:?}", started.elapsed());
    let health = report.health();
    assert!(health.is_conserved(), "{health}");
    assert_eq!(health.dropped(DropReason::ExportFailed), 30, "{health}");
    assert!(health.exporters()[0].failures() >= 1, "{health}");
}
