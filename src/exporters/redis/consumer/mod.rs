//! [`StreamConsumer`]: reads what [`RedisStreams`](crate::exporters::redis::RedisStreams)
//! writes back, through a consumer group, with acks, reclaiming of dead
//! consumers' entries and a dead-letter stream.

//!
//! Modules: `entry` (an entry and its decoding), `error` (the typed
//! error), `builder` (the settings), `link` (the connections, one server
//! or a cluster), `reply` (parsing the stream replies); the consumer's own
//! steps (group, poll, dead letters, ack, reclaim) are here.

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

use redis::streams::{StreamAutoClaimOptions, StreamPendingCountReply, StreamReadOptions};
use redis::{RedisError, Value};

mod builder;
mod entry;
mod error;
mod link;
mod reply;

pub use builder::{GroupStart, StreamConsumerBuilder};
pub use entry::{DecodeError, Entry, Origin};
use error::ErrorInner;
pub use error::{ConsumerError, ConsumerErrorKind};
use link::Link;
use reply::{parse_autoclaim_reply, parse_read_reply};

/// The default consumer group name.
pub const DEFAULT_CONSUMER_GROUP: &str = "ringtel";
/// The default bound on deliveries: an entry delivered more often than this
/// goes to the dead-letter stream.
pub const DEFAULT_MAX_DELIVERIES: u64 = 5;
/// Appended to the stream key to name the default dead-letter stream.
pub const DEFAULT_DEAD_LETTER_SUFFIX: &str = ":dead";

/// What one [`StreamConsumer::poll`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Entries to process (at least one); ack each once processed.
    Events(Vec<Entry>),
    /// Nothing arrived within the block time.
    Idle {
        /// How long the poll waited.
        blocked_for: Duration,
    },
}

/// What one [`StreamConsumer::reclaim`] step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reclaimed {
    /// Entries taken over from other consumers, now this consumer's to
    /// process and ack.
    pub entries: Vec<Entry>,
    /// IDs moved to the dead-letter stream (and acked) because they had
    /// been delivered more than the maximum number of times.
    pub dead_lettered: Vec<String>,
    /// Pending IDs whose entries no longer exist in the stream (trimmed);
    /// Redis removes them from the pending list.
    pub deleted: Vec<String>,
    /// Whether the scan of the pending list went round.
    pub scan: Scan,
}

/// Where the reclaim scan of the pending list stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// More of the pending list is left; the next step continues there.
    More,
    /// The scan reached the end; the next step starts from the beginning.
    Complete,
}

/// Counters of one [`StreamConsumer`], since it was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConsumerStats {
    /// Entries returned by [`poll`](StreamConsumer::poll) (new and own
    /// pending).
    pub delivered: u64,
    /// Entries taken over by [`reclaim`](StreamConsumer::reclaim).
    pub reclaimed: u64,
    /// IDs acked by [`ack`](StreamConsumer::ack) that were pending.
    pub acked: u64,
    /// Entries moved to the dead-letter stream.
    pub dead_lettered: u64,
    /// Calls that returned an error.
    pub errors: u64,
}

enum Phase {
    /// Reading this consumer's own pending entries, after this ID.
    Pending { after: String },
    /// Reading new entries (`>`).
    New,
}

/// Reads a Redis stream written by [`RedisStreams`](crate::exporters::redis::RedisStreams)
/// as one consumer of a consumer group.
///
/// - The group is created on first use (`XGROUP CREATE … MKSTREAM`, from the
///   stream's beginning by default, see [`GroupStart`]); a group that
///   exists already (`BUSYGROUP`) is used as it is.
/// - [`poll`](Self::poll) first returns this consumer's own pending entries
///   (read with ID `0`: what it was given before a restart and never
///   acked), then new entries (`>`), blocking up to the given time for
///   those. Blocking reads use a connection of their own whose read timeout
///   is the block time plus the I/O timeout; every other command uses a
///   second connection with the I/O timeout.
/// - [`ack`](Self::ack) acknowledges processed entries.
/// - [`reclaim`](Self::reclaim) takes over entries other consumers were
///   given and have not acked for a minimum idle time (`XAUTOCLAIM`).
/// - An entry delivered more than [`max_deliveries`] times, seen by `poll`
///   among its own pending entries or by `reclaim`, is added to the
///   dead-letter stream (its fields, then `dead_letter_id`,
///   `dead_letter_deliveries`, `dead_letter_consumer`), then acked and
///   counted, instead of being returned.
/// - Every failure is a [`ConsumerError`] returned to the caller; the
///   consumer stays usable (a broken connection is remade on the next call,
///   a deleted group re-created).
///
/// Delivery is at least once: an entry is redelivered when its consumer
/// dies (or is slow past the reclaim idle time) before acking it, when the
/// ack is lost with a broken connection, and (to the dead-letter stream)
/// when a consumer dies between adding a dead letter and acking it.
///
/// [`max_deliveries`]: StreamConsumerBuilder::max_deliveries
///
/// # Examples
/// Building does not connect; this needs a server to run:
/// ```no_run
/// use std::time::Duration;
/// use ringtel::exporters::redis::{Poll, StreamConsumer};
///
/// let mut consumer = StreamConsumer::builder("redis://127.0.0.1:6379", "ringtel:events", "audit", "worker-1")
///     .max_deliveries(3)
///     .build()?;
/// loop {
///     // Take over what dead workers left unacked for 30 s.
///     let reclaimed = consumer.reclaim(Duration::from_secs(30), 100)?;
///     let mut entries = reclaimed.entries;
///     if let Poll::Events(new) = consumer.poll(100, Duration::from_secs(1))? {
///         entries.extend(new);
///     }
///     for entry in &entries {
///         println!("{} {:?} {:?}", entry.id, entry.event_name(), entry.timestamp());
///     }
///     let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
///     consumer.ack(&ids)?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StreamConsumer {
    stream: String,
    group: String,
    consumer: String,
    dead_letter: String,
    max_deliveries: u64,
    start: GroupStart,
    io_timeout: Duration,
    target: String,
    commands: Link,
    blocking: Link,
    group_ready: bool,
    phase: Phase,
    claim_cursor: String,
    stats: ConsumerStats,
}

impl StreamConsumer {
    /// The stream key read.
    pub fn stream(&self) -> &str {
        &self.stream
    }
    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }
    /// This consumer's name in the group.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }
    /// The dead-letter stream key.
    pub fn dead_letter_stream(&self) -> &str {
        &self.dead_letter
    }
    /// The counters so far.
    pub fn stats(&self) -> ConsumerStats {
        self.stats
    }

    fn error(&self, command: &'static str, err: RedisError) -> ConsumerError {
        let kind = if err.is_timeout() {
            ConsumerErrorKind::Timeout
        } else if err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() {
            ConsumerErrorKind::Transport
        } else if err.code() == Some("NOGROUP") {
            ConsumerErrorKind::NoGroup
        } else if err.kind() == redis::ErrorKind::ParseError || err.kind() == redis::ErrorKind::TypeError {
            ConsumerErrorKind::Malformed
        } else {
            ConsumerErrorKind::Rejected
        };
        self.make_error(kind, command, err.to_string(), Some(err))
    }

    fn make_error(
        &self,
        kind: ConsumerErrorKind,
        command: &'static str,
        detail: String,
        source: Option<RedisError>,
    ) -> ConsumerError {
        ConsumerError(Box::new(ErrorInner {
            kind,
            command,
            stream: self.stream.clone(),
            group: self.group.clone(),
            consumer: self.consumer.clone(),
            target: self.target.clone(),
            detail,
            source,
        }))
    }

    fn counted<T>(&mut self, result: Result<T, ConsumerError>) -> Result<T, ConsumerError> {
        if let Err(err) = &result {
            self.stats.errors += 1;
            if err.0.kind == ConsumerErrorKind::NoGroup {
                self.group_ready = false;
            }
        }
        result
    }

    fn ensure_group(&mut self) -> Result<(), ConsumerError> {
        if self.group_ready {
            return Ok(());
        }
        let start = match self.start {
            GroupStart::Beginning => "0",
            GroupStart::NewEntries => "$",
        };
        let mut command = redis::cmd("XGROUP");
        command.arg("CREATE").arg(&self.stream).arg(&self.group).arg(start).arg("MKSTREAM");
        let result: redis::RedisResult<()> = self.commands.run(self.io_timeout, |c| command.query(c));
        match result {
            Ok(()) => {}
            Err(err) if err.code() == Some("BUSYGROUP") => {}
            Err(err) => return Err(self.error("XGROUP CREATE", err)),
        }
        self.group_ready = true;
        Ok(())
    }

    /// Up to `max` entries: this consumer's own pending entries first (once
    /// they are all read, new entries only), waiting up to `block` for new
    /// ones. `block` zero does not wait. Entries delivered more than the
    /// maximum number of times are dead-lettered instead (see the type's
    /// documentation), so `Events` may hold fewer than were read. `max` is
    /// at least 1. An own pending entry whose stream entry was trimmed away
    /// meanwhile comes back with no fields; ack it like any other.
    ///
    /// # Errors
    /// A [`ConsumerError`] for any failure; the consumer stays usable.
    pub fn poll(&mut self, max: usize, block: Duration) -> Result<Poll, ConsumerError> {
        let result = self.try_poll(max.max(1), block);
        self.counted(result)
    }

    fn try_poll(&mut self, max: usize, block: Duration) -> Result<Poll, ConsumerError> {
        self.ensure_group()?;
        let started = Instant::now();
        while let Phase::Pending { after } = &self.phase {
            let after = after.clone();
            let options = StreamReadOptions::default().group(&self.group, &self.consumer).count(max);
            let entries = self.read(false, &options, &after, Origin::Pending)?;
            let Some(last) = entries.last() else {
                self.phase = Phase::New;
                break;
            };
            self.phase = Phase::Pending { after: last.id.clone() };
            let entries = self.screen(entries)?;
            if !entries.is_empty() {
                self.stats.delivered += entries.len() as u64;
                return Ok(Poll::Events(entries));
            }
        }
        let mut options = StreamReadOptions::default().group(&self.group, &self.consumer).count(max);
        if !block.is_zero() {
            // BLOCK 0 would wait forever: round a sub-millisecond block up.
            options = options.block(block.as_millis().max(1).try_into().unwrap_or(usize::MAX));
        }
        let entries = self.read(!block.is_zero(), &options, ">", Origin::New)?;
        if entries.is_empty() {
            return Ok(Poll::Idle { blocked_for: started.elapsed() });
        }
        self.stats.delivered += entries.len() as u64;
        Ok(Poll::Events(entries))
    }

    /// One `XREADGROUP` of this stream from `id`.
    fn read(
        &mut self,
        blocking: bool,
        options: &StreamReadOptions,
        id: &str,
        origin: Origin,
    ) -> Result<Vec<Entry>, ConsumerError> {
        let mut command = redis::cmd("XREADGROUP");
        command.arg(options).arg("STREAMS").arg(&self.stream).arg(id);
        let result: redis::RedisResult<Value> = if blocking {
            let timeout = options_block(options).saturating_add(self.io_timeout);
            self.blocking.run(timeout, |c| command.query(c))
        } else {
            self.commands.run(self.io_timeout, |c| command.query(c))
        };
        let value = result.map_err(|err| self.error("XREADGROUP", err))?;
        parse_read_reply(&value, origin)
            .map_err(|reason| self.make_error(ConsumerErrorKind::Malformed, "XREADGROUP", reason, None))
    }

    /// Splits off the entries delivered too often, dead-letters them, and
    /// returns the others.
    fn screen(&mut self, entries: Vec<Entry>) -> Result<Vec<Entry>, ConsumerError> {
        if entries.is_empty() {
            return Ok(entries);
        }
        let mut pipe = redis::pipe();
        for entry in &entries {
            pipe.cmd("XPENDING").arg(&self.stream).arg(&self.group).arg(&entry.id).arg(&entry.id).arg(1);
        }
        let result: redis::RedisResult<Vec<StreamPendingCountReply>> =
            self.commands.run(self.io_timeout, |c| pipe.query(c));
        let replies = result.map_err(|err| self.error("XPENDING", err))?;
        let mut keep = Vec::with_capacity(entries.len());
        let mut dead = Vec::new();
        for (entry, reply) in entries.into_iter().zip(replies) {
            match reply.ids.first() {
                Some(pending) if pending.times_delivered as u64 > self.max_deliveries => {
                    dead.push((entry, pending.times_delivered));
                }
                // Not pending any more (acked meanwhile by a consumer that
                // had it before it was reclaimed): still returned; acking it
                // again is harmless.
                _ => keep.push(entry),
            }
        }
        if !dead.is_empty() {
            self.dead_letter(&dead)?;
        }
        Ok(keep)
    }

    /// Adds each entry to the dead-letter stream, then acks it.
    fn dead_letter(&mut self, dead: &[(Entry, usize)]) -> Result<(), ConsumerError> {
        let mut pipe = redis::pipe();
        for (entry, deliveries) in dead {
            let command = pipe.cmd("XADD").arg(&self.dead_letter).arg("*");
            for (key, value) in &entry.fields {
                command.arg(key).arg(value);
            }
            command
                .arg("dead_letter_id")
                .arg(&entry.id)
                .arg("dead_letter_deliveries")
                .arg(*deliveries)
                .arg("dead_letter_consumer")
                .arg(&self.consumer)
                .ignore();
        }
        let result: redis::RedisResult<()> = self.commands.run(self.io_timeout, |c| pipe.query(c));
        result.map_err(|err| self.error("XADD (dead letter)", err))?;
        // A command of its own: on a cluster the dead-letter stream may be
        // on another master than the stream.
        let ids: Vec<&str> = dead.iter().map(|(entry, _)| entry.id.as_str()).collect();
        let mut ack = redis::cmd("XACK");
        ack.arg(&self.stream).arg(&self.group).arg(&ids);
        let result: redis::RedisResult<u64> = self.commands.run(self.io_timeout, |c| ack.query(c));
        result.map_err(|err| self.error("XACK (dead letter)", err))?;
        self.stats.dead_lettered += dead.len() as u64;
        Ok(())
    }

    /// Acknowledges processed entries (`XACK`); returns how many of them
    /// were pending (an ID acked twice, or never delivered to the group,
    /// counts 0). An empty slice sends nothing.
    ///
    /// # Errors
    /// A [`ConsumerError`]; on a broken connection the ack may or may not
    /// have reached the server (acking again is harmless).
    pub fn ack<S: AsRef<str>>(&mut self, ids: &[S]) -> Result<u64, ConsumerError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
        let mut command = redis::cmd("XACK");
        command.arg(&self.stream).arg(&self.group).arg(&ids);
        let result: redis::RedisResult<u64> = self.commands.run(self.io_timeout, |c| command.query(c));
        let result = result.map_err(|err| self.error("XACK", err));
        let acked = self.counted(result)?;
        self.stats.acked += acked;
        Ok(acked)
    }

    /// One reclaim step: takes over up to `max` entries that any consumer
    /// of the group (this one included) was given and has not acked for at
    /// least `min_idle` (`XAUTOCLAIM`, continuing the scan of the pending
    /// list where the previous step stopped). Claiming counts as a
    /// delivery: an entry whose count then exceeds the maximum is
    /// dead-lettered and acked instead of returned.
    ///
    /// # Errors
    /// A [`ConsumerError`]; the consumer stays usable.
    pub fn reclaim(&mut self, min_idle: Duration, max: usize) -> Result<Reclaimed, ConsumerError> {
        let result = self.try_reclaim(min_idle, max.max(1));
        self.counted(result)
    }

    fn try_reclaim(&mut self, min_idle: Duration, max: usize) -> Result<Reclaimed, ConsumerError> {
        self.ensure_group()?;
        let mut command = redis::cmd("XAUTOCLAIM");
        command
            .arg(&self.stream)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(u64::try_from(min_idle.as_millis()).unwrap_or(u64::MAX))
            .arg(&self.claim_cursor)
            .arg(StreamAutoClaimOptions::default().count(max));
        let result: redis::RedisResult<Value> = self.commands.run(self.io_timeout, |c| command.query(c));
        let value = result.map_err(|err| self.error("XAUTOCLAIM", err))?;
        let (cursor, claimed, deleted) = parse_autoclaim_reply(&value)
            .map_err(|reason| self.make_error(ConsumerErrorKind::Malformed, "XAUTOCLAIM", reason, None))?;
        let scan = if cursor == "0-0" { Scan::Complete } else { Scan::More };
        self.claim_cursor = cursor;
        let claimed_ids: HashSet<String> = claimed.iter().map(|e| e.id.clone()).collect();
        let dead_before = self.stats.dead_lettered;
        let entries = self.screen(claimed)?;
        let kept: HashSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        let mut dead_lettered: Vec<String> =
            claimed_ids.iter().filter(|id| !kept.contains(id.as_str())).cloned().collect();
        dead_lettered.sort_unstable();
        debug_assert_eq!(dead_lettered.len() as u64, self.stats.dead_lettered - dead_before);
        self.stats.reclaimed += entries.len() as u64;
        Ok(Reclaimed { entries, dead_lettered, deleted, scan })
    }

    /// Drops both connections; the next call reconnects.
    pub fn disconnect(&mut self) {
        self.commands.connection = None;
        self.blocking.connection = None;
    }
}

fn options_block(options: &StreamReadOptions) -> Duration {
    // StreamReadOptions does not expose its block time; read it back from
    // its arguments.
    let args = redis::ToRedisArgs::to_redis_args(options);
    args.iter()
        .position(|arg| arg.as_slice() == b"BLOCK")
        .and_then(|i| args.get(i + 1))
        .and_then(|ms| std::str::from_utf8(ms).ok()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_millis)
}

impl fmt::Debug for StreamConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamConsumer")
            .field("stream", &self.stream)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("dead_letter", &self.dead_letter)
            .field("max_deliveries", &self.max_deliveries)
            .field("target", &self.target)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_time_is_read_back_from_the_options() {
        assert_eq!(options_block(&StreamReadOptions::default().count(3)), Duration::ZERO);
        assert_eq!(
            options_block(&StreamReadOptions::default().block(250).count(3)),
            Duration::from_millis(250)
        );
    }
}
