//! `StreamConsumer` against a real `redis-server` on a free loopback port:
//! a dead consumer's entries reclaimed by another (delivered twice), a
//! restarted consumer reading its own pending entries first, a poison entry
//! ending in the dead-letter stream, three consumers splitting 100 000
//! events exactly once, and a stopped server giving typed errors promptly.
//! Nothing waits by sleeping: conditions are waited on with a deadline.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{free_port, require, ServerProcess};
use common::PATIENCE;
use redis::streams::StreamPendingCountReply;
use ringtel::encoding::{serde_fields, FieldVisitor};
use ringtel::exporters::redis::{
    ConsumerErrorKind, Origin, Poll, RedisStreams, Scan, StreamConsumer, StreamEncoding,
};
use ringtel::{Backpressure, Event, Exporter, Granularity, Telemetry};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Job {
    producer: u32,
    seq: u64,
    name: String,
    weight: f64,
    tags: Vec<String>,
    note: Option<String>,
}

impl Event for Job {
    fn granularity(&self) -> Granularity {
        Granularity::Rows
    }
    fn fields(&self, out: &mut dyn FieldVisitor) {
        serde_fields(self, out)
    }
}

fn job(producer: u32, seq: u64) -> Job {
    Job {
        producer,
        seq,
        // A string that looks like a number must come back as a string.
        name: format!("{seq}"),
        weight: seq as f64 / 3.0,
        tags: vec!["a".into(), format!("p{producer}")],
        note: (seq % 2 == 0).then(|| "even".to_owned()),
    }
}

fn redis(test: &str) -> Option<(u16, ServerProcess)> {
    let binary = require("redis-server", test)?;
    let port = free_port();
    let mut command = Command::new(binary);
    let port_arg = port.to_string();
    command.args(["--port", &port_arg, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
    Some((port, ServerProcess::start("redis", command, port)))
}

fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

fn client(port: u16) -> redis::Connection {
    let client = redis::Client::open(url(port)).unwrap();
    let connection = client.get_connection_with_timeout(Duration::from_secs(5)).unwrap();
    connection.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    connection
}

/// Every pending entry of the group: (id, consumer, idle ms, deliveries).
fn pending(port: u16, stream: &str, group: &str) -> Vec<(String, String, usize, usize)> {
    let reply: StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .arg("-")
        .arg("+")
        .arg(1_000_000)
        .query(&mut client(port))
        .unwrap();
    reply.ids.into_iter().map(|p| (p.id, p.consumer, p.last_delivered_ms, p.times_delivered)).collect()
}

/// Waits until every pending entry has been idle at least `min_idle`.
fn wait_idle(port: u16, stream: &str, group: &str, min_idle: Duration) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let entries = pending(port, stream, group);
        if !entries.is_empty() && entries.iter().all(|p| p.2 as u128 >= min_idle.as_millis()) {
            return;
        }
        assert!(Instant::now() < deadline, "pending entries never became idle: {entries:?}");
        std::thread::yield_now();
    }
}

fn publish(port: u16, stream: &str, encoding: StreamEncoding, jobs: &[Job]) {
    let mut exporter = RedisStreams::builder(url(port)).stream(stream).encoding(encoding).build().unwrap();
    Exporter::<Job>::export(&mut exporter, jobs).unwrap();
}

fn consumer(port: u16, stream: &str, group: &str, name: &str) -> StreamConsumer {
    StreamConsumer::builder(url(port), stream, group, name).build().unwrap()
}

fn events(poll: Poll) -> Vec<ringtel::exporters::redis::Entry> {
    match poll {
        Poll::Events(entries) => entries,
        Poll::Idle { blocked_for } => panic!("expected entries, was idle for {blocked_for:?}"),
    }
}

#[test]
fn a_dead_consumers_entries_are_reclaimed_delivered_twice_and_acked() {
    let test = "a_dead_consumers_entries_are_reclaimed_delivered_twice_and_acked";
    let Some((port, _server)) = redis(test) else { return };
    let jobs: Vec<Job> = (0..3).map(|i| job(1, i)).collect();
    // Published before any consumer exists: the group starts at the
    // stream's beginning, so nothing is lost.
    publish(port, "jobs", StreamEncoding::Fields, &jobs);

    let mut a = consumer(port, "jobs", "workers", "a");
    let read = events(a.poll(10, Duration::from_millis(100)).unwrap());
    assert_eq!(read.len(), 3);
    assert!(read.iter().all(|e| e.origin == Origin::New));
    let decoded: Vec<Job> = read.iter().map(|e| e.decode().unwrap()).collect();
    assert_eq!(decoded, jobs, "the Fields encoding round-trips");
    assert_eq!(read[0].event_name(), Some("Job"));
    assert!(read[0].timestamp().unwrap().as_nanos() > 0);
    // A dies without acking.
    drop(a);

    let min_idle = Duration::from_millis(50);
    let mut b = consumer(port, "jobs", "workers", "b");
    // B has nothing of its own and nothing new.
    assert!(matches!(b.poll(10, Duration::ZERO).unwrap(), Poll::Idle { .. }));
    wait_idle(port, "jobs", "workers", min_idle);
    let reclaimed = b.reclaim(min_idle, 100).unwrap();
    assert_eq!(reclaimed.scan, Scan::Complete);
    assert!(reclaimed.dead_lettered.is_empty() && reclaimed.deleted.is_empty(), "{reclaimed:?}");
    let ids: Vec<&str> = reclaimed.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, read.iter().map(|e| e.id.as_str()).collect::<Vec<_>>());
    assert!(reclaimed.entries.iter().all(|e| e.origin == Origin::Reclaimed));
    assert_eq!(reclaimed.entries.iter().map(|e| e.decode::<Job>().unwrap()).collect::<Vec<_>>(), jobs);
    let owners = pending(port, "jobs", "workers");
    assert_eq!(owners.len(), 3);
    for (id, owner, _, deliveries) in &owners {
        assert_eq!((owner.as_str(), *deliveries), ("b", 2), "{id}");
    }

    assert_eq!(b.ack(&ids).unwrap(), 3);
    assert!(pending(port, "jobs", "workers").is_empty());
    assert_eq!(b.ack(&ids).unwrap(), 0, "acking twice is harmless and counted 0");
    let stats = b.stats();
    assert_eq!((stats.reclaimed, stats.acked, stats.dead_lettered, stats.errors), (3, 3, 0, 0), "{stats:?}");
}

#[test]
fn a_restarted_consumer_reads_its_own_pending_entries_first_then_new_ones() {
    let test = "a_restarted_consumer_reads_its_own_pending_entries_first_then_new_ones";
    let Some((port, _server)) = redis(test) else { return };
    let jobs: Vec<Job> = (0..5).map(|i| job(2, i)).collect();
    publish(port, "jobs", StreamEncoding::Json { field: "json".into() }, &jobs[..3]);
    let mut first = consumer(port, "jobs", "g", "w");
    let read = events(first.poll(2, Duration::ZERO).unwrap());
    assert_eq!(read.len(), 2);
    drop(first);

    publish(port, "jobs", StreamEncoding::Json { field: "json".into() }, &jobs[3..]);
    let mut again = consumer(port, "jobs", "g", "w");
    let own = events(again.poll(10, Duration::ZERO).unwrap());
    assert_eq!(own.iter().map(|e| e.origin).collect::<Vec<_>>(), [Origin::Pending; 2]);
    assert_eq!(own.iter().map(|e| e.decode::<Job>().unwrap()).collect::<Vec<_>>(), jobs[..2]);
    let new = events(again.poll(10, Duration::ZERO).unwrap());
    assert_eq!(new.iter().map(|e| e.origin).collect::<Vec<_>>(), [Origin::New; 3]);
    assert_eq!(new.iter().map(|e| e.decode_json::<Job>("json").unwrap()).collect::<Vec<_>>(), jobs[2..]);
    let ids: Vec<String> = own.iter().chain(&new).map(|e| e.id.clone()).collect();
    assert_eq!(again.ack(&ids).unwrap(), 5);
    assert!(pending(port, "jobs", "g").is_empty());
    match again.poll(10, Duration::from_millis(30)).unwrap() {
        Poll::Idle { blocked_for } => assert!(blocked_for >= Duration::from_millis(25), "{blocked_for:?}"),
        other => panic!("expected idle, got {other:?}"),
    }
}

#[test]
fn a_poison_entry_ends_in_the_dead_letter_stream_acked_and_counted() {
    let test = "a_poison_entry_ends_in_the_dead_letter_stream_acked_and_counted";
    let Some((port, _server)) = redis(test) else { return };
    publish(port, "jobs", StreamEncoding::Fields, &[job(3, 0), job(3, 1)]);
    let builder = |name: &str| StreamConsumer::builder(url(port), "jobs", "g", name).max_deliveries(2);

    // Delivery 1: `a` processes the good entry and crashes on the poison one.
    let mut a = builder("a").build().unwrap();
    let read = events(a.poll(10, Duration::ZERO).unwrap());
    assert_eq!(a.ack(&[&read[0].id]).unwrap(), 1);
    let poison = read[1].id.clone();
    drop(a);
    // Delivery 2: `b` takes it over (min-idle 0: no wait) and crashes too.
    let mut b = builder("b").build().unwrap();
    let reclaimed = b.reclaim(Duration::ZERO, 10).unwrap();
    assert_eq!(reclaimed.entries.len(), 1);
    assert_eq!(pending(port, "jobs", "g")[0].3, 2);
    drop(b);
    // Delivery 3 > 2: `c` dead-letters it instead of returning it.
    let mut c = builder("c").build().unwrap();
    let reclaimed = c.reclaim(Duration::ZERO, 10).unwrap();
    assert!(reclaimed.entries.is_empty(), "{reclaimed:?}");
    assert_eq!(reclaimed.dead_lettered, std::slice::from_ref(&poison));
    assert!(pending(port, "jobs", "g").is_empty(), "the poison entry is acked");
    assert_eq!(c.stats().dead_lettered, 1);

    let dead: Vec<(String, Vec<(String, String)>)> =
        redis::cmd("XRANGE").arg(c.dead_letter_stream()).arg("-").arg("+").query(&mut client(port)).unwrap();
    assert_eq!(dead.len(), 1);
    let fields = &dead[0].1;
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    assert_eq!(get("dead_letter_id"), Some(poison.as_str()));
    assert_eq!(get("dead_letter_deliveries"), Some("3"));
    assert_eq!(get("dead_letter_consumer"), Some("c"));
    assert_eq!(get("seq"), Some("1"));
    assert_eq!(c.dead_letter_stream(), "jobs:dead");
}

#[test]
fn a_consumer_restarting_on_a_poison_entry_dead_letters_it_from_its_own_pending_list() {
    let test = "a_consumer_restarting_on_a_poison_entry_dead_letters_it_from_its_own_pending_list";
    let Some((port, _server)) = redis(test) else { return };
    publish(port, "jobs", StreamEncoding::Fields, &[job(5, 0)]);
    let build = || StreamConsumer::builder(url(port), "jobs", "g", "w").max_deliveries(2).build().unwrap();
    // Delivery 1 (new), then 2 (re-read from its own pending list after a
    // restart under the same name): returned, and the consumer dies each time.
    let first = events(build().poll(10, Duration::ZERO).unwrap());
    assert_eq!(first[0].origin, Origin::New);
    let second = events(build().poll(10, Duration::ZERO).unwrap());
    assert_eq!((second[0].origin, second[0].id.as_str()), (Origin::Pending, first[0].id.as_str()));
    assert_eq!(pending(port, "jobs", "g")[0].3, 2);
    // Delivery 3 > 2: dead-lettered instead of returned.
    let mut third = build();
    assert!(matches!(third.poll(10, Duration::ZERO).unwrap(), Poll::Idle { .. }));
    assert_eq!(third.stats().dead_lettered, 1);
    assert!(pending(port, "jobs", "g").is_empty());
    let dead: usize = redis::cmd("XLEN").arg("jobs:dead").query(&mut client(port)).unwrap();
    assert_eq!(dead, 1);
}

#[test]
fn three_consumers_split_100_000_events_each_processed_exactly_once() {
    let test = "three_consumers_split_100_000_events_each_processed_exactly_once";
    let Some((port, _server)) = redis(test) else { return };
    const EVENTS: u64 = 100_000;
    let exporter = RedisStreams::builder(url(port)).stream("jobs").max_len(1_000_000).build().unwrap();
    let telemetry = Telemetry::<Job>::builder()
        .capacity(16_384)
        .backpressure(Backpressure::Block)
        .exporter(exporter)
        .start()
        .unwrap();
    // The group exists before the first event, and the consumers run while
    // events are produced.
    let processed = Arc::new(Mutex::new(Vec::<u64>::with_capacity(EVENTS as usize)));
    let acked = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = ["c1", "c2", "c3"]
        .into_iter()
        .map(|name| {
            let mut consumer = consumer(port, "jobs", "g", name);
            assert!(matches!(consumer.poll(1, Duration::ZERO).unwrap(), Poll::Idle { .. }));
            let (processed, acked) = (Arc::clone(&processed), Arc::clone(&acked));
            std::thread::spawn(move || {
                let deadline = Instant::now() + PATIENCE * 6;
                let mut mine = 0u64;
                while acked.load(Ordering::SeqCst) < EVENTS {
                    assert!(Instant::now() < deadline, "consumers did not finish");
                    if let Poll::Events(entries) = consumer.poll(500, Duration::from_millis(50)).unwrap() {
                        let seqs: Vec<u64> = entries.iter().map(|e| e.parse::<u64>("seq").unwrap()).collect();
                        processed.lock().unwrap().extend(&seqs);
                        let n =
                            consumer.ack(&entries.iter().map(|e| e.id.as_str()).collect::<Vec<_>>()).unwrap();
                        assert_eq!(n, entries.len() as u64);
                        mine += n;
                        acked.fetch_add(n, Ordering::SeqCst);
                    }
                }
                mine
            })
        })
        .collect();
    for seq in 0..EVENTS {
        let _ = telemetry.emit(job(0, seq));
    }
    let report = telemetry.close(PATIENCE).unwrap();
    assert_eq!(report.health().exporters()[0].events_exported(), EVENTS);
    let shares: Vec<u64> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(shares.iter().sum::<u64>(), EVENTS, "{shares:?}");
    let processed = processed.lock().unwrap();
    assert_eq!(processed.len() as u64, EVENTS, "no redelivery without a failure");
    let unique: HashSet<u64> = processed.iter().copied().collect();
    assert_eq!(unique.len() as u64, EVENTS);
    assert!(unique.iter().all(|&s| s < EVENTS));
    assert!(pending(port, "jobs", "g").is_empty());
    eprintln!("shares of 100 000 between 3 consumers: {shares:?}");
}

#[test]
fn a_stopped_server_is_a_typed_error_and_nothing_hangs() {
    let test = "a_stopped_server_is_a_typed_error_and_nothing_hangs";
    let Some((port, mut server)) = redis(test) else { return };
    publish(port, "jobs", StreamEncoding::Fields, &[job(4, 0)]);
    let build = |name: &str| {
        StreamConsumer::builder(url(port), "jobs", "g", name)
            .connect_timeout(Duration::from_millis(500))
            .io_timeout(Duration::from_millis(500))
            .build()
            .unwrap()
    };
    let mut consumer = build("a");
    let read = events(consumer.poll(10, Duration::ZERO).unwrap());
    // A second consumer sits in a long blocking read when the server dies.
    let mut blocked = build("b");
    assert!(matches!(blocked.poll(1, Duration::ZERO).unwrap(), Poll::Idle { .. }));
    let waiter = std::thread::spawn(move || {
        let started = Instant::now();
        (blocked.poll(10, Duration::from_secs(60)), started.elapsed())
    });
    // Wait until b's read is blocked on the server, then kill it.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut client(port)).unwrap();
        if clients.contains("cmd=xreadgroup") {
            break;
        }
        assert!(Instant::now() < deadline, "b never blocked: {clients}");
        std::thread::yield_now();
    }
    server.kill();

    let (result, took) = waiter.join().unwrap();
    let err = result.unwrap_err();
    assert!(took < Duration::from_secs(10), "the blocked read took {took:?}");
    assert!(matches!(err.kind(), ConsumerErrorKind::Transport | ConsumerErrorKind::Timeout), "{err}");
    assert_eq!((err.command(), err.stream(), err.group(), err.consumer()), ("XREADGROUP", "jobs", "g", "b"));

    let started = Instant::now();
    let err = consumer.ack(&[&read[0].id]).unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(err.command(), "XACK");
    assert!(std::error::Error::source(&err).is_some());
    let err = consumer.poll(10, Duration::from_millis(100)).unwrap_err();
    assert_eq!(err.kind(), ConsumerErrorKind::Transport, "{err}");
    let err = consumer.reclaim(Duration::ZERO, 10).unwrap_err();
    assert_eq!(err.command(), "XAUTOCLAIM");
    assert!(err.to_string().contains("stream `jobs`, group `g`, consumer `a`"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(consumer.stats().errors, 3);
}
