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
    let Some(ByteRange { start, end }) = plan.range else {
        let w = report.count_output(&mut out, &label);
        let (_, stats) = reader.copy_to(w, plan.threads)?;
        report.stats(stats.chunks);
        return out.commit();
    };
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
