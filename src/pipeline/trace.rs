//! Trace and span ids derived from a run: every record and span of a run
//! lands in one trace, under the run's root span.

use super::{NameId, PipelineEvent, RunId};
use crate::encoding::SpanId;

/// The first eight bytes of every trace id: ASCII `ringtel` and a zero byte,
/// so a derived trace id is never all zeros (invalid in W3C trace context)
/// and is recognisable in a tracing backend.
const TRACE_ID_PREFIX: [u8; 8] = *b"ringtel\0";

/// The trace id of a run: `ringtel\0` followed by the run id as eight
/// big-endian bytes. Every log record and span of the run carries it, so a
/// backend groups a run's telemetry into one trace. The OTLP exporter uses
/// it for any event with a run id and no trace id of its own.
///
/// # Examples
/// ```
/// use ringtel::pipeline::{trace_id, RunId};
///
/// let id = trace_id(RunId::new(42));
/// let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
/// assert_eq!(hex, "72696e6774656c00000000000000002a");
/// ```
pub fn trace_id(run: RunId) -> [u8; 16] {
    let mut id = [0; 16];
    id[..8].copy_from_slice(&TRACE_ID_PREFIX);
    id[8..].copy_from_slice(&run.get().to_be_bytes());
    id
}

/// [`trace_id`] as a [`TraceId`].
#[cfg(feature = "otlp")]
pub(crate) fn run_trace_id(run: u64) -> crate::encoding::TraceId {
    crate::encoding::TraceId(trace_id(RunId::new(run)))
}

/// The span id of a run's root span (the span of its `RunFinished` event,
/// and the parent of every other span of the run): derived from the run id
/// alone, so spans exported before the run ends already point at it.
///
/// # Examples
/// ```
/// use ringtel::pipeline::{run_span_id, RunId};
///
/// assert_eq!(run_span_id(RunId::new(7)), run_span_id(RunId::new(7)));
/// assert_ne!(run_span_id(RunId::new(7)), run_span_id(RunId::new(8)));
/// assert_ne!(run_span_id(RunId::new(0)), [0; 8]);
/// ```
pub fn run_span_id(run: RunId) -> [u8; 8] {
    span_id_from(mix(mix(RUN_SPAN_SALT) ^ run.get()))
}

/// Separates the hash of a run's root span from those of its child spans.
const RUN_SPAN_SALT: u64 = u64::from_be_bytes(*b"run_span");

/// The splitmix64 finaliser (Steele, Lea & Flood, "Fast splittable
/// pseudorandom number generators", OOPSLA 2014): a bijection on `u64` that
/// spreads every input bit over the output, so nearby ids give unrelated
/// span ids.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A span id from a hash; an all-zero span id is invalid, so zero maps to 1.
pub(crate) fn span_id_from(hash: u64) -> [u8; 8] {
    hash.max(1).to_be_bytes()
}

/// The span id of a child span: a hash of what identifies the event within
/// its run (kind, end time, duration, token, node or provider), so exporting
/// the same event twice gives the same id and distinct events get distinct
/// ids (up to 64-bit hash collisions).
pub(crate) fn child_span_id(event: &PipelineEvent, token: u64, name: NameId, duration_ns: u64) -> SpanId {
    let mut h = mix(event.kind().tag().index() as u64);
    for part in [event.run().get(), event.at().as_nanos(), duration_ns, token, name.index() as u64] {
        h = mix(h ^ part);
    }
    SpanId(span_id_from(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_zero() {
        assert_ne!(trace_id(RunId::new(0)), [0; 16]);
        assert_eq!(span_id_from(0), [0, 0, 0, 0, 0, 0, 0, 1]);
    }
}
