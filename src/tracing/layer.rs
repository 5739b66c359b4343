//! [`RingtelLayer`]: the `tracing_subscriber::Layer` that copies events and
//! span transitions into [`TracingRecord`]s.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

use ::tracing::span::{Attributes, Id, Record};
use ::tracing::subscriber::Interest;
use ::tracing::{Event as TracingEvent, Metadata, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::fill::Filler;
use super::record::{RecordKind, TracingRecord, CLOSE_META};
use super::record_clock::record_time;
use super::{EventTime, SpanActivity};
use crate::{DropReason, Telemetry};

std::thread_local! {
    /// This thread's state: its index (low 16 bits; 0: not assigned yet),
    /// whether it is inside the layer right now (`BUSY`), and how many spans
    /// ringtel's layers saw it enter and not yet exit (the high 32 bits).
    static THREAD: Cell<u64> = const { Cell::new(0) };
}

const BUSY: u64 = 1 << 31;
const ENTERED: u64 = 1 << 32;
static NEXT_THREAD: AtomicU32 = AtomicU32::new(1);

/// Marks this thread as inside a ringtel integration until dropped.
pub(crate) struct Busy(u64);

impl Busy {
    /// This thread's index, or `None` if the thread is already inside
    /// (a record raised while ringtel records one: a drop warning, say).
    #[inline]
    pub(crate) fn enter() -> Option<Busy> {
        THREAD
            .try_with(|cell| {
                let mut state = cell.get();
                if state & BUSY != 0 {
                    return None;
                }
                if state & 0xffff == 0 {
                    state |= u64::from(assign());
                }
                cell.set(state | BUSY);
                Some(Busy(state))
            })
            .ok()
            .flatten()
    }

    pub(crate) fn thread(&self) -> u16 {
        self.0 as u16
    }

    /// Whether a ringtel layer saw this thread enter a span it has not
    /// exited: if not, the registry has no current span for the layer to
    /// look up (the lookup is a thread-local stack behind a `RefCell`).
    #[inline]
    fn in_span(&self) -> bool {
        self.0 >= ENTERED
    }
}

/// Counts a span entered (`+1`) or exited (`-1`) on this thread.
#[inline]
fn entered(delta: i64) {
    let _ = THREAD.try_with(|cell| {
        let state = cell.get();
        let depth = (state >> 32).saturating_add_signed(delta);
        cell.set((state & (ENTERED - 1)) | (depth << 32));
    });
}

#[cold]
fn assign() -> u16 {
    // Relaxed: only distinctness matters; 0 is skipped on wrap.
    let mut index = NEXT_THREAD.fetch_add(1, Ordering::Relaxed) & 0xffff;
    if index == 0 {
        index = NEXT_THREAD.fetch_add(1, Ordering::Relaxed) & 0xffff;
    }
    index as u16
}

impl Drop for Busy {
    fn drop(&mut self) {
        let _ = THREAD.try_with(|cell| cell.set(cell.get() & !BUSY));
    }
}

/// Whether a record may be offered from this thread now: not on a ringtel
/// thread and not re-entered. Otherwise the event is counted as dropped
/// (`OwnThread`) and `None` returned.
#[inline]
pub(crate) fn admit(telemetry: &Telemetry<TracingRecord>) -> Option<Busy> {
    if crate::role::on_ringtel_thread() {
        telemetry.count_refused(DropReason::OwnThread);
        return None;
    }
    let busy = Busy::enter();
    if busy.is_none() {
        telemetry.count_refused(DropReason::OwnThread);
    }
    busy
}

/// Offers a filled record and counts what did not fit.
#[inline]
pub(crate) fn offer(telemetry: &Telemetry<TracingRecord>, record: TracingRecord, fields: u64, bytes: u64) {
    if fields | bytes != 0 {
        telemetry.count_truncated(fields, bytes);
    }
    // The outcome is counted in `Health`; a layer has no one to return it to.
    let _ = telemetry.emit(record);
}

/// A `tracing_subscriber::Layer` that copies each event, and each span's
/// creation and close, into a fixed-size [`TracingRecord`] and emits it into
/// ringtel's ring; exporters run on ringtel's threads. Built by
/// [`layer()`](super::layer).
///
/// Per event it reads the current
/// span id and a thread-local index (and the clock, with
/// [`EventTime::Emit`]), copies the fields into the record and
/// pushes it: no lock, no allocation. Events and spans above
/// [`max_level`](super::TracingBuilder::max_level) are disabled at their
/// callsite (`register_callsite` returns `Interest::never`, and
/// `max_level_hint` lets `tracing` skip them before any dispatch), so they
/// cost what they cost with no subscriber at all.
///
/// Records raised on ringtel's own threads (an exporter's HTTP client
/// logging through `tracing`), or while this thread is already inside the
/// layer (ringtel's own drop warning), are never fed back into the ring:
/// they are counted as offered and dropped under
/// [`DropReason::OwnThread`].
#[derive(Debug, Clone)]
pub struct RingtelLayer {
    pub(crate) telemetry: Telemetry<TracingRecord>,
    pub(crate) max_level: LevelFilter,
    pub(crate) activity: SpanActivity,
    pub(crate) event_time: EventTime,
}

impl RingtelLayer {
    /// The telemetry the layer emits into.
    pub fn telemetry(&self) -> &Telemetry<TracingRecord> {
        &self.telemetry
    }

    #[inline]
    fn allows(&self, meta: &Metadata<'_>) -> bool {
        self.max_level >= *meta.level()
    }

    #[inline]
    fn span_record<S>(&self, kind: RecordKind, id: &Id, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(meta) = ctx.metadata(id) else { return };
        self.transition(kind, meta, id);
    }

    #[inline]
    fn transition(&self, kind: RecordKind, meta: &'static Metadata<'static>, id: &Id) {
        let Some(busy) = admit(&self.telemetry) else { return };
        let mut record = TracingRecord::new(kind, meta, record_time(), id.into_u64());
        record.thread = busy.thread();
        offer(&self.telemetry, record, 0, 0);
    }

    /// The span an event or a new span belongs to when `tracing` leaves it
    /// to the context: the registry's current span, looked up only if this
    /// thread is inside one.
    #[inline]
    fn current<S>(busy: &Busy, ctx: &Context<'_, S>) -> u64
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if busy.in_span() {
            ctx.current_span().id().map_or(0, Id::into_u64)
        } else {
            0
        }
    }
}

impl<S> Layer<S> for RingtelLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.allows(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.allows(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max_level)
    }

    fn on_event(&self, event: &TracingEvent<'_>, ctx: Context<'_, S>) {
        let Some(busy) = admit(&self.telemetry) else { return };
        let span = match event.parent() {
            Some(parent) => parent.into_u64(),
            None if event.is_contextual() => Self::current(&busy, &ctx),
            None => 0,
        };
        let time = match self.event_time {
            EventTime::Emit => record_time(),
            EventTime::Batch => 0,
        };
        let mut record = TracingRecord::new(RecordKind::Event, event.metadata(), time, span);
        record.thread = busy.thread();
        let mut filler = Filler::new(&mut record);
        event.record(&mut filler);
        let (fields, bytes) = (filler.truncated_fields, filler.truncated_bytes);
        offer(&self.telemetry, record, fields, bytes);
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(busy) = admit(&self.telemetry) else { return };
        let parent = match attrs.parent() {
            Some(parent) => parent.into_u64(),
            None if attrs.is_contextual() => Self::current(&busy, &ctx),
            None => 0,
        };
        let mut record =
            TracingRecord::new(RecordKind::NewSpan, attrs.metadata(), record_time(), id.into_u64());
        record.parent = parent;
        record.thread = busy.thread();
        let mut filler = Filler::new(&mut record);
        attrs.record(&mut filler);
        let (fields, bytes) = (filler.truncated_fields, filler.truncated_bytes);
        offer(&self.telemetry, record, fields, bytes);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if values.is_empty() {
            return;
        }
        // The span's own metadata, so that the fields' names resolve.
        let Some(meta) = ctx.metadata(id) else { return };
        let Some(busy) = admit(&self.telemetry) else { return };
        let mut record = TracingRecord::new(RecordKind::Record, meta, 0, id.into_u64());
        record.thread = busy.thread();
        let mut filler = Filler::new(&mut record);
        values.record(&mut filler);
        let (fields, bytes) = (filler.truncated_fields, filler.truncated_bytes);
        offer(&self.telemetry, record, fields, bytes);
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        entered(1);
        if self.activity == SpanActivity::EnterExit {
            self.span_record(RecordKind::Enter, id, &ctx);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        entered(-1);
        if self.activity == SpanActivity::EnterExit {
            self.span_record(RecordKind::Exit, id, &ctx);
        }
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        // No registry lookup for the span's metadata (about 130
        // instructions, a fifth of the layer's cost per span): the close
        // record carries the span's id and time, and the pairing names the
        // span from its creation record.
        self.transition(RecordKind::CloseSpan, &CLOSE_META, &id);
    }
}
