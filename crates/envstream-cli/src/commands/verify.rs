//! `envstream verify`: authenticate a whole file, write no plaintext, and
//! summarize it.

use std::io::Write;

use anyhow::Result;

use super::{sealed_object, unlock};
use crate::plan::OpenPlan;
use crate::report::Report;

pub(super) fn run(plan: OpenPlan, report: &mut Report) -> Result<()> {
    report.backend(plan.backend);
    crate::signals::produces(crate::signals::Produces::Verdict);
    let object = sealed_object(&plan.from, &plan.s3, report)?;
    let (reader, _) = unlock(&plan, &object, None, true, report)?;
    let header = reader.header().clone();
    let opened_with = reader.opened_with().to_owned();
    report.header(&header, vec![opened_with.clone()]);
    let (_, stats) = reader.copy_to(std::io::sink(), plan.threads)?;
    report.stats(stats.chunks);
    if stats.signature_verified {
        report.signature("verified");
    }
    // The summary replaces the progress bar; a bar left above it would
    // look as if verification stopped early.
    report.clear_progress();
    let context = if header.context().is_empty() {
        "(empty)".to_owned()
    } else {
        let pairs: Vec<String> = header
            .context()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        pairs.join(" ")
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "verified: the whole file authenticates")?;
    writeln!(out, "plaintext bytes: {}", stats.plaintext_bytes)?;
    writeln!(
        out,
        "chunks:          {} of {} bytes",
        stats.chunks,
        header.chunk_size()
    )?;
    writeln!(out, "opened with:     {opened_with}")?;
    match header.signer() {
        Some(s) if stats.signature_verified => writeln!(
            out,
            "signed by:       {} key {} (signature verified; {})",
            s.algorithm().name(),
            s.fingerprint(),
            if plan.unwrap.signers.is_empty() {
                "signer not pinned"
            } else {
                "a pinned signer"
            }
        )?,
        // Not reachable: a signed stream read whole ends only once its
        // signature verified; say so rather than claim it.
        Some(_) => writeln!(out, "signed by:       (signature NOT verified)")?,
        None => writeln!(out, "signed by:       (not signed)")?,
    }
    writeln!(out, "context:         {context}")?;
    out.flush()?;
    Ok(())
}
