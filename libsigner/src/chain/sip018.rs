//! SIP-018 structured data: hashing and signing a Clarity value under a domain, as signers do
//! for block rejections, mock messages, stacking signatures and SIP votes.

use crate::chain::clarity::{ClarityName, Value};
use crate::chain::{KeyError, MessageSignature, Sha256Sum, StacksPrivateKey};
use crate::codec::StacksMessageCodec;

/// The bytes `SIP018` every message hash starts with.
pub const STRUCTURED_DATA_PREFIX: [u8; 6] = *b"SIP018";

/// SHA-256 of a value's consensus encoding.
pub fn structured_data_hash(value: &Value) -> Sha256Sum {
    Sha256Sum::from_data(&value.serialize_to_vec())
}

/// `SHA-256("SIP018" || hash(domain) || hash(data))`: the digest that gets signed.
pub fn structured_data_message_hash(data: &Value, domain: &Value) -> Sha256Sum {
    let mut bytes = Vec::with_capacity(6 + 32 + 32);
    bytes.extend_from_slice(&STRUCTURED_DATA_PREFIX);
    bytes.extend_from_slice(&structured_data_hash(domain).0);
    bytes.extend_from_slice(&structured_data_hash(data).0);
    Sha256Sum::from_data(&bytes)
}

/// Signs `data` under `domain` with `key`.
pub fn sign_structured_data(
    data: &Value,
    domain: &Value,
    key: &StacksPrivateKey,
) -> Result<MessageSignature, KeyError> {
    key.sign(&structured_data_message_hash(data, domain).0)
}

fn name(text: &'static str) -> ClarityName {
    // The three domain keys are fixed, valid names.
    ClarityName::try_from(text).unwrap_or_else(|_| unreachable!("valid clarity name {text}"))
}

/// The domain tuple `{chain-id: uint, name: string-ascii, version: string-ascii}`.
///
/// Fails only if `name` or `version` is not a valid `string-ascii`.
pub fn make_structured_data_domain(
    domain_name: &str,
    version: &str,
    chain_id: u32,
) -> Result<Value, crate::chain::clarity::TypeError> {
    Value::tuple(vec![
        (
            name("name"),
            Value::string_ascii_from_bytes(domain_name.as_bytes().to_vec())?,
        ),
        (
            name("version"),
            Value::string_ascii_from_bytes(version.as_bytes().to_vec())?,
        ),
        (name("chain-id"), Value::UInt(u128::from(chain_id))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::CHAIN_ID_MAINNET;

    #[test]
    fn reference_sip018_vectors() {
        let data = Value::string_ascii_from_bytes(b"Hello World".to_vec()).unwrap();
        assert_eq!(
            structured_data_hash(&data).to_hex(),
            "5297eef9765c466d945ad1cb2c81b30b9fed6c165575dc9226e9edf78b8cd9e8"
        );
        let domain = make_structured_data_domain("Test App", "1.0.0", CHAIN_ID_MAINNET).unwrap();
        assert_eq!(
            structured_data_message_hash(&data, &domain).to_hex(),
            "1bfdab6d4158313ce34073fbb8d6b0fc32c154d439def12247a0f44bb2225259"
        );
        let key = StacksPrivateKey::from_hex(
            "753b7cc01a1a2e86221266a154af739463fce51219d97e4f856cd7200c3bd2a601",
        )
        .unwrap();
        let sig = sign_structured_data(&data, &domain, &key).unwrap();
        assert_eq!(
            crate::chain::hex::to_hex(&sig.to_rsv()),
            "8b94e45701d857c9f1d1d70e8b2ca076045dae4920fb0160be0642a68cd78de072ab527b5c5277a593baeb2a8b657c216b99f7abb5d14af35b4bf12ba6460ba401"
        );
    }
}
