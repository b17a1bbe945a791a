//! Every case of the reference's `nakamoto_blocks.json`: blocks and headers decode, re-encode
//! to the reference's bytes, and every derived value (hashes, ids, Merkle root, txids,
//! recovered miner and signer keys, JSON) equals the recorded one; every block the reference
//! rejects is rejected.

mod common;

use common::{hex_encode, hex_field, is_error_case, label, load_cases};
use libsigner::chain::{
    NakamotoBlock, NakamotoBlockHeader, SignerSignatureError, StacksPrivateKey, StacksPublicKey,
};
use libsigner::codec::{Error as CodecError, StacksMessageCodec};
use libsigner::NakamotoSignerEntry;
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

/// The recorded signer keys reproduce the signer signatures exactly, and a reward set of those
/// keys (in signing order, weight 1 each) accepts the block with their full weight, but not
/// once one signature is dropped below the 70% threshold.
fn check_signer_keys(header: &NakamotoBlockHeader, keys: &[Json], what: &str) {
    let keys: Vec<StacksPrivateKey> = keys
        .iter()
        .map(|k| StacksPrivateKey::from_hex(k.as_str().unwrap()).unwrap())
        .collect();
    let digest = header.signer_signature_hash();
    let resigned: Vec<_> = keys.iter().map(|k| k.sign(&digest.0).unwrap()).collect();
    assert_eq!(resigned, header.signer_signature, "{what}");
    let set: Vec<NakamotoSignerEntry> = keys
        .iter()
        .map(|k| NakamotoSignerEntry {
            signing_key: StacksPublicKey::from_private(k)
                .to_bytes_compressed()
                .try_into()
                .unwrap(),
            stacked_amt: 1,
            weight: 1,
        })
        .collect();
    let n = keys.len() as u32;
    if header.is_shadow_block() {
        assert_eq!(header.verify_signer_signatures(&set), Ok(n), "{what}");
        return;
    }
    assert_eq!(header.verify_signer_signatures(&set), Ok(n), "{what}");
    let mut short = header.clone();
    short.signer_signature.pop();
    let expected = if n == 0 {
        Ok(0)
    } else if (n - 1) * 10 >= n * 7 {
        Ok(n - 1)
    } else {
        Err(SignerSignatureError::BelowThreshold {
            signed: n - 1,
            threshold: (n * 7).div_ceil(10),
            total: n,
        })
    };
    assert_eq!(short.verify_signer_signatures(&set), expected, "{what}");
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
        if let Some(keys) = case["signer_private_keys"].as_array() {
            check_signer_keys(&block.header, keys, &what);
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
        let what = label(&case);
        let err = NakamotoBlock::consensus_deserialize(&mut &bytes[..])
            .expect_err(&format!("{what} should fail ({})", case["error"]));
        assert_eq!(reference_debug(&err), case["error"], "{what}");
        rejected += 1;
    }
    assert_eq!(rejected, 17);
}

/// Our error written the way the reference's `Debug` prints the same error, so each rejection
/// is pinned to the reference's reason (and so to its order of checks).
fn reference_debug(err: &CodecError) -> String {
    match err {
        CodecError::DeserializeError(text) => format!("DeserializeError({text:?})"),
        CodecError::ReadError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "ReadError(Error { kind: UnexpectedEof, message: \"failed to fill whole buffer\" })"
                .to_string()
        }
        other => format!("{other:?}"),
    }
}
