//! `envstream open`: unwrap, authenticate the header, and decrypt with the
//! parallel engine, or only a `--range` (seeking on files and S3 objects,
//! draining pipes).

use std::io::{Read, Seek, SeekFrom, Write};

use anyhow::{Context, Result};
use envstream::BodyLayout;
use envstream_s3::PartSchedule;

use super::{open_output, sealed_object, unlock};
use crate::plan::{OpenPlan, Target};
use crate::report::Report;
use crate::values::ByteRange;

pub(super) fn run(plan: OpenPlan, report: &mut Report) -> Result<()> {
    report.backend(plan.backend);
    // An S3 input is opened (its size, ETag and header) before any key is
    // used; a range fetches only up to the last chunk it needs.
    let object = sealed_object(&plan.from, &plan.s3, report)?;
    let end = match (&object, plan.range) {
        (Some((obj, header)), Some(r)) => {
            Some(BodyLayout::new(header).range_end(obj.size(), r.start, r.end)?)
        }
        _ => None,
    };
    let (reader, pipe) = unlock(&plan, &object, end, plan.range.is_none(), report)?;
    report.header(reader.header(), vec![reader.opened_with().to_owned()]);
    let to = plan.to.as_ref().unwrap_or(&Target::Stdout);
    let mut out = open_output(to, plan.force, &plan.s3, PartSchedule::Growing, report)?;
    let label = to.label();
    let signer = reader.signer().cloned();
    let Some(ByteRange { start, end }) = plan.range else {
        let stats = if plan.verify_first && matches!(to, Target::Stdout) {
            // Everything is decrypted and verified into the scratch file;
            // only then does a byte reach stdout.
            let spool = std::io::BufWriter::with_capacity(1 << 20, crate::atomic::spool_file()?);
            let (spool, stats) = reader.copy_to(spool, plan.threads)?;
            let mut spool = spool.into_inner().map_err(|e| e.into_error())?;
            spool.seek(SeekFrom::Start(0))?;
            let mut w = report.count_output(&mut out, &label);
            std::io::copy(&mut spool, &mut w)?;
            w.flush()?;
            stats
        } else {
            let w = report.count_output(&mut out, &label);
            reader.copy_to(w, plan.threads)?.1
        };
        report.stats(stats.chunks);
        if stats.signature_verified {
            report.signature("verified");
        }
        out.commit()?;
        super::note_unpinned(signer.as_ref(), &plan.unwrap);
        return Ok(());
    };
    if let Some(s) = reader.signer() {
        eprintln!(
            "envstream: note: a range is authenticated by the AEAD only: any holder of the data key could have written it; the signature of {} key {} covers the whole stream (open or verify it without --range)",
            s.algorithm().name(),
            s.fingerprint()
        );
        report.signature("not checked");
    }
    let mut reader = reader;
    if pipe.is_none() {
        // Reads and authenticates only the chunks that overlap the range.
        reader
            .seek(SeekFrom::Start(start))
            .map_err(envstream::Error::from)?;
    } else {
        // A pipe cannot seek: authenticate and discard up to START.
        std::io::copy(&mut (&mut reader).take(start), &mut std::io::sink())
            .map_err(envstream::Error::from)?;
    }
    let mut w = report.count_output(&mut out, &label);
    let limit = end.map_or(u64::MAX, |e| e - start);
    std::io::copy(&mut (&mut reader).take(limit), &mut w).map_err(envstream::Error::from)?;
    w.flush()?;
    report.stats(reader.chunks());
    drop(reader);
    // The rest of a pipe is read and discarded (not decrypted), so that
    // the writer upstream is not killed by SIGPIPE, which would fail a
    // `set -o pipefail` pipeline.
    if let Some(mut rest) = pipe {
        let n = std::io::copy(&mut rest, &mut std::io::sink())
            .with_context(|| format!("cannot read {}", plan.from.label()))?;
        report.add_input(n);
    }
    out.commit()
}
