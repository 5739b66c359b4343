//! Timing single operations with the TSC (x86_64; elsewhere a monotonic
//! clock in nanoseconds): the stamps, and their calibration against the wall
//! clock. Shared by `compare.rs`'s and `scale.rs`'s latency measures.

use std::time::{Duration, Instant};

/// TSC frequency and the cost of an empty timing pair.
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    pub ghz: f64,
    pub overhead_cycles: u32,
}

impl Calibration {
    pub fn measure() -> Self {
        let (t0, c0) = (Instant::now(), tsc_start());
        std::thread::sleep(Duration::from_millis(100));
        let (t1, c1) = (Instant::now(), tsc_end());
        let ghz = (c1 - c0) as f64 / (t1 - t0).as_nanos() as f64;
        let mut empty: Vec<u32> = (0..100_000)
            .map(|_| {
                let start = tsc_start();
                let end = tsc_end();
                end.wrapping_sub(start) as u32
            })
            .collect();
        empty.sort_unstable();
        Calibration { ghz, overhead_cycles: empty[empty.len() / 2] }
    }

    pub fn ns(&self, cycles: u32) -> f64 {
        f64::from(cycles.saturating_sub(self.overhead_cycles)) / self.ghz
    }
}

/// Reads the TSC after every earlier instruction completed (`lfence; rdtsc;
/// lfence`), so the emit cannot start before the stamp.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn tsc_start() -> u64 {
    use std::arch::x86_64::{_mm_lfence, _rdtsc};
    // SAFETY: `lfence` and `rdtsc` are available on every x86_64 CPU and have
    // no memory-safety preconditions.
    unsafe {
        _mm_lfence();
        let t = _rdtsc();
        _mm_lfence();
        t
    }
}

/// Reads the TSC after the emit completed (`rdtscp; lfence`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn tsc_end() -> u64 {
    use std::arch::x86_64::{__rdtscp, _mm_lfence};
    let mut aux = 0u32;
    // SAFETY: `rdtscp` exists on every x86_64 CPU this bench targets (it is
    // checked in /proc/cpuinfo as `rdtscp`); it writes only to `aux`.
    unsafe {
        let t = __rdtscp(&mut aux);
        _mm_lfence();
        t
    }
}

/// Elsewhere: nanoseconds since an arbitrary start, as "cycles" at 1 GHz.
#[cfg(not(target_arch = "x86_64"))]
pub fn tsc_start() -> u64 {
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[cfg(not(target_arch = "x86_64"))]
pub fn tsc_end() -> u64 {
    tsc_start()
}
