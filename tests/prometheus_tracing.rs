//! The exposition with ringtel's `tracing` layer: the truncation counters,
//! and the metrics server's thread as one of ringtel's own (a module of
//! `prometheus.rs`).

use ringtel::prometheus::{render, render_text, HealthCollector, MetricsServer};
use ringtel::{DropReason, ManualClock, Timestamp};

use super::{http, PATIENCE};

#[test]
fn truncation_through_the_tracing_layer_is_exposed() {
    let (layer, guard) = ringtel::tracing::layer().exporter(ringtel::exporters::Null::new()).start().unwrap();
    let subscriber = tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
    let long = "x".repeat(100);
    tracing::subscriber::with_default(subscriber, || {
        // More text than a record holds, and more fields than fit beside it.
        tracing::info!(a = 1_u64, b = 2_u64, c = 3_u64, d = 4_u64, e = 5_u64, f = 6_u64, "{long}");
    });
    let report = guard.close(PATIENCE).unwrap();
    let health = report.health();
    assert!(health.truncated_fields() > 0 && health.truncated_bytes() > 0, "{health}");
    let text = render(health, Timestamp::EPOCH);
    let fields = format!("\nringtel_truncated_fields_total {}\n", health.truncated_fields());
    let bytes = format!("\nringtel_truncated_bytes_total {}\n", health.truncated_bytes());
    assert!(text.contains(&fields) && text.contains(&bytes), "{text}");
    let classic = render_text(health, Timestamp::EPOCH);
    assert!(classic.contains(&fields) && classic.contains(&bytes), "{classic}");
}

#[test]
fn the_server_thread_is_ringtel_owned_so_its_tracing_events_are_counted_not_queued() {
    let (layer, guard) = ringtel::tracing::layer().exporter(ringtel::exporters::Null::new()).start().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::registry(),
        layer,
    ));
    let telemetry = guard.telemetry().clone();
    // The collector logs through the layer on the server's thread, as an
    // instrumented health source would.
    let collector = HealthCollector::new(
        move || {
            tracing::dispatcher::with_default(&dispatch, || tracing::info!("scraped"));
            telemetry.health()
        },
        ManualClock::new(Timestamp::EPOCH),
    );
    let server = MetricsServer::bind("127.0.0.1:0", collector).expect("bind");
    let response = http(server.local_addr(), "GET", "/metrics", None).expect("scrape");
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(response.body.contains("\nringtel_events_offered_total 1\n"), "{}", response.body);
    assert!(
        response.body.contains("ringtel_events_dropped_total{reason=\"own_thread\"} 1\n"),
        "{}",
        response.body
    );
    drop(server);
    let report = guard.close(PATIENCE).unwrap();
    let health = report.health();
    assert_eq!(
        (health.offered(), health.delivered(), health.dropped(DropReason::OwnThread)),
        (1, 0, 1),
        "{health}"
    );
}
