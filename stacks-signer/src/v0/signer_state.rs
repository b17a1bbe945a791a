//! The signer's local state machine: its view of the burn tip, the current miner (and the
//! last block of the tenure that miner builds on), the active protocol version and the
//! transaction replay set; how burn blocks, Stacks blocks, miner inactivity and the signer
//! set's views move it; and the update message it announces to the other signers.
//!
//! SKELETON: the bodies are being written (see the v0 signer issue); the signatures are the
//! contract the rest of the signer codes against.

use std::time::{Duration, SystemTime};

use libsigner::chain::{ConsensusHash, Sha512Trunc256Sum, StacksBlockId, StacksTransaction};
use libsigner::codec::Error as CodecError;
use libsigner::v0::messages::StateMachineUpdate as StateMachineUpdateMessage;
use libsigner::v0::signer_state::{GlobalStateEvaluator, ReplayTransactionSet, SignerStateMachine};
use serde::{Deserialize, Serialize};
use slog::Logger;

use crate::chainstate::v1::SortitionsView;
use crate::chainstate::{NodeRpc, ProposalEvalConfig, SignerChainstateError};
use crate::signerdb::SignerDb;

/// The local state machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LocalStateMachine {
    /// No view yet (or the last attempt to build one failed).
    Uninitialized,
    /// A view.
    Initialized(SignerStateMachine),
    /// A burn block was announced that the node has not processed yet: the view before it,
    /// and the update still to apply.
    Pending {
        /// The update still to apply.
        update: StateMachineUpdate,
        /// The view before it.
        prior: SignerStateMachine,
    },
}

/// An update the state machine waits to apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StateMachineUpdate {
    /// A burn block the node has not processed yet.
    BurnBlock(NewBurnBlock),
}

/// A burn block, as the state machine needs it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NewBurnBlock {
    /// Its height.
    pub burn_block_height: u64,
    /// Its consensus hash.
    pub consensus_hash: ConsensusHash,
}

/// Where a transaction replay started and what the burn tip was then (in memory only, as in
/// the reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayScope {
    /// The burn block the fork started from.
    pub fork_origin: NewBurnBlock,
    /// The burn tip when the replay started.
    pub past_tip: NewBurnBlock,
}

/// The replay scope, if a replay is in progress.
pub type ReplayScopeOpt = Option<ReplayScope>;

impl LocalStateMachine {
    /// A state machine built from the node's and the database's view now (Uninitialized if
    /// that fails; the error says why).
    pub fn new(
        db: &SignerDb,
        node: &dyn NodeRpc,
        config: &ProposalEvalConfig,
        eval: &GlobalStateEvaluator,
        local_supported_version: u64,
        log: &Logger,
    ) -> Result<Self, SignerChainstateError> {
        let _ = (db, node, config, eval, local_supported_version, log);
        todo!()
    }

    /// The update message announcing this view (`local_supported_version` is the version this
    /// signer supports); an error unless Initialized or with an active version outside 0–2.
    pub fn try_into_update_message_with_version(
        &self,
        local_supported_version: u64,
    ) -> Result<StateMachineUpdateMessage, CodecError> {
        let _ = local_supported_version;
        todo!()
    }

    /// The active protocol version of the view (Initialized or Pending).
    pub fn get_version(&self) -> Option<u64> {
        todo!()
    }

    /// The replay set of the view, if Initialized and non-empty.
    pub fn get_tx_replay_set(&self) -> Option<Vec<StacksTransaction>> {
        todo!()
    }

    /// Applies a pending burn block, or else checks the current miner's inactivity.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_pending_update(
        &mut self,
        db: &SignerDb,
        node: &dyn NodeRpc,
        config: &ProposalEvalConfig,
        tx_replay_scope: &mut ReplayScopeOpt,
        eval: &GlobalStateEvaluator,
        local_supported_version: u64,
        log: &Logger,
    ) -> Result<(), SignerChainstateError> {
        let _ = (
            db,
            node,
            config,
            tx_replay_scope,
            eval,
            local_supported_version,
            log,
        );
        todo!()
    }

    /// The node processed a Stacks block: the replay set may be exhausted or abandoned, and a
    /// late block of the parent tenure moves the parent tenure's last block.
    /// `replay_set_hash` answers the node's hash of a replay set when this signer knows it.
    #[allow(clippy::too_many_arguments)]
    pub fn stacks_block_arrival(
        &mut self,
        consensus_hash: &ConsensusHash,
        height: u64,
        block_id: &StacksBlockId,
        signer_signature_hash: &Sha512Trunc256Sum,
        db: &SignerDb,
        transactions: &[StacksTransaction],
        replay_set_hash: &dyn Fn(&ReplayTransactionSet) -> Option<u64>,
        log: &Logger,
    ) -> Result<(), SignerChainstateError> {
        let _ = (
            consensus_hash,
            height,
            block_id,
            signer_signature_hash,
            db,
            transactions,
            replay_set_hash,
            log,
        );
        todo!()
    }

    /// A burn block arrived (`expected`; `None` when building the first view): the new burn
    /// view, fork and replay handling, and the miner of the new view.
    #[allow(clippy::too_many_arguments)]
    pub fn bitcoin_block_arrival(
        &mut self,
        db: &SignerDb,
        node: &dyn NodeRpc,
        config: &ProposalEvalConfig,
        expected: Option<NewBurnBlock>,
        tx_replay_scope: &mut ReplayScopeOpt,
        eval: &GlobalStateEvaluator,
        local_supported_version: u64,
        log: &Logger,
    ) -> Result<(), SignerChainstateError> {
        let _ = (
            db,
            node,
            config,
            expected,
            tx_replay_scope,
            eval,
            local_supported_version,
            log,
        );
        todo!()
    }

    /// Adopts the signer set's protocol version, and (rate-limited) the miner view enough of
    /// the signer set holds.
    #[allow(clippy::too_many_arguments)]
    pub fn capitulate_viewpoint(
        &mut self,
        node: &dyn NodeRpc,
        db: &mut SignerDb,
        eval: &mut GlobalStateEvaluator,
        local_supported_version: u64,
        sortition_state: &mut Option<SortitionsView>,
        capitulate_miner_view_timeout: Duration,
        tenure_last_block_proposal_timeout: Duration,
        last_capitulate_miner_view: &mut SystemTime,
        log: &Logger,
    ) {
        let _ = (
            node,
            db,
            eval,
            local_supported_version,
            sortition_state,
            capitulate_miner_view_timeout,
            tenure_last_block_proposal_timeout,
            last_capitulate_miner_view,
            log,
        );
        todo!()
    }

    /// The height and id of the last block of tenure `parent_tenure_id`: the higher of the
    /// node's tenure tip and the last block this signer accepted there (not timed out; a
    /// tie goes to the database's).
    pub fn get_parent_tenure_last_block(
        node: &dyn NodeRpc,
        db: &SignerDb,
        tenure_last_block_proposal_timeout: Duration,
        parent_tenure_id: &ConsensusHash,
        log: &Logger,
    ) -> Result<(u64, StacksBlockId), SignerChainstateError> {
        let _ = (
            node,
            db,
            tenure_last_block_proposal_timeout,
            parent_tenure_id,
            log,
        );
        todo!()
    }
}
