//! The `envstream` command: clap arguments → a config → library calls.
//! No cryptography happens here.

mod cli;
mod commands;
mod error;
mod output;
mod report;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with exit 0; usage errors exit 2.
            let code = if e.use_stderr() { error::EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    output::install_signal_cleanup();
    let mut report = report::Report::new(cli.command.name(), cli.command.ui());
    match commands::run(cli.command, &mut report) {
        Ok(()) => {
            report.finish(0, None);
            ExitCode::SUCCESS
        }
        Err(e) => {
            let (code, message) = error::classify(&e);
            report.finish(code, message);
            error::report(&e)
        }
    }
}
