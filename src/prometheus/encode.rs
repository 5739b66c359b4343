//! The building blocks of the exposition: escaped label sets, one counter
//! or gauge, one sample of a labelled family, a state as 0/1 gauges, and
//! the names of each state.

use std::fmt::{self, Write as _};

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, LabelSetEncoder, MetricEncoder,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use crate::{BreakerState, ConsumerState, ExporterState};

/// Label pairs whose values are escaped for the text format.
///
/// `prometheus-client` 0.24 writes label values verbatim, so an exporter name
/// holding `"`, `\` or a newline would corrupt the exposition; OpenMetrics
/// (like the classic format) escapes exactly those three.
#[derive(Debug)]
struct Labels<'a>(&'a [(&'static str, &'a str)]);

impl EncodeLabelSet for Labels<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        for &(key, value) in self.0 {
            let mut label = encoder.encode_label();
            let mut key_encoder = label.encode_label_key()?;
            key_encoder.write_str(key)?;
            let mut value_encoder = key_encoder.encode_label_value()?;
            write_escaped(&mut value_encoder, value)?;
            value_encoder.finish()?;
        }
        Ok(())
    }
}

/// Writes `value` with `\` → `\\`, `"` → `\"` and newline → `\n`.
pub(super) fn write_escaped(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    let mut rest = value;
    while let Some(at) = rest.find(['\\', '"', '\n']) {
        out.write_str(&rest[..at])?;
        out.write_str(match rest.as_bytes()[at] {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            _ => "\\n",
        })?;
        rest = &rest[at + 1..];
    }
    out.write_str(rest)
}

pub(super) fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

pub(super) fn gauge<N>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: N,
) -> fmt::Result
where
    ConstGauge<N>: EncodeMetric,
{
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
}

/// One sample of a labelled family.
pub(super) fn sample(
    family: &mut MetricEncoder<'_>,
    labels: &[(&'static str, &str)],
    metric: &impl EncodeMetric,
) -> fmt::Result {
    metric.encode(family.encode_family(&Labels(labels))?)
}

/// A 0/1 gauge per possible state, 1 for the current one (the classic way to
/// expose an enum; the alerting query is `== 1`).
pub(super) fn state_set(
    family: &mut MetricEncoder<'_>,
    labels: &[(&'static str, &str)],
    states: &[&'static str],
    current: &str,
) -> fmt::Result {
    for &state in states {
        let mut all = labels.to_vec();
        all.push(("state", state));
        sample(family, &all, &ConstGauge::new(u64::from(state == current)))?;
    }
    Ok(())
}

/// The breaker states, in the label order used by `ringtel_exporter_breaker_state`.
pub(super) const BREAKER_STATES: [&str; 3] = ["closed", "open", "half_open"];
/// The exporter states, in the label order used by `ringtel_exporter_state`.
pub(super) const EXPORTER_STATES: [&str; 5] = ["active", "hung", "removing", "closed", "close_failed"];
/// The consumer states, in the label order used by `ringtel_consumer_state`.
pub(super) const CONSUMER_STATES: [&str; 3] = ["running", "stopped", "dead"];

pub(super) fn breaker_state(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed { .. } => "closed",
        BreakerState::Open { .. } => "open",
        BreakerState::HalfOpen { .. } => "half_open",
    }
}

pub(super) fn exporter_state(state: ExporterState) -> &'static str {
    match state {
        ExporterState::Active => "active",
        ExporterState::Hung { .. } => "hung",
        ExporterState::Removing => "removing",
        ExporterState::Closed => "closed",
        ExporterState::CloseFailed => "close_failed",
    }
}

pub(super) fn consumer_state(state: &ConsumerState) -> &'static str {
    match state {
        ConsumerState::Running => "running",
        ConsumerState::Stopped => "stopped",
        ConsumerState::Dead { .. } => "dead",
    }
}
