//! Typed errors: a bad setting or argument ([`InvalidValue`], [`ConfigError`]),
//! a Redis failure ([`BackendError`]), and one error type per component that
//! wraps them ([`SignalError`], [`ApprovalError`], [`RatingError`]).
//!
//! An error always means *we could not tell* or *you asked for something
//! invalid*; it never stands for an outcome such as "expired" or "not yet
//! sent", which are variants of the outcome enums.

use std::error::Error;
use std::fmt;

/// A setting or argument outside its accepted range, naming the field, the
/// rejected value and what is accepted.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel_coord::signals::{SignalError, Signals};
///
/// let err = Signals::builder("redis://127.0.0.1:6379", "agent-a")
///     .max_ttl(Duration::ZERO)
///     .build()
///     .unwrap_err();
/// assert_eq!(err.to_string(), "invalid value 0ns for `max_ttl`: expected a duration >= 1ms");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidValue {
    /// The setting or argument.
    pub field: &'static str,
    /// The rejected value (its `Debug` form).
    pub value: String,
    /// The accepted range, in words.
    pub expected: String,
}

impl InvalidValue {
    pub(crate) fn new(field: &'static str, value: impl fmt::Debug, expected: impl Into<String>) -> Self {
        InvalidValue { field, value: format!("{value:?}"), expected: expected.into() }
    }
}

impl fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid value {} for `{}`: expected {}", self.value, self.field, self.expected)
    }
}

impl Error for InvalidValue {}

/// Why a component could not be built. Building never connects, so these are
/// all configuration mistakes.
///
/// # Examples
/// ```
/// use ringtel_coord::ratings::Ratings;
/// use ringtel_coord::ConfigError;
///
/// let err = Ratings::builder("redis://127.0.0.1:6379", "").build().unwrap_err();
/// assert!(matches!(err, ConfigError::Invalid(ref v) if v.field == "namespace"));
/// let err = Ratings::builder("not a url", "tests").build().unwrap_err();
/// assert!(matches!(err, ConfigError::InvalidUrl { .. }));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL is not a Redis URL (`redis://host:port/db`).
    InvalidUrl {
        /// The rejected URL.
        url: String,
        /// The redis client's error.
        source: redis::RedisError,
    },
    /// A setting is out of range.
    Invalid(InvalidValue),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InvalidUrl { url, source } => write!(f, "invalid redis url `{url}`: {source}"),
            ConfigError::Invalid(err) => err.fmt(f),
        }
    }
}

impl Error for ConfigError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ConfigError::InvalidUrl { source, .. } => Some(source),
            ConfigError::Invalid(err) => Some(err),
        }
    }
}

impl From<InvalidValue> for ConfigError {
    fn from(err: InvalidValue) -> Self {
        ConfigError::Invalid(err)
    }
}

/// What went wrong talking to Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendErrorKind {
    /// The server could not be reached, or the connection broke.
    Unreachable,
    /// No reply within the I/O timeout.
    Timeout,
    /// The server answered with an error reply.
    Rejected,
    /// The server's data is not what this crate writes (another program
    /// uses the key, or a version mismatch).
    Malformed,
}

impl fmt::Display for BackendErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendErrorKind::Unreachable => "unreachable",
            BackendErrorKind::Timeout => "timeout",
            BackendErrorKind::Rejected => "rejected",
            BackendErrorKind::Malformed => "malformed data",
        })
    }
}

/// A failed exchange with Redis: its kind, the server, what failed, and the
/// redis client's error when there is one.
///
/// After an `Unreachable` or `Timeout` error the connection is dropped and
/// the next call reconnects, so a restarted server is picked up.
#[derive(Debug)]
pub struct BackendError {
    kind: BackendErrorKind,
    target: String,
    detail: String,
    source: Option<redis::RedisError>,
}

impl BackendError {
    pub(crate) fn redis(target: &str, err: redis::RedisError) -> Self {
        let kind = if err.is_timeout() {
            BackendErrorKind::Timeout
        } else if err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() {
            BackendErrorKind::Unreachable
        } else if matches!(err.kind(), redis::ErrorKind::TypeError | redis::ErrorKind::ParseError) {
            BackendErrorKind::Malformed
        } else {
            BackendErrorKind::Rejected
        };
        BackendError { kind, target: target.to_owned(), detail: err.to_string(), source: Some(err) }
    }

    pub(crate) fn malformed(target: &str, detail: impl Into<String>) -> Self {
        BackendError {
            kind: BackendErrorKind::Malformed,
            target: target.to_owned(),
            detail: detail.into(),
            source: None,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> BackendErrorKind {
        self.kind
    }

    /// `host:port` of the server.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Whether the connection was dropped: the next call reconnects.
    pub(crate) fn breaks_connection(&self) -> bool {
        matches!(self.kind, BackendErrorKind::Unreachable | BackendErrorKind::Timeout)
            || self.source.as_ref().is_some_and(|e| {
                // The redis crate's sync cluster pipeline returns a `MOVED`
                // or `ASK` without re-reading the slot map: only a new
                // connection does, after a resharding.
                e.is_unrecoverable_error()
                    || matches!(e.kind(), redis::ErrorKind::Moved | redis::ErrorKind::Ask)
            })
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis at {} {}: {}", self.target, self.kind, self.detail)
    }
}

impl Error for BackendError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn Error + 'static))
    }
}

macro_rules! component_error {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug)]
        #[non_exhaustive]
        pub enum $name {
            /// An argument is out of range (nothing was sent to Redis).
            Invalid(InvalidValue),
            /// Redis could not be reached, timed out, refused, or holds
            /// something this crate did not write.
            Backend(BackendError),
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $name::Invalid(err) => write!(f, concat!($what, ": {}"), err),
                    $name::Backend(err) => write!(f, concat!($what, ": {}"), err),
                }
            }
        }

        impl Error for $name {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                match self {
                    $name::Invalid(err) => Some(err),
                    $name::Backend(err) => Some(err),
                }
            }
        }

        impl From<InvalidValue> for $name {
            fn from(err: InvalidValue) -> Self {
                $name::Invalid(err)
            }
        }

        impl From<BackendError> for $name {
            fn from(err: BackendError) -> Self {
                $name::Backend(err)
            }
        }
    };
}

component_error!(
    /// Why a signal operation failed. "Expired" and "not yet sent" are not
    /// errors: they are [`SignalCheck`](crate::signals::SignalCheck) and
    /// [`SignalWait`](crate::signals::SignalWait) variants.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use ringtel_coord::signals::{SignalError, Signals, Target};
    ///
    /// let mut signals = Signals::builder("redis://127.0.0.1:1", "agent-a").build()?;
    /// // A zero TTL is rejected before anything is sent.
    /// let err = signals.send(Target::agent("agent-b")?, "go", b"", Duration::ZERO).unwrap_err();
    /// assert!(matches!(err, SignalError::Invalid(ref v) if v.field == "ttl"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    SignalError,
    "signal"
);

component_error!(
    /// Why an approval operation failed. A timeout, a rejection and a late
    /// answer are not errors: they are
    /// [`ApprovalOutcome`](crate::approvals::ApprovalOutcome) and
    /// [`RespondOutcome`](crate::approvals::RespondOutcome) variants.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use ringtel_coord::approvals::Approvals;
    /// use ringtel_coord::ApprovalError;
    ///
    /// let mut gate = Approvals::builder("redis://127.0.0.1:1", "agent-a").build()?;
    /// let err = gate.request("deploy", b"", Duration::ZERO).unwrap_err();
    /// assert!(matches!(err, ApprovalError::Invalid(ref v) if v.field == "timeout"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ApprovalError,
    "approval"
);

component_error!(
    /// Why a rating operation failed.
    ///
    /// # Examples
    /// ```
    /// use ringtel_coord::ratings::{Rating, Ratings};
    /// use ringtel_coord::{BackendErrorKind, RatingError};
    ///
    /// // Nothing listens on port 1: a typed, prompt error.
    /// let mut ratings = Ratings::builder("redis://127.0.0.1:1", "docs").build()?;
    /// let err = ratings.rate("template-a", Rating::Good).unwrap_err();
    /// assert!(matches!(err, RatingError::Backend(ref e) if e.kind() == BackendErrorKind::Unreachable));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    RatingError,
    "rating"
);
