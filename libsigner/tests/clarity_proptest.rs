//! Property tests for Clarity values: generated values of every variant, nested and with
//! lists whose items only share a supertype, round-trip through the consensus encoding and
//! JSON; tuple fields in any order decode to the same value; damaged encodings never panic
//! and, when they still decode, decode to a canonical value.

use proptest::prelude::*;

use libsigner::chain::{
    ClarityName, ContractName, PrincipalData, QualifiedContractIdentifier, StandardPrincipalData,
    TupleData, TypeSignature, Value,
};
use libsigner::codec::StacksMessageCodec;

fn clarity_name() -> impl Strategy<Value = ClarityName> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9_!?+<>=/*-]{0,12}",
        Just("-".to_string()),
        Just("<=".to_string()),
    ]
    .prop_map(|s| ClarityName::try_from(s).unwrap())
}

fn principal() -> impl Strategy<Value = PrincipalData> {
    let issuer = (0u8..32, any::<[u8; 20]>())
        .prop_map(|(version, bytes)| StandardPrincipalData::new(version, bytes).unwrap());
    prop_oneof![
        issuer.clone().prop_map(PrincipalData::Standard),
        (issuer, "[a-zA-Z][a-zA-Z0-9_-]{0,30}").prop_map(|(issuer, name)| {
            PrincipalData::Contract(QualifiedContractIdentifier::new(
                issuer,
                ContractName::try_from(name).unwrap(),
            ))
        }),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i128>().prop_map(Value::Int),
        any::<u128>().prop_map(Value::UInt),
        any::<bool>().prop_map(Value::Bool),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(|b| Value::buff_from(b).unwrap()),
        "[ -~\t\n\r\x0c]{0,20}"
            .prop_map(|s| Value::string_ascii_from_bytes(s.into_bytes()).unwrap()),
        any::<String>().prop_map(|s| Value::string_utf8_from_bytes(s.into_bytes()).unwrap()),
        principal().prop_map(Value::Principal),
        Just(Value::none()),
    ]
}

/// Lists whose items differ in type but share a supertype.
fn supertype_list() -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 1..6).prop_map(
            |bufs| {
                Value::list_from(
                    bufs.into_iter()
                        .map(|b| Value::buff_from(b).unwrap())
                        .collect(),
                )
                .unwrap()
            }
        ),
        proptest::collection::vec(proptest::option::of(any::<i128>()), 1..6).prop_map(|items| {
            Value::list_from(
                items
                    .into_iter()
                    .map(|i| i.map_or_else(Value::none, |i| Value::some(Value::Int(i)).unwrap()))
                    .collect(),
            )
            .unwrap()
        }),
        proptest::collection::vec(
            prop_oneof![any::<i128>().prop_map(Ok), any::<u128>().prop_map(Err)],
            1..6
        )
        .prop_map(|items| {
            Value::list_from(
                items
                    .into_iter()
                    .map(|r| match r {
                        Ok(i) => Value::okay(Value::Int(i)).unwrap(),
                        Err(u) => Value::error(Value::UInt(u)).unwrap(),
                    })
                    .collect(),
            )
            .unwrap()
        }),
        proptest::collection::vec(("[ -~]{0,8}", any::<bool>()), 1..5).prop_map(|items| {
            // Tuples with the same fields whose string lengths vary.
            let tuples = items
                .into_iter()
                .map(|(s, b)| {
                    Value::from(
                        TupleData::from_data(vec![
                            (
                                ClarityName::try_from("s").unwrap(),
                                Value::string_ascii_from_bytes(s.into_bytes()).unwrap(),
                            ),
                            (ClarityName::try_from("b").unwrap(), Value::Bool(b)),
                        ])
                        .unwrap(),
                    )
                })
                .collect();
            Value::list_from(tuples).unwrap()
        }),
        Just(Value::list_from(vec![]).unwrap()),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![leaf(), supertype_list()].prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|v| Value::some(v).unwrap()),
            inner.clone().prop_map(|v| Value::okay(v).unwrap()),
            inner.clone().prop_map(|v| Value::error(v).unwrap()),
            (inner.clone(), 1usize..4).prop_map(|(v, n)| Value::list_from(vec![v; n]).unwrap()),
            proptest::collection::btree_map(clarity_name(), inner, 1..5).prop_map(|fields| {
                Value::from(TupleData::from_data(fields.into_iter().collect()).unwrap())
            }),
        ]
    })
}

fn decode(bytes: &[u8]) -> Result<(Value, u64), libsigner::codec::Error> {
    Value::deserialize_read_count(&mut &bytes[..])
}

/// A tuple's encoding with its fields written in reverse name order.
fn reversed_tuple_encoding(tuple: &TupleData) -> Vec<u8> {
    let mut bytes = vec![0x0c];
    bytes.extend_from_slice(&(tuple.data_map.len() as u32).to_be_bytes());
    for (name, value) in tuple.data_map.iter().rev() {
        bytes.push(name.len() as u8);
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(&value.serialize_to_vec());
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_values_round_trip_through_bytes_and_json(v in value()) {
        let bytes = v.serialize_to_vec();
        let (decoded, read) = decode(&bytes).unwrap();
        prop_assert_eq!(read as usize, bytes.len());
        prop_assert_eq!(&decoded, &v);
        prop_assert_eq!(decoded.serialize_to_vec(), bytes);
        // The decoded value carries the same types the constructors inferred.
        prop_assert_eq!(
            TypeSignature::type_of(&decoded).unwrap(),
            TypeSignature::type_of(&v).unwrap()
        );
        let json = serde_json::to_value(&v).unwrap();
        let back: Value = serde_json::from_value(json.clone()).unwrap();
        prop_assert_eq!(serde_json::to_value(&back).unwrap(), json);
        prop_assert_eq!(back, v);
    }

    #[test]
    fn tuple_fields_in_any_order_decode_to_the_same_tuple(
        fields in proptest::collection::btree_map(clarity_name(), leaf(), 1..6)
    ) {
        let tuple = TupleData::from_data(fields.into_iter().collect()).unwrap();
        let canonical = Value::from(tuple.clone()).serialize_to_vec();
        let reversed = reversed_tuple_encoding(&tuple);
        let (decoded, read) = decode(&reversed).unwrap();
        prop_assert_eq!(read as usize, reversed.len());
        prop_assert_eq!(decoded.serialize_to_vec(), canonical);
    }

    #[test]
    fn damaged_encodings_never_panic_and_decode_canonically(
        v in value(),
        position in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = v.serialize_to_vec();
        let at = position.index(bytes.len());
        bytes[at] = byte;
        for candidate in [&bytes[..], &bytes[..cut.index(bytes.len())]] {
            if let Ok((decoded, _)) = decode(candidate) {
                let again = decoded.serialize_to_vec();
                let (redecoded, read) = decode(&again).unwrap();
                prop_assert_eq!(read as usize, again.len());
                prop_assert_eq!(redecoded, decoded);
            }
        }
    }
}
