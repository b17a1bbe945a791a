//! `stacks-signer`: the Stacks Nakamoto block signer daemon and its tools.
//!
//! Thin on purpose: parse the command line, dispatch, map errors to a one-line message and
//! an exit code.

mod cli;

use clap::Parser;

fn main() {
    let _cli = cli::Cli::parse();
}
