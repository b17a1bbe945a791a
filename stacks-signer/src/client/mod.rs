//! Talking to the Stacks node: the JSON shapes of its RPC endpoints, the RPC client
//! ([`StacksClient`]) with the reference's retry policy, the StackerDB client that publishes
//! this signer's messages ([`StackerDB`]), their errors, and the node's health as the log
//! reports it ([`health`]: one line when a fault starts, one when it ends).

pub mod api;
pub mod error;
pub mod health;
pub mod parse;
pub mod retry;
pub mod stackerdb;
pub mod stacks_client;

pub use error::ClientError;
pub use retry::{retry_with_exponential_backoff, RetryError};
pub use stackerdb::{LatestMessages, StackerDB};
pub use stacks_client::{RewardCycleInfo, SignerSlotID, StacksClient};
