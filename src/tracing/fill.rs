//! [`Filler`]: the `Visit` that packs a record's field values into its
//! inline buffer, with the truncating writer for text, counting whatever
//! does not fit.

use std::fmt;

use ::tracing::field::{Field, Visit};

use super::record::{TracingRecord, INLINE, T_BOOL, T_F64, T_I64, T_STR, T_U64};

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
                let at = usize::from(self.record.len);
                let header = &mut self.record.buf[at..at + 3];
                header[0] = T_STR;
                header[1] = index;
                self.record.len = (at + 3) as u8;
                Some(at + 3)
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

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}
