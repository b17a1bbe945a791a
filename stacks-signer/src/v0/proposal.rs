//! The proposal pipeline: the gates a proposal passes, the checks against the sortition view
//! (or the signer set's global state), submission to the node for validation with its queue,
//! parent wait, 429 handling and timeout, and what the node's verdict leads to.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use libsigner::chain::{NakamotoBlock, Sha512Trunc256Sum};
use libsigner::v0::messages::{BlockProposal, RejectReason, ValidateRejectCode};
use libsigner::{BlockValidateOk, BlockValidateReject, BlockValidateResponse};
use slog::{debug, error, info, warn};

use super::signer::{replay_set_digest, Signer};
use super::votes::VoteOutcome;
use crate::chainstate::cache::NodeCache;
use crate::chainstate::v1::SortitionsView;
use crate::chainstate::v2::GlobalStateView;
use crate::chainstate::{CachedNode, NodeRpc, SortitionData, SortitionStateVersion};
use crate::client::ClientError;
use crate::clock::now_secs;
use crate::signerdb::{BlockInfo, BlockState, OwnVote};

/// The node's status for "busy validating another proposal".
pub const TOO_MANY_REQUESTS_STATUS: u16 = 429;

/// Whether a block this signer already judged is judged again when it is proposed again:
/// only when the earlier verdict said "could not decide" (the reference's table).
pub fn should_reevaluate_block(info: &BlockInfo) -> bool {
    let Some(reason) = &info.reject_reason else {
        return false;
    };
    match reason {
        RejectReason::ValidationFailed(ValidateRejectCode::UnknownParent)
        | RejectReason::NoSortitionView
        | RejectReason::ConnectivityIssues(_)
        | RejectReason::TestingDirective
        | RejectReason::InvalidTenureExtend
        | RejectReason::ConsensusHashMismatch { .. }
        | RejectReason::NoSignerConsensus
        | RejectReason::NotRejected
        | RejectReason::Unknown(_) => true,
        RejectReason::ValidationFailed(_)
        | RejectReason::RejectedInPriorRound
        | RejectReason::SortitionViewMismatch
        | RejectReason::ReorgNotAllowed
        | RejectReason::InvalidBitvec
        | RejectReason::PubkeyHashMismatch
        | RejectReason::InvalidMiner
        | RejectReason::NotLatestSortitionWinner
        | RejectReason::InvalidParentBlock
        | RejectReason::DuplicateBlockFound
        | RejectReason::IrrecoverablePubkeyHash => false,
    }
}

impl Signer {
    /// A miner proposed a block.
    pub(super) fn handle_block_proposal(
        &mut self,
        proposal: &BlockProposal,
        sortition_view: &mut Option<SortitionsView>,
        node_cache: &RefCell<NodeCache>,
    ) {
        let block = &proposal.block;
        let sighash = block.header.signer_signature_hash();
        if proposal.reward_cycle != self.reward_cycle {
            debug!(self.logger, "{self}: Received a block proposal for a different reward cycle. Ignore it.";
                "requested_reward_cycle" => proposal.reward_cycle);
            return;
        }
        crate::monitoring::actions::record_block_proposal_arrival(block);
        if block
            .header
            .timestamp
            .saturating_add(self.block_proposal_max_age_secs)
            < now_secs()
        {
            warn!(self.logger, "{self}: Received a block proposal that is more than {} secs old. Ignoring...", self.block_proposal_max_age_secs;
                "signer_signature_hash" => %sighash,
                "block_id" => %block.block_id(),
                "block_height" => block.header.chain_length,
                "burn_height" => proposal.burn_height,
                "timestamp" => block.header.timestamp);
            return;
        }
        if let Some(known) = self.block_lookup_by_reward_cycle(&sighash) {
            if known.state == BlockState::GloballyAccepted {
                info!(self.logger, "{self}: Received a block proposal for a block that is already globally accepted. Ignoring...";
                    "signer_signature_hash" => %sighash,
                    "block_height" => block.header.chain_length,
                    "signed_group" => known.signed_group,
                    "signed_self" => known.signed_self);
                return;
            }
            if !should_reevaluate_block(&known) {
                self.handle_prior_proposal_eval(&known);
                return;
            }
            debug!(self.logger, "{self}: Received a proposal for this block before, but our rejection reason allows us to reconsider";
                "reject_reason" => ?known.reject_reason);
        }
        info!(self.logger, "{self}: received a block proposal for a new block.";
            "signer_signature_hash" => %sighash,
            "block_id" => %block.block_id(),
            "block_height" => block.header.chain_length,
            "burn_height" => proposal.burn_height,
            "consensus_hash" => %block.header.consensus_hash);
        crate::monitoring::actions::increment_block_proposals_received();
        let block_info = BlockInfo::from(proposal.clone());
        let client = self.stacks_client.clone();
        let node = CachedNode::new(&client, node_cache);
        if sortition_view.is_none() {
            *sortition_view = self.fetch_sortition_view(&node, &sighash);
        }
        if let Some(reason) = self.check_block_against_state(block, sortition_view, &node) {
            // A block known to be invalid is not stored (nor submitted).
            let rejection = self.create_block_rejection(reason, block);
            self.send_rejection(block, rejection, None);
            return;
        }
        self.check_submitted_block_proposal();
        if self.submitted_block_proposal.is_none() {
            info!(self.logger, "{self}: submitting block proposal for validation";
                "signer_signature_hash" => %sighash,
                "block_id" => %block.block_id(),
                "block_height" => block.header.chain_length,
                "burn_height" => proposal.burn_height);
            self.submit_block_for_validation(block, now_secs(), node_cache);
        } else {
            warn!(self.logger, "{self}: cannot submit block proposal for validation as we are already waiting for a response for a prior submission. Inserting pending proposal.";
                "signer_signature_hash" => %sighash);
            if let Err(e) = self
                .db()
                .insert_pending_block_validation(&sighash, now_secs())
            {
                warn!(
                    self.logger,
                    "{self}: Failed to insert pending block validation: {e}"
                );
            }
        }
        if let Err(e) = self.db().insert_block(&block_info) {
            self.handle_insert_block_error(&e);
        }
    }

    /// This signer's view of the sortitions, asked of the node now (at the first proposal
    /// after a burn block, as the reference does: the node may have moved on since the burn
    /// block's event).
    fn fetch_sortition_view(
        &self,
        node: &dyn NodeRpc,
        sighash: &Sha512Trunc256Sum,
    ) -> Option<SortitionsView> {
        node.invalidate_sortitions();
        match SortitionsView::fetch_view(self.proposal_config.clone(), node) {
            Ok(view) => Some(view),
            Err(e) => {
                crate::warn_unless_node_failing!(self.stacks_client.node_is_failing(), self.logger,
                    "{self}: Failed to update sortition view: {e}";
                    "signer_signature_hash" => %sighash);
                None
            }
        }
    }

    /// A block this signer already judged was proposed again: the same answer again
    /// (a signature if it found the block valid, `RejectedInPriorRound` if not, nothing while
    /// it is still validating).
    fn handle_prior_proposal_eval(&mut self, info: &BlockInfo) {
        match info.valid {
            None => {
                debug!(self.logger, "{self}: Received a block proposal for a block we are already validating.";
                    "signer_signature_hash" => %info.signer_signature_hash());
            }
            Some(true) => {
                debug!(
                    self.logger,
                    "{self}: Accepting block {}",
                    info.block.block_id()
                );
                let acceptance = self.create_block_acceptance(&info.block);
                self.send_acceptance(&info.block, acceptance, None);
            }
            Some(false) => {
                debug!(
                    self.logger,
                    "{self}: Rejecting block {}",
                    info.block.block_id()
                );
                let rejection =
                    self.create_block_rejection(RejectReason::RejectedInPriorRound, &info.block);
                self.send_rejection(&info.block, rejection, None);
            }
        }
    }

    /// The first reason to reject `block` before asking the node, if any: against the signer
    /// set's global state once the agreed protocol version uses it, else against this
    /// signer's sortition view.
    fn check_block_against_state(
        &mut self,
        block: &NakamotoBlock,
        sortition_view: &mut Option<SortitionsView>,
        node: &dyn NodeRpc,
    ) -> Option<RejectReason> {
        let local_version = self.signer_protocol_version();
        if let Ok(update) = self
            .local_state_machine
            .try_into_update_message_with_version(local_version)
        {
            self.global_state_evaluator
                .insert_update(self.stacks_address, update);
        }
        let latest_version = match self
            .global_state_evaluator
            .determine_latest_supported_signer_protocol_version()
        {
            Some(version) => version,
            None if SortitionStateVersion::from_protocol_version(local_version)
                .uses_global_state() =>
            {
                warn!(self.logger, "{self}: No consensus on signer protocol version. Unable to validate block. Rejecting.";
                    "signer_signature_hash" => %block.header.signer_signature_hash());
                return Some(RejectReason::NoSignerConsensus);
            }
            None => {
                warn!(self.logger, "{self}: No consensus on signer protocol version. Defaulting to local state version: {local_version}.");
                local_version
            }
        };
        let result =
            if SortitionStateVersion::from_protocol_version(latest_version).uses_global_state() {
                self.check_block_against_global_state(block, node)
            } else {
                self.check_block_against_local_state(block, sortition_view, node)
            };
        match result {
            Ok(()) => None,
            Err(reason) => {
                warn!(self.logger, "{self}: Block proposal invalid";
                    "signer_signature_hash" => %block.header.signer_signature_hash(),
                    "block_id" => %block.block_id(),
                    "reject_reason" => %reason);
                Some(reason)
            }
        }
    }

    fn check_block_against_local_state(
        &mut self,
        block: &NakamotoBlock,
        sortition_view: &mut Option<SortitionsView>,
        node: &dyn NodeRpc,
    ) -> Result<(), RejectReason> {
        let sighash = block.header.signer_signature_hash();
        if sortition_view.is_none() {
            *sortition_view = self.fetch_sortition_view(node, &sighash);
        }
        let Some(view) = sortition_view else {
            crate::warn_unless_node_failing!(self.stacks_client.node_is_failing(), self.logger,
                "{self}: Cannot validate block, no sortition view";
                "signer_signature_hash" => %sighash);
            return Err(RejectReason::NoSortitionView);
        };
        let replay_set = self
            .global_state_evaluator
            .get_global_tx_replay_set()
            .unwrap_or_default();
        let db = self.db.clone();
        let mut db = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        view.check_proposal(node, &mut db, block, true, &replay_set, &self.logger)
    }

    fn check_block_against_global_state(
        &mut self,
        block: &NakamotoBlock,
        node: &dyn NodeRpc,
    ) -> Result<(), RejectReason> {
        let Some(global_state) = self.global_state_evaluator.determine_global_state() else {
            warn!(self.logger, "{self}: Cannot validate block, no global signer state";
                "signer_signature_hash" => %block.header.signer_signature_hash());
            return Err(RejectReason::NoSignerConsensus);
        };
        let view = GlobalStateView {
            signer_state: global_state,
            config: self.proposal_config.clone(),
        };
        info!(self.logger, "{self}: Evaluating proposal against global state";
            "signer_signature_hash" => %block.header.signer_signature_hash());
        let db = self.db.clone();
        let mut db = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        view.check_proposal(node, &mut db, block, &self.logger)
    }

    /// Whether the node has (probably) processed `block`'s parent: it announced it recently,
    /// or its tip is at least as high. The node is asked only when neither the recent blocks
    /// nor the highest height it announced tells.
    fn maybe_processed_parent(
        &self,
        block: &NakamotoBlock,
        node: &dyn NodeRpc,
        node_cache: &RefCell<NodeCache>,
    ) -> bool {
        if self
            .recently_processed
            .is_processed(&block.header.parent_block_id)
        {
            return true;
        }
        let parent_height = block.header.chain_length.saturating_sub(1);
        if node_cache.borrow().stacks_tip_height() >= parent_height {
            return true;
        }
        match node.get_peer_info() {
            Ok(info) => info.stacks_tip_height >= parent_height,
            Err(e) => {
                warn!(self.logger, "Failed to fetch stacks-node peer info, assuming block not processed yet"; "error" => %e);
                false
            }
        }
    }

    /// Submits `block` to the node for validation (queued when its parent is probably not
    /// processed yet and it was first queued less than `proposal_wait_for_parent_time` ago,
    /// or when the node is busy).
    pub(super) fn submit_block_for_validation(
        &mut self,
        block: &NakamotoBlock,
        added_secs: u64,
        node_cache: &RefCell<NodeCache>,
    ) {
        let sighash = block.header.signer_signature_hash();
        let client = self.stacks_client.clone();
        let node = CachedNode::new(&client, node_cache);
        if !self.maybe_processed_parent(block, &node, node_cache) {
            let waited = now_secs().saturating_sub(added_secs);
            if Duration::from_secs(waited) < self.proposal_config.proposal_wait_for_parent_time {
                info!(self.logger, "{self}: Have not processed parent of block proposal yet, inserting pending block validation and will try again later";
                    "signer_signature_hash" => %sighash,
                    "parent_block_id" => %block.header.parent_block_id);
                if let Err(e) = self
                    .db()
                    .insert_pending_block_validation(&sighash, added_secs)
                {
                    warn!(
                        self.logger,
                        "{self}: Failed to insert pending block validation: {e}"
                    );
                }
                return;
            }
            debug!(self.logger, "{self}: Cannot confirm that we have processed parent, but we've waited proposal_wait_for_parent_time, will submit proposal");
        }
        let replay_txs = if self.validate_with_replay_tx {
            let set = self
                .global_state_evaluator
                .get_global_tx_replay_set()
                .unwrap_or_default();
            if set.is_some() {
                self.replay_sets_sent
                    .insert(sighash, replay_set_digest(&set));
            }
            set.clone_as_optional()
        } else {
            None
        };
        match self
            .stacks_client
            .submit_block_for_validation(block.clone(), replay_txs)
        {
            Ok(()) => {
                self.submitted_block_proposal = Some((sighash, Instant::now()));
            }
            Err(ClientError::RequestFailure(TOO_MANY_REQUESTS_STATUS)) => {
                info!(self.logger, "{self}: Received 429 from stacks node for block validation request. Inserting pending block validation...";
                    "signer_signature_hash" => %sighash);
                if let Err(e) = self
                    .db()
                    .insert_pending_block_validation(&sighash, added_secs)
                {
                    warn!(
                        self.logger,
                        "{self}: Failed to insert pending block validation: {e}"
                    );
                }
            }
            Err(ClientError::RequestFailure(status)) => {
                crate::warn_unless_node_failing!(
                    self.stacks_client.node_is_failing(),
                    self.logger,
                    "{self}: Received non-429 status from stacks node: {status}"
                );
            }
            Err(e) => {
                crate::warn_unless_node_failing!(
                    self.stacks_client.node_is_failing(),
                    self.logger,
                    "{self}: Failed to submit block for validation: {e}"
                );
            }
        }
    }

    /// Submits the oldest queued proposal, unless one is already with the node.
    pub(super) fn check_pending_block_validations(&mut self, node_cache: &RefCell<NodeCache>) {
        if self.submitted_block_proposal.is_some() {
            return;
        }
        // Only this cycle's blocks (docs/compatibility.md: the reference takes any, and a
        // next cycle's signer can then wait out its validation timeout).
        let pending = self
            .db()
            .get_and_remove_pending_block_validation_of_cycle(self.reward_cycle);
        let (sighash, added_secs) = match pending {
            Ok(Some(pending)) => (pending.signer_signature_hash, pending.added_time),
            Ok(None) => return,
            Err(e) => {
                warn!(
                    self.logger,
                    "{self}: Failed to get pending block validation: {e}"
                );
                return;
            }
        };
        info!(
            self.logger,
            "{self}: Found a pending block validation: {sighash}"
        );
        let lookup = self.db().block_lookup(&sighash);
        match lookup {
            Ok(Some(info)) => self.submit_block_for_validation(&info.block, added_secs, node_cache),
            Ok(None) => {
                error!(
                    self.logger,
                    "{self}: Pending block validation not found in DB: {sighash}"
                );
            }
            Err(e) => error!(self.logger, "{self}: Failed to get block info: {e}"),
        }
    }

    /// Rejects the proposal with the node when it did not answer within
    /// `block_proposal_validation_timeout`.
    pub(super) fn check_submitted_block_proposal(&mut self) {
        let Some((sighash, submitted)) = self.submitted_block_proposal.take() else {
            return;
        };
        if submitted.elapsed() < self.block_proposal_validation_timeout {
            self.submitted_block_proposal = Some((sighash, submitted));
            return;
        }
        let lookup = self.db().block_lookup(&sighash);
        let mut info = match lookup {
            Ok(Some(info)) if info.has_reached_consensus() => return,
            Ok(Some(info)) => info,
            Ok(None) => {
                error!(self.logger, "{self}: tracking an unknown block validation submission.";
                    "signer_signature_hash" => %sighash);
                return;
            }
            Err(e) => {
                error!(
                    self.logger,
                    "{self}: Failed to lookup block in signer db: {e}"
                );
                return;
            }
        };
        warn!(self.logger, "{self}: Failed to receive block validation response within {} ms. Rejecting block.", self.block_proposal_validation_timeout.as_millis();
            "signer_signature_hash" => %sighash);
        let rejection = self.create_block_rejection(
            RejectReason::ConnectivityIssues(
                "failed to receive block validation response in time".to_string(),
            ),
            &info.block,
        );
        info.reject_reason = Some(rejection.response_data.reject_reason.clone());
        if let Err(e) = info.mark_locally_rejected() {
            if !info.has_reached_consensus() {
                warn!(
                    self.logger,
                    "{self}: Failed to mark block as locally rejected: {e}"
                );
            }
        }
        let block = info.block.clone();
        self.send_rejection(&block, rejection, Some(&info));
    }

    /// The node's verdict on a proposal this signer submitted.
    pub(super) fn handle_block_validate_response(
        &mut self,
        response: &BlockValidateResponse,
        sortition_view: &mut Option<SortitionsView>,
        node_cache: &RefCell<NodeCache>,
    ) {
        info!(
            self.logger,
            "{self}: Received a block validate response: {response:?}"
        );
        let sighash = match response {
            BlockValidateResponse::Ok(ok) => {
                self.handle_block_validate_ok(ok, sortition_view, node_cache);
                ok.signer_signature_hash
            }
            BlockValidateResponse::Reject(reject) => {
                self.handle_block_validate_reject(reject, sortition_view);
                reject.signer_signature_hash
            }
        };
        if let Err(e) = self.db().remove_pending_block_validation(&sighash) {
            warn!(
                self.logger,
                "{self}: Failed to remove pending block validation: {e}"
            );
        }
        self.check_pending_block_validations(node_cache);
    }

    fn clear_submission_of(&mut self, sighash: &Sha512Trunc256Sum) {
        if self
            .submitted_block_proposal
            .as_ref()
            .is_some_and(|(hash, _)| hash == sighash)
        {
            self.submitted_block_proposal = None;
        }
    }

    fn handle_block_validate_ok(
        &mut self,
        ok: &BlockValidateOk,
        sortition_view: &mut Option<SortitionsView>,
        node_cache: &RefCell<NodeCache>,
    ) {
        crate::monitoring::actions::increment_block_validation_responses(true);
        crate::monitoring::actions::record_block_validation_latency(ok.validation_time_ms);
        let sighash = ok.signer_signature_hash;
        self.clear_submission_of(&sighash);
        if let Some(replay_hash) = ok.replay_tx_hash {
            info!(self.logger, "Inserting block validated by replay tx";
                "signer_signature_hash" => %sighash,
                "replay_tx_hash" => replay_hash);
            if let Some(digest) = self.replay_sets_sent.remove(&sighash) {
                self.replay_set_hashes.insert(digest, replay_hash);
            }
            if let Err(e) = self.db().insert_block_validated_by_replay_tx(
                &sighash,
                replay_hash,
                ok.replay_tx_exhausted,
            ) {
                warn!(
                    self.logger,
                    "{self}: Failed to insert block validated by replay tx: {e}"
                );
            }
        }
        let Some(mut info) = self.block_lookup_by_reward_cycle(&sighash) else {
            debug!(self.logger, "{self}: Received a block validate response for a block we have not seen before. Ignoring...");
            return;
        };
        if info.is_locally_finalized() {
            debug!(self.logger, "{self}: Received block validation for a block that is already marked as {}. Ignoring...", info.state);
            return;
        }
        let client = self.stacks_client.clone();
        let node = CachedNode::new(&client, node_cache);
        if let Some(reason) = self.check_block_against_signer_db_state(&info.block, &node) {
            let rejection = self.create_block_rejection(reason, &info.block);
            self.reject_after_validation(&mut info, rejection, sortition_view);
            return;
        }
        let mut decided_after_own_rejection = false;
        if let Err(e) = info.mark_pre_committed() {
            if !info.has_reached_consensus() {
                warn!(
                    self.logger,
                    "{self}: Failed to mark block as locally accepted: {e}"
                );
                return;
            }
            info.signed_self.get_or_insert_with(now_secs);
            // The reference pre-commits a globally decided block (quirk 19), even one this
            // signer rejected while this validation was outstanding (`RejectedInPriorRound`
            // to a re-proposal after the global rejection). That pre-commit would contradict
            // the published rejection without a fresh validation. (A fresh one, after a
            // re-evaluation, is refused here too: for a decided block it counts for nothing.)
            decided_after_own_rejection = self.has_own_rejection(&sighash);
        }
        let cost = &ok.cost;
        let costless = cost.write_length == 0
            && cost.write_count == 0
            && cost.read_length == 0
            && cost.read_count == 0
            && cost.runtime == 0;
        // Blocks that cost nothing (STX transfers, boot calls) do not count toward tenure time.
        info.validation_time_ms = Some(if costless { 0 } else { ok.validation_time_ms });
        if decided_after_own_rejection {
            warn!(self.logger, "{self}: Not publishing a vote that would contradict one this signer already published";
                "signer_signature_hash" => %sighash,
                "vote" => "PreCommit",
                "refusal" => "AlreadyRejected (the block reached consensus; no fresh validation)");
            // The row as the reference stores it; only the pre-commit is not sent (its own
            // count would change nothing: the block reached consensus).
            if let Err(e) = self.db().insert_block(&info) {
                self.handle_insert_block_error(&e);
            }
            return;
        }
        match self.pre_commit(&info, node_cache) {
            VoteOutcome::Recorded => {}
            // A standby of an active/standby pair votes on nothing; a pre-commit the database
            // could not record is not a reason to reject the block (the block stays as it
            // was, for a later validation answer or re-proposal).
            VoteOutcome::Standby | VoteOutcome::Failed => return,
            VoteOutcome::Refused => {
                // The own-vote record refused a pre-commit the reference would send (a
                // sibling holds the height): answer as the reference answers a conflicting
                // block.
                let Some(mut current) = self.block_lookup_by_reward_cycle(&sighash) else {
                    return;
                };
                let rejection = self
                    .create_block_rejection(RejectReason::SortitionViewMismatch, &current.block);
                self.reject_after_validation(&mut current, rejection, sortition_view);
                return;
            }
        }
        let address = self.stacks_address;
        self.handle_block_pre_commit(&address, &sighash, node_cache);
    }

    /// Whether this signer's last published vote on `sighash` is a rejection (a database error
    /// counts as one: nothing is published on a doubt).
    fn has_own_rejection(&self, sighash: &Sha512Trunc256Sum) -> bool {
        match self.db().get_own_vote(sighash) {
            Ok(record) => record.is_some_and(|r| r.is_rejection()),
            Err(e) => {
                error!(self.logger, "{self}: Cannot read this signer's vote: {e}";
                    "signer_signature_hash" => %sighash);
                true
            }
        }
    }

    /// After a validation this signer rejects the block: the row becomes locally rejected
    /// (without a stored reason: a re-proposal gets `RejectedInPriorRound`), the rejection
    /// counts toward the global verdict and is published.
    fn reject_after_validation(
        &mut self,
        info: &mut BlockInfo,
        rejection: libsigner::v0::messages::BlockRejection,
        sortition_view: &mut Option<SortitionsView>,
    ) {
        if let Err(e) = info.mark_locally_rejected() {
            if !info.has_reached_consensus() {
                warn!(
                    self.logger,
                    "{self}: Failed to mark block as locally rejected: {e}"
                );
            }
        }
        let block = info.block.clone();
        if self.record_own_vote(
            &OwnVote::Reject(rejection.response_data.reject_reason.clone()),
            &block,
            Some(info),
        ) {
            self.handle_block_rejection(&rejection, sortition_view);
            self.publish_block_response(rejection.into());
        }
    }

    /// Re-checks a validated block against what this signer accepted meanwhile (it may have
    /// accepted a sibling while the node was validating).
    fn check_block_against_signer_db_state(
        &mut self,
        block: &NakamotoBlock,
        node: &dyn NodeRpc,
    ) -> Option<RejectReason> {
        let sighash = block.header.signer_signature_hash();
        let db = self.db.clone();
        let mut db = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(tenure_change) = block.get_tenure_change_tx_payload() {
            return match SortitionData::check_tenure_change_confirms_parent(
                tenure_change,
                block,
                &mut db,
                node,
                &self.proposal_config,
                &self.logger,
            ) {
                Ok(true) => None,
                Ok(false) => Some(RejectReason::SortitionViewMismatch),
                Err(e) => {
                    warn!(self.logger, "{self}: Error checking block proposal: {e}";
                        "signer_signature_hash" => %sighash);
                    Some(RejectReason::ConnectivityIssues(
                        "error checking block proposal".to_string(),
                    ))
                }
            };
        }
        match SortitionData::confirms_latest_block_in_same_tenure(
            block,
            &mut db,
            node,
            &self.proposal_config,
            &self.logger,
        ) {
            Ok(true) => None,
            Ok(false) => {
                warn!(self.logger, "Miner's block proposal does not confirm as many blocks as we expect";
                    "proposed_block_consensus_hash" => %block.header.consensus_hash,
                    "proposed_block_signer_signature_hash" => %sighash,
                    "proposed_chain_length" => block.header.chain_length);
                Some(RejectReason::SortitionViewMismatch)
            }
            Err(e) => {
                warn!(self.logger, "{self}: Failed to check block against signer db: {e}";
                    "signer_signature_hash" => %sighash);
                Some(RejectReason::ConnectivityIssues(
                    "failed to check block against signer db".to_string(),
                ))
            }
        }
    }

    fn handle_block_validate_reject(
        &mut self,
        reject: &BlockValidateReject,
        sortition_view: &mut Option<SortitionsView>,
    ) {
        crate::monitoring::actions::increment_block_validation_responses(false);
        let sighash = reject.signer_signature_hash;
        self.clear_submission_of(&sighash);
        let Some(mut info) = self.block_lookup_by_reward_cycle(&sighash) else {
            debug!(self.logger, "{self}: Received a block validate response for a block we have not seen before. Ignoring...");
            return;
        };
        if info.is_locally_finalized() {
            debug!(self.logger, "{self}: Received block validation for a block that is already marked as {}. Ignoring...", info.state);
            return;
        }
        if let Err(e) = info.mark_locally_rejected() {
            if !info.has_reached_consensus() {
                warn!(
                    self.logger,
                    "{self}: Failed to mark block as locally rejected: {e}"
                );
                return;
            }
        }
        let rejection = self.create_validation_rejection(reject, &info.block);
        info.reject_reason = Some(rejection.response_data.reject_reason.clone());
        let block = info.block.clone();
        if self.record_own_vote(
            &OwnVote::Reject(rejection.response_data.reject_reason.clone()),
            &block,
            Some(&info),
        ) {
            self.handle_block_rejection(&rejection, sortition_view);
            self.publish_block_response(rejection.into());
        }
    }

    /// The reference panics when a block row cannot be written; here the failure is logged
    /// and the signer goes on (the block is judged again if it is proposed again).
    pub(super) fn handle_insert_block_error(&self, e: &crate::signerdb::SignerDbError) {
        error!(
            self.logger,
            "{self}: Failed to insert block into signer-db: {e}"
        );
    }
}
