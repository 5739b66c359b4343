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
//! Both expire `retention` after the last send to them.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::{Script, Value};
use ringtel::{Clock, SystemClock, Timestamp};

use crate::conn::{
    check_duration, check_name, from_millis, millis, parse_u64, tagged, Conn, Settings, LUA_NOW,
};
pub use crate::error::SignalError;
use crate::error::{BackendError, ConfigError, InvalidValue};

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

/// Who a signal is for.
///
/// # Examples
/// ```
/// use ringtel_coord::signals::Target;
///
/// assert_eq!(Target::agent("worker-2")?.to_string(), "agent `worker-2`");
/// assert_eq!(Target::Broadcast.to_string(), "every agent");
/// // `*` is not a wildcard: it is not a valid name at all.
/// assert!(Target::agent("*").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// One agent, by name.
    Agent(String),
    /// Every agent (each reads it; nobody consumes it for the others).
    Broadcast,
}

impl Target {
    /// One agent; the name is checked (1 to 200 bytes, no `*`, `:`,
    /// whitespace or control characters).
    ///
    /// # Errors
    /// [`InvalidValue`] naming the field `target`.
    pub fn agent(name: impl Into<String>) -> Result<Target, InvalidValue> {
        let name = name.into();
        check_name("target", &name)?;
        Ok(Target::Agent(name))
    }

    fn stored(&self) -> &str {
        match self {
            Target::Agent(name) => name,
            Target::Broadcast => BROADCAST,
        }
    }

    fn from_stored(stored: &str) -> Target {
        if stored == BROADCAST {
            Target::Broadcast
        } else {
            Target::Agent(stored.to_owned())
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Agent(name) => write!(f, "agent `{name}`"),
            Target::Broadcast => f.write_str("every agent"),
        }
    }
}

/// A stored signal's id: the target's stream and the entry id the server
/// gave it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignalId {
    target: Target,
    entry: String,
}

impl SignalId {
    /// Who the signal is for.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The stream entry id (`<server ms>-<seq>`).
    pub fn entry(&self) -> &str {
        &self.entry
    }
}

impl fmt::Display for SignalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.entry, self.target.stored())
    }
}

/// A signal as received.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signal {
    /// Its id.
    pub id: SignalId,
    /// What it means.
    pub kind: String,
    /// The sending agent.
    pub source: String,
    /// The payload, as sent.
    pub payload: Vec<u8>,
    /// When it was stored, on the server's clock.
    pub sent_at: Timestamp,
    /// When it expires, on the server's clock.
    pub expires_at: Timestamp,
}

impl Signal {
    /// The payload as UTF-8 text, if it is.
    pub fn payload_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }
}

/// The latest signal of a kind for this agent, judged on the server's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignalCheck {
    /// A signal that has not expired.
    Received(Signal),
    /// The latest signal of this kind expired before this check.
    Expired {
        /// Its id.
        id: SignalId,
        /// When it was stored, on the server's clock.
        sent_at: Timestamp,
        /// When it expired, on the server's clock.
        expired_at: Timestamp,
    },
    /// No signal of this kind was sent to this agent (or to every agent)
    /// within the retention period.
    NotYetSent,
}

/// How a [`Signals::wait`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignalWait {
    /// A signal of the kind arrived (or was already waiting) and has not
    /// expired.
    Received(Signal),
    /// Signals of the kind were there, but all had expired when read; the
    /// latest is described.
    Expired {
        /// Its id.
        id: SignalId,
        /// When it was stored, on the server's clock.
        sent_at: Timestamp,
        /// When it expired, on the server's clock.
        expired_at: Timestamp,
    },
    /// Nothing of the kind arrived within the timeout.
    TimedOut {
        /// How long the wait lasted, on the handle's clock.
        waited: Duration,
    },
}

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
    send_script: Script,
    check_script: Script,
}

/// Configures [`Signals`]; from [`Signals::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct SignalsBuilder {
    settings: Settings,
    agent: String,
    max_ttl: Duration,
    retention: Duration,
    max_stream_len: u64,
    max_payload: usize,
    wait_slice: Duration,
    clock: Arc<dyn Clock>,
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
    /// A builder for agent `agent` on the server at `url`.
    pub fn builder(url: impl Into<String>, agent: impl Into<String>) -> SignalsBuilder {
        Self::with_settings(Settings::new(url), agent)
    }

    /// A builder for agent `agent` on a Redis Cluster reached through any
    /// of `nodes` (`redis://host:port` URLs; the redis crate's cluster
    /// client learns the others from them). Feature `redis-cluster`. Every
    /// signal key carries the hash tag `{<prefix>:sig}`, so the scripts and
    /// the two-stream blocking read run on the one master owning that slot.
    ///
    /// # Examples
    /// ```
    /// use ringtel_coord::signals::Signals;
    ///
    /// let signals = Signals::cluster_builder(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"], "a").build()?;
    /// assert_eq!(signals.agent(), "a");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "redis-cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
    pub fn cluster_builder<N: Into<String>>(
        nodes: impl IntoIterator<Item = N>,
        agent: impl Into<String>,
    ) -> SignalsBuilder {
        Self::with_settings(Settings::cluster(nodes), agent)
    }

    fn with_settings(settings: Settings, agent: impl Into<String>) -> SignalsBuilder {
        SignalsBuilder {
            settings,
            agent: agent.into(),
            max_ttl: DEFAULT_MAX_TTL,
            retention: DEFAULT_RETENTION,
            max_stream_len: DEFAULT_MAX_STREAM_LEN,
            max_payload: DEFAULT_MAX_PAYLOAD,
            wait_slice: DEFAULT_WAIT_SLICE,
            clock: Arc::new(SystemClock::new()),
        }
    }

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
            .arg(millis(self.retention));
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

impl SignalsBuilder {
    /// Key prefix; default [`DEFAULT_PREFIX`](crate::DEFAULT_PREFIX).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.prefix = prefix.into();
        self
    }

    /// Longest TTL accepted by [`Signals::send`]; default
    /// [`DEFAULT_MAX_TTL`]; at least 1 ms and at most `retention`.
    pub fn max_ttl(mut self, max_ttl: Duration) -> Self {
        self.max_ttl = max_ttl;
        self
    }

    /// How long a channel's signals are kept after its last send; default
    /// [`DEFAULT_RETENTION`]; at least `max_ttl`.
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Approximate length streams are trimmed to; default
    /// [`DEFAULT_MAX_STREAM_LEN`]; at least 1.
    pub fn max_stream_len(mut self, max_stream_len: u64) -> Self {
        self.max_stream_len = max_stream_len;
        self
    }

    /// Largest payload in bytes; default [`DEFAULT_MAX_PAYLOAD`]; at most
    /// 512 MiB (Redis's own limit).
    pub fn max_payload(mut self, max_payload: usize) -> Self {
        self.max_payload = max_payload;
        self
    }

    /// Longest single blocking read inside [`Signals::wait`]; default
    /// [`DEFAULT_WAIT_SLICE`]; from 1 ms to 60 s.
    pub fn wait_slice(mut self, wait_slice: Duration) -> Self {
        self.wait_slice = wait_slice;
        self
    }

    /// The clock [`Signals::wait`] measures its timeout on; default
    /// [`SystemClock`]. Expiry is always judged on the server's clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
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
    pub fn build(self) -> Result<Signals, ConfigError> {
        check_name("agent", &self.agent)?;
        check_duration("max_ttl", self.max_ttl, Duration::from_millis(1), None)?;
        check_duration("retention", self.retention, self.max_ttl, None)
            .map_err(|e| InvalidValue { expected: format!("{} (at least `max_ttl`)", e.expected), ..e })?;
        if self.max_stream_len == 0 {
            return Err(InvalidValue::new("max_stream_len", self.max_stream_len, "an integer >= 1").into());
        }
        if self.max_payload > 512 * 1024 * 1024 {
            return Err(InvalidValue::new("max_payload", self.max_payload, "at most 536870912 bytes").into());
        }
        check_duration(
            "wait_slice",
            self.wait_slice,
            Duration::from_millis(1),
            Some(Duration::from_secs(60)),
        )?;
        let commands = self.settings.conn()?;
        let blocking = self.settings.conn()?;
        Ok(Signals {
            agent: self.agent,
            prefix: self.settings.prefix,
            max_ttl: self.max_ttl,
            retention: self.retention,
            max_stream_len: self.max_stream_len,
            max_payload: self.max_payload,
            wait_slice: self.wait_slice,
            clock: self.clock,
            commands,
            blocking,
            cursors: ["0-0".to_owned(), "0-0".to_owned()],
            buffered: VecDeque::new(),
            send_script: Script::new(&format!("{LUA_NOW}{SEND_LUA}")),
            check_script: Script::new(&format!("{LUA_NOW}{CHECK_LUA}")),
        })
    }
}

/// A kind: 1 to 200 bytes, no control characters.
fn check_kind(kind: &str) -> Result<(), InvalidValue> {
    if kind.is_empty() || kind.len() > 200 || kind.chars().any(char::is_control) {
        return Err(InvalidValue::new("kind", kind, "1 to 200 bytes without control characters"));
    }
    Ok(())
}

/// The stream and latest-hash keys of `target`'s channel.
fn keys(prefix: &str, target: &Target) -> (String, String) {
    let tag = tagged(prefix, "sig");
    match target {
        Target::Agent(name) => (format!("{tag}:stream:{name}"), format!("{tag}:latest:{name}")),
        Target::Broadcast => (format!("{tag}:bcast:stream"), format!("{tag}:bcast:latest")),
    }
}

/// A stream entry id's numeric order (`ms-seq`).
fn entry_order(entry: &str) -> (u64, u64) {
    let (ms, seq) = entry.split_once('-').unwrap_or((entry, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// Decodes a latest-hash value: `id\nsent\nexpires\nsource\ntarget\npayload`.
fn decode_latest(server: &str, kind: &str, value: &[u8], channel: Target) -> Result<Signal, BackendError> {
    let mut parts = value.splitn(6, |b| *b == b'\n');
    let mut next = |what: &str| {
        parts
            .next()
            .ok_or_else(|| BackendError::malformed(server, format!("latest `{kind}` signal lacks {what}")))
    };
    let entry = text(server, next("an id")?)?;
    let sent = parse_u64(server, "sent", next("a send time")?)?;
    let expires = parse_u64(server, "expires", next("an expiry")?)?;
    let source = text(server, next("a source")?)?;
    let target = text(server, next("a target")?)?;
    let payload = next("a payload")?.to_vec();
    let target = if target == BROADCAST { Target::Broadcast } else { channel };
    Ok(Signal {
        id: SignalId { target, entry },
        kind: kind.to_owned(),
        source,
        payload,
        sent_at: from_millis(sent),
        expires_at: from_millis(expires),
    })
}

/// Decodes a stream entry written by the send script.
fn decode_entry(
    server: &str,
    entry: String,
    map: &std::collections::HashMap<String, Value>,
) -> Result<Signal, BackendError> {
    let field = |name: &str| -> Result<Vec<u8>, BackendError> {
        let value = map
            .get(name)
            .ok_or_else(|| BackendError::malformed(server, format!("signal {entry} lacks `{name}`")))?;
        redis::from_redis_value(value).map_err(|e| BackendError::redis(server, e))
    };
    Ok(Signal {
        kind: text(server, &field("kind")?)?,
        source: text(server, &field("source")?)?,
        payload: field("payload")?,
        sent_at: from_millis(parse_u64(server, "sent", &field("sent")?)?),
        expires_at: from_millis(parse_u64(server, "expires", &field("expires")?)?),
        id: SignalId { target: Target::from_stored(&text(server, &field("target")?)?), entry },
    })
}

fn text(server: &str, bytes: &[u8]) -> Result<String, BackendError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| BackendError::malformed(server, "a name is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_values_decode_and_garbage_is_malformed() {
        let signal =
            decode_latest("s", "go", b"17-2\n100\n300\na\n*\nline1\nline2", Target::Broadcast).unwrap();
        assert_eq!(signal.id.entry(), "17-2");
        assert_eq!(signal.id.target(), &Target::Broadcast);
        assert_eq!(signal.sent_at, from_millis(100));
        assert_eq!(signal.expires_at, from_millis(300));
        assert_eq!(signal.payload, b"line1\nline2");
        let err = decode_latest("s", "go", b"17-2\n100", Target::Broadcast).unwrap_err();
        assert_eq!(err.kind(), crate::BackendErrorKind::Malformed);
    }

    #[test]
    fn entry_ids_order_numerically() {
        assert!(entry_order("10-0") > entry_order("9-5"));
        assert!(entry_order("10-11") > entry_order("10-2"));
    }

    #[test]
    fn bad_arguments_are_named_before_anything_is_sent() {
        let mut signals =
            Signals::builder("redis://127.0.0.1:1", "a").max_ttl(Duration::from_secs(1)).build().unwrap();
        let b = || Target::agent("b").unwrap();
        let err = signals.send(b(), "go", b"", Duration::from_secs(2)).unwrap_err();
        assert_eq!(err.to_string(), "signal: invalid value 2s for `ttl`: expected a duration from 1ms to 1s");
        let err = signals.send(b(), "go", b"", Duration::from_micros(10)).unwrap_err();
        assert!(matches!(err, SignalError::Invalid(ref v) if v.field == "ttl"));
        let err = signals.send(b(), "", b"", Duration::from_millis(5)).unwrap_err();
        assert!(matches!(err, SignalError::Invalid(ref v) if v.field == "kind"));
        for bad in ["", "*", "a b", "a:b"] {
            assert_eq!(Target::agent(bad).unwrap_err().field, "target");
        }
        assert!(Signals::builder("redis://127.0.0.1:1", "*").build().is_err());
        let err = Signals::builder("redis://127.0.0.1:1", "a")
            .max_ttl(Duration::from_secs(10))
            .retention(Duration::from_secs(5))
            .build()
            .unwrap_err();
        assert!(err.to_string().starts_with("invalid value 5s for `retention`"), "{err}");
    }
}
