//! The SIP-018 digests the v0 messages sign: block rejections and the epoch 2.5 mock
//! proposal and signature, built from Clarity values with [`crate::chain::sip018`].

use crate::chain::{
    make_structured_data_domain, structured_data_message_hash, ClarityName, Sha256Sum, Value,
};

/// A tuple key; the keys used here are fixed, valid names.
fn key(name: &'static str) -> ClarityName {
    ClarityName::try_from(name).unwrap_or_else(|_| unreachable!("valid clarity name {name}"))
}

/// A buffer value of a fixed-size hash or signature (always far below the buffer limit).
fn buff(bytes: &[u8]) -> Value {
    Value::buff_from(bytes.to_vec()).unwrap_or_else(|_| unreachable!("small buffer"))
}

/// The SIP-018 digest of `data` under the domain (`name`, `1.0.0`, `chain_id`); `None` only if
/// `data` could not be built.
fn message_hash(name: &str, chain_id: u32, data: Option<Value>) -> Option<Sha256Sum> {
    let domain = make_structured_data_domain(name, "1.0.0", chain_id).ok()?;
    Some(structured_data_message_hash(&data?, &domain))
}

/// The digest a block rejection signs: domain (`block-rejection`, `1.0.0`, chain id), data
/// `(buff 32)` of the block's signer signature hash.
pub(crate) fn block_rejection_hash(chain_id: u32, signer_signature_hash: &[u8; 32]) -> Sha256Sum {
    message_hash(
        "block-rejection",
        chain_id,
        Some(buff(signer_signature_hash)),
    )
    .unwrap_or_else(|| unreachable!("fixed domain and data are valid"))
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
    let server_version =
        Value::string_ascii_from_bytes(data.server_version.as_bytes().to_vec()).ok()?;
    let tuple = Value::tuple(vec![
        (key("pox-consensus"), buff(data.pox_consensus)),
        (key("server-version"), server_version),
        (key("stacks-tip"), buff(data.stacks_tip)),
        (
            key("stacks-tip-consensus-hash"),
            buff(data.stacks_tip_consensus_hash),
        ),
        (
            key("stacks-tip-height"),
            Value::UInt(data.stacks_tip_height.into()),
        ),
    ])
    .ok();
    message_hash("mock-miner", data.network_id, tuple)
}

/// The digest mock signers sign (domain `mock-signer`): the miner's signature and the
/// digest it signed.
pub(crate) fn mock_signer_hash(
    network_id: u32,
    miner_signature: &[u8; 65],
    miner_signature_hash: &Sha256Sum,
) -> Sha256Sum {
    let tuple = Value::tuple(vec![
        (key("miner-signature"), buff(miner_signature)),
        (key("miner-signature-hash"), buff(&miner_signature_hash.0)),
    ])
    .ok();
    message_hash("mock-signer", network_id, tuple)
        .unwrap_or_else(|| unreachable!("fixed domain and data are valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_server_version_has_no_mock_miner_hash() {
        let data = MockMinerData {
            pox_consensus: &[0; 20],
            server_version: "caf\u{e9}",
            stacks_tip: &[0; 32],
            stacks_tip_consensus_hash: &[0; 20],
            stacks_tip_height: 1,
            network_id: 1,
        };
        assert!(mock_miner_hash(&data).is_none());
        let ascii = MockMinerData {
            server_version: "stacks-node 2.5",
            ..data
        };
        assert!(mock_miner_hash(&ascii).is_some());
    }
}
