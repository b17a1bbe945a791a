//! An active/standby pair of real `stacks-signer run` processes on one signer key, sharing a
//! throwaway PostgreSQL database (`db_url`, short leases), against the in-process mock node
//! with both instances' endpoints as observers: the standby takes over when the active is
//! killed, an active paused past its lease publishes nothing when it resumes, and both
//! recover from a PostgreSQL restart. In each, the safety invariant holds over the node's
//! record and the shared record, and every vote the key published is in the shared record.
//! And a vote the active was still retrying to send when it was paused is neither
//! contradicted by the new active nor sent once the old one resumes; a pre-commit the
//! shared database cannot record is not turned into a rejection.

mod ha_process_support;

use std::time::{Duration, Instant};

use ha_process_support::{
    now_ms, view_url, Miner, Pair, Peers, Views, BROADCASTING, CANNOT_REACH, LOST, NOW_HOLDS,
    PATIENCE, REFUSED, SHORT_LEASE, STANDING_BY,
};
use libsigner::v0::messages::ValidateRejectCode;
use stacks_signer::devnet::{BlockKind, ValidationAnswer};
use stacks_signer::invariant::VoteKind;
use stacks_signer::signerdb::{Engine, SignerDb, SignerDbError};

#[test]
fn a_standby_takes_over_when_the_active_is_killed_and_signs_the_next_proposal() {
    let mut pair = Pair::start("ha killed active", &["a", "b"], SHORT_LEASE);
    pair.wait_for_holder(None, 0);
    pair.warm_up();
    // The holder signs further blocks of the tenure.
    for _ in 0..2 {
        let block = pair.propose(BlockKind::Continue);
        assert!(
            pair.wait_for_vote(&block.signer_signature_hash, VoteKind::Accept, PATIENCE),
            "the key did not sign block {} before the kill",
            block.signer_signature_hash
        );
        assert!(pair.wait_processed(&block), "the node did not process it");
    }
    pair.settle();
    let lease = pair.lease().expect("a lease row");
    assert!(
        lease.live,
        "nobody holds the lease before the kill: {lease:?}"
    );
    let active = lease.holder.clone();
    let standby = pair.other(&active);
    let votes_before_kill = pair.entries.len();
    let standby_log = pair.instance(&standby).log_mark();

    pair.instance(&active).kill();
    let killed_at = Instant::now();
    let taken = pair.wait_for_holder(Some(&active), lease.term);
    let takeover = killed_at.elapsed();
    assert_eq!(taken.holder, standby, "the standby took the lease");
    let took_over_line = format!("{NOW_HOLDS} and publishes (after {active}'s lease ran out)");
    assert!(
        ha_process_support::poll(PATIENCE, || pair
            .instance(&standby)
            .log_since(standby_log)
            .contains(&took_over_line)),
        "the standby's log does not say it took the lease over from {active}"
    );

    // The next proposal gets the key's vote, recorded by the standby.
    let next = pair.propose(BlockKind::Continue);
    assert!(
        pair.wait_for_vote(&next.signer_signature_hash, VoteKind::Accept, PATIENCE),
        "the key did not sign the first proposal after the takeover"
    );
    let signed_after = killed_at.elapsed();
    assert!(pair.wait_processed(&next), "the node did not process it");
    // And the next tenure's first block.
    let tenure = pair.new_tenure();
    assert!(
        pair.wait_for_vote(&tenure.signer_signature_hash, VoteKind::Accept, PATIENCE),
        "the key did not sign the next tenure-start block"
    );

    let rows = pair.shared_rows();
    for block in [&next, &tenure] {
        let row = rows
            .iter()
            .find(|r| r.hash == block.signer_signature_hash.to_string())
            .unwrap_or_else(|| panic!("no shared row for {}", block.signer_signature_hash));
        assert_eq!(row.recorded_by, standby, "{row:?}");
        assert!(row.signed_at.is_some(), "{row:?}");
    }
    assert!(
        rows.iter().any(|r| r.recorded_by == active),
        "the shared record holds no vote of the killed active: {rows:?}"
    );
    // The standby continued the key's slot versions: the node stored every vote chunk it
    // wrote (none was refused as a version the killed active had already used).
    pair.settle();
    let refused: Vec<_> = pair
        .votes_in(&pair.entries[votes_before_kill..])
        .into_iter()
        .filter(|v| !v.stored)
        .collect();
    assert!(
        refused.is_empty(),
        "the node refused vote chunks after the takeover: {refused:?}"
    );

    let report = pair.assert_invariant();
    let unrecorded = pair.unrecorded(&pair.entries);
    assert!(
        unrecorded.is_empty(),
        "votes the key wrote that the shared record does not hold: {unrecorded:?}"
    );
    // Five signatures at least: the warm-up block, two blocks before the kill, two after.
    assert!(
        report.votes_published >= 5,
        "only {} votes published",
        report.votes_published
    );
    println!(
        "{active} killed; {standby} held the lease after {takeover:?} and signed the next \
         proposal {signed_after:?} after the kill; {} votes published; test took {:?}",
        report.votes_published,
        pair.elapsed()
    );
}

#[test]
fn an_active_paused_past_its_lease_publishes_nothing_when_it_resumes() {
    let mut pair = Pair::start("ha paused active", &["a", "b"], SHORT_LEASE);
    pair.wait_for_holder(None, 0);
    pair.warm_up();
    // The active signs block X (once its peers' pre-commits reach the threshold, without a
    // pre-commit of its own when theirs come first).
    let x = pair.propose(BlockKind::Continue);
    assert!(
        pair.wait_for_vote(&x.signer_signature_hash, VoteKind::Accept, PATIENCE),
        "the key did not sign block X"
    );
    assert!(pair.wait_processed(&x), "the node did not process X");
    pair.settle();
    let lease = pair.lease().expect("a lease row");
    assert!(lease.live, "nobody holds the lease: {lease:?}");
    let active = lease.holder.clone();
    let standby = pair.other(&active);

    // Paused past its lease: the standby takes over.
    pair.instance(&active).pause();
    let paused_at = Instant::now();
    let old_rows: Vec<_> = pair
        .shared_rows()
        .into_iter()
        .filter(|r| r.recorded_by == active)
        .collect();
    let taken = pair.wait_for_holder(Some(&active), lease.term);
    // (Its hold ran out: nobody takes a live lease.)
    assert_eq!(taken.holder, standby);

    // The new active votes: it rejects a sibling of X, the block the key signed, and signs
    // the next block Y, which the node processes.
    let x_sibling = pair.propose_sibling(&x, BlockKind::Continue);
    assert!(
        pair.wait_for_vote(&x_sibling.signer_signature_hash, VoteKind::Reject, PATIENCE),
        "the new active did not reject the sibling of X"
    );
    let y = pair.propose(BlockKind::Continue);
    assert!(
        pair.wait_for_vote(&y.signer_signature_hash, VoteKind::Accept, PATIENCE),
        "the new active did not sign Y"
    );
    assert!(pair.wait_processed(&y), "the node did not process Y");
    // (Not `settle`: the node's events for the paused instance wait until it resumes.)
    pair.collect();

    // Paused for three leases at least; then the old active resumes with the sibling, Y and
    // the rest queued on its endpoint. Its own database holds no vote on either. It asks the
    // node to validate Y only now, after Y was processed, so the node answers that Y is not
    // higher than its tenure's tip: it would reject Y, which the key signed.
    let lease_ms = Duration::from_millis(SHORT_LEASE.lease_ms);
    std::thread::sleep((lease_ms * 3).saturating_sub(paused_at.elapsed()));
    let mark = pair.entries.len();
    let log_mark = pair.instance(&active).log_mark();
    let paused_for = paused_at.elapsed();
    pair.instance(&active).resume();
    let resumed_at = Instant::now();
    assert!(
        ha_process_support::poll(PATIENCE, || pair
            .instance(&active)
            .log_since(log_mark)
            .contains(LOST)),
        "the resumed instance never logged that it lost the lease"
    );
    let y_hex = y.signer_signature_hash.to_string();
    let refused_rejection_of_y = |log: &str| {
        log.lines().any(|line| {
            line.contains(REFUSED)
                && line.contains(&y_hex)
                && line.contains("vote: Reject")
                && line.contains("NotActive")
        })
    };
    assert!(
        ha_process_support::poll(PATIENCE, || refused_rejection_of_y(
            &pair.instance(&active).log_since(log_mark)
        )),
        "the resumed instance never tried to reject Y (and was refused as not active)"
    );
    // A proposal after the resumption: the new active signs it; the old one sees it too.
    let z = pair.propose(BlockKind::Continue);
    assert!(
        pair.wait_for_vote(&z.signer_signature_hash, VoteKind::Accept, PATIENCE),
        "the new active did not sign Z"
    );
    assert!(pair.wait_processed(&z), "the node did not process Z");
    pair.settle();
    // Let the resumed instance act on the last events it got.
    std::thread::sleep(Duration::from_millis(500));
    pair.settle();

    assert!(
        pair.instance(&active).is_running(),
        "the resumed instance exited"
    );
    let resumed_log = pair.instance(&active).log_since(log_mark);
    assert!(
        !resumed_log.contains(BROADCASTING),
        "the resumed instance published a block response:\n{resumed_log}"
    );
    let new_rows: Vec<_> = pair
        .shared_rows()
        .into_iter()
        .filter(|r| r.recorded_by == active)
        .collect();
    assert_eq!(
        new_rows, old_rows,
        "the resumed instance recorded votes in the shared record"
    );
    let after: Vec<_> = pair.entries[mark..].to_vec();
    let unrecorded = pair.unrecorded(&after);
    assert!(
        unrecorded.is_empty(),
        "chunks the key wrote after the resumption that the shared record does not hold: {unrecorded:?}"
    );
    assert!(
        !pair
            .votes_in(&after)
            .iter()
            .any(|v| v.hash == y.signer_signature_hash && v.kind == VoteKind::Reject),
        "the node received a rejection of Y from the key"
    );
    let still = pair.lease().expect("a lease row");
    assert_eq!(
        (still.holder.as_str(), still.term),
        (standby.as_str(), taken.term),
        "the lease changed hands after the resumption"
    );
    let report = pair.assert_invariant();
    println!(
        "{active} paused {paused_for:?}; {standby} took over in term {}; after SIGCONT the \
         key wrote {} vote chunks, none unrecorded; {} votes published; votes the resumed \
         instance did not publish:\n{}\ntest took {:?} ({:?} after the resumption)",
        taken.term,
        pair.votes_in(&after).len(),
        report.votes_published,
        resumed_log
            .lines()
            .filter(|l| l.contains(REFUSED))
            .filter_map(|l| l.find("signer_signature_hash").map(|at| &l[at..]))
            .collect::<Vec<_>>()
            .join("\n"),
        pair.elapsed(),
        resumed_at.elapsed(),
    );
}

#[test]
fn postgresql_restarted_mid_run_both_instances_recover_and_publish_no_unrecorded_vote() {
    let mut pair = Pair::start("ha postgres restart", &["a", "b"], SHORT_LEASE);
    let before = pair.wait_for_holder(None, 0);
    pair.warm_up();
    let marks: Vec<usize> = pair.instances.iter().map(|i| i.log_mark()).collect();

    // Blocks are proposed throughout; the database stops (as a crash would) in the middle,
    // for a couple of seconds.
    let miner = Miner::start(&pair);
    std::thread::sleep(Duration::from_millis(1500));
    pair.pg.stop().expect("PostgreSQL stops");
    let stopped_at = Instant::now();
    let outage_from_ms = now_ms();
    std::thread::sleep(Duration::from_millis(2500));
    let outage_to_ms = now_ms();
    pair.pg.resume().expect("PostgreSQL restarts");
    let down_for = stopped_at.elapsed();
    let resumed_at = Instant::now();

    // An instance holds the lease again, in a new term, and the key signs a block proposed
    // after that.
    let holder = pair.wait_for_holder(None, before.term);
    let held_at = Instant::now();
    let signed =
        pair.wait_for_a_vote_on_any(VoteKind::Accept, PATIENCE, || miner.proposed_since(held_at));
    let proposed = miner.stop();
    assert!(
        signed,
        "the key signed no block proposed after the database restart ({} proposed in all)",
        proposed.len()
    );
    let voted_after = resumed_at.elapsed();

    // Both instances noticed the outage, then each took the lease or stood by again.
    for (instance, mark) in pair.instances.iter().zip(&marks) {
        let log = instance.log_since(*mark);
        let outage = log.find(CANNOT_REACH).unwrap_or_else(|| {
            panic!(
                "instance {} never logged that it cannot reach the database",
                instance.name
            )
        });
        let recovered = &log[outage..];
        assert!(
            recovered.contains(NOW_HOLDS) || recovered.contains(STANDING_BY),
            "instance {} did not come back after the outage:\n{recovered}",
            instance.name
        );
    }
    for instance in pair.instances.iter_mut() {
        assert!(instance.is_running(), "instance {} exited", instance.name);
    }

    let report = pair.assert_invariant();
    let unrecorded = pair.unrecorded(&pair.entries);
    assert!(
        unrecorded.is_empty(),
        "votes the key wrote that the shared record does not hold: {unrecorded:?}"
    );
    let signed = proposed
        .iter()
        .filter(|h| pair.has_vote(h, VoteKind::Accept))
        .count();
    let during = pair.stored_votes_between(outage_from_ms, outage_to_ms);
    println!(
        "database stopped and restarted in {down_for:?}; {} holds the lease in term {} (was \
         {} in term {}); the key signed {signed} of the {} blocks the miner proposed (from \
         1.5 s before the stop on; {} vote chunks of the key stored while the database was \
         down) and a block proposed {voted_after:?} after the restart; {} votes published; \
         test took {:?}",
        holder.holder,
        holder.term,
        before.holder,
        before.term,
        proposed.len(),
        during,
        report.votes_published,
        pair.elapsed()
    );
}

/// A rejection the active recorded but could not send yet (the node's StackerDB answers
/// 503) when it was paused: the new active, whose own validation of the block succeeds, does
/// not turn it into a pre-commit (the shared record refuses a favourable vote on a block
/// another instance rejected: that rejection may still land), and the old active, resumed,
/// stops retrying once it sees it lost the lease (every attempt checks it). The key's
/// published votes never flip.
#[test]
fn a_vote_still_being_sent_when_the_active_pauses_is_neither_contradicted_nor_sent_after_the_takeover(
) {
    let mut pair = Pair::start_with_idle_puppets("ha late publication", &["a", "b"], SHORT_LEASE);
    let lease = pair.lease().expect("a lease row");
    let active = lease.holder.clone();

    // Both instances ask the node to validate P; the first answer is a rejection, which the
    // active records and cannot send.
    pair.node.set_manual_validation(true);
    pair.node.set_endpoint_down("/v2/stackerdb", true);
    let p = pair.propose(BlockKind::Continue);
    let hash = p.signer_signature_hash;
    assert!(
        ha_process_support::poll(PATIENCE, || pair
            .node
            .held_validations()
            .iter()
            .filter(|h| **h == hash)
            .count()
            == 2),
        "the two instances did not both ask for P's validation"
    );
    pair.node
        .answer_validation(
            &hash,
            ValidationAnswer::Reject {
                code: ValidateRejectCode::InvalidBlock,
                reason: "a rejection the active cannot send".into(),
            },
        )
        .expect("the first request is answered");
    let hex = hash.to_string();
    assert!(
        ha_process_support::poll(PATIENCE, || pair
            .shared_rows()
            .iter()
            .any(|r| r.hash == hex && r.rejected_at.is_some() && r.recorded_by == active)),
        "the active did not record its rejection of P"
    );
    // Paused while it retries; the node's StackerDB answers again.
    std::thread::sleep(Duration::from_millis(300));
    pair.instance(&active).pause();
    pair.node.set_endpoint_down("/v2/stackerdb", false);
    pair.wait_for_holder(Some(&active), lease.term);

    // The second answer is a success, but the new active may not pre-commit: the block is
    // rejected in the shared record by the other instance.
    pair.node
        .answer_validation(
            &hash,
            ValidationAnswer::Ok {
                validation_time_ms: 1,
                cost_zero: false,
            },
        )
        .expect("the second request is answered");
    for id in pair.peer_ids() {
        pair.node
            .puppet_pre_commit(id, &hash)
            .expect("a peer pre-commits");
    }
    assert!(
        !pair.wait_for_vote(&hash, VoteKind::PreCommit, Duration::from_secs(2)),
        "the new active pre-committed to a block the paused active rejected"
    );
    assert!(
        pair.shared_rows()
            .iter()
            .any(|r| r.hash == hex && r.rejected_at.is_some() && r.pre_committed_at.is_none()),
        "the shared record does not hold P as rejected"
    );

    let mark = pair.entries.len();
    pair.instance(&active).resume();
    assert!(
        ha_process_support::poll(PATIENCE, || pair.instance(&active).log().contains(LOST)),
        "the resumed instance never logged that it lost the lease"
    );
    std::thread::sleep(Duration::from_secs(1));
    pair.settle();
    let late: Vec<_> = pair
        .votes_in(&pair.entries[mark..])
        .into_iter()
        .filter(|v| v.stored && v.hash == hash && v.kind == VoteKind::Reject)
        .collect();
    assert!(
        late.is_empty(),
        "the resumed instance went on sending after it lost the lease: {late:?}"
    );
    pair.assert_invariant();
}

/// A pre-commit the shared database cannot record (a trigger fails every write of one with a
/// serialization failure, as contention between the keys of one database can) is neither
/// published nor turned into a rejection of the block the signer validated: the key says
/// nothing on that block, and votes again once the database records. (The other signers are
/// puppets that do not vote, so the key's own validation is what decides.)
#[test]
fn a_pre_commit_the_database_cannot_record_is_not_turned_into_a_rejection() {
    let mut pair = Pair::start_with_idle_puppets("ha unrecordable pre-commit", &["a"], SHORT_LEASE);
    pair.execute_sql(
        "CREATE FUNCTION refuse_pre_commits() RETURNS trigger AS $$ BEGIN \
           IF NEW.pre_committed_at IS NOT NULL THEN \
             RAISE EXCEPTION 'injected by the test' USING ERRCODE = '40001'; \
           END IF; RETURN NEW; END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER refuse_pre_commits BEFORE INSERT OR UPDATE ON ha_own_votes \
           FOR EACH ROW EXECUTE FUNCTION refuse_pre_commits();",
    );
    let mark = pair.instances[0].log_mark();
    let blocked = pair.propose(BlockKind::Continue);
    assert!(
        ha_process_support::poll(PATIENCE, || pair.instances[0]
            .log_since(mark)
            .contains("Cannot record this signer's vote")),
        "the signer never tried to record its pre-commit:\n{}",
        pair.instances[0].tail(40)
    );
    // Time for the validation answers of the block to arrive, and for a wrong rejection.
    std::thread::sleep(Duration::from_secs(2));
    pair.collect();
    for kind in [VoteKind::PreCommit, VoteKind::Accept, VoteKind::Reject] {
        assert!(
            !pair.has_vote(&blocked.signer_signature_hash, kind),
            "the key published a {kind:?} on the block whose pre-commit it could not record:\n{}",
            pair.instances[0].log_since(mark)
        );
    }

    // Once the database records again, the key pre-commits to the next proposal.
    pair.execute_sql("DROP TRIGGER refuse_pre_commits ON ha_own_votes");
    let next = pair.propose_sibling(&blocked, BlockKind::Continue);
    assert!(
        pair.wait_for_vote(&next.signer_signature_hash, VoteKind::PreCommit, PATIENCE),
        "the key did not pre-commit once its votes could be recorded:\n{}",
        pair.instances[0].log_since(mark)
    );
    let report = pair.assert_invariant();
    let unrecorded = pair.unrecorded(&pair.entries);
    assert!(unrecorded.is_empty(), "{unrecorded:?}");
    println!(
        "no vote on the block whose pre-commit failed to record; a pre-commit to the next one; {} votes published",
        report.votes_published
    );
}

#[test]
fn a_pair_keeping_its_signer_databases_on_postgresql_fails_over_and_each_keeps_its_own() {
    let mut pair = Pair::start_full(
        "ha views on postgresql",
        &["a", "b"],
        SHORT_LEASE,
        Peers::Simulated,
        Views::Postgres,
    );
    pair.wait_for_holder(None, 0);
    pair.warm_up();
    let before = pair.propose(BlockKind::Continue);
    assert!(
        pair.wait_for_vote(&before.signer_signature_hash, VoteKind::Accept, PATIENCE),
        "the key did not sign block {} before the kill",
        before.signer_signature_hash
    );
    assert!(pair.wait_processed(&before), "the node did not process it");
    pair.settle();
    let lease = pair.lease().expect("a lease row");
    let active = lease.holder.clone();
    let standby = pair.other(&active);

    pair.instance(&active).kill();
    let taken = pair.wait_for_holder(Some(&active), lease.term);
    assert_eq!(taken.holder, standby, "the standby took the lease");
    let after = pair.propose(BlockKind::Continue);
    assert!(
        pair.wait_for_vote(&after.signer_signature_hash, VoteKind::Accept, PATIENCE),
        "the key did not sign the first proposal after the takeover"
    );
    assert!(pair.wait_processed(&after), "the node did not process it");
    pair.settle();
    pair.assert_invariant();
    let unrecorded = pair.unrecorded(&pair.entries);
    assert!(unrecorded.is_empty(), "unrecorded votes: {unrecorded:?}");

    // Each instance's signer database is its own schema of the shared PostgreSQL database,
    // and its log names it without the password.
    for name in [&active, &standby] {
        let log = pair.instance(name).log();
        assert!(
            log.contains("Created a new signer database at postgresql://signer:***@"),
            "{name}'s log does not name its PostgreSQL database: {}",
            pair.instance(name).tail(20)
        );
        assert!(
            !log.contains("signer:signer@"),
            "{name} logged the password"
        );
    }
    // The running standby holds its own: a second handle is refused.
    let standby_url = view_url(&pair.db_url, &standby);
    assert!(
        matches!(
            SignerDb::open(&standby_url),
            Err(SignerDbError::AlreadyLocked { .. })
        ),
        "a second handle on the running standby's database was not refused"
    );
    // The killed active's lock went with its connection; its database holds its vote.
    let active_url = view_url(&pair.db_url, &active);
    let mut opened = None;
    assert!(
        ha_process_support::poll(PATIENCE, || {
            opened = SignerDb::open(&active_url).ok();
            opened.is_some()
        }),
        "the killed active's database stayed locked"
    );
    let active_db = opened.expect("opened");
    assert_eq!(active_db.engine(), Engine::Postgres);
    let vote = active_db
        .get_own_vote(&before.signer_signature_hash)
        .expect("readable")
        .expect("the killed active's database holds its signature");
    assert!(vote.signed_at.is_some(), "{vote:?}");
    assert_eq!(
        active_db
            .get_own_vote(&after.signer_signature_hash)
            .unwrap(),
        None,
        "the killed active's database holds a vote it never cast"
    );
    // The standby processed every event: its database holds the block the active signed,
    // and its own signature of the block after the takeover.
    pair.instance(&standby).kill();
    let mut opened = None;
    assert!(
        ha_process_support::poll(PATIENCE, || {
            opened = SignerDb::open(&standby_url).ok();
            opened.is_some()
        }),
        "the killed standby's database stayed locked"
    );
    let standby_db = opened.expect("opened");
    assert!(
        standby_db
            .block_lookup(&before.signer_signature_hash)
            .unwrap()
            .is_some(),
        "the standby's database lacks the block signed before the takeover"
    );
    let vote = standby_db
        .get_own_vote(&after.signer_signature_hash)
        .unwrap()
        .expect("the standby's database holds its signature");
    assert!(vote.signed_at.is_some(), "{vote:?}");
}
