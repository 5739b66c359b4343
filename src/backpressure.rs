//! What `emit` does when the ring is full.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The policy `emit` follows when the ring is full.
///
/// In serialized configuration: `"block"`, `"drop"`, `"drop-oldest"`, or
/// `{ block-for = "5ms" }` (TOML) / `{"block-for": "5ms"}` (JSON).
///
/// Whatever the policy, [`Granularity::Lifecycle`](crate::Granularity) events
/// are never dropped for a full ring in `Drop` or `DropOldest`: they wait for
/// room, at most `critical_wait`. On a thread ringtel owns (the consumer), a
/// blocking policy degrades to `Drop`, so an exporter that emits into its own
/// telemetry cannot deadlock it.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::Backpressure;
/// let policy: Backpressure = serde_json::from_str(r#"{"block-for":"5ms"}"#).unwrap();
/// assert_eq!(policy, Backpressure::BlockFor(Duration::from_millis(5)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backpressure {
    /// Wait for room, however long it takes (parking, not spinning). Lossless.
    Block,
    /// Wait for room at most this long, then drop the event as `QueueFull`.
    BlockFor(#[serde(with = "humantime_serde")] Duration),
    /// Drop the new event as `QueueFull`; the producer never waits.
    Drop,
    /// Evict the oldest queued event (counted `Overwritten`) to make room.
    DropOldest,
}

impl Backpressure {
    /// The longest `BlockFor` wait that fits ringtel's packed control word
    /// (2^55 ns, about 1.1 years).
    pub const MAX_BLOCK_FOR: Duration = Duration::from_nanos((1 << 55) - 1);
}
