//! The Redis Streams exporter and `StreamConsumer` against a real 3-master
//! Redis Cluster started on loopback ports: 4 producers whose partitions
//! spread over every master, consumers reading everything back in order per
//! partition; then one master's process killed mid-run: its producers'
//! failures counted and their breakers opened, nothing hangs, and the other
//! producers keep flowing. Nothing waits by sleeping.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::cluster::{node, Cluster};
use common::server::require;
use common::{close_report, PATIENCE};
use ringtel::encoding::{serde_fields, FieldVisitor};
use ringtel::exporters::redis::{partition_key, Partition, Poll, RedisStreams, StreamConsumer};
use ringtel::{BreakerConfig, Event, Granularity, Telemetry};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Sample {
    producer: u32,
    seq: u64,
}

impl Event for Sample {
    fn granularity(&self) -> Granularity {
        Granularity::Rows
    }
    fn fields(&self, out: &mut dyn FieldVisitor) {
        serde_fields(self, out)
    }
}

/// Four partition names whose stream keys cover all three masters.
fn partitions(cluster: &Cluster) -> Vec<(String, u16)> {
    let mut chosen: Vec<(String, u16)> = Vec::new();
    for i in 0.. {
        let name = format!("producer-{i}");
        let owner = cluster.owner(&partition_key("events", &name));
        let covered = chosen.iter().any(|(_, o)| *o == owner);
        let masters = chosen.iter().map(|(_, o)| *o).collect::<std::collections::HashSet<_>>().len();
        if !covered || masters == 3 {
            chosen.push((name, owner));
        }
        if chosen.len() == 4 {
            return chosen;
        }
    }
    unreachable!()
}

fn read_all(consumer: &mut StreamConsumer, want: usize) -> Vec<Sample> {
    let deadline = Instant::now() + PATIENCE;
    let mut out = Vec::new();
    while out.len() < want {
        assert!(Instant::now() < deadline, "read {} of {want} from {}", out.len(), consumer.stream());
        match consumer.poll(1000, Duration::from_millis(100)).unwrap() {
            Poll::Events(entries) => {
                out.extend(entries.iter().map(|e| e.decode::<Sample>().unwrap()));
                let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
                assert_eq!(consumer.ack(&ids).unwrap(), ids.len() as u64);
            }
            Poll::Idle { .. } => {}
        }
    }
    out
}

#[test]
fn four_producers_over_three_masters_read_back_and_a_dead_master_only_stops_its_own() {
    let test = "four_producers_over_three_masters_read_back_and_a_dead_master_only_stops_its_own";
    let Some(server) = require("redis-server", test) else { return };
    let Some(cli) = require("redis-cli", test) else { return };
    let mut cluster = Cluster::start(&server, &cli);
    let urls = cluster.urls();
    let partitions = partitions(&cluster);
    let masters: std::collections::HashSet<u16> = partitions.iter().map(|(_, o)| *o).collect();
    assert_eq!(masters.len(), 3, "{partitions:?}");

    let breaker = BreakerConfig {
        open_after: 2,
        cooldown: Duration::from_millis(100),
        max_cooldown: Duration::from_millis(100),
    };
    let producers: Vec<Telemetry<Sample>> = partitions
        .iter()
        .map(|(name, _)| {
            let exporter = RedisStreams::cluster_builder(urls.clone())
                .stream("events")
                .partition(Partition::Fixed(name.clone()))
                .connect_timeout(Duration::from_millis(500))
                .io_timeout(Duration::from_millis(500))
                .build()
                .unwrap();
            Telemetry::<Sample>::builder().batch_size(10).breaker(breaker).exporter(exporter).start().unwrap()
        })
        .collect();
    let mut consumers: Vec<StreamConsumer> = partitions
        .iter()
        .map(|(name, _)| {
            StreamConsumer::cluster_builder(urls.clone(), partition_key("events", name), "readers", "r1")
                .io_timeout(Duration::from_millis(500))
                .connect_timeout(Duration::from_millis(500))
                .build()
                .unwrap()
        })
        .collect();

    const FIRST: u64 = 2_000;
    for (p, telemetry) in producers.iter().enumerate() {
        for seq in 0..FIRST {
            let _ = telemetry.emit(Sample { producer: p as u32, seq });
        }
    }
    for telemetry in &producers {
        telemetry.flush(PATIENCE).unwrap();
    }
    // Each partition's stream is on its master, whole and in order.
    for (p, consumer) in consumers.iter_mut().enumerate() {
        let got = read_all(consumer, FIRST as usize);
        let want: Vec<Sample> = (0..FIRST).map(|seq| Sample { producer: p as u32, seq }).collect();
        assert_eq!(got, want, "partition {p}");
        let len: usize = redis::cmd("XLEN")
            .arg(partition_key("events", &partitions[p].0))
            .query(&mut node(partitions[p].1))
            .unwrap();
        assert_eq!(len, FIRST as usize);
    }

    // Kill the master of producer 0's partition mid-run.
    let dead = partitions[0].1;
    let index = cluster.ports.iter().position(|&p| p == dead).unwrap();
    cluster.servers[index].kill();
    let started = Instant::now();
    const SECOND: u64 = 200;
    for (p, telemetry) in producers.iter().enumerate() {
        for seq in FIRST..FIRST + SECOND {
            let _ = telemetry.emit(Sample { producer: p as u32, seq });
            if seq % 10 == 9 {
                let _ = telemetry.flush(PATIENCE);
            }
        }
        let _ = telemetry.flush(PATIENCE);
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "exporting around a dead master took {:?}",
        started.elapsed()
    );

    let mut live_partitions = 0;
    for (p, telemetry) in producers.iter().enumerate() {
        let health = telemetry.health();
        let exporter = &health.exporters()[0];
        if partitions[p].1 == dead {
            assert!(exporter.failures() >= 2, "producer {p}: {health}");
            assert!(exporter.breaker_opened() >= 1, "producer {p}: {health}");
            assert_eq!(exporter.events_exported(), FIRST, "producer {p}: {health}");
        } else {
            live_partitions += 1;
            assert_eq!(exporter.failures(), 0, "producer {p}: {health}");
            assert_eq!(exporter.events_exported(), FIRST + SECOND, "producer {p}: {health}");
            let got = read_all(&mut consumers[p], SECOND as usize);
            let want: Vec<Sample> =
                (FIRST..FIRST + SECOND).map(|seq| Sample { producer: p as u32, seq }).collect();
            assert_eq!(got, want, "partition {p} keeps flowing");
        }
    }
    assert!(live_partitions >= 2);

    // The dead partition's consumer gets a typed error, promptly.
    let started = Instant::now();
    let err = consumers[0].poll(10, Duration::from_millis(100)).unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());

    let started = Instant::now();
    let mut exported = HashMap::new();
    for (p, telemetry) in producers.into_iter().enumerate() {
        // The dead master's producer lost events; the others did not.
        let report = close_report(telemetry.close(PATIENCE));
        exported.insert(p, report.health().exporters()[0].events_exported());
    }
    assert!(started.elapsed() < Duration::from_secs(20), "closing took {:?}", started.elapsed());
    eprintln!("exported per producer: {exported:?}; dead master {dead}, partitions {partitions:?}");
}

fn node_id(port: u16) -> String {
    redis::cmd("CLUSTER").arg("MYID").query(&mut node(port)).unwrap()
}

/// Moves `key`'s slot, with its keys, from master `from` to master `to`,
/// as `redis-cli --cluster reshard` does, and tells every master.
fn move_slot(cluster: &Cluster, key: &str, from: u16, to: u16) {
    let slot: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query(&mut node(from)).unwrap();
    let (from_id, to_id) = (node_id(from), node_id(to));
    let setslot = |port: u16, how: &str, id: &str| {
        let _: () =
            redis::cmd("CLUSTER").arg("SETSLOT").arg(slot).arg(how).arg(id).query(&mut node(port)).unwrap();
    };
    setslot(to, "IMPORTING", &from_id);
    setslot(from, "MIGRATING", &to_id);
    let keys: Vec<String> =
        redis::cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(1000).query(&mut node(from)).unwrap();
    assert!(!keys.is_empty(), "slot {slot} of {key} holds no key on {from}");
    let _: () = redis::cmd("MIGRATE")
        .arg("127.0.0.1")
        .arg(to)
        .arg("")
        .arg(0)
        .arg(5000)
        .arg("KEYS")
        .arg(&keys)
        .query(&mut node(from))
        .unwrap();
    for &port in &cluster.ports {
        setslot(port, "NODE", &to_id);
    }
}

#[test]
fn after_a_slot_moves_to_another_master_later_batches_are_exported_there() {
    let test = "after_a_slot_moves_to_another_master_later_batches_are_exported_there";
    let Some(server) = require("redis-server", test) else { return };
    let Some(cli) = require("redis-cli", test) else { return };
    let cluster = Cluster::start(&server, &cli);
    let key = partition_key("moving", "p");
    let from = cluster.owner(&key);
    let to = *cluster.ports.iter().find(|&&p| p != from).unwrap();
    let breaker = BreakerConfig {
        open_after: 100,
        cooldown: Duration::from_millis(10),
        max_cooldown: Duration::from_millis(10),
    };
    let exporter = RedisStreams::cluster_builder(cluster.urls())
        .stream("moving")
        .partition(Partition::Fixed("p".to_owned()))
        .connect_timeout(Duration::from_millis(500))
        .io_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let telemetry =
        Telemetry::<Sample>::builder().batch_size(10).breaker(breaker).exporter(exporter).start().unwrap();
    let exported = |telemetry: &Telemetry<Sample>| telemetry.health().exporters()[0].events_exported();
    for seq in 0..10 {
        let _ = telemetry.emit(Sample { producer: 0, seq });
    }
    telemetry.flush(PATIENCE).unwrap();
    assert_eq!(exported(&telemetry), 10);

    move_slot(&cluster, &key, from, to);
    assert_eq!(cluster.owner(&key), to);

    // The first batch after the move may fail (a `MOVED` reply); the ones
    // after it must reach the slot's new master.
    let deadline = Instant::now() + PATIENCE;
    let mut seq = 10;
    while exported(&telemetry) < 30 {
        assert!(Instant::now() < deadline, "no batch exported after the move: {}", telemetry.health());
        for _ in 0..10 {
            let _ = telemetry.emit(Sample { producer: 0, seq });
            seq += 1;
        }
        let _ = telemetry.flush(PATIENCE);
    }
    let on_new_master: u64 = redis::cmd("XLEN").arg(&key).query(&mut node(to)).unwrap();
    assert_eq!(on_new_master, exported(&telemetry), "every exported event is on the new master");
    // The batch the move redirected, if any, is reported lost.
    close_report(telemetry.close(PATIENCE));
}
