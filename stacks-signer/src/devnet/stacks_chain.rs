//! The simulated Stacks chain: processed Nakamoto blocks by id, the blocks of each tenure,
//! each tenure's burn view, and the canonical tip.

use std::collections::HashMap;

use libsigner::chain::{ConsensusHash, StacksBlockId};

use super::wire::{NakamotoBlock, PoxTreatment};

/// A processed block and what the node recorded when processing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlock {
    /// The block, with its signer signatures.
    pub block: NakamotoBlock,
    /// Its id.
    pub id: StacksBlockId,
    /// The tenure's burn view when the block was processed.
    pub burn_view: ConsensusHash,
    /// Coinbase height (number of tenures) at this block.
    pub tenure_height: u64,
    /// Which reward-set signers signed it.
    pub signer_bitvec: Option<PoxTreatment>,
    /// The reward cycle whose set this block computed, if any.
    pub computed_reward_cycle: Option<u64>,
    /// The reward cycle whose signers signed it.
    pub reward_cycle: u64,
}

impl StoredBlock {
    /// The block's height.
    pub fn height(&self) -> u64 {
        self.block.header.chain_length
    }

    /// The block's tenure.
    pub fn tenure(&self) -> ConsensusHash {
        self.block.header.consensus_hash
    }
}

/// Every processed block and the indexes the RPC endpoints need.
#[derive(Debug, Clone, Default)]
pub struct StacksChain {
    blocks: HashMap<StacksBlockId, StoredBlock>,
    tenures: HashMap<ConsensusHash, Vec<StacksBlockId>>,
    canonical_tip: Option<StacksBlockId>,
}

impl StacksChain {
    /// Adds a processed block; it becomes the canonical tip if it is the highest.
    pub fn append(&mut self, stored: StoredBlock) {
        let id = stored.id;
        let higher = self.tip().is_none_or(|tip| stored.height() > tip.height());
        let tenure = self.tenures.entry(stored.tenure()).or_default();
        if !tenure.contains(&id) {
            tenure.push(id);
        }
        let tenure_ch = stored.tenure();
        self.blocks.insert(id, stored);
        if higher {
            self.canonical_tip = Some(id);
        }
        let blocks = &self.blocks;
        if let Some(ids) = self.tenures.get_mut(&tenure_ch) {
            ids.sort_by_key(|i| blocks.get(i).map(StoredBlock::height));
        }
    }

    /// Re-selects the canonical tip: the highest block whose tenure satisfies `on_fork` (the
    /// tenures of the canonical burn fork). Returns the new tip's id.
    pub fn reselect_tip(
        &mut self,
        on_fork: impl Fn(&ConsensusHash) -> bool,
    ) -> Option<StacksBlockId> {
        self.canonical_tip = self.highest_on(on_fork).map(|b| b.id);
        self.canonical_tip
    }

    /// The highest block whose tenure satisfies `on_fork`; among blocks of equal height the
    /// one with the greatest id, so the choice never depends on hash-map order.
    pub fn highest_on(&self, on_fork: impl Fn(&ConsensusHash) -> bool) -> Option<&StoredBlock> {
        self.blocks
            .values()
            .filter(|b| on_fork(&b.tenure()))
            .max_by_key(|b| (b.height(), b.id))
    }

    /// A block by id.
    pub fn get(&self, id: &StacksBlockId) -> Option<&StoredBlock> {
        self.blocks.get(id)
    }

    /// Whether the block is stored.
    pub fn contains(&self, id: &StacksBlockId) -> bool {
        self.blocks.contains_key(id)
    }

    /// The canonical tip.
    pub fn tip(&self) -> Option<&StoredBlock> {
        self.canonical_tip
            .as_ref()
            .and_then(|id| self.blocks.get(id))
    }

    /// The highest processed block of tenure `ch`.
    pub fn tenure_tip(&self, ch: &ConsensusHash) -> Option<&StoredBlock> {
        self.tenures
            .get(ch)?
            .iter()
            .filter_map(|id| self.blocks.get(id))
            .max_by_key(|b| b.height())
    }

    /// The first block of tenure `ch`.
    pub fn tenure_start(&self, ch: &ConsensusHash) -> Option<&StoredBlock> {
        self.tenures
            .get(ch)?
            .iter()
            .filter_map(|id| self.blocks.get(id))
            .min_by_key(|b| b.height())
    }

    /// Every block of tenure `ch`, lowest first.
    pub fn tenure_blocks(&self, ch: &ConsensusHash) -> Vec<&StoredBlock> {
        self.tenures
            .get(ch)
            .map(|ids| ids.iter().filter_map(|id| self.blocks.get(id)).collect())
            .unwrap_or_default()
    }

    /// Whether any block of tenure `ch` is processed.
    pub fn has_tenure(&self, ch: &ConsensusHash) -> bool {
        self.tenures.get(ch).is_some_and(|ids| !ids.is_empty())
    }

    /// Every stored block.
    pub fn all(&self) -> impl Iterator<Item = &StoredBlock> {
        self.blocks.values()
    }
}
