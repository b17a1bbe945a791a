//! Every case of the reference's `primitives.json`: key derivations and addresses, multisig
//! address hashes, c32check encoding and decoding, signing, verification, hashes, Merkle roots,
//! SIP-018 structured data and bit vectors.

mod common;

use std::collections::BTreeMap;

use common::{hex_decode, hex_encode, hex_field, is_error_case, label, load_cases};
use libsigner::chain::{
    c32_address, c32_address_decode, make_structured_data_domain, public_keys_hash,
    structured_data_hash, structured_data_message_hash, txid_merkle_root, AddressHashMode, BitVec,
    C32Error, Hash160, Sha256Sum, Sha512Trunc256Sum, StacksAddress, StacksPrivateKey,
    StacksPublicKey, Txid, Value,
};
use libsigner::codec::{Error as CodecError, StacksMessageCodec};
use serde_json::Value as Json;

fn s<'a>(case: &'a Json, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {case}"))
}

fn check_key(case: &Json, what: &str) {
    let sk = StacksPrivateKey::from_hex(s(case, "private_key")).unwrap();
    assert_eq!(sk.to_hex(), s(case, "private_key"), "{what}");
    assert_eq!(
        sk.compress_public(),
        case["compress_public"].as_bool().unwrap()
    );
    let pk = StacksPublicKey::from_private(&sk);
    assert_eq!(pk.to_hex(), s(case, "public_key"), "{what}");
    assert_eq!(
        hex_encode(&pk.to_bytes_compressed()),
        s(case, "public_key_compressed")
    );
    let mut uncompressed = pk;
    uncompressed.set_compressed(false);
    assert_eq!(
        uncompressed.to_hex(),
        s(case, "public_key_uncompressed"),
        "{what}"
    );
    assert_eq!(
        Hash160::from_data(&pk.to_bytes()).to_hex(),
        s(case, "hash160")
    );
    assert_eq!(
        Hash160::from_node_public_key(&pk).to_hex(),
        s(case, "hash160_compressed")
    );
    let main = StacksAddress::p2pkh(true, &pk);
    let test = StacksAddress::p2pkh(false, &pk);
    assert_eq!(main.to_string(), s(case, "address_mainnet"), "{what}");
    assert_eq!(test.to_string(), s(case, "address_testnet"), "{what}");
    assert_eq!(
        hex_encode(&main.serialize_to_vec()),
        s(case, "address_mainnet_bytes")
    );
    assert_eq!(
        hex_encode(&test.serialize_to_vec()),
        s(case, "address_testnet_bytes")
    );
    assert_eq!(
        StacksAddress::from_string(s(case, "address_mainnet")),
        Some(main)
    );
    assert_eq!(
        StacksAddress::from_string(s(case, "address_testnet")),
        Some(test)
    );
    let main_bytes = hex_field(case, "address_mainnet_bytes");
    assert_eq!(
        StacksAddress::consensus_deserialize(&mut &main_bytes[..]).unwrap(),
        main,
        "{what}"
    );
    match case["p2wpkh_hash160"].as_str() {
        Some(expected) => assert_eq!(
            public_keys_hash(AddressHashMode::SerializeP2WPKH, 1, &[pk])
                .unwrap()
                .to_hex(),
            expected,
            "{what}"
        ),
        None => assert!(public_keys_hash(AddressHashMode::SerializeP2WPKH, 1, &[pk]).is_none()),
    }
    let json = serde_json::to_value(pk).unwrap();
    assert_eq!(json["key"], s(case, "public_key_compressed"), "{what}");
    assert_eq!(json["compressed"], case["compress_public"], "{what}");
}

fn check_multisig(case: &Json, what: &str) {
    let keys: Vec<StacksPublicKey> = case["public_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| StacksPublicKey::from_hex(k.as_str().unwrap()).unwrap())
        .collect();
    let mode = match s(case, "hash_mode") {
        "p2sh" => AddressHashMode::SerializeP2SH,
        "p2wsh" => AddressHashMode::SerializeP2WSH,
        other => panic!("{other}"),
    };
    let m = case["signatures_required"].as_u64().unwrap() as usize;
    let main = StacksAddress::from_public_keys(20, mode, m, &keys).unwrap();
    let test = StacksAddress::from_public_keys(21, mode, m, &keys).unwrap();
    assert_eq!(main.bytes().to_hex(), s(case, "hash160"), "{what}");
    assert_eq!(main.to_string(), s(case, "address_mainnet"), "{what}");
    assert_eq!(test.to_string(), s(case, "address_testnet"), "{what}");
}

fn check_c32(case: &Json, what: &str) {
    if is_error_case(case) {
        let input = s(case, "input");
        assert!(
            StacksAddress::from_string(input).is_none(),
            "{what} must be refused"
        );
        check_c32_failure(input, s(case, "error"), what);
        return;
    }
    let version = case["version"].as_u64().unwrap() as u8;
    let hash = hex_field(case, "hash160");
    assert_eq!(
        c32_address(version, &hash).unwrap(),
        s(case, "address"),
        "{what}"
    );
    let input = case["input"].as_str().unwrap_or(s(case, "address"));
    assert_eq!(
        c32_address_decode(input).unwrap(),
        (version, hash.clone()),
        "{what}"
    );
    let addr = StacksAddress::from_string(input).unwrap();
    assert_eq!(
        (addr.version(), addr.bytes().0.to_vec()),
        (version, hash),
        "{what}"
    );
    assert_eq!(addr.to_string(), s(case, "address"), "{what}");
}

/// The invalid address fails where the reference says: in the c32check decoding (bad
/// character or length, or bad checksum), or only at the 20-byte payload check.
fn check_c32_failure(input: &str, error: &str, what: &str) {
    let decoded = c32_address_decode(input);
    if let Some(detail) = error.strip_prefix("c32_address_decode succeeds (version ") {
        let (version, rest) = detail.split_once(", ").unwrap();
        let len: usize = rest.split(' ').next().unwrap().parse().unwrap();
        let (got_version, data) = decoded.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(got_version.to_string(), version, "{what}");
        assert_eq!(data.len(), len, "{what}");
    } else if error.starts_with("BadChecksum") {
        assert_eq!(decoded, Err(C32Error::BadChecksum), "{what}");
    } else {
        assert_eq!(error, "InvalidCrockford32", "{what}");
        assert_eq!(decoded, Err(C32Error::InvalidCrockford32), "{what}");
    }
}

fn check_sign(case: &Json, what: &str) {
    let sk = StacksPrivateKey::from_hex(s(case, "private_key")).unwrap();
    let digest = hex_field(case, "message_hash");
    let sig = sk.sign(&digest).unwrap();
    assert_eq!(sig.to_hex(), s(case, "signature"), "{what}");
    assert_eq!(
        hex_encode(&sig.to_rsv()),
        s(case, "signature_rsv"),
        "{what}"
    );
    assert_eq!(
        StacksPublicKey::from_private(&sk).to_hex(),
        s(case, "public_key")
    );
    let recovered = StacksPublicKey::recover_to_pubkey(&digest, &sig).unwrap();
    assert_eq!(
        recovered.to_hex(),
        s(case, "recovered_public_key"),
        "{what}"
    );
    assert_eq!(
        StacksPublicKey::from_private(&sk).verify(&digest, &sig),
        Ok(true)
    );
}

fn check_verify(case: &Json, what: &str) {
    let pk = StacksPublicKey::from_hex(s(case, "public_key")).unwrap();
    let digest = hex_field(case, "message_hash");
    let sig = libsigner::chain::MessageSignature::from_hex(s(case, "signature")).unwrap();
    let recovered = StacksPublicKey::recover_to_pubkey(&digest, &sig)
        .ok()
        .map(|k| k.to_hex());
    assert_eq!(
        serde_json::to_value(recovered).unwrap(),
        case["recovered_public_key"],
        "{what}"
    );
    match pk.verify(&digest, &sig) {
        Ok(result) => {
            assert!(!is_error_case(case), "{what}: expected {}", case["error"]);
            assert_eq!(Json::Bool(result), case["result"], "{what}");
        }
        Err(e) => {
            assert!(is_error_case(case), "{what}: unexpected error {e}");
            assert_eq!(e.to_string(), s(case, "error"), "{what}");
        }
    }
}

fn check_hash(case: &Json, what: &str) {
    let data = hex_field(case, "data");
    assert_eq!(
        Sha256Sum::from_data(&data).to_hex(),
        s(case, "sha256"),
        "{what}"
    );
    assert_eq!(
        Sha512Trunc256Sum::from_data(&data).to_hex(),
        s(case, "sha512_256")
    );
    assert_eq!(
        Hash160::from_data(&data).to_hex(),
        s(case, "hash160"),
        "{what}"
    );
}

fn check_merkle(case: &Json, what: &str) {
    let leaves: Vec<Txid> = case["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| Txid::from_hex(l.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(
        txid_merkle_root(&leaves).to_hex(),
        s(case, "root"),
        "{what}"
    );
}

fn check_sip018(case: &Json, what: &str) {
    let d = &case["domain"];
    let domain = make_structured_data_domain(
        d["name"].as_str().unwrap(),
        d["version"].as_str().unwrap(),
        d["chain_id"].as_u64().unwrap() as u32,
    )
    .unwrap();
    assert_eq!(
        hex_encode(&domain.serialize_to_vec()),
        s(case, "domain_hex"),
        "{what}"
    );
    assert_eq!(
        structured_data_hash(&domain).to_hex(),
        s(case, "domain_hash")
    );
    let value = Value::consensus_deserialize(&mut &hex_field(case, "value_hex")[..]).unwrap();
    assert_eq!(
        structured_data_hash(&value).to_hex(),
        s(case, "structured_data_hash")
    );
    let digest = structured_data_message_hash(&value, &domain);
    assert_eq!(digest.to_hex(), s(case, "message_hash"), "{what}");
    let sk = StacksPrivateKey::from_hex(s(case, "private_key")).unwrap();
    let sig = sk.sign(&digest.0).unwrap();
    assert_eq!(sig.to_hex(), s(case, "signature"), "{what}");
    assert_eq!(
        hex_encode(&sig.to_rsv()),
        s(case, "signature_rsv"),
        "{what}"
    );
    let mut pk = StacksPublicKey::from_private(&sk);
    pk.set_compressed(true);
    assert_eq!(pk.to_hex(), s(case, "public_key"), "{what}");
}

fn check_bitvec(case: &Json, what: &str) {
    let bytes = hex_field(case, "hex");
    let decoded = BitVec::<4000>::consensus_deserialize(&mut &bytes[..]);
    if is_error_case(case) {
        let err = decoded.expect_err(&format!("{what} must be refused"));
        assert_eq!(reference_debug(&err), s(case, "error"), "{what}");
        return;
    }
    let bits = decoded.unwrap();
    assert_eq!(u64::from(bits.len()), case["len"], "{what}");
    assert_eq!(bits.binary_str(), s(case, "bits"), "{what}");
    let expected = case["reencoded_hex"].as_str().unwrap_or(s(case, "hex"));
    assert_eq!(hex_encode(&bits.serialize_to_vec()), expected, "{what}");
    assert_eq!(serde_json::to_value(&bits).unwrap(), case["json"], "{what}");
    let from_json: BitVec<4000> = serde_json::from_value(case["json"].clone()).unwrap();
    assert_eq!(from_json, bits, "{what}");
    for (i, c) in s(case, "bits").chars().enumerate() {
        assert_eq!(bits.get(i as u16), Some(c == '1'), "{what} bit {i}");
    }
    assert_eq!(bits.get(bits.len()), None, "{what}");
    if case.get("reencoded_hex").is_none() {
        let pattern: Vec<bool> = s(case, "bits").chars().map(|c| c == '1').collect();
        let built = BitVec::<4000>::try_from(pattern.as_slice()).unwrap();
        assert_eq!(built, bits, "{what}");
    }
}

#[test]
fn every_primitive_vector_matches_the_reference() {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for case in load_cases("primitives.json") {
        let what = label(&case);
        let kind = s(&case, "kind").to_string();
        match kind.as_str() {
            "key" => check_key(&case, &what),
            "multisig_address" => check_multisig(&case, &what),
            "c32" => check_c32(&case, &what),
            "sign" => check_sign(&case, &what),
            "verify" => check_verify(&case, &what),
            "hash" => check_hash(&case, &what),
            "merkle" => check_merkle(&case, &what),
            "sip018" => check_sip018(&case, &what),
            "bitvec" => check_bitvec(&case, &what),
            other => panic!("unknown kind {other}"),
        }
        let suffix = if is_error_case(&case) { "/error" } else { "" };
        *counts.entry(format!("{kind}{suffix}")).or_default() += 1;
    }
    eprintln!("primitive cases checked: {counts:?}");
    let expected: BTreeMap<String, usize> = [
        ("bitvec", 24),
        ("bitvec/error", 6),
        ("c32", 127),
        ("c32/error", 11),
        ("hash", 31),
        ("key", 45),
        ("merkle", 18),
        ("multisig_address", 10),
        ("sign", 30),
        ("sip018", 21),
        ("verify", 17),
        ("verify/error", 24),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(counts, expected);
    assert_eq!(counts.values().sum::<usize>(), 364);
    let _ = hex_decode;
}

/// Our error written the way the reference's `Debug` prints the same error.
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
