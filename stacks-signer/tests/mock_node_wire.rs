//! The mock miner's transactions decode and verify with libsigner's transaction codec on both
//! networks, and keep the fields they were built with.

use libsigner::chain::{
    ConsensusHash, Hash160, StacksAddress, StacksBlockId, StacksPrivateKey, StacksPublicKey,
    StacksTransaction,
};
use libsigner::codec::StacksMessageCodec;
use stacks_signer::devnet::wire::{tx, TenureChangeCause, TenureChangePayload};

#[test]
fn the_miners_transactions_decode_and_verify_with_libsigners_transaction_codec() {
    let key = StacksPrivateKey::from_seed(b"miner");
    let pkh = Hash160::from_node_public_key(&StacksPublicKey::from_private(&key));
    let change = TenureChangePayload {
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
            tx::tenure_change(&key, mainnet, chain_id, 0, &change),
            tx::nakamoto_coinbase(&key, mainnet, chain_id, 1, [9; 32]),
            tx::token_transfer(
                &key,
                mainnet,
                chain_id,
                2,
                &StacksAddress::burn_address(mainnet),
                1000,
            ),
        ];
        for (nonce, built) in txs.iter().enumerate() {
            let bytes = built.serialize_to_vec();
            let decoded = StacksTransaction::consensus_deserialize(&mut bytes.as_slice()).unwrap();
            assert_eq!(&decoded, built);
            assert_eq!(decoded.serialize_to_vec(), bytes);
            decoded.verify().expect("the miner's signature verifies");
            assert_eq!(decoded.is_mainnet(), mainnet);
            assert_eq!(decoded.chain_id, chain_id);
            assert_eq!(decoded.origin_address().bytes(), &pkh);
            assert_eq!(decoded.get_origin_nonce(), nonce as u64);
        }
        assert_eq!(txs[0].try_as_tenure_change(), Some(&change));
        assert!(txs[1].try_as_coinbase().is_some());
    }
}
