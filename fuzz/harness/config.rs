//! The `config` harness: TOML and JSON documents into [`Config`] (C11).
//!
//! Shared, not copied: the `config` fuzz target and `tests/fuzz_corpus.rs`
//! include this file with `#[path]`. It depends only on `ringtel`,
//! `arbitrary` and std.
//!
//! Two kinds of input, chosen by the first byte:
//! - **raw**: the rest, as text, goes to both `Config::from_toml_str` and
//!   `Config::from_json_str`;
//! - **structured**: an [`arbitrary`] document of known and unknown keys,
//!   well- and ill-typed values, in-range and out-of-range numbers and
//!   durations, rendered as TOML or JSON, with the expected result computed
//!   by a reference model of the documented ranges.
//!
//! Checked, for every input: parsing never panics; a document that loads
//! gives a config that validates and round-trips (through
//! `Config::to_toml_string` and `from_toml_str`, and through a JSON
//! rendering and `from_json_str`); a rejected value is a `ConfigError`
//! naming a field the model says is out of range, with the documented
//! message shape; a malformed document is a `Parse` error of the right
//! format. For structured documents the model also says which of the three
//! outcomes it must be.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use ringtel::{
    Backpressure, Config, ConfigLoadError, Granularity, TotalFailurePolicy, MAX_BATCH_SIZE, MAX_CAPACITY,
    MAX_CONSUMER_IDLE, MAX_COUNT_SETTING, MAX_DURATION_SETTING, MIN_CONSUMER_IDLE,
};

/// Runs one input; panics on any violation.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 4 == 0 {
        let text = String::from_utf8_lossy(rest);
        check_raw(&text);
    } else {
        let Ok(doc) = Doc::arbitrary_take_rest(Unstructured::new(rest)) else { return };
        check_structured(&doc);
    }
}

/// Accept an empty message in a TOML `Parse` error.
///
/// Was a workaround for a ringtel bug found by this target, now fixed (see
/// `fuzz/README.md`, "Findings"): for some malformed documents
/// (`capacity = `) the `toml` crate's `message()` is empty, and the error
/// read "malformed TOML config: " with neither cause nor position.
pub const SKIP_OPEN_EMPTY_TOML_MESSAGE: bool = false;

/// Every field name a `ConfigError` may carry for a top-level document.
const FIELDS: &[&str] = &[
    "capacity",
    "batch_size",
    "backpressure.block-for",
    "drop_log_interval",
    "critical_wait",
    "close_timeout",
    "consumer_idle_min",
    "consumer_idle_max",
    "start_timeout",
    "export_timeout",
    "breaker.open_after",
    "breaker.cooldown",
    "breaker.max_cooldown",
    "total_failure_threshold",
];

// ---------------------------------------------------------------------------
// Checks shared by both kinds of input

/// What loading a document gave, reduced to what the model predicts.
#[derive(Debug, Clone, PartialEq)]
enum Loaded {
    Ok(Config),
    /// Out of range: the field named.
    Invalid(&'static str),
    Parse,
}

/// Loads `text` as `format` and checks the result's own consistency.
fn load(text: &str, json: bool) -> Loaded {
    let result = if json { Config::from_json_str(text) } else { Config::from_toml_str(text) };
    let format = if json { "JSON" } else { "TOML" };
    match result {
        Ok(config) => {
            config.validate().expect("a loaded config validates");
            round_trip(&config);
            Loaded::Ok(config)
        }
        Err(ConfigLoadError::Invalid(err)) => {
            let field = err.field();
            assert!(FIELDS.contains(&field), "unknown field {field:?} in {err:?}");
            assert!(!err.value().is_empty() && !err.expected().is_empty(), "{err:?}");
            let shown = ConfigLoadError::Invalid(err.clone()).to_string();
            let at = err.location().map_or_else(String::new, |l| format!(" at {l}"));
            assert_eq!(
                shown,
                format!("invalid value {} for `{field}`{at}: expected {}", err.value(), err.expected())
            );
            assert!(
                std::error::Error::source(&ConfigLoadError::Invalid(err)).is_some(),
                "Invalid has a source"
            );
            Loaded::Invalid(field)
        }
        Err(e @ ConfigLoadError::Parse(_)) => {
            let ConfigLoadError::Parse(parse) = &e else { unreachable!() };
            assert_eq!(parse.format(), format, "{e:?}");
            assert!(
                !parse.message().is_empty() || SKIP_OPEN_EMPTY_TOML_MESSAGE,
                "a parse error says what is wrong"
            );
            assert!(e.to_string().starts_with(&format!("malformed {format} config")), "{e}");
            assert!(e.to_string().ends_with(parse.message()), "{e}");
            assert!(std::error::Error::source(parse).is_some(), "the parser's error is the source");
            Loaded::Parse
        }
    }
}

/// A valid config survives TOML (ringtel's own writer) and JSON (rendered
/// here) unchanged.
fn round_trip(config: &Config) {
    let json = config_to_json(config);
    match Config::from_json_str(&json) {
        Ok(back) => assert_eq!(&back, config, "JSON round trip changed the config:\n{json}"),
        Err(e) => panic!("JSON rendering of a valid config does not load: {e}\n{json}"),
    }
    // A finding of this target, fixed: `to_toml_string` used to panic for
    // counts above i64::MAX; validation now caps them at MAX_COUNT_SETTING.
    let toml = config.to_toml_string().expect("a valid config writes as TOML");
    match Config::from_toml_str(&toml) {
        Ok(back) => assert_eq!(&back, config, "TOML round trip changed the config:\n{toml}"),
        Err(e) => panic!("TOML written by to_toml_string does not load: {e}\n{toml}"),
    }
}

fn check_raw(text: &str) {
    for json in [false, true] {
        load(text, json);
    }
}

// ---------------------------------------------------------------------------
// Structured documents

/// An integer value, aimed at the interesting places.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Int {
    Small(u8),
    /// `MAX_CAPACITY`, `MAX_BATCH_SIZE`, `u32::MAX`, `i64::MAX`, `u64::MAX`,
    /// plus or minus a little.
    Near {
        anchor: u8,
        delta: i8,
    },
    Any(u64),
    Negative(u8),
}

impl Int {
    /// The value as an `i128` (negative values included).
    fn value(self) -> i128 {
        match self {
            Int::Small(v) => i128::from(v),
            Int::Near { anchor, delta } => {
                let anchors = [
                    MAX_CAPACITY as i128,
                    MAX_BATCH_SIZE as i128,
                    i128::from(u32::MAX),
                    i128::from(i64::MAX),
                    i128::from(u64::MAX),
                ];
                let a = anchors[usize::from(anchor) % anchors.len()];
                (a + i128::from(delta)).max(0)
            }
            Int::Any(v) => i128::from(v),
            Int::Negative(v) => -1 - i128::from(v),
        }
    }
}

/// A duration value, as text.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Dur {
    /// `"{value}{unit}"`, unit one of ns, us, ms, s, m, h.
    Unit { value: u16, unit: u8 },
    /// `"{secs}s {nanos}ns"`.
    Parts { secs: u32, nanos: u32 },
    /// Not a duration.
    Garbage(u8),
}

const UNITS: [(&str, u64); 6] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];
const GARBAGE: [&str; 6] = ["soon", "", "-5ms", "5", "1x", "ms"];

impl Dur {
    fn render(self) -> String {
        match self {
            Dur::Unit { value, unit } => format!("{value}{}", UNITS[usize::from(unit) % UNITS.len()].0),
            Dur::Parts { secs, nanos } => format!("{secs}s {}ns", nanos % 1_000_000_000),
            Dur::Garbage(g) => GARBAGE[usize::from(g) % GARBAGE.len()].to_owned(),
        }
    }

    /// The duration it means, or `None` if it does not parse.
    fn value(self) -> Option<Duration> {
        match self {
            Dur::Unit { value, unit } => {
                Some(Duration::from_nanos(u64::from(value) * UNITS[usize::from(unit) % UNITS.len()].1))
            }
            Dur::Parts { secs, nanos } => Some(Duration::new(u64::from(secs), nanos % 1_000_000_000)),
            Dur::Garbage(_) => None,
        }
    }
}

/// One `key = value` of a document.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Entry {
    Capacity(Int),
    BatchSize(Int),
    DropLogInterval(Int),
    TotalFailureThreshold(Int),
    /// 0 block, 1 drop, 2 drop-oldest, 3 block-for, else an unknown name.
    Backpressure {
        kind: u8,
        wait: Dur,
    },
    /// 0..=2 the three levels, else an unknown name.
    Granularity(u8),
    /// 0..=2 continue, disable, fail; else an unknown name.
    OnTotalFailure(u8),
    CriticalWait(Dur),
    CloseTimeout(Dur),
    IdleMin(Dur),
    IdleMax(Dur),
    StartTimeout(Dur),
    ExportTimeout(Dur),
    BreakerOpenAfter(Int),
    BreakerCooldown(Dur),
    BreakerMaxCooldown(Dur),
    /// A key the config does not have (top level, or in `breaker` if odd).
    Unknown(u8),
    /// A known key with a value of the wrong type.
    WrongType(u8),
}

/// A whole structured document.
#[derive(Debug, Clone, Arbitrary)]
pub struct Doc {
    pub json: bool,
    pub entries: Vec<Entry>,
}

/// How a value is written and what the model makes of it.
struct Rendered {
    key: &'static str,
    /// Sits in the `breaker` table.
    breaker: bool,
    toml: String,
    json: String,
}

fn quoted(s: &str) -> (String, String) {
    (format!("\"{s}\""), format!("\"{s}\""))
}

/// What the model predicts for a document.
#[derive(Debug)]
enum Expect {
    Parse,
    /// Loads, unless a value is out of range: then one of these fields.
    Config(Config),
}

fn check_structured(doc: &Doc) {
    let json = doc.json;
    let mut config = Config::default();
    let mut parse_error = false;
    let mut top: Vec<(String, String)> = Vec::new();
    let mut breaker: Vec<(String, String)> = Vec::new();
    let mut keys_top: Vec<&'static str> = Vec::new();
    let mut keys_breaker: Vec<&'static str> = Vec::new();
    // TOML integers are i64; JSON numbers here are read as u64/u32.
    let int_max: i128 = if json { i128::from(u64::MAX) } else { i128::from(i64::MAX) };
    for entry in doc.entries.iter().take(24) {
        // In range for the field's type and the format, or a parse error.
        let int = |v: Int, max: i128| -> Option<u64> {
            let value = v.value();
            (0..=int_max.min(max)).contains(&value).then_some(value as u64)
        };
        let r = match *entry {
            Entry::Capacity(v) => {
                match int(v, i128::from(u64::MAX)) {
                    Some(x) => config.capacity = x as usize,
                    None => parse_error = true,
                }
                Rendered {
                    key: "capacity",
                    breaker: false,
                    toml: v.value().to_string(),
                    json: v.value().to_string(),
                }
            }
            Entry::BatchSize(v) => {
                match int(v, i128::from(u64::MAX)) {
                    Some(x) => config.batch_size = x as usize,
                    None => parse_error = true,
                }
                Rendered {
                    key: "batch_size",
                    breaker: false,
                    toml: v.value().to_string(),
                    json: v.value().to_string(),
                }
            }
            Entry::DropLogInterval(v) => {
                match int(v, i128::from(u64::MAX)) {
                    Some(x) => config.drop_log_interval = x,
                    None => parse_error = true,
                }
                Rendered {
                    key: "drop_log_interval",
                    breaker: false,
                    toml: v.value().to_string(),
                    json: v.value().to_string(),
                }
            }
            Entry::TotalFailureThreshold(v) => {
                match int(v, i128::from(u64::MAX)) {
                    Some(x) => config.total_failure_threshold = x,
                    None => parse_error = true,
                }
                Rendered {
                    key: "total_failure_threshold",
                    breaker: false,
                    toml: v.value().to_string(),
                    json: v.value().to_string(),
                }
            }
            Entry::BreakerOpenAfter(v) => {
                match int(v, i128::from(u32::MAX)) {
                    Some(x) => config.breaker.open_after = x as u32,
                    None => parse_error = true,
                }
                Rendered {
                    key: "open_after",
                    breaker: true,
                    toml: v.value().to_string(),
                    json: v.value().to_string(),
                }
            }
            Entry::Backpressure { kind, wait } => {
                let (toml, json_text) = match kind % 5 {
                    0 => {
                        config.backpressure = Backpressure::Block;
                        quoted("block")
                    }
                    1 => {
                        config.backpressure = Backpressure::Drop;
                        quoted("drop")
                    }
                    2 => {
                        config.backpressure = Backpressure::DropOldest;
                        quoted("drop-oldest")
                    }
                    3 => {
                        match wait.value() {
                            Some(d) => config.backpressure = Backpressure::BlockFor(d),
                            None => parse_error = true,
                        }
                        let w = wait.render();
                        (format!("{{ block-for = \"{w}\" }}"), format!("{{\"block-for\": \"{w}\"}}"))
                    }
                    _ => {
                        parse_error = true;
                        quoted("sometimes")
                    }
                };
                Rendered { key: "backpressure", breaker: false, toml, json: json_text }
            }
            Entry::Granularity(g) => {
                let name = match g % 4 {
                    0 => "lifecycle",
                    1 => "rows",
                    2 => "full",
                    _ => "everything",
                };
                match Granularity::ALL.get(usize::from(g % 4)) {
                    Some(&level) => config.granularity = level,
                    None => parse_error = true,
                }
                let (toml, json_text) = quoted(name);
                Rendered { key: "granularity", breaker: false, toml, json: json_text }
            }
            Entry::OnTotalFailure(p) => {
                let (name, policy) = match p % 4 {
                    0 => ("continue", Some(TotalFailurePolicy::Continue)),
                    1 => ("disable", Some(TotalFailurePolicy::Disable)),
                    2 => ("fail", Some(TotalFailurePolicy::Fail)),
                    _ => ("explode", None),
                };
                match policy {
                    Some(policy) => config.on_total_failure = policy,
                    None => parse_error = true,
                }
                let (toml, json_text) = quoted(name);
                Rendered { key: "on_total_failure", breaker: false, toml, json: json_text }
            }
            Entry::CriticalWait(d) => {
                duration(&mut config.critical_wait, d, &mut parse_error, "critical_wait", false)
            }
            Entry::CloseTimeout(d) => {
                duration(&mut config.close_timeout, d, &mut parse_error, "close_timeout", false)
            }
            Entry::IdleMin(d) => {
                duration(&mut config.consumer_idle_min, d, &mut parse_error, "consumer_idle_min", false)
            }
            Entry::IdleMax(d) => {
                duration(&mut config.consumer_idle_max, d, &mut parse_error, "consumer_idle_max", false)
            }
            Entry::StartTimeout(d) => {
                duration(&mut config.start_timeout, d, &mut parse_error, "start_timeout", false)
            }
            Entry::ExportTimeout(d) => {
                duration(&mut config.export_timeout, d, &mut parse_error, "export_timeout", false)
            }
            Entry::BreakerCooldown(d) => {
                duration(&mut config.breaker.cooldown, d, &mut parse_error, "cooldown", true)
            }
            Entry::BreakerMaxCooldown(d) => {
                duration(&mut config.breaker.max_cooldown, d, &mut parse_error, "max_cooldown", true)
            }
            Entry::Unknown(k) => {
                parse_error = true;
                let key = ["colour", "capacity_", "Capacity", "exporters"][usize::from(k / 2) % 4];
                Rendered { key, breaker: k % 2 == 1, toml: "1".into(), json: "1".into() }
            }
            Entry::WrongType(k) => {
                parse_error = true;
                let (key, breaker, toml, json_text) = match k % 6 {
                    0 => ("capacity", false, "\"ten\"".to_owned(), "\"ten\"".to_owned()),
                    1 => ("critical_wait", false, "5".to_owned(), "5".to_owned()),
                    2 => ("granularity", false, "2".to_owned(), "2".to_owned()),
                    3 => ("backpressure", false, "true".to_owned(), "true".to_owned()),
                    4 => ("open_after", true, "1.5".to_owned(), "1.5".to_owned()),
                    _ => ("drop_log_interval", false, "[1]".to_owned(), "[1]".to_owned()),
                };
                Rendered { key, breaker, toml, json: json_text }
            }
        };
        let keys = if r.breaker { &mut keys_breaker } else { &mut keys_top };
        if keys.contains(&r.key) {
            parse_error = true; // a duplicate key
        }
        keys.push(r.key);
        let value = if json { r.json } else { r.toml };
        if r.breaker {
            breaker.push((r.key.to_owned(), value));
        } else {
            top.push((r.key.to_owned(), value));
        }
    }
    if !breaker.is_empty() {
        let inner: Vec<String> = if json {
            breaker.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect()
        } else {
            breaker.iter().map(|(k, v)| format!("{k} = {v}")).collect()
        };
        let table =
            if json { format!("{{{}}}", inner.join(", ")) } else { format!("{{ {} }}", inner.join(", ")) };
        if keys_top.contains(&"breaker") {
            parse_error = true;
        }
        top.push(("breaker".to_owned(), table));
    }
    let text = if json {
        let body: Vec<String> = top.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
        format!("{{{}}}", body.join(", "))
    } else {
        top.iter().fold(String::new(), |mut out, (k, v)| {
            let _ = writeln!(out, "{k} = {v}");
            out
        })
    };
    let expect = if parse_error { Expect::Parse } else { Expect::Config(config) };
    let got = load(&text, json);
    match (&expect, &got) {
        (Expect::Parse, Loaded::Parse) => {}
        (Expect::Config(config), _) => {
            let invalid = out_of_range(config);
            match &got {
                Loaded::Ok(loaded) => {
                    assert!(invalid.is_empty(), "loaded although {invalid:?} out of range:\n{text}");
                    assert_eq!(loaded, config, "loaded a different config from:\n{text}");
                }
                Loaded::Invalid(field) => {
                    assert!(invalid.contains(field), "rejected `{field}`, model says {invalid:?}:\n{text}")
                }
                Loaded::Parse => panic!("a well-formed document failed to parse:\n{text}"),
            }
        }
        (Expect::Parse, _) => panic!("expected a parse error, got {got:?}:\n{text}"),
    }
}

fn duration(
    slot: &mut Duration,
    d: Dur,
    parse_error: &mut bool,
    key: &'static str,
    breaker: bool,
) -> Rendered {
    match d.value() {
        Some(v) => *slot = v,
        None => *parse_error = true,
    }
    let text = format!("\"{}\"", d.render());
    Rendered { key, breaker, toml: text.clone(), json: text }
}

/// The fields whose values are outside their documented ranges (both
/// fields of a violated `min <= max` pair).
fn out_of_range(c: &Config) -> Vec<&'static str> {
    let mut bad = Vec::new();
    let within = |d: Duration, lo: Duration, hi: Duration| lo <= d && d <= hi;
    if !(1..=MAX_CAPACITY).contains(&c.capacity) {
        bad.push("capacity");
    }
    if !(1..=MAX_BATCH_SIZE).contains(&c.batch_size) {
        bad.push("batch_size");
    }
    if let Backpressure::BlockFor(w) = c.backpressure {
        if w > MAX_DURATION_SETTING.min(Backpressure::MAX_BLOCK_FOR) {
            bad.push("backpressure.block-for");
        }
    }
    if !(1..=MAX_COUNT_SETTING).contains(&c.drop_log_interval) {
        bad.push("drop_log_interval");
    }
    for (name, d) in [("critical_wait", c.critical_wait), ("close_timeout", c.close_timeout)] {
        if d > MAX_DURATION_SETTING {
            bad.push(name);
        }
    }
    if !within(c.consumer_idle_min, MIN_CONSUMER_IDLE, MAX_CONSUMER_IDLE) {
        bad.push("consumer_idle_min");
    }
    if !within(c.consumer_idle_max, MIN_CONSUMER_IDLE, MAX_CONSUMER_IDLE) {
        bad.push("consumer_idle_max");
    }
    if c.consumer_idle_min > c.consumer_idle_max {
        bad.extend(["consumer_idle_min", "consumer_idle_max"]);
    }
    let ms = Duration::from_millis(1);
    for (name, d) in [("start_timeout", c.start_timeout), ("export_timeout", c.export_timeout)] {
        if !within(d, ms, MAX_DURATION_SETTING) {
            bad.push(name);
        }
    }
    if c.breaker.open_after < 1 {
        bad.push("breaker.open_after");
    }
    if !within(c.breaker.cooldown, ms, MAX_DURATION_SETTING) {
        bad.push("breaker.cooldown");
    }
    if c.breaker.max_cooldown > MAX_DURATION_SETTING {
        bad.push("breaker.max_cooldown");
    }
    if c.breaker.cooldown > c.breaker.max_cooldown {
        bad.extend(["breaker.cooldown", "breaker.max_cooldown"]);
    }
    if !(1..=MAX_COUNT_SETTING).contains(&c.total_failure_threshold) {
        bad.push("total_failure_threshold");
    }
    bad
}

// ---------------------------------------------------------------------------
// JSON rendering of a config (the crate writes TOML only)

fn json_duration(d: Duration) -> String {
    format!("\"{}s {}ns\"", d.as_secs(), d.subsec_nanos())
}

fn config_to_json(c: &Config) -> String {
    let backpressure = match c.backpressure {
        Backpressure::Block => "\"block\"".to_owned(),
        Backpressure::Drop => "\"drop\"".to_owned(),
        Backpressure::DropOldest => "\"drop-oldest\"".to_owned(),
        Backpressure::BlockFor(w) => format!("{{\"block-for\": {}}}", json_duration(w)),
    };
    let granularity = match c.granularity {
        Granularity::Lifecycle => "lifecycle",
        Granularity::Rows => "rows",
        Granularity::Full => "full",
    };
    let on_total_failure = match c.on_total_failure {
        TotalFailurePolicy::Continue => "continue",
        TotalFailurePolicy::Disable => "disable",
        TotalFailurePolicy::Fail => "fail",
    };
    format!(
        "{{\"capacity\": {}, \"batch_size\": {}, \"backpressure\": {backpressure}, \"granularity\": \"{granularity}\", \
         \"drop_log_interval\": {}, \"critical_wait\": {}, \"close_timeout\": {}, \"consumer_idle_min\": {}, \
         \"consumer_idle_max\": {}, \"start_timeout\": {}, \"export_timeout\": {}, \
         \"breaker\": {{\"open_after\": {}, \"cooldown\": {}, \"max_cooldown\": {}}}, \
         \"total_failure_threshold\": {}, \"on_total_failure\": \"{on_total_failure}\"}}",
        c.capacity,
        c.batch_size,
        c.drop_log_interval,
        json_duration(c.critical_wait),
        json_duration(c.close_timeout),
        json_duration(c.consumer_idle_min),
        json_duration(c.consumer_idle_max),
        json_duration(c.start_timeout),
        json_duration(c.export_timeout),
        c.breaker.open_after,
        json_duration(c.breaker.cooldown),
        json_duration(c.breaker.max_cooldown),
        c.total_failure_threshold,
    )
}
