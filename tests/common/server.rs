//! Real servers for integration tests (redis-server, prometheus, the OTLP
//! receiver script): found on `PATH`, started on a free loopback port, waited
//! for with a deadline, and killed by PID when the handle drops.
//!
//! A test that needs a server calls [`require`]. When the server's binary is
//! missing, the test prints a loud `SKIPPED` line and returns early, unless
//! `RINGTEL_REQUIRE_SERVERS=1` is set (as `.ci/run` does), in which case it
//! panics: in CI a skipped server test must not look like a pass.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a server gets to start accepting connections.
pub const SERVER_START_DEADLINE: Duration = Duration::from_secs(30);

/// Whether `RINGTEL_REQUIRE_SERVERS=1` is set.
pub fn servers_required() -> bool {
    std::env::var("RINGTEL_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

/// The path of `binary` on `PATH` (or the absolute path itself), or `None`
/// after printing why the calling test is skipped. Panics instead when
/// servers are required.
pub fn require(binary: &str, test: &str) -> Option<PathBuf> {
    match find_on_path(binary) {
        Some(path) => Some(path),
        None if servers_required() => {
            panic!("{test}: `{binary}` is not installed, and RINGTEL_REQUIRE_SERVERS=1 forbids skipping")
        }
        None => {
            eprintln!(
                "SKIPPED {test}: `{binary}` is not installed (set RINGTEL_REQUIRE_SERVERS=1 to make this fail)"
            );
            None
        }
    }
}

/// Looks `binary` up on `PATH`; an absolute or relative path is checked as is.
pub fn find_on_path(binary: &str) -> Option<PathBuf> {
    let candidate = Path::new(binary);
    if candidate.components().count() > 1 {
        return candidate.is_file().then(|| candidate.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(binary)).find(|p| p.is_file())
}

/// A loopback port that was free a moment ago and that no earlier call in
/// this process returned. The OS picks it. The OS may hand the same port to
/// two calls (the first listener is closed before the second binds), and two
/// tests running at once would then start their servers on one port: the
/// second server fails to bind, the first one answers for it, and the second
/// test loses its server when the first test ends. Remembering every port
/// handed out closes that; the small window before a server binds, against
/// other processes, is acceptable for tests.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
        let port = listener.local_addr().expect("local address of the ephemeral listener").port();
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// A server process started by a test. Killed by PID (never by name) and
/// reaped when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    name: String,
    child: Option<Child>,
    log: PathBuf,
    /// The loopback address it listens on.
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Spawns `command` (stdout and stderr go to a log file in the temp
    /// directory, so a chatty server never blocks on a full pipe), then waits until
    /// `127.0.0.1:port` accepts TCP connections or the start deadline passes.
    /// Panics with the server's own output when it exits or never listens.
    pub fn start(name: &str, mut command: Command, port: u16) -> ServerProcess {
        let log = std::env::temp_dir().join(format!("ringtel-{name}-{port}-{}.log", std::process::id()));
        let out = std::fs::File::create(&log).expect("create the server log file");
        let err = out.try_clone().expect("clone the server log handle");
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = command.spawn().unwrap_or_else(|e| panic!("could not spawn {name}: {e}"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = ServerProcess { name: name.to_owned(), child: Some(child), log, addr };
        server.wait_listening();
        server
    }

    /// The server's PID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + SERVER_START_DEADLINE;
        loop {
            let listening = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok();
            let child = self.child.as_mut().expect("server handle is live");
            let exited = child.try_wait();
            if listening && matches!(exited, Ok(None)) {
                return;
            }
            // Exited: it could not start, whether or not something else
            // answers on the port (a server that failed to bind must not
            // pass for the one that holds the port).
            if let Ok(Some(status)) = exited {
                let output = self.take_output();
                panic!("{} exited with {status} before listening on {}:\n{output}", self.name, self.addr);
            }
            if Instant::now() >= deadline {
                self.kill();
                let output = self.take_output();
                panic!(
                    "{} did not listen on {} within {:?}:\n{output}",
                    self.name, self.addr, SERVER_START_DEADLINE
                );
            }
            // Not a sleep on a condition we could wait on: the only signal a
            // foreign process gives is accepting a connection, so poll it.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process (SIGKILL by PID) and reaps it. Idempotent.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whatever the process has written to stdout and stderr so far.
    pub fn take_output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}
