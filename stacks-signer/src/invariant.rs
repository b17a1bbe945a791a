//! The safety invariant, as code: over what a node recorded (every chunk written to its
//! StackerDBs, every block it processed) and what each signer's database holds, it checks
//! that
//! 1. every vote a signer published (a `BlockPreCommit`, or a `BlockResponse` accepting or
//!    rejecting a block) is in that signer's own-vote record, as that kind of vote;
//! 2. no signer voted for two conflicting blocks (the same height of the same tenure),
//!    except as the reference allows: the second vote comes at least
//!    `tenure_last_block_proposal_timeout` after the first (less one second, as the signer
//!    counts whole seconds) and before any block of the tenure at that height or above was
//!    processed; the first signature of a block first voted for earlier counts as such a
//!    second vote against a sibling voted for since, or signed before it;
//! 3. no signer's vote flipped: no rejection after a vote for the block, and no signature
//!    after a rejection unless a pre-commit (a fresh validation) came between.
//!
//! The mock node's activity stream (or its JSON-lines record) provides the first input; the
//! signers' `SignerDb::get_own_votes` the second.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use libsigner::chain::{ConsensusHash, Hash160, Sha512Trunc256Sum};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{BlockResponse, SignerMessage};

use crate::devnet::{Activity, ActivityEntry};
use crate::signerdb::OwnVoteRecord;

/// One signer's side of the check.
#[derive(Debug, Clone)]
pub struct SignerVotes {
    /// Hash160 of the signer's public key (the writer the node records for its chunks).
    pub signer: Hash160,
    /// The signer's own-vote record.
    pub own_votes: Vec<OwnVoteRecord>,
    /// The oldest reward cycle the signer's database still keeps (it prunes older ones):
    /// votes on blocks proposed in earlier cycles need not be in `own_votes`.
    pub kept_from_reward_cycle: Option<u64>,
}

/// A kind of published vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VoteKind {
    /// A `BlockPreCommit`.
    PreCommit,
    /// A `BlockResponse::Accepted`.
    Accept,
    /// A `BlockResponse::Rejected`.
    Reject,
}

impl VoteKind {
    fn is_favourable(self) -> bool {
        self != VoteKind::Reject
    }
}

/// A vote seen in the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedVote {
    /// Who published it.
    pub signer: Hash160,
    /// The block.
    pub signer_signature_hash: Sha512Trunc256Sum,
    /// What kind of vote.
    pub kind: VoteKind,
    /// When the node stored the chunk (ms since the Unix epoch).
    pub at_ms: u64,
}

/// A breach of the invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A published vote the signer's database does not hold.
    VoteNotRecorded(PublishedVote),
    /// Votes for two conflicting blocks.
    Equivocation {
        /// The first vote.
        first: PublishedVote,
        /// The conflicting later vote.
        second: PublishedVote,
        /// Why the reference's allowance does not cover it.
        why: String,
    },
    /// A vote contradicting an earlier one on the same block.
    Flip {
        /// The earlier vote.
        earlier: PublishedVote,
        /// The contradicting one.
        later: PublishedVote,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::VoteNotRecorded(vote) => write!(
                f,
                "signer {} published {:?} for block {} at {} ms but its database does not hold it",
                vote.signer, vote.kind, vote.signer_signature_hash, vote.at_ms
            ),
            Violation::Equivocation { first, second, why } => write!(
                f,
                "signer {} voted for conflicting blocks {} ({:?} at {} ms) and {} ({:?} at {} ms): {why}",
                first.signer,
                first.signer_signature_hash,
                first.kind,
                first.at_ms,
                second.signer_signature_hash,
                second.kind,
                second.at_ms
            ),
            Violation::Flip { earlier, later } => write!(
                f,
                "signer {} published {:?} for block {} at {} ms after {:?} at {} ms",
                later.signer,
                later.kind,
                later.signer_signature_hash,
                later.at_ms,
                earlier.kind,
                earlier.at_ms
            ),
        }
    }
}

/// What the check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvariantReport {
    /// Votes published by the signers checked (re-sends included).
    pub votes_published: usize,
    /// Every breach found.
    pub violations: Vec<Violation>,
}

impl InvariantReport {
    /// Whether the invariant holds.
    pub fn holds(&self) -> bool {
        self.violations.is_empty()
    }

    /// How many breaches are equivocations.
    pub fn equivocations(&self) -> usize {
        self.violations
            .iter()
            .filter(|v| matches!(v, Violation::Equivocation { .. }))
            .count()
    }

    /// How many published votes the databases do not hold.
    pub fn votes_lost(&self) -> usize {
        self.violations
            .iter()
            .filter(|v| matches!(v, Violation::VoteNotRecorded(_)))
            .count()
    }
}

/// Where a block sits, from its proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Position {
    consensus_hash: ConsensusHash,
    height: u64,
}

/// The published votes of the record, with the blocks' positions and processing times.
struct Record {
    votes: Vec<PublishedVote>,
    positions: HashMap<Sha512Trunc256Sum, Position>,
    /// The reward cycle each block was proposed in.
    cycles: HashMap<Sha512Trunc256Sum, u64>,
    /// (tenure, height, time) of every processed block.
    processed: Vec<(Position, u64)>,
}

fn read_record(entries: &[ActivityEntry]) -> Record {
    let mut votes = Vec::new();
    let mut positions = HashMap::new();
    let mut cycles = HashMap::new();
    let mut processed_hashes = Vec::new();
    for entry in entries {
        match &entry.activity {
            Activity::ChunkWrite {
                contract,
                writer,
                data,
                accepted: true,
                ..
            } => {
                let Ok(message) = SignerMessage::consensus_deserialize(&mut data.as_slice()) else {
                    continue;
                };
                let vote = |hash: Sha512Trunc256Sum, kind| {
                    writer.map(|signer| PublishedVote {
                        signer,
                        signer_signature_hash: hash,
                        kind,
                        at_ms: entry.at_ms,
                    })
                };
                let published = match message {
                    SignerMessage::BlockProposal(proposal) if contract == "miners" => {
                        let header = &proposal.block.header;
                        cycles.insert(header.signer_signature_hash(), proposal.reward_cycle);
                        positions.insert(
                            header.signer_signature_hash(),
                            Position {
                                consensus_hash: header.consensus_hash,
                                height: header.chain_length,
                            },
                        );
                        None
                    }
                    SignerMessage::BlockPreCommit(hash) => vote(hash, VoteKind::PreCommit),
                    SignerMessage::BlockResponse(BlockResponse::Accepted(accepted)) => {
                        vote(accepted.signer_signature_hash, VoteKind::Accept)
                    }
                    SignerMessage::BlockResponse(BlockResponse::Rejected(rejected)) => {
                        vote(rejected.signer_signature_hash, VoteKind::Reject)
                    }
                    _ => None,
                };
                votes.extend(published);
            }
            Activity::BlockProcessed {
                signer_signature_hash,
                height,
                ..
            } => processed_hashes.push((*signer_signature_hash, *height, entry.at_ms)),
            _ => {}
        }
    }
    let processed = processed_hashes
        .into_iter()
        .filter_map(|(hash, height, at)| {
            let position = positions.get(&hash)?;
            Some((
                Position {
                    consensus_hash: position.consensus_hash,
                    height,
                },
                at,
            ))
        })
        .collect();
    Record {
        votes,
        positions,
        cycles,
        processed,
    }
}

fn recorded_as(record: &OwnVoteRecord, kind: VoteKind) -> bool {
    match kind {
        VoteKind::PreCommit => record.pre_committed_at.is_some(),
        VoteKind::Accept => record.signed_at.is_some(),
        VoteKind::Reject => record.rejected_at.is_some(),
    }
}

/// Checks the invariant of the [module documentation](self) for `signers` over the node's
/// activity `entries`, with the signers' `tenure_last_block_proposal_timeout` as `window`.
pub fn check_votes(
    entries: &[ActivityEntry],
    signers: &[SignerVotes],
    window: Duration,
) -> InvariantReport {
    let record = read_record(entries);
    let mut report = InvariantReport::default();
    for signer in signers {
        let own: HashMap<Sha512Trunc256Sum, &OwnVoteRecord> = signer
            .own_votes
            .iter()
            .map(|vote| (vote.signer_signature_hash, vote))
            .collect();
        let mut votes: Vec<&PublishedVote> = record
            .votes
            .iter()
            .filter(|vote| vote.signer == signer.signer)
            .collect();
        votes.sort_by_key(|vote| vote.at_ms);
        report.votes_published += votes.len();
        let pruned = |hash: &Sha512Trunc256Sum| match (
            signer.kept_from_reward_cycle,
            record.cycles.get(hash),
        ) {
            (Some(kept), Some(cycle)) => *cycle < kept,
            _ => false,
        };
        for vote in &votes {
            if pruned(&vote.signer_signature_hash) {
                continue;
            }
            let held = own
                .get(&vote.signer_signature_hash)
                .is_some_and(|record| recorded_as(record, vote.kind));
            if !held {
                report
                    .violations
                    .push(Violation::VoteNotRecorded((*vote).clone()));
            }
        }
        check_flips(&votes, &mut report);
        check_conflicts(&votes, &record, window, &mut report);
    }
    report
}

fn check_flips(votes: &[&PublishedVote], report: &mut InvariantReport) {
    let mut by_block: BTreeMap<Sha512Trunc256Sum, Vec<&PublishedVote>> = BTreeMap::new();
    for vote in votes {
        by_block
            .entry(vote.signer_signature_hash)
            .or_default()
            .push(vote);
    }
    for history in by_block.values() {
        let mut last_favourable: Option<&PublishedVote> = None;
        let mut last_rejection: Option<&PublishedVote> = None;
        for vote in history {
            match vote.kind {
                VoteKind::Reject => {
                    if let Some(earlier) = last_favourable {
                        report.violations.push(Violation::Flip {
                            earlier: earlier.clone(),
                            later: (*vote).clone(),
                        });
                    }
                    last_rejection = Some(vote);
                }
                VoteKind::PreCommit => {
                    last_rejection = None;
                    last_favourable = Some(vote);
                }
                VoteKind::Accept => {
                    if let Some(earlier) = last_rejection {
                        report.violations.push(Violation::Flip {
                            earlier: earlier.clone(),
                            later: (*vote).clone(),
                        });
                    }
                    last_favourable = Some(vote);
                }
            }
        }
    }
}

fn check_conflicts(
    votes: &[&PublishedVote],
    record: &Record,
    window: Duration,
    report: &mut InvariantReport,
) {
    // The first favourable vote of each block, by position.
    let mut first_votes: BTreeMap<Position, Vec<&PublishedVote>> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for vote in votes.iter().filter(|vote| vote.kind.is_favourable()) {
        if !seen.insert(vote.signer_signature_hash) {
            continue;
        }
        if let Some(position) = record.positions.get(&vote.signer_signature_hash) {
            first_votes.entry(*position).or_default().push(vote);
        }
    }
    // The first signature of each block.
    let mut first_signatures: HashMap<Sha512Trunc256Sum, &PublishedVote> = HashMap::new();
    for vote in votes.iter().filter(|vote| vote.kind == VoteKind::Accept) {
        first_signatures
            .entry(vote.signer_signature_hash)
            .or_insert(vote);
    }
    let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
    let allowance_ms = window_ms.saturating_sub(1000);
    // Why `second` conflicts with `first`, a sibling's first favourable vote before it.
    let conflict = |position: &Position, first: &PublishedVote, second: &PublishedVote| {
        let waited = second.at_ms.saturating_sub(first.at_ms);
        if waited < allowance_ms {
            return Some(format!(
                "only {waited} ms apart (the window is {window_ms} ms)"
            ));
        }
        record
            .processed
            .iter()
            .find(|(at, time)| {
                at.consensus_hash == position.consensus_hash
                    && at.height >= position.height
                    && *time <= second.at_ms
            })
            .map(|(at, time)| {
                format!(
                    "a block of the tenure at height {} was processed at {time} ms, before the second vote",
                    at.height
                )
            })
    };
    for (position, firsts) in &first_votes {
        for (i, second) in firsts.iter().enumerate().skip(1) {
            for first in &firsts[..i] {
                if let Some(why) = conflict(position, first, second) {
                    report.violations.push(Violation::Equivocation {
                        first: (*first).clone(),
                        second: (*second).clone(),
                        why,
                    });
                }
            }
        }
        // A signature of a block first voted for earlier is a commitment too: it conflicts
        // with a sibling voted for since (the signer moved on to it) or signed before it, as a
        // first vote would. (A signature that is the block's first vote was checked above.)
        for own_first in firsts {
            let Some(signature) = first_signatures.get(&own_first.signer_signature_hash) else {
                continue;
            };
            if signature.at_ms == own_first.at_ms && own_first.kind == VoteKind::Accept {
                continue;
            }
            for sibling in firsts {
                if sibling.signer_signature_hash == own_first.signer_signature_hash
                    || sibling.at_ms > signature.at_ms
                {
                    continue;
                }
                let signed_before = first_signatures
                    .get(&sibling.signer_signature_hash)
                    .is_some_and(|s| s.at_ms <= signature.at_ms);
                if sibling.at_ms < own_first.at_ms && !signed_before {
                    continue;
                }
                if let Some(why) = conflict(position, sibling, signature) {
                    report.violations.push(Violation::Equivocation {
                        first: (*sibling).clone(),
                        second: (*signature).clone(),
                        why,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use libsigner::chain::{MessageSignature, NakamotoBlock, StacksBlockId};
    use libsigner::v0::messages::{
        BlockAccepted, BlockProposal, BlockProposalData, BlockRejection, RejectReason,
    };

    use super::*;
    use crate::devnet::ChunkSource;
    use crate::test_support::{ch, miner_key, BlockBuilder};

    const WINDOW: Duration = Duration::from_secs(30);
    const SIGNER: Hash160 = Hash160([7; 20]);

    fn chunk(contract: &str, message: SignerMessage, at_ms: u64) -> ActivityEntry {
        ActivityEntry {
            at_ms,
            activity: Activity::ChunkWrite {
                contract: contract.into(),
                slot_id: 0,
                slot_version: 1,
                writer: Some(SIGNER),
                data: message.serialize_to_vec(),
                accepted: true,
                code: None,
                source: ChunkSource::Rpc,
            },
        }
    }

    fn sibling(variant: u64) -> NakamotoBlock {
        BlockBuilder::new(ch(2), 12, StacksBlockId([1; 32]), &miner_key(1))
            .timestamp(1_000 + variant)
            .build()
    }

    fn proposal(block: &NakamotoBlock) -> ActivityEntry {
        let message = SignerMessage::BlockProposal(BlockProposal {
            block: block.clone(),
            burn_height: 1,
            reward_cycle: 1,
            block_proposal_data: BlockProposalData::empty(),
        });
        chunk("miners", message, 0)
    }

    fn pre_commit(block: &NakamotoBlock, at_ms: u64) -> ActivityEntry {
        let hash = block.header.signer_signature_hash();
        chunk("signers-1-3", SignerMessage::BlockPreCommit(hash), at_ms)
    }

    fn accept(block: &NakamotoBlock, at_ms: u64) -> ActivityEntry {
        let hash = block.header.signer_signature_hash();
        let accepted = BlockAccepted::new(hash, MessageSignature::empty(), 0, 0);
        let message = SignerMessage::BlockResponse(BlockResponse::Accepted(accepted));
        chunk("signers-1-1", message, at_ms)
    }

    fn reject(block: &NakamotoBlock, at_ms: u64) -> ActivityEntry {
        let hash = block.header.signer_signature_hash();
        let rejection = BlockRejection::new(
            hash,
            RejectReason::InvalidParentBlock,
            &miner_key(9),
            false,
            0,
            0,
        );
        let message = SignerMessage::BlockResponse(BlockResponse::Rejected(rejection));
        chunk("signers-1-1", message, at_ms)
    }

    fn processed(block: &NakamotoBlock, at_ms: u64) -> ActivityEntry {
        ActivityEntry {
            at_ms,
            activity: Activity::BlockProcessed {
                block_id: block.block_id(),
                signer_signature_hash: block.header.signer_signature_hash(),
                height: block.header.chain_length,
                signed_weight: 1,
                threshold_weight: 1,
            },
        }
    }

    /// The record a signer that published every vote of `entries` would hold.
    fn holding_everything(entries: &[ActivityEntry]) -> SignerVotes {
        let record = read_record(entries);
        let mut own: BTreeMap<Sha512Trunc256Sum, OwnVoteRecord> = BTreeMap::new();
        for vote in &record.votes {
            let position = record.positions[&vote.signer_signature_hash];
            let entry = own
                .entry(vote.signer_signature_hash)
                .or_insert(OwnVoteRecord {
                    signer_signature_hash: vote.signer_signature_hash,
                    reward_cycle: 1,
                    consensus_hash: position.consensus_hash,
                    stacks_height: position.height,
                    pre_committed_at: None,
                    signed_at: None,
                    rejected_at: None,
                    reject_reason: None,
                });
            let at = Some(vote.at_ms / 1000);
            match vote.kind {
                VoteKind::PreCommit => entry.pre_committed_at = at,
                VoteKind::Accept => entry.signed_at = at,
                VoteKind::Reject => entry.rejected_at = at,
            }
        }
        SignerVotes {
            signer: SIGNER,
            own_votes: own.into_values().collect(),
            kept_from_reward_cycle: None,
        }
    }

    fn check(entries: &[ActivityEntry]) -> InvariantReport {
        check_votes(entries, &[holding_everything(entries)], WINDOW)
    }

    #[test]
    fn a_published_vote_the_database_does_not_hold_is_reported() {
        let b = sibling(1);
        let entries = vec![proposal(&b), pre_commit(&b, 10), accept(&b, 20)];
        let mut votes = holding_everything(&entries);
        votes.own_votes[0].signed_at = None;
        let report = check_votes(&entries, &[votes], WINDOW);
        assert_eq!(report.votes_published, 2);
        assert_eq!(report.votes_lost(), 1, "{:?}", report.violations);
        assert!(matches!(
            &report.violations[0],
            Violation::VoteNotRecorded(vote) if vote.kind == VoteKind::Accept
        ));
    }

    #[test]
    fn votes_for_two_siblings_inside_the_window_are_an_equivocation() {
        let (b1, b2) = (sibling(1), sibling(2));
        let entries = vec![
            proposal(&b1),
            proposal(&b2),
            pre_commit(&b1, 1_000),
            pre_commit(&b2, 20_000),
        ];
        let report = check(&entries);
        assert_eq!(report.equivocations(), 1, "{:?}", report.violations);
    }

    #[test]
    fn a_sibling_vote_after_the_window_is_allowed_while_the_tenure_is_below_its_height() {
        let (b1, b2) = (sibling(1), sibling(2));
        let entries = vec![
            proposal(&b1),
            proposal(&b2),
            pre_commit(&b1, 1_000),
            accept(&b1, 1_100),
            pre_commit(&b2, 31_000),
        ];
        let report = check(&entries);
        assert!(report.holds(), "{:?}", report.violations);
    }

    #[test]
    fn a_sibling_vote_after_a_block_at_its_height_was_processed_is_an_equivocation() {
        let (b1, b2) = (sibling(1), sibling(2));
        let entries = vec![
            proposal(&b1),
            proposal(&b2),
            pre_commit(&b1, 1_000),
            processed(&b1, 2_000),
            pre_commit(&b2, 60_000),
        ];
        let report = check(&entries);
        assert_eq!(report.equivocations(), 1, "{:?}", report.violations);
    }

    #[test]
    fn signing_a_block_left_for_a_sibling_is_an_equivocation() {
        let (b1, b2) = (sibling(1), sibling(2));
        let entries = vec![
            proposal(&b1),
            proposal(&b2),
            pre_commit(&b1, 1_000),
            pre_commit(&b2, 31_000),
            accept(&b1, 32_000),
        ];
        let report = check(&entries);
        assert!(
            matches!(&report.violations[..], [Violation::Equivocation { first, second, .. }]
                if first.signer_signature_hash == b2.header.signer_signature_hash()
                    && second.kind == VoteKind::Accept),
            "{:?}",
            report.violations
        );
        // Signing the sibling moved to is what the window allows; so is coming back to the
        // first block once the window passed again.
        let moved_on = vec![
            proposal(&b1),
            proposal(&b2),
            pre_commit(&b1, 1_000),
            pre_commit(&b2, 31_000),
            accept(&b2, 32_000),
        ];
        assert!(
            check(&moved_on).holds(),
            "{:?}",
            check(&moved_on).violations
        );
        let came_back = vec![
            proposal(&b1),
            proposal(&b2),
            pre_commit(&b1, 1_000),
            pre_commit(&b2, 31_000),
            accept(&b1, 61_000),
        ];
        assert!(
            check(&came_back).holds(),
            "{:?}",
            check(&came_back).violations
        );
    }

    #[test]
    fn signing_next_to_a_signed_sibling_is_an_equivocation_once_a_block_at_its_height_was_processed(
    ) {
        let (b1, b2) = (sibling(1), sibling(2));
        let entries = vec![
            proposal(&b1),
            proposal(&b2),
            accept(&b1, 1_000),
            pre_commit(&b2, 31_000),
            accept(&b2, 31_500),
        ];
        assert!(check(&entries).holds(), "{:?}", check(&entries).violations);
        let processed_first = vec![
            proposal(&b1),
            proposal(&b2),
            accept(&b1, 1_000),
            pre_commit(&b2, 31_000),
            processed(&b1, 31_200),
            accept(&b2, 31_500),
        ];
        assert_eq!(check(&processed_first).equivocations(), 1);
    }

    #[test]
    fn a_rejection_after_a_signature_is_a_flip() {
        let b = sibling(1);
        let entries = vec![proposal(&b), accept(&b, 1_000), reject(&b, 2_000)];
        let report = check(&entries);
        assert!(
            matches!(&report.violations[..], [Violation::Flip { later, .. }] if later.kind == VoteKind::Reject),
            "{:?}",
            report.violations
        );
    }

    #[test]
    fn a_signature_after_a_rejection_needs_a_fresh_pre_commit_between() {
        let b = sibling(1);
        let flipped = vec![proposal(&b), reject(&b, 1_000), accept(&b, 2_000)];
        assert_eq!(check(&flipped).violations.len(), 1);
        let revalidated = vec![
            proposal(&b),
            reject(&b, 1_000),
            pre_commit(&b, 2_000),
            accept(&b, 2_100),
        ];
        let report = check(&revalidated);
        assert!(report.holds(), "{:?}", report.violations);
    }

    #[test]
    fn votes_on_blocks_of_pruned_reward_cycles_need_not_be_held() {
        let b = sibling(1);
        let entries = vec![proposal(&b), accept(&b, 1_000)];
        let mut votes = holding_everything(&entries);
        votes.own_votes.clear();
        votes.kept_from_reward_cycle = Some(2);
        assert!(check_votes(&entries, &[votes.clone()], WINDOW).holds());
        votes.kept_from_reward_cycle = Some(1);
        assert_eq!(check_votes(&entries, &[votes], WINDOW).votes_lost(), 1);
    }

    #[test]
    fn votes_of_other_writers_are_not_counted() {
        let b = sibling(1);
        let mut entries = vec![proposal(&b), accept(&b, 1_000)];
        if let Activity::ChunkWrite { writer, .. } = &mut entries[1].activity {
            *writer = Some(Hash160([8; 20]));
        }
        let report = check_votes(&entries, &[holding_everything(&entries)], WINDOW);
        assert_eq!(report.votes_published, 0);
        assert!(report.holds());
    }
}
