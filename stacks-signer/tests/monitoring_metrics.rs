//! `stacks-signer run` child processes with `metrics_endpoint` set, against the in-process
//! mock node: after a run, each signer's `/metrics` (read with a Prometheus text parser)
//! holds every metric of the reference signer with its type, labels and help text, and values
//! that match the run; `/info`, `/`, `/heartbeat` (node up and down), `/status.json` and the
//! 404 answer as documented; a signer whose metrics port is taken logs one error and signs.
//!
//! The checks ([`check_reference_metrics`], [`check_status`]) take the run's facts
//! ([`RunFacts`]) and a signer's address, not the mock: a devnet run can feed them its own.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod exposition_support;

use exposition_support::{parse, Exposition, Kind, Value};
use libsigner::chain::{StacksPrivateKey, StacksPublicKey};
use stacks_signer::devnet::{MockNode, MockNodeConfig, ObserverSpec, RunningMockNode, SignerSpec};

/// The reference signer's metrics (tag signer-3.3.0.0.4.0): name, type, label names, help.
const REFERENCE_METRICS: &[(&str, Kind, &[&str], &str)] = &[
    ("stacks_signer_stacks_node_height", Kind::Gauge, &[], "The current height of the Stacks node"),
    ("stacks_signer_block_validation_responses", Kind::Counter, &["response_type"], "The number of block validation responses. `response_type` is either 'accepted' or 'rejected'"),
    ("stacks_signer_block_responses_sent", Kind::Counter, &["response_type"], "The number of block responses sent. `response_type` is either 'accepted' or 'rejected'"),
    ("stacks_signer_block_proposals_received", Kind::Counter, &[], "The number of block proposals received by the signer"),
    ("stacks_signer_block_pre_commits_sent", Kind::Counter, &[], "The number of block pre-commits sent by the signer"),
    ("stacks_signer_current_reward_cycle", Kind::Gauge, &[], "The current reward cycle"),
    ("stacks_signer_stx_balance", Kind::Gauge, &[], "The current STX balance of the signer"),
    ("stacks_signer_nonce", Kind::Gauge, &[], "The current nonce of the signer"),
    ("stacks_signer_node_rpc_call_latencies_histogram", Kind::Histogram, &["path"], "Time (seconds) measuring round-trip RPC call latency to the Stacks node"),
    ("stacks_signer_block_validation_latencies_histogram", Kind::Histogram, &[], "Time (seconds) measuring block validation time reported by the Stacks node"),
    ("stacks_signer_block_response_latencies_histogram", Kind::Histogram, &[], "Time (seconds) measuring end-to-end time to respond to a block"),
    ("stacks_signer_agreement_state_change_reasons", Kind::Counter, &["reason"], "The number of state machine changes in signer agreement protocol. `reason` can be one of: 'burn_block_arrival', 'stacks_block_arrival', 'inactive_miner', 'protocol_upgrade', 'miner_view_update', 'miner_parent_tenure_update'"),
    ("stacks_signer_agreement_state_conflicts", Kind::Counter, &["conflict"], "The number of state machine conflicts in signer agreement protocol. `conflict` can be one of: 'burn_block_delay', 'stacks_block_delay', 'miner_view'"),
    ("stacks_signer_agreement_capitulation_latencies_histogram", Kind::Histogram, &[], "Measuring the time (in seconds) for the signer to agree (capitulate) with the signer set"),
];

/// The reference's buckets of its histograms.
const REFERENCE_BUCKETS: &[(&str, &[f64])] = &[
    (
        "stacks_signer_node_rpc_call_latencies_histogram",
        &[
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ],
    ),
    (
        "stacks_signer_block_validation_latencies_histogram",
        &[0.005, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0],
    ),
    (
        "stacks_signer_block_response_latencies_histogram",
        &[
            0.005, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
        ],
    ),
    (
        "stacks_signer_agreement_capitulation_latencies_histogram",
        &[0.0, 1.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0],
    ),
];

/// The `path` label values the reference writes, and the two this signer adds (endpoints the
/// reference calls without timing them).
const RPC_PATHS: &[&str] = &[
    "/v2/info",
    "/v2/pox",
    "/v3/stacker_set/:reward_cycle",
    "/v2/accounts/:principal",
    "/v3/block_proposal",
    "/v3/tenures/fork_info/:start/:stop",
    "/v3/sortitions/latest_and_last",
    "/v3/blocks/upload/?broadcast=1",
    "/v2/contracts/call-read/:principal/signers/get-last-set-cycle",
    "/v2/contracts/call-read/:principal/signers/stackerdb-get-signer-slots-page",
    "/v3/tenures/tip_metadata/:consensus_hash",
    "/v3/sortitions/consensus/:consensus_hash",
];

/// What a run produced, as the chain saw it.
#[derive(Debug, Clone)]
struct RunFacts {
    /// Blocks proposed (each once) by the reward cycle that signed them.
    proposals_by_cycle: BTreeMap<u64, u64>,
    /// The node's reward cycle at the end.
    reward_cycle: u64,
    /// The node's Stacks tip height at the end.
    node_height: u64,
    /// The node's burn tip height at the end.
    burn_height: u64,
    /// `testnet` or `mainnet`.
    network: &'static str,
    /// How many signers submit proposals to the same node: the node sends every validation
    /// result to all of its observers, and each signer counts each one it receives (as the
    /// reference does).
    signers_per_node: u64,
}

/// One signer of the network under test.
#[derive(Debug, Clone)]
struct SignerUnderTest {
    public_key: StacksPublicKey,
    metrics: SocketAddr,
    /// Its event endpoint.
    endpoint: SocketAddr,
    /// Its id (and slot) in the reward set.
    signer_id: u32,
}

/// A GET answered: status, `Content-Type`, body.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

fn get(addr: SocketAddr, path: &str) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or("")
        .to_string();
    Ok(Answer {
        status,
        content_type,
        body: body.to_string(),
    })
}

/// Prometheus's own checker, where it is installed (Debian: `apt-get install prometheus`):
/// the exposition parses, and its only complaints are the reference's metric names (counters
/// without `_total`, histograms named `..._histogram`), which dashboards depend on.
fn promtool_check(body: &str) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        return;
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(body.as_bytes()).expect("promtool reads");
    }
    let output = child.wait_with_output().expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            REFERENCE_METRICS
                .iter()
                .any(|(name, ..)| line.starts_with(&format!("{name} "))),
            "promtool check metrics: {line}"
        );
    }
}

fn scrape(addr: SocketAddr) -> Exposition {
    let answer = get(addr, "/metrics").expect("/metrics answers");
    assert_eq!(answer.status, 200);
    assert!(
        answer.content_type.starts_with("text/plain"),
        "content type {}",
        answer.content_type
    );
    parse(&answer.body)
        .unwrap_or_else(|e| panic!("the exposition does not parse: {e}\n{}", answer.body))
}

/// The value of a counter or gauge series with these label values, or the sample count of
/// a histogram series (0 when absent).
fn value(exposition: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
    let Some(family) = exposition.get(name) else {
        return 0.0;
    };
    family
        .find(labels)
        .map(|series| match &series.value {
            Value::Scalar(v) => *v,
            Value::Histogram(h) => h.count,
            Value::Summary(_) => 0.0,
        })
        .unwrap_or(0.0)
}

/// Every reference metric with its type, label names, help text and buckets; the RPC paths
/// as the reference writes them; values that match the run.
fn check_reference_metrics(signer: &SignerUnderTest, facts: &RunFacts) {
    promtool_check(
        &get(signer.metrics, "/metrics")
            .expect("/metrics answers")
            .body,
    );
    let exposition = scrape(signer.metrics);
    for (name, kind, labels, help) in REFERENCE_METRICS {
        let family = exposition
            .get(*name)
            .unwrap_or_else(|| panic!("{name} is missing from /metrics"));
        assert_eq!(family.kind, *kind, "type of {name}");
        assert_eq!(family.help.as_deref(), Some(*help), "help text of {name}");
        assert!(!family.series.is_empty(), "{name} has no series");
        assert_eq!(family.label_names(), *labels, "label names of {name}");
    }
    for (name, buckets) in REFERENCE_BUCKETS {
        for series in &exposition[*name].series {
            let Value::Histogram(h) = &series.value else {
                panic!("{name} is not a histogram");
            };
            let bounds: Vec<f64> = h
                .buckets
                .iter()
                .map(|(le, _)| *le)
                .filter(|le| le.is_finite())
                .collect();
            assert_eq!(bounds, *buckets, "buckets of {name}");
        }
    }
    let paths: HashSet<String> = exposition["stacks_signer_node_rpc_call_latencies_histogram"]
        .series
        .iter()
        .filter_map(|s| s.labels.get("path").cloned())
        .collect();
    for path in &paths {
        assert!(
            RPC_PATHS.contains(&path.as_str()),
            "unexpected RPC path label {path}"
        );
    }
    for path in [
        "/v2/info",
        "/v2/pox",
        "/v3/stacker_set/:reward_cycle",
        "/v3/block_proposal",
    ] {
        assert!(
            paths.contains(path),
            "no RPC latency recorded for {path}: {paths:?}"
        );
    }

    let proposals = facts
        .proposals_by_cycle
        .get(&facts.reward_cycle)
        .copied()
        .unwrap_or(0) as f64;
    let validations = proposals * facts.signers_per_node as f64;
    let v = |name: &str, labels: &[(&str, &str)]| value(&exposition, name, labels);
    assert_eq!(v("stacks_signer_block_proposals_received", &[]), proposals);
    assert_eq!(
        v(
            "stacks_signer_block_validation_responses",
            &[("response_type", "accepted")]
        ),
        validations
    );
    assert_eq!(
        v(
            "stacks_signer_block_validation_responses",
            &[("response_type", "rejected")]
        ),
        0.0
    );
    assert_eq!(v("stacks_signer_block_pre_commits_sent", &[]), proposals);
    assert_eq!(
        v(
            "stacks_signer_block_responses_sent",
            &[("response_type", "accepted")]
        ),
        proposals
    );
    assert_eq!(
        v(
            "stacks_signer_block_responses_sent",
            &[("response_type", "rejected")]
        ),
        0.0
    );
    assert_eq!(
        v("stacks_signer_block_validation_latencies_histogram", &[]),
        validations,
        "one validation latency per accepted validation"
    );
    assert_eq!(
        v("stacks_signer_block_response_latencies_histogram", &[]),
        proposals,
        "one response latency per response"
    );
    assert_eq!(
        v("stacks_signer_current_reward_cycle", &[]),
        facts.reward_cycle as f64
    );
    assert_eq!(
        v("stacks_signer_stacks_node_height", &[]),
        facts.node_height as f64
    );

    // Beyond the reference.
    assert_eq!(
        v(
            "stacks_signer_proposal_vote_latency_seconds",
            &[("vote", "pre_commit")]
        ),
        proposals
    );
    assert_eq!(
        v(
            "stacks_signer_proposal_vote_latency_seconds",
            &[("vote", "accepted")]
        ),
        proposals
    );
    assert_eq!(v("stacks_signer_pending_block_validations", &[]), 0.0);
    assert!(v("stacks_signer_database_size_bytes", &[]) > 0.0);
    assert!(v("process_resident_memory_bytes", &[]) > 0.0);
    assert!(v("process_open_fds", &[]) > 0.0);
    assert!(v("stacks_signer_seconds_since_last_node_event", &[]) < 60.0);
    assert_eq!(v("stacks_signer_messages_from_non_signers_total", &[]), 0.0);
    for reason in [
        "transport",
        "version_conflict",
        "rejected_without_code",
        "rejected",
    ] {
        assert_eq!(
            v(
                "stacks_signer_stackerdb_write_give_ups_total",
                &[("reason", reason)]
            ),
            0.0
        );
    }
}

/// `/info`, `/`, an unknown path, and `/status.json` against the run's facts.
fn check_status(signer: &SignerUnderTest, facts: &RunFacts) {
    let public_key = libsigner::chain::hex::to_hex(&signer.public_key.to_bytes_compressed());
    let info = get(signer.metrics, "/info").expect("/info answers");
    assert_eq!(info.status, 200);
    let info: serde_json::Value = serde_json::from_str(&info.body).expect("/info is JSON");
    assert_eq!(info["signerPublicKey"], public_key.as_str());
    assert_eq!(info["network"], facts.network);
    assert_eq!(info["version"], libsigner::VERSION_STRING.as_str());
    assert!(info["stxAddress"]
        .as_str()
        .is_some_and(|a| a.starts_with("ST")));

    let root = get(signer.metrics, "/").expect("/ answers");
    assert_eq!((root.status, root.body.as_str()), (200, "OK"));
    let missing = get(signer.metrics, "/metrics/").expect("an unknown path answers");
    assert_eq!((missing.status, missing.body.as_str()), (404, "Not Found"));

    let event_status = get(signer.endpoint, "/status").expect("the event endpoint answers");
    assert_eq!(
        event_status.status, 200,
        "GET /status on the event endpoint"
    );

    let status = get(signer.metrics, "/status.json").expect("/status.json answers");
    assert_eq!(status.status, 200);
    assert_eq!(status.content_type, "application/json");
    let status: serde_json::Value = serde_json::from_str(&status.body).expect("JSON");
    assert_eq!(status["version"], libsigner::VERSION_STRING.as_str());
    assert_eq!(status["network"], facts.network);
    assert_eq!(status["signer_public_key"], public_key.as_str());
    assert_eq!(status["runloop_state"], "RegisteredSigners");
    assert_eq!(status["database_engine"], "sqlite");
    assert_eq!(status["current_reward_cycle"], facts.reward_cycle);
    assert_eq!(
        status["registered_reward_cycles"],
        serde_json::json!([facts.reward_cycle])
    );
    let cycle = &status["reward_cycles"][0];
    assert_eq!(cycle["reward_cycle"], facts.reward_cycle);
    assert_eq!(cycle["registered"], true);
    assert_eq!(cycle["signer_id"], signer.signer_id);
    assert_eq!(cycle["signer_slot_id"], signer.signer_id);
    assert_eq!(
        status["last_burn_block"]["burn_block_height"],
        facts.burn_height
    );
    assert_eq!(status["current_miner"]["state"], "ActiveMiner");
    let proposals = facts.proposals_by_cycle.values().sum::<u64>();
    assert_eq!(status["blocks_by_state"]["GloballyAccepted"], proposals);
    assert_eq!(status["pending_block_validations"], 0);
    assert_eq!(status["last_vote"]["vote"], "accepted");
    assert_eq!(status["last_vote"]["stacks_height"], facts.node_height);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `stacks-signer run` child with its log in `dir/signer.log`; killed on drop.
struct ChildSigner {
    child: Child,
    log: PathBuf,
}

impl Drop for ChildSigner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChildSigner {
    fn start(
        dir: &Path,
        key: &StacksPrivateKey,
        node: &RunningMockNode,
        endpoint_port: u16,
        metrics_port: u16,
    ) -> Self {
        let config = dir.join("signer.toml");
        std::fs::write(
            &config,
            format!(
                "stacks_private_key = \"{}\"\nnode_host = \"{}\"\nendpoint = \"127.0.0.1:{endpoint_port}\"\n\
                 network = \"testnet\"\nauth_password = \"12345\"\ndb_path = \"{}\"\n\
                 metrics_endpoint = \"127.0.0.1:{metrics_port}\"\nevent_timeout_ms = 200\n",
                libsigner::chain::hex::to_hex(&key.to_bytes()),
                node.node_host(),
                dir.join("signer.sqlite").display(),
            ),
        )
        .expect("config written");
        let log = dir.join("signer.log");
        let child = Command::new(env!("CARGO_BIN_EXE_stacks-signer"))
            .args(["run", "--config"])
            .arg(&config)
            .env_remove("STACKS_LOG_JSON")
            .env_remove("STACKS_LOG_DEBUG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("the signer binary starts");
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Waits until `ok` holds, or panics with `what` after `timeout`.
fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn facts_of(
    node: &RunningMockNode,
    blocks: &[stacks_signer::devnet::stacks_chain::StoredBlock],
) -> RunFacts {
    let mut proposals_by_cycle = BTreeMap::new();
    for block in blocks {
        *proposals_by_cycle.entry(block.reward_cycle).or_insert(0) += 1;
    }
    RunFacts {
        proposals_by_cycle,
        reward_cycle: node.with_state(|state| state.current_cycle()),
        node_height: node
            .stacks_tip()
            .map(|tip| tip.block.header.chain_length)
            .unwrap_or(0),
        burn_height: node.burn_tip().height,
        network: "testnet",
        signers_per_node: 2,
    }
}

#[test]
fn a_run_exports_every_reference_metric_with_values_that_match_it() {
    // Both our signers are needed for the threshold (3 of 3 weight): each of them validates,
    // pre-commits and signs every block.
    let ours = [
        StacksPrivateKey::from_seed(b"metrics-a"),
        StacksPrivateKey::from_seed(b"metrics-b"),
    ];
    let mut signers: Vec<SignerSpec> = ours
        .iter()
        .map(|k| SignerSpec::external(StacksPublicKey::from_private(k), 1))
        .collect();
    signers.push(SignerSpec::simulated(
        StacksPrivateKey::from_seed(b"metrics-c"),
        1,
    ));
    let ports: Vec<(u16, u16)> = ours.iter().map(|_| (free_port(), free_port())).collect();
    let mut config = MockNodeConfig {
        signers,
        ..MockNodeConfig::default()
    };
    for (endpoint, _) in &ports {
        config
            .observers
            .push(ObserverSpec::signer(format!("127.0.0.1:{endpoint}")));
    }
    let node = MockNode::start(config).expect("mock node starts");
    let dirs: Vec<tempfile::TempDir> = ours
        .iter()
        .map(|_| tempfile::tempdir().expect("dir"))
        .collect();
    let children: Vec<ChildSigner> = ours
        .iter()
        .zip(&ports)
        .zip(&dirs)
        .map(|((key, (endpoint, metrics)), dir)| {
            ChildSigner::start(dir.path(), key, &node, *endpoint, *metrics)
        })
        .collect();
    let under_test: Vec<SignerUnderTest> = ours
        .iter()
        .zip(&ports)
        .map(|(key, (endpoint, metrics))| {
            let public_key = StacksPublicKey::from_private(key);
            SignerUnderTest {
                signer_id: node.signer_index(&public_key).expect("in the reward set"),
                public_key,
                metrics: SocketAddr::from(([127, 0, 0, 1], *metrics)),
                endpoint: SocketAddr::from(([127, 0, 0, 1], *endpoint)),
            }
        })
        .collect();
    for signer in &under_test {
        wait_until("the metrics server", Duration::from_secs(30), || {
            get(signer.metrics, "/").is_ok_and(|a| a.status == 200)
        });
        // Asked until it says OK rather than once: one slow answer on a loaded machine
        // must not fail the test.
        wait_until(
            "a heartbeat with the node up",
            Duration::from_secs(120),
            || {
                get(signer.metrics, "/heartbeat")
                    .is_ok_and(|a| (a.status, a.body.as_str()) == (200, "OK"))
            },
        );
    }

    let blocks = node
        .mine_tenures(2, 3, Duration::from_secs(60))
        .expect("the signers sign every block");
    node.wait_events_delivered(Duration::from_secs(5));
    let facts = facts_of(&node, &blocks);
    assert_eq!(facts.proposals_by_cycle.values().sum::<u64>(), 6);
    for signer in &under_test {
        // The last votes and the tip's event may still be on their way.
        wait_until("the last response and tip", Duration::from_secs(30), || {
            let e = scrape(signer.metrics);
            value(
                &e,
                "stacks_signer_block_responses_sent",
                &[("response_type", "accepted")],
            ) >= 6.0
                && value(&e, "stacks_signer_stacks_node_height", &[]) >= facts.node_height as f64
        });
        check_reference_metrics(signer, &facts);
        check_status(signer, &facts);
    }

    node.set_endpoint_down("/v2/info", true);
    for signer in &under_test {
        let heartbeat = get(signer.metrics, "/heartbeat").expect("/heartbeat answers");
        assert_eq!((heartbeat.status, heartbeat.body.as_str()), (500, "Failed"));
    }
    node.set_endpoint_down("/v2/info", false);
    for (child, signer) in children.iter().zip(&under_test) {
        let log = child.log();
        assert!(
            log.contains("Created a new signer database at") && log.contains("(schema version 21)"),
            "the start says what it did with the database:\n{log}"
        );
        assert!(log.contains(&format!(
            "Signer monitoring server ({}): Starting Prometheus metrics server",
            signer.metrics
        )));
    }
    node.stop();
    for signer in &under_test {
        let heartbeat = get(signer.metrics, "/heartbeat").expect("/heartbeat answers");
        assert_eq!((heartbeat.status, heartbeat.body.as_str()), (500, "Failed"));
    }
}

#[test]
fn a_signer_whose_metrics_port_is_taken_logs_one_error_and_still_signs() {
    let ours = StacksPrivateKey::from_seed(b"metrics-port-taken");
    // Ours is needed for the threshold (2 of 2 weight).
    let signers = vec![
        SignerSpec::external(StacksPublicKey::from_private(&ours), 1),
        SignerSpec::simulated(StacksPrivateKey::from_seed(b"metrics-port-peer"), 1),
    ];
    let endpoint = free_port();
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port to occupy");
    let metrics = taken.local_addr().expect("its address").port();
    let mut config = MockNodeConfig {
        signers,
        ..MockNodeConfig::default()
    };
    config
        .observers
        .push(ObserverSpec::signer(format!("127.0.0.1:{endpoint}")));
    let node = MockNode::start(config).expect("mock node starts");
    let dir = tempfile::tempdir().expect("dir");
    let child = ChildSigner::start(dir.path(), &ours, &node, endpoint, metrics);

    let blocks = node
        .mine_tenures(1, 3, Duration::from_secs(60))
        .expect("the signer signs without its metrics server");
    assert_eq!(blocks.len(), 3);
    let log = child.log();
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Monitoring: Error in metrics server"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line:\n{log}");
    assert!(errors[0].starts_with("ERRO"), "{}", errors[0]);
    assert!(
        errors[0].contains(&format!("127.0.0.1:{metrics}")),
        "{}",
        errors[0]
    );
    drop(taken);
    node.stop();
}
