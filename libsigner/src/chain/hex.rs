//! Lowercase hex encoding and strict hex decoding (no `0x` prefix), as the reference does it.

use std::fmt::Write as _;

/// Why a hex string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The string has an odd length, or decodes to the wrong number of bytes for the type.
    #[error("bad length {0} for hex string")]
    BadLength(usize),
    /// The string holds a character that is not a hex digit.
    #[error("bad character {0} for hex string")]
    BadCharacter(char),
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn nibble(c: u8) -> Result<u8, HexError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(HexError::BadCharacter(c as char)),
    }
}

/// Decodes hex digits of either case; a `0x` prefix is not accepted.
pub fn hex_bytes(s: &str) -> Result<Vec<u8>, HexError> {
    if s.len() % 2 != 0 {
        return Err(HexError::BadLength(s.len()));
    }
    s.as_bytes()
        .chunks_exact(2)
        .map(|pair| Ok(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// Decodes hex into exactly `N` bytes.
pub fn hex_array<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let bytes = hex_bytes(s)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| HexError::BadLength(s.len()))
}

/// A fixed-size byte value (a hash, an id, a signature) that can be built from and viewed as
/// bytes; the serde helpers below work with any of them.
pub trait FixedBytes: Sized {
    /// The value with these bytes, or `None` if the length is wrong.
    fn from_byte_slice(bytes: &[u8]) -> Option<Self>;
    /// The value's bytes.
    fn byte_slice(&self) -> &[u8];
}

/// Serde helpers for the node's `0x`-prefixed hex fields (`prefix_hex` in the reference).
///
/// As in the reference, decoding drops the first two characters **without checking** that
/// they are `0x`; a string shorter than two characters is an error.
pub mod serde_prefix_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::FixedBytes;

    /// Writes `0x` followed by lowercase hex.
    pub fn serialize<T: FixedBytes, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", super::to_hex(value.byte_slice())))
    }

    /// Reads a `0x`-prefixed hex string (the prefix itself is not checked).
    pub fn deserialize<'de, T: FixedBytes, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    pub(super) fn parse<T: FixedBytes>(text: &str) -> Result<T, String> {
        let digits = text
            .get(2..)
            .ok_or_else(|| "expected a hex string of at least length 2".to_string())?;
        let bytes = super::hex_bytes(digits).map_err(|e| e.to_string())?;
        let len = bytes.len();
        T::from_byte_slice(&bytes).ok_or_else(|| format!("bad length {len} for hex value"))
    }
}

/// Like [`serde_prefix_hex`] for optional values: `null` (or an absent field, with
/// `#[serde(default)]`) is `None`.
pub mod serde_prefix_opt_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::FixedBytes;

    /// Writes `null` or `0x` followed by lowercase hex.
    pub fn serialize<T: FixedBytes, S: Serializer>(
        value: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => super::serde_prefix_hex::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    /// Reads `null` or a `0x`-prefixed hex string.
    pub fn deserialize<'de, T: FixedBytes, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => super::serde_prefix_hex::parse(&text)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// Serde helpers for byte vectors written as plain hex strings.
pub mod serde_hex_vec {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `bytes` as a lowercase hex string.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::to_hex(bytes))
    }

    /// Reads a hex string into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        super::hex_bytes(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_prints_lowercase() {
        assert_eq!(to_hex(&[0xAB, 0x01]), "ab01");
        assert_eq!(hex_bytes("AB01").unwrap(), vec![0xab, 0x01]);
    }

    #[test]
    fn refuses_prefix_odd_length_and_bad_chars() {
        assert_eq!(hex_bytes("0x00"), Err(HexError::BadCharacter('x')));
        assert_eq!(hex_bytes("abc"), Err(HexError::BadLength(3)));
        assert_eq!(hex_bytes("zz"), Err(HexError::BadCharacter('z')));
        assert!(hex_array::<2>("aabbcc").is_err());
    }

    #[test]
    fn prefix_hex_drops_two_characters_unchecked() {
        use crate::chain::ConsensusHash;
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Wrapper {
            #[serde(with = "serde_prefix_hex")]
            ch: ConsensusHash,
            #[serde(with = "serde_prefix_opt_hex", default)]
            opt: Option<ConsensusHash>,
        }
        let w = Wrapper {
            ch: ConsensusHash([0xab; 20]),
            opt: None,
        };
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(
            json,
            format!("{{\"ch\":\"0x{}\",\"opt\":null}}", "ab".repeat(20))
        );
        let odd: Wrapper =
            serde_json::from_str(&format!("{{\"ch\":\"zz{}\"}}", "ab".repeat(20))).unwrap();
        assert_eq!(odd, w);
        assert!(serde_json::from_str::<Wrapper>("{\"ch\":\"0\"}").is_err());
    }

    #[test]
    fn decodes_multibyte_chars_as_errors_not_panics() {
        assert!(hex_bytes("é0").is_err());
    }
}
