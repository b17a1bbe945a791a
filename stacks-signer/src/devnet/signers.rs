//! Signers simulated inside the node: for every proposal written to `miners`, each signer of
//! the proposal's reward cycle whose key the node holds validates the block like the node
//! would, then writes a `BlockPreCommit` (`signers-{p}-3`) and a `BlockResponse::Accepted`
//! (`signers-{p}-1`) into its own slots, signed with its key — or, if one of the signer's
//! sortition-view checks or the validation fails, a `BlockResponse::Rejected`. They also
//! publish a
//! `StateMachineUpdate` (`signers-{p}-2`) whenever their view of the burn tip and the
//! current miner changes, so that real signers sharing a reward set with them can reach
//! signer-set agreement.

use libsigner::chain::Sha512Trunc256Sum;

use super::state::NodeState;
use super::validator::check_block;
use super::wire::messages::{
    block_accepted, block_pre_commit, block_rejection, signer_rejection, state_machine_update,
};
use super::wire::NakamotoBlock;
use libsigner::chain::{ConsensusHash, TenureChangeCause, TransactionPayload};
use libsigner::chain::{Hash160, StacksPrivateKey};
use libsigner::v0::messages::{RejectReason, StateMachineUpdateMinerState, ValidateRejectCode};

/// Message id of block responses.
pub const BLOCK_RESPONSE_MSG_ID: u32 = 1;
/// Message id of state-machine updates.
pub const STATE_MACHINE_UPDATE_MSG_ID: u32 = 2;
/// Message id of pre-commits.
pub const BLOCK_PRE_COMMIT_MSG_ID: u32 = 3;

/// The tenure idle timeout the simulated signers assume (the reference signer's default
/// `tenure_idle_timeout`): a full tenure extend (`Extended`) that keeps the burn view is
/// allowed once this long has passed since the tenure's last `BlockFound` or `Extended`
/// block was proposed.
pub const TENURE_IDLE_TIMEOUT_SECS: u64 = 120;

/// The read-count idle timeout the simulated signers assume (the reference signer's default
/// `read_count_idle_timeout`), for `ExtendedReadCount` extends.
pub const READ_COUNT_IDLE_TIMEOUT_SECS: u64 = 20;

/// Added to the idle timeouts in the extend timestamps the simulated signers announce (the
/// reference signer's default `tenure_idle_timeout_buffer`), never when judging an extend.
pub const TENURE_IDLE_TIMEOUT_BUFFER_SECS: u64 = 2;

/// How long a block the simulated signers accepted, but the node has not processed, still
/// counts as the last block of its tenure (the reference signer's default
/// `tenure_last_block_proposal_timeout`).
pub const TENURE_LAST_BLOCK_PROPOSAL_TIMEOUT_SECS: u64 = 30;

/// Which tenure changes restart an idle timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtendTimer {
    /// The full-extend timer: restarted by `BlockFound` and `Extended`.
    Full,
    /// The read-count timer: restarted by `BlockFound`, `Extended` and `ExtendedReadCount`.
    ReadCount,
}

impl ExtendTimer {
    fn restarted_by(self, cause: TenureChangeCause) -> bool {
        match self {
            ExtendTimer::Full => {
                matches!(
                    cause,
                    TenureChangeCause::BlockFound | TenureChangeCause::Extended
                )
            }
            ExtendTimer::ReadCount => matches!(
                cause,
                TenureChangeCause::BlockFound
                    | TenureChangeCause::Extended
                    | TenureChangeCause::ExtendedReadCount
            ),
        }
    }
}

/// Why the simulated signers refuse a proposal.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// A signer-side check failed (the block never reaches validation).
    Signer(RejectReason),
    /// The node's validation failed with this code and reason.
    Validation(ValidateRejectCode, String),
}

/// When the timer `timer` of `block`'s tenure expires, as the reference signer computes it
/// (`idle_secs` after the proposal time of the tenure's latest processed block whose tenure
/// change restarts the timer, walking down from the tenure tip; `now + idle_secs` if the
/// simulated signers know no processed block of the tenure). With `at_signing`, a
/// well-formed tenure-start block restarts the timer itself (`now + idle_secs`), as when the
/// reference signer accepts one. Validation time is taken as zero.
pub fn extend_timestamp(
    state: &NodeState,
    block: &NakamotoBlock,
    timer: ExtendTimer,
    idle_secs: u64,
    at_signing: bool,
) -> u64 {
    let now = state.now_secs();
    if at_signing
        && block
            .get_tenure_change_tx_payload()
            .is_some_and(|tc| timer.restarted_by(tc.cause))
    {
        return now.saturating_add(idle_secs);
    }
    let mut blocks = state.stacks.tenure_blocks(&block.header.consensus_hash);
    blocks.sort_by_key(|b| std::cmp::Reverse(b.height()));
    let mut start = None;
    for stored in blocks {
        let Some(pending) = state
            .pending
            .get(&stored.block.header.signer_signature_hash())
        else {
            continue;
        };
        start = Some(pending.proposed_at);
        if first_tx_tenure_change_cause(&stored.block).is_some_and(|c| timer.restarted_by(c)) {
            break;
        }
    }
    start.unwrap_or(now).saturating_add(idle_secs)
}

/// The cause of the tenure change that is `block`'s first transaction, if it is one.
fn first_tx_tenure_change_cause(block: &NakamotoBlock) -> Option<TenureChangeCause> {
    match &block.txs.first()?.payload {
        TransactionPayload::TenureChange(tc) => Some(tc.cause),
        _ => None,
    }
}

/// Whether `block` is higher than the highest block of tenure `tenure` the simulated signers
/// know: one they accepted less than [`TENURE_LAST_BLOCK_PROPOSAL_TIMEOUT_SECS`] ago, or the
/// node's tenure tip (the reference signer's `check_latest_block_in_tenure`; an unknown
/// tenure passes, as the node then has the last word).
fn is_higher_than_tenure_tip(
    state: &NodeState,
    tenure: &ConsensusHash,
    block: &NakamotoBlock,
) -> bool {
    let now = state.now_secs();
    let locally_accepted = state
        .pending
        .values()
        .filter(|p| p.block.header.consensus_hash == *tenure)
        .filter(|p| {
            p.accepted_at
                .is_some_and(|at| at.saturating_add(TENURE_LAST_BLOCK_PROPOSAL_TIMEOUT_SECS) > now)
        })
        .map(|p| p.block.header.chain_length)
        .max();
    if locally_accepted.is_some_and(|height| block.header.chain_length <= height) {
        return false;
    }
    state
        .stacks
        .tenure_tip(tenure)
        .is_none_or(|tip| tip.height() < block.header.chain_length)
}

/// Whether the simulated signers accepted, less than
/// [`TENURE_LAST_BLOCK_PROPOSAL_TIMEOUT_SECS`] ago, another block of `block`'s tenure at its
/// height: like a v0 signer, they never sign two conflicting blocks, and refuse the second
/// after validation as a v0 signer does.
fn accepted_a_sibling(state: &NodeState, block: &NakamotoBlock) -> bool {
    let now = state.now_secs();
    let sighash = block.header.signer_signature_hash();
    state.pending.values().any(|p| {
        p.block.header.consensus_hash == block.header.consensus_hash
            && p.block.header.chain_length == block.header.chain_length
            && p.block.header.signer_signature_hash() != sighash
            && p.accepted_at
                .is_some_and(|at| at.saturating_add(TENURE_LAST_BLOCK_PROPOSAL_TIMEOUT_SECS) > now)
    })
}

/// The signer-side checks the simulated signers make before validation, in the reference
/// signer's order (its V1 sortition-view checks, with every miner taken as active): miner key
/// recoverable, bitvec all ones, block in the current or last sortition, miner key hash,
/// last-sortition miner; then for a tenure-start block that it builds on the highest known
/// block of the parent tenure and is the first of its tenure, for any other block that it is
/// higher than the highest known block of its tenure; then the tenure-extend rules (only
/// `Extended` and `ExtendedReadCount` extends; a full extend must change the burn view or
/// come [`TENURE_IDLE_TIMEOUT_SECS`] after the tenure's last tenure change; a read-count
/// extend must keep the burn view and come [`READ_COUNT_IDLE_TIMEOUT_SECS`] after it).
pub fn sortition_view_check(state: &NodeState, block: &NakamotoBlock) -> Result<(), RejectReason> {
    let Some(miner_pk) = block.header.recover_miner_pk() else {
        return Err(RejectReason::IrrecoverablePubkeyHash);
    };
    if block.header.pox_treatment.iter().any(|bit| !bit) {
        return Err(RejectReason::InvalidBitvec);
    }
    let current = state.burnchain.latest_winning();
    let last = current
        .and_then(|c| c.last_sortition_ch)
        .and_then(|ch| state.burnchain.by_consensus_hash(&ch));
    let ch = block.header.consensus_hash;
    let (proposer, is_current) = match (current, last) {
        (Some(c), _) if c.consensus_hash == ch => (c, true),
        (_, Some(l)) if l.consensus_hash == ch => (l, false),
        _ => return Err(RejectReason::SortitionViewMismatch),
    };
    let winner_pkh = proposer.winner.as_ref().map(|w| w.miner_pkh);
    if winner_pkh != Some(Hash160::from_node_public_key(&miner_pk)) {
        return Err(RejectReason::PubkeyHashMismatch);
    }
    if !is_current {
        return Err(RejectReason::NotLatestSortitionWinner);
    }
    match block.get_tenure_change_tx_payload() {
        Some(tenure_change) => {
            if !is_higher_than_tenure_tip(state, &tenure_change.prev_tenure_consensus_hash, block) {
                return Err(RejectReason::InvalidParentBlock);
            }
            if state.stacks.has_tenure(&ch) {
                return Err(RejectReason::DuplicateBlockFound);
            }
        }
        None => {
            if !is_higher_than_tenure_tip(state, &ch, block) {
                return Err(RejectReason::InvalidParentBlock);
            }
        }
    }
    let Some(extend) = block.get_tenure_extend_tx_payload() else {
        return Ok(());
    };
    let timer = match extend.cause {
        TenureChangeCause::Extended => ExtendTimer::Full,
        TenureChangeCause::ExtendedReadCount => ExtendTimer::ReadCount,
        _ => return Err(RejectReason::InvalidTenureExtend),
    };
    let Some(tenure_tip) = state.stacks.tenure_tip(&proposer.consensus_hash) else {
        return Err(RejectReason::InvalidTenureExtend);
    };
    let changed_burn_view = extend.burn_view_consensus_hash != tenure_tip.burn_view;
    let now = state.now_secs();
    let allowed = match timer {
        ExtendTimer::Full => {
            changed_burn_view
                || now >= extend_timestamp(state, block, timer, TENURE_IDLE_TIMEOUT_SECS, false)
        }
        ExtendTimer::ReadCount => {
            !changed_burn_view
                && now >= extend_timestamp(state, block, timer, READ_COUNT_IDLE_TIMEOUT_SECS, false)
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(RejectReason::InvalidTenureExtend)
    }
}

/// The (full, read-count) extend timestamps the simulated signers announce in a block
/// response for `block`: when accepting (`at_signing`) or rejecting it.
pub fn announced_timestamps(
    state: &NodeState,
    block: &NakamotoBlock,
    at_signing: bool,
) -> (u64, u64) {
    (
        extend_timestamp(
            state,
            block,
            ExtendTimer::Full,
            TENURE_IDLE_TIMEOUT_SECS + TENURE_IDLE_TIMEOUT_BUFFER_SECS,
            at_signing,
        ),
        extend_timestamp(
            state,
            block,
            ExtendTimer::ReadCount,
            READ_COUNT_IDLE_TIMEOUT_SECS + TENURE_IDLE_TIMEOUT_BUFFER_SECS,
            at_signing,
        ),
    )
}

/// Lets every simulated signer react to the proposal with hash `hash`: refuse it (signer-side
/// check, forced or real validation failure) or pre-commit and accept it. Returns how many
/// accepted it.
pub fn sign_proposal(state: &mut NodeState, hash: &Sha512Trunc256Sum) -> usize {
    let Some(pending) = state.pending.get(hash) else {
        return 0;
    };
    if pending.processed {
        return 0;
    }
    let cycle = pending.reward_cycle;
    state.validation.bind_next_forced(hash);
    let forced = state
        .validation
        .forced
        .iter()
        .find(|f| f.signer_signature_hash.as_ref() == Some(hash))
        .map(|f| Refusal::Validation(f.code, f.reason.clone()));
    // A signer checks the proposal against its sortition view before it asks the node to
    // validate it, so a forced validation answer only matters for a block that passes.
    let verdict = sortition_view_check(state, &pending.block)
        .map_err(Refusal::Signer)
        .and_then(|()| match forced {
            Some(refusal) => Err(refusal),
            None => check_block(state, &pending.block, state.config.chain_id)
                .map_err(|(code, reason)| Refusal::Validation(code, reason)),
        })
        .and_then(|()| {
            if accepted_a_sibling(state, &pending.block) {
                Err(Refusal::Signer(RejectReason::SortitionViewMismatch))
            } else {
                Ok(())
            }
        });
    if let Err(refusal) = verdict {
        reject_proposal(state, hash, cycle, &refusal);
        return 0;
    }
    let signers = simulated_signers(state, cycle);
    let version = state.config.server_version.clone();
    let (full_ts, read_ts) = state
        .pending
        .get(hash)
        .map(|p| announced_timestamps(state, &p.block, true))
        .unwrap_or((u64::MAX, u64::MAX));
    let now = state.now_secs();
    if let Some(pending) = state.pending.get_mut(hash).filter(|_| !signers.is_empty()) {
        pending.accepted_at = Some(now);
    }
    let pre_commit_db = NodeState::signers_contract(cycle, BLOCK_PRE_COMMIT_MSG_ID);
    let response_db = NodeState::signers_contract(cycle, BLOCK_RESPONSE_MSG_ID);
    for (slot, key) in &signers {
        let _ = state.write_internal(&pre_commit_db, *slot, key, block_pre_commit(hash));
    }
    let mut signed = 0;
    for (slot, key) in &signers {
        let Ok(signature) = key.sign(&hash.0) else {
            continue;
        };
        let data = block_accepted(hash, &signature, &version, full_ts, read_ts);
        if state
            .write_internal(&response_db, *slot, key, data)
            .is_ok_and(|ack| ack.accepted)
        {
            signed += 1;
        }
    }
    signed
}

/// The simulated signers of `cycle` (puppets only while on autopilot): (slot id, key).
fn simulated_signers(state: &NodeState, cycle: u64) -> Vec<(u32, StacksPrivateKey)> {
    let autopilot = state.puppet_autopilot;
    state
        .reward_sets
        .get(cycle)
        .map(|set| {
            set.signers
                .iter()
                .enumerate()
                .filter(|(_, s)| s.acts_alone(autopilot))
                .filter_map(|(i, s)| s.private_key.clone().map(|k| (i as u32, k)))
                .collect()
        })
        .unwrap_or_default()
}

/// The view of the burn tip and current miner a signer would publish.
pub fn current_view(state: &NodeState) -> Vec<u8> {
    let tip = state.burn_tip();
    let miner = state.burnchain.latest_winning().and_then(|latest| {
        let winner = latest.winner.as_ref()?;
        let parent_tip = state.stacks.tenure_tip(&winner.stacks_parent_ch)?;
        Some(StateMachineUpdateMinerState::ActiveMiner {
            current_miner_pkh: winner.miner_pkh,
            tenure_id: latest.consensus_hash,
            parent_tenure_id: winner.stacks_parent_ch,
            parent_tenure_last_block: parent_tip.id,
            parent_tenure_last_block_height: parent_tip.height(),
        })
    });
    state_machine_update(
        &tip.consensus_hash,
        tip.height,
        miner.unwrap_or(StateMachineUpdateMinerState::NoValidMiner),
    )
}

/// Has every simulated signer of the current (and, once computed, the next) cycle publish its
/// view if it changed since its last update. Returns how many updates were written.
pub fn publish_state_updates(state: &mut NodeState) -> usize {
    let view = current_view(state);
    let current = state.current_cycle();
    let mut written = 0;
    for cycle in [current, current + 1] {
        if state.published_views.get(&cycle) == Some(&view) {
            continue;
        }
        if state.reward_sets.get(cycle).is_none() {
            continue;
        }
        let signers = simulated_signers(state, cycle);
        let contract = NodeState::signers_contract(cycle, STATE_MACHINE_UPDATE_MSG_ID);
        for (slot, key) in &signers {
            if state
                .write_internal(&contract, *slot, key, view.clone())
                .is_ok_and(|ack| ack.accepted)
            {
                written += 1;
            }
        }
        state.published_views.insert(cycle, view.clone());
    }
    written
}

/// Has every simulated signer of `cycle` write a `BlockResponse::Rejected` for `hash`: with
/// the signer-side reason, or with `ValidationFailed(code)` and the node's reason text (as
/// the reference signer does on a validation rejection). Returns how many were written.
pub fn reject_proposal(
    state: &mut NodeState,
    hash: &Sha512Trunc256Sum,
    cycle: u64,
    refusal: &Refusal,
) -> usize {
    let signers = simulated_signers(state, cycle);
    let mainnet = state.config.mainnet;
    let version = state.config.server_version.clone();
    let contract = NodeState::signers_contract(cycle, BLOCK_RESPONSE_MSG_ID);
    let timestamps = state
        .pending
        .get(hash)
        .map(|p| announced_timestamps(state, &p.block, false))
        .unwrap_or((u64::MAX, u64::MAX));
    let mut written = 0;
    for (slot, key) in &signers {
        let data = match refusal {
            Refusal::Validation(code, reason) => {
                block_rejection(key, hash, reason, *code, mainnet, &version, timestamps)
            }
            Refusal::Signer(reason) => {
                signer_rejection(key, hash, reason.clone(), mainnet, &version, timestamps)
            }
        };
        if state
            .write_internal(&contract, *slot, key, data)
            .is_ok_and(|ack| ack.accepted)
        {
            written += 1;
        }
    }
    written
}
