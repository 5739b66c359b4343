//! The heartbeat publisher's thread is a ringtel-owned thread: with the
//! ringtel `tracing` layer as the *global* subscriber, events raised on it
//! (by its source here, as the redis client's would be) are counted as
//! `OwnThread` and never fed back into the ring, while the program's own
//! events are delivered. One test per binary: the global subscriber can be
//! set once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringtel::exporters::redis::HeartbeatPublisher;
use ringtel::tracing::PairedRecord;
use ringtel::{DropReason, ExportError, Exporter, Timestamp};
use tracing_subscriber::prelude::*;

/// Keeps every record's message.
struct Keep(Arc<Mutex<Vec<String>>>);

impl Exporter<PairedRecord> for Keep {
    fn name(&self) -> &str {
        "keep"
    }
    fn export(&mut self, batch: &[PairedRecord]) -> Result<(), ExportError> {
        let mut kept = self.0.lock().unwrap();
        kept.extend(batch.iter().map(|r| ringtel::Event::message(r).unwrap_or_default().to_owned()));
        Ok(())
    }
}

#[test]
fn events_on_the_heartbeat_thread_are_counted_own_thread_and_never_delivered() {
    let kept = Arc::new(Mutex::new(Vec::new()));
    let (layer, guard) = ringtel::tracing::layer().exporter(Keep(Arc::clone(&kept))).start().unwrap();
    tracing_subscriber::registry().with(layer).init();

    let calls = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&calls);
    // Nothing listens on port 1: beats fail fast; the source still runs
    // once per beat on the publisher's thread.
    let publisher = HeartbeatPublisher::builder("redis://127.0.0.1:1", "hb", move || {
        counted.fetch_add(1, Ordering::Relaxed);
        tracing::info!("from the heartbeat thread");
        Some(Timestamp::from_nanos(1))
    })
    .interval(Duration::from_millis(1))
    .stale_after(Duration::from_millis(500))
    .ttl(Duration::from_secs(1))
    .start()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while calls.load(Ordering::Relaxed) < 5 {
        assert!(Instant::now() < deadline, "the source was not called");
        std::thread::yield_now();
    }
    let stats = publisher.stop();
    assert!(stats.failed >= 5, "{stats:?}");
    for i in 0..10 {
        tracing::info!(i, "from the program");
    }
    let report = guard.close(Duration::from_secs(10)).unwrap();
    let health = report.health();
    assert!(health.is_conserved(), "{health}");
    let calls = calls.load(Ordering::Relaxed);
    assert!(health.dropped(DropReason::OwnThread) >= calls, "{health}\nsource calls {calls}");
    let kept = kept.lock().unwrap();
    assert_eq!(kept.len(), 10, "{kept:?}");
    assert!(kept.iter().all(|m| m == "from the program"), "{kept:?}");
}
