//! The one place ringtel imports synchronisation primitives from.
//!
//! Normally these are `std`'s. Under `--cfg loom` they are loom's, so the loom
//! models in `loom-tests/` explore every interleaving of the real protocol code
//! (tokio's `src/loom/` shim is the model for this module). No code that
//! loom builds may import `std::sync::atomic`, `std::sync::{Mutex, Condvar}`,
//! `std::thread` or a thread-local cell directly. The exceptions are outside
//! every modelled protocol and say so where they are: the producer-slot
//! lease (`producer/counters.rs`, not built under loom), and modules loom
//! builds leave out (`tracing/`, `encoding/serde_fields`, unit tests).

#[cfg(not(loom))]
mod imp {
    pub(crate) use arc_swap::ArcSwap;
    pub(crate) use atomic::Atomic;
    pub(crate) use std::cell::Cell;
    pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub(crate) use std::thread;
}

#[cfg(loom)]
mod imp {
    pub(crate) use super::model::{ArcSwap, Atomic};
    pub(crate) use loom::cell::Cell;
    pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub(crate) use loom::thread;
}

pub(crate) use imp::*;

/// Loom-visible stand-ins for `arc_swap::ArcSwap` and `atomic::Atomic`, as
/// `ring.rs` stands in for `ArrayQueue`: loom cannot see inside either
/// crate (their own correctness is their authors' to prove), so under
/// `cfg(loom)` the protocols around them run on these models.
///
/// `Atomic<T>` is a loom `AtomicU8` holding the enum's discriminant, with
/// every ordering passed through, so it synchronises exactly as much as the
/// real one (a byte-sized `atomic::Atomic` is an `AtomicU8` too). `ArcSwap`
/// is a loom mutex around the `Arc`: a load sees the latest store and
/// synchronises with it, as arc-swap's `load` (Acquire) does with `store`
/// (Release); what it adds (mutual exclusion) hides nothing, since the
/// protocols around it never rely on two stores being ordered by it.
#[cfg(loom)]
mod model {
    use std::marker::PhantomData;
    use std::sync::Arc;

    use bytemuck::{CheckedBitPattern, NoUninit};

    use super::{lock, Mutex, Ordering};

    pub(crate) struct ArcSwap<T> {
        current: Mutex<Arc<T>>,
    }

    impl<T> ArcSwap<T> {
        pub(crate) fn from_pointee(value: T) -> Self {
            ArcSwap { current: Mutex::new(Arc::new(value)) }
        }
        pub(crate) fn load_full(&self) -> Arc<T> {
            Arc::clone(&lock(&self.current))
        }
        pub(crate) fn store(&self, value: Arc<T>) {
            *lock(&self.current) = value;
        }
        pub(crate) fn swap(&self, value: Arc<T>) -> Arc<T> {
            std::mem::replace(&mut *lock(&self.current), value)
        }
    }

    impl<T> std::fmt::Debug for ArcSwap<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("ArcSwap")
        }
    }

    pub(crate) struct Atomic<T> {
        bits: loom::sync::atomic::AtomicU8,
        _value: PhantomData<T>,
    }

    impl<T: NoUninit + CheckedBitPattern> Atomic<T> {
        pub(crate) fn new(value: T) -> Self {
            Atomic { bits: loom::sync::atomic::AtomicU8::new(bytemuck::cast(value)), _value: PhantomData }
        }
        fn value(bits: u8) -> T {
            bytemuck::checked::cast(bits)
        }
        pub(crate) fn load(&self, order: Ordering) -> T {
            Self::value(self.bits.load(order))
        }
        // Only a broken twin stores without an exchange.
        #[allow(dead_code)]
        pub(crate) fn store(&self, value: T, order: Ordering) {
            self.bits.store(bytemuck::cast(value), order);
        }
        pub(crate) fn compare_exchange_weak(
            &self,
            current: T,
            new: T,
            success: Ordering,
            failure: Ordering,
        ) -> Result<T, T> {
            self.bits
                .compare_exchange_weak(bytemuck::cast(current), bytemuck::cast(new), success, failure)
                .map(Self::value)
                .map_err(Self::value)
        }
    }

    impl<T> std::fmt::Debug for Atomic<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Atomic")
        }
    }
}

/// A thread-local [`Cell`] with a constant initial value: std's `const`
/// thread-local normally (one TLS load, no lazy-initialisation check), loom's
/// under `cfg(loom)`, so that loom tracks it per modelled thread.
#[cfg(not(loom))]
macro_rules! thread_local_cell {
    ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
        std::thread_local! {
            $(#[$attr])* static $name: $crate::sync::Cell<$t> = const { $crate::sync::Cell::new($init) };
        }
    };
}

#[cfg(loom)]
macro_rules! thread_local_cell {
    ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
        loom::thread_local! {
            $(#[$attr])* static $name: $crate::sync::Cell<$t> = $crate::sync::Cell::new($init);
        }
    };
}

pub(crate) use thread_local_cell;

/// Blocks on `condvar` until notified or `timeout` elapses (or spuriously).
///
/// Under loom (same call, loom's types) a timed wait is an untimed one that
/// may also return spuriously; loom has no clock, and every waiter in ringtel
/// re-checks its condition in a loop, so the model stays faithful.
pub(crate) fn wait_timeout<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: std::time::Duration,
) -> MutexGuard<'a, T> {
    match condvar.wait_timeout(guard, timeout) {
        Ok((guard, _)) => guard,
        Err(poisoned) => poisoned.into_inner().0,
    }
}

/// Locks `mutex`, recovering the guard if a panicking thread poisoned it.
///
/// Every mutex in ringtel guards plain counters or flags whose invariants hold
/// between statements, so a poisoned lock still holds consistent data; giving
/// up on it would turn one panic into lost accounting.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Blocks on `condvar` until notified (or spuriously woken).
pub(crate) fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    match condvar.wait(guard) {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Shared ownership of immutable trait objects (the clock). Not part of any
/// synchronisation protocol, so `std`'s `Arc` under loom too (loom's `Arc`
/// cannot hold a `dyn` value).
pub(crate) use std::sync::Arc as StdArc;

/// Process-wide statics (the producer-slot allocator) use `std`'s mutex even
/// under loom: loom objects cannot outlive one model execution, and the slot
/// allocator is not part of any modelled protocol (under loom every producer
/// uses the shared overflow counters instead).
#[cfg(not(loom))]
pub(crate) use std::sync::Mutex as StaticMutex;
