//! Dispatching batches to exporters: failure isolation (C9), circuit
//! breakers (C10) and hang isolation.
//!
//! The consumer owns a [`Dispatcher`]. For each batch it hands a pooled,
//! shared `Arc<Vec<E>>` to every exporter worker whose breaker admits it and
//! that is not hung, then waits for their results. A merely slow exporter is
//! waited for (slowness backpressures into the ring, so `Block` stays
//! lossless); one busy longer than its `export_timeout` is marked hung, and
//! its batches are skipped (and counted for it) until it returns.

use std::time::Duration;

use crate::breaker::{Admit, Breaker, BreakerConfig, BreakerState};
use crate::clock::Timestamp;
use crate::error::ExporterFailure;
use crate::health::{ExporterHealth, ExporterId, ExporterState, LastError};
use crate::sync::{lock, Arc, AtomicU64, Mutex, Ordering, StdArc};
use crate::wake::Doorbell;
use crate::worker::{self, Job, JobKind, JobResult, WorkerLink};
use crate::{Clock, ExportError, ExportErrorKind, Exporter};

/// Per-exporter options; `None` fields take the telemetry-wide defaults.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::{BreakerConfig, ExporterOptions};
/// let options = ExporterOptions {
///     breaker: Some(BreakerConfig { open_after: 2, ..BreakerConfig::default() }),
///     export_timeout: Some(Duration::from_secs(2)),
/// };
/// assert!(options.breaker.is_some());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExporterOptions {
    /// This exporter's circuit breaker (default: `Config::breaker`).
    pub breaker: Option<BreakerConfig>,
    /// How long an export may run before the exporter counts as hung
    /// (default: `Config::export_timeout`).
    pub export_timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
struct Status {
    state: ExporterState,
    breaker: BreakerState,
    breaker_opened: u64,
}

/// One exporter's counters. The worker thread writes the export counters,
/// the consumer writes the skip counters; each field has one writer, so
/// load + store increments lose nothing. Relaxed everywhere: statistics.
#[derive(Debug)]
pub(crate) struct ExporterStats {
    id: ExporterId,
    name: String,
    batches: AtomicU64,
    events: AtomicU64,
    failures: AtomicU64,
    panics: AtomicU64,
    consecutive_failures: AtomicU64,
    flush_failures: AtomicU64,
    skipped_batches: AtomicU64,
    skipped_events: AtomicU64,
    last_error: Mutex<Option<LastError>>,
    status: Mutex<Status>,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Ordering::Relaxed) + by, Ordering::Relaxed);
}

impl ExporterStats {
    fn new(id: ExporterId, name: String, breaker: BreakerState) -> Self {
        ExporterStats {
            id,
            name,
            batches: AtomicU64::new(0),
            events: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            flush_failures: AtomicU64::new(0),
            skipped_batches: AtomicU64::new(0),
            skipped_events: AtomicU64::new(0),
            last_error: Mutex::new(None),
            status: Mutex::new(Status { state: ExporterState::Active, breaker, breaker_opened: 0 }),
        }
    }

    /// Statistics for a worker built by hand in a unit test.
    #[cfg(test)]
    pub(crate) fn new_for_test(id: ExporterId, name: &str) -> Self {
        ExporterStats::new(id, name.to_owned(), Breaker::new(BreakerConfig::default()).state())
    }

    pub(crate) fn id(&self) -> ExporterId {
        self.id
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// A copy for `Health`.
    pub(crate) fn snapshot(&self) -> ExporterHealth {
        let status = lock(&self.status).clone();
        ExporterHealth {
            id: self.id,
            name: self.name.clone(),
            state: status.state,
            breaker: status.breaker,
            breaker_opened: status.breaker_opened,
            batches_exported: self.batches.load(Ordering::Relaxed),
            events_exported: self.events.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            panics: self.panics.load(Ordering::Relaxed),
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            flush_failures: self.flush_failures.load(Ordering::Relaxed),
            skipped_batches: self.skipped_batches.load(Ordering::Relaxed),
            skipped_events: self.skipped_events.load(Ordering::Relaxed),
            last_error: lock(&self.last_error).clone(),
        }
    }

    pub(crate) fn state(&self) -> ExporterState {
        lock(&self.status).state
    }

    fn set_state(&self, state: ExporterState) {
        let mut status = lock(&self.status);
        // Closed and CloseFailed are final.
        if !matches!(status.state, ExporterState::Closed | ExporterState::CloseFailed) {
            status.state = state;
        }
    }

    fn set_breaker(&self, breaker: &Breaker) {
        let mut status = lock(&self.status);
        status.breaker = breaker.state();
        status.breaker_opened = breaker.times_opened();
    }

    fn record_error(&self, err: &ExportError, at: Timestamp) {
        if err.kind() == ExportErrorKind::Panicked {
            bump(&self.panics, 1);
        }
        *lock(&self.last_error) = Some(LastError { message: err.to_string(), at });
    }

    // Written by the worker thread.
    pub(crate) fn record_export(&self, events: u64) {
        bump(&self.batches, 1);
        bump(&self.events, events);
        self.consecutive_failures.store(0, Ordering::Relaxed);
    }

    pub(crate) fn record_export_failure(&self, err: &ExportError, at: Timestamp) {
        bump(&self.failures, 1);
        bump(&self.consecutive_failures, 1);
        self.record_error(err, at);
    }

    pub(crate) fn record_flush_failure(&self, err: &ExportError, at: Timestamp) {
        bump(&self.flush_failures, 1);
        self.record_error(err, at);
    }

    pub(crate) fn record_close(&self, err: Option<&ExportError>, at: Timestamp) {
        match err {
            None => self.set_state(ExporterState::Closed),
            Some(err) => {
                self.record_error(err, at);
                self.set_state(ExporterState::CloseFailed);
            }
        }
    }

    // Written by the consumer thread.
    fn record_skip(&self, events: u64) {
        bump(&self.skipped_batches, 1);
        bump(&self.skipped_events, events);
    }
}

/// A job handed to a worker whose result has not been collected.
#[derive(Debug, Clone, Copy)]
struct Outstanding {
    ticket: u64,
    /// The batch sequence number of an export job (0 for other jobs).
    batch: u64,
    handed_at: Timestamp,
    /// The job belongs to the round being awaited (not a hung leftover).
    current: bool,
}

/// The consumer's side of one exporter.
struct ExporterHandle<E> {
    stats: Arc<ExporterStats>,
    link: Arc<WorkerLink<E>>,
    breaker: Breaker,
    export_timeout: Duration,
    next_ticket: u64,
    outstanding: Option<Outstanding>,
    /// When the job it is hung in was handed over.
    hung_since: Option<Timestamp>,
    /// Events skipped (breaker open or hung) since the last flush round.
    skipped_since_flush: u64,
    /// Asked to close (removal, shutdown, death).
    closing: bool,
    /// Its latest round result: `Some(Ok)` accepted, `Some(Err)` failed.
    round: Option<Result<(), String>>,
}

impl<E> ExporterHandle<E> {
    fn name(&self) -> &str {
        self.stats.name()
    }

    fn hand(&mut self, job: Job<E>, batch: u64, now: Timestamp) {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.outstanding = Some(Outstanding { ticket, batch, handed_at: now, current: true });
        self.round = None;
        self.link.hand(ticket, job);
    }

    /// Applies a collected result; it answers the current round if its
    /// ticket is the outstanding, current one.
    fn settle(&mut self, result: JobResult, now: Timestamp) {
        let answers = self.outstanding.filter(|o| o.ticket == result.ticket);
        let current = answers.is_some_and(|o| o.current);
        // A close ends everything; it may carry the synthetic ticket of
        // `close_when_idle`, having overwritten the result of the job before.
        if answers.is_some() || result.kind == JobKind::Close {
            self.outstanding = None;
        }
        if self.hung_since.take().is_some() {
            self.stats.set_state(ExporterState::Active);
        }
        if result.kind == JobKind::Export {
            self.breaker.record(result.outcome.is_ok(), now);
            self.stats.set_breaker(&self.breaker);
        }
        if current {
            self.round = Some(result.outcome);
        }
    }

    fn skip(&mut self, events: u64) {
        self.stats.record_skip(events);
        self.skipped_since_flush += events;
    }
}

/// A flush round cannot complete now: an exporter is hung.
#[derive(Debug)]
pub(crate) struct Unresponsive;

/// The consumer's exporters, their workers and the pooled batch buffers.
pub(crate) struct Dispatcher<E> {
    handles: Vec<ExporterHandle<E>>,
    /// Removed exporters whose workers have not closed yet.
    leaving: Vec<ExporterHandle<E>>,
    /// Batch buffers, each with `batch_size` capacity. A buffer is reusable
    /// when no worker holds it; a hung worker pins at most one, so the pool
    /// holds one more than there are exporters and steady state allocates
    /// nothing (C13).
    pool: Vec<Arc<Vec<E>>>,
    batch_size: usize,
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

/// Settings the dispatcher needs.
#[derive(Debug, Clone)]
pub(crate) struct DispatchSettings {
    pub(crate) batch_size: usize,
    pub(crate) idle_max: Duration,
    pub(crate) breaker: BreakerConfig,
    pub(crate) export_timeout: Duration,
}

impl<E: Send + Sync + 'static> Dispatcher<E> {
    pub(crate) fn new(settings: &DispatchSettings, clock: StdArc<dyn Clock>, owner: usize) -> Self {
        Dispatcher {
            handles: Vec::new(),
            leaving: Vec::new(),
            pool: vec![Arc::new(Vec::with_capacity(settings.batch_size))],
            batch_size: settings.batch_size,
            batch_seq: 0,
            failed_but_held: Vec::new(),
            reclaimed: 0,
            bell: Arc::new(Doorbell::default()),
            clock,
            owner,
            idle_max: settings.idle_max,
            default_breaker: settings.breaker,
            default_export_timeout: settings.export_timeout,
        }
    }

    /// Starts a worker for `exporter`; returns its statistics for `Health`.
    pub(crate) fn add(
        &mut self,
        id: ExporterId,
        exporter: Box<dyn Exporter<E>>,
        options: ExporterOptions,
    ) -> std::io::Result<Arc<ExporterStats>> {
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
        )?;
        self.handles.push(ExporterHandle {
            stats: Arc::clone(&stats),
            link,
            breaker,
            export_timeout: options.export_timeout.unwrap_or(self.default_export_timeout),
            next_ticket: 0,
            outstanding: None,
            hung_since: None,
            skipped_since_flush: 0,
            closing: false,
            round: None,
        });
        self.pool.push(Arc::new(Vec::with_capacity(self.batch_size)));
        Ok(stats)
    }

    /// Whether there are exporters at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// A batch buffer no worker holds, emptied.
    pub(crate) fn buffer(&mut self) -> Arc<Vec<E>> {
        let index = self.pool.iter_mut().position(|b| Arc::get_mut(b).is_some());
        let mut buffer = match index {
            Some(i) => self.pool.swap_remove(i),
            None => {
                debug_assert!(false, "every pooled batch buffer is pinned");
                Arc::new(Vec::with_capacity(self.batch_size))
            }
        };
        if let Some(events) = Arc::get_mut(&mut buffer) {
            events.clear();
        }
        buffer
    }

    /// Returns a buffer to the pool.
    pub(crate) fn recycle(&mut self, buffer: Arc<Vec<E>>) {
        self.pool.push(buffer);
    }

    /// Hands `batch` to every admitting exporter and waits for them (or for
    /// them to be declared hung). Returns whether at least one accepted it.
    pub(crate) fn export(&mut self, batch: &Arc<Vec<E>>) -> bool {
        let now = self.clock.now();
        self.collect_late(now);
        self.batch_seq += 1;
        let seq = self.batch_seq;
        let events = batch.len() as u64;
        for handle in &mut self.handles {
            if handle.closing || handle.outstanding.is_some() {
                // Hung (still inside an earlier job): skipped until it returns.
                handle.skip(events);
                continue;
            }
            match handle.breaker.admit(now) {
                Admit::Send | Admit::Trial => {
                    handle.hand(Job::Export { batch: Arc::clone(batch), taken_at: now }, seq, now)
                }
                Admit::Skip => handle.skip(events),
            }
            handle.stats.set_breaker(&handle.breaker);
        }
        self.await_round();
        let mut delivered = false;
        for handle in &mut self.handles {
            if let Some(Ok(())) = handle.round.take() {
                delivered = true;
            }
        }
        // A hung exporter may still accept this failed batch when it returns;
        // remember it, so the batch is then counted delivered, not failed.
        if !delivered && self.handles.iter().any(|h| h.outstanding.is_some_and(|o| o.batch == seq)) {
            self.failed_but_held.push((seq, events));
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
            handle.hand(Job::Flush, 0, now);
        }
        self.await_round();
        if self.any_hung() {
            return Err(Unresponsive);
        }
        let mut failures = Vec::new();
        for handle in &mut self.handles {
            if let Some(Err(error)) = handle.round.take() {
                failures.push(ExporterFailure { exporter: handle.name().to_owned(), error });
            }
            if handle.skipped_since_flush > 0 {
                failures.push(ExporterFailure {
                    exporter: handle.name().to_owned(),
                    error: format!(
                        "skipped {} events since the previous flush (circuit open or hung)",
                        handle.skipped_since_flush
                    ),
                });
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
    /// stop. `flushed`: a flush round just ran, so idle exporters need not
    /// flush again.
    pub(crate) fn close_all(&mut self, flushed: bool, mut give_up: impl FnMut() -> bool) {
        let now = self.clock.now();
        self.collect_late(now);
        for handle in self.handles.iter_mut().chain(self.leaving.iter_mut()) {
            request_close(handle, !flushed, now);
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
        request_close(&mut handle, true, self.clock.now());
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
                let late_batch =
                    handle.outstanding.filter(|o| o.ticket == result.ticket && o.batch != 0).map(|o| o.batch);
                let accepted = result.kind == JobKind::Export && result.outcome.is_ok();
                handle.settle(result, now);
                handle.round = None;
                if let (Some(batch), true) = (late_batch, accepted) {
                    if let Some(i) = self.failed_but_held.iter().position(|&(b, _)| b == batch) {
                        self.reclaimed += self.failed_but_held.swap_remove(i).1;
                    }
                }
            }
        }
        let (handles, leaving) = (&self.handles, &self.leaving);
        self.failed_but_held.retain(|&(batch, _)| {
            handles.iter().chain(leaving.iter()).any(|h| h.outstanding.is_some_and(|o| o.batch == batch))
        });
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
                let busy = now.saturating_duration_since(outstanding.handed_at);
                if busy >= handle.export_timeout {
                    handle.outstanding = Some(Outstanding { current: false, ..outstanding });
                    handle.hung_since = Some(outstanding.handed_at);
                    handle.stats.set_state(ExporterState::Hung { since: outstanding.handed_at });
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

/// Asks one exporter to close: at once if idle, else when its current job
/// ends (then always flushing first, since it missed the last flush round).
fn request_close<E>(handle: &mut ExporterHandle<E>, flush_first: bool, now: Timestamp) {
    if handle.closing {
        return;
    }
    handle.closing = true;
    if handle.outstanding.is_none() {
        handle.hand(Job::Close { flush_first }, 0, now);
        if let Some(o) = handle.outstanding.as_mut() {
            o.current = false;
        }
    } else {
        handle.link.close_when_idle();
    }
}
