//! Every case of the reference's `nakamoto_blocks.json`: blocks and headers decode, re-encode
//! to the reference's bytes, and every derived value (hashes, ids, Merkle root, txids,
//! recovered miner and signer keys, JSON) equals the recorded one; every block the reference
//! rejects is rejected.

mod common;

use common::{hex_encode, hex_field, is_error_case, label, load_cases};
use libsigner::chain::{NakamotoBlock, NakamotoBlockHeader, StacksPrivateKey, StacksPublicKey};
use libsigner::codec::StacksMessageCodec;
use serde_json::Value as Json;

fn check_header(header: &NakamotoBlockHeader, case: &Json, what: &str) {
    let fields = &case["header"];
    assert_eq!(u64::from(header.version), fields["version"], "{what}");
    assert_eq!(header.chain_length, fields["chain_length"], "{what}");
    assert_eq!(header.burn_spent, fields["burn_spent"], "{what}");
    assert_eq!(
        header.consensus_hash.to_hex(),
        fields["consensus_hash"],
        "{what}"
    );
    assert_eq!(
        header.parent_block_id.to_hex(),
        fields["parent_block_id"],
        "{what}"
    );
    assert_eq!(
        header.tx_merkle_root.to_hex(),
        fields["tx_merkle_root"],
        "{what}"
    );
    assert_eq!(
        header.state_index_root.to_hex(),
        fields["state_index_root"],
        "{what}"
    );
    assert_eq!(header.timestamp, fields["timestamp"], "{what}");
    assert_eq!(
        header.miner_signature.to_hex(),
        fields["miner_signature"],
        "{what}"
    );
    let sigs: Vec<String> = header.signer_signature.iter().map(|s| s.to_hex()).collect();
    assert_eq!(
        serde_json::to_value(&sigs).unwrap(),
        fields["signer_signature"],
        "{what}"
    );
    assert_eq!(
        u64::from(header.pox_treatment.len()),
        fields["pox_treatment_len"],
        "{what}"
    );
    assert_eq!(
        hex_encode(&header.pox_treatment.serialize_to_vec()),
        fields["pox_treatment_hex"],
        "{what}"
    );
    assert_eq!(
        header.miner_signature_hash().to_hex(),
        case["miner_signature_hash"],
        "{what}"
    );
    assert_eq!(
        header.signer_signature_hash().to_hex(),
        case["signer_signature_hash"],
        "{what}"
    );
    assert_eq!(header.block_hash().to_hex(), case["block_hash"], "{what}");
    assert_eq!(header.block_id().to_hex(), case["block_id"], "{what}");
    assert_eq!(
        serde_json::to_value(header).unwrap(),
        case["header_json"],
        "{what}"
    );
    let back: NakamotoBlockHeader = serde_json::from_value(case["header_json"].clone()).unwrap();
    assert_eq!(&back, header, "{what}");
    let miner = header.recover_miner_pk().map(|pk| pk.to_hex());
    assert_eq!(
        serde_json::to_value(miner).unwrap(),
        case["miner_public_key"],
        "{what}"
    );
    if let Some(expected) = case["signer_public_keys"].as_array() {
        let recovered: Vec<String> = header
            .recover_signer_pks()
            .into_iter()
            .map(|pk| pk.unwrap().to_hex())
            .collect();
        let expected: Vec<&str> = expected.iter().map(|k| k.as_str().unwrap()).collect();
        assert_eq!(recovered, expected, "{what}");
    }
}

#[test]
fn valid_blocks_decode_reencode_and_derive_reference_values() {
    let mut blocks = 0;
    let mut headers = 0;
    for case in load_cases("nakamoto_blocks.json") {
        if is_error_case(&case) {
            continue;
        }
        let what = label(&case);
        let header_bytes = hex_field(&case, "header_hex");
        let header = NakamotoBlockHeader::consensus_deserialize(&mut &header_bytes[..])
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(header.serialize_to_vec(), header_bytes, "{what}");
        check_header(&header, &case, &what);
        if case["kind"] == "header" {
            headers += 1;
            continue;
        }
        let canonical = hex_field(&case, "hex");
        let input = if case.get("input_hex").is_some() {
            hex_field(&case, "input_hex")
        } else {
            canonical.clone()
        };
        let mut reader = &input[..];
        let block = NakamotoBlock::consensus_deserialize(&mut reader)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let consumed = input.len() - reader.len();
        let expected_consumed = case["consumed"]
            .as_u64()
            .map_or(input.len(), |c| c as usize);
        assert_eq!(consumed, expected_consumed, "{what}");
        assert_eq!(block.serialize_to_vec(), canonical, "{what}");
        assert_eq!(block.header, header, "{what}");
        assert_eq!(
            block.compute_tx_merkle_root().to_hex(),
            case["tx_merkle_root"],
            "{what}"
        );
        let txids: Vec<String> = block.txids().iter().map(|t| t.to_hex()).collect();
        assert_eq!(
            serde_json::to_value(&txids).unwrap(),
            case["txids"],
            "{what}"
        );
        if let Some(key) = case["miner_private_key"].as_str() {
            let key = StacksPrivateKey::from_hex(key).unwrap();
            assert_eq!(
                block.header.recover_miner_pk(),
                Some(StacksPublicKey::from_private(&key)).map(|mut pk| {
                    pk.set_compressed(true);
                    pk
                }),
                "{what}"
            );
            let mut resigned = block.header.clone();
            resigned.sign_miner(&key).unwrap();
            assert_eq!(
                resigned.miner_signature, block.header.miner_signature,
                "{what}"
            );
        }
        blocks += 1;
    }
    assert_eq!((blocks, headers), (62, 1));
}

#[test]
fn blocks_the_reference_rejects_are_rejected() {
    let mut rejected = 0;
    for case in load_cases("nakamoto_blocks.json") {
        if !is_error_case(&case) {
            continue;
        }
        let bytes = hex_field(&case, "hex");
        assert!(
            NakamotoBlock::consensus_deserialize(&mut &bytes[..]).is_err(),
            "{} should fail ({})",
            label(&case),
            case["error"]
        );
        rejected += 1;
    }
    assert_eq!(rejected, 17);
}
