//! The equivocation check of a run: over the node's record and every signer's database,
//! the safety invariant of [`crate::invariant`] for every key (no conflicting votes beyond
//! the reference's allowance, no flips) and, for this implementation's signers, that every
//! vote a signer published is in its own-vote record. A reference signer keeps no such
//! record, so its votes are checked against the record alone, for equivocations only: it
//! may publish a rejection of a block it signed (when a validation answer requested by
//! another signer comes back negative after the block was processed, the reference signer
//! sends that rejection even for a block it accepted), which the summary counts as
//! `reference_flips` instead of failing the check.
//!
//! The databases are opened only once their processes have exited (each is locked while
//! its signer runs).

use std::path::PathBuf;
use std::time::Duration;

use libsigner::chain::Hash160;
use serde::Serialize;

use super::layout::SignerKind;
use crate::devnet::ActivityEntry;
use crate::invariant::{check_votes, InvariantReport, SignerVotes, Violation};
use crate::signerdb::SignerDb;

/// How many violations a summary lists (all are counted).
pub const LISTED_VIOLATIONS: usize = 20;

/// A signer to check.
#[derive(Debug, Clone)]
pub struct CheckedSigner {
    /// Its index.
    pub index: usize,
    /// What ran it.
    pub kind: SignerKind,
    /// Hash160 of its key.
    pub key_hash: Hash160,
    /// Its public key, when known (needed to read a shared record).
    pub public_key: Option<libsigner::chain::StacksPublicKey>,
    /// Its database.
    pub db_path: PathBuf,
    /// With `--standby`: the shared database holding its key's votes (those of both
    /// instances), read instead of `db_path`.
    pub shared_record: Option<String>,
}

/// The own votes of `signer`, from its database or its pair's shared record.
fn own_votes_of(
    signer: &CheckedSigner,
) -> Result<Vec<crate::signerdb::OwnVoteRecord>, crate::signerdb::SignerDbError> {
    match &signer.shared_record {
        Some(db_url) => {
            let config = crate::ha::HaConfig {
                db_url: db_url.clone(),
                lease: Duration::from_secs(1),
                renew: Duration::from_millis(300),
                instance: "devnet-check".into(),
            };
            let key = public_key_of(signer)?;
            crate::ha::SharedStore::connect(&config, &key)?.get_own_votes()
        }
        None => SignerDb::open(&signer.db_path).and_then(|db| db.get_own_votes()),
    }
}

/// The public key a checked signer of a pair was given (the shared record is keyed by it).
fn public_key_of(
    signer: &CheckedSigner,
) -> Result<libsigner::chain::StacksPublicKey, crate::signerdb::SignerDbError> {
    signer.public_key.ok_or_else(|| {
        crate::signerdb::SignerDbError::InvalidArgument(format!(
            "signer {}: no public key to read its shared record",
            signer.index
        ))
    })
}

/// The check's verdict and figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckOutcome {
    /// Whether the invariant held and every database could be read.
    pub passed: bool,
    /// Votes the signers published (re-sends included).
    pub votes_published: usize,
    /// Votes whose own-vote record was read (this implementation's signers).
    pub own_votes_read: usize,
    /// Equivocations found.
    pub equivocations: usize,
    /// Published votes missing from their signer's database.
    pub votes_lost: usize,
    /// Flipped votes found (this implementation's signers).
    pub flips: usize,
    /// Rejections a reference signer published after signing the block (its known
    /// behaviour; not a failure).
    pub reference_flips: usize,
    /// The window used (`tenure_last_block_proposal_timeout_secs`).
    pub window_secs: u64,
    /// The first violations, as sentences.
    pub violations: Vec<String>,
    /// Databases that could not be read.
    pub database_errors: Vec<String>,
}

/// Runs the check over `entries` (the node's record) and the signers' databases.
/// `last_cycle` is the reward cycle at the end of the run: signers prune cycles older than
/// two before it, and votes on their blocks need not be held.
pub fn check_run(
    entries: &[ActivityEntry],
    signers: &[CheckedSigner],
    window: Duration,
    last_cycle: u64,
) -> CheckOutcome {
    let mut outcome = CheckOutcome {
        window_secs: window.as_secs(),
        ..CheckOutcome::default()
    };
    let mut votes = Vec::new();
    let mut unrecorded_ok = Vec::new();
    for signer in signers {
        let own_votes = match signer.kind {
            SignerKind::Ours => match own_votes_of(signer) {
                Ok(own) => own,
                Err(e) => {
                    let source = match &signer.shared_record {
                        Some(url) => crate::ha::redact_url(url),
                        None => signer.db_path.display().to_string(),
                    };
                    outcome.database_errors.push(format!(
                        "signer {}: cannot read {source}: {e}",
                        signer.index,
                    ));
                    Vec::new()
                }
            },
            SignerKind::Reference => {
                unrecorded_ok.push(signer.key_hash);
                Vec::new()
            }
            SignerKind::Silent => Vec::new(),
        };
        outcome.own_votes_read += own_votes.len();
        votes.push(SignerVotes {
            signer: signer.key_hash,
            own_votes,
            kept_from_reward_cycle: Some(last_cycle.saturating_sub(2)),
        });
    }
    let report = check_votes(entries, &votes, window);
    let by_reference = |v: &Violation| match v {
        Violation::VoteNotRecorded(vote) => unrecorded_ok.contains(&vote.signer),
        Violation::Flip { later, .. } => unrecorded_ok.contains(&later.signer),
        Violation::Equivocation { .. } => false,
    };
    outcome.reference_flips = report
        .violations
        .iter()
        .filter(|v| matches!(v, Violation::Flip { .. }) && by_reference(v))
        .count();
    let report = InvariantReport {
        votes_published: report.votes_published,
        violations: report
            .violations
            .into_iter()
            .filter(|v| !by_reference(v))
            .collect(),
    };
    outcome.votes_published = report.votes_published;
    outcome.equivocations = report.equivocations();
    outcome.votes_lost = report.votes_lost();
    outcome.flips = report
        .violations
        .iter()
        .filter(|v| matches!(v, Violation::Flip { .. }))
        .count();
    outcome.violations = report
        .violations
        .iter()
        .take(LISTED_VIOLATIONS)
        .map(|v| {
            let text = v.to_string();
            match signers.iter().find(|s| text.contains(&s.key_hash.to_hex())) {
                Some(s) => format!("signer {}: {text}", s.index),
                None => text,
            }
        })
        .collect();
    outcome.passed = report.holds() && outcome.database_errors.is_empty();
    outcome
}

/// Reads back the lines of a node record (`--record`, or a kept run's `record.jsonl`) the
/// check needs: chunk writes, processed blocks and burn blocks. Other lines are skipped.
pub fn read_record(text: &str) -> Result<Vec<ActivityEntry>, String> {
    use crate::devnet::{Activity, ChunkSource};
    use libsigner::chain::{ConsensusHash, Sha512Trunc256Sum, StacksBlockId};
    use serde_json::Value;

    fn field<'v>(line: &'v Value, name: &str, n: usize) -> Result<&'v Value, String> {
        line.get(name)
            .ok_or_else(|| format!("line {n}: no field `{name}`"))
    }
    fn text_of<'v>(line: &'v Value, name: &str, n: usize) -> Result<&'v str, String> {
        field(line, name, n)?
            .as_str()
            .ok_or_else(|| format!("line {n}: `{name}` is not a string"))
    }
    fn number(line: &Value, name: &str, n: usize) -> Result<u64, String> {
        field(line, name, n)?
            .as_u64()
            .ok_or_else(|| format!("line {n}: `{name}` is not a number"))
    }
    fn hex<T>(r: Result<T, impl std::fmt::Display>, name: &str, n: usize) -> Result<T, String> {
        r.map_err(|e| format!("line {n}: `{name}`: {e}"))
    }

    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let line: Value =
            serde_json::from_str(raw).map_err(|e| format!("line {n}: not JSON: {e}"))?;
        let at_ms = number(&line, "at_ms", n)?;
        let activity = match text_of(&line, "event", n)? {
            "ChunkWrite" => {
                let writer = match field(&line, "writer", n)? {
                    Value::Null => None,
                    Value::String(h) => Some(hex(Hash160::from_hex(h), "writer", n)?),
                    _ => return Err(format!("line {n}: `writer` is not a string")),
                };
                let source = match text_of(&line, "source", n)? {
                    "rpc" => ChunkSource::Rpc,
                    "internal" => ChunkSource::Internal,
                    _ => ChunkSource::Injected,
                };
                Activity::ChunkWrite {
                    contract: text_of(&line, "contract", n)?.to_string(),
                    slot_id: u32::try_from(number(&line, "slot_id", n)?)
                        .map_err(|_| format!("line {n}: `slot_id` too large"))?,
                    slot_version: u32::try_from(number(&line, "slot_version", n)?)
                        .map_err(|_| format!("line {n}: `slot_version` too large"))?,
                    writer,
                    data: hex(
                        libsigner::chain::hex::hex_bytes(text_of(&line, "data", n)?),
                        "data",
                        n,
                    )?,
                    accepted: field(&line, "accepted", n)?.as_bool().unwrap_or(false),
                    code: line.get("code").and_then(Value::as_u64).map(|c| c as u32),
                    source,
                }
            }
            "BlockProcessed" => Activity::BlockProcessed {
                block_id: hex(
                    StacksBlockId::from_hex(text_of(&line, "block_id", n)?),
                    "block_id",
                    n,
                )?,
                signer_signature_hash: hex(
                    Sha512Trunc256Sum::from_hex(text_of(&line, "signer_signature_hash", n)?),
                    "signer_signature_hash",
                    n,
                )?,
                height: number(&line, "height", n)?,
                signed_weight: number(&line, "signed_weight", n)?,
                threshold_weight: number(&line, "threshold_weight", n)?,
            },
            "BurnBlock" => Activity::BurnBlock {
                height: number(&line, "height", n)?,
                consensus_hash: hex(
                    ConsensusHash::from_hex(text_of(&line, "consensus_hash", n)?),
                    "consensus_hash",
                    n,
                )?,
                winner: line
                    .get("winner")
                    .and_then(Value::as_u64)
                    .map(|w| w as usize),
            },
            _ => continue,
        };
        entries.push(ActivityEntry { at_ms, activity });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use libsigner::chain::{ConsensusHash, Sha512Trunc256Sum, StacksBlockId};

    use super::*;
    use crate::devnet::record::entry_json;
    use crate::devnet::{Activity, ChunkSource};

    #[test]
    fn a_record_reads_back_as_the_entries_the_check_needs() {
        let entries = vec![
            ActivityEntry {
                at_ms: 5,
                activity: Activity::BurnBlock {
                    height: 345,
                    consensus_hash: ConsensusHash([3; 20]),
                    winner: Some(1),
                },
            },
            ActivityEntry {
                at_ms: 7,
                activity: Activity::ChunkWrite {
                    contract: "signers-0-3".into(),
                    slot_id: 2,
                    slot_version: 9,
                    writer: Some(Hash160([4; 20])),
                    data: vec![7, 1, 2, 3],
                    accepted: true,
                    code: None,
                    source: ChunkSource::Rpc,
                },
            },
            ActivityEntry {
                at_ms: 9,
                activity: Activity::BlockProcessed {
                    block_id: StacksBlockId([5; 32]),
                    signer_signature_hash: Sha512Trunc256Sum([6; 32]),
                    height: 12,
                    signed_weight: 4,
                    threshold_weight: 4,
                },
            },
        ];
        let text: String = entries
            .iter()
            .map(|e| format!("{}\n", entry_json(e)))
            .collect();
        assert_eq!(read_record(&text).unwrap(), entries);
        assert!(read_record("{\"at_ms\": 1}")
            .unwrap_err()
            .contains("line 1"));
    }
}
