//! The consumer's connections: one server, or a Redis Cluster through the
//! redis crate's cluster client.

use std::time::Duration;

/// A connection made on first use and dropped after a failure that may
/// have left it out of step.
pub(super) struct Link {
    pub(super) target: Target,
    pub(super) connect_timeout: Duration,
    pub(super) connection: Option<Connection>,
}

/// What a [`Link`] connects to.
#[derive(Clone)]
pub(crate) enum Target {
    /// One server.
    Single(redis::Client),
    /// A Redis Cluster, through the redis crate's cluster client.
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster::ClusterClient),
}

pub(super) enum Connection {
    Single(redis::Connection),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster::ClusterConnection),
}

impl Link {
    pub(super) fn run<T>(
        &mut self,
        timeout: Duration,
        f: impl FnOnce(&mut dyn redis::ConnectionLike) -> redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
        if self.connection.is_none() {
            self.connection = Some(match &self.target {
                Target::Single(client) => {
                    Connection::Single(client.get_connection_with_timeout(self.connect_timeout)?)
                }
                #[cfg(feature = "redis-cluster")]
                Target::Cluster(client) => Connection::Cluster(client.get_connection()?),
            });
        }
        let result = match self.connection.as_mut().expect("connected just above") {
            Connection::Single(connection) => connection
                .set_read_timeout(Some(timeout))
                .and_then(|()| connection.set_write_timeout(Some(timeout)))
                .and_then(|()| f(connection)),
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(connection) => connection
                .set_read_timeout(Some(timeout))
                .and_then(|()| connection.set_write_timeout(Some(timeout)))
                .and_then(|()| f(connection)),
        };
        if let Err(err) = &result {
            if err.is_io_error()
                || err.is_timeout()
                || err.is_connection_dropped()
                || err.is_unrecoverable_error()
            {
                self.connection = None;
            }
        }
        result
    }
}
