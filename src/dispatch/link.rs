//! The consumer ↔ worker hand-off: a bounded hand-off of depth one (one job,
//! which for an export is a parcel of up to `handoff_batches` batches). Both
//! sides of it are here: the consumer hands a job and collects the result
//! ([`WorkerLink::hand`], [`WorkerLink::take_result`]); the worker waits for
//! a job and posts its result ([`WorkerLink::next_job`], [`WorkerLink::post`]).

use super::parcel::{BatchSet, Parcel};
use crate::clock::Timestamp;
use crate::sync::{lock, wait, Arc, Condvar, Mutex};
use crate::ExportError;

/// What a worker is asked to do.
pub(crate) enum Job<E> {
    /// Export the batches of this parcel, one call each, which the consumer
    /// took from the ring by `taken_at`.
    Export {
        /// The first batch's sequence number (from 1, per dispatcher); the
        /// parcel's batch `i` is `first_seq + i`.
        first_seq: u64,
        /// The events.
        parcel: Arc<Parcel<E>>,
        /// Whether the calls go on after a failed one.
        on_failure: OnFailure,
        /// When the consumer took them (the stamp of events without a time).
        taken_at: Timestamp,
    },
    /// Flush the exporter.
    Flush,
    /// Close the exporter, flushing first unless a flush round just ran;
    /// the worker exits afterwards.
    Close {
        /// Whether to flush before closing.
        flush: CloseFlush,
    },
}

/// Whether a parcel's calls go on after one fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnFailure {
    /// Every batch gets its call (the breaker admitted them all).
    Continue,
    /// The rest are not exported (a half-open breaker's trial).
    Stop,
}

/// Whether an exporter's close flushes it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseFlush {
    /// It may hold unflushed data (removal, a close after a round it missed).
    FlushFirst,
    /// A flush round covering everything it got has just run.
    AlreadyFlushed,
}

/// A job's kind, as its result reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobKind {
    Export,
    Flush,
    Close,
}

/// Which request a result answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ticket {
    /// The job the consumer handed with this number.
    Handed(u64),
    /// The close the worker ran on its own, asked by
    /// [`WorkerLink::close_when_idle`]: no handed job carries it.
    CloseWhenIdle,
}

/// What became of a job.
#[derive(Debug)]
pub(crate) struct JobResult {
    pub(crate) ticket: Ticket,
    pub(crate) kind: JobKind,
    /// The exporter call's own error (kind and source intact); for an
    /// export, the last failed call's.
    pub(crate) outcome: Result<(), ExportError>,
    /// For an export: the calls made, one per batch, in parcel order.
    pub(crate) calls: usize,
    /// For an export: the batches whose call succeeded.
    pub(crate) accepted: BatchSet,
}

impl JobResult {
    /// The result of a flush or a close.
    pub(crate) fn of_call(ticket: Ticket, kind: JobKind, outcome: Result<(), ExportError>) -> Self {
        JobResult { ticket, kind, outcome, calls: 0, accepted: BatchSet::EMPTY }
    }
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
    /// When the worker started the current job's latest exporter call, for
    /// the calls after a parcel's first (the first starts when the job is
    /// handed); cleared when a job is handed. Hang detection measures from it.
    call_started: Option<Timestamp>,
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
    pub(super) fn new() -> Self {
        WorkerLink {
            state: Mutex::new(LinkState {
                job: None,
                result: None,
                close_when_idle: false,
                exited: false,
                idle: false,
                call_started: None,
            }),
            job_ready: Condvar::new(),
        }
    }

    /// Hands `job` to the idle worker.
    pub(crate) fn hand(&self, ticket: u64, job: Job<E>) {
        self.change_and_wake(|state| {
            debug_assert!(state.job.is_none(), "a worker gets one job at a time");
            state.job = Some((ticket, job));
            state.call_started = None;
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

    /// When the current job's latest call started, if it is not the job's
    /// first (see [`WorkerLink::note_call_started`]).
    pub(crate) fn call_started(&self) -> Option<Timestamp> {
        lock(&self.state).call_started
    }

    /// The worker's side: it starts another call of the current job (a
    /// parcel's next batch) at `now`, so that the export timeout applies per
    /// call, not to the whole parcel.
    pub(super) fn note_call_started(&self, now: Timestamp) {
        lock(&self.state).call_started = Some(now);
    }

    /// The worker's side: waits for the next job (a handed one, or the close
    /// asked by `close_when_idle` once nothing else is pending).
    pub(super) fn next_job(&self) -> (Ticket, Job<E>) {
        let mut state = lock(&self.state);
        loop {
            if let Some((ticket, job)) = state.job.take() {
                return (Ticket::Handed(ticket), job);
            }
            if state.close_when_idle {
                return (Ticket::CloseWhenIdle, Job::Close { flush: CloseFlush::FlushFirst });
            }
            state.idle = true;
            state = wait(&self.job_ready, state);
            state.idle = false;
        }
    }

    /// The worker's side: posts a job's result for the consumer to collect;
    /// after a close, marks the worker exited.
    pub(super) fn post(&self, result: JobResult) {
        let mut state = lock(&self.state);
        if result.kind == JobKind::Close {
            state.exited = true;
        }
        state.result = Some(result);
    }
}
