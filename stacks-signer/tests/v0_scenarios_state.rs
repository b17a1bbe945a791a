//! v0-logic §8.8, the state machine (#40–#45), run through the mock node against a real v0
//! signer: the update a new burn block produces, Pending while the node lags, the bump of the
//! parent tenure's last block, adopting the signer set's protocol version (version 0, and the
//! floored 70 % of quirk 2), and capitulating to the signer set's view of the miner.

mod v0_support;

use std::time::Duration;

use libsigner::chain::{ConsensusHash, Hash160, NakamotoBlock, StacksBlockId};
use libsigner::v0::messages::{
    BlockResponse, RejectCode, RejectReason, SignerMessage, StateMachineUpdate,
    StateMachineUpdateContent, StateMachineUpdateMinerState,
};
use stacks_signer::devnet::{
    Activity, BlockKind, BlockOverrides, BurnBlock, BurnBlockOptions, InfoOverride, ProposeOptions,
};
use v0_support::{World, WorldConfig};

/// The chain of the baseline world B as the node built it: T0 (the tenure T1 builds on), T1
/// (won by M1 = miner 0, with the block S0 signed), T2 (won by M2 = miner 1, no block).
struct Chain {
    t0: ConsensusHash,
    t1: ConsensusHash,
    t2: ConsensusHash,
    h2: u64,
    /// T0's last block and its height.
    t0_tip: (StacksBlockId, u64),
    /// T1's last block (the one S0 signed) and its height.
    t1_tip: (StacksBlockId, u64),
}

impl Chain {
    fn of(world: &World, t1_block: &NakamotoBlock, t2: &BurnBlock) -> Chain {
        let t1 = t1_block.header.consensus_hash;
        let (t0, t0_tip) = world.node.with_state(|s| {
            let t0 = s
                .burnchain
                .by_consensus_hash(&t1)
                .and_then(|b| b.winner.as_ref())
                .map(|w| w.stacks_parent_ch)
                .expect("T1 had a winner");
            let tip = s.stacks.tenure_tip(&t0).expect("T0 has blocks");
            (t0, (tip.id, tip.height()))
        });
        assert_eq!(t2.last_sortition_ch, Some(t1), "T2 follows T1");
        Chain {
            t0,
            t1,
            t2: t2.consensus_hash,
            h2: t2.height,
            t0_tip,
            t1_tip: (t1_block.block_id(), t1_block.header.chain_length),
        }
    }
}

/// Miner `i`'s public key hash (M1 = 0, M2 = 1, M3 = 2).
fn miner_pkh(world: &World, i: usize) -> Hash160 {
    world.node.with_state(|s| s.miners[i].pkh)
}

fn active_miner(
    miner: Hash160,
    tenure: ConsensusHash,
    parent: ConsensusHash,
    parent_tip: (StacksBlockId, u64),
) -> StateMachineUpdateMinerState {
    StateMachineUpdateMinerState::ActiveMiner {
        current_miner_pkh: miner,
        tenure_id: tenure,
        parent_tenure_id: parent,
        parent_tenure_last_block: parent_tip.0,
        parent_tenure_last_block_height: parent_tip.1,
    }
}

/// A version-1 update (active 1, `local` supported) with no replay set.
fn v1_update(
    local: u64,
    burn_block: ConsensusHash,
    height: u64,
    miner: StateMachineUpdateMinerState,
) -> StateMachineUpdate {
    StateMachineUpdate::new(
        1,
        local,
        StateMachineUpdateContent::V1 {
            burn_block,
            burn_block_height: height,
            current_miner: miner,
            replay_transactions: vec![],
        },
    )
    .expect("V1 content is version 1")
}

/// M2's view in world B, as S0 announces it after T2's burn block.
fn m2_view(world: &World, chain: &Chain) -> StateMachineUpdateMinerState {
    active_miner(miner_pkh(world, 1), chain.t2, chain.t1, chain.t1_tip)
}

/// S0's state-machine update chunks: (contract, slot, update), oldest first.
fn s0_update_chunks(world: &World) -> Vec<(String, u32, StateMachineUpdate)> {
    world
        .activity()
        .into_iter()
        .filter_map(|entry| match entry.activity {
            Activity::ChunkWrite {
                contract,
                slot_id,
                writer: Some(writer),
                data,
                accepted: true,
                ..
            } if writer == world.s0_writer => {
                match libsigner::codec::StacksMessageCodec::consensus_deserialize(
                    &mut data.as_slice(),
                )
                .ok()?
                {
                    SignerMessage::StateMachineUpdate(update) => Some((contract, slot_id, update)),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

/// S0's updates written since `before` of them existed.
fn new_updates(world: &World, before: usize) -> Vec<StateMachineUpdate> {
    world.s0_state_updates().split_off(before)
}

/// The contract S0's updates go to: `signers-{cycle % 2}-2`.
fn update_contract(world: &World) -> String {
    format!("signers-{}-2", world.cycle % 2)
}

/// The (wire code, reason) of S0's rejections of `hash`.
fn s0_rejections(
    world: &World,
    hash: &libsigner::chain::Sha512Trunc256Sum,
) -> Vec<(RejectCode, RejectReason)> {
    world
        .s0_responses(hash)
        .into_iter()
        .filter_map(|response| match response {
            BlockResponse::Rejected(r) => Some((r.reason_code, r.response_data.reject_reason)),
            BlockResponse::Accepted(_) => None,
        })
        .collect()
}

/// World B with a third miner (M3 = miner 2).
fn baseline_with_m3() -> (World, NakamotoBlock, BurnBlock) {
    World::baseline_with(WorldConfig {
        miners: 3,
        ..WorldConfig::baseline()
    })
}

#[test]
fn a_new_burn_block_the_node_has_processed_is_announced_with_its_sortitions_miner() {
    // #40 (with v0-logic §11.9): T3, won by M3 and built on T1 (T2 is empty), gives one update
    // in slot 2 naming T3's burn view and M3 on T1's last block.
    let (world, t1_block, t2) = baseline_with_m3();
    let chain = Chain::of(&world, &t1_block, &t2);
    // The baseline already announced T2's view.
    let updates = world.s0_state_updates();
    assert_eq!(
        updates.last(),
        Some(&v1_update(1, chain.t2, chain.h2, m2_view(&world, &chain)))
    );
    let before = updates.len();
    let t3 = world
        .node
        .advance_burn_block(&BurnBlockOptions {
            winner: Some(2),
            stacks_parent_ch: Some(chain.t1),
            ..BurnBlockOptions::default()
        })
        .expect("T3");
    world.settle();
    let expected = v1_update(
        1,
        t3.consensus_hash,
        t3.height,
        active_miner(
            miner_pkh(&world, 2),
            t3.consensus_hash,
            chain.t1,
            chain.t1_tip,
        ),
    );
    assert_eq!(new_updates(&world, before), std::slice::from_ref(&expected));
    let (contract, slot, update) = s0_update_chunks(&world)
        .pop()
        .expect("the update was written");
    assert_eq!(contract, update_contract(&world));
    assert_eq!(Some(slot), world.s0_id, "S0's own slot");
    assert_eq!(update, expected);
    assert_eq!(t3.height, chain.h2 + 1);
    // Nothing changes afterwards: no periodic re-broadcast (quirk 15).
    std::thread::sleep(Duration::from_millis(1200));
    world.settle();
    assert_eq!(new_updates(&world, before).len(), 1);
}

#[test]
fn a_burn_block_whose_miner_builds_on_an_empty_tenure_leaves_the_machine_silent() {
    // #40 (v0-logic §11.9): T3 built on T2, which has no block (its tip is 404, S0 signed
    // nothing there): the parent tenure cannot be resolved, the machine stays Uninitialized
    // and nothing is written, then or later (quirk 14).
    let (world, t1_block, t2) = baseline_with_m3();
    let chain = Chain::of(&world, &t1_block, &t2);
    let before = world.s0_state_updates().len();
    world
        .node
        .advance_burn_block(&BurnBlockOptions {
            winner: Some(2),
            stacks_parent_ch: Some(chain.t2),
            ..BurnBlockOptions::default()
        })
        .expect("T3");
    world.settle();
    assert!(new_updates(&world, before).is_empty());
    std::thread::sleep(Duration::from_millis(1200));
    world.settle();
    assert!(
        new_updates(&world, before).is_empty(),
        "Uninitialized is sticky until the next burn block"
    );
}

#[test]
fn a_burn_block_the_node_has_not_processed_waits_pending_and_is_announced_once_it_has() {
    // #41 (with v0-logic §11.9): the node still reports T2 when T3 arrives; nothing is written
    // while it lags, then the #40 update on the first event after it catches up.
    let (world, t1_block, t2) = baseline_with_m3();
    let chain = Chain::of(&world, &t1_block, &t2);
    let before = world.s0_state_updates().len();
    world.node.set_info_override(InfoOverride {
        burn_block_height: Some(chain.h2),
        pox_consensus: Some(chain.t2),
        ..InfoOverride::default()
    });
    let t3 = world
        .node
        .advance_burn_block(&BurnBlockOptions {
            winner: Some(2),
            stacks_parent_ch: Some(chain.t1),
            ..BurnBlockOptions::default()
        })
        .expect("T3");
    world.settle();
    assert!(
        new_updates(&world, before).is_empty(),
        "Pending sends nothing"
    );
    // Events and idle ticks retry; the node still lags.
    std::thread::sleep(Duration::from_millis(1200));
    world.settle();
    assert!(new_updates(&world, before).is_empty(), "still Pending");
    world.node.set_info_override(InfoOverride::default());
    world.settle();
    let expected = v1_update(
        1,
        t3.consensus_hash,
        t3.height,
        active_miner(
            miner_pkh(&world, 2),
            t3.consensus_hash,
            chain.t1,
            chain.t1_tip,
        ),
    );
    assert_eq!(new_updates(&world, before), [expected]);
}

#[test]
fn a_late_block_of_the_parent_tenure_bumps_the_announced_parent_tip() {
    // #42: a NewBlock of T1 above the height S0 announced for T2's parent tenure gives a new
    // update with that block as the parent tenure's last block.
    let (world, t1_block, t2) = World::baseline();
    let chain = Chain::of(&world, &t1_block, &t2);
    let before = world.s0_state_updates().len();
    let (t1_tip_id, t1_height) = chain.t1_tip;
    let late = world.node.with_state(|s| {
        let timestamp = s.next_timestamp(t1_block.header.timestamp);
        let signers = s
            .reward_sets
            .get(world.cycle)
            .map(|set| set.signers.len() as u16);
        s.build_block(
            0,
            chain.t1,
            t1_tip_id,
            t1_height + 1,
            timestamp,
            None,
            signers,
        )
    });
    let late_id = world.node.process_block(late).expect("processed");
    world.settle();
    assert_eq!(
        new_updates(&world, before),
        [v1_update(
            1,
            chain.t2,
            chain.h2,
            active_miner(
                miner_pkh(&world, 1),
                chain.t2,
                chain.t1,
                (late_id, t1_height + 1)
            ),
        )]
    );
}

#[test]
fn signers_supporting_only_version_zero_move_the_signer_to_version_zero_content() {
    // #43: P1…P4 announce local_supported 0 (40 of 50 >= 35); on the next event S0 runs
    // version 0 and announces V0 content (still supporting 1 itself).
    let (world, t1_block, t2) = World::baseline();
    let chain = Chain::of(&world, &t1_block, &t2);
    let before = world.s0_state_updates().len();
    let view = m2_view(&world, &chain);
    let zero = StateMachineUpdate::new(
        0,
        0,
        StateMachineUpdateContent::V0 {
            burn_block: chain.t2,
            burn_block_height: chain.h2,
            current_miner: view.clone(),
        },
    )
    .expect("V0 content is version 0");
    for i in 1..=4 {
        world
            .node
            .puppet_state_update(world.p(i), &zero)
            .expect("written");
    }
    world.settle();
    let expected = StateMachineUpdate::new(
        0,
        1,
        StateMachineUpdateContent::V0 {
            burn_block: chain.t2,
            burn_block_height: chain.h2,
            current_miner: view,
        },
    )
    .expect("V0 content is version 0");
    assert_eq!(new_updates(&world, before), [expected]);
}

/// World B where P1…P4 announce M1's view of T2's burn block (`ActiveMiner{M1, T1, T0,
/// T0-tip, its height}`: T1 holds a globally accepted block, the burn view is S0's, the
/// parent height is S0's own view of T0), then 4 s pass (capitulation is rate-limited to
/// 2 s since the last check, which may have come just before these updates: 2 s of margin). `fetch_view_first` makes M2 propose (a block S0 rejects before validation) first,
/// so that S0's V1 sortition view of T2 exists when it capitulates.
/// `parent_height_above` raises the parent height P1…P4 announce above T0's tip.
fn capitulation_world(
    fetch_view_first: bool,
    parent_height_above: u64,
) -> (World, Chain, usize, StateMachineUpdateMinerState) {
    let (world, t1_block, t2) = World::baseline();
    let chain = Chain::of(&world, &t1_block, &t2);
    if fetch_view_first {
        let probe = world.propose_with(ProposeOptions {
            kind: Some(BlockKind::TenureStart),
            overrides: BlockOverrides {
                miner_key: Some(libsigner::chain::StacksPrivateKey::from_seed(
                    b"not a miner of this world",
                )),
                ..BlockOverrides::default()
            },
        });
        world.settle();
        assert_eq!(
            s0_rejections(&world, &probe.signer_signature_hash),
            [(
                RejectCode::SortitionViewMismatch,
                RejectReason::PubkeyHashMismatch
            )]
        );
    }
    let before = world.s0_state_updates().len();
    let (t0_tip_id, t0_height) = chain.t0_tip;
    let m1_view = active_miner(
        miner_pkh(&world, 0),
        chain.t1,
        chain.t0,
        (t0_tip_id, t0_height + parent_height_above),
    );
    let theirs = v1_update(1, chain.t2, chain.h2, m1_view.clone());
    for i in 1..=4 {
        world
            .node
            .puppet_state_update(world.p(i), &theirs)
            .expect("written");
    }
    std::thread::sleep(Duration::from_secs(4));
    world.settle();
    (world, chain, before, m1_view)
}

#[test]
fn the_signer_adopts_the_signer_sets_miner_view_and_then_refuses_its_own_miner() {
    // #44 (with v0-logic §11.9), V1 view fetched in this burn block: S0 announces M1's view;
    // M2's next proposal is InvalidMiner (r4) and M1's passes.
    let (world, chain, before, m1_view) = capitulation_world(true, 0);
    assert_eq!(
        new_updates(&world, before),
        [v1_update(1, chain.t2, chain.h2, m1_view)]
    );
    let m2_block = world.propose(BlockKind::TenureStart);
    world.settle();
    assert_eq!(
        s0_rejections(&world, &m2_block.signer_signature_hash),
        [(
            RejectCode::SortitionViewMismatch,
            RejectReason::InvalidMiner
        )]
    );
    assert_eq!(
        world.validation_requests(&m2_block.signer_signature_hash),
        0
    );
    let m1_block = world.propose(BlockKind::Continue);
    assert_eq!(m1_block.block.header.consensus_hash, chain.t1);
    assert_eq!(m1_block.block.header.parent_block_id, chain.t1_tip.0);
    let hash = m1_block.signer_signature_hash;
    world.wait_for("S0's pre-commit of M1's block", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit"]);
    assert_eq!(world.validation_requests(&hash), 1);
}

#[test]
fn capitulation_before_the_sortition_view_is_fetched_leaves_proposals_to_the_sortitions() {
    // #44, quirk 16: no proposal yet in this burn block, so no V1 view to invalidate: S0
    // announces M1's view, yet M2's tenure start still takes the accept path.
    let (world, chain, before, m1_view) = capitulation_world(false, 0);
    assert_eq!(
        new_updates(&world, before),
        [v1_update(1, chain.t2, chain.h2, m1_view)]
    );
    let m2_block = world.propose(BlockKind::TenureStart);
    let hash = m2_block.signer_signature_hash;
    world.wait_for("S0's pre-commit of M2's block", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    world.settle();
    assert_eq!(world.s0_votes(&hash), ["PreCommit"]);
    assert_eq!(world.validation_requests(&hash), 1);
}

#[test]
fn three_of_five_equal_signers_reach_the_floored_threshold_for_version_two() {
    // #45, quirk 2: weights 1 × 5; P1–P3 support 2, P4 and S0 support 1. floor(5·7/10) = 3,
    // so the active version becomes 2 (a ceil-based port would stay on 1) and S0 announces
    // V2 content. Proposals are still judged by the V1 sortition view.
    let (world, t1_block, t2) = World::baseline_with(WorldConfig {
        s0_weight: 1,
        puppet_weights: vec![1; 4],
        ..WorldConfig::baseline()
    });
    let chain = Chain::of(&world, &t1_block, &t2);
    let before = world.s0_state_updates().len();
    let view = m2_view(&world, &chain);
    for i in 1..=4 {
        let local = if i <= 3 { 2 } else { 1 };
        world
            .node
            .puppet_state_update(
                world.p(i),
                &v1_update(local, chain.t2, chain.h2, view.clone()),
            )
            .expect("written");
    }
    world.settle();
    let expected = StateMachineUpdate::new(
        2,
        1,
        StateMachineUpdateContent::V2 {
            burn_block: chain.t2,
            burn_block_height: chain.h2,
            current_miner: view,
            replay_transactions: vec![],
        },
    )
    .expect("V2 content is version 2");
    assert_eq!(new_updates(&world, before), [expected]);
    // V1 judges M1's T1 block NotLatestSortitionWinner (V2 would say ConsensusHashMismatch)…
    let m1_block = world.propose(BlockKind::Continue);
    assert_eq!(m1_block.block.header.consensus_hash, chain.t1);
    world.settle();
    assert_eq!(
        s0_rejections(&world, &m1_block.signer_signature_hash),
        [(
            RejectCode::SortitionViewMismatch,
            RejectReason::NotLatestSortitionWinner
        )]
    );
    // …and M2's tenure start takes the accept path.
    let m2_block = world.propose(BlockKind::TenureStart);
    let hash = m2_block.signer_signature_hash;
    world.wait_for("S0's pre-commit of M2's block", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    assert_eq!(world.validation_requests(&hash), 1);
}

#[test]
fn peers_announcing_a_longer_parent_tenure_than_the_signer_knows_are_not_followed() {
    // #44 (v0-logic §11.9): the peers' parent height is compared with S0's own view of T0's
    // last block; one above it (S0 may be behind) and S0 keeps M2 and announces nothing.
    let (world, _, before, _) = capitulation_world(true, 1);
    assert!(new_updates(&world, before).is_empty());
    let m2_block = world.propose(BlockKind::TenureStart);
    let hash = m2_block.signer_signature_hash;
    world.wait_for("S0's pre-commit of M2's block", |w| {
        w.s0_votes(&hash).contains(&"PreCommit").then_some(())
    });
    world.settle();
    assert_eq!(
        world.s0_votes(&hash),
        ["PreCommit"],
        "M2 is still the miner"
    );
}
