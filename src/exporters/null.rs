//! `Null`: accepts every batch and discards it.

use crate::{ExportError, Exporter};

/// The default name of a [`Null`] exporter.
pub const DEFAULT_NULL_NAME: &str = "null";

/// An exporter that accepts every batch and discards it: the cheapest
/// destination, for benchmarks and for runs that only want `Health`.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::exporters::Null;
/// use ringtel::{Event, Granularity, Telemetry};
///
/// struct Tick;
/// impl Event for Tick { fn granularity(&self) -> Granularity { Granularity::Rows } }
///
/// let telemetry = Telemetry::<Tick>::builder().exporter(Null::new()).start()?;
/// let _ = telemetry.emit(Tick);
/// let report = telemetry.close(Duration::from_secs(5))?;
/// assert_eq!(report.health().delivered(), 1);
/// assert_eq!(report.health().exporters()[0].name(), "null");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Null {
    name: String,
}

impl Null {
    /// A `Null` exporter named `"null"`.
    pub fn new() -> Null {
        Null { name: DEFAULT_NULL_NAME.to_owned() }
    }

    /// Renames the exporter (as shown in `Health`).
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

impl Default for Null {
    fn default() -> Self {
        Null::new()
    }
}

impl<E> Exporter<E> for Null {
    fn name(&self) -> &str {
        &self.name
    }

    fn export(&mut self, _batch: &[E]) -> Result<(), ExportError> {
        Ok(())
    }
}
