//! The consensus objects the mock node builds and reads: Nakamoto blocks, the transactions its
//! miner makes, and the signer messages it exchanges through StackerDB. The types are
//! libsigner's; this module adds the builders the mock needs.

pub mod messages;
pub mod tx;

pub use libsigner::chain::{
    BitVec, NakamotoBlock, NakamotoBlockHeader, StacksTransaction, TenureChangeCause,
    TenureChangePayload,
};
pub use libsigner::v0::messages::SignerMessage;

use libsigner::chain::block::MAX_POX_TREATMENT_BITS;
use libsigner::codec::{Error as CodecError, StacksMessageCodec};

/// A block's `pox_treatment` bit vector.
pub type PoxTreatment = BitVec<MAX_POX_TREATMENT_BITS>;

/// `len` set bits (clamped to 1..=4000).
pub fn pox_treatment_ones(len: usize) -> PoxTreatment {
    BitVec::ones(clamp_bits(len)).expect("1..=4000 bits are always accepted")
}

/// `len` clear bits (clamped to 1..=4000).
pub fn pox_treatment_zeros(len: usize) -> PoxTreatment {
    BitVec::zeros(clamp_bits(len)).expect("1..=4000 bits are always accepted")
}

fn clamp_bits(len: usize) -> u16 {
    len.clamp(1, usize::from(MAX_POX_TREATMENT_BITS)) as u16
}

/// Decodes exactly one block from `bytes` (with libsigner's decode-time checks: unique
/// txids and a matching Merkle root).
pub fn decode_block(bytes: &[u8]) -> Result<NakamotoBlock, CodecError> {
    let mut fd = bytes;
    let block = NakamotoBlock::consensus_deserialize(&mut fd)?;
    if !fd.is_empty() {
        return Err(CodecError::DeserializeError(format!(
            "{} trailing bytes after the block",
            fd.len()
        )));
    }
    Ok(block)
}
