//! Runs a safety fixture against this signer's `SignerDb`, on a real SQLite file in a
//! temporary directory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use libsigner::chain::hex::to_hex;
use libsigner::chain::{NakamotoBlock, NakamotoBlockHeader, Sha512Trunc256Sum};
use libsigner::v0::messages::RejectReason;
use rusqlite::{params, Connection};
use stacks_signer::signerdb::{
    BlockInfo, BlockState, ConflictPolicy, ExtraBlockInfo, OwnVote, OwnVoteRecord, PruneHorizon,
    SignerDb, VoteContext, VoteRecord, VoteRefusal,
};

use super::format::{Expect, Fixture, Reason, RecordedVote, ReferenceRow, Refusal, Step, VoteKind};
use crate::signerdb_support::REFERENCE_V18;

/// The reject reason a fixture's reason name stands for.
pub fn reject_reason(reason: Reason) -> RejectReason {
    match reason {
        Reason::ConnectivityIssues => RejectReason::ConnectivityIssues("fixture".into()),
        Reason::RejectedInPriorRound => RejectReason::RejectedInPriorRound,
        Reason::NoSortitionView => RejectReason::NoSortitionView,
        Reason::SortitionViewMismatch => RejectReason::SortitionViewMismatch,
        Reason::ReorgNotAllowed => RejectReason::ReorgNotAllowed,
        Reason::InvalidMiner => RejectReason::InvalidMiner,
        Reason::InvalidParentBlock => RejectReason::InvalidParentBlock,
        Reason::DuplicateBlockFound => RejectReason::DuplicateBlockFound,
        Reason::InvalidTenureExtend => RejectReason::InvalidTenureExtend,
        Reason::NoSignerConsensus => RejectReason::NoSignerConsensus,
    }
}

/// The fixture's name for a reject reason, if it has one.
fn reason_name(reason: &RejectReason) -> Option<Reason> {
    Some(match reason {
        RejectReason::ConnectivityIssues(_) => Reason::ConnectivityIssues,
        RejectReason::RejectedInPriorRound => Reason::RejectedInPriorRound,
        RejectReason::NoSortitionView => Reason::NoSortitionView,
        RejectReason::SortitionViewMismatch => Reason::SortitionViewMismatch,
        RejectReason::ReorgNotAllowed => Reason::ReorgNotAllowed,
        RejectReason::InvalidMiner => Reason::InvalidMiner,
        RejectReason::InvalidParentBlock => Reason::InvalidParentBlock,
        RejectReason::DuplicateBlockFound => Reason::DuplicateBlockFound,
        RejectReason::InvalidTenureExtend => Reason::InvalidTenureExtend,
        RejectReason::NoSignerConsensus => Reason::NoSignerConsensus,
        _ => return None,
    })
}

fn block_state(name: &str) -> Result<BlockState, String> {
    BlockState::ALL
        .into_iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| format!("unknown state {name:?}"))
}

/// A block of the fixture, decoded.
struct Block {
    header: NakamotoBlockHeader,
    reward_cycle: u64,
}

impl Block {
    fn hash(&self) -> Sha512Trunc256Sum {
        self.header.signer_signature_hash()
    }

    fn info(&self, proposed_time: u64) -> BlockInfo {
        BlockInfo {
            block: NakamotoBlock {
                header: self.header.clone(),
                txs: Vec::new(),
            },
            burn_block_height: 0,
            reward_cycle: self.reward_cycle,
            vote: None,
            valid: None,
            signed_over: false,
            proposed_time,
            signed_self: None,
            signed_group: None,
            state: BlockState::Unprocessed,
            validation_time_ms: None,
            ext: ExtraBlockInfo::None,
            reject_reason: None,
        }
    }
}

/// One run of a fixture.
struct Run {
    _dir: tempfile::TempDir,
    path: PathBuf,
    db: Option<SignerDb>,
    blocks: BTreeMap<String, Block>,
    context_policy: ConflictPolicy,
}

/// Runs `fixture`; the first failing step, named, as the error.
pub fn run(fixture: &Fixture) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let path = dir.path().join("signer.sqlite");
    let mut blocks = BTreeMap::new();
    for (label, def) in &fixture.blocks {
        let header = def.decode().map_err(|e| format!("block {label}: {e}"))?;
        blocks.insert(
            label.clone(),
            Block {
                header,
                reward_cycle: def.reward_cycle,
            },
        );
    }
    let mut run = Run {
        _dir: dir,
        path,
        db: None,
        blocks,
        context_policy: ConflictPolicy {
            reconsider_after: Duration::from_secs(fixture.config.window_secs),
        },
    };
    for (i, step) in fixture.steps.iter().enumerate() {
        run.step(i, step)
            .map_err(|e| format!("step {i} ({}): {e}", step.op()))?;
    }
    Ok(())
}

impl Run {
    fn db(&mut self) -> Result<&mut SignerDb, String> {
        if self.db.is_none() {
            let db = SignerDb::open(&self.path).map_err(|e| format!("open: {e}"))?;
            self.db = Some(db);
        }
        self.db
            .as_mut()
            .ok_or_else(|| "the database is not open".to_string())
    }

    fn block(&self, label: &str) -> Result<&Block, String> {
        self.blocks
            .get(label)
            .ok_or_else(|| format!("unknown block {label:?}"))
    }

    fn label_of(&self, hash: &Sha512Trunc256Sum) -> String {
        self.blocks
            .iter()
            .find(|(_, b)| b.hash() == *hash)
            .map(|(label, _)| label.clone())
            .unwrap_or_else(|| hash.to_string())
    }

    fn step(&mut self, index: usize, step: &Step) -> Result<(), String> {
        match step {
            Step::Vote {
                block,
                vote,
                reason,
                at,
                tenure_tip_height,
                expect,
                refusal,
                conflicts_with,
            } => {
                let own_vote = match (vote, reason) {
                    (VoteKind::PreCommit, _) => OwnVote::PreCommit,
                    (VoteKind::Accept, _) => OwnVote::Accept,
                    (VoteKind::Reject, Some(reason)) => OwnVote::Reject(reject_reason(*reason)),
                    (VoteKind::Reject, None) => return Err("a rejection without a reason".into()),
                };
                let b = self.block(block)?;
                let (header, cycle) = (b.header.clone(), b.reward_cycle);
                let context = VoteContext {
                    policy: self.context_policy,
                    tenure_tip_height: *tenure_tip_height,
                };
                let before = self.db()?.get_own_votes().map_err(|e| e.to_string())?;
                let outcome = self
                    .db()?
                    .record_own_vote_at(&own_vote, &header, cycle, None, &context, *at)
                    .map_err(|e| format!("record_own_vote_at failed: {e}"))?;
                let got = self.describe(&outcome);
                let want = match (expect, refusal) {
                    (Expect::Recorded, _) => "recorded".to_string(),
                    (Expect::Refused, Some(r)) => format!(
                        "refused ({}{})",
                        refusal_name(*r),
                        conflicts_with
                            .as_ref()
                            .map(|c| format!(", conflicting with {c}"))
                            .unwrap_or_default()
                    ),
                    (Expect::Refused, None) => return Err("refused without a refusal".into()),
                };
                let matches = match (&outcome, expect, refusal) {
                    (VoteRecord::Recorded, Expect::Recorded, _) => true,
                    (VoteRecord::Refused(got), Expect::Refused, Some(want)) => {
                        self.refusal_matches(got, *want, conflicts_with.as_deref())?
                    }
                    _ => false,
                };
                if !matches {
                    return Err(format!(
                        "{vote:?} on {block} at {at} (tenure tip {tenure_tip_height:?}): \
                         expected {want}, got {got}"
                    ));
                }
                if let VoteRecord::Refused(_) = outcome {
                    let after = self.db()?.get_own_votes().map_err(|e| e.to_string())?;
                    if after != before {
                        return Err(format!(
                            "the refused {vote:?} on {block} changed the record"
                        ));
                    }
                }
                Ok(())
            }
            Step::Restart => {
                // Dropping the handle closes the file and releases its lock.
                self.db = None;
                self.db().map(|_| ())
            }
            Step::NetworkAccepted { block, at } => {
                let b = self.block(block)?;
                let (hash, fresh) = (b.hash(), b.info(*at));
                let db = self.db()?;
                let mut info = db
                    .block_lookup(&hash)
                    .map_err(|e| e.to_string())?
                    .unwrap_or(fresh);
                info.signed_group.get_or_insert(*at);
                db.mark_block_globally_accepted(&mut info)
                    .map_err(|e| e.to_string())?;
                db.insert_block(&info).map_err(|e| e.to_string())
            }
            Step::NetworkRejected { block, at } => {
                let b = self.block(block)?;
                let (hash, fresh) = (b.hash(), b.info(*at));
                let db = self.db()?;
                let mut info = db
                    .block_lookup(&hash)
                    .map_err(|e| e.to_string())?
                    .unwrap_or(fresh);
                db.mark_block_globally_rejected(&mut info)
                    .map_err(|e| e.to_string())?;
                db.insert_block(&info).map_err(|e| e.to_string())
            }
            Step::Prune { min_reward_cycle } => {
                self.db()?
                    .prune(PruneHorizon {
                        min_reward_cycle: *min_reward_cycle,
                        min_burn_height: 0,
                    })
                    .map_err(|e| e.to_string())?;
                Ok(())
            }
            Step::ImportReferenceDb { rows } => {
                if index != 0 || self.db.is_some() {
                    return Err("an import must be the first step".into());
                }
                self.write_reference_db(rows)?;
                let db = self.db()?;
                let from = db.schema_version_at_open();
                if from != 18 {
                    return Err(format!(
                        "the database was opened at schema {from}, not the reference's 18"
                    ));
                }
                Ok(())
            }
            Step::ExpectRecord {
                block,
                vote,
                pre_committed_at,
                signed_at,
                rejected_at,
                reject_reason,
            } => {
                let hash = self.block(block)?.hash();
                let record = self.db()?.get_own_vote(&hash).map_err(|e| e.to_string())?;
                check_record(
                    block,
                    record.as_ref(),
                    *vote,
                    [
                        ("pre_committed_at", *pre_committed_at),
                        ("signed_at", *signed_at),
                        ("rejected_at", *rejected_at),
                    ],
                    *reject_reason,
                )
            }
        }
    }

    fn refusal_matches(
        &self,
        got: &VoteRefusal,
        want: Refusal,
        conflicts_with: Option<&str>,
    ) -> Result<bool, String> {
        Ok(match (got, want) {
            (
                VoteRefusal::ConflictingBlock {
                    signer_signature_hash,
                },
                Refusal::ConflictingBlock,
            ) => match conflicts_with {
                Some(label) => self.block(label)?.hash() == *signer_signature_hash,
                None => true,
            },
            (VoteRefusal::AlreadyRejected, Refusal::AlreadyRejected)
            | (VoteRefusal::AlreadyAccepted, Refusal::AlreadyAccepted)
            | (VoteRefusal::BelowPruneFloor { .. }, Refusal::BelowPruneFloor) => true,
            _ => false,
        })
    }

    fn describe(&self, outcome: &VoteRecord) -> String {
        match outcome {
            VoteRecord::Recorded => "recorded".into(),
            VoteRecord::Refused(VoteRefusal::ConflictingBlock {
                signer_signature_hash,
            }) => format!(
                "refused (conflicting_block, conflicting with {})",
                self.label_of(signer_signature_hash)
            ),
            VoteRecord::Refused(VoteRefusal::AlreadyRejected) => {
                "refused (already_rejected)".into()
            }
            VoteRecord::Refused(VoteRefusal::AlreadyAccepted) => {
                "refused (already_accepted)".into()
            }
            VoteRecord::Refused(VoteRefusal::BelowPruneFloor { min_reward_cycle }) => {
                format!("refused (below_prune_floor, floor {min_reward_cycle})")
            }
            VoteRecord::Refused(VoteRefusal::NotActive { holder }) => {
                format!("refused (not_active, lease held by {holder:?})")
            }
        }
    }

    /// Writes a reference signer's schema 18 database holding `rows` at the run's path.
    fn write_reference_db(&self, rows: &[ReferenceRow]) -> Result<(), String> {
        let conn = Connection::open(&self.path).map_err(|e| e.to_string())?;
        conn.execute_batch(REFERENCE_V18)
            .map_err(|e| e.to_string())?;
        conn.execute("INSERT INTO db_config VALUES (18)", [])
            .map_err(|e| e.to_string())?;
        for row in rows {
            let b = self.block(&row.block)?;
            let mut info = b.info(row.proposed_time);
            info.state = block_state(&row.state)?;
            info.valid = row.valid;
            info.signed_self = row.signed_self;
            info.signed_group = row.signed_group;
            info.signed_over = row.signed_self.is_some() || row.signed_group.is_some();
            info.reject_reason = row.reject_reason.map(reject_reason);
            let json = serde_json::to_string(&info).map_err(|e| e.to_string())?;
            let to_sql = |v: u64| i64::try_from(v).map_err(|e| e.to_string());
            conn.execute(
                "INSERT INTO blocks (signer_signature_hash, reward_cycle, block_info, \
                 consensus_hash, signed_over, broadcasted, stacks_height, burn_block_height, \
                 valid, state, signed_group, signed_self, proposed_time, validation_time_ms, \
                 tenure_change) \
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, 0, ?7, ?8, ?9, ?10, ?11, NULL, 0)",
                params![
                    b.hash().to_hex(),
                    to_sql(b.reward_cycle)?,
                    json,
                    to_hex(b.header.consensus_hash.as_bytes()),
                    info.signed_over,
                    to_sql(b.header.chain_length)?,
                    row.valid,
                    row.state,
                    row.signed_group.map(to_sql).transpose()?,
                    row.signed_self.map(to_sql).transpose()?,
                    to_sql(row.proposed_time)?,
                ],
            )
            .map_err(|e| format!("reference row of {}: {e}", row.block))?;
        }
        Ok(())
    }
}

fn refusal_name(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::ConflictingBlock => "conflicting_block",
        Refusal::AlreadyRejected => "already_rejected",
        Refusal::AlreadyAccepted => "already_accepted",
        Refusal::BelowPruneFloor => "below_prune_floor",
    }
}

fn check_record(
    block: &str,
    record: Option<&OwnVoteRecord>,
    vote: RecordedVote,
    times: [(&str, Option<Option<u64>>); 3],
    reason: Option<Option<Reason>>,
) -> Result<(), String> {
    let got = match record {
        None => RecordedVote::None,
        Some(r) if r.is_favourable() => RecordedVote::Favourable,
        Some(_) => RecordedVote::Rejection,
    };
    if got != vote {
        return Err(format!(
            "the record of {block} holds {got:?}, expected {vote:?} ({record:?})"
        ));
    }
    let Some(record) = record else {
        return Ok(());
    };
    let actual = [
        record.pre_committed_at,
        record.signed_at,
        record.rejected_at,
    ];
    for ((field, want), got) in times.iter().zip(actual) {
        if let Some(want) = want {
            if *want != got {
                return Err(format!(
                    "the record of {block} has {field} {got:?}, expected {want:?}"
                ));
            }
        }
    }
    if let Some(want) = reason {
        let got = record.reject_reason.as_ref().map(reason_name);
        let got = match got {
            Some(None) => {
                return Err(format!(
                    "the record of {block} has reject reason {:?}, which fixtures cannot name",
                    record.reject_reason
                ))
            }
            Some(Some(name)) => Some(name),
            None => None,
        };
        if got != want {
            return Err(format!(
                "the record of {block} has reject_reason {got:?}, expected {want:?}"
            ));
        }
    }
    Ok(())
}
