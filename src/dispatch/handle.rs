//! The consumer's side of one exporter: its worker link, breaker, the job
//! it holds and how long it has held it.

use std::time::Duration;

use super::breaker::Breaker;
use super::link::{Job, JobKind, JobResult, Ticket, WorkerLink};
use super::stats::ExporterStats;
use crate::clock::Timestamp;
use crate::health::ExporterState;
use crate::sync::Arc;

/// A job handed to a worker whose result has not been collected.
#[derive(Debug, Clone, Copy)]
pub(super) struct Outstanding {
    pub(super) ticket: u64,
    /// The batch sequence number of an export job (0 for other jobs).
    pub(super) batch: u64,
    pub(super) handed_at: Timestamp,
    /// The job belongs to the round being awaited (not a hung leftover).
    pub(super) current: bool,
}

/// The consumer's side of one exporter.
pub(super) struct ExporterHandle<E> {
    pub(super) stats: Arc<ExporterStats>,
    pub(super) link: Arc<WorkerLink<E>>,
    pub(super) breaker: Breaker,
    pub(super) export_timeout: Duration,
    pub(super) next_ticket: u64,
    pub(super) outstanding: Option<Outstanding>,
    /// When the job it is hung in was handed over.
    pub(super) hung_since: Option<Timestamp>,
    /// Events skipped (breaker open or hung) since the last flush round.
    pub(super) skipped_since_flush: u64,
    /// Asked to close (removal, shutdown, death).
    pub(super) closing: bool,
    /// Its latest round result: `Some(Ok)` accepted, `Some(Err)` failed.
    pub(super) round: Option<Result<(), String>>,
}

impl<E> ExporterHandle<E> {
    pub(super) fn name(&self) -> &str {
        self.stats.name()
    }

    pub(super) fn hand(&mut self, job: Job<E>, batch: u64, now: Timestamp) {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.outstanding = Some(Outstanding { ticket, batch, handed_at: now, current: true });
        self.round = None;
        self.link.hand(ticket, job);
    }

    /// Applies a collected result; it answers the current round if its
    /// ticket is the outstanding, current one.
    pub(super) fn settle(&mut self, result: JobResult, now: Timestamp) {
        let answers = self.outstanding.filter(|o| Ticket::Handed(o.ticket) == result.ticket);
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

    pub(super) fn skip(&mut self, events: u64) {
        self.stats.record_skip(events);
        self.skipped_since_flush += events;
    }
}

/// Asks one exporter to close: at once if idle, else when its current job
/// ends (then always flushing first, since it missed the last flush round).
pub(super) fn request_close<E>(handle: &mut ExporterHandle<E>, flush_first: bool, now: Timestamp) {
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
