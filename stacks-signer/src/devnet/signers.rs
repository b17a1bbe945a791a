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
use libsigner::chain::{Hash160, StacksPrivateKey};
use libsigner::v0::messages::{RejectReason, StateMachineUpdateMinerState, ValidateRejectCode};

/// Message id of block responses.
pub const BLOCK_RESPONSE_MSG_ID: u32 = 1;
/// Message id of state-machine updates.
pub const STATE_MACHINE_UPDATE_MSG_ID: u32 = 2;
/// Message id of pre-commits.
pub const BLOCK_PRE_COMMIT_MSG_ID: u32 = 3;

/// How long after signing the simulated signers would allow a time-based tenure extend.
pub const TENURE_EXTEND_DELAY_SECS: u64 = 600;

/// Why the simulated signers refuse a proposal.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// A signer-side check failed (the block never reaches validation).
    Signer(RejectReason),
    /// The node's validation failed with this code and reason.
    Validation(ValidateRejectCode, String),
}

/// The signer-side checks the simulated signers make before validation: a subset of the
/// reference signer's sortition-view checks, in its order (miner key recoverable, bitvec all
/// ones, block in the current or last sortition, miner key hash, last-sortition miner, a
/// second block-found tenure change).
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
    if block.get_tenure_change_tx_payload().is_some() && state.stacks.has_tenure(&ch) {
        return Err(RejectReason::DuplicateBlockFound);
    }
    Ok(())
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
    let verdict = match forced {
        Some(refusal) => Err(refusal),
        None => sortition_view_check(state, &pending.block)
            .map_err(Refusal::Signer)
            .and_then(|()| {
                check_block(state, &pending.block, state.config.chain_id)
                    .map_err(|(code, reason)| Refusal::Validation(code, reason))
            }),
    };
    if let Err(refusal) = verdict {
        reject_proposal(state, hash, cycle, &refusal);
        return 0;
    }
    let signers = simulated_signers(state, cycle);
    let version = state.config.server_version.clone();
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
        let data = block_accepted(
            hash,
            &signature,
            &version,
            state.now_secs() + TENURE_EXTEND_DELAY_SECS,
        );
        if state
            .write_internal(&response_db, *slot, key, data)
            .is_ok_and(|ack| ack.accepted)
        {
            signed += 1;
        }
    }
    signed
}

/// The simulated signers of `cycle`: (slot id, key).
fn simulated_signers(state: &NodeState, cycle: u64) -> Vec<(u32, StacksPrivateKey)> {
    state
        .reward_sets
        .get(cycle)
        .map(|set| {
            set.signers
                .iter()
                .enumerate()
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
        let Some(set) = state.reward_sets.get(cycle) else {
            continue;
        };
        let signers: Vec<_> = set
            .signers
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.private_key.clone().map(|k| (i as u32, k)))
            .collect();
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
    let mut written = 0;
    for (slot, key) in &signers {
        let data = match refusal {
            Refusal::Validation(code, reason) => {
                block_rejection(key, hash, reason, *code, mainnet, &version)
            }
            Refusal::Signer(reason) => {
                signer_rejection(key, hash, reason.clone(), mainnet, &version)
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
