//! Prometheus exposition of [`Health`](crate::Health) (feature `prometheus`).
//!
//! [`render`] turns one snapshot into OpenMetrics text with the
//! `prometheus-client` crate; [`HealthCollector`] does the same on every
//! scrape of a `prometheus-client` registry; [`MetricsServer`] serves it over
//! HTTP from its own thread, off the hot path.
//!
//! # Format
//! [`render`] writes the OpenMetrics 1.0 text format that `prometheus-client`
//! emits (ending with `# EOF`, content type [`CONTENT_TYPE`]); Prometheus
//! asks for it and scrapes it natively. [`render_text`] writes the same
//! metrics in the classic text format ([`TEXT_CONTENT_TYPE`]), which is what
//! `promtool check metrics` (it has no OpenMetrics parser: it would read each
//! OpenMetrics counter `x` as an untyped `x_total` without help) and older
//! scrapers read. [`MetricsServer`] answers with OpenMetrics when the
//! request's `Accept` header names `application/openmetrics-text`, and with
//! the classic format otherwise.
//!
//! Exporter names are label values, escaped (`\\`, `\"`, `\n`) whatever
//! they hold: `prometheus-client` 0.24 writes label values verbatim, so
//! ringtel escapes them itself.
//!
//! # Metrics
//! Counters (the totals of the conservation law, C1):
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `ringtel_events_offered_total` | | events passed to `emit` |
//! | `ringtel_events_filtered_total` | | below the granularity setting |
//! | `ringtel_events_accepted_total` | | entered the ring |
//! | `ringtel_events_delivered_total` | | accepted by at least one exporter |
//! | `ringtel_events_dropped_total` | `reason` | dropped, one series per [`DropReason`](crate::DropReason) (`queue_full`, `overwritten`, `closed`, `disabled`, `export_failed`, `shutdown_timeout`, `consumer_dead`, `own_thread`), zeros included |
//! | `ringtel_truncated_fields_total` | | fields left out of a record that had no room ([`Health::truncated_fields`](crate::Health::truncated_fields); 0 without the `tracing` integration) |
//! | `ringtel_truncated_bytes_total` | | bytes of text cut off to fit a record ([`Health::truncated_bytes`](crate::Health::truncated_bytes)) |
//!
//! Gauges:
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `ringtel_events_in_flight` | | taken by the consumer, not yet resolved |
//! | `ringtel_queue_length` | | events waiting in the ring |
//! | `ringtel_queue_capacity` | | the ring's capacity |
//! | `ringtel_blocked_producers` | | producers waiting for room |
//! | `ringtel_consumer_state` | `state` | 1 for the current state of `running`, `stopped`, `dead`; 0 for the others |
//! | `ringtel_consumer_heartbeat_age_seconds` | | time since the consumer's last loop iteration (absent before the first) |
//! | `ringtel_consumer_last_heartbeat_timestamp_seconds` | | that iteration's time since the Unix epoch, telemetry clock (absent before the first) |
//! | `ringtel_total_failure` | | 1 while the `Fail` policy's sticky total failure is raised |
//!
//! Per exporter, labelled `exporter` (its name) and `exporter_id` (its
//! [`ExporterId`](crate::ExporterId): names need not be unique, ids are); absent
//! when there are no exporters:
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `ringtel_exporter_events_exported_total` | counter | events it accepted |
//! | `ringtel_exporter_batches_exported_total` | counter | batches it accepted |
//! | `ringtel_exporter_failures_total` | counter | batches it failed (errors and panics) |
//! | `ringtel_exporter_panics_total` | counter | panics caught in its methods |
//! | `ringtel_exporter_flush_failures_total` | counter | failed `flush` calls |
//! | `ringtel_exporter_skipped_batches_total` | counter | batches it did not get (breaker open, or hung) |
//! | `ringtel_exporter_skipped_events_total` | counter | events in those batches |
//! | `ringtel_exporter_breaker_opened_total` | counter | times its breaker opened |
//! | `ringtel_exporter_consecutive_failures` | gauge | failures since its last success |
//! | `ringtel_exporter_breaker_state` | gauge, label `state` | 1 for the current breaker state of `closed`, `open`, `half_open`; 0 for the others |
//! | `ringtel_exporter_state` | gauge, label `state` | 1 for the current state of `active`, `hung`, `removing`, `closed`, `close_failed`; 0 for the others |
//!
//! A state is exposed as one 0/1 gauge per possible value, so
//! `ringtel_exporter_breaker_state{state="open"} == 1` selects the exporters
//! whose breaker is open, and a missing state never reads as an old value.
//!
//! # Examples
//! ```
//! use ringtel::prometheus::{HealthCollector, MetricsServer};
//! use ringtel::{Event, Granularity, Telemetry};
//!
//! struct Row;
//! impl Event for Row { fn granularity(&self) -> Granularity { Granularity::Rows } }
//!
//! let telemetry = Telemetry::<Row>::builder().start()?;
//! let server = MetricsServer::bind("127.0.0.1:0", HealthCollector::for_telemetry(&telemetry))?;
//! println!("scrape {}", server.url());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod classic;
mod encode;
mod families;
mod render;
mod server;

pub use classic::TEXT_CONTENT_TYPE;
pub use render::{render, render_text, HealthCollector, CONTENT_TYPE};
pub use server::{BindError, MetricsServer, METRICS_PATH};
