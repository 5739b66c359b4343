//! Configuration: every default and every accepted range in one place.
//!
//! [`Config`] is what the builder holds and what TOML or JSON files
//! deserialize into; the two are equivalent. [`Config::validate`] checks every
//! field against its documented range and names the first bad one.

use crate::sync::StdArc;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod error;
mod locate;

pub use error::{ConfigError, ConfigLoadError, ConfigParseError};
pub use locate::Location;
use locate::{json, toml_key_at, toml_key_location};

use crate::{Backpressure, BreakerConfig, Granularity, TotalFailurePolicy};

/// Default ring capacity, in events. 64 Ki events of 64 bytes is 4 MiB, enough
/// to absorb a burst of several milliseconds at tens of millions of events/s.
pub const DEFAULT_CAPACITY: usize = 65_536;
/// Largest accepted ring capacity (2^26 events); the ring is allocated at start.
pub const MAX_CAPACITY: usize = 1 << 26;
/// Default number of events the consumer hands to exporters at once: the
/// OpenTelemetry SDK's `maxExportBatchSize`, which keeps an OTLP request well
/// under common 1 MiB body limits.
///
/// Batches are handed to every exporter's own thread (so a hung exporter
/// cannot stall the producers), which costs a few microseconds per
/// hand-off; under load, [`DEFAULT_HANDOFF_BATCHES`] batches share one. The
/// consumer keeps `exporters + 1` parcels of `handoff_batches` buffers of
/// this many events.
pub const DEFAULT_BATCH_SIZE: usize = 512;
/// Largest accepted batch size; the batch buffer is allocated at start.
pub const MAX_BATCH_SIZE: usize = 1 << 20;
/// Default number of batches the consumer hands an exporter's worker at
/// once, when that many are waiting in the ring.
///
/// Each hand-off wakes the worker's thread, which costs a few microseconds;
/// under load, four batches of 512 events share one wake-up, while the
/// exporter still gets one call per batch of at most `batch_size` events.
/// When fewer events wait, the consumer hands what there is at once, so a
/// quiet pipeline gains no latency.
pub const DEFAULT_HANDOFF_BATCHES: usize = 4;
/// Largest accepted number of batches per hand-off.
pub const MAX_HANDOFF_BATCHES: usize = 16;
/// Default policy for a full ring: drop the new event, counted, and never make
/// the producer wait.
pub const DEFAULT_BACKPRESSURE: Backpressure = Backpressure::Drop;
/// Default granularity: lifecycle and per-row events.
pub const DEFAULT_GRANULARITY: Granularity = Granularity::Rows;
/// Default drop-log interval: one warning per this many dropped events.
pub const DEFAULT_DROP_LOG_INTERVAL: u64 = 1_000;
/// Default longest wait for room for a critical (lifecycle) event.
pub const DEFAULT_CRITICAL_WAIT: Duration = Duration::from_millis(100);
/// Default deadline for the close that runs when the last handle is dropped.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default shortest consumer sleep when the ring is empty.
pub const DEFAULT_CONSUMER_IDLE_MIN: Duration = Duration::from_micros(50);
/// Default longest consumer sleep when the ring stays empty; also bounds how
/// stale the heartbeat in `Health` can be while the consumer is healthy.
pub const DEFAULT_CONSUMER_IDLE_MAX: Duration = Duration::from_millis(5);
/// Default deadline for the consumer thread to signal that it runs.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time an exporter call may run before the exporter counts as hung.
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default length of an all-exporters-failed streak that triggers the policy.
pub const DEFAULT_TOTAL_FAILURE_THRESHOLD: u64 = 10;
/// Default policy for a total-failure streak: keep going, loudly.
pub const DEFAULT_ON_TOTAL_FAILURE: TotalFailurePolicy = TotalFailurePolicy::Continue;
/// Longest accepted duration for any timeout or wait setting.
pub const MAX_DURATION_SETTING: Duration = Duration::from_secs(3_600);
/// Largest `drop_log_interval` and `total_failure_threshold`: `i64::MAX`,
/// so that every valid config can be written as TOML, whose integers are
/// signed 64-bit (found by fuzzing; see `fuzz/README.md`).
pub const MAX_COUNT_SETTING: u64 = i64::MAX as u64;
/// Shortest accepted consumer idle sleep.
pub const MIN_CONSUMER_IDLE: Duration = Duration::from_micros(1);
/// Longest accepted consumer idle sleep.
pub const MAX_CONSUMER_IDLE: Duration = Duration::from_secs(1);

/// Every setting of a telemetry, with defaults; deserializable from TOML/JSON.
///
/// # Examples
/// ```
/// use ringtel::{Backpressure, Config};
/// let config = Config::from_toml_str(r#"
///     capacity = 1024
///     backpressure = { block-for = "2ms" }
///     critical_wait = "50ms"
/// "#).unwrap();
/// assert_eq!(config.capacity, 1024);
/// assert_eq!(config.backpressure, Backpressure::BlockFor(std::time::Duration::from_millis(2)));
///
/// let err = Config::from_json_str(r#"{"capacity": 0}"#).unwrap_err();
/// assert!(err.to_string().contains("capacity"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Ring capacity in events, `1..=MAX_CAPACITY`.
    pub capacity: usize,
    /// Most events per exporter call, `1..=MAX_BATCH_SIZE` (effectively at
    /// most `capacity`).
    pub batch_size: usize,
    /// Most batches handed to an exporter's worker at once,
    /// `1..=MAX_HANDOFF_BATCHES` (effectively at most `capacity / batch_size`,
    /// so a hand-off never holds more than a ring's worth). See
    /// [`DEFAULT_HANDOFF_BATCHES`].
    pub handoff_batches: usize,
    /// What `emit` does when the ring is full.
    pub backpressure: Backpressure,
    /// The most detailed granularity recorded.
    pub granularity: Granularity,
    /// Log a warning each time the dropped total crosses a multiple of this, `>= 1`.
    ///
    /// Each crossing is warned exactly once (C4). A producer thread publishes
    /// its drops to the warning count in blocks (the largest power of two
    /// `<= min(interval, 512)`), and the consumer publishes the rest after
    /// each of its steps (as do [`Telemetry::health`](crate::Telemetry::health)
    /// and `close`). So a warning can come up to a block per producer thread
    /// late, or, for the last drops before a pause, at the consumer's next
    /// step; the counts in [`Health`](crate::Health) are always exact.
    pub drop_log_interval: u64,
    /// Longest wait for room for a critical event, `<= MAX_DURATION_SETTING`.
    #[serde(with = "humantime_serde")]
    pub critical_wait: Duration,
    /// Deadline of the close run when the last handle drops, `<= MAX_DURATION_SETTING`.
    #[serde(with = "humantime_serde")]
    pub close_timeout: Duration,
    /// Shortest consumer sleep when idle, `MIN_CONSUMER_IDLE..=consumer_idle_max`.
    #[serde(with = "humantime_serde")]
    pub consumer_idle_min: Duration,
    /// Longest consumer sleep when idle, `consumer_idle_min..=MAX_CONSUMER_IDLE`.
    #[serde(with = "humantime_serde")]
    pub consumer_idle_max: Duration,
    /// Deadline for the consumer thread to report that it runs, `> 0` and
    /// `<= MAX_DURATION_SETTING`.
    #[serde(with = "humantime_serde")]
    pub start_timeout: Duration,
    /// How long one exporter call may run before the exporter counts as hung,
    /// `1ms..=MAX_DURATION_SETTING`. Measured on the telemetry's clock.
    #[serde(with = "humantime_serde")]
    pub export_timeout: Duration,
    /// The circuit breaker of every exporter without its own.
    pub breaker: BreakerConfig,
    /// Consecutive batches with every exporter failed or skipped that trigger
    /// `on_total_failure`, `>= 1`.
    pub total_failure_threshold: u64,
    /// What a total-failure streak does.
    pub on_total_failure: TotalFailurePolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            capacity: DEFAULT_CAPACITY,
            batch_size: DEFAULT_BATCH_SIZE,
            handoff_batches: DEFAULT_HANDOFF_BATCHES,
            backpressure: DEFAULT_BACKPRESSURE,
            granularity: DEFAULT_GRANULARITY,
            drop_log_interval: DEFAULT_DROP_LOG_INTERVAL,
            critical_wait: DEFAULT_CRITICAL_WAIT,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            consumer_idle_min: DEFAULT_CONSUMER_IDLE_MIN,
            consumer_idle_max: DEFAULT_CONSUMER_IDLE_MAX,
            start_timeout: DEFAULT_START_TIMEOUT,
            export_timeout: DEFAULT_EXPORT_TIMEOUT,
            breaker: BreakerConfig::default(),
            total_failure_threshold: DEFAULT_TOTAL_FAILURE_THRESHOLD,
            on_total_failure: DEFAULT_ON_TOTAL_FAILURE,
        }
    }
}

impl Config {
    /// Parses and validates a TOML document.
    ///
    /// # Errors
    /// [`ConfigLoadError::Parse`] for malformed TOML, an unknown field or a
    /// value of the wrong type, [`ConfigLoadError::Invalid`] for a value out
    /// of range; both name the field and its line and column.
    ///
    /// # Examples
    /// ```
    /// use ringtel::{Config, ConfigLoadError};
    /// let err = Config::from_toml_str("capacity = 64\nclose_timeout = \"5 parsecs\"").unwrap_err();
    /// let ConfigLoadError::Parse(parse) = &err else { panic!("{err}") };
    /// assert_eq!(parse.key(), Some("close_timeout"));
    /// assert_eq!(parse.location().map(|l| (l.line, l.column)), Some((2, 17)));
    /// assert!(std::error::Error::source(&err).is_some(), "the TOML parser's own error");
    ///
    /// let err = Config::from_toml_str("\n\ncapacity = 0").unwrap_err();
    /// assert_eq!(err.to_string(),
    ///     "invalid value 0 for `capacity` at line 3, column 1: expected an integer in 1..=67108864");
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigLoadError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let location = e.span().map(|span| Location::at(text, span.start));
            let key = e.span().and_then(|span| toml_key_at(text, span.start));
            // Some TOML errors carry no message of their own, only the
            // rendered snippet; keep its last line (what is wrong) then.
            let message = match e.message() {
                "" => {
                    e.to_string().lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned()
                }
                message => message.to_owned(),
            };
            ConfigLoadError::Parse(ConfigParseError {
                format: "TOML",
                message,
                key,
                location,
                source: StdArc::new(e),
            })
        })?;
        config.validate().map_err(|mut err| {
            err.location = toml_key_location(text, err.field);
            err
        })?;
        Ok(config)
    }

    /// Parses and validates a JSON document.
    ///
    /// # Errors
    /// As [`Config::from_toml_str`].
    pub fn from_json_str(text: &str) -> Result<Config, ConfigLoadError> {
        let config: Config = serde_json::from_str(text).map_err(|e| {
            let location = (e.line() > 0).then_some(Location { line: e.line(), column: e.column() });
            let offset = location.map(|l| l.offset_in(text));
            let key = offset.and_then(|offset| {
                let path = json::path_at(text, offset);
                (!path.is_empty()).then(|| path.join("."))
            });
            // serde_json's text ends with " at line L column C"; the
            // location is kept apart.
            let full = e.to_string();
            let message = match full.rfind(" at line ") {
                Some(end) if location.is_some() => full[..end].to_owned(),
                _ => full,
            };
            ConfigLoadError::Parse(ConfigParseError {
                format: "JSON",
                message,
                key,
                location,
                source: StdArc::new(e),
            })
        })?;
        config.validate().map_err(|mut err| {
            err.location = json::key_offset(text, err.field).map(|offset| Location::at(text, offset));
            err
        })?;
        Ok(config)
    }

    /// Validates, then serializes to TOML (round-trips through
    /// [`Config::from_toml_str`]).
    ///
    /// # Errors
    /// The first field out of range, as [`Config::validate`]: an invalid
    /// config is never written.
    ///
    /// # Examples
    /// ```
    /// use ringtel::Config;
    /// let config = Config { capacity: 4096, ..Config::default() };
    /// let text = config.to_toml_string()?;
    /// assert_eq!(Config::from_toml_str(&text)?, config);
    ///
    /// let invalid = Config { drop_log_interval: u64::MAX, ..Config::default() };
    /// assert_eq!(invalid.to_toml_string().unwrap_err().field(), "drop_log_interval");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_toml_string(&self) -> Result<String, ConfigError> {
        self.validate()?;
        // Every field of a validated config fits TOML: integers are capped at
        // `MAX_COUNT_SETTING` (i64::MAX) and durations are strings.
        Ok(toml::to_string(self).expect("a validated Config is representable in TOML"))
    }

    /// The events per batch the consumer hands over: `batch_size`, at most
    /// `capacity`.
    pub(crate) fn batch_len(&self) -> usize {
        self.batch_size.min(self.capacity)
    }

    /// The batches per hand-off: `handoff_batches`, at most as many whole
    /// batches as the ring holds, at least one.
    pub(crate) fn handoff_len(&self) -> usize {
        self.handoff_batches.min(self.capacity / self.batch_len()).max(1)
    }

    /// Checks every field against its accepted range.
    ///
    /// # Errors
    /// The first field out of range, with its value and the accepted range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check(
            "capacity",
            self.capacity,
            (1..=MAX_CAPACITY).contains(&self.capacity),
            format!("an integer in 1..={MAX_CAPACITY}"),
        )?;
        check(
            "batch_size",
            self.batch_size,
            (1..=MAX_BATCH_SIZE).contains(&self.batch_size),
            format!("an integer in 1..={MAX_BATCH_SIZE}"),
        )?;
        check(
            "handoff_batches",
            self.handoff_batches,
            (1..=MAX_HANDOFF_BATCHES).contains(&self.handoff_batches),
            format!("an integer in 1..={MAX_HANDOFF_BATCHES}"),
        )?;
        if let Backpressure::BlockFor(wait) = self.backpressure {
            check_duration(
                "backpressure.block-for",
                wait,
                Duration::ZERO,
                Backpressure::MAX_BLOCK_FOR.min(MAX_DURATION_SETTING),
            )?;
        }
        check(
            "drop_log_interval",
            self.drop_log_interval,
            (1..=MAX_COUNT_SETTING).contains(&self.drop_log_interval),
            format!("an integer in 1..={MAX_COUNT_SETTING}"),
        )?;
        check_duration("critical_wait", self.critical_wait, Duration::ZERO, MAX_DURATION_SETTING)?;
        check_duration("close_timeout", self.close_timeout, Duration::ZERO, MAX_DURATION_SETTING)?;
        check_duration("consumer_idle_min", self.consumer_idle_min, MIN_CONSUMER_IDLE, MAX_CONSUMER_IDLE)?;
        check_duration(
            "consumer_idle_max",
            self.consumer_idle_max,
            self.consumer_idle_min.max(MIN_CONSUMER_IDLE),
            MAX_CONSUMER_IDLE,
        )?;
        check_duration("start_timeout", self.start_timeout, Duration::from_millis(1), MAX_DURATION_SETTING)?;
        check_duration(
            "export_timeout",
            self.export_timeout,
            Duration::from_millis(1),
            MAX_DURATION_SETTING,
        )?;
        validate_breaker("breaker", &self.breaker)?;
        check(
            "total_failure_threshold",
            self.total_failure_threshold,
            (1..=MAX_COUNT_SETTING).contains(&self.total_failure_threshold),
            format!("an integer in 1..={MAX_COUNT_SETTING}"),
        )?;
        Ok(())
    }
}

/// Validates breaker parameters; `prefix` names where they sit
/// (`breaker`, or an exporter's options).
pub(crate) fn validate_breaker(prefix: &'static str, breaker: &BreakerConfig) -> Result<(), ConfigError> {
    let field = |name: &'static str| -> &'static str {
        match (prefix, name) {
            ("breaker", "open_after") => "breaker.open_after",
            ("breaker", "cooldown") => "breaker.cooldown",
            ("breaker", "max_cooldown") => "breaker.max_cooldown",
            (_, "open_after") => "exporter.breaker.open_after",
            (_, "cooldown") => "exporter.breaker.cooldown",
            _ => "exporter.breaker.max_cooldown",
        }
    };
    check(field("open_after"), breaker.open_after, breaker.open_after >= 1, "an integer >= 1".to_owned())?;
    check_duration(field("cooldown"), breaker.cooldown, Duration::from_millis(1), MAX_DURATION_SETTING)?;
    check_duration(field("max_cooldown"), breaker.max_cooldown, breaker.cooldown, MAX_DURATION_SETTING)
}

fn check(
    field: &'static str,
    value: impl fmt::Display,
    ok: bool,
    expected: String,
) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError { field, value: value.to_string(), expected, location: None })
    }
}

fn check_duration(
    field: &'static str,
    value: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), ConfigError> {
    check(
        field,
        format_args!("{value:?}"),
        (min..=max).contains(&value),
        format!("a duration in {min:?}..={max:?}"),
    )
}
