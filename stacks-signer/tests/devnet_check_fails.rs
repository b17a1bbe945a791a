//! The equivocation check can fail: a run kept with `--keep` passes `--check-only`, and
//! fails it once its evidence is doctored — a vote deleted from a signer's database (the
//! signer published a vote it does not hold), or a conflicting vote added to the node's
//! record (the signer pre-committed to two siblings within its window).

mod devnet_support;

use std::path::Path;
use std::time::Duration;

use libsigner::chain::Sha512Trunc256Sum;
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::SignerMessage;
use serde_json::{json, Value};

use devnet_support::run;

fn kept_run(dir: &Path, seed: &str) {
    let data = dir.display().to_string();
    let done = run(
        &[
            "--tenures",
            "3",
            "--blocks-per-tenure",
            "4",
            "--equivocating-miner",
            "--seed",
            seed,
            "--data-dir",
            &data,
            "--keep",
        ],
        Duration::from_secs(120),
    );
    assert_eq!(done.code, Some(0), "{}", done.dump());
    let again = run(
        &["--check-only", "--data-dir", &data],
        Duration::from_secs(60),
    );
    assert_eq!(
        again.code,
        Some(0),
        "the untouched run passes: {}",
        again.dump()
    );
    assert!(again.stdout.starts_with("check passed"), "{}", again.dump());
}

#[test]
fn a_vote_deleted_from_a_signers_database_fails_the_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("run");
    kept_run(&data, "61");
    let db = rusqlite::Connection::open(data.join("signer-2").join("signer.sqlite")).expect("db");
    let deleted = db
        .execute(
            "DELETE FROM own_votes WHERE signed_at IS NOT NULL AND rowid IN (SELECT rowid FROM own_votes LIMIT 3)",
            [],
        )
        .expect("delete");
    assert!(deleted > 0);
    drop(db);
    let data_arg = data.display().to_string();
    let done = run(
        &["--check-only", "--data-dir", &data_arg],
        Duration::from_secs(60),
    );
    assert_eq!(done.code, Some(1), "{}", done.dump());
    assert!(done.stdout.starts_with("check FAILED"), "{}", done.dump());
    let errors = done.error_lines();
    assert_eq!(errors.len(), 1, "{}", done.dump());
    assert!(errors[0].starts_with("error: equivocation check failed: 0 equivocations, "));
    assert!(
        errors[0].contains("signer 2: ") && errors[0].contains("its database does not hold it")
    );
}

#[test]
fn a_conflicting_vote_added_to_the_record_is_reported_as_an_equivocation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("run");
    kept_run(&data, "62");
    let record_path = data.join("record.jsonl");
    let text = std::fs::read_to_string(&record_path).expect("record");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("devnet.json")).expect("manifest"))
            .expect("manifest JSON");
    let writer = manifest["signers"][1]["key_hash"]
        .as_str()
        .expect("key hash")
        .to_string();

    // Two proposals at one position (the equivocating miner's siblings), and the time of
    // signer 1's pre-commit to the first.
    let proposals: Vec<(String, String, u64)> = lines
        .iter()
        .filter(|l| l["event"] == "ChunkWrite" && l["contract"] == "miners")
        .filter(|l| l["message"]["kind"] == "BlockProposal")
        .map(|l| {
            let b = &l["message"]["block"];
            (
                b["signer_signature_hash"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                b["consensus_hash"].as_str().unwrap_or_default().to_string(),
                b["chain_length"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let pre_commit_at = |hash: &str| {
        lines.iter().find_map(|l| {
            let body = &l["message"]["body"];
            (l["event"] == "ChunkWrite"
                && l["accepted"] == true
                && l["writer"] == writer.as_str()
                && body["BlockPreCommit"] == hash)
                .then(|| l["at_ms"].as_u64().unwrap_or_default())
        })
    };
    let (first, at, sibling) = proposals
        .iter()
        .find_map(|(hash, ch, height)| {
            let at = pre_commit_at(hash)?;
            let sibling = proposals
                .iter()
                .find(|(h, c, n)| h != hash && c == ch && n == height)?;
            Some((hash.clone(), at, sibling.0.clone()))
        })
        .expect("the equivocating miner proposed a sibling of a block signer 1 pre-committed to");
    let sibling_hash = Sha512Trunc256Sum::from_hex(&sibling).expect("hash");
    let forged = SignerMessage::BlockPreCommit(sibling_hash).serialize_to_vec();
    let line = json!({
        "seq": lines.len(), "at_ms": at + 100, "event": "ChunkWrite", "contract": "signers-0-3",
        "slot_id": 1, "slot_version": 9999, "writer": writer,
        "data": libsigner::chain::hex::to_hex(&forged), "accepted": true, "code": null,
        "source": "rpc",
    });
    std::fs::write(&record_path, format!("{text}{line}\n")).expect("record written");

    let data_arg = data.display().to_string();
    let done = run(
        &["--check-only", "--data-dir", &data_arg, "--json"],
        Duration::from_secs(60),
    );
    assert_eq!(done.code, Some(1), "{}", done.dump());
    let outcome = done.json();
    assert_eq!(outcome["passed"], false);
    assert!(outcome["equivocations"].as_u64() >= Some(1), "{outcome:#}");
    let listed = outcome["violations"].to_string();
    assert!(
        listed.contains(&first) && listed.contains(&sibling),
        "{outcome:#}"
    );
    let errors = done.error_lines();
    assert_eq!(errors.len(), 1, "{}", done.dump());
    assert!(errors[0].contains("equivocations"), "{}", errors[0]);
}
