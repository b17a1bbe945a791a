//! What tests make the node write or do on demand, beyond its own simulation: messages of
//! signers whose keys it holds (puppets, or simulated signers) in their slots, raw
//! `/stackerdb_chunks` events (chunks signed by any key, several in one event), messages in
//! the miners' slots (any `SignerMessage`, a `MockProposal`, a re-proposal of a known block),
//! and a proposed block processed (appended and announced with `/new_block`) even without
//! enough signatures.

use libsigner::chain::{Hash160, Sha512Trunc256Sum, StacksBlockId, StacksPrivateKey};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{
    MockProposal, PeerInfo, RejectReason, SignerMessage, StateMachineUpdate, ValidateRejectCode,
};

use super::activity::{Activity, ChunkSource};
use super::dispatcher::EventPath;
use super::payloads;
use super::signers::{
    announced_timestamps, BLOCK_PRE_COMMIT_MSG_ID, BLOCK_RESPONSE_MSG_ID,
    READ_COUNT_IDLE_TIMEOUT_SECS, STATE_MACHINE_UPDATE_MSG_ID, TENURE_IDLE_TIMEOUT_BUFFER_SECS,
    TENURE_IDLE_TIMEOUT_SECS,
};
use super::stackerdb::{sign_chunk, MINERS_DB, MINER_SLOT_COUNT};
use super::state::NodeState;
use super::views;
use super::wire::messages::{self as wire_messages, block_accepted, block_pre_commit};
use super::wire::NakamotoBlock;
use crate::client::api::{BlockValidateResponse, StackerDBChunkAckData, StackerDBChunkData};

/// The signer-slot message id (`signers-{p}-{id}`) a signer writes `message` to: 1 for block
/// responses and mock signatures, 2 for state-machine updates, 3 for pre-commits; `None` for
/// miner messages.
pub fn signer_message_id(message: &SignerMessage) -> Option<u32> {
    message.msg_id().map(|id| id.to_u32())
}

impl NodeState {
    /// The key of signer `signer` (its signer id, which is its slot id) of `cycle`'s reward
    /// set, if the node holds it (a simulated or puppet signer).
    pub fn held_signer_key(&self, cycle: u64, signer: u32) -> Result<StacksPrivateKey, String> {
        self.reward_sets
            .get(cycle)
            .and_then(|set| set.signers.get(signer as usize))
            .ok_or_else(|| format!("no signer {signer} in cycle {cycle}'s reward set"))?
            .private_key
            .clone()
            .ok_or_else(|| {
                format!("signer {signer} is not simulated or a puppet (the node has no key)")
            })
    }

    /// The reward cycle a vote about `hash` belongs to: the proposal's, if the node knows
    /// it, else the current one.
    pub fn vote_cycle(&self, hash: &Sha512Trunc256Sum) -> u64 {
        self.pending
            .get(hash)
            .map(|p| p.reward_cycle)
            .unwrap_or_else(|| self.current_cycle())
    }

    /// Writes `data` as signer `signer` of `cycle` into `signers-{cycle % 2}-{msg_id}`, its
    /// slot, at the slot's next version, with the node's write rules: on success observers
    /// get `/stackerdb_chunks` and the miner collects an acceptance's signature. A refused
    /// write is returned as its ack (`accepted: false`).
    pub fn write_as_signer(
        &mut self,
        cycle: u64,
        signer: u32,
        msg_id: u32,
        data: Vec<u8>,
    ) -> Result<StackerDBChunkAckData, String> {
        let key = self.held_signer_key(cycle, signer)?;
        let contract = NodeState::signers_contract(cycle, msg_id);
        self.write_internal(&contract, signer, &key, data)
            .map_err(|_| format!("no StackerDB {contract}"))
    }

    /// Writes `message` as signer `signer` of `cycle` into the contract of its kind (see
    /// [`signer_message_id`]); miner messages are an error.
    pub fn write_signer_message(
        &mut self,
        cycle: u64,
        signer: u32,
        message: &SignerMessage,
    ) -> Result<StackerDBChunkAckData, String> {
        let msg_id = signer_message_id(message).ok_or_else(|| {
            format!(
                "{} is a miner message, not a signer message",
                wire_messages::kind(message)
            )
        })?;
        self.write_as_signer(cycle, signer, msg_id, message.serialize_to_vec())
    }

    /// Signer `signer` writes `BlockPreCommit(hash)` (`signers-{p}-3`), in the proposal's
    /// reward cycle ([`NodeState::vote_cycle`]).
    pub fn puppet_pre_commit(
        &mut self,
        signer: u32,
        hash: &Sha512Trunc256Sum,
    ) -> Result<StackerDBChunkAckData, String> {
        let cycle = self.vote_cycle(hash);
        self.write_as_signer(
            cycle,
            signer,
            BLOCK_PRE_COMMIT_MSG_ID,
            block_pre_commit(hash),
        )
    }

    /// Signer `signer` writes `BlockResponse::Accepted` for `hash` (`signers-{p}-1`): its
    /// signature over the signer signature hash, the node's version as metadata, and the
    /// tenure-extend timestamps a reference signer would announce when accepting the block
    /// (as the simulated signers compute them; `now + 122` / `now + 22` for an unknown block).
    pub fn puppet_accept(
        &mut self,
        signer: u32,
        hash: &Sha512Trunc256Sum,
    ) -> Result<StackerDBChunkAckData, String> {
        let cycle = self.vote_cycle(hash);
        let key = self.held_signer_key(cycle, signer)?;
        let signature = key
            .sign(&hash.0)
            .map_err(|e| format!("signing failed: {e}"))?;
        let (full, read) = self.vote_timestamps(hash, true);
        let version = self.config.server_version.clone();
        let data = block_accepted(hash, &signature, &version, full, read);
        self.write_as_signer(cycle, signer, BLOCK_RESPONSE_MSG_ID, data)
    }

    /// Signer `signer` writes `BlockResponse::Rejected` for `hash` with `reason`, built by
    /// libsigner's `BlockRejection::new` (SIP-018 signature by the signer's key, the reason's
    /// display text, the wire code derived from the reason), with the node's version and the
    /// timestamps a rejecting reference signer announces.
    pub fn puppet_reject(
        &mut self,
        signer: u32,
        hash: &Sha512Trunc256Sum,
        reason: RejectReason,
    ) -> Result<StackerDBChunkAckData, String> {
        let cycle = self.vote_cycle(hash);
        let key = self.held_signer_key(cycle, signer)?;
        let timestamps = self.vote_timestamps(hash, false);
        let version = self.config.server_version.clone();
        let data = wire_messages::signer_rejection(
            &key,
            hash,
            reason,
            self.config.mainnet,
            &version,
            timestamps,
        );
        self.write_as_signer(cycle, signer, BLOCK_RESPONSE_MSG_ID, data)
    }

    /// Signer `signer` writes the rejection a reference signer sends when the node's
    /// validation fails: `ValidationFailed(code)` as code and reason, `reason` as the text.
    pub fn puppet_reject_validation(
        &mut self,
        signer: u32,
        hash: &Sha512Trunc256Sum,
        code: ValidateRejectCode,
        reason: &str,
    ) -> Result<StackerDBChunkAckData, String> {
        let cycle = self.vote_cycle(hash);
        let key = self.held_signer_key(cycle, signer)?;
        let timestamps = self.vote_timestamps(hash, false);
        let version = self.config.server_version.clone();
        let data = wire_messages::block_rejection(
            &key,
            hash,
            reason,
            code,
            self.config.mainnet,
            &version,
            timestamps,
        );
        self.write_as_signer(cycle, signer, BLOCK_RESPONSE_MSG_ID, data)
    }

    /// Signer `signer` of the current cycle writes `update` (`signers-{p}-2`).
    pub fn puppet_state_update(
        &mut self,
        signer: u32,
        update: &StateMachineUpdate,
    ) -> Result<StackerDBChunkAckData, String> {
        let cycle = self.current_cycle();
        let data = SignerMessage::StateMachineUpdate(update.clone()).serialize_to_vec();
        self.write_as_signer(cycle, signer, STATE_MACHINE_UPDATE_MSG_ID, data)
    }

    fn vote_timestamps(&self, hash: &Sha512Trunc256Sum, accepting: bool) -> (u64, u64) {
        match self.pending.get(hash) {
            Some(pending) => announced_timestamps(self, &pending.block, accepting),
            None => {
                let now = self.now_secs();
                (
                    now + TENURE_IDLE_TIMEOUT_SECS + TENURE_IDLE_TIMEOUT_BUFFER_SECS,
                    now + READ_COUNT_IDLE_TIMEOUT_SECS + TENURE_IDLE_TIMEOUT_BUFFER_SECS,
                )
            }
        }
    }

    /// A chunk of `data` for slot `slot_id` of `contract`, signed by `key` (any key, in the
    /// set or not), at the version after the slot's stored one (1 for an unknown slot).
    pub fn signed_chunk(
        &self,
        contract: &str,
        slot_id: u32,
        key: &StacksPrivateKey,
        data: Vec<u8>,
    ) -> StackerDBChunkData {
        let version = self
            .stackerdbs
            .get(contract)
            .and_then(|db| db.slots.get(slot_id as usize))
            .map(|s| s.version + 1)
            .unwrap_or(1);
        sign_chunk(key, slot_id, version, data)
    }

    /// Sends one `/stackerdb_chunks` event for boot contract `contract` carrying `chunks` in
    /// order, exactly as given: not checked against the write rules, not stored, and seen by
    /// neither the miner nor the simulated signers (a stimulus only a misbehaving or
    /// compromised node would send, or several chunks in one event as a node relaying a
    /// batch does). Each chunk is recorded as a `ChunkWrite` with source `injected` and
    /// `accepted: true` (delivered, not stored). Fails only for a name that is not a valid
    /// contract name or an empty list.
    pub fn inject_chunks(
        &mut self,
        contract: &str,
        chunks: &[StackerDBChunkData],
    ) -> Result<(), String> {
        if chunks.is_empty() {
            return Err("no chunks to inject".into());
        }
        let contract_id = self
            .boot_contract(contract)
            .ok_or_else(|| format!("`{contract}` is not a valid contract name"))?;
        for chunk in chunks {
            let writer = chunk
                .recover_pk()
                .ok()
                .map(|pk| Hash160::from_node_public_key(&pk));
            self.activity.emit(Activity::ChunkWrite {
                contract: contract.to_string(),
                slot_id: chunk.slot_id,
                slot_version: chunk.slot_version,
                writer,
                data: chunk.data.clone(),
                accepted: true,
                code: None,
                source: ChunkSource::Injected,
            });
        }
        let body = payloads::stackerdb_chunks(&contract_id, chunks);
        self.outbox.push((EventPath::StackerDbChunks, body));
        Ok(())
    }

    /// The `miners` slot index (0 or 1) of miner `miner` (index into the miner list), if it
    /// is one of the last two sortition winners.
    pub fn miner_slot_index_of(&self, miner: usize) -> Option<u32> {
        let pkh = self.miners.get(miner)?.pkh;
        self.miner_slot_owners()
            .iter()
            .position(|owner| owner == &pkh)
            .map(|i| i as u32)
    }

    /// The `miners` slot index of the miner whose key signed `block`, if it owns one.
    pub fn proposer_slot_index(&self, block: &NakamotoBlock) -> Option<u32> {
        let pk = block.header.recover_miner_pk()?;
        let pkh = Hash160::from_node_public_key(&pk);
        self.miner_slot_owners()
            .iter()
            .position(|owner| owner == &pkh)
            .map(|i| i as u32)
    }

    /// Writes `message` as a miner into its `miners` slot range, at the slot's next version:
    /// a `BlockPushed` into the pushed-block slot, anything else into the proposal slot.
    /// `miner` is an index into the miner list (it must be one of the last two winners);
    /// `None` takes the miner whose key signed a `BlockProposal`'s or `BlockPushed`'s block
    /// if it owns slots, else the current winner. A `BlockProposal` is recorded as
    /// `BlockProposed` and handled as the miner's own (signatures collected, simulated
    /// signers answer).
    pub fn write_miner_message(
        &mut self,
        miner: Option<usize>,
        message: &SignerMessage,
    ) -> Result<StackerDBChunkAckData, String> {
        let block = match message {
            SignerMessage::BlockProposal(p) => Some(&p.block),
            SignerMessage::BlockPushed(b) => Some(b),
            _ => None,
        };
        let index = match miner {
            Some(m) => self
                .miner_slot_index_of(m)
                .ok_or_else(|| format!("miner {m} owns no `miners` slot now"))?,
            None => block
                .and_then(|b| self.proposer_slot_index(b))
                .or_else(|| self.current_miner_slot_index())
                .ok_or("no current miner slot")?,
        };
        let key = self
            .miner_key_for_slot(index)
            .ok_or("the slot's miner is not a simulated miner")?;
        let offset = u32::from(matches!(message, SignerMessage::BlockPushed(_)));
        if let SignerMessage::BlockProposal(p) = message {
            self.activity.emit(Activity::BlockProposed {
                signer_signature_hash: p.block.header.signer_signature_hash(),
                height: p.block.header.chain_length,
                reward_cycle: p.reward_cycle,
            });
        }
        self.write_internal(
            MINERS_DB,
            index * MINER_SLOT_COUNT + offset,
            &key,
            message.serialize_to_vec(),
        )
        .map_err(|_| "miners StackerDB missing".to_string())
    }

    /// The `MockProposal` a miner (index into the miner list; `None`: the current winner)
    /// would send now: the node's `/v2/info` answer (with its overrides) as libsigner's
    /// `PeerInfo`, signed with the miner's key (`MockProposal::new`).
    pub fn mock_proposal(&self, miner: Option<usize>) -> Result<MockProposal, String> {
        let index = match miner {
            Some(m) => self
                .miner_slot_index_of(m)
                .ok_or_else(|| format!("miner {m} owns no `miners` slot now"))?,
            None => self
                .current_miner_slot_index()
                .ok_or("no current miner slot")?,
        };
        let key = self
            .miner_key_for_slot(index)
            .ok_or("the slot's miner is not a simulated miner")?;
        let info = views::answered_peer_info(self);
        let peer_info = PeerInfo {
            burn_block_height: info.burn_block_height,
            stacks_tip_consensus_hash: info.stacks_tip_consensus_hash,
            stacks_tip: info.stacks_tip,
            stacks_tip_height: info.stacks_tip_height,
            pox_consensus: info.pox_consensus,
            server_version: info.server_version,
            network_id: info.network_id,
        };
        Ok(MockProposal::new(peer_info, &key))
    }

    /// Writes the `BlockProposal` of the known proposal `hash` again (same block, burn
    /// height and reward cycle) into its miner's slot at the next version, as a miner
    /// re-proposing a block does.
    pub fn repropose(&mut self, hash: &Sha512Trunc256Sum) -> Result<StackerDBChunkAckData, String> {
        let pending = self
            .pending
            .get(hash)
            .ok_or_else(|| format!("no proposal {hash}"))?;
        let data = SignerMessage::BlockProposal(libsigner::v0::messages::BlockProposal {
            block: pending.block.clone(),
            burn_height: pending.burn_height,
            reward_cycle: pending.reward_cycle,
            block_proposal_data: libsigner::v0::messages::BlockProposalData::new(
                self.config.server_version.clone(),
            ),
        });
        self.write_miner_message(None, &data)
    }

    /// Processes the proposed block `hash` now, with the signatures collected so far (in
    /// reward-set order; possibly none): it is appended to the chain (becoming its tenure's
    /// tip and possibly the canonical tip, as any processed block) and `/new_block` is sent,
    /// as when a block arrives from elsewhere. The miner will not process it again. Fails if
    /// the proposal is unknown, already processed, or its parent is not stored.
    pub fn process_proposed_block(
        &mut self,
        hash: &Sha512Trunc256Sum,
    ) -> Result<StacksBlockId, String> {
        let pending = self
            .pending
            .get(hash)
            .ok_or_else(|| format!("no proposal {hash}"))?;
        let mut block = pending.block.clone();
        block.header.signer_signature = pending.signatures.values().copied().collect();
        let cycle = pending.reward_cycle;
        if self.stacks.contains(&block.header.block_id()) {
            return Err(format!("block {hash} is already processed"));
        }
        let id = self.process_block(block, cycle)?;
        if let Some(pending) = self.pending.get_mut(hash) {
            pending.processed = true;
        }
        Ok(id)
    }

    /// Sends `response` as a `/proposal_response` event and records `ValidationResult`.
    pub fn send_validation_response(&mut self, response: BlockValidateResponse) {
        self.outbox.push((
            EventPath::ProposalResponse,
            payloads::proposal_response(&response),
        ));
        self.activity.emit(Activity::ValidationResult(response));
    }

    /// Processes `block` as given (built by the test, e.g. with [`NodeState::build_block`]
    /// and [`sign_as_miner`](super::state::sign_as_miner); proposed or not): appended, and
    /// `/new_block` sent. Its signatures are counted against the reward set of the
    /// proposal's cycle if the node saw it proposed, else of its tenure's burn block's
    /// cycle. Fails if it is already stored or its parent is unknown.
    pub fn process_given_block(&mut self, block: NakamotoBlock) -> Result<StacksBlockId, String> {
        if self.stacks.contains(&block.header.block_id()) {
            return Err(format!(
                "block {} is already processed",
                block.header.block_id()
            ));
        }
        let hash = block.header.signer_signature_hash();
        let cycle = match self.pending.get(&hash) {
            Some(p) => p.reward_cycle,
            None => self
                .burnchain
                .by_consensus_hash(&block.header.consensus_hash)
                .map(|b| self.config.pox.cycle_of(b.height))
                .unwrap_or_else(|| self.current_cycle()),
        };
        let id = self.process_block(block, cycle)?;
        if let Some(pending) = self.pending.get_mut(&hash) {
            pending.processed = true;
        }
        Ok(id)
    }

    /// Queues a `/status` probe to every observer.
    pub fn send_status_check(&mut self) {
        self.outbox
            .push((EventPath::StatusCheck, serde_json::json!({})));
    }

    /// Turns puppet autopilot on (puppets vote on proposals and publish state-machine
    /// updates as simulated signers do, e.g. while a test mines its setup blocks) or off.
    /// Turning it on makes every signer the node holds republish its view at the next step.
    pub fn set_puppet_autopilot(&mut self, on: bool) {
        if on && !self.puppet_autopilot {
            self.published_views.clear();
        }
        self.puppet_autopilot = on;
    }
}
