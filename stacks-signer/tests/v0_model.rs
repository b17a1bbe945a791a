//! Model-based test of the v0 voting logic: random sequences of events (proposals with
//! conflicting siblings, re-proposals and forks; peers' pre-commits, acceptances and
//! rejections from keys in and outside the set; validation results in any order, late or
//! never; burn blocks, burn forks and reward-cycle changes; node errors; restarts of the signer
//! from its database) drive a real v0 signer on a real SQLite file against the mock node, and
//! after every step a small reference model checks what it did (see docs/testing.md, "Model-based
//! testing").
//!
//! `MODEL_CASES` sets the number of sequences (default 64), `MODEL_STEPS` their maximum length
//! (default 32), `MODEL_THREADS` how many run at once (default 1). A failure prints the
//! shrunk sequence, one step a line.

mod v0_model_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};

use v0_model_support::{describe, BlockChoice, Endpoint, Figures, PeerKind, Step, Voter, World};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn block_choice() -> impl Strategy<Value = BlockChoice> {
    prop_oneof![
        4 => Just(BlockChoice::Next),
        3 => recent().prop_map(BlockChoice::Sibling),
        1 => recent().prop_map(BlockChoice::Repropose),
        1 => recent().prop_map(BlockChoice::ChildOf),
    ]
}

fn voter() -> impl Strategy<Value = Voter> {
    prop_oneof![
        4 => (1u8..=3).prop_map(Voter::Peer),
        3 => Just(Voter::P1AndP2),
        1 => Just(Voter::Outsider),
    ]
}

fn peer_kind() -> impl Strategy<Value = PeerKind> {
    prop_oneof![
        3 => Just(PeerKind::PreCommit),
        2 => Just(PeerKind::Accept),
        1 => Just(PeerKind::Reject),
    ]
}

/// A block index: mostly the latest proposals.
fn recent() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => Just(0usize),
        3 => 1usize..3,
        1 => 3usize..8,
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => block_choice().prop_map(Step::Propose),
        6 => (voter(), peer_kind(), recent())
            .prop_map(|(voter, kind, block)| Step::PeerVote { voter, kind, block }),
        6 => (0usize..4, prop::bool::weighted(0.8))
            .prop_map(|(request, ok)| Step::Validate { request, ok }),
        2 => (prop::option::weighted(0.8, 0u8..2), prop::bool::weighted(0.25))
            .prop_map(|(winner, fork)| Step::BurnBlock { winner, fork }),
        1 => Just(Step::RewardCycleChange),
        2 => recent().prop_map(Step::NodeProcesses),
        1 => (prop::sample::select(Endpoint::ALL.to_vec()), any::<bool>())
            .prop_map(|(endpoint, down)| Step::NodeError { endpoint, down }),
        2 => Just(Step::Restart),
        2 => (0u8..6).prop_map(|after_events| Step::Crash { after_events }),
        1 => (recent(), any::<bool>())
            .prop_map(|(block, ok)| Step::UnsolicitedValidation { block, ok }),
    ]
}

/// Runs `steps` on a fresh world; the figures, or the breach with the sequence.
fn run_sequence(steps: &[Step]) -> Result<Figures, String> {
    let mut world = World::start();
    for (i, step) in steps.iter().enumerate() {
        if let Err(breach) = world.run(step) {
            return Err(format!(
                "after step {i} ({step:?}): {}\nsequence:\n{}",
                breach.0,
                describe(steps, Some(i))
            ));
        }
    }
    Ok(world.finish())
}

/// The process's peak resident set size (`VmHWM`), in MiB, where `/proc` tells it.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn print_figures(label: &str, totals: &Figures, secs: f64) {
    println!(
        "model{label}: {} sequences, {} steps, {} proposals, {} votes published ({} pre-commits, \
         {} signatures, {} rejections), {} voted-for blocks with a conflicting sibling, \
         {} restarts in {:.1} s ({:.2} sequences/s, {:.0} steps/s), peak RSS {} MiB",
        totals.sequences,
        totals.steps,
        totals.proposals,
        totals.votes,
        totals.pre_commits,
        totals.signatures,
        totals.rejections,
        totals.contested,
        totals.restarts,
        secs,
        totals.sequences as f64 / secs,
        totals.steps as f64 / secs,
        peak_rss_mib().map_or("?".to_string(), |m| format!("{m:.0}")),
    );
}

#[test]
fn random_event_sequences_never_make_the_signer_equivocate_lose_a_vote_or_skip_a_state() {
    let cases = env_number("MODEL_CASES", 64);
    let max_steps = env_number("MODEL_STEPS", 32) as usize;
    let threads = env_number("MODEL_THREADS", 1).max(1);
    // A long campaign reports its progress every `MODEL_PROGRESS` sequences (default 1,000).
    let progress = env_number("MODEL_PROGRESS", 1_000).max(1);
    let started = Instant::now();
    let totals = Arc::new(Mutex::new(Figures::default()));
    let failed = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (totals, failed) = (totals.clone(), failed.clone());
            let cases = cases / threads + u64::from(t < cases % threads);
            std::thread::spawn(move || {
                let mut runner = TestRunner::new(Config {
                    cases: cases as u32,
                    max_shrink_iters: 2_000,
                    failure_persistence: None,
                    ..Config::default()
                });
                runner
                    .run(&prop::collection::vec(step(), 1..=max_steps), |steps| {
                        if failed.load(Ordering::SeqCst) {
                            // Another worker failed: finish quickly.
                            return Ok(());
                        }
                        let figures = run_sequence(&steps).map_err(TestCaseError::fail)?;
                        let mut totals = totals.lock().unwrap_or_else(|p| p.into_inner());
                        totals.add(&figures);
                        if cases >= progress && totals.sequences % progress == 0 {
                            print_figures(" (so far)", &totals, started.elapsed().as_secs_f64());
                        }
                        Ok(())
                    })
                    .inspect_err(|_| failed.store(true, Ordering::SeqCst))
            })
        })
        .collect();
    let results: Vec<_> = workers
        .into_iter()
        .map(|w| {
            w.join()
                .unwrap_or_else(|_| panic!("a model worker panicked"))
        })
        .collect();
    let totals = *totals.lock().unwrap_or_else(|p| p.into_inner());
    print_figures("", &totals, started.elapsed().as_secs_f64());
    for result in results {
        if let Err(e) = result {
            panic!("{e}");
        }
    }
    println!("model: 0 equivocations, 0 lost votes, 0 panics");
}

#[test]
fn the_harness_is_not_vacuous_a_validated_proposal_gets_the_signers_votes() {
    let steps = vec![
        Step::Propose(BlockChoice::Next),
        Step::Validate {
            request: 0,
            ok: true,
        },
        Step::PeerVote {
            voter: Voter::Peer(1),
            kind: PeerKind::Accept,
            block: 0,
        },
        Step::PeerVote {
            voter: Voter::Peer(2),
            kind: PeerKind::Accept,
            block: 0,
        },
    ];
    let figures = run_sequence(&steps).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        figures.votes >= 2,
        "the signer published {} votes (a pre-commit and a signature expected)",
        figures.votes
    );
}

#[test]
fn a_planted_vote_the_database_does_not_hold_is_caught_and_shrunk_to_two_steps() {
    // Random steps around a pre-commit forged with S0's key: the checker must fail the
    // sequence, and shrinking must cut it down to a proposal and the forgery.
    let planted = (
        prop::collection::vec(step(), 0..6),
        prop::collection::vec(step(), 0..6),
    )
        .prop_map(|(mut before, after)| {
            before.push(Step::Propose(BlockChoice::Next));
            before.push(Step::Forged(0));
            before.extend(after);
            before
        });
    let mut runner = TestRunner::new(Config {
        cases: 8,
        max_shrink_iters: 200,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&planted, |steps| {
        run_sequence(&steps)
            .map(|_| ())
            .map_err(TestCaseError::fail)
    });
    match result {
        Err(TestError::Fail(reason, minimal)) => {
            println!("the planted breach, as a failure prints it:\n{reason}");
            assert_eq!(
                minimal,
                vec![Step::Propose(BlockChoice::Next), Step::Forged(0)],
                "not shrunk to the minimal sequence: {reason}"
            );
            let text = reason.to_string();
            assert!(
                text.contains("does not hold")
                    && text.contains("1. Forged S0 PreCommit #0  <== fails here"),
                "the failure does not print the sequence readably: {text}"
            );
        }
        other => panic!("the planted breach was not caught: {other:?}"),
    }
}
