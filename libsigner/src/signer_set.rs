//! A reward cycle's signer set, parsed from the node's reward set into lookup tables.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::chain::hex::{hex_array, to_hex};
use crate::chain::{StacksAddress, StacksPublicKey};

/// One signer of a reward set, as the node reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NakamotoSignerEntry {
    /// The signer's compressed public key (JSON: hex without `0x`).
    #[serde(with = "signing_key_hex")]
    pub signing_key: [u8; 33],
    /// The amount stacked.
    pub stacked_amt: u128,
    /// The signer's voting weight.
    pub weight: u32,
}

mod signing_key_hex {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(key: &[u8; 33], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(key))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 33], D::Error> {
        let text = String::deserialize(d)?;
        hex_array(&text).map_err(serde::de::Error::custom)
    }
}

/// Why a reward set could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseSignerEntriesError {
    /// A signing key is not a valid public key.
    #[error("{0}")]
    BadSignerPublicKey(String),
    /// More than `u32::MAX` signers.
    #[error("Signer count overflow")]
    SignerCountOverflow,
}

/// A reward set indexed every way the signer needs it. Signer `i` is the `i`-th entry.
///
/// Duplicate keys or addresses overwrite each other in the maps (weights are not summed);
/// the vectors keep every entry, as the reference's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignerEntries {
    /// Signer id of each address.
    pub signer_addr_to_id: HashMap<StacksAddress, u32>,
    /// Address of each signer id, in reward-set order.
    pub signer_id_to_addr: BTreeMap<u32, StacksAddress>,
    /// Public key of each signer id.
    pub signer_id_to_pk: HashMap<u32, StacksPublicKey>,
    /// Signer id of each public key.
    pub signer_pk_to_id: HashMap<StacksPublicKey, u32>,
    /// Every public key, in order.
    pub signer_pks: Vec<StacksPublicKey>,
    /// Every address, in order.
    pub signer_addresses: Vec<StacksAddress>,
    /// Weight of each address.
    pub signer_addr_to_weight: HashMap<StacksAddress, u32>,
}

impl SignerEntries {
    /// Parses `reward_set`; addresses are single-sig (p2pkh) for the given network.
    pub fn parse(
        is_mainnet: bool,
        reward_set: &[NakamotoSignerEntry],
    ) -> Result<Self, ParseSignerEntriesError> {
        let mut entries = SignerEntries {
            signer_addr_to_id: HashMap::with_capacity(reward_set.len()),
            signer_id_to_addr: BTreeMap::new(),
            signer_id_to_pk: HashMap::with_capacity(reward_set.len()),
            signer_pk_to_id: HashMap::with_capacity(reward_set.len()),
            signer_pks: Vec::with_capacity(reward_set.len()),
            signer_addresses: Vec::with_capacity(reward_set.len()),
            signer_addr_to_weight: HashMap::with_capacity(reward_set.len()),
        };
        for (index, entry) in reward_set.iter().enumerate() {
            let id =
                u32::try_from(index).map_err(|_| ParseSignerEntriesError::SignerCountOverflow)?;
            let public_key = StacksPublicKey::from_slice(&entry.signing_key).map_err(|e| {
                ParseSignerEntriesError::BadSignerPublicKey(format!(
                    "Failed to convert signing key to StacksPublicKey: {e}"
                ))
            })?;
            let address = StacksAddress::p2pkh(is_mainnet, &public_key);
            entries.signer_addr_to_id.insert(address, id);
            entries.signer_id_to_pk.insert(id, public_key);
            entries.signer_pk_to_id.insert(public_key, id);
            entries.signer_pks.push(public_key);
            entries.signer_id_to_addr.insert(id, address);
            entries.signer_addr_to_weight.insert(address, entry.weight);
            entries.signer_addresses.push(address);
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::StacksPrivateKey;

    fn entry(seed: u8, weight: u32) -> NakamotoSignerEntry {
        let key = StacksPublicKey::from_private(&StacksPrivateKey::from_seed(&[seed]));
        let mut signing_key = [0u8; 33];
        signing_key.copy_from_slice(&key.to_bytes_compressed());
        NakamotoSignerEntry {
            signing_key,
            stacked_amt: 1_000_000,
            weight,
        }
    }

    #[test]
    fn entries_get_ids_in_order_and_p2pkh_addresses() {
        let set = [entry(1, 3), entry(2, 5)];
        let parsed = SignerEntries::parse(false, &set).unwrap();
        assert_eq!(parsed.signer_pks.len(), 2);
        let addr1 = parsed.signer_addresses[1];
        assert_eq!(parsed.signer_addr_to_id[&addr1], 1);
        assert_eq!(parsed.signer_id_to_addr[&1], addr1);
        assert_eq!(parsed.signer_addr_to_weight[&addr1], 5);
        assert_eq!(
            addr1,
            StacksAddress::p2pkh(false, &parsed.signer_id_to_pk[&1])
        );
        assert!(addr1.to_string().starts_with("ST"));
        let mainnet = SignerEntries::parse(true, &set).unwrap();
        assert!(mainnet.signer_addresses[0].to_string().starts_with("SP"));
    }

    #[test]
    fn duplicate_signers_overwrite_maps_without_summing_weights() {
        let set = [entry(1, 3), entry(1, 5)];
        let parsed = SignerEntries::parse(false, &set).unwrap();
        assert_eq!(parsed.signer_pks.len(), 2);
        assert_eq!(parsed.signer_addresses.len(), 2);
        assert_eq!(parsed.signer_addr_to_id.len(), 1);
        assert_eq!(parsed.signer_addr_to_id[&parsed.signer_addresses[0]], 1);
        assert_eq!(parsed.signer_addr_to_weight[&parsed.signer_addresses[0]], 5);
        assert_eq!(parsed.signer_id_to_addr.len(), 2);
    }

    #[test]
    fn bad_signing_key_is_reported() {
        let mut bad = entry(1, 1);
        bad.signing_key = [0u8; 33];
        let err = SignerEntries::parse(false, &[bad]).unwrap_err();
        assert!(matches!(
            err,
            ParseSignerEntriesError::BadSignerPublicKey(ref text)
                if text.starts_with("Failed to convert signing key to StacksPublicKey: ")
        ));
    }

    #[test]
    fn signer_entry_json_uses_unprefixed_hex_and_numbers() {
        let e = entry(1, 7);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["signing_key"], to_hex(&e.signing_key));
        assert_eq!(json["weight"], 7);
        let text = format!(
            r#"{{"signing_key":"{}","stacked_amt":340282366920938463463374607431768211455,"weight":1}}"#,
            to_hex(&e.signing_key)
        );
        let back: NakamotoSignerEntry = serde_json::from_str(&text).unwrap();
        assert_eq!(back.stacked_amt, u128::MAX);
    }
}
