//! A real `redis-server` on a free loopback port for the Redis tests, and a
//! plain connection to check what it holds.

use std::process::Command;
use std::time::Duration;

use ringtel::exporters::redis::HeartbeatRecord;

use super::server::{free_port, require, ServerProcess};

/// Entries per stream node, so `MAXLEN ~ N` trims to within 10 of `N`.
pub const NODE_ENTRIES: &str = "10";

/// A `redis-server` on `port` (no persistence, small stream nodes).
pub fn start_redis(binary: &std::path::Path, port: u16) -> ServerProcess {
    let mut command = Command::new(binary);
    let port_arg = port.to_string();
    command.args([
        "--port",
        &port_arg,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--stream-node-max-entries",
        NODE_ENTRIES,
    ]);
    ServerProcess::start("redis", command, port)
}

/// A server for `test`, or `None` (with a loud SKIPPED line) if
/// `redis-server` is not installed.
pub fn redis(test: &str) -> Option<(std::path::PathBuf, u16, ServerProcess)> {
    let binary = require("redis-server", test)?;
    let port = free_port();
    let server = start_redis(&binary, port);
    Some((binary, port, server))
}

pub fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

/// A plain connection for checking what the server holds.
pub fn client(port: u16) -> redis::Connection {
    let client = redis::Client::open(url(port)).unwrap();
    let connection = client.get_connection_with_timeout(Duration::from_secs(5)).unwrap();
    connection.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    connection.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    connection
}

/// The heartbeat record stored at `key`, if any.
pub fn get_record(port: u16, key: &str) -> Option<HeartbeatRecord> {
    let value: Option<Vec<u8>> = redis::cmd("GET").arg(key).query(&mut client(port)).unwrap();
    value.map(|v| HeartbeatRecord::parse(key, &v).unwrap())
}

/// The key's remaining time to live, in milliseconds.
pub fn pttl(port: u16, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query(&mut client(port)).unwrap()
}
