//! The per-exporter circuit breaker (C10): closed → open after `open_after`
//! consecutive failures; while open its batches are skipped; after a cooldown
//! (growing exponentially up to a cap) one trial batch runs (half-open);
//! success closes it, failure reopens it with the next cooldown.
//!
//! Pure state, driven by the consumer thread with times from the telemetry's
//! clock, so tests move a `ManualClock` instead of sleeping.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::BatchOutcome;
use crate::clock::Timestamp;

/// Default consecutive failures that open a breaker.
pub const DEFAULT_BREAKER_OPEN_AFTER: u32 = 5;
/// Default first cooldown of an open breaker.
pub const DEFAULT_BREAKER_COOLDOWN: Duration = Duration::from_secs(1);
/// Default longest cooldown (the exponential growth stops here).
pub const DEFAULT_BREAKER_MAX_COOLDOWN: Duration = Duration::from_secs(60);

/// Circuit-breaker parameters for one exporter (or the global default).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::BreakerConfig;
/// let breaker = BreakerConfig { open_after: 3, ..BreakerConfig::default() };
/// assert_eq!(breaker.cooldown, Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failed batches that open the breaker, `>= 1`.
    pub open_after: u32,
    /// First cooldown before a trial batch, `1ms..=max_cooldown`.
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
    /// Longest cooldown; each failed trial doubles the cooldown up to this,
    /// `cooldown..=1h`.
    #[serde(with = "humantime_serde")]
    pub max_cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            open_after: DEFAULT_BREAKER_OPEN_AFTER,
            cooldown: DEFAULT_BREAKER_COOLDOWN,
            max_cooldown: DEFAULT_BREAKER_MAX_COOLDOWN,
        }
    }
}

/// A breaker's state as shown in `Health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BreakerState {
    /// Batches flow; `consecutive_failures` counts toward `open_after`.
    Closed {
        /// Failures since the last success.
        consecutive_failures: u32,
    },
    /// Batches are skipped until `next_trial`.
    Open {
        /// When the next trial batch may run (telemetry clock).
        next_trial: Timestamp,
        /// The cooldown that led to `next_trial`.
        #[serde(with = "humantime_serde")]
        cooldown: Duration,
    },
    /// One trial batch is running; its result closes or reopens the breaker.
    HalfOpen {
        /// The cooldown to double if the trial fails.
        #[serde(with = "humantime_serde")]
        cooldown: Duration,
    },
}

/// Whether a batch may go to the exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Send it (closed breaker).
    Send,
    /// Send it as the half-open trial.
    Trial,
    /// Skip it (open breaker, cooldown not over).
    Skip,
}

/// One exporter's breaker.
#[derive(Debug, Clone)]
pub(crate) struct Breaker {
    config: BreakerConfig,
    state: BreakerState,
    /// How many times it opened.
    opened: u64,
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Breaker { config, state: BreakerState::Closed { consecutive_failures: 0 }, opened: 0 }
    }

    pub(crate) fn state(&self) -> BreakerState {
        self.state
    }

    pub(crate) fn times_opened(&self) -> u64 {
        self.opened
    }

    /// Decides for a batch at `now`; an open breaker whose cooldown is over
    /// turns half-open and admits this batch as its trial.
    pub(crate) fn admit(&mut self, now: Timestamp) -> Admit {
        match self.state {
            BreakerState::Closed { .. } => Admit::Send,
            BreakerState::HalfOpen { .. } => Admit::Skip, // a trial is already out
            BreakerState::Open { next_trial, cooldown } => {
                if now >= next_trial {
                    self.state = BreakerState::HalfOpen { cooldown };
                    Admit::Trial
                } else {
                    Admit::Skip
                }
            }
        }
    }

    /// Records a batch's result at `now`.
    pub(crate) fn record(&mut self, outcome: BatchOutcome, now: Timestamp) {
        self.state = match (self.state, outcome) {
            (_, BatchOutcome::Delivered) => BreakerState::Closed { consecutive_failures: 0 },
            (BreakerState::Closed { consecutive_failures }, BatchOutcome::Failed) => {
                let failures = consecutive_failures.saturating_add(1);
                if failures >= self.config.open_after {
                    self.opened += 1;
                    BreakerState::Open {
                        next_trial: now + self.config.cooldown,
                        cooldown: self.config.cooldown,
                    }
                } else {
                    BreakerState::Closed { consecutive_failures: failures }
                }
            }
            (
                BreakerState::HalfOpen { cooldown } | BreakerState::Open { cooldown, .. },
                BatchOutcome::Failed,
            ) => {
                let next = cooldown.saturating_mul(2).min(self.config.max_cooldown);
                self.opened += 1;
                BreakerState::Open { next_trial: now + next, cooldown: next }
            }
        };
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_nanos(ms * 1_000_000)
    }

    #[test]
    fn opens_after_consecutive_failures_and_a_success_resets_the_count() {
        let mut b = Breaker::new(BreakerConfig { open_after: 3, ..BreakerConfig::default() });
        b.record(BatchOutcome::Failed, at(0));
        b.record(BatchOutcome::Failed, at(1));
        b.record(BatchOutcome::Delivered, at(2));
        b.record(BatchOutcome::Failed, at(3));
        b.record(BatchOutcome::Failed, at(4));
        assert_eq!(b.state(), BreakerState::Closed { consecutive_failures: 2 });
        b.record(BatchOutcome::Failed, at(5));
        assert!(matches!(b.state(), BreakerState::Open { .. }));
        assert_eq!(b.times_opened(), 1);
    }

    #[test]
    fn cooldown_doubles_up_to_the_cap_and_a_successful_trial_closes() {
        let config = BreakerConfig {
            open_after: 1,
            cooldown: Duration::from_millis(100),
            max_cooldown: Duration::from_millis(300),
        };
        let mut b = Breaker::new(config);
        b.record(BatchOutcome::Failed, at(0));
        assert_eq!(
            b.state(),
            BreakerState::Open { next_trial: at(100), cooldown: Duration::from_millis(100) }
        );
        assert_eq!(b.admit(at(99)), Admit::Skip);
        assert_eq!(b.admit(at(100)), Admit::Trial);
        assert_eq!(b.admit(at(100)), Admit::Skip, "one trial at a time");
        b.record(BatchOutcome::Failed, at(110));
        assert_eq!(
            b.state(),
            BreakerState::Open { next_trial: at(310), cooldown: Duration::from_millis(200) }
        );
        assert_eq!(b.admit(at(310)), Admit::Trial);
        b.record(BatchOutcome::Failed, at(310));
        assert_eq!(
            b.state(),
            BreakerState::Open { next_trial: at(610), cooldown: Duration::from_millis(300) }
        );
        assert_eq!(b.admit(at(610)), Admit::Trial);
        b.record(BatchOutcome::Failed, at(610));
        assert_eq!(
            b.state(),
            BreakerState::Open { next_trial: at(910), cooldown: Duration::from_millis(300) }
        );
        assert_eq!(b.admit(at(910)), Admit::Trial);
        b.record(BatchOutcome::Delivered, at(911));
        assert_eq!(b.state(), BreakerState::Closed { consecutive_failures: 0 });
        assert_eq!(b.admit(at(912)), Admit::Send);
        assert_eq!(b.times_opened(), 4);
    }
}
