//! Building and starting a telemetry.

use std::time::Duration;

use crate::consumer;
use crate::consumer::accounting::Lifecycle;
use crate::dispatch::{validate_options, CloseFlush, Dispatcher, ExporterOptions, SpawnFailed, SpawnFault};
use crate::error::StartError;
use crate::shared::Shared;
use crate::sync::{Arc, StdArc};
use crate::{
    Backpressure, BreakerConfig, Clock, Config, Event, Exporter, Granularity, SystemClock, Telemetry,
    TotalFailurePolicy,
};

/// Configures and starts a [`Telemetry`].
///
/// Setters and [`TelemetryBuilder::config`] write the same [`Config`]; a later
/// call overrides an earlier one, so call `config` first and fine-tune after.
/// Every `Config` field has a setter of the same name
/// (`on_total_failure` also takes the threshold).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::{Backpressure, Event, Granularity, Telemetry};
///
/// struct Tick;
/// impl Event for Tick { fn granularity(&self) -> Granularity { Granularity::Rows } }
///
/// let telemetry = Telemetry::<Tick>::builder()
///     .capacity(4096)
///     .batch_size(256)
///     .backpressure(Backpressure::BlockFor(Duration::from_millis(1)))
///     .granularity(Granularity::Full)
///     .start()
///     .expect("valid configuration");
/// assert_eq!(telemetry.health().capacity(), 4096);
///
/// let err = Telemetry::<Tick>::builder().capacity(0).start().unwrap_err();
/// assert!(err.to_string().contains("`capacity`"));
/// ```
#[must_use = "a builder does nothing until `start` is called"]
pub struct TelemetryBuilder<E> {
    config: Config,
    clock: Option<StdArc<dyn Clock>>,
    exporters: Vec<(Box<dyn Exporter<E>>, ExporterOptions)>,
}

impl<E> Default for TelemetryBuilder<E> {
    fn default() -> Self {
        TelemetryBuilder { config: Config::default(), clock: None, exporters: Vec::new() }
    }
}

impl<E: Event> std::fmt::Debug for TelemetryBuilder<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("exporters", &self.exporters.iter().map(|(e, _)| e.name().to_owned()).collect::<Vec<_>>())
            .finish()
    }
}

impl<E: Event> TelemetryBuilder<E> {
    /// Replaces every setting with `config`'s.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }
    /// Ring capacity in events.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.config.capacity = capacity;
        self
    }
    /// Most events per exporter call.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.config.batch_size = batch_size;
        self
    }
    /// Most batches handed to an exporter's worker at once (see
    /// [`DEFAULT_HANDOFF_BATCHES`](crate::DEFAULT_HANDOFF_BATCHES)).
    pub fn handoff_batches(mut self, handoff_batches: usize) -> Self {
        self.config.handoff_batches = handoff_batches;
        self
    }
    /// What `emit` does when the ring is full.
    pub fn backpressure(mut self, backpressure: Backpressure) -> Self {
        self.config.backpressure = backpressure;
        self
    }
    /// The most detailed granularity recorded.
    pub fn granularity(mut self, granularity: Granularity) -> Self {
        self.config.granularity = granularity;
        self
    }
    /// One drop warning per this many dropped events (see
    /// [`Config::drop_log_interval`](crate::Config::drop_log_interval) for
    /// when it is logged).
    pub fn drop_log_interval(mut self, interval: u64) -> Self {
        self.config.drop_log_interval = interval;
        self
    }
    /// Longest wait for room for a critical (lifecycle) event.
    pub fn critical_wait(mut self, wait: Duration) -> Self {
        self.config.critical_wait = wait;
        self
    }
    /// Deadline of the close that runs when the last handle drops.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.config.close_timeout = timeout;
        self
    }
    /// Shortest and longest consumer sleep while the ring is empty.
    pub fn consumer_idle(mut self, min: Duration, max: Duration) -> Self {
        self.config.consumer_idle_min = min;
        self.config.consumer_idle_max = max;
        self
    }
    /// Shortest consumer sleep while the ring is empty.
    pub fn consumer_idle_min(mut self, min: Duration) -> Self {
        self.config.consumer_idle_min = min;
        self
    }
    /// Longest consumer sleep while the ring stays empty; also bounds how
    /// stale the heartbeat is while the consumer is healthy.
    pub fn consumer_idle_max(mut self, max: Duration) -> Self {
        self.config.consumer_idle_max = max;
        self
    }
    /// Deadline for the consumer thread to report that it runs, in `start`.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.config.start_timeout = timeout;
        self
    }
    /// The clock for heartbeats, error times and timers (default: [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(StdArc::new(clock));
        self
    }
    /// Adds an exporter; every batch goes to every exporter, each on its own
    /// worker thread.
    pub fn exporter(self, exporter: impl Exporter<E>) -> Self {
        self.exporter_with(exporter, ExporterOptions::default())
    }
    /// Adds an exporter with its own breaker or export timeout.
    pub fn exporter_with(mut self, exporter: impl Exporter<E>, options: ExporterOptions) -> Self {
        self.exporters.push((Box::new(exporter), options));
        self
    }
    /// Adds an already boxed exporter.
    pub fn boxed_exporter(mut self, exporter: Box<dyn Exporter<E>>) -> Self {
        self.exporters.push((exporter, ExporterOptions::default()));
        self
    }
    /// How long one exporter call may run before the exporter counts as hung.
    pub fn export_timeout(mut self, timeout: Duration) -> Self {
        self.config.export_timeout = timeout;
        self
    }
    /// The circuit breaker of every exporter without its own.
    pub fn breaker(mut self, breaker: BreakerConfig) -> Self {
        self.config.breaker = breaker;
        self
    }
    /// What `threshold` consecutive all-failed batches do. `threshold` is in
    /// `1..=`[`MAX_COUNT_SETTING`](crate::MAX_COUNT_SETTING) (checked by
    /// `start`); the largest value means "never" in practice.
    pub fn on_total_failure(mut self, threshold: u64, policy: TotalFailurePolicy) -> Self {
        self.config.total_failure_threshold = threshold;
        self.config.on_total_failure = policy;
        self
    }
    /// Consecutive all-failed batches that trigger the total-failure policy
    /// (the policy stays as set; see [`TelemetryBuilder::on_total_failure`]).
    pub fn total_failure_threshold(mut self, threshold: u64) -> Self {
        self.config.total_failure_threshold = threshold;
        self
    }

    /// The configuration as it stands.
    pub fn current_config(&self) -> &Config {
        &self.config
    }

    /// Validates the configuration, allocates the ring, batch buffer and
    /// counters (C13), spawns the `ringtel-consumer` thread and returns once
    /// it runs (C8).
    ///
    /// # Errors
    /// [`StartError::InvalidConfig`] naming the bad field;
    /// [`StartError::Spawn`] if the thread cannot be spawned;
    /// [`StartError::NotReady`] / [`StartError::ConsumerFailed`] if it does
    /// not report running within `start_timeout`.
    pub fn start(self) -> Result<Telemetry<E>, StartError> {
        self.config.validate()?;
        for (_, options) in &self.exporters {
            validate_options(options)?;
        }
        let clock = self.clock.unwrap_or_else(|| StdArc::new(SystemClock::new()));
        let shared = Arc::new(Shared::new(&self.config, StdArc::clone(&clock)));
        let mut dispatcher = Dispatcher::new(&shared.config, clock, shared.id());
        for (exporter, options) in self.exporters {
            let id = shared.control_plane.roster.allocate_id();
            match dispatcher.add(id, exporter, options, SpawnFault::None) {
                Ok(stats) => shared.control_plane.roster.enlist(stats),
                Err(SpawnFailed { error: err, .. }) => {
                    // The exporters already added close (the one whose worker
                    // failed to spawn closed inline); wait for them up to the
                    // close timeout, so a failed start leaves nothing open.
                    let deadline = std::time::Instant::now() + shared.config.close_timeout;
                    dispatcher.close_all(CloseFlush::FlushFirst, || std::time::Instant::now() >= deadline);
                    return Err(StartError::Spawn(err));
                }
            }
        }
        consumer::spawn(Arc::clone(&shared), dispatcher).map_err(StartError::Spawn)?;
        // Broken twin for the loom suite: return without the handshake; the
        // caller may then run before the consumer ever has (C8).
        #[cfg(ringtel_broken = "start_no_handshake")]
        let started = Lifecycle::Running;
        #[cfg(not(ringtel_broken = "start_no_handshake"))]
        let started = shared.accounting.wait_started(shared.config.start_timeout);
        match started {
            Lifecycle::Running | Lifecycle::Stopped => Ok(Telemetry::from_shared(shared)),
            Lifecycle::Dead(message) => Err(StartError::ConsumerFailed { message }),
            Lifecycle::Starting => {
                // Make the late thread exit as soon as it starts.
                shared.begin_close();
                Err(StartError::NotReady { waited: shared.config.start_timeout })
            }
        }
    }
}
