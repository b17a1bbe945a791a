//! A strict parser of the Prometheus text exposition format (version 0.0.4), for tests that
//! read `/metrics` as Prometheus would rather than by matching strings.
//!
//! It follows the format's specification: `# HELP` (escapes `\\`, `\n`) and `# TYPE` lines,
//! at most one of each per family and `TYPE` before the family's samples; samples
//! `name{label="value",...} value [timestamp]` with label values escaped (`\\`, `\"`, `\n`);
//! Go float values (`+Inf`, `-Inf`, `NaN`); metric and label name grammars; each family's
//! lines in one group; histograms as `_bucket{le=..}` (ascending bounds, cumulative counts,
//! `+Inf` last and equal to `_count`), `_sum` and `_count`. Anything else is an error that
//! names the line. (Third-party parsers were tried: one mis-splits label values holding `=`
//! such as the reference's `/v3/blocks/upload/?broadcast=1`, another insists on the
//! OpenMetrics `_total` suffix the reference's counters do not have.)

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// `summary`
    Summary,
    /// `untyped` (or no `TYPE` line)
    Untyped,
}

/// A histogram series.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramValue {
    /// `(upper bound, cumulative count)`, ascending, the last one `+Inf`.
    pub buckets: Vec<(f64, f64)>,
    /// `_sum`.
    pub sum: f64,
    /// `_count`.
    pub count: f64,
}

/// One series' value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A counter, gauge or untyped sample.
    Scalar(f64),
    /// A histogram.
    Histogram(HistogramValue),
    /// The samples of a summary, by name suffix and labels (not interpreted further).
    Summary(Vec<(String, BTreeMap<String, String>, f64)>),
}

/// One series: its labels (without `le`) and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Label names and values.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: Value,
}

/// A metric family.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: Kind,
    /// Its help text (unescaped), if given.
    pub help: Option<String>,
    /// Its series, in exposition order.
    pub series: Vec<Series>,
}

impl Family {
    /// The label names its series carry (union, sorted).
    pub fn label_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .series
            .iter()
            .flat_map(|s| s.labels.keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The series whose labels include every `(name, value)` of `labels`.
    pub fn find(&self, labels: &[(&str, &str)]) -> Option<&Series> {
        self.series.iter().find(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }
}

/// A parsed exposition: families by name.
pub type Exposition = BTreeMap<String, Family>;

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_float(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => {
            if s.is_empty()
                || s.chars()
                    .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
            {
                return Err(format!("not a number: {s:?}"));
            }
            s.parse().map_err(|_| format!("not a number: {s:?}"))
        }
    }
}

fn unescape_help(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            // The format allows other escapes to pass through unchanged in help text.
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Ok(out)
}

/// Parses `{a="x",b="y"}` at the start of `s`; returns the labels and the rest.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = s
        .strip_prefix('{')
        .ok_or_else(|| "expected '{'".to_string())?;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("a label without '='")?;
        let name = rest[..eq].trim();
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..].trim_start();
        rest = rest
            .strip_prefix('"')
            .ok_or_else(|| format!("the value of label {name} is not quoted"))?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("unterminated value of label {name}")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?} in label {name}")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} given twice"));
        }
        rest = rest[end + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("expected ',' or '}' after a label".into());
        }
    }
}

/// A sample line: name, labels, value.
fn parse_sample(line: &str) -> Result<(String, BTreeMap<String, String>, f64), String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("a sample without a value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let (labels, rest) = if line[name_end..].starts_with('{') {
        parse_labels(&line[name_end..])?
    } else {
        (BTreeMap::new(), &line[name_end..])
    };
    let mut fields = rest.split_whitespace();
    let value = parse_float(fields.next().ok_or("a sample without a value")?)?;
    if let Some(timestamp) = fields.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| format!("bad timestamp {timestamp:?}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing text after the sample".into());
    }
    Ok((name.to_string(), labels, value))
}

/// Which family (and suffix) a sample name belongs to, given the declared types.
fn family_of<'a>(name: &'a str, types: &BTreeMap<String, Kind>) -> (String, &'a str) {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if matches!(types.get(base), Some(Kind::Histogram) | Some(Kind::Summary)) {
                return (base.to_string(), suffix);
            }
        }
    }
    (name.to_string(), "")
}

/// Parses a whole exposition.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut types: BTreeMap<String, Kind> = BTreeMap::new();
    let mut helps: BTreeMap<String, String> = BTreeMap::new();
    // Raw samples by family, in order: (suffix, labels, value).
    #[allow(clippy::type_complexity)]
    let mut raw: BTreeMap<String, Vec<(String, BTreeMap<String, String>, f64)>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;

    for (index, line) in text.split('\n').enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", index + 1);
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, [' ', '\t']);
            let keyword = parts.next().unwrap_or("");
            if keyword != "HELP" && keyword != "TYPE" {
                continue; // an ordinary comment
            }
            let name = parts.next().unwrap_or("");
            if !is_metric_name(name) {
                return Err(at(format!("bad metric name {name:?} in # {keyword}")));
            }
            let rest = parts.next().unwrap_or("");
            if finished.contains(name) || raw.contains_key(name) && keyword == "TYPE" {
                return Err(at(format!("# {keyword} for {name} after its samples")));
            }
            if keyword == "HELP" {
                if helps
                    .insert(name.to_string(), unescape_help(rest).map_err(at)?)
                    .is_some()
                {
                    return Err(at(format!("a second # HELP for {name}")));
                }
            } else {
                let kind = match rest.trim() {
                    "counter" => Kind::Counter,
                    "gauge" => Kind::Gauge,
                    "histogram" => Kind::Histogram,
                    "summary" => Kind::Summary,
                    "untyped" => Kind::Untyped,
                    other => return Err(at(format!("unknown type {other:?}"))),
                };
                if types.insert(name.to_string(), kind).is_some() {
                    return Err(at(format!("a second # TYPE for {name}")));
                }
            }
            continue;
        }
        let (name, labels, value) = parse_sample(trimmed).map_err(at)?;
        let (family, suffix) = family_of(&name, &types);
        if current.as_deref() != Some(family.as_str()) {
            if let Some(previous) = current.take() {
                finished.insert(previous);
            }
            if finished.contains(&family) {
                return Err(at(format!("the samples of {family} are not in one group")));
            }
            current = Some(family.clone());
        }
        if !raw.contains_key(&family) {
            order.push(family.clone());
        }
        raw.entry(family)
            .or_default()
            .push((suffix.to_string(), labels, value));
    }

    let mut out = Exposition::new();
    for name in order {
        let kind = types.get(&name).copied().unwrap_or(Kind::Untyped);
        let samples = raw.remove(&name).unwrap_or_default();
        let series = match kind {
            Kind::Histogram => histogram_series(&name, samples)?,
            Kind::Summary => vec![Series {
                labels: BTreeMap::new(),
                value: Value::Summary(samples),
            }],
            _ => {
                let mut seen = HashSet::new();
                let mut series = Vec::new();
                for (_, labels, value) in samples {
                    if !seen.insert(labels.clone()) {
                        return Err(format!("{name}: the series {labels:?} appears twice"));
                    }
                    series.push(Series {
                        labels,
                        value: Value::Scalar(value),
                    });
                }
                series
            }
        };
        out.insert(
            name.clone(),
            Family {
                help: helps.get(&name).cloned(),
                name,
                kind,
                series,
            },
        );
    }
    // Families declared without samples are kept (with no series).
    for (name, kind) in types {
        out.entry(name.clone()).or_insert_with(|| Family {
            help: helps.get(&name).cloned(),
            name,
            kind,
            series: vec![],
        });
    }
    Ok(out)
}

#[allow(clippy::type_complexity)]
fn histogram_series(
    name: &str,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
) -> Result<Vec<Series>, String> {
    let mut by_labels: Vec<(
        BTreeMap<String, String>,
        Vec<(f64, f64)>,
        Option<f64>,
        Option<f64>,
    )> = Vec::new();
    for (suffix, mut labels, value) in samples {
        let le = labels.remove("le");
        let index = match by_labels.iter().position(|(l, ..)| *l == labels) {
            Some(i) => i,
            None => {
                by_labels.push((labels, vec![], None, None));
                by_labels.len() - 1
            }
        };
        let entry = &mut by_labels[index];
        match suffix.as_str() {
            "_bucket" => {
                let le = le.ok_or_else(|| format!("{name}_bucket without le"))?;
                entry.1.push((parse_float(&le)?, value));
            }
            "_sum" => entry.2 = Some(value),
            "_count" => entry.3 = Some(value),
            _ => return Err(format!("{name}: a histogram sample without a suffix")),
        }
    }
    let mut out = Vec::new();
    for (labels, buckets, sum, count) in by_labels {
        let (Some(sum), Some(count)) = (sum, count) else {
            return Err(format!("{name}{labels:?}: _sum or _count missing"));
        };
        if !buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
        {
            return Err(format!(
                "{name}{labels:?}: buckets not ascending and cumulative"
            ));
        }
        match buckets.last() {
            Some((le, n)) if le.is_infinite() && *n == count => {}
            _ => return Err(format!("{name}{labels:?}: no +Inf bucket equal to _count")),
        }
        out.push(Series {
            labels,
            value: Value::Histogram(HistogramValue {
                buckets,
                sum,
                count,
            }),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_with_separators_and_escapes_are_read_whole() {
        let text = "# HELP h Time (s) with \\\\ and\\nnewline\n# TYPE h histogram\n\
            h_bucket{path=\"/v3/blocks/upload/?broadcast=1\",le=\"0.5\"} 1\n\
            h_bucket{path=\"/v3/blocks/upload/?broadcast=1\",le=\"+Inf\"} 2\n\
            h_sum{path=\"/v3/blocks/upload/?broadcast=1\"} 0.75\n\
            h_count{path=\"/v3/blocks/upload/?broadcast=1\"} 2\n\
            # TYPE c counter\nc{a=\"x,y=\\\"z\\\"\"} 3\n";
        let e = parse(text).expect("parses");
        let h = &e["h"];
        assert_eq!(h.help.as_deref(), Some("Time (s) with \\ and\nnewline"));
        let series = h
            .find(&[("path", "/v3/blocks/upload/?broadcast=1")])
            .expect("series");
        let Value::Histogram(v) = &series.value else {
            panic!()
        };
        assert_eq!((v.count, v.sum, v.buckets.len()), (2.0, 0.75, 2));
        assert_eq!(e["c"].series[0].labels["a"], "x,y=\"z\"");
    }

    #[test]
    fn malformed_expositions_are_refused() {
        for bad in [
            "c{a=\"x} 1\n",
            "c{a=x} 1\n",
            "1c 1\n",
            "c one\n",
            "c 1\n# TYPE c counter\n",
            "# TYPE c counter\nc 1\nd 1\nc{a=\"b\"} 2\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
            "c 1\nc 2\n",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
    }
}
