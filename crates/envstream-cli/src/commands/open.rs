//! `envstream open`: unwrap, authenticate the header, and decrypt with the
//! parallel engine, or only a `--range` (seeking on files, draining pipes).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use anyhow::{Context, Result};
use envstream::{BodyLayout, Opener};

use super::keys::{key_file_paths, open_options, with_unwrap_keys};
use super::{backend, check_output_target, input_size};
use crate::cli::OpenArgs;
use crate::error::UsageError;
use crate::output::{input_label, open_sealed_input, output_label, Sink};
use crate::paths::Protected;
use crate::report::Report;
use crate::s3::Input;
use crate::values::ByteRange;

pub(super) fn run(args: OpenArgs, report: &mut Report) -> Result<()> {
    let be = backend(args.perf.backend);
    report.backend(be);
    let options = open_options(&args.context, be);
    let range = args.range;
    let mut protected = vec![Protected::input(&args.input)];
    protected.extend(
        key_file_paths(&args.unwrap.keys)
            .into_iter()
            .map(Protected::KeyFile),
    );
    if crate::s3::location(args.out.output.as_ref())?.is_some() {
        return Err(UsageError(
            "open writes plaintext, and never to S3: write it to a file (-o FILE) or stdout".into(),
        )
        .into());
    }
    check_output_target(&args.out.output, &protected)?;
    // An S3 input is opened (its size, ETag and header: one or two ranged
    // GETs) before any key is used.
    let object = crate::s3::sealed_input(&args.input, &args.unwrap.aws, &args.s3.s3(), report)?;
    let mut seekable = false;
    // A range from a pipe stops reading early; the rest of the pipe is then
    // read and discarded (not decrypted) so that the writer upstream is not
    // killed by SIGPIPE, which would fail a `set -o pipefail` pipeline.
    let mut drain: Option<File> = None;
    let reader = with_unwrap_keys(&args.unwrap, be, false, |refs, _| {
        let (input, size) = match &object {
            Some((obj, header)) => {
                // Fetch only up to the last chunk the range needs.
                let end = match range {
                    Some(r) => crate::s3::range_end(obj, header, r.start, r.end)?,
                    None => obj.size(),
                };
                let reader = obj.reader(&BodyLayout::new(header), end);
                seekable = true;
                (Input::S3(Box::new(reader)), Some(obj.size()))
            }
            None => {
                let input = open_sealed_input(&args.input)?;
                let size = input_size(&input);
                seekable = size.is_some();
                if range.is_some() && !seekable {
                    drain = Some(input.try_clone().context("cannot use the input")?);
                }
                (Input::File(input), size)
            }
        };
        let input = report.count_input(
            input,
            if range.is_some() { None } else { size },
            &input_label(&args.input),
        );
        let opener = Opener::new(input)?;
        Ok(opener.unlock_blocking(refs, options)?)
    })?;
    report.header(reader.header(), vec![reader.opened_with().to_owned()]);
    let mut sink = Sink::open(&args.out.output, args.out.force)?;
    let label = output_label(&args.out.output);
    match range {
        None => {
            let out = report.count_output(sink.writer(), &label);
            let (_, stats) = reader.copy_to(out, usize::from(args.perf.threads))?;
            report.stats(stats.chunks);
        }
        Some(ByteRange { start, end }) => {
            let mut reader = reader;
            if seekable {
                // Reads and authenticates only the chunks that overlap the range.
                reader
                    .seek(SeekFrom::Start(start))
                    .map_err(envstream::Error::from)?;
            } else {
                // A pipe cannot seek: authenticate and discard up to START.
                std::io::copy(&mut (&mut reader).take(start), &mut std::io::sink())
                    .map_err(envstream::Error::from)?;
            }
            let mut out = report.count_output(sink.writer(), &label);
            let limit = end.map_or(u64::MAX, |e| e - start);
            std::io::copy(&mut (&mut reader).take(limit), &mut out).map_err(|e| {
                match envstream::Error::from_io_ref(&e) {
                    Some(_) => anyhow::Error::from(envstream::Error::from(e)),
                    None => anyhow::Error::from(e),
                }
            })?;
            out.flush()?;
            report.stats(reader.chunks());
            drop(reader);
            if let Some(mut rest) = drain {
                let n = std::io::copy(&mut rest, &mut std::io::sink())
                    .with_context(|| format!("cannot read {}", input_label(&args.input)))?;
                report.add_input(n);
            }
        }
    }
    sink.commit()
}
