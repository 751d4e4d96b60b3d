//! Rekeying in place on S3: a new object made of a new header, the old
//! object's body, copied server-side, and (for a signed stream) a new
//! trailer. Only the first part (the new header and the start of the
//! body, 8 MiB in all) and the trailer cross the network.

use std::time::Duration;

use aws_sdk_s3::types::CompletedPart;
use tokio::io::AsyncWriteExt;

use crate::client::{Moved, S3Client, TransferStats};
use crate::download::S3Object;
use crate::error::{Op, S3Error, S3ErrorKind};
use crate::schedule::{MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};
use crate::upload::{PartDone, Upload};
use crate::url::S3Url;

/// What a rekey changes around a stored body: the old header's and
/// trailer's lengths, and the new header and trailer (`docs/FORMAT.md`
/// sections 4 and 15; an unsigned stream has no trailer).
#[derive(Clone, Copy, Debug)]
pub struct Rewrite<'a> {
    /// Bytes of the source's header.
    pub old_header_len: u64,
    /// Bytes of the source's trailer (0 for an unsigned stream).
    pub old_trailer_len: u64,
    /// The new header.
    pub header: &'a [u8],
    /// The new trailer (empty for an unsigned stream).
    pub trailer: &'a [u8],
}

/// Writes `new.header`, the body of `source` (the bytes between its old
/// header and old trailer) and `new.trailer` through `dest`. The first
/// part is the new header plus the start of the body; the rest of the
/// body is copied inside S3 with UploadPartCopy, so only the first part
/// and the trailer cross the network (the first part down, then up; the
/// trailer up, as the last part). Bodies shorter than two first parts are
/// simply downloaded and uploaded. Atomic like any [`Upload`]: the object
/// appears only when the upload completes, and a failure aborts it.
/// Returns the requests and bytes moved, as counted by the client.
///
/// The first part of `dest`'s schedule must hold the header plus 5 MiB
/// (every part but the last must be at least 5 MiB); the growing schedule
/// (8 MiB) does.
pub async fn rekey_copy(
    source: &S3Object,
    new: Rewrite<'_>,
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
    let old_header_len = new.old_header_len;
    let new_header = new.header;
    let Some(size) = source.size().checked_sub(new.old_trailer_len) else {
        return Err(S3Error::new(
            S3ErrorKind::BadObject,
            format!("{} is shorter than its trailer", source.url()),
        ));
    };
    if old_header_len > size {
        return Err(S3Error::new(
            S3ErrorKind::BadObject,
            format!("{} ends inside its header or trailer", source.url()),
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
        None => S3Error::new(S3ErrorKind::Other, "the upload failed"),
    };
    let first = if header_len + body <= 2 * part {
        body
    } else {
        part - header_len
    };
    let sent = async {
        dest.write_all(new_header).await.map_err(as_s3)?;
        if first > 0 {
            let bytes = source
                .read_range(old_header_len, old_header_len + first)
                .await?;
            dest.write_all(&bytes).await.map_err(as_s3)?;
        }
        if first < body {
            dest.append_copy(source, old_header_len + first, size)
                .await?;
        }
        // After copied parts, the trailer is a last part of its own, which
        // may be small; append_copy left no copied part under 5 MiB.
        dest.write_all(new.trailer).await.map_err(as_s3)?;
        Ok::<(), S3Error>(())
    }
    .await;
    match sent {
        Ok(()) => {
            dest.finish().await?;
        }
        Err(e) => {
            return Err(match dest.abort().await {
                Ok(_) => e,
                Err(abort) => e.with_failed_abort(abort),
            })
        }
    }
    Ok(s3.stats().since(&before))
}

impl Upload {
    /// Appends bytes `[from, to)` of `source` as parts copied inside S3
    /// (UploadPartCopy with a source range, pinned to the source's ETag):
    /// nothing of that range crosses the network. What was written before
    /// becomes a part of its own first, so it must be at least 5 MiB.
    async fn append_copy(&mut self, source: &S3Object, from: u64, to: u64) -> Result<(), S3Error> {
        let concurrency = self.client().settings().concurrency.max(1);
        if !self.cur.is_empty() {
            if (self.cur.len() as u64) < MIN_PART_SIZE {
                return Err(S3Error::new(
                    S3ErrorKind::Other,
                    "a part before a copied range must be at least 5 MiB",
                ));
            }
            std::future::poll_fn(|cx| self.poll_open(cx)).await?;
            self.wait_for_slot(concurrency).await?;
            self.send_part()?;
        }
        std::future::poll_fn(|cx| self.poll_open(cx)).await?;
        // One part number is kept for a part written after the copy.
        let left = u64::from(MAX_PARTS.saturating_sub(self.next_part)).max(1);
        let size = self
            .client()
            .settings()
            .copy_part_size
            .max((to - from).div_ceil(left))
            .clamp(MIN_PART_SIZE, MAX_PART_SIZE - MIN_PART_SIZE);
        let mut at = from;
        while at < to {
            // A remainder under 5 MiB joins the part before it, so that
            // a part written after the copy (a trailer) may follow.
            let end = match (at + size).min(to) {
                end if to - end < MIN_PART_SIZE => to,
                end => end,
            };
            self.wait_for_slot(concurrency).await?;
            let part = self.take_part_number(|| "the copy needs more than 10,000 parts".into())?;
            let id = self.open_id()?;
            let (s3, url) = (self.client().clone(), self.url().clone());
            let (copy_source, etag) = (source.url().copy_source(), source.etag().to_owned());
            self.tasks.spawn(async move {
                let result = copy_part(&s3, &url, &id, part, &copy_source, &etag, at, end).await;
                PartDone { len: 0, result }
            });
            at = end;
        }
        Ok(())
    }
}

/// One part copied inside S3 from `[at, end)` of `copy_source`, pinned to
/// its ETag. A server-side copy answers when it is done: it may take 2
/// minutes plus a second per 64 MiB.
#[allow(clippy::too_many_arguments)]
async fn copy_part(
    s3: &S3Client,
    url: &S3Url,
    id: &str,
    part: i32,
    copy_source: &str,
    etag: &str,
    at: u64,
    end: u64,
) -> Result<CompletedPart, S3Error> {
    let name = format!("{url} part {part}");
    let extra = Duration::from_secs(120 + ((end - at) >> 26));
    let out = s3
        .call(Op::CopyPart, &name, extra, |c, t| {
            c.upload_part_copy()
                .bucket(url.bucket())
                .key(url.key())
                .upload_id(id)
                .part_number(part)
                .copy_source(copy_source)
                .copy_source_range(format!("bytes={at}-{}", end - 1))
                .copy_source_if_match(etag)
                .customize()
                .config_override(t)
                .send()
        })
        .await?;
    let r = out.copy_part_result;
    let Some(tag) = r.as_ref().and_then(|r| r.e_tag.clone()) else {
        return Err(S3Error::new(
            S3ErrorKind::NotS3,
            format!("S3 UploadPartCopy {name}: {} answered without the copied part's ETag, which S3 never does; check the endpoint and any proxy", s3.endpoint()),
        ));
    };
    s3.moved(Moved::Copied, end - at);
    Ok(CompletedPart::builder()
        .part_number(part)
        .e_tag(tag)
        .set_checksum_crc32(r.and_then(|r| r.checksum_crc32))
        .build())
}
