//! Transactions and blocks for the unit tests of this module.

use crate::chain::{
    CoinbasePayload, ConsensusHash, Hash160, NakamotoBlock, NakamotoBlockHeader, PrincipalData,
    StacksBlockId, StacksPrivateKey, StacksPublicKey, StacksTransaction, StandardPrincipalData,
    TenureChangeCause, TenureChangePayload, TokenTransferMemo, TransactionAuth, TransactionPayload,
    TransactionSpendingCondition, TransactionVersion, VRFProof,
};

fn tx(payload: TransactionPayload, nonce: u64) -> StacksTransaction {
    let key = StacksPublicKey::from_private(&StacksPrivateKey::from_seed(b"block tests"));
    let mut cond = TransactionSpendingCondition::new_singlesig_p2pkh(key).unwrap();
    cond.set_nonce(nonce);
    StacksTransaction::new(
        TransactionVersion::Testnet,
        TransactionAuth::Standard(cond),
        payload,
    )
}

/// An STX transfer; the nonce makes it unique.
pub fn token_transfer(nonce: u64) -> StacksTransaction {
    let to = PrincipalData::Standard(StandardPrincipalData::new(26, [1; 20]).unwrap());
    tx(
        TransactionPayload::TokenTransfer(to, 100, TokenTransferMemo::zero()),
        nonce,
    )
}

/// A coinbase, with a VRF proof (Nakamoto) or without (epoch 2).
pub fn coinbase(nakamoto: bool) -> StacksTransaction {
    let mut proof = [0u8; 80];
    // The compressed Edwards25519 base point: a valid Gamma.
    proof[0] = 0x58;
    proof[1..32].fill(0x66);
    let proof = nakamoto.then(|| VRFProof::from_slice(&proof).unwrap());
    tx(
        TransactionPayload::Coinbase(CoinbasePayload([9; 32]), None, proof),
        1000,
    )
}

/// A tenure change of `cause` that continues `header` (same parent, same consensus hash).
pub fn tenure_change(header: &NakamotoBlockHeader, cause: TenureChangeCause) -> StacksTransaction {
    tx(
        TransactionPayload::TenureChange(TenureChangePayload {
            tenure_consensus_hash: header.consensus_hash,
            prev_tenure_consensus_hash: header.consensus_hash,
            burn_view_consensus_hash: header.consensus_hash,
            previous_tenure_end: header.parent_block_id,
            previous_tenure_blocks: 1,
            cause,
            pubkey_hash: Hash160([3; 20]),
        }),
        2000 + u64::from(cause.to_u8()),
    )
}

/// The header every test block uses (non-zero consensus hash and parent).
pub fn test_header() -> NakamotoBlockHeader {
    let mut header = NakamotoBlockHeader::empty();
    header.consensus_hash = ConsensusHash([4; 20]);
    header.parent_block_id = StacksBlockId([5; 32]);
    header
}

/// A block of `txs` under [`test_header`], with the matching Merkle root.
pub fn block_of(txs: Vec<StacksTransaction>) -> NakamotoBlock {
    let mut block = NakamotoBlock {
        header: test_header(),
        txs,
    };
    block.header.tx_merkle_root = block.compute_tx_merkle_root();
    block
}
