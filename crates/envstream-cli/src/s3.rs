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
use envstream_s3::{Addressing, PartSchedule, RangeReader, S3Client, S3Object, S3Settings, S3Url};

use crate::cli::{AwsArgs, S3Args};
use crate::error::UsageError;

/// The S3 location a path argument names, if it starts with `s3://`; a
/// malformed one is a usage error.
pub(crate) fn location(p: Option<&PathBuf>) -> Result<Option<S3Url>> {
    let Some(s) = p.and_then(|p| p.to_str()) else {
        return Ok(None);
    };
    if !S3Url::is_s3(s) {
        return Ok(None);
    }
    S3Url::parse(s)
        .map(Some)
        .map_err(|e| UsageError(e.to_string()).into())
}

/// A client configured by `--region`, `--profile` and the S3 flags (and
/// the standard AWS environment and files).
pub(crate) fn client(aws: &AwsArgs, s3: &S3Args) -> Result<Arc<S3Client>> {
    let settings = S3Settings {
        region: aws.region.clone(),
        profile: aws.profile.clone(),
        addressing: if s3.path_style {
            Addressing::Path
        } else {
            Addressing::Auto
        },
        concurrency: usize::from(s3.concurrency),
        upload_buffer: s3.buffer,
        ..S3Settings::default()
    };
    Ok(S3Client::load_blocking(settings)?)
}

/// Part sizes for sealing about `plaintext` bytes (`--expected-size`):
/// the sealed size adds a tag per chunk and the header.
pub(crate) fn schedule(plaintext: Option<u64>, chunk_size: u32) -> Result<PartSchedule> {
    let Some(n) = plaintext else {
        return Ok(PartSchedule::Growing);
    };
    let sealed = n
        .saturating_add((n / u64::from(chunk_size) + 1).saturating_mul(16))
        .saturating_add(envstream::format::MAX_HEADER_LEN as u64);
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

/// The object offset after the last chunk that plaintext `start..end`
/// needs (the final chunk when the range reaches the end), so a range
/// restore fetches nothing else.
pub(crate) fn range_end(
    obj: &S3Object,
    header: &Header,
    start: u64,
    end: Option<u64>,
) -> Result<u64> {
    let layout = BodyLayout::new(header);
    let total = layout.plaintext_size(obj.size())?;
    let stop = end.unwrap_or(total).min(total);
    let last_byte = if stop > start { stop - 1 } else { start };
    let (_, last, _) = layout.locate(last_byte, total);
    let (_, final_index, _) = layout.locate(total, total);
    if stop == total || last >= final_index {
        return Ok(obj.size());
    }
    Ok(layout
        .chunk_offset(last + 1)
        .map_or(obj.size(), |o| o.min(obj.size())))
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
