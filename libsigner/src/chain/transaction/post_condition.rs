//! Post-conditions: limits on the assets a transaction may move.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::chain::{ClarityName, ContractName, StacksAddress, Value};
use crate::codec::{read_next, write_next, Error as CodecError, StacksMessageCodec};
use crate::define_u8_enum;

define_u8_enum!(
    /// The wire tag of a post-condition: which kind of asset it constrains.
    pub enum AssetInfoID {
        /// STX.
        STX = 0,
        /// A fungible token.
        FungibleAsset = 1,
        /// A non-fungible token.
        NonfungibleAsset = 2,
    }
);

define_u8_enum!(
    /// How the amount sent compares with a fungible post-condition's amount.
    pub enum FungibleConditionCode {
        /// Sent exactly the amount.
        SentEq = 0x01,
        /// Sent more than the amount.
        SentGt = 0x02,
        /// Sent at least the amount.
        SentGe = 0x03,
        /// Sent less than the amount.
        SentLt = 0x04,
        /// Sent at most the amount.
        SentLe = 0x05,
    }
);

define_u8_enum!(
    /// Whether a non-fungible asset must be sent.
    pub enum NonfungibleConditionCode {
        /// The asset is sent.
        Sent = 0x10,
        /// The asset is not sent.
        NotSent = 0x11,
    }
);

define_u8_enum!(
    /// The wire tag of a [`PostConditionPrincipal`].
    pub enum PostConditionPrincipalID {
        /// The transaction's origin.
        Origin = 0x01,
        /// A standard principal.
        Standard = 0x02,
        /// A contract principal.
        Contract = 0x03,
    }
);

/// Whose assets a post-condition constrains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PostConditionPrincipal {
    /// The transaction's origin.
    Origin,
    /// An address.
    Standard(StacksAddress),
    /// A contract (its name is 1..=40 bytes on the wire).
    Contract(StacksAddress, ContractName),
}

impl StacksMessageCodec for PostConditionPrincipal {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        match self {
            PostConditionPrincipal::Origin => {
                write_next(fd, &PostConditionPrincipalID::Origin.to_u8())
            }
            PostConditionPrincipal::Standard(addr) => {
                write_next(fd, &PostConditionPrincipalID::Standard.to_u8())?;
                write_next(fd, addr)
            }
            PostConditionPrincipal::Contract(addr, name) => {
                write_next(fd, &PostConditionPrincipalID::Contract.to_u8())?;
                write_next(fd, addr)?;
                write_next(fd, name)
            }
        }
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let id: u8 = read_next(fd)?;
        match PostConditionPrincipalID::from_u8(id) {
            Some(PostConditionPrincipalID::Origin) => Ok(PostConditionPrincipal::Origin),
            Some(PostConditionPrincipalID::Standard) => {
                Ok(PostConditionPrincipal::Standard(read_next(fd)?))
            }
            Some(PostConditionPrincipalID::Contract) => {
                let addr = read_next(fd)?;
                let name = read_next(fd)?;
                Ok(PostConditionPrincipal::Contract(addr, name))
            }
            None => Err(CodecError::DeserializeError(format!(
                "Failed to parse transaction: unknown post condition principal ID {id}"
            ))),
        }
    }
}

/// Identifies a token: the contract that defines it and its name there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetInfo {
    /// The defining contract's issuer.
    pub contract_address: StacksAddress,
    /// The defining contract's name.
    pub contract_name: ContractName,
    /// The token's name.
    pub asset_name: ClarityName,
}

impl StacksMessageCodec for AssetInfo {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.contract_address)?;
        write_next(fd, &self.contract_name)?;
        write_next(fd, &self.asset_name)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        Ok(AssetInfo {
            contract_address: read_next(fd)?,
            contract_name: read_next(fd)?,
            asset_name: read_next(fd)?,
        })
    }
}

/// A limit on what the transaction may move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionPostCondition {
    /// STX sent by a principal, compared with an amount.
    STX(PostConditionPrincipal, FungibleConditionCode, u64),
    /// A fungible token sent by a principal, compared with an amount.
    Fungible(
        PostConditionPrincipal,
        AssetInfo,
        FungibleConditionCode,
        u64,
    ),
    /// A non-fungible token (identified by a Clarity value) sent or not by a principal.
    Nonfungible(
        PostConditionPrincipal,
        AssetInfo,
        Value,
        NonfungibleConditionCode,
    ),
}

fn fungible_code(byte: u8, what: &str) -> Result<FungibleConditionCode, CodecError> {
    FungibleConditionCode::from_u8(byte).ok_or_else(|| {
        CodecError::DeserializeError(format!(
            "Failed to parse transaction: Failed to parse {what} condition code {byte}"
        ))
    })
}

impl StacksMessageCodec for TransactionPostCondition {
    const ALLOC_GUARD_SIZE: u64 = 256;

    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        match self {
            TransactionPostCondition::STX(principal, code, amount) => {
                write_next(fd, &AssetInfoID::STX.to_u8())?;
                write_next(fd, principal)?;
                write_next(fd, &code.to_u8())?;
                write_next(fd, amount)
            }
            TransactionPostCondition::Fungible(principal, asset, code, amount) => {
                write_next(fd, &AssetInfoID::FungibleAsset.to_u8())?;
                write_next(fd, principal)?;
                write_next(fd, asset)?;
                write_next(fd, &code.to_u8())?;
                write_next(fd, amount)
            }
            TransactionPostCondition::Nonfungible(principal, asset, value, code) => {
                write_next(fd, &AssetInfoID::NonfungibleAsset.to_u8())?;
                write_next(fd, principal)?;
                write_next(fd, asset)?;
                write_next(fd, value)?;
                write_next(fd, &code.to_u8())
            }
        }
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let id: u8 = read_next(fd)?;
        match AssetInfoID::from_u8(id) {
            Some(AssetInfoID::STX) => {
                let principal = read_next(fd)?;
                let code: u8 = read_next(fd)?;
                let amount = read_next(fd)?;
                let code = fungible_code(code, "STX fungible")?;
                Ok(TransactionPostCondition::STX(principal, code, amount))
            }
            Some(AssetInfoID::FungibleAsset) => {
                let principal = read_next(fd)?;
                let asset = read_next(fd)?;
                let code: u8 = read_next(fd)?;
                let amount = read_next(fd)?;
                let code = fungible_code(code, "FungibleAsset")?;
                Ok(TransactionPostCondition::Fungible(
                    principal, asset, code, amount,
                ))
            }
            Some(AssetInfoID::NonfungibleAsset) => {
                let principal = read_next(fd)?;
                let asset = read_next(fd)?;
                let value = read_next(fd)?;
                let code: u8 = read_next(fd)?;
                let code = NonfungibleConditionCode::from_u8(code).ok_or_else(|| {
                    CodecError::DeserializeError(format!(
                        "Failed to parse transaction: Failed to parse NonfungibleAsset condition code {code}"
                    ))
                })?;
                Ok(TransactionPostCondition::Nonfungible(
                    principal, asset, value, code,
                ))
            }
            None => Err(CodecError::DeserializeError(format!(
                "Failed to parse transaction: unknown asset info ID {id}"
            ))),
        }
    }
}
