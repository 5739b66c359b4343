//! An exporter that logs through `tracing` inside `export`, with the ringtel
//! layer installed as the *global* subscriber (so the exporter's worker
//! thread reaches the layer, as an HTTP or Redis client's logs would):
//! nothing deadlocks, nothing recurses, and every such record is counted as
//! `OwnThread`. Ringtel's own drop warnings, raised while the layer is
//! emitting on the producer's thread, are counted the same way. One test per
//! binary: the global subscriber can be set once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringtel::tracing::PairedRecord;
use ringtel::{Backpressure, DropReason, ExportError, Exporter};
use tracing_subscriber::prelude::*;

/// Logs one `warn!` and opens one span per batch, and counts what it got.
struct Chatty {
    batches: Arc<AtomicU64>,
    records: Arc<AtomicU64>,
}

impl Exporter<PairedRecord> for Chatty {
    fn name(&self) -> &str {
        "chatty"
    }
    fn export(&mut self, batch: &[PairedRecord]) -> Result<(), ExportError> {
        let span = tracing::info_span!("exporting", n = batch.len());
        let _entered = span.enter();
        tracing::warn!(records = batch.len(), "exporter talking while it exports");
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), ExportError> {
        tracing::info!("exporter flushing");
        Ok(())
    }
}

#[test]
fn an_exporter_logging_through_tracing_neither_deadlocks_nor_recurses() {
    let batches = Arc::new(AtomicU64::new(0));
    let records = Arc::new(AtomicU64::new(0));
    let (layer, guard) = ringtel::tracing::layer()
        .capacity(64)
        .backpressure(Backpressure::Drop)
        // A warning per dropped record, logged on the producer's thread while
        // the layer is inside `emit`.
        .telemetry(|t| t.drop_log_interval(1))
        .exporter(Chatty { batches: Arc::clone(&batches), records: Arc::clone(&records) })
        .start()
        .unwrap();
    tracing_subscriber::registry().with(layer).init();

    const EVENTS: u64 = 20_000;
    for i in 0..EVENTS {
        tracing::info!(i, "from the program");
    }
    let started = Instant::now();
    let report = guard.close(Duration::from_secs(10)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let health = report.health();
    assert!(health.is_conserved(), "{health}");

    let own = health.dropped(DropReason::OwnThread);
    let queue_full = health.dropped(DropReason::QueueFull);
    let batches = batches.load(Ordering::Relaxed);
    // Each batch: a span (new, close) and a warning; the final flush: one
    // info more.
    assert!(own > 3 * batches, "{health}\nbatches {batches}");
    // Only the program's records reached the exporter: none of its own.
    assert_eq!(records.load(Ordering::Relaxed), health.delivered());
    assert_eq!(health.offered() - own, EVENTS, "{health}");
    assert_eq!(health.delivered() + queue_full, EVENTS, "{health}");
}
