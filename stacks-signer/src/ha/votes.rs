//! The shared own-vote record: each vote of the key checked and recorded in one
//! `SERIALIZABLE` transaction that also checks this instance holds the lease.
//!
//! The rules are [`crate::signerdb::SignerDb::record_own_vote`]'s, minus those that need an
//! instance's view of the chain (a sibling the network accepted or signed; the pruning
//! floor), which each instance's SQLite database checks first: no rejection after a
//! favourable vote, no signature after a rejection unless a pre-commit followed it, and no
//! first favourable vote (or first signature) while this key's favourable vote for a sibling
//! stands in the way. One rule is stricter than a lone signer's: a block another instance
//! rejected gets no favourable vote from this one (that rejection may still be in flight
//! from the other instance, and would land after the favourable vote). On top of the transaction's isolation, `ha_favourable_blocks` gives
//! each block this key voted for at one tenure and height the next sequence number under a
//! primary key: two transactions that both passed the checks would collide there. A
//! serialization failure or that collision is retried from the start (after a short random
//! pause, up to twelve times), where the rules then see the other vote.

use libsigner::chain::{ConsensusHash, NakamotoBlockHeader, Sha512Trunc256Sum};
use postgres::error::SqlState;
use postgres::{GenericClient, IsolationLevel};

use super::store::{shared_error, SharedStore};
use crate::signerdb::{
    apply_vote, sibling_vote_blocks, OwnVote, OwnVoteRecord, SiblingCheck, SignerDbError,
    VoteContext, VoteRecord, VoteRefusal,
};

/// How many times a vote's transaction is tried when it meets a serialization failure, a
/// deadlock or a collision on the per-height guard.
const MAX_ATTEMPTS: u32 = 12;

/// The pause before trying a vote's transaction again after its `failed`-th attempt (from
/// 1): random, up to 4 ms after the first failure and doubling up to 128 ms, so that
/// transactions that failed together (the keys of one database voting on the same block)
/// do not collide again in step. Under a second in all.
fn backoff(failed: u32) -> std::time::Duration {
    use std::hash::BuildHasher;
    let ceiling_us = 4_000u64 << failed.saturating_sub(1).min(5);
    // Each `RandomState` is seeded afresh: a different draw in every call and process.
    let draw = std::collections::hash_map::RandomState::new().hash_one(failed);
    std::time::Duration::from_micros(draw % ceiling_us)
}

/// The columns of an `ha_own_votes` row, in [`read_record`] order.
const COLUMNS: &str = "signer_signature_hash, reward_cycle, consensus_hash, stacks_height, \
     pre_committed_at, signed_at, rejected_at, reject_reason";

/// Why one attempt failed.
enum Failure {
    /// PostgreSQL refused or failed (some of which are retried).
    Pg(postgres::Error),
    /// A row did not read back.
    Db(SignerDbError),
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Failure::Pg(e)
    }
}

impl From<SignerDbError> for Failure {
    fn from(e: SignerDbError) -> Self {
        Failure::Db(e)
    }
}

fn retryable(e: &postgres::Error) -> bool {
    e.code().is_some_and(|code| {
        code == &SqlState::T_R_SERIALIZATION_FAILURE
            || code == &SqlState::T_R_DEADLOCK_DETECTED
            || code == &SqlState::UNIQUE_VIOLATION
    })
}

fn to_sql(what: &'static str, value: u64) -> Result<i64, SignerDbError> {
    i64::try_from(value).map_err(|_| SignerDbError::ValueTooLarge { what, value })
}

fn from_sql(column: &'static str, value: i64) -> Result<u64, SignerDbError> {
    u64::try_from(value)
        .map_err(|_| SignerDbError::corrupt("ha_own_votes", column, format!("negative {value}")))
}

fn opt_from_sql(column: &'static str, value: Option<i64>) -> Result<Option<u64>, SignerDbError> {
    value.map(|v| from_sql(column, v)).transpose()
}

fn opt_to_sql(what: &'static str, value: Option<u64>) -> Result<Option<i64>, SignerDbError> {
    value.map(|v| to_sql(what, v)).transpose()
}

fn array<const N: usize>(column: &'static str, bytes: &[u8]) -> Result<[u8; N], SignerDbError> {
    <[u8; N]>::try_from(bytes).map_err(|_| {
        SignerDbError::corrupt(
            "ha_own_votes",
            column,
            format!("{} bytes, expected {N}", bytes.len()),
        )
    })
}

/// Reads a row selected with [`COLUMNS`].
fn read_record(row: &postgres::Row) -> Result<OwnVoteRecord, SignerDbError> {
    let reject_reason = row
        .get::<_, Option<String>>(7)
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| SignerDbError::corrupt("ha_own_votes", "reject_reason", e))?;
    Ok(OwnVoteRecord {
        signer_signature_hash: Sha512Trunc256Sum::from(array::<32>(
            "signer_signature_hash",
            row.get(0),
        )?),
        reward_cycle: from_sql("reward_cycle", row.get(1))?,
        consensus_hash: ConsensusHash::from(array::<20>("consensus_hash", row.get(2))?),
        stacks_height: from_sql("stacks_height", row.get(3))?,
        pre_committed_at: opt_from_sql("pre_committed_at", row.get(4))?,
        signed_at: opt_from_sql("signed_at", row.get(5))?,
        rejected_at: opt_from_sql("rejected_at", row.get(6))?,
        reject_reason,
    })
}

impl SharedStore {
    /// Checks `votes` on the block of `header` against this key's shared record and records
    /// them, in one `SERIALIZABLE` transaction that first checks this instance holds the
    /// lease ([`VoteRefusal::NotActive`] otherwise). Same arguments and outcome as
    /// [`crate::signerdb::SignerDb::record_own_votes_at`]; an error means nothing may be
    /// published.
    pub fn record_own_votes(
        &self,
        votes: &[OwnVote],
        header: &NakamotoBlockHeader,
        reward_cycle: u64,
        context: &VoteContext,
        now: u64,
    ) -> Result<VoteRecord, SignerDbError> {
        self.with_client(|client| {
            let mut attempts = 0;
            loop {
                attempts += 1;
                match self.attempt_record(client, votes, header, reward_cycle, context, now) {
                    Ok(outcome) => return Ok(outcome),
                    Err(Failure::Pg(e)) if retryable(&e) && attempts < MAX_ATTEMPTS => {
                        std::thread::sleep(backoff(attempts));
                    }
                    Err(Failure::Pg(e)) => return Err(shared_error(e)),
                    Err(Failure::Db(e)) => return Err(e),
                }
            }
        })
    }

    fn attempt_record(
        &self,
        client: &mut postgres::Client,
        votes: &[OwnVote],
        header: &NakamotoBlockHeader,
        reward_cycle: u64,
        context: &VoteContext,
        now: u64,
    ) -> Result<VoteRecord, Failure> {
        let key = self.signer_key();
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::Serializable)
            .start()?;
        let lease = tx.query_opt(
            "SELECT holder, expires_at > clock_timestamp() FROM ha_lease WHERE signer_key = $1",
            &[&key],
        )?;
        match lease {
            Some(row) if row.get::<_, &str>(0) == self.instance() && row.get::<_, bool>(1) => {}
            Some(row) => {
                return Ok(VoteRecord::Refused(VoteRefusal::NotActive {
                    holder: Some(row.get::<_, String>(0)),
                }))
            }
            None => return Ok(VoteRecord::Refused(VoteRefusal::NotActive { holder: None })),
        }
        let floor = prune_floor(&mut tx, key)?;
        if reward_cycle < floor {
            return Ok(VoteRecord::Refused(VoteRefusal::BelowPruneFloor {
                min_reward_cycle: floor,
            }));
        }
        let hash = header.signer_signature_hash();
        let mut current = lookup(&mut tx, key, &hash)?;
        let was_favourable = current.as_ref().is_some_and(OwnVoteRecord::is_favourable);
        // A rejection another instance recorded may still be on its way out of that
        // instance (retried, or paused mid-send): a favourable vote now could be published
        // before it lands, and the key would have flipped. So no instance votes for a block
        // another instance rejected; an instance may still turn its own rejection into a
        // favourable vote (its own sends go out in order).
        if votes.iter().any(OwnVote::is_favourable) {
            let rejected_elsewhere = tx
                .query_opt(
                    "SELECT 1 FROM ha_rejections WHERE signer_key = $1 \
                     AND signer_signature_hash = $2 AND instance != $3 LIMIT 1",
                    &[&key, &hash.as_bytes().as_slice(), &self.instance()],
                )?
                .is_some();
            if rejected_elsewhere {
                return Ok(VoteRecord::Refused(VoteRefusal::AlreadyRejected));
            }
        }
        for vote in votes {
            let (record, check) = match apply_vote(vote, current, header, reward_cycle, now) {
                Ok(applied) => applied,
                Err(refusal) => return Ok(VoteRecord::Refused(refusal)),
            };
            if check != SiblingCheck::None {
                for sibling in favourable_siblings(&mut tx, key, &record)? {
                    if sibling_vote_blocks(&sibling, &record, context, now, check) {
                        return Ok(VoteRecord::Refused(VoteRefusal::ConflictingBlock {
                            signer_signature_hash: sibling.signer_signature_hash,
                        }));
                    }
                }
            }
            current = Some(record);
        }
        let Some(record) = current else {
            return Err(Failure::Db(SignerDbError::InvalidArgument(
                "record_own_votes: no vote to record".into(),
            )));
        };
        self.upsert(&mut tx, &record)?;
        if votes.iter().any(|v| !v.is_favourable()) {
            tx.execute(
                "INSERT INTO ha_rejections (signer_key, reward_cycle, signer_signature_hash, \
                 instance) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[
                    &key,
                    &to_sql("reward_cycle", record.reward_cycle)?,
                    &hash.as_bytes().as_slice(),
                    &self.instance(),
                ],
            )?;
        }
        if !was_favourable && record.is_favourable() {
            tx.execute(
                "INSERT INTO ha_favourable_blocks (signer_key, reward_cycle, consensus_hash, \
                 stacks_height, seq, signer_signature_hash) \
                 SELECT $1, $5, $2, $3, count(*)::integer, $4 FROM ha_favourable_blocks \
                 WHERE signer_key = $1 AND consensus_hash = $2 AND stacks_height = $3",
                &[
                    &key,
                    &record.consensus_hash.as_bytes().as_slice(),
                    &to_sql("stacks_height", record.stacks_height)?,
                    &hash.as_bytes().as_slice(),
                    &to_sql("reward_cycle", record.reward_cycle)?,
                ],
            )?;
        }
        tx.commit()?;
        Ok(VoteRecord::Recorded)
    }

    fn upsert(&self, tx: &mut impl GenericClient, record: &OwnVoteRecord) -> Result<(), Failure> {
        let reject_reason = record
            .reject_reason
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| SignerDbError::corrupt("ha_own_votes", "reject_reason", e))?;
        tx.execute(
            "INSERT INTO ha_own_votes (signer_key, signer_signature_hash, reward_cycle, \
             consensus_hash, stacks_height, pre_committed_at, signed_at, rejected_at, \
             reject_reason, recorded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (signer_key, signer_signature_hash) DO UPDATE SET \
             pre_committed_at = excluded.pre_committed_at, signed_at = excluded.signed_at, \
             rejected_at = excluded.rejected_at, reject_reason = excluded.reject_reason, \
             recorded_by = excluded.recorded_by",
            &[
                &self.signer_key(),
                &record.signer_signature_hash.as_bytes().as_slice(),
                &to_sql("reward_cycle", record.reward_cycle)?,
                &record.consensus_hash.as_bytes().as_slice(),
                &to_sql("stacks_height", record.stacks_height)?,
                &opt_to_sql("pre_committed_at", record.pre_committed_at)?,
                &opt_to_sql("signed_at", record.signed_at)?,
                &opt_to_sql("rejected_at", record.rejected_at)?,
                &reject_reason,
                &self.instance(),
            ],
        )?;
        Ok(())
    }

    /// This key's shared record of block `signer_signature_hash`, if any.
    pub fn get_own_vote(
        &self,
        signer_signature_hash: &Sha512Trunc256Sum,
    ) -> Result<Option<OwnVoteRecord>, SignerDbError> {
        self.with_client(|client| {
            lookup(client, self.signer_key(), signer_signature_hash).map_err(|e| match e {
                Failure::Pg(e) => shared_error(e),
                Failure::Db(e) => e,
            })
        })
    }

    /// Whether this key voted for a sibling of the block (same tenure and height, another
    /// block) in the shared record.
    pub fn has_favourable_sibling_vote(
        &self,
        consensus_hash: &ConsensusHash,
        stacks_height: u64,
        signer_signature_hash: &Sha512Trunc256Sum,
    ) -> Result<bool, SignerDbError> {
        let height = to_sql("stacks_height", stacks_height)?;
        self.with_client(|client| {
            let row = client
                .query_opt(
                    "SELECT 1 FROM ha_own_votes WHERE signer_key = $1 AND consensus_hash = $2 \
                     AND stacks_height = $3 AND signer_signature_hash != $4 \
                     AND (pre_committed_at IS NOT NULL OR signed_at IS NOT NULL) LIMIT 1",
                    &[
                        &self.signer_key(),
                        &consensus_hash.as_bytes().as_slice(),
                        &height,
                        &signer_signature_hash.as_bytes().as_slice(),
                    ],
                )
                .map_err(shared_error)?;
            Ok(row.is_some())
        })
    }

    /// Every vote of this key in the shared record, by tenure, height and block.
    pub fn get_own_votes(&self) -> Result<Vec<OwnVoteRecord>, SignerDbError> {
        self.with_client(|client| {
            let rows = client
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM ha_own_votes WHERE signer_key = $1 \
                         ORDER BY consensus_hash, stacks_height, signer_signature_hash"
                    ),
                    &[&self.signer_key()],
                )
                .map_err(shared_error)?;
            rows.iter().map(read_record).collect()
        })
    }
}

fn lookup(
    client: &mut impl GenericClient,
    key: &[u8],
    hash: &Sha512Trunc256Sum,
) -> Result<Option<OwnVoteRecord>, Failure> {
    let row = client.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM ha_own_votes \
             WHERE signer_key = $1 AND signer_signature_hash = $2"
        ),
        &[&key, &hash.as_bytes().as_slice()],
    )?;
    Ok(row.as_ref().map(read_record).transpose()?)
}

/// The oldest reward cycle on which this key may still vote (0 before any pruning).
fn prune_floor(client: &mut impl GenericClient, key: &[u8]) -> Result<u64, Failure> {
    let row = client.query_opt(
        "SELECT min_reward_cycle FROM ha_prune_floor WHERE signer_key = $1",
        &[&key],
    )?;
    match row {
        Some(row) => Ok(from_sql("min_reward_cycle", row.get(0))?),
        None => Ok(0),
    }
}

impl SharedStore {
    /// Raises this key's pruning floor to `min_reward_cycle` (no vote on a block of an
    /// earlier cycle is recorded from then on) and deletes the key's records of cycles
    /// before the one below it (one cycle of margin: a tenure that straddles a cycle
    /// boundary keeps its siblings' votes). Returns how many rows went.
    pub fn prune(&self, min_reward_cycle: u64) -> Result<u64, SignerDbError> {
        let floor = to_sql("min_reward_cycle", min_reward_cycle)?;
        let below = floor.saturating_sub(1);
        self.with_client(|client| {
            let mut tx = client.transaction().map_err(shared_error)?;
            tx.execute(
                "INSERT INTO ha_prune_floor (signer_key, min_reward_cycle) VALUES ($1, $2) \
                 ON CONFLICT (signer_key) DO UPDATE SET min_reward_cycle = \
                 GREATEST(ha_prune_floor.min_reward_cycle, excluded.min_reward_cycle)",
                &[&self.signer_key(), &floor],
            )
            .map_err(shared_error)?;
            let mut deleted = 0;
            for table in ["ha_own_votes", "ha_favourable_blocks", "ha_rejections"] {
                deleted += tx
                    .execute(
                        &format!("DELETE FROM {table} WHERE signer_key = $1 AND reward_cycle < $2"),
                        &[&self.signer_key(), &below],
                    )
                    .map_err(shared_error)?;
            }
            tx.commit().map_err(shared_error)?;
            Ok(deleted)
        })
    }
}

/// This key's favourable votes on the siblings of `record`'s block.
fn favourable_siblings(
    client: &mut impl GenericClient,
    key: &[u8],
    record: &OwnVoteRecord,
) -> Result<Vec<OwnVoteRecord>, Failure> {
    let rows = client.query(
        &format!(
            "SELECT {COLUMNS} FROM ha_own_votes \
             WHERE signer_key = $1 AND consensus_hash = $2 AND stacks_height = $3 \
             AND signer_signature_hash != $4 \
             AND (pre_committed_at IS NOT NULL OR signed_at IS NOT NULL) \
             ORDER BY signer_signature_hash"
        ),
        &[
            &key,
            &record.consensus_hash.as_bytes().as_slice(),
            &to_sql("stacks_height", record.stacks_height)?,
            &record.signer_signature_hash.as_bytes().as_slice(),
        ],
    )?;
    Ok(rows
        .iter()
        .map(read_record)
        .collect::<Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_pause_a_random_and_growing_while_under_a_second_in_all() {
        let ceiling =
            |failed: u32| std::time::Duration::from_micros(4_000u64 << (failed - 1).min(5));
        let mut total_ceiling = std::time::Duration::ZERO;
        for failed in 1..MAX_ATTEMPTS {
            let draws: Vec<_> = (0..50).map(|_| backoff(failed)).collect();
            assert!(
                draws.iter().all(|d| *d < ceiling(failed)),
                "{failed}: {draws:?}"
            );
            assert!(
                draws.iter().any(|d| *d != draws[0]),
                "{failed}: the pauses are drawn, not fixed: {draws:?}"
            );
            total_ceiling += ceiling(failed);
        }
        assert!(
            total_ceiling <= std::time::Duration::from_millis(1_000),
            "{total_ceiling:?}"
        );
    }
}
