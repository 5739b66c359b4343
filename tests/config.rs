//! C11: configuration from the builder, TOML and JSON, validated with typed
//! errors naming the field and the accepted range.

use std::time::Duration;

use ringtel::{Backpressure, Config, ConfigLoadError, Event, Granularity, Telemetry, DEFAULT_CAPACITY};

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
    assert!(matches!(err, ConfigLoadError::Parse { format: "TOML", .. }));
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
