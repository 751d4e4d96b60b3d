//! `envstream inspect`: the header, as text or JSON. Needs no key.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use envstream::{BodyLayout, Header, Opener};

use crate::cli::{S3Args, S3AwsArgs, S3PathArgs};
use crate::output::open_sealed_input;
use crate::report::context_json;

pub(super) fn run(
    json: bool,
    input: &Option<PathBuf>,
    aws: &S3AwsArgs,
    s3: &S3PathArgs,
) -> Result<()> {
    let s3 = S3Args {
        path: s3.clone(),
        ..S3Args::default()
    };
    let (header, size) = match crate::s3::location(input.as_ref())? {
        // One ranged GET (two if the header is longer than the first read).
        Some(url) => {
            let client = crate::s3::client(&aws.into(), &s3)?;
            let (obj, header) = crate::s3::open_object(&client, &url)?;
            (header, Some(obj.size()))
        }
        None => {
            crate::s3::refuse_unused(&s3, "an s3:// input")?;
            if aws.region.is_some() || aws.profile.is_some() {
                return Err(crate::error::UsageError(
                    "--region and --profile apply only to an s3:// input; inspect needs no key"
                        .into(),
                )
                .into());
            }
            let f: File = open_sealed_input(input)?;
            let size = super::input_size(&f);
            (Opener::new(f)?.header().clone(), size)
        }
    };
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
            writeln!(out, "  {} {}", k.provider(), k.key_id())?;
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
        "keys": h.wrapped_keys().iter().map(|k| serde_json::json!({
            "provider": k.provider(),
            "key_id": k.key_id(),
            "wrapped_len": k.ciphertext().len(),
        })).collect::<Vec<_>>(),
    })
}
