//! Votes: counting the signer set's pre-commits, signatures and rejections against the 70%
//! thresholds, and this signer's own responses — each recorded in the own-vote record before
//! it is published.

use std::cell::RefCell;
use std::collections::HashMap;

use libsigner::chain::{
    signing_weight_threshold, MessageSignature, NakamotoBlock, Sha512Trunc256Sum, StacksAddress,
    StacksPublicKey,
};
use libsigner::v0::messages::{
    BlockAccepted, BlockRejection, BlockResponse, RejectReason, RejectReasonPrefix, SignerMessage,
};
use libsigner::BlockValidateReject;
use slog::{debug, error, info, warn};

use super::signer::Signer;
use crate::chainstate::cache::NodeCache;
use crate::chainstate::v1::{SortitionMinerStatus, SortitionsView};
use crate::chainstate::NodeRpc;
use crate::clock::now_secs;
use crate::signerdb::{BlockInfo, BlockState, OwnVote, VoteContext, VoteRecord, VoteRefusal};

/// What became of votes this signer tried to record before publishing them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VoteOutcome {
    /// Recorded: they may be published.
    Recorded,
    /// This instance is the standby of an active/standby pair: it publishes nothing.
    Standby,
    /// The own-vote rules refused them: they would contradict a vote this signer published.
    Refused,
    /// The database could not record them (an error, not a decision): nothing is published
    /// and nothing is decided; a later event about the block may try again.
    Failed,
}

impl Signer {
    /// The sum of the weights of `addresses` (an address outside the set weighs 0).
    fn signing_weight<'a>(&self, addresses: impl Iterator<Item = &'a StacksAddress>) -> u32 {
        addresses.fold(0u32, |acc, address| {
            acc.saturating_add(self.signer_weights.get(address).copied().unwrap_or(0))
        })
    }

    /// The signer set's total weight.
    fn total_weight(&self) -> u32 {
        self.signer_weights
            .values()
            .fold(0u32, |acc, weight| acc.saturating_add(*weight))
    }

    /// The tenure-extend timestamps announced with a response about `block` (`accepting`:
    /// a tenure-start block restarts the timers now).
    fn extend_timestamps(&self, block: &NakamotoBlock, accepting: bool) -> (u64, u64) {
        let config = &self.proposal_config;
        let db = self.db();
        let full = db.calculate_full_extend_timestamp(
            config
                .tenure_idle_timeout
                .saturating_add(config.tenure_idle_timeout_buffer),
            block,
            accepting,
        );
        let read_count = db.calculate_read_count_extend_timestamp(
            config
                .read_count_idle_timeout
                .saturating_add(config.tenure_idle_timeout_buffer),
            block,
            accepting,
        );
        (full, read_count)
    }

    /// This signer's signature of `block`, with the extend timestamps.
    pub(super) fn create_block_acceptance(&self, block: &NakamotoBlock) -> BlockAccepted {
        let sighash = block.header.signer_signature_hash();
        let signature = self
            .private_key
            .sign(sighash.as_bytes())
            .unwrap_or_else(|_| MessageSignature::empty());
        let (full, read_count) = self.extend_timestamps(block, true);
        BlockAccepted::new(sighash, signature, full, read_count)
    }

    /// This signer's rejection of `block` for `reason`, with the extend timestamps.
    pub(super) fn create_block_rejection(
        &self,
        reason: RejectReason,
        block: &NakamotoBlock,
    ) -> BlockRejection {
        let (full, read_count) = self.extend_timestamps(block, false);
        BlockRejection::new(
            block.header.signer_signature_hash(),
            reason,
            &self.private_key,
            self.mainnet,
            full,
            read_count,
        )
    }

    /// This signer's rejection of `block` because the node refused it.
    pub(super) fn create_validation_rejection(
        &self,
        reject: &BlockValidateReject,
        block: &NakamotoBlock,
    ) -> BlockRejection {
        let (full, read_count) = self.extend_timestamps(block, false);
        BlockRejection::from_validate_rejection(
            reject.signer_signature_hash,
            reject.reason.clone(),
            reject.reason_code,
            &self.private_key,
            self.mainnet,
            full,
            read_count,
        )
    }

    /// What the own-vote record needs beyond the database: the sibling window, and the node's
    /// tip of the block's tenure when a sibling got this signer's vote (asked fresh, never
    /// from the cache).
    fn vote_context(&self, block: &NakamotoBlock) -> VoteContext {
        let header = &block.header;
        let sibling_voted = self
            .db()
            .has_favourable_sibling_vote(
                &header.consensus_hash,
                header.chain_length,
                &header.signer_signature_hash(),
            )
            .unwrap_or(true);
        let tenure_tip_height = if sibling_voted {
            NodeRpc::get_tenure_tip(&self.stacks_client, &header.consensus_hash)
                .ok()
                .map(|tip| tip.height)
        } else {
            None
        };
        VoteContext {
            policy: self.conflict_policy(),
            tenure_tip_height,
        }
    }

    /// Checks and durably records this signer's `vote` on `block` (storing `store`, the
    /// block's row, in the same transaction). Whether the vote may be published.
    pub(super) fn record_own_vote(
        &self,
        vote: &OwnVote,
        block: &NakamotoBlock,
        store: Option<&BlockInfo>,
    ) -> bool {
        self.record_own_votes(std::slice::from_ref(vote), block, store)
    }

    /// [`Self::record_own_vote`] for several votes on one block, in one durable transaction:
    /// all recorded, or none. Whether they may be published.
    fn record_own_votes(
        &self,
        votes: &[OwnVote],
        block: &NakamotoBlock,
        store: Option<&BlockInfo>,
    ) -> bool {
        self.try_record_own_votes(votes, block, store) == VoteOutcome::Recorded
    }

    /// [`Self::record_own_votes`], saying why votes that may not be published were not
    /// recorded.
    fn try_record_own_votes(
        &self,
        votes: &[OwnVote],
        block: &NakamotoBlock,
        store: Option<&BlockInfo>,
    ) -> VoteOutcome {
        let context = self.vote_context(block);
        let sighash = block.header.signer_signature_hash();
        let vote = match votes {
            [one] => format!("{one:?}"),
            several => format!("{several:?}"),
        };
        let outcome =
            self.db()
                .record_own_votes(votes, &block.header, self.reward_cycle, store, &context);
        match outcome {
            Ok(VoteRecord::Recorded) => VoteOutcome::Recorded,
            Ok(VoteRecord::Refused(refusal @ VoteRefusal::NotActive { .. })) => {
                info!(self.logger, "{self}: Not publishing a vote: this instance is a standby (another instance holds the signing lease)";
                    "signer_signature_hash" => %sighash,
                    "vote" => %vote,
                    "refusal" => ?refusal);
                VoteOutcome::Standby
            }
            Ok(VoteRecord::Refused(refusal)) => {
                warn!(self.logger, "{self}: Not publishing a vote that would contradict one this signer already published";
                    "signer_signature_hash" => %sighash,
                    "block_height" => block.header.chain_length,
                    "consensus_hash" => %block.header.consensus_hash,
                    "vote" => %vote,
                    "refusal" => ?refusal);
                VoteOutcome::Refused
            }
            Err(e) => {
                error!(self.logger, "{self}: Cannot record this signer's vote; not publishing it: {e}";
                    "signer_signature_hash" => %sighash,
                    "vote" => %vote);
                VoteOutcome::Failed
            }
        }
    }

    /// Publishes a block response this signer already recorded.
    pub(super) fn publish_block_response(&mut self, response: BlockResponse) {
        info!(
            self.logger,
            "{self}: Broadcasting block response to stacks node: {response:?}"
        );
        let sighash = *response.get_signer_signature_hash();
        let accepted = matches!(response, BlockResponse::Accepted(_));
        let message = SignerMessage::BlockResponse(response);
        let sent = self.stackerdb.send_message_with_retry(&message);
        if accepted && sent.is_ok() {
            self.note_published(&sighash);
        }
        if sent.is_ok() {
            crate::monitoring::actions::record_block_response_sent(&sighash, accepted, || {
                self.block_lookup_by_reward_cycle(&sighash)
                    .map(|info| info.block.header.timestamp)
            });
        }
        match sent {
            Ok(ack) if !ack.accepted => {
                warn!(
                    self.logger,
                    "{self}: Block response not accepted by stacker-db: {:?}", ack.reason
                );
            }
            Ok(_) => {}
            Err(e) => crate::warn_unless_node_failing!(
                self.stacks_client.node_is_failing(),
                self.logger,
                "{self}: Failed to send block response to stacker-db: {e}"
            ),
        }
    }

    /// A favourable vote on `hash` was published now: its sibling window counts from here
    /// (see [`crate::signerdb::SignerDb::note_favourable_vote_published`]).
    fn note_published(&self, hash: &Sha512Trunc256Sum) {
        if let Err(e) = self.db().note_favourable_vote_published(hash, now_secs()) {
            warn!(self.logger, "{self}: Failed to note when a vote was published: {e}";
                "signer_signature_hash" => %hash);
        }
    }

    /// Records, then publishes, this signer's signature of `block`.
    pub(super) fn send_acceptance(
        &mut self,
        block: &NakamotoBlock,
        acceptance: BlockAccepted,
        store: Option<&BlockInfo>,
    ) {
        if self.record_own_vote(&OwnVote::Accept, block, store) {
            self.publish_block_response(BlockResponse::Accepted(acceptance));
        }
    }

    /// Records, then publishes, this signer's rejection of `block`.
    pub(super) fn send_rejection(
        &mut self,
        block: &NakamotoBlock,
        rejection: BlockRejection,
        store: Option<&BlockInfo>,
    ) {
        let vote = OwnVote::Reject(rejection.response_data.reject_reason.clone());
        if self.record_own_vote(&vote, block, store) {
            self.publish_block_response(BlockResponse::Rejected(rejection));
        }
    }

    /// Records this signer's pre-commit to the validated block `info` (its row as the
    /// pre-commit leaves it), then publishes it. What became of it (published only if recorded).
    pub(super) fn pre_commit(
        &mut self,
        info: &BlockInfo,
        _node_cache: &RefCell<NodeCache>,
    ) -> VoteOutcome {
        // When this pre-commit completes the threshold, the signature follows at once: record
        // both in one durable write instead of two (recording a vote before it is due is
        // safe; publishing one that is not recorded is not).
        let pre_commit_alone =
            |this: &Self| this.try_record_own_votes(&[OwnVote::PreCommit], &info.block, Some(info));
        let outcome = if self.own_pre_commit_completes_threshold(info) {
            match self.try_record_own_votes(
                &[OwnVote::PreCommit, OwnVote::Accept],
                &info.block,
                Some(info),
            ) {
                VoteOutcome::Recorded => VoteOutcome::Recorded,
                _ => pre_commit_alone(self),
            }
        } else {
            pre_commit_alone(self)
        };
        if outcome != VoteOutcome::Recorded {
            return outcome;
        }
        let sighash = info.signer_signature_hash();
        info!(
            self.logger,
            "{self}: Broadcasting block pre-commit to stacks node for {sighash}"
        );
        let sent = self
            .stackerdb
            .send_message_with_retry(&SignerMessage::BlockPreCommit(sighash));
        if sent.is_ok() {
            self.note_published(&sighash);
        }
        if sent.is_ok() {
            crate::monitoring::actions::record_pre_commit_sent(&sighash);
        }
        match sent {
            Ok(ack) if !ack.accepted => {
                warn!(
                    self.logger,
                    "{self}: Block pre-commit not accepted by stacker-db: {:?}", ack.reason
                );
            }
            Ok(_) => {}
            Err(e) => crate::warn_unless_node_failing!(
                self.stacks_client.node_is_failing(),
                self.logger,
                "{self}: Failed to send block pre-commit to stacker-db: {e}"
            ),
        }
        VoteOutcome::Recorded
    }

    /// A peer's (or this signer's own, echoed) block response.
    pub(super) fn handle_block_response(
        &mut self,
        response: &BlockResponse,
        sortition_view: &mut Option<SortitionsView>,
        node_cache: &RefCell<NodeCache>,
    ) {
        match response {
            BlockResponse::Accepted(accepted) => self.handle_block_signature(accepted, node_cache),
            BlockResponse::Rejected(rejection) => {
                self.handle_block_rejection(rejection, sortition_view)
            }
        }
    }

    /// A pre-commit from `address`: once the pre-commits reach 70% of the weight, this signer
    /// signs the block (even before its own validation ends, as the reference; never a block
    /// it rejected).
    pub(super) fn handle_block_pre_commit(
        &mut self,
        address: &StacksAddress,
        hash: &Sha512Trunc256Sum,
        node_cache: &RefCell<NodeCache>,
    ) {
        debug!(
            self.logger,
            "{self}: Received pre-commit from signer ({address}) for block ({hash})"
        );
        let Some(mut info) = self.block_lookup_by_reward_cycle(hash) else {
            debug!(
                self.logger,
                "{self}: Received pre-commit for a block we have not seen before. Ignoring..."
            );
            return;
        };
        if info.has_reached_consensus() {
            debug!(
                self.logger,
                "{self}: Received pre-commit for a block that is already marked as {}. Ignoring...",
                info.state
            );
            return;
        }
        if matches!(
            info.state,
            BlockState::LocallyAccepted | BlockState::LocallyRejected
        ) {
            debug!(self.logger, "{self}: Received pre-commit for a block that we have already responded to. Ignoring...");
            return;
        }
        let committers = {
            let mut db = self.db();
            let known = db.has_committed(hash, address).unwrap_or_else(|e| {
                warn!(self.logger, "Failed to check if pre-commit message already considered for {address} for {hash}: {e}");
                false
            });
            if known {
                debug!(self.logger, "{self}: Already considered pre-commit message from {address} for {hash}. Ignoring...");
                return;
            }
            if let Err(e) = db.add_block_pre_commit(hash, address) {
                error!(self.logger, "{self}: Failed to save block pre-commit: {e}");
                return;
            }
            match db.get_block_pre_committers(hash) {
                Ok(committers) => committers,
                Err(e) => {
                    error!(self.logger, "{self}: Failed to load block pre-commits: {e}");
                    return;
                }
            }
        };
        let commit_weight = self.signing_weight(committers.iter());
        let total_weight = self.total_weight();
        let min_weight = signing_weight_threshold(total_weight);
        if min_weight > commit_weight {
            debug!(self.logger, "{self}: Not enough pre-committed to block {hash} (have {commit_weight}, need at least {min_weight}/{total_weight})");
            return;
        }
        if info.valid == Some(false) {
            debug!(self.logger, "{self}: Enough pre-committed to block {hash}, but we do not view the block as valid. Doing nothing.");
            return;
        }
        if let Err(e) = info.mark_locally_accepted(false) {
            if !info.has_reached_consensus() {
                warn!(
                    self.logger,
                    "{self}: Failed to mark block as locally accepted: {e}"
                );
            }
            info.signed_self.get_or_insert_with(now_secs);
        }
        let acceptance = self.create_block_acceptance(&info.block);
        if !self.record_signature(&info) {
            return;
        }
        self.handle_block_signature(&acceptance, node_cache);
        self.publish_block_response(BlockResponse::Accepted(acceptance));
    }

    /// Whether this signer's pre-commit to `info`'s block, added to the pre-commits stored,
    /// reaches the signing threshold (so that it signs right after pre-committing).
    fn own_pre_commit_completes_threshold(&self, info: &BlockInfo) -> bool {
        if info.valid == Some(false) || info.has_reached_consensus() {
            return false;
        }
        let Ok(mut committers) = self
            .db()
            .get_block_pre_committers(&info.signer_signature_hash())
        else {
            return false;
        };
        if !committers.contains(&self.stacks_address) {
            committers.push(self.stacks_address);
        }
        self.signing_weight(committers.iter()) >= signing_weight_threshold(self.total_weight())
    }

    /// Records this signer's signature of `info`'s block (with its row) before it is
    /// published; a signature already recorded with the pre-commit only needs the row.
    fn record_signature(&self, info: &BlockInfo) -> bool {
        let already = self
            .db()
            .get_own_vote(&info.signer_signature_hash())
            .ok()
            .flatten()
            .is_some_and(|record| record.signed_at.is_some());
        if !already {
            return self.record_own_vote(&OwnVote::Accept, &info.block, Some(info));
        }
        if let Err(e) = self.db().insert_block(info) {
            self.handle_insert_block_error(&e);
        }
        true
    }

    /// A signature of a block: counted (a peer's also as its pre-commit); once the
    /// signatures reach 70% of the weight the block goes to the node with them, in reward-set
    /// order.
    pub(super) fn handle_block_signature(
        &mut self,
        accepted: &BlockAccepted,
        node_cache: &RefCell<NodeCache>,
    ) {
        let hash = accepted.signer_signature_hash;
        debug!(
            self.logger,
            "{self}: Received a block-accept signature: ({hash}, {}, {})",
            accepted.signature,
            accepted.metadata.server_version
        );
        let Some(mut info) = self.block_lookup_by_reward_cycle(&hash) else {
            debug!(
                self.logger,
                "{self}: Received block signature for a block we have not seen before. Ignoring..."
            );
            return;
        };
        if info.has_reached_consensus() {
            debug!(self.logger, "{self}: Received block signature for a block that is already marked as {}. Ignoring...", info.state);
            return;
        }
        let Ok(public_key) =
            StacksPublicKey::recover_to_pubkey(hash.as_bytes(), &accepted.signature)
        else {
            debug!(self.logger, "{self}: Received unrecovarable signature. Will not store.";
                "signer_signature_hash" => %hash);
            return;
        };
        let address = StacksAddress::p2pkh(self.mainnet, &public_key);
        if !self.is_valid_signer(&address) {
            debug!(self.logger, "{self}: Received block acceptance with an invalid signature. Will not store.";
                "signer_address" => %address,
                "signer_signature_hash" => %hash);
            return;
        }
        let added = self
            .db()
            .add_block_signature(&hash, &address, &accepted.signature);
        match added {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                error!(self.logger, "{self}: Failed to save block signature: {e}");
                return;
            }
        }
        if address != self.stacks_address {
            // A peer of an older version signs without pre-committing: its signature counts
            // as its pre-commit.
            self.handle_block_pre_commit(&address, &hash, node_cache);
        }
        let signatures = match self.db().get_block_signatures(&hash) {
            Ok(signatures) => signatures,
            Err(e) => {
                error!(self.logger, "{self}: Failed to load block signatures: {e}");
                return;
            }
        };
        let addrs_to_sigs: HashMap<StacksAddress, MessageSignature> = signatures
            .into_iter()
            .filter_map(|signature| {
                let key = StacksPublicKey::recover_to_pubkey(hash.as_bytes(), &signature).ok()?;
                Some((StacksAddress::p2pkh(self.mainnet, &key), signature))
            })
            .collect();
        let signature_weight = self.signing_weight(addrs_to_sigs.keys());
        let total_weight = self.total_weight();
        let min_weight = signing_weight_threshold(total_weight);
        let percent = f64::from(signature_weight) / f64::from(total_weight.max(1)) * 100.0;
        if min_weight > signature_weight {
            info!(self.logger, "{self}: Received block acceptance";
                "signer_pubkey" => public_key.to_hex(),
                "signer_signature_hash" => %hash,
                "consensus_hash" => %info.block.header.consensus_hash,
                "block_height" => info.block.header.chain_length,
                "total_weight_approved" => signature_weight,
                "total_weight" => total_weight,
                "percent_approved" => percent);
            return;
        }
        info!(self.logger, "{self}: Received block acceptance and have reached the threshold";
            "signer_pubkey" => public_key.to_hex(),
            "signer_signature_hash" => %hash,
            "consensus_hash" => %info.block.header.consensus_hash,
            "block_height" => info.block.header.chain_length,
            "total_weight_approved" => signature_weight,
            "total_weight" => total_weight,
            "percent_approved" => percent);
        if let Err(e) = info.mark_locally_accepted(true) {
            warn!(
                self.logger,
                "{self}: Failed to mark block as locally accepted: {e}"
            );
        }
        // As the reference, the copy loaded above is written back, even if the nested
        // pre-commit path stored a newer one (the own-vote record keeps this signer's vote).
        if let Err(e) = self.db().insert_block(&info) {
            self.handle_insert_block_error(&e);
        }
        self.broadcast_signed_block(info.block, &addrs_to_sigs);
        if self
            .submitted_block_proposal
            .as_ref()
            .is_some_and(|(submitted, _)| *submitted == hash)
        {
            self.submitted_block_proposal = None;
        }
    }

    fn broadcast_signed_block(
        &mut self,
        mut block: NakamotoBlock,
        addrs_to_sigs: &HashMap<StacksAddress, MessageSignature>,
    ) {
        block.header.signer_signature = self
            .signer_addresses
            .iter()
            .filter_map(|address| addrs_to_sigs.get(address).copied())
            .collect();
        self.handle_post_block(&block);
    }

    /// Hands a signed block to the node (`/v3/blocks/upload`).
    pub(super) fn handle_post_block(&mut self, block: &NakamotoBlock) {
        let hash = block.header.signer_signature_hash();
        match self.stacks_client.post_block(block) {
            Ok(accepted) => {
                debug!(
                    self.logger,
                    "{self}: Block {hash} accepted by stacks node: {accepted}"
                );
                if let Err(e) = self.db().set_block_broadcasted(&hash, now_secs()) {
                    warn!(
                        self.logger,
                        "{self}: Failed to set block broadcasted for {hash}: {e}"
                    );
                }
            }
            Err(e) => crate::warn_unless_node_failing!(
                self.stacks_client.node_is_failing(),
                self.logger,
                "{self}: Failed to broadcast block {hash} to the node: {e}"
            ),
        }
    }

    /// A rejection of a block: counted; once the rejections exceed 30% of the weight the
    /// block is globally rejected, and once rejections for a refused reorg do, the current
    /// miner of that tenure is invalid in this signer's view.
    pub(super) fn handle_block_rejection(
        &mut self,
        rejection: &BlockRejection,
        sortition_view: &mut Option<SortitionsView>,
    ) {
        let hash = rejection.signer_signature_hash;
        debug!(
            self.logger,
            "{self}: Received a block-reject signature: {rejection:?}"
        );
        let Some(mut info) = self.block_lookup_by_reward_cycle(&hash) else {
            debug!(
                self.logger,
                "{self}: Received block rejection for a block we have not seen before. Ignoring..."
            );
            return;
        };
        if info.has_reached_consensus() {
            debug!(self.logger, "{self}: Received block rejection for a block that is already marked as {}. Ignoring...", info.state);
            return;
        }
        let Ok(public_key) = rejection.recover_public_key() else {
            debug!(self.logger, "{self}: Received block rejection with an unrecovarable signature. Will not store.";
                "signer_signature_hash" => %hash);
            return;
        };
        let address = StacksAddress::p2pkh(self.mainnet, &public_key);
        if !self.is_valid_signer(&address) {
            debug!(self.logger, "{self}: Received block rejection with an invalid signature. Will not store.";
                "signer_address" => %address,
                "signer_signature_hash" => %hash);
            return;
        }
        let added = self.db().add_block_rejection_signer_addr(
            &hash,
            &address,
            &rejection.response_data.reject_reason,
        );
        match added {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => warn!(
                self.logger,
                "{self}: Failed to save block rejection signature: {e}"
            ),
        }
        info.reject_reason = Some(rejection.response_data.reject_reason.clone());
        let rejecters = match self.db().get_block_rejection_signer_addrs(&hash) {
            Ok(rejecters) => rejecters,
            Err(e) => {
                warn!(
                    self.logger,
                    "{self}: Failed to load block rejection addresses: {e}."
                );
                return;
            }
        };
        let reject_weight = self.signing_weight(rejecters.iter().map(|(address, _)| address));
        let total_weight = self.total_weight();
        let min_weight = signing_weight_threshold(total_weight);
        let percent = f64::from(reject_weight) / f64::from(total_weight.max(1)) * 100.0;
        if reject_weight.saturating_add(min_weight) <= total_weight {
            info!(self.logger, "{self}: Received block rejection";
                "signer_pubkey" => public_key.to_hex(),
                "signer_signature_hash" => %hash,
                "consensus_hash" => %info.block.header.consensus_hash,
                "block_height" => info.block.header.chain_length,
                "reject_reason" => ?rejection.response_data.reject_reason,
                "total_weight_rejected" => reject_weight,
                "total_weight" => total_weight,
                "percent_rejected" => percent);
            return;
        }
        info!(self.logger, "{self}: Received block rejection and have reached the rejection threshold";
            "signer_pubkey" => public_key.to_hex(),
            "signer_signature_hash" => %hash,
            "consensus_hash" => %info.block.header.consensus_hash,
            "block_height" => info.block.header.chain_length,
            "reject_reason" => ?rejection.response_data.reject_reason,
            "total_weight_rejected" => reject_weight,
            "total_weight" => total_weight,
            "percent_rejected" => percent);
        {
            let mut db = self.db();
            if let Err(e) = db.mark_block_globally_rejected(&mut info) {
                warn!(
                    self.logger,
                    "{self}: Failed to mark block as globally rejected: {e}"
                );
            }
            if let Err(e) = db.insert_block(&info) {
                error!(self.logger, "{self}: Failed to update block state: {e}");
            }
        }
        if self
            .submitted_block_proposal
            .as_ref()
            .is_some_and(|(submitted, _)| *submitted == hash)
        {
            self.submitted_block_proposal = None;
        }
        let reorg_weight = self.signing_weight(
            rejecters
                .iter()
                .filter(|(_, prefix)| *prefix == RejectReasonPrefix::ReorgNotAllowed)
                .map(|(address, _)| address),
        );
        if reorg_weight.saturating_add(min_weight) > total_weight {
            if let Some(view) = sortition_view {
                if view.cur_sortition.data.consensus_hash == info.block.header.consensus_hash {
                    info!(
                        self.logger,
                        "{self}: Marking miner as invalid for attempted reorg"
                    );
                    view.cur_sortition.miner_status =
                        SortitionMinerStatus::InvalidatedBeforeFirstBlock;
                }
            }
        }
    }
}
