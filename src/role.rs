//! Which threads ringtel owns, so that re-entrant calls from an exporter
//! (emit with `Block`, `flush`, `close` on its own telemetry) degrade or fail
//! fast instead of deadlocking (C2; log4j2 issue 2893 is this deadlock).

crate::sync::thread_local_cell! {
    /// The address of the telemetry whose consumer runs on this thread, or 0.
    static OWNER: usize = 0;
}

/// What a ringtel thread that serves no telemetry records as its owner (a
/// heartbeat publisher, the metrics server). Never a telemetry's address: a
/// telemetry's id is the address of an `Arc` allocation, aligned to at least
/// a word, and this value is odd.
const NO_TELEMETRY: usize = usize::MAX;

/// Marks the current thread as the consumer of the telemetry at `owner`.
pub(crate) fn enter_consumer(owner: usize) {
    debug_assert_ne!(owner, NO_TELEMETRY);
    OWNER.with(|o| o.set(owner));
}

/// Marks the current thread as ringtel's own without tying it to a
/// telemetry: its `tracing` events are counted `OwnThread` and never enter a
/// ring, and a `Block` emit from it degrades to `Drop` (C2), but it is no
/// telemetry's consumer, so `flush` and `close` work from it.
#[cfg_attr(not(any(feature = "prometheus", feature = "redis")), allow(dead_code))]
pub(crate) fn enter_service_thread() {
    OWNER.with(|o| o.set(NO_TELEMETRY));
}

/// Whether the current thread is any ringtel consumer.
#[inline]
pub(crate) fn on_ringtel_thread() -> bool {
    OWNER.try_with(|o| o.get() != 0).unwrap_or(false)
}

/// Whether the current thread is the consumer of the telemetry at `owner`.
pub(crate) fn on_consumer_of(owner: usize) -> bool {
    OWNER.try_with(|o| o.get() == owner).unwrap_or(false)
}
