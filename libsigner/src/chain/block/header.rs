//! The Nakamoto block header: its wire form, the digests the miner and the signers sign, the
//! block hash and id, and miner signing and key recovery.
//!
//! ```text
//! version u8 || chain_length u64 || burn_spent u64 || consensus_hash[20] || parent_block_id[32]
//! || tx_merkle_root[32] || state_index_root[32] || timestamp u64 || miner_signature[65]
//! || VEC<signature[65]> || pox_treatment BitVec<4000>
//! ```

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::chain::{
    BitVec, BlockHeaderHash, ConsensusHash, KeyError, MessageSignature, Sha512Trunc256Sum,
    StacksBlockId, StacksPrivateKey, StacksPublicKey, TrieHash,
};
use crate::codec::{read_next, write_next, Error as CodecError, StacksMessageCodec};

/// Most reward slots a block's `pox_treatment` may describe.
pub const MAX_POX_TREATMENT_BITS: u16 = 4000;
/// The version bit that marks a shadow block.
pub const NAKAMOTO_SHADOW_BLOCK_VERSION: u8 = 0x80;
/// The version of an ordinary Nakamoto block.
pub const NAKAMOTO_BLOCK_VERSION: u8 = 0;

impl StacksBlockId {
    /// The id the first mined block names as its parent: the all-zero block hash in the
    /// all-zero (first burnchain) consensus hash.
    pub fn first_mined() -> StacksBlockId {
        StacksBlockId::new(&ConsensusHash::zero(), &BlockHeaderHash::zero())
    }
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

    /// The fields both signature digests start with, version through timestamp.
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

    /// The block hash. It equals the signer signature hash: signer signatures are not part
    /// of a block's identity.
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

    /// Whether this block's parent is the boot block, i.e. it is the first mined block.
    pub fn is_first_mined(&self) -> bool {
        self.parent_block_id == StacksBlockId::first_mined()
    }

    /// Signs the header as its miner.
    pub fn sign_miner(&mut self, key: &StacksPrivateKey) -> Result<(), KeyError> {
        self.miner_signature = key.sign(&self.miner_signature_hash().0)?;
        Ok(())
    }

    /// The miner's public key (compressed), recovered from its signature; `None` if it does
    /// not recover.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::hex::to_hex;

    #[test]
    fn empty_header_is_217_bytes_ending_in_a_one_bit_bitvec() {
        let bytes = NakamotoBlockHeader::empty().serialize_to_vec();
        assert_eq!(bytes.len(), 217);
        assert!(bytes[..210].iter().all(|b| *b == 0));
        assert_eq!(to_hex(&bytes[210..]), "00010000000100");
    }

    #[test]
    fn empty_header_hashes_match_the_reference() {
        let header = NakamotoBlockHeader::empty();
        assert_eq!(
            header.signer_signature_hash().to_hex(),
            "ced4ed4e61eef9b2859ae1053bc5df414e7b3a901c927107ea7c66d1a81a7f28"
        );
        assert_eq!(header.block_hash().0, header.signer_signature_hash().0);
        assert!(header
            .miner_signature_hash()
            .to_hex()
            .starts_with("d367fa49"));
        assert!(header.block_id().to_hex().starts_with("568bc126"));
    }

    #[test]
    fn signer_signatures_do_not_change_the_block_id() {
        let mut header = NakamotoBlockHeader::empty();
        let id = header.block_id();
        header.signer_signature.push(MessageSignature([7; 65]));
        assert_eq!(header.block_id(), id);
        header.miner_signature = MessageSignature([7; 65]);
        assert_ne!(header.block_id(), id);
    }

    #[test]
    fn miner_signature_recovers_the_miner_key() {
        let key = StacksPrivateKey::from_seed(b"miner");
        let mut header = NakamotoBlockHeader::empty();
        assert_eq!(header.recover_miner_pk(), None);
        header.sign_miner(&key).unwrap();
        assert_eq!(
            header.recover_miner_pk(),
            Some(StacksPublicKey::from_private(&key))
        );
    }

    #[test]
    fn shadow_and_first_mined_flags() {
        let mut header = NakamotoBlockHeader::empty();
        assert!(!header.is_shadow_block());
        header.version = 0x81;
        assert!(header.is_shadow_block());
        assert!(!header.is_first_mined());
        header.parent_block_id = StacksBlockId::first_mined();
        assert!(header.is_first_mined());
    }
}
