//! Built-in exporters: [`JsonLines`] (a file, one JSON object per line),
//! [`Console`] (human-readable lines or a periodic summary), [`Memory`]
//! (bounded, for tests and examples) and [`Null`] (discards).
//!
//! Every exporter takes any [`Event`](crate::Event) type. `JsonLines`,
//! `Console`, `OtlpExporter` and `RedisStreams` write what the
//! [encoding contract](crate::encoding) says of each event (name, time,
//! severity, correlation ids, typed fields), resolving interned names through
//! the [`Names`](crate::pipeline::Names) registry they are given, if any;
//! `Memory` keeps the events themselves and `Null` discards them.
//!
//! Every exporter keeps its buffers bounded (C13) and reports every failure
//! as an [`ExportError`](crate::ExportError), which ringtel counts per
//! exporter; none panics on I/O errors.

mod console;
mod json_lines;
mod memory;
mod null;

#[cfg(feature = "otlp")]
#[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
pub mod otlp;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;

pub use console::{
    Console, ConsoleMode, DEFAULT_CONSOLE_BUFFER_CAPACITY, DEFAULT_CONSOLE_NAME, MAX_SUMMARY_NAMES,
};
pub use json_lines::{
    JsonLines, JsonLinesBuilder, JsonLinesError, JsonLinesStats, Rotation,
    DEFAULT_JSON_LINES_BUFFER_CAPACITY, DEFAULT_JSON_LINES_NAME,
};
pub use memory::{Memory, MemoryHandle, DEFAULT_MEMORY_NAME};
pub use null::{Null, DEFAULT_NULL_NAME};
