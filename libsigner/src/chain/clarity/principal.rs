//! Clarity principals: standard principals (an address), contract identifiers, and
//! `PrincipalData` with its Clarity-value wire form.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::chain::address::{c32_address, StacksAddress};
use crate::chain::clarity::names::{
    read_value_contract_name, write_value_contract_name, ContractName,
};
use crate::chain::Hash160;
use crate::codec::{read_array, Error as CodecError, StacksMessageCodec};

/// Name of the boot contract that holds the signers' StackerDB slots (`signers-X-Y`).
pub const SIGNERS_NAME: &str = "signers";
/// Name of the boot contract that holds the miners' StackerDB slots.
pub const MINERS_NAME: &str = "miners";

/// Clarity-value type prefix of a standard principal.
pub const PRINCIPAL_STANDARD_PREFIX: u8 = 0x05;
/// Clarity-value type prefix of a contract principal.
pub const PRINCIPAL_CONTRACT_PREFIX: u8 = 0x06;

/// Why a principal could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    /// The address version is 32 or more.
    #[error("invalid principal version {0}")]
    BadVersion(u8),
    /// The text is not `ADDRESS` or `ADDRESS.contract-name`.
    #[error("invalid principal literal {0:?}")]
    BadLiteral(String),
}

/// A standard principal: an address version (below 32) and a 20-byte hash. Its JSON form is
/// `[version, [20 numbers]]`, as the reference derives it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StandardPrincipalData(u8, pub [u8; 20]);

impl StandardPrincipalData {
    /// A principal with this version and hash; the version must be below 32.
    pub fn new(version: u8, bytes: [u8; 20]) -> Result<Self, PrincipalError> {
        if version >= 32 {
            return Err(PrincipalError::BadVersion(version));
        }
        Ok(StandardPrincipalData(version, bytes))
    }

    /// The transient principal used by the reference's tests (`version 1`, hash `01`×20).
    pub fn transient() -> Self {
        StandardPrincipalData(1, [1; 20])
    }

    /// The address version.
    pub fn version(&self) -> u8 {
        self.0
    }

    /// Whether the hash is all zeros (the boot-code issuer; the version is not looked at).
    pub fn is_burn(&self) -> bool {
        self.1 == [0u8; 20]
    }

    fn read<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let version = u8::consensus_deserialize(fd)?;
        let bytes = read_array::<20, R>(fd)?;
        StandardPrincipalData::new(version, bytes)
            .map_err(|e| CodecError::DeserializeError(e.to_string()))
    }

    fn write<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        self.0.consensus_serialize(fd)?;
        fd.write_all(&self.1).map_err(CodecError::WriteError)
    }
}

impl std::fmt::Display for StandardPrincipalData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match c32_address(self.0, &self.1) {
            Ok(text) => f.write_str(&text),
            Err(_) => write!(f, "<invalid principal version {}>", self.0),
        }
    }
}

impl std::fmt::Debug for StandardPrincipalData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl From<StacksAddress> for StandardPrincipalData {
    fn from(addr: StacksAddress) -> Self {
        StandardPrincipalData(addr.version(), addr.bytes().0)
    }
}

impl From<&StandardPrincipalData> for StacksAddress {
    fn from(p: &StandardPrincipalData) -> Self {
        // The version is below 32 for every value built through `new` or decoding; a value
        // built from unvalidated JSON keeps only its low five bits here.
        StacksAddress::new(p.0 & 0x1f, Hash160(p.1))
            .unwrap_or_else(|_| StacksAddress::burn_address(false))
    }
}

/// A contract's identity: its deployer and its name. Prints as `ADDRESS.name`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QualifiedContractIdentifier {
    /// The deploying principal.
    pub issuer: StandardPrincipalData,
    /// The contract name.
    pub name: ContractName,
}

impl QualifiedContractIdentifier {
    /// A contract identifier from its parts.
    pub fn new(issuer: StandardPrincipalData, name: ContractName) -> Self {
        QualifiedContractIdentifier { issuer, name }
    }

    /// The transient contract of the reference's tests.
    pub fn transient() -> Self {
        QualifiedContractIdentifier {
            issuer: StandardPrincipalData::transient(),
            name: ContractName::transient(),
        }
    }

    /// The boot contract `name` on mainnet or testnet (issuer: the burn address).
    pub fn boot_contract(name: &str, mainnet: bool) -> Result<Self, PrincipalError> {
        let name = ContractName::try_from(name)
            .map_err(|_| PrincipalError::BadLiteral(name.to_string()))?;
        Ok(QualifiedContractIdentifier {
            issuer: StacksAddress::burn_address(mainnet).into(),
            name,
        })
    }

    /// Whether this is a boot contract: the issuer hash is all zeros (the version is not
    /// checked, as in the reference).
    pub fn is_boot(&self) -> bool {
        self.issuer.is_burn()
    }

    /// Parses `ADDRESS.contract-name`.
    pub fn parse(literal: &str) -> Result<Self, PrincipalError> {
        let bad = || PrincipalError::BadLiteral(literal.to_string());
        let (address, name) = literal.split_once('.').ok_or_else(bad)?;
        let address = StacksAddress::from_string(address).ok_or_else(bad)?;
        let name = ContractName::try_from(name).map_err(|_| bad())?;
        Ok(QualifiedContractIdentifier {
            issuer: address.into(),
            name,
        })
    }

    /// The issuer as a Stacks address.
    pub fn issuer_address(&self) -> StacksAddress {
        StacksAddress::from(&self.issuer)
    }
}

impl std::fmt::Display for QualifiedContractIdentifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.issuer, self.name)
    }
}

impl std::fmt::Debug for QualifiedContractIdentifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for QualifiedContractIdentifier {
    type Err = PrincipalError;
    fn from_str(s: &str) -> Result<Self, PrincipalError> {
        Self::parse(s)
    }
}

/// A principal: a standard principal or a contract. JSON as the reference derives it:
/// `{"Standard":[v,[..]]}` or `{"Contract":{"issuer":..,"name":..}}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PrincipalData {
    /// An address.
    Standard(StandardPrincipalData),
    /// A contract.
    Contract(QualifiedContractIdentifier),
}

impl PrincipalData {
    /// Parses `ADDRESS` or `ADDRESS.contract-name`.
    pub fn parse(literal: &str) -> Result<Self, PrincipalError> {
        if literal.contains('.') {
            QualifiedContractIdentifier::parse(literal).map(PrincipalData::Contract)
        } else {
            StacksAddress::from_string(literal)
                .map(|a| PrincipalData::Standard(a.into()))
                .ok_or_else(|| PrincipalError::BadLiteral(literal.to_string()))
        }
    }

    /// The address version of the principal (of its issuer, for a contract).
    pub fn version(&self) -> u8 {
        match self {
            PrincipalData::Standard(p) => p.version(),
            PrincipalData::Contract(c) => c.issuer.version(),
        }
    }

    /// Writes the principal in its Clarity-value form (`05 ...` or `06 ...`).
    pub fn write_value<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        match self {
            PrincipalData::Standard(p) => {
                PRINCIPAL_STANDARD_PREFIX.consensus_serialize(fd)?;
                p.write(fd)
            }
            PrincipalData::Contract(c) => {
                PRINCIPAL_CONTRACT_PREFIX.consensus_serialize(fd)?;
                c.issuer.write(fd)?;
                write_value_contract_name(fd, &c.name)
            }
        }
    }

    /// Reads the body of a principal whose Clarity type prefix has already been read.
    pub fn read_value_body<R: Read>(prefix: u8, fd: &mut R) -> Result<Self, CodecError> {
        match prefix {
            PRINCIPAL_STANDARD_PREFIX => {
                Ok(PrincipalData::Standard(StandardPrincipalData::read(fd)?))
            }
            PRINCIPAL_CONTRACT_PREFIX => {
                let issuer = StandardPrincipalData::read(fd)?;
                let name = read_value_contract_name(fd)?;
                Ok(PrincipalData::Contract(QualifiedContractIdentifier {
                    issuer,
                    name,
                }))
            }
            other => Err(CodecError::DeserializeError(format!(
                "Bad principal prefix {other}"
            ))),
        }
    }
}

impl std::fmt::Display for PrincipalData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrincipalData::Standard(p) => std::fmt::Display::fmt(p, f),
            PrincipalData::Contract(c) => std::fmt::Display::fmt(c, f),
        }
    }
}

impl From<StandardPrincipalData> for PrincipalData {
    fn from(p: StandardPrincipalData) -> Self {
        PrincipalData::Standard(p)
    }
}

impl From<QualifiedContractIdentifier> for PrincipalData {
    fn from(c: QualifiedContractIdentifier) -> Self {
        PrincipalData::Contract(c)
    }
}

impl From<StacksAddress> for PrincipalData {
    fn from(a: StacksAddress) -> Self {
        PrincipalData::Standard(a.into())
    }
}

/// The Clarity-value wire form: `05 version hash` or `06 version hash u8-len name`.
impl StacksMessageCodec for PrincipalData {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        self.write_value(fd)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let prefix = u8::consensus_deserialize(fd)?;
        Self::read_value_body(prefix, fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_contract_prints_with_burn_address() {
        let id = QualifiedContractIdentifier::boot_contract("signers-1-1", false).unwrap();
        assert_eq!(id.to_string(), "ST000000000000000000002AMW42H.signers-1-1");
        assert!(id.is_boot());
        assert_eq!(
            QualifiedContractIdentifier::parse(&id.to_string()).unwrap(),
            id
        );
    }

    #[test]
    fn contract_identifier_json_matches_reference_shape() {
        let id = QualifiedContractIdentifier::boot_contract("signers-0-1", false).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(
            json,
            format!(
                "{{\"issuer\":[26,[{}]],\"name\":\"signers-0-1\"}}",
                vec!["0"; 20].join(",")
            )
        );
    }

    #[test]
    fn principal_value_codec_round_trips() {
        let p = PrincipalData::parse("SP000000000000000000002Q6VF78.pox-4").unwrap();
        let bytes = p.serialize_to_vec();
        assert_eq!(bytes[0], 0x06);
        assert_eq!(
            PrincipalData::consensus_deserialize(&mut &bytes[..]).unwrap(),
            p
        );
        let mut bad = bytes.clone();
        bad[1] = 32;
        assert!(PrincipalData::consensus_deserialize(&mut &bad[..]).is_err());
    }

    #[test]
    fn is_boot_ignores_version() {
        let id = QualifiedContractIdentifier::new(
            StandardPrincipalData::new(3, [0; 20]).unwrap(),
            ContractName::try_from("miners").unwrap(),
        );
        assert!(id.is_boot());
    }
}
