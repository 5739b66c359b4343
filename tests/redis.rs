//! Redis Streams export and heartbeats against a real `redis-server` on a
//! free loopback port: stream contents after a run, a default-size and a
//! 4x batch landing whole and in order, MAXLEN trimming,
//! heartbeat values and expiry, reader outcomes on a moved clock and on
//! skewed clocks (ages from the server), graceful stop, the index, a
//! publisher process killed without cleanup, and a
//! server killed mid-run (counted failures, breaker, prompt close, recovery
//! after a restart). Nothing waits by sleeping.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::{free_port, require, ServerProcess};
use common::{rows, wait_until, PATIENCE};
use ringtel::exporters::redis::{
    HeartbeatError, HeartbeatPublisher, HeartbeatReader, HeartbeatRecord, Liveness, RedisStreams, StaleCause,
    StreamEncoding,
};
use ringtel::pipeline::{
    GateDecision, Names, PipelineEvent, RowId, RunContext, RunId, TokenId, TokenOutcome, TransformOutcome,
};
use ringtel::{
    BreakerConfig, DropReason, ExportErrorKind, Exporter, ManualClock, SystemClock, Telemetry, Timestamp,
};

/// Entries per stream node, so `MAXLEN ~ N` trims to within 10 of `N`.
const NODE_ENTRIES: &str = "10";

/// A `redis-server` on `port` (no persistence, small stream nodes).
fn start_redis(binary: &std::path::Path, port: u16) -> ServerProcess {
    let mut command = Command::new(binary);
    let port_arg = port.to_string();
    command.args([
        "--port",
        &port_arg,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--stream-node-max-entries",
        NODE_ENTRIES,
    ]);
    ServerProcess::start("redis", command, port)
}

/// A server for `test`, or `None` (with a loud SKIPPED line) if
/// `redis-server` is not installed.
fn redis(test: &str) -> Option<(std::path::PathBuf, u16, ServerProcess)> {
    let binary = require("redis-server", test)?;
    let port = free_port();
    let server = start_redis(&binary, port);
    Some((binary, port, server))
}

fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

/// A plain connection for checking what the server holds.
fn client(port: u16) -> redis::Connection {
    let client = redis::Client::open(url(port)).unwrap();
    let connection = client.get_connection_with_timeout(Duration::from_secs(5)).unwrap();
    connection.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    connection.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    connection
}

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

// ---- Heartbeats ------------------------------------------------------------

fn get_record(port: u16, key: &str) -> Option<HeartbeatRecord> {
    let value: Option<Vec<u8>> = redis::cmd("GET").arg(key).query(&mut client(port)).unwrap();
    value.map(|v| HeartbeatRecord::parse(key, &v).unwrap())
}

fn pttl(port: u16, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query(&mut client(port)).unwrap()
}

#[test]
fn heartbeat_carries_the_consumers_exact_last_beat_pid_and_host() {
    let Some((_binary, port, _server)) =
        redis("heartbeat_carries_the_consumers_exact_last_beat_pid_and_host")
    else {
        return;
    };
    let t0 = Timestamp::from_nanos(1_700_000_000_000_000_000);
    let clock = ManualClock::new(t0);
    let telemetry = Telemetry::<PipelineEvent>::builder().clock(clock.clone()).start().unwrap();
    let handle = telemetry.clone();
    let publisher = HeartbeatPublisher::builder(url(port), "hb", move || handle.health().last_heartbeat())
        .interval(Duration::from_millis(10))
        .ttl(Duration::from_secs(30))
        .host("test-host")
        .clock(clock.clone())
        .start()
        .unwrap();

    wait_until("a beat is published", || get_record(port, "hb").is_some());
    let record = get_record(port, "hb").unwrap();
    assert_eq!(Some(record.last_beat), telemetry.health().last_heartbeat());
    assert_eq!(record.last_beat, t0, "the clock has not moved");
    assert_eq!(record.published_at, t0);
    assert_eq!(record.pid, std::process::id());
    assert_eq!(record.host, "test-host");
    let ttl = pttl(port, "hb");
    assert!((0..=30_000).contains(&ttl), "PTTL {ttl}");

    // The consumer beats at the new time; the next record carries it exactly.
    clock.advance(Duration::from_millis(1_234));
    let moved = t0 + Duration::from_millis(1_234);
    wait_until("the moved beat is published", || {
        get_record(port, "hb").is_some_and(|r| r.last_beat == moved)
    });
    assert_eq!(telemetry.health().last_heartbeat(), Some(moved));

    let stats = publisher.stop();
    assert!(stats.published >= 2, "{stats:?}");
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!(stats.last_record.map(|r| r.host), Some("test-host".to_owned()));
    telemetry.close(PATIENCE).unwrap();
}

#[test]
fn reader_tells_alive_stuck_stopped_missing_and_malformed_apart() {
    // Adapted (issue 18): ages now come from the server's clock plus the
    // publisher's own lag, so they are checked as lower bounds plus the
    // real time a write takes; a graceful stop reads `Stopped`, and the
    // silent-publisher case moved to `a_killed_publisher_reads_stale_then_missing`.
    let Some((_binary, port, _server)) =
        redis("reader_tells_alive_stuck_stopped_missing_and_malformed_apart")
    else {
        return;
    };
    let t0 = Timestamp::from_nanos(1_000_000_000_000);
    let clock = ManualClock::new(t0);
    // The consumer's beat, under test control: it stops moving to play a
    // stuck consumer while the publisher keeps refreshing the key.
    let beat = ManualClock::new(t0);
    let source_beat = beat.clone();
    let mut reader =
        HeartbeatReader::builder(url(port), "hb").stale_after(Duration::from_secs(2)).build().unwrap();

    assert_eq!(reader.read().unwrap(), Liveness::Missing, "never written");

    let publisher = HeartbeatPublisher::builder(url(port), "hb", move || {
        use ringtel::Clock;
        Some(source_beat.now())
    })
    .interval(Duration::from_millis(5))
    .stale_after(Duration::from_secs(2))
    .ttl(Duration::from_secs(60))
    .clock(clock.clone())
    .start()
    .unwrap();
    wait_until("a beat is published", || get_record(port, "hb").is_some());

    // Alive: the consumer lags the publisher's clock by 1.5 s.
    clock.advance(Duration::from_millis(1_500));
    let moved = t0 + Duration::from_millis(1_500);
    wait_until("a record published at the moved time", || {
        get_record(port, "hb").is_some_and(|r| r.published_at == moved)
    });
    match reader.read().unwrap() {
        Liveness::Alive { last_beat, age, record } => {
            assert_eq!(last_beat, t0);
            assert!(age >= Duration::from_millis(1_500) && age <= Duration::from_secs(2), "{age:?}");
            assert_eq!(record.pid, std::process::id());
            assert_eq!(record.ttl_ms, 60_000);
        }
        other => panic!("expected alive, got {other:?}"),
    }

    // Stuck consumer: the key is fresh (published_at moves with the clock),
    // but the beat inside is 10 s old. A TTL check alone would say alive.
    clock.set(t0 + Duration::from_secs(10));
    let refreshed = t0 + Duration::from_secs(10);
    wait_until("a refreshed record", || get_record(port, "hb").is_some_and(|r| r.published_at == refreshed));
    match reader.read().unwrap() {
        Liveness::Stale { last_beat, age, cause, .. } => {
            assert_eq!(last_beat, t0);
            assert!(age >= Duration::from_secs(10) && age < Duration::from_secs(12), "{age:?}");
            assert_eq!(cause, StaleCause::ConsumerStuck);
        }
        other => panic!("expected stale, got {other:?}"),
    }

    // The consumer beats again: alive.
    beat.set(refreshed);
    wait_until("the new beat is published", || {
        get_record(port, "hb").is_some_and(|r| r.last_beat == refreshed)
    });
    assert!(reader.read().unwrap().is_alive());

    // A graceful stop writes a final record: `Stopped`, at the server's time.
    let before = server_now(port);
    let stats = publisher.stop();
    let after = server_now(port);
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!(stats.last_record.as_ref().and_then(|r| r.stopped_at), Some(refreshed));
    match reader.read().unwrap() {
        Liveness::Stopped { at, record } => {
            // `PTTL` counts whole milliseconds: allow one either way.
            let ms = Duration::from_millis(1);
            let earliest = Timestamp::from_nanos(before.as_nanos() - 1_000_000);
            assert!(earliest <= at && at <= after + ms, "{before} <= {at} <= {after} (±1 ms)");
            assert_eq!(record.stopped_at, Some(refreshed));
        }
        other => panic!("expected stopped, got {other:?}"),
    }
    let ttl = pttl(port, "hb");
    assert!(ttl > 60_000, "the stop record has its own (longer) TTL, not the beat's: PTTL {ttl}");

    // Something else under the key is an error, not "missing".
    let _: () =
        redis::cmd("SET").arg("hb").arg("garbage").arg("PX").arg(60_000).query(&mut client(port)).unwrap();
    assert!(matches!(reader.read(), Err(HeartbeatError::Malformed { ref key, .. }) if key == "hb"));

    let _: () = redis::cmd("DEL").arg("hb").query(&mut client(port)).unwrap();
    assert_eq!(reader.read().unwrap(), Liveness::Missing);
}

#[test]
fn heartbeat_key_expires_after_its_ttl() {
    // Adapted (issue 18): `stale_after` must now lie between the interval
    // and the TTL, and a stop writes a record with its own TTL: the key
    // reads `Stopped` and then expires.
    let Some((_binary, port, _server)) = redis("heartbeat_key_expires_after_its_ttl") else { return };
    let clock = SystemClock::new();
    let publisher = HeartbeatPublisher::builder(url(port), "hb", move || {
        use ringtel::Clock;
        Some(clock.now())
    })
    .interval(Duration::from_millis(50))
    .stale_after(Duration::from_millis(500))
    .ttl(Duration::from_millis(1_000))
    .stopped_ttl(Duration::from_millis(1_000))
    .start()
    .unwrap();
    wait_until("a beat is published", || get_record(port, "hb").is_some());
    let ttl = pttl(port, "hb");
    assert!((1..=1_000).contains(&ttl), "PTTL {ttl} of a 1 s TTL");

    let mut reader =
        HeartbeatReader::builder(url(port), "hb").stale_after(Duration::from_millis(500)).build().unwrap();
    assert!(reader.read().unwrap().is_alive());

    let stopped = Instant::now();
    let stats = publisher.stop();
    assert!(stats.published >= 2 && stats.failed == 0, "{stats:?}");
    assert!(matches!(reader.read().unwrap(), Liveness::Stopped { .. }));
    // Wait on the condition (the key is gone), not for the TTL.
    wait_until("the heartbeat key expires", || get_record(port, "hb").is_none());
    assert!(stopped.elapsed() < PATIENCE);
    assert_eq!(reader.read().unwrap(), Liveness::Missing);
}

/// The server's clock.
fn server_now(port: u16) -> Timestamp {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query(&mut client(port)).unwrap();
    Timestamp::from_nanos(secs * 1_000_000_000 + micros * 1_000)
}

/// A clock running `ahead` of the real one.
#[derive(Debug)]
struct AheadClock {
    real: SystemClock,
    ahead: Duration,
}

impl ringtel::Clock for AheadClock {
    fn now(&self) -> Timestamp {
        self.real.now() + self.ahead
    }
}

#[test]
fn ages_come_from_the_server_not_from_the_readers_or_publishers_clock() {
    let Some((_binary, port, _server)) =
        redis("ages_come_from_the_server_not_from_the_readers_or_publishers_clock")
    else {
        return;
    };
    // A publisher whose host clock runs 10 s ahead (its consumer beats on
    // that clock too), and one on the real clock.
    let ahead = || AheadClock { real: SystemClock::new(), ahead: Duration::from_secs(10) };
    let source = ahead();
    let _skewed = HeartbeatPublisher::builder(url(port), "hb:skewed", move || {
        use ringtel::Clock;
        Some(source.now())
    })
    .interval(Duration::from_millis(20))
    .stale_after(Duration::from_secs(2))
    .ttl(Duration::from_secs(5))
    .clock(ahead())
    .start()
    .unwrap();
    let real = SystemClock::new();
    let _plain = HeartbeatPublisher::builder(url(port), "hb:plain", move || {
        use ringtel::Clock;
        Some(real.now())
    })
    .interval(Duration::from_millis(20))
    .stale_after(Duration::from_secs(2))
    .ttl(Duration::from_secs(5))
    .start()
    .unwrap();
    wait_until("both beat", || {
        get_record(port, "hb:skewed").is_some() && get_record(port, "hb:plain").is_some()
    });

    // A reader whose clock runs 10 s ahead, and one on the real clock, read
    // the same key back to back: the same age (within the time between the
    // two reads), and small, whatever either clock says.
    let build = |key: &str| HeartbeatReader::builder(url(port), key).stale_after(Duration::from_secs(2));
    #[allow(deprecated)]
    let mut ahead_reader = build("hb:skewed").clock(ahead()).build().unwrap();
    let mut plain_reader = build("hb:skewed").build().unwrap();
    let age = |liveness: Liveness| match liveness {
        Liveness::Alive { age, .. } => age,
        other => panic!("expected alive, got {other:?}"),
    };
    let a = age(ahead_reader.read().unwrap());
    let b = age(plain_reader.read().unwrap());
    assert!(a.abs_diff(b) < Duration::from_millis(100), "{a:?} vs {b:?}");
    assert!(a < Duration::from_secs(1) && b < Duration::from_secs(1), "{a:?}, {b:?}");
    // The publisher on the real clock reads the same to both.
    let mut plain_key = build("hb:plain").build().unwrap();
    assert!(age(plain_key.read().unwrap()) < Duration::from_secs(1));
}

#[test]
fn list_reads_every_agent_from_the_index() {
    let Some((_binary, port, _server)) = redis("list_reads_every_agent_from_the_index") else { return };
    let start = |key: &str, stopped_ttl: Duration| {
        let clock = SystemClock::new();
        HeartbeatPublisher::builder(url(port), key, move || {
            use ringtel::Clock;
            Some(clock.now())
        })
        .interval(Duration::from_millis(20))
        .stale_after(Duration::from_millis(500))
        .ttl(Duration::from_secs(5))
        .stopped_ttl(stopped_ttl)
        .start()
        .unwrap()
    };
    let _alive = start("agent:alive", Duration::from_secs(60));
    let stopped = start("agent:stopped", Duration::from_secs(60));
    let gone = start("agent:gone", Duration::from_millis(1));
    wait_until("all beat", || {
        ["agent:alive", "agent:stopped", "agent:gone"].iter().all(|k| get_record(port, k).is_some())
    });
    stopped.stop();
    gone.stop();
    wait_until("the short stop record expires", || get_record(port, "agent:gone").is_none());
    // Not a SCAN: an unrelated key is never listed.
    let _: () = redis::cmd("SET").arg("agent:unrelated").arg("x").query(&mut client(port)).unwrap();

    let mut reader = HeartbeatReader::builder(url(port), "unused")
        .stale_after(Duration::from_millis(500))
        .build()
        .unwrap();
    let agents = reader.list().unwrap();
    let keys: Vec<&str> = agents.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["agent:alive", "agent:gone", "agent:stopped"]);
    assert!(agents[0].liveness.is_alive(), "{:?}", agents[0]);
    assert_eq!(agents[1].liveness, Liveness::Missing);
    assert!(matches!(agents[2].liveness, Liveness::Stopped { .. }), "{:?}", agents[2]);
}

/// Run only as the child of `a_killed_publisher_reads_stale_then_missing`.
#[test]
#[ignore = "a child process of a_killed_publisher_reads_stale_then_missing"]
fn child_publisher() {
    let Ok(url) = std::env::var("RINGTEL_CHILD_REDIS_URL") else { return };
    let clock = SystemClock::new();
    let publisher = HeartbeatPublisher::builder(url, "hb:doomed", move || {
        use ringtel::Clock;
        Some(clock.now())
    })
    .interval(Duration::from_millis(20))
    .stale_after(Duration::from_millis(300))
    .ttl(Duration::from_millis(1_500))
    .start()
    .unwrap();
    while publisher.stats().published == 0 {
        std::thread::yield_now();
    }
    println!("PUBLISHING");
    // Killed by the parent; never stopped gracefully.
    std::thread::park_timeout(PATIENCE);
    std::mem::forget(publisher);
}

#[test]
fn a_killed_publisher_reads_stale_then_missing() {
    use std::io::{BufRead, BufReader};
    let Some((_binary, port, _server)) = redis("a_killed_publisher_reads_stale_then_missing") else { return };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_publisher", "--ignored", "--nocapture", "--test-threads=1"])
        .env("RINGTEL_CHILD_REDIS_URL", url(port))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    // The harness prints `test child_publisher ... ` on the same line.
    assert!(
        stdout.lines().map_while(Result::ok).any(|line| line.contains("PUBLISHING")),
        "the child never published"
    );
    let mut reader = HeartbeatReader::builder(url(port), "hb:doomed")
        .stale_after(Duration::from_millis(300))
        .build()
        .unwrap();
    assert!(reader.read().unwrap().is_alive());

    child.kill().unwrap(); // SIGKILL: no stop record
    child.wait().unwrap();
    wait_until("the dead publisher reads stale", || {
        matches!(reader.read().unwrap(), Liveness::Stale { cause: StaleCause::PublisherSilent, .. })
    });
    let listed = reader.list().unwrap();
    assert!(
        matches!(listed[..], [ref agent] if matches!(agent.liveness, Liveness::Stale { .. })),
        "{listed:?}"
    );
    wait_until("the dead publisher's key expires", || reader.read().unwrap() == Liveness::Missing);
    assert_eq!(reader.list().unwrap()[0].liveness, Liveness::Missing);
}

// ---- Redis going away ------------------------------------------------------

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
    let report = telemetry.close(PATIENCE).unwrap();
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
    let report = telemetry.close(PATIENCE).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "close took {:?}", started.elapsed());
    let health = report.health();
    assert!(health.is_conserved(), "{health}");
    assert_eq!(health.dropped(DropReason::ExportFailed), 30, "{health}");
    assert!(health.exporters()[0].failures() >= 1, "{health}");
}
