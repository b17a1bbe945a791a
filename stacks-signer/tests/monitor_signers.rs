//! `SignerMonitor` and `stacks-signer monitor-signers` against the mock node: simulated
//! signers answer every block in `signers-{p}-1`; external signers (keys held here) write
//! only what the test writes.

mod cli_support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libsigner::chain::{Sha512Trunc256Sum, StacksAddress, StacksPrivateKey, StacksPublicKey};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{MessageSlotID, SignerMessage};
use libsigner::{SignerSession, StackerDBSession};
use stacks_signer::cli::MonitorSignersArgs;
use stacks_signer::devnet::reward_sets::RewardSet;
use stacks_signer::devnet::stackerdb::sign_chunk;
use stacks_signer::devnet::{MockNode, MockNodeConfig, RunningMockNode, SignerSpec};
use stacks_signer::logging::{discard, logger_to, LogSettings};
use stacks_signer::monitor::{MonitorReport, SignerMonitor};

const TIMEOUT: Duration = Duration::from_secs(60);

fn key(name: &str) -> StacksPrivateKey {
    StacksPrivateKey::from_seed(name.as_bytes())
}

fn simulated(names: &[&str], weight: u32) -> Vec<SignerSpec> {
    names
        .iter()
        .map(|name| SignerSpec::simulated(key(name), weight))
        .collect()
}

fn start_node(signers: Vec<SignerSpec>) -> RunningMockNode {
    MockNode::start(MockNodeConfig {
        signers,
        ..MockNodeConfig::default()
    })
    .expect("mock node starts")
}

fn args(node: &RunningMockNode, max_age: u64) -> MonitorSignersArgs {
    MonitorSignersArgs {
        host: node.node_host(),
        interval: 1,
        max_age,
        stackerdb_timeout_secs: 10,
    }
}

/// A node whose set is three simulated signers of weight 3 and one external signer of weight
/// 1 (never writing), after one tenure; and the external signer's key.
fn node_with_a_silent_external_signer() -> (RunningMockNode, StacksPrivateKey) {
    let ours = key("external");
    let mut signers = simulated(&["a", "b", "c"], 3);
    signers.push(SignerSpec::external(
        StacksPublicKey::from_private(&ours),
        1,
    ));
    let node = start_node(signers);
    node.mine_tenures(1, 1, TIMEOUT).expect("tenure mined");
    (node, ours)
}

fn monitor(node: &RunningMockNode, max_age: u64) -> SignerMonitor {
    SignerMonitor::new(args(node, max_age), discard()).expect("monitor starts")
}

/// Polls until `done` holds for a report, and returns it.
fn poll_until(
    monitor: &mut SignerMonitor,
    what: &str,
    done: impl Fn(&MonitorReport) -> bool,
) -> MonitorReport {
    let deadline = Instant::now() + TIMEOUT;
    let mut last = None;
    while Instant::now() < deadline {
        let report = monitor.poll_once().expect("poll succeeds");
        if done(&report) {
            return report;
        }
        last = Some(report);
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}; last report: {last:#?}");
}

fn address(key: &StacksPrivateKey) -> StacksAddress {
    StacksAddress::p2pkh(false, &StacksPublicKey::from_private(key))
}

fn slot_of(node: &RunningMockNode, cycle: u64, key: &StacksPrivateKey) -> u32 {
    let set = node.with_state(|s| s.reward_sets.get(cycle).expect("reward set").clone());
    set.index_of_key(&StacksPublicKey::from_private(key))
        .expect("key in the reward set") as u32
}

/// Writes `data` to `key`'s slot of `signers-{cycle%2}-1` at the node's next version.
fn write_response_slot(node: &RunningMockNode, key: &StacksPrivateKey, data: Vec<u8>) {
    let slot = slot_of(node, 12, key);
    let contract = MessageSlotID::BlockResponse.stacker_db_contract(false, 12);
    let mut session = StackerDBSession::new(&node.node_host(), contract, Duration::from_secs(10));
    let version = session
        .list_chunks()
        .expect("slot metadata")
        .get(slot as usize)
        .expect("slot exists")
        .slot_version
        + 1;
    let ack = session
        .put_chunk(&sign_chunk(key, slot, version, data))
        .expect("chunk written");
    assert!(ack.accepted, "{ack:?}");
}

#[test]
fn all_simulated_signers_answering_leaves_nothing_missing_stale_or_unexpected() {
    let node = start_node(simulated(&["a", "b", "c"], 1));
    node.mine_tenures(1, 1, TIMEOUT).expect("tenure mined");
    let mut monitor = monitor(&node, 1200);
    let report = poll_until(&mut monitor, "every signer answering", |r| r.all_ok());
    assert_eq!(report.reward_cycle, 12);
    assert_eq!(
        report.contract.to_string(),
        "ST000000000000000000002AMW42H.signers-0-1"
    );
    assert_eq!(report.registered_signers, 3);
    assert_eq!(report.slots, 3);
    assert_eq!(report.missing_weight, 0);
    assert_eq!(report.total_weight, 3);
    assert_eq!(report.missing_weight_percentage(), 0.0);
    assert_eq!(monitor.slot_ids(), &[0, 1, 2]);
}

#[test]
fn an_external_signer_that_never_writes_is_missing_with_its_address_key_and_weight() {
    let (node, ours) = node_with_a_silent_external_signer();
    let slot = slot_of(&node, 12, &ours);

    let mut monitor = monitor(&node, 1200);
    let report = poll_until(&mut monitor, "only the external signer missing", |r| {
        r.missing.len() == 1
    });
    let missing = &report.missing[0];
    assert_eq!(missing.slot_id.0, slot);
    assert_eq!(missing.address, address(&ours));
    assert_eq!(
        missing.public_key.as_deref(),
        Some(format!("0x{}", StacksPublicKey::from_private(&ours).to_hex()).as_str())
    );
    assert_eq!(missing.weight, 1);
    assert_eq!(report.missing_weight, 1);
    assert_eq!(report.total_weight, 10);
    assert!((report.missing_weight_percentage() - 10.0).abs() < 1e-9);
    assert!(report.stale.is_empty());
    assert!(report.unexpected.is_empty());
    assert_eq!(report.registered_signers, 4);
}

#[test]
fn signers_without_new_messages_for_longer_than_max_age_are_stale_until_they_write_again() {
    let node = start_node(simulated(&["a", "b", "c"], 1));
    node.mine_tenures(1, 1, TIMEOUT).expect("tenure mined");
    let mut monitor = monitor(&node, 0);
    poll_until(&mut monitor, "every signer seen", |r| r.all_ok());

    // No blocks: the responses seen stay the latest; past max_age (whole seconds) they are stale.
    std::thread::sleep(Duration::from_millis(1100));
    let report = poll_until(&mut monitor, "every signer stale", |r| r.stale.len() == 3);
    let mut stale: Vec<StacksAddress> = report.stale.iter().map(|s| s.address).collect();
    stale.sort();
    let mut expected: Vec<StacksAddress> =
        ["a", "b", "c"].iter().map(|n| address(&key(n))).collect();
    expected.sort();
    assert_eq!(stale, expected);
    assert!(report.missing.is_empty());
    assert!(report.unexpected.is_empty());
    assert!(report
        .stale
        .iter()
        .all(|s| s.weight == 1 && s.public_key.is_some()));

    // A new block: fresh responses, nothing stale on the poll that sees them.
    node.mine_tenures(1, 1, TIMEOUT).expect("tenure mined");
    poll_until(&mut monitor, "fresh responses", |r| r.all_ok());
}

#[test]
fn a_message_of_the_wrong_kind_is_unexpected_and_an_undecodable_one_is_missing() {
    let (node, ours) = node_with_a_silent_external_signer();
    let slot = slot_of(&node, 12, &ours);

    let pre_commit = SignerMessage::BlockPreCommit(Sha512Trunc256Sum([7; 32]));
    write_response_slot(&node, &ours, pre_commit.serialize_to_vec());
    let mut monitor = monitor(&node, 1200);
    let report = poll_until(&mut monitor, "the unexpected pre-commit", |r| {
        !r.unexpected.is_empty()
    });
    assert_eq!(report.unexpected.len(), 1);
    let unexpected = &report.unexpected[0];
    assert_eq!(unexpected.signer.slot_id.0, slot);
    assert_eq!(unexpected.signer.address, address(&ours));
    assert_eq!(unexpected.signer.weight, 1);
    assert_eq!(unexpected.message, pre_commit);
    assert!(report.missing.iter().all(|s| s.slot_id.0 != slot));
    // Not recorded as the last message: reported again on the next poll.
    let again = monitor.poll_once().expect("poll succeeds");
    assert_eq!(again.unexpected.len(), 1);

    // Bytes that are no signer message count as no message, as in the reference.
    write_response_slot(&node, &ours, vec![0xff, 0x00, 0x01]);
    let report = poll_until(&mut monitor, "the garbage slot missing", |r| {
        r.unexpected.is_empty() && r.missing.iter().any(|s| s.slot_id.0 == slot)
    });
    assert_eq!(report.missing.len(), 1);
}

#[test]
fn a_reward_cycle_change_switches_to_the_new_contract_and_rebuilds_the_slot_list() {
    let mut config = MockNodeConfig {
        signers: simulated(&["a", "b", "c"], 1),
        ..MockNodeConfig::default()
    };
    config
        .cycle_signers
        .insert(13, simulated(&["d", "e", "f", "g"], 1));
    let node = MockNode::start(config).expect("mock node starts");
    let mut monitor = monitor(&node, 1200);
    let report = monitor.poll_once().expect("poll succeeds");
    assert_eq!(report.reward_cycle, 12);
    assert_eq!(monitor.slot_ids(), &[0, 1, 2]);

    // Cycle 13 starts at burn height 100 + 13 * 20 = 360.
    while node.burn_tip().height < 360 {
        node.mine_tenures(1, 1, TIMEOUT).expect("tenure mined");
    }
    let report = poll_until(&mut monitor, "cycle 13 with every signer answering", |r| {
        r.reward_cycle == 13 && r.all_ok()
    });
    assert_eq!(monitor.reward_cycle(), Some(13));
    assert_eq!(
        report.contract.to_string(),
        "ST000000000000000000002AMW42H.signers-1-1"
    );
    assert_eq!(monitor.contract(), Some(report.contract.clone()));
    assert_eq!(monitor.slot_ids(), &[0, 1, 2, 3]);
    assert_eq!(report.registered_signers, 4);
    assert_eq!(report.slots, 4);
    // Only cycle 13's weights count.
    assert_eq!(report.total_weight, 4);
}

#[test]
fn a_slot_owner_outside_the_reward_set_counts_with_weight_zero() {
    let node = start_node(simulated(&["a", "b", "c"], 1));
    // Slot page 0 now lists cycle 14's owners (one more than cycle 12's reward set).
    let outsider = key("outsider");
    let slot = node.with_state(|s| {
        let mut specs = simulated(&["a", "b", "c"], 1);
        specs.push(SignerSpec::simulated(outsider.clone(), 1));
        let set = RewardSet::compute(14, &specs, s.config.pox_ustx_threshold);
        let slot = set
            .index_of_key(&StacksPublicKey::from_private(&outsider))
            .expect("outsider in the set") as u32;
        s.reward_sets.insert(set);
        slot
    });
    let log = SharedLog::default();
    let logger = logger_to(LogSettings::default(), log.clone());
    let mut monitor = SignerMonitor::new(args(&node, 1200), logger).expect("monitor starts");
    // Nothing mined: every slot is empty, so every owner is missing.
    let report = monitor.poll_once().expect("poll succeeds");
    assert_eq!(report.slots, 4);
    assert_eq!(report.registered_signers, 3);
    assert_eq!(report.missing.len(), 4);
    let entry = report
        .missing
        .iter()
        .find(|s| s.slot_id.0 == slot)
        .expect("the outsider's slot is listed");
    assert_eq!(entry.address, address(&outsider));
    assert_eq!(entry.weight, 0);
    assert_eq!(entry.public_key, None);
    assert_eq!(report.missing_weight, 3);
    assert_eq!(report.total_weight, 3);
    assert!(log.text().contains(&format!(
        "Signer slot {slot} belongs to {}, which is not in the reward set of cycle 12; counting its weight as 0",
        address(&outsider)
    )));
}

/// A `Write` that appends to a shared buffer, for reading the log back.
#[derive(Clone, Default)]
struct SharedLog(Arc<Mutex<Vec<u8>>>);

impl Write for SharedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedLog {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).to_string()
    }

    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            let text = self.text();
            if done(&text) {
                return text;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}; log:\n{}", self.text());
    }
}

#[test]
fn the_main_loop_logs_errors_and_restarts_with_the_reference_lines() {
    let (node, ours) = node_with_a_silent_external_signer();
    let log = SharedLog::default();
    let logger = logger_to(LogSettings::default(), log.clone());
    let mut monitor = SignerMonitor::new(args(&node, 1200), logger).expect("monitor starts");
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = stop.clone();
        std::thread::spawn(move || monitor.run_until(&|| stop.load(Ordering::SeqCst)))
    };

    let text = log.wait_for("the missing signer's warning", |t| {
        t.contains("Missing messages for 1 of 4 signer(s).")
    });
    assert!(text.contains(
        "Monitoring signers stackerdb. Polling interval: 1 secs, Max message age: 1200 secs, \
         Reward cycle: 12, StackerDB contract: ST000000000000000000002AMW42H.signers-0-1"
    ));
    assert!(text.contains("Confirming messages for 4 registered signers"));
    assert!(text.contains("Polling signers stackerdb for new messages..."));
    let ours_pk = StacksPublicKey::from_private(&ours).to_hex();
    assert!(
        text.contains(&format!(
            "Missing messages for 1 of 4 signer(s). Missing 10.00% of signing weight  (1/10), signer_addresses: {}, signer_keys: 0x{ours_pk}",
            address(&ours)
        )),
        "{text}"
    );

    // The node's /v2/pox fails: the error is logged, and the monitor restarts once it is back.
    node.set_endpoint_down("/v2/pox", true);
    log.wait_for("the error line", |t| {
        t.contains("Error occurred monitoring signers: ")
            && t.contains(". Waiting and trying again.")
    });
    let starts_before = log.text().matches("Monitoring signers stackerdb.").count();
    node.set_endpoint_down("/v2/pox", false);
    log.wait_for("the restart", |t| {
        t.matches("Monitoring signers stackerdb.").count() > starts_before
    });
    stop.store(true, Ordering::SeqCst);
    thread.join().expect("monitor thread");
}

#[test]
fn monitor_signers_rejects_a_host_that_is_not_host_and_port() {
    let r = cli_support::run(&["monitor-signers", "--host", "http://127.0.0.1:20443"]);
    assert!(r.one_line_error().contains("Failed to parse node host"));
}

#[test]
fn monitor_signers_fails_with_one_line_when_the_node_is_unreachable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let host = format!("127.0.0.1:{port}");
    let r = cli_support::run(&["monitor-signers", "--host", &host]);
    let line = r.one_line_error();
    assert!(
        line.contains("Failed to connect to provided host"),
        "{line}"
    );
    assert!(line.contains(&host), "{line}");
}

/// Reads the child's stderr lines into a channel.
fn stderr_lines(child: &mut std::process::Child) -> Receiver<String> {
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn monitor_signers_process_logs_its_polling_against_a_running_node() {
    let node = start_node(simulated(&["a", "b", "c"], 1));
    let mut child = Command::new(env!("CARGO_BIN_EXE_stacks-signer"))
        .args(["monitor-signers", "--host", &node.node_host(), "-i", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stacks-signer");
    let lines = stderr_lines(&mut child);
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = Vec::new();
    let wanted = [
        "Monitoring signers stackerdb. Polling interval: 1 secs, Max message age: 1200 secs, \
         Reward cycle: 12, StackerDB contract: ST000000000000000000002AMW42H.signers-0-1",
        "Confirming messages for 3 registered signers",
        "Polling signers stackerdb for new messages...",
    ];
    while !wanted
        .iter()
        .all(|w| seen.iter().any(|l: &String| l.contains(w)))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        if let Ok(line) = lines.recv_timeout(left.min(Duration::from_millis(200))) {
            seen.push(line);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    for w in wanted {
        assert!(seen.iter().any(|l| l.contains(w)), "no {w:?} in {seen:#?}");
    }
    let header = seen
        .iter()
        .find(|l| l.contains("Monitoring signers stackerdb."))
        .expect("header line");
    assert!(header.starts_with("INFO ["), "{header}");
}
