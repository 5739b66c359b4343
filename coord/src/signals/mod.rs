//! Signals between agents that expire on the server's clock and say so.
//!
//! # Model
//! A signal has a *kind* (what it means, e.g. `"handover"`), a payload, a
//! source agent, a target (one agent, or every agent for a broadcast) and a
//! TTL. [`Signals::send`] runs one Lua script that reads the server's `TIME`,
//! appends the signal to the target's stream (`XADD`, `MAXLEN ~`) and records
//! it as the latest of its kind for that target (a hash, field = kind). The
//! send fails with a typed error when the write fails: an id is only
//! returned for a signal that is stored.
//!
//! - [`Signals::check`] reads the latest signal of a kind addressed to this
//!   agent (targeted or broadcast) and judges it against the server's
//!   `TIME` in the same script: [`SignalCheck::Received`],
//!   [`SignalCheck::Expired`] (with when it was sent and when it expired) or
//!   [`SignalCheck::NotYetSent`] — three different answers, never one `None`.
//! - [`Signals::wait`] blocks on `XREAD BLOCK` over this agent's stream and
//!   the broadcast stream, on a connection of its own: a send wakes it at
//!   once, nothing polls. Each handle keeps its own cursor per stream and
//!   nobody deletes entries, so every reader sees every broadcast, and a
//!   targeted signal is only ever in its target's stream.
//!
//! Agent names and kinds are checked: a name is 1 to 200 bytes without `*`,
//! `:`, whitespace or control characters, so no name can address more than
//! one agent; a broadcast is [`Target::Broadcast`], never a magic name.
//!
//! # Keys
//! With prefix `P`: `{P:sig}:stream:<agent>` and `{P:sig}:latest:<agent>`
//! (targeted), `{P:sig}:bcast:stream` and `{P:sig}:bcast:latest`
//! (broadcast). The hash tag `{P:sig}` keeps every signal key in one slot
//! on a Redis Cluster (feature `redis-cluster`, `Signals::cluster_builder`),
//! where the send script writes two keys and a wait reads two streams.
//! Both expire `retention` after the last send to them. Each send also
//! writes `{P:sig}:op:<token>` (its reply, kept a minute or more), so a
//! send the cluster client repeats after a read timeout is stored once.
//!
//! Modules: `types` (targets, ids, signals, outcomes), `builder` (the
//! settings), `codec` (keys and the stored forms); sending, checking and
//! waiting are here.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::lua::Lua;
use redis::streams::{StreamReadOptions, StreamReadReply};
use ringtel::{Clock, Timestamp};

use crate::conn::{check_duration, from_millis, millis, op_key, op_token, parse_u64, tagged, Conn};
pub use crate::error::SignalError;
use crate::error::{BackendError, InvalidValue};

/// Default longest TTL a signal may have.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Default time a channel's signals are kept after its last send (so
/// [`SignalCheck::Expired`] can be told for that long).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Default approximate length a signal stream is trimmed to.
pub const DEFAULT_MAX_STREAM_LEN: u64 = 10_000;
/// Default largest payload, in bytes.
pub const DEFAULT_MAX_PAYLOAD: usize = 64 * 1024;
/// Default longest single blocking read inside [`Signals::wait`]: how often
/// the wait re-reads its clock. A send wakes the read at once regardless.
pub const DEFAULT_WAIT_SLICE: Duration = Duration::from_millis(250);
/// Entries read per blocking read.
const READ_COUNT: usize = 256;

/// The stored form of [`Target::Broadcast`] (no agent name can be `*`).
const BROADCAST: &str = "*";

mod builder;
mod codec;
mod types;

pub use builder::SignalsBuilder;
use codec::{check_kind, decode_entry, decode_latest, entry_order, keys};
pub use types::{Signal, SignalCheck, SignalId, SignalWait, Target};

/// Sends, checks and waits for signals as one agent.
///
/// Holds two connections, made on first use: one for commands and one for
/// the blocking reads of [`wait`](Signals::wait). Every method takes
/// `&mut self`: give each thread its own handle (each then has its own
/// cursors).
///
/// # Examples
/// Building does not connect:
/// ```
/// use std::time::Duration;
/// use ringtel_coord::signals::Signals;
///
/// let signals = Signals::builder("redis://127.0.0.1:6379", "planner")
///     .prefix("myapp:coord")
///     .max_ttl(Duration::from_secs(60))
///     .build()?;
/// assert_eq!(signals.agent(), "planner");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
/// Handing work over (needs a server):
/// ```no_run
/// use std::time::Duration;
/// use ringtel_coord::signals::{SignalWait, Signals, Target};
///
/// let mut a = Signals::builder("redis://127.0.0.1:6379", "a").build()?;
/// let mut b = Signals::builder("redis://127.0.0.1:6379", "b").build()?;
/// a.send(Target::agent("b")?, "handover", b"batch-7", Duration::from_secs(30))?;
/// match b.wait("handover", Duration::from_secs(5))? {
///     SignalWait::Received(signal) => println!("got {:?}", signal.payload_str()),
///     SignalWait::Expired { expired_at, .. } => println!("too late: expired at {expired_at}"),
///     SignalWait::TimedOut { waited } => println!("nothing after {waited:?}"),
///     _ => {}
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Signals {
    agent: String,
    prefix: String,
    max_ttl: Duration,
    retention: Duration,
    max_stream_len: u64,
    max_payload: usize,
    wait_slice: Duration,
    clock: Arc<dyn Clock>,
    commands: Conn,
    blocking: Conn,
    /// Last entry id read from this agent's stream and the broadcast stream.
    cursors: [String; 2],
    /// Entries read while waiting for another kind, oldest first.
    buffered: VecDeque<Signal>,
    send_script: Lua,
    check_script: Lua,
}

const SEND_LUA: &str = "
-- KEYS: stream, latest; ARGV: kind, payload, source, target, ttl_ms, maxlen, retention_ms
local sent = fmt(now)
local expires = fmt(now + tonumber(ARGV[5]))
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[6], '*',
  'kind', ARGV[1], 'sent', sent, 'expires', expires, 'source', ARGV[3], 'target', ARGV[4], 'payload', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1],
  id .. '\\n' .. sent .. '\\n' .. expires .. '\\n' .. ARGV[3] .. '\\n' .. ARGV[4] .. '\\n' .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
return {id, sent, expires}
";

const CHECK_LUA: &str = "
-- KEYS: this agent's latest, the broadcast latest; ARGV: kind
return {redis.call('HGET', KEYS[1], ARGV[1]), redis.call('HGET', KEYS[2], ARGV[1]), fmt(now)}
";

/// The server's time, on the server holding KEYS[1] (declared only to
/// route the script on a cluster).
const TIME_LUA: &str = "return redis.call('TIME')";

impl Signals {
    /// This agent's name.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// Sends a signal of `kind` to `target`, expiring `ttl` after the server
    /// stores it.
    ///
    /// # Errors
    /// [`SignalError::Invalid`] for a TTL of zero, under 1 ms or over
    /// `max_ttl`, a bad kind, or a payload over `max_payload` (nothing is
    /// sent); [`SignalError::Backend`] if the write failed (no id then).
    pub fn send(
        &mut self,
        target: Target,
        kind: &str,
        payload: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<SignalId, SignalError> {
        let payload = payload.as_ref();
        check_duration("ttl", ttl, Duration::from_millis(1), Some(self.max_ttl))?;
        check_kind(kind)?;
        if payload.len() > self.max_payload {
            return Err(InvalidValue::new(
                "payload",
                format!("{} bytes", payload.len()),
                format!("at most {} bytes", self.max_payload),
            )
            .into());
        }
        let (stream, latest) = keys(&self.prefix, &target);
        let mut invocation = self.send_script.prepare_invoke();
        invocation
            .key(stream)
            .key(latest)
            .arg(kind)
            .arg(payload)
            .arg(&self.agent)
            .arg(target.stored())
            .arg(millis(ttl))
            .arg(self.max_stream_len)
            .arg(millis(self.retention))
            .key(op_key(&tagged(&self.prefix, "sig"), &op_token()))
            .arg(self.commands.op_retention_ms());
        let reply: Vec<String> = self.commands.run(|c| invocation.invoke(c))?;
        match reply.as_slice() {
            [entry, _, _] => Ok(SignalId { target, entry: entry.clone() }),
            other => {
                Err(BackendError::malformed(self.commands.target(), format!("send replied {other:?}")).into())
            }
        }
    }

    /// Sends a signal of `kind` to every agent: [`send`](Signals::send) with
    /// [`Target::Broadcast`].
    ///
    /// # Errors
    /// As [`send`](Signals::send).
    pub fn broadcast(
        &mut self,
        kind: &str,
        payload: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<SignalId, SignalError> {
        self.send(Target::Broadcast, kind, payload, ttl)
    }

    /// The latest signal of `kind` for this agent (sent to it or to every
    /// agent), judged on the server's clock. Consumes nothing.
    ///
    /// # Errors
    /// [`SignalError::Invalid`] for a bad kind; [`SignalError::Backend`] if
    /// Redis fails (never reported as "not yet sent").
    pub fn check(&mut self, kind: &str) -> Result<SignalCheck, SignalError> {
        check_kind(kind)?;
        let (_, mine) = keys(&self.prefix, &Target::Agent(self.agent.clone()));
        let (_, all) = keys(&self.prefix, &Target::Broadcast);
        let mut invocation = self.check_script.prepare_invoke();
        invocation.key(mine).key(all).arg(kind);
        let reply: (Option<Vec<u8>>, Option<Vec<u8>>, Vec<u8>) =
            self.commands.run(|c| invocation.invoke(c))?;
        let target = self.commands.target().to_owned();
        let now = from_millis(parse_u64(&target, "server time", &reply.2)?);
        let decode = |value: Option<Vec<u8>>, target_kind: Target| {
            value.map(|v| decode_latest(&target, kind, &v, target_kind)).transpose()
        };
        let mine = decode(reply.0, Target::Agent(self.agent.clone()))?;
        let all = decode(reply.1, Target::Broadcast)?;
        let latest = match (mine, all) {
            (Some(a), Some(b)) => {
                Some(if entry_order(&a.id.entry) >= entry_order(&b.id.entry) { a } else { b })
            }
            (a, b) => a.or(b),
        };
        Ok(match latest {
            None => SignalCheck::NotYetSent,
            Some(signal) if now < signal.expires_at => SignalCheck::Received(signal),
            Some(signal) => {
                SignalCheck::Expired { id: signal.id, sent_at: signal.sent_at, expired_at: signal.expires_at }
            }
        })
    }

    /// Waits up to `timeout` (on the handle's clock) for the next signal of
    /// `kind` after this handle's cursor — sent to this agent or to every
    /// agent — and moves past it.
    ///
    /// The cursor starts at the oldest retained entry, so a signal sent
    /// before the wait began is found at once. If several signals of the
    /// kind are waiting, the first one not yet expired is returned (the
    /// expired ones before it are passed over); if all have expired, the
    /// latest is returned as [`SignalWait::Expired`]. Signals of other kinds
    /// read meanwhile are kept for later waits.
    ///
    /// Woken by `XREAD BLOCK` on a connection of its own: a send ends the
    /// wait at once. The read is cut into slices of at most `wait_slice`
    /// only so the clock is read again.
    ///
    /// # Errors
    /// [`SignalError::Invalid`] for a bad kind; [`SignalError::Backend`] if
    /// Redis fails (within the connect and I/O timeouts; nothing hangs).
    pub fn wait(&mut self, kind: &str, timeout: Duration) -> Result<SignalWait, SignalError> {
        check_kind(kind)?;
        let started = self.clock.now();
        let deadline = started + timeout;
        loop {
            if let Some(outcome) = self.take_buffered(kind)? {
                return Ok(outcome);
            }
            let now = self.clock.now();
            if now >= deadline {
                return Ok(SignalWait::TimedOut { waited: now.saturating_duration_since(started) });
            }
            let block =
                deadline.saturating_duration_since(now).min(self.wait_slice).max(Duration::from_millis(1));
            self.read_block(block)?;
        }
    }

    /// One `XREAD BLOCK` over both streams from the cursors; buffers what
    /// arrives, in stream order.
    fn read_block(&mut self, block: Duration) -> Result<(), SignalError> {
        let (mine, _) = keys(&self.prefix, &Target::Agent(self.agent.clone()));
        let (all, _) = keys(&self.prefix, &Target::Broadcast);
        let options = StreamReadOptions::default().count(READ_COUNT).block(millis(block) as usize);
        let stream_keys = [mine.clone(), all];
        let cursors = self.cursors.clone();
        let mut read = redis::cmd("XREAD");
        read.arg(&options).arg("STREAMS").arg(&stream_keys).arg(&cursors);
        let reply: Option<StreamReadReply> = self.blocking.run_blocking(block, |c| read.query(c))?;
        let Some(reply) = reply else { return Ok(()) };
        let target = self.blocking.target().to_owned();
        let mut arrived = Vec::new();
        for stream in reply.keys {
            let slot = usize::from(stream.key != mine);
            for entry in stream.ids {
                self.cursors[slot] = entry.id.clone();
                arrived.push(decode_entry(&target, entry.id, &entry.map)?);
            }
        }
        arrived.sort_by_key(|s| entry_order(&s.id.entry));
        self.buffered.extend(arrived);
        let excess =
            self.buffered.len().saturating_sub(usize::try_from(self.max_stream_len).unwrap_or(usize::MAX));
        self.buffered.drain(..excess);
        Ok(())
    }

    /// The outcome for `kind` from the buffered entries, if any match.
    fn take_buffered(&mut self, kind: &str) -> Result<Option<SignalWait>, SignalError> {
        if !self.buffered.iter().any(|s| s.kind == kind) {
            return Ok(None);
        }
        // The clock of the server holding this agent's channel (on a
        // cluster, the master owning the signal keys' slot), as in `check`.
        let (mine, _) = keys(&self.prefix, &Target::Agent(self.agent.clone()));
        let mut time = redis::cmd("EVAL");
        time.arg(TIME_LUA).arg(1).arg(mine);
        let seconds_micros: (u64, u64) = self.commands.run(|c| time.query(c))?;
        let now = Timestamp::from_nanos(seconds_micros.0 * 1_000_000_000 + seconds_micros.1 * 1_000);
        let mut latest_expired = None;
        let mut kept = VecDeque::with_capacity(self.buffered.len());
        let mut found = None;
        while let Some(signal) = self.buffered.pop_front() {
            if found.is_some() || signal.kind != kind {
                kept.push_back(signal);
            } else if now < signal.expires_at {
                found = Some(signal);
            } else {
                latest_expired = Some(signal);
            }
        }
        self.buffered = kept;
        Ok(match (found, latest_expired) {
            (Some(signal), _) => Some(SignalWait::Received(signal)),
            (None, Some(signal)) => Some(SignalWait::Expired {
                id: signal.id,
                sent_at: signal.sent_at,
                expired_at: signal.expires_at,
            }),
            (None, None) => None,
        })
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("agent", &self.agent)
            .field("prefix", &self.prefix)
            .field("max_ttl", &self.max_ttl)
            .field("retention", &self.retention)
            .field("cursors", &self.cursors)
            .field("buffered", &self.buffered.len())
            .field("commands", &self.commands)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
