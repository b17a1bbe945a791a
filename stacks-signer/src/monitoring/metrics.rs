//! The metrics themselves: one process-wide [`Registry`] holding the reference signer's metrics
//! (same names, types, labels, help texts and buckets) and this signer's additions.
//!
//! Everything is registered the first time [`metrics`] is called, and every label value the
//! signer can write (except the RPC `path`, which depends on the call) is created at zero
//! then, so alert rules and `rate()` see a series from the start. The reference registers
//! each metric when it is first touched; a dashboard cannot tell the difference except that
//! series show up earlier, at 0.

use std::sync::OnceLock;

use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, DEFAULT_BUCKETS,
};

/// The `response_type` label values of the reference's response counters.
pub const RESPONSE_TYPES: [&str; 2] = ["accepted", "rejected"];

/// The `reason` label values of `stacks_signer_agreement_state_change_reasons`.
pub const STATE_CHANGE_REASONS: [&str; 6] = [
    "burn_block_arrival",
    "stacks_block_arrival",
    "inactive_miner",
    "protocol_upgrade",
    "miner_view_update",
    "miner_parent_tenure_update",
];

/// The `conflict` label values of `stacks_signer_agreement_state_conflicts`.
pub const STATE_CONFLICTS: [&str; 3] = ["burn_block_delay", "stacks_block_delay", "miner_view"];

/// The `vote` label values of `stacks_signer_proposal_vote_latency_seconds`.
pub const VOTE_KINDS: [&str; 3] = ["pre_commit", "accepted", "rejected"];

/// The `reason` label values of the StackerDB write retry and give-up counters.
pub const STACKERDB_WRITE_REASONS: [&str; 4] = [
    "transport",
    "version_conflict",
    "rejected_without_code",
    "rejected",
];

/// Buckets of the reference's block validation latency histogram (seconds).
pub const BLOCK_VALIDATION_BUCKETS: [f64; 9] = [0.005, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0];

/// Buckets of the reference's end-to-end block response latency histogram (seconds).
pub const BLOCK_RESPONSE_BUCKETS: [f64; 12] = [
    0.005, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
];

/// Buckets of the reference's capitulation latency histogram (seconds).
pub const CAPITULATION_BUCKETS: [f64; 9] = [0.0, 1.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0];

/// Buckets of the proposal-to-vote latency histogram (seconds).
pub const PROPOSAL_VOTE_BUCKETS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
];

/// Every metric of the signer. Obtain it with [`metrics`].
#[derive(Debug)]
pub struct Metrics {
    /// The registry `/metrics` exposes.
    pub registry: Registry,
    /// `stacks_signer_stacks_node_height` (reference).
    pub stacks_node_height: IntGauge,
    /// `stacks_signer_block_validation_responses{response_type}` (reference).
    pub block_validation_responses: IntCounterVec,
    /// `stacks_signer_block_responses_sent{response_type}` (reference).
    pub block_responses_sent: IntCounterVec,
    /// `stacks_signer_block_proposals_received` (reference).
    pub block_proposals_received: IntCounter,
    /// `stacks_signer_block_pre_commits_sent` (reference).
    pub block_pre_commits_sent: IntCounter,
    /// `stacks_signer_current_reward_cycle` (reference).
    pub current_reward_cycle: IntGauge,
    /// `stacks_signer_stx_balance` (reference).
    pub stx_balance: IntGauge,
    /// `stacks_signer_nonce` (reference).
    pub nonce: IntGauge,
    /// `stacks_signer_node_rpc_call_latencies_histogram{path}` (reference).
    pub rpc_call_latencies: HistogramVec,
    /// `stacks_signer_block_validation_latencies_histogram` (reference).
    pub block_validation_latencies: HistogramVec,
    /// `stacks_signer_block_response_latencies_histogram` (reference).
    pub block_response_latencies: HistogramVec,
    /// `stacks_signer_agreement_state_change_reasons{reason}` (reference).
    pub agreement_state_change_reasons: IntCounterVec,
    /// `stacks_signer_agreement_state_conflicts{conflict}` (reference).
    pub agreement_state_conflicts: IntCounterVec,
    /// `stacks_signer_agreement_capitulation_latencies_histogram` (reference).
    pub agreement_capitulation_latencies: HistogramVec,
    /// `stacks_signer_seconds_since_last_node_event`.
    pub seconds_since_last_node_event: Gauge,
    /// `stacks_signer_seconds_since_last_block_proposal`.
    pub seconds_since_last_block_proposal: Gauge,
    /// `stacks_signer_seconds_since_last_vote_sent`.
    pub seconds_since_last_vote_sent: Gauge,
    /// `stacks_signer_proposal_vote_latency_seconds{vote}`.
    pub proposal_vote_latency: HistogramVec,
    /// `stacks_signer_pending_block_validations`.
    pub pending_block_validations: IntGauge,
    /// `stacks_signer_database_size_bytes`.
    pub database_size_bytes: IntGauge,
    /// `stacks_signer_publishing`.
    pub publishing: IntGauge,
    /// `stacks_signer_messages_from_non_signers_total`.
    pub messages_from_non_signers: IntCounter,
    /// `stacks_signer_stackerdb_write_retries_total{reason}`.
    pub stackerdb_write_retries: IntCounterVec,
    /// `stacks_signer_stackerdb_write_give_ups_total{reason}`.
    pub stackerdb_write_give_ups: IntCounterVec,
    /// `stacks_signer_event_requests_refused_total`.
    pub event_requests_refused: IntCounter,
    /// `stacks_signer_unverified_block_events_total`.
    pub unverified_block_events: IntCounter,
    /// `process_resident_memory_bytes`.
    pub process_resident_memory_bytes: IntGauge,
    /// `process_open_fds`.
    pub process_open_fds: IntGauge,
    /// `process_max_fds`.
    pub process_max_fds: IntGauge,
    /// `process_start_time_seconds`.
    pub process_start_time_seconds: Gauge,
}

/// The process's metrics, registered (and their label values created) on the first call.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::build)
}

/// Registers `collector` in `registry`. Names are fixed and distinct, so this cannot fail
/// unless two metrics here share a name, which the tests rule out; a failure leaves the
/// metric working but unexported.
fn register<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    let _ = registry.register(Box::new(c.clone()));
    c
}

fn int_gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    // A valid name and help text cannot make the constructor fail.
    let gauge =
        IntGauge::with_opts(Opts::new(name, help)).unwrap_or_else(|_| unreachable_metric(name));
    register(registry, gauge)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    let gauge =
        Gauge::with_opts(Opts::new(name, help)).unwrap_or_else(|_| unreachable_metric(name));
    register(registry, gauge)
}

fn int_counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let counter =
        IntCounter::with_opts(Opts::new(name, help)).unwrap_or_else(|_| unreachable_metric(name));
    register(registry, counter)
}

fn int_counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    label: &str,
    values: &[&str],
) -> IntCounterVec {
    let vec = IntCounterVec::new(Opts::new(name, help), &[label])
        .unwrap_or_else(|_| unreachable_metric(name));
    for value in values {
        vec.with_label_values(&[*value]);
    }
    register(registry, vec)
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: &[f64],
    labels: &[&str],
    values: &[&str],
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    let vec = HistogramVec::new(opts, labels).unwrap_or_else(|_| unreachable_metric(name));
    if labels.is_empty() {
        // The reference's label-less histograms: the one series exists from the start.
        let no_labels: [&str; 0] = [];
        vec.with_label_values(&no_labels);
    }
    for value in values {
        vec.with_label_values(&[*value]);
    }
    register(registry, vec)
}

/// The constructors only fail on an invalid name, label name or bucket list, all of which are
/// constants here (and covered by the tests).
fn unreachable_metric(name: &str) -> ! {
    panic!("the metric definition of {name} is invalid")
}

impl Metrics {
    fn build() -> Self {
        let r = Registry::new();
        let metrics = Metrics {
            stacks_node_height: int_gauge(
                &r,
                "stacks_signer_stacks_node_height",
                "The current height of the Stacks node",
            ),
            block_validation_responses: int_counter_vec(
                &r,
                "stacks_signer_block_validation_responses",
                "The number of block validation responses. `response_type` is either 'accepted' or 'rejected'",
                "response_type",
                &RESPONSE_TYPES,
            ),
            block_responses_sent: int_counter_vec(
                &r,
                "stacks_signer_block_responses_sent",
                "The number of block responses sent. `response_type` is either 'accepted' or 'rejected'",
                "response_type",
                &RESPONSE_TYPES,
            ),
            block_proposals_received: int_counter(
                &r,
                "stacks_signer_block_proposals_received",
                "The number of block proposals received by the signer",
            ),
            block_pre_commits_sent: int_counter(
                &r,
                "stacks_signer_block_pre_commits_sent",
                "The number of block pre-commits sent by the signer",
            ),
            current_reward_cycle: int_gauge(
                &r,
                "stacks_signer_current_reward_cycle",
                "The current reward cycle",
            ),
            stx_balance: int_gauge(
                &r,
                "stacks_signer_stx_balance",
                "The current STX balance of the signer",
            ),
            nonce: int_gauge(&r, "stacks_signer_nonce", "The current nonce of the signer"),
            rpc_call_latencies: histogram_vec(
                &r,
                "stacks_signer_node_rpc_call_latencies_histogram",
                "Time (seconds) measuring round-trip RPC call latency to the Stacks node",
                DEFAULT_BUCKETS,
                &["path"],
                &[],
            ),
            block_validation_latencies: histogram_vec(
                &r,
                "stacks_signer_block_validation_latencies_histogram",
                "Time (seconds) measuring block validation time reported by the Stacks node",
                &BLOCK_VALIDATION_BUCKETS,
                &[],
                &[],
            ),
            block_response_latencies: histogram_vec(
                &r,
                "stacks_signer_block_response_latencies_histogram",
                "Time (seconds) measuring end-to-end time to respond to a block",
                &BLOCK_RESPONSE_BUCKETS,
                &[],
                &[],
            ),
            agreement_state_change_reasons: int_counter_vec(
                &r,
                "stacks_signer_agreement_state_change_reasons",
                "The number of state machine changes in signer agreement protocol. `reason` can be one of: 'burn_block_arrival', 'stacks_block_arrival', 'inactive_miner', 'protocol_upgrade', 'miner_view_update', 'miner_parent_tenure_update'",
                "reason",
                &STATE_CHANGE_REASONS,
            ),
            agreement_state_conflicts: int_counter_vec(
                &r,
                "stacks_signer_agreement_state_conflicts",
                "The number of state machine conflicts in signer agreement protocol. `conflict` can be one of: 'burn_block_delay', 'stacks_block_delay', 'miner_view'",
                "conflict",
                &STATE_CONFLICTS,
            ),
            agreement_capitulation_latencies: histogram_vec(
                &r,
                "stacks_signer_agreement_capitulation_latencies_histogram",
                "Measuring the time (in seconds) for the signer to agree (capitulate) with the signer set",
                &CAPITULATION_BUCKETS,
                &[],
                &[],
            ),
            seconds_since_last_node_event: gauge(
                &r,
                "stacks_signer_seconds_since_last_node_event",
                "Seconds since the signer last received an event from its Stacks node (since it started, if none yet)",
            ),
            seconds_since_last_block_proposal: gauge(
                &r,
                "stacks_signer_seconds_since_last_block_proposal",
                "Seconds since the signer last received a block proposal (since it started, if none yet)",
            ),
            seconds_since_last_vote_sent: gauge(
                &r,
                "stacks_signer_seconds_since_last_vote_sent",
                "Seconds since the signer last published a vote: a pre-commit or a block response (since it started, if none yet)",
            ),
            proposal_vote_latency: histogram_vec(
                &r,
                "stacks_signer_proposal_vote_latency_seconds",
                "Time (seconds) from a block proposal's arrival at the signer to the signer publishing its vote on it. `vote` is 'pre_commit', 'accepted' or 'rejected'",
                &PROPOSAL_VOTE_BUCKETS,
                &["vote"],
                &VOTE_KINDS,
            ),
            pending_block_validations: int_gauge(
                &r,
                "stacks_signer_pending_block_validations",
                "The number of block proposals queued until the node can validate them",
            ),
            database_size_bytes: int_gauge(
                &r,
                "stacks_signer_database_size_bytes",
                "The size of the signer database in bytes (SQLite: main file and write-ahead log; PostgreSQL: its tables and indexes)",
            ),
            publishing: int_gauge(
                &r,
                "stacks_signer_publishing",
                "1 when this process publishes its key's messages (a single instance always; one of an active/standby pair while it holds the signing lease), else 0",
            ),
            messages_from_non_signers: int_counter(
                &r,
                "stacks_signer_messages_from_non_signers_total",
                "The number of signer messages dropped because their key is not in the signer set of the reward cycle",
            ),
            stackerdb_write_retries: int_counter_vec(
                &r,
                "stacks_signer_stackerdb_write_retries_total",
                "The number of StackerDB chunk writes attempted again. `reason` is 'transport', 'version_conflict' or 'rejected_without_code'",
                "reason",
                &STACKERDB_WRITE_REASONS[..3],
            ),
            stackerdb_write_give_ups: int_counter_vec(
                &r,
                "stacks_signer_stackerdb_write_give_ups_total",
                "The number of StackerDB chunk writes abandoned. `reason` is 'transport', 'version_conflict', 'rejected_without_code' or 'rejected'",
                "reason",
                &STACKERDB_WRITE_REASONS,
            ),
            event_requests_refused: int_counter(
                &r,
                "stacks_signer_event_requests_refused_total",
                "The number of requests to the event endpoint refused (403) because their source is not in event_allowed_sources",
            ),
            unverified_block_events: int_counter(
                &r,
                "stacks_signer_unverified_block_events_total",
                "The number of /new_block events whose signer signatures did not reach the threshold, so the block was not taken as accepted",
            ),
            process_resident_memory_bytes: int_gauge(
                &r,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
            ),
            process_open_fds: int_gauge(&r, "process_open_fds", "Number of open file descriptors."),
            process_max_fds: int_gauge(
                &r,
                "process_max_fds",
                "Maximum number of open file descriptors.",
            ),
            process_start_time_seconds: gauge(
                &r,
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
            ),
            registry: r,
        };
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        metrics.process_start_time_seconds.set(started.floor());
        metrics
    }

    /// Every metric of the registry, in declaration order.
    pub fn collectors(&self) -> Vec<&dyn prometheus::core::Collector> {
        vec![
            &self.stacks_node_height,
            &self.block_validation_responses,
            &self.block_responses_sent,
            &self.block_proposals_received,
            &self.block_pre_commits_sent,
            &self.current_reward_cycle,
            &self.stx_balance,
            &self.nonce,
            &self.rpc_call_latencies,
            &self.block_validation_latencies,
            &self.block_response_latencies,
            &self.agreement_state_change_reasons,
            &self.agreement_state_conflicts,
            &self.agreement_capitulation_latencies,
            &self.seconds_since_last_node_event,
            &self.seconds_since_last_block_proposal,
            &self.seconds_since_last_vote_sent,
            &self.proposal_vote_latency,
            &self.pending_block_validations,
            &self.database_size_bytes,
            &self.publishing,
            &self.messages_from_non_signers,
            &self.stackerdb_write_retries,
            &self.stackerdb_write_give_ups,
            &self.event_requests_refused,
            &self.unverified_block_events,
            &self.process_resident_memory_bytes,
            &self.process_open_fds,
            &self.process_max_fds,
            &self.process_start_time_seconds,
        ]
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    pub fn gather_text(&self) -> String {
        super::actions::sync_event_source_refusals();
        let families = self.registry.gather();
        let mut out = String::new();
        // Encoding into a String only fails on a malformed family, which a registry never
        // produces; the partial text is still served.
        let _ = prometheus::TextEncoder::new().encode_utf8(&families, &mut out);
        out
    }
}

/// The histogram child of a label-less reference histogram.
pub(crate) fn unlabelled(vec: &HistogramVec) -> Histogram {
    let no_labels: [&str; 0] = [];
    vec.with_label_values(&no_labels)
}
