//! StackerDB: the signed, versioned slots signers and miners publish their messages through.
//!
//! A chunk is authenticated by a signature over
//! `SHA-512/256(slot_id || slot_version || SHA-512/256(data))`, made by the key that owns the
//! slot; the node accepts it only with a strictly higher version than the one it stores.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::chain::hex::serde_hex_vec;
use crate::chain::{
    Hash160, KeyError, MessageSignature, QualifiedContractIdentifier, Sha512Trunc256Sum,
    StacksAddress, StacksPrivateKey, StacksPublicKey,
};
use crate::codec::{
    read_bytes, read_next, write_length_prefixed, write_next, Error as CodecError,
    StacksMessageCodec,
};

/// Largest chunk any StackerDB accepts: 16 MiB.
pub const STACKERDB_MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// Largest chunk of the signers' StackerDBs: 2 MiB.
pub const SIGNERS_STACKERDB_CHUNK_SIZE: usize = 2 * 1024 * 1024;

/// The digest a slot's owner signs for `(slot_id, slot_version, data_hash)`.
fn auth_digest(
    slot_id: u32,
    slot_version: u32,
    data_hash: &Sha512Trunc256Sum,
) -> Sha512Trunc256Sum {
    Sha512Trunc256Sum::from_parts(&[
        &slot_id.to_be_bytes(),
        &slot_version.to_be_bytes(),
        &data_hash.0,
    ])
}

/// Whether the (compressed) key recovered from a slot signature hashes to `addr`'s hash (the
/// address version is not compared, as in the reference).
fn signed_by(
    digest: &Sha512Trunc256Sum,
    sig: &MessageSignature,
    addr: &StacksAddress,
) -> Result<bool, KeyError> {
    let pk = StacksPublicKey::recover_to_pubkey(&digest.0, sig)?;
    Ok(Hash160::from_node_public_key(&pk) == *addr.bytes())
}

/// What the node stores about a slot: its version, the hash of its data and the owner's
/// signature. JSON: `{"slot_id","slot_version","data_hash","signature"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotMetadata {
    /// The slot.
    pub slot_id: u32,
    /// Its version.
    pub slot_version: u32,
    /// SHA-512/256 of its data.
    pub data_hash: Sha512Trunc256Sum,
    /// The owner's signature.
    pub signature: MessageSignature,
}

impl SlotMetadata {
    /// Metadata with an empty signature.
    pub fn new_unsigned(slot_id: u32, slot_version: u32, data_hash: Sha512Trunc256Sum) -> Self {
        SlotMetadata {
            slot_id,
            slot_version,
            data_hash,
            signature: MessageSignature::empty(),
        }
    }

    /// The digest the owner signs.
    pub fn auth_digest(&self) -> Sha512Trunc256Sum {
        auth_digest(self.slot_id, self.slot_version, &self.data_hash)
    }

    /// Signs the metadata with `key`.
    pub fn sign(&mut self, key: &StacksPrivateKey) -> Result<(), KeyError> {
        self.signature = key.sign(&self.auth_digest().0)?;
        Ok(())
    }

    /// Whether the signature was made by the key behind `addr`.
    pub fn verify(&self, addr: &StacksAddress) -> Result<bool, KeyError> {
        signed_by(&self.auth_digest(), &self.signature, addr)
    }
}

/// A chunk: slot, version, signature and data. Wire form `slot_id u32 || slot_version u32 ||
/// sig[65] || u32 len || data` (data at most 16 MiB); JSON
/// `{"slot_id","slot_version","sig","data"}` with hex data.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackerDBChunkData {
    /// The slot.
    pub slot_id: u32,
    /// The version being written.
    pub slot_version: u32,
    /// The owner's signature.
    pub sig: MessageSignature,
    /// The payload.
    #[serde(with = "serde_hex_vec")]
    pub data: Vec<u8>,
}

impl StackerDBChunkData {
    /// An unsigned chunk.
    pub fn new(slot_id: u32, slot_version: u32, data: Vec<u8>) -> Self {
        StackerDBChunkData {
            slot_id,
            slot_version,
            sig: MessageSignature::empty(),
            data,
        }
    }

    /// SHA-512/256 of the data.
    pub fn data_hash(&self) -> Sha512Trunc256Sum {
        Sha512Trunc256Sum::from_data(&self.data)
    }

    /// The digest the owner signs.
    pub fn auth_digest(&self) -> Sha512Trunc256Sum {
        auth_digest(self.slot_id, self.slot_version, &self.data_hash())
    }

    /// The metadata the node would store for this chunk.
    pub fn get_slot_metadata(&self) -> SlotMetadata {
        SlotMetadata {
            slot_id: self.slot_id,
            slot_version: self.slot_version,
            data_hash: self.data_hash(),
            signature: self.sig,
        }
    }

    /// Signs the chunk with `key`.
    pub fn sign(&mut self, key: &StacksPrivateKey) -> Result<(), KeyError> {
        self.sig = key.sign(&self.auth_digest().0)?;
        Ok(())
    }

    /// The (compressed) public key that signed the chunk.
    pub fn recover_pk(&self) -> Result<StacksPublicKey, KeyError> {
        StacksPublicKey::recover_to_pubkey(&self.auth_digest().0, &self.sig)
    }

    /// Whether the chunk was signed by the key behind `addr` (hash only; version ignored).
    pub fn verify(&self, addr: &StacksAddress) -> Result<bool, KeyError> {
        signed_by(&self.auth_digest(), &self.sig, addr)
    }
}

impl std::fmt::Debug for StackerDBChunkData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex = crate::chain::hex::to_hex;
        if self.data.len() < 128 {
            write!(
                f,
                "StackerDBChunkData({},{},{},{})",
                self.slot_id,
                self.slot_version,
                self.sig,
                hex(&self.data)
            )
        } else {
            write!(
                f,
                "StackerDBChunkData({},{},{},{}...({}))",
                self.slot_id,
                self.slot_version,
                self.sig,
                hex(&self.data[..128]),
                self.data.len()
            )
        }
    }
}

impl StacksMessageCodec for StackerDBChunkData {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.slot_id)?;
        write_next(fd, &self.slot_version)?;
        write_next(fd, &self.sig)?;
        write_length_prefixed(fd, &self.data)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let slot_id = read_next(fd)?;
        let slot_version = read_next(fd)?;
        let sig = read_next(fd)?;
        let len: u32 = read_next(fd)?;
        if len > STACKERDB_MAX_CHUNK_SIZE {
            return Err(CodecError::DeserializeError(format!(
                "Array has too many items ({len} > {STACKERDB_MAX_CHUNK_SIZE})"
            )));
        }
        let data = read_bytes(fd, len as usize)?;
        Ok(StackerDBChunkData {
            slot_id,
            slot_version,
            sig,
            data,
        })
    }
}

/// The node's answer to a chunk upload. Absent fields are omitted in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackerDBChunkAckData {
    /// Whether the chunk was stored.
    pub accepted: bool,
    /// Why not (the node writes a JSON string `{"code","message","reason"}` here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The slot as now stored (for codes 0 and 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<SlotMetadata>,
    /// The rejection code ([`StackerDBErrorCodes`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
}

impl std::fmt::Display for StackerDBChunkAckData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Why the node refused a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum StackerDBErrorCodes {
    /// The slot already holds this version or a later one.
    DataAlreadyExists = 0,
    /// The slot does not exist.
    NoSuchSlot = 1,
    /// The signature is not from the slot's owner.
    BadSigner = 2,
}

impl StackerDBErrorCodes {
    /// The code's number.
    pub fn code(&self) -> u32 {
        *self as u32
    }

    /// The code for a number, if known.
    pub fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(Self::DataAlreadyExists),
            1 => Some(Self::NoSuchSlot),
            2 => Some(Self::BadSigner),
            _ => None,
        }
    }

    /// The node's reason text.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::DataAlreadyExists => "Data for this slot and version already exist",
            Self::NoSuchSlot => "No such StackerDB slot",
            Self::BadSigner => "Signature does not match slot signer",
        }
    }

    /// The `reason` string of a rejection ack, as the node writes it: itself JSON,
    /// `{"code":N,"message":"<name>","reason":"<text>"}`.
    pub fn reason_json(&self) -> String {
        serde_json::json!({
            "code": self.code(),
            "message": self.name(),
            "reason": self.reason(),
        })
        .to_string()
    }

    /// The rejection ack for this code, carrying the slot as stored (if any).
    pub fn ack(&self, metadata: Option<SlotMetadata>) -> StackerDBChunkAckData {
        StackerDBChunkAckData {
            accepted: false,
            reason: Some(self.reason_json()),
            metadata,
            code: Some(self.code()),
        }
    }

    /// The code's name, as the node writes it in `message`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::DataAlreadyExists => "DataAlreadyExists",
            Self::NoSuchSlot => "NoSuchSlot",
            Self::BadSigner => "BadSigner",
        }
    }
}

/// The node's `/stackerdb_chunks` event: the chunks just written to one StackerDB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackerDBChunksEvent {
    /// The StackerDB contract (JSON: the derived `{"issuer":[v,[..]],"name":..}` form).
    pub contract_id: QualifiedContractIdentifier,
    /// The chunks written.
    pub modified_slots: Vec<StackerDBChunkData>,
}

fn stackerdb_base_path(contract: &QualifiedContractIdentifier) -> String {
    format!(
        "/v2/stackerdb/{}/{}",
        contract.issuer_address(),
        contract.name
    )
}

/// `GET` path listing a StackerDB's slot metadata: `/v2/stackerdb/{addr}/{name}`.
pub fn stackerdb_get_metadata_path(contract: &QualifiedContractIdentifier) -> String {
    stackerdb_base_path(contract)
}

/// `GET` path of a chunk: `.../{slot}` for the latest, `.../{slot}/{version}` for a version.
pub fn stackerdb_get_chunk_path(
    contract: &QualifiedContractIdentifier,
    slot_id: u32,
    slot_version: Option<u32>,
) -> String {
    match slot_version {
        Some(version) => format!("{}/{slot_id}/{version}", stackerdb_base_path(contract)),
        None => format!("{}/{slot_id}", stackerdb_base_path(contract)),
    }
}

/// `POST` path for uploading chunks: `.../chunks`.
pub fn stackerdb_post_chunk_path(contract: &QualifiedContractIdentifier) -> String {
    format!("{}/chunks", stackerdb_base_path(contract))
}

/// Parses the node's answer to a metadata request ([`stackerdb_get_metadata_path`]): a JSON
/// array of [`SlotMetadata`]. Never panics, whatever the bytes.
pub fn parse_slot_metadata_list(body: &[u8]) -> Result<Vec<SlotMetadata>, crate::RPCError> {
    serde_json::from_slice(body).map_err(|e| crate::RPCError::Deserialize(format!("{e:?}")))
}

/// Parses the node's answer to a chunk upload ([`stackerdb_post_chunk_path`]): a JSON
/// [`StackerDBChunkAckData`]. Never panics, whatever the bytes.
pub fn parse_chunk_ack(body: &[u8]) -> Result<StackerDBChunkAckData, crate::RPCError> {
    serde_json::from_slice(body).map_err(|e| crate::RPCError::Deserialize(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_key() -> StacksPrivateKey {
        StacksPrivateKey::from_hex(
            "4bbe4e7dc879afedf4bf258a7385cf78ccf3a68a77f9cfc624f433d009f812f901",
        )
        .unwrap()
    }

    #[test]
    fn signed_chunk_verifies_against_its_owner_only() {
        let key = test_key();
        let addr = StacksAddress::p2pkh(true, &StacksPublicKey::from_private(&key));
        assert_eq!(
            addr.to_string(),
            "SP1Y0NECNCJ6YDVM7GQ594FF065NN3NT72FASBXB8"
        );
        let mut chunk = StackerDBChunkData::new(1, 2, b"hello".to_vec());
        chunk.sign(&key).unwrap();
        assert_eq!(chunk.verify(&addr), Ok(true));
        assert_eq!(chunk.get_slot_metadata().verify(&addr), Ok(true));
        let other = StacksAddress::p2pkh(
            true,
            &StacksPublicKey::from_private(&StacksPrivateKey::from_seed(b"x")),
        );
        assert_eq!(chunk.verify(&other), Ok(false));
    }

    #[test]
    fn paths_use_the_issuer_address() {
        let contract = QualifiedContractIdentifier::parse(
            "SP1Y0NECNCJ6YDVM7GQ594FF065NN3NT72FASBXB8.hello-world",
        )
        .unwrap();
        let base = "/v2/stackerdb/SP1Y0NECNCJ6YDVM7GQ594FF065NN3NT72FASBXB8/hello-world";
        assert_eq!(stackerdb_get_metadata_path(&contract), base);
        assert_eq!(
            stackerdb_get_chunk_path(&contract, 1, Some(2)),
            format!("{base}/1/2")
        );
        assert_eq!(
            stackerdb_get_chunk_path(&contract, 1, None),
            format!("{base}/1")
        );
        assert_eq!(
            stackerdb_post_chunk_path(&contract),
            format!("{base}/chunks")
        );
    }

    #[test]
    fn oversized_chunk_data_is_refused_before_allocation() {
        let mut bytes = vec![0u8; 8 + 65];
        bytes.extend_from_slice(&(STACKERDB_MAX_CHUNK_SIZE + 1).to_be_bytes());
        assert!(StackerDBChunkData::consensus_deserialize(&mut &bytes[..]).is_err());
    }

    #[test]
    fn debug_truncates_long_data() {
        let chunk = StackerDBChunkData::new(0, 0, vec![0xab; 200]);
        let text = format!("{chunk:?}");
        assert!(text.ends_with("...(200))"), "{text}");
    }
}
