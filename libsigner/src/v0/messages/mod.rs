//! The v0 signer messages: what miners and signers write to StackerDB, with their wire
//! encodings (byte-compatible with the reference, quirks included) and JSON forms.
//!
//! - [`SignerMessage`]: the eight message kinds behind a one-byte prefix;
//! - block proposals ([`BlockProposal`]) and responses ([`BlockResponse`]) with the
//!   versioned, forward-compatible [`BlockProposalData`] and [`BlockResponseData`];
//! - rejection codes and reasons ([`RejectCode`], [`RejectReason`]);
//! - epoch 2.5 mock signing ([`MockProposal`], [`MockSignature`], [`MockBlock`]);
//! - signer state machine updates ([`StateMachineUpdate`]);
//! - the StackerDB slots they live in ([`MessageSlotID`], [`MinerSlotID`]).

mod mock;
mod proposal;
mod reject;
mod response;
mod signer_message;
mod slots;
mod state_update;
mod structured;

pub use super::validate_reject_code::ValidateRejectCode;
pub use mock::{MockBlock, MockProposal, MockSignature, PeerInfo};
pub use proposal::{BlockProposal, BlockProposalData, BLOCK_PROPOSAL_DATA_VERSION};
pub use reject::{RejectCode, RejectCodeTypePrefix, RejectReason, RejectReasonPrefix};
pub use response::{
    BlockAccepted, BlockRejection, BlockResponse, BlockResponseData, BlockResponseTypePrefix,
    SignerMessageMetadata, BLOCK_RESPONSE_DATA_VERSION,
    FIRST_RESPONSE_DATA_VERSION_WITH_READ_COUNT,
};
pub use signer_message::{SignerMessage, SignerMessageTypePrefix};
pub use slots::{MessageSlotID, MinerSlotID};
pub use state_update::{
    StateMachineUpdate, StateMachineUpdateContent, StateMachineUpdateMinerState,
};

/// Largest inner payload of [`BlockResponseData`] (and of `BlockProposalData`): 2 MiB.
pub const BLOCK_RESPONSE_DATA_MAX_SIZE: u32 = 2 * 1024 * 1024;

/// Largest content of a [`StateMachineUpdate`]: 2 MiB.
pub const STATE_MACHINE_UPDATE_MAX_SIZE: u32 = 2 * 1024 * 1024;
