//! The simulated block validator (`POST /v3/block_proposal`'s background work): the node's
//! checks in the node's order, the node's reject codes and reasons, and test hooks to force a
//! rejection, stall, or answer 429.

use std::collections::VecDeque;
use std::time::Duration;

use libsigner::chain::{Hash160, Sha512Trunc256Sum, StacksPublicKey};

use super::state::NodeState;
use super::wire::NakamotoBlock;
use crate::client::api::{
    BlockValidateOk, BlockValidateReject, BlockValidateResponse, ExecutionCost, ValidateRejectCode,
};
use libsigner::codec::StacksMessageCodec;

/// How far in the future a block's timestamp may be.
pub const MAX_FUTURE_TIMESTAMP_SECS: u64 = 15;

/// The cost every valid block is reported to have.
pub const MOCK_BLOCK_COST: ExecutionCost = ExecutionCost {
    write_length: 114,
    write_count: 2,
    read_length: 133954,
    read_count: 8,
    runtime: 139720,
};

/// A validation outcome a test forces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForcedRejection {
    /// Only for this block (`None`: the next proposal whatever it is).
    pub signer_signature_hash: Option<Sha512Trunc256Sum>,
    /// The code to answer.
    pub code: ValidateRejectCode,
    /// The reason text to answer.
    pub reason: String,
}

/// Knobs of the simulated validator.
#[derive(Debug, Clone, Default)]
pub struct ValidationControl {
    /// Rejections to force, consumed in order as matching proposals arrive.
    pub forced: VecDeque<ForcedRejection>,
    /// Accept proposals (202) but never send a result.
    pub stall: bool,
    /// Answer this many upcoming proposals with 429 (as if busy).
    pub busy_responses: u32,
    /// Extra time before a result is sent.
    pub delay: Duration,
    /// Whether a validation is running (a second proposal gets 429).
    pub in_progress: bool,
}

impl ValidationControl {
    /// Binds the first "next proposal" rejection (one naming no block) to the proposal with
    /// `hash`, unless a rejection already names it, so that the node's simulated signers and
    /// its validator (for external signers) both refuse that same block.
    pub fn bind_next_forced(&mut self, hash: &Sha512Trunc256Sum) {
        if self
            .forced
            .iter()
            .any(|f| f.signer_signature_hash.as_ref() == Some(hash))
        {
            return;
        }
        if let Some(next) = self
            .forced
            .iter_mut()
            .find(|f| f.signer_signature_hash.is_none())
        {
            next.signer_signature_hash = Some(*hash);
        }
    }

    /// Takes the forced rejection that applies to `hash`, if any.
    pub fn take_forced(&mut self, hash: &Sha512Trunc256Sum) -> Option<ForcedRejection> {
        let pos = self
            .forced
            .iter()
            .position(|f| f.signer_signature_hash.is_none_or(|h| &h == hash))?;
        self.forced.remove(pos)
    }
}

fn reject(code: ValidateRejectCode, reason: impl Into<String>) -> (ValidateRejectCode, String) {
    (code, reason.into())
}

/// Checks `block` against the node's chain state, in the order of the node's validator.
pub fn check_block(
    state: &NodeState,
    block: &NakamotoBlock,
    chain_id: u32,
) -> Result<(), (ValidateRejectCode, String)> {
    use ValidateRejectCode::*;
    let header = &block.header;
    if chain_id != state.config.chain_id {
        return Err(reject(NetworkChainMismatch, "Wrong network/chain_id"));
    }
    let Some(parent) = state.stacks.get(&header.parent_block_id) else {
        return Err(reject(UnknownParent, "Unknown parent block"));
    };
    check_burn_view_connects(state, block, &parent.burn_view)?;
    let Some(sortition) = state.burnchain.by_consensus_hash(&header.consensus_hash) else {
        return Err(reject(
            NoSuchTenure,
            "Failed to find sortition for block tenure",
        ));
    };
    if !state.burnchain.is_canonical(&header.consensus_hash) {
        return Err(reject(
            NonCanonicalTenure,
            "Tenure consensus hash is not on the canonical Bitcoin fork",
        ));
    }
    // The node's shape rules for tenure-start and tenure-extend blocks.
    let start = block.is_wellformed_tenure_start_block();
    if start.is_err() || block.is_wellformed_tenure_extend_block().is_err() {
        return Err(reject(InvalidBlock, "Block is not well-formed"));
    }
    match block.get_tenure_change_tx_payload() {
        Some(tenure_change) => {
            if tenure_change.tenure_consensus_hash != header.consensus_hash {
                return Err(reject(InvalidBlock, "Block is not well-formed"));
            }
            // A tenure-start block must build on the highest block of its parent's tenure
            // (whatever tenure its tenure change names).
            let Some(highest) = state.stacks.tenure_tip(&parent.tenure()) else {
                return Err(reject(
                    NoSuchTenure,
                    "Block is not a tenure-start block, and has an unrecognized tenure consensus hash",
                ));
            };
            if highest.height() != parent.height() {
                return Err(reject(
                    InvalidParentBlock,
                    "Block is not higher than the highest block in its tenure",
                ));
            }
        }
        None => {
            let Some(tip) = state.stacks.tenure_tip(&header.consensus_hash) else {
                return Err(reject(
                    NoSuchTenure,
                    "Block is not a tenure-start block, and has an unrecognized tenure consensus hash",
                ));
            };
            if tip.height() != parent.height() {
                return Err(reject(
                    InvalidParentBlock,
                    "Block is not higher than the highest block in its tenure",
                ));
            }
        }
    }
    if header.chain_length != parent.height() + 1 {
        return Err(reject(
            ChainstateError,
            "Chainstate Error: InvalidStacksBlock(\"Block height is not one more than its parent\")",
        ));
    }
    if block.txs.is_empty() {
        return Err(reject(
            ChainstateError,
            "Chainstate Error: InvalidStacksBlock(\"Block has no transactions\")",
        ));
    }
    let winner_pkh = sortition.winner.as_ref().map(|w| w.miner_pkh);
    let miner_pkh = StacksPublicKey::recover_to_pubkey(
        &header.miner_signature_hash().0,
        &header.miner_signature,
    )
    .ok()
    .map(|pk| Hash160::from_node_public_key(&pk));
    if miner_pkh.is_none() || miner_pkh != winner_pkh {
        return Err(reject(
            ChainstateError,
            "Chainstate Error: InvalidStacksBlock(\"Invalid miner signature\")",
        ));
    }
    if header.timestamp <= parent.block.header.timestamp {
        return Err(reject(
            InvalidTimestamp,
            "Block timestamp is not greater than parent block",
        ));
    }
    if header.timestamp > state.now_secs().saturating_add(MAX_FUTURE_TIMESTAMP_SECS) {
        return Err(reject(
            InvalidTimestamp,
            "Block timestamp is too far into the future",
        ));
    }
    // The node rebuilds the block with an all-ones `pox_treatment` of the same length and
    // compares the block hashes, so a cleared bit (like a wrong merkle root) changes the hash.
    if header.tx_merkle_root != block.compute_tx_merkle_root()
        || header.pox_treatment.iter().any(|bit| !bit)
    {
        return Err(reject(BadBlockHash, "Block hash is not as expected"));
    }
    Ok(())
}

/// The node's burn-view rule for a block with a tenure change (start or extend): the burn
/// view it names must be known and descend from (or be) its parent's burn view
/// `parent_view`.
fn check_burn_view_connects(
    state: &NodeState,
    block: &NakamotoBlock,
    parent_view: &libsigner::chain::ConsensusHash,
) -> Result<(), (ValidateRejectCode, String)> {
    use ValidateRejectCode::ChainstateError;
    let Some(tenure_change) = block.get_tenure_tx_payload() else {
        return Ok(());
    };
    let Some(parent_view) = state.burnchain.by_consensus_hash(parent_view) else {
        return Err(reject(
            ChainstateError,
            "Chainstate Error: Failed to load burn view of parent block ID",
        ));
    };
    let Some(view) = state
        .burnchain
        .by_consensus_hash(&tenure_change.burn_view_consensus_hash)
    else {
        return Err(reject(ChainstateError, "Chainstate Error: Not found"));
    };
    match state
        .burnchain
        .ancestors(view)
        .find(|b| b.height == parent_view.height)
    {
        None => Err(reject(
            ChainstateError,
            "Chainstate Error: Failed to load burn view of parent block ID",
        )),
        Some(ancestor) if ancestor.hash != parent_view.hash => Err(reject(
            ChainstateError,
            "Chainstate Error: Does not connect to burn view of parent block ID",
        )),
        Some(_) => Ok(()),
    }
}

/// Validates `block` as the node's validation thread does (forced rejections first).
pub fn validate(
    state: &mut NodeState,
    block: &NakamotoBlock,
    chain_id: u32,
    elapsed_ms: u64,
) -> BlockValidateResponse {
    let hash = block.header.signer_signature_hash();
    let outcome = match state.validation.take_forced(&hash) {
        Some(forced) => Err((forced.code, forced.reason)),
        None => check_block(state, block, chain_id),
    };
    match outcome {
        Ok(()) => BlockValidateResponse::Ok(BlockValidateOk {
            signer_signature_hash: hash,
            cost: MOCK_BLOCK_COST,
            size: block.serialize_to_vec().len() as u64,
            validation_time_ms: elapsed_ms,
            replay_tx_hash: None,
            replay_tx_exhausted: false,
        }),
        Err((reason_code, reason)) => BlockValidateResponse::Reject(BlockValidateReject {
            signer_signature_hash: hash,
            reason,
            reason_code,
        }),
    }
}
