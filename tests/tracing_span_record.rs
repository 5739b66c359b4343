//! `Span::record` values through the layer and the span pairing: merged
//! into the finished span, or passed on by themselves when they do not fit.

mod common;

use common::PATIENCE;
use ringtel::encoding::FieldValue;
use ringtel::exporters::Memory;
use ringtel::tracing::{PairedRecord, RecordKind};
use ringtel::Event;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

fn dispatch(layer: ringtel::tracing::RingtelLayer) -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(layer))
}

/// The fields of a record, as `key=value` text, `message` excluded.
fn fields(event: &impl Event) -> Vec<String> {
    let mut out = Vec::new();
    event.fields(&mut |key: &str, value: FieldValue<'_>| out.push(format!("{key}={value:?}")));
    out
}

#[test]
fn span_record_values_are_merged_into_the_finished_span_or_passed_on_when_they_do_not_fit() {
    let memory = Memory::<PairedRecord>::new(16);
    let seen = memory.handle();
    let (layer, guard) = ringtel::tracing::layer().exporter(memory).start().unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), || {
        let load = tracing::info_span!("load", rows = tracing::field::Empty, table = "orders");
        load.record("rows", 7_u64);
        // Recorded again: the later value replaces the earlier one.
        load.record("rows", 9_u64);
        drop(load);
        // 20 bytes of text leave no room for a second 10-byte text.
        let full = tracing::info_span!("full", note = "twenty bytes of text", more = tracing::field::Empty);
        full.record("more", "ten bytes!");
        drop(full);
    });
    let report = guard.close(PATIENCE).unwrap();
    assert_eq!(report.health().truncated_fields(), 0);
    assert_eq!(report.health().truncated_bytes(), 0);
    let events = seen.events();
    let names: Vec<_> = events.iter().map(|e| (e.name().to_owned(), e.record().kind())).collect();
    assert_eq!(
        names,
        [
            ("load".to_owned(), RecordKind::NewSpan),
            ("full".to_owned(), RecordKind::Record),
            ("full".to_owned(), RecordKind::NewSpan)
        ]
    );
    let load = fields(&events[0]);
    assert!(events[0].span().is_some());
    assert_eq!(load[load.len() - 2..], ["table=Str(\"orders\")", "rows=U64(9)"], "{load:?}");
    // Passed on by itself, in the span, with the span's field names.
    assert_eq!(fields(&events[1]), ["span.event=Str(\"record\")", "more=Str(\"ten bytes!\")"]);
    assert_eq!(events[1].correlation().span_id, events[2].correlation().span_id);
    let full = fields(&events[2]);
    assert_eq!(full[full.len() - 1], "note=Str(\"twenty bytes of text\")", "{full:?}");
}
