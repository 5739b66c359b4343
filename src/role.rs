//! Which threads ringtel owns, so that re-entrant calls from an exporter
//! (emit with `Block`, `flush`, `close` on its own telemetry) degrade or fail
//! fast instead of deadlocking (C2; log4j2 issue 2893 is this deadlock).

crate::sync::thread_local_cell! {
    /// The address of the telemetry whose consumer runs on this thread, or 0.
    static OWNER: usize = 0;
}

/// Marks the current thread as the consumer of the telemetry at `owner`.
pub(crate) fn enter_consumer(owner: usize) {
    OWNER.with(|o| o.set(owner));
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
