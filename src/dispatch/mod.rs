//! Dispatching batches to exporters: failure isolation (C9), circuit
//! breakers (C10) and hang isolation.
//!
//! The consumer owns a [`Dispatcher`]. It hands a pooled, shared
//! `Arc<Parcel<E>>` (up to `handoff_batches` batches) to every exporter
//! worker whose breaker admits it and that is not hung, then waits for their
//! results: each worker makes one exporter call per batch. A merely slow exporter is
//! waited for (slowness backpressures into the ring, so `Block` stays
//! lossless); one busy longer than its `export_timeout` is marked hung, and
//! its batches are skipped (and counted for it) until it returns.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::consumer::doorbell::Doorbell;
use crate::error::{ExporterFailure, FailureCause};
use crate::health::{ExporterId, ExporterState};
use crate::sync::{Arc, StdArc};
use crate::{Clock, Config, Exporter};

pub(crate) mod breaker;
mod handle;
mod link;
mod options;
pub(crate) mod parcel;
pub(crate) mod roster;
mod state;
#[cfg(loom)]
pub(crate) use state::StateCell;
mod stats;
pub(crate) mod worker;

pub(crate) use worker::SpawnFault;

use breaker::{Admit, Breaker, BreakerConfig};
use handle::{request_close, ExporterHandle, Held, Outstanding, Round};
pub(crate) use link::CloseFlush;
use link::{Job, JobKind, OnFailure, Ticket};
pub(crate) use options::validate_options;
pub use options::ExporterOptions;
use parcel::{BatchSet, Parcel};
pub(crate) use stats::ExporterStats;

/// What became of one batch: for the consumer, across every exporter; for
/// one exporter's breaker, its own call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchOutcome {
    /// Accepted (by at least one exporter).
    Delivered,
    /// Failed (on every exporter: each failed, was skipped or is hung).
    Failed,
}

/// An exporter's worker thread could not be spawned.
#[derive(Debug)]
pub(crate) struct SpawnFailed {
    /// Its statistics: closed, with the spawn error as its last error.
    pub(crate) stats: Arc<ExporterStats>,
    /// The operating system's refusal.
    pub(crate) error: std::io::Error,
}

/// A flush round cannot complete now: an exporter is hung.
#[derive(Debug)]
pub(crate) struct Unresponsive;

/// The consumer's exporters, their workers and the pooled batch buffers.
pub(crate) struct Dispatcher<E> {
    handles: Vec<ExporterHandle<E>>,
    /// Removed exporters whose workers have not closed yet.
    leaving: Vec<ExporterHandle<E>>,
    /// Parcels, each of `handoff_len` buffers of `batch_size` capacity. A
    /// parcel is reusable when no worker holds it; a hung worker pins at
    /// most one, so the pool holds one more than there are exporters and
    /// steady state allocates nothing (C13).
    pool: Vec<Arc<Parcel<E>>>,
    batch_size: usize,
    handoff_len: usize,
    /// Sequence number of the last exported batch.
    batch_seq: u64,
    /// Failed batches a hung exporter still holds: `(batch, events)`.
    failed_but_held: Vec<(u64, u64)>,
    /// See [`Dispatcher::take_reclaimed`].
    reclaimed: u64,
    /// Workers ring it after each job.
    bell: Arc<Doorbell>,
    clock: StdArc<dyn Clock>,
    owner: usize,
    idle_max: Duration,
    default_breaker: BreakerConfig,
    default_export_timeout: Duration,
}

impl<E> Drop for Dispatcher<E> {
    /// A safety net for the paths that drop the dispatcher without
    /// `close_all` (the consumer thread failing to spawn): every worker
    /// still running closes its exporter when idle, instead of waiting for a
    /// job forever (C7). After `close_all` this is a no-op for exited workers.
    fn drop(&mut self) {
        for handle in self.handles.iter().chain(self.leaving.iter()) {
            handle.link.close_when_idle();
        }
    }
}

impl<E> std::fmt::Debug for Dispatcher<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").field("exporters", &self.handles.len()).finish_non_exhaustive()
    }
}

impl<E: Send + Sync + 'static> Dispatcher<E> {
    pub(crate) fn new(config: &Config, clock: StdArc<dyn Clock>, owner: usize) -> Self {
        let (batch_size, handoff_len) = (config.batch_len(), config.handoff_len());
        Dispatcher {
            handles: Vec::new(),
            leaving: Vec::new(),
            pool: vec![Arc::new(Parcel::new(handoff_len, batch_size))],
            batch_size,
            handoff_len,
            batch_seq: 0,
            failed_but_held: Vec::new(),
            reclaimed: 0,
            bell: Arc::new(Doorbell::default()),
            clock,
            owner,
            idle_max: config.consumer_idle_max,
            default_breaker: config.breaker,
            default_export_timeout: config.export_timeout,
        }
    }

    /// Starts a worker for `exporter`; returns its statistics for `Health`.
    ///
    /// # Errors
    /// [`SpawnFailed`] if its worker thread could not be spawned; the
    /// exporter was then closed, and its statistics say why.
    pub(crate) fn add(
        &mut self,
        id: ExporterId,
        exporter: Box<dyn Exporter<E>>,
        options: ExporterOptions,
        fault: SpawnFault,
    ) -> Result<Arc<ExporterStats>, SpawnFailed> {
        let name =
            worker::contained(|| Ok(exporter.name().to_owned())).unwrap_or_else(|_| "<unnamed>".into());
        let breaker = Breaker::new(options.breaker.unwrap_or(self.default_breaker));
        let stats = Arc::new(ExporterStats::new(id, name, breaker.state()));
        let link = worker::spawn(
            id.0,
            self.owner,
            exporter,
            Arc::clone(&stats),
            StdArc::clone(&self.clock),
            Arc::clone(&self.bell),
            fault,
        );
        let link = match link {
            Ok(link) => link,
            Err(error) => {
                stats.record_spawn_failure(&error, self.clock.now());
                return Err(SpawnFailed { stats, error });
            }
        };
        let export_timeout = options.export_timeout.unwrap_or(self.default_export_timeout);
        self.handles.push(ExporterHandle::new(Arc::clone(&stats), link, breaker, export_timeout));
        self.pool.push(Arc::new(Parcel::new(self.handoff_len, self.batch_size)));
        Ok(stats)
    }

    /// Whether there are exporters at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// A parcel no worker holds, emptied.
    pub(crate) fn parcel(&mut self) -> Arc<Parcel<E>> {
        let index = self.pool.iter_mut().position(|p| Arc::get_mut(p).is_some());
        let mut parcel = match index {
            Some(i) => self.pool.swap_remove(i),
            None => {
                debug_assert!(false, "every pooled parcel is pinned");
                Arc::new(Parcel::new(self.handoff_len, self.batch_size))
            }
        };
        if let Some(parcel) = Arc::get_mut(&mut parcel) {
            parcel.clear();
        }
        parcel
    }

    /// Returns a parcel to the pool.
    pub(crate) fn recycle(&mut self, parcel: Arc<Parcel<E>>) {
        self.pool.push(parcel);
    }

    /// Hands `parcel` to every admitting exporter and waits for them (or for
    /// them to be declared hung). Returns the batches at least one exporter
    /// accepted; the others failed.
    pub(crate) fn export(&mut self, parcel: &Arc<Parcel<E>>) -> BatchSet {
        let now = self.clock.now();
        self.collect_late(now);
        let first_seq = self.batch_seq + 1;
        let batches = parcel.batches();
        self.batch_seq += batches.len() as u64;
        let events = parcel.events();
        for handle in &mut self.handles {
            if handle.closing || handle.outstanding.is_some() {
                // Hung (still inside an earlier job): skipped until it returns.
                handle.skip(events);
                continue;
            }
            let on_failure = match handle.breaker.admit(now) {
                Admit::Send => OnFailure::Continue,
                // A half-open breaker's trial: the calls go on only while
                // they succeed; after a failed one the rest are skipped.
                Admit::Trial => OnFailure::Stop,
                Admit::Skip => {
                    handle.skip(events);
                    handle.publish_breaker();
                    continue;
                }
            };
            let job = Job::Export { first_seq, parcel: Arc::clone(parcel), on_failure, taken_at: now };
            handle.hand(job, now);
            handle.publish_breaker();
        }
        self.await_round();
        let mut delivered = BatchSet::EMPTY;
        for handle in &mut self.handles {
            if let Round::Exported { accepted, calls } = handle.take_round() {
                delivered = delivered.union(accepted);
                // A trial stopped at its failed call: the rest were skipped.
                let skipped: u64 = batches[calls.min(batches.len())..].iter().map(|b| b.len() as u64).sum();
                if skipped > 0 {
                    handle.skip(skipped);
                }
            }
        }
        // A hung exporter may still accept a failed batch when it returns;
        // remember it, so the batch is then counted delivered, not failed.
        for (index, batch) in batches.iter().enumerate() {
            let seq = first_seq + index as u64;
            if !delivered.contains(index) && self.handles.iter().any(|h| h.holds(seq)) {
                self.failed_but_held.push((seq, batch.len() as u64));
            }
        }
        delivered
    }

    /// Events of batches counted `ExportFailed` that a returning hung exporter
    /// accepted after all, since the last call; the consumer moves them to
    /// `delivered` (at most one batch per hung exporter is ever pending).
    pub(crate) fn take_reclaimed(&mut self) -> u64 {
        std::mem::take(&mut self.reclaimed)
    }

    /// Runs a flush round: every exporter flushes, and each one that failed
    /// to flush or skipped events since the previous round is reported.
    ///
    /// # Errors
    /// [`Unresponsive`] if an exporter is hung: the round cannot complete
    /// until it returns (the caller's `flush` times out naming it).
    pub(crate) fn flush(&mut self) -> Result<Vec<ExporterFailure>, Unresponsive> {
        let now = self.clock.now();
        self.collect_late(now);
        if self.any_hung() {
            return Err(Unresponsive);
        }
        for handle in self.handles.iter_mut().filter(|h| !h.closing) {
            handle.hand(Job::Flush, now);
        }
        self.await_round();
        if self.any_hung() {
            return Err(Unresponsive);
        }
        let mut failures = Vec::new();
        for handle in &mut self.handles {
            let (exporter, name) = (handle.stats.id(), handle.name().to_owned());
            let failure = |cause| ExporterFailure { exporter, name: name.clone(), cause };
            if let Round::FlushFailed(error) = handle.take_round() {
                failures.push(failure(FailureCause::Flush(error)));
            }
            if handle.skipped_since_flush > 0 {
                failures.push(failure(FailureCause::Skipped { events: handle.skipped_since_flush }));
                handle.skipped_since_flush = 0;
            }
        }
        Ok(failures)
    }

    /// Whether an exporter is hung.
    fn any_hung(&self) -> bool {
        self.handles.iter().any(|h| h.hung_since.is_some())
    }

    /// Asks every exporter to close (hung ones close when they return,
    /// flushing first), then waits until all have closed or `give_up` says
    /// stop. `flush`: whether idle exporters flush before closing (not if a
    /// flush round just ran).
    pub(crate) fn close_all(&mut self, flush: CloseFlush, mut give_up: impl FnMut() -> bool) {
        let now = self.clock.now();
        self.collect_late(now);
        for handle in self.handles.iter_mut().chain(self.leaving.iter_mut()) {
            request_close(handle, flush, now);
        }
        loop {
            let now = self.clock.now();
            self.collect_late(now);
            let open = self.handles.iter().chain(self.leaving.iter()).any(|h| !h.link.exited());
            if !open || give_up() {
                return;
            }
            self.bell.wait_for_ring(self.idle_max);
        }
    }

    /// Starts removing exporter `id`: it gets no further batches, then
    /// flushes and closes exactly once. Returns false if `id` is unknown.
    pub(crate) fn remove(&mut self, id: ExporterId) -> bool {
        let Some(index) = self.handles.iter().position(|h| h.stats.id() == id) else { return false };
        let mut handle = self.handles.remove(index);
        handle.stats.set_state(ExporterState::Removing);
        request_close(&mut handle, CloseFlush::FlushFirst, self.clock.now());
        self.leaving.push(handle);
        true
    }

    /// Exporters that finished leaving since the last call.
    pub(crate) fn departed(&mut self) -> Vec<ExporterId> {
        let now = self.clock.now();
        self.collect_late(now);
        let mut gone = Vec::new();
        self.leaving.retain(|h| {
            let exited = h.link.exited();
            if exited {
                gone.push(h.stats.id());
            }
            !exited
        });
        gone
    }

    /// Collects results that arrived for earlier rounds (a hung exporter
    /// returning, a leaving exporter closing).
    fn collect_late(&mut self, now: Timestamp) {
        for handle in self.handles.iter_mut().chain(self.leaving.iter_mut()) {
            if let Some(result) = handle.link.take_result() {
                let late_first_seq = match handle.outstanding {
                    Some(Outstanding { ticket, held: Held::Batches { first_seq, .. }, .. })
                        if Ticket::Handed(ticket) == result.ticket =>
                    {
                        Some(first_seq)
                    }
                    _ => None,
                };
                let (calls, accepted) = match result.kind {
                    JobKind::Export => (result.calls, result.accepted),
                    JobKind::Flush | JobKind::Close => (0, BatchSet::EMPTY),
                };
                handle.settle(result, now);
                handle.round = Round::Unanswered;
                let Some(first_seq) = late_first_seq else { continue };
                for index in (0..calls).filter(|&i| accepted.contains(i)) {
                    let batch = first_seq + index as u64;
                    if let Some(i) = self.failed_but_held.iter().position(|&(b, _)| b == batch) {
                        self.reclaimed += self.failed_but_held.swap_remove(i).1;
                    }
                }
            }
        }
        let (handles, leaving) = (&self.handles, &self.leaving);
        self.failed_but_held
            .retain(|&(batch, _)| handles.iter().chain(leaving.iter()).any(|h| h.holds(batch)));
    }

    /// Waits until every handle of the current round has answered or has been
    /// busy longer than its export timeout (then it is marked hung).
    fn await_round(&mut self) {
        loop {
            let now = self.clock.now();
            let mut next_check = self.idle_max;
            let mut waiting = false;
            for handle in &mut self.handles {
                let Some(outstanding) = handle.outstanding.filter(|o| o.current) else { continue };
                if let Some(result) = handle.link.take_result() {
                    handle.settle(result, now);
                    continue;
                }
                // The export timeout applies per call: a parcel's later
                // calls are timed from their own start.
                let call_started = handle
                    .link
                    .call_started()
                    .map_or(outstanding.handed_at, |started| started.max(outstanding.handed_at));
                let busy = now.saturating_duration_since(call_started);
                if busy >= handle.export_timeout {
                    handle.outstanding = Some(Outstanding { current: false, ..outstanding });
                    handle.hung_since = Some(call_started);
                    handle.stats.set_state(ExporterState::Hung { since: call_started });
                    tracing::warn!(
                        target: "ringtel",
                        exporter = handle.name(),
                        busy = ?busy,
                        "exporter hung; its batches are skipped until it returns"
                    );
                    continue;
                }
                waiting = true;
                next_check = next_check.min(handle.export_timeout - busy);
            }
            if !waiting {
                return;
            }
            self.bell.wait_for_ring(next_check);
        }
    }
}
