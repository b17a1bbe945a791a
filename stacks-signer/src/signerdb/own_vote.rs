//! This signer's own votes: what it published about each block (a pre-commit, a signature, a
//! rejection), checked and recorded in one durable transaction before the message leaves the
//! process.
//!
//! SKELETON (the v0 signer issue): the table `own_votes` and these bodies are being written;
//! the signatures are the contract the v0 signer codes against.
//!
//! The record is separate from the `blocks` row, whose state follows the reference signer's
//! state machine (and can, in the reference, move in ways that would let a vote flip). The
//! rules, checked against the record:
//! * no rejection after a favourable vote (pre-commit or signature) on the same block;
//! * no signature after a rejection of the same block: only a pre-commit (which the signer
//!   sends only after its own fresh evaluation and the node's validation) turns a rejected
//!   block into a favourable vote, and the signature may follow it;
//! * a first favourable vote on a block is refused while another block of the same tenure at
//!   the same height (a sibling) is globally accepted, or was signed by the signer set
//!   (`signed_group`), or got this signer's favourable vote less than
//!   [`ConflictPolicy::reconsider_after`] ago, or got this signer's favourable vote at any
//!   time and the node's tip of the tenure is not known to be below the height
//!   ([`VoteContext::tenure_tip_height`]).

use std::time::Duration;

use libsigner::chain::{ConsensusHash, NakamotoBlockHeader, Sha512Trunc256Sum};
use libsigner::v0::messages::RejectReason;

use super::{BlockInfo, SignerDb, SignerDbError};

/// How this signer votes on a block.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnVote {
    /// It validated the block and pre-commits to it.
    PreCommit,
    /// It signs the block.
    Accept,
    /// It rejects the block for this reason.
    Reject(RejectReason),
}

impl OwnVote {
    /// Whether this is a vote for the block (a pre-commit or a signature).
    pub fn is_favourable(&self) -> bool {
        !matches!(self, OwnVote::Reject(_))
    }
}

/// When an earlier vote for a sibling block stops blocking a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConflictPolicy {
    /// A sibling this signer voted for blocks a vote for another block at the same height
    /// for this long after that first vote; the v0 signer passes its
    /// `tenure_last_block_proposal_timeout`.
    pub reconsider_after: Duration,
}

/// What the caller knows, beyond the database, when it asks to vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoteContext {
    /// The sibling rule's window.
    pub policy: ConflictPolicy,
    /// The node's tip height of the block's tenure, if the caller could learn it.
    pub tenure_tip_height: Option<u64>,
}

/// The outcome of [`SignerDb::record_own_vote`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoteRecord {
    /// The vote is recorded and durable: publish it now.
    Recorded,
    /// The vote is refused and nothing changed: do not publish it.
    Refused(VoteRefusal),
}

/// Why a vote was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoteRefusal {
    /// A sibling block (same tenure, same height) stands in the way.
    ConflictingBlock {
        /// The sibling.
        signer_signature_hash: Sha512Trunc256Sum,
    },
    /// This signer already rejected the block (and this vote is not a pre-commit).
    AlreadyRejected,
    /// This signer already pre-committed to or signed the block.
    AlreadyAccepted,
}

/// What this signer published about one block.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnVoteRecord {
    /// The block.
    pub signer_signature_hash: Sha512Trunc256Sum,
    /// Its reward cycle.
    pub reward_cycle: u64,
    /// Its tenure.
    pub consensus_hash: ConsensusHash,
    /// Its height.
    pub stacks_height: u64,
    /// When this signer first pre-committed to it (seconds), if it did.
    pub pre_committed_at: Option<u64>,
    /// When this signer first signed it (seconds), if it did.
    pub signed_at: Option<u64>,
    /// When this signer first rejected it (seconds), if it did.
    pub rejected_at: Option<u64>,
    /// The reason of its latest rejection, if any.
    pub reject_reason: Option<RejectReason>,
}

impl OwnVoteRecord {
    /// Whether the current vote is for the block.
    pub fn is_favourable(&self) -> bool {
        self.pre_committed_at.is_some() || self.signed_at.is_some()
    }
}

impl SignerDb {
    /// Checks that this signer may cast `vote` on the block of `header` (reward cycle
    /// `reward_cycle`) under the rules of the [module documentation](self) and, if so, records
    /// it — and stores `store` (the block's row as the caller's state machine left it), if
    /// given — in one durable transaction. On [`VoteRecord::Refused`] nothing changed.
    pub fn record_own_vote(
        &mut self,
        vote: &OwnVote,
        header: &NakamotoBlockHeader,
        reward_cycle: u64,
        store: Option<&BlockInfo>,
        context: &VoteContext,
    ) -> Result<VoteRecord, SignerDbError> {
        let _ = (vote, header, reward_cycle, store, context);
        todo!()
    }

    /// What this signer published about block `signer_signature_hash`, if anything.
    pub fn get_own_vote(
        &self,
        signer_signature_hash: &Sha512Trunc256Sum,
    ) -> Result<Option<OwnVoteRecord>, SignerDbError> {
        let _ = signer_signature_hash;
        todo!()
    }

    /// Every vote this signer recorded, by tenure, height and block.
    pub fn get_own_votes(&self) -> Result<Vec<OwnVoteRecord>, SignerDbError> {
        todo!()
    }
}

impl SignerDb {
    /// Whether this signer voted for a sibling of the block (same tenure and height, another
    /// block).
    pub fn has_favourable_sibling_vote(
        &self,
        consensus_hash: &ConsensusHash,
        stacks_height: u64,
        signer_signature_hash: &Sha512Trunc256Sum,
    ) -> Result<bool, SignerDbError> {
        let _ = (consensus_hash, stacks_height, signer_signature_hash);
        todo!()
    }
}
