//! The signer's outer run loop: which reward cycles this process signs for, and the signer
//! instance of each.
//!
//! The loop learns the current reward cycle from the node on its first event, then keeps at
//! most two instances, keyed by reward-cycle parity: the current cycle's and, once the next
//! cycle's prepare phase begins, the next one's. Every burn block refreshes that view; an
//! instance of a past cycle is dropped once none of its blocks await the network's verdict,
//! and the database is pruned as cycles pass. Every instance gets every event.

mod registration;

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::mpsc::Sender;
use std::time::Duration;

use libsigner::{SignerEvent, SignerEventTrait, SignerRunLoop};
use slog::{debug, error, info, warn, Logger};

pub use registration::{signer_config_for_cycle, ConfigurationError};

use crate::client::{ClientError, RewardCycleInfo};
use crate::config::GlobalConfig;
use crate::monitoring::status::{BurnBlockStatus, CycleStatus, StatusBoard};
use crate::signer::{lock_db, RunLoopState, SignerContext, SignerResult, SignerTrait, StateInfo};
use crate::signerdb::PruneHorizon;

/// How many reward cycles before the current one the database keeps.
pub const KEPT_PAST_REWARD_CYCLES: u64 = 2;

/// The run loop's entry for one reward cycle.
#[derive(Debug)]
pub enum ConfiguredSigner<S> {
    /// This signer takes part in the cycle: its instance.
    RegisteredSigner(S),
    /// This signer is known not to take part in the cycle.
    NotRegistered {
        /// The reward cycle.
        reward_cycle: u64,
    },
}

impl<S> ConfiguredSigner<S> {
    /// The reward cycle of the entry.
    pub fn reward_cycle<T: SignerEventTrait>(&self) -> u64
    where
        S: SignerTrait<T>,
    {
        match self {
            ConfiguredSigner::RegisteredSigner(signer) => signer.reward_cycle(),
            ConfiguredSigner::NotRegistered { reward_cycle } => *reward_cycle,
        }
    }
}

impl<S: fmt::Display> fmt::Display for ConfiguredSigner<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfiguredSigner::RegisteredSigner(signer) => write!(f, "{signer}"),
            ConfiguredSigner::NotRegistered { reward_cycle } => {
                write!(f, "NotRegistered in Cycle #{reward_cycle}")
            }
        }
    }
}

/// The run loop. See the [module documentation](self).
pub struct RunLoop<S: SignerTrait<T>, T: SignerEventTrait> {
    config: GlobalConfig,
    context: SignerContext,
    signers: BTreeMap<u64, ConfiguredSigner<S>>,
    state: RunLoopState,
    reward_cycle_info: Option<RewardCycleInfo>,
    shared: S::Shared,
    logger: Logger,
    status: StatusBoard,
    _events: PhantomData<T>,
}

impl<S: SignerTrait<T>, T: SignerEventTrait> fmt::Debug for RunLoop<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunLoop")
            .field("state", &self.state)
            .field("reward_cycle_info", &self.reward_cycle_info)
            .field("signers", &self.signers)
            .finish_non_exhaustive()
    }
}

impl<S: SignerTrait<T>, T: SignerEventTrait> RunLoop<S, T> {
    /// A run loop for `config`, creating its instances with `context`.
    pub fn new(config: GlobalConfig, context: SignerContext) -> Self {
        let logger = context.logger.clone();
        Self {
            config,
            context,
            signers: BTreeMap::new(),
            state: RunLoopState::Uninitialized,
            reward_cycle_info: None,
            shared: S::Shared::default(),
            logger,
            status: StatusBoard::new(),
            _events: PhantomData,
        }
    }

    /// Where the loop stands.
    pub fn state(&self) -> RunLoopState {
        self.state
    }

    /// The reward cycle the node is in, as last learned.
    pub fn reward_cycle_info(&self) -> Option<&RewardCycleInfo> {
        self.reward_cycle_info.as_ref()
    }

    /// Where the loop leaves its snapshot for `/status.json` after every pass.
    pub fn status_board(&self) -> StatusBoard {
        self.status.clone()
    }

    /// The entry of each configured reward cycle, keyed by parity.
    pub fn signers(&self) -> &BTreeMap<u64, ConfiguredSigner<S>> {
        &self.signers
    }

    fn is_configured_for(&self, reward_cycle: u64) -> bool {
        self.signers
            .get(&(reward_cycle % 2))
            .is_some_and(|entry| entry.reward_cycle::<T>() == reward_cycle)
    }

    fn is_registered_for(&self, reward_cycle: u64) -> bool {
        matches!(
            self.signers.get(&(reward_cycle % 2)),
            Some(ConfiguredSigner::RegisteredSigner(signer)) if signer.reward_cycle() == reward_cycle
        )
    }

    /// Determines whether this signer takes part in `reward_cycle` and stores the entry; an
    /// error leaves the entries as they were (the next burn block tries again).
    fn refresh_signer_config(&mut self, reward_cycle: u64) {
        let parity = reward_cycle % 2;
        let config = match signer_config_for_cycle(
            &self.config,
            &self.context.stacks_client,
            reward_cycle,
            &self.logger,
        ) {
            Ok(config) => config,
            Err(e) => {
                warn!(self.logger, "Failed to get the reward set info: {e}. Will try again later."; "reward_cycle" => reward_cycle);
                return;
            }
        };
        let Some(config) = config else {
            warn!(
                self.logger,
                "Signer is not registered for reward cycle {reward_cycle}"
            );
            self.signers
                .insert(parity, ConfiguredSigner::NotRegistered { reward_cycle });
            return;
        };
        let mode = config.signer_mode;
        self.status.note_signer_mode(reward_cycle, mode);
        match S::new(&self.context, config) {
            Ok(signer) => {
                info!(
                    self.logger,
                    "{signer} Signer is registered for reward cycle {reward_cycle} as {mode}. Initialized signer state."
                );
                self.signers
                    .insert(parity, ConfiguredSigner::RegisteredSigner(signer));
            }
            Err(e) => {
                error!(self.logger, "Failed to initialize the signer of reward cycle {reward_cycle}: {e}. Will try again later.");
            }
        }
    }

    fn recompute_state(&mut self) {
        self.state = if self.signers.is_empty() {
            RunLoopState::NoRegisteredSigners
        } else {
            RunLoopState::RegisteredSigners
        };
    }

    /// Learns the current reward cycle and configures it (and the next one, in its prepare
    /// phase).
    fn initialize(&mut self) -> Result<(), ClientError> {
        let info = self.context.stacks_client.get_current_reward_cycle_info()?;
        let current = info.reward_cycle;
        self.refresh_signer_config(current);
        if info.is_in_next_prepare_phase(info.last_burnchain_block_height) {
            self.refresh_signer_config(current.saturating_add(1));
        }
        self.reward_cycle_info = Some(info);
        self.recompute_state();
        Ok(())
    }

    /// Brings the reward-cycle view up to the burn block `event_burn_height` (or the node's tip
    /// if higher), configures what is missing, drops stale instances.
    fn refresh(&mut self, event_burn_height: u64) -> Result<(), ClientError> {
        let Some(mut info) = self.reward_cycle_info else {
            return self.initialize();
        };
        let node_height = self
            .context
            .stacks_client
            .get_peer_info()?
            .burn_block_height;
        let height = node_height.max(event_burn_height);
        let previous_cycle = info.reward_cycle;
        let block_cycle = info.get_reward_cycle(height);
        if block_cycle != info.reward_cycle {
            info.reward_cycle = block_cycle;
            info.last_burnchain_block_height = height;
            self.reward_cycle_info = Some(info);
        }
        let current = info.reward_cycle;
        let next = current.saturating_add(1);
        let in_prepare_phase = info.is_in_next_prepare_phase(height);
        info!(self.logger, "Refreshing runloop with new burn block event";
            "latest_node_burn_ht" => node_height,
            "event_ht" => event_burn_height,
            "reward_cycle_before_refresh" => previous_cycle,
            "current_reward_cycle" => current,
            "configured_for_current" => self.is_configured_for(current),
            "registered_for_current" => self.is_registered_for(current),
            "configured_for_next" => self.is_configured_for(next),
            "registered_for_next" => self.is_registered_for(next),
            "is_in_next_prepare_phase" => in_prepare_phase,
        );
        if !self.is_configured_for(current) {
            self.refresh_signer_config(current);
        }
        if in_prepare_phase && !self.is_configured_for(next) {
            self.refresh_signer_config(next);
        }
        self.cleanup_stale_signers(current);
        if block_cycle != previous_cycle {
            self.prune_database(&info);
        }
        self.recompute_state();
        Ok(())
    }

    /// Drops the entries of cycles before `current`: unregistered ones at once, signer
    /// instances once none of their blocks await a verdict.
    fn cleanup_stale_signers(&mut self, current: u64) {
        let logger = &self.logger;
        self.signers.retain(|_, entry| {
            if entry.reward_cycle::<T>() >= current {
                return true;
            }
            match entry {
                ConfiguredSigner::RegisteredSigner(signer) if signer.has_unprocessed_blocks() => {
                    debug!(logger, "{signer}: Signer still has unprocessed blocks; keeping it");
                    true
                }
                ConfiguredSigner::RegisteredSigner(signer) => {
                    info!(logger, "{signer}: Signer's tenure has completed."; "reward_cycle" => signer.reward_cycle());
                    false
                }
                ConfiguredSigner::NotRegistered { .. } => false,
            }
        });
    }

    /// Deletes what is older than [`KEPT_PAST_REWARD_CYCLES`] before the current cycle.
    fn prune_database(&self, info: &RewardCycleInfo) {
        let min_reward_cycle = info.reward_cycle.saturating_sub(KEPT_PAST_REWARD_CYCLES);
        let horizon = PruneHorizon {
            min_reward_cycle,
            min_burn_height: info.first_burn_height_of(min_reward_cycle),
        };
        let result = lock_db(&self.context.db)
            .map_err(|e| e.to_string())
            .and_then(|mut db| db.prune(horizon).map_err(|e| e.to_string()));
        match result {
            Ok(stats) => info!(self.logger, "Pruned the signer database";
                "min_reward_cycle" => horizon.min_reward_cycle,
                "min_burn_height" => horizon.min_burn_height,
                "blocks" => stats.blocks,
                "votes" => stats.votes,
                "burn_blocks" => stats.burn_blocks,
            ),
            Err(e) => warn!(self.logger, "Failed to prune the signer database: {e}"),
        }
    }

    /// Leaves this pass's snapshot on the status board (`/status.json`).
    fn publish_status(&self) {
        let mut cycles: Vec<CycleStatus> = self
            .signers
            .values()
            .map(|entry| {
                let (registered, state_machine) = match entry {
                    ConfiguredSigner::RegisteredSigner(signer) => {
                        (true, signer.get_local_state_machine().map(Into::into))
                    }
                    ConfiguredSigner::NotRegistered { .. } => (false, None),
                };
                CycleStatus {
                    reward_cycle: entry.reward_cycle::<T>(),
                    registered,
                    signer_id: None,
                    signer_slot_id: None,
                    dry_run: false,
                    state_machine,
                }
            })
            .collect();
        cycles.sort_by_key(|c| c.reward_cycle);
        self.status.publish(
            format!("{:?}", self.state),
            self.reward_cycle_info.map(|info| info.reward_cycle),
            cycles,
        );
    }

    /// The status report answered to a status check.
    pub fn state_info(&self) -> StateInfo {
        let mut by_cycle: Vec<(u64, &ConfiguredSigner<S>)> = self
            .signers
            .values()
            .map(|entry| (entry.reward_cycle::<T>(), entry))
            .collect();
        by_cycle.sort_by_key(|(cycle, _)| *cycle);
        let registered = || {
            by_cycle.iter().filter_map(|(cycle, entry)| match entry {
                ConfiguredSigner::RegisteredSigner(signer) => Some((*cycle, signer)),
                ConfiguredSigner::NotRegistered { .. } => None,
            })
        };
        let current = self.reward_cycle_info.map(|info| info.reward_cycle);
        StateInfo {
            runloop_state: self.state,
            reward_cycle_info: self.reward_cycle_info,
            running_signers: by_cycle.iter().map(|(cycle, _)| *cycle).collect(),
            registered_cycles: registered().map(|(cycle, _)| cycle).collect(),
            signer_state_machines: registered()
                .map(|(cycle, signer)| (cycle % 2, signer.get_local_state_machine()))
                .collect(),
            pending_proposals_count: registered()
                .find(|(cycle, _)| Some(*cycle) == current)
                .map(|(_, signer)| signer.get_pending_proposals_count())
                .unwrap_or(0),
            signer_canonical_tips: registered()
                .map(|(cycle, signer)| (cycle % 2, signer.get_canonical_tip()))
                .collect(),
        }
    }
}

impl<S: SignerTrait<T>, T: SignerEventTrait> SignerRunLoop<SignerResult, T> for RunLoop<S, T>
where
    SignerResult: Send,
{
    fn set_event_timeout(&mut self, timeout: Duration) {
        self.config.event_timeout = timeout;
    }

    fn get_event_timeout(&self) -> Duration {
        self.config.event_timeout
    }

    fn run_one_pass(
        &mut self,
        event: Option<SignerEvent<T>>,
        results: &Sender<SignerResult>,
    ) -> Option<SignerResult> {
        match &event {
            Some(SignerEvent::StatusCheck) | None => {}
            Some(other) => {
                crate::monitoring::actions::record_node_event();
                if let SignerEvent::NewBurnBlock {
                    burn_height,
                    burn_header_hash,
                    consensus_hash,
                    received_time,
                    ..
                } = other
                {
                    self.status.note_burn_block(BurnBlockStatus {
                        burn_block_height: *burn_height,
                        consensus_hash: consensus_hash.to_hex(),
                        burn_header_hash: burn_header_hash.to_hex(),
                        received_at: received_time
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs())
                            .unwrap_or(0),
                    });
                }
                if let SignerEvent::NewBlock { block_height, .. } = other {
                    crate::monitoring::actions::observe_stacks_block_height(*block_height);
                }
            }
        }
        if let Some(SignerEvent::StatusCheck) = event {
            let info = self.state_info();
            info!(self.logger, "Signer status check requested: {info:?}");
            if results.send(info.into()).is_err() {
                warn!(
                    self.logger,
                    "Failed to send the status check result: the result channel is closed"
                );
            }
        }
        if self.state == RunLoopState::Uninitialized {
            if let Err(e) = self.initialize() {
                error!(self.logger, "Failed to initialize signer runloop: {e}.");
                if let Some(event) = &event {
                    warn!(self.logger, "Ignoring event: {event:?}");
                }
                self.publish_status();
                return None;
            }
        } else if let Some(SignerEvent::NewBurnBlock { burn_height, .. }) = &event {
            if let Err(e) = self.refresh(*burn_height) {
                if self.context.stacks_client.node_is_failing() {
                    // The node's fault was reported once already.
                    debug!(self.logger, "Failed to refresh signer runloop: {e}. Signer may have an outdated view of the network.");
                } else {
                    error!(self.logger, "Failed to refresh signer runloop: {e}.");
                    warn!(
                        self.logger,
                        "Signer may have an outdated view of the network."
                    );
                }
            }
        }
        let current = self
            .reward_cycle_info
            .map(|info| info.reward_cycle)
            .unwrap_or_default();
        let mut order: Vec<u64> = self.signers.keys().copied().collect();
        order.sort_by_key(|parity| self.signers.get(parity).map(|e| e.reward_cycle::<T>()));
        for parity in order {
            match self.signers.get_mut(&parity) {
                Some(ConfiguredSigner::RegisteredSigner(signer)) => signer.process_event(
                    &self.context,
                    &mut self.shared,
                    event.as_ref(),
                    results,
                    current,
                ),
                Some(ConfiguredSigner::NotRegistered { reward_cycle }) => {
                    debug!(
                        self.logger,
                        "Not configured for cycle {reward_cycle}, ignoring events for cycle"
                    );
                }
                None => {}
            }
        }
        if self.state == RunLoopState::NoRegisteredSigners && event.is_some() {
            info!(self.logger, "Signer is not registered for the current reward cycle ({current}). Reward set is not yet determined or signer is not registered for the upcoming reward cycle ({}).", current.saturating_add(1));
        }
        self.publish_status();
        None
    }
}

#[cfg(test)]
mod tests {
    use super::ConfiguredSigner;

    #[test]
    fn an_unregistered_cycle_displays_as_the_reference() {
        let entry: ConfiguredSigner<String> = ConfiguredSigner::NotRegistered { reward_cycle: 7 };
        assert_eq!(entry.to_string(), "NotRegistered in Cycle #7");
        let entry = ConfiguredSigner::RegisteredSigner("Cycle #7 signer #2".to_string());
        assert_eq!(entry.to_string(), "Cycle #7 signer #2");
    }
}
