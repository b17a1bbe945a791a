//! `stacks-signer`: the Stacks Nakamoto block signer daemon and its tools.
//!
//! Thin on purpose: parse the command line, dispatch, map errors to a one-line message and
//! an exit code.

use std::io::Write;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use stacks_signer::cli::{one_line_error, Cli, Command};
use stacks_signer::commands::{devnet, dispatch, CommandError};

fn main() -> ExitCode {
    // No arguments at all: the full help on stdout and success, as the reference does.
    if std::env::args_os().len() == 1 {
        let mut cmd = Cli::command();
        let _ = cmd.print_help();
        println!();
        return ExitCode::SUCCESS;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => e.exit(),
            _ => {
                eprintln!("{}", one_line_error(&e.render().to_string()));
                return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
            }
        },
    };
    // `devnet` tells bad options (exit 2, as clap's) from a failed run (exit 1). Its
    // progress display writes to stdout from other threads, so stdout is not held locked.
    if let Command::Devnet(args) = &cli.command {
        let mut out = std::io::stdout();
        let result = devnet::devnet(args, &mut out);
        let _ = out.flush();
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(failure) => {
                eprintln!("error: {}", CommandError(failure.message().to_string()));
                ExitCode::from(failure.exit_code())
            }
        };
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = dispatch(cli.command, &mut out);
    let flushed = out.flush();
    match result.and(flushed.map_err(Into::into)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
