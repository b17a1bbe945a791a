//! The v0 signer: the reference signer's voting logic for one reward cycle — the proposal
//! pipeline, vote counting, the local state machine — with this project's own-vote record
//! guarding every vote it publishes.

pub mod new_block;
mod proposal;
mod recently_processed;
pub mod signer;
pub mod signer_state;
mod votes;

pub use new_block::unverified_block_events;
pub use proposal::should_reevaluate_block;
pub use recently_processed::RecentlyProcessedBlocks;
pub use signer::{SharedState, Signer};
