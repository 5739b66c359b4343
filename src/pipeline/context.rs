//! `RunContext`: the run id and a borrowed clock, to stamp events with.

use std::fmt;

use super::{EventKind, PipelineEvent, RunId};
use crate::{Clock, Timestamp};

/// The run id and a *borrowed* clock: what every event constructor needs to
/// stamp an event.
///
/// `Copy`, two words plus the id; pass it by value. Borrowing the clock means
/// building an event touches no reference count: make one context per thread
/// (from a clock the thread owns or borrows) and reuse it for every event.
///
/// Give the telemetry the same clock (a copy of a [`SystemClock`](crate::SystemClock),
/// or a clone of a [`ManualClock`](crate::ManualClock)), so events and health
/// share one time line.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::pipeline::{PipelineEvent, RowId, RunContext, RunId, TokenId};
/// use ringtel::{ManualClock, Timestamp};
///
/// let clock = ManualClock::new(Timestamp::from_nanos(0));
/// let run = RunContext::new(RunId::new(3), &clock);
/// clock.advance(Duration::from_secs(1));
/// let event = PipelineEvent::row_created(run, RowId::new(1), TokenId::new(1));
/// assert_eq!(event.at(), Timestamp::from_nanos(1_000_000_000));
/// assert_eq!(run.id(), RunId::new(3));
/// ```
#[derive(Clone, Copy)]
pub struct RunContext<'c> {
    id: RunId,
    clock: &'c dyn Clock,
}

impl<'c> RunContext<'c> {
    /// A context for run `id`, reading time from `clock`.
    pub fn new(id: RunId, clock: &'c dyn Clock) -> RunContext<'c> {
        RunContext { id, clock }
    }

    /// The run id.
    pub fn id(self) -> RunId {
        self.id
    }

    /// The clock's current time.
    #[inline]
    pub fn now(self) -> Timestamp {
        self.clock.now()
    }

    /// The clock.
    pub fn clock(self) -> &'c dyn Clock {
        self.clock
    }

    /// An event of `kind`, stamped now.
    #[inline]
    pub fn event(self, kind: EventKind) -> PipelineEvent {
        PipelineEvent::new(self.now(), self.id, kind)
    }
}

impl fmt::Debug for RunContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunContext").field("id", &self.id).field("clock", &self.clock).finish()
    }
}
