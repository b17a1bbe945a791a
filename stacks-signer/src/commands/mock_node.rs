//! `stacks-signer mock-node`: runs the in-process mock Stacks node
//! ([`crate::devnet`]) as a command. It prints the bound address, then mines `--tenures`,
//! runs a `--scenario`, or serves until SIGINT/SIGTERM; `--record` writes the activity log as
//! JSON lines.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use libsigner::chain::{StacksPublicKey, CHAIN_ID_MAINNET, CHAIN_ID_TESTNET};
use libsigner::EventStopSignaler;
use serde::Deserialize;

use super::CommandError;
use crate::cli::MockNodeArgs;

use crate::devnet::record::spawn_recorder;
use crate::devnet::scenario::{Scenario, ScenarioRunner};
use crate::devnet::{MockNode, MockNodeConfig, ObserverSpec, SignerSpec};

/// The default RPC address of `mock-node` (a node's usual RPC port).
pub const DEFAULT_BIND: &str = "127.0.0.1:20443";
/// The default per-block timeout, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// The `--config` TOML file: the same settings as the flags.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockNodeFile {
    /// `--bind`.
    pub bind: Option<String>,
    /// `--observer` (each).
    #[serde(default)]
    pub observers: Vec<String>,
    /// `--signer-public-key` (each).
    #[serde(default)]
    pub signer_public_keys: Vec<String>,
    /// `--signers`.
    pub signers: Option<usize>,
    /// `--network`.
    pub network: Option<String>,
    /// `--chain-id`.
    pub chain_id: Option<u32>,
    /// `--auth-token`.
    pub auth_token: Option<String>,
    /// `--tenures`.
    pub tenures: Option<usize>,
    /// `--blocks-per-tenure`.
    pub blocks_per_tenure: Option<usize>,
    /// `--timeout-secs`.
    pub timeout_secs: Option<u64>,
    /// `--scenario`.
    pub scenario: Option<std::path::PathBuf>,
    /// `--record`.
    pub record: Option<std::path::PathBuf>,
    /// `--fixed-clock`.
    pub fixed_clock: Option<u64>,
}

/// Merges the `--config` file under the flags (flags win; lists are concatenated).
pub fn effective_args(args: &MockNodeArgs) -> Result<MockNodeArgs, CommandError> {
    let Some(path) = &args.config else {
        return Ok(args.clone());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| CommandError(format!("cannot read {}: {e}", path.display())))?;
    let file: MockNodeFile = toml::from_str(&text).map_err(|e| {
        CommandError(format!(
            "invalid config {}: {}",
            path.display(),
            e.message()
        ))
    })?;
    let mut observers = file.observers;
    observers.extend(args.observers.iter().cloned());
    let mut keys = file.signer_public_keys;
    keys.extend(args.signer_public_keys.iter().cloned());
    Ok(MockNodeArgs {
        config: args.config.clone(),
        bind: args.bind.clone().or(file.bind),
        observers,
        signer_public_keys: keys,
        signers: args.signers.or(file.signers),
        network: args.network.clone().or(file.network),
        chain_id: args.chain_id.or(file.chain_id),
        auth_token: args.auth_token.clone().or(file.auth_token),
        tenures: args.tenures.or(file.tenures),
        blocks_per_tenure: args.blocks_per_tenure.or(file.blocks_per_tenure),
        timeout_secs: args.timeout_secs.or(file.timeout_secs),
        scenario: args.scenario.clone().or(file.scenario),
        record: args.record.clone().or(file.record),
        fixed_clock: args.fixed_clock.or(file.fixed_clock),
    })
}

/// Builds the node configuration from (merged) arguments.
pub fn node_config(args: &MockNodeArgs) -> Result<MockNodeConfig, CommandError> {
    let mut config = MockNodeConfig {
        bind: args.bind.clone().unwrap_or_else(|| DEFAULT_BIND.into()),
        fixed_clock_secs: args.fixed_clock,
        ..MockNodeConfig::default()
    };
    match args.network.as_deref().unwrap_or("testnet") {
        "testnet" => {
            config.mainnet = false;
            config.chain_id = CHAIN_ID_TESTNET;
        }
        "mainnet" => {
            config.mainnet = true;
            config.chain_id = CHAIN_ID_MAINNET;
        }
        other => {
            return Err(CommandError(format!(
                "invalid network `{other}`: expected `mainnet` or `testnet`"
            )))
        }
    }
    if let Some(chain_id) = args.chain_id {
        config.chain_id = chain_id;
    }
    if let Some(token) = &args.auth_token {
        config.auth_token = Some(token.clone());
    }
    for key in &args.signer_public_keys {
        let public_key = StacksPublicKey::from_hex(key)
            .map_err(|e| CommandError(format!("invalid signer public key `{key}`: {e}")))?;
        config.signers.push(SignerSpec::external(public_key, 1));
    }
    config.signers.extend(SignerSpec::generated(
        args.signers.unwrap_or(0),
        config.seed,
    ));
    if config.signers.is_empty() {
        return Err(CommandError(
            "no signers: give --signers N and/or --signer-public-key HEX".into(),
        ));
    }
    for observer in &args.observers {
        config
            .observers
            .push(ObserverSpec::signer(observer.clone()));
    }
    config.validate().map_err(CommandError)?;
    Ok(config)
}

/// A stop signaler that sets a flag (for the SIGINT/SIGTERM handler).
#[derive(Debug, Clone)]
struct FlagSignaler(Arc<AtomicBool>);

impl EventStopSignaler for FlagSignaler {
    fn send(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Runs `mock-node`.
pub fn mock_node(args: &MockNodeArgs, out: &mut dyn Write) -> Result<(), CommandError> {
    let args = effective_args(args)?;
    let config = node_config(&args)?;
    let timeout = Duration::from_secs(args.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS));
    let blocks_per_tenure = args.blocks_per_tenure.unwrap_or(1);
    if blocks_per_tenure == 0 {
        return Err(CommandError(
            "--blocks-per-tenure must be at least 1".into(),
        ));
    }
    // Parse the scenario before starting anything, so a bad file fails fast.
    let scenario = match &args.scenario {
        Some(path) => Some(load_scenario(path)?),
        None => None,
    };
    let record_file = match &args.record {
        Some(path) => Some(
            File::create(path)
                .map_err(|e| CommandError(format!("cannot create {}: {e}", path.display())))?,
        ),
        None => None,
    };

    // Serving until a signal: install the handler before anything listens, so a signal
    // sent as soon as the node answers already stops it cleanly.
    let serve_until_signal = scenario.is_none() && args.tenures.is_none();
    let stop = Arc::new(AtomicBool::new(false));
    if serve_until_signal {
        libsigner::set_runloop_signal_handler(FlagSignaler(stop.clone()))
            .map_err(|e| CommandError(format!("cannot install the signal handler: {e}")))?;
    }

    let node = MockNode::start(config).map_err(CommandError)?;
    let stop_recorder = Arc::new(AtomicBool::new(false));
    let recorder = record_file.map(|file| {
        spawn_recorder(
            node.subscribe(),
            BufWriter::new(file),
            stop_recorder.clone(),
        )
    });
    writeln!(out, "mock node listening on {}", node.node_host())?;
    out.flush()?;

    let result = if let Some(scenario) = scenario {
        let mut runner = ScenarioRunner::new(&node, timeout);
        runner
            .run(&scenario)
            .map_err(CommandError)
            .and_then(|()| match args.tenures {
                Some(n) => node
                    .mine_tenures(n, blocks_per_tenure, timeout)
                    .map(|_| ())
                    .map_err(CommandError),
                None => Ok(()),
            })
    } else if let Some(tenures) = args.tenures {
        node.mine_tenures(tenures, blocks_per_tenure, timeout)
            .map(|blocks| {
                let _ = writeln!(out, "mined {} blocks in {tenures} tenures", blocks.len());
            })
            .map_err(CommandError)
    } else {
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    };
    // Let the last events reach observers before stopping.
    node.wait_events_delivered(Duration::from_secs(2));
    node.stop();
    stop_recorder.store(true, Ordering::SeqCst);
    if let Some(handle) = recorder {
        match handle.join() {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(CommandError(format!("writing the record failed: {e}"))),
            Err(_) => return Err(CommandError("the record writer crashed".into())),
        }
    }
    result
}

/// Reads and parses a scenario file.
pub fn load_scenario(path: &Path) -> Result<Scenario, CommandError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CommandError(format!("cannot read {}: {e}", path.display())))?;
    Scenario::parse(&text).map_err(|e| CommandError(format!("{}: {e}", path.display())))
}
