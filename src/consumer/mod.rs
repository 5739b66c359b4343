//! The consumer thread: the ring's single reader. It drains batches, hands
//! them to the exporter workers through the [`Dispatcher`], keeps the ledger,
//! answers flush, close and exporter-set changes, applies the total-failure
//! policy, and beats the heartbeat. This file is its loop; each handshake it
//! answers has a file of its own holding both sides.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::config::MAX_HANDOFF_BATCHES;
use crate::dispatch::parcel::Parcel;
use crate::dispatch::roster::Command;
use crate::dispatch::worker::panic_message;
use crate::dispatch::{BatchOutcome, CloseFlush, Dispatcher, SpawnFailed, SpawnFault};
use crate::producer::Admission;
use crate::role;
use crate::shared::Shared;
#[cfg(feature = "fault-injection")]
use crate::sync::Ordering;
use crate::sync::{thread, Arc};
use crate::{DropReason, Event, ExporterId, TotalFailurePolicy};

pub(crate) mod accounting;
pub(crate) mod close;
pub(crate) mod doorbell;
pub(crate) mod drop_log;
pub(crate) mod failure;
pub(crate) mod flush;
pub(crate) mod ledger;

use accounting::Lifecycle;
use failure::{FailureStreak, StreakEvent};
use flush::FlushEnd;
use ledger::{Finished, Terminal};

/// The consumer thread's name, as shown by debuggers and `top -H`.
pub(crate) const CONSUMER_THREAD_NAME: &str = "ringtel-consumer";

/// What one pass of the loop decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Keep going.
    Continue,
    /// The run is over (closed, or the ledger was finished by a timed-out close).
    Stop,
}

/// How much one step drains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drain {
    /// One hand-off: what the ring holds, up to `handoff_batches` batches.
    OneHandoff,
    /// Up to this many events, in as many hand-offs as it takes.
    Upto(u64),
}

/// Spawns the consumer thread with its exporters' dispatcher.
pub(crate) fn spawn<E: Event>(shared: Arc<Shared<E>>, dispatcher: Dispatcher<E>) -> io::Result<()> {
    thread::Builder::new()
        .name(CONSUMER_THREAD_NAME.to_owned())
        .spawn(move || run(shared, dispatcher))
        .map(drop)
}

fn run<E: Event>(shared: Arc<Shared<E>>, dispatcher: Dispatcher<E>) {
    role::enter_consumer(shared.id());
    let mut consumer = Consumer {
        idle: shared.config.consumer_idle_min,
        flushed_upto: 0,
        streak: FailureStreak::default(),
        dispatcher,
        shared,
    };
    consumer.shared.beat();
    // The start handshake (C8): `start` returns only after this.
    consumer.shared.accounting.set_lifecycle(Lifecycle::Running);
    let outcome = catch_unwind(AssertUnwindSafe(|| consumer.run_loop()));
    if let Err(payload) = outcome {
        consumer.die(panic_message(payload.as_ref()));
    }
}

struct Consumer<E> {
    shared: Arc<Shared<E>>,
    dispatcher: Dispatcher<E>,
    /// The current idle sleep, between `idle_min` and `idle_max`.
    idle: Duration,
    /// Every flush generation up to this one is complete.
    flushed_upto: u64,
    streak: FailureStreak,
}

impl<E: Event> Consumer<E> {
    fn run_loop(&mut self) {
        while self.step() == Step::Continue {}
    }

    fn step(&mut self) -> Step {
        let shared = Arc::clone(&self.shared);
        shared.beat();
        // The flush target is read before the exporter changes are taken: a
        // caller's `add_exporter`/`remove_exporter` queues its change before
        // its `flush` requests a round, so a round this step answers always
        // has the changes queued before it applied (its request, read with
        // Acquire, orders the commands lock after the caller's queueing).
        #[cfg(not(ringtel_broken = "flush_target_after_changes"))]
        let flush_target = shared.control_plane.flush.requested();
        let removals = self.apply_additions();
        // Broken twin for the loom suite: the target read after the changes
        // are taken, so a flush right after `add_exporter` can be answered
        // by a step that took the commands before the addition (C14).
        #[cfg(ringtel_broken = "flush_target_after_changes")]
        let flush_target = shared.control_plane.flush.requested();
        let closing = shared.control_plane.close.requested();
        let flushing = flush_target > self.flushed_upto;
        // A flush (or an exporter removal) must drain everything accepted
        // before it: at most one ring's worth (FIFO). A close drains until
        // empty: admission is closed, so only one straggler per producer can
        // still arrive.
        let drain = if closing {
            Drain::Upto(u64::MAX)
        } else if flushing || !removals.is_empty() {
            Drain::Upto(shared.config.capacity as u64)
        } else {
            Drain::OneHandoff
        };
        // Broken twin for the loom suite: apply removals before the drain, so
        // a removed exporter misses events accepted before its removal (C14).
        #[cfg(ringtel_broken = "remove_before_drain")]
        let removals = {
            self.remove(removals);
            Vec::new()
        };
        let taken = match self.drain(drain) {
            Ok(taken) => taken,
            Err(Finished(_)) => return self.abandon(),
        };
        self.remove(removals);
        // Producers publish their drops in blocks; publish what is left, so
        // a warning is at most one consumer step late (C4).
        shared.producer.publish_drops();
        let departed = self.dispatcher.departed();
        self.reclaim();
        shared.control_plane.roster.retire(&departed);
        // Broken twin for the loom suite: read the flush target after the
        // drain. A flush requested after the drain's last pop is then
        // completed without its events having been exported (C6).
        #[cfg(ringtel_broken = "flush_target_after_drain")]
        let (flush_target, flushing) = {
            let target = shared.control_plane.flush.requested();
            (target, target > self.flushed_upto)
        };
        if flushing {
            self.flush_round(flush_target);
        }
        if closing {
            return self.finish_close();
        }
        self.pace(taken);
        Step::Continue
    }

    /// Applies queued `add_exporter` commands; returns queued removals, which
    /// apply after this pass's drain (the removed exporter still gets what was
    /// accepted before the removal).
    fn apply_additions(&mut self) -> Vec<ExporterId> {
        let commands = self.shared.control_plane.roster.take();
        self.apply(commands)
    }

    /// Stops accepting exporter-set changes and applies what was queued, so
    /// the final close closes every exporter ever added exactly once.
    fn seal_commands(&mut self) {
        let commands = self.shared.control_plane.roster.seal();
        let _ = self.apply(commands);
    }

    fn apply(&mut self, commands: Vec<Command<E>>) -> Vec<ExporterId> {
        let mut removals = Vec::new();
        for command in commands {
            match command {
                Command::Add { id, exporter, options } => {
                    let roster = &self.shared.control_plane.roster;
                    match self.dispatcher.add(id, exporter, options, self.spawn_fault()) {
                        Ok(stats) => roster.enlist(stats),
                        // `add_exporter` returned long ago: the failure shows
                        // in `Health` (the exporter, closed, with the spawn
                        // error as its last error) as well as in the log.
                        Err(SpawnFailed { stats, error }) => {
                            tracing::error!(
                                target: "ringtel",
                                exporter = %id,
                                error = %error,
                                "cannot spawn an exporter worker; exporter closed"
                            );
                            roster.enlist(stats);
                        }
                    }
                }
                Command::Remove(id) => removals.push(id),
            }
        }
        removals
    }

    /// Removes exporters; one the dispatcher does not know (its worker never
    /// spawned) only leaves `Health`.
    fn remove(&mut self, removals: Vec<ExporterId>) {
        for id in removals {
            if !self.dispatcher.remove(id) {
                self.shared.control_plane.roster.retire(&[id]);
            }
        }
    }

    /// Whether the next worker spawn is made to fail (`fault-injection`).
    fn spawn_fault(&self) -> SpawnFault {
        #[cfg(feature = "fault-injection")]
        if self.shared.inject_spawn_failure.swap(false, Ordering::Relaxed) {
            return SpawnFault::Fail;
        }
        SpawnFault::None
    }

    /// Sleeps according to how much the last pass found: not at all after a
    /// full batch, briefly after a partial one, and increasingly long (up to
    /// `idle_max`) while the ring stays empty. Rung awake by flush, close,
    /// exporter changes and blocked producers.
    fn pace(&mut self, taken: u64) {
        let config = &self.shared.config;
        let (idle_min, idle_max) = (config.consumer_idle_min, config.consumer_idle_max);
        if taken >= config.batch_len() as u64 {
            self.idle = idle_min;
            return;
        }
        let sleep = if taken > 0 { idle_min } else { self.idle };
        let rung = self.shared.producer.doorbell.sleep(sleep);
        self.idle = if taken > 0 || rung { idle_min } else { (self.idle * 2).min(idle_max) };
    }

    /// Takes events from the ring (in parcels of batches) and exports them.
    fn drain(&mut self, drain: Drain) -> Result<u64, Finished> {
        let limit = match drain {
            Drain::OneHandoff => u64::MAX,
            Drain::Upto(limit) => limit,
        };
        let mut total = 0u64;
        while total < limit {
            #[cfg(feature = "fault-injection")]
            if self.shared.inject_panic.swap(false, Ordering::Relaxed) {
                panic!("injected consumer panic (fault-injection)");
            }
            let mut parcel = self.dispatcher.parcel();
            let filled =
                self.fill(Arc::get_mut(&mut parcel).expect("a pooled parcel no worker holds"), limit - total);
            match filled {
                Ok(0) => {
                    self.dispatcher.recycle(parcel);
                    break;
                }
                Ok(n) => total += n,
                Err(finished) => {
                    self.dispatcher.recycle(parcel);
                    return Err(finished);
                }
            }
            let delivered = self.dispatcher.export(&parcel);
            let mut resolved = [(0u64, BatchOutcome::Failed); MAX_HANDOFF_BATCHES];
            for (index, batch) in parcel.batches().iter().enumerate() {
                let outcome = match delivered.contains(index) {
                    true => BatchOutcome::Delivered,
                    false => BatchOutcome::Failed,
                };
                resolved[index] = (batch.len() as u64, outcome);
            }
            let batches = parcel.batches().len();
            self.dispatcher.recycle(parcel);
            self.resolve(&resolved[..batches])?;
            if drain == Drain::OneHandoff {
                break;
            }
        }
        Ok(total)
    }

    /// Moves events from the ring into `parcel`'s batches, at most `limit`,
    /// and records them as taken; wakes blocked producers after each batch.
    /// A batch the ring could not fill ends the parcel: only a backlog is
    /// handed over in several batches.
    fn fill(&self, parcel: &mut Parcel<E>, limit: u64) -> Result<u64, Finished> {
        let shared = &self.shared;
        let batch_size = shared.config.batch_len() as u64;
        let (ledger, producer) = (&shared.accounting.ledger, &shared.producer);
        let mut total = 0u64;
        while let Some(events) = parcel.spare_buffer() {
            let want = batch_size.min(limit - total) as usize;
            debug_assert!(events.is_empty() && want <= events.capacity());
            let taken = ledger.take_popped(|| {
                while events.len() < want {
                    match producer.ring.pop() {
                        Some(event) => events.push(event),
                        None => break,
                    }
                }
                events.len() as u64
            })?;
            parcel.keep_batch();
            if taken == 0 {
                break;
            }
            producer.control.clear_full_hint();
            producer.waiters.wake_if_waiting();
            total += taken;
            if taken < want as u64 || total == limit {
                break;
            }
        }
        Ok(total)
    }

    /// Resolves exported batches in the ledger, in ring order: their
    /// `(events, outcome)`. Logs the failed ones and applies the
    /// total-failure policy per batch.
    fn resolve(&mut self, batches: &[(u64, BatchOutcome)]) -> Result<(), Finished> {
        let shared = Arc::clone(&self.shared);
        let mut failed = 0u64;
        let mut resolved = Ok(());
        for &(events, outcome) in batches {
            resolved = shared.accounting.ledger.resolve(events, outcome);
            if resolved.is_err() {
                break;
            }
            if outcome == BatchOutcome::Failed {
                failed += events;
            }
            if !self.dispatcher.is_empty() {
                self.track_failures(outcome);
            }
        }
        self.reclaim();
        // Also when the ledger finished midway: the failed batches resolved
        // before that are warned about (C4).
        if failed > 0 {
            shared.producer.drop_log.record_and_log(failed, Some(DropReason::ExportFailed));
        }
        resolved
    }

    /// Late acceptances by returning hung exporters turn failed into delivered.
    fn reclaim(&mut self) {
        let reclaimed = self.dispatcher.take_reclaimed();
        if reclaimed > 0 {
            self.shared.accounting.ledger.reclassify_as_delivered(reclaimed);
        }
    }

    /// Applies the total-failure policy (C9) after a batch.
    fn track_failures(&mut self, outcome: BatchOutcome) {
        let shared = &self.shared;
        let now = shared.now();
        match self.streak.record(outcome, now, shared.config.total_failure_threshold) {
            StreakEvent::None => {}
            StreakEvent::Recovered => {
                shared.accounting.set_total_failure(None);
                tracing::info!(target: "ringtel", "an export succeeded again; total failure cleared");
            }
            StreakEvent::Reached(failure) => {
                let policy = shared.config.on_total_failure;
                tracing::error!(target: "ringtel", %failure, ?policy, "every exporter is failing");
                match policy {
                    TotalFailurePolicy::Continue => {}
                    TotalFailurePolicy::Disable => {
                        shared.producer.control.update(|w| match w.admission() {
                            Admission::Open => w.with_admission(Admission::Disabled),
                            _ => w,
                        });
                        shared.producer.waiters.wake_all();
                    }
                    TotalFailurePolicy::Fail => shared.accounting.set_total_failure(Some(failure)),
                }
            }
        }
    }

    /// The loop panicked outside exporter containment (C8): stop admission,
    /// resolve what was in flight, wake everyone, close the exporters.
    fn die(&mut self, message: String) {
        let shared = Arc::clone(&self.shared);
        shared.producer.control.update(|w| w.with_admission(Admission::ConsumerDead));
        shared.accounting.set_lifecycle(Lifecycle::Dead(message.clone()));
        let (_, resolved) = shared.accounting.ledger.finish(Terminal::ConsumerDead);
        shared.producer.drop_log.record_and_log(resolved, Some(DropReason::ConsumerDead));
        shared.control_plane.flush.end(FlushEnd::ConsumerDead);
        // Broken twin for the loom suite: no wake-up on death. A producer
        // blocked on the full ring then waits forever (C8).
        #[cfg(not(ringtel_broken = "death_no_wake"))]
        shared.producer.waiters.wake_all();
        tracing::error!(target: "ringtel", %message, "ringtel consumer thread died; later events count as consumer_dead");
        // Best effort: ask every worker to flush and close, without waiting.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            self.seal_commands();
            self.dispatcher.close_all(CloseFlush::FlushFirst, || true)
        }));
    }
}
