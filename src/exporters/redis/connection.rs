//! One lazily (re)connected Redis connection with its timeouts always set,
//! round trips bounded by a deadline, and redis errors mapped to
//! [`ExportError`]s.

use std::fmt;
use std::time::{Duration, Instant};

use redis::{ErrorKind, RedisError};

use super::error::RedisConfigError;
use crate::{ExportError, ExportErrorKind};

/// Default time to establish a connection (TCP connect and handshake).
pub const DEFAULT_REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time one round trip (sending the commands and reading every
/// reply) may take before it fails with a `Timeout` error.
pub const DEFAULT_REDIS_IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Connection settings shared by the exporter, the publisher and the reader.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionSettings {
    pub(crate) url: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Duration,
}

impl ConnectionSettings {
    pub(crate) fn new(url: impl Into<String>) -> Self {
        ConnectionSettings {
            url: url.into(),
            connect_timeout: DEFAULT_REDIS_CONNECT_TIMEOUT,
            io_timeout: DEFAULT_REDIS_IO_TIMEOUT,
        }
    }

    /// Parses the URL into a client and its `host:port`; does not connect.
    pub(crate) fn client(&self) -> Result<(redis::Client, String), RedisConfigError> {
        let client = redis::Client::open(self.url.as_str())
            .map_err(|source| RedisConfigError::InvalidUrl { url: self.url.clone(), source })?;
        let target = client.get_connection_info().addr.to_string();
        Ok((client, target))
    }

    /// Validates the settings and parses the URL; does not connect.
    pub(crate) fn connector(&self) -> Result<Connector, RedisConfigError> {
        if self.connect_timeout.is_zero() {
            return Err(RedisConfigError::invalid("connect_timeout", self.connect_timeout, "a duration > 0"));
        }
        if self.io_timeout.is_zero() {
            return Err(RedisConfigError::invalid("io_timeout", self.io_timeout, "a duration > 0"));
        }
        let (client, target) = self.client()?;
        Ok(Connector {
            client,
            target,
            connect_timeout: self.connect_timeout,
            io_timeout: self.io_timeout,
            connection: None,
        })
    }
}

/// A Redis connection made on first use and dropped after any failure that
/// may have left it out of step, so the next call reconnects (this is how a
/// restarted server is picked up again).
pub(crate) struct Connector {
    client: redis::Client,
    /// `host:port`, for error messages.
    target: String,
    connect_timeout: Duration,
    io_timeout: Duration,
    connection: Option<redis::Connection>,
}

impl Connector {
    /// `host:port` of the server.
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// Drops the connection, if any.
    pub(crate) fn disconnect(&mut self) {
        self.connection = None;
    }

    /// Sends `packed` (one or more encoded commands) in one write and reads
    /// `replies` replies, all within the I/O timeout.
    ///
    /// Every reply is read even when one is an error reply, so the connection
    /// stays in step; the first error reply is returned as a `Rejected`
    /// error. A transport failure or the deadline drops the connection.
    pub(crate) fn round_trip(
        &mut self,
        packed: &[u8],
        replies: usize,
    ) -> Result<Vec<redis::Value>, ExportError> {
        let result = self.try_round_trip(packed, replies);
        if let Err(failure) = &result {
            if !matches!(failure, Failure::Reply(_)) {
                self.connection = None;
            }
        }
        result.map_err(|failure| match failure {
            Failure::Redis(err) | Failure::Reply(err) => map_error(&self.target, err),
            Failure::Deadline => ExportError::new(
                ExportErrorKind::Timeout,
                format!("redis at {}: no reply within {:?}", self.target, self.io_timeout),
            )
            .retryable(true),
        })
    }

    fn try_round_trip(&mut self, packed: &[u8], replies: usize) -> Result<Vec<redis::Value>, Failure> {
        let deadline = Instant::now() + self.io_timeout;
        let io_timeout = self.io_timeout;
        let connection = self.connect()?;
        connection.set_write_timeout(Some(io_timeout)).map_err(Failure::Redis)?;
        connection.send_packed_command(packed).map_err(Failure::Redis)?;
        let mut values = Vec::with_capacity(replies);
        let mut first_error = None;
        while values.len() < replies {
            // The redis crate's own pipelining waits the read timeout once per
            // reply; one deadline for the whole round trip bounds it instead.
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Failure::Deadline);
            }
            connection.set_read_timeout(Some(remaining)).map_err(Failure::Redis)?;
            match connection.recv_response().map_err(Failure::Redis)? {
                redis::Value::Push { .. } => continue,
                value => match value.extract_error() {
                    Ok(value) => values.push(value),
                    Err(err) => {
                        first_error.get_or_insert(err);
                        values.push(redis::Value::Nil);
                    }
                },
            }
        }
        match first_error {
            Some(err) => Err(Failure::Reply(err)),
            None => Ok(values),
        }
    }

    fn connect(&mut self) -> Result<&mut redis::Connection, Failure> {
        if self.connection.is_none() {
            let connection =
                self.client.get_connection_with_timeout(self.connect_timeout).map_err(Failure::Redis)?;
            connection.set_read_timeout(Some(self.io_timeout)).map_err(Failure::Redis)?;
            connection.set_write_timeout(Some(self.io_timeout)).map_err(Failure::Redis)?;
            self.connection = Some(connection);
        }
        Ok(self.connection.as_mut().expect("connected just above"))
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("target", &self.target)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .field("connected", &self.connection.is_some())
            .finish()
    }
}

enum Failure {
    /// A connection or protocol failure: the connection is unusable.
    Redis(RedisError),
    /// The server answered with an error reply: the connection is fine.
    Reply(RedisError),
    /// The round trip's deadline passed.
    Deadline,
}

/// Maps a redis error to an export error: I/O failures are `Transport` and
/// timeouts `Timeout` (both retryable); error replies are `Rejected`
/// (retryable only when the server says it is busy or failing over).
pub(crate) fn map_error(target: &str, err: RedisError) -> ExportError {
    let (kind, retryable) = if err.is_timeout() {
        (ExportErrorKind::Timeout, true)
    } else if err.is_io_error() {
        (ExportErrorKind::Transport, true)
    } else {
        match err.kind() {
            ErrorKind::BusyLoadingError
            | ErrorKind::TryAgain
            | ErrorKind::ClusterDown
            | ErrorKind::MasterDown
            | ErrorKind::ReadOnly => (ExportErrorKind::Rejected, true),
            ErrorKind::ResponseError
            | ErrorKind::ExtensionError
            | ErrorKind::AuthenticationFailed
            | ErrorKind::ExecAbortError
            | ErrorKind::NoScriptError
            | ErrorKind::CrossSlot
            | ErrorKind::Moved
            | ErrorKind::Ask
            | ErrorKind::NotBusy
            | ErrorKind::NoSub => (ExportErrorKind::Rejected, false),
            ErrorKind::ParseError => (ExportErrorKind::Transport, true),
            _ => (ExportErrorKind::Other, false),
        }
    };
    ExportError::new(kind, format!("redis at {target}: {err}")).retryable(retryable).with_source(err)
}
