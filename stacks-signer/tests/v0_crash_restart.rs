//! A `stacks-signer run` process killed with SIGKILL at random moments while the mock node
//! mines (with conflicting siblings proposed now and then), and restarted on the same
//! database each time: the safety invariant holds over the node's record and the signer's
//! own-vote record, and every vote the process published is in its database.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libsigner::chain::{Hash160, StacksPrivateKey, StacksPublicKey};
use stacks_signer::devnet::{
    Activity, ActivityEntry, BlockKind, BlockOverrides, MockNode, MockNodeConfig, ObserverSpec,
    ProposeOptions, RunningMockNode, SignerSpec,
};
use stacks_signer::invariant::{check_votes, SignerVotes};
use stacks_signer::signerdb::SignerDb;

/// The window the signer runs with (`tenure_last_block_proposal_timeout_secs`).
const WINDOW: Duration = Duration::from_secs(3);

/// A small deterministic generator for the kill schedule.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn between_ms(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.next() % (high - low))
    }
}

fn our_key() -> StacksPrivateKey {
    StacksPrivateKey::from_seed(b"crash-restart")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn write_config(dir: &Path, node: &RunningMockNode, port: u16) -> String {
    let path = dir.join("signer.toml");
    let text = format!(
        "stacks_private_key = \"{}\"\nnode_host = \"{}\"\nendpoint = \"127.0.0.1:{port}\"\n\
         network = \"testnet\"\nauth_password = \"12345\"\ndb_path = \"{}\"\n\
         event_timeout_ms = 200\ntenure_last_block_proposal_timeout_secs = {}\n\
         block_proposal_validation_timeout_ms = 5000\n",
        libsigner::chain::hex::to_hex(&our_key().to_bytes()),
        node.node_host(),
        dir.join("signer.sqlite").display(),
        WINDOW.as_secs(),
    );
    std::fs::write(&path, text).expect("config written");
    path.display().to_string()
}

fn start_signer(config: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_stacks-signer"))
        .args(["run", "--config", config])
        .env_remove("STACKS_LOG_JSON")
        .env_remove("STACKS_LOG_DEBUG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the signer binary starts")
}

/// Mines until `stop`, proposing a sibling of every third block right after it.
fn mine(node: &RunningMockNode, stop: &AtomicBool) {
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        if node.mine_burn_block(Some((n % 2) as usize)).is_err() {
            break;
        }
        for b in 0..4u64 {
            n += 1;
            let kind = if b == 0 {
                BlockKind::TenureStart
            } else {
                BlockKind::Continue
            };
            let Ok(first) = node.propose_block(&ProposeOptions {
                kind: Some(kind),
                ..ProposeOptions::default()
            }) else {
                return;
            };
            if n % 3 == 0 {
                let mut overrides = BlockOverrides {
                    parent_block_id: Some(first.block.header.parent_block_id),
                    ..BlockOverrides::default()
                };
                overrides.timestamp = Some(first.block.header.timestamp + 1);
                let _ = node.propose_block(&ProposeOptions {
                    kind: Some(kind),
                    overrides,
                });
            }
            let _ = node.wait_for_block(&first.signer_signature_hash, Duration::from_secs(10));
            // A miner's pace, so that a restarted signer is not buried under a backlog.
            std::thread::sleep(Duration::from_millis(150));
            if stop.load(Ordering::SeqCst) {
                return;
            }
        }
    }
}

fn drain(activity: &Receiver<ActivityEntry>, into: &mut Vec<ActivityEntry>) {
    into.extend(activity.try_iter());
}

/// Collects activity until `writer` writes a chunk (or the deadline passes).
fn wait_for_a_chunk_by(
    activity: &Receiver<ActivityEntry>,
    writer: Hash160,
    into: &mut Vec<ActivityEntry>,
    deadline: Instant,
) {
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(entry) = activity.recv_timeout(left) else {
            return;
        };
        let by_writer = matches!(
            &entry.activity,
            Activity::ChunkWrite { writer: Some(w), contract, .. }
                if *w == writer && contract.starts_with("signers-")
        );
        into.push(entry);
        if by_writer {
            return;
        }
    }
}

#[test]
fn a_signer_killed_thirty_times_never_equivocates_and_loses_no_vote() {
    // Three simulated signers carry the threshold without ours (ceil(0.7 * 4) = 3): the
    // chain moves on while ours is down, and ours votes on what it sees when it is up.
    let mut signers: Vec<SignerSpec> = ["x", "y", "z"]
        .iter()
        .map(|n| SignerSpec::simulated(StacksPrivateKey::from_seed(n.as_bytes()), 1))
        .collect();
    signers.push(SignerSpec::external(
        StacksPublicKey::from_private(&our_key()),
        1,
    ));
    let port = free_port();
    let mut config = MockNodeConfig {
        signers,
        ..MockNodeConfig::default()
    };
    config
        .observers
        .push(ObserverSpec::signer(format!("127.0.0.1:{port}")));
    let node = Arc::new(MockNode::start(config).expect("mock node starts"));
    let activity = node.subscribe();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &node, port);

    let stop = Arc::new(AtomicBool::new(false));
    let miner = {
        let (node, stop) = (node.clone(), stop.clone());
        std::thread::spawn(move || mine(&node, &stop))
    };

    let ours = Hash160::from_node_public_key(&StacksPublicKey::from_private(&our_key()));
    let mut rng = XorShift(0x5eed_1234_abcd_0001);
    let mut entries = Vec::new();
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut signer = start_signer(&config);
    while kills < 30 && Instant::now() < deadline {
        // Kill it while it votes: once it has written a chunk since it started, at a
        // random moment of the next few hundred milliseconds.
        wait_for_a_chunk_by(&activity, ours, &mut entries, deadline);
        std::thread::sleep(rng.between_ms(0, 700));
        signer.kill().expect("SIGKILL delivered");
        signer.wait().expect("the killed signer is reaped");
        kills += 1;
        drain(&activity, &mut entries);
        std::thread::sleep(rng.between_ms(0, 300));
        signer = start_signer(&config);
    }
    // Let the last incarnation vote a little, then stop it the hard way too.
    std::thread::sleep(Duration::from_secs(2));
    signer.kill().expect("SIGKILL delivered");
    signer.wait().expect("reaped");
    stop.store(true, Ordering::SeqCst);
    miner.join().expect("the miner thread ends");
    node.wait_events_delivered(Duration::from_secs(1));
    drain(&activity, &mut entries);
    assert_eq!(kills, 30, "only {kills} kills before the deadline");

    let db = SignerDb::open(dir.path().join("signer.sqlite")).expect("the database reopens");
    let own_votes = db.get_own_votes().expect("own votes read");
    let last_cycle = node.with_state(|state| state.current_cycle());
    let report = check_votes(
        &entries,
        &[SignerVotes {
            signer: ours,
            own_votes,
            // The signer prunes its database at every cycle boundary, keeping the current
            // cycle and the two before it.
            kept_from_reward_cycle: Some(last_cycle.saturating_sub(2)),
        }],
        WINDOW,
    );
    let messages: Vec<String> = report.violations.iter().map(|v| v.to_string()).collect();
    assert!(report.holds(), "{}", messages.join("\n"));
    assert!(
        report.votes_published >= 60,
        "the signer published only {} votes in the run",
        report.votes_published
    );
    println!(
        "{kills} kills, {} votes published, {} equivocations, {} votes lost",
        report.votes_published,
        report.equivocations(),
        report.votes_lost()
    );
}
