//! Every case of the reference's `clarity_values.json`: canonical encodings decode (consuming
//! every byte), re-encode identically and have the recorded type; unsorted tuple encodings
//! decode to the same value; every case the reference rejects is rejected.

mod common;

use common::{hex_field, is_error_case, label, load_cases};
use libsigner::chain::{TypeSignature, Value};
use libsigner::codec::StacksMessageCodec;

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
        assert!(
            Value::consensus_deserialize(&mut &bytes[..]).is_err(),
            "{} should fail ({})",
            label(&case),
            case["error"]
        );
        rejected += 1;
    }
    assert_eq!(rejected, 62);
}

#[test]
fn value_json_matches_reference_contract_call_arguments() {
    let mut compared = 0;
    for case in load_cases("transactions.json") {
        let Some(call) = case["json"]["payload"].get("ContractCall") else {
            continue;
        };
        for arg in call["function_args"].as_array().unwrap() {
            let value: Value = serde_json::from_value(arg.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", label(&case)));
            assert_eq!(
                &serde_json::to_value(&value).unwrap(),
                arg,
                "{}",
                label(&case)
            );
            // A value rebuilt from its JSON re-encodes and decodes to itself.
            let bytes = value.serialize_to_vec();
            assert_eq!(decode_all(&bytes).unwrap(), value, "{}", label(&case));
            compared += 1;
        }
    }
    assert!(compared > 50, "only {compared} arguments compared");
}
