//! How a mock node is set up: network, PoX schedule, signers (simulated or external),
//! miners, observers, and the knobs of its simulated validator.

use std::collections::BTreeMap;

use libsigner::chain::{StacksPrivateKey, StacksPublicKey, CHAIN_ID_MAINNET, CHAIN_ID_TESTNET};

use super::pox::PoxConstants;

/// The node version the mock reports (`/v2/info`, proposals' `server_version`).
pub const MOCK_SERVER_VERSION: &str =
    "stacks-node 3.3.0.0.4 (mock:0000000+, release build, linux [x86_64])";

/// One signer of a reward set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerSpec {
    /// The signing key (its hash160 owns the signer's StackerDB slots).
    pub public_key: StacksPublicKey,
    /// Voting weight in the reward set.
    pub weight: u32,
    /// When set, the node holds this signer's key: it signs for it itself (a simulated
    /// signer), or, with `puppet`, writes only what a test tells it to.
    pub private_key: Option<StacksPrivateKey>,
    /// A puppet: the node holds the key (`private_key`) but the signer never votes or
    /// publishes state-machine updates by itself; tests make it write with the
    /// `RunningMockNode::puppet_*` calls.
    pub puppet: bool,
}

impl SignerSpec {
    /// A signer that runs outside the node and holds its own key.
    pub fn external(public_key: StacksPublicKey, weight: u32) -> Self {
        SignerSpec {
            public_key,
            weight,
            private_key: None,
            puppet: false,
        }
    }

    /// A signer the node simulates with `private_key`.
    pub fn simulated(private_key: StacksPrivateKey, weight: u32) -> Self {
        SignerSpec {
            public_key: StacksPublicKey::from_private(&private_key),
            weight,
            private_key: Some(private_key),
            puppet: false,
        }
    }

    /// A puppet signer: the node holds `private_key`, so a test can make it write correctly
    /// signed chunks to its slots (`RunningMockNode::puppet_pre_commit`, `puppet_accept`,
    /// `puppet_reject`, `puppet_state_update`, ...), but it never votes or publishes
    /// updates by itself (unless `RunningMockNode::set_puppet_autopilot` is on).
    pub fn puppet(private_key: StacksPrivateKey, weight: u32) -> Self {
        SignerSpec {
            puppet: true,
            ..SignerSpec::simulated(private_key, weight)
        }
    }

    /// `count` simulated signers with keys derived from `seed` (weight 1 each).
    pub fn generated(count: usize, seed: u64) -> Vec<SignerSpec> {
        (0..count)
            .map(|i| {
                let key =
                    StacksPrivateKey::from_seed(format!("mock-node signer {seed} {i}").as_bytes());
                SignerSpec::simulated(key, 1)
            })
            .collect()
    }
}

/// An event observer, as in the node's `[[events_observer]]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObserverSpec {
    /// `host:port` (no scheme, no path).
    pub endpoint: String,
    /// Event keys (`stackerdb`, `block_proposal`, `burn_blocks`, `*`, ...).
    pub keys: Vec<String>,
    /// Connect/read/write timeout per delivery attempt.
    pub timeout_ms: u64,
    /// One attempt per event instead of retrying until acknowledged.
    pub disable_retries: bool,
}

impl ObserverSpec {
    /// An observer with the keys a signer registers (`stackerdb`, `block_proposal`,
    /// `burn_blocks`) and the node's default timeout.
    pub fn signer(endpoint: impl Into<String>) -> Self {
        ObserverSpec {
            endpoint: endpoint.into(),
            keys: vec![
                "stackerdb".into(),
                "block_proposal".into(),
                "burn_blocks".into(),
            ],
            timeout_ms: 1000,
            disable_retries: false,
        }
    }
}

/// Everything a mock node needs to start.
#[derive(Debug, Clone)]
pub struct MockNodeConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub bind: String,
    /// Mainnet addresses and transaction versions instead of testnet.
    pub mainnet: bool,
    /// The chain id (also reported as `/v2/info`'s `network_id`).
    pub chain_id: u32,
    /// The PoX schedule.
    pub pox: PoxConstants,
    /// Burn height of the chain tip after genesis seeding (at least `first_burn_height + 1`).
    pub start_burn_height: u64,
    /// The RPC auth token (`connection_options.auth_token`); `None` refuses proposals (400).
    pub auth_token: Option<String>,
    /// Event observers.
    pub observers: Vec<ObserverSpec>,
    /// The reward set of every cycle without an entry in `cycle_signers`.
    pub signers: Vec<SignerSpec>,
    /// Reward sets of particular cycles.
    pub cycle_signers: BTreeMap<u64, Vec<SignerSpec>>,
    /// The simulated miners' keys (sortition winners are chosen among them).
    pub miners: Vec<StacksPrivateKey>,
    /// Seed of every invented hash.
    pub seed: u64,
    /// The version string the node reports.
    pub server_version: String,
    /// `pox_ustx_threshold` of the reward sets; `stacked_amt = weight * threshold`.
    pub pox_ustx_threshold: u128,
    /// How long the simulated validator takes before answering.
    pub validation_delay_ms: u64,
    /// Proposals whose timestamp is older than this are refused with 422.
    pub block_proposal_max_age_secs: u64,
    /// How many requests the HTTP server answers at once (every connection has its own
    /// thread; requests beyond this wait their turn, as on a node with a fixed pool).
    pub http_threads: usize,
    /// How far behind the wall clock block and burn timestamps may run. Each new block is
    /// stamped `max(parent + 1, now - lag)`, so bursts of blocks mined faster than one per
    /// second keep strictly increasing timestamps; the lag is their budget: once it is used
    /// up, the miner waits for the clock rather than stamp a block in the future
    /// ([`crate::devnet::RunningMockNode::propose_block`]). A lag well under
    /// `block_proposal_max_age_secs` keeps proposals fresh for signers.
    pub timestamp_lag_secs: u64,
    /// A fixed clock instead of the wall clock: the node's "now" is this instant (seconds
    /// since the Unix epoch), or one second after the newest burn or canonical Stacks block
    /// if that is later. Every timestamp, and so every block hash, signature and chunk, then
    /// repeats from run to run (records compare equal apart from `at_ms`), and the miner
    /// never waits for the clock (full speed however long the run). Signers outside the node
    /// judge proposals by their own wall clock: with them, give the present (older than
    /// their `block_proposal_max_age_secs`, proposals are ignored), and expect the validator
    /// to accept timestamps a real node would find too far in the future (see
    /// docs/mock-node.md, "Clock and block rate").
    pub fixed_clock_secs: Option<u64>,
    /// Serve the RPC port through a relay the node can close, so that
    /// [`crate::devnet::RunningMockNode::set_rpc_refusing`] makes clients see "connection
    /// refused" (default off: the HTTP server listens on `bind` itself).
    pub refusable_rpc: bool,
}

impl Default for MockNodeConfig {
    fn default() -> Self {
        let pox = PoxConstants::default();
        MockNodeConfig {
            bind: "127.0.0.1:0".into(),
            mainnet: false,
            chain_id: CHAIN_ID_TESTNET,
            pox,
            // Inside cycle 12's reward phase, like the spec's examples.
            start_burn_height: 344,
            auth_token: Some("12345".into()),
            observers: Vec::new(),
            signers: Vec::new(),
            cycle_signers: BTreeMap::new(),
            miners: (0..2)
                .map(|i| StacksPrivateKey::from_seed(format!("mock-node miner {i}").as_bytes()))
                .collect(),
            seed: 0,
            server_version: MOCK_SERVER_VERSION.into(),
            pox_ustx_threshold: 1_875_190_000_000,
            validation_delay_ms: 0,
            block_proposal_max_age_secs: 600,
            http_threads: 4,
            timestamp_lag_secs: 120,
            fixed_clock_secs: None,
            refusable_rpc: false,
        }
    }
}

impl MockNodeConfig {
    /// A testnet node whose every cycle is signed by `count` signers it simulates.
    pub fn with_simulated_signers(count: usize) -> Self {
        let mut config = MockNodeConfig::default();
        config.signers = SignerSpec::generated(count, config.seed);
        config
    }

    /// Switches to mainnet (addresses, tx versions, chain id 1).
    pub fn mainnet(mut self) -> Self {
        self.mainnet = true;
        self.chain_id = CHAIN_ID_MAINNET;
        self
    }

    /// The reward set configured for `cycle` (unsorted).
    pub fn signers_for_cycle(&self, cycle: u64) -> &[SignerSpec] {
        self.cycle_signers
            .get(&cycle)
            .map(Vec::as_slice)
            .unwrap_or(&self.signers)
    }

    /// Checks the settings a node cannot run without.
    pub fn validate(&self) -> Result<(), String> {
        if !self.pox.is_valid() {
            return Err("reward cycle length must exceed a non-zero prepare length".into());
        }
        if self.start_burn_height < self.pox.first_burn_height + 1 {
            return Err("start burn height must be past the first PoX height".into());
        }
        if self.miners.is_empty() {
            return Err("at least one miner key is needed".into());
        }
        if self.pox_ustx_threshold == 0 {
            return Err("pox_ustx_threshold must be positive".into());
        }
        Ok(())
    }
}
