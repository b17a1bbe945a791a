//! Every case of the reference's `clarity_values.json`: canonical encodings decode (consuming
//! every byte), re-encode identically and have the recorded type; unsorted tuple encodings
//! decode to the same value; every case the reference rejects is rejected, with the
//! reference's error class. Also: the `sip018` cases of `primitives.json` through the SIP-018
//! API, and the JSON of values decoded from the reference's transactions.

mod common;

use common::{cases_of_kind, hex_encode, hex_field, is_error_case, label, load_cases, str_field};
use libsigner::chain::{
    make_structured_data_domain, sign_structured_data, structured_data_hash,
    structured_data_message_hash, StacksPrivateKey, StacksPublicKey, StacksTransaction,
    TransactionPayload, TransactionPostCondition, TypeSignature, Value, STRUCTURED_DATA_PREFIX,
};
use libsigner::codec::{Error as CodecError, StacksMessageCodec};

fn decode_all(bytes: &[u8]) -> Result<Value, String> {
    let (value, read) =
        Value::deserialize_read_count(&mut &bytes[..]).map_err(|e| e.to_string())?;
    if read as usize != bytes.len() {
        return Err(format!("read {read} of {} bytes", bytes.len()));
    }
    Ok(value)
}

#[test]
fn valid_values_round_trip_with_their_reference_type() {
    let mut checked = 0;
    let mut unsorted = 0;
    for case in load_cases("clarity_values.json") {
        if is_error_case(&case) {
            continue;
        }
        let bytes = hex_field(&case, "hex");
        let value = decode_all(&bytes).unwrap_or_else(|e| panic!("{}: {e}", label(&case)));
        assert_eq!(value.serialize_to_vec(), bytes, "{}", label(&case));
        let type_text = TypeSignature::type_of(&value).unwrap().to_string();
        assert_eq!(
            type_text,
            case["type"].as_str().unwrap(),
            "{}",
            label(&case)
        );
        if case.get("input_hex").is_some() {
            let input = hex_field(&case, "input_hex");
            let from_input = decode_all(&input).unwrap_or_else(|e| panic!("{}: {e}", label(&case)));
            assert_eq!(from_input, value, "{}", label(&case));
            assert_eq!(from_input.serialize_to_vec(), bytes, "{}", label(&case));
            unsorted += 1;
        }
        checked += 1;
    }
    assert_eq!(checked, 302);
    assert!(unsorted > 0);
}

#[test]
fn values_the_reference_rejects_are_rejected() {
    let mut rejected = 0;
    for case in load_cases("clarity_values.json") {
        if !is_error_case(&case) {
            continue;
        }
        let bytes = hex_field(&case, "hex");
        let reference = str_field(&case, "error");
        let err = Value::consensus_deserialize(&mut &bytes[..])
            .expect_err(&format!("{} should fail ({reference})", label(&case)));
        // Same class as the reference: missing bytes are a read error, anything else a
        // decoding error; where the reference names a reason, ours names the same one.
        match &err {
            CodecError::ReadError(_) => {
                assert!(
                    reference.starts_with("ReadError"),
                    "{}: {err:?}",
                    label(&case)
                )
            }
            CodecError::DeserializeError(text) => {
                assert!(
                    reference.starts_with("DeserializeError"),
                    "{}: {err:?}",
                    label(&case)
                );
                assert!(text.starts_with("Failed to decode clarity value"), "{text}");
                if let Some(reason) = reference_reason(reference) {
                    assert!(
                        text.contains(reason),
                        "{}: {text} vs {reference}",
                        label(&case)
                    );
                }
            }
            other => panic!("{}: unexpected error {other:?}", label(&case)),
        }
        rejected += 1;
    }
    assert_eq!(rejected, 62);
}

/// The quoted reason of a reference `DeserializationError("...")` or the name inside
/// `BadTypeError(...)`, if the error has one of those shapes.
fn reference_reason(error: &str) -> Option<&str> {
    if let Some(start) = error.find("DeserializationError(\\\"") {
        let rest = &error[start + "DeserializationError(\\\"".len()..];
        return rest.find("\\\"").map(|end| &rest[..end]);
    }
    error
        .contains("BadTypeError(TypeSignatureTooDeep)")
        .then_some("TypeSignatureTooDeep")
}

#[test]
fn sip018_cases_hash_and_sign_like_the_reference() {
    let mut checked = 0;
    for case in cases_of_kind("primitives.json", "sip018") {
        let l = label(&case);
        let d = &case["domain"];
        let domain = make_structured_data_domain(
            d["name"].as_str().unwrap(),
            d["version"].as_str().unwrap(),
            u32::try_from(d["chain_id"].as_u64().unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            hex_encode(&domain.serialize_to_vec()),
            str_field(&case, "domain_hex"),
            "{l}"
        );
        let value_bytes = hex_field(&case, "value_hex");
        let value = decode_all(&value_bytes).unwrap_or_else(|e| panic!("{l}: {e}"));
        assert_eq!(value.serialize_to_vec(), value_bytes, "{l}");
        assert_eq!(
            structured_data_hash(&domain).to_hex(),
            str_field(&case, "domain_hash"),
            "{l}"
        );
        assert_eq!(
            structured_data_hash(&value).to_hex(),
            str_field(&case, "structured_data_hash"),
            "{l}"
        );
        let digest = structured_data_message_hash(&value, &domain);
        assert_eq!(digest.to_hex(), str_field(&case, "message_hash"), "{l}");
        let mut preimage = STRUCTURED_DATA_PREFIX.to_vec();
        preimage.extend_from_slice(&hex_field(&case, "domain_hash"));
        preimage.extend_from_slice(&hex_field(&case, "structured_data_hash"));
        assert_eq!(
            libsigner::chain::Sha256Sum::from_data(&preimage),
            digest,
            "{l}"
        );

        let key = StacksPrivateKey::from_hex(str_field(&case, "private_key")).unwrap();
        let sig = sign_structured_data(&value, &domain, &key).unwrap();
        assert_eq!(sig.to_hex(), str_field(&case, "signature"), "{l}");
        assert_eq!(
            hex_encode(&sig.to_rsv()),
            str_field(&case, "signature_rsv"),
            "{l}"
        );
        let recovered = StacksPublicKey::recover_to_pubkey(&digest.0, &sig).unwrap();
        assert_eq!(recovered.to_hex(), str_field(&case, "public_key"), "{l}");
        checked += 1;
    }
    assert_eq!(checked, 21);
}

#[test]
fn values_decoded_from_reference_transactions_have_the_reference_json() {
    let mut args = 0;
    let mut nft_values = 0;
    for case in load_cases("transactions.json") {
        if is_error_case(&case) || case.get("json").is_none() {
            continue;
        }
        let l = label(&case);
        let tx = StacksTransaction::consensus_deserialize(&mut &hex_field(&case, "hex")[..])
            .unwrap_or_else(|e| panic!("{l}: {e}"));
        let json = &case["json"];
        if let TransactionPayload::ContractCall(call) = &tx.payload {
            let expected = json["payload"]["ContractCall"]["function_args"]
                .as_array()
                .unwrap();
            assert_eq!(call.function_args.len(), expected.len(), "{l}");
            for (value, reference) in call.function_args.iter().zip(expected) {
                check_value_json(value, reference, &l);
                args += 1;
            }
        }
        for (i, pc) in tx.post_conditions.iter().enumerate() {
            if let TransactionPostCondition::Nonfungible(_, _, value, _) = pc {
                let reference = &json["post_conditions"][i]["Nonfungible"][2];
                check_value_json(value, reference, &l);
                nft_values += 1;
            }
        }
    }
    println!("compared {args} contract-call arguments and {nft_values} NFT values");
    assert!(args > 50, "only {args} contract-call arguments compared");
    assert!(nft_values > 50, "only {nft_values} NFT values compared");
}

/// The value's JSON is the reference's, and that JSON reads back to the same value, which
/// encodes to the same bytes.
fn check_value_json(value: &Value, reference: &serde_json::Value, l: &str) {
    assert_eq!(&serde_json::to_value(value).unwrap(), reference, "{l}");
    let back: Value = serde_json::from_value(reference.clone()).unwrap();
    assert_eq!(&back, value, "{l}");
    assert_eq!(back.serialize_to_vec(), value.serialize_to_vec(), "{l}");
}
