//! Answers to the node RPCs on the proposal path, kept between the events that change them,
//! so that judging a proposal rarely waits on the node.
//!
//! What is kept, and what refreshes it:
//! * `latest_and_last` (the current and last sortitions): fetched once per burn block. A new
//!   burn block clears it; [`NodeRpc::invalidate_sortitions`] (a view reset) forces a fetch.
//! * each tenure's tip (height, block id, signer signature hash, burn view): fetched on first
//!   use, then advanced by the node's `/new_block` events of that tenure (the burn view from
//!   the block's tenure-change transaction, else kept). A new burn block clears them all, so
//!   a burn fork never leaves a tip of the abandoned fork behind.
//! * the highest Stacks block height the node reported or announced, for "has the node
//!   processed this proposal's parent?".
//!
//! Everything else goes to the node every time. The node announces a processed block before
//! any proposal that builds on it (its event queue is ordered), so a tip advanced by events
//! is the tip the node would have answered. The tenure-extend check still asks the node for
//! the tip every time ([`NodeRpc::get_tenure_tip_from_node`]): the reference refuses an
//! extend when the node cannot answer, whatever this signer learnt from events.

use std::cell::RefCell;
use std::collections::HashMap;

use libsigner::chain::{
    ConsensusHash, Sha512Trunc256Sum, StacksAddress, StacksBlockId, StacksTransaction,
    TransactionPayload,
};
use libsigner::v0::messages::PeerInfo;

use super::node::{CurrentAndLastSortition, NodeRpc, TenureTip};
use crate::client::api::TenureForkingInfo;
use crate::client::{ClientError, RewardCycleInfo};

/// What the cache holds about one tenure's tip.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CachedTip {
    height: u64,
    block_id: StacksBlockId,
    signer_signature_hash: Option<Sha512Trunc256Sum>,
    /// `None` until the node was asked or a block with a tenure change named it.
    burn_view: Option<Option<ConsensusHash>>,
}

impl From<&TenureTip> for CachedTip {
    fn from(tip: &TenureTip) -> Self {
        Self {
            height: tip.height,
            block_id: tip.block_id,
            signer_signature_hash: tip.signer_signature_hash,
            burn_view: Some(tip.burn_view),
        }
    }
}

/// The cached answers; see the [module documentation](self). Shared by the signer instances
/// of both reward cycles.
#[derive(Debug, Default)]
pub struct NodeCache {
    burn_block: Option<ConsensusHash>,
    sortitions: Option<CurrentAndLastSortition>,
    tenure_tips: HashMap<ConsensusHash, CachedTip>,
    stacks_tip_height: u64,
}

impl NodeCache {
    /// A burn block arrived (`/new_burn_block`): forgets the sortitions and the tenure tips,
    /// once per burn block however many signer instances report it.
    pub fn on_burn_block(&mut self, consensus_hash: &ConsensusHash) {
        if self.burn_block.as_ref() == Some(consensus_hash) {
            return;
        }
        self.burn_block = Some(*consensus_hash);
        self.sortitions = None;
        self.tenure_tips.clear();
    }

    /// The node processed a block (`/new_block`): advances its tenure's tip.
    pub fn on_stacks_block(
        &mut self,
        consensus_hash: &ConsensusHash,
        height: u64,
        block_id: &StacksBlockId,
        signer_signature_hash: &Sha512Trunc256Sum,
        transactions: &[StacksTransaction],
    ) {
        self.stacks_tip_height = self.stacks_tip_height.max(height);
        let named_burn_view = transactions.first().and_then(|tx| match &tx.payload {
            TransactionPayload::TenureChange(tc) => Some(tc.burn_view_consensus_hash),
            _ => None,
        });
        let entry = self.tenure_tips.get(consensus_hash);
        if entry.is_some_and(|tip| tip.height >= height) {
            return;
        }
        let inherited = entry.and_then(|tip| tip.burn_view);
        let burn_view = named_burn_view.map(Some).or(inherited);
        self.tenure_tips.insert(
            *consensus_hash,
            CachedTip {
                height,
                block_id: *block_id,
                signer_signature_hash: Some(*signer_signature_hash),
                burn_view,
            },
        );
    }

    /// The highest Stacks block height the node reported or announced.
    pub fn stacks_tip_height(&self) -> u64 {
        self.stacks_tip_height
    }

    fn cached_tip(&self, consensus_hash: &ConsensusHash) -> Option<TenureTip> {
        let tip = self.tenure_tips.get(consensus_hash)?;
        Some(TenureTip {
            height: tip.height,
            block_id: tip.block_id,
            signer_signature_hash: tip.signer_signature_hash,
            burn_view: tip.burn_view?,
        })
    }
}

/// A [`NodeRpc`] answering from a [`NodeCache`] where it can and from `node` otherwise.
pub struct CachedNode<'a> {
    node: &'a dyn NodeRpc,
    cache: &'a RefCell<NodeCache>,
}

impl<'a> CachedNode<'a> {
    /// `node` behind `cache`.
    pub fn new(node: &'a dyn NodeRpc, cache: &'a RefCell<NodeCache>) -> Self {
        Self { node, cache }
    }
}

impl NodeRpc for CachedNode<'_> {
    fn signer_address(&self) -> &StacksAddress {
        self.node.signer_address()
    }

    fn get_peer_info(&self) -> Result<PeerInfo, ClientError> {
        let info = self.node.get_peer_info()?;
        let mut cache = self.cache.borrow_mut();
        cache.stacks_tip_height = cache.stacks_tip_height.max(info.stacks_tip_height);
        Ok(info)
    }

    fn get_current_and_last_sortition(&self) -> Result<CurrentAndLastSortition, ClientError> {
        if let Some(sortitions) = &self.cache.borrow().sortitions {
            return Ok(sortitions.clone());
        }
        let sortitions = self.node.get_current_and_last_sortition()?;
        self.cache.borrow_mut().sortitions = Some(sortitions.clone());
        Ok(sortitions)
    }

    fn invalidate_sortitions(&self) {
        self.cache.borrow_mut().sortitions = None;
    }

    fn get_tenure_tip(&self, consensus_hash: &ConsensusHash) -> Result<TenureTip, ClientError> {
        if let Some(tip) = self.cache.borrow().cached_tip(consensus_hash) {
            return Ok(tip);
        }
        let tip = self.node.get_tenure_tip(consensus_hash)?;
        let mut cache = self.cache.borrow_mut();
        cache
            .tenure_tips
            .insert(*consensus_hash, CachedTip::from(&tip));
        cache.stacks_tip_height = cache.stacks_tip_height.max(tip.height);
        Ok(tip)
    }

    fn get_tenure_tip_from_node(
        &self,
        consensus_hash: &ConsensusHash,
    ) -> Result<TenureTip, ClientError> {
        self.node.get_tenure_tip(consensus_hash)
    }

    fn get_tenure_forking_info(
        &self,
        chosen_parent: &ConsensusHash,
        last_sortition: &ConsensusHash,
    ) -> Result<Vec<TenureForkingInfo>, ClientError> {
        self.node
            .get_tenure_forking_info(chosen_parent, last_sortition)
    }

    fn get_current_reward_cycle_info(&self) -> Result<RewardCycleInfo, ClientError> {
        self.node.get_current_reward_cycle_info()
    }
}
