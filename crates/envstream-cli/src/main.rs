//! The `envstream` command: clap arguments → a config → library calls.
//! No cryptography happens here.

mod cli;
mod commands;
mod error;
mod man;
mod output;
mod paths;
mod report;
mod s3;
mod signals;
mod source;
mod values;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // A usage error: clap's first line (it names the flag and the
            // problem), as one line like every other error; exit 2.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let choices = match e.get(clap::error::ContextKind::ValidValue) {
                Some(clap::error::ContextValue::Strings(v)) if !v.is_empty() => {
                    format!("; choose one of {}", v.join(", "))
                }
                _ => String::new(),
            };
            eprintln!("envstream: error: {first}{choices}; see `envstream --help`");
            return ExitCode::from(error::EXIT_USAGE);
        }
        Err(e) => {
            // Help and version go to stdout with exit 0.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    signals::install();
    let pipe = cli.command.broken_pipe();
    let protected = commands::protected(&cli.command);
    let mut report = match report::Report::new(cli.command.name(), cli.command.ui(), &protected) {
        Ok(r) => r,
        Err(e) => {
            let (code, message) = error::classify(&e, pipe);
            return error::report(code, message.as_deref());
        }
    };
    let result = commands::run(cli.command, &mut report);
    let (code, message) = match &result {
        Ok(()) => (0, None),
        Err(e) => error::classify(e, pipe),
    };
    if let Err(e) = report.finish(code, message.as_deref(), result.as_ref().err()) {
        // The work is done (or failed on its own); the report is not.
        let line = error::one_line(&e);
        return match message {
            Some(m) => {
                eprintln!("envstream: error: {m}");
                error::report(code, Some(&line))
            }
            None => error::report(error::EXIT_IO, Some(&line)),
        };
    }
    error::report(code, message.as_deref())
}
