//! OTLP/HTTP export (feature `otlp`): [`OtlpExporter`] sends each batch of
//! events, of any [`Event`] type, to an OpenTelemetry receiver
//! (a Collector, or any backend that speaks OTLP/HTTP with binary protobuf),
//! following the [encoding contract](crate::encoding).
//!
//! Each batch becomes one `ExportLogsServiceRequest` (one log record per
//! event) posted to `<endpoint>/v1/logs` and, if the batch holds events whose
//! [`shape`](crate::Event::shape) is a span, one `ExportTraceServiceRequest`
//! posted to `<endpoint>/v1/traces`.
//!
//! | log record field | from |
//! |---|---|
//! | time | [`Event::timestamp`], or when the consumer took the batch |
//! | severity number and text | [`Event::severity`] |
//! | body | [`Event::message`], or the event's one-line rendering |
//! | attributes | `event` (the name), `run`, then every field with its type: integers (a `u64` above `i64::MAX` as its exact decimal string), doubles, bools, strings, nested values as arrays and key-value lists |
//! | trace id | the event's own, or [`trace_id`] of its run |
//! | span id | the event's own, or its span's |
//! | event name | [`Event::name`] |
//!
//! A [`PipelineEvent`](crate::PipelineEvent) is a span when it has a duration:
//!
//! | event | span | status |
//! |---|---|---|
//! | `TransformCompleted` | `transform <node>`, internal | `Error` (message: the error kind) if it failed |
//! | `ExternalCallCompleted` | `<call> <provider>`, client | `Error` if it failed or timed out |
//! | `RunFinished` | `run`, internal, the root of the run's spans | `Error` if it failed or was interrupted |
//!
//! Every record and span of a run carries the trace id [`trace_id`] derives
//! from its run id; spans are children of the run's root span
//! ([`run_span_id`]). Attributes are the JSON Lines fields (`event`, `run`,
//! `row`, `node`, `duration_ns`, …; see [`Resolved`](crate::pipeline::Resolved));
//! the resource carries `service.name` and `telemetry.sdk.*`.
//!
//! The messages are the `opentelemetry-proto` crate's prost types,
//! re-exported as [`proto`]; HTTP is blocking (`ureq`), with no async
//! runtime, and every request is bounded by the configured timeout.
//!
//! # Examples
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use ringtel::exporters::otlp::{trace_id, OtlpExporter};
//! use ringtel::pipeline::{Names, PipelineEvent, RowId, RunContext, RunId, TokenId, TransformOutcome};
//! use ringtel::{ManualClock, Timestamp};
//!
//! let names = Arc::new(Names::new());
//! let (node, plugin) = (names.intern("enrich"), names.intern("llm"));
//! let mut exporter = OtlpExporter::builder("http://127.0.0.1:4318")
//!     .names(Arc::clone(&names))
//!     .service_name("etl")
//!     .header("x-api-key", "secret")
//!     .timeout(Duration::from_secs(2))
//!     .gzip(true)
//!     .build()?;
//!
//! let clock = ManualClock::new(Timestamp::from_nanos(1_000_000_000));
//! let run = RunContext::new(RunId::new(7), &clock);
//! let failed = TransformOutcome::Failed { error: names.intern("rate_limited") };
//! let batch = [
//!     PipelineEvent::row_created(run, RowId::new(1), TokenId::new(1)),
//!     PipelineEvent::transform_completed(
//!         run, RowId::new(1), TokenId::new(1), node, plugin, Duration::from_millis(3), failed,
//!     ),
//! ];
//!
//! // What `export` would post, without a receiver:
//! let logs = exporter.encode_logs(&batch);
//! let records = &logs.resource_logs[0].scope_logs[0].log_records;
//! assert_eq!(records.len(), 2);
//! assert_eq!(records[0].trace_id, trace_id(RunId::new(7)));
//!
//! let traces = exporter.encode_traces(&batch).expect("one event has a duration");
//! let span = &traces.resource_spans[0].scope_spans[0].spans[0];
//! assert_eq!(span.name, "transform enrich");
//! let status = span.status.as_ref().unwrap();
//! assert_eq!((status.code, status.message.as_str()), (2, "rate_limited")); // 2 = Error
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod encode;
mod transport;

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use prost::Message;

pub use config::{
    OtlpBuilder, OtlpConfigError, DEFAULT_OTLP_NAME, DEFAULT_OTLP_SERVICE_NAME, DEFAULT_OTLP_TIMEOUT,
    MAX_OTLP_TIMEOUT, OTLP_LOGS_PATH, OTLP_TRACES_PATH,
};
pub use encode::{run_span_id, trace_id};
/// The `opentelemetry-proto` crate whose prost messages this exporter sends,
/// so callers of [`OtlpExporter::encode_logs`] can name them without
/// depending on a matching version themselves.
pub use opentelemetry_proto as proto;
pub use transport::OtlpStatusError;

use self::encode::Encoder;
use self::transport::Transport;
use crate::clock::wall_now;
use crate::pipeline::Names;
use crate::{Event, ExportError, ExportErrorKind, Exporter, Timestamp};
use proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};

/// An exporter that sends events of any [`Event`] type to an OTLP/HTTP
/// receiver as log records and spans (see the [module docs](self) for the
/// mapping).
///
/// `export` posts the batch's logs, then its spans, and returns when the
/// receiver has answered both, within the configured
/// [`timeout`](OtlpBuilder::timeout) for the two together. Failures are
/// typed [`ExportError`]s, which ringtel counts and feeds to the exporter's
/// circuit breaker:
///
/// | failure | kind | retryable |
/// |---|---|---|
/// | connection refused, reset or broken; name lookup failed | `Transport` | yes |
/// | no answer within the timeout | `Timeout` | yes |
/// | HTTP 429, 502, 503, 504 | `Rejected` ([`OtlpStatusError`] as source) | yes |
/// | any other HTTP 4xx or 5xx | `Rejected` | no |
/// | a protocol or TLS error | `Transport` | no |
///
/// A batch counts as failed if either request fails; its log records may
/// then have reached the receiver already. Nothing is retried inside the
/// exporter: ringtel's breaker decides when to try again. A 2xx answer
/// reporting a partial success is a success; the rejected counts are kept in
/// [`OtlpStats`] and logged.
///
/// Names are resolved with the [`Names`] lock held only while encoding,
/// never during network I/O. The requests are reused from batch to batch
/// (records, attributes and their strings overwritten in place), and so is
/// the encoded body. `flush` has nothing to do (nothing is
/// buffered across batches); `close` refuses later batches.
pub struct OtlpExporter {
    name: String,
    names: Option<Arc<Names>>,
    logs_url: String,
    traces_url: String,
    timeout: std::time::Duration,
    encoder: Encoder,
    transport: Transport,
    /// The encoded request, reused across batches.
    encoded: Vec<u8>,
    stats: OtlpStats,
    closed: bool,
}

/// What an [`OtlpExporter`] has sent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpStats {
    /// Batches exported successfully (both requests answered 2xx).
    pub batches: u64,
    /// Log records in requests answered 2xx.
    pub log_records: u64,
    /// Spans in requests answered 2xx.
    pub spans: u64,
    /// Requests posted, whatever the answer.
    pub requests: u64,
    /// Request body bytes posted (after gzip), whatever the answer.
    pub bytes_sent: u64,
    /// Log records the receiver reported rejecting in a partial success.
    pub rejected_log_records: u64,
    /// Spans the receiver reported rejecting in a partial success.
    pub rejected_spans: u64,
}

/// Which OTLP signal a request carries.
#[derive(Debug, Clone, Copy)]
enum Signal {
    Logs,
    Traces,
}

impl OtlpExporter {
    /// A builder for an exporter posting to `endpoint` (the receiver's base
    /// URL, such as `http://localhost:4318`; `/v1/logs` and `/v1/traces` are
    /// appended).
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use ringtel::exporters::otlp::OtlpExporter;
    /// use ringtel::pipeline::Names;
    /// use ringtel::Exporter;
    ///
    /// let exporter = OtlpExporter::builder("http://localhost:4318")
    ///     .names(Arc::new(Names::new()))
    ///     .service_name("etl")
    ///     .resource_attribute("deployment.environment", "staging")
    ///     .timeout(Duration::from_millis(1500))
    ///     .name("collector")
    ///     .build()?;
    /// assert_eq!(Exporter::<ringtel::PipelineEvent>::name(&exporter), "collector");
    /// assert_eq!(exporter.logs_url(), "http://localhost:4318/v1/logs");
    /// # Ok::<(), ringtel::exporters::otlp::OtlpConfigError>(())
    /// ```
    pub fn builder(endpoint: impl Into<String>) -> OtlpBuilder {
        OtlpBuilder::new(endpoint.into())
    }

    /// The URL log records are posted to.
    pub fn logs_url(&self) -> &str {
        &self.logs_url
    }

    /// The URL spans are posted to.
    pub fn traces_url(&self) -> &str {
        &self.traces_url
    }

    /// What it has sent so far.
    pub fn stats(&self) -> OtlpStats {
        OtlpStats { bytes_sent: self.transport.bytes_sent(), ..self.stats }
    }

    /// The logs request `export` would post for `batch`: one log record per
    /// event, in order. Events without a time of their own, and the observed
    /// time, are stamped now. The request is the exporter's reused one.
    pub fn encode_logs<E: Event>(&mut self, batch: &[E]) -> &ExportLogsServiceRequest {
        let now = wall_now();
        let view = self.names.as_deref().map(Names::read);
        self.encoder.logs(batch, view.as_ref(), now, now.as_nanos())
    }

    /// The traces request `export` would post for `batch`, or `None` if no
    /// event in it is a span.
    pub fn encode_traces<E: Event>(&mut self, batch: &[E]) -> Option<&ExportTraceServiceRequest> {
        let view = self.names.as_deref().map(Names::read);
        self.encoder.traces(batch, view.as_ref(), wall_now())
    }

    /// Encodes `message` and posts it; returns the receiver's answer.
    /// Encodes the reused request of `signal` into the reused body buffer.
    fn encode_body(&mut self, signal: Signal) -> Result<(), ExportError> {
        self.encoded.clear();
        let encoded = match signal {
            Signal::Logs => self.encoder.logs_request().encode(&mut self.encoded),
            Signal::Traces => self.encoder.traces_request().encode(&mut self.encoded),
        };
        encoded
            .map_err(|e| ExportError::new(ExportErrorKind::Encode, format!("protobuf: {e}")).with_source(e))
    }

    /// Posts the encoded body; returns the receiver's answer.
    fn send(&mut self, signal: Signal, deadline: Instant) -> Result<Vec<u8>, ExportError> {
        let url = match signal {
            Signal::Logs => &self.logs_url,
            Signal::Traces => &self.traces_url,
        };
        self.stats.requests += 1;
        self.transport.post(url, &self.encoded, deadline)
    }

    /// Reads a partial success out of a 2xx answer. An answer that does not
    /// decode is no failure: the receiver accepted the data.
    fn record_answer(&mut self, signal: Signal, answer: &[u8]) {
        let partial = match signal {
            Signal::Logs => ExportLogsServiceResponse::decode(answer)
                .map(|r| r.partial_success.map(|p| (p.rejected_log_records, p.error_message))),
            Signal::Traces => ExportTraceServiceResponse::decode(answer)
                .map(|r| r.partial_success.map(|p| (p.rejected_spans, p.error_message))),
        };
        let (rejected, message) = match partial {
            Ok(Some(partial)) => partial,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(exporter = %self.name, ?signal, "undecodable otlp answer: {e}");
                return;
            }
        };
        if rejected > 0 || !message.is_empty() {
            let rejected = u64::try_from(rejected).unwrap_or(0);
            match signal {
                Signal::Logs => self.stats.rejected_log_records += rejected,
                Signal::Traces => self.stats.rejected_spans += rejected,
            }
            tracing::warn!(exporter = %self.name, ?signal, rejected, "otlp partial success: {message}");
        }
    }
}

impl<E: Event> Exporter<E> for OtlpExporter {
    fn name(&self) -> &str {
        &self.name
    }

    fn export(&mut self, batch: &[E]) -> Result<(), ExportError> {
        self.export_taken(batch, wall_now())
    }

    fn export_taken(&mut self, batch: &[E], taken_at: Timestamp) -> Result<(), ExportError> {
        if self.closed {
            return Err(ExportError::new(ExportErrorKind::Other, "otlp exporter is closed"));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + self.timeout;
        // Encode both requests under one short hold of the names lock, and
        // release it before any network I/O.
        let (records, spans) = {
            let names = self.names.clone();
            let view = names.as_deref().map(Names::read);
            let observed = wall_now().as_nanos();
            let records = self.encoder.logs(batch, view.as_ref(), taken_at, observed).resource_logs[0]
                .scope_logs[0]
                .log_records
                .len();
            let spans = self
                .encoder
                .traces(batch, view.as_ref(), taken_at)
                .map_or(0, |t| t.resource_spans[0].scope_spans[0].spans.len());
            (records, spans)
        };
        self.encode_body(Signal::Logs)?;
        let answer = self.send(Signal::Logs, deadline)?;
        self.record_answer(Signal::Logs, &answer);
        self.stats.log_records += records as u64;
        if spans > 0 {
            self.encode_body(Signal::Traces)?;
            let answer = self.send(Signal::Traces, deadline)?;
            self.record_answer(Signal::Traces, &answer);
            self.stats.spans += spans as u64;
        }
        self.stats.batches += 1;
        Ok(())
    }

    /// Closes the exporter; later batches fail. The HTTP connection pool is
    /// released when the exporter drops.
    fn close(&mut self) -> Result<(), ExportError> {
        self.closed = true;
        Ok(())
    }
}

impl fmt::Debug for OtlpExporter {
    /// Header values are left out: they often hold credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("name", &self.name)
            .field("logs_url", &self.logs_url)
            .field("traces_url", &self.traces_url)
            .field("timeout", &self.timeout)
            .field("transport", &self.transport)
            .field("stats", &self.stats())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}
