//! [`TracingRecord`]: one `tracing` event or span transition in a fixed-size
//! record, and the truncating writer that fills its inline buffer.

use std::fmt;

use ::tracing::callsite::{Callsite, Identifier};
use ::tracing::field::{Field, FieldSet, Visit};
use ::tracing::metadata::Kind;
use ::tracing::subscriber::Interest;
use ::tracing::{Level, Metadata};

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
    /// Nanoseconds since the Unix epoch; 0: none (the batch time is used).
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
const T_U64: u8 = 0;
const T_I64: u8 = 1;
const T_F64: u8 = 2;
const T_BOOL: u8 = 3;
const T_STR: u8 = 4;

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

    /// When it happened, if the time was read at the call site.
    pub fn time(&self) -> Option<Timestamp> {
        (self.time != 0).then(|| Timestamp::from_nanos(self.time))
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

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Fills a record's inline buffer and counts what does not fit.
pub(crate) struct Filler<'r> {
    pub(crate) record: &'r mut TracingRecord,
    pub(crate) truncated_fields: u64,
    pub(crate) truncated_bytes: u64,
}

impl<'r> Filler<'r> {
    pub(crate) fn new(record: &'r mut TracingRecord) -> Self {
        Filler { record, truncated_fields: 0, truncated_bytes: 0 }
    }

    fn room(&self) -> usize {
        INLINE - usize::from(self.record.len)
    }

    fn index(&mut self, field: &Field) -> Option<u8> {
        u8::try_from(field.index()).ok()
    }

    fn put(&mut self, bytes: &[u8]) {
        let at = usize::from(self.record.len);
        copy_small(&mut self.record.buf[at..], bytes);
        self.record.len += bytes.len() as u8;
    }

    fn int(&mut self, field: &Field, ty: u8, raw: u64) {
        let n = (8 - raw.leading_zeros() as usize / 8).max(1);
        let at = usize::from(self.record.len);
        match self.index(field) {
            // Room for all eight bytes: store them (one move) and keep `n`;
            // what lies past `len` is never read.
            Some(index) if at + 10 <= INLINE => {
                let entry = &mut self.record.buf[at..at + 10];
                entry[0] = ty | ((n as u8) << 3);
                entry[1] = index;
                entry[2..].copy_from_slice(&raw.to_le_bytes());
                self.record.len = (at + 2 + n) as u8;
            }
            Some(index) if at + 2 + n <= INLINE => {
                self.put(&[ty | ((n as u8) << 3), index]);
                self.put(&raw.to_le_bytes()[..n]);
            }
            _ => self.truncated_fields += 1,
        }
    }

    /// Starts a text entry; the caller writes the text through `self` as a
    /// `fmt::Write` and then calls `end_text(start)`.
    fn begin_text(&mut self, field: &Field) -> Option<usize> {
        match self.index(field) {
            // Header, length and at least one byte of text.
            Some(index) if self.room() >= 4 => {
                self.put(&[T_STR, index, 0]);
                Some(usize::from(self.record.len))
            }
            _ => {
                self.truncated_fields += 1;
                None
            }
        }
    }

    fn end_text(&mut self, start: usize) {
        let n = usize::from(self.record.len) - start;
        self.record.buf[start - 1] = n as u8;
    }

    fn text(&mut self, field: &Field, args: fmt::Arguments<'_>) {
        match self.begin_text(field) {
            Some(start) => {
                let _ = fmt::write(&mut TextWriter(self), args);
                self.end_text(start);
            }
            None => {
                // Count the bytes of the field left out.
                let mut counter = ByteCounter(0);
                let _ = fmt::write(&mut counter, args);
                self.truncated_bytes += counter.0;
            }
        }
    }

    /// Copies `value` straight in (no formatting machinery), cut at a
    /// character boundary when it does not fit.
    pub(crate) fn str_field(&mut self, field: &Field, value: &str) {
        let at = usize::from(self.record.len);
        match self.index(field) {
            // Header, length and at least one byte of text.
            Some(index) if at + 4 <= INLINE => {
                let n = fitting(value, INLINE - at - 3);
                let entry = &mut self.record.buf[at..];
                entry[0] = T_STR;
                entry[1] = index;
                entry[2] = n as u8;
                copy_small(&mut entry[3..], &value.as_bytes()[..n]);
                self.record.len = (at + 3 + n) as u8;
                self.truncated_bytes += (value.len() - n) as u64;
            }
            _ => {
                self.truncated_fields += 1;
                self.truncated_bytes += value.len() as u64;
            }
        }
    }

    #[cfg_attr(not(feature = "log"), allow(dead_code))]
    pub(crate) fn display_field(&mut self, field: &Field, value: &fmt::Arguments<'_>) {
        self.text(field, format_args!("{value}"))
    }
}

/// Writes text into the record while it has room, then counts the rest:
/// whole characters only, so the stored text is always valid UTF-8.
struct TextWriter<'f, 'r>(&'f mut Filler<'r>);

impl fmt::Write for TextWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let at = usize::from(self.0.record.len);
        let n = fitting(s, INLINE - at);
        copy_small(&mut self.0.record.buf[at..], &s.as_bytes()[..n]);
        self.0.record.len = (at + n) as u8;
        self.0.truncated_bytes += (s.len() - n) as u64;
        Ok(())
    }
}

/// How many bytes of `s` fit in `room`: all of it, or as many as end on a
/// character boundary.
#[inline]
fn fitting(s: &str, room: usize) -> usize {
    if s.len() <= room {
        return s.len();
    }
    let mut cut = room;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

/// Copies `src` to the start of `dst` (`src` at most [`INLINE`] bytes) with
/// fixed-size moves instead of a call to `memcpy`: the texts here are a few
/// bytes long, and the call cost more than the copy (callgrind).
#[inline(always)]
fn copy_small(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    debug_assert!(n <= INLINE && n <= dst.len());
    let dst = &mut dst[..n];
    if n >= 16 {
        dst[..16].copy_from_slice(&src[..16]);
        dst[n - 16..].copy_from_slice(&src[n - 16..]);
    } else if n >= 8 {
        dst[..8].copy_from_slice(&src[..8]);
        dst[n - 8..].copy_from_slice(&src[n - 8..]);
    } else if n >= 4 {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..].copy_from_slice(&src[n - 4..]);
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    }
}

struct ByteCounter(u64);

impl fmt::Write for ByteCounter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len() as u64;
        Ok(())
    }
}

impl Visit for Filler<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        match self.index(field) {
            Some(index) if self.room() >= 10 => {
                self.put(&[T_F64, index]);
                self.put(&value.to_le_bytes());
            }
            _ => self.truncated_fields += 1,
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.int(field, T_I64, zigzag(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.int(field, T_U64, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        match self.index(field) {
            Some(index) if self.room() >= 2 => self.put(&[T_BOOL | (u8::from(value) << 3), index]),
            _ => self.truncated_fields += 1,
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.str_field(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, format_args!("{value:?}"));
    }
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
    }
    record.entries(|key, value| {
        if key != "message" {
            out.field(key, value);
        }
    });
}
