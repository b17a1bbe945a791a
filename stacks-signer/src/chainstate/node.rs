//! What the voting logic asks of the Stacks node, as a trait: the direct RPC client
//! ([`crate::client::StacksClient`]) answers it, and so can a cache in front of it or a
//! stand-in in tests.

use libsigner::chain::{ConsensusHash, Sha512Trunc256Sum, StacksAddress, StacksBlockId};

use libsigner::v0::messages::PeerInfo;

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
    /// The tip of tenure `consensus_hash` as the node described it. Epoch 2 headers are
    /// refused: the voting logic only meets Nakamoto tenures.
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
            StacksBlockHeaderTypes::Epoch2(_) => Err(ClientError::UnexpectedResponseFormat(
                format!("the tip of tenure {consensus_hash} is an Epoch 2 block header"),
            )),
        }
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
