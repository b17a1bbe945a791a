//! The run loop against the mock node: a real signer process (event receiver, run loop,
//! SQLite database) learns its reward cycle and slot from the node, configures the next cycle
//! in the prepare phase, crosses the boundary and drops the old cycle's instance.

mod signerdb_support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libsigner::chain::{StacksPrivateKey, StacksPublicKey};
use libsigner::v0::messages::SignerMessage;
use stacks_signer::client::{SignerSlotID, StacksClient};
use stacks_signer::config::{GlobalConfig, SignerConfigMode};
use stacks_signer::devnet::{MockNode, MockNodeConfig, ObserverSpec, RunningMockNode, SignerSpec};
use stacks_signer::logging::discard;
use stacks_signer::runloop::{signer_config_for_cycle, ConfigurationError};
use stacks_signer::signer::RunLoopState;
use stacks_signer::signerdb::{BlockState, SignerDb, SignerDbError};
use stacks_signer::spawned::SpawnError;
use stacks_signer::v0::Signer;
use stacks_signer::{SignerContext, SignerResult, SpawnedSigner, StateInfo};

const TIMEOUT: Duration = Duration::from_secs(60);

type TestSigner = SpawnedSigner<Signer, SignerMessage>;

fn key(name: &str) -> StacksPrivateKey {
    StacksPrivateKey::from_seed(name.as_bytes())
}

fn private_key_hex(key: &StacksPrivateKey) -> String {
    libsigner::chain::hex::to_hex(&key.to_bytes())
}

/// A node whose reward sets hold three simulated signers (enough weight to sign every block
/// without us) and, when `ours` is given, our key as an external signer.
fn start_node(ours: Option<&StacksPrivateKey>) -> RunningMockNode {
    let mut signers: Vec<SignerSpec> = ["a", "b", "c"]
        .iter()
        .map(|name| SignerSpec::simulated(key(name), 1))
        .collect();
    if let Some(ours) = ours {
        signers.push(SignerSpec::external(StacksPublicKey::from_private(ours), 1));
    }
    MockNode::start(MockNodeConfig {
        signers,
        ..MockNodeConfig::default()
    })
    .expect("mock node starts")
}

fn global_config(
    node: &RunningMockNode,
    ours: &StacksPrivateKey,
    db_path: &str,
    dry_run: bool,
) -> GlobalConfig {
    let text = format!(
        "stacks_private_key = \"{}\"\nnode_host = \"{}\"\nendpoint = \"127.0.0.1:0\"\n\
         network = \"testnet\"\nauth_password = \"12345\"\ndb_path = \"{db_path}\"\n\
         event_timeout_ms = 200\ndry_run = {dry_run}\n",
        private_key_hex(ours),
        node.node_host(),
    );
    GlobalConfig::load_from_str(&text)
        .expect("test config loads")
        .0
}

fn spawn_signer(node: &RunningMockNode, config: GlobalConfig) -> TestSigner {
    let signer = TestSigner::new(config, discard()).expect("signer starts");
    node.add_observer(ObserverSpec::signer(signer.local_addr().to_string()));
    signer
}

/// A signer with key `ours` and a database in a fresh directory (kept while the guard lives).
fn spawn_with_fresh_db(
    node: &RunningMockNode,
    ours: &StacksPrivateKey,
) -> (tempfile::TempDir, std::path::PathBuf, TestSigner) {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("signer.sqlite");
    let config = global_config(node, ours, db_path.to_str().unwrap(), false);
    (dir, db_path, spawn_signer(node, config))
}

/// Asks the signer for its status until `done` holds for the answer.
fn wait_for_status(
    signer: &TestSigner,
    what: &str,
    done: impl Fn(&StateInfo) -> bool,
) -> StateInfo {
    let deadline = Instant::now() + TIMEOUT;
    let mut last = None;
    while Instant::now() < deadline {
        status_check(signer.local_addr());
        if let Ok(SignerResult::StatusCheck(info)) =
            signer.results().recv_timeout(Duration::from_secs(5))
        {
            if done(&info) {
                return info;
            }
            last = Some(info);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}; last status: {last:#?}");
}

fn status_check(addr: SocketAddr) {
    let response = ureq::get(&format!("http://{addr}/status")).call();
    assert!(response.is_ok(), "status check failed: {response:?}");
}

fn mine_until(node: &RunningMockNode, burn_height: u64) {
    while node.burn_tip().height < burn_height {
        node.mine_tenures(1, 1, TIMEOUT).expect("tenure mined");
    }
    assert!(node.wait_events_delivered(TIMEOUT));
}

#[test]
fn a_registered_signer_learns_its_cycle_and_runs_an_instance_for_it() {
    let ours = key("ours");
    let node = start_node(Some(&ours));
    let (_dir, db_path, signer) = spawn_with_fresh_db(&node, &ours);

    let info = wait_for_status(&signer, "registration for cycle 12", |info| {
        info.registered_cycles == [12]
    });
    assert_eq!(info.runloop_state, RunLoopState::RegisteredSigners);
    assert_eq!(info.running_signers, vec![12]);
    let cycle = info.reward_cycle_info.expect("reward cycle known");
    assert_eq!(cycle.reward_cycle, 12);
    assert_eq!(cycle.reward_cycle_length, 20);
    assert_eq!(cycle.prepare_phase_block_length, 5);
    assert_eq!(info.pending_proposals_count, 0);

    // The burn blocks the node announces are recorded in the signer's database.
    let tip = node.mine_burn_block(None).expect("burn block mined");
    assert!(node.wait_events_delivered(TIMEOUT));
    wait_for_status(&signer, "the burn block's processing", |_| true);
    signer.stop();
    let db = SignerDb::open(&db_path).unwrap();
    let recorded = db.get_burn_block_by_hash(&tip.hash).unwrap();
    assert_eq!(recorded.block_height, tip.height);
    assert_eq!(recorded.consensus_hash, tip.consensus_hash);
}

#[test]
fn the_signer_configures_the_next_cycle_in_the_prepare_phase_and_drops_the_old_one_after_the_boundary(
) {
    let ours = key("ours");
    let node = start_node(Some(&ours));
    let (_dir, _db_path, signer) = spawn_with_fresh_db(&node, &ours);
    wait_for_status(&signer, "registration for cycle 12", |info| {
        info.registered_cycles == [12]
    });

    // Cycle 12 spans burn heights 340..360; its last five blocks are cycle 13's prepare
    // phase, and the node computes cycle 13's set once a block is processed at 356.
    mine_until(&node, 354);
    let info = wait_for_status(&signer, "the reward phase", |_| true);
    assert_eq!(info.running_signers, vec![12]);

    mine_until(&node, 358);
    let info = wait_for_status(&signer, "registration for cycle 13", |info| {
        info.registered_cycles == [12, 13]
    });
    assert_eq!(info.reward_cycle_info.unwrap().reward_cycle, 12);

    mine_until(&node, 361);
    let info = wait_for_status(&signer, "cycle 12's instance to be dropped", |info| {
        info.running_signers == [13]
    });
    assert_eq!(info.registered_cycles, vec![13]);
    assert_eq!(info.reward_cycle_info.unwrap().reward_cycle, 13);
    assert_eq!(info.runloop_state, RunLoopState::RegisteredSigners);
    signer.stop();
}

#[test]
fn a_signer_outside_the_reward_set_runs_no_instance_for_the_cycle() {
    let ours = key("outsider");
    let node = start_node(None);
    let (_dir, _db_path, signer) = spawn_with_fresh_db(&node, &ours);
    let info = wait_for_status(&signer, "initialization", |info| {
        info.runloop_state != RunLoopState::Uninitialized
    });
    assert_eq!(info.running_signers, vec![12]);
    assert!(info.registered_cycles.is_empty());
    assert!(info.signer_state_machines.is_empty());
    signer.stop();
}

#[test]
fn registration_reads_the_signer_id_and_slot_from_the_node() {
    let ours = key("ours");
    let node = start_node(Some(&ours));
    let config = global_config(&node, &ours, ":memory:", false);
    let client = StacksClient::from(&config);
    let signer_config = signer_config_for_cycle(&config, &client, 12, &discard())
        .expect("node answers")
        .expect("registered");

    // The mock orders the reward set by compressed public key; slot = signer id there.
    let mut keys: Vec<Vec<u8>> = ["a", "b", "c"]
        .iter()
        .map(|n| StacksPublicKey::from_private(&key(n)).to_bytes_compressed())
        .collect();
    let ours_pk = StacksPublicKey::from_private(&ours).to_bytes_compressed();
    keys.push(ours_pk.clone());
    keys.sort();
    let index = keys.iter().position(|k| *k == ours_pk).unwrap() as u32;
    assert_eq!(
        signer_config.signer_mode,
        SignerConfigMode::Normal {
            signer_id: index,
            signer_slot_id: SignerSlotID(index),
        }
    );
    assert_eq!(signer_config.reward_cycle, 12);
    assert_eq!(signer_config.signer_entries.signer_pks.len(), 4);
    assert_eq!(
        signer_config.signer_slot_ids,
        (0..4).map(SignerSlotID).collect::<Vec<_>>()
    );

    // The next cycle's set is not known before the prepare phase: an error, retried later.
    let next = signer_config_for_cycle(&config, &client, 13, &discard());
    assert!(next.is_err(), "{next:?}");
}

#[test]
fn dry_run_observes_when_unregistered_and_is_refused_when_registered() {
    let registered = key("ours");
    let node = start_node(Some(&registered));

    let outsider = key("outsider");
    let config = global_config(&node, &outsider, ":memory:", true);
    let client = StacksClient::from(&config);
    let dry = signer_config_for_cycle(&config, &client, 12, &discard())
        .unwrap()
        .expect("a dry-run instance");
    assert_eq!(dry.signer_mode, SignerConfigMode::DryRun);

    let config = global_config(&node, &registered, ":memory:", true);
    let client = StacksClient::from(&config);
    let refused = signer_config_for_cycle(&config, &client, 12, &discard());
    assert!(
        matches!(refused, Err(ConfigurationError::DryRunStackerIsRegistered)),
        "{refused:?}"
    );
}

#[test]
fn a_second_signer_on_the_same_database_is_refused_at_start() {
    let ours = key("ours");
    let node = start_node(Some(&ours));
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("signer.sqlite");
    let db_path = db_path.to_str().unwrap();
    let first = spawn_signer(&node, global_config(&node, &ours, db_path, false));
    let second = TestSigner::new(global_config(&node, &ours, db_path, false), discard());
    assert!(
        matches!(
            second,
            Err(SpawnError::Db(SignerDbError::AlreadyLocked { .. }))
        ),
        "{second:?}"
    );
    first.stop();
    // Once the first is gone, the database is free again.
    let third = TestSigner::new(global_config(&node, &ours, db_path, false), discard())
        .expect("database released on stop");
    third.stop();
}

#[test]
fn an_unreachable_node_leaves_the_signer_uninitialized_and_still_answering_status() {
    let ours = key("ours");
    let node = start_node(Some(&ours));
    let mut config = global_config(&node, &ours, ":memory:", false);
    // Nothing listens on port 9 (discard) of localhost in the test environment.
    config.node_host = "127.0.0.1:9".into();
    let signer = TestSigner::new(config, discard()).expect("signer starts without its node");
    status_check(signer.local_addr());
    let first = signer
        .results()
        .recv_timeout(TIMEOUT)
        .expect("status answered");
    let SignerResult::StatusCheck(info) = first else {
        unreachable!()
    };
    assert_eq!(info.runloop_state, RunLoopState::Uninitialized);
    // The failed initialization is logged and the loop keeps answering.
    let info = wait_for_status(&signer, "another answer", |_| true);
    assert_eq!(info.runloop_state, RunLoopState::Uninitialized);
    signer.stop();
}

#[test]
fn a_past_cycles_instance_stays_while_its_blocks_are_unprocessed_and_older_cycles_are_pruned() {
    let ours = key("ours");
    let node = start_node(Some(&ours));
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("signer.sqlite");
    let config = global_config(&node, &ours, db_path.to_str().unwrap(), false);

    // Cycle 10 is beyond the kept horizon once cycle 13 begins (13 - 2 = 11); cycle 12 has a
    // block still awaiting the network's verdict.
    let mut ancient = signerdb_support::info(signerdb_support::block(1, 5, 1));
    ancient.reward_cycle = 10;
    ancient.state = BlockState::LocallyAccepted;
    let mut pending = signerdb_support::info(signerdb_support::block(2, 6, 2));
    pending.reward_cycle = 12;
    let db = SignerDb::open(&db_path).unwrap();
    let db = Arc::new(Mutex::new(db));
    {
        let mut db = db.lock().unwrap();
        db.insert_block(&ancient).unwrap();
        db.insert_block(&pending).unwrap();
    }
    let context = SignerContext {
        stacks_client: StacksClient::from(&config),
        db: db.clone(),
        logger: discard(),
    };
    let signer = TestSigner::with_context(config, context).expect("signer starts");
    node.add_observer(ObserverSpec::signer(signer.local_addr().to_string()));
    wait_for_status(&signer, "registration for cycle 12", |info| {
        info.registered_cycles == [12]
    });

    mine_until(&node, 361);
    let info = wait_for_status(&signer, "cycle 13", |info| {
        info.reward_cycle_info.is_some_and(|c| c.reward_cycle == 13)
            && info.registered_cycles.contains(&13)
    });
    assert_eq!(
        info.running_signers,
        vec![12, 13],
        "cycle 12 has an unprocessed block: its instance must stay"
    );
    {
        let db = db.lock().unwrap();
        let ancient_hash = ancient.signer_signature_hash();
        let pending_hash = pending.signer_signature_hash();
        assert!(
            db.block_lookup(&ancient_hash).unwrap().is_none(),
            "cycle 10 pruned"
        );
        assert!(
            db.block_lookup(&pending_hash).unwrap().is_some(),
            "cycle 12 kept"
        );
    }

    // The network accepts the block: on the next burn block the old instance goes.
    {
        let mut db = db.lock().unwrap();
        db.mark_block_globally_accepted(&mut pending).unwrap();
        db.insert_block(&pending).unwrap();
    }
    node.mine_burn_block(None).expect("burn block mined");
    assert!(node.wait_events_delivered(TIMEOUT));
    let info = wait_for_status(&signer, "cycle 12's instance to be dropped", |info| {
        info.running_signers == [13]
    });
    assert_eq!(info.registered_cycles, vec![13]);
    signer.stop();
}
