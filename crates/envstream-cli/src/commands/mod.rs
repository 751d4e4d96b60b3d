//! The subcommands, one module each: a plan ([`crate::plan`]) → library
//! calls → the report. Shared here: opening a plan's sealed input (a file,
//! stdin or an S3 object) and output (a file, stdout or an S3 upload), and
//! how keys are named in reports. The keys themselves are `keys`.

use std::io::Write;

use anyhow::Result;
use envstream::{BodyLayout, Header};
use envstream_s3::blocking::{S3Object, Upload};
use envstream_s3::UploadOptions;

use crate::output::{open_sealed_input, Output, Sink};
use crate::plan::{OpenPlan, Plan, S3Access, Source, Target};
use crate::report::Report;
use crate::s3::Input;

mod inspect;
mod keygen;
mod keys;
mod open;
mod rekey;
mod seal;
mod verify;

pub(crate) fn run(plan: Plan, report: &mut Report) -> Result<()> {
    match plan {
        Plan::Keygen { output, kind } => keygen::run(&output, kind),
        Plan::Seal(p) => seal::run(p, report),
        Plan::Open(p) => open::run(p, report),
        Plan::Verify(p) => verify::run(p, report),
        Plan::Rekey(p) => rekey::run(p, report),
        Plan::Inspect(p) => inspect::run(p, report),
        Plan::Completions(shell) => {
            let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
            // Generate into memory: clap_complete panics on write errors.
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd, "envstream", &mut text);
            std::io::stdout().write_all(&text)?;
            Ok(())
        }
        Plan::Man => {
            let cmd = <crate::cli::Cli as clap::CommandFactory>::command();
            std::io::stdout().write_all(crate::man::render(&cmd).as_bytes())?;
            Ok(())
        }
    }
}

/// An S3 input, opened with its header (one or two ranged GETs) before
/// any key is used; `None` for a local input.
fn sealed_object(
    from: &Source,
    s3: &S3Access,
    report: &mut Report,
) -> Result<Option<(S3Object, Header)>> {
    match from {
        Source::S3(url) => Ok(Some(crate::s3::open_object(&s3.client(report)?, url)?)),
        _ => Ok(None),
    }
}

/// The sealed input as a reader, and its size when known: the S3 object
/// (read up to `end` ahead), or the local file or stdin (a terminal is
/// refused).
fn sealed_reader(
    from: &Source,
    object: &Option<(S3Object, Header)>,
    end: Option<u64>,
) -> Result<(Input, Option<u64>)> {
    if let Some((obj, header)) = object {
        let end = end.unwrap_or(obj.size());
        return Ok((
            Input::S3(Box::new(obj.reader(&BodyLayout::new(header), end))),
            Some(obj.size()),
        ));
    }
    let path = match from {
        Source::File(p) => Some(p.clone()),
        _ => None,
    };
    let f = open_sealed_input(&path)?;
    let size = input_size(&f);
    Ok((Input::File(f), size))
}

/// A sealed input unlocked by the plan's keys, read through the progress
/// counter; and, for a local input that cannot seek (a pipe), a second
/// handle to it, to drain what a range leaves unread.
type Unlocked = (
    envstream::OpenReader<crate::report::Counting<Input>>,
    Option<std::fs::File>,
);

/// Opens the plan's sealed input (the S3 object fetched ahead up to `end`,
/// or the local file) and unlocks it: key files first, then KMS. With
/// `measure`, the progress bar knows the size.
fn unlock(
    plan: &OpenPlan,
    object: &Option<(S3Object, Header)>,
    end: Option<u64>,
    measure: bool,
    report: &mut Report,
) -> Result<Unlocked> {
    keys::with_unwrap_keys(
        &plan.unwrap,
        &plan.key_files,
        plan.backend,
        false,
        |refs, _| {
            let (input, size) = sealed_reader(&plan.from, object, end)?;
            let pipe = match &input {
                Input::File(f) if size.is_none() => f.try_clone().ok(),
                _ => None,
            };
            let input = report.count_input(input, size.filter(|_| measure), &plan.from.label());
            let opener = envstream::Opener::new(input)?;
            let options = keys::pin_signers(plan.options.clone(), &plan.unwrap)?;
            let reader = opener.unlock_blocking(refs, options)?;
            Ok((reader, pipe))
        },
    )
}

/// After a signed stream verified without `--signer`: which key signed it.
/// (Printed at the end, so that a failure stays a one-line error.)
fn note_unpinned(signer: Option<&envstream::SignerKey>, unwrap: &crate::cli::UnwrapArgs) {
    if let (Some(s), true) = (signer, unwrap.signers.is_empty()) {
        eprintln!(
            "envstream: note: signed by {} key {} (signer not pinned: pass --signer to require this writer)",
            s.algorithm().name(),
            s.fingerprint()
        );
    }
}

/// The plan's output: a file (atomic), stdout, or an S3 upload (checked
/// with a HeadObject now, before any key service is asked).
fn open_output(
    to: &Target,
    force: bool,
    s3: &S3Access,
    schedule: envstream_s3::PartSchedule,
    report: &mut Report,
) -> Result<Output> {
    Ok(match to {
        Target::S3(url) => {
            let client = s3.client(report)?;
            let options = UploadOptions {
                schedule,
                overwrite: force,
            };
            Output::s3(Upload::new(client, url.clone(), options)?)
        }
        Target::File(p) => Output::File(Sink::open(&Some(p.clone()), force)?),
        Target::Stdout => Output::File(Sink::open(&None, force)?),
    })
}

/// The input's size when it is a regular file (for progress and seeking).
fn input_size(f: &std::fs::File) -> Option<u64> {
    f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len())
}

/// `provider/key id` of every wrapped key, the form `--remove-key` takes.
fn key_ids(h: &Header) -> Vec<String> {
    h.wrapped_keys()
        .iter()
        .map(envstream::WrappedKey::name)
        .collect()
}
