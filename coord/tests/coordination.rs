//! Signals, approval gates and ratings against a real `redis-server` on a
//! free loopback port, started and killed (by PID) by each test. Nothing
//! waits by sleeping: tests wait on a condition with a deadline — the
//! server's own clock passing a mark, a client being blocked, a count.
//!
//! The "killed requester" test re-invokes this test binary as a child
//! process (`child_requester`, ignored when run directly), reads the id it
//! printed, and kills it with SIGKILL.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{redis, wait_until, PATIENCE};
use ringtel::{ManualClock, Timestamp};
use ringtel_coord::approvals::{
    ApprovalId, ApprovalOutcome, ApprovalStatus, Approvals, Decision, RespondOutcome,
};
use ringtel_coord::ratings::{Confidence, Rating, Ratings};
use ringtel_coord::signals::{SignalCheck, SignalWait, Signals, Target};
use ringtel_coord::{ApprovalError, BackendErrorKind, RatingError, SignalError};

fn signals(url: &str, agent: &str) -> Signals {
    Signals::builder(url, agent)
        .connect_timeout(Duration::from_secs(1))
        .io_timeout(Duration::from_secs(1))
        .build()
        .unwrap()
}

fn approvals(url: &str, agent: &str) -> Approvals {
    Approvals::builder(url, agent)
        .connect_timeout(Duration::from_secs(1))
        .io_timeout(Duration::from_secs(1))
        .build()
        .unwrap()
}

fn ms(t: Timestamp) -> u64 {
    t.as_nanos() / 1_000_000
}

// ---- Signals ---------------------------------------------------------------

#[test]
fn ttl_200ms_checked_at_300ms_is_expired_and_before_sending_not_yet_sent() {
    let Some(server) = redis("ttl_200ms_checked_at_300ms_is_expired_and_before_sending_not_yet_sent") else {
        return;
    };
    let mut a = signals(&server.url(), "a");
    let mut b = signals(&server.url(), "b");
    assert_eq!(b.check("go").unwrap(), SignalCheck::NotYetSent);

    let id = a.send(Target::agent("b").unwrap(), "go", b"work", Duration::from_millis(200)).unwrap();
    let SignalCheck::Received(signal) = b.check("go").unwrap() else { panic!("a fresh signal is received") };
    assert_eq!(signal.id, id);
    assert_eq!((signal.source.as_str(), signal.payload_str()), ("a", Some("work")));
    assert_eq!(ms(signal.expires_at) - ms(signal.sent_at), 200);

    // 300 ms after the send, on the server's clock.
    server.wait_server_time(ms(signal.sent_at) + 300);
    match b.check("go").unwrap() {
        SignalCheck::Expired { id: expired, sent_at, expired_at } => {
            assert_eq!(expired, id);
            assert_eq!(sent_at, signal.sent_at);
            assert_eq!(expired_at, signal.expires_at);
        }
        other => panic!("expected expired, got {other:?}"),
    }
    // A wait finds it, and says it expired.
    match b.wait("go", PATIENCE).unwrap() {
        SignalWait::Expired { id: expired, .. } => assert_eq!(expired, id),
        other => panic!("expected expired, got {other:?}"),
    }
    // Other kinds are still not sent.
    assert_eq!(b.check("stop").unwrap(), SignalCheck::NotYetSent);
}

#[test]
fn a_waiter_wakes_within_50ms_of_the_send() {
    let Some(server) = redis("a_waiter_wakes_within_50ms_of_the_send") else { return };
    let url = server.url();
    let mut b = signals(&url, "b");
    let waiter = thread::spawn(move || {
        let outcome = b.wait("handover", PATIENCE).unwrap();
        (outcome, Instant::now())
    });
    wait_until("the waiter blocks on the server", || server.blocked_clients() >= 1);
    let mut a = signals(&url, "a");
    // Connect first, so the measured send is one round trip.
    assert_eq!(a.check("warm-up").unwrap(), SignalCheck::NotYetSent);
    let sent = Instant::now();
    a.send(Target::agent("b").unwrap(), "handover", b"batch-1", Duration::from_secs(30)).unwrap();
    let (outcome, woke) = waiter.join().unwrap();
    let latency = woke.saturating_duration_since(sent);
    assert!(matches!(outcome, SignalWait::Received(ref s) if s.payload == b"batch-1"), "{outcome:?}");
    assert!(latency < Duration::from_millis(50), "woke {latency:?} after the send");
}

#[test]
fn two_readers_both_receive_one_broadcast() {
    let Some(server) = redis("two_readers_both_receive_one_broadcast") else { return };
    let url = server.url();
    let mut readers: Vec<Signals> = ["b", "c"].iter().map(|name| signals(&url, name)).collect();
    let mut a = signals(&url, "a");
    let id = a.broadcast("pause", b"", Duration::from_secs(30)).unwrap();
    assert_eq!(id.target(), &Target::Broadcast);
    for reader in &mut readers {
        match reader.wait("pause", PATIENCE).unwrap() {
            SignalWait::Received(signal) => assert_eq!(signal.id, id),
            other => panic!("{} did not receive the broadcast: {other:?}", reader.agent()),
        }
        // Reading it consumed nothing for the others, nor for `check`.
        assert!(matches!(reader.check("pause").unwrap(), SignalCheck::Received(ref s) if s.id == id));
    }
    // The sender, too, is "every agent".
    assert!(matches!(a.check("pause").unwrap(), SignalCheck::Received(_)));
    // Each reader's cursor has moved past it: no second delivery.
    let mut b = readers.remove(0);
    assert!(matches!(b.wait("pause", Duration::from_millis(100)).unwrap(), SignalWait::TimedOut { .. }));
}

#[test]
fn a_signal_for_c_never_reaches_b() {
    let Some(server) = redis("a_signal_for_c_never_reaches_b") else { return };
    let url = server.url();
    let (mut a, mut b, mut c) = (signals(&url, "a"), signals(&url, "b"), signals(&url, "c"));
    a.send(Target::agent("c").unwrap(), "go", b"for c", Duration::from_secs(30)).unwrap();
    match b.wait("go", Duration::from_millis(300)).unwrap() {
        SignalWait::TimedOut { waited } => assert!(waited >= Duration::from_millis(300), "{waited:?}"),
        other => panic!("b saw c's signal: {other:?}"),
    }
    assert_eq!(b.check("go").unwrap(), SignalCheck::NotYetSent);
    assert!(matches!(c.wait("go", PATIENCE).unwrap(), SignalWait::Received(ref s) if s.payload == b"for c"));
}

#[test]
fn wait_keeps_other_kinds_and_times_out_on_the_injected_clock() {
    let Some(server) = redis("wait_keeps_other_kinds_and_times_out_on_the_injected_clock") else { return };
    let url = server.url();
    let clock = ManualClock::new(Timestamp::from_nanos(1_000_000_000));
    let mut b = Signals::builder(&url, "b")
        .clock(clock.clone())
        .wait_slice(Duration::from_millis(5))
        .build()
        .unwrap();
    let mut a = signals(&url, "a");
    a.send(Target::agent("b").unwrap(), "first", b"1", Duration::from_secs(30)).unwrap();
    a.send(Target::agent("b").unwrap(), "second", b"2", Duration::from_secs(30)).unwrap();
    assert!(matches!(b.wait("second", PATIENCE).unwrap(), SignalWait::Received(ref s) if s.payload == b"2"));
    assert!(matches!(b.wait("first", PATIENCE).unwrap(), SignalWait::Received(ref s) if s.payload == b"1"));
    // Nothing more: the wait ends when the injected clock passes the
    // timeout, however long real time says it has been.
    let mover = clock.clone();
    let handle = thread::spawn(move || b.wait("first", Duration::from_secs(3600)).unwrap());
    wait_until("the waiter blocks", || server.blocked_clients() >= 1);
    mover.advance(Duration::from_secs(3600));
    assert_eq!(handle.join().unwrap(), SignalWait::TimedOut { waited: Duration::from_secs(3600) });
}

#[test]
fn server_stopped_is_a_typed_error_and_nothing_hangs() {
    let Some(mut server) = redis("server_stopped_is_a_typed_error_and_nothing_hangs") else { return };
    let url = server.url();
    let mut a = signals(&url, "a");
    let mut gate = approvals(&url, "a");
    let mut ratings = Ratings::builder(&url, "test").io_timeout(Duration::from_secs(1)).build().unwrap();
    a.send(Target::agent("b").unwrap(), "go", b"", Duration::from_secs(30)).unwrap();
    let id = gate.request("deploy", b"", Duration::from_secs(60)).unwrap();
    // A waiter blocked on the server when it dies gets an error too.
    let mut waiting = signals(&url, "w");
    let waiter = thread::spawn(move || {
        let started = Instant::now();
        (waiting.wait("never", Duration::from_secs(60)), started.elapsed())
    });
    wait_until("the waiter blocks", || server.blocked_clients() >= 1);
    server.server.kill();

    let started = Instant::now();
    let unreachable = |kind: BackendErrorKind| kind == BackendErrorKind::Unreachable;
    match a.send(Target::agent("b").unwrap(), "go", b"", Duration::from_secs(30)) {
        Err(SignalError::Backend(err)) => assert!(unreachable(err.kind()), "{err}"),
        other => panic!("a send to a dead server must fail, not {other:?}"),
    }
    assert!(matches!(a.check("go"), Err(SignalError::Backend(ref e)) if unreachable(e.kind())));
    assert!(
        matches!(a.wait("go", Duration::from_secs(60)), Err(SignalError::Backend(ref e)) if unreachable(e.kind()))
    );
    assert!(matches!(gate.wait(id), Err(ApprovalError::Backend(ref e)) if unreachable(e.kind())));
    assert!(matches!(gate.pending(), Err(ApprovalError::Backend(_))));
    assert!(matches!(ratings.rate("x", Rating::Good), Err(RatingError::Backend(_))));
    assert!(started.elapsed() < Duration::from_secs(10), "errors took {:?}", started.elapsed());
    let (outcome, waited) = waiter.join().unwrap();
    let err = outcome.unwrap_err();
    assert!(matches!(err, SignalError::Backend(ref e) if unreachable(e.kind())), "{err}");
    assert!(waited < Duration::from_secs(10), "the blocked waiter took {waited:?}");
    assert!(std::error::Error::source(&err).is_some());
}

// ---- Approvals -------------------------------------------------------------

#[test]
fn no_responder_times_out_and_pending_empties_without_any_sweep() {
    let Some(server) = redis("no_responder_times_out_and_pending_empties_without_any_sweep") else { return };
    let url = server.url();
    let mut requester = approvals(&url, "requester");
    let mut observer = approvals(&url, "observer");

    // A request nobody waits on or answers: gone from `pending` once its
    // deadline passes on the server, with nothing run in between.
    let lonely = requester.request("lonely", b"", Duration::from_millis(200)).unwrap();
    let listed = observer.pending().unwrap();
    assert_eq!(listed.iter().map(|p| p.id).collect::<Vec<_>>(), vec![lonely]);
    assert_eq!(listed[0].requester, "requester");
    let deadline = listed[0].deadline;
    assert_eq!(ms(deadline) - ms(listed[0].requested_at), 200);
    server.wait_server_time(ms(deadline));
    assert_eq!(observer.pending().unwrap(), vec![]);
    assert_eq!(
        observer.status(lonely).unwrap(),
        ApprovalStatus::Decided(ApprovalOutcome::TimedOut { deadline })
    );

    // A waiter gets `TimedOut`, not a rejection.
    let id = requester.request("deploy", b"v1", Duration::from_millis(200)).unwrap();
    let started = Instant::now();
    let outcome = requester.wait(id).unwrap();
    let ApprovalOutcome::TimedOut { deadline } = outcome else {
        panic!("expected a timeout, got {outcome:?}")
    };
    assert!(server.now_ms() >= ms(deadline));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(observer.pending().unwrap(), vec![]);
}

#[test]
fn a_late_response_is_expired_and_overwrites_nothing() {
    let Some(server) = redis("a_late_response_is_expired_and_overwrites_nothing") else { return };
    let url = server.url();
    let mut requester = approvals(&url, "requester");
    let mut reviewer = approvals(&url, "reviewer");
    let id = requester.request("deploy", b"", Duration::from_millis(200)).unwrap();
    let ApprovalStatus::Pending { deadline } = reviewer.status(id).unwrap() else { panic!() };
    server.wait_server_time(ms(deadline));
    // Nobody has marked it timed out yet: the answer itself finds it late.
    assert_eq!(
        reviewer.respond(id, Decision::approve("alice", "late")).unwrap(),
        RespondOutcome::Expired { deadline }
    );
    assert_eq!(
        reviewer.respond(id, Decision::reject("bob", "later")).unwrap(),
        RespondOutcome::Expired { deadline }
    );
    assert_eq!(requester.cancel(id, "requester").unwrap(), RespondOutcome::Expired { deadline });
    assert_eq!(requester.wait(id).unwrap(), ApprovalOutcome::TimedOut { deadline });
    assert_eq!(
        reviewer.respond(ApprovalId::from_u64(9_999), Decision::approve("a", "b")).unwrap(),
        RespondOutcome::Unknown
    );
}

#[test]
fn a_hundred_races_of_two_responders_have_one_winner_each() {
    let Some(server) = redis("a_hundred_races_of_two_responders_have_one_winner_each") else { return };
    let url = server.url();
    let mut requester = approvals(&url, "requester");
    let mut responders = [approvals(&url, "r0"), approvals(&url, "r1")];
    for race in 0..100 {
        let id = requester.request("race", b"", Duration::from_secs(60)).unwrap();
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
        let recorded = outcomes.iter().filter(|o| **o == RespondOutcome::Recorded).count();
        assert_eq!(recorded, 1, "race {race}: {outcomes:?}");
        let winner = requester.wait(id).unwrap();
        let loser = outcomes.iter().find(|o| **o != RespondOutcome::Recorded).unwrap();
        assert_eq!(loser, &RespondOutcome::AlreadyDecided(winner.clone()), "race {race}");
        assert!(matches!(winner, ApprovalOutcome::Approved { .. } | ApprovalOutcome::Rejected { .. }));
    }
}

#[test]
fn a_waiter_wakes_within_50ms_of_a_response() {
    let Some(server) = redis("a_waiter_wakes_within_50ms_of_a_response") else { return };
    let url = server.url();
    let mut requester = approvals(&url, "requester");
    let id = requester.request("deploy", b"v2", Duration::from_secs(60)).unwrap();
    let waiter = thread::spawn(move || {
        let outcome = requester.wait(id).unwrap();
        (outcome, Instant::now())
    });
    wait_until("the waiter blocks on the server", || server.blocked_clients() >= 1);
    let mut reviewer = approvals(&url, "reviewer");
    assert!(matches!(reviewer.status(id).unwrap(), ApprovalStatus::Pending { .. }));
    let answered = Instant::now();
    assert_eq!(reviewer.respond(id, Decision::approve("alice", "ok")).unwrap(), RespondOutcome::Recorded);
    let (outcome, woke) = waiter.join().unwrap();
    let latency = woke.saturating_duration_since(answered);
    match outcome {
        ApprovalOutcome::Approved { by, reason, .. } => {
            assert_eq!((by.as_str(), reason.as_str()), ("alice", "ok"))
        }
        other => panic!("expected approved, got {other:?}"),
    }
    assert!(latency < Duration::from_millis(50), "woke {latency:?} after the response");
}

#[test]
fn cancel_decides_once_and_answers_after_it_see_it() {
    let Some(server) = redis("cancel_decides_once_and_answers_after_it_see_it") else { return };
    let url = server.url();
    let mut requester = approvals(&url, "requester");
    let id = requester.request("deploy", b"", Duration::from_secs(60)).unwrap();
    assert_eq!(requester.cancel(id, "requester").unwrap(), RespondOutcome::Recorded);
    let outcome = requester.wait(id).unwrap();
    assert!(matches!(outcome, ApprovalOutcome::Cancelled { ref by, .. } if by == "requester"), "{outcome:?}");
    assert_eq!(
        requester.respond(id, Decision::approve("alice", "")).unwrap(),
        RespondOutcome::AlreadyDecided(outcome)
    );
    assert_eq!(requester.pending().unwrap(), vec![]);
}

/// Run only as the child of `a_killed_requesters_request_leaves_pending_after_its_deadline`.
#[test]
#[ignore = "a child process of a_killed_requesters_request_leaves_pending_after_its_deadline"]
fn child_requester() {
    let Ok(url) = std::env::var("RINGTEL_COORD_CHILD_URL") else { return };
    let mut gate = approvals(&url, "doomed");
    let id = gate.request("doomed-step", b"", Duration::from_millis(1_500)).unwrap();
    println!("REQUESTED {}", id.as_u64());
    // Wait to be killed (never returns on its own before the parent's patience).
    let _ = gate.wait(id);
    thread::park_timeout(PATIENCE);
}

#[test]
fn a_killed_requesters_request_leaves_pending_after_its_deadline() {
    let Some(server) = redis("a_killed_requesters_request_leaves_pending_after_its_deadline") else { return };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_requester", "--ignored", "--nocapture", "--test-threads=1"])
        .env("RINGTEL_COORD_CHILD_URL", server.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let id = stdout
        .lines()
        .map_while(Result::ok)
        // The harness prints `test child_requester ... ` on the same line.
        .find_map(|line| line.split_once("REQUESTED ").map(|(_, id)| id.trim().parse::<u64>().unwrap()))
        .expect("the child printed its request id");
    let id = ApprovalId::from_u64(id);
    child.kill().unwrap();
    child.wait().unwrap();

    let mut observer = approvals(&server.url(), "observer");
    let ApprovalStatus::Pending { deadline } = observer.status(id).unwrap() else {
        panic!("the child's request should still be open (1.5 s timeout)")
    };
    assert_eq!(observer.pending().unwrap().iter().map(|p| p.id).collect::<Vec<_>>(), vec![id]);
    server.wait_server_time(ms(deadline));
    assert_eq!(observer.pending().unwrap(), vec![], "a dead requester's request outlived its deadline");
    assert_eq!(observer.status(id).unwrap(), ApprovalStatus::Decided(ApprovalOutcome::TimedOut { deadline }));
}

// ---- Ratings ---------------------------------------------------------------

#[test]
fn eight_threads_rating_500_times_each_count_exactly_4000() {
    let Some(server) = redis("eight_threads_rating_500_times_each_count_exactly_4000") else { return };
    let url = Arc::new(server.url());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let url = Arc::clone(&url);
            thread::spawn(move || {
                let mut ratings = Ratings::builder(url.as_str(), "concurrency").build().unwrap();
                for i in 0..500 {
                    let rating = if (t + i) % 4 == 0 { Rating::Bad } else { Rating::Good };
                    ratings.rate("shared", rating).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let mut ratings = Ratings::builder(url.as_str(), "concurrency").build().unwrap();
    let counts = ratings.counts("shared").unwrap();
    assert_eq!(counts.total(), 4_000);
    assert_eq!(counts.bad, 1_000);
    let audit: u64 = redis::cmd("XLEN")
        .arg("{ringtel:coord:ratings:concurrency}:audit")
        .query(&mut server.client())
        .unwrap();
    assert_eq!(audit, 4_000, "one audit entry per rating");
}

#[test]
fn one_bad_rating_moves_an_unrated_item_by_at_most_0_1() {
    let Some(server) = redis("one_bad_rating_moves_an_unrated_item_by_at_most_0_1") else { return };
    let mut ratings = Ratings::builder(server.url(), "swing").build().unwrap();
    let before = ratings.confidence("new-template").unwrap();
    assert_eq!(before, Confidence::Unrated { prior_mean: 0.5 });
    ratings.rate("new-template", Rating::Bad).unwrap();
    let after = ratings.confidence("new-template").unwrap();
    assert!(matches!(after, Confidence::Estimated { n: 1, .. }), "{after:?}");
    assert!((before.score() - after.score()).abs() <= 0.1, "{before:?} -> {after:?}");
    assert!((before.mean() - after.mean()).abs() <= 0.1 + 1e-12, "{before:?} -> {after:?}");
}

#[test]
fn a_hundred_to_one_ranks_above_two_to_nothing_and_unrated_ranks_last() {
    let Some(server) = redis("a_hundred_to_one_ranks_above_two_to_nothing_and_unrated_ranks_last") else {
        return;
    };
    let mut ratings = Ratings::builder(server.url(), "ranking").build().unwrap();
    for _ in 0..100 {
        ratings.rate("proven", Rating::Good).unwrap();
    }
    ratings.rate("proven", Rating::Bad).unwrap();
    for _ in 0..2 {
        ratings.rate("lucky", Rating::Good).unwrap();
    }
    let ranked = ratings.rank(["unrated", "lucky", "proven"]).unwrap();
    let order: Vec<&str> = ranked.iter().map(|r| r.item.as_str()).collect();
    assert_eq!(order, ["proven", "lucky", "unrated"]);
    assert_eq!((ranked[0].counts.good, ranked[0].counts.bad), (100, 1));
}

#[test]
fn two_namespaces_are_isolated() {
    let Some(server) = redis("two_namespaces_are_isolated") else { return };
    let mut production = Ratings::builder(server.url(), "production").build().unwrap();
    let mut tests = Ratings::builder(server.url(), "tests").build().unwrap();
    tests.rate("template", Rating::Bad).unwrap();
    tests.rate("template", Rating::Bad).unwrap();
    production.rate("template", Rating::Good).unwrap();
    assert_eq!(
        (production.counts("template").unwrap().good, production.counts("template").unwrap().bad),
        (1, 0)
    );
    assert_eq!((tests.counts("template").unwrap().good, tests.counts("template").unwrap().bad), (0, 2));
}
