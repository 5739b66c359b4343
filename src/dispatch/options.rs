//! Per-exporter options, and their validation.

use std::time::Duration;

use super::breaker::BreakerConfig;
use crate::config::validate_breaker;
use crate::{Config, ConfigError};

/// Per-exporter options; `None` fields take the telemetry-wide defaults.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::{BreakerConfig, ExporterOptions};
/// let options = ExporterOptions {
///     breaker: Some(BreakerConfig { open_after: 2, ..BreakerConfig::default() }),
///     export_timeout: Some(Duration::from_secs(2)),
/// };
/// assert!(options.breaker.is_some());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExporterOptions {
    /// This exporter's circuit breaker (default: `Config::breaker`).
    pub breaker: Option<BreakerConfig>,
    /// How long an export may run before the exporter counts as hung
    /// (default: `Config::export_timeout`).
    pub export_timeout: Option<Duration>,
}

/// Validates one exporter's own options.
pub(crate) fn validate_options(options: &ExporterOptions) -> Result<(), ConfigError> {
    if let Some(breaker) = &options.breaker {
        validate_breaker("exporter", breaker)?;
    }
    if let Some(timeout) = options.export_timeout {
        Config { export_timeout: timeout, ..Config::default() }.validate().map_err(|mut err| {
            err.rename("exporter.export_timeout");
            err
        })?;
    }
    Ok(())
}
