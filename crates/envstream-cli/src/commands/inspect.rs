//! `envstream inspect`: the header, as text or JSON. Needs no key.

use std::io::Write;

use anyhow::Result;
use envstream::{BodyLayout, Header, Opener};

use super::{sealed_object, sealed_reader};
use crate::plan::InspectPlan;
use crate::report::{context_json, Report};

pub(super) fn run(plan: InspectPlan, report: &mut Report) -> Result<()> {
    // An S3 object: one ranged GET (two if the header is longer than the
    // first read).
    let (header, size) = match sealed_object(&plan.from, &plan.s3, report)? {
        Some((obj, header)) => (header, Some(obj.size())),
        None => {
            let (input, size) = sealed_reader(&plan.from, &None, None)?;
            (Opener::new(input)?.header().clone(), size)
        }
    };
    let json = plan.json;
    let h = &header;
    // From the length alone (what `open --range` slices need); only
    // `verify` authenticates it.
    let plaintext = size.map(|n| BodyLayout::new(h).plaintext_size(n));
    let mut out = std::io::stdout().lock();
    if json {
        let mut v = header_json(h);
        v["size"] = serde_json::json!(size);
        v["plaintext_size"] = serde_json::json!(plaintext.as_ref().and_then(|p| p.as_ref().ok()));
        writeln!(out, "{v}")?;
    } else {
        if let Some(n) = size {
            writeln!(out, "sealed size:    {n}")?;
        }
        match &plaintext {
            Some(Ok(p)) => writeln!(
                out,
                "plaintext size: {p} (from the length; `verify` authenticates it)"
            )?,
            Some(Err(e)) => writeln!(out, "plaintext size: unknown ({e})")?,
            None => {}
        }
        writeln!(out, "format version: {}", h.version())?;
        writeln!(
            out,
            "suite:          0x{:04x} ({})",
            h.suite().id(),
            h.suite().name()
        )?;
        match h.signer() {
            Some(s) => writeln!(
                out,
                "signed by:      {} key {} (not verified here: `verify --signer` checks it)",
                s.algorithm().name(),
                s.fingerprint()
            )?,
            None => writeln!(out, "signed by:      (not signed)")?,
        }
        writeln!(out, "chunk size:     {}", h.chunk_size())?;
        writeln!(out, "header length:  {}", h.len())?;
        if h.context().is_empty() {
            writeln!(out, "context:        (empty)")?;
        } else {
            writeln!(out, "context:")?;
            for (k, v) in h.context().iter() {
                writeln!(out, "  {k}={v}")?;
            }
        }
        writeln!(out, "wrapped keys:   {}", h.wrapped_keys().len())?;
        for k in h.wrapped_keys() {
            let mrk = if is_mrk_record(k) {
                " (multi-Region key: its replicas open it)"
            } else if k.provider() == envstream::PQ_PROVIDER {
                " (recipient: its identity opens it)"
            } else {
                ""
            };
            writeln!(out, "  {} {}{mrk}", k.provider(), k.key_id())?;
        }
    }
    out.flush()?;
    Ok(())
}

fn header_json(h: &Header) -> serde_json::Value {
    serde_json::json!({
        "version": h.version(),
        "suite": h.suite().name(),
        "suite_id": h.suite().id(),
        "chunk_size": h.chunk_size(),
        "header_len": h.len(),
        "context": context_json(h),
        "signer": h.signer().map(|s| serde_json::json!({
            "algorithm": s.algorithm().name(),
            "fingerprint": s.fingerprint(),
            "public_key": s.value(),
        })),
        "keys": h.wrapped_keys().iter().map(|k| serde_json::json!({
            "provider": k.provider(),
            "key_id": k.key_id(),
            "multi_region": is_mrk_record(k),
            "recipient": k.provider() == envstream::PQ_PROVIDER,
            "wrapped_len": k.ciphertext().len(),
        })).collect::<Vec<_>>(),
    })
}

/// Whether a record is wrapped by an AWS KMS multi-Region key (a key ARN
/// whose id starts with `mrk-`; an alias never is).
fn is_mrk_record(k: &envstream::WrappedKey) -> bool {
    k.provider() == envstream_kms::KMS_PROVIDER && envstream_kms::is_mrk(k.key_id())
}
