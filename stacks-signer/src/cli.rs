//! The command line: clap definitions for the `stacks-signer` binary.
//!
//! Subcommand names, flags, defaults and help texts follow the reference signer so scripts
//! written for it keep working; `inspect` is an addition of this implementation.

use std::path::PathBuf;
use std::sync::LazyLock;

use clap::{ArgAction, Parser, Subcommand, ValueEnum};
use libsigner::chain::{
    AddressHashMode, MessageSignature, PoxAddress, QualifiedContractIdentifier, StacksPrivateKey,
    StacksPublicKey, C32_ADDRESS_VERSION_MAINNET_MULTISIG, C32_ADDRESS_VERSION_MAINNET_SINGLESIG,
    C32_ADDRESS_VERSION_TESTNET_MULTISIG, C32_ADDRESS_VERSION_TESTNET_SINGLESIG,
};

/// The `--version` text: `<version> (<commit>, <build> build, <os> [<arch>])`; clap prefixes
/// the binary name, so the whole line reads like the reference's `VERSION_STRING`.
static LONG_VERSION: LazyLock<String> = LazyLock::new(|| {
    libsigner::VERSION_STRING
        .strip_prefix("stacks-signer ")
        .unwrap_or(libsigner::VERSION_STRING.as_str())
        .to_string()
});

/// The parsed command line of the `stacks-signer` binary.
#[derive(Parser, Debug)]
#[command(
    name = "stacks-signer",
    version = libsigner::STACKS_SIGNER_VERSION,
    long_version = LONG_VERSION.as_str(),
    about = "Stacker signer binary"
)]
pub struct Cli {
    /// Subcommand action to take
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of the `stacks-signer` binary.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Get a chunk from the stacker-db instance in hex encoding
    GetChunk(GetChunkArgs),
    /// Get the latest chunk from the stacker-db instance in hex encoding
    GetLatestChunk(GetLatestChunkArgs),
    /// List chunks from the stacker-db instance in hex encoding
    ListChunks(StackerDBArgs),
    /// Upload a chunk to the stacker-db instance
    PutChunk(PutChunkArgs),
    /// Run the signer, waiting for events from the stacker-db instance
    Run(RunSignerArgs),
    /// Generate a signature for Stacking transactions
    GenerateStackingSignature(GenerateStackingSignatureArgs),
    /// Check a configuration file and output config information
    CheckConfig(RunSignerArgs),
    /// Vote for a specified SIP with a yes or no vote
    GenerateVote(GenerateVoteArgs),
    /// Verify the vote for a specified SIP against a public key and vote info
    VerifyVote(VerifyVoteArgs),
    /// Verify signer signatures by checking stackerdb slots contain the correct data
    MonitorSigners(MonitorSignersArgs),
    /// Decode a chunk, signer message, block, transaction or Clarity value and print it as JSON
    Inspect(InspectArgs),
    /// Run a mock Stacks node for signers: RPC endpoints, StackerDBs, a simulated burn chain,
    /// miners and validator, optionally driven by a scenario and recorded as JSON lines
    MockNode(MockNodeArgs),
    /// Run a whole signer network on this machine: the mock node with its miners and N real
    /// signer processes on loopback, with optional faults (silent signers, kills, node
    /// outages, an equivocating miner), a live progress display, a summary and an
    /// equivocation check over every signer's database
    Devnet(DevnetArgs),
}

/// Arguments of `devnet`.
#[derive(Parser, Debug, Clone, Default)]
pub struct DevnetArgs {
    /// How many signers the reward set holds [default: 5, or the number of --weights]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub signers: Option<u64>,
    /// Each signer's weight, comma-separated (e.g. 1,1,2,3,3) [default: 1 each]
    #[arg(long, value_name = "LIST")]
    pub weights: Option<String>,
    /// Tenures to mine [default: 100; with --scenario: none unless given]
    #[arg(long, value_name = "N")]
    pub tenures: Option<usize>,
    /// Blocks per tenure [default: 10]
    #[arg(long, value_name = "M")]
    pub blocks_per_tenure: Option<usize>,
    /// Seed of the keys, the miner's choices and the chaos schedule [default: from the clock]
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Run this scenario (the mock node's format) first, then --tenures if given
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Also write the node's activity record (JSON lines) to this file
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Run some signers with this reference stacks-signer binary (a mixed network)
    #[arg(long, value_name = "BIN")]
    pub reference_signer: Option<PathBuf>,
    /// How many signers run the reference binary (the first ones) [default: 1]
    #[arg(long, value_name = "K", requires = "reference_signer")]
    pub reference_count: Option<usize>,
    /// Print the summary as JSON on stdout (progress goes to stderr)
    #[arg(long, action = ArgAction::SetTrue)]
    pub json: bool,
    /// K signers (the last ones) are in the reward set but never answer
    #[arg(long, value_name = "K")]
    pub silent: Option<usize>,
    /// SIGKILL a random signer at random moments and restart it on its database
    #[arg(long, action = ArgAction::SetTrue)]
    pub chaos: bool,
    /// With --chaos: the wait from a restart to the next kill averages 1/R seconds (a little
    /// under R kills per second) [default: 1]
    #[arg(long, value_name = "PER_SEC", requires = "chaos")]
    pub chaos_rate: Option<f64>,
    /// With --chaos: keep mining tenures past --tenures until chaos has killed N signers
    #[arg(long, value_name = "N", requires = "chaos")]
    pub chaos_kills: Option<u64>,
    /// Once per tenure, the node's RPC answers 503 for this many seconds
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub node_outage: Option<u64>,
    /// The miner proposes conflicting siblings (same height, same tenure) at random heights,
    /// before and after the first is signed
    #[arg(long, action = ArgAction::SetTrue)]
    pub equivocating_miner: bool,
    /// Where the signers' configs, databases and logs go [default: a temporary directory,
    /// removed at the end unless --keep or the run failed]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep the data directory
    #[arg(long, action = ArgAction::SetTrue)]
    pub keep: bool,
    /// How long a block may take to reach the threshold before the run reports a stall
    /// [default: 30]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub block_timeout: Option<u64>,
    /// Do not run: check a kept run's data directory again (its record and databases)
    #[arg(long, action = ArgAction::SetTrue, requires = "data_dir")]
    pub check_only: bool,
    /// Run each of this implementation's signers as an active/standby pair of processes on
    /// one key, sharing a PostgreSQL database the devnet starts for the run (needs
    /// PostgreSQL's server binaries); --chaos then kills active instances
    #[arg(long, action = ArgAction::SetTrue, conflicts_with = "check_only")]
    pub standby: bool,
    /// With --standby: the signing lease's length (ha_lease_ms) [default: 600]
    #[arg(long, value_name = "MS", requires = "standby", value_parser = clap::value_parser!(u64).range(100..=60000))]
    pub ha_lease_ms: Option<u64>,
    /// With --standby: each instance keeps its own signer database in the shared PostgreSQL
    /// database too (its own schema; no db_path in its config)
    #[arg(long, action = ArgAction::SetTrue, requires = "standby")]
    pub signerdb_on_postgres: bool,
    /// The least time between two blocks (a real chain's block time) [default: 0, blocks
    /// come at signing speed; with --standby, the lease plus 400 ms, so that a failover
    /// costs at most one block]
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=600000))]
    pub block_interval_ms: Option<u64>,
}

/// Arguments of `mock-node`. Every flag may also be set in the `--config` TOML file (same
/// names with underscores); flags win over the file.
#[derive(Parser, Debug, Clone, Default)]
pub struct MockNodeArgs {
    /// A TOML file with the same settings (`bind`, `observers`, `signer_public_keys`, ...)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The RPC address to listen on (port 0 picks a free port) [default: 127.0.0.1:20443]
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// An event observer (a signer's `endpoint`); repeatable
    #[arg(long = "observer", value_name = "ADDR")]
    pub observers: Vec<String>,
    /// The public key of an external signer in the reward set; repeatable
    #[arg(long = "signer-public-key", value_name = "HEX")]
    pub signer_public_keys: Vec<String>,
    /// How many signers the node simulates itself (generated keys)
    #[arg(long, value_name = "N")]
    pub signers: Option<usize>,
    /// `mainnet` or `testnet` [default: testnet]
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<String>,
    /// The chain id (default: the network's)
    #[arg(long, value_name = "ID")]
    pub chain_id: Option<u32>,
    /// The RPC auth token signers send as `Authorization` [default: 12345]
    #[arg(long, value_name = "TOKEN")]
    pub auth_token: Option<String>,
    /// Mine this many tenures, then exit (0 once every block was signed and processed)
    #[arg(long, value_name = "N")]
    pub tenures: Option<usize>,
    /// Blocks per tenure with `--tenures` [default: 1]
    #[arg(long, value_name = "M")]
    pub blocks_per_tenure: Option<usize>,
    /// How long each block (or scenario wait) may take before giving up [default: 60]
    #[arg(long, value_name = "SECS")]
    pub timeout_secs: Option<u64>,
    /// Run this scenario file (TOML), then exit
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Write the activity record as JSON lines to this file
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Run on a fixed clock starting at this Unix time instead of the wall clock, so that
    /// runs repeat exactly (simulated signers only: external signers use their own clock)
    #[arg(long, value_name = "SECS")]
    pub fixed_clock: Option<u64>,
}

/// The StackerDB connection arguments shared by the chunk subcommands.
#[derive(Parser, Debug, Clone)]
pub struct StackerDBArgs {
    /// The Stacks node to connect to
    #[arg(long)]
    pub host: String,
    /// The stacker-db contract to use. Must be in the format of "STACKS_ADDRESS.CONTRACT_NAME"
    #[arg(short, long, value_parser = parse_contract)]
    pub contract: QualifiedContractIdentifier,
    /// The HTTP timeout (in seconds) for read/write operations with StackerDB.
    #[arg(long, default_value = "60")]
    pub stackerdb_timeout_secs: u64,
}

/// Arguments of `get-chunk`.
#[derive(Parser, Debug, Clone)]
pub struct GetChunkArgs {
    /// The base arguments
    #[clap(flatten)]
    pub db_args: StackerDBArgs,
    /// The slot ID to get
    #[arg(long)]
    pub slot_id: u32,
    /// The slot version to get
    #[arg(long)]
    pub slot_version: u32,
}

/// Arguments of `get-latest-chunk`.
#[derive(Parser, Debug, Clone)]
pub struct GetLatestChunkArgs {
    /// The base arguments
    #[clap(flatten)]
    pub db_args: StackerDBArgs,
    /// The slot ID to get
    #[arg(long)]
    pub slot_id: u32,
}

/// Arguments of `put-chunk`.
#[derive(Parser, Debug, Clone)]
pub struct PutChunkArgs {
    /// The base arguments
    #[clap(flatten)]
    pub db_args: StackerDBArgs,
    /// The Stacks private key to use in hexademical format
    #[arg(short, long, value_parser = parse_private_key)]
    pub private_key: StacksPrivateKey,
    /// The slot ID to get
    #[arg(long)]
    pub slot_id: u32,
    /// The slot version to get
    #[arg(long)]
    pub slot_version: u32,
    /// The data to upload
    pub data: String,
}

/// Arguments of `run` and `check-config`.
#[derive(Parser, Debug, Clone)]
pub struct RunSignerArgs {
    /// Path to config file
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
}

/// Arguments of `generate-vote`.
#[derive(Parser, Debug, Clone)]
pub struct GenerateVoteArgs {
    /// Path to signer config file
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
    /// The vote info being cast
    #[clap(flatten)]
    pub vote_info: VoteInfo,
}

/// Arguments of `verify-vote`.
#[derive(Parser, Debug, Clone)]
pub struct VerifyVoteArgs {
    /// The Stacks public key to verify against
    #[arg(short, long, value_parser = parse_public_key)]
    pub public_key: StacksPublicKey,
    /// The message signature in hexadecimal format
    #[arg(short, long, value_parser = parse_message_signature)]
    pub signature: MessageSignature,
    /// The vote info being verified
    #[clap(flatten)]
    pub vote_info: VoteInfo,
}

/// A SIP number and the vote cast on it.
#[derive(Parser, Debug, Clone)]
pub struct VoteInfo {
    /// The SIP number to vote on
    #[arg(long)]
    pub sip: u32,
    /// The vote to cast
    #[arg(long, value_parser = parse_vote)]
    pub vote: Vote,
}

/// A vote on a SIP; its Clarity encoding is `u0` for yes and `u1` for no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vote {
    /// Vote yes
    Yes = 0,
    /// Vote no
    No = 1,
}

impl Vote {
    /// The numeric value signed for this vote.
    pub fn to_u8(self) -> u8 {
        self as u8
    }
}

impl TryFrom<&str> for Vote {
    type Error = String;
    fn try_from(input: &str) -> Result<Vote, String> {
        match input.to_lowercase().as_str() {
            "yes" => Ok(Vote::Yes),
            "no" => Ok(Vote::No),
            _ => Err(format!("Invalid vote: {input}. Must be `yes` or `no`.")),
        }
    }
}

/// Arguments of `monitor-signers`.
#[derive(Parser, Debug, Clone)]
pub struct MonitorSignersArgs {
    /// The Stacks node to connect to
    #[arg(long)]
    pub host: String,
    /// Set the polling interval in seconds.
    #[arg(long, short, default_value = "60")]
    pub interval: u64,
    /// Max age in seconds before a signer message is considered stale.
    #[arg(long, short, default_value = "1200")]
    pub max_age: u64,
    /// The HTTP timeout (in seconds) for read/write operations with StackerDB.
    #[arg(long, short, default_value = "60")]
    pub stackerdb_timeout_secs: u64,
}

/// The pox-4 function a stacking signature authorizes (its SIP-018 `topic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StackingSignatureMethod {
    /// `stack-stx`
    #[value(name = "stack-stx")]
    StackStx,
    /// `stack-extend`
    #[value(name = "stack-extend")]
    StackExtend,
    /// `stack-aggregation-commit`
    #[value(name = "agg-commit")]
    AggregationCommit,
    /// `stack-aggregation-increase`
    #[value(name = "agg-increase")]
    AggregationIncrease,
    /// `stack-increase`
    #[value(name = "stack-increase")]
    StackIncrease,
}

impl StackingSignatureMethod {
    /// The topic string signed in the message (and printed in `--json` output).
    pub fn topic(&self) -> &'static str {
        match self {
            StackingSignatureMethod::StackStx => "stack-stx",
            StackingSignatureMethod::StackExtend => "stack-extend",
            StackingSignatureMethod::AggregationCommit => "agg-commit",
            StackingSignatureMethod::AggregationIncrease => "agg-increase",
            StackingSignatureMethod::StackIncrease => "stack-increase",
        }
    }
}

/// Arguments of `generate-stacking-signature`.
#[derive(Parser, Debug, Clone, PartialEq)]
pub struct GenerateStackingSignatureArgs {
    /// BTC address used to receive rewards
    #[arg(short, long, value_parser = parse_pox_addr)]
    pub pox_address: PoxAddress,
    /// The reward cycle during which this signature
    /// can be used
    #[arg(short, long)]
    pub reward_cycle: u64,
    /// Path to signer config file
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
    /// Stacking method that can be used
    #[arg(long)]
    pub method: StackingSignatureMethod,
    /// Number of cycles used as a lock period.
    /// Use `1` for stack-aggregation-commit
    #[arg(long)]
    pub period: u64,
    /// The max amount of uSTX that can be used in this unique transaction
    #[arg(long)]
    pub max_amount: u128,
    /// A unique identifier to prevent re-using this authorization
    #[arg(long)]
    pub auth_id: u128,
    /// Output information in JSON format
    #[arg(long, action = ArgAction::SetTrue, required = false)]
    pub json: bool,
}

/// What `inspect` decodes its input as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InspectKind {
    /// A StackerDB chunk (`StackerDBChunkData`)
    Chunk,
    /// A v0 `SignerMessage`
    Message,
    /// A `NakamotoBlock`
    Block,
    /// A `StacksTransaction`
    Tx,
    /// A Clarity value
    Value,
}

/// Arguments of `inspect`.
#[derive(Parser, Debug, Clone)]
pub struct InspectArgs {
    /// The hex-encoded input, or `-` to read it from stdin. With `--binary`, a file path
    /// (or `-` for stdin) holding the raw bytes
    #[arg(default_value = "-")]
    pub input: String,
    /// Decode the input as this kind; by default try chunk, message, block, tx, value in turn
    #[arg(long = "as", value_name = "KIND")]
    pub kind: Option<InspectKind>,
    /// The input is raw binary rather than hex
    #[arg(long, action = ArgAction::SetTrue)]
    pub binary: bool,
}

/// Parses a `ADDRESS.NAME` contract identifier.
fn parse_contract(contract: &str) -> Result<QualifiedContractIdentifier, String> {
    QualifiedContractIdentifier::parse(contract).map_err(|e| format!("Invalid contract: {e}"))
}

/// Parses a Bitcoin address into a PoX address. Legacy (base58check) addresses get the hash
/// mode their version implies: P2SH for multisig versions, P2PKH for single-sig ones.
pub fn parse_pox_addr(pox_address_literal: &str) -> Result<PoxAddress, String> {
    let parsed = PoxAddress::from_b58(pox_address_literal)
        .ok_or_else(|| format!("Invalid pox address: {pox_address_literal}"))?;
    match parsed {
        PoxAddress::Standard(addr, None) => {
            let mode = match addr.version() {
                C32_ADDRESS_VERSION_MAINNET_MULTISIG | C32_ADDRESS_VERSION_TESTNET_MULTISIG => {
                    AddressHashMode::SerializeP2SH
                }
                C32_ADDRESS_VERSION_MAINNET_SINGLESIG | C32_ADDRESS_VERSION_TESTNET_SINGLESIG => {
                    AddressHashMode::SerializeP2PKH
                }
                other => return Err(format!("Invalid address version: {other}")),
            };
            Ok(PoxAddress::Standard(addr, Some(mode)))
        }
        other => Ok(other),
    }
}

/// Parses a hex private key (32 bytes, or 33 ending in `01`).
fn parse_private_key(private_key: &str) -> Result<StacksPrivateKey, String> {
    StacksPrivateKey::from_hex(private_key).map_err(|e| format!("Invalid private key: {e}"))
}

/// Parses a hex public key (compressed or not).
fn parse_public_key(public_key: &str) -> Result<StacksPublicKey, String> {
    StacksPublicKey::from_hex(public_key).map_err(|e| format!("Invalid public key: {e}"))
}

/// Parses `yes`/`no` (any case).
fn parse_vote(vote: &str) -> Result<Vote, String> {
    vote.try_into()
}

/// Parses a 65-byte hex signature in VRS order.
fn parse_message_signature(signature: &str) -> Result<MessageSignature, String> {
    MessageSignature::from_hex(signature).map_err(|e| format!("Invalid message signature: {e}"))
}

/// Renders a clap parse error as one line: the message and any details, without the usage
/// block and the `--help` hint.
pub fn one_line_error(rendered: &str) -> String {
    let mut parts = Vec::new();
    for line in rendered.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !line.is_empty() {
            parts.push(line);
        }
    }
    let text = parts.join(" ");
    if text.starts_with("error:") {
        text
    } else {
        format!("error: {text}")
    }
}
