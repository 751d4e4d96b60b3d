//! Rekeying in place on S3: a new object made of a new header and the old
//! object's body, copied server-side. Only the first part (the new header
//! and the start of the body, 8 MiB in all) crosses the network.

use std::io::Write;

use crate::client::TransferStats;
use crate::download::{get_range, S3Object};
use crate::error::{S3Error, S3ErrorKind};
use crate::schedule::MIN_PART_SIZE;
use crate::upload::Upload;

/// Writes `new_header` followed by the body of `source` (its bytes from
/// `old_header_len` on) through `dest`. The first part is the new header
/// plus the start of the body; the rest of the body is copied inside S3
/// with UploadPartCopy, so only the first part crosses the network (down,
/// then up). Bodies shorter than two first parts are simply downloaded and
/// uploaded. Atomic like any [`Upload`]: the object appears only when the
/// upload completes, and a failure aborts it. Returns the requests and
/// bytes moved, as counted by the client.
///
/// The first part of `dest`'s schedule must hold the header plus 5 MiB
/// (every part but the last must be at least 5 MiB); the growing schedule
/// (8 MiB) does.
pub fn rekey_copy(
    source: &S3Object,
    old_header_len: u64,
    new_header: &[u8],
    mut dest: Upload,
) -> Result<TransferStats, S3Error> {
    if dest.url() == source.url() {
        return Err(S3Error::new(
            S3ErrorKind::InvalidLocation,
            format!(
                "the output {} is the input; write the rekeyed object to another key",
                dest.url()
            ),
        ));
    }
    let s3 = dest.client().clone();
    let before = s3.stats();
    let size = source.size();
    if old_header_len > size {
        return Err(S3Error::new(
            S3ErrorKind::BadObject,
            format!("{} ends inside its header", source.url()),
        ));
    }
    let body = size - old_header_len;
    let header_len = new_header.len() as u64;
    let part = dest.first_part_size();
    if part < header_len + MIN_PART_SIZE {
        return Err(S3Error::new(
            S3ErrorKind::Other,
            format!("a first part of {part} bytes cannot hold the {header_len}-byte header and 5 MiB of body"),
        ));
    }
    let as_s3 = |e: std::io::Error| match S3Error::from_io_ref(&e) {
        Some(s) => s.clone(),
        None => S3Error::new(S3ErrorKind::Other, e.to_string()),
    };
    dest.write_all(new_header).map_err(as_s3)?;
    let first = if header_len + body <= 2 * part {
        body
    } else {
        part - header_len
    };
    if first > 0 {
        let bytes = s3.wait(get_range(
            s3.clone(),
            source.url().clone(),
            source.etag().to_owned(),
            old_header_len,
            old_header_len + first,
        ))?;
        dest.write_all(&bytes).map_err(as_s3)?;
    }
    if first < body {
        dest.append_copy(source, old_header_len + first, size)?;
    }
    dest.finish()?;
    let after = s3.stats();
    Ok(TransferStats {
        requests: after.requests - before.requests,
        bytes_down: after.bytes_down - before.bytes_down,
        bytes_up: after.bytes_up - before.bytes_up,
        bytes_copied: after.bytes_copied - before.bytes_copied,
    })
}
