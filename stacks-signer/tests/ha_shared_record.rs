//! The shared record of an active/standby pair on a real PostgreSQL (a throwaway cluster per
//! test): the lease, votes checked and recorded in one serializable transaction, the guard
//! against parallel conflicting votes, slot versions, and a database restart.

mod signerdb_support;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use libsigner::chain::{NakamotoBlock, StacksPrivateKey, StacksPublicKey};
use libsigner::v0::messages::RejectReason;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use signerdb_support::*;
use stacks_signer::ha::cluster::TempPostgres;
use stacks_signer::ha::lease::{release, try_hold};
use stacks_signer::ha::{HaConfig, LeaseKeeper, LeaseState, SharedStore};
use stacks_signer::signerdb::{
    ConflictPolicy, OwnVote, SignerDb, SignerDbError, VoteContext, VoteRecord, VoteRefusal,
};

const T0: u64 = 1_700_000_000;
const WINDOW: u64 = 30;

fn ctx(tip: Option<u64>) -> VoteContext {
    VoteContext {
        policy: ConflictPolicy {
            reconsider_after: Duration::from_secs(WINDOW),
        },
        tenure_tip_height: tip,
    }
}

fn key() -> StacksPublicKey {
    StacksPublicKey::from_private(&StacksPrivateKey::from_seed(b"ha shared record"))
}

fn config(url: &str, instance: &str, lease_ms: u64) -> HaConfig {
    HaConfig {
        db_url: url.to_string(),
        lease: Duration::from_millis(lease_ms),
        renew: Duration::from_millis(lease_ms / 3),
        instance: instance.to_string(),
    }
}

fn cluster() -> TempPostgres {
    TempPostgres::start().expect("a throwaway PostgreSQL cluster (see docs/high-availability.md)")
}

/// A store of instance `instance` that holds the lease (taken once, for `lease_ms`).
fn holder(url: &str, instance: &str, lease_ms: u64) -> Arc<SharedStore> {
    let store = SharedStore::connect(&config(url, instance, lease_ms), &key()).unwrap();
    take_lease(&store);
    store
}

/// Takes or renews `store`'s lease once, as its keeper would.
fn take_lease(store: &SharedStore) -> LeaseState {
    let mut client = postgres::Client::connect(&store.config().db_url, postgres::NoTls).unwrap();
    let state = try_hold(
        &mut client,
        store.signer_key(),
        store.instance(),
        store.config().lease,
    )
    .unwrap();
    state
}

/// A local SQLite database attached to `store`.
fn attached(store: &Arc<SharedStore>) -> SignerDb {
    let mut db = SignerDb::open(":memory:").unwrap();
    db.attach_shared(store.clone());
    db
}

fn vote(db: &mut SignerDb, vote: &OwnVote, b: &NakamotoBlock, now: u64) -> VoteRecord {
    db.record_own_vote_at(vote, &b.header, 42, None, &ctx(None), now)
        .unwrap()
}

fn wait_until(what: &str, deadline: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn one_instance_holds_the_lease_and_another_takes_it_only_after_it_lapses() {
    let pg = cluster();
    let url = pg.url();
    let a = SharedStore::connect(&config(&url, "a", 600), &key()).unwrap();
    let b = SharedStore::connect(&config(&url, "b", 600), &key()).unwrap();
    let first = take_lease(&a);
    assert!(matches!(first, LeaseState::Held { term: 1 }), "{first:?}");
    // While a renews, b cannot take it.
    for _ in 0..5 {
        assert!(matches!(take_lease(&a), LeaseState::Held { term: 1 }));
        match take_lease(&b) {
            LeaseState::HeldBy { holder, .. } => assert_eq!(holder, "a"),
            other => panic!("b took a held lease: {other:?}"),
        }
        thread::sleep(Duration::from_millis(100));
    }
    // a stops renewing: once its lease ran out, b takes it in a new term.
    thread::sleep(Duration::from_millis(700));
    assert_eq!(take_lease(&b), LeaseState::Held { term: 2 });
    match take_lease(&a) {
        LeaseState::HeldBy { holder, .. } => assert_eq!(holder, "b"),
        other => panic!("a took b's lease back: {other:?}"),
    }
    // A clean release hands it over at once.
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    assert!(release(&mut client, b.signer_key(), "b").unwrap());
    assert_eq!(take_lease(&a), LeaseState::Held { term: 3 });
}

#[test]
fn the_keeper_marks_its_instance_active_and_a_standby_takes_over_when_it_stops() {
    let pg = cluster();
    let url = pg.url();
    let logger = slog::Logger::root(slog::Discard, slog::o!());
    // A long lease renewed often: a takeover well within the lease shows the release.
    let quick = |name: &str| HaConfig {
        renew: Duration::from_millis(100),
        ..config(&url, name, 10_000)
    };
    let a = SharedStore::connect(&quick("a"), &key()).unwrap();
    let b = SharedStore::connect(&quick("b"), &key()).unwrap();
    let keeper_a = LeaseKeeper::start(a.clone(), logger.clone()).unwrap();
    wait_until("a to hold the lease", Duration::from_secs(10), || {
        a.is_active()
    });
    let keeper_b = LeaseKeeper::start(b.clone(), logger).unwrap();
    wait_until("b to learn the holder", Duration::from_secs(10), || {
        b.lease_known()
    });
    thread::sleep(Duration::from_millis(300));
    assert!(a.is_active());
    assert!(!b.is_active());
    assert_eq!(
        attached(&b).standby().as_deref(),
        Some("a"),
        "a standby names the holder"
    );
    assert_eq!(attached(&a).standby(), None);
    // Stopping a releases the lease; b's next attempt takes it.
    let stopped = Instant::now();
    keeper_a.stop();
    assert!(!a.is_active());
    wait_until("b to take over", Duration::from_secs(10), || b.is_active());
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "a released lease is taken at the standby's next attempt, not after the lease runs out"
    );
    drop(keeper_b);
}

#[test]
fn an_instance_without_the_lease_records_nothing_and_may_not_publish() {
    let pg = cluster();
    let url = pg.url();
    let active = holder(&url, "active", 60_000);
    let standby = SharedStore::connect(&config(&url, "standby", 60_000), &key()).unwrap();
    assert!(matches!(take_lease(&standby), LeaseState::HeldBy { .. }));
    let mut db = attached(&standby);
    let b = block(1, 5, 1);
    assert_eq!(
        vote(&mut db, &OwnVote::PreCommit, &b, T0),
        VoteRecord::Refused(VoteRefusal::NotActive {
            holder: Some("active".into())
        })
    );
    assert_eq!(
        db.get_own_vote(&b.header.signer_signature_hash()).unwrap(),
        None
    );
    assert_eq!(standby.get_own_votes().unwrap(), vec![]);
    // The holder's vote goes through, recorded in both places.
    let mut active_db = attached(&active);
    assert_eq!(
        vote(&mut active_db, &OwnVote::PreCommit, &b, T0),
        VoteRecord::Recorded
    );
    let shared = active.get_own_votes().unwrap();
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].pre_committed_at, Some(T0));
    assert!(active_db
        .get_own_vote(&b.header.signer_signature_hash())
        .unwrap()
        .is_some());
}

#[test]
fn an_old_active_that_lost_its_lease_finds_its_next_vote_refused() {
    let pg = cluster();
    let url = pg.url();
    let old = holder(&url, "old", 300);
    let mut old_db = attached(&old);
    let a = block(1, 5, 1);
    let sibling = block(1, 5, 2);
    assert_eq!(
        vote(&mut old_db, &OwnVote::PreCommit, &a, T0),
        VoteRecord::Recorded
    );
    // "old" pauses past its lease; "new" takes over and votes for a sibling (the window and
    // the tenure's tip allow it).
    thread::sleep(Duration::from_millis(400));
    let new = holder(&url, "new", 300);
    let mut new_db = attached(&new);
    assert_eq!(
        new_db
            .record_own_vote_at(
                &OwnVote::PreCommit,
                &sibling.header,
                42,
                None,
                &ctx(Some(4)),
                T0 + WINDOW + 1
            )
            .unwrap(),
        VoteRecord::Recorded
    );
    // "old" wakes up and tries to sign its block: refused, nothing recorded.
    assert_eq!(
        vote(&mut old_db, &OwnVote::Accept, &a, T0 + WINDOW + 2),
        VoteRecord::Refused(VoteRefusal::NotActive {
            holder: Some("new".into())
        })
    );
    let record = old
        .get_own_vote(&a.header.signer_signature_hash())
        .unwrap()
        .unwrap();
    assert_eq!(record.signed_at, None);
}

#[test]
fn the_shared_record_refuses_what_another_instance_voted_even_with_an_empty_local_view() {
    let pg = cluster();
    let url = pg.url();
    // Two instances that both believe they hold the lease (the same instance name, as a
    // misconfiguration would give): only the shared record stands between them.
    let one = holder(&url, "same", 60_000);
    let two = SharedStore::connect(&config(&url, "same", 60_000), &key()).unwrap();
    let mut db_one = attached(&one);
    let mut db_two = attached(&two);
    let a = block(1, 5, 1);
    let b = block(1, 5, 2);
    assert_eq!(
        vote(&mut db_one, &OwnVote::Accept, &a, T0),
        VoteRecord::Recorded
    );
    assert_eq!(
        vote(&mut db_two, &OwnVote::PreCommit, &b, T0 + 1),
        VoteRecord::Refused(VoteRefusal::ConflictingBlock {
            signer_signature_hash: a.header.signer_signature_hash()
        })
    );
    assert_eq!(
        vote(
            &mut db_two,
            &OwnVote::Reject(RejectReason::SortitionViewMismatch),
            &a,
            T0 + 2
        ),
        VoteRecord::Refused(VoteRefusal::AlreadyAccepted)
    );
    assert_eq!(db_two.get_own_votes().unwrap(), vec![]);
}

#[test]
fn conflicting_votes_recorded_in_parallel_by_many_connections_exactly_one_succeeds_every_round() {
    let pg = cluster();
    let url = pg.url();
    const THREADS: usize = 8;
    const ROUNDS: u64 = 40;
    let stores: Vec<Arc<SharedStore>> = (0..THREADS)
        .map(|_| SharedStore::connect(&config(&url, "same", 600_000), &key()).unwrap())
        .collect();
    take_lease(&stores[0]);
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let store = store.clone();
                let barrier = barrier.clone();
                thread::spawn(move || {
                    let b = block(2, 10 + round, i as u8 + 1);
                    barrier.wait();
                    store
                        .record_own_votes(&[OwnVote::PreCommit], &b.header, 42, &ctx(None), T0)
                        .unwrap()
                })
            })
            .collect();
        let outcomes: Vec<VoteRecord> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let recorded = outcomes
            .iter()
            .filter(|o| **o == VoteRecord::Recorded)
            .count();
        assert_eq!(recorded, 1, "round {round}: {outcomes:?}");
        assert!(outcomes.iter().all(|o| *o == VoteRecord::Recorded
            || matches!(o, VoteRecord::Refused(VoteRefusal::ConflictingBlock { .. }))));
    }
    let votes = stores[0].get_own_votes().unwrap();
    assert_eq!(votes.len() as u64, ROUNDS);
}

/// The start gun of round `round` of the two-process race: an advisory lock the parent holds
/// until both children wait on it.
fn race_gun(round: u64) -> i64 {
    7_000 + round as i64
}

const RACE_ROUNDS: u64 = 30;

#[test]
fn conflicting_votes_from_two_processes_in_parallel_exactly_one_succeeds_every_round() {
    // Two OS processes of one key (the same instance name, so both pass the lease check:
    // two instances misconfigured as one), each recording a pre-commit for its own block
    // at one height the moment the parent releases that round's start gun.
    let pg = cluster();
    let url = pg.url();
    let parent = holder(&url, "same", 600_000);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "CREATE TABLE race_results (round BIGINT, child INT, outcome TEXT, \
             PRIMARY KEY (round, child))",
        )
        .unwrap();
    for round in 0..RACE_ROUNDS {
        client
            .execute("SELECT pg_advisory_lock($1)", &[&race_gun(round)])
            .unwrap();
    }
    let mut children: Vec<std::process::Child> = (1..=2u8)
        .map(|child| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "a_racing_process",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("HA_RACE_URL", &url)
                .env("HA_RACE_CHILD", child.to_string())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for round in 0..RACE_ROUNDS {
        // Both children wait on the gun: fire.
        wait_until(
            "both processes at the start line",
            Duration::from_secs(30),
            || {
                let waiting: i64 = client
                    .query_one(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
                     AND objid = $1 AND NOT granted",
                        &[&(race_gun(round) as u32)],
                    )
                    .unwrap()
                    .get(0);
                waiting == 2
            },
        );
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&race_gun(round)])
            .unwrap();
        let mut outcomes: Vec<String> = Vec::new();
        wait_until("both processes' outcomes", Duration::from_secs(30), || {
            outcomes = client
                .query(
                    "SELECT outcome FROM race_results WHERE round = $1 ORDER BY child",
                    &[&(round as i64)],
                )
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect();
            outcomes.len() == 2
        });
        let recorded = outcomes.iter().filter(|o| *o == "Recorded").count();
        assert_eq!(recorded, 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes
                .iter()
                .any(|o| o.starts_with("Refused(ConflictingBlock")),
            "round {round}: {outcomes:?}"
        );
    }
    for child in &mut children {
        assert!(child.wait().unwrap().success(), "a racing process failed");
    }
    assert_eq!(parent.get_own_votes().unwrap().len() as u64, RACE_ROUNDS);
}

/// One of the two racing processes (run by the test above, ignored otherwise): for each
/// round, waits for the start gun, records a pre-commit for its own block at that round's
/// height, and writes the outcome where the parent reads it.
#[test]
#[ignore = "run as a child process by conflicting_votes_from_two_processes_in_parallel_exactly_one_succeeds_every_round"]
fn a_racing_process() {
    let (Ok(url), Ok(child)) = (std::env::var("HA_RACE_URL"), std::env::var("HA_RACE_CHILD"))
    else {
        return;
    };
    let child: u8 = child.parse().unwrap();
    let store = SharedStore::connect(&config(&url, "same", 600_000), &key()).unwrap();
    let mut gun = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    for round in 0..RACE_ROUNDS {
        gun.execute("SELECT pg_advisory_lock_shared($1)", &[&race_gun(round)])
            .unwrap();
        gun.execute("SELECT pg_advisory_unlock_shared($1)", &[&race_gun(round)])
            .unwrap();
        let b = block(2, 10 + round, child);
        let outcome =
            match store.record_own_votes(&[OwnVote::PreCommit], &b.header, 42, &ctx(None), T0) {
                Ok(record) => format!("{record:?}"),
                Err(e) => format!("error: {e}"),
            };
        gun.execute(
            "INSERT INTO race_results (round, child, outcome) VALUES ($1, $2, $3)",
            &[&(round as i64), &i32::from(child), &outcome],
        )
        .unwrap();
    }
}

#[test]
fn votes_of_different_keys_recorded_at_the_same_moment_are_all_recorded() {
    // One database serving several keys (docs/high-availability.md): their transactions
    // touch different rows, and none may fail for another key's vote, round after round.
    let pg = cluster();
    let url = pg.url();
    const KEYS: usize = 8;
    const ROUNDS: u64 = 40;
    // Each key is a pair whose keepers renew the lease every 20 ms (busier than any real
    // setting), and the standbys try to vote too, as in the devnet with --standby.
    let logger = slog::Logger::root(slog::Discard, slog::o!());
    let pair_config = |i: usize, role: &str| HaConfig {
        renew: Duration::from_millis(20),
        ..config(&url, &format!("key-{i}-{role}"), 3_000)
    };
    let mut keepers = Vec::new();
    let mut stores: Vec<Arc<SharedStore>> = Vec::new();
    let mut standbys: Vec<Arc<SharedStore>> = Vec::new();
    for i in 0..KEYS {
        let key = StacksPublicKey::from_private(&StacksPrivateKey::from_seed(&[i as u8; 4]));
        let active = SharedStore::connect(&pair_config(i, "a"), &key).unwrap();
        keepers.push(LeaseKeeper::start(active.clone(), logger.clone()).unwrap());
        wait_until(
            "the active to hold the lease",
            Duration::from_secs(10),
            || active.is_active(),
        );
        let standby = SharedStore::connect(&pair_config(i, "b"), &key).unwrap();
        keepers.push(LeaseKeeper::start(standby.clone(), logger.clone()).unwrap());
        stores.push(active);
        standbys.push(standby);
    }
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(KEYS * 2));
        let standby_handles: Vec<_> = standbys
            .iter()
            .map(|store| {
                let store = store.clone();
                let barrier = barrier.clone();
                thread::spawn(move || {
                    let b = block(2, 10 + round, 1);
                    barrier.wait();
                    store.record_own_votes(&[OwnVote::PreCommit], &b.header, 42, &ctx(None), T0)
                })
            })
            .collect();
        let handles: Vec<_> = stores
            .iter()
            .map(|store| {
                let store = store.clone();
                let barrier = barrier.clone();
                thread::spawn(move || {
                    // Every key votes for the same block: the network's proposal.
                    let b = block(2, 10 + round, 1);
                    barrier.wait();
                    let pre_commit = store.record_own_votes(
                        &[OwnVote::PreCommit],
                        &b.header,
                        42,
                        &ctx(None),
                        T0,
                    );
                    let signature =
                        store.record_own_votes(&[OwnVote::Accept], &b.header, 42, &ctx(None), T0);
                    (pre_commit, signature)
                })
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            let (pre_commit, signature) = handle.join().unwrap();
            assert_eq!(
                pre_commit.as_ref().ok(),
                Some(&VoteRecord::Recorded),
                "round {round}, key {i}: {pre_commit:?}"
            );
            assert_eq!(
                signature.as_ref().ok(),
                Some(&VoteRecord::Recorded),
                "round {round}, key {i}: {signature:?}"
            );
        }
        for handle in standby_handles {
            let outcome = handle.join().unwrap();
            assert!(
                matches!(
                    outcome,
                    Ok(VoteRecord::Refused(VoteRefusal::NotActive { .. }))
                ),
                "round {round}: a standby's vote: {outcome:?}"
            );
        }
    }
    for store in &stores {
        assert_eq!(store.get_own_votes().unwrap().len() as u64, ROUNDS);
    }
    drop(keepers);
}

#[test]
fn the_per_height_guard_refuses_a_second_favourable_block_with_the_same_sequence_number() {
    let pg = cluster();
    let url = pg.url();
    let _store = holder(&url, "a", 60_000);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let insert = "INSERT INTO ha_favourable_blocks \
        (signer_key, reward_cycle, consensus_hash, stacks_height, seq, signer_signature_hash) \
        VALUES ($1, 42, $2, 5, 0, $3)";
    let k: &[u8] = &[2; 33];
    let ch: &[u8] = &[1; 20];
    client.execute(insert, &[&k, &ch, &&[7u8; 32][..]]).unwrap();
    let err = client
        .execute(insert, &[&k, &ch, &&[8u8; 32][..]])
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&postgres::error::SqlState::UNIQUE_VIOLATION)
    );
}

#[test]
fn stackerdb_slot_versions_continue_where_the_other_instance_left_them() {
    let pg = cluster();
    let url = pg.url();
    let a = holder(&url, "a", 60_000);
    let b = SharedStore::connect(&config(&url, "b", 60_000), &key()).unwrap();
    let mut db_a = attached(&a);
    let db_b = attached(&b);
    db_a.set_latest_chunk_version(&key(), 1, 17).unwrap();
    assert_eq!(db_b.get_latest_chunk_version(&key(), 1).unwrap(), Some(17));
    // A lower local write never moves the shared version back.
    db_a.set_latest_chunk_version(&key(), 1, 3).unwrap();
    assert_eq!(db_b.get_latest_chunk_version(&key(), 1).unwrap(), Some(17));
    // Another key's slots stay local.
    let other = StacksPublicKey::from_private(&StacksPrivateKey::from_seed(b"other"));
    db_a.set_latest_chunk_version(&other, 1, 99).unwrap();
    assert_eq!(db_b.get_latest_chunk_version(&other, 1).unwrap(), None);
}

#[test]
fn while_postgresql_is_down_votes_fail_without_being_recorded_and_go_through_once_it_is_back() {
    let mut pg = cluster();
    let url = pg.url();
    let store = holder(&url, "a", 600_000);
    let mut db = attached(&store);
    let a = block(1, 5, 1);
    let b = block(1, 6, 1);
    assert_eq!(
        vote(&mut db, &OwnVote::PreCommit, &a, T0),
        VoteRecord::Recorded
    );
    pg.stop().unwrap();
    let err = db
        .record_own_vote_at(&OwnVote::PreCommit, &b.header, 42, None, &ctx(None), T0)
        .unwrap_err();
    assert!(matches!(err, SignerDbError::Shared(_)), "{err:?}");
    assert_eq!(
        db.get_own_vote(&b.header.signer_signature_hash()).unwrap(),
        None
    );
    pg.resume().unwrap();
    assert_eq!(
        vote(&mut db, &OwnVote::PreCommit, &b, T0),
        VoteRecord::Recorded
    );
    assert_eq!(store.get_own_votes().unwrap().len(), 2);
}

/// One step of the agreement property: a vote on one of a few sibling blocks.
#[derive(Debug, Clone)]
struct Step {
    block: u8,
    vote: u8,
    advance: u64,
    tip: Option<u64>,
}

fn step() -> impl Strategy<Value = Step> {
    (0u8..3, 0u8..3, 0u64..40, proptest::option::of(3u64..7)).prop_map(
        |(block, vote, advance, tip)| Step {
            block,
            vote,
            advance,
            tip,
        },
    )
}

#[test]
fn with_a_shared_record_attached_the_holder_decides_every_vote_as_a_lone_signer_does() {
    let pg = cluster();
    let base = pg.url();
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    });
    let case = std::sync::atomic::AtomicU32::new(0);
    runner
        .run(&proptest::collection::vec(step(), 1..12), |steps| {
            let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let url = pg.create_database(&format!("agree{n}")).unwrap();
            let _ = &base;
            let store = holder(&url, "a", 600_000);
            let mut shared_db = attached(&store);
            let mut lone_db = SignerDb::open(":memory:").unwrap();
            let mut now = T0;
            for s in &steps {
                now += s.advance;
                let b = block(1, 5, s.block + 1);
                let v = match s.vote {
                    0 => OwnVote::PreCommit,
                    1 => OwnVote::Accept,
                    _ => OwnVote::Reject(RejectReason::SortitionViewMismatch),
                };
                let c = ctx(s.tip);
                let lone = lone_db
                    .record_own_vote_at(&v, &b.header, 42, None, &c, now)
                    .unwrap();
                let with_shared = shared_db
                    .record_own_vote_at(&v, &b.header, 42, None, &c, now)
                    .unwrap();
                prop_assert_eq!(&lone, &with_shared, "step {:?}", s);
            }
            prop_assert_eq!(
                lone_db.get_own_votes().unwrap(),
                store.get_own_votes().unwrap()
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_block_another_instance_rejected_gets_no_favourable_vote_from_this_one() {
    let pg = cluster();
    let url = pg.url();
    let old = holder(&url, "old", 300);
    let mut old_db = attached(&old);
    let p = block(1, 5, 1);
    assert_eq!(
        vote(
            &mut old_db,
            &OwnVote::Reject(RejectReason::SortitionViewMismatch),
            &p,
            T0
        ),
        VoteRecord::Recorded
    );
    thread::sleep(Duration::from_millis(400));
    let new = holder(&url, "new", 60_000);
    let mut new_db = attached(&new);
    // The old instance's rejection may still be in flight: no pre-commit, no signature.
    for v in [OwnVote::PreCommit, OwnVote::Accept] {
        assert_eq!(
            vote(&mut new_db, &v, &p, T0 + 1),
            VoteRecord::Refused(VoteRefusal::AlreadyRejected),
            "{v:?}"
        );
    }
    // A rejection of its own is fine, and does not open the way either.
    assert_eq!(
        vote(
            &mut new_db,
            &OwnVote::Reject(RejectReason::RejectedInPriorRound),
            &p,
            T0 + 2
        ),
        VoteRecord::Recorded
    );
    assert_eq!(
        vote(&mut new_db, &OwnVote::PreCommit, &p, T0 + 3),
        VoteRecord::Refused(VoteRefusal::AlreadyRejected)
    );
    // An instance may still turn its own rejection into a pre-commit (a lone signer's rule).
    let q = block(1, 6, 1);
    assert_eq!(
        vote(
            &mut new_db,
            &OwnVote::Reject(RejectReason::SortitionViewMismatch),
            &q,
            T0 + 4
        ),
        VoteRecord::Recorded
    );
    assert_eq!(
        vote(&mut new_db, &OwnVote::PreCommit, &q, T0 + 5),
        VoteRecord::Recorded
    );
}

#[test]
fn pruning_the_shared_record_bounds_it_and_refuses_votes_below_its_floor() {
    let pg = cluster();
    let url = pg.url();
    let store = holder(&url, "a", 60_000);
    let cast = |cycle: u64, b: &NakamotoBlock, v: OwnVote| {
        store
            .record_own_votes(&[v], &b.header, cycle, &ctx(None), T0)
            .unwrap()
    };
    let (old, kept, current) = (block(1, 5, 1), block(2, 6, 1), block(3, 7, 1));
    assert_eq!(cast(40, &old, OwnVote::PreCommit), VoteRecord::Recorded);
    assert_eq!(
        cast(
            41,
            &kept,
            OwnVote::Reject(RejectReason::SortitionViewMismatch)
        ),
        VoteRecord::Recorded
    );
    assert_eq!(cast(42, &current, OwnVote::Accept), VoteRecord::Recorded);
    // Floor 42: cycle 40 goes (its vote, its per-height guard row); 41 stays as margin.
    assert_eq!(store.prune(42).unwrap(), 2);
    let left: Vec<u64> = store
        .get_own_votes()
        .unwrap()
        .iter()
        .map(|r| r.reward_cycle)
        .collect();
    assert_eq!(left, vec![41, 42]);
    assert_eq!(
        cast(41, &block(2, 8, 1), OwnVote::PreCommit),
        VoteRecord::Refused(VoteRefusal::BelowPruneFloor {
            min_reward_cycle: 42
        })
    );
    // The floor never goes down; pruning again is harmless.
    assert_eq!(store.prune(10).unwrap(), 0);
    assert_eq!(
        cast(41, &block(2, 8, 1), OwnVote::PreCommit),
        VoteRecord::Refused(VoteRefusal::BelowPruneFloor {
            min_reward_cycle: 42
        })
    );
    assert_eq!(
        cast(42, &block(3, 9, 1), OwnVote::PreCommit),
        VoteRecord::Recorded
    );
}
