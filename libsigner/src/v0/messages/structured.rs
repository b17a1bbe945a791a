//! The SIP-018 digests the v0 messages sign: block rejections and the epoch 2.5 mock
//! proposal and signature.
//!
//! The signed data are a few fixed Clarity values (buffers, a uint, an ASCII string and
//! tuples of them); this module builds their consensus serialization directly.

use crate::chain::Sha256Sum;

const SIP018_PREFIX: &[u8; 6] = b"SIP018";

/// A Clarity value of the shapes these digests use, serialized as the Clarity consensus
/// encoding.
enum DataValue<'a> {
    UInt(u128),
    Buff(&'a [u8]),
    StringAscii(&'a [u8]),
    /// Entries must be given sorted by name (the Clarity tuple encoding order).
    Tuple(Vec<(&'static str, DataValue<'a>)>),
}

impl DataValue<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            DataValue::UInt(n) => {
                out.push(0x01);
                out.extend_from_slice(&n.to_be_bytes());
            }
            DataValue::Buff(bytes) => {
                out.push(0x02);
                write_len(out, bytes.len());
                out.extend_from_slice(bytes);
            }
            DataValue::StringAscii(bytes) => {
                out.push(0x0d);
                write_len(out, bytes.len());
                out.extend_from_slice(bytes);
            }
            DataValue::Tuple(entries) => {
                out.push(0x0c);
                write_len(out, entries.len());
                for (name, value) in entries {
                    // Tuple keys are short static names.
                    out.push(name.len() as u8);
                    out.extend_from_slice(name.as_bytes());
                    value.write(out);
                }
            }
        }
    }

    fn hash(&self) -> Sha256Sum {
        let mut bytes = Vec::new();
        self.write(&mut bytes);
        Sha256Sum::from_data(&bytes)
    }
}

/// Lengths here are at most a few hundred bytes (fixed hashes and a server version capped
/// at 255 bytes by its wire encoding), so they always fit a `u32`.
fn write_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&(len as u32).to_be_bytes());
}

/// Whether the reference's `Value::string_ascii_from_bytes` accepts `bytes`: ASCII
/// alphanumerics, punctuation and whitespace (space, `\t`, `\n`, `\x0c`, `\r`).
pub(crate) fn is_clarity_ascii(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b.is_ascii_punctuation() || b.is_ascii_whitespace())
}

/// `sha256("SIP018" || sha256(domain) || sha256(data))` with the domain tuple
/// `{chain-id: uint, name: string-ascii, version: string-ascii}`.
fn message_hash(name: &str, version: &str, chain_id: u32, data: &DataValue) -> Sha256Sum {
    let domain = DataValue::Tuple(vec![
        ("chain-id", DataValue::UInt(chain_id.into())),
        ("name", DataValue::StringAscii(name.as_bytes())),
        ("version", DataValue::StringAscii(version.as_bytes())),
    ]);
    let mut message = Vec::with_capacity(6 + 64);
    message.extend_from_slice(SIP018_PREFIX);
    message.extend_from_slice(domain.hash().as_bytes());
    message.extend_from_slice(data.hash().as_bytes());
    Sha256Sum::from_data(&message)
}

/// The digest a block rejection signs: domain (`block-rejection`, `1.0.0`, chain id), data
/// `(buff 32)` of the block's signer signature hash.
pub(crate) fn block_rejection_hash(chain_id: u32, signer_signature_hash: &[u8; 32]) -> Sha256Sum {
    message_hash(
        "block-rejection",
        "1.0.0",
        chain_id,
        &DataValue::Buff(signer_signature_hash),
    )
}

/// The fields of a mock proposal the miner signs.
pub(crate) struct MockMinerData<'a> {
    pub pox_consensus: &'a [u8; 20],
    pub server_version: &'a str,
    pub stacks_tip: &'a [u8; 32],
    pub stacks_tip_consensus_hash: &'a [u8; 20],
    pub stacks_tip_height: u64,
    pub network_id: u32,
}

/// The digest a mock proposal's miner signs (domain `mock-miner`), or `None` when the
/// server version is not a Clarity ASCII string (the reference panics there).
pub(crate) fn mock_miner_hash(data: &MockMinerData) -> Option<Sha256Sum> {
    if !is_clarity_ascii(data.server_version.as_bytes()) {
        return None;
    }
    let tuple = DataValue::Tuple(vec![
        ("pox-consensus", DataValue::Buff(data.pox_consensus)),
        (
            "server-version",
            DataValue::StringAscii(data.server_version.as_bytes()),
        ),
        ("stacks-tip", DataValue::Buff(data.stacks_tip)),
        (
            "stacks-tip-consensus-hash",
            DataValue::Buff(data.stacks_tip_consensus_hash),
        ),
        (
            "stacks-tip-height",
            DataValue::UInt(data.stacks_tip_height.into()),
        ),
    ]);
    Some(message_hash("mock-miner", "1.0.0", data.network_id, &tuple))
}

/// The digest mock signers sign (domain `mock-signer`): the miner's signature and the
/// digest it signed.
pub(crate) fn mock_signer_hash(
    network_id: u32,
    miner_signature: &[u8; 65],
    miner_signature_hash: &Sha256Sum,
) -> Sha256Sum {
    let tuple = DataValue::Tuple(vec![
        ("miner-signature", DataValue::Buff(miner_signature)),
        (
            "miner-signature-hash",
            DataValue::Buff(miner_signature_hash.as_bytes()),
        ),
    ]);
    message_hash("mock-signer", "1.0.0", network_id, &tuple)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::hex::to_hex;

    #[test]
    fn sip018_message_hash_matches_the_reference_fixture() {
        // signed_structured_data.rs: "Hello World" under ("Test App", "1.0.0", mainnet).
        let data = DataValue::StringAscii(b"Hello World");
        assert_eq!(
            to_hex(data.hash().as_bytes()),
            "5297eef9765c466d945ad1cb2c81b30b9fed6c165575dc9226e9edf78b8cd9e8"
        );
        let hash = message_hash("Test App", "1.0.0", 1, &data);
        assert_eq!(
            to_hex(hash.as_bytes()),
            "1bfdab6d4158313ce34073fbb8d6b0fc32c154d439def12247a0f44bb2225259"
        );
    }

    #[test]
    fn clarity_ascii_accepts_printable_and_whitespace_only() {
        assert!(is_clarity_ascii(b"stacks-node 2.5 (x, y [z])\t\n\r\x0c"));
        assert!(!is_clarity_ascii(b"\x00"));
        assert!(!is_clarity_ascii("caf\u{e9}".as_bytes()));
        assert!(!is_clarity_ascii(b"\x7f"));
    }
}
