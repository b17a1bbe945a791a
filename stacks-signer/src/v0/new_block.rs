//! `/new_block` events: a block becomes globally accepted only on the signer set's word.
//!
//! The reference marks a block globally accepted whenever a `/new_block` event names its
//! signer signature hash, and anyone who can reach the event endpoint can send one. Here the
//! event's `signer_signature` list must verify: each signature is recovered over the signer
//! signature hash, mapped to a signer of the block's reward cycle (each signer counted
//! once), and the signed weight must reach [`signing_weight_threshold`] of the set's total
//! weight. An event that falls short still moves the local state machine and the node cache
//! (the height is learned, as from the reference); it just does not mark the block.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use libsigner::chain::{
    signing_weight_threshold, MessageSignature, Sha512Trunc256Sum, StacksAddress, StacksPublicKey,
};

/// How many past reward cycles' signer sets are kept besides the newest one known.
const KEPT_PAST_SIGNER_SETS: u64 = 2;

static UNVERIFIED_BLOCK_EVENTS: AtomicU64 = AtomicU64::new(0);

/// How many `/new_block` events (in this process) named a block this signer stored but did
/// not carry signer signatures reaching the threshold, so left the block as it was. Counted
/// by each signer instance that handled the event: after a reward-cycle boundary, while the
/// previous cycle's instance still runs, an event about one of its blocks counts twice.
pub fn unverified_block_events() -> u64 {
    UNVERIFIED_BLOCK_EVENTS.load(Ordering::Relaxed)
}

/// Counts one such event.
pub(super) fn count_unverified_block_event() {
    UNVERIFIED_BLOCK_EVENTS.fetch_add(1, Ordering::Relaxed);
    crate::monitoring::actions::increment_unverified_block_events();
}

/// The signer sets (address → weight) of the reward cycles this process has run signer
/// instances for, so that a block is checked against its own cycle's set even when the event
/// reaches the instance of another cycle (at a cycle boundary, or after the block's instance
/// was dropped).
#[derive(Debug, Default)]
pub struct KnownSignerSets {
    sets: BTreeMap<u64, HashMap<StacksAddress, u32>>,
}

impl KnownSignerSets {
    /// Records `cycle`'s set (once), keeping the newest cycles only.
    pub fn remember(&mut self, cycle: u64, weights: &HashMap<StacksAddress, u32>) {
        if self.sets.contains_key(&cycle) {
            return;
        }
        self.sets.insert(cycle, weights.clone());
        let newest = self.sets.keys().next_back().copied().unwrap_or(cycle);
        let oldest_kept = newest.saturating_sub(KEPT_PAST_SIGNER_SETS);
        self.sets.retain(|kept, _| *kept >= oldest_kept);
    }

    /// `cycle`'s set, if known.
    pub fn get(&self, cycle: u64) -> Option<&HashMap<StacksAddress, u32>> {
        self.sets.get(&cycle)
    }
}

/// How a block's signer signatures weigh against a signer set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignatureTally {
    /// The summed weight of the distinct signers of the set whose signatures verify.
    pub signed_weight: u32,
    /// The set's total weight.
    pub total_weight: u32,
    /// The weight that must sign ([`signing_weight_threshold`] of the total).
    pub threshold: u32,
    /// Signatures from which no key could be recovered.
    pub unrecoverable: usize,
    /// Signatures by keys outside the set (or over another hash: they recover to some
    /// other key), or repeating a signer already counted.
    pub not_counted: usize,
}

impl SignatureTally {
    /// Whether the signed weight reaches the threshold (never for an empty or weightless
    /// set).
    pub fn reaches_threshold(&self) -> bool {
        self.total_weight > 0 && self.signed_weight >= self.threshold
    }
}

/// Weighs `signatures` over `hash` against `weights` (addresses of `mainnet` or testnet).
pub fn tally_signer_signatures(
    hash: &Sha512Trunc256Sum,
    signatures: &[MessageSignature],
    mainnet: bool,
    weights: &HashMap<StacksAddress, u32>,
) -> SignatureTally {
    let total_weight = weights
        .values()
        .fold(0u32, |acc, weight| acc.saturating_add(*weight));
    let mut tally = SignatureTally {
        total_weight,
        threshold: signing_weight_threshold(total_weight),
        ..SignatureTally::default()
    };
    let mut counted = HashSet::new();
    for signature in signatures {
        let Ok(key) = StacksPublicKey::recover_to_pubkey(hash.as_bytes(), signature) else {
            tally.unrecoverable += 1;
            continue;
        };
        let address = StacksAddress::p2pkh(mainnet, &key);
        match weights.get(&address) {
            Some(weight) if counted.insert(address) => {
                tally.signed_weight = tally.signed_weight.saturating_add(*weight);
            }
            _ => tally.not_counted += 1,
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use libsigner::chain::StacksPrivateKey;

    use super::*;

    fn key(i: u8) -> StacksPrivateKey {
        StacksPrivateKey::from_seed(&[i])
    }

    fn address(i: u8) -> StacksAddress {
        StacksAddress::p2pkh(false, &StacksPublicKey::from_private(&key(i)))
    }

    /// Signers 1…4 of weights 10, 20, 30, 40 (total 100, threshold 70).
    fn set() -> HashMap<StacksAddress, u32> {
        (1..=4).map(|i| (address(i), u32::from(i) * 10)).collect()
    }

    fn sign(i: u8, hash: &Sha512Trunc256Sum) -> MessageSignature {
        key(i).sign(hash.as_bytes()).unwrap()
    }

    #[test]
    fn signatures_of_seventy_percent_of_the_weight_reach_the_threshold() {
        let hash = Sha512Trunc256Sum([7; 32]);
        let sigs = [sign(3, &hash), sign(4, &hash)];
        let tally = tally_signer_signatures(&hash, &sigs, false, &set());
        assert_eq!(
            (tally.signed_weight, tally.total_weight, tally.threshold),
            (70, 100, 70)
        );
        assert!(tally.reaches_threshold());
    }

    #[test]
    fn missing_too_few_foreign_repeated_or_broken_signatures_do_not() {
        let hash = Sha512Trunc256Sum([7; 32]);
        let other = Sha512Trunc256Sum([8; 32]);
        let cases: [(&str, Vec<MessageSignature>); 5] = [
            ("none", vec![]),
            ("too few", vec![sign(2, &hash), sign(4, &hash)]),
            ("outside the set", vec![sign(9, &hash), sign(4, &hash)]),
            ("over another hash", vec![sign(3, &other), sign(4, &other)]),
            (
                "one signer repeated",
                vec![sign(4, &hash), sign(4, &hash), sign(1, &hash)],
            ),
        ];
        for (what, sigs) in cases {
            let tally = tally_signer_signatures(&hash, &sigs, false, &set());
            assert!(!tally.reaches_threshold(), "{what}: {tally:?}");
        }
        let broken = [MessageSignature([0xff; 65]), sign(3, &hash), sign(4, &hash)];
        let tally = tally_signer_signatures(&hash, &broken, false, &set());
        assert_eq!(tally.unrecoverable, 1);
        assert!(tally.reaches_threshold(), "valid ones still count");
        let repeated = tally_signer_signatures(
            &hash,
            &[sign(4, &hash), sign(4, &hash), sign(1, &hash)],
            false,
            &set(),
        );
        assert_eq!((repeated.signed_weight, repeated.not_counted), (50, 1));
    }

    #[test]
    fn an_empty_set_is_never_reached_and_mainnet_addresses_differ() {
        let hash = Sha512Trunc256Sum([7; 32]);
        let tally = tally_signer_signatures(&hash, &[], false, &HashMap::new());
        assert_eq!(tally.threshold, 0);
        assert!(!tally.reaches_threshold());
        let sigs = [sign(3, &hash), sign(4, &hash)];
        assert!(!tally_signer_signatures(&hash, &sigs, true, &set()).reaches_threshold());
    }

    #[test]
    fn known_signer_sets_keep_the_newest_cycles() {
        let mut known = KnownSignerSets::default();
        for cycle in [10, 11, 12, 13] {
            known.remember(cycle, &set());
        }
        assert!(known.get(10).is_none());
        assert!(known.get(11).is_some() && known.get(13).is_some());
        known.remember(11, &HashMap::new());
        assert_eq!(known.get(11), Some(&set()), "remembered once");
    }
}
