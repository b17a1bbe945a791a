//! Reading the node's tenure-tip answers (`chainstate/node.rs`).

use libsigner::chain::{BlockHeaderHash, Sha512Trunc256Sum, StacksBlockId};
use serde_json::json;

use super::{Env, CUR, LAST};
use crate::chainstate::TenureTip;
use crate::client::api::BlockHeaderWithMetadata;
use crate::client::ClientError;
use crate::test_support::ch;

/// A valid VRF proof (the one the test coinbase carries), as hex.
fn proof_hex() -> String {
    let mut proof = [0u8; 80];
    proof[0] = 0x58;
    proof[1..32].fill(0x66);
    libsigner::chain::hex::to_hex(&proof)
}

/// The node's answer for tenure LAST whose tip is an Epoch 2 block of chain length `work`.
fn epoch2_answer(work: u64) -> serde_json::Value {
    json!({
        "anchored_header": {
            "Epoch2": {
                "version": 0,
                "total_work": { "burn": 300, "work": work },
                "proof": proof_hex(),
                "parent_block": "11".repeat(32),
                "parent_microblock": "22".repeat(32),
                "parent_microblock_sequence": 7,
                "tx_merkle_root": "33".repeat(32),
                "state_index_root": "44".repeat(32),
                "microblock_pubkey_hash": "55".repeat(20),
            }
        },
        "burn_view": "66".repeat(20),
    })
}

fn read(answer: serde_json::Value) -> Result<TenureTip, ClientError> {
    let metadata: BlockHeaderWithMetadata =
        serde_json::from_value(answer).expect("the answer has the endpoint's shape");
    TenureTip::from_metadata(&ch(LAST), metadata)
}

#[test]
fn epoch2_tip_counts_its_work_as_height_and_hashes_its_consensus_encoding() {
    let tip = read(epoch2_answer(42)).expect("a well-formed Epoch 2 header");
    assert_eq!(tip.height, 42);
    assert_eq!(tip.signer_signature_hash, None);
    assert_eq!(
        tip.burn_view,
        Some(libsigner::chain::ConsensusHash([0x66; 20]))
    );

    // version, burn and work (big-endian), proof, parent block, parent microblock, its
    // sequence (big-endian), tx merkle root, state index root, microblock key hash.
    let mut encoded = vec![0u8];
    encoded.extend_from_slice(&300u64.to_be_bytes());
    encoded.extend_from_slice(&42u64.to_be_bytes());
    encoded.extend_from_slice(&libsigner::chain::hex::hex_bytes(&proof_hex()).expect("hex"));
    encoded.extend_from_slice(&[0x11; 32]);
    encoded.extend_from_slice(&[0x22; 32]);
    encoded.extend_from_slice(&7u16.to_be_bytes());
    encoded.extend_from_slice(&[0x33; 32]);
    encoded.extend_from_slice(&[0x44; 32]);
    encoded.extend_from_slice(&[0x55; 20]);
    assert_eq!(encoded.len(), 247);
    let hash = BlockHeaderHash(Sha512Trunc256Sum::from_data(&encoded).0);
    assert_eq!(tip.block_id, StacksBlockId::new(&ch(LAST), &hash));
}

#[test]
fn epoch2_boot_block_has_the_zero_hash() {
    let tip = read(epoch2_answer(0)).expect("a well-formed Epoch 2 header");
    assert_eq!(
        tip.block_id,
        StacksBlockId::new(&ch(LAST), &BlockHeaderHash([0; 32]))
    );
}

#[test]
fn malformed_epoch2_tip_is_refused() {
    let mut missing = epoch2_answer(42);
    missing["anchored_header"]["Epoch2"]
        .as_object_mut()
        .expect("an object")
        .remove("state_index_root");
    let mut bad_proof = epoch2_answer(42);
    bad_proof["anchored_header"]["Epoch2"]["proof"] = json!("00".repeat(80));
    let mut short_hash = epoch2_answer(42);
    short_hash["anchored_header"]["Epoch2"]["parent_block"] = json!("11".repeat(31));
    for answer in [missing, bad_proof, short_hash] {
        assert!(matches!(
            read(answer),
            Err(ClientError::UnexpectedResponseFormat(_))
        ));
    }
}

#[test]
fn nakamoto_tip_carries_its_chain_length_block_id_and_signer_signature_hash() {
    let env = Env::new();
    let block = env.block(CUR, 12).build();
    let metadata = BlockHeaderWithMetadata {
        anchored_header: crate::client::api::StacksBlockHeaderTypes::Nakamoto(Box::new(
            block.header.clone(),
        )),
        burn_view: Some(ch(CUR)),
    };
    let tip = TenureTip::from_metadata(&ch(CUR), metadata).expect("a Nakamoto header");
    assert_eq!(tip.height, 12);
    assert_eq!(tip.block_id, block.block_id());
    assert_eq!(
        tip.signer_signature_hash,
        Some(block.header.signer_signature_hash())
    );
    assert_eq!(tip.burn_view, Some(ch(CUR)));
}
