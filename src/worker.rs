//! Exporter workers: each exporter runs on its own `ringtel-exporter-<id>`
//! thread, so a hung `export` (a dead TCP peer, say) stalls only itself.
//!
//! The consumer hands a worker one job at a time through its [`WorkerLink`]
//! (a bounded hand-off of depth one) and collects the result; the batch is a
//! shared, pooled `Arc<Vec<E>>` that the worker drops as soon as it is done.
//! Every exporter call is contained: an `Err` or a panic becomes a counted
//! failure in the exporter's statistics, never the worker's death.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::clock::Timestamp;
use crate::dispatch::ExporterStats;
use crate::role;
use crate::sync::{lock, thread, wait, Arc, Condvar, Mutex, StdArc};
use crate::wake::Doorbell;
use crate::{Clock, ExportError, ExportErrorKind, Exporter};

/// What a worker is asked to do.
pub(crate) enum Job<E> {
    /// Export this batch, which the consumer took from the ring at `taken_at`.
    Export {
        /// The events.
        batch: Arc<Vec<E>>,
        /// When the consumer took them (the stamp of events without a time).
        taken_at: Timestamp,
    },
    /// Flush the exporter.
    Flush,
    /// Close the exporter, flushing first if asked (`false` right after a
    /// flush round); the worker exits afterwards.
    Close {
        /// Flush before closing.
        flush_first: bool,
    },
}

impl<E> Job<E> {
    pub(crate) fn kind(&self) -> JobKind {
        match self {
            Job::Export { .. } => JobKind::Export,
            Job::Flush => JobKind::Flush,
            Job::Close { .. } => JobKind::Close,
        }
    }
}

/// A job's kind, kept after the job itself is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobKind {
    Export,
    Flush,
    Close,
}

/// What became of a job.
#[derive(Debug)]
pub(crate) struct JobResult {
    pub(crate) ticket: u64,
    pub(crate) kind: JobKind,
    pub(crate) outcome: Result<(), String>,
}

struct LinkState<E> {
    /// The next job; set by the consumer only when the worker is idle.
    job: Option<(u64, Job<E>)>,
    /// The result of the last job, until the consumer collects it.
    result: Option<JobResult>,
    /// Close as soon as the current job is done (set when the worker was busy
    /// or hung at close time, or is being removed).
    close_when_idle: bool,
    /// The worker thread has closed its exporter and exited.
    exited: bool,
    /// The worker waits on `job_ready`: only then does handing it a job
    /// notify (set and read under the lock the wait releases).
    idle: bool,
}

/// The consumer ↔ worker hand-off.
pub(crate) struct WorkerLink<E> {
    state: Mutex<LinkState<E>>,
    /// The worker waits here for a job.
    job_ready: Condvar,
}

impl<E> std::fmt::Debug for WorkerLink<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerLink").finish_non_exhaustive()
    }
}

impl<E> WorkerLink<E> {
    /// A link with no job, no result and the worker not yet waiting.
    fn new() -> Self {
        WorkerLink {
            state: Mutex::new(LinkState {
                job: None,
                result: None,
                close_when_idle: false,
                exited: false,
                idle: false,
            }),
            job_ready: Condvar::new(),
        }
    }

    /// Hands `job` to the idle worker.
    pub(crate) fn hand(&self, ticket: u64, job: Job<E>) {
        self.change_and_wake(|state| {
            debug_assert!(state.job.is_none(), "a worker gets one job at a time");
            state.job = Some((ticket, job));
            true
        });
    }

    /// Takes the last job's result, if it has arrived.
    pub(crate) fn take_result(&self) -> Option<JobResult> {
        lock(&self.state).result.take()
    }

    /// Asks the worker to close once it is idle (now, if it already is).
    pub(crate) fn close_when_idle(&self) {
        self.change_and_wake(|state| {
            if state.exited {
                return false;
            }
            state.close_when_idle = true;
            true
        });
    }

    /// Applies `change` under the lock (it returns whether it changed
    /// anything) and then wakes the worker if it waits for a job. Whether it
    /// waits is read in the same critical section as the change, so a worker
    /// that has not started waiting yet finds the change before it waits:
    /// no wake-up is lost, and a busy worker costs no system call.
    fn change_and_wake(&self, change: impl FnOnce(&mut LinkState<E>) -> bool) {
        // Broken twin for the loom suite: look whether the worker waits in a
        // critical section of its own, before making the change. A worker
        // that finds nothing in between then waits through the change (a
        // lost wake-up).
        #[cfg(ringtel_broken = "worker_check_then_hand")]
        let idle = lock(&self.state).idle;
        let mut state = lock(&self.state);
        if !change(&mut state) {
            return;
        }
        #[cfg(not(ringtel_broken = "worker_check_then_hand"))]
        let idle = state.idle;
        drop(state);
        if idle {
            self.job_ready.notify_one();
        }
    }

    /// Whether the worker closed its exporter and exited.
    pub(crate) fn exited(&self) -> bool {
        lock(&self.state).exited
    }
}

/// Spawns the worker thread for `exporter`.
pub(crate) fn spawn<E: Send + Sync + 'static>(
    id: u64,
    owner: usize,
    exporter: Box<dyn Exporter<E>>,
    stats: Arc<ExporterStats>,
    clock: StdArc<dyn Clock>,
    bell: Arc<Doorbell>,
) -> std::io::Result<Arc<WorkerLink<E>>> {
    let link = Arc::new(WorkerLink::new());
    let worker = Worker { exporter, stats, clock, bell, link: Arc::clone(&link), closed: false };
    thread::Builder::new().name(format!("ringtel-exporter-{id}")).spawn(move || {
        role::enter_consumer(owner);
        worker.run();
    })?;
    Ok(link)
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
        self.stats.record_close(closed.as_ref().err(), self.clock.now());
        closed
    }

    fn run(mut self) {
        loop {
            let (ticket, job) = {
                let mut state = lock(&self.link.state);
                loop {
                    if let Some(next) = state.job.take() {
                        break next;
                    }
                    if state.close_when_idle {
                        break (u64::MAX, Job::Close { flush_first: true });
                    }
                    state.idle = true;
                    state = wait(&self.link.job_ready, state);
                    state.idle = false;
                }
            };
            let kind = job.kind();
            let outcome = self.execute(job);
            let mut state = lock(&self.link.state);
            state.result = Some(JobResult { ticket, kind, outcome });
            if kind == JobKind::Close {
                state.exited = true;
            }
            drop(state);
            self.bell.ring();
            if kind == JobKind::Close {
                return;
            }
        }
    }

    fn execute(&mut self, job: Job<E>) -> Result<(), String> {
        let now = || self.clock.now();
        match job {
            Job::Export { batch, taken_at } => {
                let exporter = &mut self.exporter;
                let result = contained(|| exporter.export_taken(&batch, taken_at));
                let events = batch.len() as u64;
                // Release the pooled buffer before reporting, so the consumer
                // can reuse it at once.
                drop(batch);
                match result {
                    Ok(()) => {
                        self.stats.record_export(events);
                        Ok(())
                    }
                    Err(err) => {
                        self.stats.record_export_failure(&err, now());
                        Err(err.to_string())
                    }
                }
            }
            Job::Flush => {
                let exporter = &mut self.exporter;
                contained(|| exporter.flush()).map_err(|err| {
                    self.stats.record_flush_failure(&err, now());
                    err.to_string()
                })
            }
            Job::Close { flush_first } => {
                let exporter = &mut self.exporter;
                let flushed = if flush_first { contained(|| exporter.flush()) } else { Ok(()) };
                if let Err(err) = &flushed {
                    self.stats.record_flush_failure(err, now());
                }
                let closed = self.close_exporter();
                flushed.and(closed).map_err(|err| err.to_string())
            }
        }
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
        assert!(worker.execute(Job::Close { flush_first: false }).is_ok());
        drop(worker);
        assert_eq!(closes.load(Ordering::SeqCst), 1);
    }
}
