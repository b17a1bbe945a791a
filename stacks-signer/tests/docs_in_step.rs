//! The operator documentation checked against the code: `docs/configuration.md` and
//! `docs/metrics.md` hold the tables generated from it, the Grafana dashboard and the
//! Prometheus alert rules query only metrics the signer exports.
//!
//! To refresh the generated tables after changing a key or a metric, run
//! `STACKS_SIGNER_BLESS_DOCS=1 cargo test -p stacks-signer --test docs_in_step`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use stacks_signer::config::keys::configuration_markdown;
use stacks_signer::monitoring::{metric_shapes, metrics_markdown_table, Origin, METRIC_DOCS};

/// The reference signer's metrics (tag signer-3.3.0.0.4.0).
const REFERENCE_METRIC_NAMES: [&str; 14] = [
    "stacks_signer_stacks_node_height",
    "stacks_signer_block_validation_responses",
    "stacks_signer_block_responses_sent",
    "stacks_signer_block_proposals_received",
    "stacks_signer_block_pre_commits_sent",
    "stacks_signer_current_reward_cycle",
    "stacks_signer_stx_balance",
    "stacks_signer_nonce",
    "stacks_signer_node_rpc_call_latencies_histogram",
    "stacks_signer_block_validation_latencies_histogram",
    "stacks_signer_block_response_latencies_histogram",
    "stacks_signer_agreement_state_change_reasons",
    "stacks_signer_agreement_state_conflicts",
    "stacks_signer_agreement_capitulation_latencies_histogram",
];

fn docs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

/// Checks (or, with `STACKS_SIGNER_BLESS_DOCS=1`, rewrites) the section of `file` between
/// the markers naming `generator`.
fn check_generated_section(file: &str, generator: &str, generated: &str) {
    let path = docs_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let begin = format!("<!-- BEGIN GENERATED: {generator} -->\n");
    let end = "<!-- END GENERATED -->";
    let (before, rest) = text
        .split_once(&begin)
        .unwrap_or_else(|| panic!("{file} has no `{}` marker", begin.trim()));
    let (section, after) = rest
        .split_once(end)
        .unwrap_or_else(|| panic!("{file} has no `{end}` marker"));
    if section == generated {
        return;
    }
    if std::env::var_os("STACKS_SIGNER_BLESS_DOCS").is_some() {
        std::fs::write(&path, format!("{before}{begin}{generated}{end}{after}"))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        return;
    }
    panic!(
        "docs/{file} is out of date (run with STACKS_SIGNER_BLESS_DOCS=1 to refresh); its generated section should read:\n{generated}"
    );
}

#[test]
fn configuration_md_lists_every_key_as_the_code_defines_it() {
    check_generated_section(
        "configuration.md",
        "stacks_signer::config::keys::configuration_markdown",
        &configuration_markdown(),
    );
}

#[test]
fn metrics_md_lists_every_metric_as_the_registry_holds_it() {
    let shapes = metric_shapes();
    let registered: Vec<&str> = shapes.iter().map(|s| s.name.as_str()).collect();
    let documented: BTreeSet<&str> = METRIC_DOCS.iter().map(|d| d.name).collect();
    assert_eq!(
        documented.len(),
        METRIC_DOCS.len(),
        "a metric is documented twice"
    );
    assert_eq!(
        registered.iter().copied().collect::<BTreeSet<_>>(),
        documented,
        "every registered metric is documented, and only those"
    );
    assert_eq!(
        registered.len(),
        documented.len(),
        "two registered metrics share a name"
    );
    let reference: BTreeSet<&str> = METRIC_DOCS
        .iter()
        .filter(|d| d.origin == Origin::Reference)
        .map(|d| d.name)
        .collect();
    assert_eq!(reference, REFERENCE_METRIC_NAMES.iter().copied().collect());
    check_generated_section(
        "metrics.md",
        "stacks_signer::monitoring::metrics_markdown_table",
        &metrics_markdown_table(),
    );
}

/// The metric names a PromQL expression refers to (identifiers of the signer's namespaces),
/// with histogram suffixes folded into their family.
fn metrics_in(expr: &str, histograms: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut token = String::new();
    let mut in_string = false;
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c == '"' {
            in_string = !in_string;
            token.clear();
            continue;
        }
        if in_string {
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            token.push(c);
            continue;
        }
        if token.starts_with("stacks_signer_") || token.starts_with("process_") {
            let mut name = token.clone();
            for suffix in ["_bucket", "_sum", "_count"] {
                if let Some(base) = token.strip_suffix(suffix) {
                    if histograms.contains(base) {
                        name = base.to_string();
                    }
                }
            }
            out.insert(name);
        }
        token.clear();
    }
    out
}

fn exported() -> (BTreeSet<String>, BTreeSet<String>) {
    let shapes = metric_shapes();
    let names = shapes.iter().map(|s| s.name.clone()).collect();
    let histograms = shapes
        .iter()
        .filter(|s| s.kind == "histogram")
        .map(|s| s.name.clone())
        .collect();
    (names, histograms)
}

fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", serde_json::Value::String(expr)) => out.push(expr.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

#[test]
fn the_grafana_dashboard_queries_only_exported_metrics_and_every_reference_one() {
    let text = std::fs::read_to_string(docs_dir().join("grafana-dashboard.json"))
        .expect("docs/grafana-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(!exprs.is_empty(), "the dashboard has no queries");
    let (names, histograms) = exported();
    let mut used = BTreeSet::new();
    for expr in &exprs {
        let found = metrics_in(expr, &histograms);
        assert!(!found.is_empty(), "a query uses no signer metric: {expr}");
        for name in found {
            assert!(
                names.contains(&name),
                "the dashboard queries {name}, which is not exported ({expr})"
            );
            used.insert(name);
        }
    }
    for doc in METRIC_DOCS {
        if doc.origin == Origin::Reference {
            assert!(
                used.contains(doc.name),
                "the dashboard does not show {}",
                doc.name
            );
        }
    }
}

#[test]
fn the_alert_rules_query_only_exported_metrics() {
    let path = docs_dir().join("prometheus-alerts.yml");
    let text = std::fs::read_to_string(&path).expect("docs/prometheus-alerts.yml");
    let (names, histograms) = exported();
    let mut alerts = 0;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("- alert:") {
            alerts += 1;
        }
        let Some(expr) = trimmed.strip_prefix("expr:") else {
            continue;
        };
        // A block scalar (`expr: |`) continues on the more indented lines below.
        let mut expr = expr.trim().to_string();
        if expr == "|" || expr == ">" {
            let indent = line.len() - trimmed.len();
            expr.clear();
            while let Some(next) = lines.peek() {
                let next_indent = next.len() - next.trim_start().len();
                if next.trim().is_empty() || next_indent <= indent {
                    break;
                }
                expr.push_str(next.trim());
                expr.push(' ');
                lines.next();
            }
        }
        let found = metrics_in(&expr, &histograms);
        assert!(
            !found.is_empty() || expr.starts_with("up{"),
            "an alert uses no signer metric: {expr}"
        );
        for name in found {
            assert!(
                names.contains(&name),
                "an alert queries {name}, which is not exported ({expr})"
            );
        }
    }
    assert!(alerts >= 8, "only {alerts} alerts");
    // Prometheus's own checker, where it is installed (Debian: `apt-get install prometheus`).
    if let Ok(output) = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&path)
        .output()
    {
        assert!(
            output.status.success(),
            "promtool check rules: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
