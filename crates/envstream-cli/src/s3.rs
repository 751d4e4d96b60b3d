//! `s3://BUCKET/KEY` inputs and outputs: which arguments name S3 objects,
//! the client the AWS settings and S3 flags configure, and the input type
//! that is either a local file or an S3 object read by concurrent ranges.
//! The transport itself is the `envstream-s3` crate.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use envstream::{BodyLayout, Header};
use envstream_s3::blocking::{RangeReader, S3Client, S3Object};
use envstream_s3::{Addressing, PartSchedule, S3Settings, S3Url};

use crate::cli::{AwsArgs, S3Args};
use crate::error::UsageError;

/// Whether a path argument was meant as an S3 location: `s3://…`, or a
/// near miss such as `S3://b/k`, `s3:/b/k` or `s3:b/k`.
pub(crate) fn looks_like_s3(s: &str) -> bool {
    s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("s3:"))
}

/// `s3://` and the rest of a near miss, as the user probably meant it.
fn meant(s: &str) -> String {
    let rest = s.get(3..).unwrap_or("").trim_start_matches('/');
    format!("s3://{rest}")
}

/// The S3 location a path argument names, if it starts with `s3://`; a
/// malformed one is a usage error, and so is a near miss (`S3://b/k`,
/// `s3:/b/k`): it would otherwise be taken as a local path.
pub(crate) fn location(p: Option<&PathBuf>) -> Result<Option<S3Url>> {
    let Some(s) = p.and_then(|p| p.to_str()) else {
        return Ok(None);
    };
    if !looks_like_s3(s) {
        return Ok(None);
    }
    if !S3Url::is_s3(s) {
        return Err(UsageError(format!(
            "{s:?} is not an S3 location: did you mean {:?}? (for a local file of that name, write ./{s})",
            meant(s)
        ))
        .into());
    }
    S3Url::parse(s)
        .map(Some)
        .map_err(|e| UsageError(e.to_string()).into())
}

/// Refuses an S3 location (or a near miss) where only a local file works:
/// `what` says what the path is for.
pub(crate) fn local_only(p: &std::path::Path, what: &str) -> Result<()> {
    match p.to_str() {
        Some(s) if looks_like_s3(s) => {
            Err(UsageError(format!("{s} names S3, but {what}; name a local file")).into())
        }
        _ => Ok(()),
    }
}

/// A client configured by `--region`, `--profile` and the S3 flags (and
/// the standard AWS environment and files).
pub(crate) fn client(aws: &AwsArgs, s3: &S3Args) -> Result<Arc<S3Client>> {
    let defaults = S3Settings::default();
    let settings = S3Settings {
        region: aws.region.clone(),
        profile: aws.profile.clone(),
        addressing: if s3.path.path_style {
            Addressing::Path
        } else {
            Addressing::Auto
        },
        concurrency: s3
            .concurrency
            .concurrency
            .map_or(defaults.concurrency, usize::from),
        upload_buffer: s3.buffer.buffer.unwrap_or(defaults.upload_buffer),
        ..defaults
    };
    Ok(S3Client::load(settings)?)
}

/// Refuses S3 flags when the command names no S3 location: they would
/// silently do nothing.
pub(crate) fn refuse_unused(s3: &S3Args, what: &str) -> Result<()> {
    match s3.given().as_slice() {
        [] => Ok(()),
        flags => Err(UsageError(format!(
            "{} {} only with {what}; drop {}",
            flags.join(", "),
            if flags.len() == 1 { "applies" } else { "apply" },
            if flags.len() == 1 { "it" } else { "them" }
        ))
        .into()),
    }
}

/// Part sizes for sealing about `plaintext` bytes (`--expected-size`).
pub(crate) fn schedule(plaintext: Option<u64>, chunk_size: u32) -> Result<PartSchedule> {
    let Some(n) = plaintext else {
        return Ok(PartSchedule::Growing);
    };
    let sealed = BodyLayout::sealed_size_bound(chunk_size, n);
    Ok(PartSchedule::for_expected_size(
        sealed.min(envstream_s3::MAX_OBJECT_SIZE),
    )?)
}

/// Opens an S3 object and reads its header: one ranged GET, two if the
/// header is longer than the first read. The header is not authenticated.
pub(crate) fn open_object(s3: &Arc<S3Client>, url: &S3Url) -> Result<(S3Object, Header)> {
    let mut obj = S3Object::open(s3.clone(), url.clone())?;
    let header = obj
        .read_header()
        .map_err(|e| match envstream::Error::from_io_ref(&e) {
            Some(_) => anyhow::Error::from(envstream::Error::from(e)),
            None => anyhow::Error::from(e),
        })?;
    Ok((obj, header))
}

/// A sealed input: a local file (or stdin), or an S3 object read with
/// concurrent ranged GETs.
pub(crate) enum Input {
    File(File),
    S3(Box<RangeReader>),
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::File(f) => f.read(buf),
            Input::S3(r) => r.read(buf),
        }
    }

    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        match self {
            Input::File(f) => f.read_vectored(bufs),
            Input::S3(r) => r.read_vectored(bufs),
        }
    }
}

impl Seek for Input {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self {
            Input::File(f) => f.seek(pos),
            Input::S3(r) => r.seek(pos),
        }
    }
}

/// S3 settings, refused unless the command uses an S3 location, and the
/// one client they make (created when first needed).
pub(crate) struct S3Access {
    pub(crate) aws: AwsArgs,
    pub(crate) flags: S3Args,
    client: std::sync::OnceLock<std::sync::Arc<envstream_s3::blocking::S3Client>>,
}

impl S3Access {
    pub(crate) fn new(aws: AwsArgs, flags: S3Args) -> S3Access {
        S3Access {
            aws,
            flags,
            client: std::sync::OnceLock::new(),
        }
    }

    /// The client of these settings, registered with the report.
    pub(crate) fn client(
        &self,
        report: &mut crate::report::Report,
    ) -> Result<std::sync::Arc<envstream_s3::blocking::S3Client>> {
        if let Some(c) = self.client.get() {
            return Ok(c.clone());
        }
        let c = client(&self.aws, &self.flags)?;
        report.s3(&c);
        Ok(self.client.get_or_init(|| c).clone())
    }
}

/// Rekey from S3 to S3: the object `obj` is written to `to` as `rewrite`
/// says (the new `header` and, for a signed stream, the new trailer
/// around its body); the body is copied inside S3, and only the first part
/// (the new header and the start of the body) and the trailer cross the
/// network.
pub(crate) fn copy_rekeyed(
    obj: &S3Object,
    rewrite: envstream_s3::Rewrite<'_>,
    header: &Header,
    to: &S3Url,
    (s3, force): (&S3Access, bool),
    report: &mut crate::report::Report,
) -> Result<()> {
    let options = envstream_s3::UploadOptions {
        schedule: PartSchedule::Growing,
        overwrite: force,
    };
    let upload = envstream_s3::blocking::Upload::new(s3.client(report)?, to.clone(), options)?;
    let _registered = upload
        .abort_handle()
        .map(crate::signals::AbortOnSignal::new);
    let moved = envstream_s3::blocking::rekey_copy(obj, rewrite, upload)?;
    let body = obj.size() - rewrite.old_header_len - rewrite.old_trailer_len;
    let (head, tail) = (rewrite.header.len() as u64, rewrite.trailer.len() as u64);
    let total = head + body + tail;
    // The same meaning as a local rekey: the whole sealed input, and the
    // whole sealed output (the network traffic is in `s3`).
    report.set_input(obj.size());
    report.add_output(total);
    report.stats(BodyLayout::new(header).chunk_count(body));
    report.clear_progress();
    eprintln!(
        "envstream: rekeyed {} to {to}: {total} bytes (a {head}-byte header, the {body}-byte body{}); {} bytes uploaded and {} downloaded (the new header and the first part of the body), {} copied inside S3, {} requests",
        obj.url(),
        if tail > 0 { format!(" and a {tail}-byte trailer, signed again") } else { String::new() },
        moved.bytes_up,
        moved.bytes_down,
        moved.bytes_copied,
        moved.requests
    );
    Ok(())
}
