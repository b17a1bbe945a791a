//! The v0 signer of one reward cycle: what it holds, how it is created, and how each event
//! reaches its handler (the reference's `process_event`, step by step).
//!
//! The proposal pipeline is in `proposal.rs`, the vote counting and this signer's own
//! responses in `votes.rs`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::mpsc::Sender;
use std::sync::MutexGuard;
use std::time::{Duration, Instant, SystemTime};

use libsigner::chain::{
    ConsensusHash, MessageSignature, Sha256Sum, Sha512Trunc256Sum, StacksAddress, StacksBlockId,
    StacksPrivateKey, StacksPublicKey, StacksTransaction,
};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{
    MessageSlotID, MockProposal, MockSignature, SignerMessage, StateMachineUpdate,
};
use libsigner::v0::signer_state::{GlobalStateEvaluator, ReplayTransactionSet, SignerStateMachine};
use libsigner::SignerEvent;
use slog::{debug, error, info, o, warn, Logger};

use super::new_block::{count_unverified_block_event, tally_signer_signatures, KnownSignerSets};
use super::recently_processed::RecentlyProcessedBlocks;
use super::signer_state::{LocalStateMachine, NewBurnBlock, ReplayScopeOpt};
use crate::chainstate::cache::NodeCache;
use crate::chainstate::v1::SortitionsView;
use crate::chainstate::{CachedNode, ProposalEvalConfig, SUPPORTED_SIGNER_PROTOCOL_VERSION};
use crate::client::api::StacksEpochId;
use crate::client::{StackerDB, StacksClient};
use crate::config::{SignerConfig, SignerConfigMode};
use crate::signer::{SignerContext, SignerInitError, SignerResult, SignerTrait};
use crate::signerdb::{BlockInfo, ConflictPolicy, SharedSignerDb, SignerDb};

/// What the signer instances of both reward cycles share: the sortition view proposals are
/// checked against (dropped at every burn block, as in the reference), the cache of node
/// answers, and the signer sets `/new_block` signatures are checked against.
#[derive(Debug, Default)]
pub struct SharedState {
    /// This signer's view of the current and last sortitions, once fetched.
    pub sortition_view: Option<SortitionsView>,
    /// The node answers kept between events.
    pub node_cache: RefCell<NodeCache>,
    /// The signer sets of the recent reward cycles (see [`super::new_block`]).
    pub signer_sets: KnownSignerSets,
}

/// The v0 signer of one reward cycle. See the [module documentation](self).
pub struct Signer {
    pub(super) private_key: StacksPrivateKey,
    pub(super) stacks_address: StacksAddress,
    pub(super) mainnet: bool,
    pub(super) mode: SignerConfigMode,
    pub(super) reward_cycle: u64,
    pub(super) stackerdb: StackerDB<MessageSlotID>,
    pub(super) stacks_client: StacksClient,
    pub(super) db: SharedSignerDb,
    /// The reward set's addresses, in reward-set order (the order of block signatures).
    pub(super) signer_addresses: Vec<StacksAddress>,
    pub(super) signer_weights: HashMap<StacksAddress, u32>,
    pub(super) proposal_config: ProposalEvalConfig,
    pub(super) block_proposal_validation_timeout: Duration,
    pub(super) block_proposal_max_age_secs: u64,
    /// The proposal submitted to the node for validation, and when.
    pub(super) submitted_block_proposal: Option<(Sha512Trunc256Sum, Instant)>,
    pub(super) local_state_machine: LocalStateMachine,
    pub(super) recently_processed: RecentlyProcessedBlocks<100>,
    pub(super) global_state_evaluator: GlobalStateEvaluator,
    pub(super) validate_with_replay_tx: bool,
    pub(super) tx_replay_scope: ReplayScopeOpt,
    pub(super) capitulate_miner_view_timeout: Duration,
    pub(super) last_capitulate_miner_view: SystemTime,
    /// The node's hash of each replay set this signer sent with a validation request, by the
    /// set's own digest (the node computes its hash in a way this signer does not replicate).
    pub(super) replay_set_hashes: HashMap<Sha256Sum, u64>,
    /// The replay set sent with each outstanding validation request, by block.
    pub(super) replay_sets_sent: HashMap<Sha512Trunc256Sum, Sha256Sum>,
    pub(super) logger: Logger,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("reward_cycle", &self.reward_cycle)
            .field("mode", &self.mode)
            .field("stacks_address", &self.stacks_address)
            .field("local_state_machine", &self.local_state_machine)
            .field("submitted_block_proposal", &self.submitted_block_proposal)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            SignerConfigMode::DryRun => "Dry-Run signer".to_string(),
            SignerConfigMode::Normal { signer_id, .. } => format!("Signer #{signer_id}"),
        };
        write!(f, "Cycle #{} {mode}", self.reward_cycle)
    }
}

/// The digest this signer keys replay sets by.
pub(super) fn replay_set_digest(set: &ReplayTransactionSet) -> Sha256Sum {
    let bytes: Vec<u8> = set
        .clone()
        .unwrap_or_default()
        .iter()
        .flat_map(StacksMessageCodec::serialize_to_vec)
        .collect();
    Sha256Sum::from_data(&bytes)
}

impl Signer {
    /// The database, locked. A lock poisoned by a panic elsewhere is taken over: every write
    /// is a transaction, so the database itself is consistent.
    pub(super) fn db(&self) -> MutexGuard<'_, SignerDb> {
        self.db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The protocol version this signer supports.
    pub(super) fn signer_protocol_version(&self) -> u64 {
        SUPPORTED_SIGNER_PROTOCOL_VERSION
    }

    /// The policy the own-vote record applies to sibling blocks.
    pub(super) fn conflict_policy(&self) -> ConflictPolicy {
        ConflictPolicy {
            reconsider_after: self.proposal_config.tenure_last_block_proposal_timeout,
        }
    }

    /// Whether `address` is in this cycle's signer set (only the hash is compared, as in the
    /// reference).
    pub(super) fn is_valid_signer(&self, address: &StacksAddress) -> bool {
        self.signer_addresses
            .iter()
            .any(|known| known.bytes() == address.bytes())
    }

    /// The record of `hash` if it belongs to this signer's reward cycle.
    pub(super) fn block_lookup_by_reward_cycle(
        &self,
        hash: &Sha512Trunc256Sum,
    ) -> Option<BlockInfo> {
        match self.db().block_lookup(hash) {
            Ok(Some(info)) if info.reward_cycle == self.reward_cycle => Some(info),
            Ok(_) => None,
            Err(e) => {
                error!(
                    self.logger,
                    "{self}: Failed to lookup block hash {hash} in signer db: {e}"
                );
                None
            }
        }
    }
}

impl SignerTrait<SignerMessage> for Signer {
    type Shared = SharedState;

    fn new(context: &SignerContext, config: SignerConfig) -> Result<Self, SignerInitError> {
        let mut keys = context
            .logger
            .new(o!("reward_cycle" => config.reward_cycle));
        if let SignerConfigMode::Normal { signer_id, .. } = config.signer_mode {
            keys = keys.new(o!("signer_id" => signer_id));
        }
        let logger = keys;
        let mut stackerdb =
            StackerDB::from_config(&config, context.db.clone()).with_logger(logger.clone());
        let private_key = config.global.stacks_private_key.clone();
        let mainnet = config.mainnet();
        let stacks_address =
            StacksAddress::p2pkh(mainnet, &StacksPublicKey::from_private(&private_key));
        let proposal_config = ProposalEvalConfig::from(&config);
        let weights = config.signer_entries.signer_addr_to_weight.clone();
        let updates = {
            // The StackerDB client takes the database lock itself: read the chunks first,
            // then store them.
            let mut scratch = LatestUpdates::default();
            scratch.collect(&mut stackerdb, &config, &logger);
            let mut db = context
                .db
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            scratch.store(&mut db, &config, &logger);
            db.get_signer_state_machine_updates(config.reward_cycle)
                .unwrap_or_else(|e| {
                    warn!(
                        logger,
                        "An error occurred retrieving state machine updates from the db: {e}"
                    );
                    HashMap::new()
                })
        };
        let global_state_evaluator = GlobalStateEvaluator::new(updates, weights.clone());
        let local_state_machine = {
            let db = context
                .db
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            LocalStateMachine::new(
                &db,
                &context.stacks_client,
                &proposal_config,
                &global_state_evaluator,
                SUPPORTED_SIGNER_PROTOCOL_VERSION,
                &logger,
            )
            .unwrap_or_else(|e| {
                warn!(
                    logger,
                    "Failed to initialize local state machine for signer: {e}"
                );
                LocalStateMachine::Uninitialized
            })
        };
        let global = &config.global;
        Ok(Self {
            private_key,
            stacks_address,
            mainnet,
            mode: config.signer_mode,
            reward_cycle: config.reward_cycle,
            stackerdb,
            stacks_client: context.stacks_client.clone(),
            db: context.db.clone(),
            signer_addresses: config.signer_entries.signer_addresses.clone(),
            signer_weights: weights,
            proposal_config,
            block_proposal_validation_timeout: global.block_proposal_validation_timeout,
            block_proposal_max_age_secs: global.block_proposal_max_age_secs,
            submitted_block_proposal: None,
            local_state_machine,
            recently_processed: RecentlyProcessedBlocks::new(),
            global_state_evaluator,
            validate_with_replay_tx: global.validate_with_replay_tx,
            tx_replay_scope: None,
            capitulate_miner_view_timeout: global.capitulate_miner_view_timeout,
            last_capitulate_miner_view: SystemTime::now(),
            replay_set_hashes: HashMap::new(),
            replay_sets_sent: HashMap::new(),
            logger,
        })
    }

    fn reward_cycle(&self) -> u64 {
        self.reward_cycle
    }

    fn process_event(
        &mut self,
        _context: &SignerContext,
        shared: &mut SharedState,
        event: Option<&SignerEvent<SignerMessage>>,
        _results: &Sender<SignerResult>,
        current_reward_cycle: u64,
    ) {
        let SharedState {
            sortition_view,
            node_cache,
            signer_sets,
        } = shared;
        signer_sets.remember(self.reward_cycle, &self.signer_weights);
        self.check_submitted_block_proposal();
        self.check_pending_block_validations(node_cache);

        let mut prior_state = self.local_state_machine.clone();
        let local_version = self.signer_protocol_version();
        if self.reward_cycle <= current_reward_cycle {
            let client = self.stacks_client.clone();
            let node = CachedNode::new(&client, node_cache);
            let db = self.db.clone();
            let db = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Err(e) = self.local_state_machine.handle_pending_update(
                &db,
                &node,
                &self.proposal_config,
                &mut self.tx_replay_scope,
                &self.global_state_evaluator,
                local_version,
                &self.logger,
            ) {
                error!(self.logger, "{self}: failed to update local state machine for pending update"; "err" => %e);
            }
        }
        self.capitulate(sortition_view, node_cache);
        if prior_state != self.local_state_machine {
            self.send_signer_update_message();
            prior_state = self.local_state_machine.clone();
        }

        if let Some(SignerEvent::SignerMessages { signer_set, .. }) = event {
            if u64::from(*signer_set) % 2 == (self.reward_cycle.wrapping_add(1)) % 2 {
                return;
            }
        }
        let Some(event) = event else {
            debug!(self.logger, "{self}: No event received");
            return;
        };
        if self.reward_cycle > current_reward_cycle
            && !matches!(
                event,
                SignerEvent::StatusCheck | SignerEvent::NewBurnBlock { .. }
            )
        {
            debug!(
                self.logger,
                "{self}: Signer reward cycle has not yet started. Ignoring event."
            );
            return;
        }
        self.handle_event(
            sortition_view,
            node_cache,
            signer_sets,
            event,
            current_reward_cycle,
        );

        self.check_submitted_block_proposal();
        self.check_pending_block_validations(node_cache);
        if prior_state != self.local_state_machine {
            self.send_signer_update_message();
        }
    }

    fn has_unprocessed_blocks(&self) -> bool {
        self.db()
            .has_unprocessed_blocks(self.reward_cycle)
            .unwrap_or_else(|e| {
                error!(
                    self.logger,
                    "{self}: Failed to check for pending blocks: {e}"
                );
                // Keeping the instance one more burn block is harmless; dropping one with
                // blocks in flight is not.
                true
            })
    }

    fn get_local_state_machine(&self) -> Option<SignerStateMachine> {
        match &self.local_state_machine {
            LocalStateMachine::Initialized(state) => Some(state.clone()),
            LocalStateMachine::Pending { prior, .. } => Some(prior.clone()),
            LocalStateMachine::Uninitialized => None,
        }
    }

    fn get_pending_proposals_count(&self) -> u64 {
        self.db()
            .get_all_pending_block_validations()
            .map(|pending| u64::try_from(pending.len()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    fn get_canonical_tip(&self) -> Option<BlockInfo> {
        self.db()
            .get_canonical_tip()
            .map_err(|e| {
                error!(
                    self.logger,
                    "{self}: Failed to check for canonical tip: {e}"
                )
            })
            .ok()
            .flatten()
    }
}

/// Every signer's latest state-machine update as StackerDB holds it, read when an instance
/// starts (so a restarted signer knows the signer set's views at once) and then stored as
/// received now.
#[derive(Default)]
struct LatestUpdates {
    updates: Vec<(StacksAddress, StateMachineUpdate)>,
}

impl LatestUpdates {
    fn collect(
        &mut self,
        stackerdb: &mut StackerDB<MessageSlotID>,
        config: &SignerConfig,
        logger: &Logger,
    ) {
        let signer_ids: Vec<u32> = config
            .signer_entries
            .signer_id_to_addr
            .keys()
            .copied()
            .collect();
        // As the reference: the signer ids are used as slot ids.
        let latest = match stackerdb
            .get_latest_messages::<SignerMessage>(&MessageSlotID::StateMachineUpdate, &signer_ids)
        {
            Ok(latest) => latest,
            Err(e) => {
                warn!(
                    logger,
                    "Error retrieving state machine updates from stacker DB: {e}"
                );
                return;
            }
        };
        for (slot_id, message) in latest.messages {
            let SignerMessage::StateMachineUpdate(update) = message else {
                continue;
            };
            if let Some(address) = config.signer_entries.signer_id_to_addr.get(&slot_id) {
                self.updates.push((*address, update));
            }
        }
    }

    fn store(&self, db: &mut SignerDb, config: &SignerConfig, logger: &Logger) {
        let now = SystemTime::now();
        for (address, update) in &self.updates {
            if let Err(e) =
                db.insert_state_machine_update(config.reward_cycle, address, update, &now)
            {
                warn!(
                    logger,
                    "Error submitting state machine update to signer DB: {e}"
                );
            }
        }
    }
}

impl Signer {
    /// Dispatches one event to its handler (the reference's `handle_event_match`).
    fn handle_event(
        &mut self,
        sortition_view: &mut Option<SortitionsView>,
        node_cache: &RefCell<NodeCache>,
        signer_sets: &KnownSignerSets,
        event: &SignerEvent<SignerMessage>,
        current_reward_cycle: u64,
    ) {
        match event {
            SignerEvent::BlockValidationResponse(response) => {
                debug!(
                    self.logger,
                    "{self}: Received a block proposal result from the stacks node..."
                );
                self.handle_block_validate_response(response, sortition_view, node_cache);
            }
            SignerEvent::SignerMessages {
                received_time,
                messages,
                ..
            } => {
                debug!(
                    self.logger,
                    "{self}: Received {} messages from the other signers",
                    messages.len()
                );
                for (public_key, message) in messages {
                    let address = StacksAddress::p2pkh(self.mainnet, public_key);
                    if !self.is_valid_signer(&address) {
                        // As the reference: the rest of the batch is dropped too.
                        debug!(self.logger, "{self}: Received a message from an unknown signer. Ignoring...";
                            "signer_address" => %address);
                        crate::monitoring::actions::increment_messages_from_non_signers();
                        return;
                    }
                    match message {
                        SignerMessage::BlockResponse(response) => {
                            self.handle_block_response(response, sortition_view, node_cache)
                        }
                        SignerMessage::StateMachineUpdate(update) => {
                            self.handle_state_machine_update(&address, update, received_time)
                        }
                        SignerMessage::BlockPreCommit(hash) => {
                            self.handle_block_pre_commit(&address, hash, node_cache)
                        }
                        _ => {}
                    }
                }
            }
            SignerEvent::MinerMessages(messages) => {
                debug!(
                    self.logger,
                    "{self}: Received {} messages from the miner",
                    messages.len()
                );
                for message in messages {
                    match message {
                        SignerMessage::BlockProposal(proposal) => {
                            self.handle_block_proposal(proposal, sortition_view, node_cache)
                        }
                        SignerMessage::BlockPushed(block) => {
                            info!(self.logger, "{self}: Got block pushed message";
                                "block_id" => %block.block_id(),
                                "block_height" => block.header.chain_length,
                                "signer_signature_hash" => %block.header.signer_signature_hash());
                            self.handle_post_block(block);
                        }
                        SignerMessage::MockProposal(mock_proposal) => {
                            self.handle_mock_proposal(mock_proposal, current_reward_cycle)
                        }
                        _ => {}
                    }
                }
            }
            SignerEvent::StatusCheck => {
                debug!(self.logger, "{self}: Received a status check event.");
            }
            SignerEvent::NewBurnBlock {
                burn_height,
                burn_header_hash,
                consensus_hash,
                received_time,
                parent_burn_block_hash,
            } => {
                info!(
                    self.logger,
                    "{self}: Received a new burn block event for block height {burn_height}"
                );
                node_cache.borrow_mut().on_burn_block(consensus_hash);
                if let Err(e) = self.db().insert_burn_block(
                    burn_header_hash,
                    consensus_hash,
                    *burn_height,
                    received_time,
                    parent_burn_block_hash,
                ) {
                    // The reference panics here. Without the burn block, timeouts and fork
                    // checks lack its receive time; the signer keeps running.
                    error!(self.logger, "{self}: Failed to write burn block event to signerdb: {e}";
                        "burn_header_hash" => %burn_header_hash,
                        "burn_height" => burn_height);
                }
                self.burn_block_arrival(*burn_height, consensus_hash, node_cache);
                *sortition_view = None;
            }
            SignerEvent::NewBlock {
                block_height,
                block_id,
                consensus_hash,
                signer_sighash,
                transactions,
                signer_signature,
            } => {
                let Some(sighash) = signer_sighash else {
                    debug!(self.logger, "{self}: received a new block event for a pre-nakamoto block, no processing necessary");
                    return;
                };
                self.new_block(
                    *block_height,
                    block_id,
                    consensus_hash,
                    sighash,
                    transactions,
                    node_cache,
                );
                self.mark_globally_accepted_if_signed(sighash, signer_signature, signer_sets);
            }
        }
    }

    fn burn_block_arrival(
        &mut self,
        burn_height: u64,
        consensus_hash: &ConsensusHash,
        node_cache: &RefCell<NodeCache>,
    ) {
        let client = self.stacks_client.clone();
        let node = CachedNode::new(&client, node_cache);
        let db = self.db.clone();
        let db = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let local_version = self.signer_protocol_version();
        if let Err(e) = self.local_state_machine.bitcoin_block_arrival(
            &db,
            &node,
            &self.proposal_config,
            Some(NewBurnBlock {
                burn_block_height: burn_height,
                consensus_hash: *consensus_hash,
            }),
            &mut self.tx_replay_scope,
            &self.global_state_evaluator,
            local_version,
            &self.logger,
        ) {
            if self.stacks_client.node_is_failing() {
                // The node's fault was reported once already.
                debug!(self.logger, "{self}: failed to update local state machine for latest bitcoin block arrival"; "err" => %e);
            } else {
                error!(self.logger, "{self}: failed to update local state machine for latest bitcoin block arrival"; "err" => %e);
            }
        }
    }

    fn new_block(
        &mut self,
        block_height: u64,
        block_id: &StacksBlockId,
        consensus_hash: &ConsensusHash,
        sighash: &Sha512Trunc256Sum,
        transactions: &[StacksTransaction],
        node_cache: &RefCell<NodeCache>,
    ) {
        self.recently_processed.add_block(*block_id);
        node_cache.borrow_mut().on_stacks_block(
            consensus_hash,
            block_height,
            block_id,
            sighash,
            transactions,
        );
        debug!(self.logger, "{self}: Received a new block event.";
            "block_id" => %block_id,
            "signer_signature_hash" => %sighash,
            "consensus_hash" => %consensus_hash,
            "block_height" => block_height,
            "total_txs" => transactions.len());
        let hashes = &self.replay_set_hashes;
        let replay_hash = |set: &ReplayTransactionSet| hashes.get(&replay_set_digest(set)).copied();
        {
            let db = self.db.clone();
            let db = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Err(e) = self.local_state_machine.stacks_block_arrival(
                consensus_hash,
                block_height,
                block_id,
                sighash,
                &db,
                transactions,
                &replay_hash,
                &self.logger,
            ) {
                error!(self.logger, "{self}: failed to update local state machine for latest stacks block arrival"; "err" => %e);
            }
        }
    }

    /// The second half of the reference's `/new_block` handling: the stored block `sighash`
    /// becomes globally accepted, but here only if the event's signatures verify against
    /// the block's reward cycle's signer set (the cycle of its row; this instance's own set
    /// if that cycle's is unknown) and reach the threshold ([`super::new_block`]).
    fn mark_globally_accepted_if_signed(
        &mut self,
        sighash: &Sha512Trunc256Sum,
        signatures: &[MessageSignature],
        signer_sets: &KnownSignerSets,
    ) {
        let mut db = self.db();
        let mut info = match db.block_lookup(sighash) {
            Ok(Some(info)) => info,
            Ok(None) => return,
            Err(e) => {
                warn!(self.logger, "{self}: Failed to load block state: {e}");
                return;
            }
        };
        if info.state == crate::signerdb::BlockState::GloballyAccepted {
            return;
        }
        let weights = signer_sets
            .get(info.reward_cycle)
            .unwrap_or(&self.signer_weights);
        let tally = tally_signer_signatures(sighash, signatures, self.mainnet, weights);
        if !tally.reaches_threshold() {
            count_unverified_block_event();
            warn!(self.logger, "{self}: Not marking block as globally accepted: the node's new block event does not carry enough valid signer signatures";
                "signer_signature_hash" => %sighash,
                "block_height" => info.block.header.chain_length,
                "block_reward_cycle" => info.reward_cycle,
                "signatures" => signatures.len(),
                "unrecoverable" => tally.unrecoverable,
                "not_counted" => tally.not_counted,
                "signed_weight" => tally.signed_weight,
                "threshold_weight" => tally.threshold,
                "total_weight" => tally.total_weight);
            return;
        }
        if let Err(e) = db.mark_block_globally_accepted(&mut info) {
            warn!(
                self.logger,
                "{self}: Failed to mark block as globally accepted: {e}"
            );
            return;
        }
        if let Err(e) = db.insert_block(&info) {
            warn!(
                self.logger,
                "{self}: Failed to update block state to globally accepted: {e}"
            );
        }
    }

    fn capitulate(
        &mut self,
        sortition_view: &mut Option<SortitionsView>,
        node_cache: &RefCell<NodeCache>,
    ) {
        let client = self.stacks_client.clone();
        let node = CachedNode::new(&client, node_cache);
        let db = self.db.clone();
        let mut db = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let local_version = self.signer_protocol_version();
        self.local_state_machine.capitulate_viewpoint(
            &node,
            &mut db,
            &mut self.global_state_evaluator,
            local_version,
            sortition_view,
            self.capitulate_miner_view_timeout,
            self.proposal_config.tenure_last_block_proposal_timeout,
            &mut self.last_capitulate_miner_view,
            &self.logger,
        );
    }

    /// Publishes the local state machine's update message (slot 2); nothing if the machine
    /// cannot produce one.
    pub(super) fn send_signer_update_message(&mut self) {
        let version = self.signer_protocol_version();
        match self
            .local_state_machine
            .try_into_update_message_with_version(version)
        {
            Ok(update) => {
                debug!(
                    self.logger,
                    "{self}: Sending signer update message to stackerdb: {update:?}"
                );
                let message = SignerMessage::StateMachineUpdate(update);
                if let Err(e) = self.stackerdb.send_message_with_retry(&message) {
                    warn!(
                        self.logger,
                        "{self}: Failed to send signer update to stacker-db: {e}"
                    );
                }
            }
            Err(e) => {
                warn!(
                    self.logger,
                    "{self}: Failed to convert local signer state to a signer message: {e}"
                );
            }
        }
    }

    fn handle_state_machine_update(
        &mut self,
        address: &StacksAddress,
        update: &StateMachineUpdate,
        received_time: &SystemTime,
    ) {
        info!(
            self.logger,
            "{self}: Received state machine update from signer {address}: {update:?}"
        );
        if let Err(e) =
            self.db()
                .insert_state_machine_update(self.reward_cycle, address, update, received_time)
        {
            warn!(
                self.logger,
                "{self}: Failed to update global state in signerdb: {e}"
            );
        }
        self.global_state_evaluator
            .insert_update(*address, update.clone());
    }

    fn handle_mock_proposal(&mut self, mock_proposal: &MockProposal, current_reward_cycle: u64) {
        let epoch = match self.stacks_client.get_node_epoch() {
            Ok(epoch) => epoch,
            Err(e) => {
                warn!(
                    self.logger,
                    "{self}: Failed to determine node epoch. Cannot mock sign: {e}"
                );
                return;
            }
        };
        info!(self.logger, "{self}: received a mock block proposal.";
            "current_reward_cycle" => current_reward_cycle,
            "epoch" => ?epoch);
        if epoch == StacksEpochId::Epoch25 && self.reward_cycle == current_reward_cycle {
            info!(
                self.logger,
                "{self}: Mock signing mock proposal: {mock_proposal:?}"
            );
            let signature = MockSignature::new(mock_proposal.clone(), &self.private_key);
            let message = SignerMessage::MockSignature(signature);
            if let Err(e) = self.stackerdb.send_message_with_retry(&message) {
                warn!(
                    self.logger,
                    "{self}: Failed to send mock signature to stacker-db: {e}"
                );
            }
        }
    }
}
