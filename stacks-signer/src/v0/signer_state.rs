//! The signer's local state machine: its view of the burn tip, the current miner (and the
//! last block of the tenure that miner builds on), the active protocol version and the
//! transaction replay set; how burn blocks, Stacks blocks, miner inactivity and the signer
//! set's views move it; and the update message it announces to the other signers.
//!
//! Any error while a burn block is applied leaves the machine [`LocalStateMachine::Uninitialized`]
//! until the next burn block, except when the node has not processed that burn block yet: then
//! the machine waits in [`LocalStateMachine::Pending`] and retries on every later event.
//!
//! Sending the update message is the caller's job: it compares the machine before and after an
//! event and announces [`LocalStateMachine::try_into_update_message_with_version`] on a change.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libsigner::chain::{
    ConsensusHash, NakamotoBlock, Sha512Trunc256Sum, StacksAddress, StacksBlockId,
    StacksTransaction, TransactionPayload,
};
use libsigner::codec::{read_next, Error as CodecError};
use libsigner::v0::messages::{
    StateMachineUpdate as StateMachineUpdateMessage, StateMachineUpdateContent,
    StateMachineUpdateMinerState,
};
use libsigner::v0::signer_state::{
    GlobalStateEvaluator, MinerState, ReplayTransactionSet, SignerStateMachine,
};
use serde::{Deserialize, Serialize};
use slog::{debug, info, warn, Logger};

use crate::chainstate::v1::{SortitionMinerStatus, SortitionsView};
use crate::chainstate::{
    NodeRpc, ProposalEvalConfig, SignerChainstateError, SortitionData, SortitionState,
    SortitionStateVersion,
};
use crate::client::api::TenureForkingInfo;
use crate::client::ClientError;
use crate::signerdb::{SignerDb, SignerDbError};

/// How far (in burn blocks) past the previous burn tip a new burn block may be for the state
/// machine to still walk back to the previous tip's height and check that it descends from it.
const FORK_DESCENDANCY_MAX_DEPTH: u64 = 10;

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

/// Where a transaction replay stands, as far as a new burn block is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ReplayState {
    /// No replay: the set is empty.
    Unset,
    /// A replay of these transactions, started by the fork the scope describes.
    InProgress(ReplayTransactionSet, ReplayScope),
}

impl ReplayState {
    /// The state of `replay_set` with `scope`: an empty set is no replay, a set with a scope is
    /// a replay in progress, and a set without its scope (lost on a restart: the scope lives in
    /// memory only) cannot be judged, so `None`.
    fn infer(replay_set: &ReplayTransactionSet, scope: &ReplayScopeOpt) -> Option<Self> {
        if replay_set.is_empty() {
            return Some(Self::Unset);
        }
        scope
            .as_ref()
            .map(|scope| Self::InProgress(replay_set.clone(), scope.clone()))
    }
}

/// The miner state as an update message names it.
fn miner_in_update(miner: &MinerState) -> StateMachineUpdateMinerState {
    match miner {
        MinerState::NoValidMiner => StateMachineUpdateMinerState::NoValidMiner,
        MinerState::ActiveMiner {
            current_miner_pkh,
            tenure_id,
            parent_tenure_id,
            parent_tenure_last_block,
            parent_tenure_last_block_height,
        } => StateMachineUpdateMinerState::ActiveMiner {
            current_miner_pkh: *current_miner_pkh,
            tenure_id: *tenure_id,
            parent_tenure_id: *parent_tenure_id,
            parent_tenure_last_block: *parent_tenure_last_block,
            parent_tenure_last_block_height: *parent_tenure_last_block_height,
        },
    }
}

/// A view rebuilt from an update message's content, running `active_version`. The replay set is
/// the content's, so a version-0 content (which carries none) yields an empty set.
fn state_from_content(
    content: &StateMachineUpdateContent,
    current_miner: MinerState,
    active_version: u64,
) -> SignerStateMachine {
    let (burn_block, burn_block_height) = content.burn_block_view();
    SignerStateMachine {
        burn_block: *burn_block,
        burn_block_height,
        current_miner,
        active_signer_protocol_version: active_version,
        tx_replay_set: content.tx_replay_set(),
    }
}

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
        let mut machine = Self::Uninitialized;
        machine.bitcoin_block_arrival(
            db,
            node,
            config,
            None,
            &mut None,
            eval,
            local_supported_version,
            log,
        )?;
        Ok(machine)
    }

    /// The update message announcing this view (`local_supported_version` is the version this
    /// signer supports); an error unless Initialized or with an active version outside 0–2.
    pub fn try_into_update_message_with_version(
        &self,
        local_supported_version: u64,
    ) -> Result<StateMachineUpdateMessage, CodecError> {
        let Self::Initialized(state) = self else {
            return Err(CodecError::SerializeError(
                "the local state machine is not initialized, so it has no update message".into(),
            ));
        };
        let burn_block = state.burn_block;
        let burn_block_height = state.burn_block_height;
        let current_miner = miner_in_update(&state.current_miner);
        let content = match state.active_signer_protocol_version {
            0 => StateMachineUpdateContent::V0 {
                burn_block,
                burn_block_height,
                current_miner,
            },
            1 => StateMachineUpdateContent::V1 {
                burn_block,
                burn_block_height,
                current_miner,
                replay_transactions: state.tx_replay_set.clone().unwrap_or_default(),
            },
            2 => StateMachineUpdateContent::V2 {
                burn_block,
                burn_block_height,
                current_miner,
                replay_transactions: state.tx_replay_set.clone().unwrap_or_default(),
            },
            unknown => {
                return Err(CodecError::DeserializeError(format!(
                    "no update message content exists for active signer protocol version {unknown}"
                )))
            }
        };
        StateMachineUpdateMessage::new(
            state.active_signer_protocol_version,
            local_supported_version,
            content,
        )
    }

    /// The view an uninitialized machine starts from: no burn block, no miner, no replay.
    fn place_holder(version: u64) -> SignerStateMachine {
        SignerStateMachine {
            burn_block: ConsensusHash([0; 20]),
            burn_block_height: 0,
            current_miner: MinerState::NoValidMiner,
            active_signer_protocol_version: version,
            tx_replay_set: ReplayTransactionSet::none(),
        }
    }

    /// The active protocol version of the view (Initialized or Pending).
    pub fn get_version(&self) -> Option<u64> {
        match self {
            Self::Initialized(state) | Self::Pending { prior: state, .. } => {
                Some(state.active_signer_protocol_version)
            }
            Self::Uninitialized => None,
        }
    }

    /// The replay set of the view, if Initialized and non-empty.
    pub fn get_tx_replay_set(&self) -> Option<Vec<StacksTransaction>> {
        match self {
            Self::Initialized(state) => state.tx_replay_set.clone_as_optional(),
            Self::Uninitialized | Self::Pending { .. } => None,
        }
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
        let Self::Pending { update, .. } = self else {
            return self.check_miner_inactivity(db, node, config, eval, log);
        };
        let StateMachineUpdate::BurnBlock(burn_block) = update.clone();
        self.bitcoin_block_arrival(
            db,
            node,
            config,
            Some(burn_block),
            tx_replay_scope,
            eval,
            local_supported_version,
            log,
        )
    }

    /// When the current miner has been silent past `block_proposal_timeout`, hands the tenure
    /// to the last sortition's miner, provided that one is readable, is not the current miner's
    /// tenure already, and is itself valid; otherwise the current miner keeps it. Only an
    /// Initialized machine with an active miner is affected; an error leaves it unchanged.
    pub(crate) fn check_miner_inactivity(
        &mut self,
        db: &SignerDb,
        node: &dyn NodeRpc,
        config: &ProposalEvalConfig,
        eval: &GlobalStateEvaluator,
        log: &Logger,
    ) -> Result<(), SignerChainstateError> {
        let Self::Initialized(state) = self else {
            return Ok(());
        };
        let MinerState::ActiveMiner { tenure_id, .. } = &state.current_miner else {
            return Ok(());
        };
        let inactive_tenure = *tenure_id;
        let version =
            SortitionStateVersion::from_protocol_version(state.active_signer_protocol_version);
        let timed_out = SortitionState::is_timed_out(
            version,
            &inactive_tenure,
            db,
            node.signer_address(),
            config,
            eval,
            log,
        )?;
        if !timed_out {
            return Ok(());
        }
        let sortitions = node.get_current_and_last_sortition()?;
        let Some(last) = sortitions
            .last_sortition
            .and_then(|info| SortitionData::try_from(info).ok())
            .map(|data| SortitionState::new(version, data))
        else {
            warn!(log, "Signer State: the current miner timed out, but there is no readable prior sortition; the current miner keeps the tenure";
                "inactive_tenure_ch" => %inactive_tenure);
            return Ok(());
        };
        if last.data().consensus_hash == inactive_tenure {
            warn!(log, "Signer State: the last sortition's miner timed out, and there is no valid miner before it; it keeps the tenure";
                "inactive_tenure_ch" => %inactive_tenure);
            return Ok(());
        }
        if !last.is_tenure_valid(db, node, config, eval, log)? {
            warn!(log, "Signer State: the current miner timed out, but the prior sortition's miner is not valid either; the current miner keeps the tenure";
                "inactive_tenure_ch" => %inactive_tenure,
                "prior_tenure_ch" => %last.data().consensus_hash);
            return Ok(());
        }
        state.current_miner = Self::make_miner_state(
            last.data(),
            node,
            db,
            config.tenure_last_block_proposal_timeout,
            log,
        )?;
        info!(log, "Signer State: the current tenure timed out; the prior tenure's miner is now the active miner";
            "inactive_tenure_ch" => %inactive_tenure,
            "new_active_tenure_ch" => %last.data().consensus_hash);
        crate::monitoring::actions::increment_signer_agreement_state_change_reason(
            crate::monitoring::actions::SignerAgreementStateChangeReason::InactiveMiner,
        );
        Ok(())
    }

    /// The node processed a Stacks block: the replay set may be exhausted or abandoned, and a
    /// late block of the parent tenure moves the parent tenure's last block.
    /// `replay_set_hash` answers the node's hash of a replay set when this signer knows it.
    ///
    /// A non-empty replay set is kept only if the block was validated against it without
    /// exhausting it (or the record cannot be read); a block validated against it that
    /// exhausted it, a block with no such record, and a set whose node hash this signer does
    /// not know all clear it. Uninitialized and Pending machines are left as they are.
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
        let Self::Initialized(state) = self else {
            return Ok(());
        };

        if state.tx_replay_set.is_some() {
            let validated = match replay_set_hash(&state.tx_replay_set) {
                Some(hash) => db.get_was_block_validated_by_replay_tx(signer_signature_hash, hash),
                None => Ok(None),
            };
            match validated {
                Ok(Some(record)) => {
                    if record.replay_tx_exhausted {
                        info!(log, "Signer State: the new Stacks block exhausted the replay set; clearing the replay set";
                            "signer_signature_hash" => %signer_signature_hash);
                        state.tx_replay_set = ReplayTransactionSet::none();
                    }
                }
                Ok(None) => {
                    info!(log, "Signer State: a new Stacks block arrived during a replay that was not validated against this signer's replay set; clearing the replay set";
                        "signer_signature_hash" => %signer_signature_hash,
                        "txs" => ?transactions);
                    state.tx_replay_set = ReplayTransactionSet::none();
                }
                Err(e) => {
                    warn!(log, "Signer State: could not check whether the block was validated against the replay set";
                        "err" => %e,
                        "signer_signature_hash" => %signer_signature_hash);
                }
            }
        }

        let MinerState::ActiveMiner {
            parent_tenure_id,
            parent_tenure_last_block,
            parent_tenure_last_block_height,
            ..
        } = &mut state.current_miner
        else {
            return Ok(());
        };
        if parent_tenure_id != consensus_hash || height <= *parent_tenure_last_block_height {
            return Ok(());
        }
        info!(log, "Signer State: a delayed block of the parent tenure arrived; moving the miner's parent tenure tip";
            "old_parent_tenure_last_block" => %parent_tenure_last_block,
            "old_parent_tenure_last_block_height" => *parent_tenure_last_block_height,
            "new_parent_tenure_last_block" => %block_id,
            "new_parent_tenure_last_block_height" => height);
        *parent_tenure_last_block = *block_id;
        *parent_tenure_last_block_height = height;
        crate::monitoring::actions::increment_signer_agreement_state_change_reason(
            crate::monitoring::actions::SignerAgreementStateChangeReason::StacksBlockArrival,
        );
        Ok(())
    }

    /// A burn block arrived (`expected`; `None` when building the first view): the new burn
    /// view, fork and replay handling, and the miner of the new view.
    ///
    /// The burn view is the node's (`/v2/info`), not the event's: when the node is behind
    /// `expected` (lower, or at its height on another block), the machine becomes Pending and
    /// the call fails. Any other failure leaves the machine Uninitialized.
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
        let prior_state = self.clone();
        // Whatever fails below leaves the machine Uninitialized.
        let mut expected = expected;
        let prior = match std::mem::replace(self, Self::Uninitialized) {
            Self::Uninitialized => Self::place_holder(local_supported_version),
            Self::Initialized(state) => state,
            Self::Pending {
                update: StateMachineUpdate::BurnBlock(pending),
                prior,
            } => {
                let pending_is_later = expected
                    .as_ref()
                    .is_none_or(|exp| pending.burn_block_height > exp.burn_block_height);
                if pending_is_later {
                    expected = Some(pending);
                }
                prior
            }
        };

        let peer_info = node.get_peer_info()?;
        let next_height = peer_info.burn_block_height;
        let next_burn_block = peer_info.pox_consensus;
        let mut tx_replay_set = prior.tx_replay_set.clone();

        if let Some(expected) = expected {
            let node_behind = next_height < expected.burn_block_height
                || (next_height == expected.burn_block_height
                    && next_burn_block != expected.consensus_hash);
            if node_behind {
                let message = format!(
                    "Node has not processed the next burn block yet. Expected height = {}, expected consensus hash = {}, node height = {}, node consensus hash = {}",
                    expected.burn_block_height,
                    expected.consensus_hash,
                    next_height,
                    next_burn_block,
                );
                *self = Self::Pending {
                    update: StateMachineUpdate::BurnBlock(expected),
                    prior,
                };
                return Err(ClientError::InvalidResponse(message).into());
            }

            let Some(replay_state) = ReplayState::infer(&tx_replay_set, tx_replay_scope) else {
                warn!(log, "Tx Replay: the replay set is non-empty but its scope is unknown; the replay state cannot be judged");
                return Err(SignerChainstateError::LocalStateMachineNotReady);
            };

            if let Some(new_replay_state) =
                Self::handle_possible_bitcoin_fork(db, node, &expected, &prior, &replay_state, log)?
            {
                match new_replay_state {
                    ReplayState::Unset => {
                        tx_replay_set = ReplayTransactionSet::none();
                        *tx_replay_scope = None;
                    }
                    ReplayState::InProgress(set, scope) => {
                        tx_replay_set = set;
                        *tx_replay_scope = Some(scope);
                    }
                }
            } else if Self::replay_failsafe_due(
                &replay_state,
                &expected,
                config.reset_replay_set_after_fork_blocks,
            ) {
                info!(log, "Signer State: the replay set made no progress for too many burn blocks; clearing it";
                    "reset_replay_set_after_fork_blocks" => config.reset_replay_set_after_fork_blocks);
                tx_replay_set = ReplayTransactionSet::none();
                *tx_replay_scope = None;
            }
        }

        let sortitions = node.get_current_and_last_sortition()?;
        let version =
            SortitionStateVersion::from_protocol_version(prior.active_signer_protocol_version);
        let current = SortitionState::new(
            version,
            SortitionData::try_from(sortitions.current_sortition)?,
        );
        let current_miner = if current.is_tenure_valid(db, node, config, eval, log)? {
            Self::make_miner_state(
                current.data(),
                node,
                db,
                config.tenure_last_block_proposal_timeout,
                log,
            )?
        } else {
            let last = sortitions.last_sortition.ok_or_else(|| {
                ClientError::InvalidResponse(
                    "the current sortition's miner is not valid and the node named no last sortition"
                        .into(),
                )
            })?;
            let last = SortitionState::new(version, SortitionData::try_from(last)?);
            if last.is_tenure_valid(db, node, config, eval, log)? {
                Self::make_miner_state(
                    last.data(),
                    node,
                    db,
                    config.tenure_last_block_proposal_timeout,
                    log,
                )?
            } else {
                warn!(log, "Signer State: neither the current nor the prior sortition's miner holds a valid tenure";
                    "current_tenure_ch" => %current.data().consensus_hash,
                    "prior_tenure_ch" => %last.data().consensus_hash);
                MinerState::NoValidMiner
            }
        };

        *self = Self::Initialized(SignerStateMachine {
            burn_block: next_burn_block,
            burn_block_height: next_height,
            current_miner,
            active_signer_protocol_version: prior.active_signer_protocol_version,
            tx_replay_set,
        });
        if prior_state != *self {
            crate::monitoring::actions::increment_signer_agreement_state_change_reason(
                crate::monitoring::actions::SignerAgreementStateChangeReason::BurnBlockArrival,
            );
        }
        Ok(())
    }

    /// Adopts the signer set's protocol version, and (rate-limited) the miner view enough of
    /// the signer set holds.
    ///
    /// The version: this signer's own update is counted with the others, and the highest
    /// version enough weight supports becomes the active one. The miner view is checked at most
    /// once per `capitulate_miner_view_timeout` (`last_capitulate_miner_view` is when it was
    /// last checked), and not while this signer co-signed an accepted block of its own miner's
    /// tenure within that timeout (that skip does not restart the clock). Adopting a different
    /// active miner marks the current sortition of `sortition_state` invalid when its miner
    /// differs. Nothing happens unless the machine is Initialized.
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
        let Ok(mut local_update) =
            self.try_into_update_message_with_version(local_supported_version)
        else {
            return;
        };

        let old_version = local_update.active_signer_protocol_version;
        eval.insert_update(*node.signer_address(), local_update.clone());
        let active_version = eval
            .determine_latest_supported_signer_protocol_version()
            .unwrap_or(old_version);
        if active_version != old_version {
            info!(log, "Signer State: updating the active signer protocol version";
                "old_version" => old_version,
                "new_version" => active_version);
            crate::monitoring::actions::increment_signer_agreement_state_change_reason(
                crate::monitoring::actions::SignerAgreementStateChangeReason::ProtocolUpgrade,
            );
            let current_miner = local_update.content.current_miner().clone().into();
            *self = Self::Initialized(state_from_content(
                &local_update.content,
                current_miner,
                active_version,
            ));
            // A version without update content stops everything here (and from now on).
            let Ok(update) = self.try_into_update_message_with_version(local_supported_version)
            else {
                return;
            };
            local_update = update;
        }

        let checked_recently = last_capitulate_miner_view
            .elapsed()
            .is_ok_and(|elapsed| elapsed < capitulate_miner_view_timeout);
        if checked_recently {
            return;
        }

        let now = SystemTime::now();
        let last_signed_accepted = match local_update.content.current_miner() {
            StateMachineUpdateMinerState::ActiveMiner { tenure_id, .. } => db
                .get_last_globally_accepted_block_signed_self(tenure_id)
                .unwrap_or_else(|e| {
                    warn!(log, "Signer State: could not read the last globally accepted block this signer signed";
                        "tenure_id" => %tenure_id,
                        "err" => %e);
                    None
                }),
            StateMachineUpdateMinerState::NoValidMiner => None,
        }
        .unwrap_or(UNIX_EPOCH);
        let since_signed = now.duration_since(last_signed_accepted).unwrap_or_default();
        if since_signed < capitulate_miner_view_timeout {
            // This signer took part in an accepted block of its miner's tenure recently.
            return;
        }

        *last_capitulate_miner_view = now;

        let Some(new_miner) = Self::capitulate_miner_view(
            node,
            eval,
            db,
            &local_update,
            tenure_last_block_proposal_timeout,
            log,
        ) else {
            return;
        };

        let current_miner = local_update.content.current_miner();
        if *current_miner == new_miner {
            return;
        }
        let (burn_block, burn_block_height) = local_update.content.burn_block_view();
        info!(log, "Signer State: adopting the signer set's view of the current miner";
            "current_miner" => ?current_miner,
            "new_miner" => ?new_miner,
            "burn_block" => %burn_block,
            "burn_block_height" => burn_block_height);
        crate::monitoring::actions::increment_signer_agreement_state_change_reason(
            crate::monitoring::actions::SignerAgreementStateChangeReason::MinerViewUpdate,
        );
        if let (
            StateMachineUpdateMinerState::ActiveMiner {
                parent_tenure_id: old_parent,
                ..
            },
            StateMachineUpdateMinerState::ActiveMiner {
                parent_tenure_id: new_parent,
                ..
            },
        ) = (current_miner, &new_miner)
        {
            if old_parent != new_parent {
                crate::monitoring::actions::increment_signer_agreement_state_change_reason(
                    crate::monitoring::actions::SignerAgreementStateChangeReason::MinerParentTenureUpdate,
                );
            }
        }
        *self = Self::Initialized(state_from_content(
            &local_update.content,
            new_miner.clone().into(),
            active_version,
        ));
        if let StateMachineUpdateMinerState::ActiveMiner {
            current_miner_pkh, ..
        } = &new_miner
        {
            if let Some(view) = sortition_state {
                if *current_miner_pkh != view.cur_sortition.data.miner_pkh {
                    view.cur_sortition.miner_status =
                        SortitionMinerStatus::InvalidatedBeforeFirstBlock;
                }
            }
        }
    }

    /// The miner view this signer should adopt from the signer set, if any.
    ///
    /// Only updates on the global burn view (which must be this signer's own) with an active
    /// miner count. A miner view qualifies once it holds more than 30% of the weight, plus
    /// agreement-level weight when its tenure has no globally accepted block; this signer must
    /// know the tenure's burn block, and must not be behind the view's parent tenure tip.
    /// Among qualifying views, the one whose tenure has the highest burn height wins.
    ///
    /// Determinism (a deviation from the reference, which walks a `HashMap` and breaks ties in
    /// `HashSet` order): updates are visited in ascending signer address order, and qualifying
    /// views at the same burn height are ranked by the total weight behind them, then by the
    /// order in which they qualified.
    pub(crate) fn capitulate_miner_view(
        node: &dyn NodeRpc,
        eval: &mut GlobalStateEvaluator,
        db: &SignerDb,
        local_update: &StateMachineUpdateMessage,
        tenure_last_block_proposal_timeout: Duration,
        log: &Logger,
    ) -> Option<StateMachineUpdateMinerState> {
        eval.insert_update(*node.signer_address(), local_update.clone());
        let eval = &*eval;

        let (local_burn_block, local_burn_height) = local_update.content.burn_block_view();
        let (global_burn_block, global_burn_height) = eval.determine_global_burn_view()?;
        if local_burn_block != global_burn_block {
            debug!(log, "Signer State: this signer's burn view is not the signer set's; cannot adopt its miner view yet";
                "current_burn_block" => %local_burn_block,
                "current_burn_block_height" => local_burn_height,
                "global_burn_block" => %global_burn_block,
                "global_burn_block_height" => global_burn_height);
            crate::monitoring::actions::increment_signer_agreement_state_conflict(
                crate::monitoring::actions::SignerAgreementStateConflict::BurnBlockDelay,
            );
            return None;
        }

        let blocking_weight = eval.total_weight.wrapping_mul(3) / 10;
        let mut addresses: Vec<&StacksAddress> = eval.address_updates.keys().collect();
        addresses.sort();

        let mut tallies: HashMap<&StateMachineUpdateMinerState, u32> = HashMap::new();
        // (burn height of the tenure, view), in the order the views qualified.
        let mut candidates: Vec<(u64, &StateMachineUpdateMinerState)> = Vec::new();
        for address in addresses {
            let (Some(weight), Some(update)) = (
                eval.address_weights.get(address),
                eval.address_updates.get(address),
            ) else {
                continue;
            };
            if update.content.burn_block_view().0 != global_burn_block {
                continue;
            }
            let miner = update.content.current_miner();
            let StateMachineUpdateMinerState::ActiveMiner {
                tenure_id,
                parent_tenure_id,
                parent_tenure_last_block_height,
                ..
            } = miner
            else {
                continue;
            };
            let tally = tallies.entry(miner).or_insert(0);
            *tally = tally.wrapping_add(*weight);
            let tally = *tally;
            if tally <= blocking_weight {
                continue;
            }
            let accepted_blocks = db
                .get_globally_accepted_block_count_in_tenure(tenure_id)
                .unwrap_or(0);
            if accepted_blocks == 0 && !eval.reached_agreement(tally) {
                continue;
            }
            match db.get_burn_block_by_ch(tenure_id) {
                Ok(burn_block) => {
                    let candidate = (burn_block.block_height, miner);
                    if candidates.contains(&candidate) {
                        continue;
                    }
                    let local_parent_height = match Self::get_parent_tenure_last_block(
                        node,
                        db,
                        tenure_last_block_proposal_timeout,
                        parent_tenure_id,
                        log,
                    ) {
                        Ok((height, _)) => height,
                        Err(e) => {
                            warn!(log, "Signer State: could not find the last block of the parent tenure";
                                "parent_tenure_id" => %parent_tenure_id,
                                "err" => %e);
                            continue;
                        }
                    };
                    if local_parent_height < *parent_tenure_last_block_height {
                        debug!(log, "Signer State: enough signers see a longer parent tenure than this signer; its view may be behind";
                            "parent_tenure_id" => %parent_tenure_id,
                            "local_parent_tenure_last_block_height" => local_parent_height,
                            "parent_tenure_last_block_height" => *parent_tenure_last_block_height);
                        continue;
                    }
                    candidates.push(candidate);
                }
                Err(SignerDbError::NotFound(_)) => {
                    debug!(log, "Signer State: enough signers name an active tenure whose burn block this signer has not seen; its view may be behind";
                        "tenure_id" => %tenure_id);
                }
                Err(e) => {
                    warn!(log, "Signer State: could not read the burn block of a tenure";
                        "tenure_id" => %tenure_id,
                        "err" => %e);
                }
            }
        }

        let mut best: Option<(u64, u32, &StateMachineUpdateMinerState)> = None;
        for (height, miner) in candidates {
            let weight = tallies.get(miner).copied().unwrap_or(0);
            if best.is_none_or(|(best_height, best_weight, _)| {
                (height, weight) > (best_height, best_weight)
            }) {
                best = Some((height, weight, miner));
            }
        }
        if best.is_none() {
            crate::monitoring::actions::increment_signer_agreement_state_conflict(
                crate::monitoring::actions::SignerAgreementStateConflict::MinerView,
            );
        }
        best.map(|(_, _, miner)| miner.clone())
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
        let from_node = match node.get_tenure_tip(parent_tenure_id) {
            Ok(tip) => Some((tip.height, tip.block_id)),
            Err(e) => {
                warn!(log, "Signer State: could not fetch the last block of the parent tenure from the node";
                    "parent_tenure_id" => %parent_tenure_id,
                    "err" => %e);
                None
            }
        };
        let from_db = SortitionData::get_tenure_last_block_info(
            parent_tenure_id,
            db,
            tenure_last_block_proposal_timeout,
            log,
        )?
        .map(|info| (info.block.header.chain_length, info.block.block_id()));
        match (from_node, from_db) {
            (Some(node_tip), Some(db_tip)) if node_tip.0 > db_tip.0 => Ok(node_tip),
            (_, Some(db_tip)) => Ok(db_tip),
            (Some(node_tip), None) => Ok(node_tip),
            (None, None) => Err(SignerChainstateError::NoParentTenureInfo(*parent_tenure_id)),
        }
    }

    /// The active-miner state for `sortition`'s miner, with the last block of its parent tenure.
    fn make_miner_state(
        sortition: &SortitionData,
        node: &dyn NodeRpc,
        db: &SignerDb,
        tenure_last_block_proposal_timeout: Duration,
        log: &Logger,
    ) -> Result<MinerState, SignerChainstateError> {
        let (parent_tenure_last_block_height, parent_tenure_last_block) =
            Self::get_parent_tenure_last_block(
                node,
                db,
                tenure_last_block_proposal_timeout,
                &sortition.parent_tenure_id,
                log,
            )?;
        Ok(MinerState::ActiveMiner {
            current_miner_pkh: sortition.miner_pkh,
            tenure_id: sortition.consensus_hash,
            parent_tenure_id: sortition.parent_tenure_id,
            parent_tenure_last_block,
            parent_tenure_last_block_height,
        })
    }

    /// The change to the replay state a new burn block calls for, if it is a Bitcoin fork:
    /// `None` when nothing changes.
    ///
    /// A higher block is a fork only when the previous tip is not its ancestor (checked at most
    /// [`FORK_DESCENDANCY_MAX_DEPTH`] blocks back); a block at or below the previous height is a
    /// fork unless it is the previous tip itself.
    fn handle_possible_bitcoin_fork(
        db: &SignerDb,
        node: &dyn NodeRpc,
        expected: &NewBurnBlock,
        prior: &SignerStateMachine,
        replay_state: &ReplayState,
        log: &Logger,
    ) -> Result<Option<ReplayState>, SignerChainstateError> {
        if expected.burn_block_height > prior.burn_block_height {
            if !Self::new_burn_block_fork_descendency_check(
                db,
                expected,
                prior.burn_block_height,
                &prior.burn_block,
                log,
            ) {
                return Ok(None);
            }
            info!(log, "Detected a Bitcoin fork: the previous burn tip is not an ancestor of the new one";
                "new_tip.burn_block_height" => expected.burn_block_height,
                "new_tip.consensus_hash" => %expected.consensus_hash,
                "prior_tip.burn_block_height" => prior.burn_block_height,
                "prior_tip.consensus_hash" => %prior.burn_block);
        }
        if expected.consensus_hash == prior.burn_block {
            return Ok(None);
        }
        match replay_state {
            ReplayState::Unset => Self::handle_fork_for_new_replay(db, node, expected, prior, log),
            ReplayState::InProgress(_, scope) => {
                Self::handle_fork_on_in_progress_replay(db, node, expected, prior, scope, log)
            }
        }
    }

    /// A fork with no replay in progress: the transactions of the forked-away blocks (from
    /// `expected` up to the previous tip) become the replay set, unless the fork reaches into
    /// another reward cycle or there is nothing to replay.
    fn handle_fork_for_new_replay(
        db: &SignerDb,
        node: &dyn NodeRpc,
        expected: &NewBurnBlock,
        prior: &SignerStateMachine,
        log: &Logger,
    ) -> Result<Option<ReplayState>, SignerChainstateError> {
        info!(log, "Signer State: Bitcoin fork detected";
            "expected_burn_block.height" => expected.burn_block_height,
            "expected_burn_block.hash" => %expected.consensus_hash,
            "prior_state_machine.burn_block_height" => prior.burn_block_height,
            "prior_state_machine.burn_block" => %prior.burn_block);
        let past_tip = NewBurnBlock {
            burn_block_height: prior.burn_block_height,
            consensus_hash: prior.burn_block,
        };
        let Some(replay_set) =
            Self::compute_forked_txs_set_in_same_cycle(db, node, expected, &past_tip, log)?
        else {
            info!(
                log,
                "Tx Replay: the Bitcoin fork reaches into the previous reward cycle; no replay"
            );
            return Ok(None);
        };
        if replay_set.is_empty() {
            info!(
                log,
                "Tx Replay: the forked blocks hold no transactions to replay"
            );
            return Ok(None);
        }
        let scope = ReplayScope {
            fork_origin: expected.clone(),
            past_tip,
        };
        info!(log, "Tx Replay: replay set updated"; 
            "tx_count" => replay_set.len(),
            "tx_replay_set" => ?replay_set,
            "tx_replay_scope" => ?scope);
        Ok(Some(ReplayState::InProgress(
            ReplayTransactionSet::new(replay_set),
            scope,
        )))
    }

    /// A fork while a replay is in progress: a fork no deeper than the replay's origin is the
    /// same reorg going on (no change); a deeper one recomputes the set from the new origin up
    /// to the replay's past tip, or clears it when that reaches into another reward cycle.
    fn handle_fork_on_in_progress_replay(
        db: &SignerDb,
        node: &dyn NodeRpc,
        expected: &NewBurnBlock,
        prior: &SignerStateMachine,
        scope: &ReplayScope,
        log: &Logger,
    ) -> Result<Option<ReplayState>, SignerChainstateError> {
        info!(log, "Tx Replay: Bitcoin fork detected while a replay is in progress";
            "expected_burn_block.height" => expected.burn_block_height,
            "expected_burn_block.hash" => %expected.consensus_hash,
            "prior_state_machine.burn_block_height" => prior.burn_block_height,
            "prior_state_machine.burn_block" => %prior.burn_block);
        if expected.burn_block_height >= scope.fork_origin.burn_block_height {
            info!(
                log,
                "Tx Replay: the reorg is still in progress; nothing to do"
            );
            return Ok(None);
        }
        let new_state = match Self::compute_forked_txs_set_in_same_cycle(
            db,
            node,
            expected,
            &scope.past_tip,
            log,
        )? {
            Some(replay_set) => {
                let scope = ReplayScope {
                    fork_origin: expected.clone(),
                    past_tip: scope.past_tip.clone(),
                };
                info!(log, "Tx Replay: replay set updated";
                    "tx_count" => replay_set.len(),
                    "tx_replay_set" => ?replay_set,
                    "tx_replay_scope" => ?scope);
                ReplayState::InProgress(ReplayTransactionSet::new(replay_set), scope)
            }
            None => {
                info!(log, "Tx Replay: the deeper fork reaches into the previous reward cycle; clearing the replay set");
                ReplayState::Unset
            }
        };
        Ok(Some(new_state))
    }

    /// The transactions of the blocks a fork removed, from the tenure after `fork_origin` up
    /// to `fork_tip`, in chain-length order and without tenure changes, coinbases and poison
    /// microblocks; `None` when any of those tenures lies outside `fork_tip`'s reward cycle.
    /// Burn block records whose parent is not lower than the block are an error.
    fn compute_forked_txs_set_in_same_cycle(
        db: &SignerDb,
        node: &dyn NodeRpc,
        fork_origin: &NewBurnBlock,
        fork_tip: &NewBurnBlock,
        log: &Logger,
    ) -> Result<Option<Vec<StacksTransaction>>, SignerChainstateError> {
        let mut burn_block = db.get_burn_block_by_ch(&fork_tip.consensus_hash)?;
        let mut first_forked_tenure = fork_tip.consensus_hash;
        while burn_block.block_height > fork_origin.burn_block_height {
            let parent = db.get_burn_block_by_hash(&burn_block.parent_burn_block_hash)?;
            if parent.block_height >= burn_block.block_height {
                // Recorded burn blocks whose parent links do not descend would make this walk
                // endless (as the reference's would be): refuse them.
                return Err(SignerDbError::corrupt(
                    "burn_blocks",
                    "parent_burn_block_hash",
                    format!(
                        "the parent of burn block {} (height {}) is at height {}",
                        burn_block.block_hash, burn_block.block_height, parent.block_height
                    ),
                )
                .into());
            }
            burn_block = parent;
            first_forked_tenure = burn_block.consensus_hash;
        }
        let tenures =
            node.get_tenure_forking_info(&first_forked_tenure, &fork_tip.consensus_hash)?;
        let blocks = decode_forked_blocks(&tenures)?;

        let reward_cycle_info = node.get_current_reward_cycle_info()?;
        let tip_cycle = reward_cycle_info.get_reward_cycle(fork_tip.burn_block_height);
        let same_cycle = tenures.iter().all(|tenure| {
            reward_cycle_info.get_reward_cycle(tenure.burn_block_height) == tip_cycle
        });
        if !same_cycle {
            info!(log, "Signer State: the Bitcoin fork reaches into the previous reward cycle; no replay";
                "fork_tip.burn_block_height" => fork_tip.burn_block_height,
                "fork_origin.burn_block_height" => fork_origin.burn_block_height);
            return Ok(None);
        }
        Ok(Some(replayable_txs(blocks)))
    }

    /// Whether an in-progress replay has stalled: the new burn block is more than
    /// `reset_replay_set_after_fork_blocks` above the replay's past tip.
    fn replay_failsafe_due(
        replay_state: &ReplayState,
        new_burn_block: &NewBurnBlock,
        reset_replay_set_after_fork_blocks: u64,
    ) -> bool {
        match replay_state {
            ReplayState::Unset => false,
            ReplayState::InProgress(_, scope) => {
                new_burn_block.burn_block_height
                    > scope
                        .past_tip
                        .burn_block_height
                        .saturating_add(reset_replay_set_after_fork_blocks)
            }
        }
    }

    /// Whether `new_burn_block`, 1 to [`FORK_DESCENDANCY_MAX_DEPTH`] blocks above the previous
    /// tip, descends from a different block at the previous tip's height than the previous tip
    /// (walking parents in the database). Any gap in the database makes it `false`.
    fn new_burn_block_fork_descendency_check(
        db: &SignerDb,
        new_burn_block: &NewBurnBlock,
        prior_height: u64,
        prior_burn_block: &ConsensusHash,
        log: &Logger,
    ) -> bool {
        let depth = match new_burn_block.burn_block_height.checked_sub(prior_height) {
            Some(depth) if (1..=FORK_DESCENDANCY_MAX_DEPTH).contains(&depth) => depth,
            _ => return false,
        };
        let mut ancestor = match db
            .get_burn_block_by_ch(&new_burn_block.consensus_hash)
            .and_then(|block| db.get_burn_block_by_hash(&block.parent_burn_block_hash))
        {
            Ok(parent) => parent,
            Err(e) => {
                warn!(log, "Could not read the parent of the new burn block";
                    "consensus_hash" => %new_burn_block.consensus_hash,
                    "err" => %e);
                return false;
            }
        };
        for _ in 0..depth {
            if ancestor.block_height == prior_height {
                return ancestor.consensus_hash != *prior_burn_block;
            }
            ancestor = match db.get_burn_block_by_hash(&ancestor.parent_burn_block_hash) {
                Ok(parent) => parent,
                Err(e) => {
                    warn!(log, "Could not read the parent of a burn block";
                        "burn_block_hash" => %ancestor.parent_burn_block_hash,
                        "err" => %e);
                    return false;
                }
            };
        }
        false
    }
}

/// The Nakamoto blocks of the forked tenures (`u32 count || blocks` each, as the node encodes
/// them). Undecodable bytes are an error.
fn decode_forked_blocks(
    tenures: &[TenureForkingInfo],
) -> Result<Vec<NakamotoBlock>, SignerChainstateError> {
    let mut blocks = Vec::new();
    for tenure in tenures {
        let Some(bytes) = &tenure.nakamoto_blocks else {
            continue;
        };
        let decoded: Vec<NakamotoBlock> = read_next(&mut bytes.as_slice()).map_err(|e| {
            ClientError::UnexpectedResponseFormat(format!(
                "the blocks of tenure {} in the fork info cannot be decoded: {e}",
                tenure.consensus_hash
            ))
        })?;
        blocks.extend(decoded);
    }
    Ok(blocks)
}

/// The transactions of `blocks` in chain-length order (a stable sort: blocks of equal length
/// keep their order), leaving out tenure changes, coinbases and poison microblocks.
fn replayable_txs(mut blocks: Vec<NakamotoBlock>) -> Vec<StacksTransaction> {
    blocks.sort_by_key(|block| block.header.chain_length);
    blocks
        .into_iter()
        .flat_map(|block| block.txs)
        .filter(|tx| {
            !matches!(
                tx.payload,
                TransactionPayload::TenureChange(..)
                    | TransactionPayload::Coinbase(..)
                    | TransactionPayload::PoisonMicroblock(..)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
