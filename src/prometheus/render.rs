//! Encoding a [`Health`] snapshot as OpenMetrics text with `prometheus-client`.
//!
//! `Health` already holds monotonic totals, so each scrape encodes one fresh
//! snapshot through a [`Collector`] with const metrics, instead of keeping
//! mutable `Counter`s in sync with the telemetry.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

use super::families::encode_health;
use crate::{Clock, Event, Health, SystemClock, Telemetry, Timestamp};

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
/// use ringtel::{exporters::Null, Event, Granularity, SystemClock, Clock, Telemetry};
///
/// struct Row;
/// impl Event for Row { fn granularity(&self) -> Granularity { Granularity::Rows } }
///
/// let telemetry = Telemetry::<Row>::builder().exporter(Null::new()).start()?;
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

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
