//! A small deterministic random generator (SplitMix64) for the devnet's choices: which
//! heights get a conflicting sibling, when the node goes down, whom chaos kills and when.
//! The same seed gives the same choices (the processes' timing still varies).

use std::time::Duration;

/// SplitMix64: tiny, fast, good enough for scheduling faults (not for keys).
#[derive(Debug, Clone)]
pub struct DevnetRng(u64);

impl DevnetRng {
    /// A generator for `seed`, on the stream named `stream` (independent streams for
    /// independent choices, so that adding chaos does not move the miner's siblings).
    pub fn new(seed: u64, stream: &str) -> Self {
        let mut state = seed ^ 0x6a09_e667_f3bc_c909;
        for byte in stream.bytes() {
            state = (state ^ u64::from(byte)).wrapping_mul(0x1000_0000_01b3);
        }
        DevnetRng(state)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A duration uniformly in `[low, high)` milliseconds.
    pub fn between_ms(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.below(high.saturating_sub(low)))
    }

    /// An exponentially distributed wait with `rate` events per second (a Poisson
    /// process), capped at ten times its mean.
    pub fn exponential(&mut self, rate: f64) -> Duration {
        let mean = 1.0 / rate.max(1e-9);
        let secs = (-(1.0 - self.unit()).ln() * mean).min(10.0 * mean);
        Duration::from_secs_f64(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_repeat_and_differ() {
        let a: Vec<u64> = (0..4).map(|_| DevnetRng::new(7, "x").next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            DevnetRng::new(7, "x").next_u64(),
            DevnetRng::new(7, "y").next_u64()
        );
    }

    #[test]
    fn exponential_waits_average_their_mean() {
        let mut rng = DevnetRng::new(1, "chaos");
        let total: f64 = (0..10_000)
            .map(|_| rng.exponential(4.0).as_secs_f64())
            .sum();
        let mean = total / 10_000.0;
        assert!((0.22..0.28).contains(&mean), "{mean}");
    }
}
