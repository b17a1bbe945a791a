//! The reference signer (stacks-core's `stacks-signer`, tag `signer-3.3.0.0.4.0`) run
//! unchanged against `stacks-signer mock-node`: it signs every block the mock mines (its
//! signature is required for the threshold), across a reward-cycle boundary, and rejects the
//! blocks the mock makes invalid exactly as the simulated signers do (same response kind,
//! wire reason code and detailed reject reason for every proposal of a scenario run once with
//! two simulated signers and once with the reference signer in place of one of them).
//!
//! Opt-in: runs only when `STACKS_SIGNER_REFERENCE_BIN` names a reference signer binary the
//! reader has (see `docs/mock-node.md`, "Running the reference signer against the mock
//! node"); otherwise each test prints one line and returns.

mod mock_node_common;

use std::collections::HashMap;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use libsigner::chain::{Hash160, StacksPrivateKey, StacksPublicKey};
use mock_node_common::read_record;
use serde_json::Value;

/// The reference signer's key (the docs' example signer).
const SIGNER_KEY: &str = "6a1fc1a3183018c6d79a4e11e154d2bdad2d89ac8bc1b0a021de8b4d28774fbb01";
const AUTH: &str = "12345";

fn reference_bin(test: &str) -> Option<PathBuf> {
    match std::env::var_os("STACKS_SIGNER_REFERENCE_BIN") {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            println!("{test}: not run (set STACKS_SIGNER_REFERENCE_BIN to a reference stacks-signer binary)");
            None
        }
    }
}

/// Held by each test for its whole run: the tests pick ports by binding port 0 and releasing
/// it, so two of them (or a mock node on port 0) running at once could take each other's
/// port before the reference signer binds it.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

fn signer_public_key() -> StacksPublicKey {
    StacksPublicKey::from_private(&StacksPrivateKey::from_hex(SIGNER_KEY).expect("valid key"))
}

/// The hash160 the mock records as the writer of the reference signer's chunks.
fn signer_writer() -> String {
    Hash160::from_node_public_key(&signer_public_key()).to_hex()
}

/// The reference signer process; killed when dropped.
struct ReferenceSigner {
    child: Child,
    log: PathBuf,
}

impl ReferenceSigner {
    fn start(bin: &Path, dir: &Path, node_port: u16, event_port: u16) -> Self {
        let config = dir.join("signer.toml");
        std::fs::write(
            &config,
            format!(
                "stacks_private_key = \"{SIGNER_KEY}\"\n\
                 node_host = \"127.0.0.1:{node_port}\"\n\
                 endpoint = \"127.0.0.1:{event_port}\"\n\
                 network = \"testnet\"\n\
                 auth_password = \"{AUTH}\"\n\
                 db_path = \"{}\"\n",
                dir.join("signer.sqlite").display()
            ),
        )
        .expect("config written");
        let log = dir.join("signer.log");
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(bin)
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env("STACKS_LOG_DEBUG", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("the reference signer starts");
        ReferenceSigner { child, log }
    }

    /// The last lines of its log, for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for ReferenceSigner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `stacks-signer mock-node` with the reference signer in the reward set (weight 1) next
/// to one simulated signer of the same weight, so the 70% threshold needs both signatures.
fn run_mock_node(node_port: u16, event_port: u16, record: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stacks-signer"))
        .args([
            "mock-node",
            "--bind",
            &format!("127.0.0.1:{node_port}"),
            "--observer",
            &format!("127.0.0.1:{event_port}"),
            "--signer-public-key",
            &signer_public_key().to_hex(),
            "--signers",
            "1",
            "--auth-token",
            AUTH,
            "--timeout-secs",
            "60",
            "--record",
            record.to_str().expect("utf-8 path"),
        ])
        .args(extra)
        .output()
        .expect("the mock node runs")
}

/// The reference signer's block responses by signer signature hash: (kind, reason code).
fn reference_responses(recs: &[Value]) -> HashMap<String, Vec<(String, Value)>> {
    let writer = signer_writer();
    let mut out: HashMap<String, Vec<(String, Value)>> = HashMap::new();
    for r in recs.iter().filter(|r| {
        r["event"] == "ChunkWrite"
            && r["writer"] == writer.as_str()
            && r["source"] == "rpc"
            && r["accepted"] == true
    }) {
        let response = &r["message"]["body"]["BlockResponse"];
        let (kind, body) = if !response["Accepted"].is_null() {
            ("accepted", &response["Accepted"])
        } else if !response["Rejected"].is_null() {
            ("rejected", &response["Rejected"])
        } else {
            continue;
        };
        let hash = body["signer_signature_hash"]
            .as_str()
            .expect("hash")
            .to_string();
        out.entry(hash)
            .or_default()
            .push((kind.to_string(), body["reason_code"].clone()));
    }
    out
}

fn proposals(recs: &[Value]) -> Vec<(String, u64)> {
    recs.iter()
        .filter(|r| r["event"] == "BlockProposed")
        .map(|r| {
            (
                r["signer_signature_hash"]
                    .as_str()
                    .expect("hash")
                    .to_string(),
                r["reward_cycle"].as_u64().expect("cycle"),
            )
        })
        .collect()
}

fn processed(recs: &[Value]) -> Vec<String> {
    recs.iter()
        .filter(|r| r["event"] == "BlockProcessed")
        .map(|r| {
            r["signer_signature_hash"]
                .as_str()
                .expect("hash")
                .to_string()
        })
        .collect()
}

#[test]
fn the_reference_signer_signs_every_block_the_mock_node_mines_across_a_reward_cycle() {
    let Some(bin) = reference_bin("the_reference_signer_signs_every_block") else {
        return;
    };
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("temp dir");
    let (node_port, event_port) = (free_port(), free_port());
    let record = dir.path().join("record.jsonl");
    let signer = ReferenceSigner::start(&bin, dir.path(), node_port, event_port);
    // From burn height 344 (cycle 12), 18 tenures reach height 362: the prepare phase of
    // cycle 13 and its first blocks.
    let out = run_mock_node(
        node_port,
        event_port,
        &record,
        &["--tenures", "18", "--blocks-per-tenure", "2"],
    );
    assert!(
        out.status.success(),
        "mock-node failed: {}\nreference signer log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        signer.log_tail()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("mined 36 blocks in 18 tenures"));
    let recs = read_record(&record);
    let processed = processed(&recs);
    assert_eq!(processed.len(), 36);
    for r in recs.iter().filter(|r| r["event"] == "BlockProcessed") {
        assert_eq!(r["threshold_weight"], 2, "both signers are needed");
        assert_eq!(r["signed_weight"], 2);
    }
    let responses = reference_responses(&recs);
    for hash in &processed {
        let mine = responses.get(hash).cloned().unwrap_or_default();
        assert!(
            mine.iter().any(|(kind, _)| kind == "accepted"),
            "block {hash} has no acceptance from the reference signer: {mine:?}"
        );
        assert!(!mine.iter().any(|(kind, _)| kind == "rejected"), "{mine:?}");
    }
    let cycles: Vec<u64> = proposals(&recs).iter().map(|(_, c)| *c).collect();
    assert!(cycles.contains(&12) && cycles.contains(&13), "{cycles:?}");
    // In cycle 13 it signed through the other parity's StackerDBs.
    assert!(recs.iter().any(|r| r["event"] == "ChunkWrite"
        && r["writer"] == signer_writer().as_str()
        && r["contract"] == "signers-1-1"
        && r["accepted"] == true));
}

/// Proposals the reference signer must refuse, each followed by the next step; the last
/// blocks are valid again and need its signature.
const INVALID_SCENARIO: &str = r#"
[[step]]
type = "burn_block"
winner = 0
label = "b1"
[[step]]
type = "propose"
kind = "tenure_start"
label = "first"
[[step]]
type = "expect_block"
block = "first"
[[step]]
type = "propose"
bad_parent = true
label = "orphan"
[[step]]
type = "expect_block"
block = "orphan"
outcome = "rejected"
[[step]]
type = "propose"
wrong_miner_key = true
label = "wrong_key"
[[step]]
type = "expect_block"
block = "wrong_key"
outcome = "rejected"
[[step]]
type = "propose"
pox_treatment_zero = 0
label = "punishing"
[[step]]
type = "expect_block"
block = "punishing"
outcome = "rejected"
[[step]]
type = "validation"
reject = "InvalidBlock"
reason = "forced by the scenario"
[[step]]
type = "propose"
label = "forced"
[[step]]
type = "expect_block"
block = "forced"
outcome = "rejected"
[[step]]
type = "propose"
label = "valid"
[[step]]
type = "expect_block"
block = "valid"
[[step]]
type = "burn_block"
[[step]]
type = "propose"
kind = "extend"
cause = "extended"
label = "extend_new_view"
[[step]]
type = "expect_block"
block = "extend_new_view"
[[step]]
type = "propose"
kind = "extend"
cause = "extended"
label = "extend_same_view"
[[step]]
type = "expect_block"
block = "extend_same_view"
outcome = "rejected"
[[step]]
type = "propose"
kind = "continue"
duplicate_tenure_change = true
label = "duplicate"
[[step]]
type = "expect_block"
block = "duplicate"
outcome = "rejected"
[[step]]
type = "propose"
kind = "extend"
cause = "extended_runtime"
label = "runtime_extend"
[[step]]
type = "expect_block"
block = "runtime_extend"
outcome = "rejected"
[[step]]
type = "propose"
kind = "extend"
cause = "extended_read_count"
label = "read_count_extend"
[[step]]
type = "expect_block"
block = "read_count_extend"
outcome = "rejected"
[[step]]
type = "propose"
kind = "extend"
cause = "extended"
burn_view = "b1"
label = "extend_older_view"
[[step]]
type = "expect_block"
block = "extend_older_view"
outcome = "rejected"
[[step]]
type = "propose"
kind = "continue"
label = "last"
[[step]]
type = "expect_block"
block = "last"
"#;

/// The labels of [`INVALID_SCENARIO`]'s proposals, in order.
const INVALID_LABELS: [&str; 13] = [
    "first",
    "orphan",
    "wrong_key",
    "punishing",
    "forced",
    "valid",
    "extend_new_view",
    "extend_same_view",
    "duplicate",
    "runtime_extend",
    "read_count_extend",
    "extend_older_view",
    "last",
];

/// A block response as the record shows it: kind, wire `reason_code` and the detailed
/// `reject_reason` of the response data (`Null` for acceptances).
type Decision = (String, Value, Value);

/// The block responses in `recs` whose chunk line satisfies `by`, by signer signature hash.
fn decisions_by(recs: &[Value], by: impl Fn(&Value) -> bool) -> HashMap<String, Vec<Decision>> {
    let mut out: HashMap<String, Vec<Decision>> = HashMap::new();
    for r in recs.iter().filter(|r| {
        r["event"] == "ChunkWrite"
            && r["accepted"] == true
            && r["contract"].as_str().is_some_and(|c| c.ends_with("-1"))
            && by(r)
    }) {
        let response = &r["message"]["body"]["BlockResponse"];
        let (kind, body) = if !response["Accepted"].is_null() {
            ("accepted", &response["Accepted"])
        } else if !response["Rejected"].is_null() {
            ("rejected", &response["Rejected"])
        } else {
            continue;
        };
        let Some(hash) = body["signer_signature_hash"].as_str() else {
            continue;
        };
        let decision = (
            kind.to_string(),
            body["reason_code"].clone(),
            body["response_data"]["reject_reason"].clone(),
        );
        let seen = out.entry(hash.to_string()).or_default();
        if !seen.contains(&decision) {
            seen.push(decision);
        }
    }
    out
}

/// Per proposal of the record, in order: the decisions of the writers `by` selects.
fn decisions_per_proposal(recs: &[Value], by: impl Fn(&Value) -> bool) -> Vec<Vec<Decision>> {
    let by_hash = decisions_by(recs, by);
    proposals(recs)
        .into_iter()
        .map(|(hash, _)| by_hash.get(&hash).cloned().unwrap_or_default())
        .collect()
}

fn simulated_chunk(r: &Value) -> bool {
    r["source"] == "internal" && r["writer"] != signer_writer().as_str()
}

#[test]
fn the_reference_signer_rejects_the_blocks_the_mock_node_makes_invalid() {
    let Some(bin) = reference_bin("the_reference_signer_rejects_invalid_blocks") else {
        return;
    };
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = dir.path().join("invalid.toml");
    std::fs::write(&scenario, INVALID_SCENARIO).expect("scenario written");
    let scenario_arg = scenario.to_str().expect("utf-8 path");

    // Run A: the scenario with two simulated signers only.
    let simulated_record = dir.path().join("simulated.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_stacks-signer"))
        .args(["mock-node", "--bind", "127.0.0.1:0", "--signers", "2"])
        .args([
            "--timeout-secs",
            "60",
            "--scenario",
            scenario_arg,
            "--record",
        ])
        .arg(&simulated_record)
        .output()
        .expect("the mock node runs");
    assert!(
        out.status.success(),
        "mock-node (simulated signers only) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let simulated_recs = read_record(&simulated_record);
    let simulated_only = decisions_per_proposal(&simulated_recs, simulated_chunk);

    // Run B: the same scenario, the reference signer in place of one simulated signer.
    let (node_port, event_port) = (free_port(), free_port());
    let record = dir.path().join("record.jsonl");
    let signer = ReferenceSigner::start(&bin, dir.path(), node_port, event_port);
    let out = run_mock_node(
        node_port,
        event_port,
        &record,
        &["--scenario", scenario_arg],
    );
    assert!(
        out.status.success(),
        "mock-node failed: {}\nreference signer log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        signer.log_tail()
    );
    let recs = read_record(&record);
    let labels = &INVALID_LABELS;
    let proposed: Vec<String> = proposals(&recs).into_iter().map(|(h, _)| h).collect();
    assert_eq!(proposed.len(), labels.len());
    assert_eq!(proposals(&simulated_recs).len(), labels.len());
    let writer = signer_writer();
    let reference = decisions_per_proposal(&recs, |r| {
        r["writer"] == writer.as_str() && r["source"] == "rpc"
    });
    let simulated = decisions_per_proposal(&recs, simulated_chunk);
    let processed = processed(&recs);

    // Every proposal: the reference signer decided exactly once, and exactly as the
    // simulated signer next to it and the simulated signers of run A did.
    for (i, label) in labels.iter().enumerate() {
        assert_eq!(
            reference[i].len(),
            1,
            "{label}: the reference signer's responses {:?}\nreference signer log:\n{}",
            reference[i],
            signer.log_tail()
        );
        assert_eq!(
            reference[i], simulated[i],
            "{label}: reference signer (left) vs the simulated signer of the same run"
        );
        assert_eq!(
            reference[i], simulated_only[i],
            "{label}: reference signer (left) vs the simulated signers of run A"
        );
    }

    // What those decisions are.
    let code_of = |i: usize| (reference[i][0].0.as_str(), reference[i][0].1.clone());
    for label in ["first", "valid", "extend_new_view", "last"] {
        let i = labels.iter().position(|l| *l == label).expect("label");
        assert_eq!(code_of(i).0, "accepted", "{label}");
        assert!(processed.contains(&proposed[i]), "{label} not processed");
    }
    let mismatch = Value::from("SortitionViewMismatch");
    let expected = [
        ("orphan", mismatch.clone(), "InvalidParentBlock"),
        ("wrong_key", mismatch.clone(), "PubkeyHashMismatch"),
        ("punishing", mismatch.clone(), "InvalidBitvec"),
        (
            "forced",
            serde_json::json!({"ValidationFailed": "InvalidBlock"}),
            "",
        ),
        ("extend_same_view", mismatch.clone(), "InvalidTenureExtend"),
        ("duplicate", mismatch.clone(), "DuplicateBlockFound"),
        ("runtime_extend", mismatch.clone(), "InvalidTenureExtend"),
        ("read_count_extend", mismatch, "InvalidTenureExtend"),
        (
            "extend_older_view",
            serde_json::json!({"ValidationFailed": "ChainstateError"}),
            "",
        ),
    ];
    for (label, code, reason) in expected {
        let i = labels.iter().position(|l| *l == label).expect("label");
        assert_eq!(code_of(i), ("rejected", code.clone()), "{label}");
        if !reason.is_empty() {
            assert_eq!(reference[i][0].2, Value::from(reason), "{label}");
        }
        assert!(!processed.contains(&proposed[i]), "{label} was processed");
    }
}
