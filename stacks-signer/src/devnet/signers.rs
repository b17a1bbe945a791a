//! Signers simulated inside the node: for every proposal written to `miners`, each signer of
//! the proposal's reward cycle whose key the node holds validates the block like the node
//! would, then writes a `BlockPreCommit` (`signers-{p}-3`) and a `BlockResponse::Accepted`
//! (`signers-{p}-1`) into its own slots, signed with its key.

use libsigner::chain::Sha512Trunc256Sum;

use super::activity::now_secs;
use super::state::NodeState;
use super::validator::check_block;
use super::wire::messages::{encode_block_accepted, encode_block_pre_commit};

/// Message id of block responses.
pub const BLOCK_RESPONSE_MSG_ID: u32 = 1;
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
        .any(|f| f.signer_signature_hash.as_ref() == Some(hash));
    if forced || check_block(state, &pending.block, state.config.chain_id).is_err() {
        return 0;
    }
    let cycle = pending.reward_cycle;
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
        let _ = state.write_internal(&pre_commit_db, *slot, key, encode_block_pre_commit(hash));
    }
    let mut signed = 0;
    for (slot, key) in &signers {
        let Ok(signature) = key.sign(&hash.0) else {
            continue;
        };
        let data = encode_block_accepted(
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
