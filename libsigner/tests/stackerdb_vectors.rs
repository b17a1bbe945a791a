//! Every case of the reference's `stackerdb.json`: chunk encodings, digests, signatures,
//! key recovery and address checks; chunk JSON; RPC paths; slot metadata lists; acks.

mod common;

use std::collections::BTreeMap;

use common::{hex_encode, hex_field, is_error_case, label, load_cases};
use libsigner::chain::{QualifiedContractIdentifier, StacksAddress, StacksPrivateKey};
use libsigner::codec::StacksMessageCodec;
use libsigner::stackerdb::{
    stackerdb_get_chunk_path, stackerdb_get_metadata_path, stackerdb_post_chunk_path, SlotMetadata,
    StackerDBChunkAckData, StackerDBChunkData, StackerDBErrorCodes,
};
use serde_json::Value as Json;

fn s<'a>(case: &'a Json, key: &str) -> &'a str {
    case[key].as_str().unwrap_or_else(|| panic!("no {key}"))
}

fn check_chunk(case: &Json, what: &str) {
    let bytes = hex_field(case, "hex");
    let decoded = StackerDBChunkData::consensus_deserialize(&mut &bytes[..]);
    if is_error_case(case) {
        assert!(decoded.is_err(), "{what} must be refused");
        return;
    }
    let chunk = decoded.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(chunk.serialize_to_vec(), bytes, "{what}");
    assert_eq!(u64::from(chunk.slot_id), case["slot_id"], "{what}");
    assert_eq!(
        u64::from(chunk.slot_version),
        case["slot_version"],
        "{what}"
    );
    assert_eq!(hex_encode(&chunk.data), s(case, "data"), "{what}");
    assert_eq!(chunk.data_hash().to_hex(), s(case, "data_hash"), "{what}");
    assert_eq!(
        chunk.auth_digest().to_hex(),
        s(case, "auth_digest"),
        "{what}"
    );
    assert_eq!(chunk.sig.to_hex(), s(case, "signature"), "{what}");
    let key = StacksPrivateKey::from_hex(s(case, "private_key")).unwrap();
    let mut resigned =
        StackerDBChunkData::new(chunk.slot_id, chunk.slot_version, chunk.data.clone());
    resigned.sign(&key).unwrap();
    assert_eq!(resigned, chunk, "{what}");
    assert_eq!(
        serde_json::to_string(&chunk).unwrap(),
        s(case, "json"),
        "{what}"
    );
    let from_json: StackerDBChunkData = serde_json::from_str(s(case, "json")).unwrap();
    assert_eq!(from_json, chunk, "{what}");
    assert_eq!(
        serde_json::to_string(&chunk.get_slot_metadata()).unwrap(),
        s(case, "slot_metadata_json"),
        "{what}"
    );
    let pk = chunk.recover_pk().unwrap();
    assert_eq!(pk.to_hex(), s(case, "recovered_public_key"), "{what}");
    let main = StacksAddress::p2pkh(true, &pk);
    let test = StacksAddress::p2pkh(false, &pk);
    assert_eq!(
        main.to_string(),
        s(case, "signer_address_mainnet"),
        "{what}"
    );
    assert_eq!(
        test.to_string(),
        s(case, "signer_address_testnet"),
        "{what}"
    );
    assert_eq!(Ok(true), chunk.verify(&main), "{what}");
    let version_zero = StacksAddress::new(0, *main.bytes()).unwrap();
    assert_eq!(
        Json::Bool(chunk.verify(&version_zero).unwrap()),
        case["verify_signer_hash_with_version_0"],
        "{what}"
    );
    let other = StacksAddress::p2pkh(
        true,
        &libsigner::chain::StacksPublicKey::from_private(&StacksPrivateKey::from_seed(
            b"somebody else",
        )),
    );
    assert_eq!(
        Json::Bool(chunk.verify(&other).unwrap()),
        case["verify_other_address"]
    );
    assert_eq!(chunk.get_slot_metadata().verify(&main), Ok(true), "{what}");
}

fn check_json_decode(case: &Json, what: &str) {
    let decoded = serde_json::from_str::<StackerDBChunkData>(s(case, "input"));
    if is_error_case(case) {
        assert!(decoded.is_err(), "{what} must be refused");
    } else {
        let chunk = decoded.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            hex_encode(&chunk.serialize_to_vec()),
            s(case, "hex"),
            "{what}"
        );
    }
}

fn check_paths(case: &Json, what: &str) {
    let contract = QualifiedContractIdentifier::parse(s(case, "contract_id")).unwrap();
    assert_eq!(
        serde_json::to_value(&contract).unwrap(),
        case["contract_id_json"],
        "{what}"
    );
    let slot = case["slot_id"].as_u64().unwrap() as u32;
    let version = case["slot_version"].as_u64().unwrap() as u32;
    assert_eq!(
        stackerdb_get_metadata_path(&contract),
        s(case, "metadata_path"),
        "{what}"
    );
    assert_eq!(
        stackerdb_get_chunk_path(&contract, slot, None),
        s(case, "chunk_path")
    );
    assert_eq!(
        stackerdb_get_chunk_path(&contract, slot, Some(version)),
        s(case, "chunk_version_path")
    );
    assert_eq!(
        stackerdb_post_chunk_path(&contract),
        s(case, "post_path"),
        "{what}"
    );
}

fn check_metadata_list(case: &Json, what: &str) {
    let list: Vec<SlotMetadata> = serde_json::from_str(s(case, "json")).unwrap();
    assert!(!list.is_empty(), "{what}");
    assert_eq!(
        serde_json::to_string(&list).unwrap(),
        s(case, "json"),
        "{what}"
    );
}

fn check_ack(case: &Json, what: &str) {
    let ack: StackerDBChunkAckData = serde_json::from_str(s(case, "json")).unwrap();
    assert_eq!(
        serde_json::to_string(&ack).unwrap(),
        s(case, "json"),
        "{what}"
    );
    assert_eq!(Json::Bool(ack.accepted), case["accepted"], "{what}");
    if let Some(code) = case["code"].as_u64() {
        let code = StackerDBErrorCodes::from_code(code as u32).unwrap();
        assert_eq!(ack.reason.as_deref(), case["reason"].as_str(), "{what}");
        assert_eq!(code.reason(), s(case, "reason_text"), "{what}");
        assert_eq!(code.ack(ack.metadata.clone()), ack, "{what}");
    }
}

fn check_ack_decode(case: &Json, what: &str) {
    let ack: StackerDBChunkAckData = serde_json::from_str(s(case, "input")).unwrap();
    let decoded = &case["decoded"];
    assert_eq!(Json::Bool(ack.accepted), decoded["accepted"], "{what}");
    assert_eq!(
        serde_json::to_value(&ack.reason).unwrap(),
        decoded["reason"],
        "{what}"
    );
    assert_eq!(
        serde_json::to_value(ack.code).unwrap(),
        decoded["code"],
        "{what}"
    );
    assert_eq!(
        serde_json::to_value(&ack.metadata).unwrap(),
        decoded["metadata"],
        "{what}"
    );
}

#[test]
fn every_stackerdb_vector_matches_the_reference() {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for case in load_cases("stackerdb.json") {
        let what = label(&case);
        let kind = s(&case, "kind").to_string();
        match kind.as_str() {
            "chunk" => check_chunk(&case, &what),
            "chunk_json_decode" => check_json_decode(&case, &what),
            "rpc_paths" => check_paths(&case, &what),
            "slot_metadata_list" => check_metadata_list(&case, &what),
            "ack" => check_ack(&case, &what),
            "ack_decode" => check_ack_decode(&case, &what),
            other => panic!("unknown kind {other}"),
        }
        let suffix = if is_error_case(&case) { "/error" } else { "" };
        *counts.entry(format!("{kind}{suffix}")).or_default() += 1;
    }
    eprintln!("stackerdb cases checked: {counts:?}");
    assert_eq!(counts.values().sum::<usize>(), 75);
}
