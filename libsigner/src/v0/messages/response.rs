//! A signer's answer to a block proposal: accepted (with its signature) or rejected (with a
//! SIP-018 signed rejection), plus the versioned metadata and response data both carry.

use std::fmt;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::reject::{RejectCode, RejectReason};
use super::structured::block_rejection_hash;
use super::{ValidateRejectCode, BLOCK_RESPONSE_DATA_MAX_SIZE};
use crate::chain::{
    KeyError, MessageSignature, Sha256Sum, Sha512Trunc256Sum, StacksPrivateKey, StacksPublicKey,
    CHAIN_ID_MAINNET, CHAIN_ID_TESTNET,
};
use crate::codec::{
    read_next, read_next_at_most, write_length_prefixed, write_next, Error as CodecError,
    StacksMessageCodec,
};
use crate::define_u8_enum;
use crate::VERSION_STRING;

/// The block response data version this implementation writes.
pub const BLOCK_RESPONSE_DATA_VERSION: u8 = 4;
/// The first block response data version that carries the read-count tenure-extend
/// timestamp.
pub const FIRST_RESPONSE_DATA_VERSION_WITH_READ_COUNT: u8 = 4;

define_u8_enum! {
    /// The wire byte of a [`BlockResponse`].
    pub enum BlockResponseTypePrefix {
        /// An accepted block.
        Accepted = 0,
        /// A rejected block.
        Rejected = 1,
    }
}

impl TryFrom<u8> for BlockResponseTypePrefix {
    type Error = CodecError;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Self::from_u8(value).ok_or_else(|| {
            CodecError::DeserializeError(format!("Unknown block response type prefix: {value}"))
        })
    }
}

impl From<&BlockResponse> for BlockResponseTypePrefix {
    fn from(response: &BlockResponse) -> Self {
        match response {
            BlockResponse::Accepted(_) => Self::Accepted,
            BlockResponse::Rejected(_) => Self::Rejected,
        }
    }
}

/// A signer's response to a block proposal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BlockResponse {
    /// The block was accepted and signed.
    Accepted(BlockAccepted),
    /// The block was rejected.
    Rejected(BlockRejection),
}

impl BlockResponse {
    /// An acceptance of the block with `signer_signature_hash`, carrying the signer's
    /// `signature` over that hash and its tenure-extend timestamps.
    pub fn accepted(
        signer_signature_hash: Sha512Trunc256Sum,
        signature: MessageSignature,
        full_extend_ts: u64,
        read_count_extend_ts: u64,
    ) -> Self {
        Self::Accepted(BlockAccepted::new(
            signer_signature_hash,
            signature,
            full_extend_ts,
            read_count_extend_ts,
        ))
    }

    /// A rejection of the block with `hash` for `reject_reason`, signed with `private_key`.
    pub fn rejected(
        hash: Sha512Trunc256Sum,
        reject_reason: RejectReason,
        private_key: &StacksPrivateKey,
        mainnet: bool,
        full_extend_ts: u64,
        read_count_extend_ts: u64,
    ) -> Self {
        Self::Rejected(BlockRejection::new(
            hash,
            reject_reason,
            private_key,
            mainnet,
            full_extend_ts,
            read_count_extend_ts,
        ))
    }

    /// When this signer would accept a time-based tenure extend.
    pub fn get_tenure_extend_timestamp(&self) -> u64 {
        self.get_response_data().tenure_extend_timestamp
    }

    /// The signer signature hash of the block this responds to.
    pub fn get_signer_signature_hash(&self) -> &Sha512Trunc256Sum {
        match self {
            BlockResponse::Accepted(accepted) => &accepted.signer_signature_hash,
            BlockResponse::Rejected(rejection) => &rejection.signer_signature_hash,
        }
    }

    /// The versioned response data.
    pub fn get_response_data(&self) -> &BlockResponseData {
        match self {
            BlockResponse::Accepted(accepted) => &accepted.response_data,
            BlockResponse::Rejected(rejection) => &rejection.response_data,
        }
    }

    /// The acceptance, if this is one.
    pub fn as_block_accepted(&self) -> Option<&BlockAccepted> {
        match self {
            BlockResponse::Accepted(accepted) => Some(accepted),
            BlockResponse::Rejected(_) => None,
        }
    }

    /// The rejection, if this is one.
    pub fn as_block_rejection(&self) -> Option<&BlockRejection> {
        match self {
            BlockResponse::Rejected(rejection) => Some(rejection),
            BlockResponse::Accepted(_) => None,
        }
    }
}

impl From<BlockAccepted> for BlockResponse {
    fn from(accepted: BlockAccepted) -> Self {
        BlockResponse::Accepted(accepted)
    }
}

impl From<BlockRejection> for BlockResponse {
    fn from(rejection: BlockRejection) -> Self {
        BlockResponse::Rejected(rejection)
    }
}

impl fmt::Display for BlockResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockResponse::Accepted(a) => write!(
                f,
                "BlockAccepted: signer_signature_hash = {}, signature = {}, version = {}",
                a.signer_signature_hash, a.signature, a.metadata.server_version
            ),
            // The labels do not match the values; this is the reference's text.
            BlockResponse::Rejected(r) => write!(
                f,
                "BlockRejected: signer_signature_hash = {}, code = {}, reason = {}, signature = {}, version = {}",
                r.reason_code, r.reason, r.signer_signature_hash, r.signature, r.metadata.server_version
            ),
        }
    }
}

impl StacksMessageCodec for BlockResponse {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &BlockResponseTypePrefix::from(self).to_u8())?;
        match self {
            BlockResponse::Accepted(accepted) => write_next(fd, accepted),
            BlockResponse::Rejected(rejection) => write_next(fd, rejection),
        }
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let byte: u8 = read_next(fd)?;
        Ok(match BlockResponseTypePrefix::try_from(byte)? {
            BlockResponseTypePrefix::Accepted => BlockResponse::Accepted(read_next(fd)?),
            BlockResponseTypePrefix::Rejected => BlockResponse::Rejected(read_next(fd)?),
        })
    }
}

/// The sender's software version, appended to signer messages.
///
/// Decoding is lenient for old messages that end before it: any failure to read the
/// length-prefixed bytes (end of input, a length past the end, a length over the allocation
/// limit) gives [`SignerMessageMetadata::empty`], with whatever was read lost. Bytes that
/// are not UTF-8 are an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignerMessageMetadata {
    /// The sender's version string.
    pub server_version: String,
}

impl SignerMessageMetadata {
    /// Metadata with an empty version string (what a message without metadata decodes to).
    pub fn empty() -> Self {
        Self {
            server_version: String::new(),
        }
    }
}

impl Default for SignerMessageMetadata {
    /// This signer's [`VERSION_STRING`].
    fn default() -> Self {
        Self {
            server_version: VERSION_STRING.to_string(),
        }
    }
}

impl StacksMessageCodec for SignerMessageMetadata {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_length_prefixed(fd, self.server_version.as_bytes())
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        // Read as a byte vector, one byte at a time after the length, so a length past the
        // end consumes everything left, exactly as the reference does.
        let Ok(bytes) = read_next::<Vec<u8>, _>(fd) else {
            return Ok(Self::empty());
        };
        let server_version = String::from_utf8(bytes).map_err(|e| {
            CodecError::DeserializeError(format!("Failed to decode server version: {e:?}"))
        })?;
        Ok(Self { server_version })
    }
}

/// Versioned, forward-compatible data appended to block responses:
/// `version || LP(ts || reason || [read_ts if version >= 4] || unknown_bytes)`.
///
/// Encoding always writes `read_ts`, so a decoded version < 4 message does not re-encode to
/// its own bytes: eight `0xff` bytes are inserted, and since those then decode as unknown
/// bytes, every decode/encode cycle of such a message grows it by eight more.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockResponseData {
    /// The data version.
    pub version: u8,
    /// When this signer would accept a time-based tenure extend.
    pub tenure_extend_timestamp: u64,
    /// Why the block was rejected, or `NotRejected`.
    pub reject_reason: RejectReason,
    /// When this signer would accept a read-count tenure extend (`u64::MAX` before v4).
    pub tenure_extend_read_count_timestamp: u64,
    /// Bytes of a newer version this one does not understand.
    pub unknown_bytes: Vec<u8>,
}

impl BlockResponseData {
    /// Current-version data with the given timestamps and reason.
    pub fn new(
        tenure_extend_timestamp: u64,
        reject_reason: RejectReason,
        tenure_extend_read_count_timestamp: u64,
    ) -> Self {
        Self {
            version: BLOCK_RESPONSE_DATA_VERSION,
            tenure_extend_timestamp,
            reject_reason,
            tenure_extend_read_count_timestamp,
            unknown_bytes: vec![],
        }
    }

    /// What a response without data decodes to: timestamps `u64::MAX`, `NotRejected`.
    pub fn empty() -> Self {
        Self::new(u64::MAX, RejectReason::NotRejected, u64::MAX)
    }

    fn inner_bytes(&self) -> Result<Vec<u8>, CodecError> {
        let mut inner = Vec::new();
        write_next(&mut inner, &self.tenure_extend_timestamp)?;
        write_next(&mut inner, &self.reject_reason)?;
        write_next(&mut inner, &self.tenure_extend_read_count_timestamp)?;
        inner.extend_from_slice(&self.unknown_bytes);
        Ok(inner)
    }
}

impl StacksMessageCodec for BlockResponseData {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.version)?;
        write_length_prefixed(fd, &self.inner_bytes()?)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let Ok(version) = read_next::<u8, _>(fd) else {
            return Ok(Self::empty());
        };
        let inner: Vec<u8> = read_next_at_most(fd, BLOCK_RESPONSE_DATA_MAX_SIZE)?;
        let mut reader = inner.as_slice();
        let tenure_extend_timestamp = read_next(&mut reader)?;
        let reject_reason = read_next(&mut reader)?;
        let tenure_extend_read_count_timestamp =
            if version < FIRST_RESPONSE_DATA_VERSION_WITH_READ_COUNT {
                u64::MAX
            } else {
                read_next(&mut reader)?
            };
        Ok(Self {
            version,
            tenure_extend_timestamp,
            reject_reason,
            tenure_extend_read_count_timestamp,
            unknown_bytes: reader.to_vec(),
        })
    }
}

/// A signer's acceptance of a block: its signature over the block's signer signature hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockAccepted {
    /// The signer signature hash of the accepted block.
    pub signer_signature_hash: Sha512Trunc256Sum,
    /// The signer's signature over that hash (the raw 32 bytes are signed).
    pub signature: MessageSignature,
    /// The sender's version.
    pub metadata: SignerMessageMetadata,
    /// Versioned response data.
    pub response_data: BlockResponseData,
}

impl BlockAccepted {
    /// An acceptance with this signer's metadata and current-version response data.
    pub fn new(
        signer_signature_hash: Sha512Trunc256Sum,
        signature: MessageSignature,
        full_extend_ts: u64,
        read_count_extend_ts: u64,
    ) -> Self {
        Self {
            signer_signature_hash,
            signature,
            metadata: SignerMessageMetadata::default(),
            response_data: BlockResponseData::new(
                full_extend_ts,
                RejectReason::NotRejected,
                read_count_extend_ts,
            ),
        }
    }
}

impl StacksMessageCodec for BlockAccepted {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.signer_signature_hash)?;
        write_next(fd, &self.signature)?;
        write_next(fd, &self.metadata)?;
        write_next(fd, &self.response_data)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        Ok(Self {
            signer_signature_hash: read_next(fd)?,
            signature: read_next(fd)?,
            metadata: read_next(fd)?,
            response_data: read_next(fd)?,
        })
    }
}

/// A signer's rejection of a block, signed over a SIP-018 digest (see
/// [`BlockRejection::hash`]).
///
/// On the wire `chain_id` comes before `signature`, the opposite of the field order here
/// (which is also the JSON order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockRejection {
    /// Human-readable reason.
    pub reason: String,
    /// The reason code.
    pub reason_code: RejectCode,
    /// The signer signature hash of the rejected block.
    pub signer_signature_hash: Sha512Trunc256Sum,
    /// The signer's signature over [`BlockRejection::hash`].
    pub signature: MessageSignature,
    /// The chain id the rejection is for.
    pub chain_id: u32,
    /// The sender's version.
    pub metadata: SignerMessageMetadata,
    /// Versioned response data.
    pub response_data: BlockResponseData,
}

fn chain_id_for(mainnet: bool) -> u32 {
    if mainnet {
        CHAIN_ID_MAINNET
    } else {
        CHAIN_ID_TESTNET
    }
}

impl BlockRejection {
    /// A rejection of the block with `signer_signature_hash` for `reject_reason`, signed
    /// with `private_key`. The `reason` text is the reason's display text.
    pub fn new(
        signer_signature_hash: Sha512Trunc256Sum,
        reject_reason: RejectReason,
        private_key: &StacksPrivateKey,
        mainnet: bool,
        full_extend_ts: u64,
        read_count_extend_ts: u64,
    ) -> Self {
        let mut rejection = Self {
            reason: reject_reason.to_string(),
            reason_code: RejectCode::from(&reject_reason),
            signer_signature_hash,
            signature: MessageSignature::empty(),
            chain_id: chain_id_for(mainnet),
            metadata: SignerMessageMetadata::default(),
            response_data: BlockResponseData::new(
                full_extend_ts,
                reject_reason,
                read_count_extend_ts,
            ),
        };
        rejection.sign(private_key);
        rejection
    }

    /// A rejection relaying the node's validation failure: the node's `reason` text and
    /// `ValidationFailed(reason_code)` as both code and response-data reason. (The
    /// reference takes the node's `BlockValidateReject`; this takes its three fields so the
    /// message types do not depend on the event types.)
    pub fn from_validate_rejection(
        signer_signature_hash: Sha512Trunc256Sum,
        reason: String,
        reason_code: ValidateRejectCode,
        private_key: &StacksPrivateKey,
        mainnet: bool,
        full_extend_ts: u64,
        read_count_extend_ts: u64,
    ) -> Self {
        let reject_code = RejectCode::ValidationFailed(reason_code);
        let mut rejection = Self {
            reason,
            response_data: BlockResponseData::new(
                full_extend_ts,
                RejectReason::from(&reject_code),
                read_count_extend_ts,
            ),
            reason_code: reject_code,
            signer_signature_hash,
            signature: MessageSignature::empty(),
            chain_id: chain_id_for(mainnet),
            metadata: SignerMessageMetadata::default(),
        };
        rejection.sign(private_key);
        rejection
    }

    /// The signed digest: SIP-018 with domain (`block-rejection`, `1.0.0`, `chain_id`) over
    /// the `(buff 32)` signer signature hash.
    pub fn hash(&self) -> Sha256Sum {
        block_rejection_hash(self.chain_id, self.signer_signature_hash.as_bytes())
    }

    fn sign(&mut self, private_key: &StacksPrivateKey) {
        // A 32-byte digest always signs; an error would leave the empty signature, which
        // never verifies.
        if let Ok(signature) = private_key.sign(self.hash().as_bytes()) {
            self.signature = signature;
        }
    }

    /// Whether `public_key` signed this rejection. An empty signature is `Ok(false)`.
    pub fn verify(&self, public_key: &StacksPublicKey) -> Result<bool, String> {
        if self.signature.is_empty() {
            return Ok(false);
        }
        public_key
            .verify(self.hash().as_bytes(), &self.signature)
            .map_err(|e| e.to_string())
    }

    /// The key that signed this rejection.
    pub fn recover_public_key(&self) -> Result<StacksPublicKey, &'static str> {
        if self.signature.is_empty() {
            return Err("No signature to recover public key from");
        }
        StacksPublicKey::recover_to_pubkey(self.hash().as_bytes(), &self.signature)
            .map_err(key_error_text)
    }
}

/// The static text of a recovery failure.
fn key_error_text(error: KeyError) -> &'static str {
    match error {
        KeyError::BadMessageHash => {
            "Invalid message: failed to decode data hash: must be a 32-byte hash"
        }
        KeyError::BadRecoverableSignature => {
            "Invalid signature: failed to decode recoverable signature"
        }
        _ => "Invalid signature: failed to recover public key",
    }
}

impl StacksMessageCodec for BlockRejection {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_length_prefixed(fd, self.reason.as_bytes())?;
        write_next(fd, &self.reason_code)?;
        write_next(fd, &self.signer_signature_hash)?;
        write_next(fd, &self.chain_id)?;
        write_next(fd, &self.signature)?;
        write_next(fd, &self.metadata)?;
        write_next(fd, &self.response_data)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let reason_bytes: Vec<u8> = read_next(fd)?;
        let reason = String::from_utf8(reason_bytes).map_err(|e| {
            CodecError::DeserializeError(format!("Failed to decode reason string: {e:?}"))
        })?;
        let reason_code = read_next(fd)?;
        let signer_signature_hash = read_next(fd)?;
        let chain_id = read_next(fd)?;
        let signature = read_next(fd)?;
        let metadata = read_next(fd)?;
        let response_data = read_next(fd)?;
        Ok(Self {
            reason,
            reason_code,
            signer_signature_hash,
            signature,
            chain_id,
            metadata,
            response_data,
        })
    }
}
