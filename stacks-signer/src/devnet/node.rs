//! The running mock node: state behind a lock, the HTTP server threads, the event
//! dispatcher, and the in-process API tests and tools drive it with.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use libsigner::chain::{
    ConsensusHash, Sha512Trunc256Sum, StacksBlockId, StacksPrivateKey, StacksPublicKey,
};
use libsigner::v0::messages::{
    MockProposal, RejectReason, SignerMessage, StateMachineUpdate, ValidateRejectCode,
};

use super::activity::ActivityEntry;
use super::burnchain::BurnBlock;
use super::config::{MockNodeConfig, ObserverSpec};
use super::dispatcher::{Dispatcher, ObserverStats};
use super::faults::{EventReplay, FrontDoor, RpcFault};
use super::http;
use super::miner::{BlockKind, Proposal, ProposeOptions};
use super::overrides::{CannedAnswer, InfoOverride, RpcAnswer};
use super::signers;
use super::stacks_chain::StoredBlock;
use super::state::{BurnBlockOptions, NodeState};
use super::validator::{self, ForcedRejection, HeldValidation, ValidationAnswer};
use super::wire::NakamotoBlock;
use crate::client::api::{
    BlockHeaderWithMetadata, BlockValidateResponse, SortitionInfo, StackerDBChunkAckData,
    StackerDBChunkData, StacksEpochId, TenureForkingInfo,
};

/// What the HTTP threads and the API share.
pub(crate) struct Shared {
    state: Mutex<NodeState>,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) shutdown: AtomicBool,
    pub(crate) down_endpoints: Mutex<HashSet<String>>,
    /// Faults by path prefix, checked in order (the first match applies).
    pub(crate) rpc_faults: Mutex<Vec<(String, RpcFault)>>,
    pub(crate) local_addr: SocketAddr,
    /// Where the node's notices go (stderr unless replaced).
    notices: Mutex<NoticeHandler>,
    /// Whether the miner has said it waits for the clock.
    clock_notice_given: AtomicBool,
}

/// Receives the node's one-line notices.
type NoticeHandler = Box<dyn Fn(&str) + Send>;

/// The notice the node gives, once, when its miner first waits for the clock.
pub const CLOCK_NOTICE: &str = "the miner has used up the timestamp lag (timestamp_lag_secs) and now waits for the clock before each block it would otherwise stamp in the future: at most one block per second from here on (the fixed clock, --fixed-clock, runs at full speed; see docs/mock-node.md)";

impl Shared {
    /// Runs `f` on the state under the lock, then lets the simulated signers react and hands
    /// the produced events to the dispatcher (still under the lock, so event order follows
    /// state order across threads).
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut NodeState) -> R) -> R {
        let mut state = self.lock();
        let result = f(&mut state);
        self.settle(&mut state);
        result
    }

    fn lock(&self) -> MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn settle(&self, state: &mut NodeState) {
        while !state.signer_jobs.is_empty() {
            let jobs: Vec<Sha512Trunc256Sum> = std::mem::take(&mut state.signer_jobs);
            for hash in jobs {
                signers::sign_proposal(state, &hash);
            }
        }
        signers::publish_state_updates(state);
        for (path, body) in state.outbox.drain(..) {
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            self.dispatcher.dispatch(path, bytes);
        }
    }
}

/// Starts mock nodes.
pub struct MockNode;

impl MockNode {
    /// Seeds the node's state, binds its RPC server (port 0 picks a free port) and starts
    /// its HTTP and event-delivery threads.
    pub fn start(config: MockNodeConfig) -> Result<RunningMockNode, String> {
        let handlers = config.http_threads.max(1);
        let observers = config.observers.clone();
        let listener = if config.refusable_rpc {
            http::bind("127.0.0.1:0")?
        } else {
            http::bind(&config.bind)?
        };
        let server_addr = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        let front_door = if config.refusable_rpc {
            Some(FrontDoor::open(&config.bind, server_addr)?)
        } else {
            None
        };
        let local_addr = front_door.as_ref().map_or(server_addr, FrontDoor::addr);
        let state = NodeState::new(config)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            dispatcher: Dispatcher::new(&observers),
            shutdown: AtomicBool::new(false),
            down_endpoints: Mutex::new(HashSet::new()),
            rpc_faults: Mutex::new(Vec::new()),
            local_addr,
            notices: Mutex::new(Box::new(|notice: &str| eprintln!("mock node: {notice}"))),
            clock_notice_given: AtomicBool::new(false),
        });
        // Let the simulated signers publish their first state-machine updates.
        shared.with_state(|_| ());
        let server = http::serve(listener, handlers, &shared)?;
        Ok(RunningMockNode {
            shared,
            server,
            front_door,
        })
    }
}

/// A started mock node. Dropping it stops it.
pub struct RunningMockNode {
    shared: Arc<Shared>,
    server: http::server::HttpServer,
    front_door: Option<FrontDoor>,
}

impl RunningMockNode {
    /// The address the RPC server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// `host:port` of the RPC server (what a signer's `node_host` is set to).
    pub fn node_host(&self) -> String {
        self.addr().to_string()
    }

    /// Runs `f` with the node's state locked; events it produces are sent afterwards.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut NodeState) -> R) -> R {
        self.shared.with_state(f)
    }

    /// Adds a burn block (see [`BurnBlockOptions`]) and emits `/new_burn_block`.
    pub fn advance_burn_block(&self, opts: &BurnBlockOptions) -> Result<BurnBlock, String> {
        self.with_state(|s| s.advance_burn_block(opts))
    }

    /// Adds a burn block on the tip won by miner `winner` (or with no winner).
    pub fn mine_burn_block(&self, winner: Option<usize>) -> Result<BurnBlock, String> {
        self.advance_burn_block(&BurnBlockOptions {
            winner,
            ..BurnBlockOptions::default()
        })
    }

    /// Makes a known burn block the canonical tip (a reorg) and emits `/new_burn_block`.
    pub fn set_burn_tip(
        &self,
        hash: &libsigner::chain::BurnchainHeaderHash,
    ) -> Result<BurnBlock, String> {
        self.with_state(|s| s.set_burn_tip(hash))
    }

    /// Makes the simulated miner propose a block. As a real miner, it never stamps a block
    /// ahead of the clock: when the block's timestamp (one second after its parent's, once
    /// the run has used up `timestamp_lag_secs`) is still in the future, it first waits for
    /// the clock ([`NodeState::clock_wait`]; never on the fixed clock, nor for a `timestamp`
    /// override, which is proposed as written). The first such wait is announced once
    /// ([`CLOCK_NOTICE`], see [`RunningMockNode::set_notice_handler`]).
    pub fn propose_block(&self, opts: &ProposeOptions) -> Result<Proposal, String> {
        loop {
            let wait = self.with_state(|s| match s.clock_wait(opts)? {
                Some(wait) => Ok(Err(wait)),
                None => s.propose_block(opts).map(Ok),
            })?;
            match wait {
                Ok(proposal) => return Ok(proposal),
                Err(wait) => {
                    if !self.shared.clock_notice_given.swap(true, Ordering::SeqCst) {
                        self.notice(CLOCK_NOTICE);
                    }
                    std::thread::sleep(wait);
                }
            }
        }
    }

    /// Replaces where the node's one-line notices go (by default stderr, prefixed with
    /// `mock node: `). The node gives one: [`CLOCK_NOTICE`], once.
    pub fn set_notice_handler(&self, handler: impl Fn(&str) + Send + 'static) {
        *self
            .shared
            .notices
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Box::new(handler);
    }

    fn notice(&self, text: &str) {
        let handler = self
            .shared
            .notices
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        handler(text);
    }

    /// The processed block with this id.
    pub fn block(&self, id: &StacksBlockId) -> Option<StoredBlock> {
        self.with_state(|s| s.stacks.get(id).cloned())
    }

    /// The canonical Stacks tip.
    pub fn stacks_tip(&self) -> Option<StoredBlock> {
        self.with_state(|s| s.stacks.tip().cloned())
    }

    /// The burn tip.
    pub fn burn_tip(&self) -> BurnBlock {
        self.with_state(|s| s.burn_tip().clone())
    }

    /// Waits until the block with this signer signature hash is processed.
    pub fn wait_for_block(
        &self,
        signer_signature_hash: &Sha512Trunc256Sum,
        timeout: Duration,
    ) -> Option<StoredBlock> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.with_state(|s| {
                s.stacks
                    .all()
                    .find(|b| &b.block.header.signer_signature_hash() == signer_signature_hash)
                    .cloned()
            });
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Mines `tenures` tenures of `blocks_per_tenure` blocks each (miners take turns), each
    /// block proposed, signed to the threshold and processed before the next; fails with a
    /// one-line reason if a block is not processed within `block_timeout`.
    pub fn mine_tenures(
        &self,
        tenures: usize,
        blocks_per_tenure: usize,
        block_timeout: Duration,
    ) -> Result<Vec<StoredBlock>, String> {
        let mut mined = Vec::new();
        let miners = self.with_state(|s| s.miners.len());
        for t in 0..tenures {
            let burn = self.mine_burn_block(Some(t % miners))?;
            for b in 0..blocks_per_tenure.max(1) {
                let kind = if b == 0 {
                    BlockKind::TenureStart
                } else {
                    BlockKind::Continue
                };
                let proposal = self.propose_block(&ProposeOptions {
                    kind: Some(kind),
                    ..ProposeOptions::default()
                })?;
                let block = self
                    .wait_for_block(&proposal.signer_signature_hash, block_timeout)
                    .ok_or_else(|| {
                        format!(
                            "block {} of tenure {} (burn height {}, height {}) was not signed and processed within {:?}",
                            b + 1,
                            t + 1,
                            burn.height,
                            proposal.block.header.chain_length,
                            block_timeout
                        )
                    })?;
                mined.push(block);
            }
        }
        Ok(mined)
    }

    /// Subscribes to the node's activity stream.
    pub fn subscribe(&self) -> Receiver<ActivityEntry> {
        self.with_state(|s| s.activity.subscribe())
    }

    /// Registers another event observer.
    pub fn add_observer(&self, spec: ObserverSpec) {
        self.shared.dispatcher.add_observer(spec);
    }

    /// Waits until every queued event was delivered; `false` on timeout.
    pub fn wait_events_delivered(&self, timeout: Duration) -> bool {
        self.shared.dispatcher.wait_idle(timeout)
    }

    /// Each observer's delivery counters.
    pub fn observer_stats(&self) -> Vec<(String, ObserverStats)> {
        self.shared.dispatcher.stats()
    }

    /// Forces the validator to reject a proposal.
    pub fn force_rejection(&self, rejection: ForcedRejection) {
        self.with_state(|s| s.validation.forced.push_back(rejection));
    }

    /// Makes the validator accept proposals but never answer (`true`) or answer again.
    pub fn set_validation_stall(&self, stall: bool) {
        self.with_state(|s| s.validation.stall = stall);
    }

    /// Answers the next `count` proposals with 429.
    pub fn set_busy_responses(&self, count: u32) {
        self.with_state(|s| s.validation.busy_responses = count);
    }

    /// Delays every validation result.
    pub fn set_validation_delay(&self, delay: Duration) {
        self.with_state(|s| s.validation.delay = delay);
    }

    /// Whether the miner processes blocks itself once signed (default) or waits for the
    /// signers' uploads.
    pub fn set_miner_broadcasts(&self, broadcasts: bool) {
        self.with_state(|s| s.miner_broadcasts = broadcasts);
    }

    /// Whether uploaded blocks are processed (default) or only answered as accepted and
    /// recorded (`BlockUploaded`), so that a block signed by its signers stays unprocessed.
    pub fn set_upload_processing(&self, process: bool) {
        self.with_state(|s| s.process_uploads = process);
    }

    /// Takes an endpoint down (answers 503) or brings it back. `prefix` is matched against
    /// the request path, e.g. `/v3/block_proposal` or `/v2/stackerdb`.
    pub fn set_endpoint_down(&self, prefix: &str, down: bool) {
        let mut set = self
            .shared
            .down_endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if down {
            set.insert(prefix.to_string());
        } else {
            set.remove(prefix);
        }
    }

    // ---- Puppet signers and signer messages ----

    /// The signer id (= slot id) of `key` in the current cycle's reward set.
    pub fn signer_index(&self, key: &StacksPublicKey) -> Option<u32> {
        self.with_state(|s| {
            s.reward_sets
                .get(s.current_cycle())
                .and_then(|set| set.index_of_key(key))
                .map(|i| i as u32)
        })
    }

    /// Puppet (or simulated) signer `signer` writes `BlockPreCommit(hash)` to its
    /// `signers-{p}-3` slot (see [`NodeState::puppet_pre_commit`]).
    pub fn puppet_pre_commit(
        &self,
        signer: u32,
        hash: &Sha512Trunc256Sum,
    ) -> Result<StackerDBChunkAckData, String> {
        self.with_state(|s| s.puppet_pre_commit(signer, hash))
    }

    /// Signer `signer` writes a `BlockResponse::Accepted` for `hash`, with its real signature
    /// (see [`NodeState::puppet_accept`]); the miner counts it toward the threshold.
    pub fn puppet_accept(
        &self,
        signer: u32,
        hash: &Sha512Trunc256Sum,
    ) -> Result<StackerDBChunkAckData, String> {
        self.with_state(|s| s.puppet_accept(signer, hash))
    }

    /// Signer `signer` writes a `BlockResponse::Rejected` for `hash` with `reason` (libsigner's
    /// `BlockRejection::new`; see [`NodeState::puppet_reject`]).
    pub fn puppet_reject(
        &self,
        signer: u32,
        hash: &Sha512Trunc256Sum,
        reason: RejectReason,
    ) -> Result<StackerDBChunkAckData, String> {
        self.with_state(|s| s.puppet_reject(signer, hash, reason))
    }

    /// Signer `signer` writes the rejection a signer sends for a failed validation
    /// (`ValidationFailed(code)`, text `reason`).
    pub fn puppet_reject_validation(
        &self,
        signer: u32,
        hash: &Sha512Trunc256Sum,
        code: ValidateRejectCode,
        reason: &str,
    ) -> Result<StackerDBChunkAckData, String> {
        self.with_state(|s| s.puppet_reject_validation(signer, hash, code, reason))
    }

    /// Signer `signer` of the current cycle writes `update` to its `signers-{p}-2` slot.
    pub fn puppet_state_update(
        &self,
        signer: u32,
        update: &StateMachineUpdate,
    ) -> Result<StackerDBChunkAckData, String> {
        self.with_state(|s| s.puppet_state_update(signer, update))
    }

    /// Signer `signer` of `cycle` writes `message` as it is into the contract of its kind
    /// (`signers-{cycle % 2}-{1|2|3}`); miner messages are an error.
    pub fn puppet_message(
        &self,
        cycle: u64,
        signer: u32,
        message: &SignerMessage,
    ) -> Result<StackerDBChunkAckData, String> {
        self.with_state(|s| s.write_signer_message(cycle, signer, message))
    }

    /// Signer `signer` of `cycle` writes raw `data` into `signers-{cycle % 2}-{msg_id}`.
    pub fn puppet_write_raw(
        &self,
        cycle: u64,
        signer: u32,
        msg_id: u32,
        data: Vec<u8>,
    ) -> Result<StackerDBChunkAckData, String> {
        self.with_state(|s| s.write_as_signer(cycle, signer, msg_id, data))
    }

    /// Puppets vote and publish updates by themselves (`true`, e.g. while mining a test's
    /// setup blocks) or only when told (`false`, the default).
    pub fn set_puppet_autopilot(&self, on: bool) {
        self.with_state(|s| s.set_puppet_autopilot(on));
    }

    /// A chunk of `data` for `contract`'s slot `slot_id`, signed by `key` (any key) at the
    /// slot's next version; for [`RunningMockNode::inject_chunks`].
    pub fn signed_chunk(
        &self,
        contract: &str,
        slot_id: u32,
        key: &StacksPrivateKey,
        data: Vec<u8>,
    ) -> StackerDBChunkData {
        self.with_state(|s| s.signed_chunk(contract, slot_id, key, data))
    }

    /// Sends `data` as a chunk of `contract`'s slot `slot_id` signed by `key` (any key, e.g.
    /// one outside the reward set) in a `/stackerdb_chunks` event, without the write rules
    /// and without storing it (see [`NodeState::inject_chunks`]). Returns the chunk sent.
    pub fn inject_chunk(
        &self,
        contract: &str,
        slot_id: u32,
        key: &StacksPrivateKey,
        data: Vec<u8>,
    ) -> Result<StackerDBChunkData, String> {
        self.with_state(|s| {
            let chunk = s.signed_chunk(contract, slot_id, key, data);
            s.inject_chunks(contract, std::slice::from_ref(&chunk))
                .map(|()| chunk)
        })
    }

    /// Sends `chunks` together in one `/stackerdb_chunks` event for `contract`, as given (see
    /// [`NodeState::inject_chunks`]).
    pub fn inject_chunks(
        &self,
        contract: &str,
        chunks: &[StackerDBChunkData],
    ) -> Result<(), String> {
        self.with_state(|s| s.inject_chunks(contract, chunks))
    }

    // ---- Miner messages and blocks on demand ----

    /// Writes `message` as a miner into its `miners` slots (see
    /// [`NodeState::write_miner_message`]; `miner` indexes the miner list, `None`: the
    /// block's signer or the current winner).
    pub fn miner_message(
        &self,
        miner: Option<usize>,
        message: &SignerMessage,
    ) -> Result<StackerDBChunkAckData, String> {
        self.with_state(|s| s.write_miner_message(miner, message))
    }

    /// The miner writes `BlockPushed(block)` into its pushed-block slot.
    pub fn push_block(&self, block: &NakamotoBlock) -> Result<StackerDBChunkAckData, String> {
        self.miner_message(None, &SignerMessage::BlockPushed(block.clone()))
    }

    /// The miner (`None`: the current winner) writes a `MockProposal` of the node's
    /// `/v2/info` view into its proposal slot; returns it.
    pub fn propose_mock(&self, miner: Option<usize>) -> Result<MockProposal, String> {
        self.with_state(|s| {
            let proposal = s.mock_proposal(miner)?;
            let message = SignerMessage::MockProposal(proposal.clone());
            s.write_miner_message(miner, &message)?;
            Ok(proposal)
        })
    }

    /// The miner writes the proposal `hash` again, at a higher slot version.
    pub fn repropose(&self, hash: &Sha512Trunc256Sum) -> Result<StackerDBChunkAckData, String> {
        self.with_state(|s| s.repropose(hash))
    }

    /// Processes the proposed block `hash` now, even without enough signatures, and sends
    /// `/new_block` (see [`NodeState::process_proposed_block`]).
    pub fn process_proposed_block(
        &self,
        hash: &Sha512Trunc256Sum,
    ) -> Result<StacksBlockId, String> {
        self.with_state(|s| s.process_proposed_block(hash))
    }

    /// Processes a block the test built (proposed or not) and sends `/new_block` (see
    /// [`NodeState::process_given_block`]).
    pub fn process_block(&self, block: NakamotoBlock) -> Result<StacksBlockId, String> {
        self.with_state(|s| s.process_given_block(block))
    }

    /// Sends a `/status` probe to every observer (a signer's receiver yields a status-check
    /// event, which runs the signer's timers as any event does).
    pub fn send_status_check(&self) {
        self.with_state(|s| s.send_status_check());
    }

    // ---- Validation by hand ----

    /// Manual validation on: every accepted `/v3/block_proposal` (202) is recorded and held,
    /// and no `/proposal_response` is sent until [`RunningMockNode::answer_validation`].
    /// Off: later requests are validated as usual (held ones stay held).
    pub fn set_manual_validation(&self, on: bool) {
        self.with_state(|s| s.validation.manual = on);
    }

    /// The signer signature hashes of the held validation requests, oldest first.
    pub fn held_validations(&self) -> Vec<Sha512Trunc256Sum> {
        self.with_state(|s| {
            s.validation
                .held
                .iter()
                .map(HeldValidation::signer_signature_hash)
                .collect()
        })
    }

    /// Waits until a validation request for `hash` is held; `false` on timeout.
    pub fn wait_for_held_validation(&self, hash: &Sha512Trunc256Sum, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.held_validations().contains(hash) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Answers the oldest held validation request for `hash` with `answer`: sends
    /// `/proposal_response` and records `ValidationResult`. Returns the response sent; an
    /// error if no request for `hash` is held.
    pub fn answer_validation(
        &self,
        hash: &Sha512Trunc256Sum,
        answer: ValidationAnswer,
    ) -> Result<BlockValidateResponse, String> {
        self.with_state(|s| {
            let pos = s
                .validation
                .held
                .iter()
                .position(|h| &h.signer_signature_hash() == hash)
                .ok_or_else(|| format!("no held validation request for {hash}"))?;
            let held = s.validation.held.remove(pos);
            let elapsed = held.received.elapsed().as_millis() as u64;
            let response = validator::answer(s, &held.block, held.chain_id, &answer, elapsed);
            s.send_validation_response(response.clone());
            Ok(response)
        })
    }

    /// Sends `response` as a `/proposal_response` event now, whether or not anything asked
    /// for it (recorded as `ValidationResult`).
    pub fn send_validation_response(&self, response: BlockValidateResponse) {
        self.with_state(|s| s.send_validation_response(response));
    }

    // ---- RPC answers ----

    /// Overrides `/v2/info` fields (`InfoOverride::default()` clears them).
    pub fn set_info_override(&self, info: InfoOverride) {
        self.with_state(|s| s.overrides.info = info);
    }

    /// Makes `/v2/pox` report `epoch` as `current_epoch` (`None`: the node's own, 3.3).
    pub fn set_pox_epoch_override(&self, epoch: Option<StacksEpochId>) {
        self.with_state(|s| s.overrides.pox_epoch = epoch);
    }

    /// Overrides `/v3/tenures/tip_metadata/{ch}` (and `/v3/tenures/tip/{ch}`) for tenure
    /// `ch`: a given tip header and burn view, or an error status (`None` clears).
    pub fn set_tenure_tip_override(
        &self,
        ch: &ConsensusHash,
        answer: Option<RpcAnswer<BlockHeaderWithMetadata>>,
    ) {
        self.with_state(|s| match answer {
            Some(a) => {
                s.overrides.tenure_tips.insert(*ch, a);
            }
            None => {
                s.overrides.tenure_tips.remove(ch);
            }
        });
    }

    /// Overrides `/v3/tenures/fork_info/{start}/{stop}` (`None` clears).
    pub fn set_fork_info_override(
        &self,
        start: &ConsensusHash,
        stop: &ConsensusHash,
        answer: Option<RpcAnswer<Vec<TenureForkingInfo>>>,
    ) {
        self.with_state(|s| match answer {
            Some(a) => {
                s.overrides.fork_info.insert((*start, *stop), a);
            }
            None => {
                s.overrides.fork_info.remove(&(*start, *stop));
            }
        });
    }

    /// Overrides `/v3/sortitions/latest_and_last` (`None` clears).
    pub fn set_latest_and_last_override(&self, answer: Option<RpcAnswer<Vec<SortitionInfo>>>) {
        self.with_state(|s| s.overrides.latest_and_last = answer);
    }

    /// Makes requests whose path starts with `prefix` fail with `fault` (`None` clears that
    /// prefix): a slow answer, garbage JSON, or an error status. The first matching prefix
    /// set applies; `"/"` covers every endpoint. Requests are still counted.
    pub fn set_rpc_fault(&self, prefix: &str, fault: Option<RpcFault>) {
        let mut faults = self
            .shared
            .rpc_faults
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        faults.retain(|(p, _)| p != prefix);
        if let Some(fault) = fault {
            faults.push((prefix.to_string(), fault));
        }
    }

    /// Closes the RPC port (`true`): new connections are refused and open ones are cut,
    /// until it is opened again (`false`) on the same address. Needs
    /// [`MockNodeConfig::refusable_rpc`]; events keep flowing either way.
    pub fn set_rpc_refusing(&self, refusing: bool) -> Result<(), String> {
        self.front_door
            .as_ref()
            .ok_or("the node was started without refusable_rpc")?
            .set_refusing(refusing)
    }

    /// Pauses event delivery to every observer: events are queued, not sent, until
    /// [`RunningMockNode::resume_events`].
    pub fn pause_events(&self) {
        self.shared.dispatcher.pause();
    }

    /// Resumes event delivery, first reordering the events queued for each observer as
    /// `replay` says (e.g. [`EventReplay::Reversed`]).
    pub fn resume_events(&self, replay: EventReplay) {
        self.shared.dispatcher.resume(replay);
    }

    /// Answers `method path` (the exact path, without the query) with `answer` before any
    /// routing (`None` clears).
    pub fn set_canned_answer(&self, method: &str, path: &str, answer: Option<CannedAnswer>) {
        let key = (method.to_ascii_uppercase(), path.to_string());
        self.with_state(|s| match answer {
            Some(a) => {
                s.overrides.paths.insert(key, a);
            }
            None => {
                s.overrides.paths.remove(&key);
            }
        });
    }

    /// Removes every RPC answer override.
    pub fn clear_overrides(&self) {
        self.with_state(|s| s.overrides.clear());
    }

    /// How many requests with `method` (`None`: any) whose path starts with `prefix` the node
    /// received (every request counts, answered normally or not).
    pub fn request_count(&self, method: Option<&str>, prefix: &str) -> u64 {
        self.with_state(|s| s.requests.count(method, prefix))
    }

    /// Sets every request counter back to zero.
    pub fn reset_request_counts(&self) {
        self.with_state(|s| s.requests.reset());
    }

    /// Stops the server and the event delivery, and waits for their threads.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.front_door = None;
        self.server.stop();
        self.shared.dispatcher.shutdown();
    }
}

impl Drop for RunningMockNode {
    fn drop(&mut self) {
        self.stop_inner();
    }
}
