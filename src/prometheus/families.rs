//! Every metric family of one [`Health`] snapshot, in exposition order (the
//! list is in the [module docs](crate::prometheus)).

use std::fmt;
use std::time::Duration;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use super::encode::{
    breaker_state, consumer_state, counter, exporter_state, gauge, sample, state_set, BREAKER_STATES,
    CONSUMER_STATES, EXPORTER_STATES,
};
use crate::{DropReason, ExporterHealth, Health, Timestamp};

/// Nanoseconds as seconds (an `f64` holds today's epoch time in nanoseconds
/// to within a microsecond, plenty for a scrape every few seconds).
fn seconds(nanos: u64) -> f64 {
    Duration::from_nanos(nanos).as_secs_f64()
}

/// Encodes every metric of one snapshot (the list is in the module docs).
pub(super) fn encode_health(
    health: &Health,
    now: Timestamp,
    encoder: &mut DescriptorEncoder<'_>,
) -> fmt::Result {
    counter(encoder, "ringtel_events_offered", "Events passed to emit.", health.offered())?;
    counter(
        encoder,
        "ringtel_events_filtered",
        "Events below the granularity setting, not recorded.",
        health.filtered(),
    )?;
    counter(encoder, "ringtel_events_accepted", "Events that entered the ring.", health.accepted())?;
    counter(
        encoder,
        "ringtel_events_delivered",
        "Events at least one exporter accepted.",
        health.delivered(),
    )?;
    {
        let mut family = encoder.encode_descriptor(
            "ringtel_events_dropped",
            "Events dropped, by reason.",
            None,
            MetricType::Counter,
        )?;
        for reason in DropReason::ALL {
            sample(&mut family, &[("reason", reason.as_str())], &ConstCounter::new(health.dropped(reason)))?;
        }
    }
    counter(
        encoder,
        "ringtel_truncated_fields",
        "Fields left out of a record that had no room for them (tracing and log integration).",
        health.truncated_fields(),
    )?;
    counter(
        encoder,
        "ringtel_truncated_bytes",
        "Bytes of text cut off to fit a record (tracing and log integration).",
        health.truncated_bytes(),
    )?;
    gauge(
        encoder,
        "ringtel_events_in_flight",
        "Events taken by the consumer and not yet resolved.",
        None,
        health.in_flight(),
    )?;
    gauge(encoder, "ringtel_queue_length", "Events waiting in the ring.", None, health.queue_len() as u64)?;
    gauge(encoder, "ringtel_queue_capacity", "The ring's capacity.", None, health.capacity() as u64)?;
    gauge(
        encoder,
        "ringtel_blocked_producers",
        "Producers waiting for room in the ring.",
        None,
        health.blocked_producers() as u64,
    )?;
    {
        let mut family = encoder.encode_descriptor(
            "ringtel_consumer_state",
            "The consumer thread's state: 1 for the current state, 0 for the others.",
            None,
            MetricType::Gauge,
        )?;
        state_set(&mut family, &[], &CONSUMER_STATES, consumer_state(health.consumer()))?;
    }
    if let Some(beat) = health.last_heartbeat() {
        gauge(
            encoder,
            "ringtel_consumer_heartbeat_age",
            "Time since the consumer's last loop iteration.",
            Some(&Unit::Seconds),
            now.saturating_duration_since(beat).as_secs_f64(),
        )?;
        gauge(
            encoder,
            "ringtel_consumer_last_heartbeat_timestamp",
            "Time of the consumer's last loop iteration, since the Unix epoch (telemetry clock).",
            Some(&Unit::Seconds),
            seconds(beat.as_nanos()),
        )?;
    }
    gauge(
        encoder,
        "ringtel_total_failure",
        "1 while the sticky total failure of the Fail policy is raised, else 0.",
        None,
        u64::from(health.total_failure().is_some()),
    )?;
    encode_exporters(health.exporters(), encoder)
}

/// Per-exporter families, labelled `exporter` (its name) and `exporter_id`
/// (names need not be unique; ids are). Left out when there are no exporters.
fn encode_exporters(exporters: &[ExporterHealth], encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
    if exporters.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = exporters.iter().map(|e| e.id().get().to_string()).collect();
    let labelled = || {
        exporters.iter().zip(&ids).map(|(e, id)| (e, [("exporter", e.name()), ("exporter_id", id.as_str())]))
    };

    type Read = fn(&ExporterHealth) -> u64;
    let counters: [(&str, &str, Read); 8] = [
        (
            "ringtel_exporter_events_exported",
            "Events the exporter accepted.",
            ExporterHealth::events_exported,
        ),
        (
            "ringtel_exporter_batches_exported",
            "Batches the exporter accepted.",
            ExporterHealth::batches_exported,
        ),
        (
            "ringtel_exporter_failures",
            "Batches the exporter failed (errors and panics).",
            ExporterHealth::failures,
        ),
        ("ringtel_exporter_panics", "Panics caught in the exporter's methods.", ExporterHealth::panics),
        ("ringtel_exporter_flush_failures", "Failed flush calls.", ExporterHealth::flush_failures),
        (
            "ringtel_exporter_skipped_batches",
            "Batches the exporter did not get (breaker open, or hung).",
            ExporterHealth::skipped_batches,
        ),
        ("ringtel_exporter_skipped_events", "Events in the skipped batches.", ExporterHealth::skipped_events),
        (
            "ringtel_exporter_breaker_opened",
            "Times the exporter's circuit breaker opened.",
            ExporterHealth::breaker_opened,
        ),
    ];
    for (name, help, read) in counters {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (exporter, labels) in labelled() {
            sample(&mut family, &labels, &ConstCounter::new(read(exporter)))?;
        }
    }
    {
        let mut family = encoder.encode_descriptor(
            "ringtel_exporter_consecutive_failures",
            "Failures since the exporter's last success.",
            None,
            MetricType::Gauge,
        )?;
        for (exporter, labels) in labelled() {
            sample(&mut family, &labels, &ConstGauge::new(exporter.consecutive_failures()))?;
        }
    }
    {
        let mut family = encoder.encode_descriptor(
            "ringtel_exporter_breaker_state",
            "The exporter's circuit breaker state: 1 for the current state, 0 for the others.",
            None,
            MetricType::Gauge,
        )?;
        for (exporter, labels) in labelled() {
            state_set(&mut family, &labels, &BREAKER_STATES, breaker_state(exporter.breaker()))?;
        }
    }
    let mut family = encoder.encode_descriptor(
        "ringtel_exporter_state",
        "The exporter's lifecycle state: 1 for the current state, 0 for the others.",
        None,
        MetricType::Gauge,
    )?;
    for (exporter, labels) in labelled() {
        state_set(&mut family, &labels, &EXPORTER_STATES, exporter_state(exporter.state()))?;
    }
    Ok(())
}
