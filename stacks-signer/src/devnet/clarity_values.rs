//! The two `.signers` read-only results, built as libsigner Clarity values:
//! `get-last-set-cycle` → `(ok uint)` and `stackerdb-get-signer-slots-page` →
//! `(ok (list {num-slots: uint, signer: principal}))` or `(err u1)`.

use libsigner::chain::{ClarityName, PrincipalData, StacksAddress, Value};
use libsigner::codec::StacksMessageCodec;

/// The encoding of a value the mock builds (these small values always encode).
fn encode(value: Result<Value, impl std::fmt::Debug>) -> Vec<u8> {
    value.map(|v| v.serialize_to_vec()).unwrap_or_default()
}

/// `(ok u{value})`.
pub fn ok_uint(value: u128) -> Vec<u8> {
    encode(Value::okay(Value::UInt(value)))
}

/// `(err u{value})`.
pub fn err_uint(value: u128) -> Vec<u8> {
    encode(Value::error(Value::UInt(value)))
}

/// `(ok (list {num-slots: u1, signer: 'ADDR} ...))`, one tuple per signer in order.
pub fn signer_slots_page(signers: &[StacksAddress]) -> Vec<u8> {
    let (Ok(num_slots), Ok(signer)) = (
        ClarityName::try_from("num-slots"),
        ClarityName::try_from("signer"),
    ) else {
        return Vec::new();
    };
    let tuples: Result<Vec<Value>, _> = signers
        .iter()
        .map(|addr| {
            Value::tuple(vec![
                (num_slots.clone(), Value::UInt(1)),
                (signer.clone(), Value::Principal(PrincipalData::from(*addr))),
            ])
        })
        .collect();
    encode(tuples.and_then(Value::cons_list).and_then(Value::okay))
}

/// Parses a `uint` argument (hex, with or without `0x`).
pub fn parse_uint_arg(hex: &str) -> Option<u128> {
    let digits = hex.strip_prefix("0x").unwrap_or(hex);
    Value::try_deserialize_hex_untyped(digits).ok()?.as_u128()
}

#[cfg(test)]
mod tests {
    use super::*;
    use libsigner::chain::hex::to_hex;

    #[test]
    fn encodings_match_the_spec_examples() {
        assert_eq!(to_hex(&ok_uint(12)), "07010000000000000000000000000000000c");
        assert_eq!(to_hex(&err_uint(1)), "080100000000000000000000000000000001");
        let a = StacksAddress::from_string("ST19CPHRW13JC0K0R63P6E1EF5FFTJR0CDAEQH2Q3").unwrap();
        let b = StacksAddress::from_string("ST3FPN8KBZ3YPBP0ZJGAAHTVFMQDTJCR5QPS7VTNJ").unwrap();
        assert_eq!(
            to_hex(&signer_slots_page(&[a, b])),
            concat!(
                "070b00000002",
                "0c00000002096e756d2d736c6f74730100000000000000000000000000000001067369676e6572051a52cb471c08e4c04c1830ec6705cf2bdfa9600c6a",
                "0c00000002096e756d2d736c6f74730100000000000000000000000000000001067369676e6572051adf6aa26bf8fd65d81f9414a8eb6fa5dba93305bd"
            )
        );
        assert_eq!(
            parse_uint_arg("0100000000000000000000000000000001"),
            Some(1)
        );
        assert_eq!(
            parse_uint_arg("0x0100000000000000000000000000000000"),
            Some(0)
        );
        assert_eq!(parse_uint_arg("00"), None);
    }
}
