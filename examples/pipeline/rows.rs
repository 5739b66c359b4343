//! The simulated pipeline: the names it uses, its worker threads running
//! the transforms and the gate over seeded rows, the sink completing tokens,
//! and an optional slow exporter. Every `emit` is counted here, so the run
//! can check `Health` against its own count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_xorshift::XorShiftRng;
use ringtel::pipeline::{
    CallKind, CallStatus, CallVolume, GateDecision, NameId, Names, PipelineEvent, ProgressTicker, RowCounts,
    RowId, RowOutcome, RunContext, TokenId, TokenOutcome, TransformOutcome,
};
use ringtel::{Emitted, ExportError, Exporter, Telemetry};

/// Every name the run uses, interned once before the first event.
#[derive(Clone, Copy)]
pub(crate) struct Ids {
    pub(crate) pipeline: NameId,
    parse: NameId,
    csv_parser: NameId,
    enrich: NameId,
    llm_enricher: NameId,
    lookup: NameId,
    sql_lookup: NameId,
    quality_gate: NameId,
    needs_review: NameId,
    warehouse: NameId,
    review_queue: NameId,
    quarantine: NameId,
    openai: NameId,
    postgres: NameId,
    malformed_record: NameId,
    llm_timeout: NameId,
}

impl Ids {
    pub(crate) fn intern(names: &Names) -> Ids {
        Ids {
            pipeline: names.intern("demo_pipeline"),
            parse: names.intern("parse"),
            csv_parser: names.intern("csv_parser"),
            enrich: names.intern("enrich"),
            llm_enricher: names.intern("llm_enricher"),
            lookup: names.intern("lookup"),
            sql_lookup: names.intern("sql_lookup"),
            quality_gate: names.intern("quality_gate"),
            needs_review: names.intern("needs_review"),
            warehouse: names.intern("warehouse"),
            review_queue: names.intern("review_queue"),
            quarantine: names.intern("quarantine"),
            openai: names.intern("openai-sim"),
            postgres: names.intern("postgres-sim"),
            malformed_record: names.intern("malformed_record"),
            llm_timeout: names.intern("llm_timeout"),
        }
    }
}

/// What this program saw `emit` return: its own count, checked against
/// `Health` at the end.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct EmitCounts {
    pub(crate) calls: u64,
    pub(crate) queued: u64,
    pub(crate) filtered: u64,
    pub(crate) dropped: u64,
}

impl EmitCounts {
    pub(crate) fn add(&mut self, other: EmitCounts) {
        self.calls += other.calls;
        self.queued += other.queued;
        self.filtered += other.filtered;
        self.dropped += other.dropped;
    }
}

/// A producer's handle: emits and counts what `emit` returned.
pub(crate) struct Emitter<'t> {
    pub(crate) telemetry: &'t Telemetry<PipelineEvent>,
    pub(crate) counts: EmitCounts,
}

impl Emitter<'_> {
    pub(crate) fn emit(&mut self, event: PipelineEvent) {
        self.counts.calls += 1;
        match self.telemetry.emit(event) {
            Emitted::Queued => self.counts.queued += 1,
            Emitted::Filtered => self.counts.filtered += 1,
            Emitted::Dropped(_) => self.counts.dropped += 1,
        }
    }
}

/// One row's result, from a worker to the sink.
pub(crate) struct RowDone {
    row: RowId,
    token: TokenId,
    outcome: TokenOutcome,
    sink: Option<NameId>,
}

/// Parsing: some real CPU work over a synthetic record.
fn parse_record(row: u64, rng: &mut XorShiftRng) -> u64 {
    let len = rng.random_range(200..600usize);
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ row;
    for i in 0..len {
        hash ^= (i as u64).wrapping_mul(row | 1);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    std::hint::black_box(hash)
}

/// One worker: takes rows from the shared source until it is exhausted.
pub(crate) fn worker(
    run: RunContext<'_>,
    ids: Ids,
    seed: u64,
    rows: u64,
    source: &AtomicU64,
    done: mpsc::SyncSender<RowDone>,
    mut out: Emitter<'_>,
) -> EmitCounts {
    loop {
        let n = source.fetch_add(1, Ordering::Relaxed);
        if n >= rows {
            return out.counts;
        }
        // Seeded per row, so a seed gives the same outcomes whatever the
        // thread interleaving.
        let mut rng = XorShiftRng::seed_from_u64(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let (row, token) = (RowId::new(n), TokenId::new(n));
        out.emit(PipelineEvent::row_created(run, row, token));

        let started = run.now();
        parse_record(n, &mut rng);
        let malformed = rng.random_bool(0.004);
        let outcome = if malformed {
            TransformOutcome::Failed { error: ids.malformed_record }
        } else {
            TransformOutcome::Succeeded
        };
        out.emit(PipelineEvent::transform_completed(
            run,
            row,
            token,
            ids.parse,
            ids.csv_parser,
            run.now().saturating_duration_since(started),
            outcome,
        ));
        if malformed {
            let _ = done.send(RowDone {
                row,
                token,
                outcome: TokenOutcome::Quarantined,
                sink: Some(ids.quarantine),
            });
            continue;
        }

        // Enrich: one row in eight asks a (simulated, slow) language model.
        let started = run.now();
        let mut failed = false;
        if rng.random_bool(0.125) {
            let timed_out = rng.random_bool(0.02);
            let wait = if timed_out { 12_000 } else { rng.random_range(1_000..5_000u64) };
            thread::sleep(Duration::from_micros(wait));
            let (status, volume) = if timed_out {
                (CallStatus::TimedOut, CallVolume::None)
            } else {
                let prompt = rng.random_range(80..400u32);
                (CallStatus::Ok, CallVolume::Tokens { prompt, completion: rng.random_range(10..120u32) })
            };
            out.emit(PipelineEvent::external_call_completed(
                run,
                token,
                CallKind::Llm,
                ids.openai,
                Duration::from_micros(wait),
                status,
                volume,
            ));
            failed = timed_out;
        }
        let outcome = if failed {
            TransformOutcome::Failed { error: ids.llm_timeout }
        } else {
            TransformOutcome::Succeeded
        };
        let took = run.now().saturating_duration_since(started);
        out.emit(PipelineEvent::transform_completed(
            run,
            row,
            token,
            ids.enrich,
            ids.llm_enricher,
            took,
            outcome,
        ));
        if failed {
            let _ = done.send(RowDone { row, token, outcome: TokenOutcome::Failed, sink: None });
            continue;
        }

        // Lookup: a fast SQL query (its latency is simulated, not slept).
        let query = Duration::from_micros(rng.random_range(50..400u64));
        let bytes = CallVolume::bytes(rng.random_range(100..300u64), rng.random_range(200..4_000u64));
        out.emit(PipelineEvent::external_call_completed(
            run,
            token,
            CallKind::Sql,
            ids.postgres,
            query,
            CallStatus::Ok,
            bytes,
        ));
        let outcome = TransformOutcome::Succeeded;
        out.emit(PipelineEvent::transform_completed(
            run,
            row,
            token,
            ids.lookup,
            ids.sql_lookup,
            query,
            outcome,
        ));

        // The gate: most rows continue to the warehouse, some need review.
        let review = rng.random_bool(0.08);
        let decision =
            if review { GateDecision::Route { route: ids.needs_review } } else { GateDecision::Continue };
        out.emit(PipelineEvent::gate_evaluated(run, row, token, ids.quality_gate, decision));
        let (outcome, sink) = if review {
            (TokenOutcome::Routed, ids.review_queue)
        } else {
            (TokenOutcome::Completed, ids.warehouse)
        };
        let _ = done.send(RowDone { row, token, outcome, sink: Some(sink) });
    }
}

/// The sink: completes tokens, counts rows, emits progress.
pub(crate) fn sink(
    run: RunContext<'_>,
    mut ticker: ProgressTicker<'_>,
    done: mpsc::Receiver<RowDone>,
    rows_done: &AtomicU64,
    mut out: Emitter<'_>,
) -> (EmitCounts, RowCounts) {
    loop {
        match done.recv_timeout(ticker.every()) {
            Ok(RowDone { row, token, outcome, sink }) => {
                out.emit(PipelineEvent::token_completed(run, row, token, outcome, sink));
                if let Some(progress) = ticker.record(RowOutcome::from(outcome)) {
                    out.emit(progress);
                }
                rows_done.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(progress) = ticker.poll() {
                    out.emit(progress);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    out.emit(ticker.finish());
    (out.counts, ticker.counts())
}

/// An exporter that sleeps per batch (`--slow-exporter-ms`): the consumer
/// serves exporters in turn, so it slows every one of them, the ring fills,
/// and backpressure and drops become visible.
#[derive(Debug)]
pub(crate) struct SlowExporter {
    pub(crate) delay: Duration,
}

impl Exporter<PipelineEvent> for SlowExporter {
    fn name(&self) -> &str {
        "slow"
    }
    fn export(&mut self, _batch: &[PipelineEvent]) -> Result<(), ExportError> {
        thread::sleep(self.delay);
        Ok(())
    }
}
