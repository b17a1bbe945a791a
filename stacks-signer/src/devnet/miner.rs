//! The simulated miner: builds the next block of the current tenure (tenure-start with
//! tenure change and coinbase, a plain block with a transfer, or a tenure extend), optionally
//! with deviations, and proposes it through its `miners` StackerDB slot.

use std::time::Duration;

use libsigner::chain::{
    ConsensusHash, MessageSignature, Sha512Trunc256Sum, StacksBlockId, StacksPrivateKey,
};

use super::activity::{now_ms, Activity};
use super::burnchain::BurnBlock;
use super::stackerdb::{MINERS_DB, MINER_SLOT_COUNT};
use super::state::{sign_as_miner, NodeState};
use super::wire::messages::block_proposal;
use super::wire::{
    NakamotoBlock, PoxTreatment, TenureChangeCause, TenureChangePayload as TenureChange,
};

/// Which kind of block to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// The first block of the latest winner's tenure (tenure change `BlockFound` + coinbase).
    TenureStart,
    /// A further block of the canonical tip's tenure (one STX transfer).
    Continue,
    /// A tenure extend of the canonical tip's tenure with this cause.
    Extend(TenureChangeCause),
}

/// Deviations from the block the miner would normally build (each `None` = normal).
#[derive(Debug, Clone, Default)]
pub struct BlockOverrides {
    /// Block timestamp.
    pub timestamp: Option<u64>,
    /// Parent block id.
    pub parent_block_id: Option<StacksBlockId>,
    /// Tenure consensus hash in the header.
    pub consensus_hash: Option<ConsensusHash>,
    /// Chain length.
    pub chain_length: Option<u64>,
    /// Sign the header with this key instead of the miner's.
    pub miner_key: Option<StacksPrivateKey>,
    /// The `pox_treatment` bit vector.
    pub pox_treatment: Option<PoxTreatment>,
    /// A wrong `tx_merkle_root`.
    pub tx_merkle_root: Option<Sha512Trunc256Sum>,
    /// The tenure change's burn view.
    pub burn_view: Option<ConsensusHash>,
    /// The reward cycle written in the proposal.
    pub reward_cycle: Option<u64>,
    /// Add a second `BlockFound` tenure change to a non-start block.
    pub duplicate_tenure_change: bool,
    /// Replace the miner signature after signing (e.g. one with `r = 0`, from which no key
    /// can be recovered).
    pub miner_signature: Option<MessageSignature>,
}

/// What to propose.
#[derive(Debug, Clone, Default)]
pub struct ProposeOptions {
    /// The block kind (`None`: tenure start if the latest winner's tenure is empty, else
    /// continue).
    pub kind: Option<BlockKind>,
    /// Deviations.
    pub overrides: BlockOverrides,
}

/// A proposal the miner made.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// The proposed block.
    pub block: NakamotoBlock,
    /// Its signer signature hash.
    pub signer_signature_hash: Sha512Trunc256Sum,
    /// The reward cycle in the proposal.
    pub reward_cycle: u64,
    /// The burn height in the proposal.
    pub burn_height: u64,
}

/// Where the next block goes: its tenure, parent and tenure change.
struct BlockPlan {
    tenure_ch: ConsensusHash,
    parent_id: StacksBlockId,
    tenure_change: Option<TenureChange>,
    tip_burn: BurnBlock,
}

impl NodeState {
    /// Builds the next block and writes its `BlockProposal` to the current miner's slot.
    ///
    /// Its timestamp is the override's, or [`NodeState::next_timestamp`] after the parent's,
    /// whatever the clock says: callers that must not run ahead of the clock first ask
    /// [`NodeState::clock_wait`] (as [`crate::devnet::RunningMockNode::propose_block`] does).
    pub fn propose_block(&mut self, opts: &ProposeOptions) -> Result<Proposal, String> {
        let BlockPlan {
            tenure_ch,
            parent_id,
            tenure_change,
            tip_burn,
        } = self.plan_block(opts)?;
        let ov = &opts.overrides;
        let miner_index = self
            .burnchain
            .by_consensus_hash(&tenure_ch)
            .and_then(|b| b.winner.as_ref().map(|w| w.miner_index))
            .unwrap_or(0);
        let parent = self.stacks.get(&parent_id);
        let parent_height = parent.map(|p| p.height()).unwrap_or(0);
        let parent_time = parent.map(|p| p.block.header.timestamp).unwrap_or(0);
        let reward_cycle = ov
            .reward_cycle
            .unwrap_or_else(|| self.config.pox.cycle_of(tip_burn.height));
        let signer_count = self
            .reward_sets
            .get(reward_cycle)
            .map(|s| s.signers.len().clamp(1, 4000) as u16);
        let timestamp = ov
            .timestamp
            .unwrap_or_else(|| self.next_timestamp(parent_time));
        let mut block = self.build_block(
            miner_index,
            ov.consensus_hash.unwrap_or(tenure_ch),
            parent_id,
            ov.chain_length.unwrap_or(parent_height + 1),
            timestamp,
            tenure_change,
            signer_count,
        );
        if let Some(bits) = &ov.pox_treatment {
            block.header.pox_treatment = bits.clone();
        }
        if let Some(root) = ov.tx_merkle_root {
            block.header.tx_merkle_root = root;
        }
        let signing_key = match &ov.miner_key {
            Some(key) => key.clone(),
            None => self
                .miners
                .get(miner_index)
                .map(|m| m.key.clone())
                .ok_or("no such miner")?,
        };
        sign_as_miner(&mut block, &signing_key);
        if let Some(signature) = ov.miner_signature {
            block.header.miner_signature = signature;
        }
        self.submit_proposal(block, tip_burn.height, reward_cycle)
    }

    /// The tenure, parent and tenure change of the block [`NodeState::propose_block`] would
    /// build now (nothing is changed).
    fn plan_block(&self, opts: &ProposeOptions) -> Result<BlockPlan, String> {
        let latest = self
            .burnchain
            .latest_winning()
            .cloned()
            .ok_or("no winning sortition to mine in")?;
        let latest_ch = latest.consensus_hash;
        let kind = opts.kind.unwrap_or(if self.stacks.has_tenure(&latest_ch) {
            BlockKind::Continue
        } else {
            BlockKind::TenureStart
        });
        let tip_burn = self.burn_tip().clone();
        let ov = &opts.overrides;
        if ov.burn_view.is_some() && kind == BlockKind::Continue {
            return Err(super::scenario::BURN_VIEW_WITHOUT_TENURE_CHANGE.into());
        }
        let (tenure_ch, parent_id, tenure_change) = match kind {
            BlockKind::TenureStart => {
                let winner = latest
                    .winner
                    .as_ref()
                    .ok_or("latest sortition has no winner")?;
                let parent_tenure = winner.stacks_parent_ch;
                let parent = self
                    .stacks
                    .tenure_tip(&parent_tenure)
                    .or_else(|| self.stacks.tip())
                    .ok_or("no parent block")?;
                let parent_id = ov.parent_block_id.unwrap_or(parent.id);
                let prev_blocks = self.stacks.tenure_blocks(&parent.tenure()).len() as u32;
                let tc = TenureChange {
                    tenure_consensus_hash: latest_ch,
                    prev_tenure_consensus_hash: parent.tenure(),
                    burn_view_consensus_hash: ov.burn_view.unwrap_or(tip_burn.consensus_hash),
                    previous_tenure_end: parent_id,
                    previous_tenure_blocks: prev_blocks,
                    cause: TenureChangeCause::BlockFound,
                    pubkey_hash: winner.miner_pkh,
                };
                (latest_ch, parent_id, Some(tc))
            }
            BlockKind::Continue | BlockKind::Extend(_) => {
                let tip = self.stacks.tip().ok_or("no Stacks tip")?;
                let tenure = tip.tenure();
                let parent_id = ov.parent_block_id.unwrap_or(tip.id);
                let tc = match kind {
                    BlockKind::Extend(cause) => Some(TenureChange {
                        tenure_consensus_hash: tenure,
                        prev_tenure_consensus_hash: tenure,
                        burn_view_consensus_hash: ov.burn_view.unwrap_or(tip_burn.consensus_hash),
                        previous_tenure_end: tip.id,
                        previous_tenure_blocks: self.stacks.tenure_blocks(&tenure).len() as u32,
                        cause,
                        pubkey_hash: self.tenure_miner_pkh(&tenure).unwrap_or_default(),
                    }),
                    _ if ov.duplicate_tenure_change => {
                        let start = self.stacks.tenure_start(&tenure).ok_or("empty tenure")?;
                        // A second, well-formed block-found tenure change for the same
                        // tenure: it continues the current tip.
                        start
                            .block
                            .try_get_tenure_change_payload()
                            .cloned()
                            .map(|mut tc| {
                                tc.previous_tenure_end = parent_id;
                                tc
                            })
                    }
                    _ => None,
                };
                (tenure, parent_id, tc)
            }
        };
        Ok(BlockPlan {
            tenure_ch,
            parent_id,
            tenure_change,
            tip_burn,
        })
    }

    /// How long the miner must wait before proposing the block `opts` describes, so that its
    /// timestamp is not ahead of the node's clock: `None` when it may go now (always with a
    /// `timestamp` override, which is proposed as written, and on the fixed clock, which
    /// moves with the chain only). A block is stamped `now - timestamp_lag_secs`, or one
    /// second after its parent if that is later; once a run has used up the lag by mining
    /// faster than one block per second, the next timestamp would be in the future.
    pub fn clock_wait(&self, opts: &ProposeOptions) -> Result<Option<Duration>, String> {
        if opts.overrides.timestamp.is_some() || self.config.fixed_clock_secs.is_some() {
            return Ok(None);
        }
        let plan = self.plan_block(opts)?;
        let parent_time = self
            .stacks
            .get(&plan.parent_id)
            .map(|p| p.block.header.timestamp)
            .unwrap_or(0);
        let timestamp = self.next_timestamp(parent_time);
        let now_ms = now_ms();
        let due_ms = timestamp.saturating_mul(1000);
        Ok((due_ms > now_ms).then(|| Duration::from_millis(due_ms - now_ms)))
    }

    /// Writes `block` as a `BlockProposal` into its miner's `miners` slot: the slot of the
    /// miner whose key signed the block if that miner owns one (the current or the previous
    /// sortition winner), else the current winner's.
    pub fn submit_proposal(
        &mut self,
        block: NakamotoBlock,
        burn_height: u64,
        reward_cycle: u64,
    ) -> Result<Proposal, String> {
        let index = self
            .proposer_slot_index(&block)
            .or_else(|| self.current_miner_slot_index())
            .ok_or("no current miner slot")?;
        let key = self
            .miner_key_for_slot(index)
            .ok_or("the current sortition winner is not a simulated miner")?;
        let data = block_proposal(
            &block,
            burn_height,
            reward_cycle,
            &self.config.server_version.clone(),
        );
        let hash = block.header.signer_signature_hash();
        self.activity.emit(Activity::BlockProposed {
            signer_signature_hash: hash,
            height: block.header.chain_length,
            reward_cycle,
        });
        let ack = self
            .write_internal(MINERS_DB, index * MINER_SLOT_COUNT, &key, data)
            .map_err(|_| "miners StackerDB missing".to_string())?;
        if !ack.accepted {
            return Err(format!(
                "miners slot refused the proposal: {:?}",
                ack.reason
            ));
        }
        Ok(Proposal {
            block,
            signer_signature_hash: hash,
            reward_cycle,
            burn_height,
        })
    }

    /// Hash160 of the key of tenure `ch`'s winner.
    pub fn tenure_miner_pkh(&self, ch: &ConsensusHash) -> Option<libsigner::chain::Hash160> {
        self.burnchain
            .by_consensus_hash(ch)?
            .winner
            .as_ref()
            .map(|w| w.miner_pkh)
    }
}
