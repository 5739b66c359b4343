//! Events per second from `emit` to acked in a consumer group, through
//! `RedisStreams` and `StreamConsumer`: one `redis-server` against a
//! 3-master Redis Cluster, both started here on loopback ports. Four
//! producers (one `Telemetry` each, partition `producer-<i>`), one consumer
//! per partition stream reading and acking while the producers emit. A
//! small program, not a criterion bench (each run starts servers):
//! `cargo bench -p ringtel-tests --bench stream_throughput [-- <events per producer>]`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::server::{find_on_path, free_port, ServerProcess};
use ringtel::encoding::{serde_fields, FieldVisitor};
use ringtel::exporters::redis::{
    partition_key, Partition, Poll, RedisStreams, RedisStreamsBuilder, StreamConsumer, StreamConsumerBuilder,
};
use ringtel::{Backpressure, Event, Granularity, Telemetry};

const PRODUCERS: usize = 4;

#[derive(serde::Serialize)]
struct Sample {
    producer: u32,
    seq: u64,
    value: f64,
}

impl Event for Sample {
    fn granularity(&self) -> Granularity {
        Granularity::Rows
    }
    fn fields(&self, out: &mut dyn FieldVisitor) {
        serde_fields(self, out)
    }
}

/// Runs one measurement; returns (seconds, events/s).
fn run(
    label: &str,
    per_producer: u64,
    exporter: impl Fn() -> RedisStreamsBuilder,
    consumer: impl Fn(String) -> StreamConsumerBuilder,
) -> f64 {
    let total = per_producer * PRODUCERS as u64;
    let acked = Arc::new(AtomicU64::new(0));
    // Consumers first (groups from the beginning), reading while producers emit.
    let readers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let mut consumer = consumer(partition_key("bench", &format!("producer-{p}"))).build().unwrap();
            let acked = Arc::clone(&acked);
            assert!(matches!(consumer.poll(1, Duration::ZERO).unwrap(), Poll::Idle { .. }));
            std::thread::spawn(move || {
                let mut mine = 0;
                while mine < per_producer {
                    if let Poll::Events(entries) = consumer.poll(1000, Duration::from_millis(100)).unwrap() {
                        let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
                        mine += consumer.ack(&ids).unwrap();
                        acked.fetch_add(entries.len() as u64, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let exporter = exporter()
                .stream("bench")
                .partition(Partition::Fixed(format!("producer-{p}")))
                .max_len(10_000_000)
                .build()
                .unwrap();
            std::thread::spawn(move || {
                let telemetry = Telemetry::<Sample>::builder()
                    .capacity(65_536)
                    .batch_size(512)
                    .backpressure(Backpressure::Block)
                    .exporter(exporter)
                    .start()
                    .unwrap();
                for seq in 0..per_producer {
                    let _ = telemetry.emit(Sample { producer: p as u32, seq, value: seq as f64 * 0.5 });
                }
                let report = telemetry.close(Duration::from_secs(120)).unwrap();
                assert_eq!(report.health().exporters()[0].events_exported(), per_producer);
            })
        })
        .collect();
    for producer in producers {
        producer.join().unwrap();
    }
    let emitted = started.elapsed();
    for reader in readers {
        reader.join().unwrap();
    }
    let elapsed = started.elapsed();
    assert_eq!(acked.load(Ordering::Relaxed), total);
    let rate = total as f64 / elapsed.as_secs_f64();
    println!(
        "{label:>12}: {total} events, {PRODUCERS} producers -> acked in {:.2} s (all exported after {:.2} s): {rate:.0} events/s",
        elapsed.as_secs_f64(),
        emitted.as_secs_f64()
    );
    rate
}

fn main() {
    // `cargo bench` passes `--bench`; an optional number sets the events per producer.
    let per_producer: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let (Some(server), Some(cli)) = (find_on_path("redis-server"), find_on_path("redis-cli")) else {
        eprintln!("SKIPPED stream_throughput: needs redis-server and redis-cli");
        return;
    };
    let port = free_port();
    let mut command = Command::new(&server);
    command.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
    let single = ServerProcess::start("redis-bench", command, port);
    let url = format!("redis://127.0.0.1:{port}/");
    run(
        "single node",
        per_producer,
        || RedisStreams::builder(url.clone()),
        |stream| StreamConsumer::builder(url.clone(), stream, "bench", "c"),
    );
    drop(single);

    let cluster = Cluster::start(&server, &cli);
    let urls = cluster.urls();
    let masters: std::collections::HashSet<u16> =
        (0..PRODUCERS).map(|p| cluster.owner(&partition_key("bench", &format!("producer-{p}")))).collect();
    println!("cluster: {PRODUCERS} partitions on {} of 3 masters", masters.len());
    run(
        "3-master",
        per_producer,
        || RedisStreams::cluster_builder(urls.clone()),
        |stream| StreamConsumer::cluster_builder(urls.clone(), stream, "bench", "c"),
    );
}
