//! `envstream rekey`: unwrap once, write a new header with keys added or
//! removed, and copy the body verbatim (nothing is decrypted); S3 to S3,
//! the body is copied inside S3.

use anyhow::{Context, Result};
use envstream::{BodyLayout, LocalKey, OpenOptions, Opener};
use envstream_kms::KmsKeyring;
use envstream_s3::blocking::Upload;
use envstream_s3::{PartSchedule, UploadOptions};

use super::keys::{recipients, unique_kms_keys, warn_if_shared, with_unwrap_keys};
use super::{key_ids, open_output, sealed_object, sealed_reader};
use crate::error::UsageError;
use crate::plan::{RekeyPlan, Target};
use crate::report::Report;

pub(super) fn run(plan: RekeyPlan, report: &mut Report) -> Result<()> {
    let be = envstream::Backend::default();
    report.backend(be);
    let mut add_local: Vec<LocalKey> = Vec::new();
    for p in &plan.add_files {
        warn_if_shared(p);
        let key = LocalKey::load(p, be).with_context(|| format!("key file {}", p.display()))?;
        if !add_local.iter().any(|k| k.key_id() == key.key_id()) {
            add_local.push(key);
        }
    }
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
        // S3 to S3: the body is copied inside S3; only the first part (the
        // new header and the start of the body) crosses the network.
        let options = UploadOptions {
            schedule: PartSchedule::Growing,
            overwrite: plan.force,
        };
        let upload = Upload::new(plan.s3.client(report)?, url.clone(), options)?;
        let _registered = upload
            .abort_handle()
            .map(crate::signals::AbortOnSignal::new);
        let new_header = header.to_bytes();
        let moved = envstream_s3::blocking::rekey_copy(obj, old.len() as u64, &new_header, upload)?;
        let body = obj.size() - old.len() as u64;
        // The same meaning as a local rekey: the whole sealed input, and
        // the whole sealed output (the network traffic is in `s3`).
        report.set_input(obj.size());
        report.add_output(new_header.len() as u64 + body);
        report.stats(BodyLayout::new(&header).chunk_count(body));
        report.clear_progress();
        eprintln!(
            "envstream: rekeyed {} to {url}: {} bytes (a {}-byte header and the {body}-byte body); {} bytes uploaded and {} downloaded (the new header and the first part of the body), {} copied inside S3, {} requests",
            obj.url(),
            new_header.len() as u64 + body,
            new_header.len(),
            moved.bytes_up,
            moved.bytes_down,
            moved.bytes_copied,
            moved.requests
        );
        return Ok(());
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
