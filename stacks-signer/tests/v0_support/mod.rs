//! The world of the v0 end-to-end scenarios (v0-logic §8): a mock node, the signer under test
//! ("S0": a real v0 signer with its event receiver on loopback and a SQLite file) and puppet
//! peers P1…P4 whose votes the test writes, plus the accessors the scenarios assert with.
//!
//! Set `V0_TEST_LOG=1` to see S0's log on stderr.

#![allow(dead_code)]

use std::cell::RefCell;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use libsigner::chain::{
    Hash160, NakamotoBlock, Sha512Trunc256Sum, StacksPrivateKey, StacksPublicKey,
};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{BlockResponse, SignerMessage};
use stacks_signer::config::GlobalConfig;
use stacks_signer::devnet::{
    Activity, ActivityEntry, BlockKind, BurnBlock, MockNode, MockNodeConfig, ObserverSpec,
    Proposal, ProposeOptions, RunningMockNode, SignerSpec,
};
use stacks_signer::logging::{discard, stderr_logger, LogSettings};
use stacks_signer::signerdb::{BlockInfo, OwnVoteRecord, SignerDb};
use stacks_signer::v0::Signer;
use stacks_signer::{SignerResult, SpawnedSigner};

/// How long any single wait of a scenario may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// The §8.1 timeouts of the signer under test.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// `block_proposal_timeout_ms`.
    pub block_proposal_ms: u64,
    /// `block_proposal_validation_timeout_ms`.
    pub validation_ms: u64,
    /// `tenure_last_block_proposal_timeout_secs`.
    pub tenure_last_block_secs: u64,
    /// `tenure_idle_timeout_secs`.
    pub tenure_idle_secs: u64,
    /// `read_count_idle_timeout_secs`.
    pub read_count_idle_secs: u64,
    /// `proposal_wait_for_parent_time_secs`.
    pub wait_for_parent_secs: u64,
    /// `capitulate_miner_view_timeout_secs`.
    pub capitulate_secs: u64,
    /// `first_proposal_burn_block_timing_secs`.
    pub first_proposal_secs: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            block_proposal_ms: 30_000,
            validation_ms: 3_000,
            tenure_last_block_secs: 3,
            tenure_idle_secs: 4,
            read_count_idle_secs: 2,
            wait_for_parent_secs: 2,
            capitulate_secs: 2,
            first_proposal_secs: 10,
        }
    }
}

/// What a world is made of.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    /// S0's weight.
    pub s0_weight: u32,
    /// The puppets' weights (P1, P2, …).
    pub puppet_weights: Vec<u32>,
    /// S0's timeouts.
    pub timeouts: Timeouts,
    /// S0 runs dry (`dry_run = true`) and is left out of the reward set.
    pub dry_run: bool,
    /// Miners of the mock (default two).
    pub miners: usize,
    /// More lines of S0's config file (e.g. `event_allowed_sources = [...]`).
    pub extra_config: String,
}

impl WorldConfig {
    /// S0 alone with weight 1 ("Solo").
    pub fn solo() -> Self {
        Self {
            s0_weight: 1,
            puppet_weights: vec![],
            timeouts: Timeouts::default(),
            dry_run: false,
            miners: 2,
            extra_config: String::new(),
        }
    }

    /// S0 and P1…P4, weight 10 each (the baseline world B).
    pub fn baseline() -> Self {
        Self {
            s0_weight: 10,
            puppet_weights: vec![10; 4],
            ..Self::solo()
        }
    }
}

/// The signer under test's key.
pub fn s0_key() -> StacksPrivateKey {
    StacksPrivateKey::from_seed(b"v0 scenario signer S0")
}

/// Puppet `i`'s key (1-based, as P1…P4).
pub fn puppet_key(i: usize) -> StacksPrivateKey {
    StacksPrivateKey::from_seed(format!("v0 scenario puppet P{i}").as_bytes())
}

/// A running scenario world.
pub struct World {
    /// The mock node.
    pub node: RunningMockNode,
    /// S0.
    pub signer: Option<SpawnedSigner<Signer, SignerMessage>>,
    /// S0's signer id in the reward set (absent for a dry-run S0).
    pub s0_id: Option<u32>,
    /// Puppets' signer ids, P1 first.
    pub puppets: Vec<u32>,
    /// The writer the node records for S0's chunks.
    pub s0_writer: Hash160,
    /// The reward cycle of the scenario.
    pub cycle: u64,
    activity: Receiver<ActivityEntry>,
    seen: RefCell<Vec<ActivityEntry>>,
    db_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn config_text(node: &RunningMockNode, db: &std::path::Path, config: &WorldConfig) -> String {
    let t = &config.timeouts;
    format!(
        "stacks_private_key = \"{key}\"\nnode_host = \"{host}\"\nendpoint = \"127.0.0.1:0\"\n\
         network = \"testnet\"\nauth_password = \"12345\"\ndb_path = \"{db}\"\n\
         event_timeout_ms = 500\nblock_proposal_timeout_ms = {bp}\n\
         block_proposal_validation_timeout_ms = {val}\n\
         tenure_last_block_proposal_timeout_secs = {tlb}\ntenure_idle_timeout_secs = {idle}\n\
         read_count_idle_timeout_secs = {rc}\nproposal_wait_for_parent_time_secs = {wfp}\n\
         capitulate_miner_view_timeout_secs = {cap}\nfirst_proposal_burn_block_timing_secs = {fp}\n\
         dry_run = {dry}\n{extra}\n",
        key = libsigner::chain::hex::to_hex(&s0_key().to_bytes()),
        host = node.node_host(),
        db = db.display(),
        bp = t.block_proposal_ms,
        val = t.validation_ms,
        tlb = t.tenure_last_block_secs,
        idle = t.tenure_idle_secs,
        rc = t.read_count_idle_secs,
        wfp = t.wait_for_parent_secs,
        cap = t.capitulate_secs,
        fp = t.first_proposal_secs,
        dry = config.dry_run,
        extra = config.extra_config,
    )
}

impl World {
    /// A node with S0 and the puppets of `config`, S0 started and registered; nothing mined
    /// beyond the node's genesis.
    pub fn start(config: &WorldConfig) -> World {
        Self::start_logged(config, None)
    }

    /// [`World::start`] with S0 logging to `logger` (e.g. a capture a scenario reads back);
    /// `None`: the default (stderr with `V0_TEST_LOG=1`, else nothing).
    pub fn start_logged(config: &WorldConfig, logger: Option<slog::Logger>) -> World {
        let mut signers = Vec::new();
        if !config.dry_run {
            signers.push(SignerSpec::external(
                StacksPublicKey::from_private(&s0_key()),
                config.s0_weight,
            ));
        }
        for (i, weight) in config.puppet_weights.iter().enumerate() {
            signers.push(SignerSpec::puppet(puppet_key(i + 1), *weight));
        }
        let mut node_config = MockNodeConfig {
            signers,
            ..MockNodeConfig::default()
        };
        node_config.miners = (0..config.miners)
            .map(|i| StacksPrivateKey::from_seed(format!("v0 scenario miner M{i}").as_bytes()))
            .collect();
        let node = MockNode::start(node_config).expect("the mock node starts");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db_path = dir.path().join("s0.sqlite");
        let (global, _) = GlobalConfig::load_from_str(&config_text(&node, &db_path, config))
            .expect("the scenario config loads");
        let logger = if let Some(logger) = logger {
            logger
        } else if std::env::var("V0_TEST_LOG").as_deref() == Ok("1") {
            stderr_logger(LogSettings {
                json: false,
                level: slog::Level::Debug,
            })
        } else {
            discard()
        };
        let signer: SpawnedSigner<Signer, SignerMessage> =
            SpawnedSigner::new(global, logger).expect("S0 starts");
        node.add_observer(ObserverSpec::signer(signer.local_addr().to_string()));
        let activity = node.subscribe();
        let s0_id = (!config.dry_run)
            .then(|| node.signer_index(&StacksPublicKey::from_private(&s0_key())))
            .flatten();
        let puppets = (1..=config.puppet_weights.len())
            .map(|i| {
                node.signer_index(&StacksPublicKey::from_private(&puppet_key(i)))
                    .expect("puppets are in the reward set")
            })
            .collect();
        let cycle = node.with_state(|s| s.current_cycle());
        let world = World {
            node,
            signer: Some(signer),
            s0_id,
            puppets,
            s0_writer: Hash160::from_node_public_key(&StacksPublicKey::from_private(&s0_key())),
            cycle,
            activity,
            seen: RefCell::new(Vec::new()),
            db_path,
            _dir: dir,
        };
        world.settle();
        world
    }

    /// The baseline world B of §8.1: S0 and P1…P4 (weight 10 each); a tenure T1 won by miner
    /// 0 whose tenure-start block S0 validated, pre-committed and signed with the puppets,
    /// processed (NewBlock delivered); then the burn block of T2, won by miner 1. Returns the
    /// world, T1's block and T2's burn block.
    pub fn baseline() -> (World, NakamotoBlock, BurnBlock) {
        Self::baseline_with(WorldConfig::baseline())
    }

    /// [`World::baseline`] with another configuration (timeouts, weights).
    pub fn baseline_with(config: WorldConfig) -> (World, NakamotoBlock, BurnBlock) {
        Self::baseline_logged(config, None)
    }

    /// [`World::baseline_with`] with S0 logging to `logger` (see [`World::start_logged`]).
    pub fn baseline_logged(
        config: WorldConfig,
        logger: Option<slog::Logger>,
    ) -> (World, NakamotoBlock, BurnBlock) {
        let world = World::start_logged(&config, logger);
        world.node.set_puppet_autopilot(true);
        world
            .node
            .mine_burn_block(Some(0))
            .expect("T1's burn block");
        world.settle();
        let b10 = world.propose(BlockKind::TenureStart);
        world
            .node
            .wait_for_block(&b10.signer_signature_hash, WAIT)
            .expect("T1's block is signed and processed");
        // S0 has signed T1's block (§8.1) and its own validation of it is over: nothing about
        // the setup comes out of S0 during a scenario, and S0 judged T1's block while T1 was
        // the node's current sortition.
        world.wait_for("the node's answer to S0's validation of T1's block", |w| {
            w.activity()
                .iter()
                .any(|entry| {
                    matches!(&entry.activity, Activity::ValidationResult(response)
                        if *response.signer_signature_hash() == b10.signer_signature_hash)
                })
                .then_some(())
        });
        world.settle();
        world.node.set_puppet_autopilot(false);
        let t2 = world
            .node
            .mine_burn_block(Some(1))
            .expect("T2's burn block");
        world.settle();
        (world, b10.block, t2)
    }

    /// Proposes a block of `kind` as the current miner.
    pub fn propose(&self, kind: BlockKind) -> Proposal {
        self.node
            .propose_block(&ProposeOptions {
                kind: Some(kind),
                ..ProposeOptions::default()
            })
            .expect("the miner proposes")
    }

    /// Proposes with options.
    pub fn propose_with(&self, options: ProposeOptions) -> Proposal {
        self.node
            .propose_block(&options)
            .expect("the miner proposes")
    }

    /// Waits until S0 has handled every event the node sent so far (a status check goes
    /// through the same queue and comes back once everything before it was processed).
    pub fn settle(&self) {
        self.status();
    }

    /// [`World::settle`], returning S0's answer to the status check.
    pub fn status(&self) -> stacks_signer::StateInfo {
        let signer = self.signer.as_ref().expect("S0 runs");
        while signer.results().try_recv().is_ok() {}
        assert!(
            self.node.wait_events_delivered(WAIT),
            "the node could not deliver its events to S0"
        );
        self.node.send_status_check();
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .expect("S0 answered the status check in time");
            match signer.results().recv_timeout(left) {
                Ok(SignerResult::StatusCheck(info)) => {
                    self.collect();
                    return info;
                }
                Ok(_) => continue,
                Err(e) => panic!("S0 did not answer the status check: {e}"),
            }
        }
    }

    /// Waits until S0's canonical tip (its highest globally accepted block) is `hash`.
    pub fn wait_for_canonical_tip(&self, hash: &Sha512Trunc256Sum) {
        let deadline = Instant::now() + WAIT;
        loop {
            let info = self.status();
            let tip = info
                .signer_canonical_tips
                .iter()
                .filter_map(|(_, tip)| tip.as_ref())
                .any(|tip| tip.signer_signature_hash() == *hash);
            if tip {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "S0 never saw block {hash} globally accepted"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Moves everything the node did so far into the scenario's log.
    pub fn collect(&self) {
        self.seen.borrow_mut().extend(self.activity.try_iter());
    }

    /// Waits until `found` returns something over the activity so far.
    pub fn wait_for<T>(&self, what: &str, found: impl Fn(&World) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            self.collect();
            if let Some(value) = found(self) {
                return value;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; S0 wrote: {:#?}",
                    self.s0_messages()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the node did so far.
    pub fn activity(&self) -> Vec<ActivityEntry> {
        self.collect();
        self.seen.borrow().clone()
    }

    /// The messages S0 wrote (and the node stored), oldest first.
    pub fn s0_messages(&self) -> Vec<SignerMessage> {
        self.collect();
        self.seen
            .borrow()
            .iter()
            .filter_map(|entry| match &entry.activity {
                Activity::ChunkWrite {
                    writer: Some(writer),
                    data,
                    accepted: true,
                    contract,
                    ..
                } if *writer == self.s0_writer && contract.starts_with("signers-") => {
                    SignerMessage::consensus_deserialize(&mut data.as_slice()).ok()
                }
                _ => None,
            })
            .collect()
    }

    /// S0's block responses and pre-commits about `hash`, in order, as short labels:
    /// `"PreCommit"`, `"Accepted"`, `"Rejected"`.
    pub fn s0_votes(&self, hash: &Sha512Trunc256Sum) -> Vec<&'static str> {
        self.s0_messages()
            .iter()
            .filter_map(|message| match message {
                SignerMessage::BlockPreCommit(h) if h == hash => Some("PreCommit"),
                SignerMessage::BlockResponse(BlockResponse::Accepted(a))
                    if a.signer_signature_hash == *hash =>
                {
                    Some("Accepted")
                }
                SignerMessage::BlockResponse(BlockResponse::Rejected(r))
                    if r.signer_signature_hash == *hash =>
                {
                    Some("Rejected")
                }
                _ => None,
            })
            .collect()
    }

    /// S0's block responses about `hash`, in order.
    pub fn s0_responses(&self, hash: &Sha512Trunc256Sum) -> Vec<BlockResponse> {
        self.s0_messages()
            .into_iter()
            .filter_map(|message| match message {
                SignerMessage::BlockResponse(response)
                    if response.get_signer_signature_hash() == hash =>
                {
                    Some(response)
                }
                _ => None,
            })
            .collect()
    }

    /// S0's state-machine updates, in order.
    pub fn s0_state_updates(&self) -> Vec<libsigner::v0::messages::StateMachineUpdate> {
        self.s0_messages()
            .into_iter()
            .filter_map(|message| match message {
                SignerMessage::StateMachineUpdate(update) => Some(update),
                _ => None,
            })
            .collect()
    }

    /// How many validation requests for `hash` the node received.
    pub fn validation_requests(&self, hash: &Sha512Trunc256Sum) -> usize {
        self.activity()
            .iter()
            .filter(|entry| {
                matches!(&entry.activity, Activity::ValidationRequested {
                    signer_signature_hash: Some(h), ..
                } if h == hash)
            })
            .count()
    }

    /// How many uploads of `block` the node received (`/v3/blocks/upload`).
    pub fn uploads(&self, block: &NakamotoBlock) -> usize {
        let id = block.block_id();
        self.activity()
            .iter()
            .filter(|entry| {
                matches!(&entry.activity, Activity::BlockUploaded { block_id: Some(b), .. } if *b == id)
            })
            .count()
    }

    /// The order in which S0's chunks about `hash` and the uploads of `block` happened:
    /// `"PreCommit"`, `"Accepted"`, `"Rejected"`, `"Upload"`.
    pub fn s0_timeline(&self, block: &NakamotoBlock) -> Vec<&'static str> {
        let hash = block.header.signer_signature_hash();
        let id = block.block_id();
        self.activity()
            .iter()
            .filter_map(|entry| match &entry.activity {
                Activity::BlockUploaded {
                    block_id: Some(b), ..
                } if *b == id => Some("Upload"),
                Activity::ChunkWrite {
                    writer: Some(writer),
                    data,
                    accepted: true,
                    ..
                } if *writer == self.s0_writer => {
                    match SignerMessage::consensus_deserialize(&mut data.as_slice()).ok()? {
                        SignerMessage::BlockPreCommit(h) if h == hash => Some("PreCommit"),
                        SignerMessage::BlockResponse(BlockResponse::Accepted(a))
                            if a.signer_signature_hash == hash =>
                        {
                            Some("Accepted")
                        }
                        SignerMessage::BlockResponse(BlockResponse::Rejected(r))
                            if r.signer_signature_hash == hash =>
                        {
                            Some("Rejected")
                        }
                        _ => None,
                    }
                }
                _ => None,
            })
            .collect()
    }

    /// P`i`'s signer id (1-based).
    pub fn p(&self, i: usize) -> u32 {
        self.puppets[i - 1]
    }

    /// S0's record of `hash` in its database (opened read-only beside the running signer is
    /// impossible: the file is locked), through a second handle after stopping S0.
    pub fn stop_signer(&mut self) {
        if let Some(signer) = self.signer.take() {
            signer.stop();
        }
    }

    /// Stops S0 and reads its database: the block rows and its own-vote record.
    pub fn s0_database(&mut self) -> (SignerDb, Vec<OwnVoteRecord>) {
        self.stop_signer();
        let db = SignerDb::open(&self.db_path).expect("S0's database opens");
        let votes = db.get_own_votes().expect("own votes read");
        (db, votes)
    }

    /// S0's row of `hash` (stops S0).
    pub fn s0_block(&mut self, hash: &Sha512Trunc256Sum) -> Option<BlockInfo> {
        let (db, _) = self.s0_database();
        db.block_lookup(hash).expect("lookup works")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop_signer();
    }
}
