//! A signer's view of the chain, broadcast to the other signers so they can agree on a
//! global state: burn view, current miner and transaction replay set.

use std::io::{Read, Write};
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use super::STATE_MACHINE_UPDATE_MAX_SIZE;
use crate::chain::{ConsensusHash, Hash160, StacksBlockId, StacksTransaction};
use crate::codec::StacksMessageCodec;
use crate::codec::{read_bytes, read_next, write_length_prefixed, write_next, Error as CodecError};
use crate::v0::signer_state::ReplayTransactionSet;

/// A signer's state machine update: its protocol versions and its versioned view.
///
/// Wire form: `active u64 || local u64 || LP(content)`, the content at most
/// [`STATE_MACHINE_UPDATE_MAX_SIZE`] bytes; the content version is the active protocol
/// version. Build one with [`StateMachineUpdate::new`], which checks that they agree.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct StateMachineUpdate {
    /// The protocol version the signer is running.
    pub active_signer_protocol_version: u64,
    /// The highest protocol version the signer supports.
    pub local_supported_signer_protocol_version: u64,
    /// The signer's view.
    pub content: StateMachineUpdateContent,
    // Forces construction through `new`; serialized as `null` (and required), as the
    // reference's.
    no_manual_construct: PhantomData<()>,
}

/// The versioned content of a [`StateMachineUpdate`]. V1 and V2 are encoded identically;
/// V2 announces support for global state machine processing.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub enum StateMachineUpdateContent {
    /// Protocol version 0.
    V0 {
        /// The burn block (consensus hash) the signer sees as tip.
        burn_block: ConsensusHash,
        /// Its height.
        burn_block_height: u64,
        /// Who the signer thinks the current miner is.
        current_miner: StateMachineUpdateMinerState,
    },
    /// Protocol version 1: adds the transaction replay set.
    V1 {
        /// The burn block (consensus hash) the signer sees as tip.
        burn_block: ConsensusHash,
        /// Its height.
        burn_block_height: u64,
        /// Who the signer thinks the current miner is.
        current_miner: StateMachineUpdateMinerState,
        /// Transactions the next blocks must replay.
        replay_transactions: Vec<StacksTransaction>,
    },
    /// Protocol version 2: as V1.
    V2 {
        /// The burn block (consensus hash) the signer sees as tip.
        burn_block: ConsensusHash,
        /// Its height.
        burn_block_height: u64,
        /// Who the signer thinks the current miner is.
        current_miner: StateMachineUpdateMinerState,
        /// Transactions the next blocks must replay.
        replay_transactions: Vec<StacksTransaction>,
    },
}

/// Who a signer thinks the current miner is.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Eq, Hash)]
pub enum StateMachineUpdateMinerState {
    /// A miner is active.
    ActiveMiner {
        /// Hash160 of the miner's signing key.
        current_miner_pkh: Hash160,
        /// The miner's tenure (its consensus hash).
        tenure_id: ConsensusHash,
        /// The tenure the miner builds on.
        parent_tenure_id: ConsensusHash,
        /// The last block of the parent tenure (the new tenure's parent).
        parent_tenure_last_block: StacksBlockId,
        /// Its height.
        parent_tenure_last_block_height: u64,
    },
    /// No miner is valid.
    NoValidMiner,
}

impl StateMachineUpdate {
    /// An update, provided `content`'s version is `active_signer_protocol_version`.
    pub fn new(
        active_signer_protocol_version: u64,
        local_supported_signer_protocol_version: u64,
        content: StateMachineUpdateContent,
    ) -> Result<Self, CodecError> {
        if content.protocol_version() != active_signer_protocol_version {
            return Err(CodecError::DeserializeError(format!(
                "StateMachineUpdateContent is incompatible with protocol version: {active_signer_protocol_version}"
            )));
        }
        Ok(Self {
            active_signer_protocol_version,
            local_supported_signer_protocol_version,
            content,
            no_manual_construct: PhantomData,
        })
    }
}

impl StacksMessageCodec for StateMachineUpdate {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.active_signer_protocol_version)?;
        write_next(fd, &self.local_supported_signer_protocol_version)?;
        let mut content = Vec::new();
        self.content.write(&mut content)?;
        if content.len() > STATE_MACHINE_UPDATE_MAX_SIZE as usize {
            return Err(CodecError::SerializeError(format!(
                "Message length exceeded max: {STATE_MACHINE_UPDATE_MAX_SIZE}"
            )));
        }
        write_length_prefixed(fd, &content)
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let active: u64 = read_next(fd)?;
        let local: u64 = read_next(fd)?;
        let len: u32 = read_next(fd)?;
        if len > STATE_MACHINE_UPDATE_MAX_SIZE {
            return Err(CodecError::DeserializeError(format!(
                "Message length exceeded max: {STATE_MACHINE_UPDATE_MAX_SIZE}"
            )));
        }
        let content = read_bytes(fd, len as usize)?;
        // Bytes left inside the content are ignored.
        let content = StateMachineUpdateContent::read(&mut content.as_slice(), active)?;
        Self::new(active, local, content)
    }
}

impl StateMachineUpdateMinerState {
    fn variant_id(&self) -> u8 {
        match self {
            Self::NoValidMiner => 0,
            Self::ActiveMiner { .. } => 1,
        }
    }
}

impl StacksMessageCodec for StateMachineUpdateMinerState {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &self.variant_id())?;
        if let Self::ActiveMiner {
            current_miner_pkh,
            tenure_id,
            parent_tenure_id,
            parent_tenure_last_block,
            parent_tenure_last_block_height,
        } = self
        {
            write_next(fd, current_miner_pkh)?;
            write_next(fd, tenure_id)?;
            write_next(fd, parent_tenure_id)?;
            write_next(fd, parent_tenure_last_block)?;
            write_next(fd, parent_tenure_last_block_height)?;
        }
        Ok(())
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        match read_next::<u8, _>(fd)? {
            0 => Ok(Self::NoValidMiner),
            1 => Ok(Self::ActiveMiner {
                current_miner_pkh: read_next(fd)?,
                tenure_id: read_next(fd)?,
                parent_tenure_id: read_next(fd)?,
                parent_tenure_last_block: read_next(fd)?,
                parent_tenure_last_block_height: read_next(fd)?,
            }),
            other => Err(CodecError::DeserializeError(format!(
                "Unexpected miner state variant in StateMachineUpdate: {other}"
            ))),
        }
    }
}

impl StateMachineUpdateContent {
    /// The protocol version this content belongs to.
    fn protocol_version(&self) -> u64 {
        match self {
            Self::V0 { .. } => 0,
            Self::V1 { .. } => 1,
            Self::V2 { .. } => 2,
        }
    }

    /// The burn block and height the signer sees as tip.
    pub fn burn_block_view(&self) -> (&ConsensusHash, u64) {
        match self {
            Self::V0 {
                burn_block,
                burn_block_height,
                ..
            }
            | Self::V1 {
                burn_block,
                burn_block_height,
                ..
            }
            | Self::V2 {
                burn_block,
                burn_block_height,
                ..
            } => (burn_block, *burn_block_height),
        }
    }

    /// Who the signer thinks the current miner is.
    pub fn current_miner(&self) -> &StateMachineUpdateMinerState {
        match self {
            Self::V0 { current_miner, .. }
            | Self::V1 { current_miner, .. }
            | Self::V2 { current_miner, .. } => current_miner,
        }
    }

    /// The replay set (empty for V0).
    pub fn tx_replay_set(&self) -> ReplayTransactionSet {
        match self {
            Self::V0 { .. } => ReplayTransactionSet::none(),
            Self::V1 {
                replay_transactions,
                ..
            }
            | Self::V2 {
                replay_transactions,
                ..
            } => ReplayTransactionSet::new(replay_transactions.clone()),
        }
    }

    fn write<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        let (burn_block, burn_block_height) = self.burn_block_view();
        write_next(fd, burn_block)?;
        write_next(fd, &burn_block_height)?;
        write_next(fd, self.current_miner())?;
        match self {
            Self::V0 { .. } => Ok(()),
            Self::V1 {
                replay_transactions,
                ..
            }
            | Self::V2 {
                replay_transactions,
                ..
            } => write_next(fd, replay_transactions),
        }
    }

    fn read<R: Read>(fd: &mut R, version: u64) -> Result<Self, CodecError> {
        let burn_block = read_next(fd)?;
        let burn_block_height = read_next(fd)?;
        let current_miner = read_next(fd)?;
        match version {
            0 => Ok(Self::V0 {
                burn_block,
                burn_block_height,
                current_miner,
            }),
            1 => Ok(Self::V1 {
                burn_block,
                burn_block_height,
                current_miner,
                replay_transactions: read_next(fd)?,
            }),
            2 => Ok(Self::V2 {
                burn_block,
                burn_block_height,
                current_miner,
                replay_transactions: read_next(fd)?,
            }),
            other => Err(CodecError::DeserializeError(format!(
                "Unknown state machine update version: {other}"
            ))),
        }
    }
}
