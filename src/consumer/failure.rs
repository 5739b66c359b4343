//! What happens when every exporter keeps failing (C9): the total-failure
//! policy and the sticky error it can raise.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::dispatch::BatchOutcome;

/// What to do after `total_failure_threshold` consecutive batches in which
/// every exporter failed or was skipped.
///
/// # Examples
/// ```
/// use ringtel::TotalFailurePolicy;
/// let p: TotalFailurePolicy = serde_json::from_str("\"fail\"").unwrap();
/// assert_eq!(p, TotalFailurePolicy::Fail);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TotalFailurePolicy {
    /// Log an error once per streak and keep going; events count `ExportFailed`.
    Continue,
    /// Stop admitting: later emits return `Dropped(Disabled)`.
    Disable,
    /// Raise a sticky [`TotalFailure`] that `flush`, `close` and `health`
    /// report until an export succeeds again (reading it never clears it).
    Fail,
}

/// Every exporter failed or was skipped for `consecutive_batches` batches in
/// a row, starting at `since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TotalFailure {
    /// When the streak began (telemetry clock).
    pub since: Timestamp,
    /// Length of the streak when the policy fired.
    pub consecutive_batches: u64,
}

impl std::error::Error for TotalFailure {}

impl fmt::Display for TotalFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "every exporter failed or was skipped for {} consecutive batches since {}",
            self.consecutive_batches, self.since
        )
    }
}

/// The consumer's streak counter.
#[derive(Debug, Default)]
pub(crate) struct FailureStreak {
    length: u64,
    since: Option<Timestamp>,
    fired: bool,
}

/// What the consumer must do after recording a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreakEvent {
    /// Nothing changed.
    None,
    /// The streak just reached the threshold.
    Reached(TotalFailure),
    /// An export succeeded after a fired streak: clear the sticky error.
    Recovered,
}

impl FailureStreak {
    /// Records one batch's outcome.
    pub(crate) fn record(&mut self, outcome: BatchOutcome, now: Timestamp, threshold: u64) -> StreakEvent {
        if outcome == BatchOutcome::Delivered {
            let fired = self.fired;
            *self = FailureStreak::default();
            return if fired { StreakEvent::Recovered } else { StreakEvent::None };
        }
        self.length += 1;
        let since = *self.since.get_or_insert(now);
        if self.length >= threshold && !self.fired {
            self.fired = true;
            return StreakEvent::Reached(TotalFailure { since, consecutive_batches: self.length });
        }
        StreakEvent::None
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fires_once_per_streak_and_recovers_on_success() {
        let mut s = FailureStreak::default();
        let t = |n| Timestamp::from_nanos(n);
        assert_eq!(s.record(BatchOutcome::Failed, t(1), 3), StreakEvent::None);
        assert_eq!(s.record(BatchOutcome::Failed, t(2), 3), StreakEvent::None);
        assert_eq!(
            s.record(BatchOutcome::Failed, t(3), 3),
            StreakEvent::Reached(TotalFailure { since: t(1), consecutive_batches: 3 })
        );
        assert_eq!(s.record(BatchOutcome::Failed, t(4), 3), StreakEvent::None);
        assert_eq!(s.record(BatchOutcome::Delivered, t(5), 3), StreakEvent::Recovered);
        assert_eq!(s.record(BatchOutcome::Delivered, t(6), 3), StreakEvent::None);
        assert_eq!(s.record(BatchOutcome::Failed, t(7), 3), StreakEvent::None);
    }
}
