//! A signer instance that follows its reward cycle without voting: it records the burn chain
//! in the database and logs every proposal, validation result and processed block of its
//! cycle. It is what `stacks-signer run` drives until the v0 voting logic lands, and the
//! instance the run loop's tests exercise.

use std::fmt;
use std::sync::mpsc::Sender;

use libsigner::v0::messages::SignerMessage;
use libsigner::v0::signer_state::SignerStateMachine;
use libsigner::{BlockValidateResponse, SignerEvent};
use slog::{debug, info, o, warn, Logger};

use crate::config::{SignerConfig, SignerConfigMode};
use crate::signer::{lock_db, SignerContext, SignerInitError, SignerResult, SignerTrait};
use crate::signerdb::BlockInfo;

/// See the [module documentation](self).
pub struct ObservingSigner {
    config: SignerConfig,
    context: SignerContext,
    logger: Logger,
    proposals_seen: u64,
}

impl fmt::Debug for ObservingSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservingSigner")
            .field("reward_cycle", &self.config.reward_cycle)
            .field("mode", &self.config.signer_mode)
            .field("proposals_seen", &self.proposals_seen)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ObservingSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Cycle #{} {}",
            self.config.reward_cycle, self.config.signer_mode
        )
    }
}

impl ObservingSigner {
    /// How many block proposals of its cycle this instance has seen.
    pub fn proposals_seen(&self) -> u64 {
        self.proposals_seen
    }

    /// The instance's configuration.
    pub fn config(&self) -> &SignerConfig {
        &self.config
    }

    fn record_burn_block(&self, event: &SignerEvent<SignerMessage>) {
        let SignerEvent::NewBurnBlock {
            burn_height,
            burn_header_hash,
            consensus_hash,
            received_time,
            parent_burn_block_hash,
        } = event
        else {
            return;
        };
        let result = lock_db(&self.context.db)
            .map_err(|e| e.to_string())
            .and_then(|mut db| {
                db.insert_burn_block(
                    burn_header_hash,
                    consensus_hash,
                    *burn_height,
                    received_time,
                    parent_burn_block_hash,
                )
                .map_err(|e| e.to_string())
            });
        match result {
            Ok(()) => debug!(self.logger, "Recorded burn block";
                "burn_height" => burn_height,
                "burn_header_hash" => %burn_header_hash,
                "consensus_hash" => %consensus_hash),
            Err(e) => warn!(
                self.logger,
                "Failed to record burn block {burn_header_hash}: {e}"
            ),
        }
    }

    fn observe_miner_messages(&mut self, messages: &[SignerMessage]) {
        for message in messages {
            let SignerMessage::BlockProposal(proposal) = message else {
                continue;
            };
            if proposal.reward_cycle != self.config.reward_cycle {
                continue;
            }
            self.proposals_seen = self.proposals_seen.saturating_add(1);
            let header = &proposal.block.header;
            info!(self.logger, "Received a block proposal; this build does not vote on it";
                "block_id" => %proposal.block.block_id(),
                "signer_signature_hash" => %header.signer_signature_hash(),
                "consensus_hash" => %header.consensus_hash,
                "block_height" => header.chain_length,
                "burn_height" => proposal.burn_height,
            );
        }
    }

    fn observe_validation(&self, response: &BlockValidateResponse) {
        match response {
            BlockValidateResponse::Ok(ok) => info!(self.logger, "Node validated a block";
                "signer_signature_hash" => %ok.signer_signature_hash),
            BlockValidateResponse::Reject(reject) => info!(self.logger, "Node rejected a block";
                "signer_signature_hash" => %reject.signer_signature_hash,
                "reason" => &reject.reason),
        }
    }
}

impl SignerTrait<SignerMessage> for ObservingSigner {
    type Shared = ();

    fn new(context: &SignerContext, config: SignerConfig) -> Result<Self, SignerInitError> {
        let mut keys = context
            .logger
            .new(o!("reward_cycle" => config.reward_cycle));
        if let SignerConfigMode::Normal { signer_id, .. } = config.signer_mode {
            keys = keys.new(o!("signer_id" => signer_id));
        }
        Ok(Self {
            config,
            context: context.clone(),
            logger: keys,
            proposals_seen: 0,
        })
    }

    fn reward_cycle(&self) -> u64 {
        self.config.reward_cycle
    }

    fn process_event(
        &mut self,
        _context: &SignerContext,
        _shared: &mut (),
        event: Option<&SignerEvent<SignerMessage>>,
        _results: &Sender<SignerResult>,
        _current_reward_cycle: u64,
    ) {
        let Some(event) = event else {
            return;
        };
        match event {
            SignerEvent::NewBurnBlock { .. } => self.record_burn_block(event),
            SignerEvent::MinerMessages(messages) => self.observe_miner_messages(messages),
            SignerEvent::BlockValidationResponse(response) => self.observe_validation(response),
            SignerEvent::NewBlock {
                block_id,
                block_height,
                ..
            } => debug!(self.logger, "Node processed a block";
                "block_id" => %block_id, "block_height" => block_height),
            SignerEvent::SignerMessages {
                signer_set,
                messages,
                ..
            } if u64::from(*signer_set) == self.config.reward_cycle % 2 => {
                debug!(self.logger, "Received signer messages"; "count" => messages.len())
            }
            SignerEvent::SignerMessages { .. } | SignerEvent::StatusCheck => {}
        }
    }

    fn has_unprocessed_blocks(&self) -> bool {
        match lock_db(&self.context.db)
            .map_err(|e| e.to_string())
            .and_then(|db| {
                db.has_unprocessed_blocks(self.config.reward_cycle)
                    .map_err(|e| e.to_string())
            }) {
            Ok(pending) => pending,
            Err(e) => {
                // Keeping the instance one more burn block is harmless; dropping one with
                // blocks in flight is not.
                warn!(
                    self.logger,
                    "Cannot tell whether blocks are unprocessed: {e}"
                );
                true
            }
        }
    }

    fn get_local_state_machine(&self) -> Option<SignerStateMachine> {
        None
    }

    fn get_pending_proposals_count(&self) -> u64 {
        0
    }

    fn get_canonical_tip(&self) -> Option<BlockInfo> {
        lock_db(&self.context.db)
            .ok()
            .and_then(|db| db.get_canonical_tip().ok().flatten())
    }
}
