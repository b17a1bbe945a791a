//! Epoch 2.5 mock signing: the miner's signed view of its node (`MockProposal`), signers'
//! signatures over it (`MockSignature`) and the miner's collection of them (`MockBlock`).
//!
//! Divergence: the reference panics when the peer's server version is not a Clarity ASCII
//! string, because the signed digest cannot be built. Here the digest is `None`, signing
//! leaves the empty signature and verification returns an error.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::response::SignerMessageMetadata;
use super::structured::{mock_miner_hash, mock_signer_hash, MockMinerData};
use crate::chain::{
    BlockHeaderHash, ConsensusHash, MessageSignature, Sha256Sum, StacksPrivateKey, StacksPublicKey,
};
use crate::codec::{read_bytes, read_next, write_next, Error as CodecError, StacksMessageCodec};

const NOT_ASCII: &str = "server_version is not a Clarity ASCII string: no signature hash";

/// The signer-relevant view of a node at the time of a mock proposal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The burn block height.
    pub burn_block_height: u64,
    /// The consensus hash of the Stacks tip.
    pub stacks_tip_consensus_hash: ConsensusHash,
    /// The Stacks tip.
    pub stacks_tip: BlockHeaderHash,
    /// The Stacks tip height.
    pub stacks_tip_height: u64,
    /// The consensus hash of the burnchain tip.
    pub pox_consensus: ConsensusHash,
    /// The node's version string (at most 255 bytes on the wire).
    pub server_version: String,
    /// The network id.
    pub network_id: u32,
}

impl StacksMessageCodec for PeerInfo {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.burn_block_height)?;
        write_next(fd, &self.stacks_tip_consensus_hash)?;
        write_next(fd, &self.stacks_tip)?;
        write_next(fd, &self.stacks_tip_height)?;
        // As the reference: the length is truncated to one byte while every byte of the
        // version is written, so a version over 255 bytes yields an undecodable message.
        let version = self.server_version.as_bytes();
        write_next(fd, &(version.len() as u8))?;
        fd.write_all(version).map_err(CodecError::WriteError)?;
        write_next(fd, &self.pox_consensus)?;
        write_next(fd, &self.network_id)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let burn_block_height = read_next(fd)?;
        let stacks_tip_consensus_hash = read_next(fd)?;
        let stacks_tip = read_next(fd)?;
        let stacks_tip_height = read_next(fd)?;
        let len: u8 = read_next(fd)?;
        let bytes = read_bytes(fd, len.into())?;
        let server_version = String::from_utf8(bytes).map_err(|_| {
            CodecError::DeserializeError(
                "Failed to parse server version name: could not contruct from utf8".to_string(),
            )
        })?;
        let pox_consensus = read_next(fd)?;
        let network_id = read_next(fd)?;
        Ok(Self {
            burn_block_height,
            stacks_tip_consensus_hash,
            stacks_tip,
            stacks_tip_height,
            pox_consensus,
            server_version,
            network_id,
        })
    }
}

/// A miner's signed peer info, proposed for epoch 2.5 mock signing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MockProposal {
    /// The miner's node view.
    pub peer_info: PeerInfo,
    /// The miner's signature over [`MockProposal::miner_signature_hash`].
    signature: MessageSignature,
}

impl MockProposal {
    /// A proposal of `peer_info` signed with the miner's key (unsigned if the server
    /// version is not a Clarity ASCII string; see the module docs).
    pub fn new(peer_info: PeerInfo, stacks_private_key: &StacksPrivateKey) -> Self {
        let mut proposal = Self {
            peer_info,
            signature: MessageSignature::empty(),
        };
        if let Some(hash) = proposal.miner_signature_hash() {
            if let Ok(signature) = stacks_private_key.sign(hash.as_bytes()) {
                proposal.signature = signature;
            }
        }
        proposal
    }

    /// The miner's signature.
    pub fn signature(&self) -> &MessageSignature {
        &self.signature
    }

    /// The digest the miner signs: SIP-018 with domain (`mock-miner`, `1.0.0`,
    /// network id) over the tuple of the peer info's tip, height, version and PoX
    /// consensus. `None` when the server version is not a Clarity ASCII string.
    pub fn miner_signature_hash(&self) -> Option<Sha256Sum> {
        let info = &self.peer_info;
        mock_miner_hash(&MockMinerData {
            pox_consensus: info.pox_consensus.as_bytes(),
            server_version: &info.server_version,
            stacks_tip: info.stacks_tip.as_bytes(),
            stacks_tip_consensus_hash: info.stacks_tip_consensus_hash.as_bytes(),
            stacks_tip_height: info.stacks_tip_height,
            network_id: info.network_id,
        })
    }

    /// The digest mock signers sign: SIP-018 with domain (`mock-signer`, `1.0.0`,
    /// network id) over the miner's signature and [`MockProposal::miner_signature_hash`].
    pub fn signer_signature_hash(&self) -> Option<Sha256Sum> {
        let miner_hash = self.miner_signature_hash()?;
        Some(mock_signer_hash(
            self.peer_info.network_id,
            &self.signature.0,
            &miner_hash,
        ))
    }

    /// Whether `public_key` (the miner's) signed this proposal. An empty signature is
    /// `Ok(false)`.
    pub fn verify(&self, public_key: &StacksPublicKey) -> Result<bool, String> {
        if self.signature.is_empty() {
            return Ok(false);
        }
        let hash = self.miner_signature_hash().ok_or(NOT_ASCII)?;
        public_key
            .verify(hash.as_bytes(), &self.signature)
            .map_err(|e| e.to_string())
    }
}

impl StacksMessageCodec for MockProposal {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.peer_info)?;
        write_next(fd, &self.signature)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        Ok(Self {
            peer_info: read_next(fd)?,
            signature: read_next(fd)?,
        })
    }
}

/// A signer's signature over a mock proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MockSignature {
    /// The signer's signature over [`MockProposal::signer_signature_hash`].
    signature: MessageSignature,
    /// The proposal signed.
    pub mock_proposal: MockProposal,
    /// The signer's version.
    pub metadata: SignerMessageMetadata,
}

impl MockSignature {
    /// `mock_proposal` signed with the signer's key, with this signer's metadata (unsigned
    /// if the proposal's server version is not a Clarity ASCII string).
    pub fn new(mock_proposal: MockProposal, stacks_private_key: &StacksPrivateKey) -> Self {
        let mut signature = Self {
            signature: MessageSignature::empty(),
            mock_proposal,
            metadata: SignerMessageMetadata::default(),
        };
        if let Some(hash) = signature.mock_proposal.signer_signature_hash() {
            if let Ok(sig) = stacks_private_key.sign(hash.as_bytes()) {
                signature.signature = sig;
            }
        }
        signature
    }

    /// The signer's signature.
    pub fn signature(&self) -> &MessageSignature {
        &self.signature
    }

    /// Whether `public_key` (the signer's) made this signature. An empty signature is
    /// `Ok(false)`.
    pub fn verify(&self, public_key: &StacksPublicKey) -> Result<bool, String> {
        if self.signature.is_empty() {
            return Ok(false);
        }
        let hash = self
            .mock_proposal
            .signer_signature_hash()
            .ok_or(NOT_ASCII)?;
        public_key
            .verify(hash.as_bytes(), &self.signature)
            .map_err(|e| e.to_string())
    }
}

impl StacksMessageCodec for MockSignature {
    /// The reference's in-memory size, used by its vector allocation guard.
    const ALLOC_GUARD_SIZE: u64 = 288;

    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.signature)?;
        write_next(fd, &self.mock_proposal)?;
        write_next(fd, &self.metadata)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        Ok(Self {
            signature: read_next(fd)?,
            mock_proposal: read_next(fd)?,
            metadata: read_next(fd)?,
        })
    }
}

/// The mock block a miner broadcasts: its proposal and the signatures it collected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MockBlock {
    /// The proposal.
    pub mock_proposal: MockProposal,
    /// The signers' signatures over it.
    pub mock_signatures: Vec<MockSignature>,
}

impl StacksMessageCodec for MockBlock {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.mock_proposal)?;
        write_next(fd, &self.mock_signatures)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        Ok(Self {
            mock_proposal: read_next(fd)?,
            mock_signatures: read_next(fd)?,
        })
    }
}
