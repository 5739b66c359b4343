//! `OtlpBuilder`: endpoint, headers, timeout, gzip and resource, validated
//! into an [`OtlpExporter`], or an [`OtlpConfigError`] naming what is wrong.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ureq::http::{HeaderName, HeaderValue, Uri};

use super::encode::{string_attribute, Encoder};
use super::transport::Transport;
use super::{OtlpExporter, OtlpStats};
use crate::pipeline::Names;

/// The default name of an [`OtlpExporter`] (as shown in `Health`).
pub const DEFAULT_OTLP_NAME: &str = "otlp";
/// The default `service.name` resource attribute, as the OpenTelemetry
/// specification names a service that did not say.
pub const DEFAULT_OTLP_SERVICE_NAME: &str = "unknown_service";
/// The default bound on one batch's export (both requests together): under
/// ringtel's default export timeout
/// ([`DEFAULT_EXPORT_TIMEOUT`](crate::DEFAULT_EXPORT_TIMEOUT), 5 s), so a
/// receiver that does not answer fails the batch instead of marking the
/// exporter hung.
pub const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest timeout accepted.
pub const MAX_OTLP_TIMEOUT: Duration = Duration::from_secs(3600);
/// The path of the logs signal, appended to the endpoint.
pub const OTLP_LOGS_PATH: &str = "/v1/logs";
/// The path of the traces signal, appended to the endpoint.
pub const OTLP_TRACES_PATH: &str = "/v1/traces";

/// Headers the exporter sets itself; a user value would corrupt the request.
const RESERVED_HEADERS: [&str; 5] =
    ["content-type", "content-encoding", "content-length", "transfer-encoding", "host"];

/// Configures an [`OtlpExporter`]; from [`OtlpExporter::builder`].
///
/// `Debug` shows header names but never their values, which often hold
/// credentials.
#[derive(Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct OtlpBuilder {
    endpoint: String,
    names: Option<Arc<Names>>,
    name: String,
    service_name: String,
    resource: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    gzip: bool,
    /// PEM root certificates for `https://`; `None`: Mozilla's roots.
    tls_roots_pem: Option<Vec<u8>>,
}

impl OtlpBuilder {
    pub(super) fn new(endpoint: String) -> OtlpBuilder {
        OtlpBuilder {
            endpoint,
            names: None,
            name: DEFAULT_OTLP_NAME.to_owned(),
            service_name: DEFAULT_OTLP_SERVICE_NAME.to_owned(),
            resource: Vec::new(),
            headers: Vec::new(),
            timeout: DEFAULT_OTLP_TIMEOUT,
            gzip: false,
            tls_roots_pem: None,
        }
    }

    /// The registry that interned names ([`FieldValue::Name`](crate::encoding::FieldValue::Name))
    /// resolve through; without one they are sent as `"#index"`.
    pub fn names(mut self, names: Arc<Names>) -> Self {
        self.names = Some(names);
        self
    }

    /// The `service.name` resource attribute; default
    /// [`DEFAULT_OTLP_SERVICE_NAME`].
    pub fn service_name(mut self, service_name: impl Into<String>) -> Self {
        self.service_name = service_name.into();
        self
    }

    /// Adds a string resource attribute (`deployment.environment`,
    /// `service.version`, …). A later value for the same key replaces an
    /// earlier one; `service.name` is set by [`OtlpBuilder::service_name`].
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.resource.retain(|(k, _)| *k != key);
        self.resource.push((key, value.into()));
        self
    }

    /// Adds an HTTP header sent with every request (an API key, say). A
    /// later value for the same name (compared case-insensitively) replaces
    /// an earlier one.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
        self
    }

    /// Bounds one batch's export, both requests together (connect, send and
    /// receive); default [`DEFAULT_OTLP_TIMEOUT`]. Keep it below the
    /// exporter's export timeout, or a receiver that does not answer marks
    /// the exporter hung instead of failing the batch.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Compresses request bodies with gzip (`Content-Encoding: gzip`);
    /// default off.
    pub fn gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// Trusts exactly these root certificates (PEM, one or more) for an
    /// `https://` endpoint, instead of the bundled Mozilla roots
    /// (webpki-roots): for a collector with a private CA or a self-signed
    /// certificate. Needs the `otlp-tls` feature, as `https://` does.
    pub fn tls_root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_roots_pem = Some(pem.into());
        self
    }

    /// Names the exporter (as shown in `Health`); default [`DEFAULT_OTLP_NAME`].
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Validates the settings and builds the exporter. Nothing is sent
    /// until the first batch.
    ///
    /// # Errors
    /// [`OtlpConfigError::InvalidEndpoint`] for an endpoint that is not an
    /// `http://host[:port][/base]` URL (or `https://…` with the `otlp-tls`
    /// feature); [`OtlpConfigError::InvalidHeader`]
    /// for a bad header name or value, or one the exporter sets itself;
    /// [`OtlpConfigError::InvalidSetting`] for a timeout out of range, or
    /// root certificates that are not PEM certificates (or given without
    /// the `otlp-tls` feature).
    pub fn build(self) -> Result<OtlpExporter, OtlpConfigError> {
        let base = validate_endpoint(&self.endpoint)?;
        let tls = tls_roots(self.tls_roots_pem.as_deref())?;
        if self.timeout.is_zero() || self.timeout > MAX_OTLP_TIMEOUT {
            return Err(OtlpConfigError::InvalidSetting {
                field: "timeout",
                value: format!("{:?}", self.timeout),
                expected: "a duration in 1ns..=1h",
            });
        }
        let headers = self.headers.iter().map(|(n, v)| validate_header(n, v)).collect::<Result<_, _>>()?;
        let mut resource = vec![
            string_attribute("service.name", &self.service_name),
            string_attribute("telemetry.sdk.name", "ringtel"),
            string_attribute("telemetry.sdk.language", "rust"),
            string_attribute("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
        ];
        for (key, value) in &self.resource {
            match resource.iter_mut().find(|kv| kv.key == *key) {
                Some(existing) => *existing = string_attribute(key, value),
                None => resource.push(string_attribute(key, value)),
            }
        }
        // `service_name` wins over a `service.name` given as a plain attribute.
        resource[0] = string_attribute("service.name", &self.service_name);
        Ok(OtlpExporter {
            name: self.name,
            names: self.names,
            logs_url: format!("{base}{OTLP_LOGS_PATH}"),
            traces_url: format!("{base}{OTLP_TRACES_PATH}"),
            timeout: self.timeout,
            encoder: Encoder::new(resource),
            transport: Transport::new(self.timeout, headers, self.gzip, tls),
            encoded: Vec::new(),
            stats: OtlpStats::default(),
            closed: false,
        })
    }
}

impl fmt::Debug for OtlpBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpBuilder")
            .field("endpoint", &self.endpoint)
            .field("name", &self.name)
            .field("service_name", &self.service_name)
            .field("resource", &self.resource)
            .field("headers", &self.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .field("gzip", &self.gzip)
            .field("tls_roots", &self.tls_roots_pem.as_ref().map(|pem| pem.len()))
            .finish_non_exhaustive()
    }
}

/// The endpoint without a trailing `/`, after checking it is an absolute
/// `http` (or, with `otlp-tls`, `https`) URL with a host and no query or
/// fragment.
fn validate_endpoint(endpoint: &str) -> Result<String, OtlpConfigError> {
    let invalid = |reason: String| OtlpConfigError::InvalidEndpoint { endpoint: endpoint.to_owned(), reason };
    let uri: Uri = endpoint.parse().map_err(|e| invalid(format!("{e}")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") if cfg!(feature = "otlp-tls") => {}
        Some("https") => {
            return Err(invalid("https needs ringtel's `otlp-tls` feature (a TLS backend)".to_owned()))
        }
        Some(other) => return Err(invalid(format!("scheme `{other}` is not http"))),
        None => return Err(invalid("expected an absolute URL such as http://localhost:4318".to_owned())),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host".to_owned()));
    }
    if uri.query().is_some() || endpoint.contains('#') {
        return Err(invalid("a query or fragment has no place in an OTLP endpoint".to_owned()));
    }
    Ok(endpoint.trim_end_matches('/').to_owned())
}

/// The root certificates to trust, parsed from PEM; `None` for the
/// bundled Mozilla roots.
#[cfg(feature = "otlp-tls")]
fn tls_roots(pem: Option<&[u8]>) -> Result<Option<Vec<ureq::tls::Certificate<'static>>>, OtlpConfigError> {
    let Some(pem) = pem else { return Ok(None) };
    let invalid = |value: String| OtlpConfigError::InvalidSetting {
        field: "tls_root_certificates_pem",
        value,
        expected: "one or more PEM certificates (-----BEGIN CERTIFICATE-----)",
    };
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(certificate)) => certificates.push(certificate),
            Ok(_) => return Err(invalid("a PEM item that is not a certificate (a private key?)".to_owned())),
            Err(err) => return Err(invalid(format!("unreadable PEM: {err}"))),
        }
    }
    if certificates.is_empty() {
        return Err(invalid(format!("{} bytes without a certificate", pem.len())));
    }
    Ok(Some(certificates))
}

/// Without `otlp-tls` there is no TLS to configure.
#[cfg(not(feature = "otlp-tls"))]
fn tls_roots(pem: Option<&[u8]>) -> Result<Option<std::convert::Infallible>, OtlpConfigError> {
    match pem {
        None => Ok(None),
        Some(_) => Err(OtlpConfigError::InvalidSetting {
            field: "tls_root_certificates_pem",
            value: "root certificates".to_owned(),
            expected: "none: this build lacks the `otlp-tls` feature",
        }),
    }
}

fn validate_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), OtlpConfigError> {
    let invalid = |reason: String| OtlpConfigError::InvalidHeader { name: name.to_owned(), reason };
    let header = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(format!("bad name: {e}")))?;
    if RESERVED_HEADERS.contains(&header.as_str()) {
        return Err(invalid("set by the exporter itself".to_owned()));
    }
    // The value is not repeated in the error: it may be a credential.
    let value = HeaderValue::from_str(value).map_err(|e| invalid(format!("bad value: {e}")))?;
    Ok((header, value))
}

/// Why an [`OtlpExporter`] could not be built.
///
/// # Examples
/// ```
/// use ringtel::exporters::otlp::{OtlpConfigError, OtlpExporter};
///
/// let err = OtlpExporter::builder("localhost:4318").build().unwrap_err();
/// assert!(matches!(err, OtlpConfigError::InvalidEndpoint { .. }));
/// assert_eq!(
///     err.to_string(),
///     "invalid otlp endpoint `localhost:4318`: expected an absolute URL such as http://localhost:4318",
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtlpConfigError {
    /// The endpoint is not an `http://host[:port][/base]` URL (or an
    /// `https://` one with the `otlp-tls` feature).
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header cannot be sent as given.
    InvalidHeader {
        /// The header name as given.
        name: String,
        /// What is wrong with it (never the value itself).
        reason: String,
    },
    /// A setting is out of range.
    InvalidSetting {
        /// The setting.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// The accepted range, in words.
        expected: &'static str,
    },
}

impl fmt::Display for OtlpConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OtlpConfigError::InvalidEndpoint { endpoint, reason } => {
                write!(f, "invalid otlp endpoint `{endpoint}`: {reason}")
            }
            OtlpConfigError::InvalidHeader { name, reason } => {
                write!(f, "invalid otlp header `{name}`: {reason}")
            }
            OtlpConfigError::InvalidSetting { field, value, expected } => {
                write!(f, "invalid value {value} for `{field}`: expected {expected}")
            }
        }
    }
}

impl Error for OtlpConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder(endpoint: &str) -> OtlpBuilder {
        OtlpBuilder::new(endpoint.to_owned())
    }

    #[test]
    fn endpoints_are_validated() {
        let ok = builder("http://127.0.0.1:4318/").build().unwrap();
        assert_eq!(ok.logs_url(), "http://127.0.0.1:4318/v1/logs");
        assert_eq!(ok.traces_url(), "http://127.0.0.1:4318/v1/traces");
        let based = builder("http://collector/otlp").build().unwrap();
        assert_eq!(based.logs_url(), "http://collector/otlp/v1/logs");
        for (endpoint, reason) in [
            ("ftp://x", "scheme `ftp` is not http"),
            ("/v1/logs", "expected an absolute URL such as http://localhost:4318"),
            ("http://x:4318/?a=b", "a query or fragment has no place in an OTLP endpoint"),
        ] {
            let err = builder(endpoint).build().unwrap_err();
            assert_eq!(err.to_string(), format!("invalid otlp endpoint `{endpoint}`: {reason}"));
        }
        assert!(matches!(builder("http://a b").build(), Err(OtlpConfigError::InvalidEndpoint { .. })));
        let https = builder("https://collector:4318").build();
        if cfg!(feature = "otlp-tls") {
            assert_eq!(https.unwrap().logs_url(), "https://collector:4318/v1/logs");
        } else {
            let err = https.unwrap_err();
            assert!(
                err.to_string().ends_with("https needs ringtel's `otlp-tls` feature (a TLS backend)"),
                "{err}"
            );
        }
    }

    #[test]
    fn tls_roots_must_be_pem_certificates() {
        let err = builder("https://x").tls_root_certificates_pem("not pem").build().unwrap_err();
        assert!(err.to_string().contains("for `tls_root_certificates_pem`"), "{err}");
        let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        let err = builder("https://x").tls_root_certificates_pem(key).build().unwrap_err();
        assert!(err.to_string().contains("for `tls_root_certificates_pem`"), "{err}");
    }

    #[test]
    fn headers_are_validated_without_echoing_values() {
        let err = builder("http://x").header("bad name", "v").build().unwrap_err();
        assert!(err.to_string().starts_with("invalid otlp header `bad name`: bad name"), "{err}");
        let err = builder("http://x").header("x-key", "secret\nvalue").build().unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        let err = builder("http://x").header("Content-Type", "text/plain").build().unwrap_err();
        assert_eq!(err.to_string(), "invalid otlp header `Content-Type`: set by the exporter itself");
        let b = builder("http://x").header("X-Key", "one").header("x-key", "secret-two");
        assert!(!format!("{b:?}").contains("secret"));
        assert!(b.build().is_ok());
    }

    #[test]
    fn timeout_is_range_checked() {
        let err = builder("http://x").timeout(Duration::ZERO).build().unwrap_err();
        assert_eq!(err.to_string(), "invalid value 0ns for `timeout`: expected a duration in 1ns..=1h");
        assert!(builder("http://x").timeout(MAX_OTLP_TIMEOUT).build().is_ok());
    }
}
