//! An active/standby pair (or more) of real `stacks-signer run` processes on one signer key,
//! sharing a throwaway PostgreSQL cluster, against the in-process mock node: their configs,
//! their logs (a file each, whose tail is printed when a test fails), the lease and the
//! shared vote record as the database holds them, and the key's chunks as the node records
//! them. Tests using it run one at a time (a lease of a few hundred milliseconds is about
//! scheduling, and the machine is small).

#![allow(dead_code)]

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use libsigner::chain::{Hash160, Sha512Trunc256Sum, StacksPrivateKey, StacksPublicKey};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{BlockResponse, SignerMessage};
use stacks_signer::devnet::{
    Activity, ActivityEntry, BlockKind, BlockOverrides, MockNode, MockNodeConfig, ObserverSpec,
    PoxConstants, Proposal, ProposeOptions, RunningMockNode, SignerSpec,
};
use stacks_signer::ha::cluster::TempPostgres;
use stacks_signer::ha::{HaConfig, SharedStore};
use stacks_signer::invariant::{check_votes, InvariantReport, SignerVotes, VoteKind};
use stacks_signer::signerdb::OwnVoteRecord;

/// The sibling window the instances run with (`tenure_last_block_proposal_timeout_secs`),
/// and the one the invariant is checked with: longer than any test, so no sibling vote is
/// ever allowed.
pub const WINDOW: Duration = Duration::from_secs(30);

/// How long a wait may take before the test fails instead of hanging (never a measure).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// What the lease keeper logs when it takes the lease.
pub const NOW_HOLDS: &str = "HA: this instance now holds the signing lease";
/// What it logs when another instance holds it.
pub const STANDING_BY: &str = "HA: standing by:";
/// What it logs when it held the lease and finds another instance holding it.
pub const LOST: &str = "HA: lost the signing lease";
/// What it logs when the shared database does not answer.
pub const CANNOT_REACH: &str = "HA: cannot reach the shared database";
/// What the v0 signer logs when its own-vote record refuses a vote (the refusal follows).
pub const REFUSED: &str = "Not publishing a vote";
/// What the v0 signer logs when it publishes a block response.
pub const BROADCASTING: &str = "Broadcasting block response";

/// One test at a time (see the module documentation).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The seeds of the three other signers' keys.
const PEERS: [&str; 3] = ["x", "y", "z"];

/// The other signers of the reward set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peers {
    /// Simulated by the node: they vote on every proposal at once and carry the threshold
    /// (three of four, 75 %) without the key under test.
    Simulated,
    /// Puppets: they vote only when the test says so (or on autopilot).
    Puppets,
}

/// The lease settings of the instances.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    /// `ha_lease_ms`.
    pub lease_ms: u64,
    /// `ha_lease_renew_ms`.
    pub renew_ms: u64,
}

/// Short leases, so that a takeover takes well under a second.
pub const SHORT_LEASE: Lease = Lease {
    lease_ms: 600,
    renew_ms: 200,
};

/// Reward cycles of 2,000 burn blocks: no test crosses a cycle boundary.
fn long_cycles() -> PoxConstants {
    PoxConstants {
        first_burn_height: 100,
        reward_cycle_length: 2000,
        prepare_length: 5,
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Polls `ok` every 50 ms until it holds; `false` after `timeout`.
pub fn poll(timeout: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One `stacks-signer run` process of the pair.
pub struct Instance {
    /// Its `ha_instance_name`.
    pub name: String,
    /// Its config file.
    pub config: PathBuf,
    /// Its stdout and stderr.
    pub log_path: PathBuf,
    /// Its event endpoint (registered as an observer of the node).
    pub endpoint: String,
    child: Option<Child>,
    /// Whether it is stopped (SIGSTOP).
    paused: bool,
}

impl Instance {
    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("the instance's log file opens");
        let err = log.try_clone().expect("the log file handle clones");
        let child = Command::new(env!("CARGO_BIN_EXE_stacks-signer"))
            .args(["run", "--config"])
            .arg(&self.config)
            .env_remove("STACKS_LOG_JSON")
            .env_remove("STACKS_LOG_DEBUG")
            .env_remove("STACKS_LOG_TRACE")
            .env_remove("STACKS_LOG_CRITONLY")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("the signer binary starts");
        self.child = Some(child);
    }

    /// The process id (while it runs).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the instance runs").id()
    }

    /// Whether the process is still running (or stopped), not exited.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL, and reaps the process.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL delivered");
            child.wait().expect("the killed instance is reaped");
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {} failed", self.pid());
    }

    /// SIGSTOP: the process stops where it is, holding whatever it held.
    pub fn pause(&mut self) {
        self.signal("-STOP");
        self.paused = true;
    }

    /// SIGCONT.
    pub fn resume(&mut self) {
        self.signal("-CONT");
        self.paused = false;
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The log's length in bytes (a mark for [`Instance::log_since`]).
    pub fn log_mark(&self) -> usize {
        self.log().len()
    }

    /// What the log gained since `mark`.
    pub fn log_since(&self, mark: usize) -> String {
        let log = self.log();
        log.get(mark..).unwrap_or_default().to_string()
    }

    /// The last `n` lines of the log.
    pub fn tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Now, in ms since the Unix epoch (the clock of the node's activity record).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Proposals the [`Miner`] made: when, and which block.
type Proposed = Arc<Mutex<Vec<(Instant, Sha512Trunc256Sum)>>>;

/// A thread that mines at a miner's pace: a burn block, a tenure-start block and three more,
/// each proposed once the previous one was processed (or after 5 s), 250 ms apart.
pub struct Miner {
    stop: Arc<AtomicBool>,
    proposed: Proposed,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Miner {
    /// Starts mining on `pair`'s node.
    pub fn start(pair: &Pair) -> Miner {
        let stop = Arc::new(AtomicBool::new(false));
        let proposed = Proposed::default();
        let handle = {
            let (node, stop, proposed) = (pair.node.clone(), stop.clone(), proposed.clone());
            let first_winner = pair.tenures;
            std::thread::spawn(move || mine(&node, &stop, &proposed, first_winner))
        };
        Miner {
            stop,
            proposed,
            handle: Some(handle),
        }
    }

    /// The blocks proposed after `since`.
    pub fn proposed_since(&self, since: Instant) -> Vec<Sha512Trunc256Sum> {
        self.proposed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(at, _)| *at > since)
            .map(|(_, hash)| *hash)
            .collect()
    }

    /// Stops the thread; every block it proposed.
    pub fn stop(mut self) -> Vec<Sha512Trunc256Sum> {
        self.halt();
        self.proposed_since(Instant::now() - Duration::from_secs(3600))
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Miner {
    fn drop(&mut self) {
        self.halt();
    }
}

fn mine(node: &RunningMockNode, stop: &AtomicBool, proposed: &Proposed, first_winner: usize) {
    let mut tenure = first_winner;
    while !stop.load(Ordering::SeqCst) {
        if node.mine_burn_block(Some(tenure % 2)).is_err() {
            return;
        }
        tenure += 1;
        for b in 0..4 {
            let kind = if b == 0 {
                BlockKind::TenureStart
            } else {
                BlockKind::Continue
            };
            let Ok(proposal) = node.propose_block(&ProposeOptions {
                kind: Some(kind),
                ..ProposeOptions::default()
            }) else {
                return;
            };
            proposed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((Instant::now(), proposal.signer_signature_hash));
            let _ = node.wait_for_block(&proposal.signer_signature_hash, Duration::from_secs(5));
            for _ in 0..5 {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// A vote of the key, as the node recorded the chunk (stored or refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkVote {
    /// The block.
    pub hash: Sha512Trunc256Sum,
    /// What kind of vote.
    pub kind: VoteKind,
    /// Whether the node stored it.
    pub stored: bool,
    /// The contract and slot version written.
    pub contract: String,
    /// The slot version.
    pub slot_version: u32,
}

/// A row of `ha_own_votes`, with the instance that last wrote it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SharedRow {
    /// The block's signer signature hash, hex.
    pub hash: String,
    /// When the key pre-committed to it (seconds), if it did.
    pub pre_committed_at: Option<i64>,
    /// When it signed it.
    pub signed_at: Option<i64>,
    /// When it rejected it.
    pub rejected_at: Option<i64>,
    /// `recorded_by`.
    pub recorded_by: String,
}

/// The lease row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// The holder's instance name.
    pub holder: String,
    /// The term.
    pub term: i64,
    /// Whether it has not expired (by the database's clock).
    pub live: bool,
}

/// Where each instance keeps its own signer database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Views {
    /// A SQLite file per instance.
    Sqlite,
    /// A schema per instance (`view_<name>`) of the shared PostgreSQL database.
    Postgres,
}

/// The `db_path` of instance `name`'s signer database in its own schema of `db_url`'s
/// database.
pub fn view_url(db_url: &str, name: &str) -> String {
    format!("{db_url}?options=-csearch_path%3Dview_{name}")
}

/// The mock node, the throwaway cluster, and the instances of one key.
pub struct Pair {
    /// The instances (dropped, so killed, first).
    pub instances: Vec<Instance>,
    /// The mock node.
    pub node: Arc<RunningMockNode>,
    /// The node's activity not read yet.
    activity: Receiver<ActivityEntry>,
    /// The node's activity read so far.
    pub entries: Vec<ActivityEntry>,
    /// The key under test.
    pub key: StacksPrivateKey,
    /// The writer the node records for the key's chunks.
    pub writer: Hash160,
    /// The shared database's URL.
    pub db_url: String,
    /// A connection of the test's own to the shared database.
    client: Option<postgres::Client>,
    /// The throwaway cluster.
    pub pg: TempPostgres,
    tenures: usize,
    /// When this test's turn came (see [`Pair::elapsed`]).
    started: Instant,
    dir: tempfile::TempDir,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl Pair {
    /// Starts a throwaway cluster, the mock node (three simulated signers and the key under
    /// test, weight 1 each: the chain moves on without the key, and the key is in the reward
    /// set), and one instance per name, each with its own endpoint (an observer of the node)
    /// and SQLite database, all on the same `db_url`. Returns once every instance's lease
    /// keeper has said who holds the lease.
    pub fn start(seed: &str, names: &[&str], lease: Lease) -> Pair {
        Pair::start_with(seed, names, lease, Peers::Simulated)
    }

    /// [`Pair::start_with`] puppets for peers: once an instance holds the lease, the
    /// puppets vote on autopilot until the key signs a tenure-start block, then stop (they
    /// vote only when the test says so) and the node's deliveries settle.
    pub fn start_with_idle_puppets(seed: &str, names: &[&str], lease: Lease) -> Pair {
        let mut pair = Pair::start_with(seed, names, lease, Peers::Puppets);
        pair.wait_for_holder(None, 0);
        pair.node.set_puppet_autopilot(true);
        pair.warm_up();
        pair.node.set_puppet_autopilot(false);
        pair.settle();
        pair
    }

    /// [`Pair::start`] with the three other signers of the reward set as `peers`.
    pub fn start_with(seed: &str, names: &[&str], lease: Lease, peers: Peers) -> Pair {
        Pair::start_full(seed, names, lease, peers, Views::Sqlite)
    }

    /// [`Pair::start_with`], each instance's own signer database (`db_path`) where `views`
    /// says.
    pub fn start_full(
        seed: &str,
        names: &[&str],
        lease: Lease,
        peers: Peers,
        views: Views,
    ) -> Pair {
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        let pg = TempPostgres::start().expect("a throwaway PostgreSQL cluster");
        let db_url = pg
            .create_database("signer_ha")
            .expect("the shared database is created");
        let key = StacksPrivateKey::from_seed(seed.as_bytes());
        let public_key = StacksPublicKey::from_private(&key);
        let mut signers: Vec<SignerSpec> = PEERS
            .iter()
            .map(|n| {
                let key = StacksPrivateKey::from_seed(n.as_bytes());
                match peers {
                    Peers::Simulated => SignerSpec::simulated(key, 1),
                    Peers::Puppets => SignerSpec::puppet(key, 1),
                }
            })
            .collect();
        signers.push(SignerSpec::external(public_key, 1));
        let ports: Vec<u16> = names.iter().map(|_| free_port()).collect();
        let mut config = MockNodeConfig {
            signers,
            pox: long_cycles(),
            start_burn_height: long_cycles().cycle_start(12) + 44,
            ..MockNodeConfig::default()
        };
        for port in &ports {
            config
                .observers
                .push(ObserverSpec::signer(format!("127.0.0.1:{port}")));
        }
        let node = Arc::new(MockNode::start(config).expect("the mock node starts"));
        let activity = node.subscribe();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut instances = Vec::new();
        for (name, port) in names.iter().zip(&ports) {
            let config = dir.path().join(format!("{name}.toml"));
            let text = format!(
                "stacks_private_key = \"{}\"\nnode_host = \"{}\"\nendpoint = \"127.0.0.1:{port}\"\n\
                 network = \"testnet\"\nauth_password = \"12345\"\ndb_path = \"{}\"\n\
                 event_timeout_ms = 200\ntenure_last_block_proposal_timeout_secs = {}\n\
                 block_proposal_validation_timeout_ms = 5000\n\
                 db_url = \"{db_url}\"\nha_lease_ms = {}\nha_lease_renew_ms = {}\n\
                 ha_instance_name = \"{name}\"\n",
                libsigner::chain::hex::to_hex(&key.to_bytes()),
                node.node_host(),
                match views {
                    Views::Sqlite => dir.path().join(format!("{name}.sqlite")).display().to_string(),
                    Views::Postgres => view_url(&db_url, name),
                },
                WINDOW.as_secs(),
                lease.lease_ms,
                lease.renew_ms,
            );
            std::fs::write(&config, text).expect("config written");
            let mut instance = Instance {
                name: name.to_string(),
                config,
                log_path: dir.path().join(format!("{name}.log")),
                endpoint: format!("127.0.0.1:{port}"),
                child: None,
                paused: false,
            };
            instance.spawn();
            instances.push(instance);
        }
        let pair = Pair {
            instances,
            node,
            activity,
            entries: Vec::new(),
            writer: Hash160::from_node_public_key(&public_key),
            key,
            db_url,
            client: None,
            pg,
            tenures: 0,
            started,
            dir,
            _one_at_a_time: guard,
        };
        for instance in &pair.instances {
            assert!(
                poll(PATIENCE, || {
                    let log = instance.log();
                    log.contains(NOW_HOLDS) || log.contains(STANDING_BY)
                }),
                "instance {} never said who holds the lease",
                instance.name
            );
        }
        pair
    }

    /// How long the test has run, from its turn (not counting the wait for other tests).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The instance named `name`.
    pub fn instance(&mut self, name: &str) -> &mut Instance {
        self.instances
            .iter_mut()
            .find(|i| i.name == name)
            .unwrap_or_else(|| panic!("no instance {name}"))
    }

    /// The name of the instance other than `name` (a pair has two).
    pub fn other(&self, name: &str) -> String {
        self.instances
            .iter()
            .find(|i| i.name != name)
            .map(|i| i.name.clone())
            .expect("a second instance")
    }

    fn client(&mut self) -> Option<&mut postgres::Client> {
        if self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.client = None;
        }
        if self.client.is_none() {
            let mut config: postgres::Config = self.db_url.parse().expect("the URL parses");
            config.connect_timeout(Duration::from_secs(5));
            self.client = config.connect(postgres::NoTls).ok();
        }
        self.client.as_mut()
    }

    /// Runs `sql` on the shared database (a test's own change to it).
    pub fn execute_sql(&mut self, sql: &str) {
        self.client()
            .expect("the shared database answers")
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The lease row, if the database answers and has one.
    pub fn lease(&mut self) -> Option<LeaseRow> {
        let row = self
            .client()?
            .query_opt(
                "SELECT holder, term, expires_at > clock_timestamp() FROM ha_lease",
                &[],
            )
            .ok()??;
        Some(LeaseRow {
            holder: row.get(0),
            term: row.get(1),
            live: row.get(2),
        })
    }

    /// Waits until some instance holds a live lease (other than `not`, with a term above
    /// `after_term`); its row.
    pub fn wait_for_holder(&mut self, not: Option<&str>, after_term: i64) -> LeaseRow {
        let mut found = None;
        let held = poll(PATIENCE, || {
            found = self.lease().filter(|row| {
                row.live && Some(row.holder.as_str()) != not && row.term > after_term
            });
            found.is_some()
        });
        assert!(
            held,
            "no instance (other than {not:?}) took the lease after term {after_term}; last row: {:?}",
            self.lease()
        );
        found.expect("a holder")
    }

    /// The key's votes in the shared record, read through a [`SharedStore`] of the test's
    /// own (which never takes the lease).
    pub fn shared_votes(&self) -> Vec<OwnVoteRecord> {
        let config = HaConfig {
            db_url: self.db_url.clone(),
            lease: Duration::from_millis(600),
            renew: Duration::from_millis(200),
            instance: "test-reader".into(),
        };
        let store = SharedStore::connect(&config, &StacksPublicKey::from_private(&self.key))
            .expect("the test connects to the shared database");
        store.get_own_votes().expect("the shared record reads")
    }

    /// Every `ha_own_votes` row, with who last wrote it.
    pub fn shared_rows(&mut self) -> Vec<SharedRow> {
        let rows = self
            .client()
            .expect("the shared database answers")
            .query(
                "SELECT signer_signature_hash, pre_committed_at, signed_at, rejected_at, \
                 recorded_by FROM ha_own_votes",
                &[],
            )
            .expect("ha_own_votes reads");
        let mut out: Vec<SharedRow> = rows
            .iter()
            .map(|row| SharedRow {
                hash: libsigner::chain::hex::to_hex(row.get::<_, &[u8]>(0)),
                pre_committed_at: row.get(1),
                signed_at: row.get(2),
                rejected_at: row.get(3),
                recorded_by: row.get(4),
            })
            .collect();
        out.sort();
        out
    }

    /// Reads the node's activity that arrived.
    pub fn collect(&mut self) {
        self.entries.extend(self.activity.try_iter());
    }

    /// Reads the node's activity until `done` holds over everything read, or `timeout`
    /// passes; whether it held.
    pub fn collect_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[ActivityEntry]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.collect();
            if done(&self.entries) {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            if let Ok(entry) = self
                .activity
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                self.entries.push(entry);
            }
        }
    }

    /// The key's votes in `entries`, stored or refused, in the node's order.
    pub fn votes_in(&self, entries: &[ActivityEntry]) -> Vec<ChunkVote> {
        VotesOf {
            writer: self.writer,
        }
        .votes(entries)
    }

    /// Whether the node stored a vote of the key of `kind` on `hash`.
    pub fn has_vote(&self, hash: &Sha512Trunc256Sum, kind: VoteKind) -> bool {
        self.votes_in(&self.entries)
            .iter()
            .any(|v| v.stored && v.hash == *hash && v.kind == kind)
    }

    /// Waits until the node stored a vote of the key of `kind` on `hash`; whether it did.
    pub fn wait_for_vote(
        &mut self,
        hash: &Sha512Trunc256Sum,
        kind: VoteKind,
        timeout: Duration,
    ) -> bool {
        let of = VotesOf {
            writer: self.writer,
        };
        self.collect_until(timeout, |entries| {
            of.votes(entries)
                .iter()
                .any(|v| v.stored && v.hash == *hash && v.kind == kind)
        })
    }

    /// Waits until the node stored a vote of the key of `kind` on any of the blocks
    /// `candidates` names (asked again as time passes); whether it did.
    pub fn wait_for_a_vote_on_any(
        &mut self,
        kind: VoteKind,
        timeout: Duration,
        mut candidates: impl FnMut() -> Vec<Sha512Trunc256Sum>,
    ) -> bool {
        let of = VotesOf {
            writer: self.writer,
        };
        self.collect_until(timeout, |entries| {
            let wanted = candidates();
            of.votes(entries)
                .iter()
                .any(|v| v.stored && v.kind == kind && wanted.contains(&v.hash))
        })
    }

    /// How many vote chunks of the key the node stored from `from_ms` to `to_ms` (ms since
    /// the Unix epoch, the node's clock).
    pub fn stored_votes_between(&self, from_ms: u64, to_ms: u64) -> usize {
        let during: Vec<ActivityEntry> = self
            .entries
            .iter()
            .filter(|e| (from_ms..=to_ms).contains(&e.at_ms))
            .cloned()
            .collect();
        self.votes_in(&during).iter().filter(|v| v.stored).count()
    }

    /// The signer ids (slots) of the three other signers in the current reward set.
    pub fn peer_ids(&self) -> Vec<u32> {
        PEERS
            .iter()
            .map(|n| {
                let key = StacksPublicKey::from_private(&StacksPrivateKey::from_seed(n.as_bytes()));
                self.node
                    .signer_index(&key)
                    .expect("a peer in the reward set")
            })
            .collect()
    }

    /// A burn block won by the next miner, then its tenure-start proposal.
    pub fn new_tenure(&mut self) -> Proposal {
        self.node
            .mine_burn_block(Some(self.tenures % 2))
            .expect("a burn block");
        self.tenures += 1;
        self.propose(BlockKind::TenureStart)
    }

    /// The next block, of `kind`.
    pub fn propose(&self, kind: BlockKind) -> Proposal {
        self.node
            .propose_block(&ProposeOptions {
                kind: Some(kind),
                ..ProposeOptions::default()
            })
            .expect("a proposal")
    }

    /// A sibling of `block` (same parent, so same tenure and height; a later timestamp).
    pub fn propose_sibling(&self, block: &Proposal, kind: BlockKind) -> Proposal {
        let overrides = BlockOverrides {
            parent_block_id: Some(block.block.header.parent_block_id),
            timestamp: Some(block.block.header.timestamp + 1),
            ..BlockOverrides::default()
        };
        let sibling = self
            .node
            .propose_block(&ProposeOptions {
                kind: Some(kind),
                overrides,
            })
            .expect("a sibling proposal");
        assert_eq!(
            (
                sibling.block.header.consensus_hash,
                sibling.block.header.chain_length
            ),
            (
                block.block.header.consensus_hash,
                block.block.header.chain_length
            ),
            "the sibling is at the same tenure and height"
        );
        sibling
    }

    /// Starts tenures until the key signs a tenure-start block (the instances know the
    /// reward set and the holder votes); that block.
    pub fn warm_up(&mut self) -> Proposal {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let proposal = self.new_tenure();
            if self.wait_for_vote(
                &proposal.signer_signature_hash,
                VoteKind::Accept,
                Duration::from_secs(8),
            ) {
                return proposal;
            }
            assert!(
                Instant::now() < deadline,
                "the key signed no tenure-start block in {PATIENCE:?}"
            );
        }
    }

    /// Waits until the node processed `proposal`'s block (the simulated signers carry the
    /// threshold); whether it did.
    pub fn wait_processed(&self, proposal: &Proposal) -> bool {
        self.node
            .wait_for_block(&proposal.signer_signature_hash, PATIENCE)
            .is_some()
    }

    /// Waits (10 s at most) until the node has no event queued for a running instance (a
    /// killed or paused one's queue waits), lets the last one be handled, then reads the
    /// activity.
    pub fn settle(&mut self) {
        let live: Vec<String> = self
            .instances
            .iter()
            .filter(|i| i.child.is_some() && !i.paused)
            .map(|i| i.endpoint.clone())
            .collect();
        poll(Duration::from_secs(10), || {
            self.node
                .observer_stats()
                .iter()
                .all(|(endpoint, stats)| !live.contains(endpoint) || stats.pending == 0)
        });
        std::thread::sleep(Duration::from_millis(200));
        self.collect();
    }

    /// The safety invariant over the node's record and the shared record.
    pub fn check_invariant(&mut self) -> InvariantReport {
        self.settle();
        let own_votes = self.shared_votes();
        check_votes(
            &self.entries,
            &[SignerVotes {
                signer: self.writer,
                own_votes,
                kept_from_reward_cycle: None,
            }],
            WINDOW,
        )
    }

    /// Panics, listing the breaches, unless the invariant holds.
    pub fn assert_invariant(&mut self) -> InvariantReport {
        let report = self.check_invariant();
        let breaches: Vec<String> = report.violations.iter().map(|v| v.to_string()).collect();
        assert!(
            report.holds(),
            "the safety invariant does not hold over the node's record and the shared record:\n{}",
            breaches.join("\n")
        );
        report
    }

    /// The key's votes in `entries` (stored or not) that the shared record does not hold
    /// as that kind of vote.
    pub fn unrecorded(&self, entries: &[ActivityEntry]) -> Vec<ChunkVote> {
        let shared = self.shared_votes();
        self.votes_in(entries)
            .into_iter()
            .filter(|vote| {
                !shared.iter().any(|record| {
                    record.signer_signature_hash == vote.hash
                        && match vote.kind {
                            VoteKind::PreCommit => record.pre_committed_at.is_some(),
                            VoteKind::Accept => record.signed_at.is_some(),
                            VoteKind::Reject => record.rejected_at.is_some(),
                        }
                })
            })
            .collect()
    }

    /// Where the instances' files are (kept when `HA_PROCESSES_KEEP=1`).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// The key's votes seen by a writer, without borrowing the [`Pair`].
struct VotesOf {
    writer: Hash160,
}

impl VotesOf {
    fn votes(&self, entries: &[ActivityEntry]) -> Vec<ChunkVote> {
        entries
            .iter()
            .filter_map(|entry| match &entry.activity {
                Activity::ChunkWrite {
                    contract,
                    writer: Some(writer),
                    data,
                    accepted,
                    slot_version,
                    ..
                } if *writer == self.writer && contract.starts_with("signers-") => {
                    vote_of(data, *accepted, contract, *slot_version)
                }
                _ => None,
            })
            .collect()
    }
}

fn vote_of(data: &[u8], stored: bool, contract: &str, slot_version: u32) -> Option<ChunkVote> {
    let message = SignerMessage::consensus_deserialize(&mut &data[..]).ok()?;
    let (hash, kind) = match message {
        SignerMessage::BlockPreCommit(hash) => (hash, VoteKind::PreCommit),
        SignerMessage::BlockResponse(BlockResponse::Accepted(a)) => {
            (a.signer_signature_hash, VoteKind::Accept)
        }
        SignerMessage::BlockResponse(BlockResponse::Rejected(r)) => {
            (r.signer_signature_hash, VoteKind::Reject)
        }
        _ => return None,
    };
    Some(ChunkVote {
        hash,
        kind,
        stored,
        contract: contract.to_string(),
        slot_version,
    })
}

impl Drop for Pair {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for instance in &self.instances {
                eprintln!(
                    "----- last lines of instance {}'s log ({}) -----\n{}",
                    instance.name,
                    instance.log_path.display(),
                    instance.tail(60)
                );
            }
            eprintln!("----- lease row: {:?}", self.lease());
        }
        if std::env::var("HA_PROCESSES_KEEP").as_deref() == Ok("1") {
            let kept = std::mem::replace(
                &mut self.dir,
                tempfile::tempdir().expect("a temporary directory"),
            );
            eprintln!("instance files kept in {}", kept.keep().display());
        }
    }
}
