//! The signer messages the mock node writes (block proposals, pushed blocks, and — for its
//! simulated signers — pre-commits and acceptances) and reads back from StackerDB chunks.

use libsigner::chain::{MessageSignature, Sha512Trunc256Sum};
use libsigner::codec::{read_bytes, Error as CodecError};

use super::block::NakamotoBlock;
use super::read;

/// `SignerMessage` type prefixes.
pub mod prefix {
    /// A miner's block proposal.
    pub const BLOCK_PROPOSAL: u8 = 0;
    /// A signer's accept/reject.
    pub const BLOCK_RESPONSE: u8 = 1;
    /// A miner's signed block.
    pub const BLOCK_PUSHED: u8 = 2;
    /// A mock proposal (epoch 2.5).
    pub const MOCK_PROPOSAL: u8 = 3;
    /// A mock signature (epoch 2.5).
    pub const MOCK_SIGNATURE: u8 = 4;
    /// A mock block (epoch 2.5).
    pub const MOCK_BLOCK: u8 = 5;
    /// A signer's state-machine update.
    pub const STATE_MACHINE_UPDATE: u8 = 6;
    /// A signer's pre-commit.
    pub const BLOCK_PRE_COMMIT: u8 = 7;
}

const BLOCK_PROPOSAL_DATA_VERSION: u8 = 2;
const BLOCK_RESPONSE_DATA_VERSION: u8 = 4;
const REJECT_REASON_NOT_REJECTED: u8 = 255;

/// A signer's block response, decoded as far as the mock needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockResponseView {
    /// `BlockResponse::Accepted`.
    Accepted {
        /// The signed block's signer signature hash.
        signer_signature_hash: Sha512Trunc256Sum,
        /// The signature over that hash.
        signature: MessageSignature,
    },
    /// `BlockResponse::Rejected`.
    Rejected {
        /// The rejected block's signer signature hash.
        signer_signature_hash: Sha512Trunc256Sum,
        /// The signer's reason text.
        reason: String,
        /// The reject code's bytes (`prefix [|| validate code]`).
        reason_code: Vec<u8>,
    },
}

/// A `SignerMessage`, decoded as far as the mock needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerMessageView {
    /// A miner's proposal.
    BlockProposal {
        /// The proposed block.
        block: Box<NakamotoBlock>,
        /// The burn height the miner saw.
        burn_height: u64,
        /// The reward cycle the block belongs to.
        reward_cycle: u64,
    },
    /// A signer's response.
    BlockResponse(BlockResponseView),
    /// A miner's signed block.
    BlockPushed(Box<NakamotoBlock>),
    /// A signer's pre-commit for a block.
    BlockPreCommit(Sha512Trunc256Sum),
    /// A state-machine update (body left encoded).
    StateMachineUpdate(Vec<u8>),
    /// Any other message kind (prefix, body).
    Other(u8, Vec<u8>),
}

fn write_lp(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// `0x00 || block || burn_height || reward_cycle || BlockProposalData(v2, server_version)`.
pub fn encode_block_proposal(
    block: &NakamotoBlock,
    burn_height: u64,
    reward_cycle: u64,
    server_version: &str,
) -> Vec<u8> {
    let mut out = vec![prefix::BLOCK_PROPOSAL];
    out.extend_from_slice(&block.to_bytes());
    out.extend_from_slice(&burn_height.to_be_bytes());
    out.extend_from_slice(&reward_cycle.to_be_bytes());
    out.push(BLOCK_PROPOSAL_DATA_VERSION);
    let mut inner = Vec::new();
    write_lp(&mut inner, server_version.as_bytes());
    write_lp(&mut out, &inner);
    out
}

/// `0x02 || block`.
pub fn encode_block_pushed(block: &NakamotoBlock) -> Vec<u8> {
    let mut out = vec![prefix::BLOCK_PUSHED];
    out.extend_from_slice(&block.to_bytes());
    out
}

/// `0x07 || signer_signature_hash`.
pub fn encode_block_pre_commit(signer_signature_hash: &Sha512Trunc256Sum) -> Vec<u8> {
    let mut out = vec![prefix::BLOCK_PRE_COMMIT];
    out.extend_from_slice(&signer_signature_hash.0);
    out
}

/// `0x01 || 0x00 || hash || signature || metadata || BlockResponseData(v4, not rejected)`.
pub fn encode_block_accepted(
    signer_signature_hash: &Sha512Trunc256Sum,
    signature: &MessageSignature,
    server_version: &str,
    tenure_extend_timestamp: u64,
) -> Vec<u8> {
    let mut out = vec![prefix::BLOCK_RESPONSE, 0x00];
    out.extend_from_slice(&signer_signature_hash.0);
    out.extend_from_slice(&signature.0);
    write_lp(&mut out, server_version.as_bytes());
    out.push(BLOCK_RESPONSE_DATA_VERSION);
    let mut inner = Vec::new();
    inner.extend_from_slice(&tenure_extend_timestamp.to_be_bytes());
    inner.push(REJECT_REASON_NOT_REJECTED);
    inner.extend_from_slice(&tenure_extend_timestamp.to_be_bytes());
    write_lp(&mut out, &inner);
    out
}

impl SignerMessageView {
    /// Decodes a chunk's data. Bytes after the fields the mock reads are ignored.
    pub fn decode(data: &[u8]) -> Result<Self, CodecError> {
        let mut fd = data;
        let kind: u8 = read(&mut fd)?;
        match kind {
            prefix::BLOCK_PROPOSAL => {
                let block = NakamotoBlock::read(&mut fd)?;
                let burn_height = read(&mut fd)?;
                let reward_cycle = read(&mut fd)?;
                Ok(SignerMessageView::BlockProposal {
                    block: Box::new(block),
                    burn_height,
                    reward_cycle,
                })
            }
            prefix::BLOCK_RESPONSE => {
                let which: u8 = read(&mut fd)?;
                match which {
                    0 => {
                        let signer_signature_hash = read(&mut fd)?;
                        let signature = read(&mut fd)?;
                        Ok(SignerMessageView::BlockResponse(
                            BlockResponseView::Accepted {
                                signer_signature_hash,
                                signature,
                            },
                        ))
                    }
                    1 => {
                        let len: u32 = read(&mut fd)?;
                        let reason = read_bytes(&mut fd, len as usize)?;
                        let reason = String::from_utf8(reason).map_err(|_| {
                            CodecError::DeserializeError("reason is not UTF-8".into())
                        })?;
                        let code: u8 = read(&mut fd)?;
                        let mut reason_code = vec![code];
                        if code == 0 {
                            reason_code.push(read(&mut fd)?);
                        }
                        let signer_signature_hash = read(&mut fd)?;
                        Ok(SignerMessageView::BlockResponse(
                            BlockResponseView::Rejected {
                                signer_signature_hash,
                                reason,
                                reason_code,
                            },
                        ))
                    }
                    other => Err(CodecError::DeserializeError(format!(
                        "Unknown block response type prefix: {other}"
                    ))),
                }
            }
            prefix::BLOCK_PUSHED => Ok(SignerMessageView::BlockPushed(Box::new(
                NakamotoBlock::read(&mut fd)?,
            ))),
            prefix::BLOCK_PRE_COMMIT => Ok(SignerMessageView::BlockPreCommit(read(&mut fd)?)),
            prefix::STATE_MACHINE_UPDATE => Ok(SignerMessageView::StateMachineUpdate(fd.to_vec())),
            other if other <= prefix::BLOCK_PRE_COMMIT => {
                Ok(SignerMessageView::Other(other, fd.to_vec()))
            }
            other => Err(CodecError::DeserializeError(format!(
                "Unknown signer message type prefix: {other}"
            ))),
        }
    }

    /// A short name for logs and records.
    pub fn kind(&self) -> &'static str {
        match self {
            SignerMessageView::BlockProposal { .. } => "BlockProposal",
            SignerMessageView::BlockResponse(BlockResponseView::Accepted { .. }) => "BlockAccepted",
            SignerMessageView::BlockResponse(BlockResponseView::Rejected { .. }) => "BlockRejected",
            SignerMessageView::BlockPushed(_) => "BlockPushed",
            SignerMessageView::BlockPreCommit(_) => "BlockPreCommit",
            SignerMessageView::StateMachineUpdate(_) => "StateMachineUpdate",
            SignerMessageView::Other(..) => "Other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_commit_and_acceptance_decode_back() {
        let hash = Sha512Trunc256Sum([7; 32]);
        let pre = encode_block_pre_commit(&hash);
        assert_eq!(pre.len(), 33);
        assert_eq!(
            SignerMessageView::decode(&pre).unwrap(),
            SignerMessageView::BlockPreCommit(hash)
        );
        let sig = MessageSignature([1; 65]);
        let acc = encode_block_accepted(&hash, &sig, "v", 5);
        match SignerMessageView::decode(&acc).unwrap() {
            SignerMessageView::BlockResponse(BlockResponseView::Accepted {
                signer_signature_hash,
                signature,
            }) => {
                assert_eq!(signer_signature_hash, hash);
                assert_eq!(signature, sig);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(SignerMessageView::decode(&[9]).is_err());
        assert!(SignerMessageView::decode(&[]).is_err());
    }
}

/// The miner part of a state-machine update (`MinerState::ActiveMiner`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveMinerView {
    /// Hash160 of the current miner's key.
    pub current_miner_pkh: libsigner::chain::Hash160,
    /// The miner's tenure.
    pub tenure_id: libsigner::chain::ConsensusHash,
    /// The tenure it builds on.
    pub parent_tenure_id: libsigner::chain::ConsensusHash,
    /// The last block of that tenure.
    pub parent_tenure_last_block: libsigner::chain::StacksBlockId,
    /// Its height.
    pub parent_tenure_last_block_height: u64,
}

/// The signer protocol version the reference signer supports (and the mock's signers use).
pub const SIGNER_PROTOCOL_VERSION: u64 = 1;

/// `0x06 || active u64 || local_supported u64 || LP(V1 content)` with V1 content
/// `burn_block || burn_block_height || miner state || replay transactions (none)`.
pub fn encode_state_machine_update_v1(
    burn_block: &libsigner::chain::ConsensusHash,
    burn_block_height: u64,
    miner: Option<&ActiveMinerView>,
) -> Vec<u8> {
    let mut content = Vec::with_capacity(133);
    content.extend_from_slice(&burn_block.0);
    content.extend_from_slice(&burn_block_height.to_be_bytes());
    match miner {
        None => content.push(0),
        Some(m) => {
            content.push(1);
            content.extend_from_slice(&m.current_miner_pkh.0);
            content.extend_from_slice(&m.tenure_id.0);
            content.extend_from_slice(&m.parent_tenure_id.0);
            content.extend_from_slice(&m.parent_tenure_last_block.0);
            content.extend_from_slice(&m.parent_tenure_last_block_height.to_be_bytes());
        }
    }
    content.extend_from_slice(&0u32.to_be_bytes());
    let mut out = vec![prefix::STATE_MACHINE_UPDATE];
    out.extend_from_slice(&SIGNER_PROTOCOL_VERSION.to_be_bytes());
    out.extend_from_slice(&SIGNER_PROTOCOL_VERSION.to_be_bytes());
    write_lp(&mut out, &content);
    out
}

#[cfg(test)]
mod state_update_tests {
    use super::*;
    use libsigner::chain::{ConsensusHash, Hash160, StacksBlockId};

    #[test]
    fn v1_update_contents_have_the_reference_lengths() {
        let miner = ActiveMinerView {
            current_miner_pkh: Hash160([1; 20]),
            tenure_id: ConsensusHash([2; 20]),
            parent_tenure_id: ConsensusHash([3; 20]),
            parent_tenure_last_block: StacksBlockId([4; 32]),
            parent_tenure_last_block_height: 9,
        };
        let active = encode_state_machine_update_v1(&ConsensusHash([5; 20]), 7, Some(&miner));
        assert_eq!(active.len(), 1 + 8 + 8 + 4 + 133);
        assert_eq!(&active[17..21], &133u32.to_be_bytes());
        let none = encode_state_machine_update_v1(&ConsensusHash([5; 20]), 7, None);
        assert_eq!(none.len(), 1 + 8 + 8 + 4 + 33);
    }
}
