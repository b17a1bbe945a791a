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
    fn decodes_multibyte_chars_as_errors_not_panics() {
        assert!(hex_bytes("é0").is_err());
    }
}
