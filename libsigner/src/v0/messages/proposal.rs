//! A miner's block proposal: the block, where it is mined, and versioned proposal data.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::BLOCK_RESPONSE_DATA_MAX_SIZE;
use crate::chain::NakamotoBlock;
use crate::codec::{
    read_next, read_next_at_most, write_length_prefixed, write_next, Error as CodecError,
    StacksMessageCodec,
};
use crate::{version_string, STACKS_NODE_VERSION};

/// The block proposal data version this implementation writes.
pub const BLOCK_PROPOSAL_DATA_VERSION: u8 = 2;

/// A block a miner asks the signers to sign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockProposal {
    /// The block.
    pub block: NakamotoBlock,
    /// The burn height it is mined at.
    pub burn_height: u64,
    /// The reward cycle it is mined in.
    pub reward_cycle: u64,
    /// Versioned proposal data.
    pub block_proposal_data: BlockProposalData,
}

impl StacksMessageCodec for BlockProposal {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.block)?;
        write_next(fd, &self.burn_height)?;
        write_next(fd, &self.reward_cycle)?;
        write_next(fd, &self.block_proposal_data)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        Ok(Self {
            block: read_next(fd)?,
            burn_height: read_next(fd)?,
            reward_cycle: read_next(fd)?,
            block_proposal_data: read_next(fd)?,
        })
    }
}

/// Versioned, forward-compatible data appended to a proposal:
/// `version || LP(LP(server_version) || unknown_bytes)`.
///
/// A proposal that ends before the version byte decodes as [`BlockProposalData::empty`];
/// the version itself is never interpreted. Round-trips byte for byte.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockProposalData {
    /// The data version.
    pub version: u8,
    /// The miner's node version.
    pub server_version: String,
    /// Bytes of a newer version this one does not understand.
    pub unknown_bytes: Vec<u8>,
}

impl BlockProposalData {
    /// Current-version data carrying `server_version`.
    pub fn new(server_version: String) -> Self {
        Self {
            version: BLOCK_PROPOSAL_DATA_VERSION,
            server_version,
            unknown_bytes: vec![],
        }
    }

    /// Data carrying this build's node version string.
    pub fn from_current_version() -> Self {
        Self::new(version_string(
            "stacks-node",
            option_env!("STACKS_NODE_VERSION").or(Some(STACKS_NODE_VERSION)),
        ))
    }

    /// What a proposal without data decodes to: version 2, empty version string.
    pub fn empty() -> Self {
        Self::new(String::new())
    }
}

impl StacksMessageCodec for BlockProposalData {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.version)?;
        let mut inner = Vec::new();
        write_length_prefixed(&mut inner, self.server_version.as_bytes())?;
        inner.extend_from_slice(&self.unknown_bytes);
        write_length_prefixed(fd, &inner)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let Ok(version) = read_next::<u8, _>(fd) else {
            return Ok(Self::empty());
        };
        let inner: Vec<u8> = read_next_at_most(fd, BLOCK_RESPONSE_DATA_MAX_SIZE)?;
        let mut reader = inner.as_slice();
        let server_version: Vec<u8> = read_next(&mut reader)?;
        let server_version = String::from_utf8(server_version).map_err(|e| {
            CodecError::DeserializeError(format!("Failed to decode server version: {e:?}"))
        })?;
        Ok(Self {
            version,
            server_version,
            unknown_bytes: reader.to_vec(),
        })
    }
}
