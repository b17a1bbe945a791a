//! `SignerMonitor`: watches the signers' block-response StackerDB (`signers-{rc%2}-1`) and
//! reports signers whose slot is empty (missing), has not changed for longer than the maximum
//! age (stale), or holds a message of the wrong kind for the node's epoch (unexpected). This is
//! what `stacks-signer monitor-signers` runs.
//!
//! Each [`SignerMonitor::poll_once`] refreshes the reward-cycle view (the cycle's slot owners,
//! keys and weights, rebuilt whenever the cycle changes), reads the latest chunk of every slot,
//! classifies it, logs the reference's lines and returns a [`MonitorReport`].
//! [`SignerMonitor::start`] logs the reference's start lines and polls at the configured
//! interval until an error; [`SignerMonitor::run_until`] restarts it after each error, one
//! second later, keeping the monitor's state.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use libsigner::chain::{
    QualifiedContractIdentifier, StacksAddress, StacksPrivateKey, StacksPublicKey,
};
use libsigner::codec::StacksMessageCodec;
use libsigner::v0::messages::{MessageSlotID, SignerMessage};
use libsigner::{SignerSession, StackerDBSession};
use slog::{error, info, warn, Logger};

use crate::cli::MonitorSignersArgs;
use crate::client::api::StacksEpochId;
use crate::client::{ClientError, SignerSlotID, StacksClient};

/// The auth password given to the node client: the monitor only reads public endpoints.
const UNUSED_AUTH_PASSWORD: &str = "FOO";

/// How long the main loop waits before restarting after an error.
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// Why the monitor could not start or a poll failed.
#[derive(thiserror::Error)]
pub enum MonitorError {
    /// `--host` is not an `ip:port` (or `name[:port]`) the monitor can build a URL from.
    #[error("Failed to parse node host {host:?}: {reason}")]
    InvalidHost {
        /// The host as given.
        host: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The node did not answer `/v2/info` when the monitor started.
    #[error("Failed to connect to provided host {host}: {source}")]
    Connect {
        /// The host as given.
        host: String,
        /// The node client's error.
        source: ClientError,
    },
    /// A node or StackerDB request failed, or the node's epoch is before 2.5.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// The node has no reward set for the current cycle.
    #[error("No signers found for the current reward cycle {0}")]
    NoRewardSet(u64),
    /// A reward-set entry's signing key is not a valid public key.
    #[error("Invalid signing key {key} in the reward set of cycle {reward_cycle}")]
    InvalidSigningKey {
        /// The cycle.
        reward_cycle: u64,
        /// The key's hex.
        key: String,
    },
}

impl fmt::Debug for MonitorError {
    /// The node client's errors print as the reference's `ClientError` does (its main loop
    /// logs them with `{:?}`); the others as a derived `Debug` would.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MonitorError::Client(e) => fmt::Debug::fmt(e, f),
            MonitorError::InvalidHost { host, reason } => f
                .debug_struct("InvalidHost")
                .field("host", host)
                .field("reason", reason)
                .finish(),
            MonitorError::Connect { host, source } => f
                .debug_struct("Connect")
                .field("host", host)
                .field("source", source)
                .finish(),
            MonitorError::NoRewardSet(rc) => f.debug_tuple("NoRewardSet").field(rc).finish(),
            MonitorError::InvalidSigningKey { reward_cycle, key } => f
                .debug_struct("InvalidSigningKey")
                .field("reward_cycle", reward_cycle)
                .field("key", key)
                .finish(),
        }
    }
}

impl From<libsigner::RPCError> for MonitorError {
    fn from(e: libsigner::RPCError) -> Self {
        MonitorError::Client(ClientError::from(e))
    }
}

/// One signer slot as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerSlotInfo {
    /// The slot in `signers-{rc%2}-1`.
    pub slot_id: SignerSlotID,
    /// The slot's owner (from the `.signers` slot page).
    pub address: StacksAddress,
    /// The owner's signing key, `0x`-prefixed hex as logged; `None` if the address is not in
    /// the cycle's reward set.
    pub public_key: Option<String>,
    /// The owner's weight in the reward set (0 if the address is not in it).
    pub weight: u32,
}

/// A slot holding a message of the wrong kind for the node's epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct UnexpectedMessage {
    /// The slot and its owner.
    pub signer: SignerSlotInfo,
    /// The message found.
    pub message: SignerMessage,
}

/// The outcome of one poll.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorReport {
    /// The reward cycle polled.
    pub reward_cycle: u64,
    /// The StackerDB read, `signers-{rc%2}-1`.
    pub contract: QualifiedContractIdentifier,
    /// How many signers the cycle's reward set has.
    pub registered_signers: usize,
    /// How many slots were read.
    pub slots: usize,
    /// Slots with no decodable message, in slot order.
    pub missing: Vec<SignerSlotInfo>,
    /// Slots whose last expected message is older than the maximum age, in slot order.
    pub stale: Vec<SignerSlotInfo>,
    /// Slots holding a message of the wrong kind, in slot order.
    pub unexpected: Vec<UnexpectedMessage>,
    /// The summed weight of the missing signers.
    pub missing_weight: u64,
    /// The summed weight of the reward set.
    pub total_weight: u64,
}

impl MonitorReport {
    /// Whether nothing is missing, stale or unexpected.
    pub fn all_ok(&self) -> bool {
        self.missing.is_empty() && self.stale.is_empty() && self.unexpected.is_empty()
    }

    /// The missing signers' share of the total weight, in percent (0 when the total is 0).
    pub fn missing_weight_percentage(&self) -> f64 {
        if self.total_weight == 0 {
            0.0
        } else {
            self.missing_weight as f64 / self.total_weight as f64 * 100.0
        }
    }
}

/// Whether `message` is what a signer writes to its block-response slot in `epoch`: a
/// `MockSignature` in epoch 2.5, a `BlockResponse` after it. Before 2.5 the reference's
/// `UnsupportedStacksFeature` error.
pub fn is_expected_message(
    epoch: StacksEpochId,
    message: &SignerMessage,
) -> Result<bool, ClientError> {
    if epoch < StacksEpochId::Epoch25 {
        return Err(ClientError::UnsupportedStacksFeature(format!(
            "Monitoring signers is only supported for Epoch 2.5 and later. Current epoch: {epoch:?}"
        )));
    }
    Ok(if epoch == StacksEpochId::Epoch25 {
        matches!(message, SignerMessage::MockSignature(_))
    } else {
        matches!(message, SignerMessage::BlockResponse(_))
    })
}

/// Checks that `http://{host}` is a URL whose authority is exactly `host` (so `host` is a
/// bare `ip:port` or `name[:port]`, not a URL or a path).
pub fn validate_host(host: &str) -> Result<(), MonitorError> {
    let invalid = |reason: String| MonitorError::InvalidHost {
        host: host.to_string(),
        reason,
    };
    let uri: ureq::http::Uri = format!("http://{host}")
        .parse()
        .map_err(|e: ureq::http::uri::InvalidUri| invalid(e.to_string()))?;
    let Some(authority) = uri.authority() else {
        return Err(invalid("no host".into()));
    };
    if authority.as_str() != host || authority.host().is_empty() {
        return Err(invalid(
            "expected a bare host and port, e.g. 127.0.0.1:20443".into(),
        ));
    }
    if authority.as_str().contains('@') {
        return Err(invalid("user information is not allowed".into()));
    }
    let port = authority
        .as_str()
        .strip_prefix(authority.host())
        .unwrap_or_default();
    if !port.is_empty()
        && port
            .strip_prefix(':')
            .and_then(|p| p.parse::<u16>().ok())
            .is_none()
    {
        return Err(invalid("invalid port".into()));
    }
    Ok(())
}

/// The view of the current reward cycle: who owns which slot, their keys and weights.
#[derive(Debug, Clone, Default)]
struct RewardCycleState {
    /// Unknown until the first successful refresh.
    reward_cycle: Option<u64>,
    /// Slot owners by slot id (sorted).
    addresses: BTreeMap<SignerSlotID, StacksAddress>,
    /// Reward-set keys by address.
    keys: HashMap<StacksAddress, StacksPublicKey>,
    /// Reward-set weights by address.
    weights: HashMap<StacksAddress, u32>,
    /// The slots read, ascending.
    slot_ids: Vec<u32>,
}

/// Watches the signers' block-response StackerDB slots (see the [module documentation](self)).
pub struct SignerMonitor {
    client: StacksClient,
    args: MonitorSignersArgs,
    logger: Logger,
    state: RewardCycleState,
    session: Option<StackerDBSession>,
    last_messages: HashMap<SignerSlotID, SignerMessage>,
    last_updates: HashMap<SignerSlotID, Instant>,
}

impl SignerMonitor {
    /// Validates `args.host` and learns the node's network from its `/v2/info` (retried for
    /// a few seconds). Logs to `logger`.
    pub fn new(args: MonitorSignersArgs, logger: Logger) -> Result<Self, MonitorError> {
        validate_host(&args.host)?;
        let client = StacksClient::try_from_host(
            &StacksPrivateKey::random(),
            &args.host,
            UNUSED_AUTH_PASSWORD.to_string(),
        )
        .map_err(|source| MonitorError::Connect {
            host: args.host.clone(),
            source,
        })?
        .with_logger(logger.clone());
        Ok(Self {
            client,
            args,
            logger,
            state: RewardCycleState::default(),
            session: None,
            last_messages: HashMap::new(),
            last_updates: HashMap::new(),
        })
    }

    /// The reward cycle of the current view, once known.
    pub fn reward_cycle(&self) -> Option<u64> {
        self.state.reward_cycle
    }

    /// The slots read on each poll, ascending (rebuilt when the reward cycle changes).
    pub fn slot_ids(&self) -> &[u32] {
        &self.state.slot_ids
    }

    /// The StackerDB read for the current cycle, `signers-{rc%2}-1`, once the cycle is known.
    pub fn contract(&self) -> Option<QualifiedContractIdentifier> {
        self.state.reward_cycle.map(|rc| self.contract_for(rc))
    }

    fn contract_for(&self, reward_cycle: u64) -> QualifiedContractIdentifier {
        MessageSlotID::BlockResponse.stacker_db_contract(self.client.mainnet, reward_cycle)
    }

    /// Re-reads the reward cycle; when it changed, rebuilds the view from the node (all of it
    /// fetched before anything is replaced, so a failure leaves the old view and is retried
    /// on the next refresh), drops the per-slot history and the session. Whether it changed.
    fn refresh_state(&mut self) -> Result<bool, MonitorError> {
        let reward_cycle = self.client.get_current_reward_cycle_info()?.reward_cycle;
        if Some(reward_cycle) == self.state.reward_cycle {
            return Ok(false);
        }
        let slots = self.client.get_parsed_signer_slots(reward_cycle)?;
        let entries = self
            .client
            .get_reward_set_signers(reward_cycle)?
            .ok_or(MonitorError::NoRewardSet(reward_cycle))?;
        let mut state = RewardCycleState {
            reward_cycle: Some(reward_cycle),
            ..RewardCycleState::default()
        };
        for entry in entries {
            let key = StacksPublicKey::from_slice(&entry.signing_key).map_err(|_| {
                MonitorError::InvalidSigningKey {
                    reward_cycle,
                    key: libsigner::chain::hex::to_hex(&entry.signing_key),
                }
            })?;
            let address = StacksAddress::p2pkh(self.client.mainnet, &key);
            state.keys.insert(address, key);
            state.weights.insert(address, entry.weight);
        }
        for (address, slot_id) in slots {
            if !state.weights.contains_key(&address) {
                warn!(
                    self.logger,
                    "Signer slot {slot_id} belongs to {address}, which is not in the reward set of cycle {reward_cycle}; counting its weight as 0"
                );
            }
            state.addresses.insert(slot_id, address);
        }
        state.slot_ids = state.addresses.keys().map(|slot| slot.0).collect();
        self.state = state;
        self.last_messages.clear();
        self.last_updates.clear();
        self.session = None;
        Ok(true)
    }

    /// A session with the current cycle's contract, checked reachable.
    fn open_session(&mut self, reward_cycle: u64) -> Result<(), MonitorError> {
        let contract = self.contract_for(reward_cycle);
        let mut session = StackerDBSession::new(
            &self.args.host,
            contract.clone(),
            Duration::from_secs(self.args.stackerdb_timeout_secs),
        );
        session.connect(self.args.host.clone(), contract)?;
        self.session = Some(session);
        Ok(())
    }

    fn known_cycle(&self) -> Result<u64, MonitorError> {
        // Set by every successful refresh; a refresh always precedes this.
        self.state.reward_cycle.ok_or_else(|| {
            MonitorError::Client(ClientError::InvalidResponse(
                "the reward cycle is not known yet".into(),
            ))
        })
    }

    fn slot_info(&self, slot_id: SignerSlotID, address: StacksAddress) -> SignerSlotInfo {
        SignerSlotInfo {
            slot_id,
            address,
            public_key: self
                .state
                .keys
                .get(&address)
                .map(|key| format!("0x{}", key.to_hex())),
            weight: self.state.weights.get(&address).copied().unwrap_or(0),
        }
    }

    /// One poll: refresh the cycle view, read every slot's latest chunk, classify, log the
    /// reference's lines and return what was found.
    pub fn poll_once(&mut self) -> Result<MonitorReport, MonitorError> {
        info!(self.logger, "Polling signers stackerdb for new messages...");
        let previous_cycle = self.state.reward_cycle;
        let changed = self.refresh_state()?;
        let reward_cycle = self.known_cycle()?;
        let contract = self.contract_for(reward_cycle);
        if changed && previous_cycle.is_some() {
            info!(
                self.logger,
                "Reward cycle has changed to {reward_cycle}. Updating stacker db session to StackerDB contract {contract}."
            );
        }
        if self.session.is_none() {
            self.open_session(reward_cycle)?;
        }
        let Some(session) = self.session.as_mut() else {
            return Err(MonitorError::Client(ClientError::NotConnected));
        };
        let chunks = session.get_latest_chunks(&self.state.slot_ids)?;

        let mut missing = Vec::new();
        let mut unexpected = Vec::new();
        let mut epoch = None;
        let slots: Vec<(SignerSlotID, StacksAddress)> =
            self.state.addresses.iter().map(|(s, a)| (*s, *a)).collect();
        for ((slot_id, address), chunk) in slots.into_iter().zip(chunks) {
            let message = chunk
                .and_then(|data| SignerMessage::consensus_deserialize(&mut data.as_slice()).ok());
            let Some(message) = message else {
                missing.push(self.slot_info(slot_id, address));
                continue;
            };
            if self.last_messages.get(&slot_id) == Some(&message) {
                continue;
            }
            let epoch = match epoch {
                Some(epoch) => epoch,
                None => *epoch.insert(self.client.get_node_epoch()?),
            };
            if is_expected_message(epoch, &message)? {
                self.last_messages.insert(slot_id, message);
                self.last_updates.insert(slot_id, Instant::now());
            } else {
                unexpected.push(UnexpectedMessage {
                    signer: self.slot_info(slot_id, address),
                    message,
                });
            }
        }
        let stale = self
            .state
            .addresses
            .iter()
            .filter(|(slot_id, _)| {
                self.last_updates
                    .get(slot_id)
                    .is_some_and(|at| at.elapsed().as_secs() > self.args.max_age)
            })
            .map(|(slot_id, address)| self.slot_info(*slot_id, *address))
            .collect();
        let report = MonitorReport {
            reward_cycle,
            contract,
            registered_signers: self.state.keys.len(),
            slots: self.state.slot_ids.len(),
            missing_weight: missing.iter().map(|s| u64::from(s.weight)).sum(),
            total_weight: self.state.weights.values().map(|w| u64::from(*w)).sum(),
            missing,
            stale,
            unexpected,
        };
        self.log_report(&report);
        Ok(report)
    }

    fn log_report(&self, report: &MonitorReport) {
        if report.all_ok() {
            info!(
                self.logger,
                "All {} signers are sending messages as expected.", report.registered_signers
            );
            return;
        }
        let addresses = |list: &[SignerSlotInfo]| join(list.iter().map(|s| s.address.to_string()));
        let keys = |list: &[SignerSlotInfo]| join(list.iter().filter_map(|s| s.public_key.clone()));
        if !report.missing.is_empty() {
            warn!(
                self.logger,
                "Missing messages for {} of {} signer(s). Missing {:.2}% of signing weight  ({}/{})",
                report.missing.len(),
                report.slots,
                report.missing_weight_percentage(),
                report.missing_weight,
                report.total_weight;
                "signer_addresses" => addresses(&report.missing),
                "signer_keys" => keys(&report.missing)
            );
        }
        if !report.stale.is_empty() {
            warn!(
                self.logger,
                "No new updates from {} of {} signer(s) in over {} seconds",
                report.stale.len(),
                report.slots,
                self.args.max_age;
                "signer_addresses" => addresses(&report.stale),
                "signer_keys" => keys(&report.stale)
            );
        }
        if !report.unexpected.is_empty() {
            let signers: Vec<SignerSlotInfo> =
                report.unexpected.iter().map(|u| u.signer.clone()).collect();
            let described = join(report.unexpected.iter().map(|u| {
                format!(
                    "(address: {}, slot_id: {}, message: {:?})",
                    u.signer.address, u.signer.slot_id, u.message
                )
            }));
            warn!(
                self.logger,
                "Unexpected messages from {} of {} signer(s).",
                report.unexpected.len(),
                report.slots;
                "signer_addresses" => described,
                "signer_keys" => keys(&signers)
            );
        }
    }

    /// Logs the reference's start lines and polls every `interval` seconds until a poll fails
    /// or `should_stop` answers true (then `Ok`).
    pub fn start_until(&mut self, should_stop: &dyn Fn() -> bool) -> Result<(), MonitorError> {
        self.refresh_state()?;
        let reward_cycle = self.known_cycle()?;
        let contract = self.contract_for(reward_cycle);
        info!(
            self.logger,
            "Monitoring signers stackerdb. Polling interval: {} secs, Max message age: {} secs, Reward cycle: {reward_cycle}, StackerDB contract: {contract}",
            self.args.interval,
            self.args.max_age
        );
        self.open_session(reward_cycle)?;
        info!(
            self.logger,
            "Confirming messages for {} registered signers",
            self.state.keys.len();
            "signer_addresses" => join(self.state.addresses.values().map(|a| a.to_string()))
        );
        while !should_stop() {
            self.poll_once()?;
            sleep_unless_stopped(Duration::from_secs(self.args.interval), should_stop);
        }
        Ok(())
    }

    /// [`Self::start_until`] forever.
    pub fn start(&mut self) -> Result<(), MonitorError> {
        self.start_until(&|| false)
    }

    /// The main loop: [`Self::start_until`], and after each error the reference's log line,
    /// a one-second pause and a restart (the monitor's state is kept). Returns once
    /// `should_stop` answers true.
    pub fn run_until(&mut self, should_stop: &dyn Fn() -> bool) {
        while !should_stop() {
            if let Err(e) = self.start_until(should_stop) {
                error!(
                    self.logger,
                    "Error occurred monitoring signers: {e:?}. Waiting and trying again."
                );
                sleep_unless_stopped(RESTART_DELAY, should_stop);
            }
        }
    }

    /// The main loop, forever.
    pub fn run(&mut self) -> ! {
        loop {
            self.run_until(&|| false);
        }
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// Sleeps `duration`, waking every 100 ms to check `should_stop`.
fn sleep_unless_stopped(duration: Duration, should_stop: &dyn Fn() -> bool) {
    let deadline = Instant::now() + duration;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || should_stop() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

#[cfg(test)]
mod tests {
    use libsigner::chain::Sha512Trunc256Sum;

    use super::*;

    #[test]
    fn hosts_must_be_bare_host_and_port() {
        for good in [
            "127.0.0.1:20443",
            "localhost",
            "node.example:80",
            "[::1]:20443",
        ] {
            assert!(validate_host(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "not a host",
            "http://127.0.0.1:20443",
            "127.0.0.1:20443/v2",
            "127.0.0.1:99999",
            "127.0.0.1:port",
            "user@127.0.0.1:1",
        ] {
            assert!(validate_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn epochs_before_2_5_are_unsupported() {
        let message = SignerMessage::BlockPreCommit(Sha512Trunc256Sum([0; 32]));
        let e = is_expected_message(StacksEpochId::Epoch24, &message).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Stacks node does not support a required feature: Monitoring signers is only supported for Epoch 2.5 and later. Current epoch: Epoch24"
        );
    }

    #[test]
    fn only_block_responses_are_expected_after_epoch_2_5() {
        let message = SignerMessage::BlockPreCommit(Sha512Trunc256Sum([0; 32]));
        for epoch in [
            StacksEpochId::Epoch25,
            StacksEpochId::Epoch30,
            StacksEpochId::Epoch33,
        ] {
            assert!(!is_expected_message(epoch, &message).unwrap());
        }
    }

    fn mock_signature() -> SignerMessage {
        use libsigner::chain::{BlockHeaderHash, ConsensusHash};
        use libsigner::v0::messages::{MockProposal, MockSignature, PeerInfo};
        let key = StacksPrivateKey::from_seed(b"monitor unit test");
        let peer_info = PeerInfo {
            burn_block_height: 1,
            stacks_tip_consensus_hash: ConsensusHash([1; 20]),
            stacks_tip: BlockHeaderHash([2; 32]),
            stacks_tip_height: 3,
            pox_consensus: ConsensusHash([4; 20]),
            server_version: "test".into(),
            network_id: 0x8000_0000,
        };
        SignerMessage::MockSignature(MockSignature::new(MockProposal::new(peer_info, &key), &key))
    }

    fn block_response() -> SignerMessage {
        use libsigner::chain::MessageSignature;
        use libsigner::v0::messages::BlockResponse;
        SignerMessage::BlockResponse(BlockResponse::accepted(
            Sha512Trunc256Sum([1; 32]),
            MessageSignature([1; 65]),
            1,
            2,
        ))
    }

    #[test]
    fn epoch_2_5_expects_mock_signatures_and_later_epochs_block_responses() {
        assert!(is_expected_message(StacksEpochId::Epoch25, &mock_signature()).unwrap());
        assert!(!is_expected_message(StacksEpochId::Epoch25, &block_response()).unwrap());
        for epoch in [StacksEpochId::Epoch30, StacksEpochId::Epoch33] {
            assert!(is_expected_message(epoch, &block_response()).unwrap());
            assert!(!is_expected_message(epoch, &mock_signature()).unwrap());
        }
    }

    #[test]
    fn the_weight_percentage_is_zero_without_weight() {
        let report = MonitorReport {
            reward_cycle: 1,
            contract: MessageSlotID::BlockResponse.stacker_db_contract(false, 1),
            registered_signers: 0,
            slots: 0,
            missing: vec![],
            stale: vec![],
            unexpected: vec![],
            missing_weight: 0,
            total_weight: 0,
        };
        assert_eq!(report.missing_weight_percentage(), 0.0);
        assert!(report.all_ok());
    }
}
