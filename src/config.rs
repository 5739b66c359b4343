//! Configuration: every default and every accepted range in one place.
//!
//! [`Config`] is what the builder holds and what TOML or JSON files
//! deserialize into; the two are equivalent. [`Config::validate`] checks every
//! field against its documented range and names the first bad one.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use std::sync::Arc as StdArc;

use serde::{Deserialize, Serialize};

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
/// Each batch is handed to every exporter's own thread (so a hung exporter
/// cannot stall the producers), which costs a few microseconds per batch.
/// Next to a real exporter's work that is negligible; for a very cheap
/// exporter at tens of millions of events per second, a larger batch size
/// spreads it over more events (BENCHMARKS.md measures both). The consumer
/// keeps `exporters + 1` batch buffers of this many events.
pub const DEFAULT_BATCH_SIZE: usize = 512;
/// Largest accepted batch size; the batch buffer is allocated at start.
pub const MAX_BATCH_SIZE: usize = 1 << 20;
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
    /// What `emit` does when the ring is full.
    pub backpressure: Backpressure,
    /// The most detailed granularity recorded.
    pub granularity: Granularity,
    /// Log a warning each time the dropped total crosses a multiple of this, `>= 1`.
    ///
    /// Each crossing is warned exactly once (C4). A producer thread publishes
    /// its drops to the warning count in blocks (the largest power of two
    /// `<= min(interval, 64)`), and the consumer publishes the rest after
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

/// A configuration value out of its accepted range.
///
/// # Examples
/// ```
/// let err = ringtel::Config { capacity: 0, ..Default::default() }.validate().unwrap_err();
/// assert_eq!(err.field(), "capacity");
/// assert_eq!(err.to_string(), "invalid value 0 for `capacity`: expected an integer in 1..=67108864");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    value: String,
    expected: String,
    location: Option<Location>,
}

impl ConfigError {
    /// The field's name, as spelled in TOML/JSON.
    pub fn field(&self) -> &'static str {
        self.field
    }
    /// The rejected value, rendered.
    pub fn value(&self) -> &str {
        &self.value
    }
    /// The accepted range, in words.
    pub fn expected(&self) -> &str {
        &self.expected
    }
    /// Where the field is set in the document it was loaded from (`None`
    /// for a [`Config`] built in code, or a field the document leaves at
    /// its default).
    pub fn location(&self) -> Option<Location> {
        self.location
    }

    pub(crate) fn rename(&mut self, field: &'static str) {
        self.field = field;
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid value {} for `{}`", self.value, self.field)?;
        if let Some(location) = self.location {
            write!(f, " at {location}")?;
        }
        write!(f, ": expected {}", self.expected)
    }
}

impl Error for ConfigError {}

/// A place in a configuration document: 1-based line and column (the
/// column counts characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` of `text`.
    fn at(text: &str, offset: usize) -> Location {
        let offset = floor_char_boundary(text, offset);
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location { line: before.matches('\n').count() + 1, column: before[line_start..].chars().count() + 1 }
    }

    /// The byte offset of this location in `text` (clamped to its end).
    fn offset_in(self, text: &str) -> usize {
        let line_start: usize =
            text.split_inclusive('\n').take(self.line.saturating_sub(1)).map(str::len).sum();
        let line = &text[line_start.min(text.len())..];
        let column: usize = line.chars().take(self.column.saturating_sub(1)).map(char::len_utf8).sum();
        (line_start + column).min(text.len())
    }
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// The dotted key path (`breaker.cooldown`) whose key or value holds byte
/// `offset` of a TOML document, if the document parses.
fn toml_key_at(text: &str, offset: usize) -> Option<String> {
    fn walk(table: &dyn toml_edit::TableLike, offset: usize, path: &mut Vec<String>) -> bool {
        let holds = |span: Option<std::ops::Range<usize>>| {
            span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
        };
        for (name, _) in table.iter() {
            let Some((key, item)) = table.get_key_value(name) else { continue };
            path.push(name.to_owned());
            let inner = item.as_table_like().is_some_and(|inner| walk(inner, offset, path));
            if inner || holds(key.span()) || holds(item.span()) {
                return true;
            }
            path.pop();
        }
        false
    }
    let document = toml_edit::ImDocument::parse(text).ok()?;
    let mut path = Vec::new();
    walk(document.as_table(), offset, &mut path).then(|| path.join("."))
}

/// Where the key of a dotted field path (`breaker.cooldown`) is in a TOML
/// document.
fn toml_key_location(text: &str, field: &str) -> Option<Location> {
    let document = toml_edit::ImDocument::parse(text).ok()?;
    let mut table: &dyn toml_edit::TableLike = document.as_table();
    let mut parts = field.split('.').peekable();
    while let Some(part) = parts.next() {
        let (key, item) = table.get_key_value(part)?;
        if parts.peek().is_none() {
            return key.span().map(|span| Location::at(text, span.start));
        }
        table = item.as_table_like()?;
    }
    None
}

/// Key paths in JSON text, by a scan that knows strings, objects and arrays
/// (the text is known to be JSON, or was up to where it failed to parse).
mod json {
    enum Frame {
        Object { expect_key: bool, key: Option<String> },
        Array,
    }

    /// Scans `text`, calling `on_key(path, key_offset)` for every object key;
    /// stops at byte `stop` (or the end) and returns the keys open there.
    fn scan(text: &str, stop: usize, mut on_key: impl FnMut(&[Frame], usize) -> bool) -> Vec<String> {
        let bytes = text.as_bytes();
        let mut stack: Vec<Frame> = Vec::new();
        let mut i = 0;
        while i < bytes.len() && i < stop {
            match bytes[i] {
                b'{' => stack.push(Frame::Object { expect_key: true, key: None }),
                b'[' => stack.push(Frame::Array),
                b'}' | b']' => {
                    stack.pop();
                }
                b',' => {
                    if let Some(Frame::Object { expect_key, key }) = stack.last_mut() {
                        *expect_key = true;
                        *key = None;
                    }
                }
                b'"' => {
                    let start = i;
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    let end = i.min(bytes.len());
                    if let Some(Frame::Object { expect_key: expect_key @ true, key }) = stack.last_mut() {
                        *key = Some(text.get(start + 1..end).unwrap_or_default().to_owned());
                        *expect_key = false;
                        if on_key(&stack, start) {
                            break;
                        }
                    }
                }
                _ => {}
            }
            i += 1;
        }
        keys(&stack)
    }

    fn keys(stack: &[Frame]) -> Vec<String> {
        stack
            .iter()
            .filter_map(|frame| match frame {
                Frame::Object { key, .. } => key.clone(),
                Frame::Array => None,
            })
            .collect()
    }

    /// The keys whose values hold byte `offset`, outermost first.
    pub(super) fn path_at(text: &str, offset: usize) -> Vec<String> {
        scan(text, offset, |_, _| false)
    }

    /// The byte offset of the first key with the dotted path `field`.
    pub(super) fn key_offset(text: &str, field: &str) -> Option<usize> {
        let mut found = None;
        scan(text, usize::MAX, |stack, offset| {
            if keys(stack).join(".") == field {
                found = Some(offset);
            }
            found.is_some()
        });
        found
    }
}

/// A configuration document that is malformed, has an unknown field, or a
/// value of the wrong type.
///
/// Names the key and the line and column where the parser could tell them;
/// the parser's own error is the [`source`](Error::source).
#[derive(Debug, Clone)]
pub struct ConfigParseError {
    format: &'static str,
    message: String,
    key: Option<String>,
    location: Option<Location>,
    source: StdArc<dyn Error + Send + Sync>,
}

impl ConfigParseError {
    /// `"TOML"` or `"JSON"`.
    pub fn format(&self) -> &'static str {
        self.format
    }
    /// The parser's message, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The dotted key path (`breaker.cooldown`) at the error, where known.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }
    /// Where in the document, where known.
    pub fn location(&self) -> Option<Location> {
        self.location
    }
}

/// Equal when format, message, key and location are (the parser's error
/// itself is not compared).
impl PartialEq for ConfigParseError {
    fn eq(&self, other: &Self) -> bool {
        (self.format, &self.message, &self.key, self.location)
            == (other.format, &other.message, &other.key, other.location)
    }
}

impl Eq for ConfigParseError {}

impl fmt::Display for ConfigParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed {} config", self.format)?;
        match (&self.key, self.location) {
            (Some(key), Some(location)) => write!(f, " at `{key}`, {location}")?,
            (Some(key), None) => write!(f, " at `{key}`")?,
            (None, Some(location)) => write!(f, " at {location}")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.message)
    }
}

impl Error for ConfigParseError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// Why a configuration document could not be loaded.
///
/// Both variants name the field and, when it was found in the document, its
/// line and column; each is its inner error's [`source`](Error::source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigLoadError {
    /// The document is malformed, has an unknown field, or a value of the
    /// wrong type.
    Parse(ConfigParseError),
    /// The document parsed, but a value is out of range.
    Invalid(ConfigError),
}

impl fmt::Display for ConfigLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigLoadError::Parse(err) => err.fmt(f),
            ConfigLoadError::Invalid(err) => err.fmt(f),
        }
    }
}

impl Error for ConfigLoadError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ConfigLoadError::Parse(err) => Some(err),
            ConfigLoadError::Invalid(err) => Some(err),
        }
    }
}

impl From<ConfigError> for ConfigLoadError {
    fn from(err: ConfigError) -> Self {
        ConfigLoadError::Invalid(err)
    }
}
