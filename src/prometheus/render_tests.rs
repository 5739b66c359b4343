//! The exposition of one snapshot, pinned line by line.

use std::time::Duration;

use super::super::encode::write_escaped;
use super::*;
use crate::health::{DroppedCounts, ExporterId};
use crate::{BreakerState, ConsumerState, ExporterHealth, ExporterState, Granularity, ManualClock};

struct Row;
impl Event for Row {
    fn granularity(&self) -> Granularity {
        Granularity::Rows
    }
}

fn escaped(value: &str) -> String {
    let mut out = String::new();
    write_escaped(&mut out, value).unwrap();
    out
}

#[test]
fn label_values_escape_backslash_quote_and_newline_only() {
    assert_eq!(escaped("plain name-1.x"), "plain name-1.x");
    assert_eq!(escaped("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    assert_eq!(escaped("\\\\\n\""), "\\\\\\\\\\n\\\"");
    assert_eq!(escaped("tab\tcr\rünï"), "tab\tcr\rünï");
    assert_eq!(escaped(""), "");
}

fn exporter(id: u64, name: &str, breaker: BreakerState, state: ExporterState) -> ExporterHealth {
    ExporterHealth {
        id: ExporterId(id),
        name: name.to_owned(),
        state,
        breaker,
        breaker_opened: id * 100 + 1,
        skipped_batches: id * 100 + 2,
        skipped_events: id * 100 + 3,
        batches_exported: id * 100 + 4,
        events_exported: id * 100 + 5,
        failures: id * 100 + 6,
        panics: id * 100 + 7,
        consecutive_failures: id * 100 + 8,
        flush_failures: id * 100 + 9,
        last_error: None,
    }
}

/// A real snapshot, then every field set to a distinct value.
fn sample_health() -> Health {
    let clock = ManualClock::new(Timestamp::from_nanos(1_000_000_000));
    let telemetry = Telemetry::<Row>::builder().clock(clock).start().unwrap();
    let mut health = telemetry.close(Duration::from_secs(5)).unwrap().health().clone();
    health.offered = 100;
    health.filtered = 10;
    health.accepted = 80;
    health.delivered = 60;
    health.dropped = DroppedCounts([1, 2, 3, 4, 5, 6, 7, 8]);
    health.dropped_total = 36;
    health.truncated_fields = 14;
    health.truncated_bytes = 15;
    health.in_flight = 11;
    health.queue_len = 12;
    health.capacity = 1024;
    health.blocked_producers = 13;
    health.consumer = ConsumerState::Dead { message: "boom".to_owned() };
    health.last_heartbeat = Some(Timestamp::from_nanos(1_500_000_000));
    health.exporters = vec![
        exporter(1, "json", BreakerState::Closed { consecutive_failures: 0 }, ExporterState::Active),
        exporter(
            2,
            "bad \"x\" \\ y\nz",
            BreakerState::HalfOpen { cooldown: Duration::from_secs(1) },
            ExporterState::Hung { since: Timestamp::from_nanos(5) },
        ),
    ];
    health
}

#[test]
fn renders_every_metric_of_a_snapshot_exactly() {
    let text = render(&sample_health(), Timestamp::from_nanos(3_750_000_000));
    assert_eq!(text, EXPECTED);
    assert!(render_text(&sample_health(), Timestamp::from_nanos(3_750_000_000))
        .starts_with("# HELP ringtel_events_offered_total Events passed to emit.\n# TYPE ringtel_events_offered_total counter\n"));
}

#[test]
fn heartbeat_metrics_are_absent_before_the_first_beat_and_exporter_families_without_exporters() {
    let mut health = sample_health();
    health.last_heartbeat = None;
    health.exporters.clear();
    let text = render(&health, Timestamp::from_nanos(3_750_000_000));
    assert!(!text.contains("heartbeat"), "{text}");
    assert!(!text.contains("ringtel_exporter_"), "{text}");
    assert!(text.ends_with("ringtel_total_failure 0\n# EOF\n"), "{text}");
}

#[test]
fn the_collector_reads_a_fresh_snapshot_and_its_clock_on_every_scrape() {
    let clock = ManualClock::new(Timestamp::from_nanos(1_500_000_000));
    let collector = HealthCollector::new(sample_health, clock.clone());
    assert!(collector.render().contains("\nringtel_consumer_heartbeat_age_seconds 0.0\n"));
    clock.advance(Duration::from_millis(250));
    assert!(collector.render().contains("\nringtel_consumer_heartbeat_age_seconds 0.25\n"));
    // A clock behind the heartbeat reads as age 0, not a negative age.
    clock.set(Timestamp::EPOCH);
    assert!(collector.render().contains("\nringtel_consumer_heartbeat_age_seconds 0.0\n"));
}

/// Every metric of `sample_health()` at 3.75 s, in order.
const EXPECTED: &str = r#"# HELP ringtel_events_offered Events passed to emit.
# TYPE ringtel_events_offered counter
ringtel_events_offered_total 100
# HELP ringtel_events_filtered Events below the granularity setting, not recorded.
# TYPE ringtel_events_filtered counter
ringtel_events_filtered_total 10
# HELP ringtel_events_accepted Events that entered the ring.
# TYPE ringtel_events_accepted counter
ringtel_events_accepted_total 80
# HELP ringtel_events_delivered Events at least one exporter accepted.
# TYPE ringtel_events_delivered counter
ringtel_events_delivered_total 60
# HELP ringtel_events_dropped Events dropped, by reason.
# TYPE ringtel_events_dropped counter
ringtel_events_dropped_total{reason="queue_full"} 1
ringtel_events_dropped_total{reason="overwritten"} 2
ringtel_events_dropped_total{reason="closed"} 3
ringtel_events_dropped_total{reason="disabled"} 4
ringtel_events_dropped_total{reason="export_failed"} 5
ringtel_events_dropped_total{reason="shutdown_timeout"} 6
ringtel_events_dropped_total{reason="consumer_dead"} 7
ringtel_events_dropped_total{reason="own_thread"} 8
# HELP ringtel_truncated_fields Fields left out of a record that had no room for them (tracing and log integration).
# TYPE ringtel_truncated_fields counter
ringtel_truncated_fields_total 14
# HELP ringtel_truncated_bytes Bytes of text cut off to fit a record (tracing and log integration).
# TYPE ringtel_truncated_bytes counter
ringtel_truncated_bytes_total 15
# HELP ringtel_events_in_flight Events taken by the consumer and not yet resolved.
# TYPE ringtel_events_in_flight gauge
ringtel_events_in_flight 11
# HELP ringtel_queue_length Events waiting in the ring.
# TYPE ringtel_queue_length gauge
ringtel_queue_length 12
# HELP ringtel_queue_capacity The ring's capacity.
# TYPE ringtel_queue_capacity gauge
ringtel_queue_capacity 1024
# HELP ringtel_blocked_producers Producers waiting for room in the ring.
# TYPE ringtel_blocked_producers gauge
ringtel_blocked_producers 13
# HELP ringtel_consumer_state The consumer thread's state: 1 for the current state, 0 for the others.
# TYPE ringtel_consumer_state gauge
ringtel_consumer_state{state="running"} 0
ringtel_consumer_state{state="stopped"} 0
ringtel_consumer_state{state="dead"} 1
# HELP ringtel_consumer_heartbeat_age_seconds Time since the consumer's last loop iteration.
# TYPE ringtel_consumer_heartbeat_age_seconds gauge
# UNIT ringtel_consumer_heartbeat_age_seconds seconds
ringtel_consumer_heartbeat_age_seconds 2.25
# HELP ringtel_consumer_last_heartbeat_timestamp_seconds Time of the consumer's last loop iteration, since the Unix epoch (telemetry clock).
# TYPE ringtel_consumer_last_heartbeat_timestamp_seconds gauge
# UNIT ringtel_consumer_last_heartbeat_timestamp_seconds seconds
ringtel_consumer_last_heartbeat_timestamp_seconds 1.5
# HELP ringtel_total_failure 1 while the sticky total failure of the Fail policy is raised, else 0.
# TYPE ringtel_total_failure gauge
ringtel_total_failure 0
# HELP ringtel_exporter_events_exported Events the exporter accepted.
# TYPE ringtel_exporter_events_exported counter
ringtel_exporter_events_exported_total{exporter="json",exporter_id="1"} 105
ringtel_exporter_events_exported_total{exporter="bad \"x\" \\ y\nz",exporter_id="2"} 205
# HELP ringtel_exporter_batches_exported Batches the exporter accepted.
# TYPE ringtel_exporter_batches_exported counter
ringtel_exporter_batches_exported_total{exporter="json",exporter_id="1"} 104
ringtel_exporter_batches_exported_total{exporter="bad \"x\" \\ y\nz",exporter_id="2"} 204
# HELP ringtel_exporter_failures Batches the exporter failed (errors and panics).
# TYPE ringtel_exporter_failures counter
ringtel_exporter_failures_total{exporter="json",exporter_id="1"} 106
ringtel_exporter_failures_total{exporter="bad \"x\" \\ y\nz",exporter_id="2"} 206
# HELP ringtel_exporter_panics Panics caught in the exporter's methods.
# TYPE ringtel_exporter_panics counter
ringtel_exporter_panics_total{exporter="json",exporter_id="1"} 107
ringtel_exporter_panics_total{exporter="bad \"x\" \\ y\nz",exporter_id="2"} 207
# HELP ringtel_exporter_flush_failures Failed flush calls.
# TYPE ringtel_exporter_flush_failures counter
ringtel_exporter_flush_failures_total{exporter="json",exporter_id="1"} 109
ringtel_exporter_flush_failures_total{exporter="bad \"x\" \\ y\nz",exporter_id="2"} 209
# HELP ringtel_exporter_skipped_batches Batches the exporter did not get (breaker open, or hung).
# TYPE ringtel_exporter_skipped_batches counter
ringtel_exporter_skipped_batches_total{exporter="json",exporter_id="1"} 102
ringtel_exporter_skipped_batches_total{exporter="bad \"x\" \\ y\nz",exporter_id="2"} 202
# HELP ringtel_exporter_skipped_events Events in the skipped batches.
# TYPE ringtel_exporter_skipped_events counter
ringtel_exporter_skipped_events_total{exporter="json",exporter_id="1"} 103
ringtel_exporter_skipped_events_total{exporter="bad \"x\" \\ y\nz",exporter_id="2"} 203
# HELP ringtel_exporter_breaker_opened Times the exporter's circuit breaker opened.
# TYPE ringtel_exporter_breaker_opened counter
ringtel_exporter_breaker_opened_total{exporter="json",exporter_id="1"} 101
ringtel_exporter_breaker_opened_total{exporter="bad \"x\" \\ y\nz",exporter_id="2"} 201
# HELP ringtel_exporter_consecutive_failures Failures since the exporter's last success.
# TYPE ringtel_exporter_consecutive_failures gauge
ringtel_exporter_consecutive_failures{exporter="json",exporter_id="1"} 108
ringtel_exporter_consecutive_failures{exporter="bad \"x\" \\ y\nz",exporter_id="2"} 208
# HELP ringtel_exporter_breaker_state The exporter's circuit breaker state: 1 for the current state, 0 for the others.
# TYPE ringtel_exporter_breaker_state gauge
ringtel_exporter_breaker_state{exporter="json",exporter_id="1",state="closed"} 1
ringtel_exporter_breaker_state{exporter="json",exporter_id="1",state="open"} 0
ringtel_exporter_breaker_state{exporter="json",exporter_id="1",state="half_open"} 0
ringtel_exporter_breaker_state{exporter="bad \"x\" \\ y\nz",exporter_id="2",state="closed"} 0
ringtel_exporter_breaker_state{exporter="bad \"x\" \\ y\nz",exporter_id="2",state="open"} 0
ringtel_exporter_breaker_state{exporter="bad \"x\" \\ y\nz",exporter_id="2",state="half_open"} 1
# HELP ringtel_exporter_state The exporter's lifecycle state: 1 for the current state, 0 for the others.
# TYPE ringtel_exporter_state gauge
ringtel_exporter_state{exporter="json",exporter_id="1",state="active"} 1
ringtel_exporter_state{exporter="json",exporter_id="1",state="hung"} 0
ringtel_exporter_state{exporter="json",exporter_id="1",state="removing"} 0
ringtel_exporter_state{exporter="json",exporter_id="1",state="closed"} 0
ringtel_exporter_state{exporter="json",exporter_id="1",state="close_failed"} 0
ringtel_exporter_state{exporter="bad \"x\" \\ y\nz",exporter_id="2",state="active"} 0
ringtel_exporter_state{exporter="bad \"x\" \\ y\nz",exporter_id="2",state="hung"} 1
ringtel_exporter_state{exporter="bad \"x\" \\ y\nz",exporter_id="2",state="removing"} 0
ringtel_exporter_state{exporter="bad \"x\" \\ y\nz",exporter_id="2",state="closed"} 0
ringtel_exporter_state{exporter="bad \"x\" \\ y\nz",exporter_id="2",state="close_failed"} 0
# EOF
"#;
