//! Prometheus metrics and the monitoring HTTP server.
//!
//! * [`metrics`]: the process-wide registry: every metric of the reference signer under the
//!   same name, type, labels, help text and buckets, and this signer's additions (liveness
//!   ages, proposal-to-vote latency, validation queue, database size, dropped messages,
//!   StackerDB write retries, process memory and descriptors).
//! * [`actions`]: the small functions the signer calls to update them (the reference's
//!   names), each an atomic update or two.
//! * [`server`]: the HTTP server on `metrics_endpoint` (`/metrics`, `/info`, `/heartbeat`,
//!   `/`, `/status.json`).
//! * [`status`]: the run loop's snapshot behind `/status.json`.
//!
//! Metrics are always collected (there is no feature to turn on); they are served whenever
//! `metrics_endpoint` is set. [`METRIC_DOCS`] is the operator's description of each metric,
//! from which `docs/metrics.md` is generated (a test keeps the two in step).

pub mod actions;
pub mod metrics;
pub mod process;
pub mod server;
pub mod status;

pub use server::{start_serving_monitoring_metrics, MonitoringError, MonitoringServer};
pub use status::StatusBoard;

/// Where a metric comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The reference signer exports it under this name (dashboards built on it work).
    Reference,
    /// This signer adds it.
    Addition,
}

/// What an operator needs to know about one metric.
#[derive(Debug, Clone, Copy)]
pub struct MetricDoc {
    /// The metric family's name.
    pub name: &'static str,
    /// Where it comes from.
    pub origin: Origin,
    /// When it changes.
    pub updated: &'static str,
    /// What a healthy value looks like.
    pub healthy: &'static str,
}

/// Every metric the signer exports, in the order `docs/metrics.md` lists them.
pub const METRIC_DOCS: &[MetricDoc] = &[
    MetricDoc {
        name: "stacks_signer_stacks_node_height",
        origin: Origin::Reference,
        updated: "from the node's `/v2/info` at start and every 60 s, raised by each block the node announces",
        healthy: "rises with every Stacks block; flat for minutes while the chain moves means the node is stuck or this signer no longer hears it",
    },
    MetricDoc {
        name: "stacks_signer_current_reward_cycle",
        origin: Origin::Reference,
        updated: "from the node's `/v2/pox` at start and every 60 s",
        healthy: "the network's reward cycle (the same on every signer of the network)",
    },
    MetricDoc {
        name: "stacks_signer_stx_balance",
        origin: Origin::Reference,
        updated: "from the node's `/v2/accounts` at start and every 60 s",
        healthy: "informational (µSTX); a signer needs no balance to sign",
    },
    MetricDoc {
        name: "stacks_signer_nonce",
        origin: Origin::Reference,
        updated: "from the node's `/v2/accounts` at start and every 60 s",
        healthy: "informational",
    },
    MetricDoc {
        name: "stacks_signer_block_proposals_received",
        origin: Origin::Reference,
        updated: "each block proposal of a registered cycle the signer takes up (new, or reconsidered)",
        healthy: "rises with every block the miners propose (about one per Stacks block); flat while blocks are produced means proposals do not reach this signer",
    },
    MetricDoc {
        name: "stacks_signer_block_validation_responses",
        origin: Origin::Reference,
        updated: "each validation result the node delivers to this signer (a node shared by several signers delivers each one's results to all)",
        healthy: "`accepted` rises with the proposals; `rejected` stays near 0 (each one is a block the node found invalid)",
    },
    MetricDoc {
        name: "stacks_signer_block_pre_commits_sent",
        origin: Origin::Reference,
        updated: "each pre-commit published to StackerDB",
        healthy: "rises with `stacks_signer_block_validation_responses{response_type=\"accepted\"}`",
    },
    MetricDoc {
        name: "stacks_signer_block_responses_sent",
        origin: Origin::Reference,
        updated: "each block response (signature or rejection) published to StackerDB",
        healthy: "`accepted` rises with the chain; a growing share of `rejected` means this signer disagrees with the miners or its node",
    },
    MetricDoc {
        name: "stacks_signer_node_rpc_call_latencies_histogram",
        origin: Origin::Reference,
        updated: "each RPC call to the node, retries included, by endpoint (`path`)",
        healthy: "p99 well under 1 s on a local node; calls near 5 s hit the retry budget (node down or overloaded)",
    },
    MetricDoc {
        name: "stacks_signer_block_validation_latencies_histogram",
        origin: Origin::Reference,
        updated: "each accepted validation, with the validation time the node reports",
        healthy: "most blocks under 1 s; many over 5 s means an overloaded node",
    },
    MetricDoc {
        name: "stacks_signer_block_response_latencies_histogram",
        origin: Origin::Reference,
        updated: "each block response published, from the block's timestamp (set by the miner) to the publication",
        healthy: "most under a few seconds; includes waiting for 70% of the signer set's pre-commits before signing",
    },
    MetricDoc {
        name: "stacks_signer_agreement_state_change_reasons",
        origin: Origin::Reference,
        updated: "each change of the signer's local state machine, by reason",
        healthy: "`burn_block_arrival` rises with Bitcoin blocks; `inactive_miner` and `miner_view_update` are occasional",
    },
    MetricDoc {
        name: "stacks_signer_agreement_state_conflicts",
        origin: Origin::Reference,
        updated: "each time the signer cannot adopt the signer set's view, by kind",
        healthy: "near 0; a steady rise means this signer's view (or its node) lags the signer set",
    },
    MetricDoc {
        name: "stacks_signer_agreement_capitulation_latencies_histogram",
        origin: Origin::Reference,
        updated: "never observed (as in the reference); present for dashboards that query it",
        healthy: "always empty",
    },
    MetricDoc {
        name: "stacks_signer_seconds_since_last_node_event",
        origin: Origin::Addition,
        updated: "at each scrape, from the last event the node delivered (any kind but a status check)",
        healthy: "below a few minutes (the node sends at least one event per Bitcoin block, about every 10 minutes on mainnet, and one per Stacks block); over 15 minutes means the node stopped sending events",
    },
    MetricDoc {
        name: "stacks_signer_seconds_since_last_block_proposal",
        origin: Origin::Addition,
        updated: "at each scrape, from the last block proposal received (any cycle)",
        healthy: "seconds to a minute while miners produce blocks; long gaps during a healthy chain mean proposals do not reach this signer",
    },
    MetricDoc {
        name: "stacks_signer_seconds_since_last_vote_sent",
        origin: Origin::Addition,
        updated: "at each scrape, from the last pre-commit or block response published",
        healthy: "close to `stacks_signer_seconds_since_last_block_proposal`; growing alone means the signer receives proposals but does not vote",
    },
    MetricDoc {
        name: "stacks_signer_proposal_vote_latency_seconds",
        origin: Origin::Addition,
        updated: "each vote published, from the proposal's arrival at this signer (not the block timestamp), by kind",
        healthy: "`pre_commit` p95 under about 2 s (it includes the node's validation); `accepted` adds the wait for the signer set's pre-commits",
    },
    MetricDoc {
        name: "stacks_signer_pending_block_validations",
        origin: Origin::Addition,
        updated: "at each scrape, from the database",
        healthy: "0 or 1; a queue that stays above a few means the node validates too slowly (429 answers)",
    },
    MetricDoc {
        name: "stacks_signer_database_size_bytes",
        origin: Origin::Addition,
        updated: "at each scrape, from the database (SQLite: pages and write-ahead log; PostgreSQL: its tables and indexes)",
        healthy: "grows within a reward cycle and drops after each prune (the signer keeps three cycles); steady growth across cycles needs a look",
    },
    MetricDoc {
        name: "stacks_signer_publishing",
        origin: Origin::Addition,
        updated: "at each scrape: 1 for a single instance; for an instance of an active/standby pair (`db_url`), whether it holds the signing lease",
        healthy: "summed over the instances of one key: exactly 1 (0 for longer than `ha_lease_ms` means no instance signs; 2 cannot last a lease)",
    },
    MetricDoc {
        name: "stacks_signer_messages_from_non_signers_total",
        origin: Origin::Addition,
        updated: "each signer message from a key outside the reward cycle's signer set (dropped with the rest of its batch)",
        healthy: "0 or near it; a steady rise means a misconfigured or foreign writer in the signers' StackerDB",
    },
    MetricDoc {
        name: "stacks_signer_stackerdb_write_retries_total",
        origin: Origin::Addition,
        updated: "each StackerDB chunk write attempted again, by reason",
        healthy: "`version_conflict` rises by a few per reward cycle (a fresh slot costs one); `transport` near 0",
    },
    MetricDoc {
        name: "stacks_signer_stackerdb_write_give_ups_total",
        origin: Origin::Addition,
        updated: "each StackerDB chunk write abandoned (the message was not published), by reason",
        healthy: "0; any rise is a vote or update other signers never saw",
    },
    MetricDoc {
        name: "stacks_signer_event_requests_refused_total",
        origin: Origin::Addition,
        updated: "at each scrape, from the event receiver's count of requests refused because their source is not in `event_allowed_sources`",
        healthy: "0; a rise means something other than the node posts to the event endpoint (or the node's address is missing from the list: its events then stall)",
    },
    MetricDoc {
        name: "stacks_signer_unverified_block_events_total",
        origin: Origin::Addition,
        updated: "each `/new_block` event about a stored block whose signer signatures did not reach 70% of the weight",
        healthy: "0; a rise means forged or malformed block events reach the signer",
    },
    MetricDoc {
        name: "process_resident_memory_bytes",
        origin: Origin::Addition,
        updated: "at each scrape, from `/proc/self/status`",
        healthy: "flat after start (tens of MiB); steady growth is a leak",
    },
    MetricDoc {
        name: "process_open_fds",
        origin: Origin::Addition,
        updated: "at each scrape, from `/proc/self/fd`",
        healthy: "flat (a few dozen); approaching `process_max_fds` will make the signer fail",
    },
    MetricDoc {
        name: "process_max_fds",
        origin: Origin::Addition,
        updated: "at each scrape, from `/proc/self/limits`",
        healthy: "the soft limit (1024 or more)",
    },
    MetricDoc {
        name: "process_start_time_seconds",
        origin: Origin::Addition,
        updated: "once, when the signer starts",
        healthy: "changes only on a restart (`changes(process_start_time_seconds[1h]) > 0` counts restarts)",
    },
];

/// What the registry says about one metric family: its type, help text, label names and
/// buckets (histograms).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricShape {
    /// The family's name.
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: &'static str,
    /// The help text.
    pub help: String,
    /// The label names.
    pub labels: Vec<String>,
    /// The bucket upper bounds of a histogram (empty otherwise).
    pub buckets: Vec<f64>,
}

/// The shape of every metric the signer registers, in declaration order (whether or not it
/// has a series yet).
pub fn metric_shapes() -> Vec<MetricShape> {
    use prometheus::proto::MetricType;

    let m = metrics::metrics();
    let mut out = Vec::new();
    for collector in m.collectors() {
        let labels: Vec<String> = collector
            .desc()
            .first()
            .map(|d| d.variable_labels.clone())
            .unwrap_or_default();
        for family in collector.collect() {
            let kind = match family.get_field_type() {
                MetricType::COUNTER => "counter",
                MetricType::GAUGE => "gauge",
                MetricType::HISTOGRAM => "histogram",
                MetricType::SUMMARY => "summary",
                MetricType::UNTYPED => "untyped",
            };
            let mut buckets: Vec<f64> = family
                .get_metric()
                .first()
                .map(|metric| {
                    metric
                        .get_histogram()
                        .get_bucket()
                        .iter()
                        .map(|b| b.upper_bound())
                        .collect()
                })
                .unwrap_or_default();
            if kind == "histogram" && buckets.is_empty() {
                // A labelled histogram without a series yet (the RPC latencies before the
                // first call): the reference's default buckets.
                buckets = prometheus::DEFAULT_BUCKETS.to_vec();
            }
            out.push(MetricShape {
                name: family.name().to_string(),
                kind,
                help: family.help().to_string(),
                labels: labels.clone(),
                buckets,
            });
        }
    }
    out
}

/// The generated part of `docs/metrics.md`: one row per metric, with its type, labels, help
/// text and buckets as registered and the operator's notes from [`METRIC_DOCS`].
pub fn metrics_markdown_table() -> String {
    let shapes = metric_shapes();
    let mut out = String::from(
        "| metric | type | labels | origin | help text | buckets | updated | healthy |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let cell = |text: &str| text.replace('|', "\\|");
    for doc in METRIC_DOCS {
        let Some(shape) = shapes.iter().find(|s| s.name == doc.name) else {
            continue;
        };
        let labels = if shape.labels.is_empty() {
            "–".to_string()
        } else {
            shape
                .labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let buckets = if shape.buckets.is_empty() {
            "–".to_string()
        } else {
            shape
                .buckets
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let origin = match doc.origin {
            Origin::Reference => "reference",
            Origin::Addition => "added",
        };
        out.push_str(&format!(
            "| `{}` | {} | {labels} | {origin} | {} | {buckets} | {} | {} |\n",
            doc.name,
            shape.kind,
            cell(&shape.help),
            cell(doc.updated),
            cell(doc.healthy),
        ));
    }
    out
}
