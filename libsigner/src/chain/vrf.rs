//! The ECVRF proof a Nakamoto coinbase carries: `Gamma (32) || c (16) || s (32)`.
//!
//! Decoding checks what the reference checks: Gamma must decompress to an Edwards25519 point
//! that is not of small order, and `s` must be a canonical scalar (below the group order).
//! `c` is 16 bytes zero-extended to a scalar, so it is always canonical. Gamma is kept as the
//! decompressed point and written back in canonical form, so a non-canonical Gamma encoding
//! decodes and re-encodes to different bytes (and so changes the enclosing txid).

use std::io::{Read, Write};

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;

use crate::chain::hex::{hex_bytes, to_hex};
use crate::codec::{read_array, Error as CodecError, StacksMessageCodec};

/// Encoded size of a [`VRFProof`].
pub const VRF_PROOF_ENCODED_SIZE: u32 = 80;

/// A validated ECVRF proof, held in its canonical 80-byte encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VRFProof([u8; 80]);

impl VRFProof {
    /// Validates 80 proof bytes; `None` for any other length, a Gamma that does not
    /// decompress or has small order, or a non-canonical `s`.
    pub fn from_slice(bytes: &[u8]) -> Option<VRFProof> {
        let bytes = <&[u8; 80]>::try_from(bytes).ok()?;
        let mut gamma_bytes = [0u8; 32];
        gamma_bytes.copy_from_slice(&bytes[..32]);
        let gamma = CompressedEdwardsY(gamma_bytes).decompress()?;
        if gamma.is_small_order() {
            return None;
        }
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&bytes[48..]);
        let s: Option<Scalar> = Scalar::from_canonical_bytes(s_bytes).into();
        s?;
        let mut canonical = *bytes;
        canonical[..32].copy_from_slice(gamma.compress().as_bytes());
        Some(VRFProof(canonical))
    }

    /// Parses the hex of 80 proof bytes (see [`VRFProof::from_slice`]).
    pub fn from_hex(text: &str) -> Option<VRFProof> {
        hex_bytes(text).ok().and_then(|b| Self::from_slice(&b))
    }

    /// The canonical 80-byte encoding.
    pub fn to_bytes(&self) -> [u8; 80] {
        self.0
    }

    /// Lowercase hex of the canonical encoding.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// The Gamma point.
    pub fn gamma(&self) -> EdwardsPoint {
        let mut gamma_bytes = [0u8; 32];
        gamma_bytes.copy_from_slice(&self.0[..32]);
        // Validated at construction, so decompression succeeds; the identity is a safe
        // fallback that is never reached.
        CompressedEdwardsY(gamma_bytes)
            .decompress()
            .unwrap_or_default()
    }

    /// The 16 bytes of `c` (little-endian; the upper half of the scalar is zero).
    pub fn c(&self) -> [u8; 16] {
        let mut c = [0u8; 16];
        c.copy_from_slice(&self.0[32..48]);
        c
    }

    /// The 32 bytes of the canonical scalar `s`.
    pub fn s(&self) -> [u8; 32] {
        let mut s = [0u8; 32];
        s.copy_from_slice(&self.0[48..]);
        s
    }
}

impl std::fmt::Debug for VRFProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Display for VRFProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl serde::Serialize for VRFProof {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for VRFProof {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        VRFProof::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("VRF proof: could not parse hex"))
    }
}

impl StacksMessageCodec for VRFProof {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        fd.write_all(&self.0).map_err(CodecError::WriteError)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let bytes: [u8; 80] = read_array(fd)?;
        VRFProof::from_slice(&bytes)
            .ok_or_else(|| CodecError::DeserializeError("Failed to parse VRF proof".to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;

    fn proof_with_gamma(gamma: [u8; 32]) -> [u8; 80] {
        let mut bytes = [0u8; 80];
        bytes[..32].copy_from_slice(&gamma);
        bytes[32..48].copy_from_slice(&[7u8; 16]);
        bytes[48] = 9;
        bytes
    }

    #[test]
    fn basepoint_gamma_round_trips() {
        let bytes = proof_with_gamma(ED25519_BASEPOINT_POINT.compress().to_bytes());
        let proof = VRFProof::from_slice(&bytes).unwrap();
        assert_eq!(proof.to_bytes(), bytes);
        assert_eq!(proof.gamma(), ED25519_BASEPOINT_POINT);
        let json = serde_json::to_value(proof).unwrap();
        assert_eq!(json, serde_json::Value::String(to_hex(&bytes)));
        assert_eq!(serde_json::from_value::<VRFProof>(json).unwrap(), proof);
    }

    #[test]
    fn identity_gamma_is_small_order_and_refused() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(VRFProof::from_slice(&proof_with_gamma(identity)).is_none());
    }

    #[test]
    fn non_canonical_s_is_refused() {
        let mut bytes = proof_with_gamma(ED25519_BASEPOINT_POINT.compress().to_bytes());
        bytes[48..].copy_from_slice(&[0xff; 32]);
        assert!(VRFProof::from_slice(&bytes).is_none());
    }

    #[test]
    fn wrong_length_is_refused() {
        assert!(VRFProof::from_slice(&[1u8; 79]).is_none());
    }
}
