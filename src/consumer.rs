//! The consumer thread: the ring's single reader. It drains batches, hands
//! them to the exporter workers through the [`Dispatcher`], keeps the ledger,
//! answers flush, close and exporter-set changes, applies the total-failure
//! policy, and beats the heartbeat.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::control::Admission;
use crate::dispatch::Dispatcher;
use crate::failure::{FailureStreak, StreakEvent};
use crate::flush::FlushEnd;
use crate::ledger::{Finished, Terminal};
use crate::role;
use crate::shared::{Command, Lifecycle, Shared};
use crate::sync::{lock, thread, Arc, Ordering};
use crate::worker::panic_message;
use crate::{DropReason, Event, TotalFailurePolicy};

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
        idle: shared.settings.idle_min,
        flushed_upto: 0,
        streak: FailureStreak::default(),
        dispatcher,
        shared,
    };
    consumer.shared.beat();
    // The start handshake (C8): `start` returns only after this.
    consumer.shared.set_lifecycle(Lifecycle::Running);
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
        let removals = self.apply_additions();
        // Acquire: pairs with the Release store in `begin_close`, after the
        // admission change.
        let closing = shared.close_requested.load(Ordering::Acquire);
        let flush_target = shared.flush.requested();
        let flushing = flush_target > self.flushed_upto;
        // A flush (or an exporter removal) must drain everything accepted
        // before it: at most one ring's worth (FIFO). A close drains until
        // empty: admission is closed, so only one straggler per producer can
        // still arrive.
        let limit = if closing {
            u64::MAX
        } else if flushing || !removals.is_empty() {
            shared.settings.capacity as u64
        } else {
            shared.settings.batch_size as u64
        };
        // Broken twin for the loom suite: apply removals before the drain, so
        // a removed exporter misses events accepted before its removal (C14).
        #[cfg(ringtel_broken = "remove_before_drain")]
        let removals = {
            for id in removals {
                self.dispatcher.remove(id);
            }
            Vec::new()
        };
        let taken = match self.drain(limit) {
            Ok(taken) => taken,
            Err(Finished(_)) => return self.abandon(),
        };
        for id in removals {
            self.dispatcher.remove(id);
        }
        // Producers publish their drops in blocks; publish what is left, so
        // a warning is at most one consumer step late (C4).
        shared.publish_drops();
        let departed = self.dispatcher.departed();
        self.reclaim();
        if !departed.is_empty() {
            lock(&shared.exporters).retain(|stats| !departed.contains(&stats.id()));
        }
        // Broken twin for the loom suite: read the flush target after the
        // drain. A flush requested after the drain's last pop is then
        // completed without its events having been exported (C6).
        #[cfg(ringtel_broken = "flush_target_after_drain")]
        let (flush_target, flushing) = {
            let target = shared.flush.requested();
            (target, target > self.flushed_upto)
        };
        if flushing {
            // If an exporter is hung the round stays pending; waiters time
            // out naming it, and the round completes once it returns.
            if let Ok(failures) = self.dispatcher.flush() {
                shared.flush.complete(flush_target, failures);
                self.flushed_upto = flush_target;
            }
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
    fn apply_additions(&mut self) -> Vec<crate::ExporterId> {
        let commands = lock(&self.shared.commands).as_mut().map(std::mem::take).unwrap_or_default();
        self.apply(commands)
    }

    /// Stops accepting exporter-set changes and applies what was queued, so
    /// the final close closes every exporter ever added exactly once.
    fn seal_commands(&mut self) {
        let commands = lock(&self.shared.commands).take().unwrap_or_default();
        let _ = self.apply(commands);
    }

    fn apply(&mut self, commands: Vec<Command<E>>) -> Vec<crate::ExporterId> {
        let mut removals = Vec::new();
        for command in commands {
            match command {
                Command::Add { id, exporter, options } => match self.dispatcher.add(id, exporter, options) {
                    Ok(stats) => lock(&self.shared.exporters).push(stats),
                    Err(err) => tracing::error!(
                        target: "ringtel",
                        exporter = %id,
                        error = %err,
                        "cannot spawn an exporter worker; exporter not added"
                    ),
                },
                Command::Remove(id) => removals.push(id),
            }
        }
        removals
    }

    /// Sleeps according to how much the last pass found: not at all after a
    /// full batch, briefly after a partial one, and increasingly long (up to
    /// `idle_max`) while the ring stays empty. Rung awake by flush, close,
    /// exporter changes and blocked producers.
    fn pace(&mut self, taken: u64) {
        let settings = &self.shared.settings;
        if taken >= settings.batch_size as u64 {
            self.idle = settings.idle_min;
            return;
        }
        let sleep = if taken > 0 { settings.idle_min } else { self.idle };
        let rung = self.shared.doorbell.sleep(sleep);
        self.idle =
            if taken > 0 || rung { settings.idle_min } else { (self.idle * 2).min(settings.idle_max) };
    }

    /// Takes up to `limit` events (in batches) and exports them.
    fn drain(&mut self, limit: u64) -> Result<u64, Finished> {
        let shared = Arc::clone(&self.shared);
        let batch_size = shared.settings.batch_size;
        let mut total = 0u64;
        while total < limit {
            #[cfg(feature = "fault-injection")]
            if shared.inject_panic.swap(false, Ordering::Relaxed) {
                panic!("injected consumer panic (fault-injection)");
            }
            let want = (batch_size as u64).min(limit - total) as usize;
            let mut batch = self.dispatcher.buffer();
            let events = Arc::get_mut(&mut batch).expect("a pooled buffer no worker holds");
            debug_assert!(events.is_empty() && want <= events.capacity());
            let taken = shared.ledger.take_popped(|| {
                while events.len() < want {
                    match shared.ring.pop() {
                        Some(event) => events.push(event),
                        None => break,
                    }
                }
                events.len() as u64
            });
            let n = match taken {
                Ok(0) => {
                    self.dispatcher.recycle(batch);
                    break;
                }
                Ok(n) => n,
                Err(finished) => {
                    self.dispatcher.recycle(batch);
                    return Err(finished);
                }
            };
            shared.control.clear_full_hint();
            shared.waiters.wake_if_waiting();
            let delivered = self.dispatcher.export(&batch);
            self.dispatcher.recycle(batch);
            shared.ledger.resolve(n, delivered)?;
            self.reclaim();
            if !delivered {
                shared.drop_log.record_and_log(n, Some(DropReason::ExportFailed));
            }
            if !self.dispatcher.is_empty() {
                self.track_failures(delivered);
            }
            total += n;
        }
        Ok(total)
    }

    /// Late acceptances by returning hung exporters turn failed into delivered.
    fn reclaim(&mut self) {
        let reclaimed = self.dispatcher.take_reclaimed();
        if reclaimed > 0 {
            self.shared.ledger.reclassify_as_delivered(reclaimed);
        }
    }

    /// Applies the total-failure policy (C9) after a batch.
    fn track_failures(&mut self, delivered: bool) {
        let shared = &self.shared;
        let now = shared.now();
        match self.streak.record(delivered, now, shared.settings.total_failure_threshold) {
            StreakEvent::None => {}
            StreakEvent::Recovered => {
                lock(&shared.total_failure).take();
                tracing::info!(target: "ringtel", "an export succeeded again; total failure cleared");
            }
            StreakEvent::Reached(failure) => {
                let policy = shared.settings.on_total_failure;
                tracing::error!(target: "ringtel", %failure, ?policy, "every exporter is failing");
                match policy {
                    TotalFailurePolicy::Continue => {}
                    TotalFailurePolicy::Disable => {
                        shared.control.update(|w| match w.admission() {
                            Admission::Open => w.with_admission(Admission::Disabled),
                            _ => w,
                        });
                        shared.waiters.wake_all();
                    }
                    TotalFailurePolicy::Fail => *lock(&shared.total_failure) = Some(failure),
                }
            }
        }
    }

    /// Close requested and the ring drained: flush, close, finish.
    fn finish_close(&mut self) -> Step {
        let shared = Arc::clone(&self.shared);
        // Broken twin for the loom suite: an `add_exporter` queued after the
        // last pass stays queued, and that exporter is never closed (C7, C14;
        // the bug fuzzing found, see fuzz/README.md finding 1).
        #[cfg(not(ringtel_broken = "close_unsealed_commands"))]
        self.seal_commands();
        let requested = shared.flush.requested();
        let flushed = match self.dispatcher.flush() {
            Ok(failures) => {
                // Everyone who asked for a flush before now is covered by this one.
                shared.flush.complete(requested, failures);
                true
            }
            Err(_) => false,
        };
        // Wait for every exporter to close, unless a timed-out close gives up
        // on us first (a hung exporter closes when it returns).
        self.dispatcher.close_all(flushed, || shared.ledger.counts().terminal.is_some());
        shared.set_lifecycle(Lifecycle::Stopped);
        shared.ledger.finish(Terminal::Closed);
        shared.flush.end(FlushEnd::Closed);
        shared.waiters.wake_all();
        Step::Stop
    }

    /// A timed-out close finished the ledger while we were busy; whatever we
    /// held was counted there. Ask the exporters to close and stop.
    fn abandon(&mut self) -> Step {
        self.seal_commands();
        self.dispatcher.close_all(false, || true);
        self.shared.set_lifecycle(Lifecycle::Stopped);
        self.shared.flush.end(FlushEnd::Closed);
        Step::Stop
    }

    /// The loop panicked outside exporter containment (C8): stop admission,
    /// resolve what was in flight, wake everyone, close the exporters.
    fn die(&mut self, message: String) {
        let shared = Arc::clone(&self.shared);
        shared.control.update(|w| w.with_admission(Admission::ConsumerDead));
        shared.set_lifecycle(Lifecycle::Dead(message.clone()));
        let (_, resolved) = shared.ledger.finish(Terminal::ConsumerDead);
        shared.drop_log.record_and_log(resolved, Some(DropReason::ConsumerDead));
        shared.flush.end(FlushEnd::ConsumerDead);
        // Broken twin for the loom suite: no wake-up on death. A producer
        // blocked on the full ring then waits forever (C8).
        #[cfg(not(ringtel_broken = "death_no_wake"))]
        shared.waiters.wake_all();
        tracing::error!(target: "ringtel", %message, "ringtel consumer thread died; later events count as consumer_dead");
        // Best effort: ask every worker to flush and close, without waiting.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            self.seal_commands();
            self.dispatcher.close_all(false, || true)
        }));
    }
}
