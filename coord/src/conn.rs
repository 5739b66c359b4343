//! One lazily (re)connected Redis connection (one server, or a Redis
//! Cluster through the redis crate's cluster client) with its timeouts
//! always set, the server's clock, the hash-tagged key layout, and the
//! validation helpers the builders share.

use std::fmt;
use std::time::Duration;

use redis::{Client, ConnectionLike, FromRedisValue, Pipeline, RedisResult, Value};
use ringtel::Timestamp;

use crate::error::{BackendError, ConfigError, InvalidValue};

/// Default time to establish a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time one command may take before it fails with a `Timeout`
/// error. A blocking read gets its block time on top of this.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Default key prefix of everything this crate writes.
pub const DEFAULT_PREFIX: &str = "ringtel:coord";

/// Connection settings every builder shares.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) url: String,
    pub(crate) prefix: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Duration,
    /// The cluster's node URLs, when talking to a Redis Cluster.
    pub(crate) nodes: Option<Vec<String>>,
}

impl Settings {
    pub(crate) fn new(url: impl Into<String>) -> Self {
        Settings {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            io_timeout: DEFAULT_IO_TIMEOUT,
            nodes: None,
        }
    }

    /// Settings for a Redis Cluster reached through any of `nodes`.
    #[cfg(feature = "redis-cluster")]
    pub(crate) fn cluster<N: Into<String>>(nodes: impl IntoIterator<Item = N>) -> Self {
        let nodes: Vec<String> = nodes.into_iter().map(Into::into).collect();
        let mut settings = Settings::new(nodes.first().cloned().unwrap_or_default());
        settings.nodes = Some(nodes);
        settings
    }

    /// Validates the settings and parses the URL; does not connect.
    pub(crate) fn conn(&self) -> Result<Conn, ConfigError> {
        check_prefix(&self.prefix)?;
        check_duration("connect_timeout", self.connect_timeout, Duration::from_millis(1), None)?;
        check_duration("io_timeout", self.io_timeout, Duration::from_millis(1), None)?;
        let (target, label) = match &self.nodes {
            None => {
                let client = Client::open(self.url.as_str())
                    .map_err(|source| ConfigError::InvalidUrl { url: self.url.clone(), source })?;
                let label = client.get_connection_info().addr.to_string();
                (Target::Single(client), label)
            }
            #[cfg(feature = "redis-cluster")]
            Some(nodes) => (Target::Cluster(self.cluster_client(nodes)?), cluster_label(nodes)),
            #[cfg(not(feature = "redis-cluster"))]
            Some(_) => unreachable!("only the `cluster_builder`s (feature `redis-cluster`) set nodes"),
        };
        Ok(Conn {
            client: target,
            target: label,
            connect_timeout: self.connect_timeout,
            io_timeout: self.io_timeout,
            connection: None,
        })
    }

    /// The redis crate's cluster client with these timeouts: a command is
    /// retried at most twice (a `MOVED`/`ASK` redirect, a broken
    /// connection, and also a read timeout, after which the first try may
    /// still run on the server), so a dead master fails a call within a few
    /// I/O timeouts. Every write that a repeat would double is a
    /// [`guarded`] script, so a retried write takes effect once.
    #[cfg(feature = "redis-cluster")]
    fn cluster_client(&self, nodes: &[String]) -> Result<redis::cluster::ClusterClient, ConfigError> {
        if nodes.is_empty() {
            return Err(InvalidValue::new("cluster nodes", nodes, "at least one node URL").into());
        }
        redis::cluster::ClusterClientBuilder::new(nodes.to_vec())
            .connection_timeout(self.connect_timeout)
            .response_timeout(self.io_timeout)
            .retries(2)
            .min_retry_wait(10)
            .max_retry_wait(100)
            .build()
            .map_err(|source| ConfigError::InvalidUrl { url: nodes.join(","), source })
    }
}

/// The nodes as one `cluster(host:port,…)` string, for errors.
#[cfg(feature = "redis-cluster")]
fn cluster_label(nodes: &[String]) -> String {
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

/// The hash-tagged start of every key of one concept under `prefix`:
/// `{<prefix>:<concept>}`. On a Redis Cluster every key of the concept
/// then lives in one slot, so its multi-key scripts, transactions and
/// multi-stream reads are legal; different concepts (and rating
/// namespaces) spread over the masters.
pub(crate) fn tagged(prefix: &str, concept: &str) -> String {
    format!("{{{prefix}:{concept}}}")
}

/// A name used inside a key: non-empty, at most 200 bytes, no `*`, no
/// whitespace or control characters, no `:` (so two names can never build
/// the same key).
pub(crate) fn check_name(field: &'static str, name: &str) -> Result<(), InvalidValue> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.chars().any(|c| c == '*' || c == ':' || c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(InvalidValue::new(
            field,
            name,
            "1 to 200 bytes without `*`, `:`, whitespace or control characters",
        ))
    }
}

/// A key prefix: non-empty, at most 200 bytes, no `*`, `{`, `}`,
/// whitespace or control characters (`:` separates its parts; the braces
/// are the keys' hash tags, see [`tagged`]).
pub(crate) fn check_prefix(prefix: &str) -> Result<(), InvalidValue> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 200
        && !prefix.chars().any(|c| matches!(c, '*' | '{' | '}') || c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(InvalidValue::new(
            "prefix",
            prefix,
            "1 to 200 bytes without `*`, `{`, `}`, whitespace or control characters",
        ))
    }
}

/// `value` within `[min, max]`, whole milliseconds being what Redis keeps.
pub(crate) fn check_duration(
    field: &'static str,
    value: Duration,
    min: Duration,
    max: Option<Duration>,
) -> Result<(), InvalidValue> {
    let in_range = value >= min && max.is_none_or(|max| value <= max);
    if in_range {
        return Ok(());
    }
    let expected = match max {
        Some(max) => format!("a duration from {min:?} to {max:?}"),
        None => format!("a duration >= {min:?}"),
    };
    Err(InvalidValue::new(field, value, expected))
}

/// Whole milliseconds, rounded up, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// A server time in milliseconds as a [`Timestamp`].
pub(crate) fn from_millis(ms: u64) -> Timestamp {
    Timestamp::from_nanos(ms.saturating_mul(1_000_000))
}

/// What a [`Conn`] connects to.
enum Target {
    Single(Client),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster::ClusterClient),
}

/// A made connection.
enum Connection {
    Single(redis::Connection),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster::ClusterConnection),
}

/// A Redis connection made on first use and dropped after any failure that
/// may have left it out of step, so the next call reconnects. On a cluster,
/// each command goes to the master owning its first key's slot.
pub(crate) struct Conn {
    client: Target,
    target: String,
    connect_timeout: Duration,
    io_timeout: Duration,
    connection: Option<Connection>,
}

impl Conn {
    /// How long a [`guarded`] script's op key is kept, in ms: well past the
    /// last time the redis crate could still send the call again (at most
    /// three tries, each bounded by the connect and I/O timeouts), and at
    /// least a minute.
    pub(crate) fn op_retention_ms(&self) -> u64 {
        let tries = self.connect_timeout.saturating_add(self.io_timeout).saturating_mul(10);
        millis(tries.max(Duration::from_secs(60)))
    }

    /// `host:port` (`cluster(host:port,…)` on a cluster), for errors.
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// Runs `f` on the connection with the I/O timeout.
    pub(crate) fn run<T>(
        &mut self,
        f: impl FnOnce(&mut dyn ConnectionLike) -> RedisResult<T>,
    ) -> Result<T, BackendError> {
        self.run_with_read_timeout(self.io_timeout, f)
    }

    /// Runs a blocking command that the server holds for up to `block`: the
    /// read timeout is `block` plus the I/O timeout.
    pub(crate) fn run_blocking<T>(
        &mut self,
        block: Duration,
        f: impl FnOnce(&mut dyn ConnectionLike) -> RedisResult<T>,
    ) -> Result<T, BackendError> {
        self.run_with_read_timeout(block.saturating_add(self.io_timeout), f)
    }

    fn run_with_read_timeout<T>(
        &mut self,
        read_timeout: Duration,
        f: impl FnOnce(&mut dyn ConnectionLike) -> RedisResult<T>,
    ) -> Result<T, BackendError> {
        let result = self.connect().and_then(|connection| match connection {
            Connection::Single(connection) => {
                connection.set_read_timeout(Some(read_timeout))?;
                f(connection)
            }
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(connection) => {
                connection.set_read_timeout(Some(read_timeout))?;
                f(connection)
            }
        });
        result.map_err(|err| {
            let err = BackendError::redis(&self.target, err);
            if err.breaks_connection() {
                self.connection = None;
            }
            err
        })
    }

    fn connect(&mut self) -> RedisResult<&mut Connection> {
        if self.connection.is_none() {
            self.connection = Some(match &self.client {
                Target::Single(client) => {
                    let connection = client.get_connection_with_timeout(self.connect_timeout)?;
                    connection.set_write_timeout(Some(self.io_timeout))?;
                    connection.set_read_timeout(Some(self.io_timeout))?;
                    Connection::Single(connection)
                }
                #[cfg(feature = "redis-cluster")]
                Target::Cluster(client) => {
                    let connection = client.get_connection()?;
                    connection.set_write_timeout(Some(self.io_timeout))?;
                    connection.set_read_timeout(Some(self.io_timeout))?;
                    Connection::Cluster(connection)
                }
            });
        }
        Ok(self.connection.as_mut().expect("connected just above"))
    }
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("target", &self.target)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .field("connected", &self.connection.is_some())
            .finish()
    }
}

/// Runs `pipe` (a pipeline, or a `MULTI`/`EXEC` transaction) in one round
/// trip and converts its replies, none ignored.
///
/// On one server this is the redis crate's `Pipeline::query`. That refuses
/// a cluster connection, which cannot know the commands share a node; the
/// redis crate's cluster connection instead sends a packed pipeline whole
/// to the master owning its first command's key. Every key of a pipeline
/// in this crate shares one hash tag ([`tagged`]), so that master owns them
/// all (checked in debug builds). A stray key would not be a `CROSSSLOT`
/// error outside `MULTI`: its command alone would get a `MOVED` reply (an
/// error, never a wrong answer, but the whole call fails).
pub(crate) fn query_pipeline<T: FromRedisValue>(
    c: &mut dyn ConnectionLike,
    pipe: &Pipeline,
) -> RedisResult<T> {
    if c.supports_pipelining() {
        return pipe.query(c);
    }
    if pipe.is_empty() {
        return redis::from_owned_redis_value(Value::Array(Vec::new()));
    }
    debug_assert!(one_hash_tag(pipe), "a cluster pipeline's keys must share one hash tag");
    let packed = pipe.get_packed_pipeline();
    // `Pipeline::is_transaction` needs the crate's async feature; an atomic
    // pipeline is one packed after a `MULTI`.
    let replies = if packed.starts_with(b"*1\r\n$5\r\nMULTI\r\n") {
        // MULTI's OK and one QUEUED per command come first; EXEC's array last.
        match c.req_packed_commands(&packed, pipe.len() + 1, 1)?.pop() {
            Some(Value::Array(replies)) => replies,
            other => {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::ResponseError,
                    "unexpected EXEC reply",
                    format!("{other:?}"),
                )))
            }
        }
    } else {
        c.req_packed_commands(&packed, 0, pipe.len())?
    };
    let replies = replies.into_iter().map(Value::extract_error).collect::<RedisResult<Vec<Value>>>()?;
    redis::from_owned_redis_value(Value::Array(replies))
}

/// Wraps a writing script so that running it again with the same call
/// token returns the first run's reply and changes nothing.
///
/// The redis crate's cluster client sends a command again after a read
/// timeout (and after a broken connection), so one call of a write can run
/// two or three times on the server and still return `Ok`. A guarded
/// script takes, after its own keys and arguments, one more key: the
/// call's op key `<tag>:op:<token>` (same hash tag as its other keys, see
/// [`op_key`]), and one more argument: how long to keep it, in ms (`0`
/// for a call that writes nothing a repeat could double, which then skips
/// the guard). The first run stores its reply there (`SET … PX`); a repeat
/// finds it and returns it unchanged. `body` may `return` anywhere; it
/// must not read `#KEYS` or `#ARGV`.
pub(crate) fn guarded(body: &str) -> String {
    format!(
        "{LUA_NOW}local function __body()\n{body}\nend\n\
         local __op, __keep = KEYS[#KEYS], tonumber(ARGV[#ARGV])\n\
         if __keep > 0 then\n\
           local __prev = redis.call('GET', __op)\n\
           if __prev then return cjson.decode(__prev) end\n\
         end\n\
         local __reply = __body()\n\
         if __keep > 0 then redis.call('SET', __op, cjson.encode(__reply), 'PX', __keep) end\n\
         return __reply\n"
    )
}

/// The op key of one call of a [`guarded`] script: under `tag` (a
/// [`tagged`] key start), so on a cluster it lives in the call's slot.
pub(crate) fn op_key(tag: &str, token: &str) -> String {
    format!("{tag}:op:{token}")
}

/// A fresh call token: 128 bits from the process id, a counter, the clock
/// and the standard library's randomly keyed hasher, as hex.
pub(crate) fn op_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let half = |salt: u64| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u32(std::process::id());
        h.write_u64(count);
        h.write_u128(nanos);
        h.finish()
    };
    format!("{:016x}{:016x}", half(0), half(1))
}

/// Whether every command of `pipe` has a first key (its first argument)
/// with the same hash tag as the first command's.
fn one_hash_tag(pipe: &Pipeline) -> bool {
    fn tag(key: &[u8]) -> &[u8] {
        let Some(open) = key.iter().position(|&b| b == b'{') else { return key };
        let rest = &key[open + 1..];
        match rest.iter().position(|&b| b == b'}') {
            Some(close) if close > 0 => &rest[..close],
            _ => key,
        }
    }
    let first_key = |cmd: &redis::Cmd| match cmd.args_iter().nth(1) {
        Some(redis::Arg::Simple(key)) => Some(tag(key).to_vec()),
        _ => None,
    };
    let mut tags = pipe.cmd_iter().map(first_key);
    let Some(Some(first)) = tags.next() else { return false };
    tags.all(|t| t.as_deref() == Some(first.as_slice()))
}

/// The Lua line every script starts with: the server's time in ms.
pub(crate) const LUA_NOW: &str = "local __t = redis.call('TIME')\n\
    local now = tonumber(__t[1]) * 1000 + math.floor(tonumber(__t[2]) / 1000)\n\
    local function fmt(x) return string.format('%.0f', x) end\n";

/// Parses a decimal reply field.
pub(crate) fn parse_u64(target: &str, what: &str, text: &[u8]) -> Result<u64, BackendError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| BackendError::malformed(target, format!("{what}: not an integer: {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipeline_with_a_stray_key_is_caught() {
        let mut pipe = redis::pipe();
        pipe.cmd("HMGET").arg("{p:appr}:req:1").arg("state");
        pipe.cmd("HMGET").arg("{p:appr}:req:2").arg("state");
        assert!(one_hash_tag(&pipe));
        pipe.cmd("HMGET").arg("{p:sig}:latest:a").arg("go");
        assert!(!one_hash_tag(&pipe));
        assert!(!one_hash_tag(&redis::pipe()));
    }

    #[test]
    fn call_tokens_differ() {
        let tokens: std::collections::HashSet<String> = (0..1000).map(|_| op_token()).collect();
        assert_eq!(tokens.len(), 1000);
        assert!(tokens.iter().all(|t| t.len() == 32));
    }
}
