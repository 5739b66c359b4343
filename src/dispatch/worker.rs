//! Exporter workers: each exporter runs on its own `ringtel-exporter-<id>`
//! thread, so a hung `export` (a dead TCP peer, say) stalls only itself.
//!
//! The consumer hands a worker one job at a time through its [`WorkerLink`]
//! (a bounded hand-off of depth one) and collects the result; an export's
//! batches come in a shared, pooled [`Parcel`] that the worker drops as soon
//! as it is done, after one exporter call per batch.
//! Every exporter call is contained: an `Err` or a panic becomes a counted
//! failure in the exporter's statistics, never the worker's death.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::link::{CloseFlush, Job, JobKind, JobResult, OnFailure, Ticket, WorkerLink};
use super::parcel::{BatchSet, Parcel};
use super::stats::ExporterStats;
use crate::clock::Timestamp;
use crate::consumer::doorbell::Doorbell;
use crate::role;
use crate::sync::{thread, Arc, StdArc};
use crate::{Clock, ExportError, ExportErrorKind, Exporter};

/// Spawns the worker thread for `exporter`.
pub(crate) fn spawn<E: Send + Sync + 'static>(
    id: u64,
    owner: usize,
    exporter: Box<dyn Exporter<E>>,
    stats: Arc<ExporterStats>,
    clock: StdArc<dyn Clock>,
    bell: Arc<Doorbell>,
    fault: SpawnFault,
) -> std::io::Result<Arc<WorkerLink<E>>> {
    let link = Arc::new(WorkerLink::new());
    let worker = Worker { exporter, stats, clock, bell, link: Arc::clone(&link), closed: false };
    match fault {
        SpawnFault::None => {}
        // As a refused `thread::Builder::spawn`: the closure, and with it the
        // worker, is dropped unrun, which closes the exporter.
        #[cfg(feature = "fault-injection")]
        SpawnFault::Fail => {
            drop(worker);
            return Err(std::io::Error::other("injected worker spawn failure (fault-injection)"));
        }
    }
    thread::Builder::new().name(format!("ringtel-exporter-{id}")).spawn(move || {
        role::enter_consumer(owner);
        worker.run();
    })?;
    Ok(link)
}

/// Whether a worker spawn is made to fail (the `fault-injection` feature's
/// test hook; `None` otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpawnFault {
    /// Spawn for real.
    None,
    /// Fail as if the operating system refused the thread.
    #[cfg(feature = "fault-injection")]
    Fail,
}

struct Worker<E: 'static> {
    exporter: Box<dyn Exporter<E>>,
    stats: Arc<ExporterStats>,
    clock: StdArc<dyn Clock>,
    /// Rung after every job so the consumer collects the result promptly.
    bell: Arc<Doorbell>,
    link: Arc<WorkerLink<E>>,
    /// The exporter's `close` ran (or was attempted).
    closed: bool,
}

impl<E: 'static> Drop for Worker<E> {
    /// A worker that never ran (its thread failed to spawn, so `spawn`'s
    /// closure is dropped on the calling thread) still closes its exporter
    /// exactly once (C7).
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.close_exporter();
        }
    }
}

impl<E: 'static> Worker<E> {
    /// Closes the exporter (contained) and records the outcome; once.
    fn close_exporter(&mut self) -> Result<(), ExportError> {
        self.closed = true;
        let exporter = &mut self.exporter;
        let closed = contained(|| exporter.close());
        self.stats.record_close(&closed, self.clock.now());
        closed
    }

    fn run(mut self) {
        loop {
            let (ticket, job) = self.link.next_job();
            let result = self.execute(ticket, job);
            let kind = result.kind;
            self.link.post(result);
            self.bell.ring();
            if kind == JobKind::Close {
                return;
            }
        }
    }

    fn execute(&mut self, ticket: Ticket, job: Job<E>) -> JobResult {
        match job {
            Job::Export { parcel, on_failure, taken_at, .. } => {
                self.export(ticket, parcel, on_failure, taken_at)
            }
            Job::Flush => JobResult::of_call(ticket, JobKind::Flush, self.flush()),
            Job::Close { flush } => JobResult::of_call(ticket, JobKind::Close, self.flush_and_close(flush)),
        }
    }

    /// Exports the parcel's batches, one contained call each; after a failed
    /// call, the rest only if `on_failure` says to go on.
    fn export(
        &mut self,
        ticket: Ticket,
        parcel: Arc<Parcel<E>>,
        on_failure: OnFailure,
        taken_at: Timestamp,
    ) -> JobResult {
        let mut accepted = BatchSet::EMPTY;
        let mut outcome = Ok(());
        let mut calls = 0;
        for (index, batch) in parcel.batches().iter().enumerate() {
            if outcome.is_err() && on_failure == OnFailure::Stop {
                break;
            }
            calls += 1;
            if index > 0 {
                self.link.note_call_started(self.clock.now());
            }
            let exporter = &mut self.exporter;
            match contained(|| exporter.export_taken(batch, taken_at)) {
                Ok(()) => {
                    self.stats.record_export(batch.len() as u64);
                    accepted.insert(index);
                }
                Err(err) => {
                    self.stats.record_export_failure(&err, self.clock.now());
                    outcome = Err(err);
                }
            }
        }
        // Release the pooled parcel before reporting, so the consumer can
        // reuse it at once.
        drop(parcel);
        JobResult { ticket, kind: JobKind::Export, outcome, calls, accepted }
    }

    /// Flushes the exporter (contained), recording a failure.
    fn flush(&mut self) -> Result<(), ExportError> {
        let exporter = &mut self.exporter;
        contained(|| exporter.flush())
            .inspect_err(|err| self.stats.record_flush_failure(err, self.clock.now()))
    }

    /// Closes the exporter, flushing it first if `flush` says so.
    fn flush_and_close(&mut self, flush: CloseFlush) -> Result<(), ExportError> {
        let flushed = match flush {
            CloseFlush::FlushFirst => self.flush(),
            CloseFlush::AlreadyFlushed => Ok(()),
        };
        let closed = self.close_exporter();
        flushed.and(closed)
    }
}

/// Runs an exporter call, turning a panic into an `ExportError`.
pub(crate) fn contained<T>(call: impl FnOnce() -> Result<T, ExportError>) -> Result<T, ExportError> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(result) => result,
        Err(payload) => Err(ExportError::new(ExportErrorKind::Panicked, panic_message(payload.as_ref()))),
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::health::ExporterId;
    use crate::SystemClock;

    struct CountsCloses(StdArc<AtomicUsize>);

    impl Exporter<u32> for CountsCloses {
        fn name(&self) -> &str {
            "counts-closes"
        }
        fn export(&mut self, _batch: &[u32]) -> Result<(), ExportError> {
            Ok(())
        }
        fn close(&mut self) -> Result<(), ExportError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn worker(closes: &StdArc<AtomicUsize>) -> Worker<u32> {
        let link = Arc::new(WorkerLink::new());
        Worker {
            exporter: Box::new(CountsCloses(StdArc::clone(closes))),
            stats: Arc::new(ExporterStats::new_for_test(ExporterId(1), "counts-closes")),
            clock: StdArc::new(SystemClock::new()),
            bell: Arc::new(Doorbell::default()),
            link,
            closed: false,
        }
    }

    #[test]
    fn a_worker_that_never_ran_closes_its_exporter_once_when_dropped() {
        let closes = StdArc::new(AtomicUsize::new(0));
        drop(worker(&closes));
        assert_eq!(closes.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_worker_that_closed_does_not_close_again_when_dropped() {
        let closes = StdArc::new(AtomicUsize::new(0));
        let mut worker = worker(&closes);
        let result = worker.execute(Ticket::Handed(0), Job::Close { flush: CloseFlush::AlreadyFlushed });
        assert!(result.outcome.is_ok());
        drop(worker);
        assert_eq!(closes.load(Ordering::SeqCst), 1);
    }
}
