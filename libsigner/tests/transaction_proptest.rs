//! Generated transactions round-trip through the consensus codec and through JSON.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::scalar::Scalar;
use libsigner::chain::*;
use libsigner::codec::StacksMessageCodec;
use proptest::prelude::*;

fn hash160() -> impl Strategy<Value = Hash160> {
    any::<[u8; 20]>().prop_map(Hash160)
}

fn bytes32() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn signature() -> impl Strategy<Value = MessageSignature> {
    (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<u8>()).prop_map(|(r, s, v)| {
        let mut sig = [0u8; 65];
        sig[0] = v;
        sig[1..33].copy_from_slice(&r);
        sig[33..].copy_from_slice(&s);
        MessageSignature(sig)
    })
}

/// A signature that parses as recoverable (a real one over a random digest).
fn recoverable_signature() -> impl Strategy<Value = MessageSignature> {
    (1u8..=255, bytes32()).prop_map(|(seed, digest)| {
        StacksPrivateKey::from_seed(&[seed; 32])
            .sign(&digest)
            .unwrap()
    })
}

fn public_key(compressed: bool) -> impl Strategy<Value = StacksPublicKey> {
    any::<[u8; 32]>().prop_map(move |seed| {
        let mut pk = StacksPublicKey::from_private(&StacksPrivateKey::from_seed(&seed));
        pk.set_compressed(compressed);
        pk
    })
}

fn encoding(compressed_only: bool) -> BoxedStrategy<TransactionPublicKeyEncoding> {
    if compressed_only {
        Just(TransactionPublicKeyEncoding::Compressed).boxed()
    } else {
        prop_oneof![
            Just(TransactionPublicKeyEncoding::Compressed),
            Just(TransactionPublicKeyEncoding::Uncompressed)
        ]
        .boxed()
    }
}

fn auth_field(compressed_only: bool) -> BoxedStrategy<TransactionAuthField> {
    let key_compressed = if compressed_only {
        Just(true).boxed()
    } else {
        any::<bool>().boxed()
    };
    prop_oneof![
        key_compressed
            .prop_flat_map(public_key)
            .prop_map(TransactionAuthField::PublicKey),
        (encoding(compressed_only), signature())
            .prop_map(|(e, s)| TransactionAuthField::Signature(e, s)),
    ]
    .boxed()
}

fn singlesig() -> impl Strategy<Value = TransactionSpendingCondition> {
    (
        any::<bool>(),
        hash160(),
        any::<u64>(),
        any::<u64>(),
        signature(),
    )
        .prop_flat_map(|(witness, signer, nonce, tx_fee, signature)| {
            encoding(witness).prop_map(move |key_encoding| {
                TransactionSpendingCondition::Singlesig(SinglesigSpendingCondition {
                    hash_mode: if witness {
                        SinglesigHashMode::P2WPKH
                    } else {
                        SinglesigHashMode::P2PKH
                    },
                    signer,
                    nonce,
                    tx_fee,
                    key_encoding,
                    signature,
                })
            })
        })
}

fn multisig() -> impl Strategy<Value = TransactionSpendingCondition> {
    (
        any::<bool>(),
        any::<bool>(),
        hash160(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_flat_map(|(ordered, witness, signer, nonce, tx_fee)| {
            (
                prop::collection::vec(auth_field(witness), 0..6),
                any::<u16>(),
            )
                .prop_map(move |(fields, slack)| {
                    let sigs = fields.iter().filter(|f| f.is_signature()).count() as u16;
                    if ordered {
                        TransactionSpendingCondition::Multisig(MultisigSpendingCondition {
                            hash_mode: if witness {
                                MultisigHashMode::P2WSH
                            } else {
                                MultisigHashMode::P2SH
                            },
                            signer,
                            nonce,
                            tx_fee,
                            fields,
                            signatures_required: sigs,
                        })
                    } else {
                        TransactionSpendingCondition::OrderIndependentMultisig(
                            OrderIndependentMultisigSpendingCondition {
                                hash_mode: if witness {
                                    OrderIndependentMultisigHashMode::P2WSH
                                } else {
                                    OrderIndependentMultisigHashMode::P2SH
                                },
                                signer,
                                nonce,
                                tx_fee,
                                fields,
                                signatures_required: slack % (sigs + 1),
                            },
                        )
                    }
                })
        })
}

fn spending_condition() -> impl Strategy<Value = TransactionSpendingCondition> {
    prop_oneof![singlesig(), multisig()]
}

fn auth() -> impl Strategy<Value = TransactionAuth> {
    prop_oneof![
        spending_condition().prop_map(TransactionAuth::Standard),
        (spending_condition(), spending_condition())
            .prop_map(|(o, s)| TransactionAuth::Sponsored(o, s)),
    ]
}

fn contract_name() -> impl Strategy<Value = ContractName> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,39}".prop_map(|s| ContractName::try_from(s).unwrap())
}

fn clarity_name() -> impl Strategy<Value = ClarityName> {
    "[a-zA-Z][a-zA-Z0-9_!?+<>=/*-]{0,30}".prop_map(|s| ClarityName::try_from(s).unwrap())
}

fn address() -> impl Strategy<Value = StacksAddress> {
    (0u8..32, hash160()).prop_map(|(v, h)| StacksAddress::new(v, h).unwrap())
}

fn principal() -> impl Strategy<Value = PrincipalData> {
    let standard =
        (0u8..32, any::<[u8; 20]>()).prop_map(|(v, b)| StandardPrincipalData::new(v, b).unwrap());
    prop_oneof![
        standard.clone().prop_map(PrincipalData::Standard),
        (standard, "[a-zA-Z][a-zA-Z0-9_-]{0,127}").prop_map(|(issuer, name)| {
            PrincipalData::Contract(QualifiedContractIdentifier::new(
                issuer,
                ContractName::try_from(name).unwrap(),
            ))
        }),
    ]
}

fn leaf_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i128>().prop_map(Value::Int),
        any::<u128>().prop_map(Value::UInt),
        any::<bool>().prop_map(Value::Bool),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| Value::buff_from(b).unwrap()),
        "[ -~]{0,30}".prop_map(|s| Value::string_ascii_from_bytes(s.into_bytes()).unwrap()),
        principal().prop_map(Value::Principal),
        Just(Value::none()),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf_value().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|v| Value::some(v).unwrap()),
            inner.clone().prop_map(|v| Value::okay(v).unwrap()),
            (inner.clone(), 0usize..4).prop_map(|(v, n)| Value::cons_list(vec![v; n]).unwrap()),
            prop::collection::btree_map(clarity_name(), inner, 1..4)
                .prop_map(|fields| Value::tuple(fields.into_iter().collect()).unwrap()),
        ]
    })
}

fn contract_call() -> impl Strategy<Value = TransactionContractCall> {
    (
        address(),
        contract_name(),
        clarity_name(),
        prop::collection::vec(value(), 0..4),
    )
        .prop_map(|(address, contract_name, function_name, function_args)| {
            TransactionContractCall {
                address,
                contract_name,
                function_name,
                function_args,
            }
        })
}

fn vrf_proof() -> impl Strategy<Value = VRFProof> {
    (1u64.., any::<[u8; 16]>(), bytes32()).prop_map(|(k, c, s)| {
        let gamma = ED25519_BASEPOINT_POINT * Scalar::from(k);
        let mut bytes = [0u8; 80];
        bytes[..32].copy_from_slice(gamma.compress().as_bytes());
        bytes[32..48].copy_from_slice(&c);
        bytes[48..].copy_from_slice(&Scalar::from_bytes_mod_order(s).to_bytes());
        VRFProof::from_slice(&bytes).unwrap()
    })
}

fn cause() -> impl Strategy<Value = TenureChangeCause> {
    (0u8..=6).prop_map(|b| TenureChangeCause::from_u8(b).unwrap())
}

fn tenure_change() -> impl Strategy<Value = TenureChangePayload> {
    (
        any::<[u8; 20]>(),
        any::<[u8; 20]>(),
        any::<[u8; 20]>(),
        bytes32(),
        any::<u32>(),
        cause(),
        hash160(),
    )
        .prop_map(
            |(tch, ptch, bvch, end, blocks, cause, pkh)| TenureChangePayload {
                tenure_consensus_hash: ConsensusHash(tch),
                prev_tenure_consensus_hash: ConsensusHash(ptch),
                burn_view_consensus_hash: ConsensusHash(bvch),
                previous_tenure_end: StacksBlockId(end),
                previous_tenure_blocks: blocks,
                cause,
                pubkey_hash: pkh,
            },
        )
}

fn microblock_header() -> impl Strategy<Value = StacksMicroblockHeader> {
    (
        any::<u8>(),
        any::<u16>(),
        bytes32(),
        bytes32(),
        recoverable_signature(),
    )
        .prop_map(
            |(version, sequence, prev, root, signature)| StacksMicroblockHeader {
                version,
                sequence,
                prev_block: BlockHeaderHash(prev),
                tx_merkle_root: Sha512Trunc256Sum(root),
                signature,
            },
        )
}

fn payload() -> impl Strategy<Value = TransactionPayload> {
    let memo = (any::<[u8; 32]>(), any::<[u8; 2]>()).prop_map(|(a, b)| {
        let mut m = [0u8; 34];
        m[..32].copy_from_slice(&a);
        m[32..].copy_from_slice(&b);
        TokenTransferMemo(m)
    });
    let code = "[ -~\t\n]{0,200}".prop_map(|s| StacksString::from_str(&s).unwrap());
    let version = prop_oneof![
        Just(None),
        (1u8..=4).prop_map(|b| Some(match b {
            1 => ClarityVersion::Clarity1,
            2 => ClarityVersion::Clarity2,
            3 => ClarityVersion::Clarity3,
            _ => ClarityVersion::Clarity4,
        }))
    ];
    prop_oneof![
        (principal(), any::<u64>(), memo)
            .prop_map(|(p, amount, memo)| TransactionPayload::TokenTransfer(p, amount, memo)),
        (contract_name(), code, version).prop_map(|(name, code_body, v)| {
            TransactionPayload::SmartContract(TransactionSmartContract { name, code_body }, v)
        }),
        (
            bytes32(),
            proptest::option::of(principal()),
            proptest::option::of(vrf_proof())
        )
            .prop_map(|(p, r, v)| TransactionPayload::Coinbase(CoinbasePayload(p), r, v)),
        tenure_change().prop_map(TransactionPayload::TenureChange),
        contract_call().prop_map(TransactionPayload::ContractCall),
        (microblock_header(), bytes32()).prop_map(|(h1, root)| {
            let mut h2 = h1.clone();
            h2.tx_merkle_root = Sha512Trunc256Sum(root);
            h2.version = h1
                .version
                .wrapping_add(u8::from(h1.tx_merkle_root == h2.tx_merkle_root));
            TransactionPayload::PoisonMicroblock(h1, h2)
        }),
    ]
}

fn fungible_code() -> impl Strategy<Value = FungibleConditionCode> {
    (1u8..=5).prop_map(|b| FungibleConditionCode::from_u8(b).unwrap())
}

fn post_condition_principal() -> impl Strategy<Value = PostConditionPrincipal> {
    prop_oneof![
        Just(PostConditionPrincipal::Origin),
        address().prop_map(PostConditionPrincipal::Standard),
        (address(), contract_name()).prop_map(|(a, n)| PostConditionPrincipal::Contract(a, n)),
    ]
}

fn post_condition() -> impl Strategy<Value = TransactionPostCondition> {
    let asset = (address(), contract_name(), clarity_name()).prop_map(|(a, c, n)| AssetInfo {
        contract_address: a,
        contract_name: c,
        asset_name: n,
    });
    prop_oneof![
        (post_condition_principal(), fungible_code(), any::<u64>())
            .prop_map(|(p, c, a)| TransactionPostCondition::STX(p, c, a)),
        (
            post_condition_principal(),
            asset,
            fungible_code(),
            any::<u64>()
        )
            .prop_map(|(p, s, c, a)| TransactionPostCondition::Fungible(p, s, c, a)),
    ]
}

fn transaction() -> impl Strategy<Value = StacksTransaction> {
    (
        any::<bool>(),
        any::<u32>(),
        auth(),
        1u8..=3,
        1u8..=2,
        prop::collection::vec(post_condition(), 0..4),
        payload(),
    )
        .prop_map(
            |(mainnet, chain_id, auth, anchor, mode, post_conditions, payload)| {
                let anchor_mode = match payload {
                    TransactionPayload::Coinbase(..) | TransactionPayload::PoisonMicroblock(..) => {
                        TransactionAnchorMode::OnChainOnly
                    }
                    _ => TransactionAnchorMode::from_u8(anchor).unwrap(),
                };
                StacksTransaction {
                    version: if mainnet {
                        TransactionVersion::Mainnet
                    } else {
                        TransactionVersion::Testnet
                    },
                    chain_id,
                    auth,
                    anchor_mode,
                    post_condition_mode: TransactionPostConditionMode::from_u8(mode).unwrap(),
                    post_conditions,
                    payload,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn generated_transactions_round_trip_through_the_codec(tx in transaction()) {
        let bytes = tx.serialize_to_vec();
        let mut reader = &bytes[..];
        let decoded = StacksTransaction::consensus_deserialize(&mut reader).unwrap();
        prop_assert!(reader.is_empty());
        prop_assert_eq!(&decoded, &tx);
        prop_assert_eq!(decoded.txid(), tx.txid());
    }

    #[test]
    fn generated_transactions_round_trip_through_json(tx in transaction()) {
        let json = serde_json::to_string(&tx).unwrap();
        let back: StacksTransaction = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, tx);
    }

    #[test]
    fn generated_spending_conditions_round_trip(cond in spending_condition()) {
        let bytes = cond.serialize_to_vec();
        let decoded = TransactionSpendingCondition::consensus_deserialize(&mut &bytes[..]).unwrap();
        prop_assert_eq!(decoded, cond);
    }

    #[test]
    fn signed_singlesig_transactions_verify(seed in any::<[u8; 32]>(), compressed in any::<bool>(),
                                            nonce in any::<u64>(), fee in any::<u64>(),
                                            payload in payload()) {
        let mut sk = StacksPrivateKey::from_seed(&seed);
        sk.set_compress_public(compressed);
        let pk = StacksPublicKey::from_private(&sk);
        let mut cond = TransactionSpendingCondition::new_singlesig_p2pkh(pk).unwrap();
        cond.set_nonce(nonce);
        cond.set_tx_fee(fee);
        let tx = StacksTransaction::new(TransactionVersion::Testnet, TransactionAuth::Standard(cond), payload);
        let mut signer = StacksTransactionSigner::new(&tx);
        signer.sign_origin(&sk).unwrap();
        let signed = signer.get_tx().unwrap();
        prop_assert!(signed.verify().is_ok());
        prop_assert_eq!(signed.initial_sighash(), tx.initial_sighash());
        prop_assert_eq!(signed.origin_address(), StacksAddress::p2pkh(false, &pk));
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = StacksTransaction::consensus_deserialize(&mut &bytes[..]);
    }
}
