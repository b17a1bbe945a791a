//! What the run loop needs of a signer instance, and what it reports back.
//!
//! The run loop ([`crate::runloop::RunLoop`]) keeps one instance per reward cycle it is
//! configured for (the current one and, during the prepare phase, the next), creates them with
//! [`SignerTrait::new`] and hands each of them every event. The voting logic
//! lives behind this trait: [`crate::v0::Signer`].

use std::fmt;
use std::sync::mpsc::Sender;

use libsigner::v0::signer_state::SignerStateMachine;
use libsigner::{SignerEvent, SignerEventTrait};
use slog::Logger;

use crate::client::{RewardCycleInfo, StacksClient};
use crate::config::SignerConfig;
use crate::signerdb::{BlockInfo, SharedSignerDb, SignerDbError};

/// What every signer instance of a process shares: the node client, the one database handle
/// and the log.
#[derive(Clone)]
pub struct SignerContext {
    /// The node's RPC client.
    pub stacks_client: StacksClient,
    /// The process's database handle (the file is locked; never open a second one).
    pub db: SharedSignerDb,
    /// The log; instances add their own keys (reward cycle, signer id).
    pub logger: Logger,
}

impl fmt::Debug for SignerContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerContext")
            .field("node", &self.stacks_client.http_origin())
            .finish_non_exhaustive()
    }
}

/// Why a signer instance could not be created (the run loop retries on a later burn block).
#[derive(Debug, thiserror::Error)]
pub enum SignerInitError {
    /// The database could not be read or written.
    #[error("signer database: {0}")]
    Db(#[from] SignerDbError),
    /// The node could not be asked what the instance needs.
    #[error("node: {0}")]
    Client(#[from] crate::client::ClientError),
    /// The shared database handle is poisoned (another thread panicked while holding it).
    #[error("the signer database handle is poisoned")]
    DbPoisoned,
}

/// A signer instance for one reward cycle.
pub trait SignerTrait<T: SignerEventTrait>: fmt::Debug + fmt::Display + Sized {
    /// State the instances of both reward cycles share (the voting logic's view of the
    /// sortitions, for example); created once per run loop with `Default`.
    type Shared: Default;

    /// Creates the instance for `config.reward_cycle`.
    fn new(context: &SignerContext, config: SignerConfig) -> Result<Self, SignerInitError>;

    /// The reward cycle this instance signs for.
    fn reward_cycle(&self) -> u64;

    /// Handles one event (`None`: the run loop's periodic tick). `current_reward_cycle` is the
    /// cycle the node is in; results (status reports) go to `results`.
    fn process_event(
        &mut self,
        context: &SignerContext,
        shared: &mut Self::Shared,
        event: Option<&SignerEvent<T>>,
        results: &Sender<SignerResult>,
        current_reward_cycle: u64,
    );

    /// Whether blocks of this instance's cycle still await the network's verdict (the run
    /// loop keeps a past cycle's instance until there are none).
    fn has_unprocessed_blocks(&self) -> bool;

    /// This instance's view of the signer state, once it has one.
    fn get_local_state_machine(&self) -> Option<SignerStateMachine>;

    /// How many proposals await validation by the node.
    fn get_pending_proposals_count(&self) -> u64;

    /// The last block the network accepted, as this instance knows it.
    fn get_canonical_tip(&self) -> Option<BlockInfo>;
}

/// Where the run loop stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunLoopState {
    /// The current reward cycle has not been learned from the node yet.
    Uninitialized,
    /// Initialized, with no instance for any cycle.
    NoRegisteredSigners,
    /// Initialized, with at least one configured cycle (registered or not).
    RegisteredSigners,
}

/// The answer to a status check (`GET /status` on the event receiver).
#[derive(Debug, Clone)]
pub struct StateInfo {
    /// Where the run loop stands.
    pub runloop_state: RunLoopState,
    /// The reward cycle the node is in, once known.
    pub reward_cycle_info: Option<RewardCycleInfo>,
    /// The reward cycle of every configured instance (registered or not), oldest first.
    pub running_signers: Vec<u64>,
    /// The reward cycles this process is registered for (has a signer instance), oldest first.
    pub registered_cycles: Vec<u64>,
    /// Each instance's state machine, keyed by reward cycle parity.
    pub signer_state_machines: Vec<(u64, Option<SignerStateMachine>)>,
    /// Proposals awaiting the node's validation, of the current cycle's instance.
    pub pending_proposals_count: u64,
    /// Each instance's canonical tip, keyed by reward cycle parity.
    pub signer_canonical_tips: Vec<(u64, Option<BlockInfo>)>,
}

/// What a running signer reports on its result channel.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SignerResult {
    /// The answer to a status check.
    StatusCheck(StateInfo),
}

impl From<StateInfo> for SignerResult {
    fn from(info: StateInfo) -> Self {
        SignerResult::StatusCheck(info)
    }
}

/// Locks the shared database, turning a poisoned lock into an error.
pub fn lock_db(
    db: &SharedSignerDb,
) -> Result<std::sync::MutexGuard<'_, crate::signerdb::SignerDb>, SignerInitError> {
    db.lock().map_err(|_| SignerInitError::DbPoisoned)
}
