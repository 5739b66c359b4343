//! What every peer shares: the event, the no-op exporter core (tally, gate,
//! slowness, thread placement), the consumer loops, and run settings.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ringtel::{Event, Granularity};

/// Ring / queue / channel capacity, the same for every peer (ringtel's default).
pub const CAPACITY: usize = ringtel::DEFAULT_CAPACITY;
/// Events per consumer batch when `RINGTEL_BENCH_BATCH` is not set:
/// ringtel's default, so that ringtel runs as a user's does.
pub const DEFAULT_BENCH_BATCH: usize = ringtel::DEFAULT_BATCH_SIZE;

/// Events per consumer batch, the same for every peer: `RINGTEL_BENCH_BATCH`,
/// else [`DEFAULT_BENCH_BATCH`].
pub fn batch() -> usize {
    static BATCH: OnceLock<usize> = OnceLock::new();
    *BATCH.get_or_init(|| match std::env::var("RINGTEL_BENCH_BATCH") {
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=ringtel::MAX_BATCH_SIZE).contains(&n) => n,
            _ => {
                panic!("RINGTEL_BENCH_BATCH={text:?}: expected an integer in 1..={}", ringtel::MAX_BATCH_SIZE)
            }
        },
        Err(_) => DEFAULT_BENCH_BATCH,
    })
}
/// Batches per hand-off to ringtel's exporter worker:
/// `RINGTEL_BENCH_HANDOFF`, else ringtel's default
/// ([`ringtel::DEFAULT_HANDOFF_BATCHES`]). `1` hands over batch by batch, as
/// ringtel did before the setting existed.
pub fn handoff() -> usize {
    static HANDOFF: OnceLock<usize> = OnceLock::new();
    *HANDOFF.get_or_init(|| match std::env::var("RINGTEL_BENCH_HANDOFF") {
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=ringtel::MAX_HANDOFF_BATCHES).contains(&n) => n,
            _ => panic!(
                "RINGTEL_BENCH_HANDOFF={text:?}: expected an integer in 1..={}",
                ringtel::MAX_HANDOFF_BATCHES
            ),
        },
        Err(_) => ringtel::DEFAULT_HANDOFF_BATCHES,
    })
}

/// The consumer idle policy of ringtel's defaults, reused by the consumers this
/// bench writes for queues that have no blocking receive (raw `ArrayQueue`, rtrb).
pub const IDLE_MIN: Duration = ringtel::DEFAULT_CONSUMER_IDLE_MIN;
pub const IDLE_MAX: Duration = ringtel::DEFAULT_CONSUMER_IDLE_MAX;

/// The CPU the measuring (producer) thread runs on.
pub const PRODUCER_CPU: usize = 0;
/// The CPU every consumer thread is moved to (on a 2-core machine: the other one).
pub const CONSUMER_CPU: usize = 1;

/// A 64-byte event, the size ringtel's `PipelineEvent` is held to: seven
/// payload words (timestamp, run, row, token, node, …) and a granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ev64 {
    pub words: [u64; 7],
    pub granularity: Granularity,
}

const _: () = assert!(std::mem::size_of::<Ev64>() == 64);

impl Event for Ev64 {
    fn granularity(&self) -> Granularity {
        self.granularity
    }
}

/// The event every peer is handed for emit number `i`.
#[inline(always)]
pub fn ev(i: u64) -> Ev64 {
    Ev64 { words: [i; 7], granularity: Granularity::Rows }
}

/// An event below the `Rows` granularity setting (filtered).
#[inline(always)]
pub fn ev_full(i: u64) -> Ev64 {
    Ev64 { words: [i; 7], granularity: Granularity::Full }
}

/// The same 64 bytes as a byte record (for `tracing-appender`'s writer).
#[inline(always)]
pub fn record_bytes(e: &Ev64) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (chunk, word) in out.chunks_exact_mut(8).zip(e.words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out[56] = e.granularity as u8;
    out
}

/// Moves the calling thread to `cpu`, if the machine has it. Returns whether
/// it did.
pub fn pin_current(cpu: usize) -> bool {
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    match ids.into_iter().find(|id| id.id == cpu) {
        Some(id) => core_affinity::set_for_current(id),
        None => false,
    }
}

/// Counts delivered events; the measuring thread waits on it (blocked, not
/// spinning, so it takes no CPU from producers and consumers).
#[derive(Debug, Default)]
pub struct Tally {
    delivered: AtomicU64,
    /// What the waiter waits for; `u64::MAX` when nobody waits.
    target: AtomicU64,
    lock: Mutex<()>,
    reached: Condvar,
}

impl Tally {
    pub fn new() -> Arc<Self> {
        Arc::new(Tally { target: AtomicU64::new(u64::MAX), ..Tally::default() })
    }

    /// Called by a consumer after exporting `n` events (once per batch).
    #[inline]
    pub fn add(&self, n: u64) {
        let now = self.delivered.fetch_add(n, Ordering::Relaxed) + n;
        if now >= self.target.load(Ordering::Relaxed) {
            let _guard = self.lock.lock().unwrap();
            self.reached.notify_all();
        }
    }

    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Blocks until `target` events were delivered in total.
    ///
    /// # Panics
    /// After a minute: a peer lost events or hung, and the numbers would lie.
    pub fn wait_for(&self, target: u64) {
        if self.delivered() >= target {
            return;
        }
        self.target.store(target, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut guard = self.lock.lock().unwrap();
        while self.delivered() < target {
            assert!(
                Instant::now() < deadline,
                "peer delivered {} of {target} events within a minute",
                self.delivered()
            );
            // A bounded wait: an `add` racing with the target store may miss it.
            guard = self.reached.wait_timeout(guard, Duration::from_millis(1)).unwrap().0;
        }
        drop(guard);
        self.target.store(u64::MAX, Ordering::SeqCst);
    }
}

/// Holds exporters while closed (to fill a queue for the drop path).
#[derive(Debug)]
pub struct Gate {
    open: AtomicBool,
    /// Exporter calls currently held by the closed gate.
    pub blocked: AtomicUsize,
    lock: Mutex<()>,
    changed: Condvar,
}

impl Gate {
    pub fn new() -> Arc<Self> {
        Arc::new(Gate {
            open: AtomicBool::new(true),
            blocked: AtomicUsize::new(0),
            lock: Mutex::new(()),
            changed: Condvar::new(),
        })
    }

    pub fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
    }

    pub fn open(&self) {
        let _guard = self.lock.lock().unwrap();
        self.open.store(true, Ordering::SeqCst);
        self.changed.notify_all();
    }

    /// Returns at once while open (one relaxed load); blocks while closed.
    #[inline]
    pub fn pass(&self) {
        if self.open.load(Ordering::Relaxed) {
            return;
        }
        self.blocked.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.lock.lock().unwrap();
        while !self.open.load(Ordering::SeqCst) {
            guard = self.changed.wait(guard).unwrap();
        }
        drop(guard);
        self.blocked.fetch_sub(1, Ordering::SeqCst);
    }

    /// Waits until a consumer is held at the gate.
    pub fn wait_blocked(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.blocked.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "the consumer never reached the gate");
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

/// What a peer's consumer and exporter are wired to.
#[derive(Debug, Clone)]
pub struct Hooks {
    pub tally: Arc<Tally>,
    pub gate: Arc<Gate>,
    /// Each export call sleeps this long (the "slow exporter"); 0 = no-op.
    pub slow_nanos: Arc<AtomicU64>,
    /// Where the consumer thread is moved on its first export.
    pub consumer_cpu: Option<usize>,
}

impl Hooks {
    pub fn new(consumer_cpu: Option<usize>) -> Self {
        Hooks {
            tally: Tally::new(),
            gate: Gate::new(),
            slow_nanos: Arc::new(AtomicU64::new(0)),
            consumer_cpu,
        }
    }

    pub fn set_slow(&self, slow: Duration) {
        self.slow_nanos.store(slow.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn core(&self) -> ExportCore {
        ExportCore { hooks: self.clone(), pinned: AtomicBool::new(false) }
    }
}

/// The no-op exporter work every peer does per export call, whatever the
/// peer's exporter interface: move the consumer thread to its CPU (once), pass
/// the gate, sleep if slow, look at the data, count it.
#[derive(Debug)]
pub struct ExportCore {
    hooks: Hooks,
    pinned: AtomicBool,
}

impl ExportCore {
    #[inline]
    pub fn export<T: ?Sized>(&self, data: &T, count: usize) {
        if !self.pinned.load(Ordering::Relaxed) {
            self.pinned.store(true, Ordering::Relaxed);
            if let Some(cpu) = self.hooks.consumer_cpu {
                pin_current(cpu);
            }
        }
        self.hooks.gate.pass();
        let slow = self.hooks.slow_nanos.load(Ordering::Relaxed);
        if slow > 0 {
            std::thread::sleep(Duration::from_nanos(slow));
        }
        black_box(data);
        self.hooks.tally.add(count as u64);
    }
}

/// The consumer's doorbell, as in ringtel (`src/consumer/doorbell.rs`): a sleep that a
/// drain request or a stalled producer can cut short.
#[derive(Debug, Default)]
pub struct Doorbell {
    rung: Mutex<bool>,
    condvar: Condvar,
}

impl Doorbell {
    pub fn ring(&self) {
        *self.rung.lock().unwrap() = true;
        self.condvar.notify_one();
    }

    /// Sleeps up to `timeout` unless rung since the last sleep; whether rung.
    pub fn sleep(&self, timeout: Duration) -> bool {
        let mut rung = self.rung.lock().unwrap();
        if !*rung {
            rung = self.condvar.wait_timeout(rung, timeout).unwrap().0;
        }
        std::mem::replace(&mut *rung, false)
    }
}

/// Control shared with a polling consumer.
#[derive(Debug, Default)]
pub struct PollControl {
    pub doorbell: Doorbell,
    pub stop: AtomicBool,
}

/// ringtel's consumer loop (`src/consumer/mod.rs` `step`/`drain`/`pace`), for a
/// queue with only a non-blocking pop: one batch of at most [`batch()`] events per pass;
/// no sleep after a full batch, `IDLE_MIN` after a partial one, doubling up to
/// `IDLE_MAX` while empty; the doorbell cuts a sleep short.
pub fn polling_consumer(
    mut pop: impl FnMut() -> Option<Ev64>,
    control: &PollControl,
    core: &ExportCore,
    cpu: Option<usize>,
) {
    if let Some(cpu) = cpu {
        pin_current(cpu);
    }
    let max = crate::common::batch();
    let mut batch: Vec<Ev64> = Vec::with_capacity(max);
    let mut idle = IDLE_MIN;
    loop {
        while batch.len() < max {
            match pop() {
                Some(e) => batch.push(e),
                None => break,
            }
        }
        let taken = batch.len();
        if taken > 0 {
            core.export(batch.as_slice(), taken);
            batch.clear();
        }
        if taken >= max {
            idle = IDLE_MIN;
            continue;
        }
        if control.stop.load(Ordering::Acquire) && taken == 0 {
            return;
        }
        let sleep = if taken > 0 { IDLE_MIN } else { idle };
        let rung = control.doorbell.sleep(sleep);
        idle = if taken > 0 || rung { IDLE_MIN } else { (idle * 2).min(IDLE_MAX) };
    }
}

/// The natural consumer of a channel: block for the first event, take what
/// else is there up to [`batch()`] events without blocking, export, repeat until every
/// sender is gone.
pub fn channel_consumer(
    mut recv: impl FnMut() -> Option<Ev64>,
    mut try_recv: impl FnMut() -> Option<Ev64>,
    core: &ExportCore,
    cpu: Option<usize>,
) {
    if let Some(cpu) = cpu {
        pin_current(cpu);
    }
    let max = crate::common::batch();
    let mut batch: Vec<Ev64> = Vec::with_capacity(max);
    while let Some(first) = recv() {
        batch.push(first);
        while batch.len() < max {
            match try_recv() {
                Some(e) => batch.push(e),
                None => break,
            }
        }
        core.export(batch.as_slice(), batch.len());
        batch.clear();
    }
}

/// Whether `RINGTEL_BENCH_QUICK` asks for the short run.
pub fn quick() -> bool {
    std::env::var("RINGTEL_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Whether the part named `part` of the run is skipped
/// (`RINGTEL_BENCH_SKIP=latency,instructions`).
pub fn skipped(part: &str) -> bool {
    std::env::var("RINGTEL_BENCH_SKIP").is_ok_and(|v| v.split(',').any(|p| p.trim() == part))
}
