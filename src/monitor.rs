//! A read-only view of a telemetry that does not keep it open.

use crate::shared::Shared;
use crate::sync::Arc;
use crate::{Event, Health};

/// Reads a telemetry's [`Health`] without counting as one of its handles:
/// dropping every [`Telemetry`](crate::Telemetry) handle still closes the
/// telemetry (C7), and a monitor then reads the final counts.
///
/// A monitor keeps the telemetry's shared state (the ring's memory among
/// it) allocated while it lives, as a handle does, but not the telemetry
/// open.
///
/// For whatever lives as long as the process and only reports: a metrics
/// collector (`prometheus::HealthCollector::for_telemetry`, feature
/// `prometheus`, keeps one), a heartbeat publisher's source, a progress
/// display.
///
/// # Examples
/// ```
/// use ringtel::{ConsumerState, Emitted, Event, Granularity, Telemetry};
///
/// #[derive(Debug, Clone, Copy)]
/// struct Row(u64);
/// impl Event for Row {
///     fn granularity(&self) -> Granularity {
///         Granularity::Rows
///     }
/// }
///
/// let telemetry = Telemetry::<Row>::builder().start()?;
/// let monitor = telemetry.monitor();
/// assert_eq!(telemetry.emit(Row(1)), Emitted::Queued);
/// assert_eq!(monitor.health().consumer(), &ConsumerState::Running);
///
/// drop(telemetry); // the last handle: closes (within `close_timeout`)
/// let health = monitor.health();
/// assert_eq!(health.consumer(), &ConsumerState::Stopped);
/// assert_eq!((health.offered(), health.delivered() + health.dropped_total()), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TelemetryMonitor<E: Event> {
    shared: Arc<Shared<E>>,
}

impl<E: Event> TelemetryMonitor<E> {
    pub(crate) fn new(shared: Arc<Shared<E>>) -> Self {
        TelemetryMonitor { shared }
    }

    /// A snapshot of every count, the ring, the consumer and each exporter,
    /// as [`Telemetry::health`](crate::Telemetry::health) takes it (it also
    /// publishes the producers' unpublished drops, so a due drop warning may
    /// be logged on the calling thread).
    pub fn health(&self) -> Health {
        self.shared.producer.publish_drops();
        self.shared.health()
    }
}

impl<E: Event> Clone for TelemetryMonitor<E> {
    fn clone(&self) -> Self {
        TelemetryMonitor { shared: Arc::clone(&self.shared) }
    }
}

impl<E: Event> std::fmt::Debug for TelemetryMonitor<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryMonitor").field("shared", &self.shared).finish()
    }
}
