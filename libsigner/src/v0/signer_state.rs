//! The global state evaluator: from the latest state machine update of every signer and
//! their voting weights, the state (burn view, miner, protocol version, replay set) that
//! enough signers agree on.
//!
//! Agreement is `weight >= total_weight * 7 / 10` in `u32` arithmetic (floor division), as
//! the reference computes it.
//!
//! Determinism: the reference walks `HashMap`s, so when several candidates could win (only
//! possible when the threshold is tiny, e.g. a total weight of 0 or 1, or when the `u32`
//! arithmetic wraps) its answer depends on hash order. Here updates are always visited in
//! ascending address order, so the answer is the same on every run and every machine.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::chain::{ConsensusHash, Hash160, StacksAddress, StacksBlockId, StacksTransaction};
use crate::v0::messages::{StateMachineUpdate, StateMachineUpdateMinerState};

/// Computes the global signer state from every signer's latest update.
#[derive(Debug)]
pub struct GlobalStateEvaluator {
    /// Each signer's voting weight.
    pub address_weights: HashMap<StacksAddress, u32>,
    /// Each signer's latest update.
    pub address_updates: HashMap<StacksAddress, StateMachineUpdate>,
    /// The saturating sum of the weights.
    pub total_weight: u32,
}

impl GlobalStateEvaluator {
    /// An evaluator over `address_updates` with the signers' `address_weights`.
    pub fn new(
        address_updates: HashMap<StacksAddress, StateMachineUpdate>,
        address_weights: HashMap<StacksAddress, u32>,
    ) -> Self {
        let total_weight = address_weights
            .values()
            .fold(0u32, |acc, weight| acc.saturating_add(*weight));
        Self {
            address_weights,
            address_updates,
            total_weight,
        }
    }

    /// The weighted updates (signers without a weight are skipped), in address order.
    fn weighted_updates(&self) -> impl Iterator<Item = (&StateMachineUpdate, u32)> {
        let mut addresses: Vec<&StacksAddress> = self.address_updates.keys().collect();
        addresses.sort();
        addresses.into_iter().filter_map(|address| {
            let weight = *self.address_weights.get(address)?;
            let update = self.address_updates.get(address)?;
            Some((update, weight))
        })
    }

    /// The highest protocol version that signers holding enough weight support: versions
    /// are walked from the highest down, accumulating the weight of their supporters.
    pub fn determine_latest_supported_signer_protocol_version(&self) -> Option<u64> {
        let mut support: BTreeMap<u64, u32> = BTreeMap::new();
        for (update, weight) in self.weighted_updates() {
            let entry = support
                .entry(update.local_supported_signer_protocol_version)
                .or_insert(0);
            // The reference's `+=` (wraps in its release build).
            *entry = entry.wrapping_add(weight);
        }
        let mut cumulative = 0u32;
        for (version, weight) in support.into_iter().rev() {
            cumulative = cumulative.wrapping_add(weight);
            if self.reached_agreement(cumulative) {
                return Some(version);
            }
        }
        None
    }

    /// The burn view (consensus hash and height) that enough weight agrees on: the first
    /// one whose running weight reaches agreement.
    pub fn determine_global_burn_view(&self) -> Option<(&ConsensusHash, u64)> {
        let mut tallies: HashMap<(&ConsensusHash, u64), u32> = HashMap::new();
        for (update, weight) in self.weighted_updates() {
            let view = update.content.burn_block_view();
            let entry = tallies.entry(view).or_insert(0);
            *entry = entry.wrapping_add(weight);
            if self.reached_agreement(*entry) {
                return Some(view);
            }
        }
        None
    }

    /// The global state: the burn view and miner enough weight agrees on, at the latest
    /// supported protocol version, with the agreed replay set (or the longest prefix of
    /// replay sets that enough weight supports, or none).
    pub fn determine_global_state(&self) -> Option<SignerStateMachine> {
        let active_signer_protocol_version =
            self.determine_latest_supported_signer_protocol_version()?;
        let mut state_views: HashMap<SignerStateMachineKey, u32> = HashMap::new();
        let mut replay_sets: Vec<(ReplayTransactionSet, u32)> = Vec::new();
        let mut found_state_view = None;
        let mut found_replay_set = None;
        for (update, weight) in self.weighted_updates() {
            let (burn_block, burn_block_height) = update.content.burn_block_view();
            let state_machine = SignerStateMachine {
                burn_block: *burn_block,
                burn_block_height,
                current_miner: update.content.current_miner().clone().into(),
                active_signer_protocol_version,
                // The replay set is agreed on separately.
                tx_replay_set: ReplayTransactionSet::none(),
            };
            let entry = state_views
                .entry(SignerStateMachineKey(state_machine.clone()))
                .or_insert(0);
            *entry = entry.wrapping_add(weight);
            if self.reached_agreement(*entry) {
                found_state_view = Some(state_machine);
            }

            let replay_set = update.content.tx_replay_set();
            // Replay sets are tallied in first-seen order (a Vec rather than the
            // reference's HashMap) so ties resolve deterministically.
            let replay_weight = match replay_sets.iter_mut().find(|(set, _)| *set == replay_set) {
                Some((_, tally)) => {
                    *tally = tally.wrapping_add(weight);
                    *tally
                }
                None => {
                    replay_sets.push((replay_set.clone(), weight));
                    weight
                }
            };
            if self.reached_agreement(replay_weight) {
                found_replay_set = Some(replay_set);
            }
            if found_replay_set.is_some() && found_state_view.is_some() {
                break;
            }
        }
        let replay_set = match found_replay_set {
            Some(set) => set,
            None => self
                .find_majority_prefix_replay_set(&replay_sets)
                .unwrap_or_default(),
        };
        found_state_view.map(|mut state| {
            state.tx_replay_set = replay_set;
            state
        })
    }

    /// Stores `update` as the latest from `address`, if `address` has a weight. Returns
    /// whether it was stored.
    pub fn insert_update(&mut self, address: StacksAddress, update: StateMachineUpdate) -> bool {
        if !self.address_weights.contains_key(&address) {
            return false;
        }
        self.address_updates.insert(address, update);
        true
    }

    /// Whether `vote_weight` reaches the agreement threshold `total_weight * 7 / 10`
    /// (`u32`, floor division).
    ///
    /// Divergence: the reference's multiplication overflows for a total weight above
    /// 613,566,756 (a panic in a debug build, wrapping in a release build). Here it always
    /// wraps, which is the reference's release behaviour; below that total the results are
    /// identical.
    pub fn reached_agreement(&self, vote_weight: u32) -> bool {
        vote_weight >= self.total_weight.wrapping_mul(7) / 10
    }

    /// The replay set of the global state, or `None` if there is no global state.
    pub fn get_global_tx_replay_set(&mut self) -> Option<ReplayTransactionSet> {
        Some(self.determine_global_state()?.tx_replay_set)
    }

    /// The longest prefix of the most supported replay set that enough weight supports
    /// (order matters: `[A, B]` and `[B, A]` share no prefix). The empty prefix is
    /// supported by every set, so it is returned when all the weight is counted.
    fn find_majority_prefix_replay_set(
        &self,
        replay_sets: &[(ReplayTransactionSet, u32)],
    ) -> Option<ReplayTransactionSet> {
        if let Some((set, _)) = replay_sets
            .iter()
            .find(|(_, weight)| self.reached_agreement(*weight))
        {
            return Some(set.clone());
        }
        let mut ranked: Vec<&(ReplayTransactionSet, u32)> = replay_sets.iter().collect();
        // A stable sort: full ties keep first-seen order.
        ranked.sort_by(|(a, weight_a), (b, weight_b)| {
            weight_b
                .cmp(weight_a)
                .then_with(|| b.0.len().cmp(&a.0.len()))
                .then_with(|| compare_txids(&a.0, &b.0))
        });
        let (most_supported, _) = ranked.first()?;
        let mut prefix = most_supported.0.clone();
        loop {
            let support = replay_sets
                .iter()
                .filter(|(set, _)| set.0.starts_with(&prefix))
                .fold(0u32, |acc, (_, weight)| acc.saturating_add(*weight));
            if self.reached_agreement(support) {
                return Some(ReplayTransactionSet::new(prefix));
            }
            prefix.pop()?;
        }
    }
}

/// Compares two transaction lists by the txids of their common positions.
fn compare_txids(a: &[StacksTransaction], b: &[StacksTransaction]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(lhs, rhs)| lhs.txid().cmp(&rhs.txid()))
        .find(|ord| *ord != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

/// Transactions the next blocks must replay; an empty set means "no replay".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Eq, Hash, Default)]
pub struct ReplayTransactionSet(Vec<StacksTransaction>);

impl ReplayTransactionSet {
    /// A set of `transactions`.
    pub fn new(transactions: Vec<StacksTransaction>) -> Self {
        Self(transactions)
    }

    /// The empty set.
    pub fn none() -> Self {
        Self(vec![])
    }

    /// Whether there is nothing to replay.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether there is something to replay.
    pub fn is_some(&self) -> bool {
        !self.is_empty()
    }

    /// The transactions, or `None` when empty.
    pub fn clone_as_optional(&self) -> Option<Vec<StacksTransaction>> {
        self.is_some().then(|| self.0.clone())
    }

    /// The transactions (empty when there are none).
    pub fn unwrap_or_default(self) -> Vec<StacksTransaction> {
        self.0
    }

    /// `f` of the transactions, or `None` when empty.
    pub fn map<U, F>(self, f: F) -> Option<U>
    where
        F: Fn(Vec<StacksTransaction>) -> U,
    {
        if self.is_empty() {
            None
        } else {
            Some(f(self.0))
        }
    }
}

/// A signer state: the local signer's view or the global one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignerStateMachine {
    /// The burn block (consensus hash) seen as tip.
    pub burn_block: ConsensusHash,
    /// Its height.
    pub burn_block_height: u64,
    /// Who the current miner is.
    pub current_miner: MinerState,
    /// The active protocol version.
    pub active_signer_protocol_version: u64,
    /// Transactions to replay.
    pub tx_replay_set: ReplayTransactionSet,
}

/// A [`SignerStateMachine`] compared and hashed without its replay set, to tally views.
#[derive(Debug)]
pub struct SignerStateMachineKey(SignerStateMachine);

impl PartialEq for SignerStateMachineKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.burn_block == other.0.burn_block
            && self.0.burn_block_height == other.0.burn_block_height
            && self.0.current_miner == other.0.current_miner
            && self.0.active_signer_protocol_version == other.0.active_signer_protocol_version
    }
}

impl Eq for SignerStateMachineKey {}

impl Hash for SignerStateMachineKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.burn_block.hash(state);
        self.0.burn_block_height.hash(state);
        self.0.current_miner.hash(state);
        self.0.active_signer_protocol_version.hash(state);
    }
}

/// Who should be mining, and what their tenure builds on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Eq, Hash)]
pub enum MinerState {
    /// A miner is active.
    ActiveMiner {
        /// Hash160 of the miner's signing key.
        current_miner_pkh: Hash160,
        /// The miner's tenure (its consensus hash).
        tenure_id: ConsensusHash,
        /// The tenure the miner builds on.
        parent_tenure_id: ConsensusHash,
        /// The last block of the parent tenure.
        parent_tenure_last_block: StacksBlockId,
        /// Its height.
        parent_tenure_last_block_height: u64,
    },
    /// No miner is valid.
    NoValidMiner,
}

impl From<StateMachineUpdateMinerState> for MinerState {
    fn from(state: StateMachineUpdateMinerState) -> Self {
        match state {
            StateMachineUpdateMinerState::NoValidMiner => MinerState::NoValidMiner,
            StateMachineUpdateMinerState::ActiveMiner {
                current_miner_pkh,
                tenure_id,
                parent_tenure_id,
                parent_tenure_last_block,
                parent_tenure_last_block_height,
            } => MinerState::ActiveMiner {
                current_miner_pkh,
                tenure_id,
                parent_tenure_id,
                parent_tenure_last_block,
                parent_tenure_last_block_height,
            },
        }
    }
}
