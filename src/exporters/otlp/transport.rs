//! OTLP/HTTP transport: one blocking `POST` of a protobuf body (gzipped on
//! request) through a `ureq` agent, bounded by a deadline, with every failure
//! mapped to a typed [`ExportError`].

use std::error::Error;
use std::fmt;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::Compression;
use ureq::http::{HeaderName, HeaderValue, StatusCode};
use ureq::Agent;

use crate::{ExportError, ExportErrorKind};

/// The content type of OTLP/HTTP binary protobuf.
const PROTOBUF: &str = "application/x-protobuf";

/// The most of a response body read: an OTLP response is a few bytes (an
/// empty message, or a partial-success count and message), so anything
/// longer is cut off rather than buffered without bound (C13).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// An HTTP error status from the receiver, attached as the
/// [`source`](Error::source) of a `Rejected` [`ExportError`].
///
/// # Examples
/// ```
/// use std::error::Error;
/// use ringtel::exporters::otlp::OtlpStatusError;
///
/// # fn check(err: &ringtel::ExportError) {
/// if let Some(status) = err.source().and_then(|s| s.downcast_ref::<OtlpStatusError>()) {
///     println!("receiver answered {}", status.status());
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpStatusError {
    status: u16,
    url: String,
    retry_after: Option<String>,
}

impl OtlpStatusError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The URL posted to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The receiver's `Retry-After` header, if it sent one.
    pub fn retry_after(&self) -> Option<&str> {
        self.retry_after.as_deref()
    }

    /// Whether the OTLP/HTTP specification calls this status retryable:
    /// 429, 502, 503 and 504.
    pub fn is_retryable(&self) -> bool {
        matches!(self.status, 429 | 502 | 503 | 504)
    }
}

impl fmt::Display for OtlpStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http status {} from {}", self.status, self.url)?;
        if let Some(after) = &self.retry_after {
            write!(f, " (retry after {after})")?;
        }
        Ok(())
    }
}

impl Error for OtlpStatusError {}

/// Root certificates to trust instead of the bundled ones.
#[cfg(feature = "otlp-tls")]
pub(super) type TlsRoots = Vec<ureq::tls::Certificate<'static>>;
/// Root certificates to trust (none can exist without `otlp-tls`).
#[cfg(not(feature = "otlp-tls"))]
pub(super) type TlsRoots = std::convert::Infallible;

/// How requests are sent: the agent (its global timeout set), the target
/// URLs, the extra headers and whether to gzip.
pub(super) struct Transport {
    agent: Agent,
    headers: Vec<(HeaderName, HeaderValue)>,
    gzip: bool,
    /// The gzip output, reused across requests.
    compressed: Vec<u8>,
    /// Request body bytes handed to the connection, after gzip.
    bytes_sent: u64,
}

impl Transport {
    /// A transport whose every request is bounded by `timeout` (the agent's
    /// global timeout, covering connect, send and receive).
    pub(super) fn new(
        timeout: Duration,
        headers: Vec<(HeaderName, HeaderValue)>,
        gzip: bool,
        tls_roots: Option<TlsRoots>,
    ) -> Transport {
        let config = Agent::config_builder();
        #[cfg(feature = "otlp-tls")]
        let config = match tls_roots {
            Some(roots) => config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
                    .build(),
            ),
            None => config,
        };
        #[cfg(not(feature = "otlp-tls"))]
        let _ = tls_roots;
        let config = config
            .timeout_global(Some(timeout))
            // Statuses are read and mapped here, with the status kept.
            .http_status_as_error(false)
            // A POST is never redirected with its body; fail loudly instead.
            .max_redirects(0)
            .user_agent(concat!("ringtel/", env!("CARGO_PKG_VERSION")))
            .build();
        Transport { agent: config.into(), headers, gzip, compressed: Vec::new(), bytes_sent: 0 }
    }

    /// Posts `body` (an encoded protobuf message) to `url` and returns the
    /// response body of a 2xx answer (empty if it could not be read). The
    /// request gets whatever time is left before `deadline`.
    pub(super) fn post(&mut self, url: &str, body: &[u8], deadline: Instant) -> Result<Vec<u8>, ExportError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(ExportError::new(ExportErrorKind::Timeout, format!("no time left to post to {url}"))
                .retryable(true));
        }
        let payload = if self.gzip {
            self.compressed.clear();
            gzip(body, &mut self.compressed).map_err(|e| {
                ExportError::new(ExportErrorKind::Encode, format!("gzip: {e}")).with_source(e)
            })?;
            &self.compressed[..]
        } else {
            body
        };
        let mut request =
            self.agent.post(url).config().timeout_global(Some(remaining)).build().content_type(PROTOBUF);
        if self.gzip {
            request = request.header("content-encoding", "gzip");
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        self.bytes_sent += payload.len() as u64;
        let mut response = request.send(payload).map_err(|e| transport_error(url, e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(url, status, response.headers().get("retry-after")));
        }
        // The status says the receiver took the data; an answer that cannot
        // be read (too long, cut off) loses only the partial-success detail.
        Ok(response.body_mut().with_config().limit(MAX_RESPONSE_BYTES).read_to_vec().unwrap_or_else(|e| {
            tracing::debug!("unreadable otlp answer from {url}: {e}");
            Vec::new()
        }))
    }
}

impl Transport {
    /// Request body bytes posted so far (after gzip), whatever the answers.
    pub(super) fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }
}

impl fmt::Debug for Transport {
    /// Header values are left out: they often hold credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("headers", &self.headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>())
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

fn gzip(body: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let mut encoder = GzEncoder::new(out, Compression::fast());
    encoder.write_all(body)?;
    encoder.finish().map(drop)
}

fn status_error(url: &str, status: StatusCode, retry_after: Option<&HeaderValue>) -> ExportError {
    let error = OtlpStatusError {
        status: status.as_u16(),
        url: url.to_owned(),
        retry_after: retry_after.and_then(|v| v.to_str().ok()).map(str::to_owned),
    };
    ExportError::new(ExportErrorKind::Rejected, error.to_string())
        .retryable(error.is_retryable())
        .with_source(error)
}

/// Maps a `ureq` error: timeouts are `Timeout`; a refused, reset or broken
/// connection and a failed name lookup are `Transport`, all retryable; a
/// protocol or TLS failure (a certificate the roots do not trust, too) is
/// `Transport` but not retryable (the endpoint is
/// wrong, and trying again will not fix it); anything else is `Other`.
pub(super) fn transport_error(url: &str, err: ureq::Error) -> ExportError {
    use ureq::Error as E;
    let (kind, retryable) = match &err {
        E::Timeout(_) => (ExportErrorKind::Timeout, true),
        E::Io(io) if matches!(io.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
            (ExportErrorKind::Timeout, true)
        }
        // A failed TLS handshake (an unknown or invalid certificate) comes
        // back wrapped in an I/O error; like `Tls`, it is not retryable.
        #[cfg(feature = "otlp-tls")]
        E::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            (ExportErrorKind::Transport, false)
        }
        E::Io(_) | E::HostNotFound | E::ConnectionFailed => (ExportErrorKind::Transport, true),
        E::StatusCode(code) => {
            let retryable = matches!(code, 429 | 502 | 503 | 504);
            (ExportErrorKind::Rejected, retryable)
        }
        #[cfg(feature = "otlp-tls")]
        E::Rustls(_) => (ExportErrorKind::Transport, false),
        E::Protocol(_)
        | E::Tls(_)
        | E::TlsRequired
        | E::LargeResponseHeader(..)
        | E::BodyExceedsLimit(_)
        | E::TooManyRedirects
        | E::RedirectFailed => (ExportErrorKind::Transport, false),
        _ => (ExportErrorKind::Other, false),
    };
    ExportError::new(kind, format!("{url}: {err}")).retryable(retryable).with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_rejected_with_the_spec_retryable_set() {
        for (status, retryable) in [(400, false), (404, false), (429, true), (500, false), (503, true)] {
            let err = status_error("http://x/v1/logs", StatusCode::from_u16(status).unwrap(), None);
            assert_eq!(err.kind(), ExportErrorKind::Rejected);
            assert_eq!(err.is_retryable(), retryable, "{status}");
            let source = err.source().unwrap().downcast_ref::<OtlpStatusError>().unwrap();
            assert_eq!(source.status(), status);
        }
        let after = HeaderValue::from_static("5");
        let err = status_error("http://x/v1/logs", StatusCode::SERVICE_UNAVAILABLE, Some(&after));
        assert_eq!(
            err.to_string(),
            "rejected by peer: http status 503 from http://x/v1/logs (retry after 5)"
        );
    }

    #[test]
    fn ureq_errors_map_to_typed_kinds() {
        let cases = [
            (ureq::Error::Timeout(ureq::Timeout::Global), ExportErrorKind::Timeout, true),
            (
                ureq::Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused)),
                ExportErrorKind::Transport,
                true,
            ),
            (ureq::Error::Io(io::Error::from(io::ErrorKind::TimedOut)), ExportErrorKind::Timeout, true),
            (ureq::Error::HostNotFound, ExportErrorKind::Transport, true),
            (ureq::Error::TlsRequired, ExportErrorKind::Transport, false),
            (ureq::Error::BadUri("x".into()), ExportErrorKind::Other, false),
        ];
        for (err, kind, retryable) in cases {
            let text = err.to_string();
            let mapped = transport_error("http://x", err);
            assert_eq!((mapped.kind(), mapped.is_retryable()), (kind, retryable), "{text}");
            assert!(mapped.source().is_some());
        }
    }

    #[test]
    fn gzip_round_trips() {
        let mut out = Vec::new();
        gzip(b"hello hello hello", &mut out).unwrap();
        let mut decoded = String::new();
        io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&out[..]), &mut decoded).unwrap();
        assert_eq!(decoded, "hello hello hello");
    }
}
