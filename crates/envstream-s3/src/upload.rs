//! Sealed streams into S3: a [`Write`] that the envstream engine writes
//! the sealed bytes to, in order. Full parts are uploaded concurrently
//! while the next part fills; the object appears only when
//! [`Upload::finish`] completes the upload, and any failure, drop or
//! [`AbortHandle::abort`] aborts it, so no object and no incomplete
//! multipart upload is left behind.

use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;

use crate::client::{transfer_buffer, Counters, Req, S3Client};
use crate::download::S3Object;
use crate::error::{s3_error, LeftoverUpload, Op, S3Error, S3ErrorKind};
use crate::schedule::{PartSchedule, MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};
use crate::stored::{check_absent, confirm, crc32, head_etag, md5_hex, multipart_etag, Sent};
use crate::url::S3Url;

/// How an [`Upload`] writes its object.
#[derive(Clone, Copy, Debug)]
pub struct UploadOptions {
    /// Part sizes.
    pub schedule: PartSchedule,
    /// Replace an existing object. Without it the write is conditional
    /// (`If-None-Match: *`), so an object created by someone else in the
    /// meantime is not replaced either.
    pub overwrite: bool,
}

/// Where the multipart upload stands; guarded by one lock so that an abort
/// from another thread (a signal handler) cannot race a create or a
/// complete.
enum Stage {
    /// Nothing was sent yet.
    NotStarted,
    /// A multipart upload is open with this id.
    Open(String),
    /// The object exists: it was completed (or put in one request).
    Done,
    /// The upload was aborted; nothing may be sent any more.
    Aborted,
}

struct Control {
    s3: Arc<S3Client>,
    url: S3Url,
    stage: Mutex<Stage>,
}

impl Control {
    fn lock(&self) -> MutexGuard<'_, Stage> {
        match self.stage.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Aborts an open upload (waiting for a create or complete in
    /// progress) and stops any more from being sent. Returns whether the
    /// upload was stopped before its object was created.
    fn abort(&self) -> Result<bool, S3Error> {
        let mut stage = self.lock();
        let id = match std::mem::replace(&mut *stage, Stage::Aborted) {
            Stage::Open(id) => id,
            Stage::Done => {
                *stage = Stage::Done;
                return Ok(false);
            }
            Stage::NotStarted => return Ok(true),
            Stage::Aborted => return Ok(false),
        };
        let Req {
            client,
            endpoint,
            counters,
        } = self.s3.req();
        let url = self.url.clone();
        let timeouts = self.s3.timeouts(0);
        let upload_id = id.clone();
        self.s3
            .wait(async move {
                Counters::add(&counters.requests, 1);
                client
                    .abort_multipart_upload()
                    .bucket(url.bucket())
                    .key(url.key())
                    .upload_id(id)
                    .customize()
                    .config_override(timeouts)
                    .send()
                    .await
                    .map_err(|e| s3_error(Op::Abort, &url.to_string(), &endpoint, &e))?;
                Ok(true)
            })
            .map_err(|e| {
                e.left_behind(LeftoverUpload {
                    bucket: self.url.bucket().to_owned(),
                    key: self.url.key().to_owned(),
                    upload_id,
                })
            })
    }
}

/// Aborts an [`Upload`] from another thread (for example a signal
/// handler): an open multipart upload is aborted and nothing more is sent.
/// A create or complete in progress is waited for first.
#[derive(Clone)]
pub struct AbortHandle(Arc<Control>);

impl AbortHandle {
    /// Aborts the upload unless its object already exists; returns
    /// whether it was stopped before its object was created (false when
    /// it was complete, or already aborted).
    pub fn abort(&self) -> Result<bool, S3Error> {
        self.0.abort()
    }
}

struct PartDone {
    len: u64,
    result: Result<CompletedPart, S3Error>,
}

/// What a finished upload wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadSummary {
    /// Object bytes.
    pub bytes: u64,
    /// Parts (1 for a single PutObject).
    pub parts: u32,
}

/// A sealed stream being written to S3 (see the module docs).
///
/// Memory: the bytes of the part being filled plus the parts in flight,
/// at most `max(upload_buffer, one part)`. A part's bytes are kept until S3
/// acknowledges it, so the SDK can retry it.
pub struct Upload {
    control: Arc<Control>,
    schedule: PartSchedule,
    overwrite: bool,
    cur: Vec<u8>,
    next_part: u32,
    inflight: usize,
    held: u64,
    tx: mpsc::Sender<PartDone>,
    rx: mpsc::Receiver<PartDone>,
    parts: Vec<CompletedPart>,
    failed: Option<S3Error>,
    written: u64,
}

impl Upload {
    /// Prepares an upload to `url`. Sends nothing: a stream shorter than
    /// one part becomes a single PutObject when it finishes. Without
    /// `overwrite`, an existing object is refused here with a HeadObject
    /// (so a long stream is not sealed for nothing; a 403 answer, which a
    /// write-only role gets, passes) and again, atomically, by the
    /// conditional write at the end.
    pub fn new(s3: Arc<S3Client>, url: S3Url, options: UploadOptions) -> Result<Upload, S3Error> {
        if !options.overwrite {
            check_absent(&s3, &url)?;
        }
        let (tx, rx) = mpsc::channel();
        Ok(Upload {
            control: Arc::new(Control {
                s3,
                url,
                stage: Mutex::new(Stage::NotStarted),
            }),
            schedule: options.schedule,
            overwrite: options.overwrite,
            cur: Vec::new(),
            next_part: 1,
            inflight: 0,
            held: 0,
            tx,
            rx,
            parts: Vec::new(),
            failed: None,
            written: 0,
        })
    }

    /// A handle that aborts this upload from another thread.
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle(self.control.clone())
    }

    /// The client this upload uses.
    pub fn client(&self) -> &Arc<S3Client> {
        &self.control.s3
    }

    /// The object being written.
    pub fn url(&self) -> &S3Url {
        &self.control.url
    }

    /// The size of the first part.
    pub fn first_part_size(&self) -> u64 {
        self.schedule.part_size(1)
    }

    fn fail(&mut self, e: S3Error) -> S3Error {
        if self.failed.is_none() {
            self.failed = Some(e.clone());
        }
        e
    }

    /// Opens the multipart upload (under the stage lock) if it is not open yet.
    fn ensure_open(&mut self) -> Result<String, S3Error> {
        let mut stage = self.control.lock();
        match &*stage {
            Stage::Open(id) => return Ok(id.clone()),
            Stage::Aborted => {
                return Err(S3Error::new(S3ErrorKind::Other, "the upload was aborted"))
            }
            Stage::Done => {
                return Err(S3Error::new(
                    S3ErrorKind::Other,
                    "the upload is already complete",
                ))
            }
            Stage::NotStarted => {}
        }
        let s3 = self.client().clone();
        let Req {
            client,
            endpoint,
            counters,
        } = s3.req();
        let url = self.control.url.clone();
        let timeouts = s3.timeouts(0);
        let id = s3.wait(async move {
            Counters::add(&counters.requests, 1);
            let out = client
                .create_multipart_upload()
                .bucket(url.bucket())
                .key(url.key())
                .checksum_algorithm(ChecksumAlgorithm::Crc32)
                .customize()
                .config_override(timeouts)
                .send()
                .await
                .map_err(|e| s3_error(Op::Create, &url.to_string(), &endpoint, &e))?;
            out.upload_id.filter(|id| !id.is_empty()).ok_or_else(|| {
                S3Error::new(
                    S3ErrorKind::NotS3,
                    format!("S3 CreateMultipartUpload {url}: {endpoint} answered without an upload id, which S3 never does; check the endpoint and any proxy"),
                )
            })
        })?;
        *stage = Stage::Open(id.clone());
        Ok(id)
    }

    /// Sends the filled part and starts the next one.
    fn send_part(&mut self) -> Result<(), S3Error> {
        if self.next_part > MAX_PARTS {
            let cap = self.schedule.capacity();
            return Err(S3Error::new(
                S3ErrorKind::TooLarge,
                format!("the sealed stream is larger than 10,000 parts of this part-size schedule hold ({cap} bytes)"),
            ));
        }
        let id = self.ensure_open()?;
        let concurrency = self.client().settings.concurrency.max(1);
        while self.inflight >= concurrency {
            self.wait_one()?;
        }
        let body = Bytes::from(std::mem::take(&mut self.cur));
        let len = body.len() as u64;
        let number = self.next_part;
        self.next_part += 1;
        self.inflight += 1;
        self.held += len;
        let s3 = self.client().clone();
        let Req {
            client,
            endpoint,
            counters,
        } = s3.req();
        let url = self.control.url.clone();
        let timeouts = s3.timeouts(len);
        let tx = self.tx.clone();
        let part = i32::try_from(number).unwrap_or(i32::MAX);
        s3.spawn(async move {
            Counters::add(&counters.requests, 1);
            let crc = crc32(&body);
            let result = client
                .upload_part()
                .bucket(url.bucket())
                .key(url.key())
                .upload_id(id)
                .part_number(part)
                .content_length(i64::try_from(len).unwrap_or(i64::MAX))
                .checksum_crc32(crc.clone())
                .body(ByteStream::from(body))
                .customize()
                .config_override(timeouts)
                .send()
                .await
                .map_err(|e| s3_error(Op::UploadPart, &format!("{url} part {part}"), &endpoint, &e))
                .and_then(|out| {
                    let name = format!("S3 UploadPart {url} part {part}");
                    let etag = out.e_tag.filter(|t| !t.trim_matches('"').is_empty());
                    let Some(etag) = etag else {
                        return Err(S3Error::new(
                            S3ErrorKind::NotS3,
                            format!("{name}: {endpoint} acknowledged the part without an ETag, which S3 never does; check the endpoint and any proxy"),
                        ));
                    };
                    if out.checksum_crc32.as_ref().is_some_and(|c| *c != crc) {
                        return Err(S3Error::new(
                            S3ErrorKind::Unavailable,
                            format!("{name}: the checksum in the answer is not that of the part sent (corrupted in transit); retry"),
                        ));
                    }
                    Counters::add(&counters.up, len);
                    Ok(CompletedPart::builder()
                        .part_number(part)
                        .e_tag(etag)
                        .checksum_crc32(crc)
                        .build())
                });
            // The receiver is gone only if the upload was dropped.
            let _ = tx.send(PartDone { len, result });
        });
        Ok(())
    }

    /// Appends bytes `[from, to)` of `source` as parts copied inside S3
    /// (UploadPartCopy with a source range, pinned to the source's ETag):
    /// nothing of that range crosses the network. What was written before
    /// becomes a part of its own first, so it must be at least 5 MiB.
    pub(crate) fn append_copy(
        &mut self,
        source: &S3Object,
        from: u64,
        to: u64,
    ) -> Result<(), S3Error> {
        if !self.cur.is_empty() {
            if (self.cur.len() as u64) < MIN_PART_SIZE {
                return Err(S3Error::new(
                    S3ErrorKind::Other,
                    "a part before a copied range must be at least 5 MiB",
                ));
            }
            self.send_part()?;
        }
        let left = u64::from(MAX_PARTS.saturating_sub(self.next_part - 1)).max(1);
        let size = self
            .client()
            .settings
            .copy_part_size
            .max((to - from).div_ceil(left))
            .clamp(MIN_PART_SIZE, MAX_PART_SIZE);
        let concurrency = self.client().settings.concurrency.max(1);
        let mut at = from;
        while at < to {
            if self.next_part > MAX_PARTS {
                return Err(S3Error::new(
                    S3ErrorKind::TooLarge,
                    "the copy needs more than 10,000 parts",
                ));
            }
            let end = (at + size).min(to);
            let id = self.ensure_open()?;
            while self.inflight >= concurrency {
                self.wait_one()?;
            }
            let number = self.next_part;
            self.next_part += 1;
            self.inflight += 1;
            let s3 = self.client().clone();
            let Req {
                client,
                endpoint,
                counters,
            } = s3.req();
            let url = self.control.url.clone();
            let (copy_source, etag) = (source.url().copy_source(), source.etag().to_owned());
            // A server-side copy answers when it is done: allow 2 minutes
            // plus a second per 64 MiB.
            let timeouts = s3.timeouts_plus(Duration::from_secs(120 + ((end - at) >> 26)));
            let tx = self.tx.clone();
            let part = i32::try_from(number).unwrap_or(i32::MAX);
            let len = end - at;
            let range = format!("bytes={at}-{}", end - 1);
            s3.spawn(async move {
                Counters::add(&counters.requests, 1);
                let result = client
                    .upload_part_copy()
                    .bucket(url.bucket())
                    .key(url.key())
                    .upload_id(id)
                    .part_number(part)
                    .copy_source(copy_source)
                    .copy_source_range(range)
                    .copy_source_if_match(etag)
                    .customize()
                    .config_override(timeouts)
                    .send()
                    .await
                    .map_err(|e| {
                        s3_error(Op::CopyPart, &format!("{url} part {part}"), &endpoint, &e)
                    })
                    .and_then(|out| {
                        let r = out.copy_part_result;
                        let Some(etag) = r.as_ref().and_then(|r| r.e_tag.clone()) else {
                            return Err(S3Error::new(
                                S3ErrorKind::NotS3,
                                format!("S3 UploadPartCopy {url} part {part}: {endpoint} answered without the copied part's ETag, which S3 never does; check the endpoint and any proxy"),
                            ));
                        };
                        Counters::add(&counters.copied, len);
                        Ok(CompletedPart::builder()
                            .part_number(part)
                            .e_tag(etag)
                            .set_checksum_crc32(r.and_then(|r| r.checksum_crc32))
                            .build())
                    });
                let _ = tx.send(PartDone { len: 0, result });
            });
            at = end;
        }
        Ok(())
    }

    /// Waits for one part in flight to finish.
    fn wait_one(&mut self) -> Result<(), S3Error> {
        let done = self
            .rx
            .recv()
            .map_err(|_| S3Error::new(S3ErrorKind::Other, "an S3 part upload task vanished"))?;
        self.inflight -= 1;
        self.held -= done.len;
        match done.result {
            Ok(part) => {
                self.parts.push(part);
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    fn write_some(&mut self, mut data: &[u8]) -> Result<(), S3Error> {
        let budget = self.client().settings.upload_buffer;
        while !data.is_empty() {
            if let Some(e) = &self.failed {
                return Err(e.clone());
            }
            let size =
                usize::try_from(self.schedule.part_size(self.next_part)).unwrap_or(usize::MAX);
            if self.cur.len() >= size {
                self.send_part().map_err(|e| self.fail(e))?;
                continue;
            }
            if self.cur.capacity() < size {
                // Reserved, not touched: memory grows as the part fills.
                self.cur = transfer_buffer(size).map_err(|e| self.fail(e))?;
            }
            let mut take = (size - self.cur.len()).min(data.len());
            if self.held > 0 {
                let room = budget.saturating_sub(self.held + self.cur.len() as u64);
                if room == 0 {
                    self.wait_one()?;
                    continue;
                }
                take = take.min(usize::try_from(room).unwrap_or(usize::MAX));
            }
            self.cur.extend_from_slice(&data[..take]);
            self.written += take as u64;
            data = &data[take..];
        }
        Ok(())
    }

    /// Sends what is left, waits for every part, and completes the upload
    /// (or puts the whole object in one request when it is smaller than a
    /// part). On any failure the upload is aborted.
    ///
    /// When aborting fails too, the error says so and carries the upload
    /// left behind ([`S3Error::leftover_upload`]).
    pub fn finish(mut self) -> Result<UploadSummary, S3Error> {
        match self.finish_inner() {
            Ok(s) => Ok(s),
            Err(e) => Err(match self.control.abort() {
                Ok(_) => e,
                Err(abort) => e.with_failed_abort(abort),
            }),
        }
    }

    /// Aborts the upload now (a failed run): an open multipart upload is
    /// aborted and nothing more is sent. Returns whether it was stopped
    /// before its object was created. A failure carries the upload left
    /// behind ([`S3Error::leftover_upload`]).
    pub fn abort(self) -> Result<bool, S3Error> {
        self.control.abort()
    }

    fn finish_inner(&mut self) -> Result<UploadSummary, S3Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let started = !matches!(&*self.control.lock(), Stage::NotStarted);
        if !started {
            return self.put_whole();
        }
        if !self.cur.is_empty() {
            self.send_part()?;
        }
        while self.inflight > 0 {
            self.wait_one()?;
        }
        let mut parts = std::mem::take(&mut self.parts);
        parts.sort_by_key(|p| p.part_number);
        let count = parts.len() as u32;
        let expected = multipart_etag(&parts);
        let mut stage = self.control.lock();
        let Stage::Open(id) = &*stage else {
            return Err(S3Error::new(S3ErrorKind::Other, "the upload was aborted"));
        };
        let (id, s3) = (id.clone(), self.control.s3.clone());
        let Req {
            client,
            endpoint,
            counters,
        } = s3.req();
        let url = self.control.url.clone();
        let overwrite = self.overwrite;
        // S3 answers a completion at once (then keeps the connection with
        // whitespace), but stores that assemble the object first answer
        // only when done: s3s-fs took over 8 s for 4 GiB. A retry after a
        // timeout finds the upload gone, so wait long: 2 minutes plus a
        // second per 256 MiB.
        let timeouts = s3.timeouts_plus(Duration::from_secs(120 + (self.written >> 28)));
        let result = s3.wait(async move {
            Counters::add(&counters.requests, 1);
            let mut req = client
                .complete_multipart_upload()
                .bucket(url.bucket())
                .key(url.key())
                .upload_id(id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                );
            if !overwrite {
                req = req.if_none_match("*");
            }
            let out = req
                .customize()
                .config_override(timeouts)
                .send()
                .await
                .map_err(|e| s3_error(Op::Complete, &url.to_string(), &endpoint, &e))?;
            Ok(out.e_tag)
        });
        let sent = Sent {
            op: Op::Complete,
            len: self.written,
            etag: expected.as_deref(),
            crc32: None,
        };
        let url = self.control.url.clone();
        let result = match result {
            Ok(etag) => confirm(self.client(), &url, &sent, etag.as_deref(), None),
            Err(e) => self.ours_after_all(e, expected.as_deref()),
        };
        match result {
            Ok(()) => {
                *stage = Stage::Done;
                Ok(UploadSummary {
                    bytes: self.written,
                    parts: count,
                })
            }
            Err(e) => {
                drop(stage);
                Err(e)
            }
        }
    }

    /// After a failed completion: when the answer to a completion that
    /// worked was lost, the SDK's retry is refused (the key now exists, or
    /// the upload is gone). The object is ours if its ETag is the one S3
    /// gives our parts (`expected`); then the upload did complete.
    fn ours_after_all(&self, e: S3Error, expected: Option<&str>) -> Result<(), S3Error> {
        let retry_refused = matches!(
            e.kind(),
            S3ErrorKind::Exists | S3ErrorKind::Other | S3ErrorKind::Unavailable
        );
        let Some(expected) = expected.filter(|_| retry_refused) else {
            return Err(e);
        };
        match head_etag(self.client(), &self.control.url) {
            Ok(Some(etag)) if etag == expected => Ok(()),
            _ => Err(e),
        }
    }

    /// The whole (short) stream in one conditional PutObject.
    fn put_whole(&mut self) -> Result<UploadSummary, S3Error> {
        let mut stage = self.control.lock();
        if !matches!(&*stage, Stage::NotStarted) {
            return Err(S3Error::new(S3ErrorKind::Other, "the upload was aborted"));
        }
        let body = Bytes::from(std::mem::take(&mut self.cur));
        let len = body.len() as u64;
        let sent = body.clone();
        let s3 = self.control.s3.clone();
        let Req {
            client,
            endpoint,
            counters,
        } = s3.req();
        let url = self.control.url.clone();
        let overwrite = self.overwrite;
        let timeouts = s3.timeouts(len);
        // A single object's ETag is the MD5 of its bytes.
        let (md5, crc) = (md5_hex(&sent), crc32(&sent));
        let checksum = crc.clone();
        let result = s3.wait(async move {
            Counters::add(&counters.requests, 1);
            let mut req = client
                .put_object()
                .bucket(url.bucket())
                .key(url.key())
                .content_length(i64::try_from(len).unwrap_or(i64::MAX))
                .checksum_crc32(checksum)
                .body(ByteStream::from(body));
            if !overwrite {
                req = req.if_none_match("*");
            }
            let out = req
                .customize()
                .config_override(timeouts)
                .send()
                .await
                .map_err(|e| s3_error(Op::Put, &url.to_string(), &endpoint, &e))?;
            Counters::add(&counters.up, len);
            Ok((out.e_tag, out.checksum_crc32))
        });
        let url = self.control.url.clone();
        let what = Sent {
            op: Op::Put,
            len,
            etag: Some(&md5),
            crc32: Some(&crc),
        };
        match result {
            Ok((etag, echoed)) => confirm(
                self.client(),
                &url,
                &what,
                etag.as_deref(),
                echoed.as_deref(),
            )?,
            Err(e) => self.ours_after_all(e, Some(&md5))?,
        }
        *stage = Stage::Done;
        Ok(UploadSummary {
            bytes: self.written,
            parts: 1,
        })
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // Not finished: abort, so no incomplete multipart upload is left.
        let _ = self.control.abort();
    }
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_some(buf).map_err(S3Error::into_io)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
