//! Stacks addresses and their c32check text form.
//!
//! The c32 alphabet is Crockford's base 32 (`0123456789ABCDEFGHJKMNPQRSTVWXYZ`). Decoding is
//! case-insensitive, reads `O` as `0` and `I`/`L` as `1`, and, like the reference, does not
//! check the leading `S` of an address.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::chain::{Hash160, Sha256Sum, StacksPublicKey};
use crate::codec::{read_array, Error as CodecError, StacksMessageCodec};

/// Version of a mainnet single-signature address (`SP...`).
pub const C32_ADDRESS_VERSION_MAINNET_SINGLESIG: u8 = 22;
/// Version of a mainnet multi-signature address (`SM...`).
pub const C32_ADDRESS_VERSION_MAINNET_MULTISIG: u8 = 20;
/// Version of a testnet single-signature address (`ST...`).
pub const C32_ADDRESS_VERSION_TESTNET_SINGLESIG: u8 = 26;
/// Version of a testnet multi-signature address (`SN...`).
pub const C32_ADDRESS_VERSION_TESTNET_MULTISIG: u8 = 21;

const C32_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Why a c32 string or address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum C32Error {
    /// A character outside the c32 alphabet, non-ASCII text, or too short a string.
    #[error("invalid c32 (Crockford base 32) string")]
    InvalidCrockford32,
    /// The checksum does not match the version and payload.
    #[error("bad c32check checksum")]
    BadChecksum,
    /// The version is 32 or more.
    #[error("invalid address version {0}")]
    InvalidVersion(u8),
    /// The payload is not 20 bytes.
    #[error("address payload must be 20 bytes, got {0}")]
    BadLength(usize),
}

fn c32_value(c: u8) -> Option<u8> {
    let c = c.to_ascii_uppercase();
    let c = match c {
        b'O' => b'0',
        b'I' | b'L' => b'1',
        other => other,
    };
    C32_ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

/// c32 text of `bytes`, read as one big-endian number, with one `0` per leading zero byte.
pub fn c32_encode(bytes: &[u8]) -> String {
    let mut digits: Vec<u8> = Vec::with_capacity(bytes.len() * 8 / 5 + 2);
    let mut acc: u16 = 0;
    let mut acc_bits = 0u32;
    for &b in bytes.iter().rev() {
        acc |= u16::from(b) << acc_bits;
        acc_bits += 8;
        while acc_bits >= 5 {
            digits.push((acc & 0x1f) as u8);
            acc >>= 5;
            acc_bits -= 5;
        }
    }
    if acc_bits > 0 {
        digits.push((acc & 0x1f) as u8);
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let leading_zero_bytes = bytes.iter().take_while(|&&b| b == 0).count();
    digits.extend(std::iter::repeat_n(0, leading_zero_bytes));
    digits
        .iter()
        .rev()
        .map(|&d| C32_ALPHABET[d as usize] as char)
        .collect()
}

/// Bytes of c32 text; each leading `0` character restores one leading zero byte.
pub fn c32_decode(text: &str) -> Result<Vec<u8>, C32Error> {
    if !text.is_ascii() {
        return Err(C32Error::InvalidCrockford32);
    }
    let values: Vec<u8> = text
        .bytes()
        .map(|c| c32_value(c).ok_or(C32Error::InvalidCrockford32))
        .collect::<Result<_, _>>()?;
    let mut bytes: Vec<u8> = Vec::with_capacity(values.len() * 5 / 8 + 1);
    let mut acc: u16 = 0;
    let mut acc_bits = 0u32;
    for &v in values.iter().rev() {
        acc |= u16::from(v) << acc_bits;
        acc_bits += 5;
        if acc_bits >= 8 {
            bytes.push((acc & 0xff) as u8);
            acc >>= 8;
            acc_bits -= 8;
        }
    }
    if acc_bits > 0 {
        bytes.push(acc as u8);
    }
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    let leading_zero_chars = values.iter().take_while(|&&v| v == 0).count();
    bytes.extend(std::iter::repeat_n(0, leading_zero_chars));
    bytes.reverse();
    Ok(bytes)
}

fn checksum(version: u8, data: &[u8]) -> [u8; 4] {
    let mut buf = Vec::with_capacity(data.len() + 1);
    buf.push(version);
    buf.extend_from_slice(data);
    let once = Sha256Sum::from_data(&buf);
    let twice = Sha256Sum::from_data(&once.0);
    [twice.0[0], twice.0[1], twice.0[2], twice.0[3]]
}

/// The c32check address text `S` + version character + c32(data || checksum).
pub fn c32_address(version: u8, data: &[u8]) -> Result<String, C32Error> {
    if version >= 32 {
        return Err(C32Error::InvalidVersion(version));
    }
    let mut payload = data.to_vec();
    payload.extend_from_slice(&checksum(version, data));
    Ok(format!(
        "S{}{}",
        C32_ALPHABET[version as usize] as char,
        c32_encode(&payload)
    ))
}

/// The version and payload of a c32check address. Any first character is accepted, as the
/// reference does; the string must be ASCII and longer than 5 characters.
pub fn c32_address_decode(text: &str) -> Result<(u8, Vec<u8>), C32Error> {
    if !text.is_ascii() || text.len() <= 5 {
        return Err(C32Error::InvalidCrockford32);
    }
    let version_char = text.as_bytes()[1];
    let version = c32_value(version_char).ok_or(C32Error::InvalidCrockford32)?;
    let payload = c32_decode(&text[2..])?;
    if payload.len() < 5 {
        return Err(C32Error::InvalidCrockford32);
    }
    let (data, sum) = payload.split_at(payload.len() - 4);
    if checksum(version, data) != sum {
        return Err(C32Error::BadChecksum);
    }
    Ok((version, data.to_vec()))
}

/// How an address's hash is derived from its keys (the spending condition's hash mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum AddressHashMode {
    /// One key: hash160 of the key bytes.
    SerializeP2PKH = 0x00,
    /// Multisig: hash160 of the Bitcoin multisig script.
    SerializeP2SH = 0x01,
    /// One key, segwit-wrapped: hash160 of `00 14 hash160(key)`.
    SerializeP2WPKH = 0x02,
    /// Multisig, segwit-wrapped: hash160 of `00 20 sha256(script)`.
    SerializeP2WSH = 0x03,
}

/// A Stacks address: a version (below 32) and a 20-byte hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StacksAddress {
    version: u8,
    bytes: Hash160,
}

impl StacksAddress {
    /// An address with this version and hash; the version must be below 32.
    pub fn new(version: u8, bytes: Hash160) -> Result<Self, C32Error> {
        if version >= 32 {
            return Err(C32Error::InvalidVersion(version));
        }
        Ok(StacksAddress { version, bytes })
    }

    /// The address version.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The 20-byte hash.
    pub fn bytes(&self) -> &Hash160 {
        &self.bytes
    }

    /// The single-signature address of `pk`: hash160 of the key in its own form
    /// (compressed or not), version 22 (mainnet) or 26 (testnet).
    pub fn p2pkh(mainnet: bool, pk: &StacksPublicKey) -> Self {
        let version = if mainnet {
            C32_ADDRESS_VERSION_MAINNET_SINGLESIG
        } else {
            C32_ADDRESS_VERSION_TESTNET_SINGLESIG
        };
        StacksAddress {
            version,
            bytes: Hash160::from_data(&pk.to_bytes()),
        }
    }

    /// The address with a zero hash: the burn address and the issuer of boot contracts.
    pub fn burn_address(mainnet: bool) -> Self {
        let version = if mainnet {
            C32_ADDRESS_VERSION_MAINNET_SINGLESIG
        } else {
            C32_ADDRESS_VERSION_TESTNET_SINGLESIG
        };
        StacksAddress {
            version,
            bytes: Hash160::zero(),
        }
    }

    /// The address whose hash is derived from `keys` by `hash_mode` with `num_sigs`
    /// required signatures; `None` if the mode cannot take these keys (P2PKH and P2WPKH
    /// need exactly one key; P2WPKH and P2WSH need compressed keys; at most 16 keys).
    pub fn from_public_keys(
        version: u8,
        hash_mode: AddressHashMode,
        num_sigs: usize,
        keys: &[StacksPublicKey],
    ) -> Option<Self> {
        let hash = public_keys_hash(hash_mode, num_sigs, keys)?;
        StacksAddress::new(version, hash).ok()
    }

    /// Parses a c32check address; the payload must be exactly 20 bytes.
    pub fn from_string(text: &str) -> Option<Self> {
        let (version, data) = c32_address_decode(text).ok()?;
        let bytes = Hash160::from_bytes(&data)?;
        StacksAddress::new(version, bytes).ok()
    }

    /// Whether this is a mainnet version (22 or 20).
    pub fn is_mainnet(&self) -> bool {
        matches!(
            self.version,
            C32_ADDRESS_VERSION_MAINNET_SINGLESIG | C32_ADDRESS_VERSION_MAINNET_MULTISIG
        )
    }

    /// Whether the hash is all zeros (the burn address of either network).
    pub fn is_burn(&self) -> bool {
        self.bytes == Hash160::zero()
    }
}

/// The hash an address of `hash_mode` commits to, or `None` if the keys do not fit the mode.
pub fn public_keys_hash(
    hash_mode: AddressHashMode,
    num_sigs: usize,
    keys: &[StacksPublicKey],
) -> Option<Hash160> {
    match hash_mode {
        AddressHashMode::SerializeP2PKH => match keys {
            [pk] => Some(Hash160::from_data(&pk.to_bytes())),
            _ => None,
        },
        AddressHashMode::SerializeP2WPKH => match keys {
            [pk] if pk.compressed() => {
                let mut program = vec![0x00, 0x14];
                program.extend_from_slice(&Hash160::from_data(&pk.to_bytes()).0);
                Some(Hash160::from_data(&program))
            }
            _ => None,
        },
        AddressHashMode::SerializeP2SH => {
            Some(Hash160::from_data(&multisig_script(num_sigs, keys)?))
        }
        AddressHashMode::SerializeP2WSH => {
            if keys.iter().any(|k| !k.compressed()) {
                return None;
            }
            let script = multisig_script(num_sigs, keys)?;
            let mut program = vec![0x00, 0x20];
            program.extend_from_slice(&Sha256Sum::from_data(&script).0);
            Some(Hash160::from_data(&program))
        }
    }
}

/// The Bitcoin script `OP_m <key>... OP_n OP_CHECKMULTISIG`.
fn multisig_script(num_sigs: usize, keys: &[StacksPublicKey]) -> Option<Vec<u8>> {
    const OP_1: u8 = 0x51;
    const OP_CHECKMULTISIG: u8 = 0xae;
    if num_sigs == 0 || num_sigs > 16 || keys.is_empty() || keys.len() > 16 {
        return None;
    }
    let mut script = vec![OP_1 + (num_sigs as u8) - 1];
    for key in keys {
        let bytes = key.to_bytes();
        script.push(bytes.len() as u8);
        script.extend_from_slice(&bytes);
    }
    script.push(OP_1 + (keys.len() as u8) - 1);
    script.push(OP_CHECKMULTISIG);
    Some(script)
}

impl std::fmt::Display for StacksAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The version is below 32 by construction, so encoding cannot fail.
        match c32_address(self.version, &self.bytes.0) {
            Ok(text) => f.write_str(&text),
            Err(_) => Err(std::fmt::Error),
        }
    }
}

impl std::fmt::Debug for StacksAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for StacksAddress {
    type Err = C32Error;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (version, data) = c32_address_decode(text)?;
        let bytes = Hash160::from_bytes(&data).ok_or(C32Error::BadLength(data.len()))?;
        StacksAddress::new(version, bytes)
    }
}

impl StacksMessageCodec for StacksAddress {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        self.version.consensus_serialize(fd)?;
        self.bytes.consensus_serialize(fd)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let version: u8 = u8::consensus_deserialize(fd)?;
        if version >= 32 {
            return Err(CodecError::DeserializeError(format!(
                "Address version byte must be less than 32, got {version}"
            )));
        }
        let bytes = Hash160(read_array(fd)?);
        Ok(StacksAddress { version, bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_hash_addresses() {
        assert_eq!(
            StacksAddress::burn_address(true).to_string(),
            "SP000000000000000000002Q6VF78"
        );
        assert_eq!(
            StacksAddress::burn_address(false).to_string(),
            "ST000000000000000000002AMW42H"
        );
    }

    #[test]
    fn decode_is_lenient_about_case_and_lookalikes() {
        let canonical = StacksAddress::from_string("SP000000000000000000002Q6VF78").unwrap();
        assert_eq!(
            StacksAddress::from_string("sp0000000000000000000o2q6vf78"),
            Some(canonical)
        );
        assert_eq!(
            StacksAddress::from_string("XP000000000000000000002Q6VF78"),
            Some(canonical)
        );
    }

    #[test]
    fn decode_refuses_bad_checksum_and_short_input() {
        assert!(StacksAddress::from_string("SP000000000000000000002Q6VF79").is_none());
        assert!(StacksAddress::from_string("SP00").is_none());
        assert!(StacksAddress::from_string("SP0000000000000000000U2Q6VF78").is_none());
        assert!(StacksAddress::from_string("SP00000000000000000é02Q6VF78").is_none());
    }

    #[test]
    fn codec_refuses_version_32() {
        let mut bytes = vec![32u8];
        bytes.extend_from_slice(&[0u8; 20]);
        assert!(StacksAddress::consensus_deserialize(&mut &bytes[..]).is_err());
    }
}
