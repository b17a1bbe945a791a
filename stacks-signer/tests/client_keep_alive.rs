//! The signer's node clients (`StacksClient` and libsigner's `StackerDBSession`) get their
//! answers without a Nagle + delayed-ACK stall even from a server that writes each answer's
//! head and body in two writes without `TCP_NODELAY`, as a Stacks node may, and they keep
//! using one connection for it.
//!
//! Against such a server the body leaves only once the client has acknowledged the head; a
//! client that delays its ACK (Linux does, ~40 ms, once a connection carries
//! request/response traffic) waits that long for every answer. The bound below (20 ms) is far
//! above what a loaded 2-core machine needs on loopback and far below the stall.

mod mock_node_common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use libsigner::chain::{QualifiedContractIdentifier, StacksPrivateKey, StacksPublicKey};
use libsigner::codec::StacksMessageCodec;
use libsigner::{SignerSession, StackerDBSession};
use mock_node_common::{request, Observer};
use stacks_signer::client::api::SortitionInfo;
use stacks_signer::client::StacksClient;
use stacks_signer::devnet::stackerdb::sign_chunk;
use stacks_signer::devnet::{MockNode, MockNodeConfig, ProposeOptions, SignerSpec};

const REQUESTS: usize = 200;
/// No answer may take this long (a delayed ACK takes 40 ms).
const BOUND: Duration = Duration::from_millis(20);
/// Requests allowed over [`BOUND`] per call, for a scheduler hiccup on a loaded machine; a
/// stall would slow every request down.
const OUTLIERS_ALLOWED: usize = 2;
const CHAIN_ID_TESTNET: u32 = 0x8000_0000;
const BOOT: &str = "ST000000000000000000002AMW42H";

/// A canned answer: status, content type, body.
type Canned = (u16, &'static str, Vec<u8>);
/// A request made to the real mock node: method, path, headers, body.
type Capture<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, Vec<u8>);

/// An HTTP/1.1 server that keeps connections alive and writes each answer's head, then its
/// body, in two separate writes on a socket with Nagle's algorithm on (no `TCP_NODELAY`).
/// Answers are canned by method and path (query ignored).
struct TwoWriteServer {
    addr: SocketAddr,
    /// Connections that carried at least one request.
    used_connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl TwoWriteServer {
    fn start(answers: HashMap<(String, String), Canned>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let used_connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(answers);
        let (used, stopped) = (used_connections.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (answers, used) = (answers.clone(), used.clone());
                std::thread::spawn(move || serve_connection(stream, &answers, &used));
            }
        });
        TwoWriteServer {
            addr,
            used_connections,
            stop,
            accept: Some(accept),
        }
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for TwoWriteServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

fn serve_connection(
    mut stream: TcpStream,
    answers: &HashMap<(String, String), Canned>,
    used: &AtomicUsize,
) {
    assert!(!stream.nodelay().unwrap(), "the test server keeps Nagle on");
    let mut pending = Vec::new();
    let mut first = true;
    loop {
        let Some((method, path)) = read_request(&mut stream, &mut pending) else {
            return;
        };
        if first {
            used.fetch_add(1, Ordering::SeqCst);
            first = false;
        }
        let (status, content_type, body) = answers.get(&(method, path)).cloned().unwrap_or((
            404,
            "text/plain",
            b"not canned".to_vec(),
        ));
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if stream.write_all(head.as_bytes()).is_err() || stream.write_all(&body).is_err() {
            return;
        }
    }
}

/// Reads one request (head and `Content-Length` body); `None` once the client closes.
fn read_request(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Option<(String, String)> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if pending.len() >= end + 4 + length {
                pending.drain(..end + 4 + length);
                let mut words = head.split_whitespace();
                let method = words.next()?.to_string();
                let target = words.next()?;
                let path = target.split('?').next().unwrap_or(target).to_string();
                return Some((method, path));
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

/// Per-request latencies of one call, sorted.
struct Timings {
    name: &'static str,
    sorted: Vec<Duration>,
}

impl Timings {
    fn measure(name: &'static str, mut call: impl FnMut(usize)) -> Self {
        let mut sorted = Vec::with_capacity(REQUESTS);
        for i in 0..REQUESTS {
            let started = Instant::now();
            call(i);
            sorted.push(started.elapsed());
        }
        sorted.sort();
        Timings { name, sorted }
    }

    fn over_bound(&self) -> usize {
        self.sorted.iter().filter(|t| **t > BOUND).count()
    }

    fn line(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "{:<44} p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms  over {}ms: {}",
            self.name,
            ms(self.sorted[REQUESTS / 2]),
            ms(self.sorted[REQUESTS * 99 / 100]),
            ms(self.sorted[REQUESTS - 1]),
            BOUND.as_millis(),
            self.over_bound()
        )
    }
}

fn assert_no_stall(all: &[Timings]) {
    let report: Vec<String> = all.iter().map(Timings::line).collect();
    for line in &report {
        eprintln!("{line}");
    }
    assert!(
        all.iter().all(|t| t.over_bound() <= OUTLIERS_ALLOWED),
        "answers written in two parts stalled:\n{}",
        report.join("\n")
    );
}

/// What the clients call, answered by a real mock node (20 signers, some history) once, to
/// be replayed by the two-write server.
struct Fixture {
    answers: HashMap<(String, String), Canned>,
    key: StacksPrivateKey,
    slot: u32,
    reward_cycle: u64,
    tip_ch: libsigner::chain::ConsensusHash,
    first_ch: libsigner::chain::ConsensusHash,
    block: libsigner::chain::NakamotoBlock,
}

fn fixture() -> Fixture {
    let key = StacksPrivateKey::from_hex(
        "6a1fc1a3183018c6d79a4e11e154d2bdad2d89ac8bc1b0a021de8b4d28774fbb01",
    )
    .unwrap();
    let mut signers: Vec<SignerSpec> = (0..18)
        .map(|i| {
            let other = StacksPrivateKey::from_seed(format!("client keep-alive {i}").as_bytes());
            SignerSpec::external(StacksPublicKey::from_private(&other), 1)
        })
        .collect();
    signers[0] = SignerSpec::external(StacksPublicKey::from_private(&key), 1);
    signers.extend([
        SignerSpec::simulated(StacksPrivateKey::from_seed(b"client keep-alive a"), 36),
        SignerSpec::simulated(StacksPrivateKey::from_seed(b"client keep-alive b"), 36),
    ]);
    let mut config = MockNodeConfig {
        signers,
        ..MockNodeConfig::default()
    };
    // The validator needs a `block_proposal` observer to accept proposals.
    let observer = Observer::start();
    config
        .observers
        .push(stacks_signer::devnet::ObserverSpec::signer(
            observer.endpoint(),
        ));
    let node = MockNode::start(config).unwrap();
    node.mine_tenures(3, 2, Duration::from_secs(30)).unwrap();
    let block = node
        .propose_block(&ProposeOptions::default())
        .unwrap()
        .block;
    let reward_cycle = node.with_state(|s| s.current_cycle());
    let slot = node.with_state(|s| {
        s.reward_sets
            .get(reward_cycle)
            .unwrap()
            .signers
            .iter()
            .position(|signer| signer.public_key == StacksPublicKey::from_private(&key))
            .unwrap() as u32
    });
    let addr = node.addr();
    let sortitions: Vec<SortitionInfo> =
        request(addr, "GET", "/v3/sortitions/latest_and_last", &[], b"").parse();
    let (tip_ch, first_ch) = (sortitions[0].consensus_hash, sortitions[1].consensus_hash);
    let chunk_path = format!("/v2/stackerdb/{BOOT}/signers-{}-1", reward_cycle % 2);
    // Put a chunk there, so that reading it back has something to return.
    let chunk = serde_json::to_vec(&sign_chunk(&key, slot, 1, vec![7u8; 300])).unwrap();
    let json = [("Content-Type", "application/json")];
    let proposal = serde_json::json!({
        "block": libsigner::chain::hex::to_hex(&block.serialize_to_vec()),
        "chain_id": CHAIN_ID_TESTNET,
    })
    .to_string();
    let slots_page = serde_json::json!({
        "sender": "ST3FPN8KBZ3YPBP0ZJGAAHTVFMQDTJCR5QPS7VTNJ",
        "arguments": ["0x0100000000000000000000000000000000"],
    })
    .to_string();
    let captures: Vec<Capture> = vec![
        ("GET", "/v2/info".into(), vec![], vec![]),
        ("GET", "/v2/pox".into(), vec![], vec![]),
        (
            "GET",
            "/v3/sortitions/latest_and_last".into(),
            vec![],
            vec![],
        ),
        (
            "GET",
            format!(
                "/v3/tenures/tip_metadata/{}",
                node.stacks_tip().unwrap().tenure()
            ),
            vec![],
            vec![],
        ),
        (
            "GET",
            format!("/v3/tenures/fork_info/{first_ch}/{tip_ch}"),
            vec![],
            vec![],
        ),
        (
            "GET",
            format!("/v3/stacker_set/{reward_cycle}"),
            vec![],
            vec![],
        ),
        (
            "POST",
            format!("{chunk_path}/chunks"),
            json.to_vec(),
            chunk.clone(),
        ),
        ("GET", format!("{chunk_path}/{slot}"), vec![], vec![]),
        (
            "POST",
            "/v3/block_proposal".into(),
            vec![json[0], ("Authorization", "12345")],
            proposal.into_bytes(),
        ),
        (
            "POST",
            format!("/v2/contracts/call-read/{BOOT}/signers/stackerdb-get-signer-slots-page"),
            json.to_vec(),
            slots_page.into_bytes(),
        ),
    ];
    let mut answers = HashMap::new();
    for (method, path, headers, body) in captures {
        let answer = request(addr, method, &path, &headers, &body);
        assert!(
            answer.status == 200 || answer.status == 202,
            "{method} {path}: {} {}",
            answer.status,
            answer.text()
        );
        let content_type = match answer.header("Content-Type") {
            Some("application/json") => "application/json",
            Some("application/octet-stream") => "application/octet-stream",
            _ => "text/plain",
        };
        answers.insert(
            (method.to_string(), path),
            (answer.status, content_type, answer.body),
        );
    }
    Fixture {
        answers,
        key,
        slot,
        reward_cycle,
        tip_ch,
        first_ch,
        block,
    }
}

#[test]
fn stacks_client_reads_two_write_answers_on_one_connection_without_a_delayed_ack_stall() {
    let f = fixture();
    let server = TwoWriteServer::start(f.answers.clone());
    let client = StacksClient::new(
        &f.key,
        &server.host(),
        "12345".into(),
        false,
        CHAIN_ID_TESTNET,
    );
    let mut all = vec![
        Timings::measure("StacksClient get_peer_info", |_| {
            client.get_peer_info().unwrap();
        }),
        Timings::measure("StacksClient get_pox_data", |_| {
            client.get_pox_data().unwrap();
        }),
        Timings::measure("StacksClient get_current_and_last_sortition", |_| {
            client.get_current_and_last_sortition().unwrap();
        }),
        Timings::measure("StacksClient get_tenure_tip", |_| {
            client.get_tenure_tip(&f.tip_ch).unwrap();
        }),
        Timings::measure("StacksClient get_tenure_forking_info", |_| {
            client
                .get_tenure_forking_info(&f.first_ch, &f.tip_ch)
                .unwrap();
        }),
        Timings::measure("StacksClient get_reward_set_signers", |_| {
            client.get_reward_set_signers(f.reward_cycle).unwrap();
        }),
        Timings::measure("StacksClient get_parsed_signer_slots", |_| {
            assert_eq!(
                client
                    .get_parsed_signer_slots(f.reward_cycle)
                    .unwrap()
                    .len(),
                20
            );
        }),
    ];
    assert_eq!(
        server.used_connections.load(Ordering::SeqCst),
        1,
        "every request went over one kept-alive connection"
    );
    // The proposal submission reads the node's 202 answer, so its connection goes back to
    // the pool too.
    all.push(Timings::measure(
        "StacksClient submit_block_for_validation",
        |_| {
            client
                .submit_block_for_validation(f.block.clone(), None)
                .unwrap();
        },
    ));
    assert_no_stall(&all);
    assert_eq!(
        server.used_connections.load(Ordering::SeqCst),
        1,
        "proposal submissions reused the kept-alive connection"
    );
}

#[test]
fn stackerdb_session_reads_two_write_answers_on_one_connection_without_a_delayed_ack_stall() {
    let f = fixture();
    let server = TwoWriteServer::start(f.answers.clone());
    let contract =
        QualifiedContractIdentifier::parse(&format!("{BOOT}.signers-{}-1", f.reward_cycle % 2))
            .unwrap();
    let mut session = StackerDBSession::new(&server.host(), contract, Duration::from_secs(5));
    let chunk = sign_chunk(&f.key, f.slot, 1, vec![7u8; 300]);
    let all = vec![
        Timings::measure("StackerDBSession put_chunk", |_| {
            assert!(session.put_chunk(&chunk).unwrap().accepted);
        }),
        Timings::measure("StackerDBSession get_latest_chunk", |_| {
            assert!(session.get_latest_chunk(f.slot).unwrap().is_some());
        }),
    ];
    assert_no_stall(&all);
    assert_eq!(
        server.used_connections.load(Ordering::SeqCst),
        1,
        "every request went over one kept-alive connection"
    );
}
