//! The consumer's side of one exporter: its worker link, breaker, the job
//! it holds and how long it has held it.

use std::time::Duration;

use super::breaker::Breaker;
use super::link::{CloseFlush, Job, JobKind, JobResult, Ticket, WorkerLink};
use super::parcel::BatchSet;
use super::stats::{BreakerView, ExporterStats};
use super::BatchOutcome;
use crate::clock::Timestamp;
use crate::health::ExporterState;
use crate::sync::{Arc, StdArc};
use crate::ExportError;

/// What a handed job holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Held {
    /// An export of the batches with sequence numbers
    /// `first_seq..first_seq + batches`.
    Batches {
        /// The first batch's sequence number.
        first_seq: u64,
        /// How many batches.
        batches: usize,
    },
    /// A flush or a close: no batch.
    NoBatch,
}

/// A job handed to a worker whose result has not been collected.
#[derive(Debug, Clone, Copy)]
pub(super) struct Outstanding {
    pub(super) ticket: u64,
    pub(super) held: Held,
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
    /// Its answer to the round being awaited.
    pub(super) round: Round,
    /// The breaker view `Health` read before the last change, reused for
    /// the next one (see `ExporterStats::set_breaker`).
    breaker_spare: Option<StdArc<BreakerView>>,
}

/// One exporter's answer to the current round (an export or a flush).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Round {
    /// No answer (yet): not handed this round, still busy, or hung.
    Unanswered,
    /// It exported the parcel's first `calls` batches (all of them, unless a
    /// trial stopped at a failure); these were accepted.
    Exported {
        /// The batches accepted.
        accepted: BatchSet,
        /// The batches it made a call for.
        calls: usize,
    },
    /// Its flush succeeded.
    Flushed,
    /// Its flush failed, with the exporter's own error.
    FlushFailed(ExportError),
}

impl<E> ExporterHandle<E> {
    /// A handle for a freshly spawned worker.
    pub(super) fn new(
        stats: Arc<ExporterStats>,
        link: Arc<WorkerLink<E>>,
        breaker: Breaker,
        export_timeout: Duration,
    ) -> Self {
        ExporterHandle {
            stats,
            link,
            breaker,
            export_timeout,
            next_ticket: 0,
            outstanding: None,
            hung_since: None,
            skipped_since_flush: 0,
            closing: false,
            round: Round::Unanswered,
            breaker_spare: None,
        }
    }

    /// Publishes the breaker's state to `Health` if it changed.
    pub(super) fn publish_breaker(&mut self) {
        self.stats.set_breaker(&self.breaker, &mut self.breaker_spare);
    }

    /// Whether the round's call (this batch's export, or the flush) succeeded.
    pub(super) fn take_round(&mut self) -> Round {
        std::mem::replace(&mut self.round, Round::Unanswered)
    }
}

impl<E> ExporterHandle<E> {
    pub(super) fn name(&self) -> &str {
        self.stats.name()
    }

    pub(super) fn hand(&mut self, job: Job<E>, now: Timestamp) {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let held = match &job {
            Job::Export { first_seq, parcel, .. } => {
                Held::Batches { first_seq: *first_seq, batches: parcel.batches().len() }
            }
            Job::Flush | Job::Close { .. } => Held::NoBatch,
        };
        self.outstanding = Some(Outstanding { ticket, held, handed_at: now, current: true });
        self.round = Round::Unanswered;
        self.link.hand(ticket, job);
    }

    /// Whether it still holds (is exporting) batch `seq`.
    pub(super) fn holds(&self, seq: u64) -> bool {
        self.outstanding.is_some_and(|o| match o.held {
            Held::Batches { first_seq, batches } => (first_seq..first_seq + batches as u64).contains(&seq),
            Held::NoBatch => false,
        })
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
        // A hung exporter that returns is active again, unless it is being
        // removed (it stays `Removing` until its close is done).
        if self.hung_since.take().is_some() && !self.closing {
            self.stats.set_state(ExporterState::Active);
        }
        if result.kind == JobKind::Export {
            // One record per call, in order. The calls of a parcel were all
            // admitted together, so the failures after one that opened the
            // breaker do not count as failed trials (which would lengthen
            // the cooldown); a success after them still closes it.
            let opened_before = self.breaker.times_opened();
            for call in 0..result.calls {
                let outcome = match result.accepted.contains(call) {
                    true => BatchOutcome::Delivered,
                    false => BatchOutcome::Failed,
                };
                if outcome == BatchOutcome::Failed && self.breaker.times_opened() > opened_before {
                    continue;
                }
                self.breaker.record(outcome, now);
            }
            self.publish_breaker();
        }
        if current {
            self.round = match (result.kind, result.outcome) {
                (JobKind::Export, _) => Round::Exported { accepted: result.accepted, calls: result.calls },
                (_, Ok(())) => Round::Flushed,
                (_, Err(err)) => Round::FlushFailed(err),
            };
        }
    }

    pub(super) fn skip(&mut self, events: u64) {
        self.stats.record_skip(events);
        self.skipped_since_flush += events;
    }
}

/// Asks one exporter to close: at once if idle, else when its current job
/// ends (then always flushing first, since it missed the last flush round).
pub(super) fn request_close<E>(handle: &mut ExporterHandle<E>, flush: CloseFlush, now: Timestamp) {
    if handle.closing {
        return;
    }
    handle.closing = true;
    if handle.outstanding.is_none() {
        handle.hand(Job::Close { flush }, now);
        if let Some(o) = handle.outstanding.as_mut() {
            o.current = false;
        }
    } else {
        handle.link.close_when_idle();
    }
}
