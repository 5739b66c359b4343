//! The consumer thread: the ring's single reader. It drains batches, hands
//! them to every exporter, keeps the ledger, answers flush and close, and
//! beats the heartbeat.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::control::Admission;
use crate::dispatch::{panic_message, ExporterSlot};
use crate::error::ExporterFailure;
use crate::flush::FlushEnd;
use crate::ledger::{Finished, Terminal};
use crate::role;
use crate::shared::{Lifecycle, Shared};
use crate::sync::{thread, Arc, Ordering};
use crate::{DropReason, Event};

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

/// Spawns the consumer thread.
pub(crate) fn spawn<E: Event>(shared: Arc<Shared<E>>, exporters: Vec<ExporterSlot<E>>) -> io::Result<()> {
    thread::Builder::new()
        .name(CONSUMER_THREAD_NAME.to_owned())
        .spawn(move || run(shared, exporters))
        .map(drop)
}

fn run<E: Event>(shared: Arc<Shared<E>>, exporters: Vec<ExporterSlot<E>>) {
    role::enter_consumer(shared.id());
    let mut consumer = Consumer {
        batch: Vec::with_capacity(shared.settings.batch_size),
        idle: shared.settings.idle_min,
        flushed_upto: 0,
        exporters,
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
    exporters: Vec<ExporterSlot<E>>,
    /// Allocated once with `batch_size` capacity; cleared, never grown (C13).
    batch: Vec<E>,
    /// The current idle sleep, between `idle_min` and `idle_max`.
    idle: Duration,
    /// Every flush generation up to this one is complete.
    flushed_upto: u64,
}

impl<E: Event> Consumer<E> {
    fn run_loop(&mut self) {
        while self.step() == Step::Continue {}
    }

    fn step(&mut self) -> Step {
        let shared = Arc::clone(&self.shared);
        shared.beat();
        // Acquire: pairs with the Release store in `begin_close`, after the
        // admission change.
        let closing = shared.close_requested.load(Ordering::Acquire);
        let flush_target = shared.flush.requested();
        let flushing = flush_target > self.flushed_upto;
        // A flush must drain everything accepted before it, which is at most
        // one ring's worth (FIFO); a close drains until empty (admission is
        // closed, so only one straggler per producer can still arrive).
        let limit = if closing {
            u64::MAX
        } else if flushing {
            shared.settings.capacity as u64
        } else {
            shared.settings.batch_size as u64
        };
        let taken = match self.drain(limit) {
            Ok(taken) => taken,
            Err(Finished(_)) => return self.abandon(),
        };
        if flushing {
            let failures = self.flush_exporters();
            shared.flush.complete(flush_target, failures);
            self.flushed_upto = flush_target;
        }
        if closing {
            return self.finish_close();
        }
        self.pace(taken);
        Step::Continue
    }

    /// Sleeps according to how much the last pass found: not at all after a
    /// full batch, briefly after a partial one, and increasingly long (up to
    /// `idle_max`) while the ring stays empty. Rung awake by flush, close and
    /// blocked producers.
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
            debug_assert!(self.batch.is_empty() && want <= self.batch.capacity());
            while self.batch.len() < want {
                match shared.ring.pop() {
                    Some(event) => self.batch.push(event),
                    None => break,
                }
            }
            let n = self.batch.len() as u64;
            if n == 0 {
                break;
            }
            shared.ledger.take(n).inspect_err(|_| self.batch.clear())?;
            shared.control.clear_full_hint();
            shared.waiters.wake_if_waiting();
            let delivered = self.dispatch();
            self.batch.clear();
            shared.ledger.resolve(n, delivered)?;
            if !delivered {
                shared.drop_log.record_and_log(n, DropReason::ExportFailed);
            }
            total += n;
        }
        Ok(total)
    }

    /// Hands the batch to every exporter; whether at least one accepted it.
    fn dispatch(&mut self) -> bool {
        let now = self.shared.now();
        let mut delivered = false;
        for exporter in &mut self.exporters {
            delivered |= exporter.export(&self.batch, now);
        }
        delivered
    }

    fn flush_exporters(&mut self) -> Vec<ExporterFailure> {
        let now = self.shared.now();
        self.exporters
            .iter_mut()
            .filter_map(|e| {
                e.flush(now)
                    .err()
                    .map(|error| ExporterFailure { exporter: e.stats().name().to_owned(), error })
            })
            .collect()
    }

    fn close_exporters(&mut self) {
        let now = self.shared.now();
        for exporter in &mut self.exporters {
            // The error is kept in the exporter's health.
            let _ = exporter.close(now);
        }
    }

    /// Close requested and the ring drained: flush, close, finish.
    fn finish_close(&mut self) -> Step {
        let shared = Arc::clone(&self.shared);
        let failures = self.flush_exporters();
        // Everyone who asked for a flush before now is covered by this one.
        shared.flush.complete(shared.flush.requested(), failures);
        self.close_exporters();
        shared.set_lifecycle(Lifecycle::Stopped);
        shared.ledger.finish(Terminal::Closed);
        shared.flush.end(FlushEnd::Closed);
        shared.waiters.wake_all();
        Step::Stop
    }

    /// A timed-out close finished the ledger while we were busy; whatever we
    /// held was counted there. Close the exporters (once) and stop.
    fn abandon(&mut self) -> Step {
        self.close_exporters();
        self.shared.set_lifecycle(Lifecycle::Stopped);
        self.shared.flush.end(FlushEnd::Closed);
        Step::Stop
    }

    /// The loop panicked outside exporter containment (C8): stop admission,
    /// resolve what was in flight, wake everyone, close the exporters.
    fn die(&mut self, message: String) {
        let shared = Arc::clone(&self.shared);
        self.batch.clear();
        shared.control.update(|w| w.with_admission(Admission::ConsumerDead));
        shared.set_lifecycle(Lifecycle::Dead(message.clone()));
        let (_, resolved) = shared.ledger.finish(Terminal::ConsumerDead);
        shared.drop_log.record_and_log(resolved, DropReason::ConsumerDead);
        shared.flush.end(FlushEnd::ConsumerDead);
        shared.waiters.wake_all();
        tracing::error!(target: "ringtel", %message, "ringtel consumer thread died; later events count as consumer_dead");
        // Best effort; each call is contained.
        let _ = catch_unwind(AssertUnwindSafe(|| self.close_exporters()));
    }
}
