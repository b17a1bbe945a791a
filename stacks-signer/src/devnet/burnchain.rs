//! The simulated burn chain: burn blocks with their sortitions (a winner or not), forks, and
//! the canonical fork (the ancestors of the highest tip).

use std::collections::HashMap;

use libsigner::chain::{
    BlockHeaderHash, BurnchainHeaderHash, ConsensusHash, Hash160, SortitionId, Txid, VRFSeed,
};

use crate::client::api::SortitionInfo;

/// The winner of a sortition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortitionWinner {
    /// Index of the winning miner in the node's miner list.
    pub miner_index: usize,
    /// Hash160 of the winner's block-signing key.
    pub miner_pkh: Hash160,
    /// The tenure the winner builds on (its block-commit's parent).
    pub stacks_parent_ch: ConsensusHash,
    /// The first block of the parent tenure (Nakamoto `committed_block_hash`).
    pub committed_block_hash: BlockHeaderHash,
    /// The VRF seed.
    pub vrf_seed: VRFSeed,
    /// The commit's burn amount.
    pub burn_spent: u64,
    /// The commit transaction's id.
    pub commit_txid: Txid,
}

/// One burn block and its sortition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BurnBlock {
    /// Burn height.
    pub height: u64,
    /// Block hash.
    pub hash: BurnchainHeaderHash,
    /// Parent block hash.
    pub parent_hash: BurnchainHeaderHash,
    /// The sortition's consensus hash.
    pub consensus_hash: ConsensusHash,
    /// The sortition id.
    pub sortition_id: SortitionId,
    /// The parent sortition id.
    pub parent_sortition_id: SortitionId,
    /// Block time (Unix seconds).
    pub timestamp: u64,
    /// The winner, if the sortition had one.
    pub winner: Option<SortitionWinner>,
    /// The most recent earlier winning sortition in this fork.
    pub last_sortition_ch: Option<ConsensusHash>,
    /// Winning sortitions in this fork up to and including this one.
    pub num_sortitions: u64,
}

impl BurnBlock {
    /// This burn block as `/v3/sortitions` reports it.
    pub fn sortition_info(&self) -> SortitionInfo {
        SortitionInfo {
            burn_block_hash: self.hash,
            burn_block_height: self.height,
            burn_header_timestamp: self.timestamp,
            sortition_id: self.sortition_id,
            parent_sortition_id: self.parent_sortition_id,
            consensus_hash: self.consensus_hash,
            was_sortition: self.winner.is_some(),
            miner_pk_hash160: self.winner.as_ref().map(|w| w.miner_pkh),
            stacks_parent_ch: self.winner.as_ref().map(|w| w.stacks_parent_ch),
            last_sortition_ch: self.last_sortition_ch,
            committed_block_hash: self.winner.as_ref().map(|w| w.committed_block_hash),
            vrf_seed: self.winner.as_ref().map(|w| w.vrf_seed),
        }
    }

    /// The consensus hash of the latest winning sortition at this block: its own if it had a
    /// winner, else `last_sortition_ch`.
    pub fn latest_winning_ch(&self) -> Option<ConsensusHash> {
        if self.winner.is_some() {
            Some(self.consensus_hash)
        } else {
            self.last_sortition_ch
        }
    }
}

/// Every burn block the node knows, across forks, and the canonical tip.
#[derive(Debug, Clone, Default)]
pub struct BurnChain {
    blocks: HashMap<BurnchainHeaderHash, BurnBlock>,
    by_consensus: HashMap<ConsensusHash, BurnchainHeaderHash>,
    by_sortition: HashMap<SortitionId, BurnchainHeaderHash>,
    tip: Option<BurnchainHeaderHash>,
}

impl BurnChain {
    /// Adds `block`; it becomes the tip unless the current tip is strictly higher.
    pub fn append(&mut self, block: BurnBlock) {
        let higher = self.tip().is_none_or(|tip| block.height >= tip.height);
        self.by_consensus.insert(block.consensus_hash, block.hash);
        self.by_sortition.insert(block.sortition_id, block.hash);
        if higher {
            self.tip = Some(block.hash);
        }
        self.blocks.insert(block.hash, block);
    }

    /// The canonical tip.
    pub fn tip(&self) -> Option<&BurnBlock> {
        self.tip.as_ref().and_then(|h| self.blocks.get(h))
    }

    /// Makes `hash` the canonical tip (a reorg), if known.
    pub fn set_tip(&mut self, hash: &BurnchainHeaderHash) -> bool {
        if self.blocks.contains_key(hash) {
            self.tip = Some(*hash);
            true
        } else {
            false
        }
    }

    /// A block by hash.
    pub fn get(&self, hash: &BurnchainHeaderHash) -> Option<&BurnBlock> {
        self.blocks.get(hash)
    }

    /// A block by its consensus hash.
    pub fn by_consensus_hash(&self, ch: &ConsensusHash) -> Option<&BurnBlock> {
        self.by_consensus.get(ch).and_then(|h| self.blocks.get(h))
    }

    /// A block by its sortition id.
    pub fn by_sortition_id(&self, id: &SortitionId) -> Option<&BurnBlock> {
        self.by_sortition.get(id).and_then(|h| self.blocks.get(h))
    }

    /// The block's parent, if known.
    pub fn parent(&self, block: &BurnBlock) -> Option<&BurnBlock> {
        self.blocks.get(&block.parent_hash)
    }

    /// `block` and its known ancestors, newest first.
    pub fn ancestors<'a>(&'a self, block: &'a BurnBlock) -> impl Iterator<Item = &'a BurnBlock> {
        std::iter::successors(Some(block), move |b| self.parent(b))
    }

    /// The canonical block at `height`.
    pub fn canonical_at_height(&self, height: u64) -> Option<&BurnBlock> {
        let tip = self.tip()?;
        self.ancestors(tip).find(|b| b.height == height)
    }

    /// Whether `ch` names a block on the canonical fork.
    pub fn is_canonical(&self, ch: &ConsensusHash) -> bool {
        match (self.by_consensus_hash(ch), self.tip()) {
            (Some(block), Some(_)) => self
                .canonical_at_height(block.height)
                .is_some_and(|c| c.hash == block.hash),
            _ => false,
        }
    }

    /// The latest winning sortition on the canonical fork.
    pub fn latest_winning(&self) -> Option<&BurnBlock> {
        let ch = self.tip()?.latest_winning_ch()?;
        self.by_consensus_hash(&ch)
    }

    /// The consensus hashes of `block` and all its known ancestors.
    pub fn fork_of(&self, block: &BurnBlock) -> std::collections::HashSet<ConsensusHash> {
        self.ancestors(block).map(|b| b.consensus_hash).collect()
    }

    /// Every known block on every fork.
    pub fn all(&self) -> impl Iterator<Item = &BurnBlock> {
        self.blocks.values()
    }
}
