//! [`SpanPairing`]: pairs span records into finished spans on the exporter
//! side, through a bounded table of open spans.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::record::{display_name, severity, write_fields, RecordKind, TracingRecord};
use super::record_clock::{nanos_between, Anchor};
use crate::clock::wall_now;
use crate::encoding::{
    Correlation, FieldValue, FieldVisitor, Severity, Shape, SpanId, SpanKind, SpanRecord, SpanStatus, TraceId,
};
use crate::{Event, ExportError, Exporter, Granularity, Timestamp};

/// The default number of open spans a [`SpanPairing`] tracks.
pub const DEFAULT_OPEN_SPANS: usize = 4096;

/// A [`TracingRecord`] as exporters behind a [`SpanPairing`] see it: with
/// OpenTelemetry trace and span ids, and, for a closed span, its duration
/// and parent, so that its [`shape`](Event::shape) is a
/// [`Shape::Span`] (the OTLP exporter sends it as a span).
///
/// Kinds reach exporters as follows: events as log records (in their span's
/// trace, when the span is open in the table); a span's creation and close
/// as **one** record, at its close, shaped as a span whose fields are the
/// span's fields, `parent_span_id` (hex, as `span_id`) and `duration_ns`; enter and exit (when recorded) as log
/// records.
#[derive(Debug, Clone, Copy)]
pub struct PairedRecord {
    record: TracingRecord,
    trace_id: Option<TraceId>,
    span_id: Option<SpanId>,
    finished: Option<Finished>,
}

#[derive(Debug, Clone, Copy)]
struct Finished {
    duration_ns: u64,
    parent: Option<SpanId>,
    /// The parent's id as lowercase hex, as JSON Lines writes `span_id`.
    parent_hex: [u8; 16],
}

fn hex(id: SpanId) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 16];
    for (i, b) in id.0.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 15)];
    }
    out
}

impl PairedRecord {
    /// The record as the layer recorded it (for a finished span: its
    /// creation record, with the time of its close).
    pub fn record(&self) -> &TracingRecord {
        &self.record
    }

    /// For a finished span: how long it was open, and its parent's span id.
    pub fn span(&self) -> Option<(u64, Option<SpanId>)> {
        self.finished.map(|f| (f.duration_ns, f.parent))
    }
}

impl Event for PairedRecord {
    fn granularity(&self) -> Granularity {
        self.record.granularity()
    }

    fn name(&self) -> &str {
        self.record.name()
    }

    fn timestamp(&self) -> Option<Timestamp> {
        self.record.time()
    }

    fn severity(&self) -> Severity {
        severity(self.record.meta.level())
    }

    fn correlation(&self) -> Correlation {
        Correlation { run: None, trace_id: self.trace_id, span_id: self.span_id }
    }

    fn message(&self) -> Option<&str> {
        self.record.message()
    }

    fn shape(&self) -> Shape<'_> {
        match (self.finished, self.span_id) {
            (Some(finished), Some(id)) => Shape::Span(SpanRecord {
                name: display_name(self.record.meta),
                detail: None,
                kind: SpanKind::Internal,
                duration_ns: finished.duration_ns,
                status: SpanStatus::Unset,
                id,
                parent: finished.parent,
            }),
            _ => Shape::Log,
        }
    }

    fn fields(&self, out: &mut dyn FieldVisitor) {
        match self.finished {
            Some(finished) => {
                if finished.parent.is_some() {
                    let text = std::str::from_utf8(&finished.parent_hex).unwrap_or_default();
                    out.field("parent_span_id", FieldValue::Str(text));
                }
                out.field("duration_ns", FieldValue::Nanos(finished.duration_ns));
                self.record.entries(|key, value| {
                    if key != "message" {
                        out.field(key, value);
                    }
                });
            }
            None => write_fields(&self.record, out),
        }
    }
}

/// Hashes a registry span id with one multiply and a fold. The ids are the
/// registry's slab indices (with a generation), never chosen by an outside
/// party, so SipHash's protection buys nothing here; it cost about 270
/// instructions per span on the exporter's worker (callgrind), more than
/// the layer adds per span on the caller's thread.
#[derive(Debug, Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing; the fold lets the high bits (the generation,
        // the shard) reach the bucket index, which is taken from the low ones.
        let h = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 29);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type OpenTable = HashMap<u64, Open, BuildHasherDefault<IdHasher>>;

/// An open span in the table.
#[derive(Clone, Copy)]
struct Open {
    /// Its creation record as the layer stored it (its time a raw counter
    /// reading, usually: converted only if the span is exported).
    created: TracingRecord,
    span_id: SpanId,
    trace_id: TraceId,
    parent: Option<SpanId>,
}

/// What a [`SpanPairing`] counted; read it through [`PairingStats`].
#[derive(Debug, Default)]
struct Counters {
    paired: AtomicU64,
    unmatched_closes: AtomicU64,
    evicted: AtomicU64,
    open: AtomicU64,
}

/// A cloneable reader of one [`SpanPairing`]'s counts.
#[derive(Debug, Clone, Default)]
pub struct PairingStats(Arc<Counters>);

impl PairingStats {
    /// Spans whose creation and close were paired and exported as spans.
    pub fn paired(&self) -> u64 {
        self.0.paired.load(Ordering::Relaxed)
    }
    /// Closes with no open span in the table (its creation record was
    /// dropped, or the span was evicted): not exported as spans.
    pub fn unmatched_closes(&self) -> u64 {
        self.0.unmatched_closes.load(Ordering::Relaxed)
    }
    /// Open spans pushed out of the full table (or replaced by a new span
    /// with the same id, whose close was lost).
    pub fn evicted(&self) -> u64 {
        self.0.evicted.load(Ordering::Relaxed)
    }
    /// Spans open in the table after the last batch it paired.
    pub fn open(&self) -> u64 {
        self.0.open.load(Ordering::Relaxed)
    }
}

/// Pairs the layer's span records into finished spans for one exporter: an
/// [`Exporter<TracingRecord>`] around an [`Exporter<PairedRecord>`].
///
/// It lives on the exporter side (it runs on the exporter's worker thread),
/// so the hot path never looks anything up. Its open-span table is bounded
/// (`capacity` spans, allocated once); `tracing`'s registry reuses span
/// ids, so an entry is keyed by the registry id (which carries the slab
/// generation) and a new span whose id is still in the table replaces the
/// stale entry, counted as evicted. When the table is full the oldest open
/// span is evicted and counted. A close without an open span is counted
/// as unmatched. Exported span ids are derived from the registry id and the
/// creation time, so they are unique even when the registry reuses an id;
/// a root span starts a trace whose id is its creation time (as the layer
/// read it: a raw counter reading, usually) and span id. Record times reach
/// the inner exporter in Unix nanoseconds, converted once per batch.
/// A finished span's duration is the difference of the two clock readings.
///
/// [`TracingBuilder::exporter`](super::TracingBuilder::exporter) wraps every
/// exporter in one of these; build one yourself for
/// [`TracingBuilder::telemetry`](super::TracingBuilder::telemetry).
///
/// # Examples
/// ```
/// use ringtel::exporters::Memory;
/// use ringtel::tracing::{PairedRecord, SpanPairing};
///
/// let memory = Memory::<PairedRecord>::new(16);
/// let pairing = SpanPairing::new(memory, 1024);
/// assert_eq!(pairing.stats().open(), 0);
/// ```
pub struct SpanPairing<X> {
    inner: X,
    capacity: usize,
    open: OpenTable,
    out: Vec<PairedRecord>,
    stats: PairingStats,
}

impl<X> fmt::Debug for SpanPairing<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanPairing")
            .field("capacity", &self.capacity)
            .field("open", &self.open.len())
            .finish_non_exhaustive()
    }
}

impl<X> SpanPairing<X> {
    /// Pairs spans for `inner`, tracking at most `capacity` open spans
    /// (at least 1).
    pub fn new(inner: X, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        SpanPairing {
            inner,
            capacity,
            open: OpenTable::with_capacity_and_hasher(capacity, BuildHasherDefault::default()),
            out: Vec::new(),
            stats: PairingStats::default(),
        }
    }

    /// A reader of this pairing's counts.
    pub fn stats(&self) -> PairingStats {
        self.stats.clone()
    }

    fn on_new_span(&mut self, record: &TracingRecord) {
        let span_id = derive_span_id(record.id, record.time);
        let parent = record.parent_id().and_then(|p| self.open.get(&p));
        let (trace_id, parent) = match parent {
            Some(parent) => (parent.trace_id, Some(parent.span_id)),
            None => {
                let mut trace = [0u8; 16];
                trace[..8].copy_from_slice(&record.time.to_be_bytes());
                trace[8..].copy_from_slice(&span_id.0);
                (TraceId(trace), None)
            }
        };
        let counters = &self.stats.0;
        if self.open.len() >= self.capacity && !self.open.contains_key(&record.id) {
            // Raw times compare as times; Unix times (read before the
            // counter was calibrated) compare as older than every raw one.
            let oldest = self.open.iter().min_by_key(|(_, o)| o.created.time).map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                self.open.remove(&oldest);
                counters.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
        // A span still open under this id lost its close: replaced, counted.
        if self.open.insert(record.id, Open { created: *record, span_id, trace_id, parent }).is_some() {
            counters.evicted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Merges `Span::record` values into the open span; passes them on by
    /// themselves when the span is not open or the merge does not fit.
    fn on_record(&mut self, record: &TracingRecord, anchor: &mut Anchor) -> Option<PairedRecord> {
        let merged = record
            .span_id()
            .and_then(|id| self.open.get_mut(&id))
            .is_some_and(|open| open.created.merge(record));
        if merged {
            None
        } else {
            Some(self.in_span(record, anchor))
        }
    }

    fn on_close(&mut self, record: &TracingRecord, anchor: &mut Anchor) -> Option<PairedRecord> {
        let counters = &self.stats.0;
        let Some(open) = self.open.remove(&record.id) else {
            counters.unmatched_closes.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let mut created = open.created;
        created.time = anchor.unix_nanos(record.time);
        Some(PairedRecord {
            record: created,
            trace_id: Some(open.trace_id),
            span_id: Some(open.span_id),
            finished: Some(Finished {
                duration_ns: nanos_between(open.created.time, record.time, anchor),
                parent: open.parent,
                parent_hex: open.parent.map_or([b'0'; 16], hex),
            }),
        })
    }

    fn in_span(&self, record: &TracingRecord, anchor: &mut Anchor) -> PairedRecord {
        let open = record.span_id().and_then(|id| self.open.get(&id));
        let mut record = *record;
        record.time = anchor.unix_nanos(record.time);
        PairedRecord {
            record,
            trace_id: open.map(|o| o.trace_id),
            span_id: open.map(|o| o.span_id),
            finished: None,
        }
    }

    fn pair(&mut self, batch: &[TracingRecord]) {
        self.out.clear();
        let mut finished = 0;
        // Reads the clocks at most once per batch, for the first raw time
        // it converts.
        let mut anchor = Anchor::new();
        for record in batch {
            let paired = match record.kind {
                RecordKind::NewSpan => {
                    self.on_new_span(record);
                    None
                }
                RecordKind::CloseSpan => self.on_close(record, &mut anchor),
                RecordKind::Record => self.on_record(record, &mut anchor),
                RecordKind::Event | RecordKind::Enter | RecordKind::Exit => {
                    Some(self.in_span(record, &mut anchor))
                }
            };
            if let Some(paired) = paired {
                finished += u64::from(paired.finished.is_some());
                self.out.push(paired);
            }
        }
        // Once per batch, not per span: a locked add per span showed on
        // the worker's profile.
        let counters = &self.stats.0;
        if finished != 0 {
            counters.paired.fetch_add(finished, Ordering::Relaxed);
        }
        counters.open.store(self.open.len() as u64, Ordering::Relaxed);
    }
}

impl<X: Exporter<PairedRecord>> SpanPairing<X> {
    pub(crate) fn inner_name(&self) -> &str {
        self.inner.name()
    }
}

/// A span id unique per span even when the registry reuses its id: a mix
/// of the id and the creation time (never zero).
fn derive_span_id(id: u64, time: u64) -> SpanId {
    let mut z = id ^ time.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    SpanId(z.max(1).to_be_bytes())
}

impl<X: Exporter<PairedRecord>> Exporter<TracingRecord> for SpanPairing<X> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn export(&mut self, batch: &[TracingRecord]) -> Result<(), ExportError> {
        self.export_taken(batch, wall_now())
    }

    fn export_taken(&mut self, batch: &[TracingRecord], taken_at: Timestamp) -> Result<(), ExportError> {
        self.pair(batch);
        if self.out.is_empty() {
            return Ok(());
        }
        self.inner.export_taken(&self.out, taken_at)
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.inner.flush()
    }

    fn close(&mut self) -> Result<(), ExportError> {
        self.inner.close()
    }
}
