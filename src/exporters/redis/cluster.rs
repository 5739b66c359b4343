//! Redis Cluster support (feature `redis-cluster`): the redis crate's sync
//! cluster client, with ringtel's timeouts.

use std::time::Duration;

use super::connection::ConnectionSettings;
use super::error::RedisConfigError;

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
