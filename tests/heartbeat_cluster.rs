//! Consumer heartbeats against a real 3-master Redis Cluster started on
//! loopback ports: publishers whose keys carry hash tags on two different
//! masters, read back alive (one key, and the index), then stopped
//! (`Stopped`); then the master holding one tag's slot killed: its
//! publisher's beats fail and are counted with a typed error, its reader
//! gets a typed error, nothing hangs, and the publisher on the other master
//! keeps beating. Nothing waits by sleeping.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{node, Cluster};
use common::server::require;
use common::{wait_until, PATIENCE};
use ringtel::exporters::redis::{
    HeartbeatError, HeartbeatPublisher, HeartbeatReader, HeartbeatStartError, Liveness, RedisConfigError,
};
use ringtel::{Clock, ExportErrorKind, SystemClock};

/// Two hash tags whose slots live on different masters.
fn two_tags(cluster: &Cluster) -> [(String, u16); 2] {
    let first = ("agents-0".to_owned(), cluster.owner("{agents-0}"));
    for i in 1.. {
        let tag = format!("agents-{i}");
        let owner = cluster.owner(&format!("{{{tag}}}"));
        if owner != first.1 {
            return [first, (tag, owner)];
        }
    }
    unreachable!()
}

fn publisher(urls: &[String], key: &str) -> HeartbeatPublisher {
    let clock = SystemClock::new();
    HeartbeatPublisher::cluster_builder(urls.to_vec(), key, move || Some(clock.now()))
        .interval(Duration::from_millis(20))
        .stale_after(Duration::from_secs(3))
        .ttl(Duration::from_secs(10))
        .connect_timeout(Duration::from_millis(300))
        .io_timeout(Duration::from_millis(300))
        .host("test-host")
        .start()
        .unwrap()
}

fn reader(urls: &[String], key: &str) -> HeartbeatReader {
    HeartbeatReader::cluster_builder(urls.to_vec(), key)
        .stale_after(Duration::from_secs(3))
        .connect_timeout(Duration::from_millis(300))
        .io_timeout(Duration::from_millis(300))
        .build()
        .unwrap()
}

#[test]
fn heartbeats_on_a_cluster_alive_listed_stopped_and_a_dead_master_only_fails_its_own() {
    let test = "heartbeats_on_a_cluster_alive_listed_stopped_and_a_dead_master_only_fails_its_own";
    let Some(server) = require("redis-server", test) else { return };
    let Some(cli) = require("redis-cli", test) else { return };
    let mut cluster = Cluster::start(&server, &cli);
    let urls = cluster.urls();
    let [(doomed_tag, doomed), (living_tag, _)] = two_tags(&cluster);

    let key = |tag: &str, agent: &str| format!("ringtel:heartbeat:{{{tag}}}:{agent}");
    let (w1, w2, other) = (key(&doomed_tag, "w1"), key(&doomed_tag, "w2"), key(&living_tag, "w3"));
    let index = format!("ringtel:heartbeats:{{{doomed_tag}}}");
    let p1 = publisher(&urls, &w1);
    let p2 = publisher(&urls, &w2);
    let p3 = publisher(&urls, &other);
    for p in [&p1, &p2, &p3] {
        wait_until("every publisher has beaten twice", || p.stats().published >= 2);
    }
    // The record and the index are on the master owning the tag's slot.
    let on_master: Option<String> = redis::cmd("GET").arg(&w1).query(&mut node(doomed)).unwrap();
    assert!(on_master.unwrap().contains(r#""host":"test-host""#));
    // Scored by the time of the last write: sort for a stable order.
    let mut indexed: Vec<String> =
        redis::cmd("ZRANGE").arg(&index).arg(0).arg(-1).query(&mut node(doomed)).unwrap();
    indexed.sort();
    assert_eq!(indexed, [w1.clone(), w2.clone()]);

    let mut r1 = reader(&urls, &w1);
    assert_eq!(r1.index(), index);
    assert!(matches!(r1.read().unwrap(), Liveness::Alive { .. }), "{:?}", r1.read());
    assert_eq!(r1.read_record().unwrap().unwrap().host, "test-host");
    let listed = r1.list().unwrap();
    let keys: Vec<&str> = listed.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, [w1.as_str(), w2.as_str()]);
    assert!(listed.iter().all(|a| a.liveness.is_alive()), "{listed:?}");
    let mut r3 = reader(&urls, &other);
    assert_eq!(r3.index(), format!("ringtel:heartbeats:{{{living_tag}}}"));
    assert!(r3.read().unwrap().is_alive());

    // A graceful stop writes the stop record through the cluster too.
    let stats = p2.stop();
    assert_eq!(stats.failed, 0, "{stats:?}");
    let mut r2 = reader(&urls, &w2);
    assert!(matches!(r2.read().unwrap(), Liveness::Stopped { .. }));

    // Kill the master holding `{doomed_tag}`'s slot.
    let at = cluster.ports.iter().position(|&p| p == doomed).unwrap();
    cluster.servers[at].kill();
    let killed = Instant::now();
    let failed_before = p1.stats().failed;
    wait_until("the doomed publisher counts failed beats", || p1.stats().failed >= failed_before + 2);
    let stats = p1.stats();
    let error = stats.last_error.clone().unwrap();
    assert!(
        error.starts_with("transport error: redis at cluster(")
            || error.starts_with("timed out: redis at cluster(")
            || error.starts_with("rejected by peer: redis at cluster("),
        "{error}"
    );
    // Reading the dead master's key is a typed error, promptly.
    let started = Instant::now();
    match r1.read() {
        Err(HeartbeatError::Redis(err)) => {
            assert!(
                matches!(
                    err.kind(),
                    ExportErrorKind::Transport | ExportErrorKind::Timeout | ExportErrorKind::Rejected
                ),
                "{err}"
            );
            assert!(err.message().starts_with("redis at cluster(127.0.0.1:"), "{err}");
        }
        other => panic!("expected a Redis error from a dead master, got {other:?}"),
    }
    assert!(r1.list().is_err());
    assert!(started.elapsed() < Duration::from_secs(10), "reads took {:?}", started.elapsed());

    // The publisher on the living master keeps beating, and reads alive.
    let published = p3.stats().published;
    wait_until("the living publisher keeps beating", || p3.stats().published >= published + 3);
    assert!(r3.read().unwrap().is_alive());

    // Stopping the doomed publisher returns promptly: its stop record fails
    // and is counted, nothing hangs.
    let started = Instant::now();
    let stats = p1.stop();
    assert!(started.elapsed() < Duration::from_secs(10), "stop took {:?}", started.elapsed());
    assert!(stats.failed >= failed_before + 2, "{stats:?}");
    let stats = p3.stop();
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert!(killed.elapsed() < PATIENCE);
}

#[test]
fn a_cluster_publisher_needs_a_hash_tag_shared_with_its_index() {
    let nodes = ["redis://127.0.0.1:1"];
    let err = HeartbeatPublisher::cluster_builder(nodes, "hb:w1", || None).start().unwrap_err();
    assert!(
        matches!(err, HeartbeatStartError::Config(RedisConfigError::InvalidSetting { field: "key", .. })),
        "{err}"
    );
    let err = HeartbeatPublisher::cluster_builder(nodes, "hb:{a}:w1", || None)
        .index("heartbeats:{b}")
        .start()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid value "heartbeats:{b}" for `index`: expected a key with the heartbeat key's hash tag on a cluster (one script writes both)"#
    );
    let ok = HeartbeatPublisher::cluster_builder(nodes, "hb:{a}:w1", || None).index("heartbeats:{a}").start();
    assert!(ok.is_ok());
}

#[test]
fn a_cluster_reader_of_a_key_without_a_hash_tag_needs_an_index() {
    let nodes = ["redis://127.0.0.1:1"];
    // No cluster publisher writes the untagged default index: `list` would
    // find nothing, ever, so building fails instead.
    let err = HeartbeatReader::cluster_builder(nodes, "hb:w1").build().unwrap_err();
    assert!(matches!(err, RedisConfigError::InvalidSetting { field: "key", .. }), "{err}");
    let reader = HeartbeatReader::cluster_builder(nodes, "hb:w1").index("heartbeats:{a}").build().unwrap();
    assert_eq!(reader.index(), "heartbeats:{a}");
    let reader = HeartbeatReader::cluster_builder(nodes, "hb:{a}:w1").build().unwrap();
    assert_eq!(reader.index(), "ringtel:heartbeats:{a}");
}
