//! The agreement harness: one scenario run against a signer process under test ("S0": this
//! project's `stacks-signer run`, or the reference binary named by
//! `STACKS_SIGNER_REFERENCE_BIN`), on an in-process mock node with puppet peers P1…P3 and one
//! simulated signer Q next to it; what S0 (and Q) did, step by step and proposal by proposal,
//! in a form two runs can be compared in.
//!
//! Both subjects get the same config file, the same node (seed, miners, reward set) and the
//! same steps; after each step the harness waits until S0 has answered a proposal (or given up
//! waiting) and then until S0 has been quiet for a moment, so the next step finds S0 in the
//! same place whichever implementation it is.

#![allow(dead_code)]

pub mod generator;

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use libsigner::chain::StacksBlockId;
use libsigner::chain::{Hash160, Sha512Trunc256Sum, StacksPrivateKey, StacksPublicKey};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{BlockResponse, SignerMessage};
use stacks_signer::devnet::scenario::{Scenario, ScenarioRunner, Step};
use stacks_signer::devnet::{
    Activity, ActivityEntry, BlockKind, ChunkSource, MockNode, MockNodeConfig, ObserverSpec,
    ProposeOptions, RunningMockNode, SignerSpec,
};

/// The signer under test's validation timeout (`block_proposal_validation_timeout_ms`).
pub const VALIDATION_TIMEOUT_MS: u64 = 1_500;

/// How long S0 must stay silent before a step counts as finished.
const QUIET: Duration = Duration::from_millis(350);

/// The longest a step's aftermath is watched.
const STEP_LIMIT: Duration = Duration::from_secs(6);

/// Which implementation runs as S0.
#[derive(Debug, Clone)]
pub enum Subject {
    /// This project's `stacks-signer run`.
    Ours,
    /// The reference signer binary at this path.
    Reference(PathBuf),
}

impl Subject {
    /// The reference binary named by `STACKS_SIGNER_REFERENCE_BIN`, if any.
    pub fn reference() -> Option<Subject> {
        match std::env::var_os("STACKS_SIGNER_REFERENCE_BIN") {
            Some(path) if !path.is_empty() => Some(Subject::Reference(PathBuf::from(path))),
            _ => None,
        }
    }

    fn binary(&self) -> PathBuf {
        match self {
            Subject::Ours => PathBuf::from(env!("CARGO_BIN_EXE_stacks-signer")),
            Subject::Reference(path) => path.clone(),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Ours => write!(f, "ours"),
            Subject::Reference(_) => write!(f, "reference"),
        }
    }
}

/// The timeouts S0 runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeouts {
    /// Short ones, so that scenarios reach the time-dependent rules within seconds
    /// (validation 1.5 s, tenure-last-block 3 s, idle 4 s, wait-for-parent 2 s,
    /// capitulation 3 s).
    Short,
    /// The reference signer's defaults, which the mock node's simulated signers assume.
    Defaults,
}

/// S0's key.
pub fn s0_key() -> StacksPrivateKey {
    StacksPrivateKey::from_seed(b"agreement signer S0")
}

fn puppet_key(i: usize) -> StacksPrivateKey {
    StacksPrivateKey::from_seed(format!("agreement puppet P{i}").as_bytes())
}

fn q_key() -> StacksPrivateKey {
    StacksPrivateKey::from_seed(b"agreement simulated signer Q")
}

fn writer_of(key: &StacksPrivateKey) -> Hash160 {
    Hash160::from_node_public_key(&StacksPublicKey::from_private(key))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// One thing S0 did, with blocks named by their scenario labels (`p0`, `p1`, …; `setup` for
/// the world's first block; `?` for anything else).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Out {
    /// A `BlockPreCommit`.
    PreCommit(String),
    /// A `BlockResponse::Accepted`.
    Accepted(String),
    /// A `BlockResponse::Rejected`: block, wire reason code, `response_data.reject_reason`.
    Rejected(String, String, String),
    /// A `StateMachineUpdate`.
    Update,
    /// Another chunk, by kind.
    Chunk(String),
    /// A `POST /v3/block_proposal` for the block.
    Validate(String),
    /// A `POST /v3/blocks/upload` of the block.
    Upload(String),
}

impl Out {
    /// Whether this is a vote (pre-commit, acceptance or rejection).
    pub fn is_vote(&self) -> bool {
        matches!(
            self,
            Out::PreCommit(_) | Out::Accepted(_) | Out::Rejected(..)
        )
    }

    /// Whether this is a chunk S0 wrote (as opposed to an RPC it made).
    pub fn is_chunk(&self) -> bool {
        !matches!(self, Out::Validate(_) | Out::Upload(_))
    }

    /// The output's kind without its block (`PreCommit`, `Accepted`, `Rejected`, `Update`, a
    /// chunk's kind, or empty for an RPC).
    pub fn kind(&self) -> String {
        match self {
            Out::PreCommit(_) => "PreCommit".to_string(),
            Out::Accepted(_) => "Accepted".to_string(),
            Out::Rejected(..) => "Rejected".to_string(),
            Out::Update => "Update".to_string(),
            Out::Chunk(kind) => kind.clone(),
            Out::Validate(_) | Out::Upload(_) => String::new(),
        }
    }

    /// The block this output is about, if any.
    pub fn block(&self) -> Option<&str> {
        match self {
            Out::PreCommit(b) | Out::Accepted(b) | Out::Rejected(b, ..) => Some(b),
            Out::Validate(b) | Out::Upload(b) => Some(b),
            Out::Update | Out::Chunk(_) => None,
        }
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Out::PreCommit(b) => write!(f, "PreCommit({b})"),
            Out::Accepted(b) => write!(f, "Accepted({b})"),
            Out::Rejected(b, code, reason) => write!(f, "Rejected({b}, {code}, {reason})"),
            Out::Update => write!(f, "Update"),
            Out::Chunk(kind) => write!(f, "Chunk({kind})"),
            Out::Validate(b) => write!(f, "Validate({b})"),
            Out::Upload(b) => write!(f, "Upload({b})"),
        }
    }
}

/// What one run of a scenario showed.
#[derive(Debug, Clone)]
pub struct Run {
    /// Which implementation ran as S0.
    pub subject: String,
    /// Per step: the step's error (a step the node refused, e.g. a continue block without a
    /// tenure), then what S0 did until the next step.
    pub steps: Vec<(Option<String>, Vec<Out>)>,
    /// Q's (the simulated signer's) votes, by proposal label.
    pub simulated_votes: HashMap<String, Vec<Out>>,
    /// How many proposals the scenario made.
    pub proposals: usize,
    /// Each proposal's tenure (consensus hash, hex) and height, by label.
    pub positions: HashMap<String, (String, u64)>,
    /// The last lines of S0's log.
    pub log_tail: String,
}

impl Run {
    /// S0's votes about `label`, in order.
    pub fn votes_about(&self, label: &str) -> Vec<Out> {
        self.steps
            .iter()
            .flat_map(|(_, outs)| outs.iter())
            .filter(|o| o.is_vote() && o.block() == Some(label))
            .cloned()
            .collect()
    }

    /// The kinds of S0's chunks in the order it wrote them (`PreCommit`, `Accepted`,
    /// `Rejected`, `Update`, …), block labels left out.
    pub fn chunk_kinds(&self) -> Vec<String> {
        self.steps
            .iter()
            .flat_map(|(_, outs)| outs.iter())
            .filter(|o| o.is_chunk())
            .map(Out::kind)
            .collect()
    }

    /// S0's chunks with their block labels, in order.
    pub fn chunks(&self) -> Vec<Out> {
        self.steps
            .iter()
            .flat_map(|(_, outs)| outs.iter())
            .filter(|o| o.is_chunk())
            .cloned()
            .collect()
    }
}

/// The signer process under test; killed when dropped.
struct SignerProcess {
    child: Child,
    log: PathBuf,
}

impl SignerProcess {
    fn start(
        subject: &Subject,
        timeouts: Timeouts,
        dir: &Path,
        node: &RunningMockNode,
        port: u16,
    ) -> Self {
        let config = dir.join("signer.toml");
        let timeout_lines = match timeouts {
            Timeouts::Short => format!(
                "block_proposal_validation_timeout_ms = {VALIDATION_TIMEOUT_MS}\n\
                 tenure_last_block_proposal_timeout_secs = 3\n\
                 tenure_idle_timeout_secs = 4\n\
                 proposal_wait_for_parent_time_secs = 2\n\
                 capitulate_miner_view_timeout_secs = 3\n"
            ),
            Timeouts::Defaults => String::new(),
        };
        std::fs::write(
            &config,
            format!(
                "stacks_private_key = \"{key}\"\nnode_host = \"{host}\"\n\
                 endpoint = \"127.0.0.1:{port}\"\nnetwork = \"testnet\"\n\
                 auth_password = \"12345\"\ndb_path = \"{db}\"\n{timeout_lines}",
                key = libsigner::chain::hex::to_hex(&s0_key().to_bytes()),
                host = node.node_host(),
                db = dir.join("signer.sqlite").display(),
            ),
        )
        .expect("config written");
        let log = dir.join("signer.log");
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(subject.binary())
            .args(["run", "--config"])
            .arg(&config)
            .env("STACKS_LOG_DEBUG", "1")
            .env_remove("STACKS_LOG_JSON")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("the signer under test starts");
        SignerProcess { child, log }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for SignerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var_os("AGREEMENT_KEEP").is_some() {
            if let Some(dir) = self.log.parent() {
                let kept = std::env::temp_dir().join(format!(
                    "agreement-{}",
                    dir.file_name().and_then(|n| n.to_str()).unwrap_or("run")
                ));
                let _ = std::fs::create_dir_all(&kept);
                let _ = std::fs::copy(&self.log, kept.join("signer.log"));
            }
        }
    }
}

/// Watches the node's activity and turns S0's part of it into [`Out`]s.
struct Watcher {
    activity: Receiver<ActivityEntry>,
    s0: Hash160,
    q: Hash160,
    labels: HashMap<Sha512Trunc256Sum, String>,
    /// The signer signature hash of every block proposed, by block id (for uploads).
    proposed: HashMap<StacksBlockId, Sha512Trunc256Sum>,
    /// The tenure (consensus hash, hex) and height of every block proposed.
    positions: HashMap<Sha512Trunc256Sum, (String, u64)>,
    simulated_votes: HashMap<String, Vec<Out>>,
}

impl Watcher {
    fn label(&self, hash: &Sha512Trunc256Sum) -> String {
        self.labels.get(hash).cloned().unwrap_or_else(|| "?".into())
    }

    fn vote_of(&self, message: &SignerMessage) -> Option<Out> {
        Some(match message {
            SignerMessage::BlockPreCommit(h) => Out::PreCommit(self.label(h)),
            SignerMessage::BlockResponse(BlockResponse::Accepted(a)) => {
                Out::Accepted(self.label(&a.signer_signature_hash))
            }
            SignerMessage::BlockResponse(BlockResponse::Rejected(r)) => Out::Rejected(
                self.label(&r.signer_signature_hash),
                format!("{:?}", r.reason_code),
                format!("{:?}", r.response_data.reject_reason),
            ),
            _ => return None,
        })
    }

    /// S0's output in `entry`, if it is one (Q's votes are filed on the way).
    fn output(&mut self, entry: &ActivityEntry) -> Option<Out> {
        match &entry.activity {
            Activity::ChunkWrite {
                data,
                accepted: true,
                contract,
                ..
            } if contract == "miners" => {
                if let Ok(SignerMessage::BlockProposal(p)) =
                    SignerMessage::consensus_deserialize(&mut data.as_slice())
                {
                    let header = &p.block.header;
                    self.proposed
                        .insert(p.block.block_id(), header.signer_signature_hash());
                    self.positions.insert(
                        header.signer_signature_hash(),
                        (header.consensus_hash.to_hex(), header.chain_length),
                    );
                }
                None
            }
            Activity::ChunkWrite {
                writer: Some(writer),
                data,
                accepted: true,
                contract,
                source,
                ..
            } if contract.starts_with("signers-") => {
                let message = SignerMessage::consensus_deserialize(&mut data.as_slice()).ok()?;
                if *writer == self.q && *source == ChunkSource::Internal {
                    if let Some(vote) = self.vote_of(&message) {
                        let label = vote.block().unwrap_or("?").to_string();
                        self.simulated_votes.entry(label).or_default().push(vote);
                    }
                    return None;
                }
                if *writer != self.s0 {
                    return None;
                }
                Some(
                    self.vote_of(&message).unwrap_or(match message {
                        SignerMessage::StateMachineUpdate(_) => Out::Update,
                        other => Out::Chunk(
                            format!("{other:?}")
                                .chars()
                                .take_while(|c| c.is_alphanumeric())
                                .collect(),
                        ),
                    }),
                )
            }
            Activity::ValidationRequested {
                signer_signature_hash: Some(hash),
                ..
            } => Some(Out::Validate(self.label(hash))),
            Activity::BlockUploaded { block_id, .. } => Some(Out::Upload(
                block_id
                    .as_ref()
                    .and_then(|id| self.proposed.get(id))
                    .map(|h| self.label(h))
                    .unwrap_or_else(|| "?".into()),
            )),
            _ => None,
        }
    }

    /// Collects S0's outputs until it has been quiet for [`QUIET`] (and, with `answer`, until
    /// it has voted on that block or `answer_limit` passed), at most [`STEP_LIMIT`] in all.
    fn settle(&mut self, answer: Option<&str>, answer_limit: Duration, into: &mut Vec<Out>) {
        let start = Instant::now();
        let mut last = Instant::now();
        let mut answered = answer.is_none();
        loop {
            let now = Instant::now();
            if now.duration_since(start) > STEP_LIMIT {
                return;
            }
            if !answered && now.duration_since(start) > answer_limit {
                answered = true;
            }
            if answered && now.duration_since(last) >= QUIET {
                return;
            }
            match self.activity.recv_timeout(Duration::from_millis(25)) {
                Ok(entry) => {
                    if let Some(out) = self.output(&entry) {
                        if let (Some(label), true) = (answer, out.is_vote()) {
                            if out.block() == Some(label)
                                && matches!(out, Out::Accepted(_) | Out::Rejected(..))
                            {
                                answered = true;
                            }
                        }
                        last = Instant::now();
                        into.push(out);
                    }
                }
                Err(_) => continue,
            }
        }
    }
}

/// The world a scenario runs in.
pub struct World {
    node: RunningMockNode,
    signer: SignerProcess,
    watcher: Watcher,
    puppet_slots: Vec<u32>,
    _dir: tempfile::TempDir,
}

impl World {
    /// Starts the node (S0 weight 10, P1…P3 weight 10 each, Q weight 1: S0 and two puppets
    /// reach the 70% threshold, Q alone never tips a decision) and S0 as `subject`, then the
    /// setup: a tenure won by miner 0 whose first block S0 signed with the puppets and the
    /// node processed.
    pub fn start(subject: &Subject, timeouts: Timeouts) -> Result<World, String> {
        let mut signers = vec![SignerSpec::external(
            StacksPublicKey::from_private(&s0_key()),
            10,
        )];
        for i in 1..=3 {
            signers.push(SignerSpec::puppet(puppet_key(i), 10));
        }
        signers.push(SignerSpec::simulated(q_key(), 1));
        let node = MockNode::start(MockNodeConfig {
            signers,
            seed: 0xa9ee,
            ..MockNodeConfig::default()
        })?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        if std::env::var_os("AGREEMENT_KEEP").is_some() {
            eprintln!(
                "{subject}: S0's config, log and database in {}",
                dir.path().display()
            );
        }
        let port = free_port();
        let signer = SignerProcess::start(subject, timeouts, dir.path(), &node, port);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "{subject}: the event receiver never listened\n{}",
                    signer.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        node.add_observer(ObserverSpec::signer(format!("127.0.0.1:{port}")));
        let puppet_slots = (1..=3)
            .map(|i| {
                node.signer_index(&StacksPublicKey::from_private(&puppet_key(i)))
                    .ok_or("a puppet is missing from the reward set")
            })
            .collect::<Result<Vec<_>, _>>()?;
        let watcher = Watcher {
            activity: node.subscribe(),
            s0: writer_of(&s0_key()),
            q: writer_of(&q_key()),
            labels: HashMap::new(),
            proposed: HashMap::new(),
            positions: HashMap::new(),
            simulated_votes: HashMap::new(),
        };
        let mut world = World {
            node,
            signer,
            watcher,
            puppet_slots,
            _dir: dir,
        };
        world.setup(subject)?;
        Ok(world)
    }

    fn setup(&mut self, subject: &Subject) -> Result<(), String> {
        self.node.set_puppet_autopilot(true);
        self.node.mine_burn_block(Some(0))?;
        let setup = self.node.propose_block(&ProposeOptions {
            kind: Some(BlockKind::TenureStart),
            ..ProposeOptions::default()
        })?;
        self.watcher
            .labels
            .insert(setup.signer_signature_hash, "setup".into());
        let mut outs = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !outs.contains(&Out::Accepted("setup".into())) {
            if Instant::now() > deadline {
                return Err(format!(
                    "{subject}: S0 never signed the setup block; it did {outs:?}\n{}",
                    self.signer.log_tail()
                ));
            }
            self.watcher
                .settle(Some("setup"), Duration::from_secs(5), &mut outs);
        }
        if self
            .node
            .wait_for_block(&setup.signer_signature_hash, Duration::from_secs(20))
            .is_none()
        {
            return Err(format!("{subject}: the setup block was never processed"));
        }
        self.node.set_puppet_autopilot(false);
        let mut rest = Vec::new();
        self.watcher.settle(None, Duration::ZERO, &mut rest);
        self.watcher.simulated_votes.clear();
        Ok(())
    }

    /// Runs `scenario_text` (puppet placeholders `@P1@`… replaced) step by step.
    pub fn run(mut self, subject: &Subject, scenario_text: &str) -> Result<Run, String> {
        let mut text = scenario_text.to_string();
        for (i, slot) in self.puppet_slots.iter().enumerate() {
            text = text.replace(&format!("@P{}@", i + 1), &slot.to_string());
        }
        let scenario = Scenario::parse(&text)?;
        let mut runner = ScenarioRunner::new(&self.node, Duration::from_secs(5));
        let mut steps = Vec::new();
        let mut proposals = 0;
        for step in &scenario.step {
            let error = runner.step(step).err();
            let mut answer = None;
            if let Step::Propose {
                label: Some(label), ..
            } = step
            {
                if let Some(hash) = runner.proposal(Some(label)) {
                    self.watcher.labels.insert(hash, label.clone());
                    answer = Some(label.clone());
                    proposals += 1;
                }
            }
            self.node.wait_events_delivered(Duration::from_secs(10));
            let mut outs = Vec::new();
            self.watcher.settle(
                answer.as_deref(),
                Duration::from_millis(VALIDATION_TIMEOUT_MS + 2_000),
                &mut outs,
            );
            steps.push((error, outs));
        }
        let positions = self
            .watcher
            .labels
            .iter()
            .filter_map(|(hash, label)| {
                Some((label.clone(), self.watcher.positions.get(hash)?.clone()))
            })
            .collect();
        Ok(Run {
            positions,
            subject: subject.to_string(),
            steps,
            simulated_votes: std::mem::take(&mut self.watcher.simulated_votes),
            proposals,
            log_tail: self.signer.log_tail(),
        })
    }
}

/// Runs `scenario_text` with `subject` as S0 (short timeouts) in a fresh world.
pub fn run_scenario(subject: &Subject, scenario_text: &str) -> Result<Run, String> {
    World::start(subject, Timeouts::Short)?.run(subject, scenario_text)
}

/// [`run_scenario`] with S0 on `timeouts`.
pub fn run_scenario_with(
    subject: &Subject,
    timeouts: Timeouts,
    scenario_text: &str,
) -> Result<Run, String> {
    World::start(subject, timeouts)?.run(subject, scenario_text)
}

/// How two runs of one scenario compare.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    /// Proposals in the scenario.
    pub proposals: usize,
    /// Proposals on which both runs voted alike (the same votes, codes and reasons, in order).
    pub votes_agree: usize,
    /// Proposals on which the first run (ours) refused, by its own-vote safety rule, a
    /// pre-commit or signature the second (the reference) gave while it had already voted for
    /// a sibling (same tenure, same height): the documented difference of
    /// `docs/compatibility.md`, not counted as a disagreement.
    pub safety_refusals: Vec<String>,
    /// Differences on proposals made after such a refusal: from there on the two networks
    /// differ (in one the refused block may have been signed and processed), so these are
    /// listed apart too, not counted as disagreements.
    pub downstream: Vec<String>,
    /// Proposals both runs rejected where the second (the reference) could not reach the
    /// node (`ConnectivityIssues`) and the first (ours) judged from what it had cached: the
    /// documented difference of `docs/compatibility.md`, not counted as a disagreement.
    pub judged_from_cache: Vec<String>,
    /// Whether the chunk kinds were written in the same order.
    pub chunk_order_agrees: bool,
    /// Every difference, one line each.
    pub differences: Vec<String>,
}

/// Compares S0's votes per proposal and the kinds and order of its chunks.
pub fn compare(a: &Run, b: &Run) -> Comparison {
    let mut c = Comparison {
        proposals: a.proposals.max(b.proposals),
        ..Comparison::default()
    };
    for i in 0..c.proposals {
        let label = format!("p{i}");
        let (va, vb) = (a.votes_about(&label), b.votes_about(&label));
        if va == vb {
            c.votes_agree += 1;
        } else if refused_for_a_sibling(a, b, &label) {
            c.safety_refusals.push(format!(
                "{label}: {} {} | {} {}",
                a.subject,
                join(&va),
                b.subject,
                join(&vb)
            ));
        } else if rejected_from_cache(&va, &vb) {
            c.judged_from_cache.push(format!(
                "{label}: {} {} | {} {}",
                a.subject,
                join(&va),
                b.subject,
                join(&vb)
            ));
        } else if !c.safety_refusals.is_empty() {
            c.downstream.push(format!(
                "{label}: {} {} | {} {}",
                a.subject,
                join(&va),
                b.subject,
                join(&vb)
            ));
        } else {
            c.differences.push(format!(
                "{label}: {} {} | {} {}",
                a.subject,
                join(&va),
                b.subject,
                join(&vb)
            ));
        }
    }
    let (ka, kb) = if !c.downstream.is_empty() || !c.judged_from_cache.is_empty() {
        // Once the networks differ, so may the chunks that follow.
        (Vec::<String>::new(), Vec::<String>::new())
    } else if c.safety_refusals.is_empty() {
        (a.chunk_kinds(), b.chunk_kinds())
    } else {
        // The refused vote's rejection stands where the other run's vote stands.
        let refused: Vec<String> = c
            .safety_refusals
            .iter()
            .filter_map(|line| line.split(':').next().map(str::to_string))
            .collect();
        (without(a, &refused), without(b, &refused))
    };
    c.chunk_order_agrees = ka == kb;
    if !c.chunk_order_agrees {
        c.differences.push(format!(
            "chunk order: {} [{}] | {} [{}]",
            a.subject,
            join(&a.chunks()),
            b.subject,
            join(&b.chunks())
        ));
    }
    for (i, ((ea, _), (eb, _))) in a.steps.iter().zip(&b.steps).enumerate() {
        if ea != eb {
            c.differences
                .push(format!("step {}: errors {ea:?} | {eb:?}", i + 1));
        }
    }
    c
}

/// The kinds of `run`'s chunks in order, leaving out its votes about the blocks `refused`.
fn without(run: &Run, refused: &[String]) -> Vec<String> {
    run.chunks()
        .iter()
        .filter(|o| !(o.is_vote() && o.block().is_some_and(|b| refused.iter().any(|r| r == b))))
        .map(Out::kind)
        .collect()
}

/// Whether both rejected the block, the second only because it could not reach the node
/// (`ConnectivityIssues`) and the first for another reason.
fn rejected_from_cache(ours: &[Out], theirs: &[Out]) -> bool {
    let connectivity =
        |o: &Out| matches!(o, Out::Rejected(_, code, _) if code.starts_with("ConnectivityIssues"));
    let rejection = |o: &Out| matches!(o, Out::Rejected(..));
    !ours.is_empty()
        && !theirs.is_empty()
        && ours.iter().all(|o| rejection(o) && !connectivity(o))
        && theirs.iter().all(connectivity)
}

/// Whether `ours` answered `label` with the rejection its own-vote rule gives a block whose
/// sibling it pre-committed or signed (`SortitionViewMismatch`, reason
/// `SortitionViewMismatch`) where `theirs` pre-committed or signed it, both having voted
/// for a sibling before.
fn refused_for_a_sibling(ours: &Run, theirs: &Run, label: &str) -> bool {
    let mismatch = "SortitionViewMismatch".to_string();
    let ours_refused = ours.votes_about(label).iter().any(
        |o| matches!(o, Out::Rejected(_, code, reason) if *code == mismatch && *reason == mismatch),
    );
    let theirs_voted_for = theirs
        .votes_about(label)
        .iter()
        .any(|o| matches!(o, Out::PreCommit(_) | Out::Accepted(_)));
    let Some(position) = ours.positions.get(label) else {
        return false;
    };
    let favoured_sibling = |run: &Run| {
        run.positions.iter().any(|(other, at)| {
            other != label
                && at == position
                && run
                    .votes_about(other)
                    .iter()
                    .any(|o| matches!(o, Out::PreCommit(_) | Out::Accepted(_)))
        })
    };
    ours_refused && theirs_voted_for && favoured_sibling(ours) && favoured_sibling(theirs)
}

/// The outputs, comma-separated.
pub fn join(outs: &[Out]) -> String {
    outs.iter()
        .map(|o| o.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
