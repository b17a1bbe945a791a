//! Same decisions as the reference: generated scenarios (and the invalid-block scenario) run
//! once with this project's signer as S0 and once with the reference signer binary, same mock
//! node, same seed and config; per proposal the votes (accepted or rejected, wire
//! `reason_code`, `response_data.reject_reason`, pre-commits) and the kinds and order of the
//! chunks S0 wrote must be the same.
//!
//! The reference runs are opt-in: they run only when `STACKS_SIGNER_REFERENCE_BIN` names a
//! reference signer binary the reader has. `AGREEMENT_SCENARIOS=N` sets how many generated
//! scenarios run (default 100 against the reference), `AGREEMENT_FIRST_SEED=S` where they
//! start; `AGREEMENT_REPORT=FILE` writes the agreement table and every difference to FILE.
//!
//! Without the reference, the mock node's simulated signer Q (which sits in every world next
//! to S0) is held to this signer's decisions on generated scenarios: the mock's copy of the
//! voting rules must not drift from the v0 signer's.

mod agreement_support;

use std::fmt::Write as _;

use agreement_support::generator::{generate, generate_with, Stimuli};
use agreement_support::{
    compare, join, run_scenario, run_scenario_with, Out, Run, Subject, Timeouts,
};
use stacks_signer::devnet::scenario::Scenario;

fn scenario_count(default: u64) -> u64 {
    std::env::var("AGREEMENT_SCENARIOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn first_seed() -> u64 {
    std::env::var("AGREEMENT_FIRST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn report(text: &str) {
    if let Ok(path) = std::env::var("AGREEMENT_REPORT") {
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("could not write {path}: {e}");
        }
    }
}

/// Placeholders filled as the harness fills them, for parsing without a node.
fn with_slots(text: &str) -> String {
    text.replace("@P1@", "1")
        .replace("@P2@", "2")
        .replace("@P3@", "3")
}

#[test]
fn every_generated_scenario_parses_and_its_seed_reproduces_it() {
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 0..500 {
        let generated = generate(seed);
        assert_eq!(generated.toml, generate(seed).toml, "seed {seed}");
        let scenario = Scenario::parse(&with_slots(&generated.toml))
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{}", generated.toml));
        assert_eq!(scenario.step.len(), generated.steps.len(), "seed {seed}");
        for step in &scenario.step {
            kinds.insert(step.name());
        }
        for deviation in [
            "wrong_miner_key",
            "pox_treatment_zero",
            "bad_parent",
            "stale_timestamp_secs",
            "chain_length",
            "duplicate_tenure_change",
            "consensus_hash",
            "burn_view",
            "reward_cycle_offset",
            "miner_signature",
        ] {
            if generated.toml.contains(deviation) {
                kinds.insert(deviation);
            }
        }
    }
    // Every kind of stimulus the generator promises shows up in the first 500 seeds.
    for expected in [
        "burn_block",
        "propose",
        "validation",
        "inject",
        "push_block",
        "repropose",
        "endpoint_down",
        "endpoint_up",
        "wait",
        "status_check",
        "wrong_miner_key",
        "pox_treatment_zero",
        "bad_parent",
        "stale_timestamp_secs",
        "chain_length",
        "duplicate_tenure_change",
        "consensus_hash",
        "burn_view",
        "reward_cycle_offset",
        "miner_signature",
    ] {
        assert!(kinds.contains(expected), "no scenario has {expected}");
    }
    assert_ne!(generate(1).toml, generate(2).toml);
}

/// The last block response of each kind-changing vote: what a signer finally said about a
/// block (`None`: it said nothing).
fn final_response(votes: &[Out]) -> Option<Out> {
    votes
        .iter()
        .rev()
        .find(|o| matches!(o, Out::Accepted(_) | Out::Rejected(..)))
        .cloned()
}

#[test]
fn the_mock_nodes_simulated_signer_decides_as_this_signer_on_generated_scenarios() {
    let count = scenario_count(6);
    let first = first_seed();
    let mut table = String::new();
    let mut failures = Vec::new();
    for seed in first..first + count {
        let generated = generate_with(seed, Stimuli::SeenBySimulatedSigners);
        let run = run_scenario_with(&Subject::Ours, Timeouts::Defaults, &generated.toml)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let (compared, differences) = simulated_differences(&run);
        let _ = writeln!(
            table,
            "seed {seed}: {} proposals, {compared} answered by both, {} differ",
            run.proposals,
            differences.len()
        );
        if !differences.is_empty() {
            failures.push(format!(
                "seed {seed}:\n  {}\nsteps:\n  {}\n{}",
                differences.join("\n  "),
                generated.steps.join("\n  "),
                generated.toml
            ));
        }
    }
    println!("{table}");
    report(&format!("{table}\n{}", failures.join("\n\n")));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The proposals both S0 and Q answered, and those on which their final answers differ.
fn simulated_differences(run: &Run) -> (usize, Vec<String>) {
    let mut compared = 0;
    let mut differences = Vec::new();
    for i in 0..run.proposals {
        let label = format!("p{i}");
        let ours = final_response(&run.votes_about(&label));
        let simulated = run
            .simulated_votes
            .get(&label)
            .and_then(|votes| final_response(votes));
        if let (Some(ours), Some(simulated)) = (ours, simulated) {
            compared += 1;
            if ours != simulated {
                differences.push(format!("{label}: S0 {ours} | Q {simulated}"));
            }
        }
    }
    (compared, differences)
}

#[test]
fn this_signer_decides_as_the_reference_on_generated_scenarios() {
    let Some(reference) = Subject::reference() else {
        println!("this_signer_decides_as_the_reference_on_generated_scenarios: not run (set STACKS_SIGNER_REFERENCE_BIN to a reference stacks-signer binary)");
        return;
    };
    let count = scenario_count(100);
    let first = first_seed();
    let mut table = String::from("| seed | steps | proposals | votes agree | refused by the safety rule | chunk order |\n| --- | --- | --- | --- | --- | --- |\n");
    let mut details = String::new();
    let (mut proposals, mut agree, mut order_agree, mut disagreeing) = (0, 0, 0, 0);
    let mut safety = Vec::new();
    let mut timing = Vec::new();
    let mut downstream: Vec<String> = Vec::new();
    let mut from_cache: Vec<String> = Vec::new();
    for seed in first..first + count {
        let generated = generate(seed);
        let ours = run_scenario(&Subject::Ours, &generated.toml)
            .unwrap_or_else(|e| panic!("seed {seed} (ours): {e}"));
        let theirs = run_scenario(&reference, &generated.toml)
            .unwrap_or_else(|e| panic!("seed {seed} (reference): {e}"));
        let mut c = compare(&ours, &theirs);
        let (mut ours, mut theirs) = (ours, theirs);
        if !c.differences.is_empty() {
            // Timing decides some races (a validation timeout against the next burn block, a
            // slow answer against the harness's wait): a difference counts only if a second
            // pair of runs shows one too.
            let again_ours = run_scenario(&Subject::Ours, &generated.toml)
                .unwrap_or_else(|e| panic!("seed {seed} (ours, again): {e}"));
            let again_theirs = run_scenario(&reference, &generated.toml)
                .unwrap_or_else(|e| panic!("seed {seed} (reference, again): {e}"));
            let again = compare(&again_ours, &again_theirs);
            if again.differences.is_empty() {
                timing.push(format!("seed {seed}: {}", c.differences.join("; ")));
                c = again;
                (ours, theirs) = (again_ours, again_theirs);
            }
        }
        proposals += c.proposals;
        agree += c.votes_agree;
        order_agree += usize::from(c.chunk_order_agrees);
        let _ = writeln!(
            table,
            "| {seed} | {} | {} | {} | {} | {} |",
            generated.steps.len(),
            c.proposals,
            c.votes_agree,
            c.safety_refusals.len(),
            if c.chunk_order_agrees {
                "same"
            } else {
                "differs"
            }
        );
        safety.extend(
            c.safety_refusals
                .iter()
                .map(|s| format!("seed {seed}: {s}")),
        );
        downstream.extend(c.downstream.iter().map(|s| format!("seed {seed}: {s}")));
        from_cache.extend(
            c.judged_from_cache
                .iter()
                .map(|s| format!("seed {seed}: {s}")),
        );
        if !c.differences.is_empty() {
            disagreeing += 1;
            let _ = writeln!(
                details,
                "### seed {seed}\n{}\nsteps:\n  {}\nours:\n{}\nreference:\n{}\nreference log tail:\n{}\n",
                c.differences.join("\n"),
                generated.steps.join("\n  "),
                describe(&ours),
                describe(&theirs),
                theirs.log_tail
            );
        }
        println!(
            "seed {seed}: {}/{} proposals agree, {} refused by the safety rule, chunk order {}",
            c.votes_agree,
            c.proposals,
            c.safety_refusals.len(),
            if c.chunk_order_agrees {
                "same"
            } else {
                "differs"
            }
        );
    }
    let summary = format!(
        "{count} scenarios, {proposals} proposals: votes agree on {agree}, {} refused by our own-vote rule where the reference voted for a second sibling, {} differ after such a refusal, {} rejected by both where the reference could not reach the node; chunk order the same in {order_agree} scenarios; {disagreeing} scenarios with a difference ({} more differed once and agreed when run again)\n",
        safety.len(),
        downstream.len(),
        from_cache.len(),
        timing.len()
    );
    println!("{summary}");
    report(&format!(
        "{summary}\n{table}\nrefused by the safety rule:\n{}\n\ndiffering after such a refusal:\n{}\n\nrejected by both, the reference unable to reach the node:\n{}\n\ndiffered once, agreed when run again:\n{}\n\n{details}",
        safety.join("\n"),
        downstream.join("\n"),
        from_cache.join("\n"),
        timing.join("\n")
    ));
    assert_eq!(disagreeing, 0, "{summary}\n{details}");
}

/// A run, step by step.
fn describe(run: &Run) -> String {
    let mut text = String::new();
    for (i, (error, outs)) in run.steps.iter().enumerate() {
        let _ = writeln!(
            text,
            "  step {}: {}{}",
            i + 1,
            error
                .as_ref()
                .map(|e| format!("(error: {e}) "))
                .unwrap_or_default(),
            join(outs)
        );
    }
    text
}

/// Proposals the signer must refuse, between valid blocks two puppets sign with it.
const INVALID_SCENARIO: &str = r#"
[[step]]
type = "burn_block"
winner = 0
label = "b1"
[[step]]
type = "propose"
kind = "tenure_start"
label = "p0"
[[step]]
type = "inject"
signer = @P1@
message = "accept"
block = "p0"
[[step]]
type = "inject"
signer = @P2@
message = "accept"
block = "p0"
[[step]]
type = "propose"
bad_parent = true
label = "p1"
[[step]]
type = "propose"
wrong_miner_key = true
label = "p2"
[[step]]
type = "propose"
pox_treatment_zero = 0
label = "p3"
[[step]]
type = "validation"
reject = "InvalidBlock"
reason = "forced by the scenario"
[[step]]
type = "propose"
label = "p4"
[[step]]
type = "propose"
label = "p5"
[[step]]
type = "inject"
signer = @P1@
message = "accept"
block = "p5"
[[step]]
type = "inject"
signer = @P2@
message = "accept"
block = "p5"
[[step]]
type = "burn_block"
[[step]]
type = "propose"
kind = "extend"
cause = "extended"
label = "p6"
[[step]]
type = "inject"
signer = @P1@
message = "accept"
block = "p6"
[[step]]
type = "inject"
signer = @P2@
message = "accept"
block = "p6"
[[step]]
type = "propose"
kind = "extend"
cause = "extended"
label = "p7"
[[step]]
type = "propose"
kind = "continue"
duplicate_tenure_change = true
label = "p8"
[[step]]
type = "propose"
kind = "extend"
cause = "extended_runtime"
label = "p9"
[[step]]
type = "propose"
kind = "extend"
cause = "extended_read_count"
label = "p10"
[[step]]
type = "propose"
kind = "extend"
cause = "extended"
burn_view = "b1"
label = "p11"
[[step]]
type = "propose"
kind = "continue"
label = "p12"
[[step]]
type = "inject"
signer = @P1@
message = "accept"
block = "p12"
[[step]]
type = "inject"
signer = @P2@
message = "accept"
block = "p12"
"#;

/// The invalid-block scenario's outcome: its valid blocks signed, every deviation refused.
fn assert_valid_signed_and_invalid_refused(run: &Run) {
    for label in ["p0", "p5", "p6", "p12"] {
        assert_eq!(
            final_response(&run.votes_about(label)),
            Some(Out::Accepted(label.into())),
            "{label}: {}",
            describe(run)
        );
    }
    for label in ["p1", "p2", "p3", "p4", "p8", "p9", "p10", "p11"] {
        assert!(
            matches!(
                final_response(&run.votes_about(label)),
                Some(Out::Rejected(..))
            ),
            "{label}: {}",
            describe(run)
        );
    }
}

#[test]
fn this_signer_decides_as_the_reference_on_the_invalid_block_scenario() {
    let Some(reference) = Subject::reference() else {
        println!("this_signer_decides_as_the_reference_on_the_invalid_block_scenario: not run (set STACKS_SIGNER_REFERENCE_BIN to a reference stacks-signer binary)");
        return;
    };
    let ours = run_scenario(&Subject::Ours, INVALID_SCENARIO).expect("our run");
    let theirs = run_scenario(&reference, INVALID_SCENARIO).expect("the reference's run");
    let c = compare(&ours, &theirs);
    assert!(
        c.differences.is_empty(),
        "{}\nours:\n{}\nreference:\n{}",
        c.differences.join("\n"),
        describe(&ours),
        describe(&theirs)
    );
    // And what they decided: the valid blocks signed, every deviation refused.
    assert_valid_signed_and_invalid_refused(&ours);
}

#[test]
fn this_signer_signs_the_valid_blocks_and_refuses_the_invalid_ones_of_the_invalid_block_scenario() {
    let ours = run_scenario(&Subject::Ours, INVALID_SCENARIO).expect("our run");
    assert_valid_signed_and_invalid_refused(&ours);
}
