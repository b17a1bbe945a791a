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
    fn acceptance_encoding_matches_the_reference_re_encoding() {
        // libsigner/tests/vectors/signer_messages.json, "v0 acceptance without metadata".
        let hash = Sha512Trunc256Sum::from_hex(
            "11717149677c2ac97d15ae5954f7a716f10100b9cb81a2bf27551b2f2e54ef19",
        )
        .unwrap();
        let sig = MessageSignature::from_hex("001c694f8134c5c90f2f2bcd330e9f423204884f001b5df0050f36a2c4ff79dd93522bb2ae395ea87de4964886447507c18374b7a46ee2e371e9bf332f0706a3e8").unwrap();
        assert_eq!(
            libsigner::chain::hex::to_hex(&encode_block_accepted(&hash, &sig, "", u64::MAX)),
            concat!(
                "010011717149677c2ac97d15ae5954f7a716f10100b9cb81a2bf27551b2f2e54ef19",
                "001c694f8134c5c90f2f2bcd330e9f423204884f001b5df0050f36a2c4ff79dd93522bb2ae395ea87de4964886447507c18374b7a46ee2e371e9bf332f0706a3e8",
                "000000000400000011ffffffffffffffffffffffffffffffffff"
            )
        );
    }

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

/// The SIP-018 hash a signer signs in a `BlockRejection`:
/// `sha256("SIP018" || sha256(domain) || sha256(buff(signer_signature_hash)))` with domain
/// `{chain-id: u<chain_id>, name: "block-rejection", version: "1.0.0"}`.
pub fn block_rejection_hash(
    signer_signature_hash: &Sha512Trunc256Sum,
    chain_id: u32,
) -> libsigner::chain::Sha256Sum {
    use libsigner::chain::Sha256Sum;
    let mut domain = vec![0x0c];
    domain.extend_from_slice(&3u32.to_be_bytes());
    for (name, value) in [
        ("chain-id", {
            let mut v = vec![0x01];
            v.extend_from_slice(&u128::from(chain_id).to_be_bytes());
            v
        }),
        ("name", ascii_value("block-rejection")),
        ("version", ascii_value("1.0.0")),
    ] {
        domain.push(name.len() as u8);
        domain.extend_from_slice(name.as_bytes());
        domain.extend_from_slice(&value);
    }
    let mut data = vec![0x02];
    data.extend_from_slice(&32u32.to_be_bytes());
    data.extend_from_slice(&signer_signature_hash.0);
    let mut message = b"SIP018".to_vec();
    message.extend_from_slice(&Sha256Sum::from_data(&domain).0);
    message.extend_from_slice(&Sha256Sum::from_data(&data).0);
    Sha256Sum::from_data(&message)
}

fn ascii_value(text: &str) -> Vec<u8> {
    let mut v = vec![0x0d];
    v.extend_from_slice(&(text.len() as u32).to_be_bytes());
    v.extend_from_slice(text.as_bytes());
    v
}

/// `0x01 || 0x01 || BlockRejection` signed by `key`: `reason_code` is the `RejectCode` bytes
/// (`[0, validate_code]` for `ValidationFailed`), repeated as the response data's reject
/// reason.
pub fn encode_block_rejection(
    key: &libsigner::chain::StacksPrivateKey,
    reason: &str,
    reason_code: &[u8],
    signer_signature_hash: &Sha512Trunc256Sum,
    chain_id: u32,
    server_version: &str,
) -> Vec<u8> {
    let hash = block_rejection_hash(signer_signature_hash, chain_id);
    let signature = key
        .sign(&hash.0)
        .unwrap_or_else(|_| MessageSignature::empty());
    let mut out = vec![prefix::BLOCK_RESPONSE, 0x01];
    write_lp(&mut out, reason.as_bytes());
    out.extend_from_slice(reason_code);
    out.extend_from_slice(&signer_signature_hash.0);
    out.extend_from_slice(&chain_id.to_be_bytes());
    out.extend_from_slice(&signature.0);
    write_lp(&mut out, server_version.as_bytes());
    out.push(BLOCK_RESPONSE_DATA_VERSION);
    let mut inner = Vec::new();
    inner.extend_from_slice(&u64::MAX.to_be_bytes());
    inner.extend_from_slice(reason_code);
    inner.extend_from_slice(&u64::MAX.to_be_bytes());
    write_lp(&mut out, &inner);
    out
}

#[cfg(test)]
mod rejection_tests {
    use super::*;
    use libsigner::chain::{StacksPrivateKey, StacksPublicKey};

    #[test]
    fn rejection_hash_matches_the_reference_vector() {
        // libsigner/tests/vectors/signer_messages.json, the NoSuchTenure rejection case.
        let hash = Sha512Trunc256Sum::from_hex(
            "91f95f84b7045f7dce7757052caa986ef042cb58f7df5031a3b5b5d0e3dda63e",
        )
        .unwrap();
        assert_eq!(
            block_rejection_hash(&hash, 0x8000_0000).to_hex(),
            "9fac5d0d57a5a3114db532cfc6eb887c477be9716ce600a79c509e6ef7818c35"
        );
    }

    #[test]
    fn rejections_decode_and_their_signature_recovers_the_signer() {
        let key = StacksPrivateKey::from_seed(b"rejecter");
        let hash = Sha512Trunc256Sum([3; 32]);
        let bytes = encode_block_rejection(
            &key,
            "Block hash is not as expected",
            &[0, 0],
            &hash,
            0x8000_0000,
            "v",
        );
        match SignerMessageView::decode(&bytes).unwrap() {
            SignerMessageView::BlockResponse(BlockResponseView::Rejected {
                signer_signature_hash,
                reason,
                reason_code,
            }) => {
                assert_eq!(signer_signature_hash, hash);
                assert_eq!(reason, "Block hash is not as expected");
                assert_eq!(reason_code, vec![0, 0]);
            }
            other => panic!("unexpected {other:?}"),
        }
        // signature sits after LP(reason) || code(2) || hash(32) || chain id(4)
        let offset = 2 + 4 + 29 + 2 + 32 + 4;
        let sig = MessageSignature::from_raw(&bytes[offset..offset + 65]).unwrap();
        let digest = block_rejection_hash(&hash, 0x8000_0000);
        let pk = StacksPublicKey::recover_to_pubkey(&digest.0, &sig).unwrap();
        assert_eq!(
            pk.to_bytes_compressed(),
            StacksPublicKey::from_private(&key).to_bytes_compressed()
        );
    }
}
