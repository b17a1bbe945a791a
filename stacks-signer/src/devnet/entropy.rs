//! Deterministic "random" bytes for hashes the mock invents (burn block hashes, consensus
//! hashes, sortition ids, VRF seeds), so that two runs with the same seed produce the same
//! chain and records can be compared byte for byte.

use libsigner::chain::Sha512Trunc256Sum;

/// A counter-mode generator over SHA-512/256.
#[derive(Debug, Clone)]
pub struct Entropy {
    seed: [u8; 32],
    counter: u64,
}

impl Entropy {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Entropy {
            seed: Sha512Trunc256Sum::from_parts(&[b"mock-node", &seed.to_be_bytes()]).0,
            counter: 0,
        }
    }

    /// The next 32 bytes, tagged with `label` (so different uses never collide).
    pub fn next32(&mut self, label: &str) -> [u8; 32] {
        self.counter += 1;
        Sha512Trunc256Sum::from_parts(&[&self.seed, label.as_bytes(), &self.counter.to_be_bytes()])
            .0
    }

    /// The next 20 bytes, tagged with `label`.
    pub fn next20(&mut self, label: &str) -> [u8; 20] {
        let full = self.next32(label);
        let mut out = [0u8; 20];
        out.copy_from_slice(&full[..20]);
        out
    }
}
