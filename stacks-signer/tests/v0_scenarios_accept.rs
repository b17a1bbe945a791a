//! v0-logic §8.2, the accept protocol (#1–#5), run through the mock node against a real v0
//! signer: pre-commit, sign at the pre-commit threshold (peers' acceptances count as
//! pre-commits), upload at the signature threshold, and what a processed block changes.

mod v0_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libsigner::chain::StacksPublicKey;
use libsigner::v0::messages::{BlockResponse, RejectReason};
use stacks_signer::devnet::{BlockKind, ValidationAnswer};
use stacks_signer::signerdb::BlockState;
use v0_support::{World, WorldConfig};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The signer ids, in reward-set order, of the signatures of a processed block.
fn signer_ids_of_signatures(world: &World, block: &libsigner::chain::NakamotoBlock) -> Vec<u32> {
    let stored = world
        .node
        .block(&block.block_id())
        .expect("the block was processed");
    let hash = block.header.signer_signature_hash();
    stored
        .block
        .header
        .signer_signature
        .iter()
        .map(|signature| {
            let key = StacksPublicKey::recover_to_pubkey(hash.as_bytes(), signature)
                .expect("signatures recover");
            world
                .node
                .signer_index(&key)
                .expect("signers are in the set")
        })
        .collect()
}

#[test]
fn solo_signer_pre_commits_uploads_and_signs_a_valid_tenure_start_in_that_order() {
    // #1: S0 alone (weight 1, threshold 1).
    let world = World::start(&WorldConfig::solo());
    world.node.set_miner_broadcasts(false);
    world.node.mine_burn_block(Some(1)).expect("T2");
    world.settle();
    let proposal = world.propose(BlockKind::TenureStart);
    let hash = proposal.signer_signature_hash;
    world.wait_for("S0's acceptance", |w| {
        w.s0_votes(&hash).contains(&"Accepted").then_some(())
    });
    let accepted_at = now();
    world.settle();
    assert_eq!(world.validation_requests(&hash), 1);
    assert_eq!(
        world.s0_timeline(&proposal.block),
        ["PreCommit", "Upload", "Accepted"]
    );
    assert_eq!(
        signer_ids_of_signatures(&world, &proposal.block),
        [world.s0_id.expect("S0 is registered")]
    );
    let responses = world.s0_responses(&hash);
    let BlockResponse::Accepted(accepted) = &responses[0] else {
        panic!("not an acceptance: {responses:?}");
    };
    let data = &accepted.response_data;
    assert_eq!(data.reject_reason, RejectReason::NotRejected);
    // A tenure start restarts both idle timers at signing: now + idle + 2 s of buffer.
    let full = data.tenure_extend_timestamp;
    let read = data.tenure_extend_read_count_timestamp;
    assert!(
        (accepted_at + 4 + 2 - 2..=accepted_at + 4 + 2).contains(&full),
        "full_ts {full}, accepted at {accepted_at}"
    );
    assert!(
        (accepted_at + 2 + 2 - 2..=accepted_at + 2 + 2).contains(&read),
        "read_ts {read}, accepted at {accepted_at}"
    );
}

#[test]
fn the_signer_signs_only_once_peers_pre_commits_reach_the_threshold() {
    // #2: 10 + 10 + 10 pre-committed stays below 35; P3's makes 40.
    let (world, _, _) = World::baseline();
    let proposal = world.propose(BlockKind::TenureStart);
    let hash = proposal.signer_signature_hash;
    world.wait_for("S0's pre-commit", |w| {
        (w.s0_votes(&hash) == ["PreCommit"]).then_some(())
    });
    for i in 1..=2 {
        world
            .node
            .puppet_pre_commit(world.p(i), &hash)
            .expect("written");
        world.settle();
        assert_eq!(
            world.s0_votes(&hash),
            ["PreCommit"],
            "after P{i}'s pre-commit"
        );
    }
    world
        .node
        .puppet_pre_commit(world.p(3), &hash)
        .expect("written");
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit", "Accepted"]);
    assert_eq!(
        world.uploads(&proposal.block),
        0,
        "one signature weighs 10 of 35"
    );
}

#[test]
fn peers_signatures_reaching_the_threshold_make_the_signer_upload_in_reward_set_order() {
    // #3: continuing #2, P1…P3 sign; the block goes to the node once 40 >= 35 have signed.
    let (mut world, _, _) = World::baseline();
    world.node.set_miner_broadcasts(false);
    let proposal = world.propose(BlockKind::TenureStart);
    let hash = proposal.signer_signature_hash;
    world.wait_for("S0's pre-commit", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    for i in 1..=3 {
        world
            .node
            .puppet_pre_commit(world.p(i), &hash)
            .expect("written");
    }
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit", "Accepted"]);
    for i in 1..=2 {
        world
            .node
            .puppet_accept(world.p(i), &hash)
            .expect("written");
        world.settle();
        assert_eq!(world.uploads(&proposal.block), 0, "after P{i}'s signature");
    }
    world
        .node
        .puppet_accept(world.p(3), &hash)
        .expect("written");
    world.settle();
    assert_eq!(world.uploads(&proposal.block), 1);
    let ids = signer_ids_of_signatures(&world, &proposal.block);
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "signatures in reward-set order");
    assert_eq!(ids.len(), 4, "S0, P1, P2 and P3 signed");
    // The node processed the upload and announced it (S0 handles that NewBlock after the
    // acceptance that triggered the upload): the row moved on from LocallyAccepted.
    world.wait_for_canonical_tip(&hash);
    let row = world.s0_block(&hash).expect("S0 stored the block");
    assert_eq!(row.state, BlockState::GloballyAccepted);
    assert!(row.signed_group.is_some() && row.signed_self.is_some());
}

#[test]
fn peers_acceptances_count_as_pre_commits_so_the_signer_signs_before_its_own_validation() {
    // #4 (with v0-logic §11.9): P1…P4 sign before the node answers; at P4 S0 signs without
    // its own validation; the block is uploaded, S0's acceptance written, uploaded again;
    // the late validation result changes nothing.
    let (mut world, _, _) = World::baseline();
    world.node.set_miner_broadcasts(false);
    // The uploads stay unprocessed: no NewBlock makes the block globally accepted (which
    // would turn the late validation into quirk 19's pre-commit).
    world.node.set_upload_processing(false);
    world.node.set_manual_validation(true);
    let proposal = world.propose(BlockKind::TenureStart);
    let hash = proposal.signer_signature_hash;
    assert!(world.node.wait_for_held_validation(&hash, v0_support::WAIT));
    world.settle();
    for i in 1..=3 {
        world
            .node
            .puppet_accept(world.p(i), &hash)
            .expect("written");
        world.settle();
        assert!(world.s0_votes(&hash).is_empty(), "after P{i}'s signature");
    }
    world
        .node
        .puppet_accept(world.p(4), &hash)
        .expect("written");
    world.settle();
    assert_eq!(
        world.s0_timeline(&proposal.block),
        ["Upload", "Accepted", "Upload"]
    );
    world
        .node
        .answer_validation(
            &hash,
            ValidationAnswer::Ok {
                validation_time_ms: 10,
                cost_zero: false,
            },
        )
        .expect("answered");
    world.settle();
    assert_eq!(
        world.s0_votes(&hash),
        ["Accepted"],
        "no pre-commit after the fact"
    );
    let row = world.s0_block(&hash).expect("stored");
    assert_eq!(row.state, BlockState::LocallyAccepted);
    assert_eq!(
        row.signed_self, None,
        "the stale copy of quirk 17 was written last"
    );
}

#[test]
fn after_the_node_processes_a_block_its_child_is_judged_and_the_block_itself_ignored() {
    // #5: B11 signed by everyone and processed; B12 (parent B11) takes the accept path; a
    // re-proposal of B11 gets no answer.
    let (world, _, _) = World::baseline();
    world.node.set_puppet_autopilot(true);
    let b11 = world.propose(BlockKind::TenureStart);
    world
        .node
        .wait_for_block(&b11.signer_signature_hash, v0_support::WAIT)
        .expect("B11 processed");
    world.node.set_puppet_autopilot(false);
    // S0's own validation may end before or after the NewBlock; either way it pre-commits
    // once (after the NewBlock, as quirk 19's pre-commit of a globally accepted block).
    world.wait_for("S0's pre-commit of B11", |w| {
        w.s0_votes(&b11.signer_signature_hash)
            .contains(&"PreCommit")
            .then_some(())
    });
    world.settle();
    let before = world.s0_votes(&b11.signer_signature_hash).len();
    world
        .node
        .repropose(&b11.signer_signature_hash)
        .expect("re-proposed");
    world.settle();
    assert_eq!(world.s0_votes(&b11.signer_signature_hash).len(), before);
    let b12 = world.propose(BlockKind::Continue);
    assert_eq!(b12.block.header.parent_block_id, b11.block.block_id());
    let hash = b12.signer_signature_hash;
    world.wait_for("S0's pre-commit of B12", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    assert_eq!(world.validation_requests(&hash), 1);
    std::thread::sleep(Duration::from_millis(200));
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit"]);
}
