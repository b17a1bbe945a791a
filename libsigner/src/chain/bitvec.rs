//! A length-bounded bit vector: the block header's `pox_treatment` (`BitVec<4000>`), one bit
//! per reward slot. Bit `i` is `data[i / 8] & (1 << (i % 8))`, least significant bit first.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::chain::hex::{hex_bytes, to_hex};
use crate::codec::{
    read_next, read_next_exact, write_next, Error as CodecError, StacksMessageCodec,
};

/// Why a bit vector could not be built or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BitVecError {
    /// Zero bits.
    #[error("BitVec length must be positive")]
    Empty,
    /// More bits than the type allows.
    #[error("BitVec length is too long. Max size = {max}, Input len = {len}")]
    TooLong {
        /// The type's maximum.
        max: u16,
        /// The requested length.
        len: usize,
    },
    /// An index past the end.
    #[error("Index `{index}` outside of bitvec length `{len}`")]
    OutOfRange {
        /// The index.
        index: u16,
        /// The length.
        len: u16,
    },
}

/// A bit vector of 1 to `MAX` bits. On the wire: `len u16 || u32 byte_count || bytes`, where
/// `byte_count` must be exactly `ceil(len / 8)`; padding bits are kept as they came.
/// Its JSON form is the hex of that encoding.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BitVec<const MAX: u16> {
    data: Vec<u8>,
    len: u16,
}

fn byte_len(len: u16) -> usize {
    usize::from(len).div_ceil(8)
}

impl<const MAX: u16> BitVec<MAX> {
    fn check_len(len: usize) -> Result<u16, BitVecError> {
        match u16::try_from(len) {
            Ok(l) if l <= MAX => Ok(l),
            _ => Err(BitVecError::TooLong { max: MAX, len }),
        }
    }

    /// `len` bits, all clear. (A zero length is allowed here but cannot be decoded, as in
    /// the reference.)
    pub fn zeros(len: u16) -> Result<Self, BitVecError> {
        let len = Self::check_len(usize::from(len))?;
        Ok(BitVec {
            data: vec![0; byte_len(len)],
            len,
        })
    }

    /// `len` bits, all set (padding bits stay clear).
    pub fn ones(len: u16) -> Result<Self, BitVecError> {
        let mut bits = Self::zeros(len)?;
        for i in 0..len {
            bits.set(i, true)?;
        }
        Ok(bits)
    }

    /// The number of bits.
    pub fn len(&self) -> u16 {
        self.len
    }

    /// Whether there are no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bit `i`, or `None` past the end.
    pub fn get(&self, i: u16) -> Option<bool> {
        if i >= self.len {
            return None;
        }
        let byte = self.data.get(usize::from(i / 8))?;
        Some(byte & (1 << (i % 8)) != 0)
    }

    /// Sets bit `i` to `value`.
    pub fn set(&mut self, i: u16, value: bool) -> Result<(), BitVecError> {
        let out_of_range = BitVecError::OutOfRange {
            index: i,
            len: self.len,
        };
        if i >= self.len {
            return Err(out_of_range);
        }
        let byte = self.data.get_mut(usize::from(i / 8)).ok_or(out_of_range)?;
        if value {
            *byte |= 1 << (i % 8);
        } else {
            *byte &= !(1 << (i % 8));
        }
        Ok(())
    }

    /// Clears every bit (and the padding).
    pub fn clear(&mut self) {
        self.data.iter_mut().for_each(|b| *b = 0);
    }

    /// The bits in order.
    pub fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len).map(|i| self.get(i).unwrap_or(false))
    }

    /// The bits as `0`/`1` characters, bit 0 first.
    pub fn binary_str(&self) -> String {
        self.iter().map(|b| if b { '1' } else { '0' }).collect()
    }

    /// The raw bytes (padding bits included).
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

impl<const MAX: u16> TryFrom<&[bool]> for BitVec<MAX> {
    type Error = BitVecError;
    fn try_from(bits: &[bool]) -> Result<Self, BitVecError> {
        if bits.is_empty() {
            return Err(BitVecError::Empty);
        }
        let len = Self::check_len(bits.len())?;
        let mut out = Self::zeros(len)?;
        for (i, bit) in bits.iter().enumerate() {
            if *bit {
                out.set(i as u16, true)?;
            }
        }
        Ok(out)
    }
}

impl<const MAX: u16> StacksMessageCodec for BitVec<MAX> {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.len)?;
        write_next(fd, &self.data)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let len: u16 = read_next(fd)?;
        if len == 0 {
            return Err(CodecError::DeserializeError(
                "BitVec lengths must be positive".to_string(),
            ));
        }
        if len > MAX {
            return Err(CodecError::DeserializeError(format!(
                "BitVec length exceeded maximum. Max size = {MAX}, len = {len}"
            )));
        }
        let data = read_next_exact(fd, byte_len(len) as u32)?;
        Ok(BitVec { data, len })
    }
}

impl<const MAX: u16> std::fmt::Debug for BitVec<MAX> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BitVec({})", self.binary_str())
    }
}

impl<const MAX: u16> Serialize for BitVec<MAX> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(&self.serialize_to_vec()))
    }
}

impl<'de, const MAX: u16> Deserialize<'de> for BitVec<MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex_bytes(&text).map_err(serde::de::Error::custom)?;
        Self::consensus_deserialize(&mut &bytes[..]).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_8_encodes_like_the_reference() {
        let bits = BitVec::<4000>::zeros(8).unwrap();
        assert_eq!(to_hex(&bits.serialize_to_vec()), "00080000000100");
        assert_eq!(serde_json::to_string(&bits).unwrap(), "\"00080000000100\"");
    }

    #[test]
    fn binary_string_round_trip() {
        let pattern: Vec<bool> = "1001010000".chars().map(|c| c == '1').collect();
        let bits = BitVec::<4000>::try_from(pattern.as_slice()).unwrap();
        assert_eq!(bits.binary_str(), "1001010000");
        assert_eq!(bits.get(3), Some(true));
        assert_eq!(bits.get(10), None);
    }

    #[test]
    fn decode_rules() {
        assert!(BitVec::<4000>::consensus_deserialize(&mut &[0u8, 0, 0, 0, 0, 0][..]).is_err());
        assert!(BitVec::<8>::consensus_deserialize(&mut &[0u8, 9, 0, 0, 0, 2, 0, 0][..]).is_err());
        // byte count must be exactly ceil(len / 8)
        assert!(BitVec::<4000>::consensus_deserialize(&mut &[0u8, 9, 0, 0, 0, 1, 0][..]).is_err());
        let ok =
            BitVec::<4000>::consensus_deserialize(&mut &[0u8, 3, 0, 0, 0, 1, 0xff][..]).unwrap();
        assert_eq!(ok.binary_str(), "111");
        // padding bits survive re-encoding
        assert_eq!(ok.serialize_to_vec(), vec![0, 3, 0, 0, 0, 1, 0xff]);
    }

    #[test]
    fn ones_and_set_bounds() {
        let mut bits = BitVec::<16>::ones(4).unwrap();
        assert_eq!(bits.data(), &[0x0f]);
        assert!(bits.set(4, true).is_err());
        bits.set(1, false).unwrap();
        assert_eq!(bits.binary_str(), "1011");
        assert!(BitVec::<16>::zeros(17).is_err());
    }
}
