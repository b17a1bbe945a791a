//! Hash functions and the fixed-size byte newtypes of the Stacks chain (hashes, ids), plus the
//! Merkle tree over transaction ids.

use ripemd::Ripemd160;
use sha2::{Digest, Sha256, Sha512_256};

/// Defines a newtype over `[u8; N]` with the reference's conventions: raw bytes on the wire,
/// lowercase hex through `Display`/`Debug`, `from_hex` with an exact length, and (unless
/// `no_serde` is given) a hex string as its JSON form.
#[macro_export]
macro_rules! byte_array_newtype {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $crate::byte_array_newtype!(@base $(#[$meta])* $name, $len);

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                $name::from_hex(&text).map_err(serde::de::Error::custom)
            }
        }
    };
    (@base $(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Number of bytes in this type.
            pub const LEN: usize = $len;

            /// Parses exactly `2 * LEN` hex digits (either case, no `0x`).
            pub fn from_hex(text: &str) -> Result<Self, $crate::chain::HexError> {
                $crate::chain::hex::hex_array::<$len>(text).map($name)
            }

            /// Takes the bytes as they are (no hashing); `None` unless exactly `LEN` long.
            pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
                <[u8; $len]>::try_from(bytes).ok().map($name)
            }

            /// Lowercase hex of the bytes.
            pub fn to_hex(&self) -> String {
                $crate::chain::hex::to_hex(&self.0)
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// The all-zero value.
            pub const fn zero() -> Self {
                $name([0u8; $len])
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::zero()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl std::fmt::LowerHex for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                $name(bytes)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::chain::HexError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::from_hex(text)
            }
        }

        impl $crate::chain::hex::FixedBytes for $name {
            fn from_byte_slice(bytes: &[u8]) -> Option<Self> {
                Self::from_bytes(bytes)
            }
            fn byte_slice(&self) -> &[u8] {
                &self.0
            }
        }

        impl $crate::codec::StacksMessageCodec for $name {
            fn consensus_serialize<W: std::io::Write>(
                &self,
                fd: &mut W,
            ) -> Result<(), $crate::codec::Error> {
                fd.write_all(&self.0).map_err($crate::codec::Error::WriteError)
            }

            fn consensus_deserialize<R: std::io::Read>(
                fd: &mut R,
            ) -> Result<Self, $crate::codec::Error> {
                $crate::codec::read_array::<$len, R>(fd).map($name)
            }
        }
    };
}

byte_array_newtype!(
    /// A SHA-256 digest.
    Sha256Sum, 32
);
byte_array_newtype!(
    /// A SHA-512/256 digest (FIPS 180-4, its own IV; not truncated SHA-512).
    Sha512Trunc256Sum, 32
);
byte_array_newtype!(
    /// RIPEMD-160 of SHA-256: the hash behind addresses.
    Hash160, 20
);
byte_array_newtype!(
    /// Bitcoin's double SHA-256.
    DoubleSha256, 32
);
byte_array_newtype!(
    /// Identifies a sortition (burn-chain view): 20 bytes.
    ConsensusHash, 20
);
byte_array_newtype!(
    /// The hash of a Stacks block header.
    BlockHeaderHash, 32
);
byte_array_newtype!(
    /// The index-block hash: identifies a Stacks block together with its tenure.
    StacksBlockId, 32
);
byte_array_newtype!(
    /// A MARF root hash.
    TrieHash, 32
);
byte_array_newtype!(
    /// A transaction id: SHA-512/256 of the transaction's encoding.
    Txid, 32
);
byte_array_newtype!(
    /// A VRF seed.
    VRFSeed, 32
);
byte_array_newtype!(
    /// Identifies a sortition (a burn block on a particular PoX fork).
    SortitionId, 32
);

byte_array_newtype!(@base
    /// A burn-chain (Bitcoin) block hash. Its JSON form is an array of 32 numbers, as the
    /// reference derives it; it prints as hex.
    BurnchainHeaderHash, 32
);

impl serde::Serialize for BurnchainHeaderHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.0, s)
    }
}

impl<'de> serde::Deserialize<'de> for BurnchainHeaderHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <[u8; 32] as serde::Deserialize>::deserialize(d).map(BurnchainHeaderHash)
    }
}

impl Sha256Sum {
    /// SHA-256 of `data`.
    pub fn from_data(data: &[u8]) -> Self {
        Sha256Sum(Sha256::digest(data).into())
    }
}

impl Sha512Trunc256Sum {
    /// SHA-512/256 of `data`.
    pub fn from_data(data: &[u8]) -> Self {
        Sha512Trunc256Sum(Sha512_256::digest(data).into())
    }

    /// SHA-512/256 of several byte strings, concatenated.
    pub fn from_parts(parts: &[&[u8]]) -> Self {
        let mut hasher = Sha512_256::new();
        for part in parts {
            hasher.update(part);
        }
        Sha512Trunc256Sum(hasher.finalize().into())
    }
}

impl Hash160 {
    /// RIPEMD-160(SHA-256(`data`)).
    pub fn from_data(data: &[u8]) -> Self {
        let sha = Sha256::digest(data);
        Hash160(Ripemd160::digest(sha).into())
    }

    /// Hash160 of a public key's **33-byte compressed** form, whatever its flag.
    pub fn from_node_public_key(pk: &crate::chain::StacksPublicKey) -> Self {
        Hash160::from_data(&pk.to_bytes_compressed())
    }
}

impl DoubleSha256 {
    /// SHA-256(SHA-256(`data`)).
    pub fn from_data(data: &[u8]) -> Self {
        DoubleSha256(Sha256::digest(Sha256::digest(data)).into())
    }
}

impl StacksBlockId {
    /// The block id of the block with header hash `block_hash` in tenure `consensus_hash`:
    /// SHA-512/256(block_hash || consensus_hash).
    pub fn new(consensus_hash: &ConsensusHash, block_hash: &BlockHeaderHash) -> Self {
        StacksBlockId(Sha512Trunc256Sum::from_parts(&[&block_hash.0, &consensus_hash.0]).0)
    }
}

impl Txid {
    /// The txid of a transaction with these consensus bytes.
    pub fn from_tx_bytes(bytes: &[u8]) -> Self {
        Txid(Sha512Trunc256Sum::from_data(bytes).0)
    }
}

/// A hash function usable in a [`MerkleTree`]: leaves are `H(0x00 || data)`, interior
/// nodes `H(0x01 || left || right)`.
pub trait MerkleHashFunc: Copy + PartialEq {
    /// The root of an empty tree (all zeros).
    fn empty() -> Self;
    /// `H(tag || data)`.
    fn from_tagged_data(tag: u8, data: &[u8]) -> Self;
    /// The digest bytes.
    fn bytes(&self) -> &[u8];
}

impl MerkleHashFunc for Sha512Trunc256Sum {
    fn empty() -> Self {
        Sha512Trunc256Sum::zero()
    }
    fn from_tagged_data(tag: u8, data: &[u8]) -> Self {
        Sha512Trunc256Sum::from_parts(&[&[tag], data])
    }
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl MerkleHashFunc for DoubleSha256 {
    fn empty() -> Self {
        DoubleSha256::zero()
    }
    fn from_tagged_data(tag: u8, data: &[u8]) -> Self {
        let mut buf = Vec::with_capacity(data.len() + 1);
        buf.push(tag);
        buf.extend_from_slice(data);
        DoubleSha256::from_data(&buf)
    }
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The Merkle tree the reference builds over a block's transaction ids.
///
/// Rows of odd length (the leaf row included) duplicate their last element; building stops
/// at a row with a single node; an empty tree has an all-zero root.
#[derive(Debug, Clone, PartialEq)]
pub struct MerkleTree<H: MerkleHashFunc> {
    /// Rows from the leaves (index 0) to the root.
    pub nodes: Vec<Vec<H>>,
}

impl<H: MerkleHashFunc> MerkleTree<H> {
    /// Builds the tree over `data` (one leaf per item).
    pub fn new<T: AsRef<[u8]>>(data: &[T]) -> Self {
        if data.is_empty() {
            return MerkleTree { nodes: Vec::new() };
        }
        let mut row: Vec<H> = data
            .iter()
            .map(|d| H::from_tagged_data(0x00, d.as_ref()))
            .collect();
        let mut nodes = Vec::new();
        // The leaf row is padded even when it holds a single leaf; later rows stop at one node.
        duplicate_last_if_odd(&mut row);
        loop {
            let next: Vec<H> = row
                .chunks_exact(2)
                .map(|pair| {
                    let mut joined = Vec::with_capacity(pair[0].bytes().len() * 2);
                    joined.extend_from_slice(pair[0].bytes());
                    joined.extend_from_slice(pair[1].bytes());
                    H::from_tagged_data(0x01, &joined)
                })
                .collect();
            nodes.push(row);
            row = next;
            if row.len() == 1 {
                nodes.push(row);
                break;
            }
            duplicate_last_if_odd(&mut row);
        }
        MerkleTree { nodes }
    }

    /// The root hash (all zeros for an empty tree).
    pub fn root(&self) -> H {
        self.nodes
            .last()
            .and_then(|row| row.first().copied())
            .unwrap_or_else(H::empty)
    }
}

fn duplicate_last_if_odd<H: Copy>(row: &mut Vec<H>) {
    if row.len() % 2 == 1 {
        if let Some(last) = row.last().copied() {
            row.push(last);
        }
    }
}

/// The Merkle root of a block's transaction ids (SHA-512/256 tree).
pub fn txid_merkle_root(txids: &[Txid]) -> Sha512Trunc256Sum {
    let leaves: Vec<&[u8]> = txids.iter().map(|t| &t.0[..]).collect();
    MerkleTree::<Sha512Trunc256Sum>::new(&leaves).root()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha512_256_of_empty_input() {
        assert_eq!(
            Sha512Trunc256Sum::from_data(b"").to_hex(),
            "c672b8d1ef56ed28ab87c3622c5114069bdd3ad7b8f9737498d0c01ecef0967a"
        );
    }

    #[test]
    fn single_leaf_root_pairs_leaf_with_itself() {
        let root = txid_merkle_root(&[Txid([0x11; 32])]);
        assert_eq!(
            root.to_hex(),
            "589c3e5ba92077450c392da5d6ab2ad352faed4af1ac6c831927f5359a690b01"
        );
    }

    #[test]
    fn empty_tree_has_zero_root() {
        assert_eq!(txid_merkle_root(&[]), Sha512Trunc256Sum::zero());
    }

    #[test]
    fn hash_ids_print_as_lowercase_hex() {
        let id = StacksBlockId([0xAB; 32]);
        assert_eq!(format!("{id}"), "ab".repeat(32));
        assert_eq!(format!("{id:?}"), "ab".repeat(32));
    }

    #[test]
    fn burnchain_header_hash_json_is_number_array() {
        let h = BurnchainHeaderHash([1; 32]);
        let json = serde_json::to_string(&h).unwrap();
        assert!(json.starts_with("[1,1,"), "{json}");
        let back: BurnchainHeaderHash = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn hash_json_is_plain_hex() {
        let h = Hash160([0xcd; 20]);
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            format!("\"{}\"", "cd".repeat(20))
        );
        assert!(serde_json::from_str::<Hash160>("\"cd\"").is_err());
    }
}
