//! The running mock node: state behind a lock, the HTTP server threads, the event
//! dispatcher, and the in-process API tests and tools drive it with.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use libsigner::chain::{Sha512Trunc256Sum, StacksBlockId};

use super::activity::ActivityEntry;
use super::burnchain::BurnBlock;
use super::config::{MockNodeConfig, ObserverSpec};
use super::dispatcher::{Dispatcher, ObserverStats};
use super::http;
use super::miner::{BlockKind, Proposal, ProposeOptions};
use super::signers;
use super::stacks_chain::StoredBlock;
use super::state::{BurnBlockOptions, NodeState};
use super::validator::ForcedRejection;

/// What the HTTP threads and the API share.
pub(crate) struct Shared {
    state: Mutex<NodeState>,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) shutdown: AtomicBool,
    pub(crate) down_endpoints: Mutex<HashSet<String>>,
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
        let threads = config.http_threads.max(1);
        let observers = config.observers.clone();
        let server = http::bind(&config.bind)?;
        let local_addr = server
            .server_addr()
            .to_ip()
            .ok_or("the server is not listening on an IP address")?;
        let state = NodeState::new(config)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            dispatcher: Dispatcher::new(&observers),
            shutdown: AtomicBool::new(false),
            down_endpoints: Mutex::new(HashSet::new()),
            local_addr,
            notices: Mutex::new(Box::new(|notice: &str| eprintln!("mock node: {notice}"))),
            clock_notice_given: AtomicBool::new(false),
        });
        // Let the simulated signers publish their first state-machine updates.
        shared.with_state(|_| ());
        let server = Arc::new(server);
        let mut handles = Vec::new();
        for i in 0..threads {
            let shared = Arc::clone(&shared);
            let server = Arc::clone(&server);
            let handle = std::thread::Builder::new()
                .name(format!("mock-node-http-{i}"))
                .spawn(move || http::serve(&server, &shared))
                .map_err(|e| format!("cannot start HTTP thread: {e}"))?;
            handles.push(handle);
        }
        Ok(RunningMockNode {
            shared,
            server,
            handles,
        })
    }
}

/// A started mock node. Dropping it stops it.
pub struct RunningMockNode {
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    handles: Vec<JoinHandle<()>>,
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

    /// Stops the server and the event delivery, and waits for their threads.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.server.unblock();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
        self.shared.dispatcher.shutdown();
    }
}

impl Drop for RunningMockNode {
    fn drop(&mut self) {
        self.stop_inner();
    }
}
