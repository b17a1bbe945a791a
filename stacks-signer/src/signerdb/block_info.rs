//! A proposed block with this signer's view of it, and the moves of its state machine.

use libsigner::chain::{
    NakamotoBlock, Sha512Trunc256Sum, TenureChangeCause, TenureChangePayload, TransactionPayload,
};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{BlockProposal, RejectReason};
use serde::{Deserialize, Serialize};

use super::blocks::BlockRow;
use super::sql::now_secs;
use super::{BlockState, ExtraBlockInfo, NakamotoBlockVote, SignerDbError};

/// A proposed block and what this signer knows and decided about it. The JSON form (field
/// order included) is the reference's `BlockInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockInfo {
    /// The block.
    pub block: NakamotoBlock,
    /// The burn height the block was proposed at.
    pub burn_block_height: u64,
    /// The reward cycle the block was proposed in.
    pub reward_cycle: u64,
    /// The signer set's vote (unused by the v0 signer).
    pub vote: Option<NakamotoBlockVote>,
    /// Whether the node found the block valid (None while unknown).
    pub valid: Option<bool>,
    /// Whether this signer signed over the block (pre-committed, signed, or saw it accepted).
    pub signed_over: bool,
    /// When the block was proposed (seconds since the epoch).
    pub proposed_time: u64,
    /// When this signer signed the block (seconds).
    pub signed_self: Option<u64>,
    /// When the signer set's signatures on the block were seen (seconds).
    pub signed_group: Option<u64>,
    /// Where the block stands.
    pub state: BlockState,
    /// How long the node took to validate it (milliseconds).
    pub validation_time_ms: Option<u64>,
    /// Version-specific extra data.
    pub ext: ExtraBlockInfo,
    /// Why the block was rejected, if it was.
    #[serde(default)]
    pub reject_reason: Option<RejectReason>,
}

impl From<BlockProposal> for BlockInfo {
    /// A fresh `Unprocessed` record of a proposal, proposed now.
    fn from(proposal: BlockProposal) -> Self {
        Self {
            block: proposal.block,
            burn_block_height: proposal.burn_height,
            reward_cycle: proposal.reward_cycle,
            vote: None,
            valid: None,
            signed_over: false,
            proposed_time: now_secs(),
            signed_self: None,
            signed_group: None,
            state: BlockState::Unprocessed,
            validation_time_ms: None,
            ext: ExtraBlockInfo::default(),
            reject_reason: None,
        }
    }
}

impl BlockInfo {
    /// The block's signer signature hash (the key of its record).
    pub fn signer_signature_hash(&self) -> Sha512Trunc256Sum {
        self.block.header.signer_signature_hash()
    }

    /// Whether the block's first transaction is a tenure change (well-formed or not).
    pub fn is_tenure_change(&self) -> bool {
        self.first_tenure_change().is_some()
    }

    /// The cause of the block's first transaction if it is a tenure change.
    pub fn tenure_change_cause(&self) -> Option<TenureChangeCause> {
        self.first_tenure_change().map(|tc| tc.cause)
    }

    fn first_tenure_change(&self) -> Option<&TenureChangePayload> {
        match &self.block.txs.first()?.payload {
            TransactionPayload::TenureChange(tc) => Some(tc),
            _ => None,
        }
    }

    /// Whether the state machine allows moving to `state` (see
    /// [`BlockState::can_move_to`]).
    pub fn check_state(&self, state: BlockState) -> bool {
        self.state.can_move_to(state)
    }

    /// Moves to `state`, or fails with the reference's "Invalid state transition from
    /// {old} to {new}" and changes nothing.
    pub fn move_to(&mut self, state: BlockState) -> Result<(), SignerDbError> {
        if !self.check_state(state) {
            return Err(SignerDbError::InvalidStateTransition {
                from: self.state,
                to: state,
            });
        }
        self.state = state;
        Ok(())
    }

    /// This signer accepts the block (`group_signed`: because the signer set's signatures
    /// were seen): valid, signed over, and `signed_group` (if `group_signed`) else
    /// `signed_self` set to now unless already set.
    pub fn mark_locally_accepted(&mut self, group_signed: bool) -> Result<(), SignerDbError> {
        self.move_to(BlockState::LocallyAccepted)?;
        self.valid = Some(true);
        self.signed_over = true;
        let stamp = if group_signed {
            &mut self.signed_group
        } else {
            &mut self.signed_self
        };
        stamp.get_or_insert_with(now_secs);
        Ok(())
    }

    /// This signer pre-commits to the block: valid, signed over, `signed_self` set to now
    /// unless already set.
    pub fn mark_pre_committed(&mut self) -> Result<(), SignerDbError> {
        self.move_to(BlockState::PreCommitted)?;
        self.valid = Some(true);
        self.signed_over = true;
        self.signed_self.get_or_insert_with(now_secs);
        Ok(())
    }

    /// The network accepted the block: valid, signed over, `signed_group` set to now unless
    /// already set. Use [`super::SignerDb::mark_block_globally_accepted`], which also drops
    /// the block from the validation queue.
    pub(crate) fn mark_globally_accepted(&mut self) -> Result<(), SignerDbError> {
        self.move_to(BlockState::GloballyAccepted)?;
        self.valid = Some(true);
        self.signed_over = true;
        self.signed_group.get_or_insert_with(now_secs);
        Ok(())
    }

    /// This signer rejects the block: not valid.
    pub fn mark_locally_rejected(&mut self) -> Result<(), SignerDbError> {
        self.move_to(BlockState::LocallyRejected)?;
        self.valid = Some(false);
        Ok(())
    }

    /// The network rejected the block: not valid. Use
    /// [`super::SignerDb::mark_block_globally_rejected`].
    pub(crate) fn mark_globally_rejected(&mut self) -> Result<(), SignerDbError> {
        self.move_to(BlockState::GloballyRejected)?;
        self.valid = Some(false);
        Ok(())
    }

    /// The network has decided on the block.
    pub fn has_reached_consensus(&self) -> bool {
        self.state.has_reached_consensus()
    }

    /// This signer has decided on the block.
    pub fn is_locally_finalized(&self) -> bool {
        self.state.is_locally_finalized()
    }

    /// The database row of this record.
    pub(crate) fn to_row(&self) -> Result<BlockRow, SignerDbError> {
        // A block whose transactions do not match its header would not decode back.
        if self.block.compute_tx_merkle_root() != self.block.header.tx_merkle_root {
            return Err(SignerDbError::corrupt(
                "blocks",
                "block",
                "Invalid block: tx Merkle root mismatch (refusing to store it)",
            ));
        }
        let mut block = Vec::new();
        self.block
            .consensus_serialize(&mut block)
            .map_err(|e| SignerDbError::corrupt("blocks", "block", e))?;
        let reject_reason = self
            .reject_reason
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| SignerDbError::corrupt("blocks", "reject_reason", e))?;
        Ok(BlockRow {
            signer_signature_hash: self.signer_signature_hash(),
            reward_cycle: self.reward_cycle,
            burn_block_height: self.burn_block_height,
            consensus_hash: self.block.header.consensus_hash,
            stacks_height: self.block.header.chain_length,
            block,
            state: self.state,
            valid: self.valid,
            signed_over: self.signed_over,
            proposed_time: self.proposed_time,
            signed_self: self.signed_self,
            signed_group: self.signed_group,
            validation_time_ms: self.validation_time_ms,
            tenure_change: self.is_tenure_change(),
            tenure_change_cause: self.tenure_change_cause().map(|c| c.to_u8()),
            vote: self.vote.as_ref().map(StacksMessageCodec::serialize_to_vec),
            ext: self.ext,
            reject_reason,
        })
    }

    /// The record stored in `row`.
    pub(crate) fn from_row(row: BlockRow) -> Result<Self, SignerDbError> {
        let block = NakamotoBlock::consensus_deserialize(&mut row.block.as_slice())
            .map_err(|e| SignerDbError::corrupt("blocks", "block", e))?;
        if block.header.signer_signature_hash() != row.signer_signature_hash {
            return Err(SignerDbError::corrupt(
                "blocks",
                "block",
                format!(
                    "the block's signer signature hash is not its key {}",
                    row.signer_signature_hash
                ),
            ));
        }
        let vote = row
            .vote
            .map(|bytes| NakamotoBlockVote::consensus_deserialize(&mut bytes.as_slice()))
            .transpose()
            .map_err(|e| SignerDbError::corrupt("blocks", "vote", e))?;
        let reject_reason = row
            .reject_reason
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| SignerDbError::corrupt("blocks", "reject_reason", e))?;
        Ok(Self {
            block,
            burn_block_height: row.burn_block_height,
            reward_cycle: row.reward_cycle,
            vote,
            valid: row.valid,
            signed_over: row.signed_over,
            proposed_time: row.proposed_time,
            signed_self: row.signed_self,
            signed_group: row.signed_group,
            state: row.state,
            validation_time_ms: row.validation_time_ms,
            ext: row.ext,
            reject_reason,
        })
    }
}
