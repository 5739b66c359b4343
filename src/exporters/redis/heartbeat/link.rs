//! The connection a heartbeat publisher or reader uses: one server, or a
//! Redis Cluster through the redis crate's cluster client.

use std::fmt;

use super::super::connection::{ConnectionSettings, Connector};
use super::super::error::RedisConfigError;
use crate::ExportError;

/// One server (a [`Connector`], each round trip bounded by one deadline) or
/// a cluster (feature `redis-cluster`; each command goes to the master
/// owning its first key's slot, bounded by the client's response timeout
/// and retries). One per publisher or reader, built once and never moved
/// on a hot path, so the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Link {
    Single(Connector),
    #[cfg(feature = "redis-cluster")]
    Cluster(super::super::cluster::ClusterLink),
}

/// Where a publisher or reader connects: `None` for the server at the
/// settings' URL, the node URLs for a cluster.
pub(crate) type Nodes = Option<Vec<String>>;

impl Link {
    /// Validates the settings; does not connect.
    pub(crate) fn new(settings: &ConnectionSettings, nodes: &Nodes) -> Result<Link, RedisConfigError> {
        match nodes {
            None => settings.connector().map(Link::Single),
            #[cfg(feature = "redis-cluster")]
            Some(nodes) => super::super::cluster::ClusterLink::new(nodes, settings).map(Link::Cluster),
            #[cfg(not(feature = "redis-cluster"))]
            Some(_) => unreachable!("only the `cluster_builder`s (feature `redis-cluster`) set nodes"),
        }
    }

    /// Sends one command and returns its reply; an error reply is a
    /// `Rejected` [`ExportError`].
    pub(crate) fn query(&mut self, command: &redis::Cmd) -> Result<redis::Value, ExportError> {
        match self {
            Link::Single(connector) => {
                let mut replies = connector.round_trip(&command.get_packed_command(), 1)?;
                Ok(replies.pop().unwrap_or(redis::Value::Nil))
            }
            #[cfg(feature = "redis-cluster")]
            Link::Cluster(cluster) => cluster.query(command),
        }
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Link::Single(connector) => connector.fmt(f),
            #[cfg(feature = "redis-cluster")]
            Link::Cluster(cluster) => cluster.fmt(f),
        }
    }
}

/// The index a cluster publisher or reader of `key` uses unless given one:
/// [`DEFAULT_HEARTBEAT_INDEX`](super::DEFAULT_HEARTBEAT_INDEX) with the
/// key's hash tag, `ringtel:heartbeats:{<tag>}`, so that the publisher's
/// one script may write both. `None` if the key has no hash tag.
#[cfg(feature = "redis-cluster")]
pub(crate) fn cluster_index(key: &str) -> Option<String> {
    super::super::cluster::hash_tag(key).map(|tag| format!("{}:{{{tag}}}", super::DEFAULT_HEARTBEAT_INDEX))
}
