//! `envstream seal`: a data key wrapped by every key given, then the input
//! (a file, stdin, or a producer command's output) sealed by the parallel
//! engine into an atomic `-o` file, an S3 object, or stdout.

use anyhow::Result;
use envstream::Sealer;

use super::keys::{
    check_key_count, load_keys, load_recipients, recipients, unique_kms_keys, KeyUse, Kms,
};
use super::{input_size, key_ids, open_output};
use crate::output::open_input;
use crate::plan::{SealPlan, Source};
use crate::report::Report;
use crate::source::{Plaintext, Producer};

pub(super) fn run(plan: SealPlan, report: &mut Report) -> Result<()> {
    report.backend(plan.backend);
    let kms_names = unique_kms_keys("--kms-key", &plan.kms)?;
    let pq = load_recipients("--recipient", &plan.recipients, plan.backend)?;
    let keys = load_keys(
        &plan.key_files,
        kms_names.len() + pq.len(),
        plan.backend,
        KeyUse::Seal,
    )?;
    check_key_count(keys.len() + pq.len() + kms_names.len())?;
    let kms = Kms::seal_keys(&plan.aws, &kms_names)?;
    // An S3 output is checked (HeadObject) before any key service is asked
    // and before a producer command starts.
    let schedule = crate::s3::schedule(plan.expected_size, plan.chunk_size)?;
    let options = match super::keys::signer(plan.sign_key.as_ref(), &plan.aws, plan.backend) {
        Ok(Some(s)) => plan.options.signer(s),
        Ok(None) => plan.options,
        Err(e) => return Err(e),
    };
    let mut out = open_output(&plan.to, plan.force, &plan.s3, schedule, report)?;
    // The first KMS key generates the data key (GenerateDataKey); every
    // other key wraps it. Without KMS keys, the OS generator makes it.
    let sealer = match kms.split_first() {
        Some((generator, rest)) => {
            Sealer::prepare_with_blocking(generator, &recipients(&keys, &pq, rest), options)
        }
        None => Sealer::prepare_blocking(&recipients(&keys, &pq, &[]), options),
    };
    let sealer = match sealer {
        Ok(s) => s,
        Err(e) => return Err(out.abandon(e.into())),
    };
    super::keys::note_merged(keys.len() + pq.len() + kms.len(), sealer.header());
    report.header(sealer.header(), key_ids(sealer.header()));
    let (input, size) = match plaintext(&plan.from) {
        Ok(p) => p,
        Err(e) => return Err(out.abandon(e)),
    };
    if let Plaintext::Producer(p) = &input {
        report.producer(p.status());
    }
    let input = report.count_input(input, size, &plan.from.label());
    let w = report.count_output(&mut out, &plan.to.label());
    let sealed = sealer
        .seal_stream(input, w, plan.threads)
        .map(|(_, stats)| stats);
    match sealed {
        Ok(stats) => report.stats(stats.chunks),
        Err(e) => return Err(out.abandon(e.into())),
    }
    if plan.sign_key.is_some() {
        report.signature("written");
    }
    out.commit()
}

/// The plaintext input and its size when known.
fn plaintext(from: &Source) -> Result<(Plaintext, Option<u64>)> {
    let path = match from {
        Source::Producer(cmd) => return Ok((Plaintext::Producer(Producer::start(cmd)?), None)),
        Source::File(p) => Some(p.clone()),
        _ => None,
    };
    let file = open_input(&path)?;
    let size = input_size(&file);
    let name = path.unwrap_or_else(|| "stdin".into());
    Ok((Plaintext::file(file, &name), size))
}
