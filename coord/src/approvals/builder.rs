//! [`ApprovalsBuilder`]: the settings of an [`Approvals`] handle, checked
//! before use.

use std::time::Duration;

use crate::lua::Lua;

#[cfg(doc)]
use super::RespondOutcome;

use super::{
    Approvals, CREATE_LUA, DECIDE_LUA, DEFAULT_MAX_PAYLOAD, DEFAULT_MAX_TIMEOUT, DEFAULT_RETENTION,
    DEFAULT_WAIT_SLICE, PENDING_LUA,
};
use crate::conn::{check_duration, check_name, guarded, Settings, LUA_NOW};
use crate::error::{ConfigError, InvalidValue};

/// Configures [`Approvals`]; from [`Approvals::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ApprovalsBuilder {
    settings: Settings,
    agent: String,
    max_timeout: Duration,
    retention: Duration,
    wait_slice: Duration,
    max_payload: usize,
}

impl Approvals {
    /// A builder for agent `agent` on the server at `url`.
    pub fn builder(url: impl Into<String>, agent: impl Into<String>) -> ApprovalsBuilder {
        Self::with_settings(Settings::new(url), agent)
    }

    /// A builder for agent `agent` on a Redis Cluster reached through any
    /// of `nodes` (`redis://host:port` URLs; the redis crate's cluster
    /// client learns the others from them). Feature `redis-cluster`. Every
    /// approval key carries the hash tag `{<prefix>:appr}`, so the
    /// compare-and-set scripts run on the one master owning that slot.
    ///
    /// # Examples
    /// ```
    /// use ringtel_coord::approvals::Approvals;
    ///
    /// let approvals = Approvals::cluster_builder(["redis://127.0.0.1:7000"], "deployer").build()?;
    /// assert_eq!(approvals.agent(), "deployer");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "redis-cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
    pub fn cluster_builder<N: Into<String>>(
        nodes: impl IntoIterator<Item = N>,
        agent: impl Into<String>,
    ) -> ApprovalsBuilder {
        Self::with_settings(Settings::cluster(nodes), agent)
    }

    fn with_settings(settings: Settings, agent: impl Into<String>) -> ApprovalsBuilder {
        ApprovalsBuilder {
            settings,
            agent: agent.into(),
            max_timeout: DEFAULT_MAX_TIMEOUT,
            retention: DEFAULT_RETENTION,
            wait_slice: DEFAULT_WAIT_SLICE,
            max_payload: DEFAULT_MAX_PAYLOAD,
        }
    }
}

impl ApprovalsBuilder {
    /// Key prefix; default [`DEFAULT_PREFIX`](crate::DEFAULT_PREFIX).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.prefix = prefix.into();
        self
    }

    /// Longest timeout [`Approvals::request`] accepts; default
    /// [`DEFAULT_MAX_TIMEOUT`]; at least 1 ms.
    pub fn max_timeout(mut self, max_timeout: Duration) -> Self {
        self.max_timeout = max_timeout;
        self
    }

    /// How long a request is kept after its deadline (answers then read
    /// [`RespondOutcome::Expired`]; after it, [`RespondOutcome::Unknown`]);
    /// default [`DEFAULT_RETENTION`]; at least 1 s.
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Longest single blocking read inside [`Approvals::wait`]; default
    /// [`DEFAULT_WAIT_SLICE`]; from 1 ms to 60 s.
    pub fn wait_slice(mut self, wait_slice: Duration) -> Self {
        self.wait_slice = wait_slice;
        self
    }

    /// Largest payload and reason, in bytes; default
    /// [`DEFAULT_MAX_PAYLOAD`]; at most 512 MiB.
    pub fn max_payload(mut self, max_payload: usize) -> Self {
        self.max_payload = max_payload;
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
    pub fn build(self) -> Result<Approvals, ConfigError> {
        check_name("agent", &self.agent)?;
        check_duration("max_timeout", self.max_timeout, Duration::from_millis(1), None)?;
        check_duration("retention", self.retention, Duration::from_secs(1), None)?;
        check_duration(
            "wait_slice",
            self.wait_slice,
            Duration::from_millis(1),
            Some(Duration::from_secs(60)),
        )?;
        if self.max_payload > 512 * 1024 * 1024 {
            return Err(InvalidValue::new("max_payload", self.max_payload, "at most 536870912 bytes").into());
        }
        let commands = self.settings.conn()?;
        let blocking = self.settings.conn()?;
        Ok(Approvals {
            agent: self.agent,
            prefix: self.settings.prefix,
            max_timeout: self.max_timeout,
            retention: self.retention,
            wait_slice: self.wait_slice,
            max_payload: self.max_payload,
            commands,
            blocking,
            create_script: Lua::new(&guarded(CREATE_LUA)),
            decide_script: Lua::new(&guarded(DECIDE_LUA)),
            pending_script: Lua::new(&format!("{LUA_NOW}{PENDING_LUA}")),
        })
    }
}
