//! The handlers of the `stacks-signer` subcommands, one module per command family.
//!
//! Each handler writes its normal output to the given writer and returns a [`CommandError`]
//! instead of panicking; `main` prints the error as one `error: ...` line on stderr.

pub mod check_config;
pub mod chunks;
pub mod devnet;
pub mod inspect;
pub mod mock_node;
pub mod monitor;
pub mod run;
pub mod stacking;
pub mod vote;

use std::fmt;
use std::io::Write;
use std::path::Path;

use crate::cli::Command;
use crate::config::GlobalConfig;

/// A failed command: a one-line message for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError(pub String);

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keep the message on one line whatever the underlying error printed.
        let text = self.0.replace(['\r', '\n'], " ");
        f.write_str(text.trim())
    }
}

impl std::error::Error for CommandError {}

impl From<std::io::Error> for CommandError {
    fn from(e: std::io::Error) -> Self {
        CommandError(format!("I/O error: {e}"))
    }
}

/// Loads the signer config at `path`, printing each warning (retired keys and the like) as a
/// `warning: ...` line on stderr.
pub fn load_config(path: &Path) -> Result<GlobalConfig, CommandError> {
    let (config, warnings) = GlobalConfig::load_from_file(path)
        .map_err(|e| CommandError(format!("invalid config {}: {e}", path.display())))?;
    for warning in warnings {
        eprintln!("warning: {}: {warning}", path.display());
    }
    Ok(config)
}

/// Runs one parsed subcommand, writing its output to `out`.
pub fn dispatch(command: Command, out: &mut dyn Write) -> Result<(), CommandError> {
    match command {
        Command::GetChunk(args) => chunks::get_chunk(&args, out),
        Command::GetLatestChunk(args) => chunks::get_latest_chunk(&args, out),
        Command::ListChunks(args) => chunks::list_chunks(&args, out),
        Command::PutChunk(args) => chunks::put_chunk(&args, out),
        Command::Run(args) => run::run(&args.config),
        Command::GenerateStackingSignature(args) => {
            stacking::generate_stacking_signature(&args, out)
        }
        Command::CheckConfig(args) => check_config::check_config(&args, out),
        Command::GenerateVote(args) => vote::generate_vote(&args, out),
        Command::VerifyVote(args) => vote::verify_vote(&args, out),
        Command::MonitorSigners(args) => monitor::monitor_signers(&args),
        Command::Inspect(args) => inspect::inspect(&args, out),
        Command::MockNode(args) => mock_node::mock_node(&args, out),
        Command::Devnet(args) => devnet::devnet(&args, out).map_err(Into::into),
    }
}
