//! The command line: clap definitions for the `stacks-signer` binary.

use std::sync::LazyLock;

use clap::Parser;

/// The `--version` text: `<version> (<commit>, <build> build, <os> [<arch>])`; clap prefixes
/// the binary name, so the whole line reads like the reference's `VERSION_STRING`.
static LONG_VERSION: LazyLock<String> = LazyLock::new(|| {
    libsigner::VERSION_STRING
        .strip_prefix("stacks-signer ")
        .unwrap_or(libsigner::VERSION_STRING.as_str())
        .to_string()
});

/// The Stacks Nakamoto block signer: checks the blocks miners propose, votes on them, and
/// publishes its votes through StackerDB.
#[derive(Parser, Debug)]
#[command(
    name = "stacks-signer",
    version = libsigner::STACKS_SIGNER_VERSION,
    long_version = LONG_VERSION.as_str(),
    about
)]
pub struct Cli {}
