//! `stacks-signer monitor-signers`: watch the signers' block-response StackerDB slots.

use super::CommandError;
use crate::cli::MonitorSignersArgs;
use crate::logging::{stderr_logger, LogSettings};
use crate::monitor::SignerMonitor;

/// Connects to the node and monitors its signers until the process is interrupted (SIGINT or
/// SIGTERM end it). A bad `--host` or a node that does not answer at start is an error;
/// errors while monitoring are logged and the monitor restarts a second later.
pub fn monitor_signers(args: &MonitorSignersArgs) -> Result<(), CommandError> {
    let logger = stderr_logger(LogSettings::from_env());
    let mut monitor =
        SignerMonitor::new(args.clone(), logger).map_err(|e| CommandError(e.to_string()))?;
    monitor.run()
}
