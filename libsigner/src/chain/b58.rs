//! Base58 (Bitcoin alphabet) and base58check, as Bitcoin legacy addresses and the signer CLI's
//! `put-chunk` data use them.

use crate::chain::DoubleSha256;

const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Why base58 text was refused. The texts are the reference's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum B58Error {
    /// A byte outside the base58 alphabet.
    #[error("invalid base58 character 0x{0:x}")]
    BadByte(u8),
    /// The checksum does not match (expected, found).
    #[error("base58ck checksum 0x{0:x} does not match expected 0x{1:x}")]
    BadChecksum(u32, u32),
    /// Fewer than four bytes: no room for a checksum.
    #[error("base58ck data not even long enough for a checksum")]
    TooShort(usize),
}

fn digit(c: u8) -> Option<u8> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

/// Decodes base58 text; each leading `1` is a leading zero byte.
pub fn decode(text: &str) -> Result<Vec<u8>, B58Error> {
    // Big-endian base-256 accumulator, grown as needed.
    let mut number: Vec<u8> = Vec::with_capacity(text.len() * 3 / 4 + 1);
    for c in text.bytes() {
        let mut carry = u32::from(digit(c).ok_or(B58Error::BadByte(c))?);
        for byte in number.iter_mut().rev() {
            carry += u32::from(*byte) * 58;
            *byte = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            number.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let leading = text.bytes().take_while(|&c| c == ALPHABET[0]).count();
    let mut out = vec![0u8; leading];
    out.extend(number.into_iter().skip_while(|&b| b == 0));
    Ok(out)
}

/// Encodes bytes as base58 text; each leading zero byte becomes a `1`.
pub fn encode(bytes: &[u8]) -> String {
    // Little-endian base-58 digits.
    let mut digits: Vec<u8> = Vec::with_capacity(bytes.len() * 7 / 5 + 1);
    for &b in bytes {
        let mut carry = u32::from(b);
        for d in digits.iter_mut() {
            carry += u32::from(*d) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let leading = bytes.iter().take_while(|&&b| b == 0).count();
    let mut out = String::with_capacity(leading + digits.len());
    out.extend(std::iter::repeat_n('1', leading));
    out.extend(digits.iter().rev().map(|&d| ALPHABET[d as usize] as char));
    out
}

fn checksum(payload: &[u8]) -> [u8; 4] {
    let h = DoubleSha256::from_data(payload);
    [h.0[0], h.0[1], h.0[2], h.0[3]]
}

/// Encodes `payload` with its 4-byte double-SHA-256 checksum appended.
pub fn check_encode(payload: &[u8]) -> String {
    let mut data = payload.to_vec();
    data.extend_from_slice(&checksum(payload));
    encode(&data)
}

/// Decodes base58check text and verifies and strips the checksum.
pub fn check_decode(text: &str) -> Result<Vec<u8>, B58Error> {
    let mut data = decode(text)?;
    if data.len() < 4 {
        return Err(B58Error::TooShort(data.len()));
    }
    let split = data.len() - 4;
    let expected = checksum(&data[..split]);
    let found = [
        data[split],
        data[split + 1],
        data[split + 2],
        data[split + 3],
    ];
    if expected != found {
        return Err(B58Error::BadChecksum(
            u32::from_le_bytes(expected),
            u32::from_le_bytes(found),
        ));
    }
    data.truncate(split);
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encodings() {
        assert_eq!(encode(b"hello"), "Cn8eVZg");
        assert_eq!(decode("Cn8eVZg").unwrap(), b"hello");
        assert_eq!(encode(&[0, 0, 1]), "112");
        assert_eq!(decode("112").unwrap(), vec![0, 0, 1]);
        assert_eq!(encode(&[]), "");
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn bad_characters_are_named() {
        assert_eq!(decode("0OIl"), Err(B58Error::BadByte(b'0')));
        assert_eq!(decode("abc\n"), Err(B58Error::BadByte(10)));
        assert_eq!(
            B58Error::BadByte(10).to_string(),
            "invalid base58 character 0xa"
        );
        assert_eq!(decode("\u{80}"), Err(B58Error::BadByte(0xc2)));
    }

    #[test]
    fn check_round_trip_and_corruption() {
        let text = check_encode(&[0x00, 1, 2, 3]);
        assert_eq!(check_decode(&text).unwrap(), vec![0, 1, 2, 3]);
        let mut corrupted = text.clone().into_bytes();
        let last = corrupted.len() - 1;
        corrupted[last] = if corrupted[last] == b'2' { b'3' } else { b'2' };
        assert!(check_decode(std::str::from_utf8(&corrupted).unwrap()).is_err());
        assert_eq!(check_decode("1"), Err(B58Error::TooShort(1)));
    }

    #[test]
    fn genesis_address_round_trips() {
        let payload = check_decode("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa").unwrap();
        assert_eq!(payload[0], 0);
        assert_eq!(
            crate::chain::hex::to_hex(&payload[1..]),
            "62e907b15cbf27d5425399ebf6f0fb50ebb88f18"
        );
        assert_eq!(check_encode(&payload), "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa");
    }
}
