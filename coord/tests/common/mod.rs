//! Shared fixtures: a real `redis-server` on a free loopback port (the main
//! crate's `tests/common/server.rs`, included as is), a 3-master Redis
//! Cluster (the main crate's `tests/common/cluster.rs`, included as is), and
//! waiting on a condition with a deadline (never sleeping for a fixed time).
#![allow(dead_code, unreachable_pub)]

#[path = "../../../tests/common/server.rs"]
pub mod server;

#[path = "../../../tests/common/cluster.rs"]
pub mod cluster;

use std::process::Command;
use std::time::{Duration, Instant};

use server::{free_port, require, ServerProcess};

/// How long a test waits for something that should happen promptly.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A `redis-server` for `test`, or `None` (with a loud SKIPPED line) when it
/// is not installed; panics instead under `RINGTEL_REQUIRE_SERVERS=1`.
pub fn redis(test: &str) -> Option<Redis> {
    let binary = require("redis-server", test)?;
    let port = free_port();
    let mut command = Command::new(&binary);
    let port_arg = port.to_string();
    command.args(["--port", &port_arg, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
    let server = ServerProcess::start("redis", command, port);
    Some(Redis { port, server })
}

/// A running server.
#[derive(Debug)]
pub struct Redis {
    pub port: u16,
    pub server: ServerProcess,
}

impl Redis {
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url()).unwrap().get_connection_with_timeout(PATIENCE).unwrap()
    }

    /// The server's clock, in ms since the epoch.
    pub fn now_ms(&self) -> u64 {
        let (s, us): (u64, u64) = redis::cmd("TIME").query(&mut self.client()).unwrap();
        s * 1000 + us / 1000
    }

    /// Waits until the server's own clock reads at least `ms`: reads the
    /// server's `TIME`, and while it is short of the mark, blocks on the
    /// server (`XREAD BLOCK` on a stream nobody writes) for the difference,
    /// then reads `TIME` again. The condition decides, not a fixed sleep.
    pub fn wait_server_time(&self, ms: u64) {
        let mut client = self.client();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (s, us): (u64, u64) = redis::cmd("TIME").query(&mut client).unwrap();
            let now = s * 1000 + us / 1000;
            if now >= ms {
                return;
            }
            assert!(Instant::now() < deadline, "the server's clock did not reach {ms} (at {now})");
            let _: redis::Value = redis::cmd("XREAD")
                .arg("BLOCK")
                .arg(ms - now)
                .arg("STREAMS")
                .arg("test:never-written")
                .arg("$")
                .query(&mut client)
                .unwrap();
        }
    }

    /// How many clients are blocked in a blocking command right now.
    pub fn blocked_clients(&self) -> u64 {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut self.client()).unwrap();
        info.lines()
            .find_map(|line| line.strip_prefix("blocked_clients:"))
            .map_or(0, |n| n.trim().parse().unwrap())
    }
}

/// Polls `condition` until it holds or `PATIENCE` passes, yielding between
/// polls; panics with `what` on timeout.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::yield_now();
    }
}
