//! The node cache on the proposal path (`chainstate/cache.rs`): what it answers itself, and
//! what sends it back to the node.

use std::cell::RefCell;

use libsigner::chain::{BlockHeaderHash, NakamotoBlock, TenureChangeCause};
use libsigner::v0::messages::PeerInfo;
use libsigner::v0::signer_state::ReplayTransactionSet;

use super::{config, tip_at, Env, BEFORE_LAST, CUR, ELSEWHERE, LAST};
use crate::chainstate::cache::NodeCache;
use crate::chainstate::v1::SortitionsView;
use crate::chainstate::{CachedNode, NodeRpc};
use crate::test_support::{ch, sortition};

/// Tells the cache that the node processed `block`.
fn processed(cache: &RefCell<NodeCache>, block: &NakamotoBlock) {
    cache.borrow_mut().on_stacks_block(
        &block.header.consensus_hash,
        block.header.chain_length,
        &block.block_id(),
        &block.header.signer_signature_hash(),
        &block.txs,
    );
}

fn script_sortitions(env: &Env, current: u8, last: u8) {
    env.node.set_sortitions(
        sortition(ch(current), &env.miner, ch(last), ch(last)),
        Some(sortition(
            ch(last),
            &env.miner,
            ch(BEFORE_LAST),
            ch(BEFORE_LAST),
        )),
    );
}

#[test]
fn sortitions_are_fetched_once_per_burn_block() {
    let env = Env::new();
    script_sortitions(&env, CUR, LAST);
    let cache = RefCell::new(NodeCache::default());
    let node = CachedNode::new(&env.node, &cache);
    for _ in 0..3 {
        let got = node.get_current_and_last_sortition().expect("scripted");
        assert_eq!(got.current_sortition.consensus_hash, ch(CUR));
    }
    assert_eq!(env.node.calls("sortitions"), 1);

    // A new burn block forgets them, once however many signer instances report it.
    cache.borrow_mut().on_burn_block(&ch(CUR));
    node.get_current_and_last_sortition().expect("scripted");
    assert_eq!(env.node.calls("sortitions"), 2);
    cache.borrow_mut().on_burn_block(&ch(CUR));
    node.get_current_and_last_sortition().expect("scripted");
    assert_eq!(env.node.calls("sortitions"), 2);
    cache.borrow_mut().on_burn_block(&ch(ELSEWHERE));
    node.get_current_and_last_sortition().expect("scripted");
    assert_eq!(env.node.calls("sortitions"), 3);
}

#[test]
fn invalidated_sortitions_are_fetched_again() {
    let env = Env::new();
    script_sortitions(&env, CUR, LAST);
    let cache = RefCell::new(NodeCache::default());
    let node = CachedNode::new(&env.node, &cache);
    node.get_current_and_last_sortition().expect("scripted");
    node.invalidate_sortitions();
    node.get_current_and_last_sortition().expect("scripted");
    assert_eq!(env.node.calls("sortitions"), 2);
}

#[test]
fn failed_sortition_fetches_are_not_remembered() {
    let env = Env::new();
    let cache = RefCell::new(NodeCache::default());
    let node = CachedNode::new(&env.node, &cache);
    assert!(node.get_current_and_last_sortition().is_err());
    assert!(node.get_current_and_last_sortition().is_err());
    assert_eq!(env.node.calls("sortitions"), 2);
}

#[test]
fn view_reset_through_the_cache_sees_the_nodes_new_answer() {
    let mut env = Env::new();
    script_sortitions(&env, CUR, LAST);
    let cache = RefCell::new(NodeCache::default());
    let mut view = SortitionsView::fetch_view(config(), &CachedNode::new(&env.node, &cache))
        .expect("scripted");
    // The node moved on to a sortition the cached answer does not know.
    script_sortitions(&env, ELSEWHERE, CUR);
    let block = env.block(ELSEWHERE, 10).build();
    let node = CachedNode::new(&env.node, &cache);
    let result = view.check_proposal(
        &node,
        &mut env.db,
        &block,
        true,
        &ReplayTransactionSet::none(),
        &env.log,
    );
    assert_eq!(result, Ok(()));
    assert_eq!(env.node.calls("sortitions"), 2);
}

#[test]
fn tenure_tip_is_fetched_once_then_served_from_the_cache() {
    let env = Env::new();
    env.node.set_tenure_tip(ch(CUR), tip_at(9, Some(ch(CUR))));
    let cache = RefCell::new(NodeCache::default());
    let node = CachedNode::new(&env.node, &cache);
    for _ in 0..3 {
        assert_eq!(
            node.get_tenure_tip(&ch(CUR)).expect("scripted"),
            tip_at(9, Some(ch(CUR)))
        );
    }
    assert_eq!(env.node.calls("tenure_tip"), 1);
}

#[test]
fn failed_tenure_tip_fetches_are_not_remembered() {
    let env = Env::new();
    let cache = RefCell::new(NodeCache::default());
    let node = CachedNode::new(&env.node, &cache);
    assert!(node.get_tenure_tip(&ch(CUR)).is_err());
    assert!(node.get_tenure_tip(&ch(CUR)).is_err());
    assert_eq!(env.node.calls("tenure_tip"), 2);
}

#[test]
fn processed_block_advances_a_fetched_tip_and_inherits_its_burn_view() {
    let env = Env::new();
    env.node.set_tenure_tip(ch(CUR), tip_at(9, Some(ch(CUR))));
    let cache = RefCell::new(NodeCache::default());
    let node = CachedNode::new(&env.node, &cache);
    node.get_tenure_tip(&ch(CUR)).expect("scripted");
    let block = env.block(CUR, 10).build();
    processed(&cache, &block);
    let tip = node.get_tenure_tip(&ch(CUR)).expect("cached");
    assert_eq!(tip.height, 10);
    assert_eq!(tip.block_id, block.block_id());
    assert_eq!(
        tip.signer_signature_hash,
        Some(block.header.signer_signature_hash())
    );
    assert_eq!(tip.burn_view, Some(ch(CUR)));
    assert_eq!(env.node.calls("tenure_tip"), 1);
}

#[test]
fn processed_tenure_change_names_the_new_burn_view() {
    let env = Env::new();
    env.node.set_tenure_tip(ch(CUR), tip_at(9, Some(ch(CUR))));
    let cache = RefCell::new(NodeCache::default());
    let node = CachedNode::new(&env.node, &cache);
    node.get_tenure_tip(&ch(CUR)).expect("scripted");
    let extend = env
        .block(CUR, 10)
        .extend(TenureChangeCause::Extended, ch(64))
        .build();
    processed(&cache, &extend);
    let tip = node.get_tenure_tip(&ch(CUR)).expect("cached");
    assert_eq!((tip.height, tip.burn_view), (10, Some(ch(64))));
    assert_eq!(env.node.calls("tenure_tip"), 1);
}

#[test]
fn tip_learned_from_a_block_without_tenure_change_is_fetched_for_its_burn_view() {
    let env = Env::new();
    env.node.set_tenure_tip(ch(CUR), tip_at(10, Some(ch(LAST))));
    let cache = RefCell::new(NodeCache::default());
    let node = CachedNode::new(&env.node, &cache);
    processed(&cache, &env.block(CUR, 10).build());
    let tip = node.get_tenure_tip(&ch(CUR)).expect("scripted");
    assert_eq!(tip, tip_at(10, Some(ch(LAST))));
    assert_eq!(env.node.calls("tenure_tip"), 1);
}

#[test]
fn tip_learned_from_a_tenure_start_block_is_served_without_asking_the_node() {
    let env = Env::new();
    let cache = RefCell::new(NodeCache::default());
    let node = CachedNode::new(&env.node, &cache);
    let start = env.block(CUR, 10).tenure_start(ch(LAST)).build();
    processed(&cache, &start);
    let tip = node.get_tenure_tip(&ch(CUR)).expect("cached");
    assert_eq!((tip.height, tip.burn_view), (10, Some(ch(CUR))));
    assert_eq!(tip.block_id, start.block_id());
    assert_eq!(env.node.calls("tenure_tip"), 0);
}

#[test]
fn processed_block_no_higher_than_the_cached_tip_does_not_move_it() {
    let env = Env::new();
    env.node.set_tenure_tip(ch(CUR), tip_at(10, Some(ch(CUR))));
    let cache = RefCell::new(NodeCache::default());
    let node = CachedNode::new(&env.node, &cache);
    node.get_tenure_tip(&ch(CUR)).expect("scripted");
    for height in [9, 10] {
        let block = env
            .block(CUR, height)
            .extend(TenureChangeCause::Extended, ch(64))
            .build();
        processed(&cache, &block);
    }
    assert_eq!(
        node.get_tenure_tip(&ch(CUR)).expect("cached"),
        tip_at(10, Some(ch(CUR)))
    );
}

#[test]
fn a_new_burn_block_forgets_the_tenure_tips_once() {
    let env = Env::new();
    env.node.set_tenure_tip(ch(CUR), tip_at(9, Some(ch(CUR))));
    let cache = RefCell::new(NodeCache::default());
    let node = CachedNode::new(&env.node, &cache);
    cache.borrow_mut().on_burn_block(&ch(CUR));
    node.get_tenure_tip(&ch(CUR)).expect("scripted");
    // The same burn block again (the other reward cycle's signer): nothing is forgotten.
    cache.borrow_mut().on_burn_block(&ch(CUR));
    node.get_tenure_tip(&ch(CUR)).expect("cached");
    assert_eq!(env.node.calls("tenure_tip"), 1);
    cache.borrow_mut().on_burn_block(&ch(ELSEWHERE));
    node.get_tenure_tip(&ch(CUR)).expect("scripted");
    assert_eq!(env.node.calls("tenure_tip"), 2);
}

#[test]
fn stacks_tip_height_is_the_highest_height_seen_anywhere() {
    let env = Env::new();
    let cache = RefCell::new(NodeCache::default());
    let node = CachedNode::new(&env.node, &cache);
    assert_eq!(cache.borrow().stacks_tip_height(), 0);
    processed(&cache, &env.block(CUR, 12).build());
    assert_eq!(cache.borrow().stacks_tip_height(), 12);
    processed(&cache, &env.block(LAST, 7).build());
    assert_eq!(cache.borrow().stacks_tip_height(), 12);

    env.node
        .set_tenure_tip(ch(LAST), tip_at(15, Some(ch(LAST))));
    node.get_tenure_tip(&ch(LAST)).expect("scripted");
    assert_eq!(cache.borrow().stacks_tip_height(), 15);

    let peer = |height| PeerInfo {
        burn_block_height: 1,
        stacks_tip_consensus_hash: ch(CUR),
        stacks_tip: BlockHeaderHash([0; 32]),
        stacks_tip_height: height,
        pox_consensus: ch(CUR),
        server_version: String::new(),
        network_id: 0,
    };
    *env.node.peer_info.borrow_mut() = Some(peer(20));
    assert_eq!(
        node.get_peer_info().expect("scripted").stacks_tip_height,
        20
    );
    assert_eq!(cache.borrow().stacks_tip_height(), 20);
    *env.node.peer_info.borrow_mut() = Some(peer(3));
    node.get_peer_info().expect("scripted");
    assert_eq!(cache.borrow().stacks_tip_height(), 20);
    // The node is asked every time.
    assert_eq!(env.node.calls("peer_info"), 2);
}

#[test]
fn fork_info_and_reward_cycle_always_go_to_the_node() {
    let env = Env::new();
    env.node
        .fork_info
        .borrow_mut()
        .insert((ch(BEFORE_LAST), ch(LAST)), vec![]);
    let cache = RefCell::new(NodeCache::default());
    let node = CachedNode::new(&env.node, &cache);
    for _ in 0..2 {
        node.get_tenure_forking_info(&ch(BEFORE_LAST), &ch(LAST))
            .expect("scripted");
        assert!(node.get_current_reward_cycle_info().is_err());
    }
    assert_eq!(env.node.calls("fork_info"), 2);
    assert_eq!(env.node.calls("reward_cycle_info"), 2);
    assert_eq!(node.signer_address(), env.node.signer_address());
}
