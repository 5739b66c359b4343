//! The small enums events carry: statuses, outcomes, decisions.

use serde::{Deserialize, Serialize};

use super::NameId;

macro_rules! names {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// A stable snake_case name, as written by the JSON Lines exporter.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant { .. } => $name),*
                }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every row was processed.
    Completed,
    /// The run stopped on an error.
    Failed,
    /// The run was stopped from outside (a signal, a user).
    Interrupted,
}
names!(RunStatus { Completed => "completed", Failed => "failed", Interrupted => "interrupted" });

/// A phase of a run, as announced by `PhaseChanged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Loading and validating configuration.
    Config,
    /// Building and checking the execution graph.
    Graph,
    /// Opening the source.
    Source,
    /// Processing rows.
    Process,
    /// Writing and flushing sinks.
    Sink,
    /// Exporting the audit trail.
    Export,
}
names!(Phase {
    Config => "config",
    Graph => "graph",
    Source => "source",
    Process => "process",
    Sink => "sink",
    Export => "export",
});

/// What a transform did with a token.
///
/// # Examples
/// ```
/// use ringtel::pipeline::{Names, TransformOutcome};
/// let names = Names::new();
/// let failed = TransformOutcome::Failed { error: names.intern("rate_limited") };
/// assert_eq!(failed.as_str(), "failed");
/// assert_eq!(TransformOutcome::Succeeded.to_string(), "succeeded");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransformOutcome {
    /// The transform produced its output.
    Succeeded,
    /// The transform failed with an error of this (interned) kind.
    Failed {
        /// The error kind, e.g. `"timeout"` or `"schema_violation"`.
        error: NameId,
    },
}
names!(TransformOutcome { Succeeded => "succeeded", Failed => "failed" });

/// What a gate decided for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GateDecision {
    /// The token continues down the default path.
    Continue,
    /// The token leaves on a named route.
    Route {
        /// The route (interned).
        route: NameId,
    },
    /// The token is copied onto several branches.
    Fork {
        /// How many branches.
        branches: u16,
    },
    /// The token is dropped by design (a filter).
    Discard,
}
names!(GateDecision { Continue => "continue", Route => "route", Fork => "fork", Discard => "discard" });

/// How a token's journey ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenOutcome {
    /// Written to its default sink.
    Completed,
    /// Written to a sink chosen by a gate's route.
    Routed,
    /// Split into child tokens, which complete on their own.
    Forked,
    /// Failed in a transform.
    Failed,
    /// Set aside as invalid input.
    Quarantined,
    /// Dropped by a gate, by design.
    Discarded,
}
names!(TokenOutcome {
    Completed => "completed",
    Routed => "routed",
    Forked => "forked",
    Failed => "failed",
    Quarantined => "quarantined",
    Discarded => "discarded",
});

/// The kind of an external call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// An HTTP request.
    Http,
    /// A call to a language model.
    Llm,
    /// A SQL query.
    Sql,
}
names!(CallKind { Http => "http", Llm => "llm", Sql => "sql" });

/// How an external call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// The peer answered successfully.
    Ok,
    /// The peer answered with an error, or the connection failed.
    Failed,
    /// No answer in time.
    TimedOut,
}
names!(CallStatus { Ok => "ok", Failed => "failed", TimedOut => "timed_out" });

/// What an external call moved: model tokens, bytes, or nothing worth
/// counting. Counts saturate at `u32::MAX`.
///
/// # Examples
/// ```
/// use ringtel::pipeline::CallVolume;
/// assert_eq!(CallVolume::bytes(10, u64::MAX), CallVolume::Bytes { sent: 10, received: u32::MAX });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallVolume {
    /// Nothing counted.
    None,
    /// Language-model tokens.
    Tokens {
        /// Prompt (input) tokens.
        prompt: u32,
        /// Completion (output) tokens.
        completion: u32,
    },
    /// Bytes on the wire.
    Bytes {
        /// Bytes sent.
        sent: u32,
        /// Bytes received.
        received: u32,
    },
}

impl CallVolume {
    /// A byte count, saturating each side at `u32::MAX`.
    pub fn bytes(sent: u64, received: u64) -> CallVolume {
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        CallVolume::Bytes { sent: clamp(sent), received: clamp(received) }
    }
}

/// A row's final outcome, as a [`ProgressTicker`](super::ProgressTicker)
/// counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowOutcome {
    /// Written to a sink.
    Succeeded,
    /// Failed in a transform.
    Failed,
    /// Set aside as invalid input.
    Quarantined,
    /// Processed but neither of the above (discarded by a gate, say).
    Other,
}

impl From<TokenOutcome> for RowOutcome {
    fn from(outcome: TokenOutcome) -> RowOutcome {
        match outcome {
            TokenOutcome::Completed | TokenOutcome::Routed => RowOutcome::Succeeded,
            TokenOutcome::Failed => RowOutcome::Failed,
            TokenOutcome::Quarantined => RowOutcome::Quarantined,
            TokenOutcome::Forked | TokenOutcome::Discarded => RowOutcome::Other,
        }
    }
}

/// Row counts carried by a `Progress` event.
///
/// `processed` counts every row; the others count rows by outcome, so
/// `succeeded + failed + quarantined <= processed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RowCounts {
    /// Rows processed, whatever their outcome.
    pub processed: u64,
    /// Rows written to a sink.
    pub succeeded: u64,
    /// Rows that failed.
    pub failed: u64,
    /// Rows quarantined.
    pub quarantined: u64,
}

impl RowCounts {
    /// Counts one row with `outcome`.
    ///
    /// # Examples
    /// ```
    /// use ringtel::pipeline::{RowCounts, RowOutcome};
    /// let mut counts = RowCounts::default();
    /// counts.record(RowOutcome::Succeeded);
    /// counts.record(RowOutcome::Other);
    /// assert_eq!((counts.processed, counts.succeeded), (2, 1));
    /// ```
    pub fn record(&mut self, outcome: RowOutcome) {
        self.processed += 1;
        match outcome {
            RowOutcome::Succeeded => self.succeeded += 1,
            RowOutcome::Failed => self.failed += 1,
            RowOutcome::Quarantined => self.quarantined += 1,
            RowOutcome::Other => {}
        }
    }
}
