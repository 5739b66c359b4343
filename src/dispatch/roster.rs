//! The exporter set as the control plane sees it (C14): the queue of
//! changes that handles send the consumer (both sides of that hand-off), the
//! id allocator, and the roster of every exporter's statistics that
//! `Health` reads.

use super::stats::ExporterStats;
use super::ExporterOptions;
use crate::error::HungExporter;
use crate::health::{ExporterHealth, ExporterId, ExporterState};
use crate::sync::{lock, Arc, ArcSwap, AtomicU64, Mutex, Ordering, StdArc};
use crate::Exporter;

/// An exporter-set change for the consumer.
pub(crate) enum Command<E> {
    Add { id: ExporterId, exporter: Box<dyn Exporter<E>>, options: ExporterOptions },
    Remove(ExporterId),
}

/// Why a change was not queued.
pub(crate) enum Refused<E> {
    /// The consumer has begun its final close and takes no more changes;
    /// the command is handed back.
    Sealed(Command<E>),
}

/// The exporter set's shared side.
pub(crate) struct Roster<E> {
    /// Exporter-set changes for the consumer to apply. `None` once the
    /// consumer has begun its final close: later additions are closed at
    /// once by the caller instead of being queued forever.
    commands: Mutex<Option<Vec<Command<E>>>>,
    /// Every exporter's statistics, for `Health` and `flush` (read without
    /// a lock). Written only by the consumer as exporters are added and
    /// removed, and by `start` before the consumer runs: one writer at a
    /// time, so a load, a change and a store lose nothing.
    stats: ArcSwap<Vec<Arc<ExporterStats>>>,
    /// The next exporter id; ids are never reused.
    next_id: AtomicU64,
}

impl<E> std::fmt::Debug for Roster<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Roster").field("exporters", &self.stats.load_full().len()).finish_non_exhaustive()
    }
}

impl<E> Default for Roster<E> {
    fn default() -> Self {
        Roster {
            commands: Mutex::new(Some(Vec::new())),
            stats: ArcSwap::from_pointee(Vec::new()),
            next_id: AtomicU64::new(0),
        }
    }
}

impl<E> Roster<E> {
    /// A fresh exporter id.
    pub(crate) fn allocate_id(&self) -> ExporterId {
        // Relaxed: only uniqueness matters.
        ExporterId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Whether `id` was ever allocated.
    pub(crate) fn ever_allocated(&self, id: ExporterId) -> bool {
        id.0 < self.next_id.load(Ordering::Relaxed)
    }

    /// The caller's side: queues `command` for the consumer.
    ///
    /// # Errors
    /// [`Refused::Sealed`] once the consumer's final close took the queue.
    pub(crate) fn queue(&self, command: Command<E>) -> Result<(), Refused<E>> {
        match lock(&self.commands).as_mut() {
            Some(queue) => {
                queue.push(command);
                Ok(())
            }
            None => Err(Refused::Sealed(command)),
        }
    }

    /// The consumer's side: takes every queued change.
    pub(crate) fn take(&self) -> Vec<Command<E>> {
        lock(&self.commands).as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The consumer's side, at its final close: takes every queued change
    /// and refuses later ones.
    pub(crate) fn seal(&self) -> Vec<Command<E>> {
        lock(&self.commands).take().unwrap_or_default()
    }

    /// Shows a newly added exporter in `Health`.
    pub(crate) fn enlist(&self, stats: Arc<ExporterStats>) {
        let mut roster = Vec::clone(&self.stats.load_full());
        roster.push(stats);
        self.stats.store(StdArc::new(roster));
    }

    /// Removes exporters that finished leaving from `Health`.
    pub(crate) fn retire(&self, departed: &[ExporterId]) {
        if !departed.is_empty() {
            let mut roster = Vec::clone(&self.stats.load_full());
            roster.retain(|stats| !departed.contains(&stats.id()));
            self.stats.store(StdArc::new(roster));
        }
    }

    /// Every exporter's health.
    pub(crate) fn snapshot(&self) -> Vec<ExporterHealth> {
        self.stats.load_full().iter().map(|e| e.snapshot()).collect()
    }

    /// The exporters hung right now.
    pub(crate) fn hung(&self) -> Vec<HungExporter> {
        self.stats
            .load_full()
            .iter()
            .filter_map(|e| match e.state() {
                ExporterState::Hung { since } => {
                    Some(HungExporter { exporter: e.id(), name: e.name().to_owned(), since })
                }
                _ => None,
            })
            .collect()
    }
}
