//! Every case of `vectors/signer_messages.json`: decode, bytes consumed, re-encoding (and
//! the second re-encoding where the reference's changes again), message id, every decoded
//! field, the JSON form, signatures and recovered keys; every invalid case rejected.

mod common;

use std::collections::BTreeMap;

use common::{hex_decode, hex_encode, hex_field, is_error_case, label, load_cases};
use libsigner::chain::{StacksPrivateKey, StacksPublicKey};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::*;
use serde_json::Value;

/// Decodes `bytes`, returning the message and how many bytes it read.
fn decode(bytes: &[u8]) -> Result<(SignerMessage, usize), libsigner::codec::Error> {
    let mut reader = bytes;
    let message = SignerMessage::consensus_deserialize(&mut reader)?;
    Ok((message, bytes.len() - reader.len()))
}

fn hex_of<T: AsRef<[u8]>>(value: T) -> String {
    hex_encode(value.as_ref())
}

fn other_public_key() -> StacksPublicKey {
    StacksPublicKey::from_private(&StacksPrivateKey::from_seed(b"an unrelated key"))
}

fn public_key(case: &Value, key: &str) -> Option<StacksPublicKey> {
    case[key]
        .as_str()
        .map(|text| StacksPublicKey::from_hex(text).expect("a public key"))
}

fn private_key(case: &Value, key: &str) -> Option<StacksPrivateKey> {
    case[key]
        .as_str()
        .map(|text| StacksPrivateKey::from_hex(text).expect("a private key"))
}

fn check_response_data(data: &BlockResponseData, expected: &Value, what: &str) {
    assert_eq!(
        data.version,
        expected["version"].as_u64().unwrap() as u8,
        "{what}"
    );
    assert_eq!(
        data.tenure_extend_timestamp,
        expected["tenure_extend_timestamp"].as_u64().unwrap(),
        "{what}"
    );
    assert_eq!(
        u64::from(RejectReasonPrefix::from(&data.reject_reason).to_u8()),
        expected["reject_reason_prefix"].as_u64().unwrap(),
        "{what}"
    );
    assert_eq!(
        data.reject_reason.to_string(),
        expected["reject_reason"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        serde_json::to_value(&data.reject_reason).unwrap(),
        expected["reject_reason_json"],
        "{what}"
    );
    assert_eq!(
        data.tenure_extend_read_count_timestamp,
        expected["tenure_extend_read_count_timestamp"]
            .as_u64()
            .unwrap(),
        "{what}"
    );
    assert_eq!(
        hex_encode(&data.unknown_bytes),
        expected["unknown_bytes"].as_str().unwrap(),
        "{what}"
    );
}

fn check_accepted(accepted: &BlockAccepted, fields: &Value, case: &Value, what: &str) {
    assert_eq!(fields["accepted"], true, "{what}");
    assert_eq!(
        hex_of(accepted.signer_signature_hash),
        fields["signer_signature_hash"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        accepted.signature.to_hex(),
        fields["signature"].as_str().unwrap(),
        "{what}"
    );
    let recovered = StacksPublicKey::recover_to_pubkey(
        accepted.signer_signature_hash.as_bytes(),
        &accepted.signature,
    )
    .ok()
    .map(|key| key.to_hex());
    assert_eq!(
        recovered.as_deref(),
        fields["recovered_public_key"].as_str(),
        "{what}"
    );
    if let Some(signer) = public_key(case, "signer_public_key") {
        assert_eq!(Some(signer.to_hex()), recovered, "{what}");
    }
    if let Some(key) = private_key(case, "signer_private_key") {
        let signature = key.sign(accepted.signer_signature_hash.as_bytes()).unwrap();
        assert_eq!(
            signature, accepted.signature,
            "{what}: deterministic signature"
        );
    }
    assert_eq!(
        accepted.metadata.server_version,
        fields["server_version"].as_str().unwrap(),
        "{what}"
    );
    let response = BlockResponse::Accepted(accepted.clone());
    assert_eq!(
        response.get_tenure_extend_timestamp(),
        fields["tenure_extend_timestamp"].as_u64().unwrap(),
        "{what}"
    );
    check_response_data(&accepted.response_data, &fields["response_data"], what);
}

fn check_rejected(rejection: &BlockRejection, fields: &Value, case: &Value, what: &str) {
    assert_eq!(fields["accepted"], false, "{what}");
    assert_eq!(
        hex_of(rejection.signer_signature_hash),
        fields["signer_signature_hash"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        rejection.reason,
        fields["reason"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        u64::from(RejectCodeTypePrefix::from(&rejection.reason_code).to_u8()),
        fields["reject_code_prefix"].as_u64().unwrap(),
        "{what}"
    );
    assert_eq!(
        rejection.reason_code.to_string(),
        fields["reject_code"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        serde_json::to_value(&rejection.reason_code).unwrap(),
        fields["reject_code_json"],
        "{what}"
    );
    let validate_code = match &rejection.reason_code {
        RejectCode::ValidationFailed(code) => Value::String(format!("{code:?}")),
        _ => Value::Null,
    };
    assert_eq!(validate_code, fields["validate_reject_code"], "{what}");
    assert_eq!(
        u64::from(rejection.chain_id),
        fields["chain_id"].as_u64().unwrap(),
        "{what}"
    );
    assert_eq!(
        rejection.signature.to_hex(),
        fields["signature"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        hex_of(rejection.hash()),
        fields["rejection_hash"].as_str().unwrap(),
        "{what}"
    );
    let recovered = rejection.recover_public_key().ok().map(|key| key.to_hex());
    assert_eq!(
        recovered.as_deref(),
        fields["recovered_public_key"].as_str(),
        "{what}"
    );
    if let Some(signer) = public_key(case, "signer_public_key") {
        let expected = case["verify_with_signer_key"].as_bool().unwrap_or(true);
        assert_eq!(rejection.verify(&signer), Ok(expected), "{what}");
    }
    if let Some(expected) = case["verify_with_other_key"].as_bool() {
        assert_eq!(
            rejection.verify(&other_public_key()),
            Ok(expected),
            "{what}"
        );
    }
    if let Some(key) = private_key(case, "signer_private_key") {
        let signature = key.sign(rejection.hash().as_bytes()).unwrap();
        assert_eq!(
            signature, rejection.signature,
            "{what}: deterministic signature"
        );
    }
    assert_eq!(
        rejection.metadata.server_version,
        fields["server_version"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        rejection.response_data.tenure_extend_timestamp,
        fields["tenure_extend_timestamp"].as_u64().unwrap(),
        "{what}"
    );
    check_response_data(&rejection.response_data, &fields["response_data"], what);
}

fn check_peer_info(info: &PeerInfo, expected: &Value, what: &str) {
    assert_eq!(
        info.burn_block_height,
        expected["burn_block_height"].as_u64().unwrap(),
        "{what}"
    );
    assert_eq!(
        hex_of(info.stacks_tip_consensus_hash),
        expected["stacks_tip_consensus_hash"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        hex_of(info.stacks_tip),
        expected["stacks_tip"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        info.stacks_tip_height,
        expected["stacks_tip_height"].as_u64().unwrap(),
        "{what}"
    );
    assert_eq!(
        info.server_version,
        expected["server_version"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        hex_of(info.pox_consensus),
        expected["pox_consensus"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        u64::from(info.network_id),
        expected["network_id"].as_u64().unwrap(),
        "{what}"
    );
}

fn check_mock_proposal(proposal: &MockProposal, expected: &Value, what: &str) {
    check_peer_info(&proposal.peer_info, &expected["peer_info"], what);
    assert_eq!(
        proposal.signature().to_hex(),
        expected["miner_signature"].as_str().unwrap(),
        "{what}"
    );
    let miner_hash = proposal.miner_signature_hash();
    assert_eq!(
        miner_hash.map(hex_of).as_deref(),
        expected["miner_signature_hash"].as_str(),
        "{what}"
    );
    assert_eq!(
        proposal.signer_signature_hash().map(hex_of).as_deref(),
        expected["mock_signer_signature_hash"].as_str(),
        "{what}"
    );
    let recovered = miner_hash.and_then(|hash| {
        StacksPublicKey::recover_to_pubkey(hash.as_bytes(), proposal.signature())
            .ok()
            .map(|key| key.to_hex())
    });
    assert_eq!(
        recovered.as_deref(),
        expected["recovered_miner_public_key"].as_str(),
        "{what}"
    );
}

fn check_mock_signature(signature: &MockSignature, expected: &Value, what: &str) {
    assert_eq!(
        signature.signature().to_hex(),
        expected["signature"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        signature.metadata.server_version,
        expected["server_version"].as_str().unwrap(),
        "{what}"
    );
    check_mock_proposal(&signature.mock_proposal, &expected["mock_proposal"], what);
    let recovered = signature
        .mock_proposal
        .signer_signature_hash()
        .and_then(|hash| {
            StacksPublicKey::recover_to_pubkey(hash.as_bytes(), signature.signature())
                .ok()
                .map(|key| key.to_hex())
        });
    assert_eq!(
        recovered.as_deref(),
        expected["recovered_signer_public_key"].as_str(),
        "{what}"
    );
}

fn check_mock_keys(case: &Value, proposal: &MockProposal, what: &str) {
    let verify_key = if case["variant"] == "MockProposal" {
        "verify_with_miner_key"
    } else {
        "mock_proposal_verify_with_miner_key"
    };
    if let (Some(miner), Some(expected)) = (
        public_key(case, "miner_public_key"),
        case[verify_key].as_bool(),
    ) {
        assert_eq!(proposal.verify(&miner), Ok(expected), "{what}");
    }
    if let Some(key) = private_key(case, "miner_private_key") {
        let rebuilt = MockProposal::new(proposal.peer_info.clone(), &key);
        assert_eq!(&rebuilt, proposal, "{what}: re-signed proposal");
    }
}

fn check_state_update(update: &StateMachineUpdate, fields: &Value, what: &str) {
    assert_eq!(
        update.active_signer_protocol_version,
        fields["active_signer_protocol_version"].as_u64().unwrap(),
        "{what}"
    );
    assert_eq!(
        update.local_supported_signer_protocol_version,
        fields["local_supported_signer_protocol_version"]
            .as_u64()
            .unwrap(),
        "{what}"
    );
    let content_version = match update.content {
        StateMachineUpdateContent::V0 { .. } => "V0",
        StateMachineUpdateContent::V1 { .. } => "V1",
        StateMachineUpdateContent::V2 { .. } => "V2",
    };
    assert_eq!(content_version, fields["content_version"], "{what}");
    let (burn_block, height) = update.content.burn_block_view();
    assert_eq!(
        hex_of(burn_block),
        fields["burn_block"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        height,
        fields["burn_block_height"].as_u64().unwrap(),
        "{what}"
    );
    assert_eq!(
        serde_json::to_value(update.content.current_miner()).unwrap(),
        fields["current_miner"],
        "{what}"
    );
    let txids: Vec<String> = update
        .content
        .tx_replay_set()
        .unwrap_or_default()
        .iter()
        .map(|tx| hex_of(tx.txid()))
        .collect();
    let expected: Vec<String> = fields["replay_txids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert_eq!(txids, expected, "{what}");
}

fn check_fields(message: &SignerMessage, case: &Value, what: &str) {
    let fields = &case["fields"];
    match message {
        SignerMessage::BlockResponse(BlockResponse::Accepted(accepted)) => {
            check_accepted(accepted, fields, case, what)
        }
        SignerMessage::BlockResponse(BlockResponse::Rejected(rejection)) => {
            check_rejected(rejection, fields, case, what)
        }
        SignerMessage::MockProposal(proposal) => {
            check_mock_proposal(proposal, fields, what);
            check_mock_keys(case, proposal, what);
            if let Some(expected) = case["verify_with_other_key"].as_bool() {
                assert_eq!(proposal.verify(&other_public_key()), Ok(expected), "{what}");
            }
        }
        SignerMessage::MockSignature(signature) => {
            check_mock_signature(signature, fields, what);
            check_mock_keys(case, &signature.mock_proposal, what);
            if let Some(signer) = public_key(case, "signer_public_key") {
                let expected = case["verify_with_signer_key"].as_bool().unwrap();
                assert_eq!(signature.verify(&signer), Ok(expected), "{what}");
            }
            if let Some(miner) = public_key(case, "miner_public_key") {
                let expected = case["verify_with_miner_key"].as_bool().unwrap();
                assert_eq!(signature.verify(&miner), Ok(expected), "{what}");
            }
            if let Some(key) = private_key(case, "signer_private_key") {
                let mut rebuilt = MockSignature::new(signature.mock_proposal.clone(), &key);
                rebuilt.metadata = signature.metadata.clone();
                assert_eq!(&rebuilt, signature, "{what}: re-signed mock signature");
            }
        }
        SignerMessage::MockBlock(block) => {
            check_mock_proposal(&block.mock_proposal, &fields["mock_proposal"], what);
            check_mock_keys(case, &block.mock_proposal, what);
            let expected = fields["mock_signatures"].as_array().unwrap();
            assert_eq!(block.mock_signatures.len(), expected.len(), "{what}");
            for (signature, expected) in block.mock_signatures.iter().zip(expected) {
                check_mock_signature(signature, expected, what);
            }
            if let Some(keys) = case["signer_public_keys"].as_array() {
                let results = case["verify_with_signer_keys"].as_array().unwrap();
                assert_eq!(keys.len(), block.mock_signatures.len(), "{what}");
                for ((signature, key), result) in
                    block.mock_signatures.iter().zip(keys).zip(results)
                {
                    let key = StacksPublicKey::from_hex(key.as_str().unwrap()).unwrap();
                    assert_eq!(
                        signature.verify(&key),
                        Ok(result.as_bool().unwrap()),
                        "{what}"
                    );
                }
            }
        }
        SignerMessage::StateMachineUpdate(update) => check_state_update(update, fields, what),
        SignerMessage::BlockPreCommit(hash) => assert_eq!(
            hex_of(hash),
            fields["signer_signature_hash"].as_str().unwrap(),
            "{what}"
        ),
        SignerMessage::BlockProposal(proposal) => {
            check_block(&proposal.block, fields, what);
            assert_eq!(
                proposal.burn_height,
                fields["burn_height"].as_u64().unwrap(),
                "{what}"
            );
            assert_eq!(
                proposal.reward_cycle,
                fields["reward_cycle"].as_u64().unwrap(),
                "{what}"
            );
            let data = &proposal.block_proposal_data;
            assert_eq!(
                u64::from(data.version),
                fields["data_version"].as_u64().unwrap(),
                "{what}"
            );
            assert_eq!(
                data.server_version,
                fields["server_version"].as_str().unwrap(),
                "{what}"
            );
            assert_eq!(
                hex_of(&data.unknown_bytes),
                fields["unknown_bytes"].as_str().unwrap(),
                "{what}"
            );
        }
        SignerMessage::BlockPushed(block) => check_block(block, fields, what),
    }
}

fn check_block(block: &libsigner::chain::NakamotoBlock, fields: &Value, what: &str) {
    assert_eq!(
        hex_of(block.header.signer_signature_hash()),
        fields["block_signer_signature_hash"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        hex_of(block.block_id()),
        fields["block_id"].as_str().unwrap(),
        "{what}"
    );
    let txids: Vec<String> = block.txids().iter().map(hex_of).collect();
    let expected: Vec<String> = fields["block_txids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert_eq!(txids, expected, "{what}");
}

fn variant_name(message: &SignerMessage) -> &'static str {
    match message {
        SignerMessage::BlockResponse(BlockResponse::Accepted(_)) => "BlockResponse/Accepted",
        SignerMessage::BlockResponse(BlockResponse::Rejected(_)) => "BlockResponse/Rejected",
        SignerMessage::MockProposal(_) => "MockProposal",
        SignerMessage::MockSignature(_) => "MockSignature",
        SignerMessage::MockBlock(_) => "MockBlock",
        SignerMessage::StateMachineUpdate(_) => "StateMachineUpdate",
        SignerMessage::BlockPreCommit(_) => "BlockPreCommit",
        SignerMessage::BlockProposal(_) => "BlockProposal",
        SignerMessage::BlockPushed(_) => "BlockPushed",
    }
}

#[test]
fn every_signer_message_vector_decodes_reencodes_and_matches_its_fields() {
    let mut checked: BTreeMap<String, usize> = BTreeMap::new();
    for case in load_cases("signer_messages.json") {
        let what = label(&case);
        let hex = case["hex"].as_str().unwrap();
        let bytes = hex_decode(hex);
        if is_error_case(&case) {
            assert!(decode(&bytes).is_err(), "{what}: must be rejected");
            *checked.entry("expected_error".into()).or_default() += 1;
            continue;
        }
        let (message, consumed) = decode(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            consumed as u64,
            case["consumed"].as_u64().unwrap(),
            "{what}"
        );
        assert_eq!(variant_name(&message), case["variant"], "{what}");
        assert_eq!(
            message.msg_id().map(|id| u64::from(id.to_u8())),
            case["msg_id"].as_u64(),
            "{what}"
        );
        let reencoded = message.serialize_to_vec();
        assert_eq!(hex_encode(&reencoded), case["reencoded_hex"], "{what}");
        let (again, again_consumed) = decode(&reencoded).unwrap();
        assert_eq!(again_consumed, reencoded.len(), "{what}");
        let expected_again = case["reencoded_again_hex"]
            .as_str()
            .unwrap_or(case["reencoded_hex"].as_str().unwrap());
        assert_eq!(
            hex_encode(&again.serialize_to_vec()),
            expected_again,
            "{what}"
        );
        if case.get("json").is_some() {
            assert_eq!(
                serde_json::to_value(&message).unwrap(),
                case["json"],
                "{what}"
            );
        }
        check_fields(&message, &case, &what);
        *checked.entry(variant_name(&message).into()).or_default() += 1;
    }
    eprintln!("checked per variant: {checked:?}");
    assert_eq!(checked.values().sum::<usize>(), 251);
    assert_eq!(checked["BlockProposal"], 35);
    assert_eq!(checked["BlockPushed"], 10);
    let _ = hex_field;
}

// ---------------------------------------------------------------------------------------
// The reference's own fixtures (libsigner.md §6).
// ---------------------------------------------------------------------------------------

const V0_REJECTION: &str = "01010000005042\
6c6f636b206973206e6f7420612074656e7572652d737461727420626c6f636b2c20616e642068617320616e\
20756e7265636f676e697a65642074656e75726520636f6e73656e7375732068617368000691f95f84b7045f\
7dce7757052caa986ef042cb58f7df5031a3b5b5d0e3dda63e80000000006fb349212e1a1af1a3c712878d51\
59b5ec14636adb6f70be00a6da4ad4f88a9934d8a9abb229620dd8e0f225d63401e36c64817fb29e6c05591d\
cbe95c512df3";

const V0_ACCEPTANCE: &str = "010011717149677c2ac97d15ae5954f7a716f10100b9cb81a2bf27551b2f2e\
54ef19001c694f8134c5c90f2f2bcd330e9f423204884f001b5df0050f36a2c4ff79dd93522bb2ae395ea87de4\
964886447507c18374b7a46ee2e371e9bf332f0706a3e8";

/// `0000000b "Hello world"`
const HELLO_METADATA: &str = "0000000b48656c6c6f20776f726c64";

fn response(hex: &str) -> BlockResponse {
    let bytes = hex_decode(hex);
    match decode(&bytes).unwrap().0 {
        SignerMessage::BlockResponse(response) => response,
        other => panic!("not a response: {other:?}"),
    }
}

#[test]
fn v0_responses_without_metadata_or_response_data_still_decode() {
    let rejection = response(V0_REJECTION);
    let rejection = rejection.as_block_rejection().unwrap();
    assert_eq!(
        rejection.reason,
        "Block is not a tenure-start block, and has an unrecognized tenure consensus hash"
    );
    assert_eq!(
        rejection.reason_code,
        RejectCode::ValidationFailed(ValidateRejectCode::NoSuchTenure)
    );
    assert_eq!(rejection.chain_id, libsigner::chain::CHAIN_ID_TESTNET);
    assert_eq!(rejection.metadata, SignerMessageMetadata::empty());
    assert_eq!(
        rejection.response_data,
        BlockResponseData::new(u64::MAX, RejectReason::NotRejected, u64::MAX)
    );
    let accepted = response(V0_ACCEPTANCE);
    let accepted = accepted.as_block_accepted().unwrap();
    assert_eq!(accepted.metadata, SignerMessageMetadata::empty());
    assert_eq!(accepted.response_data, BlockResponseData::empty());
}

#[test]
fn v2_responses_carry_metadata_and_default_response_data() {
    for hex in [V0_REJECTION, V0_ACCEPTANCE] {
        let response = response(&format!("{hex}{HELLO_METADATA}"));
        let (metadata, data) = match &response {
            BlockResponse::Accepted(a) => (&a.metadata, &a.response_data),
            BlockResponse::Rejected(r) => (&r.metadata, &r.response_data),
        };
        assert_eq!(metadata.server_version, "Hello world");
        assert_eq!(data, &BlockResponseData::empty());
    }
}

#[test]
fn v3_response_data_has_no_read_count_timestamp() {
    let rejected = response(&format!(
        "{V0_REJECTION}{HELLO_METADATA}0300000009000000000000000b0b"
    ));
    assert_eq!(
        rejected.get_response_data(),
        &BlockResponseData {
            version: 3,
            tenure_extend_timestamp: 11,
            reject_reason: RejectReason::InvalidParentBlock,
            tenure_extend_read_count_timestamp: u64::MAX,
            unknown_bytes: vec![],
        }
    );
    let accepted = response(&format!(
        "{V0_ACCEPTANCE}{HELLO_METADATA}03000000090000000000000015ff"
    ));
    assert_eq!(accepted.get_response_data().version, 3);
    assert_eq!(accepted.get_tenure_extend_timestamp(), 21);
    assert_eq!(
        accepted.get_response_data().reject_reason,
        RejectReason::NotRejected
    );
    assert_eq!(
        accepted
            .get_response_data()
            .tenure_extend_read_count_timestamp,
        u64::MAX
    );
}

#[test]
fn old_response_data_without_reject_reason_decodes_as_unknown_254() {
    let metadata = "stacks-signer 0.0.1 (:, release build, linux [x86_64])";
    let hex = format!(
        "{V0_ACCEPTANCE}{:08x}{}0200000008000000006751c76e",
        metadata.len(),
        hex_encode(metadata.as_bytes())
    );
    let accepted = response(&hex);
    let data = accepted.get_response_data();
    assert_eq!(data.reject_reason, RejectReason::Unknown(254));
    assert_eq!(data.tenure_extend_read_count_timestamp, u64::MAX);
    assert_eq!(data.tenure_extend_timestamp, 0x6751c76e);
}

#[test]
fn empty_input_is_empty_metadata() {
    let metadata = SignerMessageMetadata::consensus_deserialize(&mut &[][..]).unwrap();
    assert_eq!(metadata, SignerMessageMetadata::empty());
    assert!(SignerMessageMetadata::default()
        .server_version
        .contains("stacks-signer 3.3.0.0.4.0"));
}

#[test]
fn response_data_sizes_are_pinned() {
    let mut data = BlockResponseData::new(2, RejectReason::ReorgNotAllowed, 3);
    data.unknown_bytes = vec![1, 2, 3, 4];
    assert_eq!(data.serialize_to_vec().len(), 26);
    let data = BlockResponseData::new(2, RejectReason::NotRejected, 3);
    assert_eq!(data.serialize_to_vec().len(), 22);
}

#[test]
fn newer_response_data_keeps_its_extra_bytes() {
    let mut newer = BlockResponseData::new(2, RejectReason::NotRejected, 3);
    newer.version = 11;
    newer.unknown_bytes = (0..16).collect();
    let bytes = newer.serialize_to_vec();
    let mut reader = bytes.as_slice();
    let decoded = BlockResponseData::consensus_deserialize(&mut reader).unwrap();
    assert!(reader.is_empty(), "all input consumed");
    assert_eq!(decoded.unknown_bytes.len(), 16);
    assert_eq!(decoded, newer);
}

#[test]
fn accepted_bytes_remain_readable_by_the_three_field_layout() {
    let accepted = BlockAccepted::new(
        libsigner::chain::Sha512Trunc256Sum([7; 32]),
        libsigner::chain::MessageSignature([3; 65]),
        10,
        20,
    );
    let bytes = accepted.serialize_to_vec();
    // Old decoders read hash, signature, metadata and stop.
    let mut reader = &bytes[..];
    let _hash: [u8; 32] = libsigner::codec::read_next(&mut reader).unwrap();
    let _sig: [u8; 65] = libsigner::codec::read_next(&mut reader).unwrap();
    let metadata = SignerMessageMetadata::consensus_deserialize(&mut reader).unwrap();
    assert_eq!(metadata, SignerMessageMetadata::default());
}

fn fixture_miner() -> StateMachineUpdateMinerState {
    StateMachineUpdateMinerState::ActiveMiner {
        current_miner_pkh: libsigner::chain::Hash160([0xab; 20]),
        tenure_id: libsigner::chain::ConsensusHash([0x44; 20]),
        parent_tenure_id: libsigner::chain::ConsensusHash([0x22; 20]),
        parent_tenure_last_block: libsigner::chain::StacksBlockId([0x33; 32]),
        parent_tenure_last_block_height: 1,
    }
}

fn fixture_content(version: u64, miner: StateMachineUpdateMinerState) -> StateMachineUpdateContent {
    let burn_block = libsigner::chain::ConsensusHash([0x55; 20]);
    match version {
        0 => StateMachineUpdateContent::V0 {
            burn_block,
            burn_block_height: 100,
            current_miner: miner,
        },
        1 => StateMachineUpdateContent::V1 {
            burn_block,
            burn_block_height: 100,
            current_miner: miner,
            replay_transactions: vec![],
        },
        _ => StateMachineUpdateContent::V2 {
            burn_block,
            burn_block_height: 100,
            current_miner: miner,
            replay_transactions: vec![],
        },
    }
}

#[test]
fn state_machine_update_content_lengths_are_pinned() {
    for (version, miner, length) in [
        (0, fixture_miner(), 129u32),
        (0, StateMachineUpdateMinerState::NoValidMiner, 29),
        (1, fixture_miner(), 133),
        (1, StateMachineUpdateMinerState::NoValidMiner, 33),
        (2, fixture_miner(), 133),
        (2, StateMachineUpdateMinerState::NoValidMiner, 33),
    ] {
        let update = StateMachineUpdate::new(version, 3, fixture_content(version, miner)).unwrap();
        let bytes = update.serialize_to_vec();
        assert_eq!(&bytes[..8], &version.to_be_bytes());
        assert_eq!(&bytes[8..16], &3u64.to_be_bytes());
        assert_eq!(&bytes[16..20], &length.to_be_bytes());
        assert_eq!(bytes.len(), 20 + length as usize);
        let decoded = StateMachineUpdate::consensus_deserialize(&mut &bytes[..]).unwrap();
        assert_eq!(decoded, update);
    }
}

#[test]
fn state_machine_update_rejects_content_of_another_version() {
    let err = StateMachineUpdate::new(1, 3, fixture_content(0, fixture_miner())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "StateMachineUpdateContent is incompatible with protocol version: 1"
    );
    assert!(StateMachineUpdate::new(0, 3, fixture_content(2, fixture_miner())).is_err());
}

#[test]
fn state_machine_update_json_requires_the_null_marker() {
    let update = StateMachineUpdate::new(0, 3, fixture_content(0, fixture_miner())).unwrap();
    let mut json = serde_json::to_value(&update).unwrap();
    assert_eq!(json["no_manual_construct"], Value::Null);
    let back: StateMachineUpdate = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, update);
    json.as_object_mut().unwrap().remove("no_manual_construct");
    assert!(serde_json::from_value::<StateMachineUpdate>(json).is_err());
}

#[test]
fn zero_hash_pre_commit_is_prefix_seven_and_slot_three() {
    let message = SignerMessage::BlockPreCommit(libsigner::chain::Sha512Trunc256Sum([0; 32]));
    let bytes = message.serialize_to_vec();
    assert_eq!(bytes[0], 7);
    assert_eq!(bytes.len(), 33);
    assert_eq!(message.msg_id(), Some(MessageSlotID::BlockPreCommit));
    assert_eq!(
        serde_json::to_value(&message).unwrap(),
        serde_json::json!({ "BlockPreCommit": "00".repeat(32) })
    );
}

#[test]
fn rejection_new_signs_and_verifies_and_names_its_reason() {
    let key = StacksPrivateKey::from_seed(b"rejecting signer");
    let public = StacksPublicKey::from_private(&key);
    let hash = libsigner::chain::Sha512Trunc256Sum([9; 32]);
    let response = BlockResponse::rejected(hash, RejectReason::InvalidMiner, &key, true, 5, 6);
    let rejection = response.as_block_rejection().unwrap();
    assert_eq!(rejection.reason, "The miner has been marked as invalid.");
    assert_eq!(rejection.reason_code, RejectCode::SortitionViewMismatch);
    assert_eq!(rejection.chain_id, libsigner::chain::CHAIN_ID_MAINNET);
    assert_eq!(rejection.verify(&public), Ok(true));
    assert_eq!(rejection.verify(&other_public_key()), Ok(false));
    assert_eq!(rejection.recover_public_key(), Ok(public));
    assert_eq!(response.get_signer_signature_hash(), &hash);

    let relayed = BlockRejection::from_validate_rejection(
        hash,
        "node says no".into(),
        ValidateRejectCode::InvalidBlock,
        &key,
        false,
        5,
        6,
    );
    assert_eq!(relayed.reason, "node says no");
    assert_eq!(
        relayed.response_data.reject_reason,
        RejectReason::ValidationFailed(ValidateRejectCode::InvalidBlock)
    );
    assert_eq!(relayed.chain_id, libsigner::chain::CHAIN_ID_TESTNET);
    assert_eq!(relayed.verify(&public), Ok(true));

    let mut unsigned = relayed.clone();
    unsigned.signature = libsigner::chain::MessageSignature::empty();
    assert_eq!(unsigned.verify(&public), Ok(false));
    assert_eq!(
        unsigned.recover_public_key(),
        Err("No signature to recover public key from")
    );
}

#[test]
fn mock_messages_with_a_non_ascii_server_version_are_unsigned_not_a_panic() {
    let key = StacksPrivateKey::from_seed(b"miner");
    let info = PeerInfo {
        burn_block_height: 1,
        stacks_tip_consensus_hash: libsigner::chain::ConsensusHash([1; 20]),
        stacks_tip: libsigner::chain::BlockHeaderHash([2; 32]),
        stacks_tip_height: 3,
        pox_consensus: libsigner::chain::ConsensusHash([4; 20]),
        server_version: "caf\u{e9}".into(),
        network_id: 5,
    };
    let proposal = MockProposal::new(info, &key);
    assert!(proposal.signature().is_empty());
    assert_eq!(proposal.miner_signature_hash(), None);
    assert_eq!(
        proposal.verify(&StacksPublicKey::from_private(&key)),
        Ok(false)
    );
    let signature = MockSignature::new(proposal, &key);
    assert!(signature.signature().is_empty());
}

// ---------------------------------------------------------------------------------------
// Generated messages round-trip.
// ---------------------------------------------------------------------------------------

mod generated {
    use super::*;
    use libsigner::chain::{
        BlockHeaderHash, ConsensusHash, Hash160, MessageSignature, Sha512Trunc256Sum, StacksBlockId,
    };
    use proptest::prelude::*;

    fn validate_code() -> impl Strategy<Value = ValidateRejectCode> {
        proptest::sample::select(ValidateRejectCode::ALL)
    }

    fn reject_reason() -> impl Strategy<Value = RejectReason> {
        prop_oneof![
            validate_code().prop_map(RejectReason::ValidationFailed),
            (2u8..=15).prop_map(|b| RejectReason::consensus_deserialize(&mut &[b][..]).unwrap()),
            Just(RejectReason::ConnectivityIssues("unspecified".into())),
            (any::<[u8; 20]>(), any::<[u8; 20]>()).prop_map(|(e, a)| {
                RejectReason::ConsensusHashMismatch {
                    expected: ConsensusHash(e),
                    actual: ConsensusHash(a),
                }
            }),
            Just(RejectReason::NotRejected),
            Just(RejectReason::Unknown(254)),
        ]
    }

    fn reject_code() -> impl Strategy<Value = RejectCode> {
        reject_reason().prop_map(|reason| RejectCode::from(&reason))
    }

    fn response_data() -> impl Strategy<Value = BlockResponseData> {
        (
            4u8..=255,
            any::<u64>(),
            reject_reason(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(
                |(version, ts, reason, read_ts, unknown)| BlockResponseData {
                    version,
                    tenure_extend_timestamp: ts,
                    reject_reason: reason,
                    tenure_extend_read_count_timestamp: read_ts,
                    unknown_bytes: unknown,
                },
            )
    }

    fn signature() -> impl Strategy<Value = MessageSignature> {
        proptest::collection::vec(any::<u8>(), 65)
            .prop_map(|bytes| MessageSignature::from_raw(&bytes).unwrap())
    }

    fn metadata() -> impl Strategy<Value = SignerMessageMetadata> {
        ".{0,40}".prop_map(|server_version| SignerMessageMetadata { server_version })
    }

    fn response() -> impl Strategy<Value = BlockResponse> {
        let accepted = (any::<[u8; 32]>(), signature(), metadata(), response_data()).prop_map(
            |(hash, signature, metadata, response_data)| {
                BlockResponse::Accepted(BlockAccepted {
                    signer_signature_hash: Sha512Trunc256Sum(hash),
                    signature,
                    metadata,
                    response_data,
                })
            },
        );
        let rejected = (
            ".{0,60}",
            reject_code(),
            any::<[u8; 32]>(),
            signature(),
            any::<u32>(),
            metadata(),
            response_data(),
        )
            .prop_map(
                |(reason, reason_code, hash, signature, chain_id, metadata, response_data)| {
                    BlockResponse::Rejected(BlockRejection {
                        reason,
                        reason_code,
                        signer_signature_hash: Sha512Trunc256Sum(hash),
                        signature,
                        chain_id,
                        metadata,
                        response_data,
                    })
                },
            );
        prop_oneof![accepted, rejected]
    }

    fn miner_state() -> impl Strategy<Value = StateMachineUpdateMinerState> {
        prop_oneof![
            Just(StateMachineUpdateMinerState::NoValidMiner),
            (
                any::<[u8; 20]>(),
                any::<[u8; 20]>(),
                any::<[u8; 20]>(),
                any::<[u8; 32]>(),
                any::<u64>()
            )
                .prop_map(|(pkh, tenure, parent, block, height)| {
                    StateMachineUpdateMinerState::ActiveMiner {
                        current_miner_pkh: Hash160(pkh),
                        tenure_id: ConsensusHash(tenure),
                        parent_tenure_id: ConsensusHash(parent),
                        parent_tenure_last_block: StacksBlockId(block),
                        parent_tenure_last_block_height: height,
                    }
                })
        ]
    }

    fn state_update() -> impl Strategy<Value = StateMachineUpdate> {
        (
            0u64..=2,
            any::<u64>(),
            any::<[u8; 20]>(),
            any::<u64>(),
            miner_state(),
        )
            .prop_map(|(version, local, burn, height, current_miner)| {
                let burn_block = ConsensusHash(burn);
                let content = match version {
                    0 => StateMachineUpdateContent::V0 {
                        burn_block,
                        burn_block_height: height,
                        current_miner,
                    },
                    1 => StateMachineUpdateContent::V1 {
                        burn_block,
                        burn_block_height: height,
                        current_miner,
                        replay_transactions: vec![],
                    },
                    _ => StateMachineUpdateContent::V2 {
                        burn_block,
                        burn_block_height: height,
                        current_miner,
                        replay_transactions: vec![],
                    },
                };
                StateMachineUpdate::new(version, local, content).unwrap()
            })
    }

    fn peer_info() -> impl Strategy<Value = PeerInfo> {
        (
            any::<u64>(),
            any::<[u8; 20]>(),
            any::<[u8; 32]>(),
            any::<u64>(),
            any::<[u8; 20]>(),
            "[ -~]{0,80}",
            any::<u32>(),
        )
            .prop_map(
                |(burn, tip_ch, tip, height, pox, version, network)| PeerInfo {
                    burn_block_height: burn,
                    stacks_tip_consensus_hash: ConsensusHash(tip_ch),
                    stacks_tip: BlockHeaderHash(tip),
                    stacks_tip_height: height,
                    pox_consensus: ConsensusHash(pox),
                    server_version: version,
                    network_id: network,
                },
            )
    }

    fn round_trips(message: &SignerMessage) {
        let bytes = message.serialize_to_vec();
        let (decoded, consumed) = decode(&bytes).unwrap();
        assert_eq!(consumed, bytes.len());
        assert_eq!(&decoded, message);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn block_responses_round_trip(response in response()) {
            round_trips(&SignerMessage::BlockResponse(response));
        }

        #[test]
        fn pre_commits_round_trip(hash in any::<[u8; 32]>()) {
            round_trips(&SignerMessage::BlockPreCommit(Sha512Trunc256Sum(hash)));
        }

        #[test]
        fn state_machine_updates_round_trip(update in state_update()) {
            let json = serde_json::to_value(&update).unwrap();
            prop_assert_eq!(serde_json::from_value::<StateMachineUpdate>(json).unwrap(), update.clone());
            round_trips(&SignerMessage::StateMachineUpdate(update));
        }

        #[test]
        fn mock_messages_round_trip_and_verify(
            info in peer_info(),
            miner_seed in any::<[u8; 8]>(),
            signer_seeds in proptest::collection::vec(any::<[u8; 8]>(), 0..3),
        ) {
            let miner_key = StacksPrivateKey::from_seed(&miner_seed);
            let proposal = MockProposal::new(info, &miner_key);
            prop_assert_eq!(proposal.verify(&StacksPublicKey::from_private(&miner_key)), Ok(true));
            round_trips(&SignerMessage::MockProposal(proposal.clone()));
            let signatures: Vec<MockSignature> = signer_seeds
                .iter()
                .map(|seed| MockSignature::new(proposal.clone(), &StacksPrivateKey::from_seed(seed)))
                .collect();
            for (signature, seed) in signatures.iter().zip(&signer_seeds) {
                let key = StacksPublicKey::from_private(&StacksPrivateKey::from_seed(seed));
                prop_assert_eq!(signature.verify(&key), Ok(true));
                round_trips(&SignerMessage::MockSignature(signature.clone()));
            }
            round_trips(&SignerMessage::MockBlock(MockBlock {
                mock_proposal: proposal,
                mock_signatures: signatures,
            }));
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&bytes);
        }
    }
}
