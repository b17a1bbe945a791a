//! Small records read from and written to the database.

use std::io::{Read, Write};

use libsigner::chain::{BurnchainHeaderHash, ConsensusHash, Sha512Trunc256Sum};
use libsigner::codec::{self, read_next, write_next, StacksMessageCodec};
use serde::{Deserialize, Serialize};

/// A vote of the whole signer set on a block (kept for the reference's `BlockInfo.vote`;
/// the v0 signer never sets it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NakamotoBlockVote {
    /// The block's signer signature hash.
    pub signer_signature_hash: Sha512Trunc256Sum,
    /// Whether the block was rejected.
    pub rejected: bool,
}

impl StacksMessageCodec for NakamotoBlockVote {
    /// The hash, then a `0x01` byte only when rejected.
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), codec::Error> {
        write_next(fd, &self.signer_signature_hash)?;
        if self.rejected {
            write_next(fd, &1u8)?;
        }
        Ok(())
    }

    /// Any byte after the hash (whatever its value) means rejected, as in the reference.
    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, codec::Error> {
        let signer_signature_hash = read_next(fd)?;
        let rejected = read_next::<u8, _>(fd).is_ok();
        Ok(Self {
            signer_signature_hash,
            rejected,
        })
    }
}

/// Version-specific extra data of a stored block (the reference's `ExtraBlockInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ExtraBlockInfo {
    /// No version recorded.
    #[default]
    None,
    /// Stored by the v0 signer.
    V0,
}

impl ExtraBlockInfo {
    /// The database form.
    pub(crate) fn to_code(self) -> i64 {
        match self {
            ExtraBlockInfo::None => 0,
            ExtraBlockInfo::V0 => 1,
        }
    }

    /// From the database form.
    pub(crate) fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(ExtraBlockInfo::None),
            1 => Some(ExtraBlockInfo::V0),
            _ => None,
        }
    }
}

/// A burn block as this signer saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BurnBlockInfo {
    /// The burn block's header hash.
    pub block_hash: BurnchainHeaderHash,
    /// Its height.
    pub block_height: u64,
    /// The consensus hash of its sortition.
    pub consensus_hash: ConsensusHash,
    /// Its parent's header hash.
    pub parent_burn_block_hash: BurnchainHeaderHash,
}

/// A block waiting for a validation slot at the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingBlockValidation {
    /// The block's signer signature hash.
    pub signer_signature_hash: Sha512Trunc256Sum,
    /// When it was queued (seconds since the Unix epoch).
    pub added_time: u64,
}

/// That a block was validated against a transaction replay set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockValidatedByReplaySet {
    /// The replay set's hash, as the reference stores it: a decimal `u64`.
    pub replay_tx_hash: String,
    /// Whether the block exhausted the replay set.
    pub replay_tx_exhausted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_vote_codec_appends_a_byte_only_when_rejected() {
        let hash = Sha512Trunc256Sum::from([7u8; 32]);
        let accepted = NakamotoBlockVote {
            signer_signature_hash: hash,
            rejected: false,
        };
        let rejected = NakamotoBlockVote {
            signer_signature_hash: hash,
            rejected: true,
        };
        assert_eq!(accepted.serialize_to_vec(), vec![7u8; 32]);
        let mut bytes = vec![7u8; 32];
        bytes.push(1);
        assert_eq!(rejected.serialize_to_vec(), bytes);
        // Any trailing byte reads as rejected.
        let mut other = vec![7u8; 32];
        other.push(0);
        let decoded = NakamotoBlockVote::consensus_deserialize(&mut other.as_slice()).unwrap();
        assert!(decoded.rejected);
        let decoded = NakamotoBlockVote::consensus_deserialize(&mut &[7u8; 32][..]).unwrap();
        assert_eq!(decoded, accepted);
        assert!(NakamotoBlockVote::consensus_deserialize(&mut &[7u8; 31][..]).is_err());
    }

    #[test]
    fn block_vote_and_extra_info_json_forms() {
        let vote = NakamotoBlockVote {
            signer_signature_hash: Sha512Trunc256Sum::from([0xab; 32]),
            rejected: true,
        };
        assert_eq!(
            serde_json::to_string(&vote).unwrap(),
            format!(
                "{{\"signer_signature_hash\":\"{}\",\"rejected\":true}}",
                "ab".repeat(32)
            )
        );
        assert_eq!(
            serde_json::to_string(&ExtraBlockInfo::None).unwrap(),
            "\"None\""
        );
        assert_eq!(
            serde_json::to_string(&ExtraBlockInfo::V0).unwrap(),
            "\"V0\""
        );
        assert_eq!(
            ExtraBlockInfo::from_code(ExtraBlockInfo::V0.to_code()),
            Some(ExtraBlockInfo::V0)
        );
        assert_eq!(ExtraBlockInfo::from_code(2), None);
    }
}
