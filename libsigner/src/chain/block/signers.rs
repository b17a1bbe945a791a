//! Checking a header's signer signatures against the reward set that should have signed it.

use std::collections::HashMap;

use crate::chain::NakamotoBlockHeader;
use crate::signer_set::NakamotoSignerEntry;

/// Percentage (in tenths) of the reward set's weight that must sign a block.
const APPROVAL_THRESHOLD_TENTHS: u64 = 7;

/// Why a block's signer signatures do not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerSignatureError {
    /// A signature from which no key can be recovered.
    #[error("unrecoverable signer signature at index {0}")]
    Unrecoverable(usize),
    /// A signature by a key that is not in the signer set, or by a signer already counted.
    #[error("signature at index {0} is not from a (not yet counted) signer of this reward set")]
    UnknownSigner(usize),
    /// A signature by a signer that comes before the first signature's signer.
    #[error("signatures are out of order at index {0}")]
    OutOfOrder(usize),
    /// Not enough weight signed.
    #[error(
        "Not enough signatures. Needed at least {threshold} but got {signed} (out of {total})"
    )]
    BelowThreshold {
        /// Weight that signed.
        signed: u32,
        /// Weight needed.
        threshold: u32,
        /// Total weight of the set.
        total: u32,
    },
}

/// The weight that must sign a block: 70% of `total`, rounded up.
pub fn signing_weight_threshold(total: u32) -> u32 {
    let scaled = u64::from(total) * APPROVAL_THRESHOLD_TENTHS;
    // At most 0.7 * u32::MAX + 1, so it always fits.
    u32::try_from(scaled.div_ceil(10)).unwrap_or(u32::MAX)
}

fn total_weight(signers: &[NakamotoSignerEntry]) -> u32 {
    signers
        .iter()
        .fold(0u32, |acc, s| acc.saturating_add(s.weight))
}

impl NakamotoBlockHeader {
    /// Checks the signer signatures against a reward set and returns the weight that signed.
    ///
    /// As the reference:
    /// - a shadow block counts as signed by the whole set, whatever its signatures;
    /// - every signature must recover to a key of the set, each key counted once (a key that
    ///   appears twice in the set stands for its last entry);
    /// - order is only enforced against the **first** signature: every later signer must come
    ///   after it in the set, but not necessarily after each other;
    /// - the signed weight must reach 70% of the total, rounded up.
    ///
    /// The reference refuses a reward set without a signer list; pass the list here.
    pub fn verify_signer_signatures(
        &self,
        signers: &[NakamotoSignerEntry],
    ) -> Result<u32, SignerSignatureError> {
        let total = total_weight(signers);
        if self.is_shadow_block() {
            return Ok(total);
        }
        let mut remaining: HashMap<[u8; 33], (usize, u32)> = signers
            .iter()
            .enumerate()
            .map(|(index, s)| (s.signing_key, (index, s.weight)))
            .collect();
        let mut first_index: Option<usize> = None;
        let mut signed = 0u32;
        for (i, key) in self.recover_signer_pks().into_iter().enumerate() {
            let key = key.map_err(|_| SignerSignatureError::Unrecoverable(i))?;
            let compressed = <[u8; 33]>::try_from(key.to_bytes_compressed().as_slice())
                .map_err(|_| SignerSignatureError::Unrecoverable(i))?;
            let (index, weight) = remaining
                .remove(&compressed)
                .ok_or(SignerSignatureError::UnknownSigner(i))?;
            match first_index {
                Some(first) if first >= index => return Err(SignerSignatureError::OutOfOrder(i)),
                Some(_) => {}
                None => first_index = Some(index),
            }
            signed = signed.saturating_add(weight);
        }
        let threshold = signing_weight_threshold(total);
        if signed < threshold {
            return Err(SignerSignatureError::BelowThreshold {
                signed,
                threshold,
                total,
            });
        }
        Ok(signed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{StacksPrivateKey, StacksPublicKey};

    fn entry(key: &StacksPrivateKey, weight: u32) -> NakamotoSignerEntry {
        NakamotoSignerEntry {
            signing_key: StacksPublicKey::from_private(key)
                .to_bytes_compressed()
                .try_into()
                .unwrap(),
            stacked_amt: 1,
            weight,
        }
    }

    fn keys(n: u8) -> Vec<StacksPrivateKey> {
        (0..n)
            .map(|i| StacksPrivateKey::from_seed(&[i; 4]))
            .collect()
    }

    fn signed_by(header: &NakamotoBlockHeader, who: &[&StacksPrivateKey]) -> NakamotoBlockHeader {
        let mut header = header.clone();
        let digest = header.signer_signature_hash();
        header.signer_signature = who.iter().map(|k| k.sign(&digest.0).unwrap()).collect();
        header
    }

    #[test]
    fn threshold_is_seventy_percent_rounded_up() {
        assert_eq!(signing_weight_threshold(10), 7);
        assert_eq!(signing_weight_threshold(11), 8);
        assert_eq!(signing_weight_threshold(1), 1);
        assert_eq!(signing_weight_threshold(0), 0);
        assert_eq!(signing_weight_threshold(u32::MAX), 3_006_477_107);
    }

    #[test]
    fn enough_weight_in_order_verifies() {
        let k = keys(3);
        let set = vec![entry(&k[0], 1), entry(&k[1], 1), entry(&k[2], 1)];
        let header = NakamotoBlockHeader::empty();
        let two = signed_by(&header, &[&k[0], &k[1]]);
        assert_eq!(
            two.verify_signer_signatures(&set),
            Err(SignerSignatureError::BelowThreshold {
                signed: 2,
                threshold: 3,
                total: 3
            })
        );
        let all = signed_by(&header, &[&k[0], &k[1], &k[2]]);
        assert_eq!(all.verify_signer_signatures(&set), Ok(3));
    }

    #[test]
    fn order_is_checked_against_the_first_signature_only() {
        let k = keys(3);
        let set = vec![entry(&k[0], 1), entry(&k[1], 1), entry(&k[2], 1)];
        let header = NakamotoBlockHeader::empty();
        // 0, 2, 1: later signers only need to come after signer 0.
        let shuffled = signed_by(&header, &[&k[0], &k[2], &k[1]]);
        assert_eq!(shuffled.verify_signer_signatures(&set), Ok(3));
        let bad = signed_by(&header, &[&k[1], &k[0], &k[2]]);
        assert_eq!(
            bad.verify_signer_signatures(&set),
            Err(SignerSignatureError::OutOfOrder(1))
        );
    }

    #[test]
    fn a_signer_counts_once() {
        let k = keys(2);
        let set = vec![entry(&k[0], 1), entry(&k[1], 1)];
        let header = signed_by(&NakamotoBlockHeader::empty(), &[&k[0], &k[1], &k[1]]);
        assert_eq!(
            header.verify_signer_signatures(&set),
            Err(SignerSignatureError::UnknownSigner(2))
        );
    }

    #[test]
    fn strangers_and_garbage_are_refused() {
        let k = keys(3);
        let set = vec![entry(&k[0], 1), entry(&k[1], 1)];
        let header = signed_by(&NakamotoBlockHeader::empty(), &[&k[2]]);
        assert_eq!(
            header.verify_signer_signatures(&set),
            Err(SignerSignatureError::UnknownSigner(0))
        );
        let mut garbage = NakamotoBlockHeader::empty();
        garbage.signer_signature = vec![crate::chain::MessageSignature::empty()];
        assert_eq!(
            garbage.verify_signer_signatures(&set),
            Err(SignerSignatureError::Unrecoverable(0))
        );
    }

    #[test]
    fn shadow_blocks_carry_the_whole_weight() {
        let k = keys(2);
        let set = vec![entry(&k[0], 3), entry(&k[1], 4)];
        let mut header = NakamotoBlockHeader::empty();
        header.version = 0x80;
        assert_eq!(header.verify_signer_signatures(&set), Ok(7));
    }

    #[test]
    fn a_key_listed_twice_stands_for_its_last_entry() {
        let k = keys(2);
        let set = vec![entry(&k[0], 1), entry(&k[1], 1), entry(&k[0], 5)];
        // Signer 0's key resolves to index 2 (weight 5), so signer 1 after it is out of order.
        let header = signed_by(&NakamotoBlockHeader::empty(), &[&k[0], &k[1]]);
        assert_eq!(
            header.verify_signer_signatures(&set),
            Err(SignerSignatureError::OutOfOrder(1))
        );
        let alone = signed_by(&NakamotoBlockHeader::empty(), &[&k[0]]);
        assert_eq!(alone.verify_signer_signatures(&set), Ok(5));
    }
}
