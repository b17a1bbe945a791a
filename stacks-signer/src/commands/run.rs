//! `stacks-signer run`: the signer daemon.

use std::path::Path;

use libsigner::set_runloop_signal_handler;
use libsigner::v0::messages::SignerMessage;
use slog::{info, warn};

use super::CommandError;
use crate::config::GlobalConfig;
use crate::logging::{stderr_logger, LogSettings};
use crate::spawned::SpawnedSigner;
use crate::v0::Signer;

/// Loads the config at `path`, starts the signer and runs it until `/shutdown`, SIGINT,
/// SIGTERM or SIGHUP.
pub fn run(path: &Path) -> Result<(), CommandError> {
    let logger = stderr_logger(LogSettings::from_env());
    let (config, warnings) = GlobalConfig::load_from_file(path)
        .map_err(|e| CommandError(format!("invalid config {}: {e}", path.display())))?;
    for warning in warnings {
        warn!(logger, "{}: {warning}", path.display());
    }
    let signer: SpawnedSigner<Signer, SignerMessage> =
        SpawnedSigner::new(config, logger.clone())
            .map_err(|e| CommandError(format!("cannot start the signer: {e}")))?;
    if let Err(e) = set_runloop_signal_handler(signer.stop_signaler()) {
        warn!(logger, "Cannot install the signal handler: {e}");
    }
    info!(logger, "Signer listening for node events"; "endpoint" => %signer.local_addr());
    signer.join();
    info!(logger, "Signer stopped");
    Ok(())
}
