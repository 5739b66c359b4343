//! Consumer heartbeats against a real `redis-server` on a free loopback
//! port: heartbeat values and expiry, reader outcomes on a moved clock and
//! on skewed clocks (ages from the server), graceful stop, the index, and a
//! publisher process killed without cleanup. Nothing waits by sleeping.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::redis::{client, get_record, pttl, redis, url};
use common::{wait_until, PATIENCE};
use ringtel::exporters::redis::{HeartbeatError, HeartbeatPublisher, HeartbeatReader, Liveness, StaleCause};
use ringtel::pipeline::PipelineEvent;
use ringtel::{ManualClock, SystemClock, Telemetry, Timestamp};

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
