//! Ending an [`Upload`]: the completion (or a single PutObject for a
//! stream shorter than one part), confirmed against what was sent, or the
//! abort.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::CompletedMultipartUpload;
use bytes::Bytes;

use crate::client::{upload_time, Moved};
use crate::error::{Op, S3Error, S3ErrorKind};
use crate::stored::{confirm, crc32, head_etag, md5_hex, multipart_etag, Sent};
use crate::upload::{aborted, Stage, Upload, UploadSummary};

impl Upload {
    /// Sends what is left, waits for every part, and completes the upload
    /// (or puts the whole object in one request when it is smaller than a
    /// part), then confirms that the object stored is what was sent. On
    /// any failure the upload is aborted; when aborting fails too, the
    /// error says so and carries the upload left behind
    /// ([`S3Error::leftover_upload`]).
    pub async fn finish(mut self) -> Result<UploadSummary, S3Error> {
        let result = self.finish_inner().await;
        self.finished = true;
        match result {
            Ok(s) => Ok(s),
            Err(e) => Err(match self.control.abort().await {
                Ok(_) => e,
                Err(abort) => e.with_failed_abort(abort),
            }),
        }
    }

    /// Aborts the upload now (a failed run): an open multipart upload is
    /// aborted and nothing more is sent. Returns whether it was stopped
    /// before its object was created. A failure carries the upload left
    /// behind ([`S3Error::leftover_upload`]).
    pub async fn abort(mut self) -> Result<bool, S3Error> {
        self.finished = true;
        self.control.abort().await
    }

    async fn finish_inner(&mut self) -> Result<UploadSummary, S3Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if !self.opened {
            return self.put_whole().await;
        }
        if !self.cur.is_empty() {
            let concurrency = self.client().settings().concurrency.max(1);
            self.wait_for_slot(concurrency).await?;
            self.send_part()?;
        }
        self.wait_all().await?;
        let mut parts = std::mem::take(&mut self.parts);
        parts.sort_by_key(|p| p.part_number);
        let count = parts.len() as u32;
        let expected = multipart_etag(&parts);
        let s3 = self.client().clone();
        let url = self.url().clone();
        let mut stage = self.control.stage.lock().await;
        let Stage::Open(id) = &*stage else {
            return Err(aborted());
        };
        // S3 answers a completion at once (then keeps the connection with
        // whitespace), but stores that assemble the object first answer
        // only when done: s3s-fs took over 8 s for 4 GiB. A retry after a
        // timeout finds the upload gone, so wait long: 2 minutes plus a
        // second per 256 MiB.
        let extra = std::time::Duration::from_secs(120 + (self.written >> 28));
        let overwrite = self.overwrite;
        let answer = s3
            .call(Op::Complete, &url.to_string(), extra, |c, t| {
                let mut req = c
                    .complete_multipart_upload()
                    .bucket(url.bucket())
                    .key(url.key())
                    .upload_id(id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts.clone()))
                            .build(),
                    );
                if !overwrite {
                    req = req.if_none_match("*");
                }
                req.customize().config_override(t).send()
            })
            .await;
        let sent = Sent {
            op: Op::Complete,
            len: self.written,
            etag: expected.as_deref(),
            crc32: None,
        };
        match answer {
            Ok(out) => confirm(&s3, &url, &sent, out.e_tag.as_deref(), None).await?,
            Err(e) => ours_after_all(&s3, &url, e, expected.as_deref()).await?,
        }
        *stage = Stage::Done;
        Ok(UploadSummary {
            bytes: self.written,
            parts: count,
        })
    }

    /// The whole (short) stream in one conditional PutObject.
    async fn put_whole(&mut self) -> Result<UploadSummary, S3Error> {
        let s3 = self.client().clone();
        let url = self.url().clone();
        let mut stage = self.control.stage.lock().await;
        if !matches!(&*stage, Stage::NotStarted) {
            return Err(aborted());
        }
        let body = Bytes::from(std::mem::take(&mut self.cur));
        let len = body.len() as u64;
        // A single object's ETag is the MD5 of its bytes.
        let (md5, crc) = (md5_hex(&body), crc32(&body));
        let overwrite = self.overwrite;
        let answer = s3
            .call(Op::Put, &url.to_string(), upload_time(len), |c, t| {
                let mut req = c
                    .put_object()
                    .bucket(url.bucket())
                    .key(url.key())
                    .content_length(i64::try_from(len).unwrap_or(i64::MAX))
                    .checksum_crc32(crc.clone())
                    .body(ByteStream::from(body.clone()));
                if !overwrite {
                    req = req.if_none_match("*");
                }
                req.customize().config_override(t).send()
            })
            .await;
        let sent = Sent {
            op: Op::Put,
            len,
            etag: Some(&md5),
            crc32: Some(&crc),
        };
        match answer {
            Ok(out) => {
                s3.moved(Moved::Up, len);
                confirm(
                    &s3,
                    &url,
                    &sent,
                    out.e_tag.as_deref(),
                    out.checksum_crc32.as_deref(),
                )
                .await?
            }
            Err(e) => ours_after_all(&s3, &url, e, Some(&md5)).await?,
        }
        *stage = Stage::Done;
        Ok(UploadSummary {
            bytes: self.written,
            parts: 1,
        })
    }
}

/// After a failed completion: when the answer to a completion that worked
/// was lost, the SDK's retry is refused (the key now exists, or the upload
/// is gone). The object is ours if its ETag is the one S3 gives our parts
/// (`expected`); then the upload did complete.
async fn ours_after_all(
    s3: &crate::client::S3Client,
    url: &crate::url::S3Url,
    e: S3Error,
    expected: Option<&str>,
) -> Result<(), S3Error> {
    let retry_refused = matches!(
        e.kind(),
        S3ErrorKind::Exists | S3ErrorKind::Other | S3ErrorKind::Unavailable
    );
    let Some(expected) = expected.filter(|_| retry_refused) else {
        return Err(e);
    };
    match head_etag(s3, url).await {
        Ok(Some(etag)) if etag == expected => Ok(()),
        _ => Err(e),
    }
}
