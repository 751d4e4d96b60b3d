//! `envstream verify`: authenticate a whole file, write no plaintext, and
//! summarize it.

use std::io::Write;

use anyhow::Result;
use envstream::{BodyLayout, Opener};

use super::keys::{open_options, with_unwrap_keys};
use super::{backend, input_size};
use crate::cli::VerifyArgs;
use crate::output::{input_label, open_sealed_input};
use crate::report::Report;
use crate::s3::Input;

pub(super) fn run(args: VerifyArgs, report: &mut Report) -> Result<()> {
    let be = backend(args.perf.backend);
    report.backend(be);
    let options = open_options(&args.context, be);
    crate::signals::produces(crate::signals::Produces::Verdict);
    let object = crate::s3::sealed_input(&args.input, &args.unwrap.aws, &args.s3.s3(), report)?;
    let reader = with_unwrap_keys(&args.unwrap, be, false, |refs, _| {
        let (input, size) = match &object {
            // Every chunk, fetched by concurrent ranged GETs.
            Some((obj, header)) => (
                Input::S3(Box::new(obj.reader(&BodyLayout::new(header), obj.size()))),
                Some(obj.size()),
            ),
            None => {
                let f = open_sealed_input(&args.input)?;
                let size = input_size(&f);
                (Input::File(f), size)
            }
        };
        let input = report.count_input(input, size, &input_label(&args.input));
        let opener = Opener::new(input)?;
        Ok(opener.unlock_blocking(refs, options)?)
    })?;
    let header = reader.header().clone();
    let opened_with = reader.opened_with().to_owned();
    report.header(&header, vec![opened_with.clone()]);
    let (_, stats) = reader.copy_to(std::io::sink(), usize::from(args.perf.threads))?;
    report.stats(stats.chunks);
    // The summary replaces the progress bar; a bar left above it would
    // look as if verification stopped early.
    report.clear_progress();
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
    if header.context().is_empty() {
        writeln!(out, "context:         (empty)")?;
    } else {
        let pairs: Vec<String> = header
            .context()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(out, "context:         {}", pairs.join(" "))?;
    }
    out.flush()?;
    Ok(())
}
