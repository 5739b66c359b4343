//! Typed errors of the Redis exporter and heartbeats.

use std::error::Error;
use std::fmt;
use std::io;

use crate::ExportError;

/// Why a Redis exporter, heartbeat publisher or reader could not be built.
///
/// Building never connects (connections are made lazily, on first use), so
/// these are all configuration mistakes.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use ringtel::exporters::redis::{RedisConfigError, RedisStreams};
/// use ringtel::pipeline::Names;
///
/// let err = RedisStreams::builder("redis://127.0.0.1:6379").names(Arc::new(Names::new()))
///     .max_len(0)
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, RedisConfigError::InvalidSetting { field: "max_len", .. }));
/// assert_eq!(err.to_string(), "invalid value 0 for `max_len`: expected an integer >= 1");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RedisConfigError {
    /// The URL is not a valid Redis URL (`redis://host:port/db`).
    InvalidUrl {
        /// The rejected URL.
        url: String,
        /// The redis client's error.
        source: redis::RedisError,
    },
    /// A setting is out of range.
    InvalidSetting {
        /// The setting.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// The accepted range, in words.
        expected: &'static str,
    },
}

impl RedisConfigError {
    pub(crate) fn invalid(field: &'static str, value: impl fmt::Debug, expected: &'static str) -> Self {
        RedisConfigError::InvalidSetting { field, value: format!("{value:?}"), expected }
    }
}

impl fmt::Display for RedisConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisConfigError::InvalidUrl { url, source } => write!(f, "invalid redis url `{url}`: {source}"),
            RedisConfigError::InvalidSetting { field, value, expected } => {
                write!(f, "invalid value {value} for `{field}`: expected {expected}")
            }
        }
    }
}

impl Error for RedisConfigError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            RedisConfigError::InvalidUrl { source, .. } => Some(source),
            RedisConfigError::InvalidSetting { .. } => None,
        }
    }
}

/// Why a [`HeartbeatPublisher`](super::HeartbeatPublisher) could not start.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::exporters::redis::{HeartbeatPublisher, HeartbeatStartError};
///
/// // A TTL shorter than the cadence would let the key expire between beats.
/// let err = HeartbeatPublisher::builder("redis://127.0.0.1:6379", "ringtel:heartbeat", || None)
///     .interval(Duration::from_secs(2))
///     .ttl(Duration::from_secs(1))
///     .start()
///     .unwrap_err();
/// assert!(matches!(err, HeartbeatStartError::Config(_)));
/// assert_eq!(err.to_string(), "invalid value 1s for `ttl`: expected a duration longer than `interval`");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum HeartbeatStartError {
    /// A setting is invalid.
    Config(RedisConfigError),
    /// The publisher thread could not be spawned.
    Spawn(io::Error),
}

impl fmt::Display for HeartbeatStartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeartbeatStartError::Config(err) => err.fmt(f),
            HeartbeatStartError::Spawn(err) => write!(f, "cannot spawn the heartbeat thread: {err}"),
        }
    }
}

impl Error for HeartbeatStartError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            HeartbeatStartError::Config(err) => err.source(),
            HeartbeatStartError::Spawn(err) => Some(err),
        }
    }
}

impl From<RedisConfigError> for HeartbeatStartError {
    fn from(err: RedisConfigError) -> Self {
        HeartbeatStartError::Config(err)
    }
}

/// Why a heartbeat could not be read (or published).
///
/// Distinct from [`Liveness::Missing`](super::Liveness::Missing): an error
/// means *we could not tell*, never *the consumer is gone*.
///
/// # Examples
/// ```
/// use ringtel::exporters::redis::{HeartbeatError, HeartbeatRecord};
///
/// let err = HeartbeatRecord::parse("ringtel:heartbeat", b"not json").unwrap_err();
/// assert!(matches!(err, HeartbeatError::Malformed { .. }));
/// assert!(err.to_string().starts_with("malformed heartbeat at `ringtel:heartbeat`: "));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum HeartbeatError {
    /// Redis could not be reached, timed out, or refused the command. The
    /// [`ExportError`] carries the kind (`Transport`, `Timeout`, `Rejected`)
    /// and whether retrying may help.
    Redis(ExportError),
    /// The key holds something that is not a heartbeat record.
    Malformed {
        /// The key read.
        key: String,
        /// What is wrong with the value.
        reason: String,
    },
}

impl fmt::Display for HeartbeatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeartbeatError::Redis(err) => err.fmt(f),
            HeartbeatError::Malformed { key, reason } => {
                write!(f, "malformed heartbeat at `{key}`: {reason}")
            }
        }
    }
}

impl Error for HeartbeatError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            HeartbeatError::Redis(err) => Some(err),
            HeartbeatError::Malformed { .. } => None,
        }
    }
}

impl From<ExportError> for HeartbeatError {
    fn from(err: ExportError) -> Self {
        HeartbeatError::Redis(err)
    }
}
