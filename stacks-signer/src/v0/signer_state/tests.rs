//! Unit tests of the local state machine: burn and Stacks block arrivals, miner inactivity,
//! the parent tenure's last block, update messages, adopting the signer set's view, and the
//! transaction replay set across Bitcoin forks.

use std::cell::Cell;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use libsigner::chain::{
    BlockHeaderHash, BurnchainHeaderHash, ConsensusHash, MessageSignature, NakamotoBlock,
    PrincipalData, SortitionId, StacksAddress, StacksBlockId, StacksMicroblockHeader,
    StacksPrivateKey, StacksPublicKey, StacksTransaction, TenureChangeCause, TenureChangePayload,
    TokenTransferMemo, TransactionAnchorMode, TransactionAuth, TransactionPayload,
    TransactionSpendingCondition, TransactionVersion,
};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{
    BlockProposal, BlockProposalData, PeerInfo, StateMachineUpdate as UpdateMessage,
    StateMachineUpdateContent, StateMachineUpdateMinerState,
};
use libsigner::v0::signer_state::{
    GlobalStateEvaluator, MinerState, ReplayTransactionSet, SignerStateMachine,
};

use super::{LocalStateMachine, NewBurnBlock, ReplayScope, StateMachineUpdate};
use crate::chainstate::v1::{SortitionMinerStatus, SortitionsView};
use crate::chainstate::{
    CurrentAndLastSortition, ProposalEvalConfig, SignerChainstateError, TenureTip,
};
use crate::client::api::TenureForkingInfo;
use crate::client::{ClientError, RewardCycleInfo};
use crate::clock::now_secs;
use crate::signerdb::{BlockInfo, BlockState, SignerDb};
use crate::test_support::{
    addr, ch, coinbase_tx, log, memory_db, miner_key, pkh, sortition, tenure_change_tx,
    BlockBuilder, FakeNode,
};

/// The protocol version this signer supports in these tests.
const LOCAL_VERSION: u64 = 1;

fn config() -> ProposalEvalConfig {
    ProposalEvalConfig {
        first_proposal_burn_block_timing: Duration::from_secs(60),
        block_proposal_timeout: Duration::from_secs(120),
        tenure_last_block_proposal_timeout: Duration::from_secs(30),
        tenure_idle_timeout: Duration::from_secs(120),
        read_count_idle_timeout: Duration::from_secs(20),
        tenure_idle_timeout_buffer: Duration::from_secs(2),
        reorg_attempts_activity_timeout: Duration::from_secs(200),
        proposal_wait_for_parent_time: Duration::from_secs(15),
        reset_replay_set_after_fork_blocks: 2,
    }
}

/// This signer's address.
fn local() -> StacksAddress {
    addr(1)
}

/// An evaluator where this signer holds all the weight.
fn solo_eval() -> GlobalStateEvaluator {
    GlobalStateEvaluator::new(HashMap::new(), HashMap::from([(local(), 10)]))
}

fn set_burn_tip(node: &FakeNode, height: u64, burn_block: ConsensusHash) {
    *node.peer_info.borrow_mut() = Some(PeerInfo {
        burn_block_height: height,
        stacks_tip_consensus_hash: ch(0xEE),
        stacks_tip: BlockHeaderHash([0xEE; 32]),
        stacks_tip_height: 1,
        pox_consensus: burn_block,
        server_version: "test".into(),
        network_id: 0x8000_0000,
    });
}

fn block_id(n: u8) -> StacksBlockId {
    StacksBlockId([n; 32])
}

fn node_tip(height: u64, id: StacksBlockId) -> TenureTip {
    TenureTip {
        height,
        block_id: id,
        signer_signature_hash: None,
        burn_view: None,
    }
}

fn burn(height: u64, burn_block: ConsensusHash) -> NewBurnBlock {
    NewBurnBlock {
        burn_block_height: height,
        consensus_hash: burn_block,
    }
}

fn initialized(
    height: u64,
    burn_block: ConsensusHash,
    current_miner: MinerState,
    replay: Vec<StacksTransaction>,
) -> SignerStateMachine {
    SignerStateMachine {
        burn_block,
        burn_block_height: height,
        current_miner,
        active_signer_protocol_version: LOCAL_VERSION,
        tx_replay_set: ReplayTransactionSet::new(replay),
    }
}

/// Records a block of `tenure` at `height` in `state`, signed by this signer at `signed_self`.
fn store_block(
    db: &mut SignerDb,
    tenure: ConsensusHash,
    height: u64,
    state: BlockState,
    signed_self: Option<u64>,
) -> BlockInfo {
    let block = BlockBuilder::new(tenure, height, block_id(0x0F), &miner_key(9)).build();
    let mut info = BlockInfo::from(BlockProposal {
        block,
        burn_height: 1,
        reward_cycle: 1,
        block_proposal_data: BlockProposalData::new(String::new()),
    });
    info.state = state;
    info.signed_over = true;
    info.signed_self = signed_self;
    db.insert_block(&info).expect("the block is stored");
    info
}

fn transfer(nonce: u64) -> StacksTransaction {
    let key = StacksPublicKey::from_private(&StacksPrivateKey::from_seed(b"replayed transfers"));
    let mut condition =
        TransactionSpendingCondition::new_singlesig_p2pkh(key).expect("a compressed key");
    condition.set_nonce(nonce);
    StacksTransaction::new(
        TransactionVersion::Testnet,
        TransactionAuth::Standard(condition),
        TransactionPayload::TokenTransfer(
            PrincipalData::from(addr(7)),
            nonce + 1,
            TokenTransferMemo([0; 34]),
        ),
    )
}

fn poison_microblock() -> StacksTransaction {
    let header = StacksMicroblockHeader {
        version: 0,
        sequence: 0,
        prev_block: BlockHeaderHash([1; 32]),
        tx_merkle_root: libsigner::chain::Sha512Trunc256Sum([2; 32]),
        signature: MessageSignature::empty(),
    };
    let mut other = header.clone();
    other.sequence = 1;
    let mut tx = transfer(900);
    tx.payload = TransactionPayload::PoisonMicroblock(header, other);
    tx.anchor_mode = TransactionAnchorMode::OnChainOnly;
    tx
}

// ---------------------------------------------------------------------------------------------
// The standard chain: tenure T1 (tip at height 10) is the parent of T2 (miner M2), whose
// successor T3 (miner M3) builds on T2.

const T1: u8 = 0x21;
const T2: u8 = 0x22;
const T3: u8 = 0x23;
const T1_TIP_HEIGHT: u64 = 10;

fn t1_tip_id() -> StacksBlockId {
    block_id(T1)
}

/// A node whose current sortition is T2 (M2 building on T1, the last sortition) and which
/// knows T1's tip.
fn node_on_t2() -> FakeNode {
    let node = FakeNode::new(local());
    node.set_sortitions(
        sortition(ch(T2), &miner_key(2), ch(T1), ch(T1)),
        Some(sortition(ch(T1), &miner_key(1), ch(0x20), ch(0x20))),
    );
    node.set_tenure_tip(ch(T1), node_tip(T1_TIP_HEIGHT, t1_tip_id()));
    node
}

/// A node whose current sortition is T3 (M3 building on T2) and whose last sortition is T2.
fn node_on_t3() -> FakeNode {
    let node = FakeNode::new(local());
    node.set_sortitions(
        sortition(ch(T3), &miner_key(3), ch(T2), ch(T2)),
        Some(sortition(ch(T2), &miner_key(2), ch(T1), ch(T1))),
    );
    node.set_tenure_tip(ch(T1), node_tip(T1_TIP_HEIGHT, t1_tip_id()));
    node.set_tenure_tip(ch(T2), node_tip(15, block_id(T2)));
    node
}

/// M2's tenure T2 on T1's tip, as the standard chain builds it.
fn m2_on_t1() -> MinerState {
    MinerState::ActiveMiner {
        current_miner_pkh: pkh(&miner_key(2)),
        tenure_id: ch(T2),
        parent_tenure_id: ch(T1),
        parent_tenure_last_block: t1_tip_id(),
        parent_tenure_last_block_height: T1_TIP_HEIGHT,
    }
}

/// Records tenure `tenure`'s burn block as received `age_secs` ago.
fn burn_block_received(db: &mut SignerDb, tenure: ConsensusHash, age_secs: u64) {
    let received = SystemTime::now() - Duration::from_secs(age_secs);
    db.insert_burn_block(
        &BurnchainHeaderHash(tenure.0[..].repeat(2)[..32].try_into().expect("32 bytes")),
        &tenure,
        u64::from(tenure.0[0]),
        &received,
        &BurnchainHeaderHash([0; 32]),
    )
    .expect("the burn block is stored");
}

// ---------------------------------------------------------------------------------------------
// bitcoin_block_arrival

#[test]
fn node_behind_the_new_burn_block_leaves_the_machine_pending_until_it_catches_up() {
    let db = memory_db();
    let node = node_on_t2();
    let eval = solo_eval();
    let mut scope = None;
    let expected = burn(200, ch(0x41));
    let mut machine = LocalStateMachine::Uninitialized;

    set_burn_tip(&node, 199, ch(0x40));
    let err = machine
        .bitcoin_block_arrival(
            &db,
            &node,
            &config(),
            Some(expected.clone()),
            &mut scope,
            &eval,
            LOCAL_VERSION,
            &log(),
        )
        .expect_err("the node is behind");
    assert!(matches!(
        err,
        SignerChainstateError::ClientError(ClientError::InvalidResponse(_))
    ));
    let pending = LocalStateMachine::Pending {
        update: StateMachineUpdate::BurnBlock(expected.clone()),
        prior: LocalStateMachine::place_holder(LOCAL_VERSION),
    };
    assert_eq!(machine, pending);
    assert_eq!(machine.get_version(), Some(LOCAL_VERSION));
    assert!(machine
        .try_into_update_message_with_version(LOCAL_VERSION)
        .is_err());

    // At the expected height but on another burn block: still waiting.
    set_burn_tip(&node, 200, ch(0x40));
    machine
        .handle_pending_update(
            &db,
            &node,
            &config(),
            &mut scope,
            &eval,
            LOCAL_VERSION,
            &log(),
        )
        .expect_err("the node is on a sibling burn block");
    assert_eq!(machine, pending);

    // A lower burn block announced meanwhile does not replace the pending one.
    machine
        .bitcoin_block_arrival(
            &db,
            &node,
            &config(),
            Some(burn(199, ch(0x3F))),
            &mut scope,
            &eval,
            LOCAL_VERSION,
            &log(),
        )
        .expect_err("still behind the pending burn block");
    assert_eq!(machine, pending);
    assert_eq!(node.calls("sortitions"), 0);

    set_burn_tip(&node, 200, ch(0x41));
    machine
        .handle_pending_update(
            &db,
            &node,
            &config(),
            &mut scope,
            &eval,
            LOCAL_VERSION,
            &log(),
        )
        .expect("the node caught up");
    assert_eq!(
        machine,
        LocalStateMachine::Initialized(initialized(200, ch(0x41), m2_on_t1(), vec![]))
    );
}

#[test]
fn first_view_takes_the_nodes_burn_tip_and_checks_no_fork() {
    let db = memory_db();
    let node = node_on_t2();
    set_burn_tip(&node, 150, ch(0x42));
    let machine =
        LocalStateMachine::new(&db, &node, &config(), &solo_eval(), LOCAL_VERSION, &log())
            .expect("the view builds");
    assert_eq!(
        machine,
        LocalStateMachine::Initialized(initialized(150, ch(0x42), m2_on_t1(), vec![]))
    );
    assert_eq!(node.calls("fork_info"), 0);
    assert_eq!(node.calls("reward_cycle_info"), 0);
}

#[test]
fn timed_out_current_miner_gives_the_tenure_to_the_last_sortitions_miner() {
    let mut db = memory_db();
    burn_block_received(&mut db, ch(T3), 300);
    let node = node_on_t3();
    set_burn_tip(&node, 150, ch(0x42));
    let machine =
        LocalStateMachine::new(&db, &node, &config(), &solo_eval(), LOCAL_VERSION, &log())
            .expect("the view builds");
    assert_eq!(
        machine,
        LocalStateMachine::Initialized(initialized(150, ch(0x42), m2_on_t1(), vec![]))
    );
}

#[test]
fn no_valid_miner_when_both_sortitions_timed_out() {
    let mut db = memory_db();
    burn_block_received(&mut db, ch(T3), 300);
    burn_block_received(&mut db, ch(T2), 300);
    let node = node_on_t3();
    set_burn_tip(&node, 150, ch(0x42));
    let machine =
        LocalStateMachine::new(&db, &node, &config(), &solo_eval(), LOCAL_VERSION, &log())
            .expect("the view builds");
    assert_eq!(
        machine,
        LocalStateMachine::Initialized(initialized(
            150,
            ch(0x42),
            MinerState::NoValidMiner,
            vec![]
        ))
    );
}

#[test]
fn invalid_current_miner_without_a_usable_last_sortition_leaves_the_machine_uninitialized() {
    let mut db = memory_db();
    burn_block_received(&mut db, ch(T3), 300);
    let node = node_on_t3();
    set_burn_tip(&node, 150, ch(0x42));
    let eval = solo_eval();
    let start = LocalStateMachine::Initialized(initialized(149, ch(0x43), m2_on_t1(), vec![]));

    // No last sortition at all.
    let current = node
        .sortitions
        .borrow()
        .clone()
        .expect("scripted")
        .current_sortition;
    node.set_sortitions(current.clone(), None);
    let mut machine = start.clone();
    let err = machine
        .bitcoin_block_arrival(
            &db,
            &node,
            &config(),
            Some(burn(150, ch(0x42))),
            &mut None,
            &eval,
            LOCAL_VERSION,
            &log(),
        )
        .expect_err("the last sortition is needed");
    assert!(matches!(
        err,
        SignerChainstateError::ClientError(ClientError::InvalidResponse(_))
    ));
    assert_eq!(machine, LocalStateMachine::Uninitialized);

    // A last sortition that cannot be read (no winner key).
    let mut unreadable = sortition(ch(T2), &miner_key(2), ch(T1), ch(T1));
    unreadable.miner_pk_hash160 = None;
    node.set_sortitions(current, Some(unreadable));
    let mut machine = start;
    machine
        .bitcoin_block_arrival(
            &db,
            &node,
            &config(),
            Some(burn(150, ch(0x42))),
            &mut None,
            &eval,
            LOCAL_VERSION,
            &log(),
        )
        .expect_err("the last sortition cannot be read");
    assert_eq!(machine, LocalStateMachine::Uninitialized);
}

#[test]
fn unresolvable_parent_tenure_leaves_the_machine_uninitialized() {
    let db = memory_db();
    let node = FakeNode::new(local());
    node.set_sortitions(sortition(ch(T2), &miner_key(2), ch(T1), ch(T1)), None);
    set_burn_tip(&node, 150, ch(0x42));
    let mut machine =
        LocalStateMachine::Initialized(initialized(149, ch(0x43), m2_on_t1(), vec![]));
    let err = machine
        .bitcoin_block_arrival(
            &db,
            &node,
            &config(),
            Some(burn(150, ch(0x42))),
            &mut None,
            &solo_eval(),
            LOCAL_VERSION,
            &log(),
        )
        .expect_err("T1's last block is unknown");
    assert!(matches!(err, SignerChainstateError::NoParentTenureInfo(t) if t == ch(T1)));
    assert_eq!(machine, LocalStateMachine::Uninitialized);
}

#[test]
fn node_failure_while_pending_leaves_the_machine_uninitialized() {
    let db = memory_db();
    let node = node_on_t2();
    let mut machine = LocalStateMachine::Pending {
        update: StateMachineUpdate::BurnBlock(burn(200, ch(0x41))),
        prior: initialized(199, ch(0x40), m2_on_t1(), vec![]),
    };
    // No `/v2/info` answer scripted.
    machine
        .handle_pending_update(
            &db,
            &node,
            &config(),
            &mut None,
            &solo_eval(),
            LOCAL_VERSION,
            &log(),
        )
        .expect_err("the node does not answer");
    assert_eq!(machine, LocalStateMachine::Uninitialized);
}

// ---------------------------------------------------------------------------------------------
// get_parent_tenure_last_block

#[test]
fn parent_tenure_last_block_is_the_higher_of_node_and_database_with_ties_to_the_database() {
    let mut db = memory_db();
    let node = FakeNode::new(local());
    let timeout = Duration::from_secs(30);
    let parent = ch(T1);
    let lookup = |node: &FakeNode, db: &SignerDb| {
        LocalStateMachine::get_parent_tenure_last_block(node, db, timeout, &parent, &log())
    };

    // Neither knows it.
    assert!(matches!(
        lookup(&node, &db),
        Err(SignerChainstateError::NoParentTenureInfo(t)) if t == parent
    ));

    // The node only.
    node.set_tenure_tip(parent, node_tip(10, block_id(0xA)));
    assert_eq!(lookup(&node, &db).expect("found"), (10, block_id(0xA)));

    // A block this signer accepted, at the same height: the database's wins the tie.
    let accepted = store_block(
        &mut db,
        parent,
        10,
        BlockState::LocallyAccepted,
        Some(now_secs()),
    );
    assert_eq!(
        lookup(&node, &db).expect("found"),
        (10, accepted.block.block_id())
    );

    // The node is higher.
    node.set_tenure_tip(parent, node_tip(11, block_id(0xB)));
    assert_eq!(lookup(&node, &db).expect("found"), (11, block_id(0xB)));

    // The database is higher.
    let higher = store_block(
        &mut db,
        parent,
        12,
        BlockState::GloballyAccepted,
        Some(now_secs()),
    );
    assert_eq!(
        lookup(&node, &db).expect("found"),
        (12, higher.block.block_id())
    );

    // The database only (the node fails).
    node.tenure_tips.borrow_mut().clear();
    assert_eq!(
        lookup(&node, &db).expect("found"),
        (12, higher.block.block_id())
    );
}

#[test]
fn parent_tenure_last_block_ignores_a_timed_out_database_entry() {
    let mut db = memory_db();
    let node = FakeNode::new(local());
    let parent = ch(T1);
    store_block(
        &mut db,
        parent,
        20,
        BlockState::LocallyAccepted,
        Some(now_secs() - 100),
    );
    node.set_tenure_tip(parent, node_tip(10, block_id(0xA)));
    assert_eq!(
        LocalStateMachine::get_parent_tenure_last_block(
            &node,
            &db,
            Duration::from_secs(30),
            &parent,
            &log()
        )
        .expect("found"),
        (10, block_id(0xA))
    );
}

// ---------------------------------------------------------------------------------------------
// check_miner_inactivity (through handle_pending_update)

#[test]
fn check_miner_inactivity_timeout() {
    let mut db = memory_db();
    let mut config = config();
    config.block_proposal_timeout = Duration::from_secs(5);
    let eval = solo_eval();
    let current_tenure = ch(0x11);
    let last_tenure = ch(0x05);
    let last_prior = ch(0x04);
    let last_parent = ch(0x03);
    let miner = miner_key(4);

    let node = FakeNode::new(local());
    node.set_sortitions(
        sortition(current_tenure, &miner, last_parent, last_tenure),
        Some(sortition(last_tenure, &miner, last_parent, last_prior)),
    );
    // The last sortition skips tenure 0x04, which produced no block.
    node.fork_info.borrow_mut().insert(
        (last_parent, last_prior),
        vec![
            fork_entry(last_prior, 4, None, None),
            fork_entry(last_parent, 3, Some(block_id(0x03)), None),
        ],
    );
    // A tip at height 0 (as at genesis).
    let genesis = libsigner::chain::NakamotoBlockHeader::empty();
    node.set_tenure_tip(last_parent, node_tip(0, genesis.block_id()));
    burn_block_received(&mut db, current_tenure, 0);

    let check = |machine: &mut LocalStateMachine, db: &SignerDb, config: &ProposalEvalConfig| {
        machine
            .handle_pending_update(db, &node, config, &mut None, &eval, LOCAL_VERSION, &log())
            .expect("the check runs");
    };

    // Uninitialized: nothing to check.
    let mut machine = LocalStateMachine::Uninitialized;
    check(&mut machine, &db, &config);
    assert_eq!(machine, LocalStateMachine::Uninitialized);

    // No valid miner: nothing to time out.
    let mut state = initialized(1, current_tenure, MinerState::NoValidMiner, vec![]);
    let mut machine = LocalStateMachine::Initialized(state.clone());
    check(&mut machine, &db, &config);
    assert_eq!(machine, LocalStateMachine::Initialized(state.clone()));

    // Pending: not checked (the pending burn block is retried instead, and fails here).
    let pending = LocalStateMachine::Pending {
        update: StateMachineUpdate::BurnBlock(burn(3, ch(9))),
        prior: state.clone(),
    };
    let mut machine = pending.clone();
    machine
        .check_miner_inactivity(&db, &node, &config, &eval, &log())
        .expect("nothing to check");
    assert_eq!(machine, pending);

    // An active miner within its timeout keeps the tenure.
    state.current_miner = MinerState::ActiveMiner {
        current_miner_pkh: pkh(&miner),
        tenure_id: current_tenure,
        parent_tenure_id: last_parent,
        parent_tenure_last_block: block_id(1),
        parent_tenure_last_block_height: 1,
    };
    let mut machine = LocalStateMachine::Initialized(state.clone());
    check(&mut machine, &db, &config);
    assert_eq!(machine, LocalStateMachine::Initialized(state.clone()));
    assert_eq!(node.calls("sortitions"), 0);

    // Timed out (its burn block arrived 10 s ago, the timeout is 0): the last sortition's
    // miner takes over, on the node's tip of its parent tenure.
    burn_block_received(&mut db, current_tenure, 10);
    config.block_proposal_timeout = Duration::from_secs(0);
    check(&mut machine, &db, &config);
    state.current_miner = MinerState::ActiveMiner {
        current_miner_pkh: pkh(&miner),
        tenure_id: last_tenure,
        parent_tenure_id: last_parent,
        parent_tenure_last_block: genesis.block_id(),
        parent_tenure_last_block_height: 0,
    };
    assert_eq!(machine, LocalStateMachine::Initialized(state.clone()));
    assert_eq!(node.calls("sortitions"), 1);
    assert_eq!(node.calls("fork_info"), 1);
    assert_eq!(node.calls("tenure_tip"), 1);

    // The last sortition's miner timing out too keeps it: there is nobody before it.
    burn_block_received(&mut db, last_tenure, 10);
    check(&mut machine, &db, &config);
    assert_eq!(machine, LocalStateMachine::Initialized(state));
}

fn fork_entry(
    tenure: ConsensusHash,
    burn_height: u64,
    first_block_mined: Option<StacksBlockId>,
    blocks: Option<&[NakamotoBlock]>,
) -> TenureForkingInfo {
    TenureForkingInfo {
        burn_block_hash: BurnchainHeaderHash([tenure.0[0]; 32]),
        burn_block_height: burn_height,
        sortition_id: SortitionId([tenure.0[0]; 32]),
        parent_sortition_id: SortitionId([tenure.0[0].wrapping_sub(1); 32]),
        consensus_hash: tenure,
        was_sortition: true,
        first_block_mined,
        nakamoto_blocks: blocks.map(|blocks| blocks.to_vec().serialize_to_vec()),
    }
}

// ---------------------------------------------------------------------------------------------
// stacks_block_arrival

fn no_hash(_: &ReplayTransactionSet) -> Option<u64> {
    None
}

#[test]
fn delayed_parent_tenure_block_moves_the_parent_tenure_tip() {
    let db = memory_db();
    let mut machine =
        LocalStateMachine::Initialized(initialized(150, ch(0x42), m2_on_t1(), vec![]));
    let hash = libsigner::chain::Sha512Trunc256Sum([5; 32]);
    machine
        .stacks_block_arrival(
            &ch(T1),
            11,
            &block_id(0x77),
            &hash,
            &db,
            &[],
            &no_hash,
            &log(),
        )
        .expect("applied");
    let MinerState::ActiveMiner {
        current_miner_pkh,
        tenure_id,
        parent_tenure_id,
        ..
    } = m2_on_t1()
    else {
        unreachable!()
    };
    assert_eq!(
        machine,
        LocalStateMachine::Initialized(initialized(
            150,
            ch(0x42),
            MinerState::ActiveMiner {
                current_miner_pkh,
                tenure_id,
                parent_tenure_id,
                parent_tenure_last_block: block_id(0x77),
                parent_tenure_last_block_height: 11,
            },
            vec![]
        ))
    );
}

#[test]
fn stacks_blocks_of_other_tenures_or_no_higher_leave_the_machine_alone() {
    let db = memory_db();
    let hash = libsigner::chain::Sha512Trunc256Sum([5; 32]);
    let start = LocalStateMachine::Initialized(initialized(150, ch(0x42), m2_on_t1(), vec![]));
    for (tenure, height) in [
        (ch(T1), T1_TIP_HEIGHT),
        (ch(T1), 3),
        (ch(T2), 50),
        (ch(0x99), 50),
    ] {
        let mut machine = start.clone();
        machine
            .stacks_block_arrival(
                &tenure,
                height,
                &block_id(0x77),
                &hash,
                &db,
                &[],
                &no_hash,
                &log(),
            )
            .expect("applied");
        assert_eq!(machine, start, "tenure {tenure} height {height}");
    }
    for start in [
        LocalStateMachine::Uninitialized,
        LocalStateMachine::Initialized(initialized(
            150,
            ch(0x42),
            MinerState::NoValidMiner,
            vec![],
        )),
        LocalStateMachine::Pending {
            update: StateMachineUpdate::BurnBlock(burn(151, ch(0x43))),
            prior: initialized(150, ch(0x42), m2_on_t1(), vec![transfer(1)]),
        },
    ] {
        let mut machine = start.clone();
        machine
            .stacks_block_arrival(
                &ch(T1),
                11,
                &block_id(0x77),
                &hash,
                &db,
                &[],
                &no_hash,
                &log(),
            )
            .expect("applied");
        assert_eq!(machine, start);
    }
}

#[test]
fn replay_set_follows_the_blocks_validated_against_it() {
    let mut db = memory_db();
    let replay = vec![transfer(1), transfer(2)];
    let set = ReplayTransactionSet::new(replay.clone());
    let start = LocalStateMachine::Initialized(initialized(150, ch(0x42), m2_on_t1(), replay));
    let exhausting = libsigner::chain::Sha512Trunc256Sum([1; 32]);
    let progressing = libsigner::chain::Sha512Trunc256Sum([2; 32]);
    let unrelated = libsigner::chain::Sha512Trunc256Sum([3; 32]);
    db.insert_block_validated_by_replay_tx(&exhausting, 42, true)
        .expect("stored");
    db.insert_block_validated_by_replay_tx(&progressing, 42, false)
        .expect("stored");
    let asked = Cell::new(0);
    let known_hash = |asked_for: &ReplayTransactionSet| {
        assert_eq!(*asked_for, set);
        asked.set(asked.get() + 1);
        Some(42)
    };
    let arrive = |machine: &mut LocalStateMachine,
                  hash: &libsigner::chain::Sha512Trunc256Sum,
                  node_hash: &dyn Fn(&ReplayTransactionSet) -> Option<u64>| {
        machine
            .stacks_block_arrival(
                &ch(0x99),
                5,
                &block_id(0x77),
                hash,
                &db,
                &[],
                node_hash,
                &log(),
            )
            .expect("applied");
    };

    // Validated against the set without exhausting it: kept.
    let mut machine = start.clone();
    arrive(&mut machine, &progressing, &known_hash);
    assert_eq!(machine, start);

    // Validated against the set and exhausted it: cleared.
    let mut machine = start.clone();
    arrive(&mut machine, &exhausting, &known_hash);
    assert_eq!(machine.get_tx_replay_set(), None);
    assert!(matches!(&machine, LocalStateMachine::Initialized(s) if s.tx_replay_set.is_empty()));

    // Not validated against the set: cleared.
    let mut machine = start.clone();
    arrive(&mut machine, &unrelated, &known_hash);
    assert_eq!(machine.get_tx_replay_set(), None);
    assert_eq!(asked.get(), 3);

    // The node's hash of the set is unknown: cleared, even for a block recorded as progressing.
    let mut machine = start.clone();
    arrive(&mut machine, &progressing, &no_hash);
    assert_eq!(machine.get_tx_replay_set(), None);

    // No replay set: the hash is never asked for.
    let mut machine =
        LocalStateMachine::Initialized(initialized(150, ch(0x42), m2_on_t1(), vec![]));
    arrive(&mut machine, &unrelated, &known_hash);
    assert_eq!(asked.get(), 3);
}

// ---------------------------------------------------------------------------------------------
// try_into_update_message_with_version

#[test]
fn update_message_content_follows_the_active_version() {
    let replay = vec![transfer(1)];
    let miner = m2_on_t1();
    let miner_in_message = StateMachineUpdateMinerState::ActiveMiner {
        current_miner_pkh: pkh(&miner_key(2)),
        tenure_id: ch(T2),
        parent_tenure_id: ch(T1),
        parent_tenure_last_block: t1_tip_id(),
        parent_tenure_last_block_height: T1_TIP_HEIGHT,
    };
    let message_at = |active: u64| {
        let mut state = initialized(150, ch(0x42), miner.clone(), replay.clone());
        state.active_signer_protocol_version = active;
        LocalStateMachine::Initialized(state).try_into_update_message_with_version(5)
    };

    let v0 = message_at(0).expect("version 0 content");
    assert_eq!(v0.active_signer_protocol_version, 0);
    assert_eq!(v0.local_supported_signer_protocol_version, 5);
    assert_eq!(
        v0.content,
        StateMachineUpdateContent::V0 {
            burn_block: ch(0x42),
            burn_block_height: 150,
            current_miner: miner_in_message.clone(),
        }
    );
    let v1 = message_at(1).expect("version 1 content");
    assert_eq!(
        v1.content,
        StateMachineUpdateContent::V1 {
            burn_block: ch(0x42),
            burn_block_height: 150,
            current_miner: miner_in_message.clone(),
            replay_transactions: replay.clone(),
        }
    );
    let v2 = message_at(2).expect("version 2 content");
    assert_eq!(v2.active_signer_protocol_version, 2);
    assert_eq!(
        v2.content,
        StateMachineUpdateContent::V2 {
            burn_block: ch(0x42),
            burn_block_height: 150,
            current_miner: miner_in_message,
            replay_transactions: replay.clone(),
        }
    );
    assert!(message_at(3).is_err());
    assert!(message_at(u64::MAX).is_err());

    let no_miner = LocalStateMachine::Initialized(initialized(
        150,
        ch(0x42),
        MinerState::NoValidMiner,
        vec![],
    ))
    .try_into_update_message_with_version(1)
    .expect("version 1 content");
    assert_eq!(
        no_miner.content.current_miner(),
        &StateMachineUpdateMinerState::NoValidMiner
    );
}

#[test]
fn only_an_initialized_machine_has_an_update_message() {
    let state = initialized(150, ch(0x42), m2_on_t1(), vec![transfer(1)]);
    assert!(LocalStateMachine::Uninitialized
        .try_into_update_message_with_version(1)
        .is_err());
    let pending = LocalStateMachine::Pending {
        update: StateMachineUpdate::BurnBlock(burn(151, ch(0x43))),
        prior: state.clone(),
    };
    assert!(pending.try_into_update_message_with_version(1).is_err());
    assert_eq!(pending.get_version(), Some(LOCAL_VERSION));
    assert_eq!(pending.get_tx_replay_set(), None);
    assert_eq!(LocalStateMachine::Uninitialized.get_version(), None);
    let machine = LocalStateMachine::Initialized(state);
    assert_eq!(machine.get_tx_replay_set(), Some(vec![transfer(1)]));
    assert_eq!(machine.get_version(), Some(LOCAL_VERSION));
}

// ---------------------------------------------------------------------------------------------
// Adopting the signer set's view

/// An update of `active`/`supported` versions naming `miner` on burn block `burn_block`.
fn update(
    active: u64,
    supported: u64,
    burn_block: ConsensusHash,
    height: u64,
    miner: StateMachineUpdateMinerState,
) -> UpdateMessage {
    let content = match active {
        0 => StateMachineUpdateContent::V0 {
            burn_block,
            burn_block_height: height,
            current_miner: miner,
        },
        1 => StateMachineUpdateContent::V1 {
            burn_block,
            burn_block_height: height,
            current_miner: miner,
            replay_transactions: vec![],
        },
        _ => StateMachineUpdateContent::V2 {
            burn_block,
            burn_block_height: height,
            current_miner: miner,
            replay_transactions: vec![],
        },
    };
    UpdateMessage::new(active, supported, content).expect("consistent versions")
}

/// Signers `addr(1)` (this one) to `addr(n)`, each of `weight`, with no updates yet.
fn signer_set(n: u8, weight: u32) -> GlobalStateEvaluator {
    let weights = (1..=n).map(|i| (addr(i), weight)).collect();
    GlobalStateEvaluator::new(HashMap::new(), weights)
}

fn active_miner(
    miner: &StacksPrivateKey,
    tenure: ConsensusHash,
    parent: ConsensusHash,
    parent_height: u64,
) -> StateMachineUpdateMinerState {
    StateMachineUpdateMinerState::ActiveMiner {
        current_miner_pkh: pkh(miner),
        tenure_id: tenure,
        parent_tenure_id: parent,
        parent_tenure_last_block: block_id(parent.0[0]),
        parent_tenure_last_block_height: parent_height,
    }
}

const VIEW_BURN: u8 = 0x55;
const VIEW_HEIGHT: u64 = 100;
const PARENT: u8 = 0x22;

fn tenure_burn_block(db: &mut SignerDb, tenure: ConsensusHash, height: u64) {
    db.insert_burn_block(
        &BurnchainHeaderHash([tenure.0[0]; 32]),
        &tenure,
        height,
        &SystemTime::now(),
        &BurnchainHeaderHash([0xFF; 32]),
    )
    .expect("stored");
}

#[test]
fn check_capitulate_miner_view() {
    let mut db = memory_db();
    let node = FakeNode::new(local());
    node.set_tenure_tip(ch(PARENT), node_tip(1, block_id(PARENT)));
    let old_tenure = ch(0x01);
    let new_tenure = ch(0x02);
    let old_miner = active_miner(&miner_key(0xAB), old_tenure, ch(PARENT), 1);
    let new_miner = active_miner(&miner_key(0x0A), new_tenure, ch(PARENT), 1);
    let old_update = update(0, 0, ch(VIEW_BURN), VIEW_HEIGHT, old_miner.clone());
    let new_update = update(0, 0, ch(VIEW_BURN), VIEW_HEIGHT, new_miner.clone());

    let mut eval = signer_set(10, 10);
    for i in 1..=10 {
        eval.insert_update(addr(i), old_update.clone());
    }
    // This signer and three others (40%) move to the new miner.
    for i in 2..=4 {
        eval.insert_update(addr(i), new_update.clone());
    }
    tenure_burn_block(&mut db, old_tenure, VIEW_HEIGHT - 1);
    tenure_burn_block(&mut db, new_tenure, VIEW_HEIGHT);
    let mut old_block = store_block(&mut db, old_tenure, 1, BlockState::LocallyAccepted, None);
    let mut new_block = store_block(&mut db, new_tenure, 1, BlockState::LocallyAccepted, None);
    let timeout = Duration::from_secs(u64::MAX);
    let capitulate = |eval: &mut GlobalStateEvaluator, db: &SignerDb| {
        LocalStateMachine::capitulate_miner_view(&node, eval, db, &new_update, timeout, &log())
    };

    // No tenure has a globally accepted block, and no view holds 70%.
    assert_eq!(capitulate(&mut eval, &db), None);

    // The old tenure has one: its 60% suffice.
    db.mark_block_globally_accepted(&mut old_block)
        .expect("marked");
    db.insert_block(&old_block).expect("stored");
    assert_eq!(capitulate(&mut eval, &db), Some(old_miner));

    // Both have one: the tenure with the higher burn block wins.
    db.mark_block_globally_accepted(&mut new_block)
        .expect("marked");
    db.insert_block(&new_block).expect("stored");
    assert_eq!(capitulate(&mut eval, &db), Some(new_miner));
    assert!(node.calls("tenure_tip") >= 2);
}

#[test]
fn capitulate_miner_view_skips_views_this_signer_cannot_confirm() {
    let mut db = memory_db();
    let node = FakeNode::new(local());
    node.set_tenure_tip(ch(PARENT), node_tip(1, block_id(PARENT)));
    let tenure = ch(0x01);
    let local_view = update(
        1,
        1,
        ch(VIEW_BURN),
        VIEW_HEIGHT,
        StateMachineUpdateMinerState::NoValidMiner,
    );
    let timeout = Duration::from_secs(30);
    let with_peers = |miner: StateMachineUpdateMinerState, burn_block: ConsensusHash| {
        let mut eval = signer_set(10, 10);
        for i in 2..=10 {
            eval.insert_update(
                addr(i),
                update(1, 1, burn_block, VIEW_HEIGHT, miner.clone()),
            );
        }
        eval
    };
    store_block(&mut db, tenure, 1, BlockState::GloballyAccepted, None);

    // The tenure's burn block is unknown here.
    let mut eval = with_peers(
        active_miner(&miner_key(1), tenure, ch(PARENT), 1),
        ch(VIEW_BURN),
    );
    assert_eq!(
        LocalStateMachine::capitulate_miner_view(
            &node,
            &mut eval,
            &db,
            &local_view,
            timeout,
            &log()
        ),
        None
    );

    // Known, but the peers see a longer parent tenure than this signer does.
    tenure_burn_block(&mut db, tenure, VIEW_HEIGHT);
    let mut eval = with_peers(
        active_miner(&miner_key(1), tenure, ch(PARENT), 2),
        ch(VIEW_BURN),
    );
    assert_eq!(
        LocalStateMachine::capitulate_miner_view(
            &node,
            &mut eval,
            &db,
            &local_view,
            timeout,
            &log()
        ),
        None
    );

    // The signer set is on another burn block than this signer.
    let mut eval = with_peers(active_miner(&miner_key(1), tenure, ch(PARENT), 1), ch(0x56));
    assert_eq!(
        LocalStateMachine::capitulate_miner_view(
            &node,
            &mut eval,
            &db,
            &local_view,
            timeout,
            &log()
        ),
        None
    );

    // All is well: adopted.
    let view = active_miner(&miner_key(1), tenure, ch(PARENT), 1);
    let mut eval = with_peers(view.clone(), ch(VIEW_BURN));
    assert_eq!(
        LocalStateMachine::capitulate_miner_view(
            &node,
            &mut eval,
            &db,
            &local_view,
            timeout,
            &log()
        ),
        Some(view)
    );
}

#[test]
fn capitulate_miner_view_breaks_burn_height_ties_by_weight_then_address_order() {
    let mut db = memory_db();
    let node = FakeNode::new(local());
    node.set_tenure_tip(ch(PARENT), node_tip(1, block_id(PARENT)));
    let tenure = ch(0x01);
    tenure_burn_block(&mut db, tenure, VIEW_HEIGHT);
    store_block(&mut db, tenure, 1, BlockState::GloballyAccepted, None);
    let view_a = active_miner(&miner_key(0xA), tenure, ch(PARENT), 1);
    let view_b = active_miner(&miner_key(0xB), tenure, ch(PARENT), 1);
    let timeout = Duration::from_secs(30);
    let run = |split: u8| {
        // Signers 1..=split hold view A, the others view B.
        let mut eval = signer_set(10, 10);
        for i in 1..=10 {
            let view = if i <= split { &view_a } else { &view_b };
            eval.insert_update(
                addr(i),
                update(1, 1, ch(VIEW_BURN), VIEW_HEIGHT, view.clone()),
            );
        }
        let local_update = update(1, 1, ch(VIEW_BURN), VIEW_HEIGHT, view_a.clone());
        LocalStateMachine::capitulate_miner_view(
            &node,
            &mut eval,
            &db,
            &local_update,
            timeout,
            &log(),
        )
    };
    // 40% against 60%: the heavier view.
    assert_eq!(run(4), Some(view_b.clone()));
    // 60% against 40%.
    assert_eq!(run(6), Some(view_a.clone()));
    // 50% each: the view that qualified first in address order.
    assert_eq!(run(5), Some(view_a));
}

/// The capitulation fixture: ten signers of weight 10. This signer (and signers 9 and 10) see
/// miner L in tenure 0x61; signers 2 to 8 (70%) see miner P in tenure 0x60, which has a globally
/// accepted block and whose burn block this signer knows.
struct CapitulationFixture {
    db: SignerDb,
    node: FakeNode,
    eval: GlobalStateEvaluator,
    machine: LocalStateMachine,
    peers_view: StateMachineUpdateMinerState,
}

const LOCAL_TENURE: u8 = 0x61;
const PEER_TENURE: u8 = 0x60;

fn local_miner() -> StateMachineUpdateMinerState {
    active_miner(&miner_key(0x4C), ch(LOCAL_TENURE), ch(PARENT), 5)
}

fn capitulation_fixture() -> CapitulationFixture {
    let mut db = memory_db();
    let node = FakeNode::new(local());
    node.set_tenure_tip(ch(PARENT), node_tip(5, block_id(PARENT)));
    let peers_view = active_miner(&miner_key(0x50), ch(PEER_TENURE), ch(PARENT), 5);
    let mut eval = signer_set(10, 10);
    for i in 2..=10 {
        let view = if i <= 8 {
            peers_view.clone()
        } else {
            local_miner()
        };
        eval.insert_update(addr(i), update(1, 1, ch(VIEW_BURN), VIEW_HEIGHT, view));
    }
    tenure_burn_block(&mut db, ch(PEER_TENURE), VIEW_HEIGHT);
    store_block(
        &mut db,
        ch(PEER_TENURE),
        6,
        BlockState::GloballyAccepted,
        None,
    );
    let machine = LocalStateMachine::Initialized(initialized(
        VIEW_HEIGHT,
        ch(VIEW_BURN),
        local_miner().into(),
        vec![transfer(1)],
    ));
    CapitulationFixture {
        db,
        node,
        eval,
        machine,
        peers_view,
    }
}

impl CapitulationFixture {
    fn capitulate(
        &mut self,
        sortition_state: &mut Option<SortitionsView>,
        last_check: &mut SystemTime,
    ) {
        self.machine.capitulate_viewpoint(
            &self.node,
            &mut self.db,
            &mut self.eval,
            LOCAL_VERSION,
            sortition_state,
            Duration::from_secs(20),
            Duration::from_secs(30),
            last_check,
            &log(),
        );
    }

    fn current_miner(&self) -> Option<MinerState> {
        match &self.machine {
            LocalStateMachine::Initialized(state) => Some(state.current_miner.clone()),
            _ => None,
        }
    }
}

#[test]
fn capitulation_waits_for_the_timeout_since_the_last_check() {
    let mut fixture = capitulation_fixture();
    let created = SystemTime::now();
    let mut last_check = created;
    fixture.capitulate(&mut None, &mut last_check);
    assert_eq!(fixture.current_miner(), Some(local_miner().into()));
    assert_eq!(last_check, created);
    assert_eq!(
        fixture.eval.address_updates.get(&local()),
        Some(
            &fixture
                .machine
                .try_into_update_message_with_version(LOCAL_VERSION)
                .expect("initialized")
        ),
        "this signer's own view is counted"
    );

    let long_ago = SystemTime::now() - Duration::from_secs(25);
    let mut last_check = long_ago;
    let before = SystemTime::now();
    fixture.capitulate(&mut None, &mut last_check);
    assert_eq!(
        fixture.current_miner(),
        Some(fixture.peers_view.clone().into())
    );
    assert!(last_check >= before);
    // The replay set and the burn view are kept.
    assert_eq!(fixture.machine.get_tx_replay_set(), Some(vec![transfer(1)]));
    assert!(matches!(
        &fixture.machine,
        LocalStateMachine::Initialized(s) if s.burn_block == ch(VIEW_BURN) && s.burn_block_height == VIEW_HEIGHT
    ));
}

#[test]
fn capitulation_is_skipped_after_a_recent_accepted_block_of_the_local_miner() {
    let mut fixture = capitulation_fixture();
    let mut block = store_block(
        &mut fixture.db,
        ch(LOCAL_TENURE),
        6,
        BlockState::GloballyAccepted,
        Some(now_secs() - 5),
    );
    let long_ago = SystemTime::now() - Duration::from_secs(25);
    let mut last_check = long_ago;
    fixture.capitulate(&mut None, &mut last_check);
    assert_eq!(fixture.current_miner(), Some(local_miner().into()));
    assert_eq!(last_check, long_ago, "the skip does not restart the clock");

    block.signed_self = Some(now_secs() - 60);
    fixture.db.insert_block(&block).expect("stored");
    fixture.capitulate(&mut None, &mut last_check);
    assert_eq!(
        fixture.current_miner(),
        Some(fixture.peers_view.clone().into())
    );
    assert!(last_check > long_ago);
}

#[test]
fn capitulation_to_another_miner_invalidates_the_current_sortition_view() {
    let sortitions_view = |miner: &StacksPrivateKey| {
        SortitionsView::from_sortitions(
            config(),
            CurrentAndLastSortition {
                current_sortition: sortition(ch(LOCAL_TENURE), miner, ch(PARENT), ch(PARENT)),
                last_sortition: Some(sortition(ch(PARENT), &miner_key(0x21), ch(0x20), ch(0x20))),
            },
        )
        .expect("a readable view")
    };

    // The view's current miner is not the adopted one: invalidated.
    let mut fixture = capitulation_fixture();
    let mut view = Some(sortitions_view(&miner_key(0x4C)));
    let mut last_check = SystemTime::now() - Duration::from_secs(25);
    fixture.capitulate(&mut view, &mut last_check);
    let view = view.expect("still there");
    assert_eq!(
        view.cur_sortition.miner_status,
        SortitionMinerStatus::InvalidatedBeforeFirstBlock
    );
    assert_eq!(
        view.last_sortition.map(|s| s.miner_status),
        Some(SortitionMinerStatus::Valid)
    );

    // The view's current miner is the adopted one: left valid.
    let mut fixture = capitulation_fixture();
    let mut view = Some(sortitions_view(&miner_key(0x50)));
    let mut last_check = SystemTime::now() - Duration::from_secs(25);
    fixture.capitulate(&mut view, &mut last_check);
    assert_eq!(
        fixture.current_miner(),
        Some(fixture.peers_view.clone().into())
    );
    assert_eq!(
        view.expect("still there").cur_sortition.miner_status,
        SortitionMinerStatus::Valid
    );
}

#[test]
fn capitulation_needs_an_initialized_machine() {
    let mut fixture = capitulation_fixture();
    let pending = LocalStateMachine::Pending {
        update: StateMachineUpdate::BurnBlock(burn(VIEW_HEIGHT + 1, ch(0x57))),
        prior: initialized(VIEW_HEIGHT, ch(VIEW_BURN), local_miner().into(), vec![]),
    };
    fixture.machine = pending.clone();
    let long_ago = SystemTime::now() - Duration::from_secs(25);
    let mut last_check = long_ago;
    fixture.capitulate(&mut None, &mut last_check);
    assert_eq!(fixture.machine, pending);
    assert_eq!(last_check, long_ago);
    assert!(!fixture.eval.address_updates.contains_key(&local()));
}

/// Five signers of `weight`, this one on `local_state`; signer `i` (2..=5) supports
/// `supported[i - 2]`.
fn version_vote(
    weight: u32,
    supported: [u64; 4],
    local_state: SignerStateMachine,
) -> (LocalStateMachine, GlobalStateEvaluator) {
    let mut eval = signer_set(5, weight);
    let miner = StateMachineUpdateMinerState::NoValidMiner;
    for (i, version) in (2..=5).zip(supported) {
        let active = version.min(2);
        eval.insert_update(
            addr(i),
            update(active, version, ch(VIEW_BURN), VIEW_HEIGHT, miner.clone()),
        );
    }
    (LocalStateMachine::Initialized(local_state), eval)
}

fn adopt_versions(machine: &mut LocalStateMachine, eval: &mut GlobalStateEvaluator) {
    let db = &mut memory_db();
    let node = FakeNode::new(local());
    let mut last_check = SystemTime::now();
    machine.capitulate_viewpoint(
        &node,
        db,
        eval,
        LOCAL_VERSION,
        &mut None,
        Duration::from_secs(20),
        Duration::from_secs(30),
        &mut last_check,
        &log(),
    );
}

#[test]
fn signer_set_on_version_zero_moves_this_signer_to_version_zero_content() {
    let local_state = initialized(
        VIEW_HEIGHT,
        ch(VIEW_BURN),
        MinerState::NoValidMiner,
        vec![transfer(1)],
    );
    let (mut machine, mut eval) = version_vote(10, [0, 0, 0, 0], local_state);
    adopt_versions(&mut machine, &mut eval);
    assert_eq!(machine.get_version(), Some(0));
    let message = machine
        .try_into_update_message_with_version(LOCAL_VERSION)
        .expect("version 0 content");
    assert_eq!(message.active_signer_protocol_version, 0);
    assert_eq!(
        message.local_supported_signer_protocol_version,
        LOCAL_VERSION
    );
    assert_eq!(
        message.content,
        StateMachineUpdateContent::V0 {
            burn_block: ch(VIEW_BURN),
            burn_block_height: VIEW_HEIGHT,
            current_miner: StateMachineUpdateMinerState::NoValidMiner,
        }
    );
    // The switch is built from the version 1 view, so the replay set stays in the machine
    // (version 0 content just does not announce it).
    assert_eq!(machine.get_tx_replay_set(), Some(vec![transfer(1)]));
}

#[test]
fn leaving_version_zero_drops_the_replay_set() {
    let mut local_state = initialized(
        VIEW_HEIGHT,
        ch(VIEW_BURN),
        MinerState::NoValidMiner,
        vec![transfer(1)],
    );
    local_state.active_signer_protocol_version = 0;
    let (mut machine, mut eval) = version_vote(10, [1, 1, 1, 1], local_state);
    adopt_versions(&mut machine, &mut eval);
    assert_eq!(machine.get_version(), Some(1));
    // The switch is built from the version 0 view, which carries no replay set.
    assert_eq!(machine.get_tx_replay_set(), None);
}

#[test]
fn three_of_five_signers_on_version_two_reach_the_floored_threshold() {
    let local_state = initialized(
        VIEW_HEIGHT,
        ch(VIEW_BURN),
        MinerState::NoValidMiner,
        vec![transfer(1)],
    );
    let (mut machine, mut eval) = version_vote(1, [2, 2, 2, 1], local_state);
    adopt_versions(&mut machine, &mut eval);
    assert_eq!(machine.get_version(), Some(2));
    let message = machine
        .try_into_update_message_with_version(LOCAL_VERSION)
        .expect("version 2 content");
    assert_eq!(message.active_signer_protocol_version, 2);
    assert_eq!(
        message.content,
        StateMachineUpdateContent::V2 {
            burn_block: ch(VIEW_BURN),
            burn_block_height: VIEW_HEIGHT,
            current_miner: StateMachineUpdateMinerState::NoValidMiner,
            replay_transactions: vec![transfer(1)],
        }
    );
}

#[test]
fn adopting_a_version_without_content_silences_the_machine() {
    let local_state = initialized(VIEW_HEIGHT, ch(VIEW_BURN), MinerState::NoValidMiner, vec![]);
    let (mut machine, mut eval) = version_vote(10, [7, 7, 7, 7], local_state);
    adopt_versions(&mut machine, &mut eval);
    assert_eq!(machine.get_version(), Some(7));
    assert!(machine
        .try_into_update_message_with_version(LOCAL_VERSION)
        .is_err());
    let stuck = machine.clone();
    adopt_versions(&mut machine, &mut eval);
    assert_eq!(machine, stuck);
}

#[test]
fn no_version_agreement_keeps_the_active_version() {
    let local_state = initialized(VIEW_HEIGHT, ch(VIEW_BURN), MinerState::NoValidMiner, vec![]);
    let (mut machine, mut eval) = version_vote(10, [0, 0, 2, 2], local_state.clone());
    adopt_versions(&mut machine, &mut eval);
    // Version 2: 20; version 1 and up: 30; version 0 and up: 50 ≥ 35. So 0 is agreed.
    assert_eq!(machine.get_version(), Some(0));

    let (mut machine, mut eval) = version_vote(10, [2, 2, 1, 1], local_state.clone());
    adopt_versions(&mut machine, &mut eval);
    // Version 2: 20; version 1 and up: 50 ≥ 35: the local version stays.
    assert_eq!(machine, LocalStateMachine::Initialized(local_state));
}

// ---------------------------------------------------------------------------------------------
// Bitcoin forks and the replay set
//
// Burn chain A: A0 (100) ← A1 (101) ← A2 (102) ← A3 (103)
// Fork B from A0: B1 (101) ← B2 (102) ← B3 (103) ← D3 (103 + ...) ...
// Fork C from A0's parent: C0 (100).

fn burn_hash(tag: u8) -> BurnchainHeaderHash {
    BurnchainHeaderHash([tag; 32])
}

fn insert_burn(db: &mut SignerDb, tag: u8, height: u64, parent_tag: u8) {
    db.insert_burn_block(
        &burn_hash(tag),
        &ch(tag),
        height,
        &SystemTime::now(),
        &burn_hash(parent_tag),
    )
    .expect("stored");
}

fn burn_chains() -> SignerDb {
    let mut db = memory_db();
    insert_burn(&mut db, 0xA0, 100, 0x9F);
    insert_burn(&mut db, 0xA1, 101, 0xA0);
    insert_burn(&mut db, 0xA2, 102, 0xA1);
    insert_burn(&mut db, 0xA3, 103, 0xA2);
    insert_burn(&mut db, 0xB1, 101, 0xA0);
    insert_burn(&mut db, 0xB2, 102, 0xB1);
    insert_burn(&mut db, 0xB3, 103, 0xB2);
    insert_burn(&mut db, 0xC0, 100, 0x9F);
    db
}

/// A reward cycle of 20 burn blocks starting at `first` (cycles are `(h - first) / 20`).
fn cycles(node: &FakeNode, first: u64) {
    *node.reward_cycle_info.borrow_mut() = Some(RewardCycleInfo {
        reward_cycle: 5,
        reward_cycle_length: 20,
        prepare_phase_block_length: 5,
        first_burnchain_block_height: first,
        last_burnchain_block_height: 103,
    });
}

fn block_with(tenure: u8, height: u64, txs: Vec<StacksTransaction>) -> NakamotoBlock {
    let mut builder = BlockBuilder::new(ch(tenure), height, block_id(0x0E), &miner_key(tenure));
    builder.txs = txs;
    builder.build()
}

fn tenure_start_txs(tenure: u8) -> Vec<StacksTransaction> {
    vec![
        tenure_change_tx(TenureChangePayload {
            tenure_consensus_hash: ch(tenure),
            prev_tenure_consensus_hash: ch(tenure.wrapping_sub(1)),
            burn_view_consensus_hash: ch(tenure),
            previous_tenure_end: block_id(0x0E),
            previous_tenure_blocks: 1,
            cause: TenureChangeCause::BlockFound,
            pubkey_hash: pkh(&miner_key(tenure)),
        }),
        coinbase_tx(),
    ]
}

/// The forked tenures A1 and A2: A1 holds blocks 10 (tenure start, transfer 1) and 11 (transfer
/// 2, a poison microblock), A2 blocks 12 (tenure start, transfer 3) and 13 (transfer 4); the
/// node lists the newest tenure first and each tenure's blocks newest first.
fn forked_a1_a2() -> Vec<TenureForkingInfo> {
    let mut a1_start = tenure_start_txs(0xA1);
    a1_start.push(transfer(1));
    let mut a2_start = tenure_start_txs(0xA2);
    a2_start.push(transfer(3));
    let a1 = [
        block_with(0xA1, 11, vec![transfer(2), poison_microblock()]),
        block_with(0xA1, 10, a1_start),
    ];
    let a2 = [
        block_with(0xA2, 13, vec![transfer(4)]),
        block_with(0xA2, 12, a2_start),
    ];
    vec![
        fork_entry(ch(0xA2), 102, Some(a2[1].block_id()), Some(&a2)),
        fork_entry(ch(0xA1), 101, Some(a1[1].block_id()), Some(&a1)),
    ]
}

/// A node on the standard chain at burn block `tip`, with reward cycles of 20 from height 0.
fn fork_node(tip: &NewBurnBlock) -> FakeNode {
    let node = node_on_t2();
    set_burn_tip(&node, tip.burn_block_height, tip.consensus_hash);
    cycles(&node, 0);
    node
}

fn arrive(
    machine: &mut LocalStateMachine,
    db: &SignerDb,
    node: &FakeNode,
    expected: &NewBurnBlock,
    scope: &mut Option<ReplayScope>,
) -> Result<(), SignerChainstateError> {
    machine.bitcoin_block_arrival(
        db,
        node,
        &config(),
        Some(expected.clone()),
        scope,
        &solo_eval(),
        LOCAL_VERSION,
        &log(),
    )
}

fn on_a2(replay: Vec<StacksTransaction>) -> LocalStateMachine {
    LocalStateMachine::Initialized(initialized(102, ch(0xA2), m2_on_t1(), replay))
}

#[test]
fn lower_fork_replays_the_forked_transactions_in_chain_order() {
    let db = burn_chains();
    let expected = burn(101, ch(0xB1));
    let node = fork_node(&expected);
    node.fork_info
        .borrow_mut()
        .insert((ch(0xA1), ch(0xA2)), forked_a1_a2());
    let mut machine = on_a2(vec![]);
    let mut scope = None;
    arrive(&mut machine, &db, &node, &expected, &mut scope).expect("applied");
    assert_eq!(
        machine,
        LocalStateMachine::Initialized(initialized(
            101,
            ch(0xB1),
            m2_on_t1(),
            vec![transfer(1), transfer(2), transfer(3), transfer(4)]
        ))
    );
    assert_eq!(
        scope,
        Some(ReplayScope {
            fork_origin: expected,
            past_tip: burn(102, ch(0xA2)),
        })
    );
}

#[test]
fn fork_detection_walks_back_at_most_ten_burn_blocks() {
    // Chain D continues fork B: D3 (103) .. DD (113).
    let mut db = burn_chains();
    let mut parent = 0xB2;
    for (tag, height) in (0xD3..=0xDD).zip(103..) {
        insert_burn(&mut db, tag, height, parent);
        parent = tag;
    }
    let forked_a2 = || forked_a1_a2().into_iter().take(1).collect::<Vec<_>>();
    let a2_txs = vec![transfer(3), transfer(4)];

    // One block above the old tip, on another branch: a fork. The new block is the fork's
    // origin, so only the old tip's tenure is forked.
    let expected = burn(103, ch(0xB3));
    let node = fork_node(&expected);
    node.fork_info
        .borrow_mut()
        .insert((ch(0xA2), ch(0xA2)), forked_a2());
    let mut machine = on_a2(vec![]);
    let mut scope = None;
    arrive(&mut machine, &db, &node, &expected, &mut scope).expect("applied");
    assert_eq!(machine.get_tx_replay_set(), Some(a2_txs.clone()));
    assert_eq!(node.calls("fork_info"), 1);

    // Ten blocks above: still detected.
    let expected = burn(112, ch(0xDC));
    let node = fork_node(&expected);
    node.fork_info
        .borrow_mut()
        .insert((ch(0xA2), ch(0xA2)), forked_a2());
    let mut machine = on_a2(vec![]);
    let mut scope = None;
    arrive(&mut machine, &db, &node, &expected, &mut scope).expect("applied");
    assert_eq!(machine.get_tx_replay_set(), Some(a2_txs));

    // Eleven blocks above: not looked at.
    let expected = burn(113, ch(0xDD));
    let node = fork_node(&expected);
    let mut machine = on_a2(vec![]);
    let mut scope = None;
    arrive(&mut machine, &db, &node, &expected, &mut scope).expect("applied");
    assert_eq!(machine.get_tx_replay_set(), None);
    assert_eq!(scope, None);
    assert_eq!(node.calls("fork_info"), 0);

    // A descendant of the old tip: no fork.
    let expected = burn(103, ch(0xA3));
    let node = fork_node(&expected);
    let mut machine = on_a2(vec![]);
    let mut scope = None;
    arrive(&mut machine, &db, &node, &expected, &mut scope).expect("applied");
    assert_eq!(machine.get_tx_replay_set(), None);
    assert_eq!(node.calls("fork_info"), 0);

    // The same burn block again: no fork.
    let expected = burn(102, ch(0xA2));
    let node = fork_node(&expected);
    let mut machine = on_a2(vec![]);
    arrive(&mut machine, &db, &node, &expected, &mut None).expect("applied");
    assert_eq!(node.calls("fork_info"), 0);
}

#[test]
fn fork_reaching_into_another_reward_cycle_starts_no_replay() {
    let db = burn_chains();
    let expected = burn(101, ch(0xB1));
    let node = fork_node(&expected);
    // Cycles start at 2, 22, .., 82, 102: A1 (101) and A2 (102) are in different cycles.
    cycles(&node, 2);
    node.fork_info
        .borrow_mut()
        .insert((ch(0xA1), ch(0xA2)), forked_a1_a2());
    let mut machine = on_a2(vec![]);
    let mut scope = None;
    arrive(&mut machine, &db, &node, &expected, &mut scope).expect("applied");
    assert_eq!(machine.get_tx_replay_set(), None);
    assert_eq!(scope, None);
    assert_eq!(node.calls("reward_cycle_info"), 1);
}

#[test]
fn fork_of_only_tenure_changes_and_coinbases_starts_no_replay() {
    let db = burn_chains();
    let expected = burn(101, ch(0xB1));
    let node = fork_node(&expected);
    let blocks = [block_with(0xA2, 12, tenure_start_txs(0xA2))];
    node.fork_info.borrow_mut().insert(
        (ch(0xA1), ch(0xA2)),
        vec![
            fork_entry(ch(0xA2), 102, Some(blocks[0].block_id()), Some(&blocks)),
            fork_entry(ch(0xA1), 101, None, None),
        ],
    );
    let mut machine = on_a2(vec![]);
    let mut scope = None;
    arrive(&mut machine, &db, &node, &expected, &mut scope).expect("applied");
    assert_eq!(machine.get_tx_replay_set(), None);
    assert_eq!(scope, None);
}

#[test]
fn undecodable_forked_blocks_leave_the_machine_uninitialized() {
    let db = burn_chains();
    let expected = burn(101, ch(0xB1));
    let node = fork_node(&expected);
    let mut entries = forked_a1_a2();
    entries[0].nakamoto_blocks = Some(vec![0, 0, 0, 2, 0xFF]);
    node.fork_info
        .borrow_mut()
        .insert((ch(0xA1), ch(0xA2)), entries);
    let mut machine = on_a2(vec![]);
    let err = arrive(&mut machine, &db, &node, &expected, &mut None)
        .expect_err("the blocks cannot be decoded");
    assert!(matches!(
        err,
        SignerChainstateError::ClientError(ClientError::UnexpectedResponseFormat(_))
    ));
    assert_eq!(machine, LocalStateMachine::Uninitialized);
    assert_eq!(node.calls("reward_cycle_info"), 0);
}

/// The machine after the fork to B1: replaying A1 and A2's transactions.
fn replaying_on_b1() -> (LocalStateMachine, Option<ReplayScope>) {
    (
        LocalStateMachine::Initialized(initialized(
            101,
            ch(0xB1),
            m2_on_t1(),
            vec![transfer(1), transfer(2), transfer(3), transfer(4)],
        )),
        Some(ReplayScope {
            fork_origin: burn(101, ch(0xB1)),
            past_tip: burn(102, ch(0xA2)),
        }),
    )
}

#[test]
fn stalled_replay_is_cleared_more_than_the_failsafe_depth_past_its_tip() {
    let db = burn_chains();
    // Burn blocks the database has not seen: no fork can be detected.
    let expected = burn(104, ch(0xE4));
    let node = fork_node(&expected);
    let (mut machine, mut scope) = replaying_on_b1();
    let kept_scope = scope.clone();
    arrive(&mut machine, &db, &node, &expected, &mut scope).expect("applied");
    assert_eq!(machine.get_tx_replay_set().map(|set| set.len()), Some(4));
    assert_eq!(scope, kept_scope);

    let expected = burn(105, ch(0xE5));
    let node = fork_node(&expected);
    arrive(&mut machine, &db, &node, &expected, &mut scope).expect("applied");
    assert_eq!(machine.get_tx_replay_set(), None);
    assert_eq!(scope, None);
}

#[test]
fn deeper_fork_during_a_replay_recomputes_the_set_from_the_new_origin() {
    let db = burn_chains();
    let a0_blocks = [block_with(0xA0, 9, vec![transfer(0)])];
    let mut deeper = forked_a1_a2();
    deeper.push(fork_entry(
        ch(0xA0),
        100,
        Some(a0_blocks[0].block_id()),
        Some(&a0_blocks),
    ));

    // A sibling of the replay's origin: the same reorg, nothing changes.
    let expected = burn(101, ch(0xE1));
    let node = fork_node(&expected);
    let (mut machine, mut scope) = replaying_on_b1();
    let kept_scope = scope.clone();
    arrive(&mut machine, &db, &node, &expected, &mut scope).expect("applied");
    assert_eq!(machine.get_tx_replay_set().map(|set| set.len()), Some(4));
    assert_eq!(scope, kept_scope);
    assert_eq!(node.calls("fork_info"), 0);

    // Below the origin: recomputed from C0 up to the replay's past tip A2.
    let expected = burn(100, ch(0xC0));
    let node = fork_node(&expected);
    node.fork_info
        .borrow_mut()
        .insert((ch(0xA0), ch(0xA2)), deeper);
    let (mut machine, mut scope) = replaying_on_b1();
    arrive(&mut machine, &db, &node, &expected, &mut scope).expect("applied");
    assert_eq!(
        machine.get_tx_replay_set(),
        Some(vec![
            transfer(0),
            transfer(1),
            transfer(2),
            transfer(3),
            transfer(4)
        ])
    );
    assert_eq!(
        scope,
        Some(ReplayScope {
            fork_origin: expected.clone(),
            past_tip: burn(102, ch(0xA2)),
        })
    );

    // The same, reaching into another reward cycle: the replay is dropped.
    let node = fork_node(&expected);
    cycles(&node, 2);
    node.fork_info
        .borrow_mut()
        .insert((ch(0xA0), ch(0xA2)), forked_a1_a2());
    let (mut machine, mut scope) = replaying_on_b1();
    arrive(&mut machine, &db, &node, &expected, &mut scope).expect("applied");
    assert_eq!(machine.get_tx_replay_set(), None);
    assert_eq!(scope, None);
}

#[test]
fn replay_set_without_its_scope_cannot_take_a_burn_block() {
    let db = burn_chains();
    let expected = burn(103, ch(0xA3));
    let node = fork_node(&expected);
    let mut machine = on_a2(vec![transfer(1)]);
    let err = arrive(&mut machine, &db, &node, &expected, &mut None)
        .expect_err("the replay scope was lost");
    assert!(matches!(
        err,
        SignerChainstateError::LocalStateMachineNotReady
    ));
    assert_eq!(machine, LocalStateMachine::Uninitialized);
}

#[test]
fn burn_block_records_that_do_not_descend_are_an_error_rather_than_an_endless_walk() {
    let mut db = burn_chains();
    // A record that names itself as its parent.
    insert_burn(&mut db, 0xF2, 102, 0xF2);
    let expected = burn(101, ch(0xB1));
    let node = fork_node(&expected);
    let mut machine =
        LocalStateMachine::Initialized(initialized(102, ch(0xF2), m2_on_t1(), vec![]));
    let err = arrive(&mut machine, &db, &node, &expected, &mut None)
        .expect_err("the walk cannot descend");
    assert!(matches!(err, SignerChainstateError::DBError(_)));
    assert_eq!(machine, LocalStateMachine::Uninitialized);
    assert_eq!(node.calls("fork_info"), 0);
}
