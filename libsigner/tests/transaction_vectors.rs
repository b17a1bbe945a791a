//! Every case of `transactions.json`: decoding, re-encoding, derived values, the signature
//! chain, upstream's JSON, rebuilding signed transactions from their keys, and rejection of
//! every invalid encoding.

mod common;

use common::{hex_decode, hex_encode, hex_field, is_error_case, label, load_cases, str_field};
use libsigner::chain::{
    StacksPrivateKey, StacksPublicKey, StacksTransaction, StacksTransactionSigner, TransactionAuth,
    TransactionSpendingCondition,
};
use libsigner::codec::StacksMessageCodec;
use serde_json::Value as Json;

fn valid_cases() -> Vec<Json> {
    load_cases("transactions.json")
        .into_iter()
        .filter(|c| !is_error_case(c))
        .collect()
}

fn decode(bytes: &[u8]) -> StacksTransaction {
    let mut reader = bytes;
    let tx = StacksTransaction::consensus_deserialize(&mut reader)
        .unwrap_or_else(|e| panic!("decode failed: {e}"));
    assert!(reader.is_empty(), "decoder left {} bytes", reader.len());
    tx
}

fn opt_u64(case: &Json, key: &str) -> Option<u64> {
    case[key].as_u64()
}

#[test]
fn valid_transactions_decode_and_reencode_to_canonical_bytes() {
    let cases = valid_cases();
    let mut with_input_hex = 0;
    for case in &cases {
        let hex = hex_field(case, "hex");
        let tx = decode(&hex);
        assert_eq!(
            hex_encode(&tx.serialize_to_vec()),
            hex_encode(&hex),
            "{}",
            label(case)
        );
        if case.get("input_hex").is_some() {
            let input = hex_field(case, "input_hex");
            let from_input = decode(&input);
            assert_eq!(from_input, tx, "{}", label(case));
            assert_eq!(from_input.serialize_to_vec(), hex, "{}", label(case));
            with_input_hex += 1;
        }
    }
    assert_eq!(cases.len(), 311);
    assert_eq!(with_input_hex, 8);
}

#[test]
fn valid_transactions_have_reference_txid_and_header_fields() {
    for case in &valid_cases() {
        let tx = decode(&hex_field(case, "hex"));
        let l = label(case);
        assert_eq!(tx.txid().to_hex(), str_field(case, "txid"), "{l}");
        assert_eq!(
            format!("{:?}", tx.version),
            str_field(case, "version"),
            "{l}"
        );
        assert_eq!(
            u64::from(tx.chain_id),
            case["chain_id"].as_u64().unwrap(),
            "{l}"
        );
        assert_eq!(
            format!("{:?}", tx.anchor_mode),
            str_field(case, "anchor_mode"),
            "{l}"
        );
        assert_eq!(
            format!("{:?}", tx.post_condition_mode),
            str_field(case, "post_condition_mode"),
            "{l}"
        );
        assert_eq!(
            tx.post_conditions.len() as u64,
            case["post_condition_count"].as_u64().unwrap(),
            "{l}"
        );
        if let Some(name) = case["payload"].as_str() {
            let kind = name.split('(').next().unwrap();
            let ours = tx.payload.name();
            let agrees = ours.starts_with(kind)
                || (kind == "VersionedSmartContract" && ours == "SmartContract(Versioned)")
                || (kind == "CoinbaseToAltRecipient" && ours == "Coinbase")
                || (kind == "NakamotoCoinbase" && ours == "Coinbase(Nakamoto)");
            assert!(agrees, "{l}: payload {ours} vs {name}");
        }
    }
}

#[test]
fn valid_transactions_have_reference_addresses_fees_and_nonces() {
    for case in &valid_cases() {
        let tx = decode(&hex_field(case, "hex"));
        let l = label(case);
        assert_eq!(
            tx.origin_address().to_string(),
            str_field(case, "origin_address"),
            "{l}"
        );
        assert_eq!(
            tx.sponsor_address().map(|a| a.to_string()),
            case["sponsor_address"].as_str().map(str::to_string),
            "{l}"
        );
        assert_eq!(Some(tx.get_tx_fee()), opt_u64(case, "fee"), "{l}");
        assert_eq!(
            Some(tx.get_origin_nonce()),
            opt_u64(case, "origin_nonce"),
            "{l}"
        );
        assert_eq!(
            tx.get_sponsor_nonce(),
            opt_u64(case, "sponsor_nonce"),
            "{l}"
        );
        assert_eq!(
            tx.auth.is_sponsored(),
            case["sponsor_nonce"].is_u64(),
            "{l}"
        );
    }
}

#[test]
fn valid_transactions_have_reference_sighash_and_signature_validity() {
    let mut valid = 0;
    let mut invalid = 0;
    for case in &valid_cases() {
        let tx = decode(&hex_field(case, "hex"));
        let l = label(case);
        assert_eq!(
            tx.initial_sighash().to_hex(),
            str_field(case, "initial_sighash"),
            "{l}"
        );
        let expected = case["signature_valid"].as_bool().unwrap();
        let verdict = tx.verify();
        assert_eq!(verdict.is_ok(), expected, "{l}: {verdict:?}");
        if expected {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    assert!(valid > 250, "{valid}");
    assert!(invalid > 0, "{invalid}");
}

#[test]
fn valid_transactions_serialize_to_reference_json_and_back() {
    for case in &valid_cases() {
        let tx = decode(&hex_field(case, "hex"));
        let l = label(case);
        let json = serde_json::to_value(&tx).unwrap();
        assert_eq!(json, case["json"], "{l}");
        let back: StacksTransaction =
            serde_json::from_value(case["json"].clone()).unwrap_or_else(|e| panic!("{l}: {e}"));
        assert_eq!(back, tx, "{l}");
    }
}

/// The decoded transaction with every signature and auth field removed, nonces and fees
/// kept: what a signer starts from.
fn unsigned(tx: &StacksTransaction) -> StacksTransaction {
    fn strip(cond: &TransactionSpendingCondition) -> TransactionSpendingCondition {
        let mut stripped = cond.clone();
        stripped.clear();
        stripped.set_nonce(cond.nonce());
        stripped.set_tx_fee(cond.tx_fee());
        stripped
    }
    let mut out = tx.clone();
    out.auth = match &tx.auth {
        TransactionAuth::Standard(o) => TransactionAuth::Standard(strip(o)),
        TransactionAuth::Sponsored(o, s) => TransactionAuth::Sponsored(strip(o), strip(s)),
    };
    out
}

fn keys_of(list: &Json) -> Vec<(StacksPrivateKey, bool)> {
    list.as_array()
        .map(|keys| {
            keys.iter()
                .map(|k| {
                    let sk = StacksPrivateKey::from_hex(k["private_key"].as_str().unwrap())
                        .expect("private key");
                    (sk, k["signs"].as_bool().unwrap())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn signed_transactions_are_rebuilt_byte_for_byte_from_their_keys() {
    let mut rebuilt = 0;
    let mut multisig = 0;
    for case in &valid_cases() {
        let Some(signing_keys) = case.get("signing_keys") else {
            continue;
        };
        let l = label(case);
        let hex = hex_field(case, "hex");
        let tx = decode(&hex);
        let mut signer = StacksTransactionSigner::new(&unsigned(&tx));
        signer.disable_checks();
        for (sk, signs) in keys_of(&signing_keys["origin"]) {
            if signs {
                signer.sign_origin(&sk).unwrap();
            } else {
                signer
                    .append_origin(&StacksPublicKey::from_private(&sk))
                    .unwrap();
            }
        }
        for (sk, signs) in keys_of(&signing_keys["sponsor"]) {
            if signs {
                signer.sign_sponsor(&sk).unwrap();
            } else {
                signer
                    .append_sponsor(&StacksPublicKey::from_private(&sk))
                    .unwrap();
            }
        }
        let signed = signer.get_tx_incomplete();
        assert_eq!(
            hex_encode(&signed.serialize_to_vec()),
            hex_encode(&hex),
            "{l}"
        );
        assert!(signed.verify().is_ok(), "{l}");
        rebuilt += 1;
        let is_multi = |c: &TransactionSpendingCondition| {
            !matches!(c, TransactionSpendingCondition::Singlesig(_))
        };
        if is_multi(tx.auth.origin()) || tx.auth.sponsor().is_some_and(is_multi) {
            multisig += 1;
        }
    }
    assert!(rebuilt >= 300, "{rebuilt}");
    assert!(multisig >= 100, "{multisig}");
}

#[test]
fn every_invalid_transaction_is_rejected() {
    let cases: Vec<Json> = load_cases("transactions.json")
        .into_iter()
        .filter(is_error_case)
        .collect();
    for case in &cases {
        let bytes = hex_decode(str_field(case, "hex"));
        let result = StacksTransaction::consensus_deserialize(&mut &bytes[..]);
        assert!(result.is_err(), "{}: decoded as {:?}", label(case), result);
    }
    assert_eq!(cases.len(), 118);
}

#[test]
fn truncated_valid_transactions_are_rejected() {
    for case in valid_cases().iter().step_by(7) {
        let hex = hex_field(case, "hex");
        for cut in [1, hex.len() / 2, hex.len() - 1] {
            assert!(
                StacksTransaction::consensus_deserialize(&mut &hex[..cut]).is_err(),
                "{} cut at {cut}",
                label(case)
            );
        }
    }
}
