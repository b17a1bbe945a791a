//! Signers simulated inside the node: for every proposal written to `miners`, each signer of
//! the proposal's reward cycle whose key the node holds validates the block like the node
//! would, then writes a `BlockPreCommit` (`signers-{p}-3`) and a `BlockResponse::Accepted`
//! (`signers-{p}-1`) into its own slots, signed with its key. They also publish a
//! `StateMachineUpdate` (`signers-{p}-2`) whenever their view of the burn tip and the
//! current miner changes, so that real signers sharing a reward set with them can reach
//! signer-set agreement.

use libsigner::chain::Sha512Trunc256Sum;

use super::activity::now_secs;
use super::state::NodeState;
use super::validator::check_block;
use super::wire::messages::{
    block_accepted, block_pre_commit, block_rejection, state_machine_update,
};
use libsigner::v0::messages::{StateMachineUpdateMinerState, ValidateRejectCode};

/// Message id of block responses.
pub const BLOCK_RESPONSE_MSG_ID: u32 = 1;
/// Message id of state-machine updates.
pub const STATE_MACHINE_UPDATE_MSG_ID: u32 = 2;
/// Message id of pre-commits.
pub const BLOCK_PRE_COMMIT_MSG_ID: u32 = 3;

/// How long after signing the simulated signers would allow a time-based tenure extend.
pub const TENURE_EXTEND_DELAY_SECS: u64 = 600;

/// Lets every simulated signer react to the proposal with hash `hash`. Returns how many
/// signed it.
pub fn sign_proposal(state: &mut NodeState, hash: &Sha512Trunc256Sum) -> usize {
    let Some(pending) = state.pending.get(hash) else {
        return 0;
    };
    if pending.processed {
        return 0;
    }
    let forced = state
        .validation
        .forced
        .iter()
        .find(|f| f.signer_signature_hash.as_ref() == Some(hash))
        .map(|f| (f.code, f.reason.clone()));
    let verdict = match forced {
        Some(rejection) => Err(rejection),
        None => check_block(state, &pending.block, state.config.chain_id),
    };
    let cycle = pending.reward_cycle;
    if let Err((code, reason)) = verdict {
        reject_proposal(state, hash, cycle, code, &reason);
        return 0;
    }
    let Some(set) = state.reward_sets.get(cycle) else {
        return 0;
    };
    let signers: Vec<_> = set
        .signers
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.private_key.clone().map(|k| (i as u32, k)))
        .collect();
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
            now_secs() + TENURE_EXTEND_DELAY_SECS,
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

/// Has every simulated signer of `cycle` write a `BlockResponse::Rejected` for `hash` with
/// `ValidationFailed(code)` and the node's reason (as the reference signer does on a
/// validation rejection). Returns how many rejections were written.
pub fn reject_proposal(
    state: &mut NodeState,
    hash: &Sha512Trunc256Sum,
    cycle: u64,
    code: ValidateRejectCode,
    reason: &str,
) -> usize {
    let Some(set) = state.reward_sets.get(cycle) else {
        return 0;
    };
    let signers: Vec<_> = set
        .signers
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.private_key.clone().map(|k| (i as u32, k)))
        .collect();
    let mainnet = state.config.mainnet;
    let version = state.config.server_version.clone();
    let contract = NodeState::signers_contract(cycle, BLOCK_RESPONSE_MSG_ID);
    let mut written = 0;
    for (slot, key) in &signers {
        let data = block_rejection(key, hash, reason, code, mainnet, &version);
        if state
            .write_internal(&contract, *slot, key, data)
            .is_ok_and(|ack| ack.accepted)
        {
            written += 1;
        }
    }
    written
}
