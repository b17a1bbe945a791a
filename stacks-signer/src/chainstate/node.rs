//! What the voting logic asks of the Stacks node, as a trait: the direct RPC client
//! ([`crate::client::StacksClient`]) answers it, and so can a cache in front of it or a
//! stand-in in tests.

use libsigner::chain::{
    BlockHeaderHash, ConsensusHash, Hash160, Sha512Trunc256Sum, StacksAddress, StacksBlockId,
    TrieHash, VRFProof,
};
use libsigner::v0::messages::PeerInfo;
use serde::Deserialize;

use crate::client::api::{
    BlockHeaderWithMetadata, SortitionInfo, StacksBlockHeaderTypes, TenureForkingInfo,
};
use crate::client::{ClientError, RewardCycleInfo, StacksClient};

/// The latest winning sortition and the one before it in its fork
/// (`GET /v3/sortitions/latest_and_last`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentAndLastSortition {
    /// The latest winning sortition.
    pub current_sortition: SortitionInfo,
    /// The winning sortition before it, when the node names one.
    pub last_sortition: Option<SortitionInfo>,
}

/// The highest block the node has processed in a tenure, and the tenure's burn view
/// (`GET /v3/tenures/tip_metadata/{consensus_hash}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenureTip {
    /// The tip's chain length.
    pub height: u64,
    /// The tip's block id.
    pub block_id: StacksBlockId,
    /// The tip's signer signature hash (Nakamoto blocks only).
    pub signer_signature_hash: Option<Sha512Trunc256Sum>,
    /// The tenure's current burn view, if the node knows it.
    pub burn_view: Option<ConsensusHash>,
}

impl TenureTip {
    /// The tip of tenure `consensus_hash` as the node described it.
    ///
    /// An Epoch 2 header (the tip of the last Epoch 2 tenure, which the first Nakamoto
    /// tenure follows) counts as the reference counts it: its height is its
    /// `total_work.work`, its block id is made of the hash of its consensus encoding, and it
    /// has no signer signature hash. An Epoch 2 header that does not have the reference's
    /// shape is refused, as the reference's decoder refuses it.
    pub fn from_metadata(
        consensus_hash: &ConsensusHash,
        metadata: BlockHeaderWithMetadata,
    ) -> Result<Self, ClientError> {
        match metadata.anchored_header {
            StacksBlockHeaderTypes::Nakamoto(header) => Ok(Self {
                height: header.chain_length,
                block_id: StacksBlockId::new(consensus_hash, &header.block_hash()),
                signer_signature_hash: Some(header.signer_signature_hash()),
                burn_view: metadata.burn_view,
            }),
            StacksBlockHeaderTypes::Epoch2(json) => {
                let (height, block_hash) = Epoch2Header::height_and_hash(json).map_err(|e| {
                    ClientError::UnexpectedResponseFormat(format!(
                        "the tip of tenure {consensus_hash} is a malformed Epoch 2 block header: {e}"
                    ))
                })?;
                Ok(Self {
                    height,
                    block_id: StacksBlockId::new(consensus_hash, &block_hash),
                    signer_signature_hash: None,
                    burn_view: metadata.burn_view,
                })
            }
        }
    }
}

/// The work score of an Epoch 2 header: burn spent and chain length.
#[derive(Debug, Clone, Deserialize)]
struct Epoch2WorkScore {
    burn: u64,
    work: u64,
}

/// An Epoch 2 anchored block header in the node's JSON form (hex strings without `0x`).
#[derive(Debug, Clone, Deserialize)]
struct Epoch2Header {
    version: u8,
    total_work: Epoch2WorkScore,
    proof: String,
    parent_block: BlockHeaderHash,
    parent_microblock: BlockHeaderHash,
    parent_microblock_sequence: u16,
    tx_merkle_root: Sha512Trunc256Sum,
    state_index_root: TrieHash,
    microblock_pubkey_hash: Hash160,
}

impl Epoch2Header {
    /// The header's height (`total_work.work`) and block hash, or why the JSON is not an
    /// Epoch 2 header (its VRF proof is checked as the reference's decoder checks it).
    fn height_and_hash(json: serde_json::Value) -> Result<(u64, BlockHeaderHash), String> {
        let header: Self = serde_json::from_value(json).map_err(|e| e.to_string())?;
        let proof = VRFProof::from_hex(&header.proof)
            .ok_or_else(|| "the VRF proof is not a valid 80-byte proof".to_string())?;
        Ok((header.total_work.work, header.block_hash(&proof)))
    }

    /// SHA-512/256 of the header's consensus encoding; the boot block (no work) has the
    /// all-zero hash.
    fn block_hash(&self, proof: &VRFProof) -> BlockHeaderHash {
        if self.total_work.work == 0 {
            return BlockHeaderHash([0; 32]);
        }
        let mut encoded = Vec::with_capacity(247);
        encoded.push(self.version);
        encoded.extend_from_slice(&self.total_work.burn.to_be_bytes());
        encoded.extend_from_slice(&self.total_work.work.to_be_bytes());
        encoded.extend_from_slice(&proof.to_bytes());
        encoded.extend_from_slice(&self.parent_block.0);
        encoded.extend_from_slice(&self.parent_microblock.0);
        encoded.extend_from_slice(&self.parent_microblock_sequence.to_be_bytes());
        encoded.extend_from_slice(&self.tx_merkle_root.0);
        encoded.extend_from_slice(&self.state_index_root.0);
        encoded.extend_from_slice(&self.microblock_pubkey_hash.0);
        BlockHeaderHash(Sha512Trunc256Sum::from_data(&encoded).0)
    }
}

/// The node RPCs the voting logic (proposal checks, state machine) calls.
pub trait NodeRpc {
    /// This signer's address.
    fn signer_address(&self) -> &StacksAddress;
    /// `GET /v2/info`.
    fn get_peer_info(&self) -> Result<PeerInfo, ClientError>;
    /// `GET /v3/sortitions/latest_and_last`, with the reference's shape checks.
    fn get_current_and_last_sortition(&self) -> Result<CurrentAndLastSortition, ClientError>;
    /// Forget any kept answer about the sortitions, so that the next
    /// [`NodeRpc::get_current_and_last_sortition`] asks the node (a view reset).
    fn invalidate_sortitions(&self) {}
    /// `GET /v3/tenures/tip_metadata/{consensus_hash}`.
    fn get_tenure_tip(&self, consensus_hash: &ConsensusHash) -> Result<TenureTip, ClientError>;
    /// [`NodeRpc::get_tenure_tip`], asked of the node even where an answer is kept: for the
    /// tenure-extend check, which the reference refuses when the node cannot answer.
    fn get_tenure_tip_from_node(
        &self,
        consensus_hash: &ConsensusHash,
    ) -> Result<TenureTip, ClientError> {
        self.get_tenure_tip(consensus_hash)
    }
    /// The tenures from `last_sortition` back to `chosen_parent`, newest first
    /// (`GET /v3/tenures/fork_info/...`, paged).
    fn get_tenure_forking_info(
        &self,
        chosen_parent: &ConsensusHash,
        last_sortition: &ConsensusHash,
    ) -> Result<Vec<TenureForkingInfo>, ClientError>;
    /// The current reward cycle, from `GET /v2/pox`.
    fn get_current_reward_cycle_info(&self) -> Result<RewardCycleInfo, ClientError>;
}

impl NodeRpc for StacksClient {
    fn signer_address(&self) -> &StacksAddress {
        self.get_signer_address()
    }

    fn get_peer_info(&self) -> Result<PeerInfo, ClientError> {
        StacksClient::get_peer_info(self)
    }

    fn get_current_and_last_sortition(&self) -> Result<CurrentAndLastSortition, ClientError> {
        let (current_sortition, last_sortition) =
            StacksClient::get_current_and_last_sortition(self)?;
        Ok(CurrentAndLastSortition {
            current_sortition,
            last_sortition,
        })
    }

    fn get_tenure_tip(&self, consensus_hash: &ConsensusHash) -> Result<TenureTip, ClientError> {
        TenureTip::from_metadata(
            consensus_hash,
            StacksClient::get_tenure_tip(self, consensus_hash)?,
        )
    }

    fn get_tenure_forking_info(
        &self,
        chosen_parent: &ConsensusHash,
        last_sortition: &ConsensusHash,
    ) -> Result<Vec<TenureForkingInfo>, ClientError> {
        StacksClient::get_tenure_forking_info(self, chosen_parent, last_sortition)
    }

    fn get_current_reward_cycle_info(&self) -> Result<RewardCycleInfo, ClientError> {
        StacksClient::get_current_reward_cycle_info(self)
    }
}
