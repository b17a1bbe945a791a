//! Property tests: generated Clarity values, bit vectors, block headers, blocks, StackerDB
//! chunks and addresses round-trip through their consensus encodings (and JSON where the
//! type has one), and decoding never panics on arbitrary bytes.

use libsigner::chain::{
    BitVec, ClarityName, ConsensusHash, ContractName, MessageSignature, NakamotoBlock,
    NakamotoBlockHeader, PrincipalData, QualifiedContractIdentifier, Sha512Trunc256Sum,
    StacksAddress, StacksBlockId, StacksPrivateKey, StandardPrincipalData, TrieHash, Value,
};
use libsigner::codec::StacksMessageCodec;
use libsigner::stackerdb::StackerDBChunkData;
use proptest::prelude::*;

fn clarity_name() -> impl Strategy<Value = ClarityName> {
    "[a-zA-Z][a-zA-Z0-9\\-_!?+<>=/*]{0,20}".prop_map(|s| ClarityName::try_from(s).unwrap())
}

fn contract_name() -> impl Strategy<Value = ContractName> {
    "[a-zA-Z][a-zA-Z0-9\\-_]{0,39}".prop_map(|s| ContractName::try_from(s).unwrap())
}

fn principal() -> impl Strategy<Value = PrincipalData> {
    let standard =
        (0u8..32, any::<[u8; 20]>()).prop_map(|(v, h)| StandardPrincipalData::new(v, h).unwrap());
    prop_oneof![
        standard.clone().prop_map(PrincipalData::Standard),
        (standard, contract_name()).prop_map(|(issuer, name)| PrincipalData::Contract(
            QualifiedContractIdentifier::new(issuer, name)
        )),
    ]
}

fn leaf_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i128>().prop_map(Value::Int),
        any::<u128>().prop_map(Value::UInt),
        any::<bool>().prop_map(Value::Bool),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| Value::buff_from(b).unwrap()),
        "[ -~\t\n\r]{0,30}".prop_map(|s| Value::string_ascii_from_bytes(s.into_bytes()).unwrap()),
        any::<String>().prop_map(|s| Value::string_utf8_from_bytes(s.into_bytes()).unwrap()),
        principal().prop_map(Value::Principal),
        Just(Value::none()),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf_value().prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            inner.clone().prop_map(|v| Value::some(v).unwrap()),
            inner.clone().prop_map(|v| Value::okay(v).unwrap()),
            inner.clone().prop_map(|v| Value::error(v).unwrap()),
            // Lists of copies of one value always have a common type.
            (inner.clone(), 0usize..5).prop_map(|(v, n)| Value::cons_list(vec![v; n]).unwrap()),
            proptest::collection::btree_map(clarity_name(), inner, 1..5)
                .prop_map(|fields| Value::tuple(fields.into_iter().collect()).unwrap()),
        ]
    })
}

fn bitvec() -> impl Strategy<Value = BitVec<4000>> {
    proptest::collection::vec(any::<bool>(), 1..200)
        .prop_map(|bits| BitVec::try_from(bits.as_slice()).unwrap())
}

fn header() -> impl Strategy<Value = NakamotoBlockHeader> {
    (
        any::<u8>(),
        any::<u64>(),
        any::<u64>(),
        any::<[u8; 20]>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<u64>(),
        proptest::collection::vec(any::<[u8; 32]>(), 0..4),
        bitvec(),
    )
        .prop_map(|(version, len, burn, ch, parent, root, ts, sigs, pox)| {
            let mut header = NakamotoBlockHeader::empty();
            header.version = version;
            header.chain_length = len;
            header.burn_spent = burn;
            header.consensus_hash = ConsensusHash(ch);
            header.parent_block_id = StacksBlockId(parent);
            header.state_index_root = TrieHash(root);
            header.timestamp = ts;
            header.signer_signature = sigs
                .iter()
                .map(|s| {
                    let mut bytes = [0u8; 65];
                    bytes[1..33].copy_from_slice(s);
                    MessageSignature(bytes)
                })
                .collect();
            header.pox_treatment = pox;
            header
        })
}

proptest! {
    #[test]
    fn clarity_values_round_trip(v in value()) {
        let bytes = v.serialize_to_vec();
        let (decoded, read) = Value::deserialize_read_count(&mut &bytes[..]).unwrap();
        prop_assert_eq!(read as usize, bytes.len());
        prop_assert_eq!(&decoded, &v);
        let json = serde_json::to_string(&v).unwrap();
        prop_assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), v);
    }

    #[test]
    fn bitvecs_round_trip(bits in bitvec()) {
        let bytes = bits.serialize_to_vec();
        prop_assert_eq!(BitVec::<4000>::consensus_deserialize(&mut &bytes[..]).unwrap(), bits.clone());
        let json = serde_json::to_string(&bits).unwrap();
        prop_assert_eq!(serde_json::from_str::<BitVec<4000>>(&json).unwrap(), bits);
    }

    #[test]
    fn headers_round_trip_and_keep_their_ids(h in header()) {
        let bytes = h.serialize_to_vec();
        let decoded = NakamotoBlockHeader::consensus_deserialize(&mut &bytes[..]).unwrap();
        prop_assert_eq!(decoded.block_id(), h.block_id());
        prop_assert_eq!(&decoded, &h);
        let json = serde_json::to_string(&h).unwrap();
        prop_assert_eq!(serde_json::from_str::<NakamotoBlockHeader>(&json).unwrap(), h);
    }

    #[test]
    fn empty_blocks_with_the_right_root_round_trip(h in header()) {
        let mut block = NakamotoBlock { header: h, txs: vec![] };
        block.header.tx_merkle_root = Sha512Trunc256Sum([0; 32]);
        let bytes = block.serialize_to_vec();
        prop_assert_eq!(NakamotoBlock::consensus_deserialize(&mut &bytes[..]).unwrap(), block);
    }

    #[test]
    fn signed_chunks_round_trip_and_recover_their_signer(
        slot in any::<u32>(),
        version in any::<u32>(),
        data in proptest::collection::vec(any::<u8>(), 0..300),
        seed in any::<[u8; 32]>(),
    ) {
        let key = StacksPrivateKey::from_seed(&seed);
        let mut chunk = StackerDBChunkData::new(slot, version, data);
        chunk.sign(&key).unwrap();
        let bytes = chunk.serialize_to_vec();
        let decoded = StackerDBChunkData::consensus_deserialize(&mut &bytes[..]).unwrap();
        prop_assert_eq!(&decoded, &chunk);
        let pk = libsigner::chain::StacksPublicKey::from_private(&key);
        prop_assert_eq!(decoded.recover_pk().unwrap().to_bytes_compressed(), pk.to_bytes_compressed());
        let json = serde_json::to_string(&chunk).unwrap();
        prop_assert_eq!(serde_json::from_str::<StackerDBChunkData>(&json).unwrap(), chunk);
    }

    #[test]
    fn addresses_round_trip_through_c32_and_the_codec(v in 0u8..32, h in any::<[u8; 20]>()) {
        let addr = StacksAddress::new(v, libsigner::chain::Hash160(h)).unwrap();
        prop_assert_eq!(StacksAddress::from_string(&addr.to_string()), Some(addr));
        let bytes = addr.serialize_to_vec();
        prop_assert_eq!(StacksAddress::consensus_deserialize(&mut &bytes[..]).unwrap(), addr);
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Value::consensus_deserialize(&mut &bytes[..]);
        let _ = NakamotoBlock::consensus_deserialize(&mut &bytes[..]);
        let _ = StackerDBChunkData::consensus_deserialize(&mut &bytes[..]);
        let _ = libsigner::chain::StacksTransaction::consensus_deserialize(&mut &bytes[..]);
        let _ = libsigner::v0::messages::SignerMessage::consensus_deserialize(&mut &bytes[..]);
    }
}
