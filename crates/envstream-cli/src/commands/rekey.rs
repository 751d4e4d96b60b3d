//! `envstream rekey`: unwrap once, write a new header with keys added or
//! removed, and copy the body verbatim (nothing is decrypted); S3 to S3,
//! the body is copied inside S3.

use anyhow::Result;
use envstream::{BodyLayout, OpenOptions, Opener};
use envstream_kms::KmsKeyring;
use envstream_s3::PartSchedule;

use super::keys::{load_added_keys, recipients, unique_kms_keys, with_unwrap_keys};
use super::{key_ids, open_output, sealed_object, sealed_reader};
use crate::error::UsageError;
use crate::plan::{RekeyPlan, Target};
use crate::report::Report;

pub(super) fn run(plan: RekeyPlan, report: &mut Report) -> Result<()> {
    let be = envstream::Backend::default();
    report.backend(be);
    let add_local = load_added_keys(&plan.add_files, be)?;
    let add_kms_names = unique_kms_keys("--add-kms-key", &plan.add_kms);
    if let Target::S3(_) = plan.to {
        // The S3 settings are checked before any key is used.
        plan.s3.client(report)?;
    }
    let object = sealed_object(&plan.from, &plan.s3, report)?;
    let rekeyed = with_unwrap_keys(
        &plan.unwrap,
        &plan.key_files,
        be,
        !add_kms_names.is_empty(),
        |refs, kms| {
            let (input, size) = sealed_reader(&plan.from, &object, None)?;
            let input = report.count_input(input, size, &plan.from.label());
            let add_kms: Vec<KmsKeyring> = kms.map_or_else(Vec::new, |k| {
                add_kms_names
                    .iter()
                    .map(|id| KmsKeyring::seal(k.clients.clone(), id.clone()))
                    .collect()
            });
            let add = recipients(&add_local, &add_kms);
            let options = OpenOptions::new().backend(be);
            Ok(Opener::new(input)?.rekey_blocking(refs, options, &add, &plan.remove)?)
        },
    )?;
    for k in rekeyed.already_wrapped() {
        eprintln!("envstream: note: {k} already wraps the data key; it is kept as it is");
    }
    if rekeyed.changes_nothing() {
        return Err(UsageError(
            "nothing to change: every key to add already wraps the data key and none is removed, so no new file was written".into(),
        )
        .into());
    }
    let header = rekeyed.header().clone();
    report.header(&header, key_ids(&header));
    if let (Some((obj, old)), Target::S3(url)) = (&object, &plan.to) {
        let old_len = old.len() as u64;
        return crate::s3::copy_rekeyed(obj, old_len, &header, url, (&plan.s3, plan.force), report);
    }
    let mut out = open_output(
        &plan.to,
        plan.force,
        &plan.s3,
        PartSchedule::Growing,
        report,
    )?;
    let written = rekeyed
        .write_to(report.count_output(&mut out, &plan.to.label()))
        .map(|(_, body)| body);
    match written {
        Ok(body) => report.stats(BodyLayout::new(&header).chunk_count(body)),
        Err(e) => return Err(out.abandon(e.into())),
    }
    out.commit()
}
