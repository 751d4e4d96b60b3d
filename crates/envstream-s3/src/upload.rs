//! Sealed streams into S3: an [`Upload`] takes the sealed bytes in order
//! (an `AsyncWrite`). Full parts are uploaded concurrently, as tasks on the
//! runtime that drives the upload, while the next part fills; the object
//! appears only when [`Upload::finish`] completes the upload, and any
//! failure, or [`Upload::abort`], aborts it, so no object and no
//! incomplete multipart upload is left behind. Finishing lives in
//! `finish.rs`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::CompletedPart;
use bytes::Bytes;
use tokio::task::{JoinHandle, JoinSet};

use crate::client::{joined, transfer_buffer, upload_time, Moved, S3Client};
use crate::error::{Op, S3Error, S3ErrorKind};
use crate::schedule::{PartSchedule, MAX_PARTS};
pub use crate::stage::AbortHandle;
pub(crate) use crate::stage::{aborted, Control, Stage};
use crate::stored::{check_absent, crc32};
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

pub(crate) struct PartDone {
    pub(crate) len: u64,
    pub(crate) result: Result<CompletedPart, S3Error>,
}

/// What a finished upload wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadSummary {
    /// Object bytes.
    pub bytes: u64,
    /// Parts (1 for a single PutObject).
    pub parts: u32,
}

/// A sealed stream being written to S3 (see the module docs): an
/// `AsyncWrite` (for `envstream::Sealer::seal_to_async`), then
/// [`Upload::finish`] or [`Upload::abort`]. Part uploads are tasks on the
/// runtime that drives it; dropping an unfinished upload aborts it on the
/// current runtime, if there is one.
///
/// Memory: the bytes of the part being filled plus the parts in flight,
/// at most `max(upload_buffer, one part)`. A part's bytes are kept until S3
/// acknowledges it, so the SDK can retry it.
pub struct Upload {
    pub(crate) control: Arc<Control>,
    schedule: PartSchedule,
    pub(crate) overwrite: bool,
    pub(crate) cur: Vec<u8>,
    pub(crate) next_part: u32,
    held: u64,
    pub(crate) parts: Vec<CompletedPart>,
    pub(crate) tasks: JoinSet<PartDone>,
    opening: Option<JoinHandle<Result<String, S3Error>>>,
    pub(crate) opened: bool,
    pub(crate) failed: Option<S3Error>,
    pub(crate) written: u64,
    pub(crate) finished: bool,
}

impl Upload {
    /// Prepares an upload to `url`. Sends nothing but the existence check:
    /// a stream shorter than one part becomes a single PutObject when it
    /// finishes. Without `overwrite`, an existing object is refused here
    /// with a HeadObject (so a long stream is not sealed for nothing; a 403
    /// answer, which a write-only role gets, passes) and again, atomically,
    /// by the conditional write at the end.
    pub async fn new(s3: &S3Client, url: S3Url, options: UploadOptions) -> Result<Upload, S3Error> {
        if !options.overwrite {
            check_absent(s3, &url).await?;
        }
        Ok(Upload {
            control: Arc::new(Control {
                s3: s3.clone(),
                url,
                stage: tokio::sync::Mutex::new(Stage::NotStarted),
            }),
            schedule: options.schedule,
            overwrite: options.overwrite,
            cur: Vec::new(),
            next_part: 1,
            held: 0,
            parts: Vec::new(),
            tasks: JoinSet::new(),
            opening: None,
            opened: false,
            failed: None,
            written: 0,
            finished: false,
        })
    }

    /// A handle that aborts this upload from elsewhere.
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle(self.control.clone())
    }

    /// The client this upload uses.
    pub fn client(&self) -> &S3Client {
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

    pub(crate) fn fail(&mut self, e: S3Error) -> S3Error {
        if self.failed.is_none() {
            self.failed = Some(e.clone());
        }
        e
    }

    fn part_size(&self) -> usize {
        usize::try_from(self.schedule.part_size(self.next_part)).unwrap_or(usize::MAX)
    }

    /// Copies as much of `data` as the current part and the memory budget
    /// take, without waiting: 0 means [`Upload::poll_progress`] must run
    /// (the part is full, or the parts in flight hold the whole budget).
    pub(crate) fn fill(&mut self, data: &[u8]) -> Result<usize, S3Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let size = self.part_size();
        if self.cur.len() >= size || data.is_empty() {
            return Ok(0);
        }
        if self.cur.capacity() < size {
            // Reserved, not touched: memory grows as the part fills.
            self.cur = transfer_buffer(size).map_err(|e| self.fail(e))?;
        }
        let mut take = (size - self.cur.len()).min(data.len());
        if self.held > 0 {
            let budget = self.client().settings().upload_buffer;
            let room = budget.saturating_sub(self.held + self.cur.len() as u64);
            take = take.min(usize::try_from(room).unwrap_or(usize::MAX));
        }
        self.cur.extend_from_slice(&data[..take]);
        self.written += take as u64;
        Ok(take)
    }

    /// Makes room after [`Upload::fill`] took nothing: sends the full part
    /// (opening the multipart upload first), or waits for a part in flight.
    pub(crate) fn poll_progress(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S3Error>> {
        let concurrency = self.client().settings().concurrency.max(1);
        if self.cur.len() < self.part_size() {
            // The budget is full: wait for a part to be acknowledged.
            return self.poll_one(cx);
        }
        if let Err(e) = ready!(self.poll_open(cx)) {
            return Poll::Ready(Err(self.fail(e)));
        }
        while self.tasks.len() >= concurrency {
            ready!(self.poll_one(cx))?;
        }
        Poll::Ready(self.send_part())
    }

    /// Whether the multipart upload is open, opening it (as a task) if not.
    pub(crate) fn poll_open(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S3Error>> {
        loop {
            if self.opened {
                return Poll::Ready(Ok(()));
            }
            if let Some(task) = self.opening.as_mut() {
                let r = ready!(Pin::new(task).poll(cx));
                self.opening = None;
                joined(r)?;
                self.opened = true;
                return Poll::Ready(Ok(()));
            }
            let control = self.control.clone();
            self.opening = Some(tokio::spawn(async move { control.open().await }));
        }
    }

    /// Waits for one part in flight to finish.
    pub(crate) fn poll_one(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S3Error>> {
        let Some(done) = ready!(self.tasks.poll_join_next(cx)) else {
            return Poll::Ready(Ok(()));
        };
        let done = match done {
            Ok(d) => d,
            Err(_) => {
                let e = S3Error::new(S3ErrorKind::Other, "an S3 part upload task failed");
                return Poll::Ready(Err(self.fail(e)));
            }
        };
        self.held -= done.len;
        Poll::Ready(match done.result {
            Ok(part) => {
                self.parts.push(part);
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        })
    }

    /// Waits for every part in flight.
    pub(crate) async fn wait_all(&mut self) -> Result<(), S3Error> {
        while !self.tasks.is_empty() {
            std::future::poll_fn(|cx| self.poll_one(cx)).await?;
        }
        Ok(())
    }

    /// The number the next part takes, refused past 10,000 parts.
    pub(crate) fn take_part_number(
        &mut self,
        too_many: impl FnOnce() -> String,
    ) -> Result<i32, S3Error> {
        if self.next_part > MAX_PARTS {
            return Err(self.fail(S3Error::new(S3ErrorKind::TooLarge, too_many())));
        }
        let n = self.next_part;
        self.next_part += 1;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }

    /// Sends the filled part as a task and starts the next one. The
    /// multipart upload is open and a slot is free.
    pub(crate) fn send_part(&mut self) -> Result<(), S3Error> {
        let cap = self.schedule.capacity();
        let part = self.take_part_number(|| {
            format!("the sealed stream is larger than 10,000 parts of this part-size schedule hold ({cap} bytes)")
        })?;
        let id = self.open_id()?;
        let body = Bytes::from(std::mem::take(&mut self.cur));
        let len = body.len() as u64;
        self.held += len;
        let (s3, url) = (self.client().clone(), self.url().clone());
        self.tasks.spawn(async move {
            let result = upload_part(&s3, &url, &id, part, body).await;
            PartDone { len, result }
        });
        Ok(())
    }

    /// The open upload's id (the stage is not locked: the creator set it
    /// before any part was sent).
    pub(crate) fn open_id(&self) -> Result<String, S3Error> {
        match self.control.stage.try_lock().as_deref() {
            Ok(Stage::Open(id)) => Ok(id.clone()),
            Ok(_) => Err(aborted()),
            // An abort holds the lock: the upload is going away.
            Err(_) => Err(aborted()),
        }
    }

    pub(crate) async fn wait_for_slot(&mut self, concurrency: usize) -> Result<(), S3Error> {
        while self.tasks.len() >= concurrency {
            std::future::poll_fn(|cx| self.poll_one(cx)).await?;
        }
        Ok(())
    }
}

/// One part, with its CRC32; the answer must carry an ETag and, if it
/// echoes a checksum, the one sent.
async fn upload_part(
    s3: &S3Client,
    url: &S3Url,
    id: &str,
    part: i32,
    body: Bytes,
) -> Result<CompletedPart, S3Error> {
    let len = body.len() as u64;
    let crc = crc32(&body);
    let name = format!("{url} part {part}");
    let out = s3
        .call(Op::UploadPart, &name, upload_time(len), |c, t| {
            c.upload_part()
                .bucket(url.bucket())
                .key(url.key())
                .upload_id(id)
                .part_number(part)
                .content_length(i64::try_from(len).unwrap_or(i64::MAX))
                .checksum_crc32(crc.clone())
                .body(ByteStream::from(body.clone()))
                .customize()
                .config_override(t)
                .send()
        })
        .await?;
    let etag = out.e_tag.filter(|t| !t.trim_matches('"').is_empty());
    let Some(etag) = etag else {
        return Err(S3Error::new(
            S3ErrorKind::NotS3,
            format!("S3 UploadPart {name}: {} acknowledged the part without an ETag, which S3 never does; check the endpoint and any proxy", s3.endpoint()),
        ));
    };
    if out.checksum_crc32.as_ref().is_some_and(|c| *c != crc) {
        return Err(S3Error::new(
            S3ErrorKind::Unavailable,
            format!("S3 UploadPart {name}: the checksum in the answer is not that of the part sent (corrupted in transit); retry"),
        ));
    }
    s3.moved(Moved::Up, len);
    Ok(CompletedPart::builder()
        .part_number(part)
        .e_tag(etag)
        .checksum_crc32(crc)
        .build())
}

impl tokio::io::AsyncWrite for Upload {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        loop {
            match this.fill(buf) {
                Ok(0) if !buf.is_empty() => {}
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) => return Poll::Ready(Err(e.into_io())),
            }
            if let Err(e) = ready!(this.poll_progress(cx)) {
                return Poll::Ready(Err(e.into_io()));
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Does nothing: an upload is completed by [`Upload::finish`], which
    /// says whether the object was stored.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Not finished: abort, so no incomplete multipart upload is left.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let control = self.control.clone();
            rt.spawn(async move {
                let _ = control.abort().await;
            });
        }
    }
}
