//! The node's whole state behind one lock: burn chain, Stacks chain, reward sets, StackerDBs,
//! miners, proposals awaiting signatures, validator knobs, and the events produced by the
//! last operation (flushed to the dispatcher in order by the caller).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use libsigner::chain::{
    BlockHeaderHash, BurnchainHeaderHash, ConsensusHash, Hash160, MessageSignature,
    QualifiedContractIdentifier, Sha256Sum, Sha512Trunc256Sum, SortitionId, StacksAddress,
    StacksBlockId, StacksPrivateKey, StacksPublicKey, Txid, VRFSeed,
};
use serde_json::Value;

use super::activity::{now_secs, Activity, ActivityLog, ChunkSource};
use super::burnchain::{BurnBlock, BurnChain, SortitionWinner};
use super::config::MockNodeConfig;
use super::dispatcher::EventPath;
use super::entropy::Entropy;
use super::overrides::{RequestCounts, RpcOverrides};
use super::payloads;
use super::reward_sets::{RewardSet, RewardSets};
use super::stackerdb::{signers_db_name, StackerDbs, MINERS_DB, MINER_SLOT_COUNT};
use super::stacks_chain::{StacksChain, StoredBlock};
use super::validator::ValidationControl;
use super::wire::{
    messages, pox_treatment_ones, pox_treatment_zeros, tx, NakamotoBlock, NakamotoBlockHeader,
    PoxTreatment, SignerMessage, TenureChangeCause, TenureChangePayload as TenureChange,
};
use crate::client::api::{SlotMetadata, StackerDBChunkAckData, StackerDBChunkData};
use libsigner::v0::messages::BlockResponse;

/// Burn amount of every simulated block commit.
pub const MOCK_BURN_SPENT: u64 = 20_000;

/// A simulated miner.
#[derive(Debug, Clone)]
pub struct MinerState {
    /// The block-signing key.
    pub key: StacksPrivateKey,
    /// Hash160 of its compressed public key.
    pub pkh: Hash160,
    /// Its p2pkh address.
    pub address: StacksAddress,
    /// The next transaction nonce.
    pub nonce: u64,
}

impl MinerState {
    fn new(key: StacksPrivateKey, mainnet: bool) -> Self {
        let pk = StacksPublicKey::from_private(&key);
        MinerState {
            pkh: Hash160::from_node_public_key(&pk),
            address: StacksAddress::p2pkh(mainnet, &pk),
            key,
            nonce: 0,
        }
    }
}

/// A proposed block collecting signatures.
#[derive(Debug, Clone)]
pub struct PendingBlock {
    /// The proposed block (without signer signatures).
    pub block: NakamotoBlock,
    /// The reward cycle whose signers sign it.
    pub reward_cycle: u64,
    /// The burn height the proposal was made at.
    pub burn_height: u64,
    /// Signatures collected so far, by signer id.
    pub signatures: BTreeMap<usize, MessageSignature>,
    /// Signer ids that sent a pre-commit.
    pub pre_commits: BTreeSet<usize>,
    /// Whether the block was processed.
    pub processed: bool,
    /// The node's clock when the proposal arrived (the simulated signers' `proposed_time`).
    pub proposed_at: u64,
    /// The node's clock when the simulated signers accepted it, if they did.
    pub accepted_at: Option<u64>,
}

/// How [`NodeState::advance_burn_block`] builds the next burn block.
#[derive(Debug, Clone, Default)]
pub struct BurnBlockOptions {
    /// The winning miner (index into the miner list), or no sortition.
    pub winner: Option<usize>,
    /// Build on this burn block instead of the tip (a fork).
    pub parent: Option<BurnchainHeaderHash>,
    /// The tenure the winner builds on (default: the canonical Stacks tip's tenure).
    pub stacks_parent_ch: Option<ConsensusHash>,
    /// Block time (default: now).
    pub timestamp: Option<u64>,
}

/// Why a chunk could not be written at all (the HTTP layer answers 404).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoSuchStackerDb;

/// The node's state.
pub struct NodeState {
    /// The configuration it started with.
    pub config: MockNodeConfig,
    /// Generator of invented hashes.
    pub entropy: Entropy,
    /// The burn chain.
    pub burnchain: BurnChain,
    /// The Stacks chain.
    pub stacks: StacksChain,
    /// Computed reward sets.
    pub reward_sets: RewardSets,
    /// StackerDB replicas.
    pub stackerdbs: StackerDbs,
    /// Simulated miners.
    pub miners: Vec<MinerState>,
    /// Proposals by signer signature hash.
    pub pending: HashMap<Sha512Trunc256Sum, PendingBlock>,
    /// Validator knobs.
    pub validation: ValidationControl,
    /// Events produced and not yet handed to the dispatcher.
    pub outbox: Vec<(EventPath, Value)>,
    /// Activity subscribers.
    pub activity: ActivityLog,
    /// Proposals the simulated signers have not looked at yet.
    pub signer_jobs: Vec<Sha512Trunc256Sum>,
    /// Whether the miner processes a block itself once signed (else it waits for uploads).
    pub miner_broadcasts: bool,
    /// Whether blocks uploaded to `/v3/blocks/upload` are processed (otherwise they are
    /// answered as accepted and only recorded, so a test can keep a block unprocessed).
    pub process_uploads: bool,
    /// The last state-machine update the simulated signers of each cycle published.
    pub published_views: HashMap<u64, Vec<u8>>,
    /// Whether puppet signers act like simulated ones (vote and publish updates by
    /// themselves) for now.
    pub puppet_autopilot: bool,
    /// RPC answers a test substituted for the node's.
    pub overrides: RpcOverrides,
    /// Requests received, per method and path.
    pub requests: RequestCounts,
    coinbase_height: u64,
}

impl NodeState {
    /// A node seeded as the spec's §6.1 says: two past winning sortitions, each with one
    /// tenure-start block, and the reward sets of the current (and, in its prepare phase,
    /// the next) cycle.
    pub fn new(config: MockNodeConfig) -> Result<Self, String> {
        config.validate()?;
        let miners = config
            .miners
            .iter()
            .map(|k| MinerState::new(k.clone(), config.mainnet))
            .collect();
        let mut state = NodeState {
            entropy: Entropy::new(config.seed),
            burnchain: BurnChain::default(),
            stacks: StacksChain::default(),
            reward_sets: RewardSets::default(),
            stackerdbs: StackerDbs::new(),
            miners,
            pending: HashMap::new(),
            validation: ValidationControl {
                delay: std::time::Duration::from_millis(config.validation_delay_ms),
                ..ValidationControl::default()
            },
            outbox: Vec::new(),
            activity: ActivityLog::default(),
            signer_jobs: Vec::new(),
            miner_broadcasts: true,
            process_uploads: true,
            published_views: HashMap::new(),
            puppet_autopilot: false,
            overrides: RpcOverrides::default(),
            requests: RequestCounts::default(),
            coinbase_height: 0,
            config,
        };
        state.seed_genesis()?;
        state.outbox.clear();
        Ok(state)
    }

    fn seed_genesis(&mut self) -> Result<(), String> {
        let h1 = self.config.start_burn_height;
        let pox = self.config.pox;
        let mut cycles = vec![pox.cycle_of(h1)];
        if let Some(next) = pox.cycle_computed_at(h1) {
            cycles.push(next);
        }
        for cycle in cycles {
            self.compute_reward_set(cycle);
        }
        let now = self
            .now_secs()
            .saturating_sub(self.config.timestamp_lag_secs);
        let first_parent = BurnchainHeaderHash(self.entropy.next32("genesis-parent"));
        let first_parent_sortition = SortitionId(self.entropy.next32("genesis-parent-sortition"));
        let miners = self.miners.len();
        let mut parent_hash = first_parent;
        let mut parent_sortition = first_parent_sortition;
        let mut last_ch: Option<ConsensusHash> = None;
        let mut parent_block = first_mined_block_id();
        let mut prev_blocks = 0u32;
        for (i, height) in [h1 - 1, h1].into_iter().enumerate() {
            let miner_index = i % miners;
            let ch = ConsensusHash(self.entropy.next20("consensus"));
            let burn = BurnBlock {
                height,
                hash: BurnchainHeaderHash(self.entropy.next32("burn")),
                parent_hash,
                consensus_hash: ch,
                sortition_id: SortitionId(self.entropy.next32("sortition")),
                parent_sortition_id: parent_sortition,
                timestamp: now.saturating_sub(20 - 10 * i as u64),
                winner: Some(SortitionWinner {
                    miner_index,
                    miner_pkh: self.miners[miner_index].pkh,
                    stacks_parent_ch: last_ch.unwrap_or(ConsensusHash::zero()),
                    committed_block_hash: BlockHeaderHash::zero(),
                    vrf_seed: VRFSeed(self.entropy.next32("vrf")),
                    burn_spent: MOCK_BURN_SPENT,
                    commit_txid: Txid(self.entropy.next32("commit")),
                }),
                last_sortition_ch: Some(last_ch.unwrap_or(ConsensusHash::zero())),
                num_sortitions: i as u64 + 1,
            };
            parent_hash = burn.hash;
            parent_sortition = burn.sortition_id;
            self.burnchain.append(burn);
            let tenure_change = TenureChange {
                tenure_consensus_hash: ch,
                prev_tenure_consensus_hash: last_ch.unwrap_or(ConsensusHash::zero()),
                burn_view_consensus_hash: ch,
                previous_tenure_end: parent_block,
                previous_tenure_blocks: prev_blocks,
                cause: TenureChangeCause::BlockFound,
                pubkey_hash: self.miners[miner_index].pkh,
            };
            let cycle = pox.cycle_of(height);
            let signer_count = self
                .reward_sets
                .get(cycle)
                .map(|s| s.signers.len().clamp(1, 4000) as u16);
            let block = self.build_block(
                miner_index,
                ch,
                parent_block,
                i as u64 + 1,
                now.saturating_sub(15 - 10 * i as u64),
                Some(tenure_change),
                signer_count,
            );
            let id = self.process_block(block, cycle)?;
            parent_block = id;
            prev_blocks = 1;
            last_ch = Some(ch);
        }
        self.reconfigure_miners();
        Ok(())
    }

    /// The node's clock, in seconds since the Unix epoch: the wall clock, or with
    /// [`MockNodeConfig::fixed_clock_secs`] that instant, moved to one second after the newest
    /// burn tip or canonical Stacks tip timestamp when that is later (so it depends only on
    /// the state, and runs repeat).
    pub fn now_secs(&self) -> u64 {
        let Some(start) = self.config.fixed_clock_secs else {
            return now_secs();
        };
        let burn = self.burnchain.tip().map(|b| b.timestamp);
        let stacks = self.stacks.tip().map(|b| b.block.header.timestamp);
        match burn.max(stacks) {
            Some(newest) => start.max(newest.saturating_add(1)),
            None => start,
        }
    }

    /// A timestamp for something whose predecessor is at `previous`: strictly later, and
    /// `now - timestamp_lag_secs` when that is later still (the lag lets bursts of blocks
    /// keep increasing timestamps without running into the future).
    pub fn next_timestamp(&self, previous: u64) -> u64 {
        self.now_secs()
            .saturating_sub(self.config.timestamp_lag_secs)
            .max(previous.saturating_add(1))
    }

    /// The boot contract `name` of this network.
    pub fn boot_contract(&self, name: &str) -> Option<QualifiedContractIdentifier> {
        QualifiedContractIdentifier::boot_contract(name, self.config.mainnet).ok()
    }

    /// The canonical burn tip (always present after genesis).
    pub fn burn_tip(&self) -> &BurnBlock {
        // Genesis always adds two burn blocks, so a tip exists.
        self.burnchain.tip().expect("genesis seeds the burn chain")
    }

    /// The reward cycle of the burn tip.
    pub fn current_cycle(&self) -> u64 {
        self.config.pox.cycle_of(self.burn_tip().height)
    }

    /// Computes (if not yet) and stores `cycle`'s reward set, and reconfigures the signer
    /// StackerDBs of its parity. Returns whether it was newly computed.
    pub fn compute_reward_set(&mut self, cycle: u64) -> bool {
        if self.reward_sets.is_computed(cycle) {
            return false;
        }
        let set = RewardSet::compute(
            cycle,
            self.config.signers_for_cycle(cycle),
            self.config.pox_ustx_threshold,
        );
        let owners: Vec<Hash160> = set.signers.iter().map(|s| s.key_hash).collect();
        self.stackerdbs.reconfigure_signers(cycle % 2, &owners);
        self.reward_sets.insert(set);
        self.activity.emit(Activity::RewardSetComputed { cycle });
        true
    }

    /// The reward set `/v3/stacker_set/{cycle}` reports: the computed set, or for a past cycle
    /// older than every computed one (before genesis) the configured set; `None` for a cycle
    /// not computed yet.
    pub fn reward_set_json(&self, cycle: u64) -> Option<crate::client::api::RewardSet> {
        if let Some(set) = self.reward_sets.get(cycle) {
            return Some(set.to_json());
        }
        let oldest = self.reward_sets.first_cycle()?;
        (cycle < oldest).then(|| {
            RewardSet::compute(
                cycle,
                self.config.signers_for_cycle(cycle),
                self.config.pox_ustx_threshold,
            )
            .to_json()
        })
    }

    /// The owners of the `miners` slots at the burn tip (§4.2): the last two winners,
    /// ordered by the parity of the last one's sortition count.
    pub fn miner_slot_owners(&self) -> Vec<Hash160> {
        let Some(last) = self.burnchain.latest_winning() else {
            return Vec::new();
        };
        let last_pkh = last
            .winner
            .as_ref()
            .map(|w| w.miner_pkh)
            .unwrap_or_default();
        let prev_pkh = last
            .last_sortition_ch
            .and_then(|ch| self.burnchain.by_consensus_hash(&ch))
            .and_then(|b| b.winner.as_ref().map(|w| w.miner_pkh))
            .unwrap_or_default();
        if last.num_sortitions % 2 == 0 {
            vec![last_pkh, prev_pkh]
        } else {
            vec![prev_pkh, last_pkh]
        }
    }

    /// The `miners` slot index (0 or 1) of the current sortition winner.
    pub fn current_miner_slot_index(&self) -> Option<u32> {
        let last = self.burnchain.latest_winning()?;
        Some(if last.num_sortitions % 2 == 0 { 0 } else { 1 })
    }

    fn reconfigure_miners(&mut self) {
        let owners = self.miner_slot_owners();
        self.stackerdbs.reconfigure_miners(&owners);
    }

    /// Appends a burn block (see [`BurnBlockOptions`]); if it becomes the tip, updates the
    /// miners' slots and emits `/new_burn_block`.
    pub fn advance_burn_block(&mut self, opts: &BurnBlockOptions) -> Result<BurnBlock, String> {
        let parent = match &opts.parent {
            Some(hash) => self
                .burnchain
                .get(hash)
                .ok_or_else(|| format!("unknown parent burn block {hash}"))?
                .clone(),
            None => self.burn_tip().clone(),
        };
        let winner = match opts.winner {
            Some(index) => {
                let miner = self
                    .miners
                    .get(index)
                    .ok_or_else(|| format!("no miner {index}"))?;
                let fork = self.burnchain.fork_of(&parent);
                let stacks_parent_ch = opts
                    .stacks_parent_ch
                    .or_else(|| {
                        self.stacks
                            .highest_on(|ch| fork.contains(ch))
                            .map(|t| t.tenure())
                    })
                    .unwrap_or(ConsensusHash::zero());
                let committed_block_hash = self
                    .stacks
                    .tenure_start(&stacks_parent_ch)
                    .map(|b| b.block.header.block_hash())
                    .unwrap_or(BlockHeaderHash::zero());
                Some(SortitionWinner {
                    miner_index: index,
                    miner_pkh: miner.pkh,
                    stacks_parent_ch,
                    committed_block_hash,
                    vrf_seed: VRFSeed(self.entropy.next32("vrf")),
                    burn_spent: MOCK_BURN_SPENT,
                    commit_txid: Txid(self.entropy.next32("commit")),
                })
            }
            None => None,
        };
        let block = BurnBlock {
            height: parent.height + 1,
            hash: BurnchainHeaderHash(self.entropy.next32("burn")),
            parent_hash: parent.hash,
            consensus_hash: ConsensusHash(self.entropy.next20("consensus")),
            sortition_id: SortitionId(self.entropy.next32("sortition")),
            parent_sortition_id: parent.sortition_id,
            timestamp: opts
                .timestamp
                .unwrap_or_else(|| self.next_timestamp(parent.timestamp)),
            num_sortitions: parent.num_sortitions + u64::from(winner.is_some()),
            last_sortition_ch: parent.latest_winning_ch(),
            winner,
        };
        self.burnchain.append(block.clone());
        self.activity.emit(Activity::BurnBlock {
            height: block.height,
            consensus_hash: block.consensus_hash,
            winner: block.winner.as_ref().map(|w| w.miner_index),
        });
        if self.burn_tip().hash == block.hash {
            let fork = self.burnchain.fork_of(&block);
            self.stacks.reselect_tip(|ch| fork.contains(ch));
            self.reconfigure_miners();
            let pox = self.config.pox;
            if pox.reward_index(block.height) == 0 {
                self.compute_reward_set(pox.cycle_of(block.height));
            }
            self.outbox
                .push((EventPath::NewBurnBlock, payloads::new_burn_block(&block)));
        }
        Ok(block)
    }

    /// Makes the known burn block `hash` the canonical tip (a reorg to another fork, possibly a
    /// lower one): re-selects the Stacks tip and the miners' slots, then emits
    /// `/new_burn_block` for it.
    pub fn set_burn_tip(&mut self, hash: &BurnchainHeaderHash) -> Result<BurnBlock, String> {
        if !self.burnchain.set_tip(hash) {
            return Err(format!("unknown burn block {hash}"));
        }
        let block = self.burn_tip().clone();
        self.activity.emit(Activity::BurnTipSet {
            height: block.height,
            consensus_hash: block.consensus_hash,
            burn_header_hash: block.hash,
        });
        let fork = self.burnchain.fork_of(&block);
        self.stacks.reselect_tip(|ch| fork.contains(ch));
        self.reconfigure_miners();
        self.outbox
            .push((EventPath::NewBurnBlock, payloads::new_burn_block(&block)));
        Ok(block)
    }

    /// Builds and miner-signs a block; `tenure_change` makes it a tenure-start (with a
    /// coinbase) or tenure-extend block, otherwise it carries one STX transfer.
    #[allow(clippy::too_many_arguments)]
    pub fn build_block(
        &mut self,
        miner_index: usize,
        consensus_hash: ConsensusHash,
        parent_block_id: StacksBlockId,
        chain_length: u64,
        timestamp: u64,
        tenure_change: Option<TenureChange>,
        signer_count: Option<u16>,
    ) -> NakamotoBlock {
        let mainnet = self.config.mainnet;
        let chain_id = self.config.chain_id;
        let tag = self.entropy.next32("coinbase");
        let count = self.miners.len();
        let miner = &mut self.miners[miner_index % count];
        let mut txs = Vec::new();
        match tenure_change {
            Some(tc) => {
                let is_start = tc.cause == TenureChangeCause::BlockFound;
                txs.push(tx::tenure_change(
                    &miner.key,
                    mainnet,
                    chain_id,
                    miner.nonce,
                    &tc,
                ));
                miner.nonce += 1;
                if is_start {
                    txs.push(tx::nakamoto_coinbase(
                        &miner.key,
                        mainnet,
                        chain_id,
                        miner.nonce,
                        tag,
                    ));
                    miner.nonce += 1;
                }
            }
            None => {
                txs.push(tx::token_transfer(
                    &miner.key,
                    mainnet,
                    chain_id,
                    miner.nonce,
                    &StacksAddress::burn_address(mainnet),
                    1000,
                ));
                miner.nonce += 1;
            }
        }
        let key = miner.key.clone();
        let mut block = NakamotoBlock {
            header: NakamotoBlockHeader {
                version: 0,
                chain_length,
                burn_spent: MOCK_BURN_SPENT,
                consensus_hash,
                parent_block_id,
                tx_merkle_root: Sha512Trunc256Sum::zero(),
                state_index_root: libsigner::chain::TrieHash(self.entropy.next32("marf")),
                timestamp,
                miner_signature: MessageSignature::empty(),
                signer_signature: Vec::new(),
                pox_treatment: pox_treatment_ones(usize::from(signer_count.unwrap_or(1))),
            },
            txs,
        };
        block.header.tx_merkle_root = block.compute_tx_merkle_root();
        sign_as_miner(&mut block, &key);
        block
    }

    /// The burn view of tenure `ch` (its tip's), if it has blocks.
    pub fn tenure_burn_view(&self, ch: &ConsensusHash) -> Option<ConsensusHash> {
        self.stacks.tenure_tip(ch).map(|b| b.burn_view)
    }

    /// Checks the block's signer signatures against `cycle`'s reward set: each must recover
    /// to a member, in reward-set order, without repeats. Returns the signed weight and the
    /// bit vector of who signed.
    pub fn verify_signer_signatures(
        &self,
        block: &NakamotoBlock,
        cycle: u64,
    ) -> Result<(u64, PoxTreatment), String> {
        let set = self
            .reward_sets
            .get(cycle)
            .ok_or_else(|| format!("No reward set for cycle {cycle}"))?;
        let hash = block.header.signer_signature_hash();
        let mut bits = pox_treatment_zeros(set.signers.len());
        let mut weight = 0u64;
        let mut last: Option<usize> = None;
        for sig in &block.header.signer_signature {
            let pk = StacksPublicKey::recover_to_pubkey(&hash.0, sig)
                .map_err(|e| format!("Unrecoverable signer signature: {e}"))?;
            let index = set
                .index_of_key(&pk)
                .ok_or_else(|| "Signer signature from a key outside the reward set".to_string())?;
            if last.is_some_and(|l| l >= index) {
                return Err("Signer signatures are not in reward-set order".into());
            }
            last = Some(index);
            let _ = bits.set(index as u16, true);
            weight += set
                .signers
                .get(index)
                .map(|s| u64::from(s.weight))
                .unwrap_or(0);
        }
        Ok((weight, bits))
    }

    /// Appends a block (its parent must be stored), updates tenure tips and the canonical
    /// tip, computes a reward set if the block's burn view is in a prepare phase, and emits
    /// `/new_block`. A block already stored is left alone.
    pub fn process_block(
        &mut self,
        block: NakamotoBlock,
        reward_cycle: u64,
    ) -> Result<StacksBlockId, String> {
        let id = block.header.block_id();
        if self.stacks.contains(&id) {
            return Ok(id);
        }
        let parent = self.stacks.get(&block.header.parent_block_id).cloned();
        if parent.is_none() && block.header.parent_block_id != first_mined_block_id() {
            return Err("Unknown parent block".into());
        }
        let tenure_ch = block.header.consensus_hash;
        let tc = block.try_get_tenure_change_payload().cloned();
        let burn_view = match &tc {
            Some(tc) => tc.burn_view_consensus_hash,
            // As the node's `get_block_burn_view`: the parent's burn view.
            None => parent
                .as_ref()
                .map(|p| p.burn_view)
                .or_else(|| self.tenure_burn_view(&tenure_ch))
                .unwrap_or(tenure_ch),
        };
        let is_start = tc
            .as_ref()
            .is_some_and(|t| t.cause == TenureChangeCause::BlockFound);
        let tenure_height = if is_start {
            self.coinbase_height += 1;
            self.coinbase_height
        } else {
            parent
                .as_ref()
                .map(|p| p.tenure_height)
                .unwrap_or(self.coinbase_height)
        };
        let signer_bitvec = if block.header.signer_signature.is_empty() {
            None
        } else {
            self.verify_signer_signatures(&block, reward_cycle)
                .ok()
                .map(|(_, bits)| bits)
        };
        let computed_reward_cycle = self
            .burnchain
            .by_consensus_hash(&burn_view)
            .and_then(|b| self.config.pox.cycle_computed_at(b.height))
            .filter(|cycle| self.compute_reward_set(*cycle));
        let stored = StoredBlock {
            block,
            id,
            burn_view,
            tenure_height,
            signer_bitvec,
            computed_reward_cycle,
            reward_cycle,
        };
        self.stacks.append(stored.clone());
        let fork = self.burnchain.fork_of(self.burn_tip());
        self.stacks.reselect_tip(|ch| fork.contains(ch));
        let Some(burn_block) = self.burnchain.by_consensus_hash(&tenure_ch) else {
            return Ok(id);
        };
        let ctx = payloads::NewBlockContext {
            burn_block,
            parent_burn_block: self.burnchain.parent(burn_block),
            parent: parent.as_ref(),
            computed_reward_set: computed_reward_cycle.and_then(|c| self.reward_sets.get(c)),
        };
        let body = payloads::new_block(&stored, &ctx);
        self.outbox.push((EventPath::NewBlock, body));
        let (signed_weight, threshold_weight) = self
            .reward_sets
            .get(reward_cycle)
            .map(|set| {
                let signed = stored
                    .signer_bitvec
                    .as_ref()
                    .map(|bits| {
                        set.signers
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| bits.get(*i as u16) == Some(true))
                            .map(|(_, s)| u64::from(s.weight))
                            .sum()
                    })
                    .unwrap_or(0);
                (signed, set.threshold_weight())
            })
            .unwrap_or((0, 0));
        self.activity.emit(Activity::BlockProcessed {
            block_id: id,
            signer_signature_hash: stored.block.header.signer_signature_hash(),
            height: stored.height(),
            signed_weight,
            threshold_weight,
        });
        Ok(id)
    }

    /// Writes a chunk with the node's rules; on success emits `/stackerdb_chunks` and lets
    /// the miner and the simulated signers react.
    pub fn write_chunk(
        &mut self,
        contract: &str,
        chunk: &StackerDBChunkData,
        source: ChunkSource,
    ) -> Result<StackerDBChunkAckData, NoSuchStackerDb> {
        let db = self.stackerdbs.get_mut(contract).ok_or(NoSuchStackerDb)?;
        let result = db.put_chunk(chunk);
        let writer = chunk
            .recover_pk()
            .ok()
            .map(|pk| Hash160::from_node_public_key(&pk));
        let ack = match &result {
            Ok(md) => StackerDBChunkAckData {
                accepted: true,
                reason: None,
                metadata: Some(md.clone()),
                code: None,
            },
            Err(ack) => (**ack).clone(),
        };
        self.activity.emit(Activity::ChunkWrite {
            contract: contract.to_string(),
            slot_id: chunk.slot_id,
            slot_version: chunk.slot_version,
            writer,
            data: chunk.data.clone(),
            accepted: ack.accepted,
            code: ack.code,
            source,
        });
        if result.is_ok() {
            if let Some(contract_id) = self.boot_contract(contract) {
                let body = payloads::stackerdb_chunks(&contract_id, std::slice::from_ref(chunk));
                self.outbox.push((EventPath::StackerDbChunks, body));
            }
            self.react_to_chunk(contract, chunk);
        }
        Ok(ack)
    }

    fn react_to_chunk(&mut self, contract: &str, chunk: &StackerDBChunkData) {
        let Ok(message) = messages::decode(&chunk.data) else {
            return;
        };
        if contract == MINERS_DB {
            if let SignerMessage::BlockProposal(proposal) = message {
                let hash = proposal.block.header.signer_signature_hash();
                let proposed_at = self.now_secs();
                self.pending.entry(hash).or_insert(PendingBlock {
                    block: proposal.block,
                    reward_cycle: proposal.reward_cycle,
                    burn_height: proposal.burn_height,
                    signatures: BTreeMap::new(),
                    pre_commits: BTreeSet::new(),
                    processed: false,
                    proposed_at,
                    accepted_at: None,
                });
                self.signer_jobs.push(hash);
            }
            return;
        }
        let Some(parity) = signers_contract_parity(contract) else {
            return;
        };
        match message {
            SignerMessage::BlockResponse(BlockResponse::Accepted(accepted)) => {
                self.collect_signature(parity, &accepted.signer_signature_hash, &accepted.signature)
            }
            SignerMessage::BlockPreCommit(hash) => {
                let Some(pending) = self.pending.get(&hash) else {
                    return;
                };
                let Some(set) = self.reward_sets.get(pending.reward_cycle) else {
                    return;
                };
                let index = self
                    .stackerdbs
                    .get(contract)
                    .and_then(|db| db.slots.get(chunk.slot_id as usize))
                    .and_then(|slot| set.index_of_hash(&slot.owner));
                if let (Some(index), Some(pending)) = (index, self.pending.get_mut(&hash)) {
                    pending.pre_commits.insert(index);
                }
            }
            _ => {}
        }
    }

    fn collect_signature(
        &mut self,
        parity: u64,
        hash: &Sha512Trunc256Sum,
        signature: &MessageSignature,
    ) {
        let Some(pending) = self.pending.get(hash) else {
            return;
        };
        if pending.reward_cycle % 2 != parity {
            return;
        }
        let Some(set) = self.reward_sets.get(pending.reward_cycle) else {
            return;
        };
        let Ok(pk) = StacksPublicKey::recover_to_pubkey(&hash.0, signature) else {
            return;
        };
        let Some(index) = set.index_of_key(&pk) else {
            return;
        };
        let threshold = set.threshold_weight();
        let weights: Vec<u64> = set.signers.iter().map(|s| u64::from(s.weight)).collect();
        let Some(pending) = self.pending.get_mut(hash) else {
            return;
        };
        pending.signatures.insert(index, *signature);
        let weight: u64 = pending
            .signatures
            .keys()
            .map(|i| weights.get(*i).copied().unwrap_or(0))
            .sum();
        if weight < threshold || pending.processed || !self.miner_broadcasts {
            return;
        }
        pending.processed = true;
        let mut block = pending.block.clone();
        block.header.signer_signature = pending.signatures.values().copied().collect();
        let cycle = pending.reward_cycle;
        if self.process_block(block.clone(), cycle).is_ok() {
            self.push_block(&block);
        }
    }

    /// Writes `BlockPushed` to the current miner's second slot.
    fn push_block(&mut self, block: &NakamotoBlock) {
        let Some(index) = self.current_miner_slot_index() else {
            return;
        };
        let Some(key) = self.miner_key_for_slot(index) else {
            return;
        };
        let slot_id = index * MINER_SLOT_COUNT + 1;
        let data = messages::block_pushed(block);
        let _ = self.write_internal(MINERS_DB, slot_id, &key, data);
    }

    /// The key of the simulated miner owning `miners` slot index `index`.
    pub fn miner_key_for_slot(&self, index: u32) -> Option<StacksPrivateKey> {
        let owner = *self.miner_slot_owners().get(index as usize)?;
        self.miners
            .iter()
            .find(|m| m.pkh == owner)
            .map(|m| m.key.clone())
    }

    /// Writes `data` to `contract`'s slot as its owner `key`, at the next version.
    pub fn write_internal(
        &mut self,
        contract: &str,
        slot_id: u32,
        key: &StacksPrivateKey,
        data: Vec<u8>,
    ) -> Result<StackerDBChunkAckData, NoSuchStackerDb> {
        let version = self
            .stackerdbs
            .get(contract)
            .and_then(|db| db.slots.get(slot_id as usize))
            .map(|s| s.version + 1)
            .unwrap_or(1);
        let chunk = super::stackerdb::sign_chunk(key, slot_id, version, data);
        self.write_chunk(contract, &chunk, ChunkSource::Internal)
    }

    /// The metadata of every slot of `contract`.
    pub fn slot_metadata(&self, contract: &str) -> Option<Vec<SlotMetadata>> {
        let db = self.stackerdbs.get(contract)?;
        Some(
            db.slots
                .iter()
                .enumerate()
                .map(|(i, s)| s.metadata(i as u32))
                .collect(),
        )
    }

    /// Hash of the genesis chainstate (fixed per seed).
    pub fn genesis_chainstate_hash(&self) -> Sha256Sum {
        Sha256Sum::from_data(format!("mock-node genesis {}", self.config.seed).as_bytes())
    }

    /// The signers' StackerDB contract for `cycle` and message id.
    pub fn signers_contract(cycle: u64, msg_id: u32) -> String {
        signers_db_name(cycle % 2, msg_id)
    }
}

/// Signs `block`'s header as its miner.
pub fn sign_as_miner(block: &mut NakamotoBlock, key: &StacksPrivateKey) {
    let hash = block.header.miner_signature_hash();
    block.header.miner_signature = key
        .sign(&hash.0)
        .unwrap_or_else(|_| MessageSignature::empty());
}

/// The reward-cycle parity of a `signers-{p}-{m}` contract name.
pub fn signers_contract_parity(name: &str) -> Option<u64> {
    let mut parts = name.split('-');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("signers"), Some(p), Some(m), None) => {
            let parity: u64 = p.parse().ok()?;
            let _msg: u32 = m.parse().ok()?;
            Some(parity)
        }
        _ => None,
    }
}

/// `StacksBlockId::first_mined()`: the id of the (virtual) parent of the first block,
/// `sha512_256(0^32 || 0^20)`.
pub fn first_mined_block_id() -> StacksBlockId {
    StacksBlockId::new(&ConsensusHash::zero(), &BlockHeaderHash::zero())
}
