//! Reward-cycle arithmetic over burn heights, with the node's and the signer's notions of
//! the prepare phase.

use serde::{Deserialize, Serialize};

/// The PoX schedule: where reward cycles start and how long they and their prepare phases
/// are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoxConstants {
    /// Burn height of the first reward cycle's first block.
    pub first_burn_height: u64,
    /// Burn blocks per reward cycle (reward phase + prepare phase).
    pub reward_cycle_length: u64,
    /// Burn blocks in the prepare phase at the end of each cycle.
    pub prepare_length: u64,
}

impl Default for PoxConstants {
    fn default() -> Self {
        PoxConstants {
            first_burn_height: 100,
            reward_cycle_length: 20,
            prepare_length: 5,
        }
    }
}

impl PoxConstants {
    /// Whether the lengths make sense (a cycle longer than its prepare phase, both non-zero).
    pub fn is_valid(&self) -> bool {
        self.reward_cycle_length > 0
            && self.prepare_length > 0
            && self.prepare_length < self.reward_cycle_length
    }

    /// The reward cycle holding `burn_height` (0 before the first height).
    pub fn cycle_of(&self, burn_height: u64) -> u64 {
        burn_height.saturating_sub(self.first_burn_height) / self.reward_cycle_length.max(1)
    }

    /// The position of `burn_height` inside its cycle (0 = the cycle's first block).
    pub fn reward_index(&self, burn_height: u64) -> u64 {
        burn_height.saturating_sub(self.first_burn_height) % self.reward_cycle_length.max(1)
    }

    /// Burn height of the first block of `cycle`.
    pub fn cycle_start(&self, cycle: u64) -> u64 {
        self.first_burn_height
            .saturating_add(cycle.saturating_mul(self.reward_cycle_length))
    }

    /// Length of the reward phase.
    pub fn reward_phase_length(&self) -> u64 {
        self.reward_cycle_length.saturating_sub(self.prepare_length)
    }

    /// The node's prepare phase: the last `prepare - 1` blocks of a cycle and the first block
    /// of the next (`index == 0 || index > len - prepare`). Blocks in it compute the next
    /// cycle's reward set (index 0 belongs to the cycle that just started).
    pub fn is_in_node_prepare_phase(&self, burn_height: u64) -> bool {
        if burn_height < self.first_burn_height {
            return false;
        }
        let index = self.reward_index(burn_height);
        index == 0 || index > self.reward_phase_length()
    }

    /// The signer's test for "in the next cycle's prepare phase": `index >= len - prepare`,
    /// one block earlier than the node's.
    pub fn is_in_signer_prepare_phase(&self, burn_height: u64) -> bool {
        burn_height >= self.first_burn_height
            && self.reward_index(burn_height) >= self.reward_phase_length()
    }

    /// The cycle whose reward set a block at `burn_height` computes, if it is in the node's
    /// prepare phase: the next cycle, or the current one at index 0.
    pub fn cycle_computed_at(&self, burn_height: u64) -> Option<u64> {
        if !self.is_in_node_prepare_phase(burn_height) {
            return None;
        }
        let cycle = self.cycle_of(burn_height);
        if self.reward_index(burn_height) == 0 {
            Some(cycle)
        } else {
            Some(cycle + 1)
        }
    }

    /// Burn blocks until the next cycle starts (the node's `next_reward_cycle_in`).
    pub fn blocks_until_next_cycle(&self, burn_height: u64) -> u64 {
        self.reward_cycle_length - self.reward_index(burn_height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_math_matches_the_reference_example() {
        let pox = PoxConstants::default();
        assert_eq!(pox.cycle_of(345), 12);
        assert_eq!(pox.reward_index(345), 5);
        assert_eq!(pox.blocks_until_next_cycle(345), 15);
        assert_eq!(pox.cycle_start(13), 360);
        assert_eq!(pox.cycle_of(50), 0);
    }

    #[test]
    fn signer_prepare_phase_starts_one_block_before_the_nodes() {
        let pox = PoxConstants::default();
        // Cycle 12 runs 340..360; reward phase indexes 0..15, prepare 15..20.
        assert!(!pox.is_in_signer_prepare_phase(354));
        assert!(pox.is_in_signer_prepare_phase(355));
        assert!(!pox.is_in_node_prepare_phase(355));
        assert!(pox.is_in_node_prepare_phase(356));
        assert!(pox.is_in_node_prepare_phase(360));
        assert_eq!(pox.cycle_computed_at(356), Some(13));
        assert_eq!(pox.cycle_computed_at(360), Some(13));
        assert_eq!(pox.cycle_computed_at(361), None);
    }
}
