//! A faithful Rust port of ELSPETH's locked `TelemetryManager` (its
//! telemetry manager and drop handling): the system ringtel replaces. Kept to its structure on purpose:
//!
//! - `PyQueue` is CPython's `queue.Queue`: one mutex, the condition variables
//!   `not_empty`, `not_full` and `all_tasks_done` on it, and an
//!   `unfinished_tasks` count. As in CPython's `threading.Condition`, `notify`
//!   does nothing when nobody waits (the port counts waiters under the mutex).
//! - `handle_event` checks shutdown, disabled, "no exporters", granularity and
//!   export-thread liveness on every call, then `put_nowait` (DROP) or `put`
//!   (BLOCK); a drop takes `_dropped_lock`, bumps the count and checks the
//!   log interval (100, hard-coded) under it.
//! - The export thread takes one event per `get`, calls every exporter with
//!   that one event, updates its metrics and calls `task_done`.
//!
//! What it does not port: Python's GIL and interpreter cost. Only the locking
//! design is compared, so the port is far faster than ELSPETH itself.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringtel::{Event, Granularity};

use crate::common::{pin_current, Ev64, ExportCore};

/// `queue.Full`.
#[derive(Debug)]
pub struct Full<T>(pub T);

struct QueueState<T> {
    items: VecDeque<T>,
    unfinished_tasks: u64,
    /// Threads waiting on each condition (CPython keeps a waiter list per
    /// `Condition`; `notify` with an empty list returns at once).
    not_empty_waiters: usize,
    not_full_waiters: usize,
    all_tasks_done_waiters: usize,
}

/// CPython's `queue.Queue(maxsize)`.
pub struct PyQueue<T> {
    mutex: Mutex<QueueState<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    all_tasks_done: Condvar,
    maxsize: usize,
}

impl<T> PyQueue<T> {
    pub fn new(maxsize: usize) -> Self {
        PyQueue {
            mutex: Mutex::new(QueueState {
                // CPython's deque grows in 64-slot blocks; preallocating keeps
                // the port from charging Rust's reallocation to the design.
                items: VecDeque::with_capacity(maxsize),
                unfinished_tasks: 0,
                not_empty_waiters: 0,
                not_full_waiters: 0,
                all_tasks_done_waiters: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            all_tasks_done: Condvar::new(),
            maxsize,
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState<T>> {
        self.mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `put(item, block, timeout)`.
    pub fn put(&self, item: T, block: bool, timeout: Option<Duration>) -> Result<(), Full<T>> {
        let mut state = self.lock();
        if self.maxsize > 0 {
            if !block {
                if state.items.len() >= self.maxsize {
                    return Err(Full(item));
                }
            } else {
                let deadline = timeout.map(|t| Instant::now() + t);
                while state.items.len() >= self.maxsize {
                    state.not_full_waiters += 1;
                    state = match deadline {
                        None => self.not_full.wait(state).unwrap(),
                        Some(deadline) => {
                            let now = Instant::now();
                            if now >= deadline {
                                state.not_full_waiters -= 1;
                                return Err(Full(item));
                            }
                            self.not_full.wait_timeout(state, deadline - now).unwrap().0
                        }
                    };
                    state.not_full_waiters = state.not_full_waiters.saturating_sub(1);
                }
            }
        }
        state.items.push_back(item);
        state.unfinished_tasks += 1;
        if state.not_empty_waiters > 0 {
            self.not_empty.notify_one();
        }
        Ok(())
    }

    /// `get()` (blocking, no timeout).
    pub fn get(&self) -> T {
        let mut state = self.lock();
        loop {
            if let Some(item) = state.items.pop_front() {
                if state.not_full_waiters > 0 {
                    self.not_full.notify_one();
                }
                return item;
            }
            state.not_empty_waiters += 1;
            state = self.not_empty.wait(state).unwrap();
            state.not_empty_waiters -= 1;
        }
    }

    /// `task_done()`.
    pub fn task_done(&self) {
        let mut state = self.lock();
        state.unfinished_tasks -= 1;
        if state.unfinished_tasks == 0 && state.all_tasks_done_waiters > 0 {
            self.all_tasks_done.notify_all();
        }
    }

    /// `join()`.
    pub fn join(&self) {
        let mut state = self.lock();
        while state.unfinished_tasks > 0 {
            state.all_tasks_done_waiters += 1;
            state = self.all_tasks_done.wait(state).unwrap();
            state.all_tasks_done_waiters -= 1;
        }
    }
}

/// `BackpressureMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Block,
    Drop,
}

/// `ExporterProtocol`: one event per call.
pub trait ElspethExporter: Send {
    fn name(&self) -> &str;
    fn export(&mut self, event: &Ev64) -> Result<(), String>;
}

/// The bench's no-op exporter in ELSPETH's per-event protocol.
pub struct NullElspethExporter(pub ExportCore);

impl ElspethExporter for NullElspethExporter {
    fn name(&self) -> &str {
        "null"
    }
    fn export(&mut self, event: &Ev64) -> Result<(), String> {
        self.0.export(event, 1);
        Ok(())
    }
}

struct DropState {
    events_dropped: u64,
    last_logged_drop_count: u64,
}

struct Inner {
    granularity: Granularity,
    mode: Mode,
    has_exporters: bool,
    shutdown_event: AtomicBool,
    disabled: AtomicBool,
    export_thread_alive: AtomicBool,
    queue: PyQueue<Option<Ev64>>,
    dropped_lock: Mutex<DropState>,
    /// Written by the export thread only (Python attributes).
    events_emitted: AtomicU64,
    consecutive_total_failures: AtomicU64,
}

/// `_LOG_INTERVAL`.
const LOG_INTERVAL: u64 = 100;
/// `_max_consecutive_failures`.
const MAX_CONSECUTIVE_FAILURES: u64 = 10;

/// `TelemetryManager`.
pub struct TelemetryManager {
    inner: Arc<Inner>,
    export_thread: Mutex<Option<JoinHandle<()>>>,
}

impl TelemetryManager {
    pub fn new(
        granularity: Granularity,
        mode: Mode,
        queue_size: usize,
        exporters: Vec<Box<dyn ElspethExporter>>,
        export_cpu: Option<usize>,
    ) -> Self {
        let inner = Arc::new(Inner {
            granularity,
            mode,
            has_exporters: !exporters.is_empty(),
            shutdown_event: AtomicBool::new(false),
            disabled: AtomicBool::new(false),
            export_thread_alive: AtomicBool::new(true),
            queue: PyQueue::new(queue_size),
            dropped_lock: Mutex::new(DropState { events_dropped: 0, last_logged_drop_count: 0 }),
            events_emitted: AtomicU64::new(0),
            consecutive_total_failures: AtomicU64::new(0),
        });
        let thread_inner = Arc::clone(&inner);
        let handle = std::thread::Builder::new()
            .name("telemetry-export".to_owned())
            .spawn(move || {
                if let Some(cpu) = export_cpu {
                    pin_current(cpu);
                }
                export_loop(&thread_inner, exporters);
                thread_inner.export_thread_alive.store(false, Ordering::Release);
            })
            .expect("spawn telemetry-export");
        TelemetryManager { inner, export_thread: Mutex::new(Some(handle)) }
    }

    /// `handle_event`. Returns whether the event was queued (the Python method
    /// returns `None`; the bench needs the outcome).
    #[inline]
    pub fn handle_event(&self, event: Ev64) -> bool {
        let inner = &*self.inner;
        // `self._shutdown_event.is_set()`
        if inner.shutdown_event.load(Ordering::Acquire) {
            return false;
        }
        if inner.disabled.load(Ordering::Relaxed) {
            return false;
        }
        if !inner.has_exporters {
            return false;
        }
        // `should_emit(event, self._config.granularity)`
        if !inner.granularity.admits(event.granularity()) {
            return false;
        }
        // `self._export_thread.is_alive()`
        if !inner.export_thread_alive.load(Ordering::Acquire) {
            inner.disabled.store(true, Ordering::Relaxed);
            return false;
        }
        match inner.mode {
            Mode::Drop => match inner.queue.put(Some(event), false, None) {
                Ok(()) => true,
                Err(Full(_)) => {
                    let mut dropped =
                        inner.dropped_lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    dropped.events_dropped += 1;
                    log_drops_if_needed(&mut dropped);
                    false
                }
            },
            Mode::Block => inner.queue.put(Some(event), true, None).is_ok(),
        }
    }

    /// `close()`: shutdown, join the queue, send the sentinel, join the thread.
    pub fn close(&self) {
        self.inner.shutdown_event.store(true, Ordering::Release);
        self.inner.queue.join();
        let _ = self.inner.queue.put(None, true, Some(Duration::from_secs(1)));
        if let Some(handle) = self.export_thread.lock().unwrap().take() {
            let _ = handle.join();
        }
    }

    pub fn events_emitted(&self) -> u64 {
        self.inner.events_emitted.load(Ordering::Relaxed)
    }
}

/// `_log_drops_if_needed`; called with `_dropped_lock` held.
fn log_drops_if_needed(state: &mut DropState) {
    if state.events_dropped - state.last_logged_drop_count >= LOG_INTERVAL {
        tracing::warn!(
            dropped_since_last_log = state.events_dropped - state.last_logged_drop_count,
            dropped_total = state.events_dropped,
            backpressure_mode = "drop",
            "Telemetry events dropped due to backpressure"
        );
        state.last_logged_drop_count = state.events_dropped;
    }
}

/// `_export_loop`.
fn export_loop(inner: &Inner, mut exporters: Vec<Box<dyn ElspethExporter>>) {
    let mut exporter_failures: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    loop {
        let Some(event) = inner.queue.get() else {
            inner.queue.task_done();
            break;
        };
        dispatch_to_exporters(inner, &mut exporters, &mut exporter_failures, &event);
        inner.queue.task_done();
    }
}

/// `_dispatch_to_exporters`.
fn dispatch_to_exporters(
    inner: &Inner,
    exporters: &mut [Box<dyn ElspethExporter>],
    exporter_failures: &mut std::collections::HashMap<String, u64>,
    event: &Ev64,
) {
    let mut failures = 0;
    for exporter in exporters.iter_mut() {
        if let Err(error) = exporter.export(event) {
            failures += 1;
            *exporter_failures.entry(exporter.name().to_owned()).or_insert(0) += 1;
            tracing::warn!(exporter = exporter.name(), %error, "Telemetry exporter failed");
        }
    }
    if failures == 0 {
        // `self._events_emitted += 1`: a plain increment by the only writer.
        let emitted = inner.events_emitted.load(Ordering::Relaxed);
        inner.events_emitted.store(emitted + 1, Ordering::Relaxed);
        inner.consecutive_total_failures.store(0, Ordering::Relaxed);
    } else if failures == exporters.len() {
        let consecutive = inner.consecutive_total_failures.fetch_add(1, Ordering::Relaxed) + 1;
        let mut dropped = inner.dropped_lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        dropped.events_dropped += 1;
        log_drops_if_needed(&mut dropped);
        drop(dropped);
        if consecutive >= MAX_CONSECUTIVE_FAILURES {
            inner.disabled.store(true, Ordering::Relaxed);
        }
    } else {
        inner.events_emitted.fetch_add(1, Ordering::Relaxed);
        inner.consecutive_total_failures.store(0, Ordering::Relaxed);
    }
}
