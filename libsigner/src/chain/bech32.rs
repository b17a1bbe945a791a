//! Bech32 and bech32m (BIP-173, BIP-350), for segwit Bitcoin addresses in PoX addresses.

const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const BECH32_CONST: u32 = 1;
const BECH32M_CONST: u32 = 0x2bc8_30a3;
const MAX_LEN: usize = 90;

/// Which checksum constant a string uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// BIP-173 (segwit v0).
    Bech32,
    /// BIP-350 (segwit v1 and later).
    Bech32m,
}

/// Why bech32 text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Bech32Error {
    /// Too long, no separator, empty or malformed human-readable part.
    #[error("malformed bech32 string")]
    Malformed,
    /// Both upper- and lower-case letters.
    #[error("mixed-case bech32 string")]
    MixedCase,
    /// A character outside the bech32 alphabet.
    #[error("invalid bech32 character {0:?}")]
    InvalidChar(char),
    /// Neither the bech32 nor the bech32m checksum matches.
    #[error("invalid bech32 checksum")]
    InvalidChecksum,
    /// 5-bit groups that do not form whole bytes (bad padding).
    #[error("invalid bech32 data padding")]
    InvalidPadding,
}

fn polymod(values: &[u8]) -> u32 {
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    let mut chk: u32 = 1;
    for &v in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

fn hrp_expand(hrp: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = hrp.iter().map(|c| c >> 5).collect();
    out.push(0);
    out.extend(hrp.iter().map(|c| c & 31));
    out
}

/// Decodes bech32/bech32m text into its lowercase human-readable part, its 5-bit data
/// (checksum removed) and the variant.
pub fn decode(text: &str) -> Result<(String, Vec<u8>, Variant), Bech32Error> {
    if text.len() > MAX_LEN || !text.is_ascii() {
        return Err(Bech32Error::Malformed);
    }
    let has_lower = text.bytes().any(|c| c.is_ascii_lowercase());
    let has_upper = text.bytes().any(|c| c.is_ascii_uppercase());
    if has_lower && has_upper {
        return Err(Bech32Error::MixedCase);
    }
    let lower = text.to_ascii_lowercase();
    let sep = lower.rfind('1').ok_or(Bech32Error::Malformed)?;
    let (hrp, data) = (&lower[..sep], &lower[sep + 1..]);
    if hrp.is_empty() || data.len() < 6 || hrp.bytes().any(|c| !(33..=126).contains(&c)) {
        return Err(Bech32Error::Malformed);
    }
    let values: Vec<u8> = data
        .chars()
        .map(|c| {
            CHARSET
                .iter()
                .position(|&a| a as char == c)
                .map(|p| p as u8)
                .ok_or(Bech32Error::InvalidChar(c))
        })
        .collect::<Result<_, _>>()?;
    let mut check = hrp_expand(hrp.as_bytes());
    check.extend_from_slice(&values);
    let variant = match polymod(&check) {
        BECH32_CONST => Variant::Bech32,
        BECH32M_CONST => Variant::Bech32m,
        _ => return Err(Bech32Error::InvalidChecksum),
    };
    let payload = values[..values.len() - 6].to_vec();
    Ok((hrp.to_string(), payload, variant))
}

/// Encodes 5-bit `data` under `hrp` (lowercase) with the checksum of `variant`.
pub fn encode(hrp: &str, data: &[u8], variant: Variant) -> String {
    let hrp = hrp.to_ascii_lowercase();
    let mut values = hrp_expand(hrp.as_bytes());
    values.extend_from_slice(data);
    values.extend_from_slice(&[0; 6]);
    let constant = match variant {
        Variant::Bech32 => BECH32_CONST,
        Variant::Bech32m => BECH32M_CONST,
    };
    let checksum = polymod(&values) ^ constant;
    let mut out = hrp;
    out.push('1');
    for &d in data {
        out.push(CHARSET[usize::from(d & 31)] as char);
    }
    for i in 0..6 {
        out.push(CHARSET[((checksum >> (5 * (5 - i))) & 31) as usize] as char);
    }
    out
}

/// Regroups bits: 8-bit bytes to 5-bit groups (`pad = true`) or back (`pad = false`, where
/// leftover bits must be fewer than 5 and zero).
pub fn convert_bits(data: &[u8], from: u32, to: u32, pad: bool) -> Result<Vec<u8>, Bech32Error> {
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    let max = (1u32 << to) - 1;
    let mut out = Vec::with_capacity(data.len() * from as usize / to as usize + 1);
    for &value in data {
        let v = u32::from(value);
        if v >> from != 0 {
            return Err(Bech32Error::InvalidPadding);
        }
        acc = (acc << from) | v;
        bits += from;
        while bits >= to {
            bits -= to;
            out.push(((acc >> bits) & max) as u8);
        }
    }
    if pad {
        if bits > 0 {
            out.push(((acc << (to - bits)) & max) as u8);
        }
    } else if bits >= from || ((acc << (to - bits)) & max) != 0 {
        return Err(Bech32Error::InvalidPadding);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bip173_p2wpkh_vector() {
        let (hrp, data, variant) = decode("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4").unwrap();
        assert_eq!(hrp, "bc");
        assert_eq!(variant, Variant::Bech32);
        assert_eq!(data[0], 0);
        let program = convert_bits(&data[1..], 5, 8, false).unwrap();
        assert_eq!(
            crate::chain::hex::to_hex(&program),
            "751e76e8199196d454941c45d1b3a323f1433bd6"
        );
        let mut five = vec![0u8];
        five.extend(convert_bits(&program, 8, 5, true).unwrap());
        assert_eq!(
            encode("bc", &five, Variant::Bech32),
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
        );
    }

    #[test]
    fn bip350_taproot_is_bech32m() {
        let addr = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0";
        let (_, data, variant) = decode(addr).unwrap();
        assert_eq!(variant, Variant::Bech32m);
        assert_eq!(encode("bc", &data, Variant::Bech32m), addr);
    }

    #[test]
    fn refuses_mixed_case_bad_checksum_and_bad_chars() {
        assert_eq!(
            decode("bc1QW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
            Err(Bech32Error::MixedCase)
        );
        assert_eq!(
            decode("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5"),
            Err(Bech32Error::InvalidChecksum)
        );
        assert!(decode("bc1qw508d6qejxtdg4y5r3zarvarybc5xw7kv8f3t4").is_err());
        assert!(decode("1qqqqqq").is_err());
    }
}
