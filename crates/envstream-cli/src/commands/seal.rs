//! `envstream seal`: a data key wrapped by every key given, then the input
//! (a file, stdin, or a producer command's output) sealed by the parallel
//! engine into an atomic `-o` file, an S3 object, or stdout.

use std::io::IsTerminal;

use anyhow::Result;
use envstream::{EncryptionContext, SealOptions, Sealer};
use envstream_kms::KmsKeyring;
use envstream_s3::blocking::Upload;
use envstream_s3::UploadOptions;

use super::keys::{
    check_key_count, key_file_paths, load_keys, recipients, unique_kms_keys, KeyUse, Kms,
};
use super::{backend, check_output_target, key_ids, note_merged, refuse_terminal_stdout};
use crate::cli::SealArgs;
use crate::error::UsageError;
use crate::output::{input_label, open_input, output_label, Output, Sink};
use crate::paths::Protected;
use crate::report::Report;
use crate::source::{Plaintext, Producer};

pub(super) fn run(args: SealArgs, report: &mut Report) -> Result<()> {
    let mut context = EncryptionContext::new();
    for (k, v) in &args.context {
        context.insert(k.clone(), v.clone())?;
    }
    let be = backend(args.perf.backend);
    report.backend(be);
    let mut options = SealOptions::new().context(context).backend(be);
    if let Some(size) = args.chunk_size {
        options = options.chunk_size(size)?;
    }
    let s3_out = crate::s3::location(args.out.output.as_ref())?;
    if s3_out.is_none() {
        if args.expected_size.is_some() {
            return Err(UsageError(
                "--expected-size sizes S3 upload parts; it needs -o s3://BUCKET/KEY".into(),
            )
            .into());
        }
        crate::s3::refuse_unused(&args.s3.s3(), "-o s3://BUCKET/KEY")?;
    }
    if crate::s3::location(args.input.as_ref())?.is_some() {
        return Err(UsageError(
            "seal reads a local file or stdin, not S3; pipe it in: `aws s3 cp s3://… - | envstream seal …`".into(),
        )
        .into());
    }
    if s3_out.is_none() {
        refuse_terminal_stdout(&args.out.output)?;
    }
    let from_stdin = args.producer.is_empty() && crate::output::is_stdio(&args.input);
    if from_stdin && std::io::stdin().is_terminal() {
        return Err(UsageError(
            "refusing to seal what is typed on a terminal: pass INPUT, pipe data in, or run a producer after -- (for example `-- tar c DIR`)".into(),
        )
        .into());
    }
    check_output_target(&args.out.output, &protected_seal(&args))?;
    let kms_names = unique_kms_keys("--kms-key", &args.kms_keys);
    let keys = load_keys(&args.keys, kms_names.len(), be, KeyUse::Seal)?;
    check_key_count(keys.len() + kms_names.len())?;
    let kms = if kms_names.is_empty() {
        None
    } else {
        Some(Kms::new(&args.aws)?)
    };
    let kms_keys: Vec<KmsKeyring> = match &kms {
        Some(k) => kms_names
            .iter()
            .map(|id| KmsKeyring::seal(k.clients.clone(), id.clone()))
            .collect(),
        None => Vec::new(),
    };
    // An S3 output is checked (HeadObject) before any key service is asked
    // and before a producer command starts.
    let out = match &s3_out {
        Some(url) => {
            let s3 = crate::s3::client(&args.aws, &args.s3.s3())?;
            report.s3(&s3);
            let chunk = args
                .chunk_size
                .unwrap_or(envstream::format::DEFAULT_CHUNK_SIZE);
            let options = UploadOptions {
                schedule: crate::s3::schedule(args.expected_size, chunk)?,
                overwrite: args.out.force,
            };
            Output::s3(Upload::new(s3, url.clone(), options)?)
        }
        None => Output::File(Sink::open(&args.out.output, args.out.force)?),
    };
    // The first KMS key generates the data key (GenerateDataKey); every
    // other key wraps it. Without KMS keys, the OS generator makes it.
    let sealer = match kms_keys.split_first() {
        Some((generator, rest)) => {
            Sealer::prepare_with_blocking(generator, &recipients(&keys, rest), options)
        }
        None => Sealer::prepare_blocking(&recipients(&keys, &[]), options),
    };
    let sealer = match sealer {
        Ok(s) => s,
        Err(e) => return Err(out.abandon(e.into())),
    };
    note_merged(keys.len() + kms_keys.len(), sealer.header());
    report.header(sealer.header(), key_ids(sealer.header()));
    let (input, size, label) = match plaintext(&args) {
        Ok(p) => p,
        Err(e) => return Err(out.abandon(e)),
    };
    if let Plaintext::Producer(p) = &input {
        report.producer(p.status());
    }
    let input = report.count_input(input, size, &label);
    let mut out = out;
    let w = report.count_output(&mut out, &output_label(&args.out.output));
    let sealed = sealer
        .seal_stream(input, w, usize::from(args.perf.threads))
        .map(|(_, stats)| stats);
    match sealed {
        Ok(stats) => report.stats(stats.chunks),
        Err(e) => return Err(out.abandon(e.into())),
    }
    out.commit()
}

/// The plaintext input, its size when known, and its name for messages.
fn plaintext(args: &SealArgs) -> Result<(Plaintext, Option<u64>, String)> {
    if !args.producer.is_empty() {
        let p = Producer::start(&args.producer)?;
        let label = format!("the output of `{}`", args.producer.join(" "));
        return Ok((Plaintext::Producer(p), None, label));
    }
    let file = open_input(&args.input)?;
    let size = super::input_size(&file);
    let label = input_label(&args.input);
    let path = crate::output::named_file(&args.input)
        .map_or_else(|| std::path::PathBuf::from("stdin"), |p| p.to_path_buf());
    Ok((Plaintext::file(file, &path), size, label))
}

fn protected_seal(args: &SealArgs) -> Vec<Protected> {
    let mut v = vec![Protected::input(&args.input)];
    v.extend(
        key_file_paths(&args.keys)
            .into_iter()
            .map(Protected::KeyFile),
    );
    v
}
