//! Encoding a [`Health`] snapshot as OpenMetrics text with `prometheus-client`.
//!
//! `Health` already holds monotonic totals, so each scrape encodes one fresh
//! snapshot through a [`Collector`] with const metrics, instead of keeping
//! mutable `Counter`s in sync with the telemetry.

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, LabelSetEncoder, MetricEncoder,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::{
    BreakerState, Clock, ConsumerState, DropReason, Event, ExporterHealth, ExporterState, Health,
    SystemClock, Telemetry, Timestamp,
};

/// The HTTP `Content-Type` of what [`render`] produces: the OpenMetrics 1.0
/// text format (it ends with `# EOF`), which Prometheus scrapes natively.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Renders `health` as a complete OpenMetrics text exposition (ending with
/// `# EOF`); `now` is the time the heartbeat age is measured at, by the same
/// clock as the telemetry's (see the [module docs](crate::prometheus) for
/// every metric).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::{Event, Granularity, SystemClock, Clock, Telemetry};
///
/// struct Row;
/// impl Event for Row { fn granularity(&self) -> Granularity { Granularity::Rows } }
///
/// let telemetry = Telemetry::<Row>::builder().start()?;
/// let _ = telemetry.emit(Row);
/// let report = telemetry.close(Duration::from_secs(5))?;
/// let text = ringtel::prometheus::render(report.health(), SystemClock::new().now());
/// assert!(text.contains("\nringtel_events_offered_total 1\n"));
/// assert!(text.contains("\nringtel_events_dropped_total{reason=\"queue_full\"} 0\n"));
/// assert!(text.ends_with("# EOF\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render(health: &Health, now: Timestamp) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot { health: health.clone(), now }));
    encode_registry(&registry)
}

/// Renders `health` in the classic Prometheus text format (0.0.4, served as
/// [`TEXT_CONTENT_TYPE`](crate::prometheus::TEXT_CONTENT_TYPE)), for readers
/// without OpenMetrics support such as `promtool check metrics`: the same
/// metrics and values as [`render`], with each counter's `# HELP`/`# TYPE`
/// under its `_total` name and no `# UNIT`/`# EOF` lines.
///
/// # Examples
/// ```
/// use ringtel::{Event, Granularity, Telemetry, Timestamp};
///
/// struct Row;
/// impl Event for Row { fn granularity(&self) -> Granularity { Granularity::Rows } }
///
/// let telemetry = Telemetry::<Row>::builder().start()?;
/// let text = ringtel::prometheus::render_text(&telemetry.health(), Timestamp::EPOCH);
/// let expected = [
///     "# HELP ringtel_events_offered_total Events passed to emit.",
///     "# TYPE ringtel_events_offered_total counter",
///     "ringtel_events_offered_total 0",
/// ];
/// assert_eq!(text.lines().take(3).collect::<Vec<_>>(), expected);
/// assert!(!text.contains("# EOF"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render_text(health: &Health, now: Timestamp) -> String {
    super::classic::from_openmetrics(&render(health, now))
}

/// Encodes a whole registry as OpenMetrics text.
pub(crate) fn encode_registry(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a `String` cannot fail, and nothing in `encode_health`
    // returns an error of its own.
    if prometheus_client::encoding::text::encode(&mut text, registry).is_err() {
        unreachable!("encoding metrics into a String cannot fail");
    }
    text
}

/// A [`Collector`] that reads a fresh [`Health`] on every scrape, for a
/// `prometheus-client` [`Registry`] of your own (or for
/// [`MetricsServer`](crate::prometheus::MetricsServer)).
///
/// The heartbeat age is measured with the collector's clock, which should be
/// the telemetry's: [`HealthCollector::for_telemetry`] assumes the default
/// [`SystemClock`]; with another clock, use [`HealthCollector::new`].
///
/// # Examples
/// ```
/// use prometheus_client::registry::Registry;
/// use ringtel::prometheus::HealthCollector;
/// use ringtel::{Event, Granularity, Telemetry};
///
/// struct Row;
/// impl Event for Row { fn granularity(&self) -> Granularity { Granularity::Rows } }
///
/// let telemetry = Telemetry::<Row>::builder().start()?;
/// let mut registry = Registry::default();
/// registry.register_collector(Box::new(HealthCollector::for_telemetry(&telemetry)));
/// let _ = telemetry.emit(Row);
///
/// let mut text = String::new();
/// prometheus_client::encoding::text::encode(&mut text, &registry)?;
/// assert!(text.contains("\nringtel_events_offered_total 1\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HealthCollector {
    source: Box<dyn Fn() -> Health + Send + Sync>,
    clock: Arc<dyn Clock>,
}

impl HealthCollector {
    /// A collector that calls `source` for each scrape and measures the
    /// heartbeat age with `clock` (give it the telemetry's clock, or a clone
    /// of a shared [`ManualClock`](crate::ManualClock)).
    ///
    /// # Examples
    /// ```
    /// use ringtel::prometheus::HealthCollector;
    /// use ringtel::{Event, Granularity, ManualClock, Telemetry, Timestamp};
    ///
    /// struct Row;
    /// impl Event for Row { fn granularity(&self) -> Granularity { Granularity::Rows } }
    ///
    /// let clock = ManualClock::new(Timestamp::from_nanos(1_000_000_000));
    /// let telemetry = Telemetry::<Row>::builder().clock(clock.clone()).start()?;
    /// let collector = HealthCollector::new(move || telemetry.health(), clock);
    /// assert!(collector.render().contains("ringtel_consumer_heartbeat_age_seconds"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(source: impl Fn() -> Health + Send + Sync + 'static, clock: impl Clock) -> Self {
        HealthCollector { source: Box::new(source), clock: Arc::new(clock) }
    }

    /// A collector reading `telemetry` (through a [`TelemetryMonitor`],
    /// which is not a handle) and a [`SystemClock`].
    ///
    /// Dropping your last handle still closes the telemetry while the
    /// collector lives; the collector then reports the final counts.
    ///
    /// [`TelemetryMonitor`]: crate::TelemetryMonitor
    pub fn for_telemetry<E: Event>(telemetry: &Telemetry<E>) -> Self {
        let monitor = telemetry.monitor();
        HealthCollector::new(move || monitor.health(), SystemClock::new())
    }

    /// Takes a snapshot now and renders it, as [`render`] does.
    pub fn render(&self) -> String {
        render(&(self.source)(), self.clock.now())
    }
}

impl fmt::Debug for HealthCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthCollector").field("clock", &self.clock).finish_non_exhaustive()
    }
}

impl Collector for HealthCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let health = (self.source)();
        encode_health(&health, self.clock.now(), &mut encoder)
    }
}

/// One snapshot, for [`render`].
#[derive(Debug)]
struct Snapshot {
    health: Health,
    now: Timestamp,
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        encode_health(&self.health, self.now, &mut encoder)
    }
}

/// Label pairs whose values are escaped for the text format.
///
/// `prometheus-client` 0.24 writes label values verbatim, so an exporter name
/// holding `"`, `\` or a newline would corrupt the exposition; OpenMetrics
/// (like the classic format) escapes exactly those three.
#[derive(Debug)]
struct Labels<'a>(&'a [(&'static str, &'a str)]);

impl EncodeLabelSet for Labels<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        for &(key, value) in self.0 {
            let mut label = encoder.encode_label();
            let mut key_encoder = label.encode_label_key()?;
            key_encoder.write_str(key)?;
            let mut value_encoder = key_encoder.encode_label_value()?;
            write_escaped(&mut value_encoder, value)?;
            value_encoder.finish()?;
        }
        Ok(())
    }
}

/// Writes `value` with `\` → `\\`, `"` → `\"` and newline → `\n`.
fn write_escaped(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    let mut rest = value;
    while let Some(at) = rest.find(['\\', '"', '\n']) {
        out.write_str(&rest[..at])?;
        out.write_str(match rest.as_bytes()[at] {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            _ => "\\n",
        })?;
        rest = &rest[at + 1..];
    }
    out.write_str(rest)
}

fn counter(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge<N>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: N,
) -> fmt::Result
where
    ConstGauge<N>: EncodeMetric,
{
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
}

/// One sample of a labelled family.
fn sample(
    family: &mut MetricEncoder<'_>,
    labels: &[(&'static str, &str)],
    metric: &impl EncodeMetric,
) -> fmt::Result {
    metric.encode(family.encode_family(&Labels(labels))?)
}

/// A 0/1 gauge per possible state, 1 for the current one (the classic way to
/// expose an enum; the alerting query is `== 1`).
fn state_set(
    family: &mut MetricEncoder<'_>,
    labels: &[(&'static str, &str)],
    states: &[&'static str],
    current: &str,
) -> fmt::Result {
    for &state in states {
        let mut all = labels.to_vec();
        all.push(("state", state));
        sample(family, &all, &ConstGauge::new(u64::from(state == current)))?;
    }
    Ok(())
}

/// The breaker states, in the label order used by `ringtel_exporter_breaker_state`.
const BREAKER_STATES: [&str; 3] = ["closed", "open", "half_open"];
/// The exporter states, in the label order used by `ringtel_exporter_state`.
const EXPORTER_STATES: [&str; 5] = ["active", "hung", "removing", "closed", "close_failed"];
/// The consumer states, in the label order used by `ringtel_consumer_state`.
const CONSUMER_STATES: [&str; 3] = ["running", "stopped", "dead"];

fn breaker_state(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed { .. } => "closed",
        BreakerState::Open { .. } => "open",
        BreakerState::HalfOpen { .. } => "half_open",
    }
}

fn exporter_state(state: ExporterState) -> &'static str {
    match state {
        ExporterState::Active => "active",
        ExporterState::Hung { .. } => "hung",
        ExporterState::Removing => "removing",
        ExporterState::Closed => "closed",
        ExporterState::CloseFailed => "close_failed",
    }
}

fn consumer_state(state: &ConsumerState) -> &'static str {
    match state {
        ConsumerState::Running => "running",
        ConsumerState::Stopped => "stopped",
        ConsumerState::Dead { .. } => "dead",
    }
}

/// Nanoseconds as seconds (an `f64` holds today's epoch time in nanoseconds
/// to within a microsecond, plenty for a scrape every few seconds).
fn seconds(nanos: u64) -> f64 {
    Duration::from_nanos(nanos).as_secs_f64()
}

/// Encodes every metric of one snapshot (the list is in the module docs).
fn encode_health(health: &Health, now: Timestamp, encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::health::{DroppedCounts, ExporterId};
    use crate::{Granularity, ManualClock};

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
}
