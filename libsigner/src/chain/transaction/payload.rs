//! Transaction payloads: what a transaction does.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::chain::transaction::StacksString;
use crate::chain::{
    BlockHeaderHash, ClarityName, ConsensusHash, ContractName, Hash160, MessageSignature,
    PrincipalData, Sha512Trunc256Sum, StacksAddress, StacksBlockId, VRFProof, Value,
};
use crate::codec::{
    read_next, read_next_at_most, write_next, BoundReader, Error as CodecError, StacksMessageCodec,
    MAX_TRANSACTION_LEN,
};
use crate::define_u8_enum;

crate::byte_array_newtype!(
    /// The 32 bytes of control-plane data a coinbase commits to.
    CoinbasePayload, 32
);

crate::byte_array_newtype!(
    /// The 34-byte memo of a token transfer.
    TokenTransferMemo, 34
);

define_u8_enum!(
    /// The wire tag of a [`TransactionPayload`].
    pub enum TransactionPayloadID {
        /// STX transfer.
        TokenTransfer = 0,
        /// Contract deployment at the current Clarity version.
        SmartContract = 1,
        /// Contract call.
        ContractCall = 2,
        /// Proof of a microblock stream fork.
        PoisonMicroblock = 3,
        /// Pre-Nakamoto coinbase.
        Coinbase = 4,
        /// Pre-Nakamoto coinbase paying another principal.
        CoinbaseToAltRecipient = 5,
        /// Contract deployment at a given Clarity version.
        VersionedSmartContract = 6,
        /// Nakamoto tenure change.
        TenureChange = 7,
        /// Nakamoto coinbase: VRF proof and optional recipient.
        NakamotoCoinbase = 8,
    }
);

/// A Clarity language version, as a versioned smart contract names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ClarityVersion {
    /// Clarity 1.
    Clarity1,
    /// Clarity 2.
    Clarity2,
    /// Clarity 3.
    Clarity3,
    /// Clarity 4.
    Clarity4,
}

impl ClarityVersion {
    /// The wire byte (1..=4).
    pub fn to_u8(&self) -> u8 {
        match self {
            ClarityVersion::Clarity1 => 1,
            ClarityVersion::Clarity2 => 2,
            ClarityVersion::Clarity3 => 3,
            ClarityVersion::Clarity4 => 4,
        }
    }

    /// The version with wire byte `byte`, if any.
    pub fn from_u8(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(ClarityVersion::Clarity1),
            2 => Some(ClarityVersion::Clarity2),
            3 => Some(ClarityVersion::Clarity3),
            4 => Some(ClarityVersion::Clarity4),
            _ => None,
        }
    }
}

impl std::fmt::Display for ClarityVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clarity {}", self.to_u8())
    }
}

/// Whether `sig` parses as a recoverable secp256k1 signature (recovery id 0..=3, r and s
/// below the curve order); the signature need not verify anything.
fn is_recoverable_signature(sig: &MessageSignature) -> bool {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    RecoveryId::from_i32(i32::from(sig.0[0]))
        .and_then(|recid| RecoverableSignature::from_compact(&sig.0[1..], recid))
        .is_ok()
}

/// A contract deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionSmartContract {
    /// The contract's name (1..=40 bytes on the wire).
    pub name: ContractName,
    /// The contract's code.
    pub code_body: StacksString,
}

impl StacksMessageCodec for TransactionSmartContract {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.name)?;
        write_next(fd, &self.code_body)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let name = read_next(fd)?;
        let code_body = read_next(fd)?;
        Ok(TransactionSmartContract { name, code_body })
    }
}

define_u8_enum!(
    /// Why a tenure changes: a new tenure (block found) or an extension of some or all of
    /// the current tenure's budget.
    pub enum TenureChangeCause {
        /// A winning block-commit: a new tenure.
        BlockFound = 0,
        /// Extends every budget dimension.
        Extended = 1,
        /// Extends the runtime budget.
        ExtendedRuntime = 2,
        /// Extends the read-count budget.
        ExtendedReadCount = 3,
        /// Extends the read-length budget.
        ExtendedReadLength = 4,
        /// Extends the write-count budget.
        ExtendedWriteCount = 5,
        /// Extends the write-length budget.
        ExtendedWriteLength = 6,
    }
);

impl TenureChangeCause {
    /// Whether this cause starts a new tenure.
    pub fn is_new_tenure(&self) -> bool {
        *self == TenureChangeCause::BlockFound
    }

    /// Whether this cause extends the current tenure.
    pub fn is_extended(&self) -> bool {
        !self.is_new_tenure()
    }
}

impl std::fmt::Display for TenureChangeCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TenureChangeCause::BlockFound => "BlockFound",
            TenureChangeCause::Extended => "Extend",
            TenureChangeCause::ExtendedRuntime => "ExtendRuntime",
            TenureChangeCause::ExtendedReadCount => "ExtendReadCount",
            TenureChangeCause::ExtendedReadLength => "ExtendReadLength",
            TenureChangeCause::ExtendedWriteCount => "ExtendWriteCount",
            TenureChangeCause::ExtendedWriteLength => "ExtendWriteLength",
        })
    }
}

impl StacksMessageCodec for TenureChangeCause {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.to_u8())
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let byte: u8 = read_next(fd)?;
        TenureChangeCause::from_u8(byte).ok_or_else(|| {
            CodecError::DeserializeError(format!("Unrecognized TenureChangeCause byte {byte}"))
        })
    }
}

/// A Nakamoto tenure change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenureChangePayload {
    /// Consensus hash of the sortition that chose this tenure's miner.
    pub tenure_consensus_hash: ConsensusHash,
    /// Consensus hash of the previous tenure's sortition.
    pub prev_tenure_consensus_hash: ConsensusHash,
    /// The burn view: the last sortition the miner saw.
    pub burn_view_consensus_hash: ConsensusHash,
    /// The last block of the previous tenure.
    pub previous_tenure_end: StacksBlockId,
    /// Blocks produced in the previous tenure.
    pub previous_tenure_blocks: u32,
    /// Why the tenure changes.
    pub cause: TenureChangeCause,
    /// Hash160 of the miner's public key.
    pub pubkey_hash: Hash160,
}

impl StacksMessageCodec for TenureChangePayload {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.tenure_consensus_hash)?;
        write_next(fd, &self.prev_tenure_consensus_hash)?;
        write_next(fd, &self.burn_view_consensus_hash)?;
        write_next(fd, &self.previous_tenure_end)?;
        write_next(fd, &self.previous_tenure_blocks)?;
        write_next(fd, &self.cause)?;
        write_next(fd, &self.pubkey_hash)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        Ok(TenureChangePayload {
            tenure_consensus_hash: read_next(fd)?,
            prev_tenure_consensus_hash: read_next(fd)?,
            burn_view_consensus_hash: read_next(fd)?,
            previous_tenure_end: read_next(fd)?,
            previous_tenure_blocks: read_next(fd)?,
            cause: read_next(fd)?,
            pubkey_hash: read_next(fd)?,
        })
    }
}

/// A (pre-Nakamoto) microblock header, as a poison-microblock proof carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StacksMicroblockHeader {
    /// Header version.
    pub version: u8,
    /// Position in the microblock stream.
    pub sequence: u16,
    /// The parent block or microblock.
    pub prev_block: BlockHeaderHash,
    /// Merkle root of the microblock's transactions.
    pub tx_merkle_root: Sha512Trunc256Sum,
    /// The miner's signature.
    pub signature: MessageSignature,
}

impl StacksMessageCodec for StacksMicroblockHeader {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.version)?;
        write_next(fd, &self.sequence)?;
        write_next(fd, &self.prev_block)?;
        write_next(fd, &self.tx_merkle_root)?;
        write_next(fd, &self.signature)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let header = StacksMicroblockHeader {
            version: read_next(fd)?,
            sequence: read_next(fd)?,
            prev_block: read_next(fd)?,
            tx_merkle_root: read_next(fd)?,
            signature: read_next(fd)?,
        };
        if !is_recoverable_signature(&header.signature) {
            return Err(CodecError::DeserializeError(
                "Failed to parse signature".to_string(),
            ));
        }
        Ok(header)
    }
}

/// A call of a public contract function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionContractCall {
    /// The contract's deployer.
    pub address: StacksAddress,
    /// The contract's name.
    pub contract_name: ContractName,
    /// The function called.
    pub function_name: ClarityName,
    /// Its arguments.
    pub function_args: Vec<Value>,
}

impl StacksMessageCodec for TransactionContractCall {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.address)?;
        write_next(fd, &self.contract_name)?;
        write_next(fd, &self.function_name)?;
        write_next(fd, &self.function_args)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let address = read_next(fd)?;
        let contract_name = read_next(fd)?;
        let function_name = read_next(fd)?;
        let mut bounded = BoundReader::from_reader(fd, u64::from(MAX_TRANSACTION_LEN));
        let function_args = read_next_at_most(&mut bounded, u32::MAX)?;
        Ok(TransactionContractCall {
            address,
            contract_name,
            function_name,
            function_args,
        })
    }
}

/// What a transaction does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionPayload {
    /// Sends STX to a principal, with a memo.
    TokenTransfer(PrincipalData, u64, TokenTransferMemo),
    /// Calls a public function of a contract.
    ContractCall(TransactionContractCall),
    /// Deploys a contract, at a given Clarity version or (`None`) the current one.
    SmartContract(TransactionSmartContract, Option<ClarityVersion>),
    /// Proves that a miner forked its microblock stream.
    PoisonMicroblock(StacksMicroblockHeader, StacksMicroblockHeader),
    /// A coinbase: its payload, an optional alternative recipient, and (Nakamoto) a VRF
    /// proof.
    Coinbase(CoinbasePayload, Option<PrincipalData>, Option<VRFProof>),
    /// A Nakamoto tenure change.
    TenureChange(TenureChangePayload),
}

impl TransactionPayload {
    /// The reference's short name of the payload kind.
    pub fn name(&self) -> &'static str {
        match self {
            TransactionPayload::TokenTransfer(..) => "TokenTransfer",
            TransactionPayload::ContractCall(..) => "ContractCall",
            TransactionPayload::SmartContract(_, Some(_)) => "SmartContract(Versioned)",
            TransactionPayload::SmartContract(_, None) => "SmartContract",
            TransactionPayload::PoisonMicroblock(..) => "PoisonMicroblock",
            TransactionPayload::Coinbase(_, _, Some(_)) => "Coinbase(Nakamoto)",
            TransactionPayload::Coinbase(_, _, None) => "Coinbase",
            TransactionPayload::TenureChange(tc) => match tc.cause {
                TenureChangeCause::BlockFound => "TenureChange(BlockFound)",
                TenureChangeCause::Extended => "TenureChange(ExtendAll)",
                TenureChangeCause::ExtendedRuntime => "TenureChange(ExtendRuntime)",
                TenureChangeCause::ExtendedReadCount => "TenureChange(ExtendReadCount)",
                TenureChangeCause::ExtendedReadLength => "TenureChange(ExtendReadLength)",
                TenureChangeCause::ExtendedWriteCount => "TenureChange(ExtendWriteCount)",
                TenureChangeCause::ExtendedWriteLength => "TenureChange(ExtendWriteLength)",
            },
        }
    }
}

fn write_id<W: Write>(fd: &mut W, id: TransactionPayloadID) -> Result<(), CodecError> {
    write_next(fd, &id.to_u8())
}

impl StacksMessageCodec for TransactionPayload {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        match self {
            TransactionPayload::TokenTransfer(recipient, amount, memo) => {
                write_id(fd, TransactionPayloadID::TokenTransfer)?;
                write_next(fd, recipient)?;
                write_next(fd, amount)?;
                write_next(fd, memo)
            }
            TransactionPayload::ContractCall(call) => {
                write_id(fd, TransactionPayloadID::ContractCall)?;
                write_next(fd, call)
            }
            TransactionPayload::SmartContract(contract, None) => {
                write_id(fd, TransactionPayloadID::SmartContract)?;
                write_next(fd, contract)
            }
            TransactionPayload::SmartContract(contract, Some(version)) => {
                write_id(fd, TransactionPayloadID::VersionedSmartContract)?;
                write_next(fd, &version.to_u8())?;
                write_next(fd, contract)
            }
            TransactionPayload::PoisonMicroblock(h1, h2) => {
                write_id(fd, TransactionPayloadID::PoisonMicroblock)?;
                write_next(fd, h1)?;
                write_next(fd, h2)
            }
            TransactionPayload::Coinbase(payload, None, None) => {
                write_id(fd, TransactionPayloadID::Coinbase)?;
                write_next(fd, payload)
            }
            TransactionPayload::Coinbase(payload, Some(recipient), None) => {
                write_id(fd, TransactionPayloadID::CoinbaseToAltRecipient)?;
                write_next(fd, payload)?;
                recipient.write_value(fd)
            }
            TransactionPayload::Coinbase(payload, recipient, Some(proof)) => {
                write_id(fd, TransactionPayloadID::NakamotoCoinbase)?;
                write_next(fd, payload)?;
                coinbase_recipient::write_optional(fd, recipient.as_ref())?;
                write_next(fd, proof)
            }
            TransactionPayload::TenureChange(tc) => {
                write_id(fd, TransactionPayloadID::TenureChange)?;
                write_next(fd, tc)
            }
        }
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let id: u8 = read_next(fd)?;
        let Some(kind) = TransactionPayloadID::from_u8(id) else {
            return Err(CodecError::DeserializeError(format!(
                "Failed to parse transaction -- unknown payload ID {id}"
            )));
        };
        let payload = match kind {
            TransactionPayloadID::TokenTransfer => {
                let recipient = read_next(fd)?;
                let amount = read_next(fd)?;
                let memo = read_next(fd)?;
                TransactionPayload::TokenTransfer(recipient, amount, memo)
            }
            TransactionPayloadID::ContractCall => TransactionPayload::ContractCall(read_next(fd)?),
            TransactionPayloadID::SmartContract => {
                TransactionPayload::SmartContract(read_next(fd)?, None)
            }
            TransactionPayloadID::VersionedSmartContract => {
                let byte: u8 = read_next(fd)?;
                let version = ClarityVersion::from_u8(byte).ok_or_else(|| {
                    CodecError::DeserializeError(format!("Unrecognized ClarityVersion byte {byte}"))
                })?;
                TransactionPayload::SmartContract(read_next(fd)?, Some(version))
            }
            TransactionPayloadID::PoisonMicroblock => {
                let h1: StacksMicroblockHeader = read_next(fd)?;
                let h2: StacksMicroblockHeader = read_next(fd)?;
                if h1 == h2 {
                    return Err(CodecError::DeserializeError(
                        "Failed to parse transaction -- microblock headers match".to_string(),
                    ));
                }
                if h1.sequence != h2.sequence && h1.prev_block != h2.prev_block {
                    return Err(CodecError::DeserializeError(
                        "Failed to parse transaction -- microblock headers do not identify a fork"
                            .to_string(),
                    ));
                }
                TransactionPayload::PoisonMicroblock(h1, h2)
            }
            TransactionPayloadID::Coinbase => {
                TransactionPayload::Coinbase(read_next(fd)?, None, None)
            }
            TransactionPayloadID::CoinbaseToAltRecipient => {
                let payload = read_next(fd)?;
                let recipient = coinbase_recipient::read_principal(fd)?;
                TransactionPayload::Coinbase(payload, Some(recipient), None)
            }
            TransactionPayloadID::NakamotoCoinbase => {
                let payload = read_next(fd)?;
                let recipient = coinbase_recipient::read_optional(fd)?;
                let proof = read_next(fd)?;
                TransactionPayload::Coinbase(payload, recipient, Some(proof))
            }
            TransactionPayloadID::TenureChange => TransactionPayload::TenureChange(read_next(fd)?),
        };
        Ok(payload)
    }
}

/// The coinbase recipient as a Clarity value: a principal (alt-recipient coinbase) or an
/// optional principal (Nakamoto coinbase).
mod coinbase_recipient {
    use std::io::{Read, Write};

    use crate::chain::{PrincipalData, Value};
    use crate::codec::{write_next, Error as CodecError, StacksMessageCodec};

    const NONE_PREFIX: u8 = 0x09;
    const SOME_PREFIX: u8 = 0x0a;

    /// Reads a Clarity value that must be a principal.
    pub(super) fn read_principal<R: Read>(fd: &mut R) -> Result<PrincipalData, CodecError> {
        match Value::consensus_deserialize(fd) {
            Ok(Value::Principal(p)) => Ok(p),
            Ok(_) => Err(CodecError::DeserializeError(
                "Failed to parse coinbase transaction -- did not receive a recipient principal value"
                    .to_string(),
            )),
            Err(e) => Err(e),
        }
    }

    /// Reads a Clarity value that must be an optional. As in the reference, `(some v)` of
    /// anything but a principal silently becomes no recipient.
    pub(super) fn read_optional<R: Read>(fd: &mut R) -> Result<Option<PrincipalData>, CodecError> {
        match Value::consensus_deserialize(fd)? {
            Value::Optional(o) => Ok(match o.data.map(|v| *v) {
                Some(Value::Principal(p)) => Some(p),
                _ => None,
            }),
            _ => Err(CodecError::DeserializeError(
                "Failed to parse nakamoto coinbase transaction -- did not receive an optional recipient principal value"
                    .to_string(),
            )),
        }
    }

    /// Writes `none` or `(some principal)`.
    pub(super) fn write_optional<W: Write>(
        fd: &mut W,
        recipient: Option<&PrincipalData>,
    ) -> Result<(), CodecError> {
        match recipient {
            None => write_next(fd, &NONE_PREFIX),
            Some(principal) => {
                write_next(fd, &SOME_PREFIX)?;
                principal.write_value(fd)
            }
        }
    }
}
