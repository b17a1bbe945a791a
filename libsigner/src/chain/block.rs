//! Nakamoto blocks: the header (with its miner and signer signature hashes) and the block
//! (header plus transactions, checked for duplicate txids and the Merkle root on decode).

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::chain::{
    txid_merkle_root, BitVec, BlockHeaderHash, ConsensusHash, KeyError, MessageSignature,
    Sha512Trunc256Sum, StacksBlockId, StacksPrivateKey, StacksPublicKey, StacksTransaction,
    TenureChangeCause, TenureChangePayload, TransactionPayload, TrieHash, Txid,
};
use crate::codec::{
    read_next, write_next, BoundReader, Error as CodecError, StacksMessageCodec, MAX_MESSAGE_LEN,
};
use crate::signer_set::NakamotoSignerEntry;

/// Most reward slots a block's `pox_treatment` may describe.
pub const MAX_POX_TREATMENT_BITS: u16 = 4000;
/// The version bit that marks a shadow block.
pub const NAKAMOTO_SHADOW_BLOCK_VERSION: u8 = 0x80;

/// Why a block's signer signatures do not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerSignatureError {
    /// A signature from which no key can be recovered.
    #[error("unrecoverable signer signature at index {0}")]
    Unrecoverable(usize),
    /// A signature by a key that is not in the signer set.
    #[error("signature at index {0} is not from a signer of this reward set")]
    UnknownSigner(usize),
    /// Signatures out of reward-set order, or the same signer twice.
    #[error("signatures are not in reward-set order at index {0}")]
    OutOfOrder(usize),
    /// Not enough weight signed.
    #[error("signed weight {signed} below threshold {threshold} of {total}")]
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
    let scaled = u64::from(total) * 7;
    u32::try_from(scaled.div_ceil(10)).unwrap_or(u32::MAX)
}

/// A Nakamoto block header. Its JSON form is the reference's derived one, with hashes as hex
/// and `pox_treatment` as the hex of its encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NakamotoBlockHeader {
    /// Block format version (bit 7 marks a shadow block).
    pub version: u8,
    /// Height in the Stacks chain.
    pub chain_length: u64,
    /// Burn (BTC) spent to win the tenure.
    pub burn_spent: u64,
    /// The tenure's consensus hash.
    pub consensus_hash: ConsensusHash,
    /// The parent block's id.
    pub parent_block_id: StacksBlockId,
    /// Merkle root of the transactions' ids.
    pub tx_merkle_root: Sha512Trunc256Sum,
    /// Root of the chainstate MARF after this block.
    pub state_index_root: TrieHash,
    /// Unix time the miner built the block.
    pub timestamp: u64,
    /// The miner's signature over [`NakamotoBlockHeader::miner_signature_hash`].
    pub miner_signature: MessageSignature,
    /// Signer signatures over [`NakamotoBlockHeader::signer_signature_hash`], in reward-set
    /// order.
    pub signer_signature: Vec<MessageSignature>,
    /// One bit per reward slot: whether its PoX payout is honoured.
    pub pox_treatment: BitVec<MAX_POX_TREATMENT_BITS>,
}

impl NakamotoBlockHeader {
    /// The all-zero header with a one-bit `pox_treatment`.
    pub fn empty() -> Self {
        NakamotoBlockHeader {
            version: 0,
            chain_length: 0,
            burn_spent: 0,
            consensus_hash: ConsensusHash::zero(),
            parent_block_id: StacksBlockId::zero(),
            tx_merkle_root: Sha512Trunc256Sum::zero(),
            state_index_root: TrieHash::zero(),
            timestamp: 0,
            miner_signature: MessageSignature::empty(),
            signer_signature: Vec::new(),
            // One bit is within the 4000-bit maximum.
            pox_treatment: BitVec::zeros(1).unwrap_or_else(|_| unreachable!()),
        }
    }

    fn write_signed_fields(&self, out: &mut Vec<u8>) {
        out.push(self.version);
        out.extend_from_slice(&self.chain_length.to_be_bytes());
        out.extend_from_slice(&self.burn_spent.to_be_bytes());
        out.extend_from_slice(&self.consensus_hash.0);
        out.extend_from_slice(&self.parent_block_id.0);
        out.extend_from_slice(&self.tx_merkle_root.0);
        out.extend_from_slice(&self.state_index_root.0);
        out.extend_from_slice(&self.timestamp.to_be_bytes());
    }

    /// The digest the miner signs: every field but the two signature fields.
    pub fn miner_signature_hash(&self) -> Sha512Trunc256Sum {
        let mut bytes = Vec::with_capacity(256);
        self.write_signed_fields(&mut bytes);
        bytes.extend_from_slice(&self.pox_treatment.serialize_to_vec());
        Sha512Trunc256Sum::from_data(&bytes)
    }

    /// The digest signers sign: every field but the signer signatures.
    pub fn signer_signature_hash(&self) -> Sha512Trunc256Sum {
        let mut bytes = Vec::with_capacity(256);
        self.write_signed_fields(&mut bytes);
        bytes.extend_from_slice(&self.miner_signature.0);
        bytes.extend_from_slice(&self.pox_treatment.serialize_to_vec());
        Sha512Trunc256Sum::from_data(&bytes)
    }

    /// The block hash (equal to the signer signature hash).
    pub fn block_hash(&self) -> BlockHeaderHash {
        BlockHeaderHash(self.signer_signature_hash().0)
    }

    /// The block id: SHA-512/256(block hash || consensus hash).
    pub fn block_id(&self) -> StacksBlockId {
        StacksBlockId::new(&self.consensus_hash, &self.block_hash())
    }

    /// Whether this is a shadow block (version bit 7).
    pub fn is_shadow_block(&self) -> bool {
        self.version & NAKAMOTO_SHADOW_BLOCK_VERSION != 0
    }

    /// Signs the header as its miner.
    pub fn sign_miner(&mut self, key: &StacksPrivateKey) -> Result<(), KeyError> {
        self.miner_signature = key.sign(&self.miner_signature_hash().0)?;
        Ok(())
    }

    /// The miner's public key, recovered from its signature; `None` if it does not recover.
    pub fn recover_miner_pk(&self) -> Option<StacksPublicKey> {
        StacksPublicKey::recover_to_pubkey(&self.miner_signature_hash().0, &self.miner_signature)
            .ok()
    }

    /// The signer keys recovered from each signer signature, in order.
    pub fn recover_signer_pks(&self) -> Vec<Result<StacksPublicKey, KeyError>> {
        let digest = self.signer_signature_hash();
        self.signer_signature
            .iter()
            .map(|sig| StacksPublicKey::recover_to_pubkey(&digest.0, sig))
            .collect()
    }

    /// Checks the signer signatures against a reward set: each from a member, in reward-set
    /// order without repeats, together at least 70% (rounded up) of the weight. Returns the
    /// weight that signed.
    pub fn verify_signer_signatures(
        &self,
        signers: &[NakamotoSignerEntry],
    ) -> Result<u32, SignerSignatureError> {
        let total = signers
            .iter()
            .fold(0u32, |acc, s| acc.saturating_add(s.weight));
        let mut signed = 0u32;
        let mut last_index: Option<usize> = None;
        for (i, key) in self.recover_signer_pks().into_iter().enumerate() {
            let key = key.map_err(|_| SignerSignatureError::Unrecoverable(i))?;
            let compressed = key.to_bytes_compressed();
            let index = signers
                .iter()
                .position(|s| s.signing_key[..] == compressed[..])
                .ok_or(SignerSignatureError::UnknownSigner(i))?;
            if last_index.is_some_and(|last| index <= last) {
                return Err(SignerSignatureError::OutOfOrder(i));
            }
            last_index = Some(index);
            signed = signed.saturating_add(signers[index].weight);
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

impl StacksMessageCodec for NakamotoBlockHeader {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        let mut bytes = Vec::with_capacity(256);
        self.write_signed_fields(&mut bytes);
        fd.write_all(&bytes).map_err(CodecError::WriteError)?;
        write_next(fd, &self.miner_signature)?;
        write_next(fd, &self.signer_signature)?;
        write_next(fd, &self.pox_treatment)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        Ok(NakamotoBlockHeader {
            version: read_next(fd)?,
            chain_length: read_next(fd)?,
            burn_spent: read_next(fd)?,
            consensus_hash: read_next(fd)?,
            parent_block_id: read_next(fd)?,
            tx_merkle_root: read_next(fd)?,
            state_index_root: read_next(fd)?,
            timestamp: read_next(fd)?,
            miner_signature: read_next(fd)?,
            signer_signature: read_next(fd)?,
            pox_treatment: read_next(fd)?,
        })
    }
}

/// A Nakamoto block: its header and transactions.
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

    /// The Merkle root of the transactions' ids.
    pub fn compute_tx_merkle_root(&self) -> Sha512Trunc256Sum {
        txid_merkle_root(&self.txids())
    }

    /// The tenure-change payload of the first transaction, if it is one.
    pub fn get_tenure_change_tx_payload(&self) -> Option<&TenureChangePayload> {
        self.txs.first().and_then(|tx| tx.try_as_tenure_change())
    }

    /// The tenure-change payload if this block starts a tenure (cause `BlockFound`).
    pub fn get_tenure_start_payload(&self) -> Option<&TenureChangePayload> {
        self.get_tenure_change_tx_payload()
            .filter(|tc| tc.cause == TenureChangeCause::BlockFound)
    }

    /// The tenure-change payload if this block extends its tenure (any extend cause).
    pub fn get_tenure_extend_payload(&self) -> Option<&TenureChangePayload> {
        self.get_tenure_change_tx_payload()
            .filter(|tc| tc.cause != TenureChangeCause::BlockFound)
    }

    /// Whether the block starts a tenure: a `BlockFound` tenure change followed by a coinbase.
    pub fn is_tenure_start(&self) -> bool {
        self.get_tenure_start_payload().is_some()
            && self
                .txs
                .get(1)
                .is_some_and(|tx| matches!(tx.payload, TransactionPayload::Coinbase(..)))
    }

    /// The coinbase transaction, if the block has one.
    pub fn get_coinbase_tx(&self) -> Option<&StacksTransaction> {
        self.txs
            .iter()
            .find(|tx| matches!(tx.payload, TransactionPayload::Coinbase(..)))
    }

    /// Whether this is a shadow block.
    pub fn is_shadow_block(&self) -> bool {
        self.header.is_shadow_block()
    }
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
        let mut seen = std::collections::HashSet::with_capacity(txids.len());
        if !txids.iter().all(|txid| seen.insert(*txid)) {
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
    use super::*;

    #[test]
    fn empty_header_hashes_match_the_reference() {
        let header = NakamotoBlockHeader::empty();
        assert_eq!(header.serialize_to_vec().len(), 217);
        assert_eq!(
            header.signer_signature_hash().to_hex(),
            "ced4ed4e61eef9b2859ae1053bc5df414e7b3a901c927107ea7c66d1a81a7f28"
        );
    }

    #[test]
    fn empty_block_needs_a_zero_merkle_root() {
        let block = NakamotoBlock {
            header: NakamotoBlockHeader::empty(),
            txs: vec![],
        };
        let bytes = block.serialize_to_vec();
        assert_eq!(
            NakamotoBlock::consensus_deserialize(&mut &bytes[..]).unwrap(),
            block
        );
        let mut bad = block.clone();
        bad.header.tx_merkle_root = Sha512Trunc256Sum([1; 32]);
        let bytes = bad.serialize_to_vec();
        assert!(NakamotoBlock::consensus_deserialize(&mut &bytes[..]).is_err());
    }

    #[test]
    fn miner_signature_recovers_the_miner_key() {
        let key = StacksPrivateKey::from_seed(b"miner");
        let mut header = NakamotoBlockHeader::empty();
        header.sign_miner(&key).unwrap();
        assert_eq!(
            header.recover_miner_pk(),
            Some(StacksPublicKey::from_private(&key))
        );
    }

    #[test]
    fn threshold_rounds_up() {
        assert_eq!(signing_weight_threshold(10), 7);
        assert_eq!(signing_weight_threshold(11), 8);
        assert_eq!(signing_weight_threshold(1), 1);
        assert_eq!(signing_weight_threshold(0), 0);
    }

    #[test]
    fn signer_signatures_must_be_ordered_and_weighty() {
        let keys: Vec<StacksPrivateKey> = (0..3u8)
            .map(|i| StacksPrivateKey::from_seed(&[i; 4]))
            .collect();
        let mut entries: Vec<NakamotoSignerEntry> = keys
            .iter()
            .map(|k| NakamotoSignerEntry {
                signing_key: StacksPublicKey::from_private(k)
                    .to_bytes_compressed()
                    .try_into()
                    .unwrap(),
                stacked_amt: 1,
                weight: 1,
            })
            .collect();
        entries.sort_by_key(|e| e.signing_key);
        let ordered: Vec<&StacksPrivateKey> = entries
            .iter()
            .map(|e| {
                keys.iter()
                    .find(|k| {
                        StacksPublicKey::from_private(k).to_bytes_compressed() == e.signing_key
                    })
                    .unwrap()
            })
            .collect();
        let mut header = NakamotoBlockHeader::empty();
        let digest = header.signer_signature_hash();
        header.signer_signature = ordered[..2]
            .iter()
            .map(|k| k.sign(&digest.0).unwrap())
            .collect();
        assert_eq!(
            header.verify_signer_signatures(&entries),
            Err(SignerSignatureError::BelowThreshold {
                signed: 2,
                threshold: 3,
                total: 3
            })
        );
        header.signer_signature = ordered.iter().map(|k| k.sign(&digest.0).unwrap()).collect();
        assert_eq!(header.verify_signer_signatures(&entries), Ok(3));
        header.signer_signature.swap(0, 1);
        assert_eq!(
            header.verify_signer_signatures(&entries),
            Err(SignerSignatureError::OutOfOrder(1))
        );
    }
}
