//! `stacks-signer`: the Stacks Nakamoto block signer daemon and its tools.
//!
//! Thin on purpose: parse the command line, dispatch, map errors to a one-line message and
//! an exit code.

use clap::Parser;
use stacks_signer::cli::Cli;

fn main() {
    let _cli = Cli::parse();
}
