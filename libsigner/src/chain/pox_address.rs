//! PoX reward addresses: the Bitcoin addresses stackers are paid at, as the PoX contract and
//! the reward set see them.

use serde::{Deserialize, Serialize};

use crate::chain::address::{
    AddressHashMode, StacksAddress, C32_ADDRESS_VERSION_MAINNET_MULTISIG,
    C32_ADDRESS_VERSION_MAINNET_SINGLESIG, C32_ADDRESS_VERSION_TESTNET_MULTISIG,
    C32_ADDRESS_VERSION_TESTNET_SINGLESIG,
};
use crate::chain::{b58, bech32, Hash160};
use crate::define_u8_enum;

/// Bitcoin legacy version byte of a mainnet pay-to-pubkey-hash address (`1...`).
pub const BTC_VERSION_MAINNET_P2PKH: u8 = 0x00;
/// Bitcoin legacy version byte of a mainnet pay-to-script-hash address (`3...`).
pub const BTC_VERSION_MAINNET_P2SH: u8 = 0x05;
/// Bitcoin legacy version byte of a testnet pay-to-pubkey-hash address (`m...`/`n...`).
pub const BTC_VERSION_TESTNET_P2PKH: u8 = 0x6f;
/// Bitcoin legacy version byte of a testnet pay-to-script-hash address (`2...`).
pub const BTC_VERSION_TESTNET_P2SH: u8 = 0xc4;

define_u8_enum!(
    /// PoX address types with a 20-byte payload and no Stacks address form.
    pub enum PoxAddressType20 {
        /// Segwit v0 pay-to-witness-pubkey-hash.
        P2WPKH = 0x04,
    }
);

define_u8_enum!(
    /// PoX address types with a 32-byte payload.
    pub enum PoxAddressType32 {
        /// Segwit v0 pay-to-witness-script-hash.
        P2WSH = 0x05,
        /// Segwit v1 pay-to-taproot.
        P2TR = 0x06,
    }
);

/// A PoX reward address. Its JSON form is the reference's derived one, e.g.
/// `{"Standard":[{"version":26,"bytes":"..."},"SerializeP2PKH"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PoxAddress {
    /// A legacy address with a Stacks form, and its hash mode when known.
    Standard(StacksAddress, Option<AddressHashMode>),
    /// A 20-byte segwit program: (mainnet, type, program).
    Addr20(bool, PoxAddressType20, [u8; 20]),
    /// A 32-byte segwit program: (mainnet, type, program).
    Addr32(bool, PoxAddressType32, [u8; 32]),
}

impl PartialOrd for AddressHashMode {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AddressHashMode {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (*self as u8).cmp(&(*other as u8))
    }
}

/// The Stacks address version of a Bitcoin legacy version byte.
pub fn stacks_version_of_btc(btc_version: u8) -> Option<u8> {
    match btc_version {
        BTC_VERSION_MAINNET_P2PKH => Some(C32_ADDRESS_VERSION_MAINNET_SINGLESIG),
        BTC_VERSION_MAINNET_P2SH => Some(C32_ADDRESS_VERSION_MAINNET_MULTISIG),
        BTC_VERSION_TESTNET_P2PKH => Some(C32_ADDRESS_VERSION_TESTNET_SINGLESIG),
        BTC_VERSION_TESTNET_P2SH => Some(C32_ADDRESS_VERSION_TESTNET_MULTISIG),
        _ => None,
    }
}

/// The Bitcoin legacy version byte of a Stacks address version.
pub fn btc_version_of_stacks(version: u8) -> Option<u8> {
    match version {
        C32_ADDRESS_VERSION_MAINNET_SINGLESIG => Some(BTC_VERSION_MAINNET_P2PKH),
        C32_ADDRESS_VERSION_MAINNET_MULTISIG => Some(BTC_VERSION_MAINNET_P2SH),
        C32_ADDRESS_VERSION_TESTNET_SINGLESIG => Some(BTC_VERSION_TESTNET_P2PKH),
        C32_ADDRESS_VERSION_TESTNET_MULTISIG => Some(BTC_VERSION_TESTNET_P2SH),
        _ => None,
    }
}

impl StacksAddress {
    /// The Bitcoin legacy (base58check) form of this address; versions without a Bitcoin
    /// equivalent are written with their own version byte, as the reference does.
    pub fn to_b58(&self) -> String {
        let version = btc_version_of_stacks(self.version()).unwrap_or(self.version());
        let mut bytes = vec![version];
        bytes.extend_from_slice(&self.bytes().0);
        b58::check_encode(&bytes)
    }
}

fn segwit_hrp(mainnet: bool) -> &'static str {
    if mainnet {
        "bc"
    } else {
        "tb"
    }
}

fn segwit_encode(mainnet: bool, witness_version: u8, program: &[u8]) -> String {
    let mut data = vec![witness_version];
    // Regrouping bytes into 5-bit groups with padding cannot fail.
    data.extend(bech32::convert_bits(program, 8, 5, true).unwrap_or_default());
    let variant = if witness_version == 0 {
        bech32::Variant::Bech32
    } else {
        bech32::Variant::Bech32m
    };
    bech32::encode(segwit_hrp(mainnet), &data, variant)
}

impl PoxAddress {
    /// Parses a Bitcoin address: base58check legacy (mainnet or testnet), or bech32/bech32m
    /// segwit (`bc`, `tb`, `bcrt`). A legacy address's hash mode is left unknown.
    pub fn from_b58(text: &str) -> Option<Self> {
        if let Ok(bytes) = b58::check_decode(text) {
            if bytes.len() != 21 {
                return None;
            }
            let version = stacks_version_of_btc(bytes[0])?;
            let hash = Hash160::from_bytes(&bytes[1..])?;
            return Some(PoxAddress::Standard(
                StacksAddress::new(version, hash).ok()?,
                None,
            ));
        }
        let (hrp, data, variant) = bech32::decode(text).ok()?;
        let mainnet = match hrp.as_str() {
            "bc" => true,
            "tb" | "bcrt" => false,
            _ => return None,
        };
        if data.is_empty() || data.len() > 65 {
            return None;
        }
        let witness_version = data[0];
        let program = bech32::convert_bits(&data[1..], 5, 8, false).ok()?;
        match (variant, witness_version, program.len()) {
            (bech32::Variant::Bech32, 0, 20) => Some(PoxAddress::Addr20(
                mainnet,
                PoxAddressType20::P2WPKH,
                program.try_into().ok()?,
            )),
            (bech32::Variant::Bech32, 0, 32) => Some(PoxAddress::Addr32(
                mainnet,
                PoxAddressType32::P2WSH,
                program.try_into().ok()?,
            )),
            (bech32::Variant::Bech32m, 1, 32) => Some(PoxAddress::Addr32(
                mainnet,
                PoxAddressType32::P2TR,
                program.try_into().ok()?,
            )),
            _ => None,
        }
    }

    /// The Bitcoin address text (base58check or bech32/bech32m; regtest prints as testnet).
    pub fn to_b58(&self) -> String {
        match self {
            PoxAddress::Standard(addr, _) => addr.to_b58(),
            PoxAddress::Addr20(mainnet, PoxAddressType20::P2WPKH, program) => {
                segwit_encode(*mainnet, 0, program)
            }
            PoxAddress::Addr32(mainnet, PoxAddressType32::P2WSH, program) => {
                segwit_encode(*mainnet, 0, program)
            }
            PoxAddress::Addr32(mainnet, PoxAddressType32::P2TR, program) => {
                segwit_encode(*mainnet, 1, program)
            }
        }
    }

    /// The payload bytes (hash or witness program).
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            PoxAddress::Standard(addr, _) => addr.bytes().0.to_vec(),
            PoxAddress::Addr20(_, _, b) => b.to_vec(),
            PoxAddress::Addr32(_, _, b) => b.to_vec(),
        }
    }

    /// The `version` byte of the PoX contract's `{version, hashbytes}` tuple: the hash mode
    /// of a standard address (if known), else the segwit type.
    pub fn version_byte(&self) -> Option<u8> {
        match self {
            PoxAddress::Standard(_, mode) => mode.map(|m| m as u8),
            PoxAddress::Addr20(_, t, _) => Some(t.to_u8()),
            PoxAddress::Addr32(_, t, _) => Some(t.to_u8()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_addresses_map_to_stacks_versions() {
        let addr = PoxAddress::from_b58("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa").unwrap();
        match &addr {
            PoxAddress::Standard(a, None) => assert_eq!(a.version(), 22),
            other => panic!("{other:?}"),
        }
        assert_eq!(addr.to_b58(), "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa");
    }

    #[test]
    fn taproot_address_round_trips() {
        let text = "bc1p8vg588hldsnv4a558apet4e9ff3pr4awhqj2hy8gy6x2yxzjpmqsvvpta4";
        let addr = PoxAddress::from_b58(text).unwrap();
        assert_eq!(
            crate::chain::hex::to_hex(&addr.bytes()),
            "3b11439eff6c26caf6943f4395d7254a6211d7aeb824ab90e8268ca218520ec1"
        );
        assert_eq!(addr.version_byte(), Some(0x06));
        assert_eq!(addr.to_b58(), text);
    }

    #[test]
    fn regtest_prints_as_testnet_and_junk_is_refused() {
        let p2wpkh = PoxAddress::Addr20(false, PoxAddressType20::P2WPKH, [7; 20]);
        let text = p2wpkh.to_b58();
        assert!(text.starts_with("tb1q"));
        assert_eq!(PoxAddress::from_b58(&text), Some(p2wpkh));
        assert_eq!(PoxAddress::from_b58("not an address"), None);
        assert_eq!(PoxAddress::from_b58(""), None);
    }

    #[test]
    fn json_is_the_reference_derived_form() {
        let addr = PoxAddress::Standard(
            StacksAddress::new(26, Hash160([0; 20])).unwrap(),
            Some(AddressHashMode::SerializeP2PKH),
        );
        assert_eq!(
            serde_json::to_string(&addr).unwrap(),
            format!(
                "{{\"Standard\":[{{\"version\":26,\"bytes\":\"{}\"}},\"SerializeP2PKH\"]}}",
                "00".repeat(20)
            )
        );
    }
}
