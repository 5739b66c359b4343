//! One lazily (re)connected Redis connection with its timeouts always set,
//! the server's clock, and the validation helpers the builders share.

use std::fmt;
use std::time::Duration;

use redis::{Client, Connection, RedisResult};
use ringtel::Timestamp;

use crate::error::{BackendError, ConfigError, InvalidValue};

/// Default time to establish a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time one command may take before it fails with a `Timeout`
/// error. A blocking read gets its block time on top of this.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Default key prefix of everything this crate writes.
pub const DEFAULT_PREFIX: &str = "ringtel:coord";

/// Connection settings every builder shares.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) url: String,
    pub(crate) prefix: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Duration,
}

impl Settings {
    pub(crate) fn new(url: impl Into<String>) -> Self {
        Settings {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            io_timeout: DEFAULT_IO_TIMEOUT,
        }
    }

    /// Validates the settings and parses the URL; does not connect.
    pub(crate) fn conn(&self) -> Result<Conn, ConfigError> {
        check_prefix(&self.prefix)?;
        check_duration("connect_timeout", self.connect_timeout, Duration::from_millis(1), None)?;
        check_duration("io_timeout", self.io_timeout, Duration::from_millis(1), None)?;
        let client = Client::open(self.url.as_str())
            .map_err(|source| ConfigError::InvalidUrl { url: self.url.clone(), source })?;
        let target = client.get_connection_info().addr.to_string();
        Ok(Conn {
            client,
            target,
            connect_timeout: self.connect_timeout,
            io_timeout: self.io_timeout,
            connection: None,
        })
    }
}

/// A name used inside a key: non-empty, at most 200 bytes, no `*`, no
/// whitespace or control characters, no `:` (so two names can never build
/// the same key).
pub(crate) fn check_name(field: &'static str, name: &str) -> Result<(), InvalidValue> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.chars().any(|c| c == '*' || c == ':' || c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(InvalidValue::new(
            field,
            name,
            "1 to 200 bytes without `*`, `:`, whitespace or control characters",
        ))
    }
}

/// A key prefix: non-empty, at most 200 bytes, no `*`, whitespace or
/// control characters (`:` separates its parts).
pub(crate) fn check_prefix(prefix: &str) -> Result<(), InvalidValue> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 200
        && !prefix.chars().any(|c| c == '*' || c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(InvalidValue::new(
            "prefix",
            prefix,
            "1 to 200 bytes without `*`, whitespace or control characters",
        ))
    }
}

/// `value` within `[min, max]`, whole milliseconds being what Redis keeps.
pub(crate) fn check_duration(
    field: &'static str,
    value: Duration,
    min: Duration,
    max: Option<Duration>,
) -> Result<(), InvalidValue> {
    let in_range = value >= min && max.is_none_or(|max| value <= max);
    if in_range {
        return Ok(());
    }
    let expected = match max {
        Some(max) => format!("a duration from {min:?} to {max:?}"),
        None => format!("a duration >= {min:?}"),
    };
    Err(InvalidValue::new(field, value, expected))
}

/// Whole milliseconds, rounded up, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// A server time in milliseconds as a [`Timestamp`].
pub(crate) fn from_millis(ms: u64) -> Timestamp {
    Timestamp::from_nanos(ms.saturating_mul(1_000_000))
}

/// A Redis connection made on first use and dropped after any failure that
/// may have left it out of step, so the next call reconnects.
pub(crate) struct Conn {
    client: Client,
    target: String,
    connect_timeout: Duration,
    io_timeout: Duration,
    connection: Option<Connection>,
}

impl Conn {
    /// `host:port`, for errors.
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// Runs `f` on the connection with the I/O timeout.
    pub(crate) fn run<T>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, BackendError> {
        self.run_with_read_timeout(self.io_timeout, f)
    }

    /// Runs a blocking command that the server holds for up to `block`: the
    /// read timeout is `block` plus the I/O timeout.
    pub(crate) fn run_blocking<T>(
        &mut self,
        block: Duration,
        f: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, BackendError> {
        self.run_with_read_timeout(block.saturating_add(self.io_timeout), f)
    }

    fn run_with_read_timeout<T>(
        &mut self,
        read_timeout: Duration,
        f: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, BackendError> {
        let result = self.connect().and_then(|connection| {
            connection.set_read_timeout(Some(read_timeout))?;
            f(connection)
        });
        result.map_err(|err| {
            let err = BackendError::redis(&self.target, err);
            if err.breaks_connection() {
                self.connection = None;
            }
            err
        })
    }

    fn connect(&mut self) -> RedisResult<&mut Connection> {
        if self.connection.is_none() {
            let connection = self.client.get_connection_with_timeout(self.connect_timeout)?;
            connection.set_write_timeout(Some(self.io_timeout))?;
            connection.set_read_timeout(Some(self.io_timeout))?;
            self.connection = Some(connection);
        }
        Ok(self.connection.as_mut().expect("connected just above"))
    }
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("target", &self.target)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .field("connected", &self.connection.is_some())
            .finish()
    }
}

/// The Lua line every script starts with: the server's time in ms.
pub(crate) const LUA_NOW: &str = "local __t = redis.call('TIME')\n\
    local now = tonumber(__t[1]) * 1000 + math.floor(tonumber(__t[2]) / 1000)\n\
    local function fmt(x) return string.format('%.0f', x) end\n";

/// Parses a decimal reply field.
pub(crate) fn parse_u64(target: &str, what: &str, text: &[u8]) -> Result<u64, BackendError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| BackendError::malformed(target, format!("{what}: not an integer: {text:?}")))
}
