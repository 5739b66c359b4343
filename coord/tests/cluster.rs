//! Signals, approval gates and ratings against a real 3-master Redis
//! Cluster started on loopback ports (the main crate's cluster fixture):
//! each concept's keys share a hash tag, so the multi-key scripts, the
//! transactions and the two-stream blocking read are legal and run on the
//! master owning that slot. Then that master killed: typed errors, nothing
//! hangs, and a rating namespace on another master keeps working. Nothing
//! waits by sleeping.

mod common;

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use common::cluster::{node, Cluster};
use common::server::require;
use common::{wait_until, PATIENCE};
use ringtel_coord::approvals::{ApprovalOutcome, Approvals, Decision, RespondOutcome};
use ringtel_coord::ratings::{Rating, Ratings};
use ringtel_coord::signals::{SignalCheck, SignalWait, Signals, Target};
use ringtel_coord::{BackendErrorKind, RatingError, SignalError};

fn signals(urls: &[String], agent: &str) -> Signals {
    Signals::cluster_builder(urls.to_vec(), agent)
        .connect_timeout(Duration::from_millis(500))
        .io_timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

fn approvals(urls: &[String], agent: &str) -> Approvals {
    Approvals::cluster_builder(urls.to_vec(), agent)
        .connect_timeout(Duration::from_millis(500))
        .io_timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

fn ratings(urls: &[String], namespace: &str) -> Ratings {
    Ratings::cluster_builder(urls.to_vec(), namespace)
        .connect_timeout(Duration::from_millis(500))
        .io_timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

/// How many clients are blocked in a blocking command on one node.
fn blocked_clients(port: u16) -> u64 {
    let info: String = redis::cmd("INFO").arg("clients").query(&mut node(port)).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("blocked_clients:"))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// A rating namespace whose keys live on another master than `avoid`.
fn namespace_not_on(cluster: &Cluster, avoid: u16) -> (String, u16) {
    for i in 0.. {
        let namespace = format!("ns{i}");
        let owner = cluster.owner(&format!("{{ringtel:coord:ratings:{namespace}}}"));
        if owner != avoid {
            return (namespace, owner);
        }
    }
    unreachable!()
}

#[test]
fn signals_approvals_and_ratings_on_a_cluster_and_a_dead_master_is_a_typed_error() {
    let test = "signals_approvals_and_ratings_on_a_cluster_and_a_dead_master_is_a_typed_error";
    let Some(server) = require("redis-server", test) else { return };
    let Some(cli) = require("redis-cli", test) else { return };
    let mut cluster = Cluster::start(&server, &cli);
    let urls = cluster.urls();
    let sig_master = cluster.owner("{ringtel:coord:sig}");
    let appr_master = cluster.owner("{ringtel:coord:appr}");

    // ---- Signals: the send script (two keys), check (two keys), and a
    // blocking wait over two streams, all on the signal keys' master.
    let mut a = signals(&urls, "a");
    let mut b = signals(&urls, "b");
    assert_eq!(b.check("go").unwrap(), SignalCheck::NotYetSent);
    let id = a.send(Target::agent("b").unwrap(), "go", b"work", Duration::from_secs(30)).unwrap();
    let SignalCheck::Received(signal) = b.check("go").unwrap() else { panic!("a fresh signal is received") };
    assert_eq!((signal.id, signal.payload.as_slice()), (id, &b"work"[..]));
    let on_master: u64 =
        redis::cmd("XLEN").arg("{ringtel:coord:sig}:stream:b").query(&mut node(sig_master)).unwrap();
    assert_eq!(on_master, 1);

    let mut waiter = signals(&urls, "c");
    let blocked_before = blocked_clients(sig_master);
    let handle = thread::spawn(move || {
        let outcome = waiter.wait("handover", PATIENCE).unwrap();
        (outcome, Instant::now())
    });
    wait_until("the waiter blocks on the signal keys' master", || {
        blocked_clients(sig_master) > blocked_before
    });
    let sent = Instant::now();
    a.broadcast("handover", b"batch-1", Duration::from_secs(30)).unwrap();
    let (outcome, woke) = handle.join().unwrap();
    assert!(matches!(outcome, SignalWait::Received(ref s) if s.payload == b"batch-1"), "{outcome:?}");
    // `Received` (not a timeout after PATIENCE) says the broadcast woke the
    // blocked read; the bound is loose for a loaded machine.
    let latency = woke.saturating_duration_since(sent);
    assert!(latency < Duration::from_secs(5), "woke {latency:?} after the broadcast");

    // ---- Approvals: the compare-and-set script (three keys) decides once
    // under a race of two responders, and the requester's wait sees it.
    let mut requester = approvals(&urls, "requester");
    let mut responders = [approvals(&urls, "r0"), approvals(&urls, "r1")];
    for race in 0..20 {
        let id = requester.request("deploy", b"v2", Duration::from_secs(60)).unwrap();
        let barrier = Barrier::new(2);
        let outcomes: Vec<RespondOutcome> = thread::scope(|scope| {
            let handles: Vec<_> = responders
                .iter_mut()
                .enumerate()
                .map(|(i, responder)| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        let decision = if i == 0 {
                            Decision::approve("r0", format!("race {race}"))
                        } else {
                            Decision::reject("r1", format!("race {race}"))
                        };
                        barrier.wait();
                        responder.respond(id, decision).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(outcomes.iter().filter(|o| **o == RespondOutcome::Recorded).count(), 1, "{outcomes:?}");
        let winner = requester.wait(id).unwrap();
        assert!(matches!(winner, ApprovalOutcome::Approved { .. } | ApprovalOutcome::Rejected { .. }));
    }
    assert!(requester.pending().unwrap().is_empty());
    let open = requester.request("open", b"", Duration::from_secs(60)).unwrap();
    let pending = requester.pending().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].id, open);
    let on_master: u64 =
        redis::cmd("ZCARD").arg("{ringtel:coord:appr}:pending").query(&mut node(appr_master)).unwrap();
    assert_eq!(on_master, 1);

    // ---- Ratings: the transaction (item and audit stream) counts exactly
    // under 4 threads, in a namespace on another master than the signals.
    let (namespace, ratings_master) = namespace_not_on(&cluster, sig_master);
    thread::scope(|scope| {
        for t in 0..4 {
            let (urls, namespace) = (&urls, &namespace);
            scope.spawn(move || {
                let mut ratings = ratings(urls, namespace);
                for i in 0..100 {
                    let rating = if (t + i) % 4 == 0 { Rating::Bad } else { Rating::Good };
                    ratings.rate("shared", rating).unwrap();
                }
            });
        }
    });
    let mut rated = ratings(&urls, &namespace);
    let counts = rated.counts("shared").unwrap();
    assert_eq!((counts.total(), counts.bad), (400, 100));
    let audit: u64 = redis::cmd("XLEN")
        .arg(format!("{{ringtel:coord:ratings:{namespace}}}:audit"))
        .query(&mut node(ratings_master))
        .unwrap();
    assert_eq!(audit, 400, "one audit entry per rating");
    rated.rate("other", Rating::Good).unwrap();
    let ranked = rated.rank(["unrated", "other", "shared"]).unwrap();
    let order: Vec<&str> = ranked.iter().map(|r| r.item.as_str()).collect();
    assert_eq!(order.last(), Some(&"unrated"), "{order:?}");

    // ---- Kill the signal keys' master: typed errors within the timeouts.
    let (live_prefix, live_master) = (0..)
        .map(|i| format!("live{i}"))
        .map(|prefix| {
            let owner = cluster.owner(&format!("{{{prefix}:appr}}"));
            (prefix, owner)
        })
        .find(|(_, owner)| *owner != sig_master)
        .unwrap();
    let dead_namespace = (0..)
        .map(|i| format!("dead{i}"))
        .find(|ns| cluster.owner(&format!("{{ringtel:coord:ratings:{ns}}}")) == sig_master)
        .unwrap();
    let at = cluster.ports.iter().position(|&p| p == sig_master).unwrap();
    cluster.servers[at].kill();
    let started = Instant::now();
    match a.send(Target::agent("b").unwrap(), "go", b"", Duration::from_secs(1)) {
        Err(SignalError::Backend(err)) => {
            assert!(matches!(err.kind(), BackendErrorKind::Unreachable | BackendErrorKind::Timeout), "{err}");
            assert!(err.to_string().starts_with("redis at cluster(127.0.0.1:"), "{err}");
        }
        other => panic!("expected a backend error from a dead master, got {other:?}"),
    }
    assert!(matches!(b.check("go"), Err(SignalError::Backend(_))));
    let mut waiter = signals(&urls, "c");
    assert!(matches!(waiter.wait("never", Duration::from_secs(1)), Err(SignalError::Backend(_))));
    assert!(started.elapsed() < Duration::from_secs(10), "errors took {:?}", started.elapsed());

    // The ratings namespace (on another master, by choice) keeps counting;
    // if the dead master also held the approvals, they fail the same typed way.
    rated.rate("shared", Rating::Good).unwrap();
    assert_eq!(rated.counts("shared").unwrap().total(), 401);
    if appr_master == sig_master {
        assert!(requester.pending().is_err());
    } else {
        assert_eq!(requester.pending().unwrap().len(), 1);
    }
    // A live master lacking the scripts (flushed, as after a restart, or a
    // replica just promoted) still runs them while another master is down:
    // on a cluster they go as EVAL, never through a SCRIPT LOAD to every node.
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut node(live_master)).unwrap();
    let mut gate = Approvals::cluster_builder(urls.clone(), "requester")
        .prefix(&live_prefix)
        .connect_timeout(Duration::from_millis(500))
        .io_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let id = gate.request("after-the-kill", b"", Duration::from_secs(60)).unwrap();
    assert_eq!(gate.respond(id, Decision::approve("alice", "ok")).unwrap(), RespondOutcome::Recorded);
    assert!(matches!(gate.wait(id).unwrap(), ApprovalOutcome::Approved { .. }));

    let mut on_dead = ratings(&urls, &dead_namespace);
    assert!(matches!(on_dead.rate("x", Rating::Good), Err(RatingError::Backend(_))));
}

/// Pauses writes on the master at `port` for `pause` (timed by the server).
fn pause_writes(port: u16, pause: Duration) {
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(pause.as_millis() as u64)
        .arg("WRITE")
        .query(&mut node(port))
        .unwrap();
}

#[test]
fn a_write_the_cluster_client_sends_again_after_a_read_timeout_takes_effect_once() {
    let test = "a_write_the_cluster_client_sends_again_after_a_read_timeout_takes_effect_once";
    let Some(server) = require("redis-server", test) else { return };
    let Some(cli) = require("redis-cli", test) else { return };
    let cluster = Cluster::start(&server, &cli);
    let urls = cluster.urls();
    // Each write's master stops running writes for 1.5 I/O timeouts: the
    // first try times out while the script waits, queued, on the server;
    // the redis crate sends it again on the same connection (skipping the
    // late reply to the first try when it comes), where it queues
    // too. When the pause ends both run, in order: the repeat must find the
    // first run's token and change nothing.
    let io = Duration::from_secs(1);
    let pause = io * 3 / 2;

    let namespace = "once";
    let ratings_master = cluster.owner(&format!("{{ringtel:coord:ratings:{namespace}}}"));
    let mut rated = Ratings::cluster_builder(urls.clone(), namespace).io_timeout(io).build().unwrap();
    assert_eq!(rated.counts("item").unwrap().total(), 0);
    pause_writes(ratings_master, pause);
    let started = Instant::now();
    let counts = rated.rate("item", Rating::Good).unwrap();
    assert!(started.elapsed() >= io, "the rating outwaited one I/O timeout ({:?})", started.elapsed());
    assert_eq!((counts.good, counts.bad), (1, 0));
    assert_eq!(rated.counts("item").unwrap().total(), 1, "counted once");
    let audit: u64 = redis::cmd("XLEN")
        .arg(format!("{{ringtel:coord:ratings:{namespace}}}:audit"))
        .query(&mut node(ratings_master))
        .unwrap();
    assert_eq!(audit, 1, "one audit entry");

    let appr_master = cluster.owner("{ringtel:coord:appr}");
    let mut gate = Approvals::cluster_builder(urls.clone(), "requester").io_timeout(io).build().unwrap();
    let id = gate.request("deploy", b"", Duration::from_secs(60)).unwrap();
    pause_writes(appr_master, pause);
    let outcome = gate.respond(id, Decision::approve("alice", "ok")).unwrap();
    assert_eq!(outcome, RespondOutcome::Recorded, "the caller's own decision is recorded, once");
    assert!(matches!(gate.wait(id).unwrap(), ApprovalOutcome::Approved { ref by, .. } if by == "alice"));
    let events: u64 = redis::cmd("XLEN")
        .arg(format!("{{ringtel:coord:appr}}:events:{}", id.as_u64()))
        .query(&mut node(appr_master))
        .unwrap();
    assert_eq!(events, 1, "one state change");

    let sig_master = cluster.owner("{ringtel:coord:sig}");
    let mut a = Signals::cluster_builder(urls.clone(), "a").io_timeout(io).build().unwrap();
    pause_writes(sig_master, pause);
    a.send(Target::agent("b").unwrap(), "go", b"once", Duration::from_secs(30)).unwrap();
    let stored: u64 =
        redis::cmd("XLEN").arg("{ringtel:coord:sig}:stream:b").query(&mut node(sig_master)).unwrap();
    assert_eq!(stored, 1, "stored once");
}
