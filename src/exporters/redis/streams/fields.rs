//! The `key value` arguments of one entry under
//! [`StreamEncoding::Fields`](crate::exporters::redis::StreamEncoding::Fields).

use std::fmt;

use crate::encoding::resolved::{field_key, Text};
use crate::encoding::{FieldValue, Resolved};
use crate::{Event, ExportError, ExportErrorKind};

/// The `key value` arguments of one event under [`StreamEncoding::Fields`]:
/// the JSON Lines object's keys in its order, string values as their text,
/// others as their JSON text.
pub(super) fn fields_args<E: Event + ?Sized>(
    command: &mut redis::Cmd,
    resolved: &Resolved<'_, E>,
    scratch: &mut Vec<u8>,
) -> Result<(), ExportError> {
    let event = resolved.event();
    let mut args = Args { command, scratch };
    let str_value = |s| Text::Value(FieldValue::Str(s));
    args.pair(&"ts", Text::Value(FieldValue::U64(resolved.time().as_nanos())))?;
    let ids = event.correlation();
    if let Some(run) = ids.run {
        args.pair(&"run", Text::Value(FieldValue::U64(run)))?;
    }
    if let Some(trace) = ids.trace_id {
        args.hex("trace_id", &trace);
    }
    if let Some(span) = ids.span_id {
        args.hex("span_id", &span);
    }
    args.pair(&"event", str_value(event.name()))?;
    args.pair(&"severity", str_value(event.severity().as_str()))?;
    if let Some(message) = event.message() {
        args.pair(&"message", str_value(message))?;
    }
    let mut result = Ok(());
    resolved.for_each(|key, value| {
        if result.is_ok() {
            result = args.pair(&field_key(key), value);
        }
    });
    result
}

/// Appends `key value` arguments to one command through a reused buffer.
struct Args<'c> {
    command: &'c mut redis::Cmd,
    scratch: &'c mut Vec<u8>,
}

impl Args<'_> {
    fn pair(&mut self, key: &dyn fmt::Display, value: Text<'_>) -> Result<(), ExportError> {
        self.scratch.clear();
        write_key(self.scratch, key);
        let key_len = self.scratch.len();
        value_text(self.scratch, value)?;
        self.command.arg(&self.scratch[..key_len]).arg(&self.scratch[key_len..]);
        Ok(())
    }

    fn hex(&mut self, key: &str, id: &dyn fmt::Display) {
        self.scratch.clear();
        write_key(self.scratch, id);
        self.command.arg(key).arg(self.scratch.as_slice());
    }
}

fn write_key(out: &mut Vec<u8>, key: &dyn fmt::Display) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{key}");
}

/// Appends a field value's text: a string as itself, anything else as its
/// JSON text (serde_json's, so floats are exactly what JSON Lines writes).
fn value_text(out: &mut Vec<u8>, value: Text<'_>) -> Result<(), ExportError> {
    use std::io::Write as _;
    match value {
        Text::Value(FieldValue::Str(s)) | Text::Name(s) => out.extend_from_slice(s.as_bytes()),
        Text::Value(FieldValue::Json(raw)) => out.extend_from_slice(raw.as_bytes()),
        Text::Value(FieldValue::Name(id)) | Text::UnknownName(id) => {
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{id}");
        }
        other => serde_json::to_writer(&mut *out, &other).map_err(encode_error)?,
    }
    Ok(())
}

pub(super) fn encode_error(err: serde_json::Error) -> ExportError {
    ExportError::new(ExportErrorKind::Encode, err.to_string()).with_source(err)
}
