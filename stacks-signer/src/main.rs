//! `stacks-signer`: the Stacks Nakamoto block signer daemon and its tools.
//!
//! Thin on purpose: parse the command line, dispatch, map errors to a one-line message and
//! an exit code.

use std::io::Write;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use stacks_signer::cli::{one_line_error, Cli};
use stacks_signer::commands::dispatch;

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
