//! Redis Streams export and consumer heartbeats (feature `redis`), over the
//! `redis` crate's sync API.
//!
//! - [`RedisStreams`]: an exporter; each batch is one pipelined round trip
//!   of `XADD <stream> MAXLEN ~ N * <fields>`, fields as in JSON Lines.
//! - [`StreamConsumer`]: reads those streams back through a consumer
//!   group: own pending entries first, then new ones; acks; reclaiming of
//!   dead consumers' entries (`XAUTOCLAIM`); a dead-letter stream for
//!   entries delivered too often; each [`Entry`] decodable into the event.
//! - [`HeartbeatPublisher`]: a thread of its own writing the consumer's
//!   exact last beat, pid, host and publish time to a key with a TTL, and
//!   the key to an index; a graceful stop writes a final "stopped" record.
//! - [`HeartbeatReader`]: reads that key (or every key in the index) back
//!   as a [`Liveness`]: alive, stale (with the age and why), stopped, or
//!   missing — never a bare `bool`. Ages are measured on the Redis
//!   server's clock (from the key's remaining TTL), never by comparing two
//!   hosts' clocks.
//!
//! - On a Redis Cluster (feature `redis-cluster`): `RedisStreams::cluster_builder`
//!   and `StreamConsumer::cluster_builder`, with a [`Partition`] spreading
//!   stream keys over slots by hash tag ([`partition_key`]);
//!   `HeartbeatPublisher::cluster_builder` and
//!   `HeartbeatReader::cluster_builder`, the heartbeat key and its index
//!   sharing a hash tag.
//!
//! Connections are made lazily with a connect timeout, read and write
//! timeouts are always set, and a failed connection is remade on next use,
//! so Redis going away is a typed, counted error (`Transport`, `Timeout`,
//! `Rejected`) and never a hang, and Redis coming back is picked up without
//! a restart. On one server every round trip has one deadline: the I/O
//! timeout (plus the block time of a blocking read). On a cluster the redis
//! crate tries a command up to three times (after a redirect, a timeout, or
//! a broken connection, which it first remakes), so one call is bounded by
//! about 3 × (connect timeout + I/O timeout).

#[cfg(feature = "redis-cluster")]
mod cluster;
mod connection;
mod consumer;
mod error;
mod heartbeat;
mod streams;

pub use connection::{DEFAULT_REDIS_CONNECT_TIMEOUT, DEFAULT_REDIS_IO_TIMEOUT};
pub use consumer::{
    ConsumerError, ConsumerErrorKind, ConsumerStats, DecodeError, Entry, GroupStart, Origin, Poll, Reclaimed,
    Scan, StreamConsumer, StreamConsumerBuilder, DEFAULT_CONSUMER_GROUP, DEFAULT_DEAD_LETTER_SUFFIX,
    DEFAULT_MAX_DELIVERIES,
};
pub use error::{HeartbeatError, HeartbeatStartError, RedisConfigError};
pub use heartbeat::{
    AgentLiveness, HeartbeatPublisher, HeartbeatPublisherBuilder, HeartbeatReader, HeartbeatReaderBuilder,
    HeartbeatRecord, HeartbeatStats, Liveness, StaleCause, DEFAULT_HEARTBEAT_FORGET_AFTER,
    DEFAULT_HEARTBEAT_INDEX, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_KEY,
    DEFAULT_HEARTBEAT_STALE_AFTER, DEFAULT_HEARTBEAT_STOPPED_TTL, DEFAULT_HEARTBEAT_TTL,
    HEARTBEAT_THREAD_NAME,
};
pub use streams::{
    partition_key, Partition, RedisStreams, RedisStreamsBuilder, StreamEncoding, DEFAULT_REDIS_JSON_FIELD,
    DEFAULT_REDIS_STREAM, DEFAULT_REDIS_STREAMS_NAME, DEFAULT_REDIS_STREAM_MAX_LEN,
};
