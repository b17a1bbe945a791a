//! The small functions the signer calls to update its metrics, named as the reference's
//! `monitoring::actions`. Each is an atomic update or two (label children are resolved once);
//! none blocks on anything but a short in-memory lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libsigner::chain::{NakamotoBlock, Sha512Trunc256Sum};
use prometheus::HistogramTimer;

use super::metrics::{metrics, unlabelled};

/// Why the signer's state machine changed (the reference's `SignerAgreementStateChangeReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerAgreementStateChangeReason {
    /// A new burn block arrived.
    BurnBlockArrival,
    /// A new Stacks block arrived (a delayed block of the parent tenure).
    StacksBlockArrival,
    /// The miner did not start its tenure in time.
    InactiveMiner,
    /// The signer set moved to a newer protocol version.
    ProtocolUpgrade,
    /// The signer adopted the signer set's view of the miner.
    MinerViewUpdate,
    /// The adopted miner view names a different parent tenure.
    MinerParentTenureUpdate,
}

impl SignerAgreementStateChangeReason {
    /// The label value.
    pub fn get_name(&self) -> &'static str {
        match self {
            Self::BurnBlockArrival => "burn_block_arrival",
            Self::StacksBlockArrival => "stacks_block_arrival",
            Self::InactiveMiner => "inactive_miner",
            Self::ProtocolUpgrade => "protocol_upgrade",
            Self::MinerViewUpdate => "miner_view_update",
            Self::MinerParentTenureUpdate => "miner_parent_tenure_update",
        }
    }
}

/// Why the signer could not agree with the signer set (the reference's
/// `SignerAgreementStateConflict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerAgreementStateConflict {
    /// The signer set's burn view is not this signer's yet.
    BurnBlockDelay,
    /// Waiting for a Stacks block the signer set has seen.
    StacksBlockDelay,
    /// No miner view has enough of the signer set behind it.
    MinerView,
}

impl SignerAgreementStateConflict {
    /// The label value.
    pub fn get_name(&self) -> &'static str {
        match self {
            Self::BurnBlockDelay => "burn_block_delay",
            Self::StacksBlockDelay => "stacks_block_delay",
            Self::MinerView => "miner_view",
        }
    }
}

/// The kinds of vote the proposal-to-vote latency distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteKind {
    /// A pre-commit.
    PreCommit,
    /// A block response accepting (signing) the block.
    Accepted,
    /// A block response rejecting the block.
    Rejected,
}

impl VoteKind {
    fn label(self) -> &'static str {
        match self {
            VoteKind::PreCommit => "pre_commit",
            VoteKind::Accepted => "accepted",
            VoteKind::Rejected => "rejected",
        }
    }
}

/// Why a StackerDB chunk write was attempted again, or abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackerDbWriteIssue {
    /// The node could not be reached (or answered an HTTP error).
    Transport,
    /// The node holds a newer version of the slot.
    VersionConflict,
    /// The node refused the chunk without saying why.
    RejectedWithoutCode,
    /// The node refused the chunk with a reason that is not worth retrying (give-ups only).
    Rejected,
}

impl StackerDbWriteIssue {
    fn label(self) -> &'static str {
        match self {
            Self::Transport => "transport",
            Self::VersionConflict => "version_conflict",
            Self::RejectedWithoutCode => "rejected_without_code",
            Self::Rejected => "rejected",
        }
    }
}

fn response_type(accepted: bool) -> &'static str {
    if accepted {
        "accepted"
    } else {
        "rejected"
    }
}

/// Sets `stacks_signer_stacks_node_height`.
pub fn update_stacks_tip_height(height: i64) {
    metrics().stacks_node_height.set(height);
}

/// Raises `stacks_signer_stacks_node_height` to `height` if the node announced a higher block
/// than the last `/v2/info` said (between the periodic refreshes).
pub fn observe_stacks_block_height(height: u64) {
    let gauge = &metrics().stacks_node_height;
    if let Ok(height) = i64::try_from(height) {
        if height > gauge.get() {
            gauge.set(height);
        }
    }
}

/// Sets `stacks_signer_current_reward_cycle`.
pub fn update_reward_cycle(reward_cycle: i64) {
    metrics().current_reward_cycle.set(reward_cycle);
}

/// Counts one validation response from the node.
pub fn increment_block_validation_responses(accepted: bool) {
    metrics()
        .block_validation_responses
        .with_label_values(&[response_type(accepted)])
        .inc();
}

/// Counts one block response this signer published.
pub fn increment_block_responses_sent(accepted: bool) {
    metrics()
        .block_responses_sent
        .with_label_values(&[response_type(accepted)])
        .inc();
}

/// Counts one block proposal this signer takes up (a new block, or one it reconsiders).
pub fn increment_block_proposals_received() {
    metrics().block_proposals_received.inc();
}

/// Counts one pre-commit this signer published.
pub fn increment_block_pre_commits_sent() {
    metrics().block_pre_commits_sent.inc();
}

/// Sets `stacks_signer_stx_balance`.
pub fn update_signer_stx_balance(balance: i64) {
    metrics().stx_balance.set(balance);
}

/// Sets `stacks_signer_nonce` (wrapping above `i64::MAX`, as the reference).
pub fn update_signer_nonce(nonce: u64) {
    metrics().nonce.set(nonce as i64);
}

/// Starts timing an RPC call to the node; `path` is the endpoint with its variable parts
/// written as the reference writes them (`/v3/stacker_set/:reward_cycle`). The time is
/// recorded when the timer is dropped (or [`HistogramTimer::stop_and_record`] is called),
/// whether the call succeeded or not.
pub fn new_rpc_call_timer(path: &str) -> HistogramTimer {
    metrics()
        .rpc_call_latencies
        .with_label_values(&[path])
        .start_timer()
}

/// Records the end-to-end latency of a response about `block`: from the block's timestamp to
/// now (the reference's measure; call it right after publishing).
pub fn record_block_response_latency(block: &NakamotoBlock) {
    record_block_response_latency_from(block.header.timestamp);
}

fn record_block_response_latency_from(block_timestamp_secs: u64) {
    let now_ms = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX);
    let diff_ms = now_ms.saturating_sub(block_timestamp_secs.saturating_mul(1000));
    unlabelled(&metrics().block_response_latencies).observe(diff_ms as f64 / 1000.0);
}

/// Records the validation time the node reported for a block.
pub fn record_block_validation_latency(latency_ms: u64) {
    unlabelled(&metrics().block_validation_latencies).observe(latency_ms as f64 / 1000.0);
}

/// Counts a change of the local state machine.
pub fn increment_signer_agreement_state_change_reason(reason: SignerAgreementStateChangeReason) {
    metrics()
        .agreement_state_change_reasons
        .with_label_values(&[reason.get_name()])
        .inc();
}

/// Counts a disagreement with the signer set.
pub fn increment_signer_agreement_state_conflict(conflict: SignerAgreementStateConflict) {
    metrics()
        .agreement_state_conflicts
        .with_label_values(&[conflict.get_name()])
        .inc();
}

/// Records how long the signer took to agree with the signer set.
pub fn record_signer_agreement_capitulation_latency(latency_s: u64) {
    unlabelled(&metrics().agreement_capitulation_latencies).observe(latency_s as f64);
}

// ---- beyond the reference ----

/// Milliseconds since the Unix epoch of the last node event, proposal and vote (0: none yet).
static LAST_NODE_EVENT_MS: AtomicU64 = AtomicU64::new(0);
static LAST_PROPOSAL_MS: AtomicU64 = AtomicU64::new(0);
static LAST_VOTE_MS: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

/// Notes that the node delivered an event (any but a status check).
pub fn record_node_event() {
    LAST_NODE_EVENT_MS.store(now_ms(), Ordering::Relaxed);
}

/// When a proposal arrived, and its block's timestamp, by signer signature hash.
struct Arrival {
    at: Instant,
    block_timestamp: u64,
}

/// Arrivals kept for the latency of the votes that follow (bounded; old ones are dropped).
static ARRIVALS: Mutex<Option<HashMap<Sha512Trunc256Sum, Arrival>>> = Mutex::new(None);

/// How many proposal arrivals are remembered at most.
const MAX_ARRIVALS: usize = 512;

/// How long a proposal arrival is remembered.
const ARRIVAL_TTL: Duration = Duration::from_secs(30 * 60);

/// Notes that a block proposal arrived now (the start of the proposal-to-vote latency).
pub fn record_block_proposal_arrival(block: &NakamotoBlock) {
    LAST_PROPOSAL_MS.store(now_ms(), Ordering::Relaxed);
    let sighash = block.header.signer_signature_hash();
    let Ok(mut guard) = ARRIVALS.lock() else {
        return;
    };
    let arrivals = guard.get_or_insert_with(HashMap::new);
    if arrivals.len() >= MAX_ARRIVALS {
        arrivals.retain(|_, a| a.at.elapsed() < ARRIVAL_TTL);
        if arrivals.len() >= MAX_ARRIVALS {
            arrivals.clear();
        }
    }
    arrivals.insert(
        sighash,
        Arrival {
            at: Instant::now(),
            block_timestamp: block.header.timestamp,
        },
    );
}

/// Notes that this signer published a vote on the block `sighash`: stamps the last vote and
/// observes the time since the proposal arrived (when this process saw it arrive). Returns
/// the block's timestamp when the arrival is known.
fn record_vote(sighash: &Sha512Trunc256Sum, kind: VoteKind) -> Option<u64> {
    LAST_VOTE_MS.store(now_ms(), Ordering::Relaxed);
    let arrival = ARRIVALS
        .lock()
        .ok()?
        .as_ref()?
        .get(sighash)
        .map(|a| (a.at.elapsed(), a.block_timestamp))?;
    metrics()
        .proposal_vote_latency
        .with_label_values(&[kind.label()])
        .observe(arrival.0.as_secs_f64());
    Some(arrival.1)
}

/// A pre-commit on `sighash` was published: counts it (the reference's counter) and records
/// the vote.
pub fn record_pre_commit_sent(sighash: &Sha512Trunc256Sum) {
    increment_block_pre_commits_sent();
    record_vote(sighash, VoteKind::PreCommit);
}

/// A block response on `sighash` was published: counts it (the reference's counter), records
/// the vote and the reference's end-to-end latency. `block_timestamp` is asked for only when
/// the proposal's arrival was not seen by this process (it is then read from elsewhere).
pub fn record_block_response_sent(
    sighash: &Sha512Trunc256Sum,
    accepted: bool,
    block_timestamp: impl FnOnce() -> Option<u64>,
) {
    increment_block_responses_sent(accepted);
    let kind = if accepted {
        VoteKind::Accepted
    } else {
        VoteKind::Rejected
    };
    let timestamp = record_vote(sighash, kind).or_else(block_timestamp);
    if let Some(timestamp) = timestamp {
        record_block_response_latency_from(timestamp);
    }
}

/// Counts a signer message dropped because its key is outside the signer set.
pub fn increment_messages_from_non_signers() {
    metrics().messages_from_non_signers.inc();
}

/// Counts a StackerDB write attempted again.
pub fn increment_stackerdb_write_retry(issue: StackerDbWriteIssue) {
    metrics()
        .stackerdb_write_retries
        .with_label_values(&[issue.label()])
        .inc();
}

/// Counts a StackerDB write abandoned.
pub fn increment_stackerdb_write_give_up(issue: StackerDbWriteIssue) {
    metrics()
        .stackerdb_write_give_ups
        .with_label_values(&[issue.label()])
        .inc();
}

/// Seconds since the last node event, proposal and vote (since `started_ms` for those that
/// have not happened), as of `now`.
pub(crate) fn liveness_ages(started_ms: u64) -> (f64, f64, f64) {
    let now = now_ms();
    let age = |stamp: &AtomicU64| {
        let at = match stamp.load(Ordering::Relaxed) {
            0 => started_ms,
            at => at,
        };
        now.saturating_sub(at) as f64 / 1000.0
    };
    (
        age(&LAST_NODE_EVENT_MS),
        age(&LAST_PROPOSAL_MS),
        age(&LAST_VOTE_MS),
    )
}

/// Unix milliseconds of the last node event, proposal and vote (`None` for none yet).
pub(crate) fn liveness_stamps() -> (Option<u64>, Option<u64>, Option<u64>) {
    let get = |stamp: &AtomicU64| match stamp.load(Ordering::Relaxed) {
        0 => None,
        at => Some(at),
    };
    (
        get(&LAST_NODE_EVENT_MS),
        get(&LAST_PROPOSAL_MS),
        get(&LAST_VOTE_MS),
    )
}

/// Now, in Unix milliseconds.
pub(crate) fn unix_now_ms() -> u64 {
    now_ms()
}

/// The event receiver's source filter, whose refusal count the metrics report.
static EVENT_SOURCE_FILTER: Mutex<Option<libsigner::SourceFilter>> = Mutex::new(None);

/// Reports the refusals of `filter` (the event receiver's) as
/// `stacks_signer_event_requests_refused_total` from now on.
pub fn watch_event_source_filter(filter: libsigner::SourceFilter) {
    if let Ok(mut slot) = EVENT_SOURCE_FILTER.lock() {
        *slot = Some(filter);
    }
}

/// Brings the refusal counter up to the receiver's count (called before each scrape).
pub(crate) fn sync_event_source_refusals() {
    let refused = match EVENT_SOURCE_FILTER.lock() {
        Ok(slot) => slot.as_ref().map(libsigner::SourceFilter::refused_requests),
        Err(_) => None,
    };
    let Some(refused) = refused else {
        return;
    };
    let counter = &metrics().event_requests_refused;
    let reported = counter.get();
    if refused > reported {
        counter.inc_by(refused - reported);
    }
}

/// Counts a `/new_block` event whose signatures did not reach the threshold.
pub fn increment_unverified_block_events() {
    metrics().unverified_block_events.inc();
}

#[cfg(test)]
mod tests {
    use libsigner::chain::NakamotoBlockHeader;

    use super::*;

    fn dummy_block(height: u64) -> NakamotoBlock {
        let mut header = NakamotoBlockHeader::empty();
        header.chain_length = height;
        NakamotoBlock {
            header,
            txs: vec![],
        }
    }

    fn vote_latency_count(kind: VoteKind) -> u64 {
        metrics()
            .proposal_vote_latency
            .with_label_values(&[kind.label()])
            .get_sample_count()
    }

    #[test]
    fn a_vote_on_a_proposal_seen_arriving_observes_its_latency_and_stamps_the_vote() {
        let block = dummy_block(9_001);
        let sighash = block.header.signer_signature_hash();
        let before = vote_latency_count(VoteKind::PreCommit);
        record_block_proposal_arrival(&block);
        std::thread::sleep(Duration::from_millis(20));
        record_pre_commit_sent(&sighash);
        assert!(vote_latency_count(VoteKind::PreCommit) > before);
        let (_, proposal, vote) = liveness_stamps();
        assert!(proposal.is_some() && vote.is_some());
        let (_, proposal_age, vote_age) = liveness_ages(0);
        assert!(proposal_age < 60.0 && vote_age < 60.0);
    }

    #[test]
    fn a_response_on_a_block_not_seen_arriving_asks_for_its_timestamp() {
        let unknown = Sha512Trunc256Sum::from_data(b"never proposed here");
        let mut asked = false;
        let before = unlabelled(&metrics().block_response_latencies).get_sample_count();
        record_block_response_sent(&unknown, false, || {
            asked = true;
            Some(0)
        });
        assert!(asked);
        assert!(unlabelled(&metrics().block_response_latencies).get_sample_count() > before);
    }

    #[test]
    fn the_node_height_only_rises_with_block_events() {
        update_stacks_tip_height(100);
        observe_stacks_block_height(90);
        assert!(metrics().stacks_node_height.get() >= 100);
        observe_stacks_block_height(1_000_000);
        assert!(metrics().stacks_node_height.get() >= 1_000_000);
    }
}
