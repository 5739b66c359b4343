//! ringtel and every peer behind one interface, each doing its minimum work:
//! a producer handle, a non-blocking emit (Drop mode), a blocking emit (for
//! end-to-end runs, where every event must arrive), and a consumer that drains
//! concurrently into the same no-op export work ([`ExportCore`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::Backoff;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    BatchConfigBuilder, BatchLogProcessor, LogBatch, LogExporter, SdkLogger, SdkLoggerProvider,
};
use ringtel::{Backpressure, Emitted, ExportError, Exporter, Granularity, Telemetry};

use crate::common::{
    batch, channel_consumer, handoff, polling_consumer, record_bytes, Ev64, ExportCore, Hooks, PollControl,
    CAPACITY,
};
use crate::elspeth::{self, NullElspethExporter, TelemetryManager};

/// What a full queue does to a non-blocking emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Drop the new event (ringtel `Backpressure::Drop`, `try_send`, lossy).
    Drop,
    /// Wait for room (ringtel `Backpressure::Block`, `send`, not lossy).
    Block,
}

/// What a non-blocking emit did, where the peer tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Queued,
    Dropped,
    /// The peer's API does not say (tracing-appender, OpenTelemetry).
    Unknown,
}

/// A running peer: its queue, its consumer, its exporter wired to [`Hooks`].
pub trait Peer: Sized {
    /// One producer's handle.
    type Tx: Send;
    /// The name in tables and JSON.
    const NAME: &'static str;
    /// Whether several producers may emit at once.
    const MULTI_PRODUCER: bool = true;
    /// Whether it has a blocking emit, so end-to-end runs deliver every event.
    const BLOCKING: bool = true;

    fn start(hooks: &Hooks, mode: Mode) -> Self;
    /// A new producer handle.
    fn producer(&mut self) -> Self::Tx;
    /// Emits without waiting (the peer's Drop mode).
    ///
    /// Every implementation is `#[inline(always)]`: left to the inliner,
    /// ringtel's (larger) body was called out of line in the timed loop, so
    /// its event was built in the caller and re-read right away by 16-byte
    /// loads across the 8- and 1-byte stores that built it (a failed
    /// store-to-load forward, ~7 ns on the AMD host), while the raw queue's
    /// was inlined and built its event in place. The wrapper is bench
    /// plumbing; no peer should pay for it.
    fn try_emit(tx: &mut Self::Tx, event: Ev64) -> Outcome;
    /// Emits, waiting for room if full (started in `Mode::Block`).
    fn emit_blocking(tx: &mut Self::Tx, event: Ev64);
    /// Untimed: makes the consumer deliver everything offered so far.
    fn settle(&self, hooks: &Hooks, offered: u64);
    /// Shuts down; every producer handle was dropped first.
    fn finish(self, hooks: &Hooks);
}

fn spawn_named(name: &str, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new().name(name.to_owned()).spawn(f).expect("spawn consumer")
}

// ---------------------------------------------------------------- ringtel --

/// The bench's no-op exporter in ringtel's batch protocol.
struct NullRingtel(ExportCore);

impl Exporter<Ev64> for NullRingtel {
    fn name(&self) -> &str {
        "null"
    }
    fn export(&mut self, batch: &[Ev64]) -> Result<(), ExportError> {
        self.0.export(batch, batch.len());
        Ok(())
    }
}

pub struct Ringtel {
    telemetry: Option<Telemetry<Ev64>>,
}

impl Ringtel {
    pub fn telemetry(&self) -> &Telemetry<Ev64> {
        self.telemetry.as_ref().expect("running")
    }
}

impl Peer for Ringtel {
    type Tx = Telemetry<Ev64>;
    const NAME: &'static str = "ringtel";

    fn start(hooks: &Hooks, mode: Mode) -> Self {
        let telemetry = Telemetry::builder()
            .capacity(CAPACITY)
            .batch_size(batch())
            .handoff_batches(handoff())
            .granularity(Granularity::Rows)
            .backpressure(match mode {
                Mode::Drop => Backpressure::Drop,
                Mode::Block => Backpressure::Block,
            })
            .exporter(NullRingtel(hooks.core()))
            .start()
            .expect("ringtel starts");
        Ringtel { telemetry: Some(telemetry) }
    }

    fn producer(&mut self) -> Self::Tx {
        self.telemetry().clone()
    }

    #[inline(always)]
    fn try_emit(tx: &mut Self::Tx, event: Ev64) -> Outcome {
        match tx.emit(event) {
            Emitted::Queued => Outcome::Queued,
            Emitted::Dropped(_) | Emitted::Filtered => Outcome::Dropped,
        }
    }

    #[inline(always)]
    fn emit_blocking(tx: &mut Self::Tx, event: Ev64) {
        let _ = tx.emit(event);
    }

    fn settle(&self, hooks: &Hooks, offered: u64) {
        // Rings the consumer's doorbell and waits for the drain.
        let _ = self.telemetry().flush(Duration::from_secs(60));
        hooks.tally.wait_for(offered);
    }

    fn finish(mut self, hooks: &Hooks) {
        hooks.set_slow(Duration::ZERO);
        hooks.gate.open();
        if let Some(telemetry) = self.telemetry.take() {
            let _ = telemetry.close(Duration::from_secs(60));
        }
    }
}

// ------------------------------------------------------- raw ArrayQueue --

/// The floor: `crossbeam_queue::ArrayQueue` (ringtel's ring) with ringtel's
/// consumer loop and idle policy, and nothing else.
pub struct RawArrayQueue {
    queue: Arc<ArrayQueue<Ev64>>,
    control: Arc<PollControl>,
    consumer: Option<JoinHandle<()>>,
}

impl Peer for RawArrayQueue {
    type Tx = (Arc<ArrayQueue<Ev64>>, Arc<PollControl>);
    const NAME: &'static str = "raw ArrayQueue::push";

    fn start(hooks: &Hooks, _mode: Mode) -> Self {
        let queue = Arc::new(ArrayQueue::new(CAPACITY));
        let control = Arc::new(PollControl::default());
        let consumer = {
            let (queue, control, core, cpu) =
                (Arc::clone(&queue), Arc::clone(&control), hooks.core(), hooks.consumer_cpu);
            spawn_named("raw-consumer", move || polling_consumer(|| queue.pop(), &control, &core, cpu))
        };
        RawArrayQueue { queue, control, consumer: Some(consumer) }
    }

    fn producer(&mut self) -> Self::Tx {
        (Arc::clone(&self.queue), Arc::clone(&self.control))
    }

    #[inline(always)]
    fn try_emit(tx: &mut Self::Tx, event: Ev64) -> Outcome {
        match tx.0.push(event) {
            Ok(()) => Outcome::Queued,
            Err(_) => Outcome::Dropped,
        }
    }

    #[inline(always)]
    fn emit_blocking(tx: &mut Self::Tx, event: Ev64) {
        if let Err(back) = tx.0.push(event) {
            spin_until_pushed(back, |e| tx.0.push(e), &tx.1);
        }
    }

    fn settle(&self, hooks: &Hooks, offered: u64) {
        self.control.doorbell.ring();
        hooks.tally.wait_for(offered);
    }

    fn finish(mut self, hooks: &Hooks) {
        hooks.set_slow(Duration::ZERO);
        hooks.gate.open();
        self.control.stop.store(true, Ordering::Release);
        self.control.doorbell.ring();
        if let Some(consumer) = self.consumer.take() {
            consumer.join().unwrap();
        }
    }
}

/// A full queue without a blocking push: wake the consumer once (as ringtel's
/// blocked producer does), then back off, spinning then yielding.
#[cold]
fn spin_until_pushed(mut event: Ev64, mut push: impl FnMut(Ev64) -> Result<(), Ev64>, control: &PollControl) {
    control.doorbell.ring();
    let backoff = Backoff::new();
    loop {
        backoff.snooze();
        match push(event) {
            Ok(()) => return,
            Err(back) => event = back,
        }
    }
}

// ------------------------------------------------------------- channels --

macro_rules! channel_peer {
    ($ty:ident, $name:expr, $thread:expr, $tx:ty, $rx:ty, $make:expr,
     try_send: $try_send:expr, send: $send:expr, recv: $recv:expr, try_recv: $try_recv:expr) => {
        pub struct $ty {
            tx: Option<$tx>,
            consumer: Option<JoinHandle<()>>,
        }

        impl Peer for $ty {
            type Tx = $tx;
            const NAME: &'static str = $name;

            fn start(hooks: &Hooks, _mode: Mode) -> Self {
                let (tx, rx): ($tx, $rx) = $make;
                let (core, cpu) = (hooks.core(), hooks.consumer_cpu);
                let consumer = spawn_named($thread, move || {
                    channel_consumer(|| $recv(&rx), || $try_recv(&rx), &core, cpu)
                });
                $ty { tx: Some(tx), consumer: Some(consumer) }
            }

            fn producer(&mut self) -> Self::Tx {
                self.tx.as_ref().expect("running").clone()
            }

            #[inline(always)]
            fn try_emit(tx: &mut Self::Tx, event: Ev64) -> Outcome {
                if $try_send(tx, event) {
                    Outcome::Queued
                } else {
                    Outcome::Dropped
                }
            }

            #[inline(always)]
            fn emit_blocking(tx: &mut Self::Tx, event: Ev64) {
                $send(tx, event);
            }

            fn settle(&self, hooks: &Hooks, offered: u64) {
                hooks.tally.wait_for(offered);
            }

            fn finish(mut self, hooks: &Hooks) {
                hooks.set_slow(Duration::ZERO);
                hooks.gate.open();
                drop(self.tx.take());
                if let Some(consumer) = self.consumer.take() {
                    consumer.join().unwrap();
                }
            }
        }
    };
}

channel_peer!(
    CrossbeamChannel, "crossbeam-channel bounded", "crossbeam-consumer",
    crossbeam_channel::Sender<Ev64>, crossbeam_channel::Receiver<Ev64>,
    crossbeam_channel::bounded(CAPACITY),
    try_send: |tx: &crossbeam_channel::Sender<Ev64>, e| tx.try_send(e).is_ok(),
    send: |tx: &crossbeam_channel::Sender<Ev64>, e| tx.send(e).expect("consumer alive"),
    recv: |rx: &crossbeam_channel::Receiver<Ev64>| rx.recv().ok(),
    try_recv: |rx: &crossbeam_channel::Receiver<Ev64>| rx.try_recv().ok()
);

channel_peer!(
    StdSyncChannel, "std::sync::mpsc::sync_channel", "mpsc-consumer",
    std::sync::mpsc::SyncSender<Ev64>, std::sync::mpsc::Receiver<Ev64>,
    std::sync::mpsc::sync_channel(CAPACITY),
    try_send: |tx: &std::sync::mpsc::SyncSender<Ev64>, e| tx.try_send(e).is_ok(),
    send: |tx: &std::sync::mpsc::SyncSender<Ev64>, e| tx.send(e).expect("consumer alive"),
    recv: |rx: &std::sync::mpsc::Receiver<Ev64>| rx.recv().ok(),
    try_recv: |rx: &std::sync::mpsc::Receiver<Ev64>| rx.try_recv().ok()
);

channel_peer!(
    Flume, "flume bounded", "flume-consumer",
    flume::Sender<Ev64>, flume::Receiver<Ev64>,
    flume::bounded(CAPACITY),
    try_send: |tx: &flume::Sender<Ev64>, e| tx.try_send(e).is_ok(),
    send: |tx: &flume::Sender<Ev64>, e| tx.send(e).expect("consumer alive"),
    recv: |rx: &flume::Receiver<Ev64>| rx.recv().ok(),
    try_recv: |rx: &flume::Receiver<Ev64>| rx.try_recv().ok()
);

// ------------------------------------------------------------------ rtrb --

/// rtrb: a wait-free single-producer ring, with ringtel's consumer loop.
pub struct Rtrb {
    producer: Option<rtrb::Producer<Ev64>>,
    control: Arc<PollControl>,
    consumer: Option<JoinHandle<()>>,
}

impl Peer for Rtrb {
    type Tx = (rtrb::Producer<Ev64>, Arc<PollControl>);
    const NAME: &'static str = "rtrb (1 producer)";
    const MULTI_PRODUCER: bool = false;

    fn start(hooks: &Hooks, _mode: Mode) -> Self {
        let (producer, mut consumer) = rtrb::RingBuffer::new(CAPACITY);
        let control = Arc::new(PollControl::default());
        let handle = {
            let (control, core, cpu) = (Arc::clone(&control), hooks.core(), hooks.consumer_cpu);
            spawn_named("rtrb-consumer", move || {
                polling_consumer(|| consumer.pop().ok(), &control, &core, cpu)
            })
        };
        Rtrb { producer: Some(producer), control, consumer: Some(handle) }
    }

    fn producer(&mut self) -> Self::Tx {
        (self.producer.take().expect("rtrb has one producer"), Arc::clone(&self.control))
    }

    #[inline(always)]
    fn try_emit(tx: &mut Self::Tx, event: Ev64) -> Outcome {
        match tx.0.push(event) {
            Ok(()) => Outcome::Queued,
            Err(_) => Outcome::Dropped,
        }
    }

    #[inline(always)]
    fn emit_blocking(tx: &mut Self::Tx, event: Ev64) {
        if let Err(rtrb::PushError::Full(back)) = tx.0.push(event) {
            let (producer, control) = tx;
            spin_until_pushed(back, |e| producer.push(e).map_err(|rtrb::PushError::Full(e)| e), control);
        }
    }

    fn settle(&self, hooks: &Hooks, offered: u64) {
        self.control.doorbell.ring();
        hooks.tally.wait_for(offered);
    }

    fn finish(mut self, hooks: &Hooks) {
        hooks.set_slow(Duration::ZERO);
        hooks.gate.open();
        self.control.stop.store(true, Ordering::Release);
        self.control.doorbell.ring();
        if let Some(consumer) = self.consumer.take() {
            consumer.join().unwrap();
        }
    }
}

// ------------------------------------------------------ tracing-appender --

/// The writer behind `non_blocking`: `io::sink()`'s work (nothing) plus the
/// bench's export core, run once per worker batch (at the worker's `flush`).
struct NullWriter {
    core: ExportCore,
    pending: usize,
}

impl std::io::Write for NullWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = std::io::sink().write(buf)?;
        self.pending += 1;
        Ok(written)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending > 0 {
            self.core.export(&self.pending, self.pending);
            self.pending = 0;
        }
        Ok(())
    }
}

/// `tracing_appender::non_blocking` writing the same 64-byte record.
pub struct TracingAppender {
    writer: Option<tracing_appender::non_blocking::NonBlocking>,
    guard: Option<tracing_appender::non_blocking::WorkerGuard>,
}

impl Peer for TracingAppender {
    type Tx = tracing_appender::non_blocking::NonBlocking;
    const NAME: &'static str = "tracing-appender non_blocking";

    fn start(hooks: &Hooks, mode: Mode) -> Self {
        let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(mode == Mode::Drop)
            .buffered_lines_limit(CAPACITY)
            .thread_name("tracing-appender")
            .finish(NullWriter { core: hooks.core(), pending: 0 });
        TracingAppender { writer: Some(writer), guard: Some(guard) }
    }

    fn producer(&mut self) -> Self::Tx {
        self.writer.as_ref().expect("running").clone()
    }

    #[inline(always)]
    fn try_emit(tx: &mut Self::Tx, event: Ev64) -> Outcome {
        use std::io::Write as _;
        let _ = tx.write_all(&record_bytes(&event));
        Outcome::Unknown
    }

    #[inline(always)]
    fn emit_blocking(tx: &mut Self::Tx, event: Ev64) {
        use std::io::Write as _;
        tx.write_all(&record_bytes(&event)).expect("worker alive");
    }

    fn settle(&self, hooks: &Hooks, offered: u64) {
        hooks.tally.wait_for(offered);
    }

    fn finish(mut self, hooks: &Hooks) {
        hooks.set_slow(Duration::ZERO);
        hooks.gate.open();
        drop(self.writer.take());
        drop(self.guard.take());
    }
}

// --------------------------------------------------------- OpenTelemetry --

/// A no-op `LogExporter`; the batch processor's worker thread calls it.
#[derive(Debug)]
struct NullOtelExporter(ExportCore);

impl LogExporter for NullOtelExporter {
    fn export(&self, batch: LogBatch<'_>) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let count = batch.iter().count();
        self.0.export(&batch, count);
        std::future::ready(Ok(()))
    }
}

/// `opentelemetry_sdk` `BatchLogProcessor` (its own worker thread, no async
/// runtime) behind an `SdkLoggerProvider`, emitting an equivalent log record.
pub struct OtelBatch {
    provider: SdkLoggerProvider,
    logger: SdkLogger,
}

impl Peer for OtelBatch {
    type Tx = SdkLogger;
    const NAME: &'static str = "opentelemetry_sdk BatchLogProcessor";
    const BLOCKING: bool = false;

    fn start(hooks: &Hooks, _mode: Mode) -> Self {
        let config = BatchConfigBuilder::default()
            .with_max_queue_size(CAPACITY)
            .with_max_export_batch_size(batch())
            .build();
        let processor =
            BatchLogProcessor::builder(NullOtelExporter(hooks.core())).with_batch_config(config).build();
        let provider = SdkLoggerProvider::builder().with_log_processor(processor).build();
        let logger = provider.logger("ringtel-bench");
        OtelBatch { provider, logger }
    }

    fn producer(&mut self) -> Self::Tx {
        self.logger.clone()
    }

    #[inline(always)]
    fn try_emit(tx: &mut Self::Tx, event: Ev64) -> Outcome {
        otel_emit(tx, &event);
        Outcome::Unknown
    }

    fn emit_blocking(_: &mut Self::Tx, _: Ev64) {
        unreachable!("BatchLogProcessor has no blocking mode");
    }

    fn settle(&self, hooks: &Hooks, offered: u64) {
        let _ = self.provider.force_flush();
        hooks.tally.wait_for(offered);
    }

    fn finish(self, hooks: &Hooks) {
        hooks.set_slow(Duration::ZERO);
        hooks.gate.open();
        let _ = self.provider.shutdown();
    }
}

/// The log record a user would emit for one event: the same seven words (two
/// timestamps, the body and five attributes, within the SDK's five inline
/// attribute slots) and the granularity as severity. Setting the observed
/// timestamp spares the SDK a clock read: its minimum work.
#[inline]
pub fn otel_emit(logger: &SdkLogger, event: &Ev64) {
    let mut record = logger.create_log_record();
    let at: SystemTime = UNIX_EPOCH + Duration::from_nanos(event.words[0]);
    record.set_timestamp(at);
    record.set_observed_timestamp(at);
    record.set_severity_number(match event.granularity {
        Granularity::Lifecycle => Severity::Warn,
        Granularity::Rows => Severity::Info,
        Granularity::Full => Severity::Debug,
    });
    record.set_event_name("row");
    record.set_body(AnyValue::Int(event.words[1] as i64));
    record.add_attribute("run", event.words[2] as i64);
    record.add_attribute("row", event.words[3] as i64);
    record.add_attribute("token", event.words[4] as i64);
    record.add_attribute("node", event.words[5] as i64);
    record.add_attribute("seq", event.words[6] as i64);
    logger.emit(record);
}

// ------------------------------------------------------------- ELSPETH --

/// The locked ELSPETH design, ported (see `elspeth.rs`).
pub struct Elspeth {
    manager: Arc<TelemetryManager>,
}

impl Peer for Elspeth {
    type Tx = Arc<TelemetryManager>;
    const NAME: &'static str = "ELSPETH locked port";

    fn start(hooks: &Hooks, mode: Mode) -> Self {
        let manager = TelemetryManager::new(
            Granularity::Rows,
            match mode {
                Mode::Drop => elspeth::Mode::Drop,
                Mode::Block => elspeth::Mode::Block,
            },
            CAPACITY,
            vec![Box::new(NullElspethExporter(hooks.core()))],
            hooks.consumer_cpu,
        );
        Elspeth { manager: Arc::new(manager) }
    }

    fn producer(&mut self) -> Self::Tx {
        Arc::clone(&self.manager)
    }

    #[inline(always)]
    fn try_emit(tx: &mut Self::Tx, event: Ev64) -> Outcome {
        if tx.handle_event(event) {
            Outcome::Queued
        } else {
            Outcome::Dropped
        }
    }

    #[inline(always)]
    fn emit_blocking(tx: &mut Self::Tx, event: Ev64) {
        tx.handle_event(event);
    }

    fn settle(&self, hooks: &Hooks, offered: u64) {
        hooks.tally.wait_for(offered);
    }

    fn finish(self, hooks: &Hooks) {
        hooks.set_slow(Duration::ZERO);
        hooks.gate.open();
        self.manager.close();
        let _ = self.manager.events_emitted();
    }
}
