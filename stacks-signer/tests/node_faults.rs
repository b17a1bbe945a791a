//! Node faults while blocks are being proposed (issue 12): a real `stacks-signer run` process
//! against the mock node, whose RPC is refused, slow (10 s per answer), answers garbage JSON,
//! then answers 500, each for a while before recovering, and whose event stream is paused and
//! then replayed newest first. Three simulated signers carry the threshold, so the chain moves
//! on throughout. The signer keeps running without a restart, votes on the first proposal
//! after each recovery, its memory stays flat, and its log says what happened in one warning
//! when a fault starts and one line when it ends (retries are debug lines).
//!
//! Each fault lasts `NODE_FAULT_SECS` seconds (default 4, the CI version); the long version of
//! issue 12 is `NODE_FAULT_SECS=60` (see docs/testing.md, "Node faults"). Set
//! `NODE_FAULT_VERBOSE=1` to print every warning of each fault.

mod process_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libsigner::chain::{Sha512Trunc256Sum, StacksPrivateKey, StacksPublicKey};
use process_support::{collect_until, signer_key, votes_of, SignerProcess, Vote};
use stacks_signer::devnet::{
    BlockKind, EventReplay, MockNode, MockNodeConfig, ObserverSpec, PoxConstants, ProposeOptions,
    RpcFault, RunningMockNode, SignerSpec,
};

/// The message of the one warning the signer logs when its node starts failing.
const FAULT_STARTED: &str = "Stacks node RPC is failing";
/// The message of the one line it logs when the node answers again.
const FAULT_ENDED: &str = "Stacks node RPC recovered";

/// Reward cycles of 2,000 burn blocks: the miner's pace (a burn block every two seconds)
/// crosses none during the run, as a real chain would not during a minute's fault. With the
/// default 20-block cycles it crosses several, and the signer's backlog then holds proposals
/// of a cycle its run loop does not consider started yet, which it ignores (as the reference
/// does).
fn long_cycles() -> PoxConstants {
    PoxConstants {
        first_burn_height: 100,
        reward_cycle_length: 2000,
        prepare_length: 5,
    }
}

fn fault_secs() -> u64 {
    std::env::var("NODE_FAULT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

/// A fault the node goes through.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Refused,
    Slow,
    Garbage,
    ServerError,
    EventsPausedThenReplayedOutOfOrder,
}

impl Fault {
    fn name(&self) -> &'static str {
        match self {
            Fault::Refused => "RPC refuses connections",
            Fault::Slow => "RPC answers after 10 s",
            Fault::Garbage => "RPC answers garbage JSON",
            Fault::ServerError => "RPC answers 500",
            Fault::EventsPausedThenReplayedOutOfOrder => "event stream paused, replayed reversed",
        }
    }

    /// Whether a log line's text names this fault's error (what a caller would repeat once
    /// per failed call).
    fn named_in(&self, text: &str) -> bool {
        match self {
            Fault::Refused => text.contains("Connection refused"),
            Fault::Slow => text.contains("slow:") || text.contains("timed out"),
            Fault::Garbage => text.contains("decod") || text.contains("Deserialize"),
            Fault::ServerError => text.match_indices("500").any(|(i, _)| {
                let before = text[..i].chars().last().unwrap_or(' ');
                let after = text[i + 3..].chars().next().unwrap_or(' ');
                !before.is_ascii_alphanumeric() && !after.is_ascii_alphanumeric()
            }),
            Fault::EventsPausedThenReplayedOutOfOrder => false,
        }
    }

    fn is_rpc(&self) -> bool {
        !matches!(self, Fault::EventsPausedThenReplayedOutOfOrder)
    }

    fn begin(&self, node: &RunningMockNode) {
        match self {
            Fault::Refused => node.set_rpc_refusing(true).expect("the RPC port closes"),
            Fault::Slow => node.set_rpc_fault("/", Some(RpcFault::Delay(Duration::from_secs(10)))),
            Fault::Garbage => node.set_rpc_fault("/", Some(RpcFault::Garbage)),
            Fault::ServerError => node.set_rpc_fault("/", Some(RpcFault::Status(500))),
            Fault::EventsPausedThenReplayedOutOfOrder => node.pause_events(),
        }
    }

    fn end(&self, node: &RunningMockNode) {
        match self {
            Fault::Refused => node.set_rpc_refusing(false).expect("the RPC port reopens"),
            Fault::Slow | Fault::Garbage | Fault::ServerError => node.set_rpc_fault("/", None),
            Fault::EventsPausedThenReplayedOutOfOrder => node.resume_events(EventReplay::Reversed),
        }
    }
}

/// What one fault did to the signer.
#[derive(Debug)]
struct FaultReport {
    fault: Fault,
    warnings: Vec<String>,
    /// Warnings other than the fault's own line that name its error.
    repeats: Vec<String>,
    started_lines: usize,
    ended_lines: usize,
    debug_retry_lines: usize,
    first_vote_after: Option<Vote>,
    vote_delay: Duration,
    /// Whether the signer signed a block proposed after the recovery.
    signed_after: bool,
    rss_before_kib: u64,
    rss_after_kib: u64,
}

/// Proposals the miner thread made: when, and which block.
type Proposed = Arc<Mutex<Vec<(Instant, Sha512Trunc256Sum)>>>;

/// Mines until `stop`: a burn block, then a tenure-start and two more blocks, one proposal
/// every `pace`.
fn mine(node: &RunningMockNode, stop: &AtomicBool, proposed: &Proposed, pace: Duration) {
    let mut tenure = 0usize;
    while !stop.load(Ordering::SeqCst) {
        if node.mine_burn_block(Some(tenure % 2)).is_err() {
            return;
        }
        tenure += 1;
        for b in 0..3 {
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
                .push((Instant::now(), proposal.signer_signature_hash));
            let _ = node.wait_for_block(&proposal.signer_signature_hash, Duration::from_secs(5));
            let deadline = Instant::now() + pace;
            while Instant::now() < deadline {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn now_text() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:03}", now.as_secs(), now.subsec_millis())
}

fn level(line: &serde_json::Value) -> &str {
    line.get("level").and_then(|l| l.as_str()).unwrap_or("")
}

fn msg(line: &serde_json::Value) -> &str {
    line.get("msg").and_then(|l| l.as_str()).unwrap_or("")
}

fn run_fault(
    fault: Fault,
    node: &RunningMockNode,
    signer: &mut SignerProcess,
    proposed: &Proposed,
    activity: &std::sync::mpsc::Receiver<stacks_signer::devnet::ActivityEntry>,
    entries: &mut Vec<stacks_signer::devnet::ActivityEntry>,
) -> FaultReport {
    // The slow fault lasts longer than one answer (10 s), so that its first slow answer
    // arrives while it lasts: a slow answer that arrives after the node has answered in time
    // again is the tail of a fault already over, and is only a debug line.
    let secs = match fault {
        Fault::Slow => fault_secs().max(12),
        _ => fault_secs(),
    };
    let rss_before_kib = signer.rss_kib();
    println!("{} from {}", fault.name(), now_text());
    let log_mark = signer.log_lines().len();
    fault.begin(node);
    std::thread::sleep(Duration::from_secs(secs));
    assert!(
        signer.is_running(),
        "the signer exited during: {}",
        fault.name()
    );
    fault.end(node);
    let recovered_at = Instant::now();
    // The first proposal made after the recovery, and the signer's first vote on it.
    let mut first_after = None;
    let found = collect_until(
        activity,
        entries,
        Duration::from_secs(20 + 2 * secs),
        |seen| {
            if first_after.is_none() {
                first_after = proposed
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|(at, _)| *at > recovered_at)
                    .map(|(_, hash)| *hash);
            }
            first_after.is_some_and(|hash| {
                votes_of(seen, signer.writer)
                    .iter()
                    .any(|(h, v)| *h == hash && *v != Vote::PreCommit)
            })
        },
    );
    // Then a signature of a block proposed after the recovery (the first one may have been
    // judged stale by the time the signer's backlog reached it).
    let signed_after = collect_until(
        activity,
        entries,
        Duration::from_secs(20 + 2 * secs),
        |seen| {
            let after: Vec<Sha512Trunc256Sum> = proposed
                .lock()
                .unwrap()
                .iter()
                .filter(|(at, _)| *at > recovered_at)
                .map(|(_, hash)| *hash)
                .collect();
            votes_of(seen, signer.writer)
                .iter()
                .any(|(h, v)| *v == Vote::Accepted && after.contains(h))
        },
    );
    let vote_delay = recovered_at.elapsed();
    if !found {
        let ours = votes_of(entries, signer.writer);
        let proposals = proposed.lock().unwrap().clone();
        println!(
            "{}: no vote on {:?}; last proposals {:?}; our last votes {:?}",
            fault.name(),
            first_after,
            proposals
                .iter()
                .rev()
                .take(5)
                .map(|(at, h)| (at.duration_since(recovered_at), *h))
                .collect::<Vec<_>>(),
            ours.iter().rev().take(8).collect::<Vec<_>>()
        );
    }
    let first_vote_after = if found {
        first_after.and_then(|hash| {
            votes_of(entries, signer.writer)
                .into_iter()
                .find(|(h, v)| *h == hash && *v != Vote::PreCommit)
                .map(|(_, v)| v)
        })
    } else {
        None
    };
    // Let the recovery line (logged at the first answer) be written.
    std::thread::sleep(Duration::from_millis(500));
    let lines: Vec<_> = signer.log_lines().into_iter().skip(log_mark).collect();
    let warnings: Vec<String> = lines
        .iter()
        .filter(|l| matches!(level(l), "WARN" | "ERRO" | "CRIT"))
        .map(|l| l.to_string())
        .collect();
    let repeats: Vec<String> = lines
        .iter()
        .filter(|l| matches!(level(l), "WARN" | "ERRO" | "CRIT"))
        .filter(|l| !msg(l).starts_with(FAULT_STARTED))
        .map(|l| l.to_string())
        .filter(|text| fault.named_in(text))
        .collect();
    let started_lines = lines
        .iter()
        .filter(|l| msg(l).starts_with(FAULT_STARTED))
        .count();
    let ended_lines = lines
        .iter()
        .filter(|l| msg(l).starts_with(FAULT_ENDED))
        .count();
    let debug_retry_lines = lines
        .iter()
        .filter(|l| level(l) == "DEBG" && msg(l).starts_with("Stacks node RPC still failing"))
        .count();
    FaultReport {
        fault,
        warnings,
        repeats,
        started_lines,
        ended_lines,
        debug_retry_lines,
        first_vote_after,
        vote_delay,
        signed_after,
        rss_before_kib,
        rss_after_kib: signer.rss_kib(),
    }
}

#[test]
fn the_signer_rides_out_node_faults_votes_after_each_and_logs_one_line_per_fault() {
    let ours = signer_key("node faults signer");
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
            refusable_rpc: true,
            pox: long_cycles(),
            start_burn_height: long_cycles().cycle_start(12) + 44,
            ..MockNodeConfig::default()
        })
        .expect("the mock node starts"),
    );
    let activity = node.subscribe();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut signer = SignerProcess::start(
        dir.path(),
        &node,
        &ours,
        "event_timeout_ms = 200\nblock_proposal_validation_timeout_ms = 5000\n",
    );
    node.add_observer(ObserverSpec::signer(signer.endpoint.to_string()));

    let stop = Arc::new(AtomicBool::new(false));
    let proposed: Proposed = Arc::default();
    let miner = {
        let (node, stop, proposed) = (node.clone(), stop.clone(), proposed.clone());
        std::thread::spawn(move || mine(&node, &stop, &proposed, Duration::from_millis(700)))
    };
    // Warm up: the signer votes on a proposal before any fault.
    let mut entries = Vec::new();
    assert!(
        collect_until(&activity, &mut entries, Duration::from_secs(60), |seen| {
            votes_of(seen, signer.writer)
                .iter()
                .any(|(_, v)| *v == Vote::Accepted)
        }),
        "the signer never signed a block before the faults"
    );
    let rss_start = signer.rss_kib();
    let started = Instant::now();

    let mut reports = Vec::new();
    println!("faults start at {}", now_text());
    let only = std::env::var("NODE_FAULT_ONLY").unwrap_or_default();
    for fault in [
        Fault::Refused,
        Fault::Slow,
        Fault::Garbage,
        Fault::ServerError,
        Fault::EventsPausedThenReplayedOutOfOrder,
    ] {
        if !only.is_empty() && !format!("{fault:?}").eq_ignore_ascii_case(&only) {
            continue;
        }
        reports.push(run_fault(
            fault,
            &node,
            &mut signer,
            &proposed,
            &activity,
            &mut entries,
        ));
    }
    stop.store(true, Ordering::SeqCst);
    if std::env::var("NODE_FAULT_VERBOSE").as_deref() == Ok("1") {
        let _ = dir.keep();
    }
    miner.join().expect("the miner thread ends");
    let rss_end = signer.rss_kib();
    let verbose = std::env::var("NODE_FAULT_VERBOSE").as_deref() == Ok("1");
    if verbose {
        println!("signer log: {}", signer.log_path.display());
    }

    println!(
        "{} s per fault, {:.0} s in all; RSS {rss_start} KiB after warm-up, {rss_end} KiB at the end",
        fault_secs(),
        started.elapsed().as_secs_f64()
    );
    for r in &reports {
        println!(
            "{:<40} fault started {} / ended {} lines, other warnings naming it {}, debug retry lines {:>3}, warnings {:>2}; first proposal after recovery: {:?} in {:.1} s, signed a later one: {}, RSS {} -> {} KiB",
            r.fault.name(),
            r.started_lines,
            r.ended_lines,
            r.repeats.len(),
            r.debug_retry_lines,
            r.warnings.len(),
            r.first_vote_after,
            r.vote_delay.as_secs_f64(),
            r.signed_after,
            r.rss_before_kib,
            r.rss_after_kib
        );
        if verbose {
            let mut by_site: std::collections::BTreeMap<String, usize> = Default::default();
            for w in &r.warnings {
                let line: serde_json::Value = serde_json::from_str(w).unwrap_or_default();
                let site = format!(
                    "{}:{} {}",
                    line["file"].as_str().unwrap_or(""),
                    line["line"],
                    msg(&line).chars().take(90).collect::<String>()
                );
                *by_site.entry(site).or_default() += 1;
            }
            for (site, n) in by_site {
                println!("    {n:>3} x {site}");
            }
        }
    }

    assert!(signer.is_running(), "the signer is still running");
    for r in &reports {
        assert!(
            r.first_vote_after.is_some(),
            "{}: no vote on the first proposal after recovery",
            r.fault.name(),
        );
        assert!(
            r.signed_after,
            "{}: no signature of a block proposed after recovery",
            r.fault.name()
        );
        if r.fault.is_rpc() {
            assert_eq!(
                (r.started_lines, r.ended_lines),
                (1, 1),
                "{}: one line when the fault starts, one when it ends; warnings: {:#?}",
                r.fault.name(),
                r.warnings
            );
        }
        // Whatever the retries and failed calls, no other warning repeats the fault.
        assert!(
            r.repeats.is_empty(),
            "{}: warnings repeating the fault: {:#?}",
            r.fault.name(),
            r.repeats
        );
    }
    // Memory: flat within 32 MiB over the whole run (allocator arenas and the database's
    // page cache settle in the first minutes).
    assert!(
        rss_end <= rss_start + 32 * 1024,
        "RSS grew from {rss_start} KiB to {rss_end} KiB"
    );
}
