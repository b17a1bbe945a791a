//! Nakamoto block headers and blocks: encoding, decoding, and the hashes signers and miners
//! sign.

use libsigner::chain::{
    txid_merkle_root, BlockHeaderHash, ConsensusHash, MessageSignature, Sha512Trunc256Sum,
    StacksBlockId, TrieHash, Txid,
};
use libsigner::codec::{read_bytes, Error as CodecError, MAX_MESSAGE_LEN};

use super::read;
use super::tx::MockTransaction;

/// Largest `pox_treatment` bit vector the node accepts.
pub const POX_TREATMENT_MAX_BITS: u16 = 4000;

/// A consensus-encoded bit vector: `u16 bits || u32 nbytes || bytes`, bit `i` at
/// `bytes[i / 8] & (1 << (i % 8))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitVecBytes {
    /// Number of bits.
    pub len: u16,
    /// The packed bits.
    pub data: Vec<u8>,
}

impl BitVecBytes {
    /// `len` bits, all set.
    pub fn ones(len: u16) -> Self {
        let mut bits = BitVecBytes::zeros(len);
        for i in 0..len {
            bits.set(i, true);
        }
        bits
    }

    /// `len` bits, all clear.
    pub fn zeros(len: u16) -> Self {
        BitVecBytes {
            len,
            data: vec![0; usize::from(len).div_ceil(8)],
        }
    }

    /// Sets bit `index` (ignored past the end).
    pub fn set(&mut self, index: u16, value: bool) {
        if index >= self.len {
            return;
        }
        if let Some(byte) = self.data.get_mut(usize::from(index / 8)) {
            let mask = 1u8 << (index % 8);
            if value {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
        }
    }

    /// Bit `index` (false past the end).
    pub fn get(&self, index: u16) -> bool {
        index < self.len
            && self
                .data
                .get(usize::from(index / 8))
                .is_some_and(|b| b & (1 << (index % 8)) != 0)
    }

    /// The consensus bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(6 + self.data.len());
        out.extend_from_slice(&self.len.to_be_bytes());
        out.extend_from_slice(&(self.data.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.data);
        out
    }

    fn read(fd: &mut &[u8]) -> Result<Self, CodecError> {
        let len: u16 = read(fd)?;
        if len == 0 || len > POX_TREATMENT_MAX_BITS {
            return Err(CodecError::DeserializeError(format!(
                "bad BitVec length {len}"
            )));
        }
        let nbytes: u32 = read(fd)?;
        if nbytes as usize != usize::from(len).div_ceil(8) {
            return Err(CodecError::DeserializeError(
                "BitVec byte count does not match its length".into(),
            ));
        }
        let data = read_bytes(fd, nbytes as usize)?;
        Ok(BitVecBytes { len, data })
    }
}

/// A Nakamoto block header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NakamotoBlockHeader {
    /// Header version (0).
    pub version: u8,
    /// Stacks block height.
    pub chain_length: u64,
    /// Burn spent by the tenure's block commit.
    pub burn_spent: u64,
    /// The tenure's consensus hash.
    pub consensus_hash: ConsensusHash,
    /// The parent block's id.
    pub parent_block_id: StacksBlockId,
    /// Merkle root of the txids.
    pub tx_merkle_root: Sha512Trunc256Sum,
    /// MARF root after the block (arbitrary in the mock).
    pub state_index_root: TrieHash,
    /// Unix time the block was made.
    pub timestamp: u64,
    /// The miner's signature over [`NakamotoBlockHeader::miner_signature_hash`].
    pub miner_signature: MessageSignature,
    /// Signers' signatures over [`NakamotoBlockHeader::signer_signature_hash`], reward-set order.
    pub signer_signature: Vec<MessageSignature>,
    /// One bit per reward-set signer.
    pub pox_treatment: BitVecBytes,
}

impl NakamotoBlockHeader {
    fn fields_before_signatures(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(190);
        out.push(self.version);
        out.extend_from_slice(&self.chain_length.to_be_bytes());
        out.extend_from_slice(&self.burn_spent.to_be_bytes());
        out.extend_from_slice(&self.consensus_hash.0);
        out.extend_from_slice(&self.parent_block_id.0);
        out.extend_from_slice(&self.tx_merkle_root.0);
        out.extend_from_slice(&self.state_index_root.0);
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out
    }

    /// What the miner signs: every field but the two signature fields.
    pub fn miner_signature_hash(&self) -> Sha512Trunc256Sum {
        Sha512Trunc256Sum::from_parts(&[
            &self.fields_before_signatures(),
            &self.pox_treatment.to_bytes(),
        ])
    }

    /// What signers sign (and the block hash): every field but `signer_signature`.
    pub fn signer_signature_hash(&self) -> Sha512Trunc256Sum {
        Sha512Trunc256Sum::from_parts(&[
            &self.fields_before_signatures(),
            &self.miner_signature.0,
            &self.pox_treatment.to_bytes(),
        ])
    }

    /// The block hash (= signer signature hash).
    pub fn block_hash(&self) -> BlockHeaderHash {
        BlockHeaderHash(self.signer_signature_hash().0)
    }

    /// The block id: `sha512_256(block_hash || consensus_hash)`.
    pub fn block_id(&self) -> StacksBlockId {
        StacksBlockId::new(&self.consensus_hash, &self.block_hash())
    }

    /// The consensus bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.fields_before_signatures();
        out.extend_from_slice(&self.miner_signature.0);
        out.extend_from_slice(&(self.signer_signature.len() as u32).to_be_bytes());
        for sig in &self.signer_signature {
            out.extend_from_slice(&sig.0);
        }
        out.extend_from_slice(&self.pox_treatment.to_bytes());
        out
    }

    /// Reads a header from the front of `fd`.
    pub fn read(fd: &mut &[u8]) -> Result<Self, CodecError> {
        let version = read(fd)?;
        let chain_length = read(fd)?;
        let burn_spent = read(fd)?;
        let consensus_hash = read(fd)?;
        let parent_block_id = read(fd)?;
        let tx_merkle_root = read(fd)?;
        let state_index_root = read(fd)?;
        let timestamp = read(fd)?;
        let miner_signature = read(fd)?;
        let count: u32 = read(fd)?;
        if u64::from(count) * 65 > u64::from(MAX_MESSAGE_LEN) {
            return Err(CodecError::DeserializeError(
                "too many signer signatures".into(),
            ));
        }
        let mut signer_signature = Vec::new();
        for _ in 0..count {
            signer_signature.push(read(fd)?);
        }
        let pox_treatment = BitVecBytes::read(fd)?;
        Ok(NakamotoBlockHeader {
            version,
            chain_length,
            burn_spent,
            consensus_hash,
            parent_block_id,
            tx_merkle_root,
            state_index_root,
            timestamp,
            miner_signature,
            signer_signature,
            pox_treatment,
        })
    }
}

/// A Nakamoto block: a header and its transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NakamotoBlock {
    /// The header.
    pub header: NakamotoBlockHeader,
    /// The transactions, in order.
    pub txs: Vec<MockTransaction>,
}

impl NakamotoBlock {
    /// The txids, in order.
    pub fn txids(&self) -> Vec<Txid> {
        self.txs.iter().map(MockTransaction::txid).collect()
    }

    /// The Merkle root of the txids (all zeros for no transactions).
    pub fn computed_tx_merkle_root(&self) -> Sha512Trunc256Sum {
        txid_merkle_root(&self.txids())
    }

    /// The consensus bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.header.to_bytes();
        out.extend_from_slice(&(self.txs.len() as u32).to_be_bytes());
        for tx in &self.txs {
            out.extend_from_slice(tx.bytes());
        }
        out
    }

    /// Reads a block from the front of `fd` (the Merkle root is not checked: the validator
    /// reports a mismatch itself).
    pub fn read(fd: &mut &[u8]) -> Result<Self, CodecError> {
        let header = NakamotoBlockHeader::read(fd)?;
        let count: u32 = read(fd)?;
        let mut txs = Vec::new();
        for _ in 0..count {
            txs.push(MockTransaction::read(fd)?);
        }
        Ok(NakamotoBlock { header, txs })
    }

    /// Decodes exactly one block from `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut fd = bytes;
        let block = NakamotoBlock::read(&mut fd)?;
        if !fd.is_empty() {
            return Err(CodecError::DeserializeError(format!(
                "{} trailing bytes after the block",
                fd.len()
            )));
        }
        Ok(block)
    }

    /// Decodes a `u32 count || blocks` vector.
    pub fn vec_to_bytes(blocks: &[NakamotoBlock]) -> Vec<u8> {
        let mut out = (blocks.len() as u32).to_be_bytes().to_vec();
        for b in blocks {
            out.extend_from_slice(&b.to_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_header() -> NakamotoBlockHeader {
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
            signer_signature: vec![],
            pox_treatment: BitVecBytes::zeros(1),
        }
    }

    #[test]
    fn empty_header_hashes_match_the_reference() {
        let header = empty_header();
        assert_eq!(header.to_bytes().len(), 217);
        assert_eq!(
            header.signer_signature_hash().to_hex(),
            "ced4ed4e61eef9b2859ae1053bc5df414e7b3a901c927107ea7c66d1a81a7f28"
        );
        let mut fd = header.to_bytes();
        let mut slice = fd.as_mut_slice() as &[u8];
        assert_eq!(NakamotoBlockHeader::read(&mut slice).unwrap(), header);
    }

    #[test]
    fn bitvec_bytes_match_the_reference_json_examples() {
        assert_eq!(
            libsigner::chain::hex::to_hex(&BitVecBytes::ones(4).to_bytes()),
            "0004000000010f"
        );
        assert_eq!(
            libsigner::chain::hex::to_hex(&BitVecBytes::zeros(8).to_bytes()),
            "00080000000100"
        );
    }
}
