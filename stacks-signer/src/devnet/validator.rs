//! The simulated block validator (`POST /v3/block_proposal`'s background work): the node's
//! checks in the node's order, the node's reject codes and reasons, and test hooks to force a
//! rejection, stall, or answer 429.

use std::collections::VecDeque;
use std::time::Duration;

use libsigner::chain::{
    ConsensusHash, Hash160, Sha512Trunc256Sum, TransactionVersion, CHAIN_ID_MAINNET,
};

use super::stacks_chain::StoredBlock;
use super::state::{NodeState, MOCK_BURN_SPENT};
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

/// How a test answers a held validation request (see
/// [`ValidationControl::manual`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidationAnswer {
    /// `BlockValidateOk` with this `validation_time_ms` and the mock's block cost (or a
    /// zero cost with `cost_zero`).
    Ok {
        /// The `validation_time_ms` reported.
        validation_time_ms: u64,
        /// Report a zero execution cost instead of [`MOCK_BLOCK_COST`].
        cost_zero: bool,
    },
    /// `BlockValidateReject` with this code and reason text.
    Reject {
        /// The reject code.
        code: ValidateRejectCode,
        /// The reason text.
        reason: String,
    },
    /// What the simulated validator would answer now (its checks, forced rejections first).
    Checked,
}

/// Most validation requests held at once in manual mode; further ones get 429 until some
/// are answered.
pub const MAX_HELD_VALIDATIONS: usize = 256;

/// A validation request accepted (202) in manual mode and not answered yet.
#[derive(Debug, Clone)]
pub struct HeldValidation {
    /// The proposed block.
    pub block: NakamotoBlock,
    /// The `chain_id` of the request.
    pub chain_id: u32,
    /// When it arrived.
    pub received: std::time::Instant,
}

impl HeldValidation {
    /// The block's signer signature hash.
    pub fn signer_signature_hash(&self) -> Sha512Trunc256Sum {
        self.block.header.signer_signature_hash()
    }
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
    /// Manual mode: proposals are acknowledged (202) and held in `held`, and no
    /// `/proposal_response` is sent until a test answers (`RunningMockNode::answer_validation`).
    /// A held request does not keep the validator busy (at most [`MAX_HELD_VALIDATIONS`]
    /// are held; more get 429).
    pub manual: bool,
    /// Requests held in manual mode, oldest first.
    pub held: Vec<HeldValidation>,
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

/// A `ChainstateError` rejection: stackslib converts a chain-state error `e` into the reason
/// `Chainstate Error: {e}`, where an invalid-block error displays as its bare message.
fn chainstate_error(message: &str) -> (ValidateRejectCode, String) {
    reject(
        ValidateRejectCode::ChainstateError,
        format!("Chainstate Error: {message}"),
    )
}

type Rejection = (ValidateRejectCode, String);

/// Checks `block` against the node's chain state, in the order of the node's validator
/// (`NakamotoBlockProposal::validate`): network, parent, burn view, tenure on the burn view's
/// fork, parent the highest of its tenure, burnchain checks (tenure sortition canonical,
/// block-commit, total burns, miner signature, tenure change, static transaction checks),
/// timestamps, then the rebuilt block's hash.
pub fn check_block(
    state: &NodeState,
    block: &NakamotoBlock,
    chain_id: u32,
) -> Result<(), Rejection> {
    use ValidateRejectCode::*;
    let header = &block.header;
    let mainnet = chain_id == CHAIN_ID_MAINNET;
    if chain_id != state.config.chain_id || mainnet != state.config.mainnet {
        return Err(reject(NetworkChainMismatch, "Wrong network/chain_id"));
    }
    let Some(parent) = state.stacks.get(&header.parent_block_id) else {
        return Err(reject(UnknownParent, "Unknown parent block"));
    };
    let burn_view_ch = block_burn_view(state, block, &parent.burn_view)?;
    let Some(burn_view) = state.burnchain.by_consensus_hash(&burn_view_ch) else {
        return Err(reject(
            NoSuchTenure,
            "Failed to find sortition for block tenure",
        ));
    };
    // The tenure must be on the burn view's fork (not necessarily the canonical one).
    let tenure_on_fork = state
        .burnchain
        .ancestors(burn_view)
        .any(|b| b.consensus_hash == header.consensus_hash);
    if !tenure_on_fork {
        return Err(reject(
            NonCanonicalTenure,
            "Tenure consensus hash is not on the canonical Bitcoin fork",
        ));
    }
    check_block_has_valid_parent(state, block, parent)?;
    // The total burn a block must commit to: its burn view's if it has a tenure change, else
    // its parent's (every mock sortition has the same total burn).
    let expected_burn = if block.get_tenure_tx_payload().is_some() {
        MOCK_BURN_SPENT
    } else {
        parent.block.header.burn_spent
    };
    check_against_burnchain(state, block, expected_burn)?;
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
    // The node replays the transactions onto the parent and rebuilds the header from the
    // proposal's version, burn spent, consensus hash, timestamp and signatures, with
    // `chain_length` = parent + 1, the computed `tx_merkle_root` and an all-ones
    // `pox_treatment` of the same length; any other value changes the block hash.
    if header.chain_length != parent.height().saturating_add(1)
        || header.tx_merkle_root != block.compute_tx_merkle_root()
        || header.pox_treatment.iter().any(|bit| !bit)
    {
        return Err(reject(BadBlockHash, "Block hash is not as expected"));
    }
    Ok(())
}

/// The node's `get_block_burn_view`: the burn view a block with a (well-formed) tenure
/// change names, which must be known and descend from (or be) its parent's burn view
/// `parent_view`; otherwise the parent's.
fn block_burn_view(
    state: &NodeState,
    block: &NakamotoBlock,
    parent_view: &ConsensusHash,
) -> Result<ConsensusHash, Rejection> {
    let Some(tenure_change) = block.get_tenure_tx_payload() else {
        return Ok(*parent_view);
    };
    let Some(parent_view) = state.burnchain.by_consensus_hash(parent_view) else {
        return Err(chainstate_error(
            "Failed to load burn view of parent block ID",
        ));
    };
    let Some(view) = state
        .burnchain
        .by_consensus_hash(&tenure_change.burn_view_consensus_hash)
    else {
        return Err(chainstate_error("Not found"));
    };
    match state
        .burnchain
        .ancestors(view)
        .find(|b| b.height == parent_view.height)
    {
        None => Err(chainstate_error(
            "Failed to load burn view of parent block ID",
        )),
        Some(ancestor) if ancestor.hash != parent_view.hash => Err(chainstate_error(
            "Does not connect to burn view of parent block ID",
        )),
        Some(_) => Ok(tenure_change.burn_view_consensus_hash),
    }
}

/// The node's `check_block_has_valid_parent`: a tenure-start block must build on the highest
/// known block of its parent's tenure, any other block on the highest known block of its own
/// tenure.
fn check_block_has_valid_parent(
    state: &NodeState,
    block: &NakamotoBlock,
    parent: &StoredBlock,
) -> Result<(), Rejection> {
    use ValidateRejectCode::*;
    let tenure = match block.is_wellformed_tenure_start_block() {
        Err(_) => return Err(reject(InvalidBlock, "Block is not well-formed")),
        Ok(true) => parent.tenure(),
        Ok(false) => block.header.consensus_hash,
    };
    let Some(highest) = highest_known_block_in_tenure(state, &tenure) else {
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
    Ok(())
}

/// The node's `find_highest_known_block_header_in_tenure`: the highest processed block of
/// tenure `ch` whose burn view is on the canonical burn fork.
fn highest_known_block_in_tenure<'a>(
    state: &'a NodeState,
    ch: &ConsensusHash,
) -> Option<&'a StoredBlock> {
    state
        .stacks
        .tenure_blocks(ch)
        .into_iter()
        .filter(|b| state.burnchain.is_canonical(&b.burn_view))
        .max_by_key(|b| b.height())
}

/// The node's `validate_normal_nakamoto_block_burnchain`: the tenure's sortition is on the
/// canonical fork and has a winner, the block commits to `expected_burn`, the winner signed
/// it, its tenure change names the winner and the tenure, and its transactions pass the
/// static checks.
fn check_against_burnchain(
    state: &NodeState,
    block: &NakamotoBlock,
    expected_burn: u64,
) -> Result<(), Rejection> {
    let header = &block.header;
    let Some(sortition) = state.burnchain.by_consensus_hash(&header.consensus_hash) else {
        return Err(chainstate_error("No sortition for block's consensus hash"));
    };
    if !state.burnchain.is_canonical(&header.consensus_hash) {
        return Err(chainstate_error(
            "No sortition for block's consensus hash -- not canonical",
        ));
    }
    let Some(winner) = &sortition.winner else {
        return Err(chainstate_error(
            "No block-commit in sortition for block's consensus hash",
        ));
    };
    if header.burn_spent != expected_burn {
        return Err(chainstate_error(
            "Invalid Nakamoto block: invalid total burns",
        ));
    }
    let Some(miner_pkh) = header
        .recover_miner_pk()
        .map(|pk| Hash160::from_node_public_key(&pk))
    else {
        return Err(chainstate_error("Unrecoverable miner public key"));
    };
    if miner_pkh != winner.miner_pkh {
        return Err(chainstate_error("Invalid miner signature"));
    }
    if let Some(tenure_change) = block.get_tenure_tx_payload() {
        if tenure_change.pubkey_hash != miner_pkh {
            return Err(chainstate_error(
                "Invalid tenure change -- bad miner pubkey hash160",
            ));
        }
        if tenure_change.tenure_consensus_hash != header.consensus_hash {
            return Err(chainstate_error(
                "Invalid tenure change -- bad consensus hash",
            ));
        }
    }
    if !transactions_pass_static_checks(state, block) {
        return Err(chainstate_error(
            "Invalid Nakamoto block: failed static transaction checks",
        ));
    }
    Ok(())
}

/// The node's `validate_transactions_static` for the proposal's network: at least one
/// transaction, each for this network and chain id, well-formed tenure transactions.
/// (Duplicates fail to decode; every transaction kind is allowed in epoch 3.3.)
fn transactions_pass_static_checks(state: &NodeState, block: &NakamotoBlock) -> bool {
    let version = if state.config.mainnet {
        TransactionVersion::Mainnet
    } else {
        TransactionVersion::Testnet
    };
    !block.txs.is_empty()
        && block
            .txs
            .iter()
            .all(|tx| tx.version == version && tx.chain_id == state.config.chain_id)
        && block.is_wellformed_tenure_start_block().is_ok()
        && block.is_wellformed_tenure_extend_block().is_ok()
}

/// The response a test's `answer` gives for `block` (`elapsed_ms`: the validation time
/// reported by [`ValidationAnswer::Checked`]).
pub fn answer(
    state: &mut NodeState,
    block: &NakamotoBlock,
    chain_id: u32,
    answer: &ValidationAnswer,
    elapsed_ms: u64,
) -> BlockValidateResponse {
    let hash = block.header.signer_signature_hash();
    match answer {
        ValidationAnswer::Ok {
            validation_time_ms,
            cost_zero,
        } => BlockValidateResponse::Ok(BlockValidateOk {
            signer_signature_hash: hash,
            cost: if *cost_zero {
                ExecutionCost::default()
            } else {
                MOCK_BLOCK_COST
            },
            size: block.serialize_to_vec().len() as u64,
            validation_time_ms: *validation_time_ms,
            replay_tx_hash: None,
            replay_tx_exhausted: false,
        }),
        ValidationAnswer::Reject { code, reason } => {
            BlockValidateResponse::Reject(BlockValidateReject {
                signer_signature_hash: hash,
                reason: reason.clone(),
                reason_code: *code,
            })
        }
        ValidationAnswer::Checked => validate(state, block, chain_id, elapsed_ms),
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
