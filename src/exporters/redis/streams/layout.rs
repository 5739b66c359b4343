//! Where and how events land: the stream key ([`Partition`]), the fields
//! of an entry ([`StreamEncoding`]), the length bound.

#[cfg(doc)]
use super::DEFAULT_REDIS_JSON_FIELD;
#[cfg(doc)]
use crate::encoding::Resolved;

/// How an event becomes the fields of one stream entry. Either way the
/// content is exactly that of the event's JSON Lines object (see
/// [`Resolved`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StreamEncoding {
    /// One stream field per JSON key, in the JSON object's order (`ts`,
    /// correlation ids, `event`, `severity`, `message`, then the event's
    /// fields). A string value is stored as its text, any other value as its
    /// JSON text (`42`, `0.5`, `true`, `null` for a float that is not finite,
    /// a nested value's JSON).
    #[default]
    Fields,
    /// One field (named here, for example [`DEFAULT_REDIS_JSON_FIELD`])
    /// holding the whole JSON object, as one line of JSON Lines would.
    Json {
        /// The field name.
        field: String,
    },
}

/// Which stream key each event goes to. With a partition the key is
/// [`partition_key`]`(stream, partition)`: the stream key followed by the
/// partition in a hash tag, `<stream>:{<partition>}`, so on a Redis Cluster
/// each partition's stream lives in one slot and partitions spread over the
/// masters. Order is kept per partition (one key), not across partitions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Partition {
    /// Every event to the stream key as given. The default.
    #[default]
    None,
    /// Every event to one partition, such as this producer's name:
    /// `<stream>:{<name>}`.
    Fixed(String),
    /// Each event to its run's partition, `<stream>:{run-<id>}`
    /// (`<stream>:{run-none}` for events without a run id).
    Run,
}

/// The stream key of `partition` of `stream`: `<stream>:{<partition>}`. On a
/// Redis Cluster the hash tag (`{…}`) decides the slot, so every key of one
/// partition (the stream, and the consumer's default dead-letter stream
/// `<stream>:{<partition>}:dead`) lives on one master.
///
/// # Examples
/// ```
/// use ringtel::exporters::redis::partition_key;
/// assert_eq!(partition_key("ringtel:events", "run-7"), "ringtel:events:{run-7}");
/// ```
pub fn partition_key(stream: &str, partition: &str) -> String {
    format!("{stream}:{{{partition}}}")
}

/// How the stream's length is bounded on every `XADD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trim {
    /// `MAXLEN ~ N`: Redis trims whole internal nodes, so the stream may hold
    /// somewhat more than `N` entries (by at most one node,
    /// `stream-node-max-entries`, default 100). Cheap.
    Approx(usize),
    /// `MAXLEN = N`: exactly `N` entries at most. Costlier on the server.
    Exact(usize),
}
