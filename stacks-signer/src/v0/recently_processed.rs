//! The ids of the last blocks the node announced as processed, so that "has the node
//! processed this proposal's parent?" needs no round trip for recent parents.

use libsigner::chain::StacksBlockId;

/// The last `N` block ids added, overwritten in a ring once full (duplicates allowed, as in
/// the reference).
#[derive(Debug, Clone)]
pub struct RecentlyProcessedBlocks<const N: usize> {
    blocks: Vec<StacksBlockId>,
    write_head: usize,
}

impl<const N: usize> Default for RecentlyProcessedBlocks<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RecentlyProcessedBlocks<N> {
    /// An empty ring.
    pub fn new() -> Self {
        Self {
            blocks: Vec::with_capacity(N),
            write_head: 0,
        }
    }

    /// Whether `block` is among the last `N` added.
    pub fn is_processed(&self, block: &StacksBlockId) -> bool {
        self.blocks.contains(block)
    }

    /// Adds `block`, overwriting the oldest entry once the ring is full.
    pub fn add_block(&mut self, block: StacksBlockId) {
        if self.blocks.len() < N {
            self.blocks.push(block);
            return;
        }
        if let Some(slot) = self.blocks.get_mut(self.write_head) {
            *slot = block;
            self.write_head = (self.write_head + 1) % self.blocks.len().max(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> StacksBlockId {
        StacksBlockId([n; 32])
    }

    #[test]
    fn a_full_ring_forgets_the_oldest_block_first() {
        let mut ring = RecentlyProcessedBlocks::<3>::new();
        for n in 1..=3 {
            ring.add_block(id(n));
        }
        assert!((1..=3).all(|n| ring.is_processed(&id(n))));
        ring.add_block(id(4));
        assert!(!ring.is_processed(&id(1)));
        assert!(ring.is_processed(&id(2)) && ring.is_processed(&id(4)));
        ring.add_block(id(5));
        assert!(!ring.is_processed(&id(2)));
        assert!(ring.is_processed(&id(3)) && ring.is_processed(&id(5)));
    }
}
