//! Recording this signer's own vote: "may I vote this way on this block?" and "I did", as one
//! durable transaction.
//!
//! The check and the write happen in the same `BEGIN IMMEDIATE` transaction on a handle that
//! nobody else can open (see [`super::SignerDb::open`]), so no interleaving can let two
//! conflicting blocks both be signed; the commit uses `synchronous=FULL`, so once
//! [`SignerDb::record_own_vote`] returns [`VoteRecord::Recorded`] the vote survives a crash or a
//! power cut. **Publish the vote only after that.**
//!
//! The rules, on top of the block state machine:
//! * a vote never flips: no pre-commit or signature after this signer rejected the block
//!   (`valid == Some(false)`), no rejection after it pre-committed or signed;
//! * the first favourable vote on a block is refused while another block of the same tenure
//!   at the same height is accepted by the network (globally accepted, or seen with the
//!   signer set's signatures) or was voted for by this signer less than
//!   [`ConflictPolicy::reconsider_after`] ago. Later favourable votes on a block this signer
//!   already pre-committed to (the signature that follows the pre-commit) are not re-checked:
//!   the decision was taken at the pre-commit.

use std::time::Duration;

use libsigner::chain::Sha512Trunc256Sum;
use libsigner::v0::messages::RejectReason;
use rusqlite::{params, OptionalExtension};

use super::blocks::lookup_row;
use super::sql::{now_secs, u64_to_sql, Cols};
use super::{BlockInfo, BlockState, SignerDb, SignerDbError};

/// How this signer votes on a block.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnVote {
    /// It validated the block and pre-commits to it (state `PreCommitted`).
    PreCommit,
    /// It signs the block (state `LocallyAccepted`; if the block is already globally
    /// accepted its state stays and only `signed_self` is set).
    Accept,
    /// It rejects the block for this reason (state `LocallyRejected`).
    Reject(RejectReason),
}

/// When an earlier vote for a sibling block stops blocking a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConflictPolicy {
    /// A sibling this signer voted for (but the network did not accept) blocks a vote for
    /// another block at the same height for this long after that vote; the v0 signer passes
    /// its `tenure_last_block_proposal_timeout`, after which it defers to the node's tip.
    pub reconsider_after: Duration,
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
    /// Another block of the tenure at the same height is accepted or was recently voted for.
    ConflictingBlock {
        /// The other block.
        signer_signature_hash: Sha512Trunc256Sum,
        /// Its state.
        state: BlockState,
    },
    /// This signer already rejected the block.
    AlreadyRejected,
    /// This signer already pre-committed to or signed the block.
    AlreadyAccepted,
    /// The block state machine refuses the move (e.g. the block is globally rejected).
    InvalidTransition {
        /// The block's state.
        from: BlockState,
        /// The state the vote would move it to.
        to: BlockState,
    },
}

impl SignerDb {
    /// Checks that this signer may cast `vote` on `block` and, if so, records it (the block's
    /// new state with its stamps, and for a rejection its reason) durably, in one
    /// transaction. On [`VoteRecord::Recorded`] `block` holds the stored record; on a refusal
    /// neither `block` nor the database changed. The rules: a vote never flips (no pre-commit or
    /// signature after a rejection, no rejection after either), and the first favourable vote
    /// on a block is refused while another block of its tenure at the same height is accepted
    /// by the network or was voted for by this signer within
    /// [`ConflictPolicy::reconsider_after`].
    ///
    /// The stored record is authoritative for the vote fields: an in-memory copy that is
    /// behind (or ahead, in a way the state machine allows) is merged with it first.
    pub fn record_own_vote(
        &mut self,
        block: &mut BlockInfo,
        vote: OwnVote,
        policy: &ConflictPolicy,
    ) -> Result<VoteRecord, SignerDbError> {
        let outcome = self.durable_write(|tx| {
            let hash = block.signer_signature_hash();
            let mut working = block.clone();
            if let Some(stored) = lookup_row(tx, &hash)? {
                merge_stored_vote(&mut working, &BlockInfo::from_row(stored)?);
            }
            if let Err(refusal) = check_and_apply(tx, &mut working, &vote, policy)? {
                return Ok(Err(refusal));
            }
            working.to_row()?.upsert(tx)?;
            Ok(Ok(working))
        })?;
        match outcome {
            Ok(recorded) => {
                *block = recorded;
                Ok(VoteRecord::Recorded)
            }
            Err(refusal) => Ok(VoteRecord::Refused(refusal)),
        }
    }
}

/// Brings the vote fields of `working` up to date with the stored record: the state that is
/// further along (by the state machine), and every stamp already set.
fn merge_stored_vote(working: &mut BlockInfo, stored: &BlockInfo) {
    if working.state != stored.state && !stored.state.can_move_to(working.state) {
        working.state = stored.state;
    }
    if stored.valid.is_some() && working.valid != Some(false) {
        working.valid = stored.valid;
    }
    working.signed_over |= stored.signed_over;
    working.signed_self = stored.signed_self.or(working.signed_self);
    working.signed_group = stored.signed_group.or(working.signed_group);
}

fn check_and_apply(
    tx: &rusqlite::Transaction<'_>,
    block: &mut BlockInfo,
    vote: &OwnVote,
    policy: &ConflictPolicy,
) -> Result<Result<(), VoteRefusal>, SignerDbError> {
    let already_voted_for = block.signed_self.is_some()
        || matches!(
            block.state,
            BlockState::PreCommitted | BlockState::LocallyAccepted
        );
    let transition = |e: SignerDbError| match e {
        SignerDbError::InvalidStateTransition { from, to } => {
            Ok(Err(VoteRefusal::InvalidTransition { from, to }))
        }
        other => Err(other),
    };
    match vote {
        OwnVote::Reject(reason) => {
            if already_voted_for {
                return Ok(Err(VoteRefusal::AlreadyAccepted));
            }
            if let Err(e) = block.mark_locally_rejected() {
                return transition(e);
            }
            block.reject_reason = Some(reason.clone());
            Ok(Ok(()))
        }
        OwnVote::PreCommit | OwnVote::Accept => {
            if block.valid == Some(false) {
                return Ok(Err(VoteRefusal::AlreadyRejected));
            }
            if block.state == BlockState::GloballyRejected {
                let to = if *vote == OwnVote::Accept {
                    BlockState::LocallyAccepted
                } else {
                    BlockState::PreCommitted
                };
                return Ok(Err(VoteRefusal::InvalidTransition {
                    from: block.state,
                    to,
                }));
            }
            if !already_voted_for {
                if let Some(conflict) = find_conflict(tx, block, policy)? {
                    return Ok(Err(conflict));
                }
            }
            let marked = match vote {
                OwnVote::PreCommit => block.mark_pre_committed(),
                _ if block.state == BlockState::GloballyAccepted => {
                    // Signing a block the network already accepted: no state change, as
                    // the reference, but the signature is stamped.
                    block.signed_self.get_or_insert_with(now_secs);
                    Ok(())
                }
                _ => block.mark_locally_accepted(false),
            };
            match marked {
                Ok(()) => Ok(Ok(())),
                Err(e) => transition(e),
            }
        }
    }
}

fn find_conflict(
    tx: &rusqlite::Transaction<'_>,
    block: &BlockInfo,
    policy: &ConflictPolicy,
) -> Result<Option<VoteRefusal>, SignerDbError> {
    let cutoff = now_secs().saturating_sub(policy.reconsider_after.as_secs());
    let mut stmt = tx.prepare_cached(
        "SELECT signer_signature_hash, state FROM blocks \
         WHERE consensus_hash = ?1 AND stacks_height = ?2 AND signer_signature_hash != ?3 \
         AND (state = 'GloballyAccepted' \
              OR (state IN ('PreCommitted', 'LocallyAccepted') \
                  AND (signed_group IS NOT NULL OR signed_self >= ?4))) \
         LIMIT 1",
    )?;
    let found = stmt
        .query_row(
            params![
                block.block.header.consensus_hash.as_bytes(),
                u64_to_sql("stacks_height", block.block.header.chain_length)?,
                block.signer_signature_hash().as_bytes(),
                u64_to_sql("signed_self", cutoff)?,
            ],
            |row| {
                let cols = Cols::new(row, "blocks");
                Ok((|| {
                    let hash =
                        Sha512Trunc256Sum::from(cols.array::<32>(0, "signer_signature_hash")?);
                    let text = cols.text(1, "state")?;
                    let state = BlockState::try_from(text)
                        .map_err(|e| SignerDbError::corrupt("blocks", "state", e))?;
                    Ok::<_, SignerDbError>(VoteRefusal::ConflictingBlock {
                        signer_signature_hash: hash,
                        state,
                    })
                })())
            },
        )
        .optional()?;
    found.transpose()
}
