//! The consensus encodings the mock node produces and reads: Nakamoto blocks, the few
//! transaction kinds its miner builds, and the signer messages it exchanges through
//! StackerDB.
//!
//! Transactions are decoded with libsigner's `StacksTransaction`. Blocks and the signer
//! messages are encoded here until libsigner's `NakamotoBlock` and `SignerMessage` land; the
//! encodings are checked against the reference vectors. Every other devnet module goes
//! through this interface.

pub mod block;
pub mod messages;
pub mod tx;

pub use block::{BitVecBytes, NakamotoBlock, NakamotoBlockHeader};
pub use messages::{BlockResponseView, SignerMessageView};
pub use tx::{MockTransaction, TenureChangeCause, TxPayloadKind};

/// Reads one big-endian integer or fixed array through libsigner's codec.
pub(crate) fn read<T: libsigner::codec::StacksMessageCodec>(
    fd: &mut &[u8],
) -> Result<T, libsigner::codec::Error> {
    libsigner::codec::read_next(fd)
}
