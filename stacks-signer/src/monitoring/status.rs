//! What `/status.json` reports about the run loop: the run loop writes a small snapshot to a
//! [`StatusBoard`] after every pass, and the monitoring server reads it (with the database's
//! counts) when asked.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use libsigner::v0::signer_state::{MinerState, SignerStateMachine};
use serde::Serialize;

use crate::config::SignerConfigMode;

/// The run loop's view of one reward cycle it is configured for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CycleStatus {
    /// The reward cycle.
    pub reward_cycle: u64,
    /// Whether this signer takes part in it (has a signer instance for it).
    pub registered: bool,
    /// Its signer id in the cycle's reward set (absent when not registered or dry run).
    pub signer_id: Option<u32>,
    /// Its slot in the cycle's signers StackerDB (absent when not registered or dry run).
    pub signer_slot_id: Option<u32>,
    /// Whether the instance runs dry (publishes nothing).
    pub dry_run: bool,
    /// The instance's local state machine, once it has one.
    pub state_machine: Option<StateMachineStatus>,
}

/// A summary of a signer instance's local state machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateMachineStatus {
    /// The burn block (consensus hash) it sees as the tip.
    pub burn_block: String,
    /// Its height.
    pub burn_block_height: u64,
    /// The protocol version in force.
    pub active_signer_protocol_version: u64,
    /// Who it believes the current miner is.
    pub current_miner: MinerView,
    /// How many transactions wait to be replayed after a burn-chain fork.
    pub tx_replay_set_len: usize,
}

/// The current miner as a state machine sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state")]
pub enum MinerView {
    /// A miner holds the tenure.
    ActiveMiner {
        /// Hash160 of the miner's key.
        current_miner_pkh: String,
        /// The tenure (consensus hash).
        tenure_id: String,
        /// The tenure it builds on.
        parent_tenure_id: String,
        /// The last block of that tenure.
        parent_tenure_last_block: String,
        /// Its height.
        parent_tenure_last_block_height: u64,
    },
    /// No miner is valid.
    NoValidMiner,
}

impl From<SignerStateMachine> for StateMachineStatus {
    fn from(state: SignerStateMachine) -> Self {
        let current_miner = match state.current_miner {
            MinerState::ActiveMiner {
                current_miner_pkh,
                tenure_id,
                parent_tenure_id,
                parent_tenure_last_block,
                parent_tenure_last_block_height,
            } => MinerView::ActiveMiner {
                current_miner_pkh: current_miner_pkh.to_hex(),
                tenure_id: tenure_id.to_hex(),
                parent_tenure_id: parent_tenure_id.to_hex(),
                parent_tenure_last_block: parent_tenure_last_block.to_hex(),
                parent_tenure_last_block_height,
            },
            MinerState::NoValidMiner => MinerView::NoValidMiner,
        };
        Self {
            burn_block: state.burn_block.to_hex(),
            burn_block_height: state.burn_block_height,
            active_signer_protocol_version: state.active_signer_protocol_version,
            current_miner,
            tx_replay_set_len: state.tx_replay_set.unwrap_or_default().len(),
        }
    }
}

/// The last burn block the node announced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurnBlockStatus {
    /// Its height.
    pub burn_block_height: u64,
    /// Its consensus hash.
    pub consensus_hash: String,
    /// Its burn header hash.
    pub burn_header_hash: String,
    /// When the signer received it (Unix seconds).
    pub received_at: u64,
}

/// The run loop's snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunLoopStatus {
    /// `Uninitialized`, `NoRegisteredSigners` or `RegisteredSigners`.
    pub runloop_state: String,
    /// The reward cycle the node is in, once known.
    pub current_reward_cycle: Option<u64>,
    /// Every configured reward cycle, oldest first.
    pub reward_cycles: Vec<CycleStatus>,
    /// The last burn block event.
    pub last_burn_block: Option<BurnBlockStatus>,
}

#[derive(Debug, Default)]
struct Board {
    status: RunLoopStatus,
    modes: BTreeMap<u64, SignerConfigMode>,
}

/// Where the run loop leaves its snapshot for the monitoring server (cheap to clone: one
/// shared handle).
#[derive(Debug, Clone, Default)]
pub struct StatusBoard(Arc<Mutex<Board>>);

impl StatusBoard {
    /// An empty board.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Board) -> R) -> R {
        let mut guard = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// Notes how this signer takes part in `reward_cycle` (its id and slot), when the run
    /// loop creates the cycle's instance.
    pub fn note_signer_mode(&self, reward_cycle: u64, mode: SignerConfigMode) {
        self.with(|board| {
            board.modes.insert(reward_cycle, mode);
        });
    }

    /// Notes the last burn block event.
    pub fn note_burn_block(&self, burn_block: BurnBlockStatus) {
        self.with(|board| board.status.last_burn_block = Some(burn_block));
    }

    /// Replaces the run loop's state, cycles and state machines (the burn block is kept).
    /// Each cycle's id and slot come from [`StatusBoard::note_signer_mode`].
    pub fn publish(
        &self,
        runloop_state: String,
        current_reward_cycle: Option<u64>,
        mut reward_cycles: Vec<CycleStatus>,
    ) {
        self.with(|board| {
            board
                .modes
                .retain(|cycle, _| reward_cycles.iter().any(|c| c.reward_cycle == *cycle));
            for cycle in reward_cycles.iter_mut() {
                match board.modes.get(&cycle.reward_cycle) {
                    Some(SignerConfigMode::Normal {
                        signer_id,
                        signer_slot_id,
                    }) if cycle.registered => {
                        cycle.signer_id = Some(*signer_id);
                        cycle.signer_slot_id = Some(signer_slot_id.0);
                    }
                    Some(SignerConfigMode::DryRun) if cycle.registered => cycle.dry_run = true,
                    _ => {}
                }
            }
            board.status.runloop_state = runloop_state;
            board.status.current_reward_cycle = current_reward_cycle;
            board.status.reward_cycles = reward_cycles;
        });
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> RunLoopStatus {
        self.with(|board| board.status.clone())
    }
}
