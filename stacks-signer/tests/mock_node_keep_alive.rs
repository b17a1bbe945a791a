//! The mock node answers requests on a kept-alive connection without the Nagle +
//! delayed-ACK stall: 200 requests in a row on ONE connection to every endpoint a signer
//! calls, each answered within a few milliseconds on loopback; and its event posts reach an
//! observer without one either.
//!
//! A server that writes a response's head and body in two writes without `TCP_NODELAY` holds
//! the body until the client acknowledges the head, which a client in delayed-ACK mode does
//! only after ~40 ms: every such answer would take 40 ms or more. The bound below (20 ms) is
//! far above what a loaded 2-core machine needs to answer (well under 1 ms in a debug build)
//! and far below the stall.

mod mock_node_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use libsigner::chain::hex::to_hex;
use libsigner::chain::{StacksPrivateKey, StacksPublicKey};
use libsigner::codec::StacksMessageCodec;
use mock_node_common::Observer;
use serde_json::json;
use stacks_signer::client::api::SortitionInfo;
use stacks_signer::devnet::stackerdb::sign_chunk;
use stacks_signer::devnet::{MockNode, MockNodeConfig, ObserverSpec, ProposeOptions, SignerSpec};

/// The docs' example signer (public key `03bc48...`).
const SIGNER_KEY: &str = "6a1fc1a3183018c6d79a4e11e154d2bdad2d89ac8bc1b0a021de8b4d28774fbb01";
const REQUESTS: usize = 200;
/// No answer may take this long (a delayed ACK takes 40 ms).
const BOUND: Duration = Duration::from_millis(20);
/// Requests allowed over [`BOUND`] per endpoint, for a scheduler hiccup on a loaded machine;
/// a stall would slow every request down.
const OUTLIERS_ALLOWED: usize = 2;

/// One client connection, kept alive across requests. Each request goes out in a single
/// write, so only the server's way of answering can delay it.
struct KeptAlive {
    stream: TcpStream,
    local: SocketAddr,
    pending: Vec<u8>,
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl KeptAlive {
    fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let local = stream.local_addr().unwrap();
        KeptAlive {
            stream,
            local,
            pending: Vec::new(),
        }
    }

    fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        if method == "POST" {
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes).unwrap();
        self.read_answer()
    }

    fn read_answer(&mut self) -> Answer {
        let head_end = loop {
            if let Some(i) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            self.fill();
        };
        let head = String::from_utf8_lossy(&self.pending[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .expect("the mock answers with a Content-Length");
        let total = head_end + 4 + length;
        while self.pending.len() < total {
            self.fill();
        }
        let body = self.pending[head_end + 4..total].to_vec();
        self.pending.drain(..total);
        Answer {
            status,
            headers,
            body,
        }
    }

    fn fill(&mut self) {
        let mut buf = [0u8; 16 * 1024];
        let n = self.stream.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed the kept-alive connection");
        self.pending.extend_from_slice(&buf[..n]);
    }
}

/// A request a signer makes, and the statuses it may get.
struct Call {
    name: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    /// The body of request `i`.
    body: Box<dyn Fn(usize) -> Vec<u8>>,
    statuses: &'static [u16],
}

#[test]
fn every_signer_endpoint_answers_kept_alive_requests_without_a_delayed_ack_stall() {
    let observer = Observer::start();
    let key = StacksPrivateKey::from_hex(SIGNER_KEY).unwrap();
    // A reward set of 20 signers (mainnet's has a few dozen), so the stacker set and the
    // slot pages are as long as a signer usually reads. Two simulated signers hold 80% of the
    // weight, so blocks get signed without the external signers.
    let mut signers: Vec<SignerSpec> = (0..18)
        .map(|i| {
            let other = StacksPrivateKey::from_seed(format!("keep-alive external {i}").as_bytes());
            SignerSpec::external(StacksPublicKey::from_private(&other), 1)
        })
        .collect();
    signers[0] = SignerSpec::external(StacksPublicKey::from_private(&key), 1);
    signers.extend([
        SignerSpec::simulated(StacksPrivateKey::from_seed(b"keep-alive 0"), 36),
        SignerSpec::simulated(StacksPrivateKey::from_seed(b"keep-alive 1"), 36),
    ]);
    let mut config = MockNodeConfig {
        signers,
        ..MockNodeConfig::default()
    };
    config
        .observers
        .push(ObserverSpec::signer(observer.endpoint()));
    let node = MockNode::start(config).unwrap();
    // Some history, so the answers have their usual size.
    node.mine_tenures(3, 2, Duration::from_secs(30)).unwrap();
    let proposal = node.propose_block(&ProposeOptions::default()).unwrap();
    let block_hex = to_hex(&proposal.block.serialize_to_vec());

    let mut probe = KeptAlive::open(node.addr());
    let sortitions: Vec<SortitionInfo> = serde_json::from_slice(
        &probe
            .send("GET", "/v3/sortitions/latest_and_last", &[], b"")
            .body,
    )
    .unwrap();
    let tip_ch = sortitions[0].consensus_hash;
    let first_ch = sortitions[1].consensus_hash;
    let tip = node.stacks_tip().unwrap();
    let reward_cycle = node.with_state(|s| s.current_cycle());
    let our_slot = node.with_state(|s| {
        s.reward_sets
            .get(reward_cycle)
            .unwrap()
            .signers
            .iter()
            .position(|signer| signer.public_key == StacksPublicKey::from_private(&key))
            .unwrap() as u32
    });
    let json_type = ("Content-Type", "application/json".to_string());
    let signers = "/v2/contracts/call-read/ST000000000000000000002AMW42H/signers";
    let chunk_key = key.clone();
    let calls = vec![
        Call {
            name: "GET /v2/info",
            method: "GET",
            path: "/v2/info".into(),
            headers: vec![],
            body: Box::new(|_| Vec::new()),
            statuses: &[200],
        },
        Call {
            name: "GET /v2/pox",
            method: "GET",
            path: "/v2/pox".into(),
            headers: vec![],
            body: Box::new(|_| Vec::new()),
            statuses: &[200],
        },
        Call {
            name: "GET /v3/sortitions/latest_and_last",
            method: "GET",
            path: "/v3/sortitions/latest_and_last".into(),
            headers: vec![],
            body: Box::new(|_| Vec::new()),
            statuses: &[200],
        },
        Call {
            name: "GET /v3/tenures/tip_metadata",
            method: "GET",
            path: format!("/v3/tenures/tip_metadata/{}", tip.tenure()),
            headers: vec![],
            body: Box::new(|_| Vec::new()),
            statuses: &[200],
        },
        Call {
            name: "GET /v3/tenures/fork_info",
            method: "GET",
            path: format!("/v3/tenures/fork_info/{first_ch}/{tip_ch}"),
            headers: vec![],
            body: Box::new(|_| Vec::new()),
            statuses: &[200],
        },
        Call {
            name: "GET /v3/stacker_set",
            method: "GET",
            path: format!("/v3/stacker_set/{reward_cycle}"),
            headers: vec![],
            body: Box::new(|_| Vec::new()),
            statuses: &[200],
        },
        Call {
            name: "POST /v2/stackerdb/.../chunks",
            method: "POST",
            path: format!(
                "/v2/stackerdb/ST000000000000000000002AMW42H/signers-{}-1/chunks",
                reward_cycle % 2
            ),
            headers: vec![json_type.clone()],
            // A block response's size; versions increase, so every write is accepted.
            body: Box::new(move |i| {
                let chunk = sign_chunk(&chunk_key, our_slot, 1 + i as u32, vec![7u8; 300]);
                serde_json::to_vec(&chunk).unwrap()
            }),
            statuses: &[200],
        },
        Call {
            name: "POST /v3/block_proposal",
            method: "POST",
            path: "/v3/block_proposal".into(),
            headers: vec![json_type.clone(), ("Authorization", "12345".to_string())],
            body: Box::new(move |_| {
                json!({"block": block_hex, "chain_id": 0x8000_0000u32, "replay_txs": null})
                    .to_string()
                    .into_bytes()
            }),
            // 429 while the previous one is still being validated.
            statuses: &[202, 429],
        },
        Call {
            name: "POST /v2/contracts/call-read",
            method: "POST",
            path: format!("{signers}/stackerdb-get-signer-slots-page"),
            headers: vec![json_type],
            body: Box::new(|_| {
                json!({
                    "sender": "ST3FPN8KBZ3YPBP0ZJGAAHTVFMQDTJCR5QPS7VTNJ",
                    "arguments": ["0x0100000000000000000000000000000000"],
                })
                .to_string()
                .into_bytes()
            }),
            statuses: &[200],
        },
    ];

    let mut report = Vec::new();
    let mut stalled = Vec::new();
    for call in &calls {
        let mut connection = KeptAlive::open(node.addr());
        let headers: Vec<(&str, &str)> =
            call.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut times = Vec::with_capacity(REQUESTS);
        let mut answer_len = 0;
        for i in 0..REQUESTS {
            let body = (call.body)(i);
            let started = Instant::now();
            let answer = connection.send(call.method, &call.path, &headers, &body);
            times.push(started.elapsed());
            assert!(
                call.statuses.contains(&answer.status),
                "{}: status {} ({})",
                call.name,
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
            assert_ne!(
                answer.header("Connection").map(str::to_ascii_lowercase),
                Some("close".to_string()),
                "{}: the server must keep the connection open",
                call.name
            );
            answer_len = answer_len.max(answer.body.len());
        }
        // Still the same connection: it was reused for every request.
        assert_eq!(connection.stream.local_addr().unwrap(), connection.local);
        times.sort();
        let over = times.iter().filter(|t| **t > BOUND).count();
        let line = format!(
            "{:<36} answer {:>5} B  p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms  over {}ms: {}",
            call.name,
            answer_len,
            ms(times[REQUESTS / 2]),
            ms(times[REQUESTS * 99 / 100]),
            ms(times[REQUESTS - 1]),
            BOUND.as_millis(),
            over
        );
        eprintln!("{line}");
        if over > OUTLIERS_ALLOWED {
            stalled.push(line.clone());
        }
        report.push(line);
    }
    assert!(
        stalled.is_empty(),
        "requests on a kept-alive connection stalled:\n{}\n(all: \n{})",
        stalled.join("\n"),
        report.join("\n")
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// An event observer on raw TCP: reads each POST (head and `Content-Length` body), answers
/// 200 and closes, as the signer's event receiver does.
fn raw_observer() -> (SocketAddr, std::thread::JoinHandle<usize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let mut served = 0;
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut raw = Vec::new();
            let mut buf = [0u8; 16 * 1024];
            let complete = loop {
                let n = stream.read(&mut buf).unwrap();
                if n == 0 {
                    break false;
                }
                raw.extend_from_slice(&buf[..n]);
                if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map(|v| v.trim().parse().unwrap())
                        .unwrap_or(0);
                    if raw.len() >= end + 4 + length {
                        break true;
                    }
                }
            };
            if !complete {
                // The test's last connection, made to stop this thread.
                return served;
            }
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .unwrap();
            served += 1;
        }
        served
    });
    (addr, handle)
}

#[test]
fn events_reach_an_observer_without_a_delayed_ack_stall() {
    let (addr, observer) = raw_observer();
    // A `/new_block` event's size.
    let body = serde_json::to_vec(&json!({"padding": "x".repeat(6000)})).unwrap();
    let mut times = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let status = stacks_signer::devnet::dispatcher::post(
            &addr.to_string(),
            "/new_block",
            &body,
            Duration::from_secs(5),
        )
        .unwrap();
        times.push(started.elapsed());
        assert_eq!(status, 200);
    }
    drop(TcpStream::connect(addr).unwrap());
    assert_eq!(observer.join().unwrap(), REQUESTS);
    times.sort();
    let over = times.iter().filter(|t| **t > BOUND).count();
    eprintln!(
        "event POST ({} B): p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms  over {}ms: {over}",
        body.len(),
        ms(times[REQUESTS / 2]),
        ms(times[REQUESTS * 99 / 100]),
        ms(times[REQUESTS - 1]),
        BOUND.as_millis()
    );
    assert!(
        over <= OUTLIERS_ALLOWED,
        "event posts stalled: {over} over {BOUND:?}"
    );
}
