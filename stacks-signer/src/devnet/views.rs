//! The read-only RPC answers computed from the node's state: `/v2/info`, `/v2/pox`,
//! sortitions, tenure fork info and tip metadata.

use libsigner::chain::{
    BlockHeaderHash, ConsensusHash, Hash160, StacksAddress, StacksPrivateKey, StacksPublicKey,
    TrieHash,
};

use super::burnchain::BurnBlock;
use super::stacks_chain::StoredBlock;
use super::state::NodeState;
use super::wire::NakamotoBlock;
use crate::client::api::{
    BlockHeaderWithMetadata, ExecutionCost, RPCLastPoxAnchorData, RPCPeerInfoData,
    RPCPoxContractVersion, RPCPoxCurrentCycleInfo, RPCPoxEpoch, RPCPoxInfoData,
    RPCPoxNextCycleInfo, SortitionInfo, StacksBlockHeaderTypes, StacksEpochId, TenureForkingInfo,
};
use libsigner::codec::StacksMessageCodec;

/// The node's p2p protocol version.
pub const PEER_VERSION: u32 = 4207599117;
/// How far below the tip the "stable" burn block is.
pub const STABLE_CONFIRMATIONS: u64 = 7;
/// Most winning sortitions one fork-info answer holds.
pub const FORK_INFO_DEPTH_LIMIT: usize = 10;

/// The node's own (p2p) key, fixed per seed.
pub fn node_key(seed: u64) -> StacksPrivateKey {
    StacksPrivateKey::from_seed(format!("mock-node p2p key {seed}").as_bytes())
}

/// `/v2/info`.
pub fn peer_info(state: &NodeState) -> RPCPeerInfoData {
    let tip = state.burn_tip();
    let stable_height = tip.height.saturating_sub(STABLE_CONFIRMATIONS);
    let stable = state
        .burnchain
        .ancestors(tip)
        .find(|b| b.height <= stable_height)
        .or_else(|| state.burnchain.ancestors(tip).last())
        .unwrap_or(tip);
    let stacks_tip = state.stacks.tip();
    let node_pk = StacksPublicKey::from_private(&node_key(state.config.seed));
    let boot = StacksAddress::burn_address(state.config.mainnet);
    RPCPeerInfoData {
        peer_version: PEER_VERSION,
        pox_consensus: tip.consensus_hash,
        burn_block_height: tip.height,
        stable_pox_consensus: stable.consensus_hash,
        stable_burn_block_height: stable.height,
        server_version: state.config.server_version.clone(),
        network_id: state.config.chain_id,
        parent_network_id: if state.config.mainnet {
            3652501241
        } else {
            3669344250
        },
        stacks_tip_height: stacks_tip.map(StoredBlock::height).unwrap_or(0),
        stacks_tip: stacks_tip
            .map(|t| t.block.header.block_hash())
            .unwrap_or(BlockHeaderHash::zero()),
        stacks_tip_consensus_hash: stacks_tip
            .map(StoredBlock::tenure)
            .unwrap_or(ConsensusHash::zero()),
        genesis_chainstate_hash: state.genesis_chainstate_hash(),
        unanchored_tip: None,
        unanchored_seq: None,
        tenure_height: stacks_tip.map(|t| t.tenure_height).unwrap_or(0),
        exit_at_block_height: None,
        is_fully_synced: true,
        node_public_key: Some(node_pk.to_hex()),
        node_public_key_hash: Some(Hash160::from_node_public_key(&node_pk)),
        last_pox_anchor: Some(RPCLastPoxAnchorData {
            anchor_block_hash: BlockHeaderHash::zero(),
            anchor_block_txid: TrieHash::zero(),
        }),
        stackerdbs: Some(
            state
                .stackerdbs
                .names()
                .map(|name| format!("{boot}.{name}"))
                .collect(),
        ),
    }
}

/// `/v2/info` as the node answers it: [`peer_info`] with a test's
/// [`InfoOverride`](super::overrides::InfoOverride) applied.
pub fn answered_peer_info(state: &NodeState) -> RPCPeerInfoData {
    let mut info = peer_info(state);
    state.overrides.info.apply(&mut info);
    info
}

/// `/v2/pox`.
pub fn pox_info(state: &NodeState) -> RPCPoxInfoData {
    let pox = state.config.pox;
    let tip = state.burn_tip().height;
    let cycle = pox.cycle_of(tip);
    let next_in = pox.blocks_until_next_cycle(tip);
    let reward_start = tip + next_in;
    let prepare_start = reward_start.saturating_sub(pox.prepare_length);
    let stacked = |c: u64| -> u64 {
        let specs = state.config.signers_for_cycle(c);
        let total: u128 = specs
            .iter()
            .map(|s| u128::from(s.weight) * state.config.pox_ustx_threshold)
            .sum();
        u64::try_from(total).unwrap_or(u64::MAX)
    };
    let min = u64::try_from(state.config.pox_ustx_threshold).unwrap_or(u64::MAX);
    let boot = StacksAddress::burn_address(state.config.mainnet);
    let contract_id = format!("{boot}.pox-4");
    RPCPoxInfoData {
        contract_id: contract_id.clone(),
        pox_activation_threshold_ustx: 600_059_210_787_500,
        first_burnchain_block_height: pox.first_burn_height,
        current_burnchain_block_height: tip,
        prepare_phase_block_length: pox.prepare_length,
        reward_phase_block_length: pox.reward_phase_length(),
        reward_slots: pox.reward_phase_length() * 2,
        rejection_fraction: None,
        total_liquid_supply_ustx: 60_005_921_078_750_000,
        current_cycle: RPCPoxCurrentCycleInfo {
            id: cycle,
            min_threshold_ustx: min,
            stacked_ustx: stacked(cycle),
            is_pox_active: true,
        },
        next_cycle: RPCPoxNextCycleInfo {
            id: cycle + 1,
            min_threshold_ustx: min,
            min_increment_ustx: 7_500_740_134_843,
            stacked_ustx: stacked(cycle + 1),
            prepare_phase_start_block_height: prepare_start,
            blocks_until_prepare_phase: prepare_start as i64 - tip as i64,
            reward_phase_start_block_height: reward_start,
            blocks_until_reward_phase: next_in,
            ustx_until_pox_rejection: None,
        },
        epochs: vec![RPCPoxEpoch {
            epoch_id: StacksEpochId::Epoch33,
            start_height: 0,
            end_height: i64::MAX as u64,
            block_limit: ExecutionCost {
                write_length: 15_000_000,
                write_count: 15_000,
                read_length: 100_000_000,
                read_count: 15_000,
                runtime: 5_000_000_000,
            },
            network_epoch: 14,
        }],
        current_epoch: StacksEpochId::Epoch33,
        min_amount_ustx: min,
        prepare_cycle_length: pox.prepare_length,
        reward_cycle_id: cycle,
        reward_cycle_length: pox.reward_cycle_length,
        rejection_votes_left_required: None,
        next_reward_cycle_in: next_in,
        contract_versions: vec![RPCPoxContractVersion {
            contract_id,
            activation_burnchain_block_height: pox.first_burn_height,
            first_reward_cycle_id: 0,
        }],
    }
}

/// `/v3/sortitions/latest_and_last`: the latest winning sortition and the one before it.
pub fn latest_and_last(state: &NodeState) -> Vec<SortitionInfo> {
    let Some(latest) = state.burnchain.latest_winning() else {
        return vec![state.burn_tip().sortition_info()];
    };
    let mut out = vec![latest.sortition_info()];
    if let Some(last) = latest
        .last_sortition_ch
        .and_then(|ch| state.burnchain.by_consensus_hash(&ch))
    {
        out.push(last.sortition_info());
    }
    out
}

/// `/v3/tenures/tip_metadata/{ch}`, if the tenure has blocks.
pub fn tenure_tip_metadata(
    state: &NodeState,
    ch: &ConsensusHash,
) -> Option<BlockHeaderWithMetadata> {
    let tip = state.stacks.tenure_tip(ch)?;
    Some(BlockHeaderWithMetadata {
        anchored_header: StacksBlockHeaderTypes::Nakamoto(Box::new(tip.block.header.clone())),
        burn_view: Some(tip.burn_view),
    })
}

fn fork_info_entry(state: &NodeState, block: &BurnBlock) -> TenureForkingInfo {
    let (first, blocks) = if block.winner.is_some() {
        let tenure: Vec<NakamotoBlock> = state
            .stacks
            .tenure_blocks(&block.consensus_hash)
            .into_iter()
            .map(|b| b.block.clone())
            .collect();
        let first = state
            .stacks
            .tenure_start(&block.consensus_hash)
            .map(|b| b.id);
        (first, Some(tenure.serialize_to_vec()))
    } else {
        (None, None)
    };
    TenureForkingInfo {
        burn_block_hash: block.hash,
        burn_block_height: block.height,
        sortition_id: block.sortition_id,
        parent_sortition_id: block.parent_sortition_id,
        consensus_hash: block.consensus_hash,
        was_sortition: block.winner.is_some(),
        first_block_mined: first,
        nakamoto_blocks: blocks,
    }
}

/// Why a fork-info request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForkInfoError {
    /// A consensus hash is unknown (404).
    NotFound(ConsensusHash),
    /// `start` is not an ancestor of `stop` (400).
    NotSameFork,
}

/// `/v3/tenures/fork_info/{start}/{stop}`: `stop`'s snapshot, then every winning ancestor
/// back to `start` (inclusive), at most [`FORK_INFO_DEPTH_LIMIT`] winners per answer.
pub fn fork_info(
    state: &NodeState,
    start: &ConsensusHash,
    stop: &ConsensusHash,
) -> Result<Vec<TenureForkingInfo>, ForkInfoError> {
    let start_block = state
        .burnchain
        .by_consensus_hash(start)
        .ok_or(ForkInfoError::NotFound(*start))?;
    let stop_block = state
        .burnchain
        .by_consensus_hash(stop)
        .ok_or(ForkInfoError::NotFound(*stop))?;
    if start_block.height > stop_block.height {
        return Err(ForkInfoError::NotSameFork);
    }
    let mut out = vec![fork_info_entry(state, stop_block)];
    let mut winners = usize::from(stop_block.winner.is_some());
    let mut cursor = stop_block;
    while cursor.consensus_hash != *start {
        let Some(parent) = state.burnchain.parent(cursor) else {
            return Err(ForkInfoError::NotSameFork);
        };
        if parent.height < start_block.height {
            return Err(ForkInfoError::NotSameFork);
        }
        cursor = parent;
        if cursor.winner.is_some() || cursor.consensus_hash == *start {
            out.push(fork_info_entry(state, cursor));
            winners += usize::from(cursor.winner.is_some());
            if winners >= FORK_INFO_DEPTH_LIMIT {
                break;
            }
        }
    }
    Ok(out)
}
