//! What became of an emitted event, and why events are dropped.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What `emit` did with an event.
///
/// `Queued` means the event entered the ring; it is then either delivered or
/// counted later under a [`DropReason`] (`Overwritten`, `ExportFailed`,
/// `ShutdownTimeout`, `Closed`, `ConsumerDead`), never lost silently.
#[must_use = "an event may have been dropped; check or count the outcome"]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Emitted {
    /// The event is in the ring.
    Queued,
    /// The event was below the granularity setting and was not recorded.
    Filtered,
    /// The event was dropped, and counted under this reason.
    Dropped(DropReason),
}

impl Emitted {
    /// Whether the event entered the ring.
    pub fn is_queued(self) -> bool {
        self == Emitted::Queued
    }
}

/// Why an event was dropped. Each has its own counter in [`Health`](crate::Health).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The ring was full (policy `Drop`, or `BlockFor` ran out of time).
    QueueFull,
    /// Evicted from a full ring by a newer event (policy `DropOldest`).
    Overwritten,
    /// Emitted after `close` began, or left in the ring after it finished.
    Closed,
    /// Emitted while admission was disabled.
    Disabled,
    /// Every exporter failed on (or skipped) the batch that held the event.
    ExportFailed,
    /// Still queued or in flight when the close deadline passed.
    ShutdownTimeout,
    /// The consumer thread had died.
    ConsumerDead,
    /// Raised on one of ringtel's own threads (an exporter's HTTP or Redis
    /// client logging through `tracing`), or by ringtel while it was already
    /// handling a record on this thread: never fed back into the ring, so an
    /// exporter's own logs can neither recurse nor deadlock. Counted by the
    /// `tracing` and `log` integrations (feature `tracing`). The only reason
    /// the drop warnings never count: they are what raises most of these.
    OwnThread,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 8] = [
        DropReason::QueueFull,
        DropReason::Overwritten,
        DropReason::Closed,
        DropReason::Disabled,
        DropReason::ExportFailed,
        DropReason::ShutdownTimeout,
        DropReason::ConsumerDead,
        DropReason::OwnThread,
    ];

    /// The number of reasons.
    pub const COUNT: usize = Self::ALL.len();

    /// A stable snake_case name, as used in JSON and metrics labels.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(ringtel::DropReason::QueueFull.as_str(), "queue_full");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Overwritten => "overwritten",
            DropReason::Closed => "closed",
            DropReason::Disabled => "disabled",
            DropReason::ExportFailed => "export_failed",
            DropReason::ShutdownTimeout => "shutdown_timeout",
            DropReason::ConsumerDead => "consumer_dead",
            DropReason::OwnThread => "own_thread",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
