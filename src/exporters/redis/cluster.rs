//! Redis Cluster support (feature `redis-cluster`): the redis crate's sync
//! cluster client, with ringtel's timeouts, and one lazily (re)made cluster
//! connection whose failures are [`ExportError`]s.

use std::fmt;
use std::time::Duration;

use super::connection::{map_error, ConnectionSettings};
use super::error::RedisConfigError;
use crate::ExportError;

/// Retries of one command on a cluster (after a `MOVED`/`ASK` redirect or a
/// broken connection): enough to follow a slot that moved, few enough that
/// a dead master fails a batch within a few I/O timeouts.
const CLUSTER_RETRIES: u32 = 2;

/// A cluster client for `nodes`, with the settings' connect and I/O
/// timeouts. Does not connect.
pub(crate) fn client(
    nodes: &[String],
    settings: &ConnectionSettings,
) -> Result<redis::cluster::ClusterClient, RedisConfigError> {
    if nodes.is_empty() {
        return Err(RedisConfigError::invalid("cluster nodes", nodes, "at least one node URL"));
    }
    if settings.connect_timeout.is_zero() {
        return Err(RedisConfigError::invalid("connect_timeout", settings.connect_timeout, "a duration > 0"));
    }
    if settings.io_timeout.is_zero() {
        return Err(RedisConfigError::invalid("io_timeout", settings.io_timeout, "a duration > 0"));
    }
    redis::cluster::ClusterClientBuilder::new(nodes.to_vec())
        .connection_timeout(settings.connect_timeout)
        .response_timeout(settings.io_timeout)
        .retries(CLUSTER_RETRIES)
        .min_retry_wait(10)
        .max_retry_wait(u64::try_from(Duration::from_millis(100).as_millis()).unwrap_or(100))
        .build()
        .map_err(|source| RedisConfigError::InvalidUrl { url: nodes.join(","), source })
}

/// The nodes as one `cluster(host:port,…)` string, for error messages.
pub(crate) fn target(nodes: &[String]) -> String {
    let hosts: Vec<&str> = nodes
        .iter()
        .map(|url| {
            let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
            let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
            rest.split('/').next().unwrap_or(rest)
        })
        .collect();
    format!("cluster({})", hosts.join(","))
}

/// A cluster connection made on first use and dropped after any failure
/// that may have left it out of step, so the next call reconnects (and
/// re-reads the slot map). Its writes have the I/O timeout as their
/// deadline, as its reads do.
pub(crate) struct ClusterLink {
    client: redis::cluster::ClusterClient,
    target: String,
    io_timeout: Duration,
    connection: Option<redis::cluster::ClusterConnection>,
}

impl ClusterLink {
    /// A link to the cluster reached through `nodes`; does not connect.
    pub(crate) fn new(nodes: &[String], settings: &ConnectionSettings) -> Result<Self, RedisConfigError> {
        Ok(ClusterLink {
            client: client(nodes, settings)?,
            target: target(nodes),
            io_timeout: settings.io_timeout,
            connection: None,
        })
    }

    /// `cluster(host:port,…)`, for error messages.
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// Drops the connection, if any.
    pub(crate) fn disconnect(&mut self) {
        self.connection = None;
    }

    /// Runs `f` on the connection (made first if there is none, with the
    /// I/O timeout on its writes: the redis crate starts a cluster
    /// connection with none, so a master that stops reading would block the
    /// write forever); a failure is mapped to an [`ExportError`]
    /// (`Transport`, `Timeout`, `Rejected`), and one that may have broken
    /// the connection drops it. So does a `MOVED` or `ASK` reply: the sync
    /// cluster pipeline returns it without re-reading the slot map, so
    /// after a resharding only a new connection (which reads the map)
    /// sends the next batch to the slot's new master.
    pub(crate) fn run<T>(
        &mut self,
        f: impl FnOnce(&mut redis::cluster::ClusterConnection) -> redis::RedisResult<T>,
    ) -> Result<T, ExportError> {
        let result = (|| {
            if self.connection.is_none() {
                let connection = self.client.get_connection()?;
                connection.set_write_timeout(Some(self.io_timeout))?;
                self.connection = Some(connection);
            }
            f(self.connection.as_mut().expect("connected just above"))
        })();
        result.map_err(|err| {
            // This drops every node's connection, not only the failed one's:
            // the redis crate re-reads the slot map only on a `MOVED` or on
            // a new connection, so after a master dies and another takes
            // its slots, keeping the connection would send that slot's
            // commands to the dead address forever. Reconnecting costs one
            // slot-map read per failed call.
            if err.is_io_error()
                || err.is_timeout()
                || err.is_connection_dropped()
                || err.is_unrecoverable_error()
                || matches!(err.kind(), redis::ErrorKind::Moved | redis::ErrorKind::Ask)
            {
                self.connection = None;
            }
            map_error(&self.target, err)
        })
    }

    /// Sends one command to the master owning its first key's slot (a
    /// random master for a command without keys) and returns its reply.
    pub(crate) fn query(&mut self, command: &redis::Cmd) -> Result<redis::Value, ExportError> {
        self.run(|connection| command.query(connection))
    }
}

impl fmt::Debug for ClusterLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterLink")
            .field("target", &self.target)
            .field("connected", &self.connection.is_some())
            .finish()
    }
}

/// The hash tag of `key`: what lies between its first `{` and the first
/// `}` after it, if that is not empty (the Redis Cluster rule). Keys with
/// the same tag live in one slot, so one script or transaction may use them
/// all; the slot itself is the redis crate's business.
pub(crate) fn hash_tag(key: &str) -> Option<&str> {
    let (_, rest) = key.split_once('{')?;
    let (tag, _) = rest.split_once('}')?;
    (!tag.is_empty()).then_some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_tags_follow_the_cluster_rule() {
        assert_eq!(hash_tag("{user1000}.following"), Some("user1000"));
        assert_eq!(hash_tag("a:{tag}:b:{other}"), Some("tag"));
        assert_eq!(hash_tag("a{b{c}d"), Some("b{c"));
        // An empty tag does not count: the whole key is hashed.
        assert_eq!(hash_tag("{}x{y}"), None);
        assert_eq!(hash_tag("ringtel:heartbeat"), None);
        assert_eq!(hash_tag("open{only"), None);
    }
}
