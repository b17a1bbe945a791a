//! The mock node's block and transaction encodings agree with the reference vectors for every
//! block whose transactions are of the kinds the mock decodes: same bytes, hashes, ids and
//! txids.

use libsigner::chain::hex::{hex_bytes, to_hex};
use libsigner::chain::Sha512Trunc256Sum;
use stacks_signer::devnet::wire::{NakamotoBlock, NakamotoBlockHeader};

fn cases() -> Vec<serde_json::Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../libsigner/tests/vectors/nakamoto_blocks.json"
    );
    let text = std::fs::read_to_string(path).expect("vectors");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

#[test]
fn headers_and_supported_blocks_match_the_reference_vectors() {
    let mut headers = 0;
    let mut blocks = 0;
    for case in cases() {
        if case.get("expected_error").is_some() {
            continue;
        }
        if let Some(header_hex) = case["header_hex"].as_str() {
            let bytes = hex_bytes(header_hex).unwrap();
            let mut slice = bytes.as_slice();
            let header = NakamotoBlockHeader::read(&mut slice).unwrap();
            assert!(slice.is_empty());
            assert_eq!(header.to_bytes(), bytes);
            assert_eq!(
                header.block_id().to_hex(),
                case["block_id"].as_str().unwrap()
            );
            assert_eq!(
                header.signer_signature_hash().to_hex(),
                case["signer_signature_hash"]
                    .as_str()
                    .or(case["block_hash"].as_str())
                    .unwrap()
            );
            if let Some(m) = case["miner_signature_hash"].as_str() {
                assert_eq!(header.miner_signature_hash().to_hex(), m);
            }
            headers += 1;
        }
        let Some(hex) = case["hex"].as_str() else {
            continue;
        };
        let bytes = hex_bytes(hex).unwrap();
        let Ok(block) = NakamotoBlock::from_bytes(&bytes) else {
            continue; // a transaction kind the mock does not decode
        };
        assert_eq!(block.to_bytes(), bytes);
        let txids: Vec<String> = block.txids().iter().map(|t| t.to_hex()).collect();
        if let Some(expected) = case["txids"].as_array() {
            let expected: Vec<String> = expected
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect();
            assert_eq!(txids, expected);
        }
        if let Some(root) = case["tx_merkle_root"].as_str() {
            assert_eq!(
                block.computed_tx_merkle_root(),
                Sha512Trunc256Sum::from_hex(root).unwrap()
            );
        }
        assert_eq!(
            to_hex(&block.header.block_id().0),
            case["block_id"].as_str().unwrap()
        );
        blocks += 1;
    }
    assert!(headers > 0);
    assert!(blocks > 0, "no vector block decoded");
    eprintln!("checked {headers} headers and {blocks} blocks");
}

#[test]
fn supported_transactions_match_the_reference_vectors() {
    use stacks_signer::devnet::wire::MockTransaction;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../libsigner/tests/vectors/transactions.json"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut checked = 0;
    let mut signed = 0;
    for case in doc["cases"].as_array().unwrap() {
        if case.get("expected_error").is_some() {
            continue;
        }
        let Some(hex) = case["hex"].as_str() else {
            continue;
        };
        let bytes = hex_bytes(hex).unwrap();
        let mut slice = bytes.as_slice();
        let Ok(tx) = MockTransaction::read(&mut slice) else {
            continue;
        };
        assert!(slice.is_empty(), "{hex}");
        assert_eq!(tx.bytes(), bytes.as_slice());
        assert_eq!(tx.txid().to_hex(), case["txid"].as_str().unwrap());
        // The mock signs with the reference's sighash chain: check it on the vector's own
        // single-signature transactions (fields at fixed offsets).
        if case["auth"] == "standard:p2pkh-compressed" && case["signature_valid"] == true {
            let mut cleared = bytes.clone();
            cleared[27..43].fill(0);
            cleared[44..109].fill(0);
            let initial = Sha512Trunc256Sum::from_data(&cleared);
            assert_eq!(initial.to_hex(), case["initial_sighash"].as_str().unwrap());
            let presign = Sha512Trunc256Sum::from_parts(&[
                &initial.0,
                &[0x04],
                &bytes[35..43],
                &bytes[27..35],
            ]);
            let sig = libsigner::chain::MessageSignature::from_raw(&bytes[44..109]).unwrap();
            let pk =
                libsigner::chain::StacksPublicKey::recover_to_pubkey(&presign.0, &sig).unwrap();
            assert_eq!(
                libsigner::chain::Hash160::from_node_public_key(&pk),
                tx.origin
            );
            signed += 1;
        }
        checked += 1;
    }
    assert!(checked > 0 && signed > 0);
    eprintln!("checked {checked} transactions, {signed} signatures");
}

#[test]
fn the_miners_transactions_decode_and_verify_with_libsigners_transaction_codec() {
    use libsigner::chain::{
        ConsensusHash, Hash160, StacksAddress, StacksBlockId, StacksPrivateKey, StacksPublicKey,
        StacksTransaction,
    };
    use libsigner::codec::StacksMessageCodec;
    use stacks_signer::devnet::wire::tx::TenureChange;
    use stacks_signer::devnet::wire::{MockTransaction, TenureChangeCause};
    let key = StacksPrivateKey::from_seed(b"miner");
    let pkh = Hash160::from_node_public_key(&StacksPublicKey::from_private(&key));
    let change = TenureChange {
        tenure_consensus_hash: ConsensusHash([1; 20]),
        prev_tenure_consensus_hash: ConsensusHash([2; 20]),
        burn_view_consensus_hash: ConsensusHash([3; 20]),
        previous_tenure_end: StacksBlockId([4; 32]),
        previous_tenure_blocks: 5,
        cause: TenureChangeCause::BlockFound,
        pubkey_hash: pkh,
    };
    for mainnet in [false, true] {
        let chain_id = if mainnet { 1 } else { 0x8000_0000 };
        let txs = [
            MockTransaction::tenure_change(&key, mainnet, chain_id, 0, &change),
            MockTransaction::nakamoto_coinbase(&key, mainnet, chain_id, 1, [9; 32]),
            MockTransaction::token_transfer(
                &key,
                mainnet,
                chain_id,
                2,
                &StacksAddress::burn_address(mainnet),
                1000,
            ),
        ];
        for tx in &txs {
            let mut slice = tx.bytes();
            let decoded = StacksTransaction::consensus_deserialize(&mut slice).unwrap();
            assert!(slice.is_empty());
            assert_eq!(decoded.serialize_to_vec(), tx.bytes());
            assert_eq!(decoded.txid(), tx.txid());
            decoded.verify().expect("the miner's signature verifies");
            assert_eq!(decoded.is_mainnet(), mainnet);
            assert_eq!(decoded.origin_address().bytes(), &pkh);
            assert_eq!(decoded.get_origin_nonce(), tx.nonce);
        }
        let tc = StacksTransaction::consensus_deserialize(&mut txs[0].bytes())
            .unwrap()
            .try_as_tenure_change()
            .cloned()
            .unwrap();
        assert_eq!(tc.previous_tenure_blocks, 5);
        assert_eq!(tc.pubkey_hash, pkh);
    }
}
