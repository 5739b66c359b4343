//! What an event must tell ringtel about itself.

use serde::{Deserialize, Serialize};

/// How detailed an event is; the telemetry's granularity setting admits every
/// event at or below it.
///
/// The variants are ordered: `Lifecycle < Rows < Full`. Lifecycle events are
/// *critical*: they are never filtered out and never dropped for a full ring
/// under [`Backpressure::Drop`](crate::Backpressure::Drop) or
/// [`Backpressure::DropOldest`](crate::Backpressure::DropOldest).
///
/// # Examples
/// ```
/// use ringtel::Granularity;
/// assert!(Granularity::Lifecycle < Granularity::Rows);
/// assert!(Granularity::Rows.admits(Granularity::Lifecycle));
/// assert!(!Granularity::Rows.admits(Granularity::Full));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Granularity {
    /// Run start and finish, phase changes: always emitted, critical.
    Lifecycle = 0,
    /// Per-row events (row created, transform completed, progress).
    Rows = 1,
    /// Everything, including per-call detail (external HTTP, LLM, SQL calls).
    Full = 2,
}

impl Granularity {
    /// Every granularity, from least to most detailed.
    pub const ALL: [Granularity; 3] = [Granularity::Lifecycle, Granularity::Rows, Granularity::Full];

    /// Whether a telemetry set to `self` admits an event of granularity `event`.
    #[inline]
    pub fn admits(self, event: Granularity) -> bool {
        event <= self
    }

    /// Whether events of this granularity are critical (never dropped for a
    /// full ring in the dropping policies).
    #[inline]
    pub fn is_critical(self) -> bool {
        self == Granularity::Lifecycle
    }

    #[inline(always)]
    pub(crate) fn to_bits(self) -> u64 {
        self as u64
    }

    pub(crate) fn from_bits(bits: u64) -> Granularity {
        match bits {
            0 => Granularity::Lifecycle,
            1 => Granularity::Rows,
            _ => Granularity::Full,
        }
    }
}

/// An event that ringtel can carry: anything `Send + Sync + 'static` that
/// knows its granularity. (`Sync` because a batch is shared, read-only, by
/// every exporter's worker at once.)
///
/// Keep events small (ringtel's own `PipelineEvent` is at most 64 bytes) and
/// free of heap allocations, so building and emitting one costs nothing but the
/// copy into the ring.
///
/// # Examples
/// ```
/// use ringtel::{Event, Granularity};
///
/// struct RowDone { row: u64 }
/// impl Event for RowDone {
///     fn granularity(&self) -> Granularity { Granularity::Rows }
/// }
/// assert_eq!(RowDone { row: 1 }.granularity(), Granularity::Rows);
/// ```
pub trait Event: Send + Sync + 'static {
    /// The granularity of this event.
    fn granularity(&self) -> Granularity;
}
