//! `check-config`: load a config file and print the signer version and its summary.

use std::io::Write;

use super::{load_config, CommandError};
use crate::cli::RunSignerArgs;

/// Prints `Signer version: ...`, then `Config: ` and the config summary, as the reference,
/// followed by the effective `event_allowed_sources` (not in the reference): the addresses
/// and ranges the event endpoint accepts events from, `node_host` resolved now.
pub fn check_config(args: &RunSignerArgs, out: &mut dyn Write) -> Result<(), CommandError> {
    let config = load_config(&args.config)?;
    writeln!(
        out,
        "Signer version: {}\nConfig: \n{config}Event allowed sources: {}\n",
        libsigner::VERSION_STRING.as_str(),
        config.event_source_filter(),
    )?;
    Ok(())
}
