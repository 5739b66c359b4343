//! The Lua scripts' invocation on one server and on a Redis Cluster.
//!
//! On one server a script runs as the redis crate's `Script` does:
//! `EVALSHA`, and `SCRIPT LOAD` then `EVALSHA` again if the server does not
//! have it cached. On a cluster that `SCRIPT LOAD` goes to every node, so
//! while any master is down no master lacking the script (restarted, or a
//! replica just promoted: scripts are not replicated) could run it, even
//! for keys it owns. So on a cluster a script runs as `EVAL` with its
//! source, routed by the redis crate to the master owning its first key's
//! slot; the source is a few hundred bytes per call, off any hot path.

use redis::{ConnectionLike, FromRedisValue, RedisResult, Script, ToRedisArgs};

/// A script: its source, and the redis crate's `Script` (its hash).
pub(crate) struct Lua {
    script: Script,
    code: String,
}

impl Lua {
    pub(crate) fn new(code: &str) -> Lua {
        Lua { script: Script::new(code), code: code.to_owned() }
    }

    /// A call to build with keys and arguments, like `Script::prepare_invoke`.
    pub(crate) fn prepare_invoke(&self) -> LuaCall<'_> {
        LuaCall { lua: self, keys: Vec::new(), args: Vec::new() }
    }
}

/// One call of a [`Lua`] script.
pub(crate) struct LuaCall<'a> {
    lua: &'a Lua,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl LuaCall<'_> {
    pub(crate) fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        self.keys.extend(key.to_redis_args());
        self
    }

    pub(crate) fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        self.args.extend(arg.to_redis_args());
        self
    }

    /// Runs the script on `c`: through `Script` on one server, as `EVAL`
    /// on a cluster (a connection that does not pipeline; see the module).
    pub(crate) fn invoke<T: FromRedisValue>(&self, c: &mut dyn ConnectionLike) -> RedisResult<T> {
        if c.supports_pipelining() {
            let mut invocation = self.lua.script.prepare_invoke();
            for key in &self.keys {
                invocation.key(key.as_slice());
            }
            for arg in &self.args {
                invocation.arg(arg.as_slice());
            }
            return invocation.invoke(c);
        }
        let mut eval = redis::cmd("EVAL");
        eval.arg(self.lua.code.as_str()).arg(self.keys.len());
        for key in &self.keys {
            eval.arg(key.as_slice());
        }
        for arg in &self.args {
            eval.arg(arg.as_slice());
        }
        eval.query(c)
    }
}

impl std::fmt::Debug for Lua {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lua").field("hash", &self.script.get_hash()).finish()
    }
}
