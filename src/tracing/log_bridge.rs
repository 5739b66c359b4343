//! [`LogBridge`]: `log` records through the same [`TracingRecord`]s.

use std::fmt;

use ::tracing::callsite::{Callsite, Identifier};
use ::tracing::field::FieldSet;
use ::tracing::metadata::Kind;
use ::tracing::subscriber::Interest;
use ::tracing::{Level, Metadata};

use super::fill::Filler;
use super::layer::{admit, offer};
use super::record::{RecordKind, TracingRecord};
use super::record_clock::record_time;
use super::EventTime;
use crate::Telemetry;

/// The fields of a bridged `log` record, in this order.
const FIELDS: &[&str] = &["message", "log.target", "log.line"];

macro_rules! log_callsite {
    ($cs:ident, $meta:ident, $ty:ident, $level:expr) => {
        struct $ty;
        static $cs: $ty = $ty;
        static $meta: Metadata<'static> = Metadata::new(
            "log record",
            "log",
            $level,
            None,
            None,
            None,
            FieldSet::new(FIELDS, Identifier(&$cs)),
            Kind::EVENT,
        );
        impl Callsite for $ty {
            fn set_interest(&self, _: Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                &$meta
            }
        }
    };
}

log_callsite!(TRACE_CS, TRACE_META, TraceCallsite, Level::TRACE);
log_callsite!(DEBUG_CS, DEBUG_META, DebugCallsite, Level::DEBUG);
log_callsite!(INFO_CS, INFO_META, InfoCallsite, Level::INFO);
log_callsite!(WARN_CS, WARN_META, WarnCallsite, Level::WARN);
log_callsite!(ERROR_CS, ERROR_META, ErrorCallsite, Level::ERROR);

fn metadata(level: log::Level) -> &'static Metadata<'static> {
    match level {
        log::Level::Trace => &TRACE_META,
        log::Level::Debug => &DEBUG_META,
        log::Level::Info => &INFO_META,
        log::Level::Warn => &WARN_META,
        log::Level::Error => &ERROR_META,
    }
}

/// A `log::Log` for crates on the `log` facade: each record becomes a
/// [`TracingRecord`] in the same telemetry as the layer's (get one from
/// [`TracingGuard::log_bridge`](super::TracingGuard::log_bridge)).
///
/// A `log::Record` has no `&'static Metadata`, so the bridge uses one static
/// metadata per level (target `log`) and **copies** what is the record's
/// own: the message (formatted into the inline buffer by the same truncating
/// writer), the target (`log.target`, copied into the buffer too, and used
/// as the record's name) and the line (`log.line`). The file and module path
/// are not carried. Truncation, own-thread and re-entrancy rules are the
/// layer's.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::exporters::Memory;
///
/// let memory = Memory::new(4);
/// let seen = memory.handle();
/// let (_layer, guard) = ringtel::tracing::layer().exporter(memory).start()?;
/// let bridge = guard.log_bridge(log::LevelFilter::Info);
/// log::Log::log(&bridge, &log::Record::builder().args(format_args!("hello {}", 7)).target("app::db").build());
/// guard.close(Duration::from_secs(2))?;
/// let record = &seen.events()[0];
/// assert_eq!(ringtel::Event::name(record), "app::db");
/// assert_eq!(ringtel::Event::message(record), Some("hello 7"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LogBridge {
    telemetry: Telemetry<TracingRecord>,
    max_level: log::LevelFilter,
    event_time: EventTime,
}

impl fmt::Debug for LogBridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogBridge").field("max_level", &self.max_level).finish_non_exhaustive()
    }
}

impl LogBridge {
    pub(crate) fn new(
        telemetry: Telemetry<TracingRecord>,
        max_level: log::LevelFilter,
        event_time: EventTime,
    ) -> Self {
        LogBridge { telemetry, max_level, event_time }
    }
}

impl log::Log for LogBridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.max_level
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let Some(busy) = admit(&self.telemetry) else { return };
        let meta = metadata(record.level());
        let time = match self.event_time {
            EventTime::Emit => record_time(),
            EventTime::Batch => 0,
        };
        let mut out = TracingRecord::new(RecordKind::Event, meta, time, 0);
        out.thread = busy.thread();
        let fields = meta.fields();
        let mut filler = Filler::new(&mut out);
        if let Some(target) = fields.field("log.target") {
            filler.str_field(&target, record.target());
        }
        if let Some(message) = fields.field("message") {
            filler.display_field(&message, record.args());
        }
        if let (Some(line), Some(n)) = (fields.field("log.line"), record.line()) {
            ::tracing::field::Visit::record_u64(&mut filler, &line, u64::from(n));
        }
        let (truncated_fields, truncated_bytes) = (filler.truncated_fields, filler.truncated_bytes);
        offer(&self.telemetry, out, truncated_fields, truncated_bytes);
    }

    fn flush(&self) {}
}
