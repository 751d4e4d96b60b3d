//! `envstream rekey`: unwrap once, write a new header with keys added or
//! removed, and copy the body verbatim (nothing is decrypted); S3 to S3,
//! the body is copied inside S3.

use anyhow::Result;
use envstream::{BodyLayout, OpenOptions, Opener};
use envstream_kms::KmsKeyring;
use envstream_s3::PartSchedule;

use super::keys::{
    self, load_added_keys, load_recipients, recipients, signer, unique_kms_keys, with_unwrap_keys,
};
use super::{key_ids, open_output, sealed_object, sealed_reader};
use crate::error::UsageError;
use crate::plan::{RekeyPlan, Target};
use crate::report::Report;

pub(super) fn run(plan: RekeyPlan, report: &mut Report) -> Result<()> {
    let be = envstream::Backend::default();
    report.backend(be);
    let add_local = load_added_keys(&plan.add_files, be)?;
    let add_pq = load_recipients("--add-recipient", &plan.add_recipients, be)?;
    let add_kms_names = unique_kms_keys("--add-kms-key", &plan.add_kms)?;
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
            let add = recipients(&add_local, &add_pq, &add_kms);
            let options = keys::pin_signers(OpenOptions::new().backend(be), &plan.unwrap)?;
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
    let rekeyed = match (header.signer(), &plan.sign_key) {
        (None, None) => rekeyed,
        (Some(s), None) => {
            return Err(UsageError(format!(
                "the stream is signed by {} key {}: a rekey rewrites the header its signature covers; pass --sign-key with that signing key",
                s.algorithm().name(),
                s.fingerprint()
            ))
            .into())
        }
        (_, Some(k)) => match signer(Some(k), &plan.unwrap.aws, be)? {
            Some(s) => rekeyed.sign_with(s)?,
            None => rekeyed,
        },
    };
    report.header(&header, key_ids(&header));
    if let (Some((obj, old)), Target::S3(url)) = (&object, &plan.to) {
        let layout = BodyLayout::new(old);
        let trailer = match layout.trailer_len() {
            0 => Vec::new(),
            // The body is copied inside S3, so it is not hashed here: the
            // old signature is checked over the digest the old trailer
            // states, which an open of the new object checks again.
            n => {
                let at = obj.size().saturating_sub(n);
                let old_trailer = obj.read_range(at, obj.size())?;
                rekeyed.resign_trailer(&old_trailer, layout.body_len(obj.size())?)?
            }
        };
        let rewrite = envstream_s3::Rewrite {
            old_header_len: old.len() as u64,
            old_trailer_len: layout.trailer_len(),
            header: &header.to_bytes(),
            trailer: &trailer,
        };
        crate::s3::copy_rekeyed(obj, rewrite, &header, url, (&plan.s3, plan.force), report)?;
        super::note_unpinned(header.signer(), &plan.unwrap);
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
    out.commit()?;
    super::note_unpinned(header.signer(), &plan.unwrap);
    Ok(())
}
