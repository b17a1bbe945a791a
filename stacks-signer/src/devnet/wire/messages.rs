//! Builders for the signer messages the mock node writes — block proposals and pushed blocks
//! (its miner), pre-commits, acceptances, rejections and state-machine updates (its
//! simulated signers) — as encoded libsigner `SignerMessage`s, and their decoding.

use libsigner::chain::{
    ConsensusHash, MessageSignature, NakamotoBlock, Sha512Trunc256Sum, StacksPrivateKey,
};
use libsigner::codec::{Error as CodecError, StacksMessageCodec};
use libsigner::v0::messages::{
    BlockAccepted, BlockProposal, BlockProposalData, BlockRejection, BlockResponse, RejectReason,
    SignerMessage, SignerMessageMetadata, StateMachineUpdate, StateMachineUpdateContent,
    StateMachineUpdateMinerState, ValidateRejectCode,
};

/// The signer protocol version the reference signer supports (and the mock's signers use).
pub const SIGNER_PROTOCOL_VERSION: u64 = 1;

/// A miner's `BlockProposal` for `block`, with `server_version` in its proposal data.
pub fn block_proposal(
    block: &NakamotoBlock,
    burn_height: u64,
    reward_cycle: u64,
    server_version: &str,
) -> Vec<u8> {
    SignerMessage::BlockProposal(BlockProposal {
        block: block.clone(),
        burn_height,
        reward_cycle,
        block_proposal_data: BlockProposalData::new(server_version.to_string()),
    })
    .serialize_to_vec()
}

/// A miner's `BlockPushed`.
pub fn block_pushed(block: &NakamotoBlock) -> Vec<u8> {
    SignerMessage::BlockPushed(block.clone()).serialize_to_vec()
}

/// A signer's `BlockPreCommit`.
pub fn block_pre_commit(signer_signature_hash: &Sha512Trunc256Sum) -> Vec<u8> {
    SignerMessage::BlockPreCommit(*signer_signature_hash).serialize_to_vec()
}

/// A signer's `BlockResponse::Accepted` with its signature over the hash, both tenure-extend
/// timestamps set to `tenure_extend_timestamp`, and `server_version` as metadata.
pub fn block_accepted(
    signer_signature_hash: &Sha512Trunc256Sum,
    signature: &MessageSignature,
    server_version: &str,
    tenure_extend_timestamp: u64,
    read_count_extend_timestamp: u64,
) -> Vec<u8> {
    let mut accepted = BlockAccepted::new(
        *signer_signature_hash,
        *signature,
        tenure_extend_timestamp,
        read_count_extend_timestamp,
    );
    accepted.metadata = SignerMessageMetadata {
        server_version: server_version.to_string(),
    };
    SignerMessage::BlockResponse(BlockResponse::Accepted(accepted)).serialize_to_vec()
}

/// A signer's `BlockResponse::Rejected` relaying the node's validation failure, signed by
/// `key` (as the reference signer does on a `/proposal_response` rejection), announcing the
/// (full, read-count) tenure-extend timestamps `timestamps`.
pub fn block_rejection(
    key: &StacksPrivateKey,
    signer_signature_hash: &Sha512Trunc256Sum,
    reason: &str,
    code: ValidateRejectCode,
    mainnet: bool,
    server_version: &str,
    timestamps: (u64, u64),
) -> Vec<u8> {
    let mut rejection = BlockRejection::from_validate_rejection(
        *signer_signature_hash,
        reason.to_string(),
        code,
        key,
        mainnet,
        timestamps.0,
        timestamps.1,
    );
    rejection.metadata = SignerMessageMetadata {
        server_version: server_version.to_string(),
    };
    SignerMessage::BlockResponse(BlockResponse::Rejected(rejection)).serialize_to_vec()
}

/// A signer's `BlockResponse::Rejected` for a signer-side `reason` (its display text as
/// `reason`), signed by `key`, announcing the (full, read-count) tenure-extend timestamps
/// `timestamps`.
pub fn signer_rejection(
    key: &StacksPrivateKey,
    signer_signature_hash: &Sha512Trunc256Sum,
    reason: RejectReason,
    mainnet: bool,
    server_version: &str,
    timestamps: (u64, u64),
) -> Vec<u8> {
    let mut rejection = BlockRejection::new(
        *signer_signature_hash,
        reason,
        key,
        mainnet,
        timestamps.0,
        timestamps.1,
    );
    rejection.metadata = SignerMessageMetadata {
        server_version: server_version.to_string(),
    };
    SignerMessage::BlockResponse(BlockResponse::Rejected(rejection)).serialize_to_vec()
}

/// A signer's V1 `StateMachineUpdate`: its burn view and current miner, no replay set.
pub fn state_machine_update(
    burn_block: &ConsensusHash,
    burn_block_height: u64,
    current_miner: StateMachineUpdateMinerState,
) -> Vec<u8> {
    let content = StateMachineUpdateContent::V1 {
        burn_block: *burn_block,
        burn_block_height,
        current_miner,
        replay_transactions: Vec::new(),
    };
    StateMachineUpdate::new(SIGNER_PROTOCOL_VERSION, SIGNER_PROTOCOL_VERSION, content)
        .map(|update| SignerMessage::StateMachineUpdate(update).serialize_to_vec())
        .unwrap_or_default()
}

/// Decodes a chunk's data as a `SignerMessage`.
pub fn decode(data: &[u8]) -> Result<SignerMessage, CodecError> {
    SignerMessage::consensus_deserialize(&mut &data[..])
}

/// A short name of the message kind, for logs and records.
pub fn kind(message: &SignerMessage) -> &'static str {
    match message {
        SignerMessage::BlockProposal(_) => "BlockProposal",
        SignerMessage::BlockResponse(BlockResponse::Accepted(_)) => "BlockAccepted",
        SignerMessage::BlockResponse(BlockResponse::Rejected(_)) => "BlockRejected",
        SignerMessage::BlockPushed(_) => "BlockPushed",
        SignerMessage::MockProposal(_) => "MockProposal",
        SignerMessage::MockSignature(_) => "MockSignature",
        SignerMessage::MockBlock(_) => "MockBlock",
        SignerMessage::StateMachineUpdate(_) => "StateMachineUpdate",
        SignerMessage::BlockPreCommit(_) => "BlockPreCommit",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libsigner::chain::{Hash160, StacksBlockId, StacksPublicKey};

    #[test]
    fn acceptance_encoding_matches_the_reference_re_encoding() {
        // libsigner/tests/vectors/signer_messages.json, "v0 acceptance without metadata".
        let hash = Sha512Trunc256Sum::from_hex(
            "11717149677c2ac97d15ae5954f7a716f10100b9cb81a2bf27551b2f2e54ef19",
        )
        .unwrap();
        let sig = MessageSignature::from_hex("001c694f8134c5c90f2f2bcd330e9f423204884f001b5df0050f36a2c4ff79dd93522bb2ae395ea87de4964886447507c18374b7a46ee2e371e9bf332f0706a3e8").unwrap();
        assert_eq!(
            libsigner::chain::hex::to_hex(&block_accepted(&hash, &sig, "", u64::MAX, u64::MAX)),
            concat!(
                "010011717149677c2ac97d15ae5954f7a716f10100b9cb81a2bf27551b2f2e54ef19",
                "001c694f8134c5c90f2f2bcd330e9f423204884f001b5df0050f36a2c4ff79dd93522bb2ae395ea87de4964886447507c18374b7a46ee2e371e9bf332f0706a3e8",
                "000000000400000011ffffffffffffffffffffffffffffffffff"
            )
        );
    }

    #[test]
    fn rejections_carry_the_validation_code_and_recover_the_signer() {
        let key = StacksPrivateKey::from_seed(b"rejecter");
        let hash = Sha512Trunc256Sum([3; 32]);
        let bytes = block_rejection(
            &key,
            &hash,
            "Block hash is not as expected",
            ValidateRejectCode::BadBlockHash,
            false,
            "v",
            (u64::MAX, u64::MAX),
        );
        let SignerMessage::BlockResponse(BlockResponse::Rejected(rejection)) =
            decode(&bytes).unwrap()
        else {
            panic!("expected a rejection");
        };
        assert_eq!(rejection.signer_signature_hash, hash);
        assert_eq!(rejection.reason, "Block hash is not as expected");
        assert_eq!(rejection.chain_id, 0x8000_0000);
        assert_eq!(
            rejection
                .recover_public_key()
                .unwrap()
                .to_bytes_compressed(),
            StacksPublicKey::from_private(&key).to_bytes_compressed()
        );
    }

    #[test]
    fn v1_updates_have_the_reference_content_lengths() {
        let miner = StateMachineUpdateMinerState::ActiveMiner {
            current_miner_pkh: Hash160([1; 20]),
            tenure_id: ConsensusHash([2; 20]),
            parent_tenure_id: ConsensusHash([3; 20]),
            parent_tenure_last_block: StacksBlockId([4; 32]),
            parent_tenure_last_block_height: 9,
        };
        let active = state_machine_update(&ConsensusHash([5; 20]), 7, miner);
        assert_eq!(active.len(), 1 + 8 + 8 + 4 + 133);
        let none = state_machine_update(
            &ConsensusHash([5; 20]),
            7,
            StateMachineUpdateMinerState::NoValidMiner,
        );
        assert_eq!(none.len(), 1 + 8 + 8 + 4 + 33);
        assert_eq!(kind(&decode(&active).unwrap()), "StateMachineUpdate");
    }
}
