//! What the network did, counted from the node's activity stream as it happens: proposals,
//! each signer's pre-commits, signatures and rejections (with reasons), processed blocks and
//! their signed weight. The miner waits on it for blocks to reach the threshold, the
//! progress display reads it, and the entries it keeps are the record the equivocation
//! check reads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use libsigner::chain::{Hash160, Sha512Trunc256Sum};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{BlockResponse, SignerMessage};

use crate::devnet::{Activity, ActivityEntry};

/// A proposal as first seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalStat {
    /// When it was first proposed (ms since the Unix epoch).
    pub first_at_ms: u64,
    /// Its height.
    pub height: u64,
}

/// A processed block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessedStat {
    /// When the node processed it.
    pub at_ms: u64,
    /// The weight of its signatures.
    pub signed_weight: u64,
    /// The weight it needed.
    pub threshold_weight: u64,
}

/// The signers' votes on one block (by signer index).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockVotes {
    /// Who pre-committed.
    pub pre_commits: BTreeSet<usize>,
    /// Who signed.
    pub accepts: BTreeSet<usize>,
    /// Who rejected, with the latest reason.
    pub rejects: BTreeMap<usize, String>,
}

/// One signer's distinct votes (a re-sent vote counts once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignerCounts {
    /// Blocks it pre-committed to.
    pub pre_commits: u64,
    /// Blocks it signed.
    pub signatures: u64,
    /// Blocks it rejected.
    pub rejections: u64,
}

/// Everything counted so far.
#[derive(Debug, Default)]
pub struct TallyState {
    /// The activity kept for the equivocation check: proposals, signer votes, processed
    /// blocks, burn blocks.
    pub entries: Vec<ActivityEntry>,
    /// Proposals by signer signature hash.
    pub proposals: HashMap<Sha512Trunc256Sum, ProposalStat>,
    /// Processed blocks.
    pub processed: HashMap<Sha512Trunc256Sum, ProcessedStat>,
    /// Votes by block.
    pub blocks: HashMap<Sha512Trunc256Sum, BlockVotes>,
    /// Distinct votes by signer index.
    pub signers: Vec<SignerCounts>,
    /// Chunks written by keys outside the devnet's list.
    pub foreign_votes: u64,
}

/// The shared tally and the thread feeding it.
#[derive(Debug)]
pub struct Tally {
    state: Mutex<TallyState>,
    changed: Condvar,
    writers: HashMap<Hash160, usize>,
    weights: Vec<u32>,
}

impl Tally {
    /// Starts counting `activity` for signers with these key hashes (in index order) and
    /// weights. The thread ends once `stop` is set and the stream is drained, or the stream
    /// closes.
    pub fn spawn(
        activity: Receiver<ActivityEntry>,
        key_hashes: &[Hash160],
        weights: &[u32],
        stop: Arc<AtomicBool>,
    ) -> (Arc<Tally>, JoinHandle<()>) {
        let tally = Arc::new(Tally {
            state: Mutex::new(TallyState {
                signers: vec![SignerCounts::default(); key_hashes.len()],
                ..TallyState::default()
            }),
            changed: Condvar::new(),
            writers: key_hashes
                .iter()
                .enumerate()
                .map(|(i, h)| (*h, i))
                .collect(),
            weights: weights.to_vec(),
        });
        let feeder = Arc::clone(&tally);
        let handle = std::thread::spawn(move || loop {
            match activity.recv_timeout(Duration::from_millis(50)) {
                Ok(entry) => {
                    let mut batch = vec![entry];
                    batch.extend(activity.try_iter().take(1000));
                    feeder.add(batch);
                }
                Err(RecvTimeoutError::Timeout) if stop.load(Ordering::SeqCst) => return,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        });
        (tally, handle)
    }

    /// The counts, locked.
    pub fn lock(&self) -> MutexGuard<'_, TallyState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, batch: Vec<ActivityEntry>) {
        let mut state = self.lock();
        for entry in batch {
            self.count(&mut state, entry);
        }
        drop(state);
        self.changed.notify_all();
    }

    fn count(&self, state: &mut TallyState, entry: ActivityEntry) {
        match &entry.activity {
            Activity::BlockProposed {
                signer_signature_hash,
                height,
                ..
            } => {
                state
                    .proposals
                    .entry(*signer_signature_hash)
                    .or_insert(ProposalStat {
                        first_at_ms: entry.at_ms,
                        height: *height,
                    });
            }
            Activity::BlockProcessed {
                signer_signature_hash,
                signed_weight,
                threshold_weight,
                ..
            } => {
                state.processed.insert(
                    *signer_signature_hash,
                    ProcessedStat {
                        at_ms: entry.at_ms,
                        signed_weight: *signed_weight,
                        threshold_weight: *threshold_weight,
                    },
                );
                state.entries.push(entry);
            }
            Activity::BurnBlock { .. } => state.entries.push(entry),
            Activity::ChunkWrite {
                contract,
                writer,
                data,
                accepted: true,
                ..
            } => {
                let Ok(message) = SignerMessage::consensus_deserialize(&mut data.as_slice()) else {
                    return;
                };
                if contract == "miners" {
                    if matches!(message, SignerMessage::BlockProposal(_)) {
                        state.entries.push(entry);
                    }
                    return;
                }
                let (hash, vote) = match &message {
                    SignerMessage::BlockPreCommit(hash) => (*hash, Vote::PreCommit),
                    SignerMessage::BlockResponse(BlockResponse::Accepted(a)) => {
                        (a.signer_signature_hash, Vote::Accept)
                    }
                    SignerMessage::BlockResponse(BlockResponse::Rejected(r)) => (
                        r.signer_signature_hash,
                        Vote::Reject(format!("{:?}", r.response_data.reject_reason)),
                    ),
                    _ => return,
                };
                let Some(signer) = writer.and_then(|w| self.writers.get(&w).copied()) else {
                    state.foreign_votes += 1;
                    state.entries.push(entry);
                    return;
                };
                let votes = state.blocks.entry(hash).or_default();
                let new = match vote {
                    Vote::PreCommit => votes.pre_commits.insert(signer),
                    Vote::Accept => votes.accepts.insert(signer),
                    Vote::Reject(reason) => votes.rejects.insert(signer, reason).is_none(),
                };
                if new {
                    let counts = &mut state.signers[signer];
                    match &message {
                        SignerMessage::BlockPreCommit(_) => counts.pre_commits += 1,
                        SignerMessage::BlockResponse(BlockResponse::Accepted(_)) => {
                            counts.signatures += 1
                        }
                        _ => counts.rejections += 1,
                    }
                }
                state.entries.push(entry);
            }
            _ => {}
        }
    }

    /// Waits until one of `hashes` is processed (returning it), `stop` is set, or `timeout`
    /// passes.
    pub fn wait_processed(
        &self,
        hashes: &[Sha512Trunc256Sum],
        timeout: Duration,
        stop: &AtomicBool,
    ) -> Option<Sha512Trunc256Sum> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if let Some(hash) = hashes.iter().find(|h| state.processed.contains_key(h)) {
                return Some(*hash);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            state = self
                .changed
                .wait_timeout(state, left.min(Duration::from_millis(100)))
                .map(|(guard, _)| guard)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// The signers who voted anything on any of `hashes`.
    pub fn voters_on(&self, hashes: &[Sha512Trunc256Sum]) -> BTreeSet<usize> {
        let state = self.lock();
        hashes
            .iter()
            .filter_map(|hash| state.blocks.get(hash))
            .flat_map(|votes| {
                votes
                    .pre_commits
                    .iter()
                    .chain(&votes.accepts)
                    .chain(votes.rejects.keys())
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Waits until every signer of `signers` signed or rejected `hash`, `stop` is set, or
    /// `timeout` passes; whether they all answered.
    pub fn wait_answered(
        &self,
        hash: &Sha512Trunc256Sum,
        signers: &BTreeSet<usize>,
        timeout: Duration,
        stop: &AtomicBool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            let answered = state.blocks.get(hash).is_some_and(|votes| {
                signers
                    .iter()
                    .all(|i| votes.accepts.contains(i) || votes.rejects.contains_key(i))
            });
            if answered {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            if stop.load(Ordering::SeqCst) {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, left.min(Duration::from_millis(100)))
                .map(|(guard, _)| guard)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// The weight of the signers who voted `kind` on `hash` (pre-commit, accept, reject).
    pub fn weights_on(&self, hash: &Sha512Trunc256Sum) -> (u64, u64, u64) {
        let state = self.lock();
        let Some(votes) = state.blocks.get(hash) else {
            return (0, 0, 0);
        };
        let sum = |set: &mut dyn Iterator<Item = &usize>| -> u64 {
            set.map(|i| u64::from(self.weights.get(*i).copied().unwrap_or(0)))
                .sum()
        };
        (
            sum(&mut votes.pre_commits.iter()),
            sum(&mut votes.accepts.iter()),
            sum(&mut votes.rejects.keys()),
        )
    }
}

enum Vote {
    PreCommit,
    Accept,
    Reject(String),
}
