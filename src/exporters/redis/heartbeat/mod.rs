//! The heartbeat record kept under a Redis key, and reading it back as a
//! [`Liveness`] that tells alive, stale, stopped and missing apart.
//!
//! A TTL key alone misreports liveness: a process that crashed between beats
//! still looks alive until the key expires, and a process whose publisher
//! runs while its consumer is stuck looks alive for ever. So the key holds
//! the consumer's *exact* last-beat time (with the pid, the host, the
//! publish time and the TTL it was written with), and the reader judges the
//! beat's age itself; the TTL only bounds how long a dead process's record
//! lingers.
//!
//! Ages never compare two hosts' clocks. The reader reads the record, its
//! remaining TTL (`PTTL`) and the server's `TIME` in one script: the time
//! since the record was written is `ttl_ms - PTTL`, on the server's clock;
//! the consumer's lag behind that write is `published_at - last_beat`, two
//! times taken on the publishing host. Their sum is the beat's age, whatever
//! the reader's (or the publisher's) clock says the time is.
//!
//! Publishers also add their key to an index (a sorted set, score = the
//! server's time of the last write), so [`HeartbeatReader::list`] finds
//! every agent without `SCAN`.
//!
//! On a Redis Cluster (feature `redis-cluster`,
//! [`HeartbeatPublisher::cluster_builder`] and
//! [`HeartbeatReader::cluster_builder`]) the same records, scripts and
//! judgments run through the redis crate's cluster client. The publisher's
//! script writes the key and the index together, so both carry one hash tag
//! (`ringtel:heartbeat:{agents}:worker-1` and `ringtel:heartbeats:{agents}`)
//! and live in one slot; [`HeartbeatReader::list`] reads each key on the
//! master that owns it, judged on that master's clock. One tag is one
//! slot, so every heartbeat sharing a tag (and its index) lives on one
//! master: use several tags to spread a large fleet.
//!
//! Modules: `record` (the record), `liveness` (judging it), `reader`
//! (reading it back), `publisher` with `builder` and the thread in `worker`
//! (writing it), `link` (the connection: one server or a cluster).

use std::time::Duration;

pub(crate) mod builder;
pub(crate) mod link;
pub(crate) mod liveness;
pub(crate) mod publisher;
pub(crate) mod reader;
pub(crate) mod record;
pub(crate) mod worker;

pub use builder::HeartbeatPublisherBuilder;
pub use liveness::{AgentLiveness, Liveness, StaleCause};
pub use publisher::{
    HeartbeatPublisher, HeartbeatStats, DEFAULT_HEARTBEAT_FORGET_AFTER, DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_HEARTBEAT_STOPPED_TTL, DEFAULT_HEARTBEAT_TTL, HEARTBEAT_THREAD_NAME,
};
pub use reader::{HeartbeatReader, HeartbeatReaderBuilder};
pub use record::HeartbeatRecord;

/// The default heartbeat key.
pub const DEFAULT_HEARTBEAT_KEY: &str = "ringtel:heartbeat";
/// The default age after which a beat is stale (between the default
/// interval and the default TTL).
pub const DEFAULT_HEARTBEAT_STALE_AFTER: Duration = Duration::from_secs(5);
/// The default index: a sorted set of heartbeat keys, scored by the
/// server's time of their last write.
pub const DEFAULT_HEARTBEAT_INDEX: &str = "ringtel:heartbeats";
