//! This signer's own votes: what it published about each block (a pre-commit, a signature, a
//! rejection), checked and recorded in one durable transaction before the message leaves the
//! process.
//!
//! The record (table `own_votes`, one row per block) is separate from the `blocks` row, whose
//! state follows the reference signer's state machine (and can, in the reference, move in ways
//! that would let a vote flip). The rules, checked against the record:
//! * no vote at all on a block of a reward cycle below the pruning floor (the oldest reward
//!   cycle [`SignerDb::prune`] kept): the votes that could contradict it may be gone;
//! * no rejection after a favourable vote (pre-commit or signature) on the same block;
//! * no signature after a rejection of the same block: only a pre-commit (which the signer
//!   sends only after its own fresh evaluation and the node's validation) turns a rejected
//!   block into a favourable vote, and the signature may follow it;
//! * a first favourable vote on a block is refused while another block of the same tenure at
//!   the same height (a sibling) is globally accepted, or was signed by the signer set
//!   (`signed_group`), or got this signer's favourable vote less than
//!   [`ConflictPolicy::reconsider_after`] ago, or got this signer's favourable vote at any
//!   time and the node's tip of the tenure is not known to be below the height
//!   ([`VoteContext::tenure_tip_height`]);
//! * a first signature on a block this signer had only pre-committed to is refused while a
//!   sibling is globally accepted or signed by the signer set, or while a sibling that this
//!   signer signed, or first voted for no earlier than for this block (it moved on to it),
//!   still stands in the way as above (inside the window, or the tenure's tip not known to
//!   be below the height). A pre-commit promises a signature, but not once the signer moved
//!   on to a sibling or the network settled the height on another block.
//!
//! Repeating a vote is allowed and recorded (a re-sent rejection updates the reason; a re-sent
//! pre-commit or signature, or a pre-commit after a signature, keeps the times of the first
//! ones and is not checked against siblings again: it commits to nothing new). Times are whole
//! seconds since the Unix epoch, as everywhere in the database: a sibling's vote blocks while
//! `now - first < reconsider_after` in seconds.
//!
//! # Atomicity and durability
//! [`SignerDb::record_own_vote`] reads the record, applies the rules and writes the record (and
//! the caller's block row) in one `BEGIN IMMEDIATE` transaction on a handle nobody else can open
//! (see [`SignerDb::open`]), so no interleaving of callers can let two conflicting votes
//! through; it commits with `synchronous=FULL`, so once it returns [`VoteRecord::Recorded`] the
//! vote survives a crash or a power cut. **Publish the vote only after that.** A refusal
//! changes nothing.

use std::time::Duration;

use super::engine::{sql_params, Row, Sql};
use libsigner::chain::{ConsensusHash, NakamotoBlockHeader, Sha512Trunc256Sum};
use libsigner::v0::messages::RejectReason;

use super::sql::{now_secs, opt_u64_to_sql, u64_to_sql, Cols};
use super::{BlockInfo, SignerDb, SignerDbError};

const TABLE: &str = "own_votes";

/// The columns of an own-vote row, in [`OwnVoteRecord::read`] order.
const COLUMNS: &str = "signer_signature_hash, reward_cycle, consensus_hash, stacks_height, \
     pre_committed_at, signed_at, rejected_at, reject_reason";

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
    /// The block's reward cycle is below the pruning floor: votes of that cycle were deleted
    /// by [`SignerDb::prune`], so a vote on it could contradict one that is no longer on
    /// record.
    BelowPruneFloor {
        /// The oldest reward cycle still on record.
        min_reward_cycle: u64,
    },
    /// This process is the standby of an active/standby pair ([`crate::ha`]): it does not
    /// hold the lease of the key (or could not confirm it holds it), so it publishes nothing.
    NotActive {
        /// The instance holding the lease, when known.
        holder: Option<String>,
    },
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
    ///
    /// A rejection is never recorded after a favourable vote, so a record with both a
    /// rejection and a favourable time was rejected first and then pre-committed to.
    pub fn is_favourable(&self) -> bool {
        self.pre_committed_at.is_some() || self.signed_at.is_some()
    }

    /// Whether the current vote is a rejection.
    pub fn is_rejection(&self) -> bool {
        !self.is_favourable() && self.rejected_at.is_some()
    }

    /// When this signer first voted for the block (the earlier of its pre-commit and its
    /// signature), if it did.
    pub fn first_favourable_at(&self) -> Option<u64> {
        match (self.pre_committed_at, self.signed_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A record of no vote yet for the block of `header`.
    pub(crate) fn empty(header: &NakamotoBlockHeader, reward_cycle: u64) -> Self {
        Self {
            signer_signature_hash: header.signer_signature_hash(),
            reward_cycle,
            consensus_hash: header.consensus_hash,
            stacks_height: header.chain_length,
            pre_committed_at: None,
            signed_at: None,
            rejected_at: None,
            reject_reason: None,
        }
    }

    /// Reads a row selected with [`COLUMNS`].
    fn read(row: &Row<'_, '_>) -> Result<Self, SignerDbError> {
        let c = Cols::new(row, TABLE);
        let reject_reason = c
            .opt_text(7, "reject_reason")?
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| SignerDbError::corrupt(TABLE, "reject_reason", e))?;
        let record = Self {
            signer_signature_hash: Sha512Trunc256Sum::from(
                c.array::<32>(0, "signer_signature_hash")?,
            ),
            reward_cycle: c.u64(1, "reward_cycle")?,
            consensus_hash: ConsensusHash::from(c.array::<20>(2, "consensus_hash")?),
            stacks_height: c.u64(3, "stacks_height")?,
            pre_committed_at: c.opt_u64(4, "pre_committed_at")?,
            signed_at: c.opt_u64(5, "signed_at")?,
            rejected_at: c.opt_u64(6, "rejected_at")?,
            reject_reason,
        };
        if !record.is_favourable() && record.rejected_at.is_none() {
            return Err(SignerDbError::corrupt(
                TABLE,
                "rejected_at",
                format!(
                    "the record of block {} holds no vote",
                    record.signer_signature_hash
                ),
            ));
        }
        Ok(record)
    }

    /// Inserts or replaces the row.
    fn upsert(&self, conn: Sql<'_>) -> Result<(), SignerDbError> {
        let reject_reason = self
            .reject_reason
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| SignerDbError::corrupt(TABLE, "reject_reason", e))?;
        conn.exec(
            "INSERT INTO own_votes (signer_signature_hash, reward_cycle, consensus_hash, \
             stacks_height, pre_committed_at, signed_at, rejected_at, reject_reason) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (signer_signature_hash) DO UPDATE SET \
             reward_cycle = excluded.reward_cycle, consensus_hash = excluded.consensus_hash, \
             stacks_height = excluded.stacks_height, \
             pre_committed_at = excluded.pre_committed_at, signed_at = excluded.signed_at, \
             rejected_at = excluded.rejected_at, reject_reason = excluded.reject_reason",
            sql_params![
                self.signer_signature_hash.as_bytes(),
                u64_to_sql("own_votes.reward_cycle", self.reward_cycle)?,
                self.consensus_hash.as_bytes(),
                u64_to_sql("own_votes.stacks_height", self.stacks_height)?,
                opt_u64_to_sql("own_votes.pre_committed_at", self.pre_committed_at)?,
                opt_u64_to_sql("own_votes.signed_at", self.signed_at)?,
                opt_u64_to_sql("own_votes.rejected_at", self.rejected_at)?,
                reject_reason,
            ],
        )?;
        Ok(())
    }
}

/// Which sibling check a vote needs before it is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SiblingCheck {
    /// A repeat, a rejection, or a pre-commit after a signature: it commits to nothing new.
    None,
    /// The first favourable vote on the block.
    FirstFavourable,
    /// The first signature on a block this signer first pre-committed to at `since`.
    FirstSignature {
        /// This signer's first favourable vote on the block.
        since: u64,
    },
}

/// What the record of a block becomes under `vote` at time `now`, before the sibling rule:
/// the new record and the sibling check the vote needs, or the refusal.
pub(crate) fn apply_vote(
    vote: &OwnVote,
    current: Option<OwnVoteRecord>,
    header: &NakamotoBlockHeader,
    reward_cycle: u64,
    now: u64,
) -> Result<(OwnVoteRecord, SiblingCheck), VoteRefusal> {
    let favourable = current.as_ref().is_some_and(OwnVoteRecord::is_favourable);
    let rejected = current.as_ref().is_some_and(OwnVoteRecord::is_rejection);
    let mut record = current.unwrap_or_else(|| OwnVoteRecord::empty(header, reward_cycle));
    let first_check = if favourable {
        SiblingCheck::None
    } else {
        SiblingCheck::FirstFavourable
    };
    match vote {
        OwnVote::Reject(reason) => {
            if favourable {
                return Err(VoteRefusal::AlreadyAccepted);
            }
            record.rejected_at.get_or_insert(now);
            record.reject_reason = Some(reason.clone());
            Ok((record, SiblingCheck::None))
        }
        OwnVote::PreCommit => {
            record.pre_committed_at.get_or_insert(now);
            Ok((record, first_check))
        }
        OwnVote::Accept => {
            if rejected {
                return Err(VoteRefusal::AlreadyRejected);
            }
            let check = match (record.signed_at, record.first_favourable_at()) {
                (None, Some(since)) => SiblingCheck::FirstSignature { since },
                _ => first_check,
            };
            record.signed_at.get_or_insert(now);
            Ok((record, check))
        }
    }
}

/// The oldest reward cycle whose votes [`SignerDb::prune`] kept (0 before any pruning).
fn prune_floor(conn: Sql<'_>) -> Result<u64, SignerDbError> {
    let floor = conn
        .row(
            "SELECT min_reward_cycle FROM prune_floor WHERE id = 0",
            &[],
            |row| Cols::new(row, "prune_floor").opt_i64(0, "min_reward_cycle"),
        )?
        .flatten();
    match floor {
        None => Ok(0),
        Some(v) => u64::try_from(v).map_err(|_| {
            SignerDbError::corrupt(
                "prune_floor",
                "min_reward_cycle",
                format!("negative reward cycle {v}"),
            )
        }),
    }
}

/// The record of block `signer_signature_hash`.
fn lookup_own_vote(
    conn: Sql<'_>,
    signer_signature_hash: &Sha512Trunc256Sum,
) -> Result<Option<OwnVoteRecord>, SignerDbError> {
    conn.row(
        &format!("SELECT {COLUMNS} FROM own_votes WHERE signer_signature_hash = ?1"),
        sql_params![signer_signature_hash.as_bytes()],
        OwnVoteRecord::read,
    )
}

/// The sibling of `record`'s block (same tenure and height) that stands in the way of the
/// vote at time `now` (a first favourable vote, or a first signature: `check`), if any (the
/// lowest hash first, network decisions before this signer's own votes).
fn conflicting_sibling(
    conn: Sql<'_>,
    record: &OwnVoteRecord,
    context: &VoteContext,
    now: u64,
    check: SiblingCheck,
) -> Result<Option<Sha512Trunc256Sum>, SignerDbError> {
    let ch = record.consensus_hash.as_bytes();
    let height = u64_to_sql("stacks_height", record.stacks_height)?;
    let hash = record.signer_signature_hash.as_bytes();
    let decided = conn.row(
        "SELECT signer_signature_hash FROM blocks \
         WHERE consensus_hash = ?1 AND stacks_height = ?2 AND signer_signature_hash != ?3 \
         AND (state = 'GloballyAccepted' OR signed_group IS NOT NULL) \
         ORDER BY signer_signature_hash LIMIT 1",
        sql_params![ch, height, hash],
        |row| Cols::new(row, "blocks").array::<32>(0, "signer_signature_hash"),
    )?;
    if let Some(sibling) = decided {
        return Ok(Some(Sha512Trunc256Sum::from(sibling)));
    }
    let siblings = conn.rows(
        &format!(
            "SELECT {COLUMNS} FROM own_votes \
             WHERE consensus_hash = ?1 AND stacks_height = ?2 AND signer_signature_hash != ?3 \
             AND (pre_committed_at IS NOT NULL OR signed_at IS NOT NULL) \
             ORDER BY signer_signature_hash"
        ),
        sql_params![ch, height, hash],
        OwnVoteRecord::read,
    )?;
    Ok(siblings
        .into_iter()
        .find(|sibling| sibling_vote_blocks(sibling, record, context, now, check))
        .map(|sibling| sibling.signer_signature_hash))
}

/// Whether this signer's own earlier vote on `sibling` (same tenure and height as `record`'s
/// block) stands in the way of the vote `check` at time `now`: the part of the sibling rule
/// that depends only on this signer's own votes (also checked by the shared record of an
/// active/standby pair, [`crate::ha`]).
pub(crate) fn sibling_vote_blocks(
    sibling: &OwnVoteRecord,
    record: &OwnVoteRecord,
    context: &VoteContext,
    now: u64,
    check: SiblingCheck,
) -> bool {
    let Some(first) = sibling.first_favourable_at() else {
        return false;
    };
    if let SiblingCheck::FirstSignature { since } = check {
        // A sibling only pre-committed to before this block was left behind when this
        // signer pre-committed to this block (that vote passed this check against it).
        if sibling.signed_at.is_none() && first < since {
            return false;
        }
    }
    // A sibling this signer voted for blocks for good unless the node's tip of the tenure is
    // known to be below the height (the sibling did not make it).
    let sibling_may_be_canonical = context
        .tenure_tip_height
        .is_none_or(|tip| tip >= record.stacks_height);
    // A clock that went back reads as "just now": the sibling still blocks.
    sibling_may_be_canonical
        || now.saturating_sub(first) < context.policy.reconsider_after.as_secs()
}

impl SignerDb {
    /// Checks that this signer may cast `vote` on the block of `header` (reward cycle
    /// `reward_cycle`) and, if so, records it — and stores `store` (the block's row as the
    /// caller's state machine left it), if given — in one durable transaction
    /// (`synchronous=FULL`): publish the vote only after [`VoteRecord::Recorded`]. On
    /// [`VoteRecord::Refused`] nothing changed.
    ///
    /// The rules, against this signer's record of the block and of its siblings (same tenure,
    /// same height):
    /// * any vote on a block of a reward cycle (`reward_cycle`) below the pruning floor, the
    ///   highest `min_reward_cycle` [`SignerDb::prune`] was given, is refused
    ///   ([`VoteRefusal::BelowPruneFloor`]);
    /// * a rejection after a pre-commit or signature is refused
    ///   ([`VoteRefusal::AlreadyAccepted`]); a repeated rejection is recorded with its new
    ///   reason;
    /// * a signature after a rejection is refused ([`VoteRefusal::AlreadyRejected`]) unless a
    ///   pre-commit followed the rejection; a pre-commit after a rejection is allowed;
    /// * a first favourable vote (no earlier pre-commit or signature on the block) is refused
    ///   ([`VoteRefusal::ConflictingBlock`]) while a sibling is globally accepted or has
    ///   `signed_group` set in `blocks`, or got this signer's favourable vote less than
    ///   [`ConflictPolicy::reconsider_after`] ago (whole seconds), or got it at any time and
    ///   [`VoteContext::tenure_tip_height`] is unknown or at least the block's height;
    /// * a first signature on a block this signer had only pre-committed to is refused
    ///   ([`VoteRefusal::ConflictingBlock`]) while a sibling is globally accepted or has
    ///   `signed_group` set, or while a sibling this signer signed, or first voted for at or
    ///   after its first vote on this block, stands in the way as above (its first
    ///   favourable vote less than `reconsider_after` ago, or the tenure tip not known to be
    ///   below the height);
    /// * a repeated vote (a pre-commit or signature already on record, or a pre-commit after
    ///   a signature) is recorded without the sibling check, keeping the times of the first
    ///   ones.
    ///
    /// `store` must be the record of the same block ([`SignerDbError::InvalidArgument`]
    /// otherwise, before anything is written). A block already recorded keeps the reward
    /// cycle of its first vote.
    pub fn record_own_vote(
        &mut self,
        vote: &OwnVote,
        header: &NakamotoBlockHeader,
        reward_cycle: u64,
        store: Option<&BlockInfo>,
        context: &VoteContext,
    ) -> Result<VoteRecord, SignerDbError> {
        self.record_own_vote_at(vote, header, reward_cycle, store, context, now_secs())
    }

    /// [`SignerDb::record_own_vote`] with `now` (seconds since the Unix epoch) as the current
    /// time: the time stamped on a new vote and the one the sibling rule's window is measured
    /// to. For tests and tools that replay a sequence of events; the signer itself uses
    /// [`SignerDb::record_own_vote`].
    pub fn record_own_vote_at(
        &mut self,
        vote: &OwnVote,
        header: &NakamotoBlockHeader,
        reward_cycle: u64,
        store: Option<&BlockInfo>,
        context: &VoteContext,
        now: u64,
    ) -> Result<VoteRecord, SignerDbError> {
        self.record_own_votes_at(
            std::slice::from_ref(vote),
            header,
            reward_cycle,
            store,
            context,
            now,
        )
    }

    /// Several votes on one block checked and recorded in one durable transaction, in order
    /// (e.g. a pre-commit and the signature that follows it at once when this signer's own
    /// pre-commit reaches the threshold): all of them, or, when the rules refuse any, none
    /// (the first refusal is returned). Each vote is checked as [`SignerDb::record_own_vote`]
    /// checks it, against the record as the votes before it left it.
    pub fn record_own_votes(
        &mut self,
        votes: &[OwnVote],
        header: &NakamotoBlockHeader,
        reward_cycle: u64,
        store: Option<&BlockInfo>,
        context: &VoteContext,
    ) -> Result<VoteRecord, SignerDbError> {
        self.record_own_votes_at(votes, header, reward_cycle, store, context, now_secs())
    }

    /// [`SignerDb::record_own_votes`] at time `now` (see [`SignerDb::record_own_vote_at`]).
    pub fn record_own_votes_at(
        &mut self,
        votes: &[OwnVote],
        header: &NakamotoBlockHeader,
        reward_cycle: u64,
        store: Option<&BlockInfo>,
        context: &VoteContext,
        now: u64,
    ) -> Result<VoteRecord, SignerDbError> {
        let hash = header.signer_signature_hash();
        let store_row = match store {
            Some(info) => {
                let stored_hash = info.signer_signature_hash();
                if stored_hash != hash {
                    return Err(SignerDbError::InvalidArgument(format!(
                        "record_own_vote: the block row to store ({stored_hash}) is not the \
                         voted block ({hash})"
                    )));
                }
                Some(info.to_row()?)
            }
            None => None,
        };
        let shared = self.shared.clone();
        self.durable_write(|tx| {
            let floor = prune_floor(tx)?;
            if reward_cycle < floor {
                return Ok(VoteRecord::Refused(VoteRefusal::BelowPruneFloor {
                    min_reward_cycle: floor,
                }));
            }
            let mut current = lookup_own_vote(tx, &hash)?;
            for vote in votes {
                let (record, check) = match apply_vote(vote, current, header, reward_cycle, now) {
                    Ok(applied) => applied,
                    Err(refusal) => return Ok(VoteRecord::Refused(refusal)),
                };
                if check != SiblingCheck::None {
                    if let Some(sibling) = conflicting_sibling(tx, &record, context, now, check)? {
                        return Ok(VoteRecord::Refused(VoteRefusal::ConflictingBlock {
                            signer_signature_hash: sibling,
                        }));
                    }
                }
                current = Some(record);
            }
            let Some(record) = current else {
                return Err(SignerDbError::InvalidArgument(
                    "record_own_votes: no vote to record".into(),
                ));
            };
            // The shared record of an active/standby pair commits first: if this commit then
            // fails, the shared record holds a vote that never left (refusing more, never
            // less).
            if let Some(shared) = &shared {
                let outcome = shared.record_own_votes(votes, header, reward_cycle, context, now)?;
                if let VoteRecord::Refused(refusal) = outcome {
                    return Ok(VoteRecord::Refused(refusal));
                }
            }
            record.upsert(tx)?;
            if let Some(row) = &store_row {
                row.upsert(tx)?;
            }
            Ok(VoteRecord::Recorded)
        })
    }

    /// What this signer published about block `signer_signature_hash`, if anything.
    pub fn get_own_vote(
        &self,
        signer_signature_hash: &Sha512Trunc256Sum,
    ) -> Result<Option<OwnVoteRecord>, SignerDbError> {
        lookup_own_vote(self.sql(), signer_signature_hash)
    }

    /// The pruning floor: the oldest reward cycle on which this signer may still vote, the
    /// highest `min_reward_cycle` ever given to [`SignerDb::prune`] (0 before any pruning).
    pub fn prune_floor(&self) -> Result<u64, SignerDbError> {
        prune_floor(self.sql())
    }

    /// Every vote this signer recorded, by tenure, height and block.
    pub fn get_own_votes(&self) -> Result<Vec<OwnVoteRecord>, SignerDbError> {
        self.sql().rows(
            &format!(
                "SELECT {COLUMNS} FROM own_votes \
                 ORDER BY consensus_hash, stacks_height, signer_signature_hash"
            ),
            &[],
            OwnVoteRecord::read,
        )
    }
}

impl SignerDb {
    /// This signer's first favourable vote on the block left the process at `published_at`
    /// (seconds): if that is later than the time recorded with the vote (taken before its
    /// durable commit, which can be slow), the vote's time moves to it, so that the sibling
    /// window counts from publication. Only a record holding exactly one favourable vote (the
    /// first) changes, and only forward. A plain write: lost in a crash, the earlier time
    /// stays.
    pub fn note_favourable_vote_published(
        &mut self,
        signer_signature_hash: &Sha512Trunc256Sum,
        published_at: u64,
    ) -> Result<(), SignerDbError> {
        let at = u64_to_sql("own_votes.published_at", published_at)?;
        self.sql().exec(
            "UPDATE own_votes SET \
             pre_committed_at = CASE WHEN signed_at IS NULL AND pre_committed_at < ?2 \
                 THEN ?2 ELSE pre_committed_at END, \
             signed_at = CASE WHEN pre_committed_at IS NULL AND signed_at < ?2 \
                 THEN ?2 ELSE signed_at END \
             WHERE signer_signature_hash = ?1",
            sql_params![signer_signature_hash.as_bytes(), at],
        )?;
        Ok(())
    }

    /// Whether this signer voted for a sibling of the block (same tenure and height, another
    /// block): in this database, or, for an instance of an active/standby pair, in the
    /// shared record.
    pub fn has_favourable_sibling_vote(
        &self,
        consensus_hash: &ConsensusHash,
        stacks_height: u64,
        signer_signature_hash: &Sha512Trunc256Sum,
    ) -> Result<bool, SignerDbError> {
        if self.sql().exists(
            "SELECT 1 FROM own_votes WHERE consensus_hash = ?1 AND stacks_height = ?2 \
             AND signer_signature_hash != ?3 \
             AND (pre_committed_at IS NOT NULL OR signed_at IS NOT NULL) LIMIT 1",
            sql_params![
                consensus_hash.as_bytes(),
                u64_to_sql("own_votes.stacks_height", stacks_height)?,
                signer_signature_hash.as_bytes(),
            ],
        )? {
            return Ok(true);
        }
        // Another instance of an active/standby pair may have voted for it.
        match &self.shared {
            Some(shared) => shared.has_favourable_sibling_vote(
                consensus_hash,
                stacks_height,
                signer_signature_hash,
            ),
            None => Ok(false),
        }
    }
}
