//! Hostile input at the event receiver (issue 12): while the mock node proposes blocks to a
//! real `stacks-signer run` process, many concurrent connections hit the signer's event
//! endpoint with a mix of valid requests (`/status`), malformed HTTP, oversized and slow
//! bodies, valid JSON of the wrong shape, and StackerDB chunks signed by keys outside the
//! signer set. Every valid event from the node reaches the run loop, in order (the signer
//! counts every proposal and votes on each in the order proposed), the process's RSS stays
//! flat, and its monitoring server's `/status.json` answers throughout.
//!
//! The CI version sends `HOSTILE_REQUESTS` (default 5,000) requests from
//! `HOSTILE_CONNECTIONS` (default 16) connections at a time; issue 12's full run is
//! `HOSTILE_REQUESTS=100000 HOSTILE_CONNECTIONS=64` (see docs/testing.md, "Hostile input at
//! the event receiver"); after the load the test waits up to `HOSTILE_DRAIN_SECS` (default
//! 60 + 1 per 100 requests) for the run loop to reach the last proposal.

mod process_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libsigner::chain::{
    QualifiedContractIdentifier, Sha512Trunc256Sum, StacksPrivateKey, StacksPublicKey,
};
use libsigner::codec::StacksMessageCodec;
use libsigner::stackerdb::StackerDBChunksEvent;
use libsigner::v0::messages::SignerMessage;
use process_support::{collect_until, get, rss_kib, signer_key, votes_of, SignerProcess, Vote};
use stacks_signer::devnet::{
    BlockKind, MockNode, MockNodeConfig, ObserverSpec, PoxConstants, ProposeOptions,
    RunningMockNode, SignerSpec,
};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The kinds of request the load mixes, in the proportions of [`kind_of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    /// `GET /status`: valid, answered 200.
    Status,
    /// Bytes that are not an HTTP request, or a broken one.
    MalformedHttp,
    /// A POST to an event path whose JSON body has the wrong shape.
    WrongShape,
    /// A `/stackerdb_chunks` event whose chunk is signed by a key outside the signer set.
    ForeignChunk,
    /// An unknown path, or a method the receiver does not serve.
    UnknownPath,
    /// A body declared far beyond the limit (1 GiB), of which 64 KiB are sent.
    OversizedDeclared,
    /// A body over the 64 MiB limit, sent in full.
    OversizedSent,
    /// A body sent a few bytes at a time, then abandoned.
    SlowBody,
}

const KINDS: [Kind; 8] = [
    Kind::Status,
    Kind::MalformedHttp,
    Kind::WrongShape,
    Kind::ForeignChunk,
    Kind::UnknownPath,
    Kind::OversizedDeclared,
    Kind::OversizedSent,
    Kind::SlowBody,
];

/// Request `i`'s kind: 30 % status, 15 % malformed, 15 % wrong shape, 20 % foreign chunks,
/// 10 % unknown paths, 8 % oversized (declared), 2 % slow bodies; one in 5,000 sends a full
/// oversized body.
fn kind_of(i: usize) -> Kind {
    if i % 5000 == 4999 {
        return Kind::OversizedSent;
    }
    match i % 100 {
        0..=29 => Kind::Status,
        30..=44 => Kind::MalformedHttp,
        45..=59 => Kind::WrongShape,
        60..=79 => Kind::ForeignChunk,
        80..=89 => Kind::UnknownPath,
        90..=97 => Kind::OversizedDeclared,
        _ => Kind::SlowBody,
    }
}

/// Bodies prepared once.
struct Bodies {
    foreign_chunks: Vec<Vec<u8>>,
}

fn post_head(path: &str, len: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: signer\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    )
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = post_head(path, body.len()).into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// Sends request `i` to `to`; returns the status answered, if any.
fn send(i: usize, to: SocketAddr, bodies: &Bodies) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&to, Duration::from_secs(5)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .ok()?;
    let wrote = match kind_of(i) {
        Kind::Status => {
            stream.write_all(b"GET /status HTTP/1.1\r\nHost: signer\r\nConnection: close\r\n\r\n")
        }
        Kind::MalformedHttp => {
            let raw: &[u8] = match (i / 100) % 5 {
                0 => b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
                1 => b"POST /new_block\r\n\r\n",
                2 => b"POST /new_block HTTP/1.1\r\nContent-Length: banana\r\n\r\n{}",
                3 => b"POST /new_block HTTP/1.1\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n{}",
                _ => b"POST /stackerdb_chunks HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            };
            stream.write_all(raw)
        }
        Kind::WrongShape => {
            let (path, body): (&str, &[u8]) = match (i / 100) % 6 {
                0 => ("/new_block", b"{\"foo\": 1}"),
                1 => ("/stackerdb_chunks", b"[]"),
                2 => ("/new_burn_block", b"{\"burn_block_height\": \"tall\"}"),
                3 => (
                    "/proposal_response",
                    b"{\"result\": \"Ok\", \"signer_signature_hash\": \"zz\"}",
                ),
                4 => (
                    "/stackerdb_chunks",
                    b"{\"contract_id\": 7, \"modified_slots\": {}}",
                ),
                _ => ("/new_block", b"null"),
            };
            stream.write_all(&post(path, body))
        }
        Kind::ForeignChunk => {
            let body = &bodies.foreign_chunks[i % bodies.foreign_chunks.len()];
            stream.write_all(&post("/stackerdb_chunks", body))
        }
        Kind::UnknownPath => {
            if (i / 100) % 2 == 0 {
                stream.write_all(&post("/not_an_event", b"{}"))
            } else {
                stream.write_all(
                    b"DELETE /new_block HTTP/1.1\r\nHost: signer\r\nConnection: close\r\n\r\n",
                )
            }
        }
        Kind::OversizedDeclared => {
            let mut raw = post_head("/new_block", 1 << 30).into_bytes();
            raw.extend(std::iter::repeat_n(b' ', 64 * 1024));
            stream.write_all(&raw)
        }
        Kind::OversizedSent => {
            let len = 65 * 1024 * 1024;
            let chunk = vec![b' '; 1024 * 1024];
            let mut result = stream.write_all(post_head("/new_block", len).as_bytes());
            for _ in 0..65 {
                if result.is_err() {
                    break;
                }
                result = stream.write_all(&chunk);
            }
            result
        }
        Kind::SlowBody => {
            let mut result = stream.write_all(post_head("/stackerdb_chunks", 4000).as_bytes());
            for _ in 0..10 {
                if result.is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
                result = stream.write_all(b"{\"contract_id\"");
            }
            // Abandoned: the rest never comes.
            result
        }
    };
    let _ = wrote;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut reply = Vec::new();
    let _ = stream.take(4096).read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
}

/// `/stackerdb_chunks` events whose chunks (pre-commits to made-up blocks, in the signers'
/// contract) are signed by keys outside the signer set.
fn foreign_chunk_bodies(node: &RunningMockNode) -> Vec<Vec<u8>> {
    let contract = "signers-0-3";
    let Ok(contract_id) = QualifiedContractIdentifier::boot_contract(contract, false) else {
        panic!("the signers contract id");
    };
    (0..16u8)
        .map(|n| {
            let stranger = StacksPrivateKey::from_seed(format!("stranger {n}").as_bytes());
            let message = SignerMessage::BlockPreCommit(Sha512Trunc256Sum([n; 32]));
            let chunk = node.signed_chunk(
                contract,
                u32::from(n % 4),
                &stranger,
                message.serialize_to_vec(),
            );
            serde_json::to_vec(&StackerDBChunksEvent {
                contract_id: contract_id.clone(),
                modified_slots: vec![chunk],
            })
            .expect("the event serializes")
        })
        .collect()
}

/// Proposals made during the load, in order.
type Proposed = Arc<Mutex<Vec<Sha512Trunc256Sum>>>;

/// Mines until `stop`: a burn block, then three blocks, one proposal every 300 ms.
fn mine(node: &RunningMockNode, stop: &AtomicBool, proposed: &Proposed) {
    let mut tenure = 0usize;
    while !stop.load(Ordering::SeqCst) {
        if node.mine_burn_block(Some(tenure % 2)).is_err() {
            return;
        }
        tenure += 1;
        for b in 0..3 {
            if stop.load(Ordering::SeqCst) {
                return;
            }
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
                .unwrap()
                .push(proposal.signer_signature_hash);
            let _ = node.wait_for_block(&proposal.signer_signature_hash, Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

#[test]
fn valid_events_reach_the_run_loop_in_order_through_a_flood_of_hostile_requests() {
    let requests = env_or("HOSTILE_REQUESTS", 5000);
    let connections = env_or("HOSTILE_CONNECTIONS", 16).max(1);
    let ours = signer_key("hostile input signer");
    let mut signers: Vec<SignerSpec> = ["a", "b", "c"]
        .iter()
        .map(|n| SignerSpec::simulated(StacksPrivateKey::from_seed(n.as_bytes()), 1))
        .collect();
    signers.push(SignerSpec::external(
        StacksPublicKey::from_private(&ours),
        1,
    ));
    let node = Arc::new(
        MockNode::start(MockNodeConfig {
            signers,
            // Cycles of 2,000 burn blocks: the run crosses no cycle boundary, which would
            // make the signer ignore proposals of a cycle its lagging run loop has not
            // started yet (tests/node_faults.rs).
            pox: PoxConstants {
                first_burn_height: 100,
                reward_cycle_length: 2000,
                prepare_length: 5,
            },
            start_burn_height: 100 + 12 * 2000 + 44,
            ..MockNodeConfig::default()
        })
        .expect("the mock node starts"),
    );
    let activity = node.subscribe();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let signer = SignerProcess::start(
        dir.path(),
        &node,
        &ours,
        // Proposals may wait long behind the flood (see below): judge them, however old.
        "event_timeout_ms = 200\nblock_proposal_validation_timeout_ms = 5000\n\
         block_proposal_max_age_secs = 7200\n",
    );
    node.add_observer(ObserverSpec::signer(signer.endpoint.to_string()));

    // Warm up: one tenure signed before the load.
    let mut entries = Vec::new();
    node.mine_burn_block(Some(0)).expect("a burn block");
    let warm = node
        .propose_block(&ProposeOptions {
            kind: Some(BlockKind::TenureStart),
            ..ProposeOptions::default()
        })
        .expect("a proposal");
    assert!(
        collect_until(&activity, &mut entries, Duration::from_secs(60), |seen| {
            votes_of(seen, signer.writer)
                .iter()
                .any(|(h, v)| *h == warm.signer_signature_hash && *v == Vote::Accepted)
        }),
        "the signer never signed the warm-up block"
    );
    std::thread::sleep(Duration::from_secs(1));
    let proposals_before = signer
        .metric("stacks_signer_block_proposals_received")
        .unwrap_or(0.0);
    let rss_before = signer.rss_kib();
    let pid = signer.child.id();

    let stop = Arc::new(AtomicBool::new(false));
    let proposed: Proposed = Arc::default();
    let miner = {
        let (node, stop, proposed) = (node.clone(), stop.clone(), proposed.clone());
        std::thread::spawn(move || mine(&node, &stop, &proposed))
    };
    // Watchers: the peak RSS, and `/status.json` every 250 ms.
    let peak = Arc::new(AtomicU64::new(rss_before));
    let status_ok = Arc::new(AtomicUsize::new(0));
    let status_failed = Arc::new(Mutex::new(Vec::<String>::new()));
    let slowest_status_ms = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (stop, peak, ok, failed, slowest) = (
            stop.clone(),
            peak.clone(),
            status_ok.clone(),
            status_failed.clone(),
            slowest_status_ms.clone(),
        );
        let metrics = signer.metrics;
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                peak.fetch_max(rss_kib(pid), Ordering::SeqCst);
                let started = Instant::now();
                match get(metrics, "/status.json") {
                    Ok(reply) if reply.starts_with("HTTP/1.1 200") => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(reply) => failed
                        .lock()
                        .unwrap()
                        .push(reply.lines().next().unwrap_or("").to_string()),
                    Err(e) => failed.lock().unwrap().push(e.to_string()),
                }
                slowest.fetch_max(started.elapsed().as_millis() as u64, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };

    // The load.
    let bodies = Arc::new(Bodies {
        foreign_chunks: foreign_chunk_bodies(&node),
    });
    let next = Arc::new(AtomicUsize::new(0));
    let tallies = Arc::new(Mutex::new(std::collections::BTreeMap::<
        (Kind, Option<u16>),
        usize,
    >::new()));
    let load_started = Instant::now();
    let clients: Vec<_> = (0..connections)
        .map(|_| {
            let (next, bodies, tallies) = (next.clone(), bodies.clone(), tallies.clone());
            let to = signer.endpoint;
            std::thread::spawn(move || {
                let mut mine = std::collections::BTreeMap::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= requests {
                        break;
                    }
                    let status = send(i, to, &bodies);
                    *mine.entry((kind_of(i), status)).or_insert(0usize) += 1;
                }
                let mut all = tallies.lock().unwrap();
                for (key, n) in mine {
                    *all.entry(key).or_insert(0) += n;
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a load client ends");
    }
    let load_secs = load_started.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    miner.join().expect("the miner thread ends");
    watcher.join().expect("the watcher ends");

    // Every proposal made during the load gets a vote, in order.
    let proposed = proposed.lock().unwrap().clone();
    // The run loop may still be working through the hostile requests it was handed: each
    // `/status` and each chunk event that decodes is an event too, and each costs the run
    // loop a full pass (several milliseconds in a debug build), so a flood delays the node's
    // events behind it. Give it time (`HOSTILE_DRAIN_SECS`).
    let drain_started = Instant::now();
    let drain_budget = Duration::from_secs(
        std::env::var("HOSTILE_DRAIN_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60 + requests as u64 / 100),
    );
    let all_voted = collect_until(&activity, &mut entries, drain_budget, |seen| {
        let votes = votes_of(seen, signer.writer);
        proposed.iter().all(|hash| {
            votes
                .iter()
                .any(|(h, v)| h == hash && *v != Vote::PreCommit)
        })
    });
    let drain_secs = drain_started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    let rss_after = signer.rss_kib();
    let proposals_after = signer
        .metric("stacks_signer_block_proposals_received")
        .unwrap_or(0.0);
    let from_non_signers = signer
        .metric("stacks_signer_messages_from_non_signers_total")
        .unwrap_or(0.0);
    let votes = votes_of(&entries, signer.writer);
    let mut first_votes: Vec<Sha512Trunc256Sum> = Vec::new();
    for (hash, vote) in &votes {
        if *vote != Vote::PreCommit && proposed.contains(hash) && !first_votes.contains(hash) {
            first_votes.push(*hash);
        }
    }
    let accepted = votes
        .iter()
        .filter(|(h, v)| *v == Vote::Accepted && proposed.contains(h))
        .count();
    let rejected = proposed
        .iter()
        .filter(|hash| {
            votes
                .iter()
                .any(|(h, v)| h == *hash && *v == Vote::Rejected)
        })
        .count();
    // The node's retries: deliveries the receiver closed at its connection cap.
    let delivery_failures: u64 = node
        .observer_stats()
        .iter()
        .map(|(_, stats)| stats.failed_attempts)
        .sum();

    let tallies = tallies.lock().unwrap().clone();
    println!(
        "{requests} requests from {connections} connections in {load_secs:.1} s ({:.0} requests/s)",
        requests as f64 / load_secs
    );
    for kind in KINDS {
        let answers: Vec<String> = tallies
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, status), n)| match status {
                Some(code) => format!("{code}: {n}"),
                None => format!("closed: {n}"),
            })
            .collect();
        println!("  {kind:?}: {}", answers.join(", "));
    }
    println!(
        "{} proposals during the load, {} counted by the signer, {} voted on in order ({drain_secs:.1} s after the load for the last): {accepted} signed, {rejected} rejected; chunks from non-signers counted: {from_non_signers}; the node retried {delivery_failures} event deliveries",
        proposed.len(),
        proposals_after - proposals_before,
        first_votes.len()
    );
    println!(
        "RSS before {rss_before} KiB, peak {} KiB, after {rss_after} KiB; /status.json answered {} times (slowest {} ms), failed {:?}",
        peak.load(Ordering::SeqCst),
        status_ok.load(Ordering::SeqCst),
        slowest_status_ms.load(Ordering::SeqCst),
        status_failed.lock().unwrap()
    );

    // What the signer warned about, by source line (rejections and their reasons).
    let mut by_site = std::collections::BTreeMap::<String, usize>::new();
    for line in signer.log_lines() {
        let level = line.get("level").and_then(|l| l.as_str()).unwrap_or("");
        if matches!(level, "WARN" | "ERRO" | "CRIT") {
            let site = format!(
                "{}:{} {} {}",
                line["file"].as_str().unwrap_or(""),
                line["line"],
                line["msg"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(80)
                    .collect::<String>(),
                line["reject_reason"].as_str().unwrap_or("")
            );
            *by_site.entry(site).or_default() += 1;
        }
    }
    let dropped_warnings = signer
        .log_lines()
        .iter()
        .filter(|l| {
            l.get("level").and_then(|v| v.as_str()) == Some("WARN")
                && l.get("msg")
                    .and_then(|m| m.as_str())
                    .is_some_and(|m| m.starts_with("Dropped an event request"))
        })
        .count();
    println!("signer warnings over the whole run:");
    for (site, n) in by_site {
        println!("  {n:>6} x {site}");
    }

    let mut signer = signer;
    assert!(signer.is_running(), "the signer is still running");
    // Garbage is logged as one warning a minute, not one per request.
    let minutes = drain_started.elapsed().as_secs_f64() / 60.0 + load_secs / 60.0;
    assert!(
        dropped_warnings as f64 <= minutes.ceil() + 1.0,
        "{dropped_warnings} warnings about dropped requests in {minutes:.1} minutes"
    );
    assert!(!proposed.is_empty(), "the miner proposed during the load");
    assert!(all_voted, "the signer did not vote on every proposal");
    assert_eq!(
        first_votes, proposed,
        "the signer voted on the proposals in the order they were made"
    );
    assert_eq!(
        (proposals_after - proposals_before) as usize,
        proposed.len(),
        "every proposal reached the run loop once"
    );
    assert!(
        status_failed.lock().unwrap().is_empty(),
        "/status.json failed during the load"
    );
    assert!(status_ok.load(Ordering::SeqCst) > 0);
    let status_answers = tallies
        .iter()
        .filter(|((k, s), _)| *k == Kind::Status && *s == Some(200))
        .map(|(_, n)| n)
        .sum::<usize>();
    assert!(status_answers > 0, "the receiver's /status never answered");
    assert!(
        rss_after <= rss_before + 32 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
}

/// `/status` is open to every client and each request becomes a status check the run loop
/// answers with a result; `stacks-signer run` reads none of them, and kept they grew the
/// process by about 3 KiB per request (23.5 MB to 81 MB over 20,000 before the fix).
#[test]
fn status_probes_do_not_grow_the_signer_process() {
    const PROBES: usize = 20_000;
    let ours = signer_key("status probe signer");
    let node = MockNode::start(MockNodeConfig {
        signers: vec![SignerSpec::external(
            StacksPublicKey::from_private(&ours),
            1,
        )],
        ..MockNodeConfig::default()
    })
    .expect("the mock node starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let signer = SignerProcess::start(dir.path(), &node, &ours, "");
    let answered_by_run_loop = |signer: &SignerProcess| {
        signer
            .log_lines()
            .iter()
            .filter(|l| {
                l.get("msg")
                    .and_then(|m| m.as_str())
                    .is_some_and(|m| m.starts_with("Signer status check requested"))
            })
            .count()
    };
    // Warm up the receiver's and the run loop's allocations.
    for _ in 0..200 {
        let _ = get(signer.endpoint, "/status");
    }
    process_support::wait_until("the warm-up probes", Duration::from_secs(60), || {
        answered_by_run_loop(&signer) >= 200
    });
    let rss_before = signer.rss_kib();
    let next = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let next = next.clone();
            let to = signer.endpoint;
            std::thread::spawn(move || {
                while next.fetch_add(1, Ordering::SeqCst) < PROBES {
                    let _ = get(to, "/status");
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client ends");
    }
    process_support::wait_until(
        "the run loop to answer every probe",
        Duration::from_secs(300),
        || answered_by_run_loop(&signer) >= 200 + PROBES,
    );
    let rss_after = signer.rss_kib();
    println!("{PROBES} status probes: RSS {rss_before} KiB before, {rss_after} KiB after");
    assert!(
        rss_after <= rss_before + 16 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
}
