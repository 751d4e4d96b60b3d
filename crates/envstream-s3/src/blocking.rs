//! The blocking facade: the same operations for callers without a Tokio
//! runtime, such as envstream's blocking engine (whose workers read and
//! write through [`RangeReader`] and [`Upload`]).
//!
//! The facade owns a small runtime (two worker threads) and runs every
//! async operation there. The calling thread waits on a plain channel,
//! never by polling a Tokio future, so the facade works from any thread: a
//! plain thread, a worker of a multi-thread runtime (it then steps aside
//! with `block_in_place`, so that runtime's other tasks move on), or a
//! current-thread runtime (whose thread waits while the facade's own
//! runtime does the work). It never runs a request on the caller's runtime,
//! so it cannot deadlock on it.

use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use envstream::{BodyLayout, Header};

use crate::client::{S3Settings, TransferStats};
use crate::error::{S3Error, S3ErrorKind};
use crate::reader::AsyncRangeReader;
use crate::upload::{UploadOptions, UploadSummary};
use crate::url::S3Url;

/// An S3 client with a runtime of its own (see the module docs).
pub struct S3Client {
    client: crate::S3Client,
    rt: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("blocking::S3Client")
            .field("endpoint", &self.client.endpoint())
            .finish_non_exhaustive()
    }
}

impl Drop for S3Client {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is forbidden inside an async
        // context: let its workers wind down on their own.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl S3Client {
    /// Starts the facade's runtime and loads the AWS configuration on it
    /// ([`crate::S3Client::load`]).
    pub fn load(settings: S3Settings) -> Result<Arc<S3Client>, S3Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("envstream-s3")
            .enable_all()
            .build()
            .map_err(|_| S3Error::new(S3ErrorKind::Other, "cannot start the S3 runtime"))?;
        let client = run_on(&rt, crate::S3Client::load(settings))??;
        Ok(Arc::new(S3Client {
            client,
            rt: Some(rt),
        }))
    }

    /// The async client underneath (stats, settings, endpoint).
    pub fn client(&self) -> &crate::S3Client {
        &self.client
    }

    /// Requests and bytes so far.
    pub fn stats(&self) -> TransferStats {
        self.client.stats()
    }

    /// [`crate::S3Client::bucket_regions`]: buckets whose requests went to
    /// the region S3 named for them.
    pub fn bucket_regions(&self) -> Vec<(String, String)> {
        self.client.bucket_regions()
    }

    /// [`crate::S3Client::region`].
    pub fn region(&self) -> &str {
        self.client.region()
    }

    /// The endpoint requests go to, for messages.
    pub fn endpoint(&self) -> &str {
        self.client.endpoint()
    }

    /// The settings in force.
    pub fn settings(&self) -> &S3Settings {
        self.client.settings()
    }

    /// Runs `fut` on the facade's runtime and waits for it on this thread
    /// (see the module docs).
    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, S3Error> {
        match &self.rt {
            Some(rt) => run_on(rt, fut),
            None => Err(task_failed()),
        }
    }

    /// Runs `f` on `slot`'s value on the runtime, and puts it back.
    fn with<T: Send + 'static, R: Send + 'static, F>(
        &self,
        slot: &mut Option<T>,
        f: impl FnOnce(T) -> F,
    ) -> Result<R, S3Error>
    where
        F: Future<Output = (T, R)> + Send + 'static,
    {
        let value = slot
            .take()
            .ok_or_else(|| S3Error::new(S3ErrorKind::Other, "an earlier S3 request task failed"))?;
        let (value, r) = self.run(f(value))?;
        *slot = Some(value);
        Ok(r)
    }
}

fn task_failed() -> S3Error {
    S3Error::new(
        S3ErrorKind::Other,
        "an S3 request task failed (it panicked or was cancelled)",
    )
}

/// Runs `fut` on `rt` and waits for it on this thread, on a plain channel
/// (see the module docs).
fn run_on<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    fut: impl Future<Output = T> + Send + 'static,
) -> Result<T, S3Error> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    let wait = move || rx.recv().map_err(|_| task_failed());
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}

/// A sealed stream being written to S3, as a blocking [`Write`] (see
/// [`crate::Upload`]). Dropping it unfinished aborts it.
pub struct Upload {
    s3: Arc<S3Client>,
    inner: Option<crate::Upload>,
}

impl Upload {
    /// Prepares an upload to `url` ([`crate::Upload::new`]).
    pub fn new(s3: Arc<S3Client>, url: S3Url, options: UploadOptions) -> Result<Upload, S3Error> {
        let client = s3.client.clone();
        let up = s3.run(async move { crate::Upload::new(&client, url, options).await })??;
        Ok(Upload {
            s3,
            inner: Some(up),
        })
    }

    fn inner(&self) -> Result<&crate::Upload, S3Error> {
        self.inner
            .as_ref()
            .ok_or_else(|| S3Error::new(S3ErrorKind::Other, "an earlier S3 request task failed"))
    }

    /// A handle that aborts this upload from another thread.
    pub fn abort_handle(&self) -> Option<AbortHandle> {
        let inner = self.inner.as_ref()?.abort_handle();
        Some(AbortHandle {
            s3: self.s3.clone(),
            inner,
        })
    }

    /// The client this upload uses.
    pub fn client(&self) -> &Arc<S3Client> {
        &self.s3
    }

    /// The size of the first part.
    pub fn first_part_size(&self) -> u64 {
        self.inner().map_or(0, |u| u.first_part_size())
    }

    /// Completes the upload and confirms what was stored
    /// ([`crate::Upload::finish`]).
    pub fn finish(mut self) -> Result<UploadSummary, S3Error> {
        let up = self
            .inner
            .take()
            .ok_or_else(|| S3Error::new(S3ErrorKind::Other, "an earlier S3 request task failed"))?;
        self.s3.run(up.finish())?
    }

    /// Aborts the upload now ([`crate::Upload::abort`]).
    pub fn abort(mut self) -> Result<bool, S3Error> {
        match self.inner.take() {
            Some(up) => self.s3.run(up.abort())?,
            None => Ok(false),
        }
    }
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            let up = self.inner.as_mut().ok_or_else(|| {
                S3Error::new(S3ErrorKind::Other, "an earlier S3 request task failed").into_io()
            })?;
            // The bytes are copied here, on the caller's thread; only the
            // sending and waiting run on the runtime.
            match up.fill(buf).map_err(S3Error::into_io)? {
                0 if !buf.is_empty() => {}
                n => return Ok(n),
            }
            self.s3
                .with(&mut self.inner, |mut up| async move {
                    let r = std::future::poll_fn(|cx| up.poll_progress(cx)).await;
                    (up, r)
                })
                .and_then(|r| r)
                .map_err(S3Error::into_io)?;
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(up) = self.inner.take() {
            // Not finished: abort, so no incomplete multipart upload is left.
            let _ = self.s3.run(up.abort());
        }
    }
}

/// Aborts an [`Upload`] from another thread (a signal handler).
#[derive(Clone)]
pub struct AbortHandle {
    s3: Arc<S3Client>,
    inner: crate::AbortHandle,
}

impl AbortHandle {
    /// [`crate::AbortHandle::abort`], waited for.
    pub fn abort(&self) -> Result<bool, S3Error> {
        let inner = self.inner.clone();
        self.s3.run(async move { inner.abort().await })?
    }
}

/// An object opened for reading ([`crate::S3Object`]).
pub struct S3Object {
    s3: Arc<S3Client>,
    inner: crate::S3Object,
}

impl std::fmt::Debug for S3Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl S3Object {
    /// [`crate::S3Object::open`]: size, ETag and the first bytes.
    pub fn open(s3: Arc<S3Client>, url: S3Url) -> Result<S3Object, S3Error> {
        let client = s3.client.clone();
        let inner = s3.run(async move { crate::S3Object::open(&client, url).await })??;
        Ok(S3Object { s3, inner })
    }

    /// [`crate::S3Object::read_header`].
    pub fn read_header(&mut self) -> io::Result<Header> {
        let mut obj = self.inner.clone();
        let (obj, header) = self
            .s3
            .run(async move {
                let h = obj.read_header().await;
                (obj, h)
            })
            .map_err(S3Error::into_io)?;
        self.inner = obj;
        header
    }

    /// The object's size in bytes.
    pub fn size(&self) -> u64 {
        self.inner.size()
    }

    /// [`crate::S3Object::read_range`]: bytes `[from, to)`, pinned to the
    /// ETag.
    pub fn read_range(&self, from: u64, to: u64) -> Result<Vec<u8>, S3Error> {
        let obj = self.inner.clone();
        let bytes = self
            .s3
            .run(async move { obj.read_range(from, to).await })??;
        Ok(bytes.to_vec())
    }

    /// The ETag every read is pinned to.
    pub fn etag(&self) -> &str {
        self.inner.etag()
    }

    /// The location.
    pub fn url(&self) -> &S3Url {
        self.inner.url()
    }

    /// The client this object is read with.
    pub fn client(&self) -> &Arc<S3Client> {
        &self.s3
    }

    /// A blocking [`crate::S3Object::reader`].
    pub fn reader(&self, layout: &BodyLayout, end: u64) -> RangeReader {
        RangeReader {
            s3: self.s3.clone(),
            inner: Some(self.inner.reader(layout, end)),
        }
    }
}

/// Reads an object with concurrent ranged GETs, as a blocking
/// `Read + Seek` ([`crate::AsyncRangeReader`]).
pub struct RangeReader {
    s3: Arc<S3Client>,
    inner: Option<AsyncRangeReader>,
}

impl Read for RangeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let r = self
                .inner
                .as_mut()
                .ok_or_else(|| io::Error::other("an earlier S3 request task failed"))?;
            if let Some(n) = r.serve(out) {
                return Ok(n);
            }
            self.s3
                .with(&mut self.inner, |mut r| async move {
                    let done = std::future::poll_fn(|cx| r.poll_fetch(cx)).await;
                    (r, done)
                })
                .map_err(S3Error::into_io)??;
        }
    }
}

impl Seek for RangeReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match self.inner.as_mut() {
            Some(r) => r.seek_to(to),
            None => Err(io::Error::other("an earlier S3 request task failed")),
        }
    }
}

/// [`crate::rekey_copy`], waited for.
pub fn rekey_copy(
    source: &S3Object,
    new: crate::Rewrite<'_>,
    mut dest: Upload,
) -> Result<TransferStats, S3Error> {
    let up = dest
        .inner
        .take()
        .ok_or_else(|| S3Error::new(S3ErrorKind::Other, "an earlier S3 request task failed"))?;
    let (obj, header, trailer) = (
        source.inner.clone(),
        new.header.to_vec(),
        new.trailer.to_vec(),
    );
    let (old_header_len, old_trailer_len) = (new.old_header_len, new.old_trailer_len);
    dest.s3.run(async move {
        let new = crate::Rewrite {
            old_header_len,
            old_trailer_len,
            header: &header,
            trailer: &trailer,
        };
        crate::rekey_copy(&obj, new, up).await
    })?
}
