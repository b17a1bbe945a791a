//! Why a signer rejected a block: the strict `RejectCode` carried by every rejection and the
//! richer, forward-compatible `RejectReason` carried in the response data.

use std::fmt;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::ValidateRejectCode;
use crate::chain::ConsensusHash;
use crate::codec::{read_next, write_next, Error as CodecError, StacksMessageCodec};
use crate::define_u8_enum;

define_u8_enum! {
    /// The wire byte of a [`RejectCode`].
    pub enum RejectCodeTypePrefix {
        /// The node's validation failed.
        ValidationFailed = 0,
        /// The signer had connectivity issues.
        ConnectivityIssues = 1,
        /// The block was rejected in a prior round.
        RejectedInPriorRound = 2,
        /// The signer has no sortition view.
        NoSortitionView = 3,
        /// The block does not match the signer's sortition view.
        SortitionViewMismatch = 4,
        /// A testing directive.
        TestingDirective = 5,
    }
}

impl TryFrom<u8> for RejectCodeTypePrefix {
    type Error = CodecError;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Self::from_u8(value).ok_or_else(|| {
            CodecError::DeserializeError(format!("Unknown reject code type prefix: {value}"))
        })
    }
}

/// The reason code every block rejection carries (strict: unknown codes are an error).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RejectCode {
    /// The node's block validation failed with this code.
    ValidationFailed(ValidateRejectCode),
    /// The signer has no sortition view to check the block against.
    NoSortitionView,
    /// The signer had connectivity issues. The text is not on the wire: it decodes as
    /// `"unspecified"`.
    ConnectivityIssues(String),
    /// The block was proposed before and rejected.
    RejectedInPriorRound,
    /// The block does not match the signer's sortition view.
    SortitionViewMismatch,
    /// A testing directive.
    TestingDirective,
}

impl From<&RejectCode> for RejectCodeTypePrefix {
    fn from(code: &RejectCode) -> Self {
        match code {
            RejectCode::ValidationFailed(_) => Self::ValidationFailed,
            RejectCode::ConnectivityIssues(_) => Self::ConnectivityIssues,
            RejectCode::RejectedInPriorRound => Self::RejectedInPriorRound,
            RejectCode::NoSortitionView => Self::NoSortitionView,
            RejectCode::SortitionViewMismatch => Self::SortitionViewMismatch,
            RejectCode::TestingDirective => Self::TestingDirective,
        }
    }
}

/// The text the connectivity-issues variants decode with (their text is not on the wire).
const UNSPECIFIED: &str = "unspecified";

fn read_validate_code<R: Read>(fd: &mut R) -> Result<ValidateRejectCode, CodecError> {
    let byte: u8 = read_next(fd)?;
    ValidateRejectCode::try_from(byte).map_err(|e| {
        CodecError::DeserializeError(format!("Failed to decode validation reject code: {e:?}"))
    })
}

impl StacksMessageCodec for RejectCode {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &RejectCodeTypePrefix::from(self).to_u8())?;
        if let RejectCode::ValidationFailed(code) = self {
            write_next(fd, &code.to_u8())?;
        }
        Ok(())
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let byte: u8 = read_next(fd)?;
        Ok(match RejectCodeTypePrefix::try_from(byte)? {
            RejectCodeTypePrefix::ValidationFailed => {
                RejectCode::ValidationFailed(read_validate_code(fd)?)
            }
            RejectCodeTypePrefix::ConnectivityIssues => {
                RejectCode::ConnectivityIssues(UNSPECIFIED.to_string())
            }
            RejectCodeTypePrefix::RejectedInPriorRound => RejectCode::RejectedInPriorRound,
            RejectCodeTypePrefix::NoSortitionView => RejectCode::NoSortitionView,
            RejectCodeTypePrefix::SortitionViewMismatch => RejectCode::SortitionViewMismatch,
            RejectCodeTypePrefix::TestingDirective => RejectCode::TestingDirective,
        })
    }
}

impl From<&RejectReason> for RejectCode {
    /// The reasons added after the codes all map to `SortitionViewMismatch`.
    fn from(reason: &RejectReason) -> Self {
        match reason {
            RejectReason::ValidationFailed(code) => RejectCode::ValidationFailed(*code),
            RejectReason::NoSortitionView => RejectCode::NoSortitionView,
            RejectReason::ConnectivityIssues(text) => RejectCode::ConnectivityIssues(text.clone()),
            RejectReason::RejectedInPriorRound => RejectCode::RejectedInPriorRound,
            RejectReason::SortitionViewMismatch => RejectCode::SortitionViewMismatch,
            RejectReason::TestingDirective => RejectCode::TestingDirective,
            _ => RejectCode::SortitionViewMismatch,
        }
    }
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The six codes share their texts with the reasons of the same name.
        fmt::Display::fmt(&RejectReason::from(self), f)
    }
}

/// Why a signer rejected a block, as carried in the response data. Decoding is lenient:
/// unknown bytes become [`RejectReason::Unknown`] and a missing byte is `Unknown(254)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RejectReason {
    /// The node's block validation failed with this code.
    ValidationFailed(ValidateRejectCode),
    /// The signer has no sortition view to check the block against.
    NoSortitionView,
    /// The signer had connectivity issues. The text is not on the wire: it decodes as
    /// `"unspecified"`.
    ConnectivityIssues(String),
    /// The block was proposed before and rejected.
    RejectedInPriorRound,
    /// The block does not match the signer's sortition view.
    SortitionViewMismatch,
    /// A testing directive.
    TestingDirective,
    /// The block tried to reorg the previous tenure(s) but that was not allowed.
    ReorgNotAllowed,
    /// The bitvec field is not what was expected.
    InvalidBitvec,
    /// The miner's pubkey hash does not match the winning one.
    PubkeyHashMismatch,
    /// The miner has been marked invalid.
    InvalidMiner,
    /// The miner won the last sortition but the current winner is still valid.
    NotLatestSortitionWinner,
    /// The block does not confirm the expected parent.
    InvalidParentBlock,
    /// A second block-found tenure change.
    DuplicateBlockFound,
    /// A tenure extend that is not yet allowed.
    InvalidTenureExtend,
    /// The miner's public key hash cannot be recovered.
    IrrecoverablePubkeyHash,
    /// The signers reached no consensus.
    NoSignerConsensus,
    /// The block's consensus hash is not the active miner's tenure id.
    ConsensusHashMismatch {
        /// The active miner's tenure id.
        expected: ConsensusHash,
        /// The block's consensus hash.
        actual: ConsensusHash,
    },
    /// The block was accepted: no rejection.
    NotRejected,
    /// A reason byte this version does not know (re-encoded as 254).
    Unknown(u8),
}

/// The wire byte of a [`RejectReason`]. Every byte maps to a prefix: unknown ones to
/// [`RejectReasonPrefix::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Ord, PartialOrd, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum RejectReasonPrefix {
    /// See [`RejectReason::ValidationFailed`].
    ValidationFailed = 0,
    /// See [`RejectReason::ConnectivityIssues`].
    ConnectivityIssues = 1,
    /// See [`RejectReason::RejectedInPriorRound`].
    RejectedInPriorRound = 2,
    /// See [`RejectReason::NoSortitionView`].
    NoSortitionView = 3,
    /// See [`RejectReason::SortitionViewMismatch`].
    SortitionViewMismatch = 4,
    /// See [`RejectReason::TestingDirective`].
    TestingDirective = 5,
    /// See [`RejectReason::ReorgNotAllowed`].
    ReorgNotAllowed = 6,
    /// See [`RejectReason::InvalidBitvec`].
    InvalidBitvec = 7,
    /// See [`RejectReason::PubkeyHashMismatch`].
    PubkeyHashMismatch = 8,
    /// See [`RejectReason::InvalidMiner`].
    InvalidMiner = 9,
    /// See [`RejectReason::NotLatestSortitionWinner`].
    NotLatestSortitionWinner = 10,
    /// See [`RejectReason::InvalidParentBlock`].
    InvalidParentBlock = 11,
    /// See [`RejectReason::DuplicateBlockFound`].
    DuplicateBlockFound = 12,
    /// See [`RejectReason::InvalidTenureExtend`].
    InvalidTenureExtend = 13,
    /// See [`RejectReason::IrrecoverablePubkeyHash`].
    IrrecoverablePubkeyHash = 14,
    /// See [`RejectReason::NoSignerConsensus`].
    NoSignerConsensus = 15,
    /// See [`RejectReason::ConsensusHashMismatch`].
    ConsensusHashMismatch = 16,
    /// Any byte this version does not know.
    Unknown = 254,
    /// See [`RejectReason::NotRejected`].
    NotRejected = 255,
}

impl RejectReasonPrefix {
    const KNOWN: [RejectReasonPrefix; 19] = [
        Self::ValidationFailed,
        Self::ConnectivityIssues,
        Self::RejectedInPriorRound,
        Self::NoSortitionView,
        Self::SortitionViewMismatch,
        Self::TestingDirective,
        Self::ReorgNotAllowed,
        Self::InvalidBitvec,
        Self::PubkeyHashMismatch,
        Self::InvalidMiner,
        Self::NotLatestSortitionWinner,
        Self::InvalidParentBlock,
        Self::DuplicateBlockFound,
        Self::InvalidTenureExtend,
        Self::IrrecoverablePubkeyHash,
        Self::NoSignerConsensus,
        Self::ConsensusHashMismatch,
        Self::Unknown,
        Self::NotRejected,
    ];

    /// The wire byte.
    pub fn to_u8(&self) -> u8 {
        *self as u8
    }
}

impl From<u8> for RejectReasonPrefix {
    fn from(value: u8) -> Self {
        Self::KNOWN
            .iter()
            .copied()
            .find(|prefix| prefix.to_u8() == value)
            .unwrap_or(Self::Unknown)
    }
}

impl From<&RejectReason> for RejectReasonPrefix {
    fn from(reason: &RejectReason) -> Self {
        match reason {
            RejectReason::ValidationFailed(_) => Self::ValidationFailed,
            RejectReason::ConnectivityIssues(_) => Self::ConnectivityIssues,
            RejectReason::RejectedInPriorRound => Self::RejectedInPriorRound,
            RejectReason::NoSortitionView => Self::NoSortitionView,
            RejectReason::SortitionViewMismatch => Self::SortitionViewMismatch,
            RejectReason::TestingDirective => Self::TestingDirective,
            RejectReason::ReorgNotAllowed => Self::ReorgNotAllowed,
            RejectReason::InvalidBitvec => Self::InvalidBitvec,
            RejectReason::PubkeyHashMismatch => Self::PubkeyHashMismatch,
            RejectReason::InvalidMiner => Self::InvalidMiner,
            RejectReason::NotLatestSortitionWinner => Self::NotLatestSortitionWinner,
            RejectReason::InvalidParentBlock => Self::InvalidParentBlock,
            RejectReason::DuplicateBlockFound => Self::DuplicateBlockFound,
            RejectReason::InvalidTenureExtend => Self::InvalidTenureExtend,
            RejectReason::IrrecoverablePubkeyHash => Self::IrrecoverablePubkeyHash,
            RejectReason::NoSignerConsensus => Self::NoSignerConsensus,
            RejectReason::ConsensusHashMismatch { .. } => Self::ConsensusHashMismatch,
            RejectReason::Unknown(_) => Self::Unknown,
            RejectReason::NotRejected => Self::NotRejected,
        }
    }
}

impl From<&RejectCode> for RejectReason {
    fn from(code: &RejectCode) -> Self {
        match code {
            RejectCode::ValidationFailed(code) => RejectReason::ValidationFailed(*code),
            RejectCode::ConnectivityIssues(text) => RejectReason::ConnectivityIssues(text.clone()),
            RejectCode::RejectedInPriorRound => RejectReason::RejectedInPriorRound,
            RejectCode::NoSortitionView => RejectReason::NoSortitionView,
            RejectCode::SortitionViewMismatch => RejectReason::SortitionViewMismatch,
            RejectCode::TestingDirective => RejectReason::TestingDirective,
        }
    }
}

impl StacksMessageCodec for RejectReason {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &RejectReasonPrefix::from(self).to_u8())?;
        match self {
            RejectReason::ValidationFailed(code) => write_next(fd, &code.to_u8())?,
            RejectReason::ConsensusHashMismatch { expected, actual } => {
                write_next(fd, expected)?;
                write_next(fd, actual)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let Ok(byte) = read_next::<u8, _>(fd) else {
            return Ok(RejectReason::Unknown(RejectReasonPrefix::Unknown.to_u8()));
        };
        Ok(match RejectReasonPrefix::from(byte) {
            RejectReasonPrefix::ValidationFailed => {
                RejectReason::ValidationFailed(read_validate_code(fd)?)
            }
            RejectReasonPrefix::ConnectivityIssues => {
                RejectReason::ConnectivityIssues(UNSPECIFIED.to_string())
            }
            RejectReasonPrefix::RejectedInPriorRound => RejectReason::RejectedInPriorRound,
            RejectReasonPrefix::NoSortitionView => RejectReason::NoSortitionView,
            RejectReasonPrefix::SortitionViewMismatch => RejectReason::SortitionViewMismatch,
            RejectReasonPrefix::TestingDirective => RejectReason::TestingDirective,
            RejectReasonPrefix::ReorgNotAllowed => RejectReason::ReorgNotAllowed,
            RejectReasonPrefix::InvalidBitvec => RejectReason::InvalidBitvec,
            RejectReasonPrefix::PubkeyHashMismatch => RejectReason::PubkeyHashMismatch,
            RejectReasonPrefix::InvalidMiner => RejectReason::InvalidMiner,
            RejectReasonPrefix::NotLatestSortitionWinner => RejectReason::NotLatestSortitionWinner,
            RejectReasonPrefix::InvalidParentBlock => RejectReason::InvalidParentBlock,
            RejectReasonPrefix::DuplicateBlockFound => RejectReason::DuplicateBlockFound,
            RejectReasonPrefix::InvalidTenureExtend => RejectReason::InvalidTenureExtend,
            RejectReasonPrefix::IrrecoverablePubkeyHash => RejectReason::IrrecoverablePubkeyHash,
            RejectReasonPrefix::NoSignerConsensus => RejectReason::NoSignerConsensus,
            RejectReasonPrefix::ConsensusHashMismatch => RejectReason::ConsensusHashMismatch {
                expected: read_next(fd)?,
                actual: read_next(fd)?,
            },
            RejectReasonPrefix::Unknown => RejectReason::Unknown(byte),
            RejectReasonPrefix::NotRejected => RejectReason::NotRejected,
        })
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            RejectReason::ValidationFailed(code) => {
                return write!(f, "Validation failed: {code:?}");
            }
            RejectReason::ConnectivityIssues(text) => {
                return write!(
                    f,
                    "The block was rejected due to connectivity issues with the signer: {text}"
                );
            }
            RejectReason::ConsensusHashMismatch { expected, actual } => {
                return write!(
                    f,
                    "The block's consensus hash ({expected}) does not match the active miner's tenure id ({actual})"
                );
            }
            RejectReason::Unknown(code) => return write!(f, "Unknown reject code: {code}"),
            RejectReason::RejectedInPriorRound => {
                "The block was proposed before and rejected by the signer."
            }
            RejectReason::NoSortitionView => "The block was rejected due to no sortition view.",
            RejectReason::SortitionViewMismatch => {
                "The block was rejected due to a mismatch with expected sortition view."
            }
            RejectReason::TestingDirective => "The block was rejected due to a testing directive.",
            RejectReason::ReorgNotAllowed => {
                "The block attempted to reorg the previous tenure(s) but was not allowed."
            }
            RejectReason::InvalidBitvec => "The bitvec field does not match what is expected.",
            RejectReason::PubkeyHashMismatch => {
                "The miner's pubkey hash does not match the winning pubkey hash."
            }
            RejectReason::InvalidMiner => "The miner has been marked as invalid.",
            RejectReason::NotLatestSortitionWinner => {
                "Miner is last sortition winner, when the current sortition winner is still valid."
            }
            RejectReason::InvalidParentBlock => {
                "The block does not confirm the expected parent block."
            }
            RejectReason::DuplicateBlockFound => {
                "The block contains a block found tenure change, but we've already seen a block found."
            }
            RejectReason::InvalidTenureExtend => {
                "The block attempted a tenure extend but the burn view has not changed and not enough time has passed for a time-based tenure extend."
            }
            RejectReason::IrrecoverablePubkeyHash => {
                "The block has an irrecoverable associated miner public key hash."
            }
            RejectReason::NoSignerConsensus => "No signer consensus reached.",
            RejectReason::NotRejected => "The block was approved, no rejection details needed.",
        };
        f.write_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_byte_decodes_and_unknown_ones_consume_no_payload() {
        for byte in 0u8..=255 {
            let bytes = [byte, 0, 0, 0];
            let mut reader = &bytes[..];
            let decoded = RejectReason::consensus_deserialize(&mut reader);
            match byte {
                0 => assert_eq!(
                    decoded.unwrap(),
                    RejectReason::ValidationFailed(ValidateRejectCode::BadBlockHash)
                ),
                16 => assert!(decoded.is_err(), "40 bytes of payload are missing"),
                17..=254 => {
                    assert_eq!(decoded.unwrap(), RejectReason::Unknown(byte));
                    assert_eq!(reader.len(), 3);
                }
                _ => assert_eq!(
                    RejectReasonPrefix::from(&decoded.unwrap()).to_u8(),
                    byte,
                    "byte {byte}"
                ),
            }
        }
    }

    #[test]
    fn missing_reason_decodes_as_unknown_254_and_unknown_reencodes_as_254() {
        let decoded = RejectReason::consensus_deserialize(&mut &[][..]).unwrap();
        assert_eq!(decoded, RejectReason::Unknown(254));
        assert_eq!(RejectReason::Unknown(17).serialize_to_vec(), vec![254]);
    }

    #[test]
    fn reject_code_is_strict() {
        assert!(RejectCode::consensus_deserialize(&mut &[6u8][..]).is_err());
        assert!(RejectCode::consensus_deserialize(&mut &[0u8, 11][..]).is_err());
        assert_eq!(
            RejectCode::consensus_deserialize(&mut &[1u8][..]).unwrap(),
            RejectCode::ConnectivityIssues("unspecified".into())
        );
    }

    #[test]
    fn newer_reasons_map_to_sortition_view_mismatch() {
        assert_eq!(
            RejectCode::from(&RejectReason::ReorgNotAllowed),
            RejectCode::SortitionViewMismatch
        );
        assert_eq!(
            RejectCode::from(&RejectReason::NotRejected).to_string(),
            "The block was rejected due to a mismatch with expected sortition view."
        );
    }

    #[test]
    fn consensus_hash_mismatch_text_has_lowercase_hex_and_no_period() {
        let reason = RejectReason::ConsensusHashMismatch {
            expected: ConsensusHash([0xab; 20]),
            actual: ConsensusHash([0x01; 20]),
        };
        assert_eq!(
            reason.to_string(),
            format!(
                "The block's consensus hash ({}) does not match the active miner's tenure id ({})",
                "ab".repeat(20),
                "01".repeat(20)
            )
        );
    }
}
