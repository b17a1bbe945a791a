//! Where a block stands in its tenure: whether it starts one (a `BlockFound` tenure change
//! then a Nakamoto coinbase) or extends one (a lone extend tenure change), and the tenure
//! transactions it carries. The rules and their precedence are the reference's.

use crate::chain::{
    NakamotoBlock, StacksTransaction, TenureChangeCause, TenureChangePayload, TransactionPayload,
    VRFProof,
};

/// Why a block's tenure transactions make it invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedTenureBlock {
    /// Tenure change and coinbase do not form a valid tenure start.
    #[error("Malformed tenure-start block")]
    TenureStart,
    /// The tenure change does not form a valid tenure extension.
    #[error("Malformed tenure-extend block")]
    TenureExtend,
}

/// Whether a tenure change of this cause needs a sortition (only a new tenure does).
fn expects_sortition(cause: TenureChangeCause) -> bool {
    cause == TenureChangeCause::BlockFound
}

fn is_coinbase(tx: &StacksTransaction) -> bool {
    matches!(tx.payload, TransactionPayload::Coinbase(..))
}

fn is_tenure_change(tx: &StacksTransaction) -> bool {
    matches!(tx.payload, TransactionPayload::TenureChange(..))
}

impl NakamotoBlock {
    /// Whether this block's parent is the boot block.
    pub fn is_first_mined(&self) -> bool {
        self.header.is_first_mined()
    }

    /// Whether this is a shadow block.
    pub fn is_shadow_block(&self) -> bool {
        self.header.is_shadow_block()
    }

    fn positions(&self, pred: fn(&StacksTransaction) -> bool) -> Vec<usize> {
        self.txs
            .iter()
            .enumerate()
            .filter(|(_, tx)| pred(tx))
            .map(|(i, _)| i)
            .collect()
    }

    /// The first transaction's tenure-change payload, if it is a tenure change (of any
    /// cause, well-formed or not).
    pub fn try_get_tenure_change_payload(&self) -> Option<&TenureChangePayload> {
        self.txs.first().and_then(|tx| tx.try_as_tenure_change())
    }

    /// Whether this block starts a tenure: exactly one tenure change, first, of cause
    /// `BlockFound`, continuing the header's parent, and exactly one coinbase, second,
    /// carrying a VRF proof.
    ///
    /// `Ok(false)` when the block has no tenure transactions, or only a well-placed extend
    /// tenure change; an error when its tenure transactions can never be valid.
    pub fn is_wellformed_tenure_start_block(&self) -> Result<bool, MalformedTenureBlock> {
        let err = MalformedTenureBlock::TenureStart;
        let coinbases = self.positions(is_coinbase);
        let tenure_changes = self.positions(is_tenure_change);
        if coinbases.len() > 1 || tenure_changes.len() > 1 {
            return Err(err);
        }
        match (coinbases.first(), tenure_changes.first()) {
            (None, None) => Ok(false),
            (Some(_), None) => Err(err),
            (None, Some(&tc_at)) => {
                // Possibly a tenure extension: the tenure change must come first and must
                // not be one that needs a sortition.
                let tc = self.txs.get(tc_at).and_then(|tx| tx.try_as_tenure_change());
                match tc {
                    Some(tc) if tc_at == 0 && !expects_sortition(tc.cause) => Ok(false),
                    _ => Err(err),
                }
            }
            (Some(&coinbase_at), Some(&tc_at)) => {
                // The reference refuses here only when both are misplaced; a single
                // misplaced one is caught by the position checks that follow.
                if coinbase_at != 1 && tc_at != 0 {
                    return Err(err);
                }
                let tc = self.try_get_tenure_change_payload().ok_or(err)?;
                if !expects_sortition(tc.cause)
                    || tc.previous_tenure_end != self.header.parent_block_id
                {
                    return Err(err);
                }
                match self.txs.get(1).map(|tx| &tx.payload) {
                    Some(TransactionPayload::Coinbase(_, _, Some(_))) => Ok(true),
                    _ => Err(err),
                }
            }
        }
    }

    /// Whether this block extends its tenure: no coinbase, exactly one tenure change, first,
    /// of an extend cause, continuing the header's parent, with both of its consensus hashes
    /// equal to the header's.
    ///
    /// `Ok(false)` when the block has a coinbase or no tenure change; an error when its
    /// tenure change can never be valid here.
    pub fn is_wellformed_tenure_extend_block(&self) -> Result<bool, MalformedTenureBlock> {
        let err = MalformedTenureBlock::TenureExtend;
        if self.txs.iter().any(is_coinbase) {
            return Ok(false);
        }
        match self.positions(is_tenure_change).len() {
            0 => return Ok(false),
            1 => {}
            _ => return Err(err),
        }
        let tc = self.try_get_tenure_change_payload().ok_or(err)?;
        let consensus_hash = &self.header.consensus_hash;
        if expects_sortition(tc.cause)
            || tc.previous_tenure_end != self.header.parent_block_id
            || &tc.tenure_consensus_hash != consensus_hash
            || &tc.prev_tenure_consensus_hash != consensus_hash
        {
            return Err(err);
        }
        Ok(true)
    }

    /// The tenure change of a well-formed tenure-start block (never a tenure extension).
    pub fn get_tenure_change_tx_payload(&self) -> Option<&TenureChangePayload> {
        if self.is_wellformed_tenure_start_block() != Ok(true) {
            return None;
        }
        self.try_get_tenure_change_payload()
    }

    /// The tenure change of a well-formed tenure-extend block.
    pub fn get_tenure_extend_tx_payload(&self) -> Option<&TenureChangePayload> {
        if self.is_wellformed_tenure_extend_block() != Ok(true) {
            return None;
        }
        self.try_get_tenure_change_payload()
    }

    /// The tenure change of a well-formed tenure-start or tenure-extend block.
    pub fn get_tenure_tx_payload(&self) -> Option<&TenureChangePayload> {
        self.get_tenure_change_tx_payload()
            .or_else(|| self.get_tenure_extend_tx_payload())
    }

    /// The coinbase of a well-formed tenure-start block.
    pub fn get_coinbase_tx(&self) -> Option<&StacksTransaction> {
        if self.is_wellformed_tenure_start_block() != Ok(true) {
            return None;
        }
        self.txs.iter().find(|tx| is_coinbase(tx))
    }

    /// The VRF proof of a well-formed tenure-start block's coinbase.
    pub fn get_vrf_proof(&self) -> Option<&VRFProof> {
        self.get_coinbase_tx()
            .and_then(|tx| tx.try_as_coinbase())
            .and_then(|(_, _, proof)| proof)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{block_of, coinbase, tenure_change, test_header, token_transfer};
    use super::*;
    use crate::chain::{ConsensusHash, StacksBlockId};

    const FOUND: TenureChangeCause = TenureChangeCause::BlockFound;
    const EXTEND: TenureChangeCause = TenureChangeCause::Extended;

    #[test]
    fn tenure_start_block_exposes_its_tenure_change_coinbase_and_proof() {
        let block = block_of(vec![
            tenure_change(&test_header(), FOUND),
            coinbase(true),
            token_transfer(0),
        ]);
        assert_eq!(block.is_wellformed_tenure_start_block(), Ok(true));
        assert_eq!(block.is_wellformed_tenure_extend_block(), Ok(false));
        assert_eq!(
            block.get_tenure_change_tx_payload().map(|tc| tc.cause),
            Some(FOUND)
        );
        assert_eq!(block.get_tenure_extend_tx_payload(), None);
        assert_eq!(
            block.get_tenure_tx_payload().map(|tc| tc.cause),
            Some(FOUND)
        );
        assert_eq!(block.get_coinbase_tx(), Some(&block.txs[1]));
        assert!(block.get_vrf_proof().is_some());
    }

    #[test]
    fn block_found_without_a_coinbase_is_malformed() {
        let block = block_of(vec![tenure_change(&test_header(), FOUND)]);
        assert_eq!(
            block.is_wellformed_tenure_start_block(),
            Err(MalformedTenureBlock::TenureStart)
        );
        assert_eq!(block.get_tenure_change_tx_payload(), None);
        assert_eq!(
            block.is_wellformed_tenure_extend_block(),
            Err(MalformedTenureBlock::TenureExtend)
        );
        assert!(block.try_get_tenure_change_payload().is_some());
    }

    #[test]
    fn epoch2_coinbase_does_not_start_a_nakamoto_tenure() {
        let block = block_of(vec![tenure_change(&test_header(), FOUND), coinbase(false)]);
        assert_eq!(
            block.is_wellformed_tenure_start_block(),
            Err(MalformedTenureBlock::TenureStart)
        );
        assert_eq!(block.get_coinbase_tx(), None);
    }

    #[test]
    fn misplaced_or_repeated_tenure_transactions_are_malformed() {
        let h = test_header();
        for txs in [
            vec![coinbase(true), tenure_change(&h, FOUND)],
            vec![tenure_change(&h, FOUND), token_transfer(0), coinbase(true)],
            vec![token_transfer(0), tenure_change(&h, FOUND), coinbase(true)],
            vec![coinbase(true)],
            vec![tenure_change(&h, FOUND), coinbase(true), coinbase(false)],
            vec![token_transfer(0), tenure_change(&h, EXTEND)],
        ] {
            let block = block_of(txs);
            assert_eq!(
                block.is_wellformed_tenure_start_block(),
                Err(MalformedTenureBlock::TenureStart),
                "{:?}",
                block
                    .txs
                    .iter()
                    .map(|t| t.payload.name())
                    .collect::<Vec<_>>()
            );
            assert_eq!(block.get_tenure_change_tx_payload(), None);
        }
    }

    #[test]
    fn tenure_start_must_continue_the_parent() {
        let mut other = test_header();
        other.parent_block_id = StacksBlockId([6; 32]);
        let block = block_of(vec![tenure_change(&other, FOUND), coinbase(true)]);
        assert_eq!(
            block.is_wellformed_tenure_start_block(),
            Err(MalformedTenureBlock::TenureStart)
        );
    }

    #[test]
    fn extend_block_exposes_only_its_extension() {
        for cause in TenureChangeCause::ALL
            .iter()
            .copied()
            .filter(|c| *c != FOUND)
        {
            let block = block_of(vec![
                tenure_change(&test_header(), cause),
                token_transfer(0),
            ]);
            assert_eq!(block.is_wellformed_tenure_start_block(), Ok(false));
            assert_eq!(block.is_wellformed_tenure_extend_block(), Ok(true));
            assert_eq!(block.get_tenure_change_tx_payload(), None);
            assert_eq!(
                block.get_tenure_extend_tx_payload().map(|tc| tc.cause),
                Some(cause)
            );
            assert_eq!(
                block.get_tenure_tx_payload().map(|tc| tc.cause),
                Some(cause)
            );
            assert_eq!(block.get_coinbase_tx(), None);
        }
    }

    #[test]
    fn extension_must_keep_the_consensus_hash_and_parent() {
        let mut moved = test_header();
        moved.consensus_hash = ConsensusHash([8; 20]);
        let block = block_of(vec![tenure_change(&moved, EXTEND)]);
        assert_eq!(
            block.is_wellformed_tenure_extend_block(),
            Err(MalformedTenureBlock::TenureExtend)
        );
        let mut detached = test_header();
        detached.parent_block_id = StacksBlockId([8; 32]);
        let block = block_of(vec![tenure_change(&detached, EXTEND)]);
        assert_eq!(
            block.is_wellformed_tenure_extend_block(),
            Err(MalformedTenureBlock::TenureExtend)
        );
        assert_eq!(block.get_tenure_tx_payload(), None);
    }

    #[test]
    fn plain_blocks_have_no_tenure_transactions() {
        let block = block_of(vec![token_transfer(0), token_transfer(1)]);
        assert_eq!(block.is_wellformed_tenure_start_block(), Ok(false));
        assert_eq!(block.is_wellformed_tenure_extend_block(), Ok(false));
        assert_eq!(block.get_tenure_tx_payload(), None);
        assert_eq!(block.try_get_tenure_change_payload(), None);
        let empty = block_of(vec![]);
        assert_eq!(empty.is_wellformed_tenure_start_block(), Ok(false));
        assert!(!empty.is_first_mined());
        assert!(!empty.is_shadow_block());
    }
}
