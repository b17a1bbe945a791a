//! The two `.signers` read-only results, hand-encoded in Clarity's consensus format:
//! `get-last-set-cycle` → `(ok uint)` and `stackerdb-get-signer-slots-page` →
//! `(ok (list {num-slots: uint, signer: principal}))` or `(err u1)`.

use libsigner::chain::StacksAddress;

const OK: u8 = 0x07;
const ERR: u8 = 0x08;
const UINT: u8 = 0x01;
const LIST: u8 = 0x0b;
const TUPLE: u8 = 0x0c;
const STANDARD_PRINCIPAL: u8 = 0x05;

fn uint(out: &mut Vec<u8>, value: u128) {
    out.push(UINT);
    out.extend_from_slice(&value.to_be_bytes());
}

fn field_name(out: &mut Vec<u8>, name: &str) {
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
}

/// `(ok u{value})`.
pub fn ok_uint(value: u128) -> Vec<u8> {
    let mut out = vec![OK];
    uint(&mut out, value);
    out
}

/// `(err u{value})`.
pub fn err_uint(value: u128) -> Vec<u8> {
    let mut out = vec![ERR];
    uint(&mut out, value);
    out
}

/// `(ok (list {num-slots: u1, signer: 'ADDR} ...))`, one tuple per signer in order.
pub fn signer_slots_page(signers: &[StacksAddress]) -> Vec<u8> {
    let mut out = vec![OK, LIST];
    out.extend_from_slice(&(signers.len() as u32).to_be_bytes());
    for addr in signers {
        out.push(TUPLE);
        out.extend_from_slice(&2u32.to_be_bytes());
        field_name(&mut out, "num-slots");
        uint(&mut out, 1);
        field_name(&mut out, "signer");
        out.push(STANDARD_PRINCIPAL);
        out.push(addr.version());
        out.extend_from_slice(&addr.bytes().0);
    }
    out
}

/// Parses a `uint` argument (hex, with or without `0x`).
pub fn parse_uint_arg(hex: &str) -> Option<u128> {
    let digits = hex.strip_prefix("0x").unwrap_or(hex);
    let bytes = libsigner::chain::hex::hex_bytes(digits).ok()?;
    match bytes.split_first() {
        Some((&UINT, rest)) if rest.len() == 16 => {
            let mut arr = [0u8; 16];
            arr.copy_from_slice(rest);
            Some(u128::from_be_bytes(arr))
        }
        _ => None,
    }
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
