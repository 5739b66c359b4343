//! The classic Prometheus text format (0.0.4), derived from the OpenMetrics
//! text `prometheus-client` writes.
//!
//! `prometheus-client` only writes OpenMetrics. Prometheus asks for that, but
//! `curl`, older scrapers and `promtool check metrics` read the classic
//! format, where an OpenMetrics counter family `x` (samples `x_total`) would
//! be a typeless `x_total` with no help. The two formats share label and value
//! syntax, so a line-by-line rewrite is exact:
//!
//! - a counter family `x` becomes `x_total` in its `# HELP` and `# TYPE`;
//! - an `info` family `x` becomes the gauge `x_info`, `unknown` becomes `untyped`;
//! - `# UNIT` and `# EOF` lines, and exemplars (` # {...} v` after a sample's
//!   value), have no classic form and are left out.

/// The HTTP `Content-Type` of what [`render_text`](crate::prometheus::render_text)
/// produces: the classic Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Rewrites OpenMetrics text (as `prometheus-client` writes it: `# HELP`
/// right before `# TYPE`) in the classic text format.
pub(crate) fn from_openmetrics(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // `prometheus-client` writes a family's `# HELP` before its `# TYPE`, and
    // the classic name depends on the type: hold the help line until then.
    let mut help: Option<(&str, &str)> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            flush_help(&mut out, help.take(), "");
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (suffix, kind) = match kind {
                "counter" => ("_total", "counter"),
                "info" => ("_info", "gauge"),
                "unknown" => ("", "untyped"),
                other => ("", other),
            };
            match help.take() {
                Some((help_name, text)) if help_name == name => {
                    flush_help(&mut out, Some((name, text)), suffix)
                }
                other => flush_help(&mut out, other, ""),
            }
            push_line(&mut out, &["# TYPE ", name, suffix, " ", kind]);
        } else if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        } else if line.starts_with('#') || line.is_empty() {
            push_line(&mut out, &[line]);
        } else {
            push_line(&mut out, &[without_exemplar(line)]);
        }
    }
    flush_help(&mut out, help, "");
    out
}

fn flush_help(out: &mut String, help: Option<(&str, &str)>, suffix: &str) {
    if let Some((name, text)) = help {
        push_line(out, &["# HELP ", name, suffix, " ", text]);
    }
}

fn push_line(out: &mut String, parts: &[&str]) {
    parts.iter().for_each(|part| out.push_str(part));
    out.push('\n');
}

/// A sample line without its exemplar: the exemplar starts at the first
/// ` # ` after the label set (a label value may hold ` # ` itself).
fn without_exemplar(line: &str) -> &str {
    let after_labels = match line.find(['{', ' ']) {
        Some(open) if line.as_bytes()[open] == b'{' => {
            closing_brace(line, open).map_or(line.len(), |at| at + 1)
        }
        Some(space) => space,
        None => line.len(),
    };
    match line[after_labels..].find(" # ") {
        Some(at) => &line[..after_labels + at],
        None => line,
    }
}

/// The index of the `}` closing the label set opened at `open`, skipping
/// quoted label values and their escapes.
fn closing_brace(line: &str, open: usize) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (at, byte) in line.bytes().enumerate().skip(open + 1) {
        match (quoted, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (_, false, b'"') => quoted = !quoted,
            (false, _, b'}') => return Some(at),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_take_the_total_suffix_and_openmetrics_only_lines_go() {
        let openmetrics = "# HELP a_events Events.\n# TYPE a_events counter\na_events_total{x=\"1\"} 3\n\
                           # HELP a_age Age.\n# TYPE a_age_seconds gauge\n# UNIT a_age_seconds seconds\n\
                           a_age_seconds 1.5\n# EOF\n";
        // A `# HELP` whose name does not match the next `# TYPE` keeps its name.
        assert_eq!(
            from_openmetrics(openmetrics),
            "# HELP a_events_total Events.\n# TYPE a_events_total counter\na_events_total{x=\"1\"} 3\n\
             # HELP a_age Age.\n# TYPE a_age_seconds gauge\na_age_seconds 1.5\n"
        );
    }

    #[test]
    fn info_and_unknown_map_to_classic_types() {
        let openmetrics =
            "# HELP b Build.\n# TYPE b info\nb_info{v=\"1\"} 1\n# HELP c C.\n# TYPE c unknown\nc 2\n";
        assert_eq!(
            from_openmetrics(openmetrics),
            "# HELP b_info Build.\n# TYPE b_info gauge\nb_info{v=\"1\"} 1\n# HELP c C.\n# TYPE c untyped\nc 2\n"
        );
    }

    #[test]
    fn exemplars_are_cut_but_label_values_that_look_like_them_stay() {
        assert_eq!(without_exemplar("a_total 1 # {t=\"x\"} 1.0"), "a_total 1");
        assert_eq!(without_exemplar("a_total{l=\"v # {}\"} 1 # {t=\"x\"} 1.0"), "a_total{l=\"v # {}\"} 1");
        assert_eq!(without_exemplar("a_total{l=\"q\\\"} # \"} 1"), "a_total{l=\"q\\\"} # \"} 1");
        assert_eq!(without_exemplar("a 1"), "a 1");
    }
}
