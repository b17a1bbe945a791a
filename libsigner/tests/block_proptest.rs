//! Property tests for bit vectors, Nakamoto headers and Nakamoto blocks built from real
//! (signed) transactions: encodings round-trip, ids ignore signer signatures, the decode-time
//! checks catch duplicates and reordering, and mutated blocks never panic the decoder.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::scalar::Scalar;
use libsigner::chain::*;
use libsigner::codec::StacksMessageCodec;
use proptest::prelude::*;

/// A wire bit vector: a length and exactly `ceil(len / 8)` bytes, padding bits random.
fn bitvec_wire() -> impl Strategy<Value = (u16, Vec<u8>)> {
    (1u16..=4000).prop_flat_map(|len| {
        let bytes = usize::from(len).div_ceil(8);
        (
            Just(len),
            proptest::collection::vec(any::<u8>(), bytes..=bytes),
        )
    })
}

fn bits() -> impl Strategy<Value = Vec<bool>> {
    proptest::collection::vec(any::<bool>(), 1..=600)
}

fn signing_key() -> impl Strategy<Value = StacksPrivateKey> {
    any::<[u8; 32]>().prop_map(|seed| StacksPrivateKey::from_seed(&seed))
}

fn header() -> impl Strategy<Value = NakamotoBlockHeader> {
    (
        (any::<u8>(), any::<u64>(), any::<u64>(), any::<u64>()),
        (any::<[u8; 20]>(), any::<[u8; 32]>(), any::<[u8; 32]>()),
        bits(),
        signing_key(),
    )
        .prop_map(
            |((version, height, burn, ts), (ch, parent, root), pox, miner)| {
                let mut header = NakamotoBlockHeader::empty();
                header.version = version;
                header.chain_length = height;
                header.burn_spent = burn;
                header.timestamp = ts;
                header.consensus_hash = ConsensusHash(ch);
                header.parent_block_id = StacksBlockId(parent);
                header.state_index_root = TrieHash(root);
                header.pox_treatment = BitVec::try_from(pox.as_slice()).unwrap();
                header.sign_miner(&miner).unwrap();
                header
            },
        )
}

/// A signed single-signature transaction carrying `payload`.
fn signed_tx(
    key: &StacksPrivateKey,
    nonce: u64,
    fee: u64,
    payload: TransactionPayload,
) -> StacksTransaction {
    let pk = StacksPublicKey::from_private(key);
    let mut cond = TransactionSpendingCondition::new_singlesig_p2pkh(pk).unwrap();
    cond.set_nonce(nonce);
    cond.set_tx_fee(fee);
    let tx = StacksTransaction::new(
        TransactionVersion::Testnet,
        TransactionAuth::Standard(cond),
        payload,
    );
    let mut signer = StacksTransactionSigner::new(&tx);
    signer.sign_origin(key).unwrap();
    signer.get_tx().unwrap()
}

fn vrf_proof() -> impl Strategy<Value = VRFProof> {
    (1u64.., any::<[u8; 16]>(), any::<[u8; 32]>()).prop_map(|(k, c, s)| {
        let gamma = ED25519_BASEPOINT_POINT * Scalar::from(k);
        let mut bytes = [0u8; 80];
        bytes[..32].copy_from_slice(gamma.compress().as_bytes());
        bytes[32..48].copy_from_slice(&c);
        bytes[48..].copy_from_slice(&Scalar::from_bytes_mod_order(s).to_bytes());
        VRFProof::from_slice(&bytes).unwrap()
    })
}

fn payload() -> impl Strategy<Value = TransactionPayload> {
    let transfer = (0u8..32, any::<[u8; 20]>(), any::<u64>(), any::<[u8; 34]>()).prop_map(
        |(v, h, amount, memo)| {
            let to = PrincipalData::Standard(StandardPrincipalData::new(v, h).unwrap());
            TransactionPayload::TokenTransfer(to, amount, TokenTransferMemo(memo))
        },
    );
    let coinbase = (any::<[u8; 32]>(), proptest::option::of(vrf_proof()))
        .prop_map(|(data, proof)| TransactionPayload::Coinbase(CoinbasePayload(data), None, proof));
    let tenure_change = (
        (any::<[u8; 20]>(), any::<[u8; 20]>(), any::<[u8; 20]>()),
        any::<[u8; 32]>(),
        any::<u32>(),
        0u8..=6,
        any::<[u8; 20]>(),
    )
        .prop_map(|((tch, ptch, bvch), end, blocks, cause, pkh)| {
            TransactionPayload::TenureChange(TenureChangePayload {
                tenure_consensus_hash: ConsensusHash(tch),
                prev_tenure_consensus_hash: ConsensusHash(ptch),
                burn_view_consensus_hash: ConsensusHash(bvch),
                previous_tenure_end: StacksBlockId(end),
                previous_tenure_blocks: blocks,
                cause: TenureChangeCause::from_u8(cause).unwrap(),
                pubkey_hash: Hash160(pkh),
            })
        });
    prop_oneof![3 => transfer, 1 => coinbase, 1 => tenure_change]
}

/// Signed transactions with distinct nonces, so their txids are distinct.
fn transactions() -> impl Strategy<Value = Vec<StacksTransaction>> {
    (
        signing_key(),
        proptest::collection::vec((any::<u64>(), payload()), 0..8),
    )
        .prop_map(|(key, items)| {
            items
                .into_iter()
                .enumerate()
                .map(|(nonce, (fee, payload))| signed_tx(&key, nonce as u64, fee, payload))
                .collect()
        })
}

fn block() -> impl Strategy<Value = NakamotoBlock> {
    (
        header(),
        transactions(),
        proptest::collection::vec(signing_key(), 0..4),
    )
        .prop_map(|(header, txs, signers)| {
            let mut block = NakamotoBlock { header, txs };
            block.header.tx_merkle_root = block.compute_tx_merkle_root();
            let digest = block.header.signer_signature_hash();
            block.header.signer_signature =
                signers.iter().map(|k| k.sign(&digest.0).unwrap()).collect();
            block
        })
}

fn decode_block(bytes: &[u8]) -> Result<NakamotoBlock, libsigner::codec::Error> {
    NakamotoBlock::consensus_deserialize(&mut &bytes[..])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn bitvec_wire_form_round_trips_with_its_padding((len, data) in bitvec_wire()) {
        let mut wire = len.to_be_bytes().to_vec();
        wire.extend_from_slice(&(data.len() as u32).to_be_bytes());
        wire.extend_from_slice(&data);
        let bits = BitVec::<4000>::consensus_deserialize(&mut &wire[..]).unwrap();
        prop_assert_eq!(bits.len(), len);
        prop_assert_eq!(bits.serialize_to_vec(), wire.clone());
        let json = serde_json::to_value(&bits).unwrap();
        prop_assert_eq!(json.as_str().unwrap(), libsigner::chain::hex::to_hex(&wire));
        prop_assert_eq!(serde_json::from_value::<BitVec<4000>>(json).unwrap(), bits.clone());
        for i in 0..len {
            let byte = data[usize::from(i / 8)];
            prop_assert_eq!(bits.get(i), Some(byte & (1 << (i % 8)) != 0));
        }
        prop_assert_eq!(bits.get(len), None);
    }

    #[test]
    fn bitvec_from_bools_reads_back_and_prints_them(pattern in bits()) {
        let bits = BitVec::<4000>::try_from(pattern.as_slice()).unwrap();
        let text: String = pattern.iter().map(|b| if *b { '1' } else { '0' }).collect();
        prop_assert_eq!(bits.binary_str(), text);
        prop_assert_eq!(bits.iter().collect::<Vec<_>>(), pattern.clone());
        let mut flipped = bits.clone();
        for (i, b) in pattern.iter().enumerate() {
            flipped.set(i as u16, !b).unwrap();
        }
        prop_assert!(flipped.iter().zip(&pattern).all(|(x, y)| x != *y));
        prop_assert!(flipped.set(bits.len(), true).is_err());
    }

    #[test]
    fn bitvec_lengths_over_the_maximum_are_refused(len in 4001u16.., extra in any::<u8>()) {
        let mut wire = len.to_be_bytes().to_vec();
        let bytes = usize::from(len).div_ceil(8);
        wire.extend_from_slice(&(bytes as u32).to_be_bytes());
        wire.extend(std::iter::repeat_n(extra, bytes));
        prop_assert!(BitVec::<4000>::consensus_deserialize(&mut &wire[..]).is_err());
        prop_assert!(BitVec::<4000>::zeros(len).is_err());
    }

    #[test]
    fn headers_round_trip_and_recover_their_miner(h in header(), seed in any::<[u8; 32]>()) {
        let bytes = h.serialize_to_vec();
        let decoded = NakamotoBlockHeader::consensus_deserialize(&mut &bytes[..]).unwrap();
        prop_assert_eq!(&decoded, &h);
        let json = serde_json::to_value(&h).unwrap();
        prop_assert_eq!(serde_json::from_value::<NakamotoBlockHeader>(json).unwrap(), h.clone());
        prop_assert!(decoded.recover_miner_pk().is_some());
        let key = StacksPrivateKey::from_seed(&seed);
        let mut resigned = h.clone();
        resigned.sign_miner(&key).unwrap();
        prop_assert_eq!(resigned.recover_miner_pk(), Some(StacksPublicKey::from_private(&key)));
        prop_assert_eq!(resigned.miner_signature_hash(), h.miner_signature_hash());
    }

    #[test]
    fn signer_signatures_do_not_change_block_identity(h in header(), keys in proptest::collection::vec(signing_key(), 1..4)) {
        let mut signed = h.clone();
        let digest = h.signer_signature_hash();
        signed.signer_signature = keys.iter().map(|k| k.sign(&digest.0).unwrap()).collect();
        prop_assert_eq!(signed.block_id(), h.block_id());
        prop_assert_eq!(signed.block_hash(), h.block_hash());
        let recovered: Vec<StacksPublicKey> =
            signed.recover_signer_pks().into_iter().map(Result::unwrap).collect();
        let expected: Vec<StacksPublicKey> = keys.iter().map(StacksPublicKey::from_private).collect();
        prop_assert_eq!(recovered, expected);
    }

    #[test]
    fn blocks_of_signed_transactions_round_trip(b in block(), trailing in proptest::collection::vec(any::<u8>(), 0..8)) {
        let mut bytes = b.serialize_to_vec();
        let len = bytes.len();
        bytes.extend_from_slice(&trailing);
        let mut reader = &bytes[..];
        let decoded = NakamotoBlock::consensus_deserialize(&mut reader).unwrap();
        prop_assert_eq!(bytes.len() - reader.len(), len);
        prop_assert_eq!(decoded.block_id(), b.block_id());
        prop_assert_eq!(decoded.txids(), b.txids());
        prop_assert_eq!(&decoded, &b);
        let json = serde_json::to_value(&b).unwrap();
        prop_assert_eq!(serde_json::from_value::<NakamotoBlock>(json).unwrap(), b);
    }

    #[test]
    fn duplicated_transactions_are_refused(b in block(), at in any::<prop::sample::Index>()) {
        prop_assume!(!b.txs.is_empty());
        let mut dup = b.clone();
        let tx = dup.txs[at.index(dup.txs.len())].clone();
        dup.txs.push(tx);
        // Even with a matching root the duplicate is refused.
        dup.header.tx_merkle_root = dup.compute_tx_merkle_root();
        let err = decode_block(&dup.serialize_to_vec()).unwrap_err();
        prop_assert!(err.to_string().contains("duplicate"), "{}", err);
    }

    #[test]
    fn reordered_transactions_are_refused(b in block(), i in any::<prop::sample::Index>(), j in any::<prop::sample::Index>()) {
        prop_assume!(b.txs.len() >= 2);
        let (i, j) = (i.index(b.txs.len()), j.index(b.txs.len()));
        prop_assume!(i != j);
        let mut swapped = b.clone();
        swapped.txs.swap(i, j);
        let err = decode_block(&swapped.serialize_to_vec()).unwrap_err();
        prop_assert!(err.to_string().contains("Merkle root mismatch"), "{}", err);
    }

    #[test]
    fn mutated_blocks_never_panic_and_decode_stably(b in block(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = b.serialize_to_vec();
        let at = at.index(bytes.len());
        bytes[at] = byte;
        if let Ok(decoded) = decode_block(&bytes) {
            let again = decode_block(&decoded.serialize_to_vec()).unwrap();
            prop_assert_eq!(again, decoded);
        }
        let _ = decode_block(&bytes[..at]);
    }

    #[test]
    fn tenure_payloads_come_from_the_first_transaction_of_wellformed_blocks(b in block()) {
        let start = b.is_wellformed_tenure_start_block();
        let extend = b.is_wellformed_tenure_extend_block();
        prop_assert!(!(start == Ok(true) && extend == Ok(true)));
        prop_assert_eq!(b.get_tenure_change_tx_payload().is_some(), start == Ok(true));
        prop_assert_eq!(b.get_tenure_extend_tx_payload().is_some(), extend == Ok(true));
        prop_assert_eq!(b.get_coinbase_tx().is_some(), start == Ok(true));
        if let Some(tc) = b.get_tenure_tx_payload() {
            prop_assert_eq!(Some(tc), b.txs[0].try_as_tenure_change());
        }
    }

    #[test]
    fn wellformed_tenure_start_blocks_are_recognised(
        b in block(),
        proof in vrf_proof(),
        key in signing_key(),
        rest in 0usize..3,
    ) {
        let mut block = b;
        let tc = TenureChangePayload {
            tenure_consensus_hash: block.header.consensus_hash,
            prev_tenure_consensus_hash: ConsensusHash([0; 20]),
            burn_view_consensus_hash: block.header.consensus_hash,
            previous_tenure_end: block.header.parent_block_id,
            previous_tenure_blocks: 1,
            cause: TenureChangeCause::BlockFound,
            pubkey_hash: Hash160([0; 20]),
        };
        let transfers: Vec<StacksTransaction> = block
            .txs
            .iter()
            .filter(|tx| matches!(tx.payload, TransactionPayload::TokenTransfer(..)))
            .take(rest)
            .cloned()
            .collect();
        block.txs = vec![
            signed_tx(&key, 0, 0, TransactionPayload::TenureChange(tc.clone())),
            signed_tx(&key, 1, 0, TransactionPayload::Coinbase(CoinbasePayload([0; 32]), None, Some(proof))),
        ];
        block.txs.extend(transfers);
        prop_assert_eq!(block.is_wellformed_tenure_start_block(), Ok(true));
        prop_assert_eq!(block.get_tenure_change_tx_payload(), Some(&tc));
        prop_assert_eq!(block.get_vrf_proof(), Some(&proof));
        prop_assert_eq!(block.get_tenure_extend_tx_payload(), None);
    }
}
