//! The producer path: filter, admit, push, and the full-ring policies.

use std::time::{Duration, Instant};

use super::{Admission, ControlWord, ProducerSide, WaitOutcome, WaitScope};
use crate::role;
use crate::{Backpressure, DropReason, Emitted, Event};

impl<E: Event> ProducerSide<E> {
    /// Offers one event (see `Telemetry::emit`).
    ///
    /// Steady state with room: one relaxed load of the control word, three
    /// tests on it, one `ArrayQueue::push`, nothing else: no lock, no
    /// system call, no allocation and no counter (accepted events are
    /// counted by the consumer as it takes them).
    ///
    /// The filter is tested first, on the granularity alone: every other
    /// path uses the event and this one does not, so the compiler can leave
    /// the building of a filtered event out (it sinks the caller's
    /// construction below this test).
    #[inline(always)]
    pub(crate) fn emit(&self, event: E) -> Emitted {
        let control = self.control.load();
        let granularity = event.granularity();
        if !control.admits(granularity) {
            // Unlikely, so that registers are allocated for the push path.
            crate::hint::cold_path();
            self.counters.add_filtered();
            return Emitted::Filtered;
        }
        // The `Drop` policy's state with a recently full ring, before the
        // room test: it costs the push path one sign test, and spares the
        // drop path the room test and the event's construction (measured
        // in benches/user-crate: the 16-byte drop path at 0.47x the
        // failing raw push, from 0.505x).
        if control.open_full_dropping() {
            crate::hint::cold_path();
            // The ring stays full under `Drop`: decide before the event
            // moves anywhere (passing it to a cold function copies it), and
            // skip `push` and its SeqCst fence while `is_full` (two loads)
            // says full.
            if !granularity.is_critical() && self.ring.is_full() {
                self.count_drop(DropReason::QueueFull);
                return Emitted::Dropped(DropReason::QueueFull);
            }
            return self.emit_contended(&mut Some(event), control);
        }
        if !control.open_without_full_hint() {
            crate::hint::cold_path();
            return self.emit_contended(&mut Some(event), control);
        }
        match self.ring.push(event) {
            Ok(()) => Emitted::Queued,
            Err(event) => {
                self.control.set_full_hint();
                self.emit_when_full(event, control)
            }
        }
    }

    /// Admission closed, or the ring was recently full.
    ///
    /// The event comes in an `Option` of its own, not by value: a large
    /// argument by value is passed as a pointer to the caller's copy, and
    /// LLVM then makes that copy the caller's event itself, which must then
    /// be stored to memory where it is built, on every path (measured in
    /// benches/user-crate: the filtered emit of a 64-byte event paid its
    /// seven stores). The `Option` is a copy made on this path only.
    #[cold]
    #[inline(never)]
    fn emit_contended(&self, event: &mut Option<E>, control: ControlWord) -> Emitted {
        // Always `Some`: `emit` hands it over full.
        let Some(event) = event.take() else { unreachable!("emit_contended is handed an event") };
        match control.admission() {
            Admission::Open => self.emit_when_full(event, control),
            closed => self.reject(closed),
        }
    }

    /// Counts and reports an event refused by admission.
    #[cold]
    fn reject(&self, admission: Admission) -> Emitted {
        let reason = match admission {
            Admission::Closed => DropReason::Closed,
            Admission::Disabled => DropReason::Disabled,
            Admission::ConsumerDead => DropReason::ConsumerDead,
            Admission::Open => {
                debug_assert!(false, "reject called while admission is open");
                DropReason::Closed
            }
        };
        self.count_drop_and_publish(reason);
        Emitted::Dropped(reason)
    }

    /// The ring was (recently) full: apply the backpressure policy.
    #[cold]
    #[inline(never)]
    fn emit_when_full(&self, event: E, control: ControlWord) -> Emitted {
        let critical = event.granularity().is_critical();
        match control.backpressure() {
            Backpressure::Drop if !critical => {
                // While the ring stays full, skip `push` (and its SeqCst
                // fence): `is_full` is two loads.
                if self.ring.is_full() {
                    self.count_drop(DropReason::QueueFull);
                    return Emitted::Dropped(DropReason::QueueFull);
                }
                match self.ring.push(event) {
                    Ok(()) => Emitted::Queued,
                    Err(_) => {
                        self.count_drop(DropReason::QueueFull);
                        Emitted::Dropped(DropReason::QueueFull)
                    }
                }
            }
            Backpressure::Drop => self.wait_for_room(event, Some(self.critical_wait)),
            Backpressure::DropOldest => self.push_evicting(event),
            Backpressure::Block => self.wait_for_room(event, None),
            Backpressure::BlockFor(wait) => {
                let wait = if critical { wait.max(self.critical_wait) } else { wait };
                self.wait_for_room(event, Some(wait))
            }
        }
    }

    /// Waits for room at most `timeout` (`None`: until room or admission
    /// closes). If the policy changes meanwhile, the event is handled again
    /// under the new one (C14).
    fn wait_for_room(&self, event: E, timeout: Option<Duration>) -> Emitted {
        // On a ringtel-owned thread, waiting for the consumer to make room
        // would wait for ourselves: degrade to Drop (C2 re-entrancy).
        if role::on_ringtel_thread() {
            if let Ok(()) = self.ring.push(event) {
                return Emitted::Queued;
            }
            self.count_drop_and_publish(DropReason::QueueFull);
            return Emitted::Dropped(DropReason::QueueFull);
        }
        let policy = self.control.load().backpressure();
        match self.wait_and_push(event, timeout, WaitScope::WhilePolicyIs(policy)) {
            WaitOutcome::Pushed => Emitted::Queued,
            WaitOutcome::TimedOut(_) => {
                self.count_drop_and_publish(DropReason::QueueFull);
                Emitted::Dropped(DropReason::QueueFull)
            }
            WaitOutcome::Stopped(event) => {
                let control = self.control.load();
                match control.admission() {
                    Admission::Open => self.emit_when_full(event, control),
                    closed => self.reject(closed),
                }
            }
        }
    }

    /// Waits for room; stops early if admission closes or the wait leaves
    /// its `scope`.
    fn wait_and_push(&self, event: E, timeout: Option<Duration>, scope: WaitScope) -> WaitOutcome<E> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let keep_waiting = || {
            let control = self.control.load();
            control.admission() == Admission::Open && scope.admits(control.backpressure())
        };
        let event = match self.spin_for_room(event, deadline, keep_waiting) {
            Ok(outcome) => return outcome,
            Err(event) => event,
        };
        // Ring again before parking: the consumer may have gone back to its
        // idle sleep while we spun. At most two rings per wait, none for an
        // emit that finds room at its first attempt.
        self.doorbell.ring();
        self.waiters.wait_for_room(event, deadline, |e| self.ring.push(e), keep_waiting)
    }

    /// The first part of every wait: retry the push with a bounded backoff
    /// (crossbeam's `Backoff`: a few rounds of spin hints, then a few
    /// `yield_now`s, a few microseconds in all) before paying for a parked
    /// wait. A consumer in the middle of a batch usually makes room within
    /// that time, and a producer that gets room here makes no system call.
    /// The doorbell is rung once, after the first failed attempt, so that a
    /// consumer asleep on its idle timer wakes while we spin. `Err` hands the
    /// event back for the parked wait.
    ///
    /// Under loom this is skipped: the models check the parked protocol, and
    /// the spin phase is only extra pushes and admission checks with no
    /// shared state of its own.
    #[cfg(not(loom))]
    fn spin_for_room(
        &self,
        mut event: E,
        deadline: Option<Instant>,
        keep_waiting: impl Fn() -> bool,
    ) -> Result<WaitOutcome<E>, E> {
        let backoff = crossbeam_utils::Backoff::new();
        let mut rung = false;
        loop {
            if !keep_waiting() {
                return Ok(WaitOutcome::Stopped(event));
            }
            match self.ring.push(event) {
                Ok(()) => return Ok(WaitOutcome::Pushed),
                Err(back) => event = back,
            }
            if !rung {
                self.doorbell.ring();
                rung = true;
            }
            if backoff.is_completed() {
                return Err(event);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(WaitOutcome::TimedOut(event));
            }
            backoff.snooze();
        }
    }

    #[cfg(loom)]
    fn spin_for_room(&self, event: E, _: Option<Instant>, _: impl Fn() -> bool) -> Result<WaitOutcome<E>, E> {
        Err(event)
    }

    /// `DropOldest`: make room by evicting the oldest event.
    fn push_evicting(&self, event: E) -> Emitted {
        // Broken twin for the loom suite: decide whether an event was evicted
        // from a racy `is_full` check before the push instead of from
        // `force_push`'s own answer. A consumer pop in between makes the
        // count wrong: an eviction is missed or one that never happened is
        // counted (C1).
        #[cfg(ringtel_broken = "drop_oldest_uncounted")]
        {
            let looked_full = self.ring.is_full();
            drop(self.ring.force_push(event));
            if looked_full {
                self.count_drop(DropReason::Overwritten);
            }
            return Emitted::Queued;
        }
        #[cfg_attr(ringtel_broken = "drop_oldest_uncounted", allow(unreachable_code))]
        if let Some(evicted) = self.ring.force_push(event) {
            if evicted.granularity().is_critical() {
                self.rescue_critical(evicted);
            } else {
                self.count_drop(DropReason::Overwritten);
            }
        }
        Emitted::Queued
    }

    /// A critical event was evicted: put it back, waiting for room at most
    /// `critical_wait`; only if that fails is it counted `Overwritten`.
    /// A rescued event re-enters at the back of the ring, so it can reach
    /// exporters after events emitted later (the one exception to C5, taken
    /// to keep lifecycle events from being lost).
    #[cold]
    fn rescue_critical(&self, evicted: E) {
        let rescued = if role::on_ringtel_thread() {
            self.ring.push(evicted).is_ok()
        } else {
            matches!(
                self.wait_and_push(evicted, Some(self.critical_wait), WaitScope::AnyPolicy),
                WaitOutcome::Pushed
            )
        };
        if !rescued {
            self.count_drop_and_publish(DropReason::Overwritten);
        }
    }
}
