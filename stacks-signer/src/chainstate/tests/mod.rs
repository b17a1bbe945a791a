//! Unit tests of the proposal checks: the shared parent and tenure-tip rules (`shared`), the
//! sortition view (`v1`), the global-state view (`v2`), the node cache (`cache`) and the
//! reading of the node's tenure tips (`node`).
//!
//! Every test runs against an in-memory database and a scripted node ([`FakeNode`]): an
//! unscripted call fails as an unreachable node would, and a tenure tip nobody scripted is a
//! 404. Times are whole seconds, as the reference keeps them; rather than sleeping, the tests
//! write timestamps in the past, with at least a second of margin on each side of a
//! threshold.

mod cache;
mod node;
mod shared;
mod v1;
mod v2;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libsigner::chain::{
    BurnchainHeaderHash, ConsensusHash, NakamotoBlock, SortitionId, StacksBlockId, StacksPrivateKey,
};
use libsigner::v0::messages::{BlockProposal, BlockProposalData};
use slog::Logger;

use super::{ProposalEvalConfig, SortitionData, TenureTip};
use crate::client::api::TenureForkingInfo;
use crate::clock::now_secs;
use crate::signerdb::{BlockInfo, SignerDb};
use crate::test_support::{addr, ch, log, memory_db, miner_key, pkh, BlockBuilder, FakeNode};

/// The current sortition's tenure in the fixtures.
pub(super) const CUR: u8 = 1;
/// The last sortition's tenure (the current one's prior sortition).
pub(super) const LAST: u8 = 0;
/// The tenure before the last sortition.
pub(super) const BEFORE_LAST: u8 = 128;
/// A tenure neither sortition knows.
pub(super) const ELSEWHERE: u8 = 15;

/// The configuration of the reference's chainstate tests: a 5 s proposal timeout, a 30 s
/// reorg window, blocks pinning their height for 30 s, reorg attempts counting as activity
/// for 3 s, and long idle timeouts (300 s full, 12000 s read-count).
pub(super) fn config() -> ProposalEvalConfig {
    ProposalEvalConfig {
        first_proposal_burn_block_timing: Duration::from_secs(30),
        block_proposal_timeout: Duration::from_secs(5),
        tenure_last_block_proposal_timeout: Duration::from_secs(30),
        tenure_idle_timeout: Duration::from_secs(300),
        read_count_idle_timeout: Duration::from_secs(12_000),
        tenure_idle_timeout_buffer: Duration::from_secs(2),
        reorg_attempts_activity_timeout: Duration::from_secs(3),
        proposal_wait_for_parent_time: Duration::ZERO,
        reset_replay_set_after_fork_blocks: 2,
    }
}

/// The sortition of tenure `tenure`, won by `miner`, after `prior`, building on `parent`
/// (burn block hash `[tenure; 32]`, as [`crate::test_support::sortition`]).
pub(super) fn sortition_data(
    tenure: u8,
    prior: u8,
    parent: u8,
    miner: &StacksPrivateKey,
) -> SortitionData {
    SortitionData {
        miner_pkh: pkh(miner),
        miner_pubkey: None,
        prior_sortition: ch(prior),
        parent_tenure_id: ch(parent),
        consensus_hash: ch(tenure),
        burn_header_timestamp: 0,
        burn_block_hash: burn_hash(tenure),
    }
}

/// The burn block hash of tenure `tenure`'s sortition in the fixtures.
pub(super) fn burn_hash(tenure: u8) -> BurnchainHeaderHash {
    BurnchainHeaderHash([tenure; 32])
}

/// The time `secs` seconds after the epoch.
pub(super) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// One entry of a fork-info answer: tenure `tenure`, with `first_block` as its first block
/// (`None`: an empty tenure).
pub(super) fn fork_entry(tenure: u8, first_block: Option<u8>) -> TenureForkingInfo {
    TenureForkingInfo {
        burn_block_hash: burn_hash(tenure),
        burn_block_height: u64::from(tenure),
        sortition_id: SortitionId([tenure; 32]),
        parent_sortition_id: SortitionId([tenure.wrapping_sub(1); 32]),
        consensus_hash: ch(tenure),
        was_sortition: true,
        first_block_mined: first_block.map(|b| StacksBlockId([b; 32])),
        nakamoto_blocks: None,
    }
}

/// A tenure tip at `height` with `burn_view`, for a block id made of `height`.
pub(super) fn tip_at(height: u64, burn_view: Option<ConsensusHash>) -> TenureTip {
    TenureTip {
        height,
        block_id: StacksBlockId([u8::try_from(height % 256).unwrap_or(0); 32]),
        signer_signature_hash: None,
        burn_view,
    }
}

/// What every test works with: a scripted node, a fresh database, the miner's key (winner
/// of both fixture sortitions) and a logger.
pub(super) struct Env {
    /// The node stand-in.
    pub node: FakeNode,
    /// The signer database.
    pub db: SignerDb,
    /// The miner key both fixture sortitions name.
    pub miner: StacksPrivateKey,
    /// Where the checks log.
    pub log: Logger,
}

impl Env {
    /// A fresh environment.
    pub fn new() -> Self {
        Self {
            node: FakeNode::new(addr(1)),
            db: memory_db(),
            miner: miner_key(1),
            log: log(),
        }
    }

    /// A block of tenure `tenure` at `height` by the fixture miner.
    pub fn block(&self, tenure: u8, height: u64) -> BlockBuilder {
        BlockBuilder::new(ch(tenure), height, StacksBlockId([0; 32]), &self.miner)
    }

    /// Stores `block` as this signer's record after `edit` (which marks its state and sets
    /// its times), and returns the stored record.
    pub fn record(
        &mut self,
        block: &NakamotoBlock,
        edit: impl FnOnce(&mut BlockInfo),
    ) -> BlockInfo {
        let mut info = BlockInfo::from(BlockProposal {
            block: block.clone(),
            burn_height: 1,
            reward_cycle: 1,
            block_proposal_data: BlockProposalData::empty(),
        });
        edit(&mut info);
        self.db
            .insert_block(&info)
            .expect("the test block is stored");
        info
    }

    /// Records the burn block of tenure `tenure`'s sortition as received at `received`
    /// (seconds).
    pub fn burn_block(&mut self, tenure: u8, received: u64) {
        self.db
            .insert_burn_block(
                &burn_hash(tenure),
                &ch(tenure),
                u64::from(tenure),
                &at(received),
                &burn_hash(tenure.wrapping_sub(1)),
            )
            .expect("the burn block is stored");
    }
}

/// Pre-commits the record, signed by this signer at `signed_self`.
pub(super) fn pre_committed(signed_self: u64) -> impl FnOnce(&mut BlockInfo) {
    move |info| {
        info.mark_pre_committed()
            .expect("an unprocessed block pre-commits");
        info.signed_self = Some(signed_self);
    }
}

/// Accepts the record locally, signed by this signer at `signed_self`.
pub(super) fn locally_accepted(signed_self: u64) -> impl FnOnce(&mut BlockInfo) {
    move |info| {
        info.mark_locally_accepted(false)
            .expect("an unprocessed block is accepted");
        info.signed_self = Some(signed_self);
    }
}

/// Marks the record globally accepted, with the signer set's signatures seen at
/// `signed_group` and this signer's own signature at `signed_self`.
pub(super) fn globally_accepted(
    signed_self: Option<u64>,
    signed_group: u64,
) -> impl FnOnce(&mut BlockInfo) {
    move |info| {
        info.mark_globally_accepted()
            .expect("an unprocessed block is accepted globally");
        info.signed_self = signed_self;
        info.signed_group = Some(signed_group);
    }
}

/// Now, minus `secs` seconds.
pub(super) fn secs_ago(secs: u64) -> u64 {
    now_secs().saturating_sub(secs)
}

/// Runs `attempt` with the current second until it completes within that second (at most
/// five tries), for the few checks whose outcome hinges on a one-second difference.
pub(super) fn within_one_second<T>(mut attempt: impl FnMut(u64) -> T) -> T {
    for _ in 0..5 {
        let start = now_secs();
        let out = attempt(start);
        if now_secs() == start {
            return out;
        }
    }
    panic!("the clock kept crossing a second boundary");
}
