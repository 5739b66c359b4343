//! The exporter's encoding and settings, without a server.

use std::time::Duration;

use super::*;
use crate::pipeline::{PipelineEvent, RowId, RunContext, RunId, TokenId};
use crate::ExportErrorKind;
use crate::{ManualClock, Timestamp};

fn args(exporter: &RedisStreams, batch: usize) -> Vec<Vec<String>> {
    exporter.commands[..batch]
        .iter()
        .map(|cmd| {
            cmd.args_iter()
                .map(|arg| match arg {
                    redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    redis::Arg::Cursor => "<cursor>".to_owned(),
                })
                .collect()
        })
        .collect()
}

#[test]
fn encodes_one_xadd_per_event_with_fields_in_json_order() {
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(1_000));
    let run = RunContext::new(RunId::new(7), &clock);
    let events = [
        PipelineEvent::row_created(run, RowId::new(1), TokenId::new(2)),
        PipelineEvent::row_created(run, RowId::new(3), TokenId::new(4)),
    ];
    let mut exporter =
        RedisStreams::builder("redis://127.0.0.1:1").names(names).stream("s").max_len(50).build().unwrap();
    exporter.encode(&events, Timestamp::EPOCH).unwrap();
    let args = args(&exporter, events.len());
    assert_eq!(args.len(), 2);
    assert_eq!(
        args[0],
        [
            "XADD",
            "s",
            "MAXLEN",
            "~",
            "50",
            "*",
            "ts",
            "1000",
            "run",
            "7",
            "event",
            "row_created",
            "severity",
            "INFO",
            "row",
            "1",
            "token",
            "2"
        ]
    );
}

#[test]
fn json_encoding_and_exact_trim() {
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(5));
    let run = RunContext::new(RunId::new(1), &clock);
    let mut exporter = RedisStreams::builder("redis://127.0.0.1:1")
        .names(names)
        .encoding(StreamEncoding::Json { field: "j".to_owned() })
        .exact_trim(true)
        .max_len(3)
        .build()
        .unwrap();
    exporter
        .encode(&[PipelineEvent::row_created(run, RowId::new(1), TokenId::new(1))], Timestamp::EPOCH)
        .unwrap();
    assert_eq!(
        args(&exporter, 1)[0],
        [
            "XADD",
            DEFAULT_REDIS_STREAM,
            "MAXLEN",
            "=",
            "3",
            "*",
            "j",
            r#"{"ts":5,"run":1,"event":"row_created","severity":"INFO","row":1,"token":1}"#
        ]
    );
}

#[test]
fn partitions_put_events_under_hash_tagged_keys() {
    let clock = ManualClock::new(Timestamp::from_nanos(5));
    let (one, two) = (RunContext::new(RunId::new(7), &clock), RunContext::new(RunId::new(8), &clock));
    let events = [
        PipelineEvent::row_created(one, RowId::new(1), TokenId::new(1)),
        PipelineEvent::row_created(two, RowId::new(2), TokenId::new(2)),
    ];
    let mut exporter =
        RedisStreams::builder("redis://127.0.0.1:1").stream("s").partition(Partition::Run).build().unwrap();
    exporter.encode(&events, Timestamp::EPOCH).unwrap();
    let keys: Vec<String> = args(&exporter, 2).into_iter().map(|a| a[1].clone()).collect();
    assert_eq!(keys, ["s:{run-7}", "s:{run-8}"]);
    let mut exporter = RedisStreams::builder("redis://127.0.0.1:1")
        .stream("s")
        .partition(Partition::Fixed("p1".into()))
        .build()
        .unwrap();
    exporter.encode(&events, Timestamp::EPOCH).unwrap();
    let keys: Vec<String> = args(&exporter, 2).into_iter().map(|a| a[1].clone()).collect();
    assert_eq!(keys, ["s:{p1}", "s:{p1}"]);
    let err = RedisStreams::builder("redis://127.0.0.1:1")
        .partition(Partition::Fixed("a}b".into()))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid value "a}b" for `partition`: expected a non-empty name without `{` or `}`"#
    );
}

#[test]
fn bad_settings_are_named() {
    let names = Arc::new(Names::new());
    let err =
        RedisStreams::builder("redis://127.0.0.1").names(Arc::clone(&names)).stream("").build().unwrap_err();
    assert_eq!(err.to_string(), r#"invalid value "" for `stream`: expected a non-empty key"#);
    let err = RedisStreams::builder("redis://127.0.0.1")
        .names(Arc::clone(&names))
        .io_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "invalid value 0ns for `io_timeout`: expected a duration > 0");
    let err = RedisStreams::builder("redis://127.0.0.1")
        .names(names)
        .encoding(StreamEncoding::Json { field: String::new() })
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), r#"invalid value "" for `encoding.field`: expected a non-empty field name"#);
}

#[test]
fn unreachable_server_is_a_retryable_transport_error() {
    // Port 1 on loopback: nothing listens, so the connect is refused at once.
    let names = Arc::new(Names::new());
    let clock = ManualClock::new(Timestamp::from_nanos(5));
    let run = RunContext::new(RunId::new(1), &clock);
    let mut exporter = RedisStreams::builder("redis://127.0.0.1:1").names(names).build().unwrap();
    let err =
        exporter.export(&[PipelineEvent::row_created(run, RowId::new(1), TokenId::new(1))]).unwrap_err();
    assert_eq!(err.kind(), ExportErrorKind::Transport, "{err}");
    assert!(err.is_retryable());
    assert!(err.message().starts_with("redis at 127.0.0.1:1: "), "{err}");
}
