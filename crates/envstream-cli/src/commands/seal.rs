//! `envstream seal`: a data key wrapped by every key given, then the input
//! sealed by the parallel engine into an atomic `-o` file or stdout.

use anyhow::Result;
use envstream::{EncryptionContext, SealOptions, Sealer};
use envstream_kms::KmsKeyring;
use envstream_s3::{Upload, UploadOptions};

use super::keys::{key_file_paths, load_keys, recipients, unique_kms_keys, KeyUse, Kms};
use super::{
    backend, check_output_target, input_size, key_ids, note_merged, refuse_terminal_stdout,
};
use crate::cli::SealArgs;
use crate::error::UsageError;
use crate::output::{input_label, open_input, output_label, AbortOnSignal, Output, Sink};
use crate::paths::Protected;
use crate::report::Report;

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
    if s3_out.is_none() && args.expected_size.is_some() {
        return Err(UsageError(
            "--expected-size sizes S3 upload parts; it needs -o s3://BUCKET/KEY".into(),
        )
        .into());
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
    check_output_target(&args.out.output, &protected_seal(&args))?;
    let kms_names = unique_kms_keys("--kms-key", &args.kms_keys);
    let keys = load_keys(&args.keys, kms_names.len(), be, KeyUse::Seal)?;
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
    let input = open_input(&args.input)?;
    let size = input_size(&input);
    let input = report.count_input(input, size, &input_label(&args.input));
    // An S3 output is checked (HeadObject) before any key service is asked.
    let mut out = match &s3_out {
        Some(url) => {
            let s3 = crate::s3::client(&args.aws, &args.s3)?;
            let chunk = args
                .chunk_size
                .unwrap_or(envstream::format::DEFAULT_CHUNK_SIZE);
            let options = UploadOptions {
                schedule: crate::s3::schedule(args.expected_size, chunk)?,
                overwrite: args.out.force,
            };
            Output::S3(Box::new(Upload::new(s3, url.clone(), options)?))
        }
        None => Output::File(Sink::open(&args.out.output, args.out.force)?),
    };
    // The first KMS key generates the data key (GenerateDataKey); every
    // other key wraps it. Without KMS keys, the OS generator makes it.
    let sealer = match kms_keys.split_first() {
        Some((generator, rest)) => {
            Sealer::prepare_with_blocking(generator, &recipients(&keys, rest), options)?
        }
        None => Sealer::prepare_blocking(&recipients(&keys, &[]), options)?,
    };
    note_merged(keys.len() + kms_keys.len(), sealer.header());
    report.header(sealer.header(), key_ids(sealer.header()));
    let label = output_label(&args.out.output);
    let threads = usize::from(args.perf.threads);
    // A signal aborts the upload until it is complete.
    let _registered = match &out {
        Output::S3(upload) => Some(AbortOnSignal::new(upload.abort_handle())),
        Output::File(_) => None,
    };
    match &mut out {
        Output::File(sink) => {
            let w = report.count_output(sink.writer(), &label);
            let (_, stats) = sealer.seal_stream(input, w, threads)?;
            report.stats(stats.chunks);
        }
        Output::S3(upload) => {
            let w = report.count_output(upload.as_mut(), &label);
            let (_, stats) = sealer.seal_stream(input, w, threads)?;
            report.stats(stats.chunks);
        }
    }
    let client = match &out {
        Output::S3(upload) => Some(upload.client().clone()),
        Output::File(_) => None,
    };
    out.commit()?;
    if let Some(c) = client {
        report.transfer(c.stats());
    }
    Ok(())
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
