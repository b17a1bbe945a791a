//! Stacks transactions: the consensus encoding, the txid, the signature chain and signing.
//!
//! ```text
//! tx := version u8 || chain_id u32 || auth || anchor_mode u8 || post_condition_mode u8
//!       || VEC<post_condition> || payload
//! ```
//!
//! A transaction is read through a 2 MiB bound. Some inputs decode to a value that encodes
//! differently (the version byte is read by its top bit only, a Nakamoto coinbase recipient
//! that is `some` non-principal becomes `none`, a VRF Gamma is re-encoded canonically), so a
//! txid is always the hash of the re-encoding, never of the input bytes.

pub mod auth;
pub mod payload;
pub mod post_condition;
pub mod signer;
pub mod string;

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::chain::{StacksAddress, Txid};
use crate::codec::{
    read_next, write_next, BoundReader, Error as CodecError, StacksMessageCodec,
    MAX_TRANSACTION_LEN,
};
use crate::define_u8_enum;

pub use auth::{
    MultisigHashMode, MultisigSpendingCondition, OrderIndependentMultisigHashMode,
    OrderIndependentMultisigSpendingCondition, SinglesigHashMode, SinglesigSpendingCondition,
    TransactionAuth, TransactionAuthError, TransactionAuthField, TransactionAuthFieldID,
    TransactionAuthFlags, TransactionPublicKeyEncoding, TransactionSpendingCondition,
};
pub use payload::{
    ClarityVersion, CoinbasePayload, StacksMicroblockHeader, TenureChangeCause,
    TenureChangePayload, TokenTransferMemo, TransactionContractCall, TransactionPayload,
    TransactionPayloadID, TransactionSmartContract,
};
pub use post_condition::{
    AssetInfo, AssetInfoID, FungibleConditionCode, NonfungibleConditionCode,
    PostConditionPrincipal, PostConditionPrincipalID, TransactionPostCondition,
};
pub use signer::StacksTransactionSigner;
pub use string::StacksString;

define_u8_enum!(
    /// The network a transaction is for.
    pub enum TransactionVersion {
        /// Mainnet (`0x00`).
        Mainnet = 0x00,
        /// Testnet (`0x80`).
        Testnet = 0x80,
    }
);

define_u8_enum!(
    /// Where a transaction may be mined.
    pub enum TransactionAnchorMode {
        /// Only in an anchored block.
        OnChainOnly = 1,
        /// Only in a microblock.
        OffChainOnly = 2,
        /// Either.
        Any = 3,
    }
);

define_u8_enum!(
    /// What happens to asset movements no post-condition mentions.
    pub enum TransactionPostConditionMode {
        /// They are allowed.
        Allow = 0x01,
        /// They abort the transaction.
        Deny = 0x02,
    }
);

/// A Stacks transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StacksTransaction {
    /// The network.
    pub version: TransactionVersion,
    /// The chain id.
    pub chain_id: u32,
    /// Who authorizes and pays, with their signatures.
    pub auth: TransactionAuth,
    /// Where the transaction may be mined.
    pub anchor_mode: TransactionAnchorMode,
    /// How unlisted asset movements are treated.
    pub post_condition_mode: TransactionPostConditionMode,
    /// Limits on asset movements.
    pub post_conditions: Vec<TransactionPostCondition>,
    /// What the transaction does.
    pub payload: TransactionPayload,
}

impl std::hash::Hash for StacksTransaction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.txid().hash(state);
    }
}

impl StacksMessageCodec for StacksTransaction {
    const ALLOC_GUARD_SIZE: u64 = 552;

    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.version.to_u8())?;
        write_next(fd, &self.chain_id)?;
        write_next(fd, &self.auth)?;
        write_next(fd, &self.anchor_mode.to_u8())?;
        write_next(fd, &self.post_condition_mode.to_u8())?;
        write_next(fd, &self.post_conditions)?;
        write_next(fd, &self.payload)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        StacksTransaction::consensus_deserialize_with_len(fd).map(|(tx, _)| tx)
    }
}

impl StacksTransaction {
    /// Decodes a transaction and also returns how many bytes it took.
    pub fn consensus_deserialize_with_len<R: Read>(
        fd: &mut R,
    ) -> Result<(StacksTransaction, u64), CodecError> {
        let mut bounded = BoundReader::from_reader(fd, u64::from(MAX_TRANSACTION_LEN));
        let fd = &mut bounded;
        let version_byte: u8 = read_next(fd)?;
        let chain_id: u32 = read_next(fd)?;
        let auth: TransactionAuth = read_next(fd)?;
        let anchor_byte: u8 = read_next(fd)?;
        let mode_byte: u8 = read_next(fd)?;
        let post_conditions: Vec<TransactionPostCondition> = read_next(fd)?;
        let payload: TransactionPayload = read_next(fd)?;

        let version = if version_byte & 0x80 == 0 {
            TransactionVersion::Mainnet
        } else {
            TransactionVersion::Testnet
        };
        let anchor_mode = TransactionAnchorMode::from_u8(anchor_byte).ok_or_else(|| {
            CodecError::DeserializeError(format!(
                "Failed to parse transaction: invalid anchor mode {anchor_byte}"
            ))
        })?;
        // Coinbases and poison-microblock proofs must be anchored, or the leader they concern
        // could orphan them.
        let anchored_only = match &payload {
            TransactionPayload::PoisonMicroblock(..) => Some("PoisonMicroblock"),
            TransactionPayload::Coinbase(..) => Some("Coinbase"),
            _ => None,
        };
        if let Some(kind) = anchored_only {
            if anchor_mode != TransactionAnchorMode::OnChainOnly {
                return Err(CodecError::DeserializeError(format!(
                    "Failed to parse transaction: invalid anchor mode for {kind}"
                )));
            }
        }
        let post_condition_mode =
            TransactionPostConditionMode::from_u8(mode_byte).ok_or_else(|| {
                CodecError::DeserializeError(format!(
                    "Failed to parse transaction: invalid post-condition mode {mode_byte}"
                ))
            })?;
        let tx = StacksTransaction {
            version,
            chain_id,
            auth,
            anchor_mode,
            post_condition_mode,
            post_conditions,
            payload,
        };
        Ok((tx, fd.num_read()))
    }

    /// A transaction with chain id 0, no post-conditions, deny mode, and the anchor mode
    /// the payload needs (on-chain only for coinbases and poison proofs, any otherwise).
    pub fn new(
        version: TransactionVersion,
        auth: TransactionAuth,
        payload: TransactionPayload,
    ) -> StacksTransaction {
        let anchor_mode = match payload {
            TransactionPayload::Coinbase(..) | TransactionPayload::PoisonMicroblock(..) => {
                TransactionAnchorMode::OnChainOnly
            }
            _ => TransactionAnchorMode::Any,
        };
        StacksTransaction {
            version,
            chain_id: 0,
            auth,
            anchor_mode,
            post_condition_mode: TransactionPostConditionMode::Deny,
            post_conditions: Vec::new(),
            payload,
        }
    }

    /// SHA-512/256 of the transaction's encoding.
    pub fn txid(&self) -> Txid {
        Txid::from_tx_bytes(&self.serialize_to_vec())
    }

    /// Whether this is a mainnet transaction.
    pub fn is_mainnet(&self) -> bool {
        self.version == TransactionVersion::Mainnet
    }

    /// The origin's address on the transaction's network.
    pub fn origin_address(&self) -> StacksAddress {
        self.auth.origin().address(self.is_mainnet())
    }

    /// The sponsor's address on the transaction's network, if sponsored.
    pub fn sponsor_address(&self) -> Option<StacksAddress> {
        self.auth.sponsor().map(|s| s.address(self.is_mainnet()))
    }

    /// The fee paid (by the sponsor when sponsored).
    pub fn get_tx_fee(&self) -> u64 {
        self.auth.get_tx_fee()
    }

    /// The origin's nonce.
    pub fn get_origin_nonce(&self) -> u64 {
        self.auth.get_origin_nonce()
    }

    /// The sponsor's nonce, if sponsored.
    pub fn get_sponsor_nonce(&self) -> Option<u64> {
        self.auth.get_sponsor_nonce()
    }

    /// Where the signature chain starts: the txid of this transaction with its origin
    /// condition cleared and, if sponsored, its sponsor replaced by the sentinel condition.
    pub fn initial_sighash(&self) -> Txid {
        let mut cleared = self.clone();
        cleared.auth = cleared.auth.into_initial_sighash_auth();
        cleared.txid()
    }

    /// Verifies the origin's (and the sponsor's) signatures.
    pub fn verify(&self) -> Result<(), TransactionAuthError> {
        self.auth.verify(&self.initial_sighash())
    }

    /// Verifies the origin's signatures; returns the sighash a sponsor signs from.
    pub fn verify_origin(&self) -> Result<Txid, TransactionAuthError> {
        self.auth.verify_origin(&self.initial_sighash())
    }

    /// The coinbase payload, recipient and VRF proof, if this is a coinbase.
    pub fn try_as_coinbase(
        &self,
    ) -> Option<(
        &CoinbasePayload,
        Option<&crate::chain::PrincipalData>,
        Option<&crate::chain::VRFProof>,
    )> {
        match &self.payload {
            TransactionPayload::Coinbase(payload, recipient, proof) => {
                Some((payload, recipient.as_ref(), proof.as_ref()))
            }
            _ => None,
        }
    }

    /// The tenure change, if this is one.
    pub fn try_as_tenure_change(&self) -> Option<&TenureChangePayload> {
        match &self.payload {
            TransactionPayload::TenureChange(tc) => Some(tc),
            _ => None,
        }
    }
}
