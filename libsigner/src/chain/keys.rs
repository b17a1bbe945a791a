//! secp256k1 keys and recoverable signatures as the Stacks chain uses them.
//!
//! Signing is deterministic (RFC 6979, no extra entropy) with low-S output, exactly as
//! libsecp256k1 does it for the reference, so signatures are byte-identical. The message is
//! always a 32-byte digest, signed as is.

use std::io::{Read, Write};

use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, SecretKey, SECP256K1};
use serde::{Deserialize, Serialize};

use crate::chain::hex::{hex_bytes, to_hex};
use crate::chain::Sha256Sum;
use crate::codec::{read_array, Error as CodecError, StacksMessageCodec};

/// Why a key operation failed. The texts are the reference's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The digest to sign or verify is not 32 bytes.
    #[error("Invalid message: failed to decode data hash: must be a 32-byte hash")]
    BadMessageHash,
    /// The recovery id is over 3 or r/s are not below the curve order.
    #[error("Invalid signature: failed to decode recoverable signature")]
    BadRecoverableSignature,
    /// No public key can be recovered from this signature and digest.
    #[error("Invalid signature: failed to recover public key")]
    RecoveryFailed,
    /// The signature matches the key but is not in low-S form.
    #[error("Invalid signature: high-S")]
    HighS,
    /// The bytes are not a valid public key.
    #[error("Invalid public key: failed to load")]
    BadPublicKey,
    /// A private key shorter than 32 bytes.
    #[error("Invalid private key: shorter than 32 bytes")]
    PrivateKeyTooShort,
    /// A private key longer than 33 bytes.
    #[error("Invalid private key: greater than 33 bytes")]
    PrivateKeyTooLong,
    /// A 33-byte private key whose last byte is not `01`.
    #[error("Invalid private key: invalid compressed byte marker")]
    BadCompressionMarker,
    /// The 32 bytes are not a valid secret key (zero or not below the curve order).
    #[error("Invalid private key: failed to load")]
    BadPrivateKey,
    /// The text is not hex.
    #[error("Invalid hex string")]
    BadHex,
}

/// A 65-byte recoverable signature in **VRS** order: recovery id, then r, then s.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageSignature(pub [u8; 65]);

impl MessageSignature {
    /// The all-zero signature, which never verifies.
    pub const fn empty() -> Self {
        MessageSignature([0u8; 65])
    }

    /// Whether this is the all-zero signature.
    pub fn is_empty(&self) -> bool {
        self.0 == [0u8; 65]
    }

    /// Takes 65 raw VRS bytes; `None` for any other length.
    pub fn from_raw(bytes: &[u8]) -> Option<Self> {
        <[u8; 65]>::try_from(bytes).ok().map(MessageSignature)
    }

    /// Parses 130 hex digits of a VRS signature.
    pub fn from_hex(text: &str) -> Result<Self, crate::chain::HexError> {
        crate::chain::hex::hex_array::<65>(text).map(MessageSignature)
    }

    /// Lowercase hex of the 65 bytes.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// The signature in `r || s || v` order.
    pub fn to_rsv(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(65);
        out.extend_from_slice(&self.0[1..]);
        out.push(self.0[0]);
        out
    }

    /// Builds a VRS signature from `r || s || v` bytes; `None` unless 65 bytes long.
    pub fn from_rsv(rsv: &[u8]) -> Option<Self> {
        if rsv.len() != 65 {
            return None;
        }
        let mut out = [0u8; 65];
        out[0] = rsv[64];
        out[1..].copy_from_slice(&rsv[..64]);
        Some(MessageSignature(out))
    }

    fn to_recoverable(self) -> Result<RecoverableSignature, KeyError> {
        let recid = RecoveryId::from_i32(i32::from(self.0[0]))
            .map_err(|_| KeyError::BadRecoverableSignature)?;
        RecoverableSignature::from_compact(&self.0[1..], recid)
            .map_err(|_| KeyError::BadRecoverableSignature)
    }

    fn from_recoverable(sig: &RecoverableSignature) -> Self {
        let (recid, compact) = sig.serialize_compact();
        let mut out = [0u8; 65];
        // A recovery id is always 0..=3.
        out[0] = recid.to_i32() as u8;
        out[1..].copy_from_slice(&compact);
        MessageSignature(out)
    }
}

impl crate::chain::hex::FixedBytes for MessageSignature {
    fn from_byte_slice(bytes: &[u8]) -> Option<Self> {
        Self::from_raw(bytes)
    }
    fn byte_slice(&self) -> &[u8] {
        &self.0
    }
}

impl Default for MessageSignature {
    fn default() -> Self {
        Self::empty()
    }
}

impl std::fmt::Display for MessageSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for MessageSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for MessageSignature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for MessageSignature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        MessageSignature::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

impl StacksMessageCodec for MessageSignature {
    const ALLOC_GUARD_SIZE: u64 = 65;

    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        fd.write_all(&self.0).map_err(CodecError::WriteError)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        read_array(fd).map(MessageSignature)
    }
}

fn message(digest: &[u8]) -> Result<Message, KeyError> {
    let bytes = <[u8; 32]>::try_from(digest).map_err(|_| KeyError::BadMessageHash)?;
    Ok(Message::from_digest(bytes))
}

/// A secp256k1 public key together with the form (compressed or not) its owner uses.
///
/// Equality and hashing include the compression flag, as the reference's derived ones do;
/// [`StacksPublicKey::verify`] ignores it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StacksPublicKey {
    key: PublicKey,
    compressed: bool,
}

impl StacksPublicKey {
    /// Parses a 33-byte compressed key (`02`/`03`) or a 65-byte uncompressed (`04`) or hybrid
    /// (`06`/`07`) key; the form sets the compression flag.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let key = PublicKey::from_slice(bytes).map_err(|_| KeyError::BadPublicKey)?;
        Ok(StacksPublicKey {
            key,
            compressed: bytes.len() == 33,
        })
    }

    /// Parses the hex of [`StacksPublicKey::from_slice`]'s input.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let bytes = hex_bytes(text).map_err(|_| KeyError::BadHex)?;
        Self::from_slice(&bytes)
    }

    /// The public key of `private_key`, compressed when the private key says so.
    pub fn from_private(private_key: &StacksPrivateKey) -> Self {
        StacksPublicKey {
            key: PublicKey::from_secret_key(SECP256K1, &private_key.key),
            compressed: private_key.compress_public,
        }
    }

    /// The key in the form its flag selects: 33 bytes compressed, 65 uncompressed.
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.compressed {
            self.key.serialize().to_vec()
        } else {
            self.key.serialize_uncompressed().to_vec()
        }
    }

    /// The 33-byte compressed form, whatever the flag.
    pub fn to_bytes_compressed(&self) -> Vec<u8> {
        self.key.serialize().to_vec()
    }

    /// Hex of [`StacksPublicKey::to_bytes`].
    pub fn to_hex(&self) -> String {
        to_hex(&self.to_bytes())
    }

    /// Whether the key is used in compressed form.
    pub fn compressed(&self) -> bool {
        self.compressed
    }

    /// Sets the form the key is used in.
    pub fn set_compressed(&mut self, compressed: bool) {
        self.compressed = compressed;
    }

    /// Recovers the (compressed) key that produced `signature` over the 32-byte `digest`.
    /// High-S signatures are accepted here.
    pub fn recover_to_pubkey(
        digest: &[u8],
        signature: &MessageSignature,
    ) -> Result<StacksPublicKey, KeyError> {
        let msg = message(digest)?;
        let sig = signature.to_recoverable()?;
        let key = SECP256K1
            .recover_ecdsa(&msg, &sig)
            .map_err(|_| KeyError::RecoveryFailed)?;
        Ok(StacksPublicKey {
            key,
            compressed: true,
        })
    }

    /// Whether `signature` over the 32-byte `digest` was made by this key.
    ///
    /// A different recovered key gives `Ok(false)`; this key with a high-S signature gives
    /// `Err(HighS)`; an unrecoverable signature is an error.
    pub fn verify(&self, digest: &[u8], signature: &MessageSignature) -> Result<bool, KeyError> {
        let recovered = Self::recover_to_pubkey(digest, signature)?;
        if recovered.key != self.key {
            return Ok(false);
        }
        let standard = signature.to_recoverable()?.to_standard();
        let mut normalized = standard;
        normalized.normalize_s();
        if normalized != standard {
            return Err(KeyError::HighS);
        }
        Ok(true)
    }
}

impl std::fmt::Debug for StacksPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StacksPublicKey")
            .field("key", &self.to_hex())
            .field("compressed", &self.compressed)
            .finish()
    }
}

impl std::fmt::Display for StacksPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[derive(Serialize, Deserialize)]
struct PublicKeyJson {
    key: String,
    compressed: bool,
}

impl Serialize for StacksPublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        PublicKeyJson {
            key: to_hex(&self.to_bytes_compressed()),
            compressed: self.compressed,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for StacksPublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = PublicKeyJson::deserialize(d)?;
        let mut pk = StacksPublicKey::from_hex(&json.key).map_err(serde::de::Error::custom)?;
        pk.compressed = json.compressed;
        Ok(pk)
    }
}

/// A secp256k1 private key and whether its public key is used compressed.
///
/// Its `Debug` form never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct StacksPrivateKey {
    key: SecretKey,
    compress_public: bool,
}

impl StacksPrivateKey {
    /// Takes 32 bytes (uncompressed public key) or 33 bytes ending in `01` (compressed).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let compress_public = match bytes.len() {
            0..=31 => return Err(KeyError::PrivateKeyTooShort),
            32 => false,
            33 if bytes[32] == 0x01 => true,
            33 => return Err(KeyError::BadCompressionMarker),
            _ => return Err(KeyError::PrivateKeyTooLong),
        };
        let key = SecretKey::from_slice(&bytes[..32]).map_err(|_| KeyError::BadPrivateKey)?;
        Ok(StacksPrivateKey {
            key,
            compress_public,
        })
    }

    /// Parses the hex of [`StacksPrivateKey::from_slice`]'s input.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let bytes = hex_bytes(text).map_err(|_| KeyError::BadHex)?;
        Self::from_slice(&bytes)
    }

    /// A key derived from `seed`: the seed itself if it is a valid key, otherwise the first
    /// valid key among SHA-256(seed), SHA-256(SHA-256(seed)), ... Always compressed.
    pub fn from_seed(seed: &[u8]) -> Self {
        let mut candidate = seed.to_vec();
        loop {
            if let Ok(key) = SecretKey::from_slice(&candidate) {
                return StacksPrivateKey {
                    key,
                    compress_public: true,
                };
            }
            candidate = Sha256Sum::from_data(&candidate).0.to_vec();
        }
    }

    /// A fresh random key (compressed), from the operating system's randomness.
    pub fn random() -> Self {
        loop {
            let mut bytes = [0u8; 32];
            if getrandom_fill(&mut bytes).is_ok() {
                if let Ok(key) = SecretKey::from_slice(&bytes) {
                    return StacksPrivateKey {
                        key,
                        compress_public: true,
                    };
                }
            }
        }
    }

    /// Hex of the 32 key bytes, followed by `01` when the public key is compressed.
    pub fn to_hex(&self) -> String {
        to_hex(&self.to_bytes())
    }

    /// The 32 key bytes, followed by `01` when the public key is compressed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = self.key.secret_bytes().to_vec();
        if self.compress_public {
            bytes.push(0x01);
        }
        bytes
    }

    /// The 32 secret bytes.
    pub fn as_slice(&self) -> [u8; 32] {
        self.key.secret_bytes()
    }

    /// Whether the public key is used compressed.
    pub fn compress_public(&self) -> bool {
        self.compress_public
    }

    /// Sets whether the public key is used compressed.
    pub fn set_compress_public(&mut self, compress: bool) {
        self.compress_public = compress;
    }

    /// Signs the 32-byte `digest` (RFC 6979, low-S) and returns the VRS signature.
    pub fn sign(&self, digest: &[u8]) -> Result<MessageSignature, KeyError> {
        let msg = message(digest)?;
        let sig = SECP256K1.sign_ecdsa_recoverable(&msg, &self.key);
        Ok(MessageSignature::from_recoverable(&sig))
    }
}

impl std::fmt::Debug for StacksPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StacksPrivateKey(<redacted>)")
    }
}

#[derive(Serialize, Deserialize)]
struct PrivateKeyJson {
    key: String,
    compress_public: bool,
}

impl Serialize for StacksPrivateKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        PrivateKeyJson {
            key: to_hex(&self.key.secret_bytes()),
            compress_public: self.compress_public,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for StacksPrivateKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = PrivateKeyJson::deserialize(d)?;
        let mut sk = StacksPrivateKey::from_hex(&json.key).map_err(serde::de::Error::custom)?;
        sk.compress_public = json.compress_public;
        Ok(sk)
    }
}

/// Fills `buf` from the operating system's random source.
fn getrandom_fill(buf: &mut [u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::open("/dev/urandom")?;
    file.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_that_is_a_valid_key_is_used_as_is() {
        let sk = StacksPrivateKey::from_seed(&[2u8; 32]);
        assert_eq!(sk.to_hex(), format!("{}01", "02".repeat(32)));
        assert_eq!(
            StacksPublicKey::from_private(&sk).to_hex(),
            "024d4b6cd1361032ca9bd2aeb9d900aa4d45d9ead80ac9423374c451a7254d0766"
        );
    }

    #[test]
    fn short_seed_is_hashed_until_valid() {
        let sk = StacksPrivateKey::from_seed(&[0u8]);
        assert_eq!(
            sk.to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d01"
        );
    }

    #[test]
    fn private_key_lengths_and_marker() {
        assert_eq!(
            StacksPrivateKey::from_slice(&[1u8; 31]),
            Err(KeyError::PrivateKeyTooShort)
        );
        assert_eq!(
            StacksPrivateKey::from_slice(&[1u8; 34]),
            Err(KeyError::PrivateKeyTooLong)
        );
        let mut bytes = [1u8; 33];
        bytes[32] = 2;
        assert_eq!(
            StacksPrivateKey::from_slice(&bytes),
            Err(KeyError::BadCompressionMarker)
        );
        assert!(!StacksPrivateKey::from_slice(&[1u8; 32])
            .unwrap()
            .compress_public());
    }

    #[test]
    fn sign_recover_verify_round_trip() {
        let sk = StacksPrivateKey::from_seed(b"round trip");
        let pk = StacksPublicKey::from_private(&sk);
        let digest = Sha256Sum::from_data(b"hello").0;
        let sig = sk.sign(&digest).unwrap();
        assert_eq!(
            StacksPublicKey::recover_to_pubkey(&digest, &sig).unwrap(),
            pk
        );
        assert_eq!(pk.verify(&digest, &sig), Ok(true));
        assert_eq!(sk.sign(&digest[..31]), Err(KeyError::BadMessageHash));
    }

    #[test]
    fn private_key_debug_is_redacted() {
        let sk = StacksPrivateKey::from_seed(b"secret");
        assert!(!format!("{sk:?}").contains(&sk.to_hex()[..16]));
    }

    #[test]
    fn empty_signature_does_not_recover() {
        let digest = [7u8; 32];
        assert!(StacksPublicKey::recover_to_pubkey(&digest, &MessageSignature::empty()).is_err());
    }
}
