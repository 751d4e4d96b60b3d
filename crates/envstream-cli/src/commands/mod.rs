//! The subcommands, one module each: arguments → library configuration →
//! library calls. Shared pieces: which files a command touches (`-o` and
//! `--report` may never overwrite the input or a key file) and the keys
//! (`keys`).

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Result;
use envstream::{Backend, Header};

use crate::cli::{Command, KeyArgs};
use crate::error::UsageError;
use crate::output::{is_stdio, named_file};
use crate::paths::{same_file, Protected};
use crate::report::Report;

mod inspect;
mod keygen;
mod keys;
mod open;
mod rekey;
mod seal;
mod verify;

pub(crate) fn run(cmd: Command, report: &mut Report) -> Result<()> {
    match cmd {
        Command::Keygen { output } => keygen::run(&output),
        Command::Seal(args) => seal::run(args, report),
        Command::Open(args) => open::run(args, report),
        Command::Verify(args) => verify::run(args, report),
        Command::Rekey(args) => rekey::run(args, report),
        Command::Inspect {
            json,
            input,
            aws,
            s3,
        } => inspect::run(json, &input, &aws, &s3),
        Command::Completions { shell } => {
            let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
            // Generate into memory: clap_complete panics on write errors.
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd, "envstream", &mut text);
            std::io::stdout().write_all(&text)?;
            Ok(())
        }
        Command::Man => {
            let cmd = <crate::cli::Cli as clap::CommandFactory>::command();
            std::io::stdout().write_all(crate::man::render(&cmd).as_bytes())?;
            Ok(())
        }
    }
}

/// The files a command reads or writes: a report may be none of them, and
/// `-o` may be neither the input nor a key file.
pub(crate) fn protected(cmd: &Command) -> Vec<Protected> {
    let mut v = Vec::new();
    let keys = |v: &mut Vec<Protected>, k: &KeyArgs| {
        v.extend(keys::key_file_paths(k).into_iter().map(Protected::KeyFile));
    };
    match cmd {
        Command::Seal(a) => {
            v.push(Protected::input(&a.input));
            v.push(Protected::output(&a.out.output));
            keys(&mut v, &a.keys);
        }
        Command::Open(a) => {
            v.push(Protected::input(&a.input));
            v.push(Protected::output(&a.out.output));
            keys(&mut v, &a.unwrap.keys);
        }
        Command::Verify(a) => {
            v.push(Protected::input(&a.input));
            v.push(Protected::Stdout);
            keys(&mut v, &a.unwrap.keys);
        }
        Command::Rekey(a) => {
            v.push(Protected::input(&Some(a.input.clone())));
            v.push(Protected::output(&a.out.output));
            keys(&mut v, &a.unwrap.keys);
            v.extend(a.add_key_files.iter().cloned().map(Protected::KeyFile));
        }
        _ => {}
    }
    v
}

/// `-o OUT` must never be the input or a key file, even with `--force`.
pub(super) fn check_output_target(output: &Option<PathBuf>, protected: &[Protected]) -> Result<()> {
    let Some(out) = named_file(output) else {
        return Ok(());
    };
    for p in protected {
        if matches!(p, Protected::Input(_) | Protected::KeyFile(_)) && same_file(out, p) {
            return Err(UsageError(format!(
                "-o {} is the same file as the {}; write the output somewhere else",
                out.display(),
                p.role()
            ))
            .into());
        }
    }
    Ok(())
}

/// Refuses to write ciphertext to a terminal (seal, rekey).
pub(super) fn refuse_terminal_stdout(output: &Option<PathBuf>) -> Result<()> {
    if is_stdio(output) && std::io::stdout().is_terminal() {
        return Err(UsageError(
            "refusing to write ciphertext to a terminal; redirect stdout or pass -o FILE".into(),
        )
        .into());
    }
    Ok(())
}

/// The backend named by `--backend`, or the default.
pub(super) fn backend(choice: Option<Backend>) -> Backend {
    choice.unwrap_or_default()
}

/// The input's size when it is a regular file (for progress and seeking).
pub(super) fn input_size(f: &File) -> Option<u64> {
    f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len())
}

/// `provider/key id` of every wrapped key, the form `--remove-key` takes.
pub(super) fn key_ids(h: &Header) -> Vec<String> {
    h.wrapped_keys()
        .iter()
        .map(|w| format!("{}/{}", w.provider(), w.key_id()))
        .collect()
}

/// Says so when fewer keys were written than named: two names for one key.
pub(super) fn note_merged(named: usize, h: &Header) {
    let written = h.wrapped_keys().len();
    if written < named {
        let distinct = if written == 1 {
            "only 1 is distinct".to_owned()
        } else {
            format!("only {written} are distinct")
        };
        eprintln!(
            "envstream: note: {named} keys were named but {distinct}; each key is wrapped once"
        );
    }
}
