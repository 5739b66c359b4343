//! End-to-end throughput with 1, 2, 4 and 8 producers: ringtel, the raw
//! `ArrayQueue` and crossbeam-channel, interleaved round by round so that
//! every peer sees the same machine load. Each round, each producer emits
//! its share of `events` with a blocking emit; the time runs from the
//! producers' start barrier until the null exporter has been handed the
//! last event.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use ringtel::{Backpressure, ExportError, Exporter, Telemetry};
use serde_json::{json, Value};

use crate::common::{batch, channel_consumer, ev, polling_consumer, Ev64, ExportCore, Hooks, PollControl};

/// Producer counts measured.
pub const PRODUCERS: [usize; 4] = [1, 2, 4, 8];
/// Every peer's bound: ringtel's default capacity.
pub const BOUND: usize = ringtel::DEFAULT_CAPACITY;

/// The null exporter for ringtel.
pub struct Null(pub ExportCore);

impl Exporter<Ev64> for Null {
    fn name(&self) -> &str {
        "null"
    }
    fn export(&mut self, batch: &[Ev64]) -> Result<(), ExportError> {
        self.0.export(batch, batch.len());
        Ok(())
    }
}

/// One peer, started once for the whole part.
enum Peer {
    Ringtel(Telemetry<Ev64>),
    Raw(Arc<ArrayQueue<Ev64>>, Arc<PollControl>, Option<JoinHandle<()>>),
    Crossbeam(Option<crossbeam_channel::Sender<Ev64>>, Option<JoinHandle<()>>),
}

/// A producer's handle.
enum Tx {
    Ringtel(Telemetry<Ev64>),
    Raw(Arc<ArrayQueue<Ev64>>, Arc<PollControl>),
    Crossbeam(crossbeam_channel::Sender<Ev64>),
}

const NAMES: [&str; 3] = ["ringtel", "raw ArrayQueue", "crossbeam-channel"];

impl Peer {
    fn start(which: usize, hooks: &Hooks) -> Peer {
        match which {
            0 => Peer::Ringtel(
                // The defaults (capacity, batch, idle policy, timeouts), but
                // `Block`: every event must arrive, as with `send`.
                Telemetry::builder()
                    .backpressure(Backpressure::Block)
                    .exporter(Null(hooks.core()))
                    .start()
                    .expect("ringtel starts"),
            ),
            1 => {
                let queue = Arc::new(ArrayQueue::new(BOUND));
                let control = Arc::new(PollControl::default());
                let (q, c, core) = (Arc::clone(&queue), Arc::clone(&control), hooks.core());
                let consumer = std::thread::spawn(move || polling_consumer(|| q.pop(), &c, &core, None));
                Peer::Raw(queue, control, Some(consumer))
            }
            _ => {
                let (tx, rx) = crossbeam_channel::bounded(BOUND);
                let core = hooks.core();
                let consumer = std::thread::spawn(move || {
                    channel_consumer(|| rx.recv().ok(), || rx.try_recv().ok(), &core, None)
                });
                Peer::Crossbeam(Some(tx), Some(consumer))
            }
        }
    }

    fn producer(&self) -> Tx {
        match self {
            Peer::Ringtel(t) => Tx::Ringtel(t.clone()),
            Peer::Raw(q, c, _) => Tx::Raw(Arc::clone(q), Arc::clone(c)),
            Peer::Crossbeam(tx, _) => Tx::Crossbeam(tx.as_ref().expect("running").clone()),
        }
    }

    fn finish(self) {
        match self {
            Peer::Ringtel(t) => {
                let report = t.close(Duration::from_secs(60)).expect("ringtel closes");
                assert!(report.health().is_conserved(), "ringtel conserved every event");
            }
            Peer::Raw(_, control, consumer) => {
                control.stop.store(true, Ordering::Release);
                control.doorbell.ring();
                if let Some(c) = consumer {
                    c.join().unwrap();
                }
            }
            Peer::Crossbeam(tx, consumer) => {
                drop(tx);
                if let Some(c) = consumer {
                    c.join().unwrap();
                }
            }
        }
    }
}

impl Tx {
    #[inline(always)]
    fn emit(&self, event: Ev64) {
        match self {
            Tx::Ringtel(t) => {
                let _ = t.emit(event);
            }
            Tx::Raw(queue, control) => {
                if let Err(back) = queue.push(event) {
                    spin_until_pushed(queue, back, control);
                }
            }
            Tx::Crossbeam(tx) => tx.send(event).expect("consumer alive"),
        }
    }
}

/// A full raw queue: wake the consumer once (as ringtel's blocked producer
/// does), then back off, spinning then yielding.
#[cold]
fn spin_until_pushed(queue: &ArrayQueue<Ev64>, mut event: Ev64, control: &PollControl) {
    control.doorbell.ring();
    let backoff = crossbeam_utils::Backoff::new();
    loop {
        backoff.snooze();
        match queue.push(event) {
            Ok(()) => return,
            Err(back) => event = back,
        }
    }
}

/// One timed round: `producers` threads emit `events` in all; returns the
/// seconds from their start to the last delivery.
fn round(peer: &Peer, hooks: &Hooks, producers: usize, events: u64) -> f64 {
    let per = events / producers as u64;
    let start = Arc::new(Barrier::new(producers + 1));
    let before = hooks.tally.delivered();
    let threads: Vec<_> = (0..producers)
        .map(|p| {
            let (tx, start) = (peer.producer(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let base = p as u64 * per;
                for i in 0..per {
                    tx.emit(ev(base + i));
                }
            })
        })
        .collect();
    start.wait();
    let t0 = Instant::now();
    for thread in threads {
        thread.join().unwrap();
    }
    match peer {
        // The last partial batch would wait for the consumer's idle timer;
        // flushing once the producers are done is what a user who waits
        // for delivery does (the raw queue's consumer gets its doorbell).
        Peer::Ringtel(t) => {
            let _ = t.flush(Duration::from_secs(60));
        }
        Peer::Raw(_, control, _) => control.doorbell.ring(),
        Peer::Crossbeam(..) => {}
    }
    hooks.tally.wait_for(before + per * producers as u64);
    t0.elapsed().as_secs_f64()
}

/// Runs the part; returns its JSON.
pub fn run(quick: bool) -> Value {
    let (events, rounds): (u64, usize) = if quick { (1 << 19, 3) } else { (1 << 21, 5) };
    eprintln!(
        "throughput: {events} events per round, {rounds} rounds, batch {}, bound {BOUND}, load {}",
        batch(),
        crate::loadavg()
    );
    let hooks: Vec<Hooks> = (0..NAMES.len()).map(|_| Hooks::new(None)).collect();
    let peers: Vec<Peer> = (0..NAMES.len()).map(|k| Peer::start(k, &hooks[k])).collect();
    // ns per event, [peer][producers index][round]
    let mut ns = vec![vec![Vec::new(); PRODUCERS.len()]; NAMES.len()];
    for k in 0..NAMES.len() {
        round(&peers[k], &hooks[k], 2, events / 4); // warm-up
    }
    for _ in 0..rounds {
        for (pi, &producers) in PRODUCERS.iter().enumerate() {
            for k in 0..NAMES.len() {
                let secs = round(&peers[k], &hooks[k], producers, events);
                ns[k][pi].push(secs * 1e9 / (events / producers as u64 * producers as u64) as f64);
            }
        }
    }
    for peer in peers {
        peer.finish();
    }
    let mut out = Vec::new();
    eprintln!("  {:<5} {:>26} {:>26} {:>26} {:>12}", "prod", NAMES[0], NAMES[1], NAMES[2], "ringtel/cb");
    for (pi, &producers) in PRODUCERS.iter().enumerate() {
        let cell = |k: usize| {
            let (med, lo, hi) = median_range(&ns[k][pi]);
            (med, lo, hi, format!("{med:.1} [{lo:.1}-{hi:.1}] ns"))
        };
        let (r, c, x) = (cell(0), cell(1), cell(2));
        // Speedup over crossbeam-channel, per round (same load), then median.
        let per_round: Vec<f64> = ns[2][pi].iter().zip(&ns[0][pi]).map(|(cb, rt)| cb / rt).collect();
        let (speedup, s_lo, s_hi) = median_range(&per_round);
        eprintln!(
            "  {producers:<5} {:>26} {:>26} {:>26} {speedup:>6.2}x [{s_lo:.2}-{s_hi:.2}]",
            r.3, c.3, x.3
        );
        out.push(json!({
            "producers": producers,
            "ns_per_event": { NAMES[0]: ns[0][pi], NAMES[1]: ns[1][pi], NAMES[2]: ns[2][pi] },
            "median_ns": { NAMES[0]: r.0, NAMES[1]: c.0, NAMES[2]: x.0 },
            "speedup_vs_crossbeam_per_round": per_round,
            "speedup_vs_crossbeam_median": speedup,
        }));
    }
    eprintln!(
        "  (speedup = crossbeam ns / ringtel ns per round, then the median; load now {})",
        crate::loadavg()
    );
    json!({ "events_per_round": events, "rounds": rounds, "bound": BOUND, "batch": batch(),
            "ringtel": "defaults, Backpressure::Block", "pinning": "none", "by_producers": out })
}

/// Median, min and max.
pub fn median_range(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => (f64::NAN, f64::NAN, f64::NAN),
        n => (v[n / 2], v[0], v[n - 1]),
    }
}
