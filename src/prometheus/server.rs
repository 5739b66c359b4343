//! A small scrape endpoint on its own thread, off the hot path.

use std::error::Error;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::{catch_unwind, AssertUnwindSafe};

use prometheus_client::collector::Collector;
use prometheus_client::registry::Registry;
use tiny_http::{Header, Method, Request, Response, Server};

use super::classic::{from_openmetrics, TEXT_CONTENT_TYPE};
use super::render::{encode_registry, CONTENT_TYPE};
use crate::sync::{thread, Arc, AtomicBool, Ordering};

/// The path metrics are served at.
pub const METRICS_PATH: &str = "/metrics";

/// A small HTTP endpoint serving metrics at [`METRICS_PATH`], for Prometheus
/// to scrape.
///
/// One thread (`ringtel-metrics`) answers requests one at a time; a scrape
/// takes one [`Health`](crate::Health) snapshot, so nothing runs on the
/// telemetry's hot path. `GET` or `HEAD` `/metrics` answers `200` with
/// OpenMetrics text ([`CONTENT_TYPE`]) when the `Accept` header names
/// `application/openmetrics-text`, as Prometheus's does, and with the
/// classic text format ([`TEXT_CONTENT_TYPE`]) otherwise; other paths answer `404`, other
/// methods on `/metrics` `405`. A collector that panics gets a `500` and the
/// server keeps serving.
///
/// The thread is ringtel's own, like the consumer and the exporters'
/// workers: a `tracing` event raised on it (by a collector, say) reaches no
/// ring through ringtel's layer but is counted as dropped (`OwnThread`), and
/// an emit under `Block` from it does not wait.
///
/// Dropping the server stops it (like [`MetricsServer::shutdown`]), so bind
/// it to a named variable: `let _ = MetricsServer::bind(..)` stops it at once.
///
/// # Examples
/// ```
/// use std::io::{Read, Write};
/// use std::net::TcpStream;
/// use ringtel::prometheus::{HealthCollector, MetricsServer};
/// use ringtel::{Event, Granularity, Telemetry};
///
/// struct Row;
/// impl Event for Row { fn granularity(&self) -> Granularity { Granularity::Rows } }
///
/// let telemetry = Telemetry::<Row>::builder().start()?;
/// let server = MetricsServer::bind("127.0.0.1:0", HealthCollector::for_telemetry(&telemetry))?;
///
/// let mut stream = TcpStream::connect(server.local_addr())?;
/// stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")?;
/// let mut response = String::new();
/// stream.read_to_string(&mut response)?;
/// assert!(response.starts_with("HTTP/1.0 200"));
/// assert!(response.contains("text/plain; version=0.0.4"));
/// assert!(response.contains("ringtel_queue_capacity"));
/// server.shutdown();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the server stops it"]
pub struct MetricsServer {
    server: Arc<Server>,
    addr: SocketAddr,
    /// Set once, by `stop`, before it unblocks the serving thread; tells that
    /// thread an error from `recv` is the unblock, not an accept failure.
    stopping: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free port; see
    /// [`local_addr`](MetricsServer::local_addr)) and serves `collector`,
    /// usually a [`HealthCollector`](crate::prometheus::HealthCollector).
    ///
    /// # Errors
    /// [`BindError`] naming `addr` if it cannot be resolved or bound (in use,
    /// no permission), or the serving thread cannot start.
    pub fn bind<A>(addr: A, collector: impl Collector) -> Result<MetricsServer, BindError>
    where
        A: ToSocketAddrs + fmt::Display,
    {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(collector));
        MetricsServer::bind_registry(addr, registry)
    }

    /// Binds `addr` and serves a whole `prometheus-client` registry: the
    /// ringtel collector next to metrics of your own.
    ///
    /// # Errors
    /// As [`MetricsServer::bind`].
    ///
    /// # Examples
    /// ```
    /// use prometheus_client::metrics::counter::Counter;
    /// use prometheus_client::registry::Registry;
    /// use ringtel::prometheus::{HealthCollector, MetricsServer};
    /// use ringtel::{Event, Granularity, Telemetry};
    ///
    /// struct Row;
    /// impl Event for Row { fn granularity(&self) -> Granularity { Granularity::Rows } }
    ///
    /// let telemetry = Telemetry::<Row>::builder().start()?;
    /// let mut registry = Registry::default();
    /// registry.register_collector(Box::new(HealthCollector::for_telemetry(&telemetry)));
    /// let rows: Counter = Counter::default();
    /// registry.register("app_rows", "Rows processed.", rows.clone());
    /// let server = MetricsServer::bind_registry("127.0.0.1:0", registry)?;
    /// rows.inc();
    /// assert_ne!(server.local_addr().port(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bind_registry<A>(addr: A, registry: Registry) -> Result<MetricsServer, BindError>
    where
        A: ToSocketAddrs + fmt::Display,
    {
        let named = addr.to_string();
        let fail = |source: Box<dyn Error + Send + Sync>| BindError { addr: named.clone(), source };
        let resolved: Vec<SocketAddr> = addr.to_socket_addrs().map_err(|e| fail(e.into()))?.collect();
        let server = Server::http(&resolved[..]).map_err(fail)?;
        let Some(local) = server.server_addr().to_ip() else {
            return Err(fail("the listener has no IP address".into()));
        };
        let server = Arc::new(server);
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = thread::Builder::new()
            .name("ringtel-metrics".to_owned())
            .spawn({
                let server = Arc::clone(&server);
                let stopping = Arc::clone(&stopping);
                move || {
                    // A ringtel-owned thread, as the consumer and the workers
                    // are: a `tracing` event raised while serving a scrape is
                    // counted (`OwnThread`) instead of fed back into a ring,
                    // and an emit under `Block` degrades to `Drop` instead of
                    // waiting here. It is no telemetry's consumer, so
                    // `flush`/`close` of any telemetry still work from here.
                    crate::role::enter_service_thread();
                    serve(&server, &registry, &stopping)
                }
            })
            .map_err(|e| fail(e.into()))?;
        Ok(MetricsServer { server, addr: local, stopping, thread: Some(thread) })
    }

    /// The address the server listens on (with the port the OS chose when
    /// bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The scrape URL, `http://<local_addr>/metrics`.
    ///
    /// # Examples
    /// ```
    /// use ringtel::prometheus::{HealthCollector, MetricsServer};
    /// use ringtel::{Event, Granularity, Telemetry};
    /// struct Row;
    /// impl Event for Row { fn granularity(&self) -> Granularity { Granularity::Rows } }
    /// let telemetry = Telemetry::<Row>::builder().start()?;
    /// let server = MetricsServer::bind("127.0.0.1:0", HealthCollector::for_telemetry(&telemetry))?;
    /// assert_eq!(server.url(), format!("http://{}/metrics", server.local_addr()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn url(&self) -> String {
        format!("http://{}{METRICS_PATH}", self.addr)
    }

    /// Stops serving and joins the thread: returns once the request in
    /// progress, if any, is answered; the listening socket is closed.
    pub fn shutdown(mut self) {
        self.stop();
    }

    /// Idempotent; bounded by one request's handling. Never panics.
    fn stop(&mut self) {
        let Some(thread) = self.thread.take() else { return };
        // Release: pairs with the Acquire load in `serve` that reads it after
        // `recv` returns the unblock (the queue's mutex orders them too).
        self.stopping.store(true, Ordering::Release);
        self.server.unblock();
        // The thread catches collector panics, so a join error is impossible
        // in practice; there is nothing to do with one in a stop path.
        let _ = thread.join();
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .field("running", &self.thread.is_some())
            .finish_non_exhaustive()
    }
}

/// The serving loop: answers requests until `stop` unblocks it.
fn serve(server: &Server, registry: &Registry, stopping: &AtomicBool) {
    loop {
        match server.recv() {
            Ok(request) => respond(request, registry),
            // Acquire: pairs with the Release store in `MetricsServer::stop`.
            Err(_) if stopping.load(Ordering::Acquire) => return,
            // An accept error (out of file descriptors, say) concerns one
            // connection; keep serving the next.
            Err(error) => tracing::warn!(%error, "metrics endpoint: accepting a connection failed"),
        }
    }
}

fn respond(request: Request, registry: &Registry) {
    let path = request.url().split('?').next().unwrap_or_default();
    let response = if path != METRICS_PATH {
        text_response(404, "not found: metrics are served at /metrics\n")
    } else if !matches!(request.method(), Method::Get | Method::Head) {
        text_response(405, "method not allowed: use GET\n").with_header(header("Allow", "GET, HEAD"))
    } else {
        let openmetrics = wants_openmetrics(&request);
        // A panicking collector (a user's health source, say) must not take
        // the endpoint down: answer 500 and serve the next scrape.
        match catch_unwind(AssertUnwindSafe(|| encode_registry(registry))) {
            Ok(body) if openmetrics => {
                Response::from_string(body).with_header(header("Content-Type", CONTENT_TYPE))
            }
            Ok(body) => Response::from_string(from_openmetrics(&body))
                .with_header(header("Content-Type", TEXT_CONTENT_TYPE)),
            Err(_) => {
                tracing::warn!("metrics endpoint: the collector panicked");
                text_response(500, "the metrics collector panicked\n")
            }
        }
    };
    if let Err(error) = request.respond(response) {
        tracing::debug!(%error, "metrics endpoint: writing a response failed");
    }
}

/// Whether the client accepts OpenMetrics (Prometheus lists it first in its
/// `Accept` header); everyone else gets the classic text format.
fn wants_openmetrics(request: &Request) -> bool {
    request.headers().iter().any(|h| {
        h.field.equiv("Accept")
            && h.value.as_str().to_ascii_lowercase().contains("application/openmetrics-text")
    })
}

fn text_response(status: u16, body: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

fn header(name: &str, value: &str) -> Header {
    match Header::from_bytes(name.as_bytes(), value.as_bytes()) {
        Ok(header) => header,
        // Only non-ASCII input fails, and every name and value here is an
        // ASCII literal.
        Err(()) => unreachable!("header {name}: {value} is ASCII"),
    }
}

/// The metrics endpoint could not start: its address could not be resolved
/// or bound, or its thread could not be spawned.
///
/// # Examples
/// ```
/// use std::error::Error;
/// use std::net::TcpListener;
/// use ringtel::prometheus::{HealthCollector, MetricsServer};
/// use ringtel::{Event, Granularity, Telemetry};
///
/// struct Row;
/// impl Event for Row { fn granularity(&self) -> Granularity { Granularity::Rows } }
///
/// let taken = TcpListener::bind("127.0.0.1:0")?;
/// let addr = taken.local_addr()?;
/// let telemetry = Telemetry::<Row>::builder().start()?;
/// let error = MetricsServer::bind(addr, HealthCollector::for_telemetry(&telemetry)).unwrap_err();
/// assert_eq!(error.addr(), addr.to_string());
/// assert!(error.to_string().starts_with(&format!("could not serve metrics on {addr}: ")));
/// assert!(error.source().is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BindError {
    addr: String,
    source: Box<dyn Error + Send + Sync>,
}

impl BindError {
    /// The address as given to `bind`.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not serve metrics on {}: {}", self.addr, self.source)
    }
}

impl Error for BindError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}
