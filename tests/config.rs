//! C11: configuration from the builder, TOML and JSON, validated with typed
//! errors naming the field and the accepted range.

use std::time::Duration;

use ringtel::{
    Backpressure, BreakerConfig, Config, ConfigLoadError, Event, Granularity, Telemetry, TotalFailurePolicy,
    DEFAULT_CAPACITY,
};

struct Tick;
impl Event for Tick {
    fn granularity(&self) -> Granularity {
        Granularity::Rows
    }
}

#[test]
fn defaults_are_valid_and_documented_constants() {
    let config = Config::default();
    config.validate().unwrap();
    assert_eq!(config.capacity, DEFAULT_CAPACITY);
}

#[test]
fn toml_and_json_parse_every_field_and_round_trip() {
    let toml = r#"
        capacity = 2048
        batch_size = 64
        handoff_batches = 8
        backpressure = "drop-oldest"
        granularity = "full"
        drop_log_interval = 10
        critical_wait = "250ms"
        close_timeout = "2s"
        consumer_idle_min = "10us"
        consumer_idle_max = "2ms"
        start_timeout = "1s"
    "#;
    let config = Config::from_toml_str(toml).unwrap();
    assert_eq!(config.capacity, 2048);
    assert_eq!(config.handoff_batches, 8);
    assert_eq!(config.backpressure, Backpressure::DropOldest);
    assert_eq!(config.granularity, Granularity::Full);
    assert_eq!(config.critical_wait, Duration::from_millis(250));
    assert_eq!(config.consumer_idle_min, Duration::from_micros(10));
    assert_eq!(Config::from_toml_str(&config.to_toml_string().unwrap()).unwrap(), config);

    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(Config::from_json_str(&json).unwrap(), config);
    let block_for = Config::from_json_str(r#"{"backpressure": {"block-for": "3ms"}}"#).unwrap();
    assert_eq!(block_for.backpressure, Backpressure::BlockFor(Duration::from_millis(3)));
}

#[test]
fn each_bad_value_names_its_field_and_range() {
    let cases = [
        ("capacity = 0", "capacity", "an integer in 1..=67108864"),
        ("capacity = 100000000", "capacity", "an integer in 1..=67108864"),
        ("batch_size = 0", "batch_size", "an integer in 1..=1048576"),
        ("handoff_batches = 0", "handoff_batches", "an integer in 1..=16"),
        ("handoff_batches = 17", "handoff_batches", "an integer in 1..=16"),
        ("drop_log_interval = 0", "drop_log_interval", "an integer in 1..=9223372036854775807"),
        ("total_failure_threshold = 0", "total_failure_threshold", "an integer in 1..=9223372036854775807"),
        ("critical_wait = \"2h\"", "critical_wait", "a duration in 0ns..=3600s"),
        ("close_timeout = \"2h\"", "close_timeout", "a duration in 0ns..=3600s"),
        ("consumer_idle_min = \"0s\"", "consumer_idle_min", "a duration in 1µs..=1s"),
        (
            "consumer_idle_min = \"1ms\"\nconsumer_idle_max = \"10us\"",
            "consumer_idle_max",
            "a duration in 1ms..=1s",
        ),
        ("start_timeout = \"0s\"", "start_timeout", "a duration in 1ms..=3600s"),
        ("backpressure = { block-for = \"2h\" }", "backpressure.block-for", "a duration in 0ns..=3600s"),
    ];
    for (toml, field, expected) in cases {
        let err = Config::from_toml_str(toml).unwrap_err();
        let ConfigLoadError::Invalid(invalid) = &err else { panic!("{toml}: {err:?}") };
        assert_eq!(invalid.field(), field, "{toml}");
        assert_eq!(invalid.expected(), expected, "{toml}");
        assert!(err.to_string().contains(&format!("`{field}`")), "{err}");
    }
}

#[test]
fn malformed_documents_and_unknown_fields_are_parse_errors() {
    let err = Config::from_toml_str("capacty = 5").unwrap_err();
    assert!(matches!(&err, ConfigLoadError::Parse(p) if p.format() == "TOML"));
    assert!(err.to_string().contains("capacty"), "{err}");
    let err = Config::from_json_str("{\"backpressure\": \"sometimes\"}").unwrap_err();
    assert!(err.to_string().starts_with("malformed JSON config"), "{err}");
    assert!(err.to_string().contains("sometimes"), "{err}");
}

#[test]
fn builder_and_config_are_equivalent() {
    let config = Config {
        capacity: 128,
        backpressure: Backpressure::Block,
        granularity: Granularity::Lifecycle,
        ..Config::default()
    };
    let from_config = Telemetry::<Tick>::builder().config(config.clone()).start().unwrap();
    let from_setters = Telemetry::<Tick>::builder()
        .capacity(128)
        .backpressure(Backpressure::Block)
        .granularity(Granularity::Lifecycle)
        .start()
        .unwrap();
    for telemetry in [&from_config, &from_setters] {
        let health = telemetry.health();
        assert_eq!(health.capacity(), 128);
        assert_eq!(health.backpressure(), Backpressure::Block);
        assert_eq!(health.granularity(), Granularity::Lifecycle);
    }
    assert_eq!(Telemetry::<Tick>::builder().config(config.clone()).current_config(), &config);
}

/// `(key, line, column)` of a parse error, and its rendering.
fn parse_error(err: &ConfigLoadError) -> (Option<&str>, Option<(usize, usize)>) {
    let ConfigLoadError::Parse(parse) = err else { panic!("not a parse error: {err:?}") };
    assert!(std::error::Error::source(err).is_some(), "Parse has a source: {err}");
    assert!(std::error::Error::source(parse).is_some(), "the parser's error is kept: {err}");
    (parse.key(), parse.location().map(|l| (l.line, l.column)))
}

#[test]
fn every_config_error_names_the_field_and_its_line_and_column() {
    // A value of the wrong type: the key and where its value starts.
    let err = Config::from_toml_str("capacity = 64\nclose_timeout = \"5 parsecs\"\n").unwrap_err();
    assert_eq!(parse_error(&err), (Some("close_timeout"), Some((2, 17))), "{err}");
    assert_eq!(
        err.to_string(),
        "malformed TOML config at `close_timeout`, line 2, column 17: \
         invalid value: string \"5 parsecs\", expected a duration"
    );
    // Nested, in a table and inline.
    let err = Config::from_toml_str("[breaker]\nopen_after = 2\ncooldown = \"soon\"\n").unwrap_err();
    assert_eq!(parse_error(&err), (Some("breaker.cooldown"), Some((3, 12))), "{err}");
    let err = Config::from_toml_str("backpressure = { block-for = \"often\" }").unwrap_err();
    assert_eq!(parse_error(&err).0, Some("backpressure.block-for"), "{err}");
    // An unknown field.
    let err = Config::from_toml_str("capacity = 64\nspeed = \"fast\"\n").unwrap_err();
    assert_eq!(parse_error(&err), (Some("speed"), Some((2, 1))), "{err}");
    assert!(err.to_string().contains("unknown field `speed`"), "{err}");
    // Malformed TOML: at least the place.
    let err = Config::from_toml_str("capacity = 64\ncapacity = ").unwrap_err();
    assert_eq!(parse_error(&err).1.map(|(line, _)| line), Some(2), "{err}");

    // Out of range: the field and where it is set.
    let err = Config::from_toml_str("capacity = 64\n\n[breaker]\ncooldown = \"0s\"\n").unwrap_err();
    let ConfigLoadError::Invalid(invalid) = &err else { panic!("{err:?}") };
    assert_eq!(invalid.field(), "breaker.cooldown");
    assert_eq!(invalid.location().map(|l| (l.line, l.column)), Some((4, 1)), "{err}");
    assert!(err.to_string().contains("`breaker.cooldown` at line 4, column 1"), "{err}");
    assert!(std::error::Error::source(&err).is_some(), "Invalid has a source");
    // A default left out of range by another field has no place in the file.
    let err = Config::from_toml_str("consumer_idle_min = \"10ms\"").unwrap_err();
    let ConfigLoadError::Invalid(invalid) = &err else { panic!("{err:?}") };
    assert_eq!((invalid.field(), invalid.location()), ("consumer_idle_max", None), "{err}");

    // JSON: the same, from serde_json's line and column.
    let err =
        Config::from_json_str("{\n  \"capacity\": 64,\n  \"close_timeout\": \"5 parsecs\"\n}").unwrap_err();
    let (key, location) = parse_error(&err);
    assert_eq!((key, location.map(|(line, _)| line)), (Some("close_timeout"), Some(3)), "{err}");
    assert!(!err.to_string().contains(" at line 3 column"), "the location is said once: {err}");
    let err = Config::from_json_str("{\"breaker\": {\"cooldown\": 5}}").unwrap_err();
    assert_eq!(parse_error(&err).0, Some("breaker.cooldown"), "{err}");
    let err = Config::from_json_str("{\n\"breaker\": {\n  \"open_after\": 0}}").unwrap_err();
    let ConfigLoadError::Invalid(invalid) = &err else { panic!("{err:?}") };
    assert_eq!(invalid.field(), "breaker.open_after");
    assert_eq!(invalid.location().map(|l| (l.line, l.column)), Some((3, 3)), "{err}");
    // Built in code: no location.
    let err = Config { capacity: 0, ..Config::default() }.validate().unwrap_err();
    assert_eq!(err.location(), None);
}

/// Every `Config` field has a builder setter. The literal names every field
/// (no `..Default::default()`), so adding a field to `Config` breaks this
/// test's compilation until the field gets a setter and is set here; every
/// value differs from its default, so a setter that writes the wrong field
/// (or nothing) fails the comparison.
#[test]
fn every_config_field_has_a_builder_setter() {
    let expected = Config {
        capacity: 1_024,
        batch_size: 32,
        handoff_batches: 2,
        backpressure: Backpressure::BlockFor(Duration::from_millis(3)),
        granularity: Granularity::Full,
        drop_log_interval: 77,
        critical_wait: Duration::from_millis(7),
        close_timeout: Duration::from_secs(9),
        consumer_idle_min: Duration::from_micros(20),
        consumer_idle_max: Duration::from_millis(2),
        start_timeout: Duration::from_secs(11),
        export_timeout: Duration::from_secs(13),
        breaker: BreakerConfig {
            open_after: 3,
            cooldown: Duration::from_millis(250),
            max_cooldown: Duration::from_secs(30),
        },
        total_failure_threshold: 4,
        on_total_failure: TotalFailurePolicy::Fail,
    };
    let defaults = Config::default();
    let Config {
        capacity,
        batch_size,
        handoff_batches,
        backpressure,
        granularity,
        drop_log_interval,
        critical_wait,
        close_timeout,
        consumer_idle_min,
        consumer_idle_max,
        start_timeout,
        export_timeout,
        breaker,
        total_failure_threshold,
        on_total_failure,
    } = expected.clone();
    let built = Telemetry::<Tick>::builder()
        .capacity(capacity)
        .batch_size(batch_size)
        .handoff_batches(handoff_batches)
        .backpressure(backpressure)
        .granularity(granularity)
        .drop_log_interval(drop_log_interval)
        .critical_wait(critical_wait)
        .close_timeout(close_timeout)
        .consumer_idle_min(consumer_idle_min)
        .consumer_idle_max(consumer_idle_max)
        .start_timeout(start_timeout)
        .export_timeout(export_timeout)
        .breaker(breaker)
        .on_total_failure(total_failure_threshold, on_total_failure);
    assert_eq!(built.current_config(), &expected);
    expected.validate().unwrap();
    // Every value above differs from its default.
    assert_ne!(expected.capacity, defaults.capacity);
    assert_ne!(expected.batch_size, defaults.batch_size);
    assert_ne!(expected.handoff_batches, defaults.handoff_batches);
    assert_ne!(expected.backpressure, defaults.backpressure);
    assert_ne!(expected.granularity, defaults.granularity);
    assert_ne!(expected.drop_log_interval, defaults.drop_log_interval);
    assert_ne!(expected.critical_wait, defaults.critical_wait);
    assert_ne!(expected.close_timeout, defaults.close_timeout);
    assert_ne!(expected.consumer_idle_min, defaults.consumer_idle_min);
    assert_ne!(expected.consumer_idle_max, defaults.consumer_idle_max);
    assert_ne!(expected.start_timeout, defaults.start_timeout);
    assert_ne!(expected.export_timeout, defaults.export_timeout);
    assert_ne!(expected.breaker.open_after, defaults.breaker.open_after);
    assert_ne!(expected.breaker.cooldown, defaults.breaker.cooldown);
    assert_ne!(expected.breaker.max_cooldown, defaults.breaker.max_cooldown);
    assert_ne!(expected.total_failure_threshold, defaults.total_failure_threshold);
    assert_ne!(expected.on_total_failure, defaults.on_total_failure);

    // The combined setters write the same fields.
    let combined = Telemetry::<Tick>::builder()
        .consumer_idle(consumer_idle_min, consumer_idle_max)
        .total_failure_threshold(total_failure_threshold);
    assert_eq!(combined.current_config().consumer_idle_min, consumer_idle_min);
    assert_eq!(combined.current_config().consumer_idle_max, consumer_idle_max);
    assert_eq!(combined.current_config().total_failure_threshold, total_failure_threshold);
    assert_eq!(combined.current_config().on_total_failure, defaults.on_total_failure);
}
