//! A `tracing` program adopting ringtel: events and spans go to a JSON Lines
//! file and the console through ringtel's ring, off the caller's thread.
//!
//! `cargo run --example tracing --features tracing`

use std::time::Duration;

use ringtel::exporters::{Console, JsonLines};
use tracing_subscriber::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join("ringtel-tracing-example.jsonl");
    let (layer, guard) = ringtel::tracing::layer()
        .capacity(1 << 16)
        .exporter(JsonLines::create(&path)?)
        .exporter(Console::stderr())
        .start()?;
    tracing_subscriber::registry().with(layer).init();

    let job = tracing::info_span!("import", table = "orders");
    let _entered = job.enter();
    for i in 0..5_u64 {
        let row = tracing::debug_span!("row", i);
        let _row = row.enter();
        tracing::info!(rows = i, table = "orders", "row done");
    }
    tracing::warn!(late = true, "one row was late");
    drop(_entered);
    drop(job);

    let report = guard.close(Duration::from_secs(2))?;
    let health = report.health();
    println!(
        "offered {}, delivered {}, dropped {}, truncated {} fields; JSON Lines in {}",
        health.offered(),
        health.delivered(),
        health.dropped_total(),
        health.truncated_fields(),
        path.display()
    );
    Ok(())
}
