//! The world of the model-based test of the v0 voting logic (`v0_model.rs`): a mock node, the
//! signer under test ("S0": a real [`RunLoop`] of v0 signers, driven in the test thread, on a
//! real SQLite file) and three puppet peers plus one key outside the signer set, whose votes a
//! step writes.
//!
//! S0 runs in the test thread: its event receiver is bound here and never spawned; a step
//! makes the node act, then [`World::pump`] hands S0 every event the node sent, in order,
//! until the node has nothing more to say. A panic in S0 is a panic of the test, so proptest
//! sees it and shrinks the sequence that caused it.
//!
//! Set `V0_MODEL_LOG=1` to see S0's log on stderr.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libsigner::chain::{
    ConsensusHash, Hash160, NakamotoBlock, Sha512Trunc256Sum, StacksPrivateKey, StacksPublicKey,
};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{BlockResponse, RejectReason, SignerMessage, ValidateRejectCode};
use libsigner::{EventReceiver, SignerEvent, SignerEventReceiver, SignerRunLoop};
use stacks_signer::client::StacksClient;
use stacks_signer::config::GlobalConfig;
use stacks_signer::devnet::validator::answer as answer_validation;
use stacks_signer::devnet::wire::messages::{block_accepted, block_pre_commit, signer_rejection};
use stacks_signer::devnet::{
    Activity, ActivityEntry, BlockKind, BlockOverrides, BurnBlockOptions, MockNode, MockNodeConfig,
    ObserverSpec, PoxConstants, ProposeOptions, RunningMockNode, SignerSpec, ValidationAnswer,
};
use stacks_signer::invariant::{check_votes, SignerVotes};
use stacks_signer::logging::{discard, stderr_logger, LogSettings};
use stacks_signer::signerdb::{BlockState, SharedSignerDb, SignerDb};
use stacks_signer::v0::Signer;
use stacks_signer::{RunLoop, SignerContext, SignerResult};

/// S0's `tenure_last_block_proposal_timeout_secs`: the window after which the reference lets
/// a signer vote for a sibling of a block it voted for. A sequence runs well within it, so
/// within a sequence S0 may never vote for two siblings.
pub const WINDOW_SECS: u64 = 600;

/// The reward cycle length of the node (short, so that sequences cross cycles).
const CYCLE_LENGTH: u64 = 10;

/// How a proposal step picks its block.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BlockChoice {
    /// What the miner builds next (a tenure start on a fresh sortition, else a child of the
    /// canonical tip).
    Next,
    /// A sibling of proposal `i` (same tenure, height and parent; another timestamp).
    Sibling(usize),
    /// Proposal `i` again (a higher slot version).
    Repropose(usize),
    /// A child of proposal `i` (whatever the tip is: a Stacks fork when `i` is not the tip).
    ChildOf(usize),
}

/// Who casts a peer vote.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Voter {
    /// Puppet P`n` (1..=3), in the signer set.
    Peer(u8),
    /// P1 and P2 together (with S0, enough for the threshold).
    P1AndP2,
    /// A key outside the signer set, writing into P1's slot.
    Outsider,
}

/// What a peer votes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PeerKind {
    /// `BlockPreCommit`.
    PreCommit,
    /// `BlockResponse::Accepted`.
    Accept,
    /// `BlockResponse::Rejected`.
    Reject,
}

/// A node endpoint a node-error step takes down (or brings back).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Endpoint {
    /// `/v2/info`.
    Info,
    /// `/v2/pox`.
    Pox,
    /// `/v3/sortitions`.
    Sortitions,
    /// `/v3/tenures`.
    Tenures,
    /// `/v3/block_proposal`.
    BlockProposal,
}

impl Endpoint {
    fn prefix(self) -> &'static str {
        match self {
            Endpoint::Info => "/v2/info",
            Endpoint::Pox => "/v2/pox",
            Endpoint::Sortitions => "/v3/sortitions",
            Endpoint::Tenures => "/v3/tenures",
            Endpoint::BlockProposal => "/v3/block_proposal",
        }
    }

    /// Every endpoint.
    pub const ALL: [Endpoint; 5] = [
        Endpoint::Info,
        Endpoint::Pox,
        Endpoint::Sortitions,
        Endpoint::Tenures,
        Endpoint::BlockProposal,
    ];
}

/// One step of a sequence. A block index `#i` names the `i`-th most recent proposal (`#0`:
/// the latest), counting round; a step naming a block before any was proposed does nothing.
#[derive(Clone, PartialEq, Eq)]
pub enum Step {
    /// The current miner proposes.
    Propose(BlockChoice),
    /// A peer votes on block `block`.
    PeerVote {
        /// Who.
        voter: Voter,
        /// What.
        kind: PeerKind,
        /// On which block.
        block: usize,
    },
    /// The node answers its held validation request number `request` (modulo how many are
    /// held; none held: nothing). Requests never answered stay held: "never".
    Validate {
        /// Which held request.
        request: usize,
        /// Valid (`true`) or invalid.
        ok: bool,
    },
    /// A burn block, won by miner `winner` (or no sortition); `fork`: built on the tip's
    /// parent, replacing the tip.
    BurnBlock {
        /// The winning miner.
        winner: Option<u8>,
        /// A burnchain fork.
        fork: bool,
    },
    /// Burn blocks (won by miner 0) until the next reward cycle.
    RewardCycleChange,
    /// The node processes block `block` now, signed or not (a `/new_block`).
    NodeProcesses(usize),
    /// An endpoint of the node answers 503 (`down`) or works again.
    NodeError {
        /// The endpoint.
        endpoint: Endpoint,
        /// Down or up.
        down: bool,
    },
    /// S0 stops (its run loop and database handle dropped) and starts again on its database.
    Restart,
    /// S0 crashes after handling `after_events` more events (during the steps that follow):
    /// the events the node already delivered but S0 did not handle are lost, and S0 starts
    /// again on its database.
    Crash {
        /// How many events S0 still handles.
        after_events: u8,
    },
    /// The node sends a validation result for block `block` that no held request asked for
    /// (a duplicate, or one S0 never submitted).
    UnsolicitedValidation {
        /// The block.
        block: usize,
        /// Valid or invalid.
        ok: bool,
    },
    /// A planted breach, never generated: a pre-commit for block `#i` written into S0's slot
    /// with S0's key behind its back (a vote its database does not hold). Only the test of the
    /// checker and of shrinking uses it.
    Forged(usize),
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Propose(BlockChoice::Next) => write!(f, "Propose(next)"),
            Step::Propose(BlockChoice::Sibling(i)) => write!(f, "Propose(sibling of #{i})"),
            Step::Propose(BlockChoice::Repropose(i)) => write!(f, "Propose(again #{i})"),
            Step::Propose(BlockChoice::ChildOf(i)) => write!(f, "Propose(child of #{i})"),
            Step::PeerVote { voter, kind, block } => {
                let who = match voter {
                    Voter::Peer(n) => format!("P{n}"),
                    Voter::P1AndP2 => "P1+P2".to_string(),
                    Voter::Outsider => "outsider".to_string(),
                };
                write!(f, "{who} {kind:?} #{block}")
            }
            Step::Validate { request, ok } => {
                write!(
                    f,
                    "Validate(held #{request}: {})",
                    if *ok { "ok" } else { "reject" }
                )
            }
            Step::BurnBlock { winner, fork } => write!(
                f,
                "BurnBlock(winner {}{})",
                winner.map_or("none".to_string(), |w| format!("M{w}")),
                if *fork { ", fork" } else { "" }
            ),
            Step::RewardCycleChange => write!(f, "RewardCycleChange"),
            Step::NodeProcesses(i) => write!(f, "NodeProcesses(#{i})"),
            Step::NodeError { endpoint, down } => {
                write!(f, "{endpoint:?} {}", if *down { "down" } else { "up" })
            }
            Step::Restart => write!(f, "Restart"),
            Step::Crash { after_events } => write!(f, "Crash(after {after_events} events)"),
            Step::UnsolicitedValidation { block, ok } => write!(
                f,
                "UnsolicitedValidation(#{block}: {})",
                if *ok { "ok" } else { "reject" }
            ),
            Step::Forged(i) => write!(f, "Forged S0 PreCommit #{i}"),
        }
    }
}

/// Numbered steps, one a line, with a marker at `failed`.
pub fn describe(steps: &[Step], failed: Option<usize>) -> String {
    steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let mark = if Some(i) == failed {
                "  <== fails here"
            } else {
                ""
            };
            format!("  {i:>3}. {step:?}{mark}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a campaign counts.
#[derive(Debug, Default, Clone, Copy)]
pub struct Figures {
    /// Sequences run.
    pub sequences: u64,
    /// Steps run.
    pub steps: u64,
    /// Votes S0 published (pre-commits, acceptances, rejections; re-sends included).
    pub votes: u64,
    /// Of which pre-commits.
    pub pre_commits: u64,
    /// Of which signatures (acceptances).
    pub signatures: u64,
    /// Of which rejections.
    pub rejections: u64,
    /// Blocks S0 voted for (pre-committed or signed) that had a conflicting sibling proposed
    /// in the same sequence: the situations where an equivocation was possible.
    pub contested: u64,
    /// Restarts of S0.
    pub restarts: u64,
    /// Blocks proposed.
    pub proposals: u64,
}

impl Figures {
    /// Adds `other` to these figures.
    pub fn add(&mut self, other: &Figures) {
        self.sequences += other.sequences;
        self.steps += other.steps;
        self.votes += other.votes;
        self.pre_commits += other.pre_commits;
        self.signatures += other.signatures;
        self.rejections += other.rejections;
        self.contested += other.contested;
        self.restarts += other.restarts;
        self.proposals += other.proposals;
    }
}

/// S0's key.
pub fn s0_key() -> StacksPrivateKey {
    StacksPrivateKey::from_seed(b"v0 model signer S0")
}

fn puppet_key(n: u8) -> StacksPrivateKey {
    StacksPrivateKey::from_seed(format!("v0 model puppet P{n}").as_bytes())
}

fn outsider_key() -> StacksPrivateKey {
    StacksPrivateKey::from_seed(b"v0 model outsider")
}

fn config_text(node: &RunningMockNode, db: &std::path::Path) -> String {
    format!(
        "stacks_private_key = \"{key}\"\nnode_host = \"{host}\"\nendpoint = \"127.0.0.1:0\"\n\
         network = \"testnet\"\nauth_password = \"12345\"\ndb_path = \"{db}\"\n\
         event_timeout_ms = 500\nblock_proposal_timeout_ms = 600000\n\
         block_proposal_validation_timeout_ms = 600000\n\
         tenure_last_block_proposal_timeout_secs = {WINDOW_SECS}\n",
        key = libsigner::chain::hex::to_hex(&s0_key().to_bytes()),
        host = node.node_host(),
        db = db.display(),
    )
}

/// A proposal the sequence made, with what a sibling of it needs.
#[derive(Debug, Clone)]
struct Proposed {
    block: NakamotoBlock,
    hash: Sha512Trunc256Sum,
    kind: BlockKind,
}

/// A breach found after a step.
#[derive(Debug)]
pub struct Breach(pub String);

/// A running model world: the node, S0 and the reference model's memory.
pub struct World {
    node: RunningMockNode,
    receiver: SignerEventReceiver<SignerMessage>,
    runloop: Option<RunLoop<Signer, SignerMessage>>,
    db: Option<SharedSignerDb>,
    config: GlobalConfig,
    logger: slog::Logger,
    results: (Sender<SignerResult>, Receiver<SignerResult>),
    activity: Receiver<ActivityEntry>,
    entries: Vec<ActivityEntry>,
    s0_writer: Hash160,
    proposals: Vec<Proposed>,
    /// Every block state seen in S0's database, by block.
    states: HashMap<Sha512Trunc256Sum, (BlockState, u64)>,
    /// The reference model: per (tenure, height), the block S0 voted for (pre-commit or
    /// signature) and when it published the first such vote (ms).
    favoured: BTreeMap<(ConsensusHash, u64), (Sha512Trunc256Sum, u64)>,
    /// How many of the node's entries the model has read.
    read: usize,
    down: HashSet<Endpoint>,
    /// A crash armed by [`Step::Crash`]: events S0 still handles before it.
    crash_in: Option<u8>,
    cycle_of: HashMap<Sha512Trunc256Sum, u64>,
    /// This sequence's figures.
    pub figures: Figures,
    _dir: tempfile::TempDir,
}

fn validation_answer(ok: bool) -> ValidationAnswer {
    if ok {
        ValidationAnswer::Ok {
            validation_time_ms: 5,
            cost_zero: false,
        }
    } else {
        ValidationAnswer::Reject {
            code: ValidateRejectCode::InvalidBlock,
            reason: "model: invalid".to_string(),
        }
    }
}

fn open_db(config: &GlobalConfig) -> SharedSignerDb {
    let db = SignerDb::open(&config.db_path).expect("S0's database opens");
    Arc::new(Mutex::new(db))
}

impl World {
    /// A node with S0 (weight 10) and puppets P1…P3 (weight 10 each; the threshold needs S0
    /// and two of them), S0 started on an empty database, and the first tenure's burn block.
    pub fn start() -> World {
        let mut signers = vec![SignerSpec::external(
            StacksPublicKey::from_private(&s0_key()),
            10,
        )];
        for n in 1..=3 {
            signers.push(SignerSpec::puppet(puppet_key(n), 10));
        }
        let pox = PoxConstants {
            first_burn_height: 100,
            reward_cycle_length: CYCLE_LENGTH,
            prepare_length: 3,
        };
        let node_config = MockNodeConfig {
            signers,
            pox,
            // Cycle 12, two blocks into its reward phase.
            start_burn_height: 100 + 12 * CYCLE_LENGTH + 2,
            // Blocks come much faster than one a second: a budget of 300 s before the miner waits
            // for the clock (proposals older than 600 s are ignored).
            timestamp_lag_secs: 300,
            http_threads: 2,
            ..MockNodeConfig::default()
        };
        let node = MockNode::start(node_config).expect("the mock node starts");
        node.set_notice_handler(|_| {});
        node.set_manual_validation(true);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db_path = dir.path().join("s0.sqlite");
        let (config, _) = GlobalConfig::load_from_str(&config_text(&node, &db_path))
            .expect("the model config loads");
        let logger = if std::env::var("V0_MODEL_LOG").as_deref() == Ok("1") {
            stderr_logger(LogSettings {
                json: false,
                level: slog::Level::Debug,
            })
        } else {
            discard()
        };
        let mut receiver = SignerEventReceiver::new(false);
        let addr = receiver
            .bind("127.0.0.1:0".parse().expect("an address"))
            .expect("S0's event receiver binds");
        let mut observer = ObserverSpec::signer(addr.to_string());
        // S0 reads its events only between steps: never let the node give up on one.
        observer.timeout_ms = 120_000;
        node.add_observer(observer);
        let activity = node.subscribe();
        let mut world = World {
            node,
            receiver,
            runloop: None,
            db: None,
            config,
            logger,
            results: channel(),
            activity,
            entries: Vec::new(),
            s0_writer: Hash160::from_node_public_key(&StacksPublicKey::from_private(&s0_key())),
            proposals: Vec::new(),
            states: HashMap::new(),
            favoured: BTreeMap::new(),
            read: 0,
            down: HashSet::new(),
            crash_in: None,
            cycle_of: HashMap::new(),
            figures: Figures {
                sequences: 1,
                ..Figures::default()
            },
            _dir: dir,
        };
        world.start_signer();
        world
            .node
            .mine_burn_block(Some(0))
            .expect("the first tenure's burn block");
        world.pump();
        world
    }

    fn start_signer(&mut self) {
        let db = open_db(&self.config);
        let context = SignerContext {
            stacks_client: StacksClient::from(&self.config).with_logger(self.logger.clone()),
            db: db.clone(),
            logger: self.logger.clone(),
        };
        self.runloop = Some(RunLoop::new(self.config.clone(), context));
        self.db = Some(db);
    }

    /// Hands S0 every event the node has sent, in order, until a status check comes back
    /// with nothing before it (S0's own writes and requests make the node send more).
    pub fn pump(&mut self) {
        for _round in 0..100 {
            self.node.send_status_check();
            let mut handled = 0;
            loop {
                let event = match self.receiver.next_event() {
                    Ok(event) => event,
                    Err(libsigner::EventError::UnrecognizedEvent(_)) => continue,
                    Err(e) => panic!("S0's event receiver failed: {e}"),
                };
                let status = matches!(event, SignerEvent::StatusCheck);
                if self.crash_in == Some(0) {
                    // S0 is down: the event was acknowledged and is lost.
                    self.runloop = None;
                    self.db = None;
                } else if let Some(runloop) = self.runloop.as_mut() {
                    runloop.run_one_pass(Some(event), &self.results.0);
                    if !status {
                        self.crash_in = self.crash_in.map(|n| n.saturating_sub(1));
                    }
                }
                while self.results.1.try_recv().is_ok() {}
                if status {
                    break;
                }
                handled += 1;
            }
            if self.runloop.is_none() {
                self.crash_in = None;
                self.figures.restarts += 1;
                self.start_signer();
                handled += 1;
            }
            if handled == 0 {
                return;
            }
        }
        panic!("the node kept sending events to S0 for 100 rounds");
    }

    /// The `i`-th most recent proposal (0: the latest), counting round.
    fn block(&self, i: usize) -> Option<Proposed> {
        let n = self.proposals.len();
        if n == 0 {
            None
        } else {
            self.proposals.get(n - 1 - i % n).cloned()
        }
    }

    fn propose(&mut self, kind: Option<BlockKind>, overrides: BlockOverrides) {
        let options = ProposeOptions { kind, overrides };
        // The miner may refuse (no tenure to build in): nothing is proposed.
        if let Ok(proposal) = self.node.propose_block(&options) {
            self.cycle_of
                .insert(proposal.signer_signature_hash, proposal.reward_cycle);
            let kind = if proposal.block.is_wellformed_tenure_start_block() == Ok(true) {
                BlockKind::TenureStart
            } else {
                BlockKind::Continue
            };
            self.proposals.push(Proposed {
                hash: proposal.signer_signature_hash,
                block: proposal.block,
                kind,
            });
            self.figures.proposals += 1;
        }
    }

    /// Runs `step`, lets S0 handle what follows, and checks the model.
    pub fn run(&mut self, step: &Step) -> Result<(), Breach> {
        self.figures.steps += 1;
        match step {
            Step::Propose(BlockChoice::Next) => {
                self.propose(None, BlockOverrides::default());
            }
            Step::Propose(BlockChoice::Sibling(i)) => {
                if let Some(p) = self.block(*i) {
                    let header = &p.block.header;
                    let overrides = BlockOverrides {
                        parent_block_id: Some(header.parent_block_id),
                        consensus_hash: Some(header.consensus_hash),
                        chain_length: Some(header.chain_length),
                        timestamp: Some(header.timestamp + 1 + self.proposals.len() as u64),
                        ..BlockOverrides::default()
                    };
                    self.propose(Some(p.kind), overrides);
                }
            }
            Step::Propose(BlockChoice::Repropose(i)) => {
                if let Some(p) = self.block(*i) {
                    let _ = self.node.repropose(&p.hash);
                }
            }
            Step::Propose(BlockChoice::ChildOf(i)) => {
                if let Some(p) = self.block(*i) {
                    let header = &p.block.header;
                    let overrides = BlockOverrides {
                        parent_block_id: Some(p.block.block_id()),
                        consensus_hash: Some(header.consensus_hash),
                        chain_length: Some(header.chain_length + 1),
                        timestamp: Some(header.timestamp + 1 + self.proposals.len() as u64),
                        ..BlockOverrides::default()
                    };
                    self.propose(Some(BlockKind::Continue), overrides);
                }
            }
            Step::PeerVote { voter, kind, block } => {
                if let Some(p) = self.block(*block) {
                    self.peer_vote(*voter, *kind, &p.hash);
                }
            }
            Step::Validate { request, ok } => {
                let held = self.node.held_validations();
                if !held.is_empty() {
                    let hash = held[request % held.len()];
                    let _ = self.node.answer_validation(&hash, validation_answer(*ok));
                }
            }
            Step::BurnBlock { winner, fork } => {
                let parent = if *fork {
                    Some(self.node.burn_tip().parent_hash)
                } else {
                    None
                };
                let _ = self.node.advance_burn_block(&BurnBlockOptions {
                    winner: winner.map(usize::from),
                    parent,
                    ..BurnBlockOptions::default()
                });
            }
            Step::RewardCycleChange => {
                let cycle = self.node.with_state(|s| s.current_cycle());
                for _ in 0..CYCLE_LENGTH {
                    if self.node.with_state(|s| s.current_cycle()) > cycle {
                        break;
                    }
                    let _ = self.node.mine_burn_block(Some(0));
                    self.pump();
                }
            }
            Step::NodeProcesses(i) => {
                if let Some(p) = self.block(*i) {
                    let _ = self.node.process_proposed_block(&p.hash);
                }
            }
            Step::NodeError { endpoint, down } => {
                self.node.set_endpoint_down(endpoint.prefix(), *down);
                if *down {
                    self.down.insert(*endpoint);
                } else {
                    self.down.remove(endpoint);
                }
            }
            Step::Crash { after_events } => {
                self.crash_in = Some(*after_events);
            }
            Step::UnsolicitedValidation { block, ok } => {
                if let Some(p) = self.block(*block) {
                    let answer = validation_answer(*ok);
                    let response = self.node.with_state(|s| {
                        let chain_id = s.config.chain_id;
                        answer_validation(s, &p.block, chain_id, &answer, 5)
                    });
                    self.node.send_validation_response(response);
                }
            }
            Step::Forged(i) => {
                if let Some(p) = self.block(*i) {
                    let cycle = self.cycle_of.get(&p.hash).copied().unwrap_or(0);
                    let slot = self
                        .node
                        .signer_index(&StacksPublicKey::from_private(&s0_key()));
                    if let Some(slot) = slot {
                        let contract = format!("signers-{}-3", cycle % 2);
                        let data = block_pre_commit(&p.hash);
                        let _ = self
                            .node
                            .with_state(|s| s.write_internal(&contract, slot, &s0_key(), data));
                    }
                }
            }
            Step::Restart => {
                self.runloop = None;
                self.db = None;
                self.figures.restarts += 1;
                self.start_signer();
            }
        }
        self.pump();
        self.check()
    }

    fn peer_vote(&mut self, voter: Voter, kind: PeerKind, hash: &Sha512Trunc256Sum) {
        match voter {
            Voter::P1AndP2 => {
                self.peer_vote(Voter::Peer(1), kind, hash);
                self.peer_vote(Voter::Peer(2), kind, hash);
            }
            Voter::Peer(n) => {
                let key = StacksPublicKey::from_private(&puppet_key(n));
                let Some(id) = self.node.signer_index(&key) else {
                    return;
                };
                let _ = match kind {
                    PeerKind::PreCommit => self.node.puppet_pre_commit(id, hash),
                    PeerKind::Accept => self.node.puppet_accept(id, hash),
                    PeerKind::Reject => {
                        self.node
                            .puppet_reject(id, hash, RejectReason::SortitionViewMismatch)
                    }
                };
            }
            Voter::Outsider => {
                let key = outsider_key();
                let Some(slot) = self
                    .node
                    .signer_index(&StacksPublicKey::from_private(&puppet_key(1)))
                else {
                    return;
                };
                let cycle = self.cycle_of.get(hash).copied().unwrap_or(0);
                let (msg_id, data) = match kind {
                    PeerKind::PreCommit => (3, block_pre_commit(hash)),
                    PeerKind::Accept => {
                        let Ok(signature) = key.sign(&hash.0) else {
                            return;
                        };
                        (1, block_accepted(hash, &signature, "model", 0, 0))
                    }
                    PeerKind::Reject => (
                        1,
                        signer_rejection(
                            &key,
                            hash,
                            RejectReason::SortitionViewMismatch,
                            false,
                            "model",
                            (0, 0),
                        ),
                    ),
                };
                let contract = format!("signers-{}-{msg_id}", cycle % 2);
                let _ = self.node.inject_chunk(&contract, slot, &key, data);
            }
        }
    }

    /// S0's database handle (the one its run loop uses).
    fn with_db<R>(&self, f: impl FnOnce(&SignerDb) -> R) -> R {
        let db = self.db.as_ref().expect("S0 runs");
        let guard = db.lock().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }

    /// The checks after every step.
    fn check(&mut self) -> Result<(), Breach> {
        self.entries.extend(self.activity.try_iter());
        let own_votes = self
            .with_db(SignerDb::get_own_votes)
            .map_err(|e| Breach(format!("S0's own votes cannot be read: {e}")))?;
        let cycle = self.node.with_state(|s| s.current_cycle());
        let kept_from = cycle.saturating_sub(2);
        // 1. Every vote S0 published is in its own-vote record; no equivocation or flip as
        //    the shared invariant checker sees them.
        let report = check_votes(
            &self.entries,
            &[SignerVotes {
                signer: self.s0_writer,
                own_votes: own_votes.clone(),
                kept_from_reward_cycle: Some(kept_from),
            }],
            Duration::from_secs(WINDOW_SECS),
        );
        if !report.holds() {
            let text: Vec<String> = report.violations.iter().map(|v| v.to_string()).collect();
            return Err(Breach(text.join("\n")));
        }
        // 2. The reference model: per (tenure, height) at most one block S0 pre-committed to
        //    or signed within the window.
        let by_hash: HashMap<_, _> = own_votes
            .iter()
            .map(|v| (v.signer_signature_hash, v))
            .collect();
        let mut votes = 0;
        for entry in &self.entries[self.read..] {
            let Activity::ChunkWrite {
                writer: Some(writer),
                data,
                accepted: true,
                contract,
                ..
            } = &entry.activity
            else {
                continue;
            };
            if *writer != self.s0_writer || !contract.starts_with("signers-") {
                continue;
            }
            let Ok(message) = SignerMessage::consensus_deserialize(&mut data.as_slice()) else {
                continue;
            };
            let hash = match message {
                SignerMessage::BlockPreCommit(h) => {
                    self.figures.pre_commits += 1;
                    h
                }
                SignerMessage::BlockResponse(BlockResponse::Accepted(a)) => {
                    self.figures.signatures += 1;
                    a.signer_signature_hash
                }
                SignerMessage::BlockResponse(BlockResponse::Rejected(_)) => {
                    self.figures.rejections += 1;
                    votes += 1;
                    continue;
                }
                _ => continue,
            };
            votes += 1;
            let Some(block) = self.proposals.iter().find(|p| p.hash == hash) else {
                continue;
            };
            let key = (
                block.block.header.consensus_hash,
                block.block.header.chain_length,
            );
            match self.favoured.get(&key) {
                Some((first, at)) if *first != hash => {
                    if entry.at_ms.saturating_sub(*at) < WINDOW_SECS * 1000 {
                        return Err(Breach(format!(
                            "S0 voted for {hash} after voting for its sibling {first} \
                             (tenure {}, height {})",
                            key.0, key.1
                        )));
                    }
                }
                Some(_) => {}
                None => {
                    self.favoured.insert(key, (hash, entry.at_ms));
                }
            }
            if !by_hash.contains_key(&hash) && self.cycle_of.get(&hash).copied() >= Some(kept_from)
            {
                return Err(Breach(format!(
                    "S0 published a vote for {hash} that its database does not hold"
                )));
            }
        }
        self.figures.votes += votes;
        self.read = self.entries.len();
        // 3. Block states only move along the allowed graph, and a row never disappears
        //    (unless its cycle was pruned).
        for p in &self.proposals {
            let row = self
                .with_db(|db| db.block_lookup(&p.hash))
                .map_err(|e| Breach(format!("S0's row of {} cannot be read: {e}", p.hash)))?;
            match (self.states.get(&p.hash), row) {
                (Some((before, _)), Some(row)) => {
                    if !before.can_move_to(row.state) {
                        return Err(Breach(format!(
                            "block {} moved from {} to {}",
                            p.hash,
                            before.name(),
                            row.state.name()
                        )));
                    }
                    self.states.insert(p.hash, (row.state, row.reward_cycle));
                }
                (Some((before, row_cycle)), None) => {
                    if *row_cycle >= kept_from {
                        return Err(Breach(format!(
                            "block {} ({}) vanished from S0's database",
                            p.hash,
                            before.name()
                        )));
                    }
                }
                (None, Some(row)) => {
                    self.states.insert(p.hash, (row.state, row.reward_cycle));
                }
                (None, None) => {}
            }
        }
        Ok(())
    }
}

impl World {
    /// Stops S0 at once and the node in the background (its threads take up to 200 ms to
    /// notice): the next sequence need not wait for it.
    pub fn finish(mut self) -> Figures {
        self.runloop = None;
        self.db = None;
        let mut figures = self.figures;
        figures.contested = self
            .favoured
            .iter()
            .filter(|((ch, height), (hash, _))| {
                self.proposals.iter().any(|p| {
                    p.block.header.consensus_hash == *ch
                        && p.block.header.chain_length == *height
                        && p.hash != *hash
                })
            })
            .count() as u64;
        std::thread::spawn(move || drop(self));
        figures
    }
}
