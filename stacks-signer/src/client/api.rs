//! The JSON bodies of the Stacks node's RPC endpoints that a signer calls, with the node's
//! exact field names, hex conventions (plain hex vs `0x`-prefixed) and optionality.
//!
//! One definition serves both sides: the node client parses them and the mock node writes them.

use libsigner::chain::hex::{serde_prefix_hex, serde_prefix_opt_hex};
use libsigner::chain::{
    BlockHeaderHash, BurnchainHeaderHash, ConsensusHash, Hash160, NakamotoBlockHeader, PoxAddress,
    Sha256Sum, SortitionId, StacksBlockId, TrieHash, VRFSeed,
};
use serde::{Deserialize, Serialize};

/// `GET /v2/info`: the node's view of both chains (`RPCPeerInfoData`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RPCPeerInfoData {
    /// The node's p2p protocol version.
    pub peer_version: u32,
    /// Consensus hash of the burn-chain tip.
    pub pox_consensus: ConsensusHash,
    /// Height of the burn-chain tip.
    pub burn_block_height: u64,
    /// Consensus hash of the stable burn block.
    pub stable_pox_consensus: ConsensusHash,
    /// Height of the stable burn block.
    pub stable_burn_block_height: u64,
    /// The node's version string.
    pub server_version: String,
    /// The network id (the chain id in standard configurations).
    pub network_id: u32,
    /// The burn chain's network id.
    pub parent_network_id: u32,
    /// Height of the canonical Stacks tip.
    pub stacks_tip_height: u64,
    /// Block hash (not id) of the canonical Stacks tip.
    pub stacks_tip: BlockHeaderHash,
    /// Tenure (consensus hash) of the canonical Stacks tip.
    pub stacks_tip_consensus_hash: ConsensusHash,
    /// Hash of the genesis chainstate.
    pub genesis_chainstate_hash: Sha256Sum,
    /// Unanchored (microblock) tip, if any.
    pub unanchored_tip: Option<StacksBlockId>,
    /// Unanchored (microblock) sequence, if any.
    pub unanchored_seq: Option<u16>,
    /// Number of tenures so far.
    pub tenure_height: u64,
    /// Block height the node exits at, if configured.
    pub exit_at_block_height: Option<u64>,
    /// Whether the node has caught up with the network.
    pub is_fully_synced: bool,
    /// The node's public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_public_key: Option<String>,
    /// Hash160 of the node's public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_public_key_hash: Option<Hash160>,
    /// The last PoX anchor block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pox_anchor: Option<RPCLastPoxAnchorData>,
    /// The StackerDB contracts the node hosts (`ADDR.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stackerdbs: Option<Vec<String>>,
}

/// The last PoX anchor block in `/v2/info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RPCLastPoxAnchorData {
    /// The anchor block's hash.
    pub anchor_block_hash: BlockHeaderHash,
    /// The txid of the anchor block's commit.
    pub anchor_block_txid: TrieHash,
}

/// A Stacks epoch, written as its variant name (`"Epoch33"`); ordered by activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u32)]
pub enum StacksEpochId {
    /// Epoch 1.0.
    Epoch10 = 0x1000,
    /// Epoch 2.0.
    Epoch20 = 0x2000,
    /// Epoch 2.05.
    Epoch2_05 = 0x2005,
    /// Epoch 2.1.
    Epoch21 = 0x200a,
    /// Epoch 2.2.
    Epoch22 = 0x200f,
    /// Epoch 2.3.
    Epoch23 = 0x2014,
    /// Epoch 2.4.
    Epoch24 = 0x2019,
    /// Epoch 2.5 (signers mock-sign).
    Epoch25 = 0x201a,
    /// Epoch 3.0 (Nakamoto).
    Epoch30 = 0x3000,
    /// Epoch 3.1.
    Epoch31 = 0x3001,
    /// Epoch 3.2.
    Epoch32 = 0x3002,
    /// Epoch 3.3.
    Epoch33 = 0x3003,
}

/// `GET /v2/pox`: PoX parameters and the reward-cycle position (`RPCPoxInfoData`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RPCPoxInfoData {
    /// The active PoX contract (`ADDR.pox-4`).
    pub contract_id: String,
    /// Stacking activation threshold.
    pub pox_activation_threshold_ustx: u64,
    /// First burn height of the PoX schedule.
    pub first_burnchain_block_height: u64,
    /// Current burn-chain height.
    pub current_burnchain_block_height: u64,
    /// Length of the prepare phase.
    pub prepare_phase_block_length: u64,
    /// Length of the reward phase.
    pub reward_phase_block_length: u64,
    /// Reward slots per cycle.
    pub reward_slots: u64,
    /// PoX rejection fraction, if any.
    pub rejection_fraction: Option<u64>,
    /// Total liquid STX supply.
    pub total_liquid_supply_ustx: u64,
    /// The current cycle.
    pub current_cycle: RPCPoxCurrentCycleInfo,
    /// The next cycle.
    pub next_cycle: RPCPoxNextCycleInfo,
    /// Every epoch.
    pub epochs: Vec<RPCPoxEpoch>,
    /// The current epoch.
    pub current_epoch: StacksEpochId,
    /// Minimum stacking amount.
    pub min_amount_ustx: u64,
    /// Prepare phase length.
    pub prepare_cycle_length: u64,
    /// Current reward cycle.
    pub reward_cycle_id: u64,
    /// Reward cycle length (reward + prepare phases).
    pub reward_cycle_length: u64,
    /// Rejection votes left, if any.
    pub rejection_votes_left_required: Option<u64>,
    /// Burn blocks until the next reward cycle.
    pub next_reward_cycle_in: u64,
    /// PoX contract versions.
    pub contract_versions: Vec<RPCPoxContractVersion>,
}

/// The current cycle in `/v2/pox`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RPCPoxCurrentCycleInfo {
    /// Cycle number.
    pub id: u64,
    /// Stacking minimum.
    pub min_threshold_ustx: u64,
    /// Amount stacked.
    pub stacked_ustx: u64,
    /// Whether PoX is active.
    pub is_pox_active: bool,
}

/// The next cycle in `/v2/pox`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RPCPoxNextCycleInfo {
    /// Cycle number.
    pub id: u64,
    /// Stacking minimum.
    pub min_threshold_ustx: u64,
    /// Minimum increment.
    pub min_increment_ustx: u64,
    /// Amount stacked.
    pub stacked_ustx: u64,
    /// First burn height of its prepare phase.
    pub prepare_phase_start_block_height: u64,
    /// Burn blocks until its prepare phase.
    pub blocks_until_prepare_phase: i64,
    /// First burn height of its reward phase.
    pub reward_phase_start_block_height: u64,
    /// Burn blocks until its reward phase.
    pub blocks_until_reward_phase: u64,
    /// Amount until PoX rejection, if any.
    pub ustx_until_pox_rejection: Option<u64>,
}

/// One epoch in `/v2/pox`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RPCPoxEpoch {
    /// The epoch.
    pub epoch_id: StacksEpochId,
    /// First burn height.
    pub start_height: u64,
    /// Burn height it ends at.
    pub end_height: u64,
    /// The block cost limit.
    pub block_limit: ExecutionCost,
    /// The network epoch byte.
    pub network_epoch: u8,
}

pub use libsigner::ExecutionCost;

/// A PoX contract version in `/v2/pox`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RPCPoxContractVersion {
    /// The contract (`ADDR.pox-4`).
    pub contract_id: String,
    /// Burn height it activates at.
    pub activation_burnchain_block_height: u64,
    /// First reward cycle it governs.
    pub first_reward_cycle_id: u64,
}

/// One element of `GET /v3/sortitions...` (a JSON array of these).
///
/// The six optional fields must be present (`null` allowed), as the node's deserializer
/// requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortitionInfo {
    /// The burn block's hash.
    #[serde(with = "serde_prefix_hex")]
    pub burn_block_hash: BurnchainHeaderHash,
    /// The burn block's height.
    pub burn_block_height: u64,
    /// The burn block's timestamp.
    pub burn_header_timestamp: u64,
    /// The sortition id.
    #[serde(with = "serde_prefix_hex")]
    pub sortition_id: SortitionId,
    /// The parent sortition id.
    #[serde(with = "serde_prefix_hex")]
    pub parent_sortition_id: SortitionId,
    /// The consensus hash (the tenure id when there was a sortition).
    #[serde(with = "serde_prefix_hex")]
    pub consensus_hash: ConsensusHash,
    /// Whether a miner won this sortition.
    pub was_sortition: bool,
    /// Hash160 of the winner's key.
    #[serde(with = "serde_prefix_opt_hex")]
    pub miner_pk_hash160: Option<Hash160>,
    /// The tenure the winner builds on.
    #[serde(with = "serde_prefix_opt_hex")]
    pub stacks_parent_ch: Option<ConsensusHash>,
    /// The previous winning sortition in this fork.
    #[serde(with = "serde_prefix_opt_hex")]
    pub last_sortition_ch: Option<ConsensusHash>,
    /// The committed block hash.
    #[serde(with = "serde_prefix_opt_hex")]
    pub committed_block_hash: Option<BlockHeaderHash>,
    /// The VRF seed.
    #[serde(with = "serde_prefix_opt_hex")]
    pub vrf_seed: Option<VRFSeed>,
}

/// `GET /v2/accounts/{principal}?proof=0`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEntryResponse {
    /// `0x` + 16-byte big-endian balance.
    pub balance: String,
    /// `0x` + 16-byte big-endian locked amount.
    pub locked: String,
    /// Unlock height.
    pub unlock_height: u64,
    /// Account nonce.
    pub nonce: u64,
    /// Balance proof (only with `proof=1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_proof: Option<String>,
    /// Nonce proof (only with `proof=1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce_proof: Option<String>,
}

impl AccountEntryResponse {
    /// An account with this balance and nonce, nothing locked.
    pub fn new(balance: u128, nonce: u64) -> Self {
        AccountEntryResponse {
            balance: format!("0x{balance:032x}"),
            locked: format!("0x{:032x}", 0u128),
            unlock_height: 0,
            nonce,
            balance_proof: None,
            nonce_proof: None,
        }
    }

    /// The balance, if the field is well formed.
    pub fn balance_ustx(&self) -> Option<u128> {
        u128::from_str_radix(self.balance.get(2..)?, 16).ok()
    }
}

/// `POST /v3/blocks/upload/`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StacksBlockAcceptedData {
    /// The block's id.
    pub stacks_block_id: StacksBlockId,
    /// Whether the node accepted it.
    pub accepted: bool,
}

/// `POST /v2/contracts/call-read/...`'s request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallReadOnlyRequestBody {
    /// Hex of each consensus-serialized Clarity argument (no `0x`).
    pub arguments: Vec<String>,
    /// The calling principal (`ADDR`).
    pub sender: String,
    /// The sponsor, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sponsor: Option<String>,
}

/// `POST /v2/contracts/call-read/...`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallReadOnlyResponse {
    /// Whether the call ran.
    pub okay: bool,
    /// `0x` + hex of the result value, when `okay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Why the call failed, when not `okay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// The JSON error body of `/v3/stacker_set` (and other `new_json` errors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeErrorResponse {
    /// Always `"error"`.
    pub response: String,
    /// `not_available_try_again` or `other`.
    pub err_type: String,
    /// What went wrong.
    pub err_msg: String,
}

/// The JSON body of `/v3/block_proposal`'s answers (202, 429, 422, 400).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockProposalResponse {
    /// `Accepted` or `Error`.
    pub result: String,
    /// The node's message.
    pub message: String,
}

pub use libsigner::NakamotoSignerEntry;

/// Reward slots missed at the cycle's start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoxStartCycleInfo {
    /// `[principal, amount]` pairs (kept as raw JSON: signers ignore them).
    pub missed_reward_slots: Vec<serde_json::Value>,
}

/// A reward cycle's reward set as `/v3/stacker_set` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardSet {
    /// The PoX reward addresses.
    pub rewarded_addresses: Vec<PoxAddress>,
    /// Slots missed at the cycle's start.
    pub start_cycle_state: PoxStartCycleInfo,
    /// The signers, sorted by signing key; absent when the cycle has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signers: Option<Vec<NakamotoSignerEntry>>,
    /// The stacking threshold of the cycle.
    #[serde(default)]
    pub pox_ustx_threshold: Option<u128>,
}

/// `GET /v3/stacker_set/{cycle}`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetStackersResponse {
    /// The cycle's reward set.
    pub stacker_set: RewardSet,
}

/// One element of `GET /v3/tenures/fork_info/{start}/{stop}` (a JSON array of these).
///
/// Both optional fields must be present (`null` allowed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenureForkingInfo {
    /// The burn block's hash.
    #[serde(with = "serde_prefix_hex")]
    pub burn_block_hash: BurnchainHeaderHash,
    /// The burn block's height.
    pub burn_block_height: u64,
    /// The sortition id.
    #[serde(with = "serde_prefix_hex")]
    pub sortition_id: SortitionId,
    /// The parent sortition id.
    #[serde(with = "serde_prefix_hex")]
    pub parent_sortition_id: SortitionId,
    /// The consensus hash.
    #[serde(with = "serde_prefix_hex")]
    pub consensus_hash: ConsensusHash,
    /// Whether a miner won this sortition.
    pub was_sortition: bool,
    /// The id of the tenure's first block, if any was mined.
    #[serde(with = "serde_prefix_opt_hex")]
    pub first_block_mined: Option<StacksBlockId>,
    /// `0x` + hex of `u32 count || blocks` (every block of the tenure).
    #[serde(with = "serde_prefix_opt_bytes")]
    pub nakamoto_blocks: Option<Vec<u8>>,
}

/// Serde for an optional byte string written as `0x` + hex (`prefix_opt_hex_codec`); as
/// everywhere in the node, the first two characters are dropped unchecked.
pub mod serde_prefix_opt_bytes {
    use libsigner::chain::hex::{hex_bytes, to_hex};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `null` or `0x` followed by hex.
    pub fn serialize<S: Serializer>(value: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => s.serialize_str(&format!("0x{}", to_hex(bytes))),
            None => s.serialize_none(),
        }
    }

    /// Reads `null` or a `0x`-prefixed hex string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => {
                let digits = text
                    .get(2..)
                    .ok_or_else(|| serde::de::Error::custom("hex string too short"))?;
                hex_bytes(digits)
                    .map(Some)
                    .map_err(serde::de::Error::custom)
            }
        }
    }
}

/// A block header of either era (`StacksBlockHeaderTypes`, externally tagged). The mock only
/// serves Nakamoto headers; Epoch 2 headers are kept as raw JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StacksBlockHeaderTypes {
    /// An Epoch 2.x header.
    Epoch2(serde_json::Value),
    /// A Nakamoto header.
    Nakamoto(Box<NakamotoBlockHeader>),
}

/// `GET /v3/tenures/tip_metadata/{ch}`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeaderWithMetadata {
    /// The tenure's highest processed block header.
    pub anchored_header: StacksBlockHeaderTypes,
    /// The tenure's current burn view (plain hex), if known.
    pub burn_view: Option<ConsensusHash>,
}

/// `POST /v3/block_proposal`'s request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NakamotoBlockProposal {
    /// Hex (no `0x`) of the consensus-serialized block.
    pub block: String,
    /// The chain id the proposer expects.
    pub chain_id: u32,
    /// Transactions to replay, as the reference's derived JSON (opaque here).
    #[serde(default)]
    pub replay_txs: Option<serde_json::Value>,
}

pub use libsigner::v0::messages::ValidateRejectCode;

pub use libsigner::{BlockValidateOk, BlockValidateReject, BlockValidateResponse};

/// `GET /v3/signer/{pubkey}/{cycle}`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetSignerResponse {
    /// Blocks of that cycle carrying the key's signature.
    pub blocks_signed: u64,
}

pub use libsigner::stackerdb::{SlotMetadata, StackerDBChunkAckData, StackerDBChunkData};

/// One element of `GET /v2/stackerdb/{addr}/{name}/replicas`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborAddress {
    /// IP address.
    pub ip: String,
    /// Port.
    pub port: u16,
    /// Hash160 of the peer's public key (plain hex).
    pub public_key_hash: Hash160,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sortition_info_requires_optional_fields_to_be_present() {
        let full = r#"{"burn_block_hash":"0x88110671102107ea674627964dcf21391ad166812d81841d03d247820fad4a2c","burn_block_height":345,"burn_header_timestamp":1751000010,"sortition_id":"0xd419d85a8d289ca3724813f26e9db0e5239e7d4c0ba3623047815d5ec7a32d82","parent_sortition_id":"0x6f327ec9590a3a108c18ed7ca48543ce5696848faea0e318897ee176385d4c8b","consensus_hash":"0x64d2ee3241a4373c939b2fee329a4c82774b3bae","was_sortition":true,"miner_pk_hash160":"0xb9b13946a8956a1cdae6b7c14647dfd3ecfb7b74","stacks_parent_ch":"0x042ac8614b44e55e62c7aa81b10b5189b2d10486","last_sortition_ch":"0x042ac8614b44e55e62c7aa81b10b5189b2d10486","committed_block_hash":null,"vrf_seed":null}"#;
        let info: SortitionInfo = serde_json::from_str(full).unwrap();
        assert_eq!(info.burn_block_height, 345);
        assert_eq!(
            info.miner_pk_hash160.unwrap().to_hex(),
            "b9b13946a8956a1cdae6b7c14647dfd3ecfb7b74"
        );
        assert_eq!(serde_json::to_string(&info).unwrap(), full);
        let missing = full.replace(",\"vrf_seed\":null", "");
        assert!(serde_json::from_str::<SortitionInfo>(&missing).is_err());
    }

    #[test]
    fn epochs_order_by_activation_and_print_by_name() {
        assert!(StacksEpochId::Epoch25 < StacksEpochId::Epoch30);
        assert_eq!(
            serde_json::to_string(&StacksEpochId::Epoch2_05).unwrap(),
            "\"Epoch2_05\""
        );
    }

    #[test]
    fn account_balance_is_prefixed_u128_hex() {
        let acct = AccountEntryResponse::new(1_000_000_000_000, 3);
        assert_eq!(acct.balance, "0x0000000000000000000000e8d4a51000");
        assert_eq!(acct.balance_ustx(), Some(1_000_000_000_000));
        let json = serde_json::to_string(&acct).unwrap();
        assert_eq!(
            json,
            r#"{"balance":"0x0000000000000000000000e8d4a51000","locked":"0x00000000000000000000000000000000","unlock_height":0,"nonce":3}"#
        );
    }
}
