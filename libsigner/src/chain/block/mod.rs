//! Nakamoto blocks: the header (with the digests its miner and signers sign) and the block,
//! a header followed by its transactions.
//!
//! Decoding a block reads the header and the transactions through a
//! [`MAX_MESSAGE_LEN`] bound, then refuses duplicate
//! transactions and then a Merkle root that does not match the txids, in that order.

mod header;
mod signers;
mod tenure;
#[cfg(test)]
mod testing;

use std::collections::HashSet;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::chain::{txid_merkle_root, Sha512Trunc256Sum, StacksBlockId, StacksTransaction, Txid};
use crate::codec::{
    read_next, write_next, BoundReader, Error as CodecError, StacksMessageCodec, MAX_MESSAGE_LEN,
};

pub use header::{
    NakamotoBlockHeader, MAX_POX_TREATMENT_BITS, NAKAMOTO_BLOCK_VERSION,
    NAKAMOTO_SHADOW_BLOCK_VERSION,
};
pub use signers::{signing_weight_threshold, SignerSignatureError};
pub use tenure::MalformedTenureBlock;

/// A Nakamoto block: its header and transactions. Its JSON form is the reference's derived
/// one (`{"header":{..},"txs":[..]}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NakamotoBlock {
    /// The header.
    pub header: NakamotoBlockHeader,
    /// The transactions, in order.
    pub txs: Vec<StacksTransaction>,
}

impl NakamotoBlock {
    /// The block id.
    pub fn block_id(&self) -> StacksBlockId {
        self.header.block_id()
    }

    /// The ids of the transactions, in order.
    pub fn txids(&self) -> Vec<Txid> {
        self.txs.iter().map(|tx| tx.txid()).collect()
    }

    /// The Merkle root of the transactions' ids (all zeros without transactions).
    pub fn compute_tx_merkle_root(&self) -> Sha512Trunc256Sum {
        txid_merkle_root(&self.txids())
    }
}

/// Whether no txid occurs twice.
fn all_unique(txids: &[Txid]) -> bool {
    let mut seen = HashSet::with_capacity(txids.len());
    txids.iter().all(|txid| seen.insert(*txid))
}

impl StacksMessageCodec for NakamotoBlock {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.header)?;
        write_next(fd, &self.txs)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let mut bounded = BoundReader::from_reader(fd, u64::from(MAX_MESSAGE_LEN));
        let header: NakamotoBlockHeader = read_next(&mut bounded)?;
        let txs: Vec<StacksTransaction> = read_next(&mut bounded)?;
        let txids: Vec<Txid> = txs.iter().map(|tx| tx.txid()).collect();
        if !all_unique(&txids) {
            return Err(CodecError::DeserializeError(
                "Invalid block: found duplicate transaction".to_string(),
            ));
        }
        if txid_merkle_root(&txids) != header.tx_merkle_root {
            return Err(CodecError::DeserializeError(
                "Invalid block: tx Merkle root mismatch".to_string(),
            ));
        }
        Ok(NakamotoBlock { header, txs })
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{block_of, token_transfer};
    use super::*;

    fn decode(bytes: &[u8]) -> Result<NakamotoBlock, CodecError> {
        NakamotoBlock::consensus_deserialize(&mut &bytes[..])
    }

    #[test]
    fn empty_block_needs_a_zero_merkle_root() {
        let block = block_of(vec![]);
        assert_eq!(decode(&block.serialize_to_vec()).unwrap(), block);
        let mut bad = block.clone();
        bad.header.tx_merkle_root = Sha512Trunc256Sum([1; 32]);
        assert!(decode(&bad.serialize_to_vec()).is_err());
    }

    #[test]
    fn block_with_transactions_round_trips_and_keeps_trailing_bytes() {
        let block = block_of(vec![token_transfer(0), token_transfer(1)]);
        let mut bytes = block.serialize_to_vec();
        let len = bytes.len();
        bytes.extend_from_slice(&[0xaa, 0xbb]);
        let mut reader = &bytes[..];
        assert_eq!(
            NakamotoBlock::consensus_deserialize(&mut reader).unwrap(),
            block
        );
        assert_eq!(bytes.len() - reader.len(), len);
    }

    #[test]
    fn duplicate_is_reported_before_the_merkle_root() {
        let tx = token_transfer(3);
        let mut block = block_of(vec![tx.clone()]);
        block.txs.push(tx);
        // The root is also wrong now; the duplicate must be what is reported.
        let err = decode(&block.serialize_to_vec()).unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
    }

    #[test]
    fn reordered_transactions_break_the_merkle_root() {
        let mut block = block_of(vec![token_transfer(0), token_transfer(1)]);
        block.txs.swap(0, 1);
        let err = decode(&block.serialize_to_vec()).unwrap_err();
        assert!(err.to_string().contains("Merkle"), "{err}");
    }

    #[test]
    fn transaction_count_beyond_the_input_is_an_error() {
        let mut bytes = block_of(vec![]).serialize_to_vec();
        let at = bytes.len() - 4;
        bytes[at..].copy_from_slice(&1000u32.to_be_bytes());
        assert!(decode(&bytes).is_err());
        bytes[at..].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode(&bytes).is_err());
    }

    #[test]
    fn block_json_round_trips() {
        let block = block_of(vec![token_transfer(5)]);
        let json = serde_json::to_value(&block).unwrap();
        assert!(json["header"]["pox_treatment"].is_string());
        assert_eq!(
            serde_json::from_value::<NakamotoBlock>(json).unwrap(),
            block
        );
    }
}
