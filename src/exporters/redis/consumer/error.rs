//! [`ConsumerError`]: a failed consumer call, typed, naming where.

use std::error::Error;
use std::fmt;

use redis::RedisError;

/// What kind of failure a [`ConsumerError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsumerErrorKind {
    /// Redis could not be reached or the connection broke (retryable; the
    /// connection is remade on the next call).
    Transport,
    /// No reply within the deadline (retryable).
    Timeout,
    /// The group does not exist (the stream or group was deleted); the next
    /// call creates it again.
    NoGroup,
    /// The server answered with another error reply.
    Rejected,
    /// A reply had a shape the consumer does not understand.
    Malformed,
}

/// A failed consumer call, naming the command, stream, group and consumer.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringtel::exporters::redis::{ConsumerErrorKind, StreamConsumer};
///
/// // Nothing listens on port 1: the connect is refused at once.
/// let mut consumer = StreamConsumer::builder("redis://127.0.0.1:1", "s", "g", "c").build()?;
/// let err = consumer.poll(10, Duration::ZERO).unwrap_err();
/// assert_eq!(err.kind(), ConsumerErrorKind::Transport);
/// assert!(err.is_retryable());
/// assert!(err.to_string().starts_with("XGROUP CREATE on stream `s`, group `g`, consumer `c` at 127.0.0.1:1: "), "{err}");
/// assert!(std::error::Error::source(&err).is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ConsumerError(pub(super) Box<ErrorInner>);

#[derive(Debug)]
pub(super) struct ErrorInner {
    pub(super) kind: ConsumerErrorKind,
    pub(super) command: &'static str,
    pub(super) stream: String,
    pub(super) group: String,
    pub(super) consumer: String,
    pub(super) target: String,
    pub(super) detail: String,
    pub(super) source: Option<RedisError>,
}

impl ConsumerError {
    /// The kind of failure.
    pub fn kind(&self) -> ConsumerErrorKind {
        self.0.kind
    }
    /// The Redis command that failed (`XREADGROUP`, `XACK`, …).
    pub fn command(&self) -> &'static str {
        self.0.command
    }
    /// The stream key.
    pub fn stream(&self) -> &str {
        &self.0.stream
    }
    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.0.group
    }
    /// The consumer name.
    pub fn consumer(&self) -> &str {
        &self.0.consumer
    }
    /// Whether calling again may succeed (transport failures, timeouts, a
    /// group that will be re-created, a server loading or failing over).
    pub fn is_retryable(&self) -> bool {
        match self.0.kind {
            ConsumerErrorKind::Transport | ConsumerErrorKind::Timeout | ConsumerErrorKind::NoGroup => true,
            ConsumerErrorKind::Rejected => self.0.source.as_ref().is_some_and(|err| {
                matches!(
                    err.kind(),
                    redis::ErrorKind::BusyLoadingError
                        | redis::ErrorKind::TryAgain
                        | redis::ErrorKind::ClusterDown
                        | redis::ErrorKind::MasterDown
                )
            }),
            ConsumerErrorKind::Malformed => false,
        }
    }
}

impl fmt::Display for ConsumerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on stream `{}`, group `{}`, consumer `{}` at {}: {}",
            self.0.command, self.0.stream, self.0.group, self.0.consumer, self.0.target, self.0.detail
        )
    }
}

impl Error for ConsumerError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source.as_ref().map(|err| err as &(dyn Error + 'static))
    }
}
