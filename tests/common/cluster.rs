//! A 3-master Redis Cluster on loopback ports for tests and the stream
//! throughput bench: `redis-server --cluster-enabled yes` three times, then
//! `redis-cli --cluster create`, waited for with a deadline until every node
//! reports `cluster_state:ok`. Killed by PID when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::server::{free_port, ServerProcess};
use super::PATIENCE;

/// Three masters on loopback, each with its data port and its cluster bus
/// port chosen free (the default bus port, data port + 10 000, may not be).
pub struct Cluster {
    pub servers: Vec<ServerProcess>,
    pub ports: Vec<u16>,
    dir: PathBuf,
    /// Held while the cluster lives (released after its servers are
    /// killed), so the tests of one binary run their clusters one at a
    /// time: a port `free_port` found free is then not taken meanwhile by
    /// another test's cluster or its clients' connections.
    _serial: MutexGuard<'static, ()>,
}

/// See [`Cluster::_serial`].
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

impl Cluster {
    pub fn start(server: &Path, cli: &Path) -> Cluster {
        // A test that panicked with the lock held poisoned it; its cluster
        // is gone all the same.
        let serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let dir =
            std::env::temp_dir().join(format!("ringtel-cluster-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut servers = Vec::new();
        let mut ports = Vec::new();
        for _ in 0..3 {
            let (port, bus) = (free_port(), free_port());
            let mut command = Command::new(server);
            let conf = dir.join(format!("nodes-{port}.conf"));
            command.current_dir(&dir).args([
                "--port",
                &port.to_string(),
                "--cluster-port",
                &bus.to_string(),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                conf.to_str().unwrap(),
                // The masters left serve their slots when one dies.
                "--cluster-require-full-coverage",
                "no",
                "--cluster-node-timeout",
                "2000",
                "--save",
                "",
                "--appendonly",
                "no",
            ]);
            servers.push(ServerProcess::start("redis-cluster", command, port));
            ports.push(port);
        }
        let mut create = Command::new(cli);
        create.arg("--cluster").arg("create");
        for port in &ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        let output = create.args(["--cluster-replicas", "0", "--cluster-yes"]).output().unwrap();
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = Cluster { servers, ports, dir, _serial: serial };
        let deadline = Instant::now() + PATIENCE;
        for &port in &cluster.ports {
            loop {
                let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut node(port)).unwrap();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(Instant::now() < deadline, "cluster never became ok on {port}: {info}");
                std::thread::yield_now();
            }
        }
        cluster
    }

    pub fn urls(&self) -> Vec<String> {
        self.ports.iter().map(|p| format!("redis://127.0.0.1:{p}/")).collect()
    }

    /// The port of the master owning `key`'s slot.
    pub fn owner(&self, key: &str) -> u16 {
        let slot: i64 =
            redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query(&mut node(self.ports[0])).unwrap();
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut node(self.ports[0])).unwrap();
        for line in nodes.lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            let port: u16 = parts[1].split(['@', ':']).nth(1).unwrap().parse().unwrap();
            for range in &parts[8..] {
                let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                if let (Ok(lo), Ok(hi)) = (lo.parse::<i64>(), hi.parse::<i64>()) {
                    if (lo..=hi).contains(&slot) {
                        return port;
                    }
                }
            }
        }
        panic!("no master owns slot {slot}:\n{nodes}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for server in &mut self.servers {
            server.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A plain connection to one node.
pub fn node(port: u16) -> redis::Connection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let connection = client.get_connection_with_timeout(Duration::from_secs(5)).unwrap();
    connection.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    connection
}
