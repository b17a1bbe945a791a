//! The message envelope: a one-byte type prefix and the message.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::{
    BlockProposal, BlockResponse, MessageSlotID, MockBlock, MockProposal, MockSignature,
    StateMachineUpdate,
};
use crate::chain::{NakamotoBlock, Sha512Trunc256Sum};
use crate::codec::{read_next, write_next, Error as CodecError, StacksMessageCodec};
use crate::define_u8_enum;

define_u8_enum! {
    /// The wire byte of a [`SignerMessage`].
    pub enum SignerMessageTypePrefix {
        /// A miner's block proposal.
        BlockProposal = 0,
        /// A signer's block response.
        BlockResponse = 1,
        /// A block a miner pushes once signed.
        BlockPushed = 2,
        /// An epoch 2.5 mock proposal.
        MockProposal = 3,
        /// An epoch 2.5 mock signature.
        MockSignature = 4,
        /// An epoch 2.5 mock block.
        MockBlock = 5,
        /// A signer state machine update.
        StateMachineUpdate = 6,
        /// A signer's block pre-commit.
        BlockPreCommit = 7,
    }
}

impl TryFrom<u8> for SignerMessageTypePrefix {
    type Error = CodecError;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Self::from_u8(value).ok_or_else(|| {
            CodecError::DeserializeError(format!("Unknown signer message type prefix: {value}"))
        })
    }
}

impl From<&SignerMessage> for SignerMessageTypePrefix {
    fn from(message: &SignerMessage) -> Self {
        match message {
            SignerMessage::BlockProposal(_) => Self::BlockProposal,
            SignerMessage::BlockResponse(_) => Self::BlockResponse,
            SignerMessage::BlockPushed(_) => Self::BlockPushed,
            SignerMessage::MockProposal(_) => Self::MockProposal,
            SignerMessage::MockSignature(_) => Self::MockSignature,
            SignerMessage::MockBlock(_) => Self::MockBlock,
            SignerMessage::StateMachineUpdate(_) => Self::StateMachineUpdate,
            SignerMessage::BlockPreCommit(_) => Self::BlockPreCommit,
        }
    }
}

/// A message written to the miners' or signers' StackerDB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SignerMessage {
    /// A miner's block proposal.
    BlockProposal(BlockProposal),
    /// A signer's response to a proposal.
    BlockResponse(BlockResponse),
    /// A block the miner pushes once signed.
    BlockPushed(NakamotoBlock),
    /// An epoch 2.5 mock signature.
    MockSignature(MockSignature),
    /// An epoch 2.5 mock proposal.
    MockProposal(MockProposal),
    /// An epoch 2.5 mock block.
    MockBlock(MockBlock),
    /// A signer's state machine update.
    StateMachineUpdate(StateMachineUpdate),
    /// A signer's pre-commit to the block with this signer signature hash.
    BlockPreCommit(Sha512Trunc256Sum),
}

impl SignerMessage {
    /// The signer slot kind the message is written to; `None` for miner messages (they are
    /// written to `.miners`, not to the signer contracts). Mock signatures share the block
    /// response slot.
    pub fn msg_id(&self) -> Option<MessageSlotID> {
        match self {
            Self::BlockProposal(_)
            | Self::BlockPushed(_)
            | Self::MockProposal(_)
            | Self::MockBlock(_) => None,
            Self::BlockResponse(_) | Self::MockSignature(_) => Some(MessageSlotID::BlockResponse),
            Self::StateMachineUpdate(_) => Some(MessageSlotID::StateMachineUpdate),
            Self::BlockPreCommit(_) => Some(MessageSlotID::BlockPreCommit),
        }
    }
}

impl crate::SignerMessage<MessageSlotID> for SignerMessage {
    fn msg_id(&self) -> Option<MessageSlotID> {
        SignerMessage::msg_id(self)
    }
}

impl From<BlockResponse> for SignerMessage {
    fn from(response: BlockResponse) -> Self {
        Self::BlockResponse(response)
    }
}

impl From<StateMachineUpdate> for SignerMessage {
    fn from(update: StateMachineUpdate) -> Self {
        Self::StateMachineUpdate(update)
    }
}

impl StacksMessageCodec for SignerMessage {
    fn consensus_serialize<W: Write>(&self, fd: &mut W) -> Result<(), CodecError> {
        write_next(fd, &SignerMessageTypePrefix::from(self).to_u8())?;
        match self {
            Self::BlockProposal(m) => write_next(fd, m),
            Self::BlockResponse(m) => write_next(fd, m),
            Self::BlockPushed(m) => write_next(fd, m),
            Self::MockSignature(m) => write_next(fd, m),
            Self::MockProposal(m) => write_next(fd, m),
            Self::MockBlock(m) => write_next(fd, m),
            Self::StateMachineUpdate(m) => write_next(fd, m),
            Self::BlockPreCommit(m) => write_next(fd, m),
        }
    }

    fn consensus_deserialize<R: Read>(fd: &mut R) -> Result<Self, CodecError> {
        let byte: u8 = read_next(fd)?;
        Ok(match SignerMessageTypePrefix::try_from(byte)? {
            SignerMessageTypePrefix::BlockProposal => Self::BlockProposal(read_next(fd)?),
            SignerMessageTypePrefix::BlockResponse => Self::BlockResponse(read_next(fd)?),
            SignerMessageTypePrefix::BlockPushed => Self::BlockPushed(read_next(fd)?),
            SignerMessageTypePrefix::MockProposal => Self::MockProposal(read_next(fd)?),
            SignerMessageTypePrefix::MockSignature => Self::MockSignature(read_next(fd)?),
            SignerMessageTypePrefix::MockBlock => Self::MockBlock(read_next(fd)?),
            SignerMessageTypePrefix::StateMachineUpdate => Self::StateMachineUpdate(read_next(fd)?),
            SignerMessageTypePrefix::BlockPreCommit => Self::BlockPreCommit(read_next(fd)?),
        })
    }
}
