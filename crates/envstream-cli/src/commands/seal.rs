//! `envstream seal`: a data key wrapped by every key given, then the input
//! sealed by the parallel engine into an atomic `-o` file or stdout.

use anyhow::Result;
use envstream::{EncryptionContext, SealOptions, Sealer};
use envstream_kms::KmsKeyring;

use super::keys::{key_file_paths, load_keys, recipients, unique_kms_keys, KeyUse, Kms};
use super::{
    backend, check_output_target, input_size, key_ids, note_merged, refuse_terminal_stdout,
};
use crate::cli::SealArgs;
use crate::output::{input_label, open_input, output_label, Sink};
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
    refuse_terminal_stdout(&args.out.output)?;
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
    let mut sink = Sink::open(&args.out.output, args.out.force)?;
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
    let out = report.count_output(sink.writer(), &output_label(&args.out.output));
    let (_, stats) = sealer.seal_stream(input, out, usize::from(args.perf.threads))?;
    report.stats(stats.chunks);
    sink.commit()
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
