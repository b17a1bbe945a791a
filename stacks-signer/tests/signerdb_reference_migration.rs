//! Taking over a database the reference signer wrote at its schema 18.

mod signerdb_support;

use libsigner::chain::{
    BurnchainHeaderHash, ConsensusHash, MessageSignature, StacksPrivateKey, StacksPublicKey,
};
use libsigner::v0::messages::{
    RejectReasonPrefix, StateMachineUpdate, StateMachineUpdateContent, StateMachineUpdateMinerState,
};
use rusqlite::{params, Connection};
use signerdb_support::*;
use stacks_signer::signerdb::{
    BlockState, ConflictPolicy, OwnVote, SignerDb, VoteContext, VoteRecord, VoteRefusal,
    SCHEMA_VERSION,
};

#[test]
fn a_reference_schema_18_database_is_taken_over_with_its_votes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reference.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(REFERENCE_V18).unwrap();
    for v in 5..=18 {
        conn.execute("INSERT INTO db_config VALUES (?1)", [v])
            .unwrap();
    }
    let mut b = info(block(1, 5, 1));
    b.mark_pre_committed().unwrap();
    let h = b.signer_signature_hash();
    let hex = h.to_hex();
    conn.execute(
        "INSERT INTO blocks (signer_signature_hash, reward_cycle, block_info, consensus_hash, \
         signed_over, broadcasted, stacks_height, burn_block_height, valid, state, signed_group, \
         signed_self, proposed_time, validation_time_ms, tenure_change) \
         VALUES (?1, 42, ?2, ?3, 1, 777, 5, 7, 1, 'PreCommitted', NULL, ?4, ?5, NULL, 0)",
        params![
            hex,
            serde_json::to_string(&b).unwrap(),
            "01".repeat(20),
            b.signed_self.unwrap() as i64,
            b.proposed_time as i64
        ],
    )
    .unwrap();
    let signer = addr(1);
    let sig = MessageSignature([0x11; 65]);
    conn.execute(
        "INSERT INTO block_signatures VALUES (?1, ?2, ?3)",
        params![
            hex,
            signer.to_string(),
            serde_json::to_string(&sig).unwrap()
        ],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO block_rejection_signer_addrs VALUES (?1, ?2, 6)",
        params![hex, addr(2).to_string()],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO block_pre_commits VALUES (?1, ?2)",
        params![hex, addr(3).to_string()],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO block_validations_pending VALUES (?1, 55)",
        [&hex],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO block_validated_by_replay_txs VALUES (?1, '15559610262907183370', 1)",
        [&hex],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO burn_blocks VALUES (?1, 812345, 1700000000, ?2, ?3)",
        params!["0a".repeat(32), "01".repeat(20), "0b".repeat(32)],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO tenure_activity VALUES (?1, 99)",
        ["01".repeat(20)],
    )
    .unwrap();
    let key = StacksPublicKey::from_private(&StacksPrivateKey::from_seed(b"k"));
    conn.execute(
        "INSERT INTO stackerdb_tracking VALUES (?1, 1, 41)",
        [key.to_hex()],
    )
    .unwrap();
    let update = StateMachineUpdate::new(
        0,
        3,
        StateMachineUpdateContent::V0 {
            burn_block: ConsensusHash::from([1; 20]),
            burn_block_height: 812345,
            current_miner: StateMachineUpdateMinerState::NoValidMiner,
        },
    )
    .unwrap();
    conn.execute(
        "INSERT INTO signer_state_machine_updates VALUES (?1, 42, ?2, 1700000001)",
        params![addr(4).to_string(), serde_json::to_string(&update).unwrap()],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO burn_block_updates_received_times VALUES (?1, ?2, 1700000001)",
        params![addr(4).to_string(), "01".repeat(20)],
    )
    .unwrap();
    conn.execute("INSERT INTO signer_states VALUES (1, x'00')", [])
        .unwrap();
    drop(conn);

    let mut db = SignerDb::open(&path).unwrap();
    assert_eq!(db.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 21);
    assert_eq!(db.block_lookup(&h).unwrap(), Some(b.clone()));
    assert_eq!(db.get_block_broadcasted(&h).unwrap(), Some(777));
    assert_eq!(db.get_block_signatures(&h).unwrap(), vec![sig]);
    assert_eq!(
        db.get_block_rejection_signer_addrs(&h).unwrap(),
        vec![(addr(2), RejectReasonPrefix::ReorgNotAllowed)]
    );
    assert_eq!(db.get_block_pre_committers(&h).unwrap(), vec![addr(3)]);
    assert!(db.has_pending_block_validation(&h).unwrap());
    assert!(
        db.get_was_block_validated_by_replay_tx(&h, 15559610262907183370)
            .unwrap()
            .unwrap()
            .replay_tx_exhausted
    );
    let ch = ConsensusHash::from([1; 20]);
    let burn = db.get_burn_block_by_ch(&ch).unwrap();
    assert_eq!(burn.block_hash, BurnchainHeaderHash::from([0x0a; 32]));
    assert_eq!(
        burn.parent_burn_block_hash,
        BurnchainHeaderHash::from([0x0b; 32])
    );
    assert_eq!(db.get_last_activity_time(&ch).unwrap(), Some(99));
    assert_eq!(db.get_latest_chunk_version(&key, 1).unwrap(), Some(41));
    assert_eq!(
        db.get_signer_state_machine_updates(42)
            .unwrap()
            .get(&addr(4)),
        Some(&update)
    );
    assert_eq!(
        db.get_burn_block_received_time_from_signers_weighted(
            &std::collections::HashMap::from([(addr(4), 1)]),
            |w| w >= 1,
            &ch,
            &addr(9)
        )
        .unwrap(),
        // The local signer (weightless here) saw it at ...000; the peer's report counts.
        Some(1700000001)
    );
    // Its vote is on record as this signer's own, and the rules apply to it: the migrated
    // signer refuses a sibling of the block it pre-committed to, and a rejection of it.
    let own = db.get_own_vote(&h).unwrap().unwrap();
    assert_eq!(
        (own.pre_committed_at, own.signed_at, own.rejected_at),
        (b.signed_self, None, None)
    );
    assert_eq!(own.reward_cycle, 42);
    let context = VoteContext {
        policy: ConflictPolicy {
            reconsider_after: std::time::Duration::from_secs(3600),
        },
        tenure_tip_height: None,
    };
    let sibling = block(1, 5, 2);
    assert_eq!(
        db.record_own_vote(&OwnVote::PreCommit, &sibling.header, 42, None, &context)
            .unwrap(),
        VoteRecord::Refused(VoteRefusal::ConflictingBlock {
            signer_signature_hash: h
        })
    );
    assert_eq!(
        db.record_own_vote(
            &OwnVote::Reject(libsigner::v0::messages::RejectReason::InvalidMiner),
            &b.block.header,
            42,
            None,
            &context
        )
        .unwrap(),
        VoteRecord::Refused(VoteRefusal::AlreadyAccepted)
    );
    assert_eq!(
        db.block_lookup(&h).unwrap().unwrap().state,
        BlockState::PreCommitted
    );
    drop(db);
    let conn = Connection::open(&path).unwrap();
    let legacy: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'legacy_%' OR name = 'signer_states'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(legacy, 0);
}

#[test]
fn an_unreadable_reference_row_fails_the_takeover_and_leaves_the_file_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reference.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(REFERENCE_V18).unwrap();
    conn.execute("INSERT INTO db_config VALUES (18)", [])
        .unwrap();
    conn.execute(
        "INSERT INTO blocks (signer_signature_hash, reward_cycle, block_info, consensus_hash, \
         signed_over, stacks_height, burn_block_height, state, proposed_time, tenure_change) \
         VALUES ('00', 1, '{not json', '00', 0, 1, 1, 'Unprocessed', 1, 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let err = SignerDb::open(&path).unwrap_err();
    assert!(err.to_string().contains("blocks.block_info"), "{err}");
    let conn = Connection::open(&path).unwrap();
    let (max, blocks): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT MAX(version) FROM db_config), (SELECT COUNT(*) FROM blocks)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((max, blocks), (18, 1));
}

/// Starts `stacks-signer run` on `db_path` (no node behind it: it only opens the database)
/// and returns the first log line containing `needle`.
fn run_until_line(dir: &std::path::Path, db_path: &std::path::Path, needle: &str) -> String {
    use std::io::BufRead;
    let config = dir.join("signer.toml");
    std::fs::write(
        &config,
        format!(
            "stacks_private_key = \"{}\"\nnode_host = \"127.0.0.1:1\"\nendpoint = \"127.0.0.1:0\"\n\
             network = \"testnet\"\nauth_password = \"12345\"\ndb_path = \"{}\"\n",
            StacksPrivateKey::from_seed(b"takeover").to_hex(),
            db_path.display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stacks-signer"))
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("STACKS_LOG_JSON")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    let found = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => break Some(line),
            Ok(line) => seen.push(line),
            Err(_) => break None,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    found.unwrap_or_else(|| panic!("no line with {needle:?}:\n{}", seen.join("\n")))
}

#[test]
fn run_says_in_one_line_that_it_took_over_a_reference_database_naming_the_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reference.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(REFERENCE_V18).unwrap();
    conn.execute("INSERT INTO db_config VALUES (18)", [])
        .unwrap();
    drop(conn);

    let line = run_until_line(dir.path(), &path, "database at");
    assert!(line.starts_with("INFO "), "{line}");
    assert!(
        line.contains("Took over the reference signer's database at")
            && line
                .contains("from schema version 18 (reference stacks-signer) to schema version 21"),
        "{line}"
    );
    let line = run_until_line(dir.path(), &path, "database at");
    assert!(
        line.contains("Opened the signer database at") && line.contains("(schema version 21)"),
        "{line}"
    );
    let fresh = dir.path().join("fresh.sqlite");
    let line = run_until_line(dir.path(), &fresh, "database at");
    assert!(line.contains("Created a new signer database at"), "{line}");
}

#[test]
fn the_database_remembers_which_schema_it_was_opened_at() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reference.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(REFERENCE_V18).unwrap();
    conn.execute("INSERT INTO db_config VALUES (18)", [])
        .unwrap();
    drop(conn);
    let db = SignerDb::open(&path).unwrap();
    assert_eq!(db.schema_version_at_open(), 18);
    assert_eq!(db.schema_version().unwrap(), SCHEMA_VERSION);
    drop(db);
    assert_eq!(
        SignerDb::open(&path).unwrap().schema_version_at_open(),
        SCHEMA_VERSION
    );
    let fresh = SignerDb::open(dir.path().join("fresh.sqlite")).unwrap();
    assert_eq!(fresh.schema_version_at_open(), 0);
    assert_eq!(
        SignerDb::open(":memory:").unwrap().schema_version_at_open(),
        0
    );
}
