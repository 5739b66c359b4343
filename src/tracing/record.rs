//! [`TracingRecord`]: one `tracing` event or span transition in a fixed-size
//! record, and the truncating writer that fills its inline buffer.

use std::fmt;

use ::tracing::callsite::{Callsite, Identifier};
use ::tracing::field::FieldSet;
use ::tracing::metadata::Kind;
use ::tracing::subscriber::Interest;
use ::tracing::{Level, Metadata};

use super::record_clock::Anchor;
use crate::encoding::{FieldValue, FieldVisitor, Severity, SpanId};
use crate::{Event, Granularity, Timestamp};

/// The size of a [`TracingRecord`] in bytes: one `ArrayQueue` slot is this
/// plus its 8-byte stamp. Checked at compile time.
pub const RECORD_SIZE: usize = 64;

/// Bytes of the inline buffer that holds a record's fields and text.
pub(crate) const INLINE: usize = RECORD_SIZE - 4 * 8 - 4;

const _: () = assert!(std::mem::size_of::<TracingRecord>() == RECORD_SIZE);
const _: () = assert!(std::mem::size_of::<TracingRecord>() <= 64);

struct CloseCallsite;
static CLOSE_CALLSITE: CloseCallsite = CloseCallsite;

/// The metadata of every [`RecordKind::CloseSpan`] record.
pub(crate) static CLOSE_META: Metadata<'static> = Metadata::new(
    "span close",
    "ringtel::tracing",
    Level::INFO,
    None,
    None,
    None,
    FieldSet::new(&[], Identifier(&CLOSE_CALLSITE)),
    Kind::SPAN,
);

impl Callsite for CloseCallsite {
    fn set_interest(&self, _: Interest) {}
    fn metadata(&self) -> &Metadata<'_> {
        &CLOSE_META
    }
}

/// What a [`TracingRecord`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// A `tracing` event (`info!`, `warn!`, …) or a `log` record.
    Event = 0,
    /// A span was created: its id, its parent and its fields.
    NewSpan = 1,
    /// A span closed (its last handle dropped). The record carries the
    /// span's id and time only: its metadata is a placeholder (name
    /// `span close`, target `ringtel::tracing`), since looking the span's
    /// own up in the registry would cost a fifth of the layer's work per
    /// span; [`SpanPairing`](super::SpanPairing) names the finished span
    /// from its creation record.
    CloseSpan = 2,
    /// A span was entered (only when enter and exit are recorded).
    Enter = 3,
    /// A span was exited (only when enter and exit are recorded).
    Exit = 4,
    /// Values recorded on a span after its creation (`Span::record`): the
    /// span's id and metadata, and the recorded fields. A
    /// [`SpanPairing`](super::SpanPairing) merges them into the open span
    /// (a field recorded again replaces its earlier value); when the merged
    /// fields would not fit one record, or the span is not open, it passes
    /// the record on by itself (`span.event = "record"`), so no value is
    /// lost without a count.
    Record = 5,
}

/// One `tracing` event, span creation, close, enter or exit, copied into a
/// fixed-size record of [`RECORD_SIZE`] bytes (64) by the
/// [`RingtelLayer`](super::RingtelLayer).
///
/// Nothing static is copied: the record keeps the callsite's
/// `&'static Metadata` (name, target, level, file, line and field names are
/// read from it when the record is encoded, on an exporter thread). What is
/// copied is the time, the span ids, a small thread index, and the values of
/// the fields, packed into a small inline buffer with each field's index in
/// `metadata.fields()`: integers in as few bytes as they need, floats and
/// bools, and text (the message, string and `Debug` fields) formatted by a
/// truncating writer. A field that does not fit, and text cut off, are
/// counted in [`Health::truncated_fields`](crate::Health::truncated_fields)
/// and [`Health::truncated_bytes`](crate::Health::truncated_bytes).
///
/// It implements [`Event`], so it can go to any exporter as it is; the
/// layer's builder wraps every exporter in a [`SpanPairing`](super::SpanPairing),
/// which pairs span records into finished spans.
#[derive(Clone, Copy)]
pub struct TracingRecord {
    pub(crate) meta: &'static Metadata<'static>,
    /// When it happened, 0: none (the batch time is used). Unix
    /// nanoseconds, or a raw counter reading marked with
    /// [`TICKS`](super::record_clock::TICKS), converted by
    /// [`time`](TracingRecord::time) and by the span pairing.
    pub(crate) time: u64,
    /// Events: the current span's id (0: none). Span records: the span's id.
    pub(crate) id: u64,
    /// New spans: the parent's id (0: a root span). Otherwise 0.
    pub(crate) parent: u64,
    pub(crate) thread: u16,
    pub(crate) kind: RecordKind,
    pub(crate) len: u8,
    pub(crate) buf: [u8; INLINE],
}

impl fmt::Debug for TracingRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut fields = f.debug_struct("TracingRecord");
        fields
            .field("kind", &self.kind)
            .field("name", &self.meta.name())
            .field("target", &self.meta.target())
            .field("level", self.meta.level())
            .field("time", &self.time)
            .field("id", &self.id)
            .field("parent", &self.parent)
            .field("thread", &self.thread);
        self.entries(|key, value| {
            fields.field(key, &value);
        });
        fields.finish()
    }
}

// Entry tags: the low 3 bits are the type; for integers the high bits hold
// the payload length, for bools the value.
pub(crate) const T_U64: u8 = 0;
pub(crate) const T_I64: u8 = 1;
pub(crate) const T_F64: u8 = 2;
pub(crate) const T_BOOL: u8 = 3;
pub(crate) const T_STR: u8 = 4;

impl TracingRecord {
    pub(crate) fn new(kind: RecordKind, meta: &'static Metadata<'static>, time: u64, id: u64) -> Self {
        TracingRecord { meta, time, id, parent: 0, thread: 0, kind, len: 0, buf: [0; INLINE] }
    }

    /// What this record records.
    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// The callsite's metadata (name, target, level, file, line, field names).
    pub fn metadata(&self) -> &'static Metadata<'static> {
        self.meta
    }

    /// When it happened, if the time was read at the call site, in Unix
    /// nanoseconds.
    ///
    /// The layer stores the CPU counter's raw reading (cheaper to read than
    /// the wall clock); converting it reads the counter and the wall clock
    /// once more here. Behind a [`SpanPairing`](super::SpanPairing) the
    /// times are converted once per batch instead.
    pub fn time(&self) -> Option<Timestamp> {
        (self.time != 0).then(|| Timestamp::from_nanos(Anchor::new().unix_nanos(self.time)))
    }

    /// The `tracing` span id: an event's current span, or the span a span
    /// record is about. `None` for an event outside any span.
    pub fn span_id(&self) -> Option<u64> {
        (self.id != 0).then_some(self.id)
    }

    /// A new span's parent id, if it has one.
    pub fn parent_id(&self) -> Option<u64> {
        (self.parent != 0).then_some(self.parent)
    }

    /// The small index of the thread that recorded it (1, 2, …, in the order
    /// threads first recorded; wraps after 65 535).
    pub fn thread(&self) -> u16 {
        self.thread
    }

    /// The recorded text of the `message` field, if any (possibly truncated).
    pub fn message_text(&self) -> Option<&str> {
        let mut message = None;
        self.raw_entries(|index, value| {
            if let FieldValue::Str(text) = value {
                if message.is_none() && self.field_name(index) == "message" {
                    message = Some(text);
                }
            }
        });
        message
    }

    fn field_name(&self, index: u8) -> &'static str {
        self.meta.fields().iter().nth(usize::from(index)).map_or("?", |f| f.name())
    }

    /// Visits every stored field with its name, `message` included.
    pub(crate) fn entries<'a>(&'a self, mut f: impl FnMut(&'static str, FieldValue<'a>)) {
        self.raw_entries(|index, value| f(self.field_name(index), value));
    }

    /// Each stored entry's field index and its bytes, header included.
    pub(crate) fn entry_ranges(&self, mut f: impl FnMut(u8, std::ops::Range<usize>)) {
        let buf = &self.buf[..usize::from(self.len).min(INLINE)];
        let mut at = 0;
        while at + 2 <= buf.len() {
            let tag = buf[at];
            let payload = match tag & 7 {
                T_U64 | T_I64 => usize::from(tag >> 3),
                T_F64 => 8,
                T_BOOL => 0,
                T_STR => match buf.get(at + 2) {
                    Some(&n) => 1 + usize::from(n),
                    None => return,
                },
                _ => return,
            };
            let end = at + 2 + payload;
            if end > buf.len() {
                return;
            }
            f(buf[at + 1], at..end);
            at = end;
        }
    }

    /// Merges the entries of `update` (a [`RecordKind::Record`] of this
    /// span) into this record: an entry whose field `update` records again
    /// is replaced. Returns `false`, changing nothing, if the merged entries
    /// do not fit.
    pub(crate) fn merge(&mut self, update: &TracingRecord) -> bool {
        let mut replaced = [false; 256];
        update.entry_ranges(|index, _| replaced[usize::from(index)] = true);
        let mut buf = [0u8; INLINE];
        let mut len = 0;
        let mut fits = true;
        let mut keep = |from: &[u8], range: std::ops::Range<usize>| {
            let n = range.len();
            if len + n > INLINE {
                fits = false;
                return;
            }
            buf[len..len + n].copy_from_slice(&from[range]);
            len += n;
        };
        self.entry_ranges(|index, range| {
            if !replaced[usize::from(index)] {
                keep(&self.buf, range);
            }
        });
        update.entry_ranges(|_, range| keep(&update.buf, range));
        if !fits {
            return false;
        }
        self.buf = buf;
        self.len = len as u8;
        true
    }

    /// Visits every stored field with its index in `metadata.fields()`.
    fn raw_entries<'a>(&'a self, mut f: impl FnMut(u8, FieldValue<'a>)) {
        let buf = &self.buf[..usize::from(self.len).min(INLINE)];
        let mut at = 0;
        while at + 2 <= buf.len() {
            let tag = buf[at];
            let index = buf[at + 1];
            at += 2;
            let ty = tag & 7;
            let extra = usize::from(tag >> 3);
            match ty {
                T_U64 | T_I64 => {
                    let Some(bytes) = buf.get(at..at + extra) else { return };
                    let mut le = [0u8; 8];
                    le[..extra].copy_from_slice(bytes);
                    let raw = u64::from_le_bytes(le);
                    at += extra;
                    if ty == T_U64 {
                        f(index, FieldValue::U64(raw));
                    } else {
                        f(index, FieldValue::I64(unzigzag(raw)));
                    }
                }
                T_F64 => {
                    let Some(bytes) = buf.get(at..at + 8) else { return };
                    let mut le = [0u8; 8];
                    le.copy_from_slice(bytes);
                    at += 8;
                    f(index, FieldValue::F64(f64::from_le_bytes(le)));
                }
                T_BOOL => f(index, FieldValue::Bool(extra != 0)),
                T_STR => {
                    let Some(&n) = buf.get(at) else { return };
                    let Some(bytes) = buf.get(at + 1..at + 1 + usize::from(n)) else { return };
                    at += 1 + usize::from(n);
                    // Always whole characters (the writer cuts at a boundary).
                    if let Ok(text) = std::str::from_utf8(bytes) {
                        f(index, FieldValue::Str(text));
                    }
                }
                _ => return,
            }
        }
    }
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) fn severity(level: &Level) -> Severity {
    match *level {
        Level::TRACE => Severity::Trace,
        Level::DEBUG => Severity::Debug,
        Level::INFO => Severity::Info,
        Level::WARN => Severity::Warn,
        _ => Severity::Error,
    }
}

/// The name an event is known by: its explicit `name:`, or else its target
/// (like `fmt`), since `tracing` names events `event file:line` by default.
pub(crate) fn display_name(meta: &'static Metadata<'static>) -> &'static str {
    if meta.is_event() && meta.name().starts_with("event ") {
        meta.target()
    } else {
        meta.name()
    }
}

/// Whether the metadata is the `log` bridge's (named by its `log.target`).
pub(crate) fn is_log_record(meta: &'static Metadata<'static>) -> bool {
    meta.target() == "log" && meta.name() == "log record"
}

/// The span id a `tracing` id is written as when no pairing gave it one.
pub(crate) fn raw_span_id(id: u64) -> SpanId {
    SpanId(id.to_be_bytes())
}

impl Event for TracingRecord {
    fn granularity(&self) -> Granularity {
        match (self.kind, *self.meta.level()) {
            (RecordKind::Event, Level::TRACE | Level::DEBUG) => Granularity::Full,
            _ => Granularity::Rows,
        }
    }

    fn name(&self) -> &str {
        if is_log_record(self.meta) {
            let mut target = None;
            self.entries(|key, value| {
                if let (None, "log.target", FieldValue::Str(text)) = (target, key, value) {
                    target = Some(text);
                }
            });
            return target.unwrap_or("log");
        }
        display_name(self.meta)
    }

    fn timestamp(&self) -> Option<Timestamp> {
        self.time()
    }

    fn severity(&self) -> Severity {
        severity(self.meta.level())
    }

    fn correlation(&self) -> crate::encoding::Correlation {
        crate::encoding::Correlation { span_id: self.span_id().map(raw_span_id), ..Default::default() }
    }

    fn message(&self) -> Option<&str> {
        self.message_text()
    }

    fn fields(&self, out: &mut dyn FieldVisitor) {
        write_fields(self, out);
    }
}

/// The fields every exporter sees: the record's kind for span records, the
/// target when the event has an explicit name, the parent id of a new span,
/// then the stored fields except `message` (the body).
pub(crate) fn write_fields(record: &TracingRecord, out: &mut dyn FieldVisitor) {
    match record.kind {
        RecordKind::Event => {
            if !is_log_record(record.meta) && display_name(record.meta) != record.meta.target() {
                out.field("target", FieldValue::Str(record.meta.target()));
            }
        }
        RecordKind::NewSpan => {
            out.field("span.event", FieldValue::Str("new"));
            if let Some(parent) = record.parent_id() {
                out.field("span.parent", FieldValue::U64(parent));
            }
        }
        RecordKind::CloseSpan => out.field("span.event", FieldValue::Str("close")),
        RecordKind::Enter => out.field("span.event", FieldValue::Str("enter")),
        RecordKind::Exit => out.field("span.event", FieldValue::Str("exit")),
        RecordKind::Record => out.field("span.event", FieldValue::Str("record")),
    }
    record.entries(|key, value| {
        if key != "message" {
            out.field(key, value);
        }
    });
}
