//! Stacks chain primitives that the reference takes from `stacks-common`, `stackslib` and
//! `clarity`: hashes and ids, keys and signatures, addresses, Clarity values, transactions,
//! Nakamoto blocks, VRF proofs and SIP-018 structured data. Every type is re-exported here
//! under the reference's name.

pub mod address;
pub mod b58;
pub mod bech32;
pub mod bitvec;
pub mod block;
pub mod clarity;
pub mod hashes;
pub mod hex;
pub mod keys;
pub mod pox_address;
pub mod sip018;
pub mod transaction;
pub mod vrf;

pub use bitvec::*;
pub use block::*;
pub use clarity::*;
pub use sip018::*;
pub use transaction::*;
pub use vrf::*;

pub use address::{
    c32_address, c32_address_decode, public_keys_hash, AddressHashMode, C32Error, StacksAddress,
    C32_ADDRESS_VERSION_MAINNET_MULTISIG, C32_ADDRESS_VERSION_MAINNET_SINGLESIG,
    C32_ADDRESS_VERSION_TESTNET_MULTISIG, C32_ADDRESS_VERSION_TESTNET_SINGLESIG,
};
pub use hashes::{
    txid_merkle_root, BlockHeaderHash, BurnchainHeaderHash, ConsensusHash, DoubleSha256, Hash160,
    MerkleHashFunc, MerkleTree, Sha256Sum, Sha512Trunc256Sum, SortitionId, StacksBlockId, TrieHash,
    Txid, VRFSeed,
};
pub use hex::HexError;
pub use keys::{KeyError, MessageSignature, StacksPrivateKey, StacksPublicKey};
pub use pox_address::{PoxAddress, PoxAddressType20, PoxAddressType32};

/// Chain id of Stacks mainnet.
pub const CHAIN_ID_MAINNET: u32 = 0x0000_0001;
/// Chain id of Stacks testnet.
pub const CHAIN_ID_TESTNET: u32 = 0x8000_0000;
