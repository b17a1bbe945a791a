//! Reward sets per reward cycle: the signers (sorted by key, which fixes signer ids, slot ids
//! and signature order), their weights, and which cycle each `.signers` slot page holds.

use std::collections::BTreeMap;

use libsigner::chain::{Hash160, StacksAddress, StacksPrivateKey, StacksPublicKey};

use super::config::SignerSpec;
use crate::client::api::{NakamotoSignerEntry, PoxStartCycleInfo, RewardSet as RewardSetJson};

/// One signer of a computed reward set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardSetSigner {
    /// The signing key.
    pub public_key: StacksPublicKey,
    /// Its 33-byte compressed form (the sort key).
    pub key_bytes: [u8; 33],
    /// Hash160 of the compressed key (owner of the signer's StackerDB slots).
    pub key_hash: Hash160,
    /// µSTX stacked.
    pub stacked_amt: u128,
    /// Voting weight.
    pub weight: u32,
    /// The key, when the node simulates this signer or holds it as a puppet.
    pub private_key: Option<StacksPrivateKey>,
    /// Whether the signer is a puppet (the node holds its key but it acts only when told).
    pub puppet: bool,
}

impl RewardSetSigner {
    /// Whether the node signs for this signer by itself (it holds the key and the signer is
    /// not a puppet, or puppets are on autopilot).
    pub fn acts_alone(&self, puppet_autopilot: bool) -> bool {
        self.private_key.is_some() && (!self.puppet || puppet_autopilot)
    }
}

/// A computed reward set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardSet {
    /// The reward cycle.
    pub cycle: u64,
    /// Signers in signer-id order (ascending compressed key).
    pub signers: Vec<RewardSetSigner>,
    /// The cycle's stacking threshold.
    pub pox_ustx_threshold: u128,
}

impl RewardSet {
    /// Builds the set of `cycle` from its configured signers: sorted by key, weight-0 entries
    /// dropped, duplicate keys merged (weights added).
    pub fn compute(cycle: u64, specs: &[SignerSpec], pox_ustx_threshold: u128) -> Self {
        let mut by_key: BTreeMap<[u8; 33], RewardSetSigner> = BTreeMap::new();
        for spec in specs.iter().filter(|s| s.weight > 0) {
            let compressed = spec.public_key.to_bytes_compressed();
            let Ok(key_bytes) = <[u8; 33]>::try_from(compressed.as_slice()) else {
                continue;
            };
            let entry = by_key.entry(key_bytes).or_insert_with(|| RewardSetSigner {
                public_key: spec.public_key,
                key_bytes,
                key_hash: Hash160::from_data(&key_bytes),
                stacked_amt: 0,
                weight: 0,
                private_key: None,
                puppet: false,
            });
            entry.weight = entry.weight.saturating_add(spec.weight);
            entry.stacked_amt = u128::from(entry.weight) * pox_ustx_threshold;
            if entry.private_key.is_none() {
                entry.private_key = spec.private_key.clone();
                entry.puppet = spec.puppet;
            }
        }
        RewardSet {
            cycle,
            signers: by_key.into_values().collect(),
            pox_ustx_threshold,
        }
    }

    /// Sum of the weights.
    pub fn total_weight(&self) -> u64 {
        self.signers.iter().map(|s| u64::from(s.weight)).sum()
    }

    /// The weight needed to sign a block: `ceil(total * 7 / 10)`.
    pub fn threshold_weight(&self) -> u64 {
        (self.total_weight() * 7).div_ceil(10)
    }

    /// The signer id (index) of the key with this hash160.
    pub fn index_of_hash(&self, key_hash: &Hash160) -> Option<usize> {
        self.signers.iter().position(|s| &s.key_hash == key_hash)
    }

    /// The signer id (index) of this key.
    pub fn index_of_key(&self, key: &StacksPublicKey) -> Option<usize> {
        let compressed = key.to_bytes_compressed();
        self.signers
            .iter()
            .position(|s| s.key_bytes.as_slice() == compressed.as_slice())
    }

    /// The signers' p2pkh addresses in signer-id order (the `.signers` slot page).
    pub fn addresses(&self, mainnet: bool) -> Vec<StacksAddress> {
        self.signers
            .iter()
            .map(|s| StacksAddress::p2pkh(mainnet, &compressed(&s.public_key)))
            .collect()
    }

    /// The set as `/v3/stacker_set` reports it.
    pub fn to_json(&self) -> RewardSetJson {
        RewardSetJson {
            rewarded_addresses: Vec::new(),
            start_cycle_state: PoxStartCycleInfo::default(),
            signers: if self.signers.is_empty() {
                None
            } else {
                Some(
                    self.signers
                        .iter()
                        .map(|s| NakamotoSignerEntry {
                            signing_key: s.key_bytes,
                            stacked_amt: s.stacked_amt,
                            weight: s.weight,
                        })
                        .collect(),
                )
            },
            pox_ustx_threshold: Some(self.pox_ustx_threshold),
        }
    }
}

fn compressed(key: &StacksPublicKey) -> StacksPublicKey {
    let mut key = *key;
    key.set_compressed(true);
    key
}

/// Every computed reward set and the slot pages of the `.signers` contract.
#[derive(Debug, Clone, Default)]
pub struct RewardSets {
    sets: BTreeMap<u64, RewardSet>,
    page_cycles: [Option<u64>; 2],
}

impl RewardSets {
    /// Stores a computed set and writes its slot page (parity `cycle % 2`).
    pub fn insert(&mut self, set: RewardSet) {
        let parity = (set.cycle % 2) as usize;
        let newer = self.page_cycles[parity].is_none_or(|c| c <= set.cycle);
        if newer {
            self.page_cycles[parity] = Some(set.cycle);
        }
        self.sets.insert(set.cycle, set);
    }

    /// The set of `cycle`, if computed.
    pub fn get(&self, cycle: u64) -> Option<&RewardSet> {
        self.sets.get(&cycle)
    }

    /// Whether `cycle`'s set is computed.
    pub fn is_computed(&self, cycle: u64) -> bool {
        self.sets.contains_key(&cycle)
    }

    /// The earliest computed cycle.
    pub fn first_cycle(&self) -> Option<u64> {
        self.sets.keys().next().copied()
    }

    /// `.signers`' `get-last-set-cycle`: the latest computed cycle.
    pub fn last_set_cycle(&self) -> Option<u64> {
        self.sets.keys().next_back().copied()
    }

    /// The set whose addresses are in slot page `page` (0 or 1).
    pub fn page(&self, page: u64) -> Option<&RewardSet> {
        let cycle = (*self.page_cycles.get(usize::try_from(page).ok()?)?)?;
        self.sets.get(&cycle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_sort_by_key_and_threshold_rounds_up() {
        let specs = SignerSpec::generated(3, 7);
        let set = RewardSet::compute(12, &specs, 100);
        let keys: Vec<_> = set.signers.iter().map(|s| s.key_bytes).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(set.total_weight(), 3);
        assert_eq!(set.threshold_weight(), 3); // ceil(2.1)
        assert_eq!(set.signers[0].stacked_amt, 100);
        let ten = RewardSet::compute(1, &SignerSpec::generated(10, 1), 1);
        assert_eq!(ten.threshold_weight(), 7);
    }

    #[test]
    fn pages_follow_cycle_parity() {
        let mut sets = RewardSets::default();
        let specs = SignerSpec::generated(2, 0);
        sets.insert(RewardSet::compute(12, &specs, 1));
        sets.insert(RewardSet::compute(13, &specs, 1));
        assert_eq!(sets.page(0).unwrap().cycle, 12);
        assert_eq!(sets.page(1).unwrap().cycle, 13);
        assert_eq!(sets.last_set_cycle(), Some(13));
        assert!(sets.page(2).is_none());
    }
}
