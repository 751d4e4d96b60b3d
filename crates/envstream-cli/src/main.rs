//! The `envstream` command: clap arguments → a config → library calls.
//! No cryptography happens here.

mod atomic;
mod cli;
mod commands;
mod error;
mod man;
mod output;
mod paths;
mod plan;
mod report;
mod s3;
mod signals;
mod source;
mod stdio;
mod values;

use std::process::ExitCode;
use std::sync::mpsc;

use clap::{CommandFactory, FromArgMatches};

/// Parses the arguments; `--version` (and `-V`) also state where the
/// cryptography runs (FIPS build and mode), computed once here.
fn parse() -> Result<cli::Cli, clap::Error> {
    let version: &'static str = Box::leak(cli::version_text().into_boxed_str());
    let matches = cli::Cli::command()
        .version(version)
        .long_version(version)
        .try_get_matches()?;
    cli::Cli::from_arg_matches(&matches)
}

fn main() -> ExitCode {
    let cli = match parse() {
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
    let command = cli.command;
    let pipe = command.broken_pipe();
    let protected = plan::protected(&command);
    let report = match report::Report::new(command.name(), command.ui(), &protected) {
        Ok(r) => r,
        Err(e) => {
            let (code, message) = error::classify(&e, pipe);
            return error::report(code, message.as_deref());
        }
    };
    let interrupted = report.handle();
    // The command runs on a thread of its own, so that a signal is handled
    // here, in main's flow, even while the command waits on a pipe.
    let (tx, rx) = mpsc::channel();
    let on_signal = tx.clone();
    signals::forward(move |sig| {
        let _ = on_signal.send(Event::Signal(sig));
    });
    let worker = std::thread::Builder::new()
        .name("envstream".into())
        .stack_size(8 << 20)
        .spawn(move || {
            let mut report = report;
            let result =
                plan::Plan::new(command, &protected).and_then(|p| commands::run(p, &mut report));
            let _ = tx.send(Event::Done(result, report));
        });
    if let Err(e) = worker {
        eprintln!("envstream: error: cannot start the command's thread: {e}");
        return ExitCode::from(error::EXIT_IO);
    }
    match rx.recv() {
        Ok(Event::Done(result, report)) => finish(result, report, pipe),
        Ok(Event::Signal(sig)) => {
            // Commit, abort, the report and the exit code, decided here.
            let line = signals::interrupt(sig);
            eprintln!("envstream: {line}");
            if let Err(e) = interrupted.interrupted(sig, &line) {
                eprintln!("envstream: error: {}", error::one_line(&e));
            }
            ExitCode::from(u8::try_from(128 + sig).unwrap_or(u8::MAX))
        }
        Err(_) => {
            eprintln!("envstream: error: the command's thread stopped without a result");
            ExitCode::from(error::EXIT_IO)
        }
    }
}

/// What `main` hears: the command's end, or a signal.
enum Event {
    Done(anyhow::Result<()>, report::Report),
    Signal(i32),
}

/// The exit code, the one-line error and the report of a finished run.
fn finish(
    result: anyhow::Result<()>,
    mut report: report::Report,
    pipe: error::BrokenPipe,
) -> ExitCode {
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
