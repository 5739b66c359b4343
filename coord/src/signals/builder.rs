//! [`SignalsBuilder`]: the settings of a [`Signals`] handle, checked
//! before use.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::lua::Lua;
use ringtel::{Clock, SystemClock};

use super::{
    Signals, CHECK_LUA, DEFAULT_MAX_PAYLOAD, DEFAULT_MAX_STREAM_LEN, DEFAULT_MAX_TTL, DEFAULT_RETENTION,
    DEFAULT_WAIT_SLICE, SEND_LUA,
};
use crate::conn::{check_duration, check_name, guarded, Settings, LUA_NOW};
use crate::error::{ConfigError, InvalidValue};

/// Configures [`Signals`]; from [`Signals::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct SignalsBuilder {
    settings: Settings,
    agent: String,
    max_ttl: Duration,
    retention: Duration,
    max_stream_len: u64,
    max_payload: usize,
    wait_slice: Duration,
    clock: Arc<dyn Clock>,
}

impl Signals {
    /// A builder for agent `agent` on the server at `url`.
    pub fn builder(url: impl Into<String>, agent: impl Into<String>) -> SignalsBuilder {
        Self::with_settings(Settings::new(url), agent)
    }

    /// A builder for agent `agent` on a Redis Cluster reached through any
    /// of `nodes` (`redis://host:port` URLs; the redis crate's cluster
    /// client learns the others from them). Feature `redis-cluster`. Every
    /// signal key carries the hash tag `{<prefix>:sig}`, so the scripts and
    /// the two-stream blocking read run on the one master owning that slot.
    ///
    /// # Examples
    /// ```
    /// use ringtel_coord::signals::Signals;
    ///
    /// let signals = Signals::cluster_builder(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"], "a").build()?;
    /// assert_eq!(signals.agent(), "a");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "redis-cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
    pub fn cluster_builder<N: Into<String>>(
        nodes: impl IntoIterator<Item = N>,
        agent: impl Into<String>,
    ) -> SignalsBuilder {
        Self::with_settings(Settings::cluster(nodes), agent)
    }

    fn with_settings(settings: Settings, agent: impl Into<String>) -> SignalsBuilder {
        SignalsBuilder {
            settings,
            agent: agent.into(),
            max_ttl: DEFAULT_MAX_TTL,
            retention: DEFAULT_RETENTION,
            max_stream_len: DEFAULT_MAX_STREAM_LEN,
            max_payload: DEFAULT_MAX_PAYLOAD,
            wait_slice: DEFAULT_WAIT_SLICE,
            clock: Arc::new(SystemClock::new()),
        }
    }
}

impl SignalsBuilder {
    /// Key prefix; default [`DEFAULT_PREFIX`](crate::DEFAULT_PREFIX).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.prefix = prefix.into();
        self
    }

    /// Longest TTL accepted by [`Signals::send`]; default
    /// [`DEFAULT_MAX_TTL`]; at least 1 ms and at most `retention`.
    pub fn max_ttl(mut self, max_ttl: Duration) -> Self {
        self.max_ttl = max_ttl;
        self
    }

    /// How long a channel's signals are kept after its last send; default
    /// [`DEFAULT_RETENTION`]; at least `max_ttl`.
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Approximate length streams are trimmed to; default
    /// [`DEFAULT_MAX_STREAM_LEN`]; at least 1.
    pub fn max_stream_len(mut self, max_stream_len: u64) -> Self {
        self.max_stream_len = max_stream_len;
        self
    }

    /// Largest payload in bytes; default [`DEFAULT_MAX_PAYLOAD`]; at most
    /// 512 MiB (Redis's own limit).
    pub fn max_payload(mut self, max_payload: usize) -> Self {
        self.max_payload = max_payload;
        self
    }

    /// Longest single blocking read inside [`Signals::wait`]; default
    /// [`DEFAULT_WAIT_SLICE`]; from 1 ms to 60 s.
    pub fn wait_slice(mut self, wait_slice: Duration) -> Self {
        self.wait_slice = wait_slice;
        self
    }

    /// The clock [`Signals::wait`] measures its timeout on; default
    /// [`SystemClock`]. Expiry is always judged on the server's clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Time to connect; default [`DEFAULT_CONNECT_TIMEOUT`](crate::DEFAULT_CONNECT_TIMEOUT).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// Time one command may take; default [`DEFAULT_IO_TIMEOUT`](crate::DEFAULT_IO_TIMEOUT).
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.settings.io_timeout = timeout;
        self
    }

    /// Validates the settings; does not connect.
    ///
    /// # Errors
    /// [`ConfigError`] naming the bad setting and its value.
    pub fn build(self) -> Result<Signals, ConfigError> {
        check_name("agent", &self.agent)?;
        check_duration("max_ttl", self.max_ttl, Duration::from_millis(1), None)?;
        check_duration("retention", self.retention, self.max_ttl, None)
            .map_err(|e| InvalidValue { expected: format!("{} (at least `max_ttl`)", e.expected), ..e })?;
        if self.max_stream_len == 0 {
            return Err(InvalidValue::new("max_stream_len", self.max_stream_len, "an integer >= 1").into());
        }
        if self.max_payload > 512 * 1024 * 1024 {
            return Err(InvalidValue::new("max_payload", self.max_payload, "at most 536870912 bytes").into());
        }
        check_duration(
            "wait_slice",
            self.wait_slice,
            Duration::from_millis(1),
            Some(Duration::from_secs(60)),
        )?;
        let commands = self.settings.conn()?;
        let blocking = self.settings.conn()?;
        Ok(Signals {
            agent: self.agent,
            prefix: self.settings.prefix,
            max_ttl: self.max_ttl,
            retention: self.retention,
            max_stream_len: self.max_stream_len,
            max_payload: self.max_payload,
            wait_slice: self.wait_slice,
            clock: self.clock,
            commands,
            blocking,
            cursors: ["0-0".to_owned(), "0-0".to_owned()],
            buffered: VecDeque::new(),
            send_script: Lua::new(&guarded(SEND_LUA)),
            check_script: Lua::new(&format!("{LUA_NOW}{CHECK_LUA}")),
        })
    }
}
