//! What an event must tell ringtel about itself.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::encoding::{short_type_name, Correlation, FieldVisitor, Severity, Shape};

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
/// Only [`granularity`](Event::granularity) is required. The other methods
/// are the [encoding contract](crate::encoding) every built-in exporter
/// reads: name, time, severity, correlation ids, message, span shape and
/// typed fields. Their defaults describe an `Info` log record named after the
/// type, stamped when the consumer takes it, with no fields; most events
/// override [`fields`](Event::fields), often with one call to
/// [`serde_fields`](crate::encoding::serde_fields). They run on exporter
/// threads, never on the emit path.
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
/// assert_eq!(RowDone { row: 1 }.name(), "RowDone");
/// ```
pub trait Event: Send + Sync + 'static {
    /// The granularity of this event.
    fn granularity(&self) -> Granularity;

    /// The event's name (JSON Lines `event`, OTLP `event_name`). Default: the
    /// type's name without its path (`Tick` for `my_crate::Tick`).
    fn name(&self) -> &str {
        short_type_name::<Self>()
    }

    /// When it happened, if the event knows. Default `None`: ringtel uses the
    /// time the consumer took the event's batch from the ring (see
    /// [`encoding`](crate::encoding#time)).
    fn timestamp(&self) -> Option<Timestamp> {
        None
    }

    /// How severe it is. Default [`Severity::Info`].
    fn severity(&self) -> Severity {
        Severity::Info
    }

    /// The run, trace and span it belongs to. Default: none.
    fn correlation(&self) -> Correlation {
        Correlation::NONE
    }

    /// A human-readable message (the OTLP log body). Default `None`: the body
    /// is the event's one-line rendering.
    fn message(&self) -> Option<&str> {
        None
    }

    /// Whether the event also describes a finished span. Default
    /// [`Shape::Log`].
    fn shape(&self) -> Shape<'_> {
        Shape::Log
    }

    /// Visits the event's fields, one [`FieldVisitor::field`] call each, in a
    /// stable order. Default: no fields.
    fn fields(&self, out: &mut dyn FieldVisitor) {
        let _ = out;
    }
}
