//! Sealed streams out of S3: the object's first bytes (size, ETag and the
//! header) from one ranged GET, then a [`RangeReader`] that fetches whole
//! chunks with concurrent ranged GETs, ahead of the reader, and hands them
//! out in order. Every GET carries `If-Match` with the ETag of the first
//! answer, so an object replaced during a restore fails cleanly instead of
//! mixing two objects.

use std::collections::VecDeque;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use envstream::{BodyLayout, Header};

use crate::client::{join, transfer_buffer, Counters, Req, S3Client};
use crate::error::{s3_error, Op, S3Error, S3ErrorKind};
use crate::url::S3Url;

/// Attempts at one ranged GET whose body breaks off (the SDK retries
/// failed requests, but not a body cut short after the answer started).
const BODY_ATTEMPTS: u32 = 3;

/// An object opened for reading: its size, its ETag, and its first bytes.
pub struct S3Object {
    s3: Arc<S3Client>,
    url: S3Url,
    size: u64,
    etag: String,
    /// Bytes `[0, prefix.len())` of the object.
    prefix: Bytes,
}

impl std::fmt::Debug for S3Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Object")
            .field("url", &self.url.to_string())
            .field("size", &self.size)
            .field("etag", &self.etag)
            .finish_non_exhaustive()
    }
}

impl S3Object {
    /// One ranged GET of the first bytes (`first_read`, [`FIRST_READ`](crate::FIRST_READ)
    /// by default): the answer's
    /// `Content-Range` gives the size and its ETag pins the object for
    /// every later read. (No HeadObject is needed.)
    pub fn open(s3: Arc<S3Client>, url: S3Url) -> Result<S3Object, S3Error> {
        let Req {
            client,
            endpoint,
            counters,
        } = s3.req();
        let u = url.clone();
        let timeouts = s3.timeouts(0);
        let first = s3.settings.first_read.max(1);
        let (prefix, size, etag) = s3.wait(async move {
            let name = u.to_string();
            for attempt in 1..=BODY_ATTEMPTS {
                Counters::add(&counters.requests, 1);
                let out = client
                    .get_object()
                    .bucket(u.bucket())
                    .key(u.key())
                    .range(format!("bytes=0-{}", first - 1))
                    .customize()
                    .config_override(timeouts.clone())
                    .send()
                    .await
                    .map_err(|e| s3_error(Op::Get, &name, &endpoint, &e))?;
                let etag = out.e_tag.clone().ok_or_else(|| {
                    S3Error::new(
                        S3ErrorKind::NotS3,
                        format!("S3 GetObject {name}: {endpoint} answered without an ETag, which S3 never does; check the endpoint and any proxy"),
                    )
                })?;
                let size = match out.content_range.as_deref() {
                    Some(r) => total_from_content_range(r).ok_or_else(|| {
                        S3Error::new(
                            S3ErrorKind::NotS3,
                            format!(
                                "S3 GetObject {name}: unreadable Content-Range {}",
                                envstream_aws::text::server_value(r)
                            ),
                        )
                    })?,
                    // A server that ignores Range sends the whole object.
                    None => out
                        .content_length
                        .and_then(|l| u64::try_from(l).ok())
                        .unwrap_or(0),
                };
                let want = usize::try_from(first.min(size)).unwrap_or(usize::MAX);
                // A server that ignores Range sends the whole object: take
                // the first bytes and drop the rest unread.
                match read_body(out.body, want, true).await {
                    Ok(bytes) => {
                        Counters::add(&counters.down, bytes.len() as u64);
                        if bytes.len() < want {
                            return Err(short_answer(&name, 0, want as u64, bytes.len()));
                        }
                        return Ok((Bytes::from(bytes), size, etag));
                    }
                    Err(Body::TooLong(n)) => return Err(short_answer(&name, 0, want as u64, n)),
                    Err(Body::Broke) if attempt < BODY_ATTEMPTS => {
                        tokio::time::sleep(backoff(attempt)).await;
                    }
                    Err(Body::Broke) => return Err(broken_body(&name, &endpoint)),
                    Err(Body::Alloc(e)) => return Err(e),
                }
            }
            Err(S3Error::new(
                S3ErrorKind::Unavailable,
                format!("S3 GetObject {name}: no answer"),
            ))
        })?;
        Ok(S3Object {
            s3,
            url,
            size,
            etag,
            prefix,
        })
    }

    /// The object's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The ETag every read is pinned to.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// The location.
    pub fn url(&self) -> &S3Url {
        &self.url
    }

    /// The client this object is read with.
    pub fn client(&self) -> &Arc<S3Client> {
        &self.s3
    }

    /// Makes sure the prefix holds the whole header (one more GET if the
    /// header is longer than the first read) and parses it. The header is
    /// not authenticated here. Errors are envstream format errors (a file
    /// that is not a sealed stream) or S3 errors, as `io::Error`s.
    pub fn read_header(&mut self) -> io::Result<Header> {
        let len = envstream::format::declared_header_len(&self.prefix)
            .map_err(envstream::Error::into_io)?;
        let len = len as u64;
        if (self.prefix.len() as u64) < len && self.size > self.prefix.len() as u64 {
            let from = self.prefix.len() as u64;
            let to = len.min(self.size);
            let rest = self
                .s3
                .wait(get_range(
                    self.s3.clone(),
                    self.url.clone(),
                    self.etag.clone(),
                    from,
                    to,
                ))
                .map_err(S3Error::into_io)?;
            let mut whole = Vec::with_capacity(to as usize);
            whole.extend_from_slice(&self.prefix);
            whole.extend_from_slice(&rest);
            self.prefix = Bytes::from(whole);
        }
        let (header, _) = Header::parse(&self.prefix).map_err(envstream::Error::into_io)?;
        Ok(header)
    }

    /// A reader of the object that serves what the first GETs fetched from
    /// memory and fetches the rest with concurrent ranged GETs of whole
    /// chunks of `layout`, ahead of the reader up to `end` (clipped to the
    /// size). Past `end` nothing is fetched ahead: a read there (such as
    /// the final chunk, which an end-relative seek authenticates) fetches
    /// only the range it needs. Memory: `concurrency` ranges of about
    /// `range_size` bytes.
    pub fn reader(&self, layout: &BodyLayout, end: u64) -> RangeReader {
        let stride = layout.stride();
        let per_range = (self.s3.settings.range_size / stride).max(1) * stride;
        RangeReader {
            s3: self.s3.clone(),
            url: self.url.clone(),
            etag: self.etag.clone(),
            prefix: self.prefix.clone(),
            size: self.size,
            end: end.min(self.size),
            base: layout.chunk_offset(0).unwrap_or(0),
            per_range,
            pos: 0,
            ahead: 0,
            window: VecDeque::new(),
            cur: None,
        }
    }
}

/// `bytes A-B/TOTAL` → TOTAL.
fn total_from_content_range(r: &str) -> Option<u64> {
    r.rsplit_once('/')?.1.trim().parse().ok()
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * u64::from(attempt))
}

fn short_answer(name: &str, from: u64, to: u64, got: usize) -> S3Error {
    S3Error::new(
        S3ErrorKind::Unavailable,
        format!("S3 GetObject {name}: asked for bytes {from}..{to} and got {got} bytes"),
    )
}

fn broken_body(name: &str, endpoint: &str) -> S3Error {
    // The body error's text is not used: only that the answer broke off.
    S3Error::new(
        S3ErrorKind::Unavailable,
        format!(
            "S3 GetObject {name}: the connection to {endpoint} broke off during the answer, {BODY_ATTEMPTS} times; check the network and retry"
        ),
    )
}

/// One ranged GET of `[from, to)`, pinned to `etag`, retried when the
/// body breaks off.
pub(crate) async fn get_range(
    s3: Arc<S3Client>,
    url: S3Url,
    etag: String,
    from: u64,
    to: u64,
) -> Result<Bytes, S3Error> {
    let name = url.to_string();
    let endpoint = s3.endpoint().to_owned();
    let timeouts = s3.timeouts(0);
    let want = usize::try_from(to - from).unwrap_or(usize::MAX);
    for attempt in 1..=BODY_ATTEMPTS {
        Counters::add(&s3.counters.requests, 1);
        let out = s3
            .client
            .get_object()
            .bucket(url.bucket())
            .key(url.key())
            .range(format!("bytes={from}-{}", to - 1))
            .if_match(&etag)
            .customize()
            .config_override(timeouts.clone())
            .send()
            .await
            .map_err(|e| s3_error(Op::Get, &name, &endpoint, &e))?;
        match read_body(out.body, want, false).await {
            Ok(buf) => {
                Counters::add(&s3.counters.down, buf.len() as u64);
                if buf.len() != want {
                    return Err(short_answer(&name, from, to, buf.len()));
                }
                return Ok(Bytes::from(buf));
            }
            Err(Body::TooLong(n)) => return Err(short_answer(&name, from, to, n)),
            Err(Body::Broke) if attempt < BODY_ATTEMPTS => {
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(Body::Broke) => return Err(broken_body(&name, &endpoint)),
            Err(Body::Alloc(e)) => return Err(e),
        }
    }
    Err(S3Error::new(
        S3ErrorKind::Unavailable,
        format!("S3 GetObject {name}: no answer"),
    ))
}

/// Why a body could not be read whole.
enum Body {
    /// The connection broke off (retried).
    Broke,
    /// More bytes than asked for arrived (so many, counted so far).
    TooLong(usize),
    /// No buffer for it.
    Alloc(S3Error),
}

/// Reads `body` into one buffer of `want` bytes, piece by piece (no
/// second copy). With `cap`, bytes beyond `want` are left unread;
/// without, they are an error.
async fn read_body(mut body: ByteStream, want: usize, cap: bool) -> Result<Vec<u8>, Body> {
    let mut buf = transfer_buffer(want).map_err(Body::Alloc)?;
    loop {
        match body.try_next().await {
            Ok(Some(piece)) => {
                let room = want - buf.len();
                if piece.len() > room {
                    if !cap {
                        return Err(Body::TooLong(buf.len() + piece.len()));
                    }
                    buf.extend_from_slice(&piece[..room]);
                    return Ok(buf);
                }
                buf.extend_from_slice(&piece);
                if cap && buf.len() == want {
                    return Ok(buf);
                }
            }
            Ok(None) => return Ok(buf),
            Err(_) => return Err(Body::Broke),
        }
    }
}

struct Pending {
    from: u64,
    to: u64,
    task: tokio::task::JoinHandle<Result<Bytes, S3Error>>,
}

/// Reads an object (up to an end offset) with concurrent ranged GETs.
/// Implements [`Read`] and [`Seek`]; a seek costs no request, and only the
/// ranges between the position and the end are ever fetched.
pub struct RangeReader {
    s3: Arc<S3Client>,
    url: S3Url,
    etag: String,
    prefix: Bytes,
    size: u64,
    end: u64,
    /// Ranges are aligned to chunk boundaries: `base + k * per_range`.
    base: u64,
    per_range: u64,
    pos: u64,
    /// Where the next GET starts: the end of the last range asked for.
    ahead: u64,
    window: VecDeque<Pending>,
    /// The fetched range the position is in: (start offset, bytes).
    cur: Option<(u64, Bytes)>,
}

impl Drop for RangeReader {
    fn drop(&mut self) {
        for p in self.window.drain(..) {
            p.task.abort();
        }
    }
}

impl RangeReader {
    /// The end of the range that starts at `from`: the next aligned
    /// boundary, or the end.
    fn range_end(&self, from: u64) -> u64 {
        let next = if from < self.base {
            self.base
        } else {
            let k = (from - self.base) / self.per_range + 1;
            self.base.saturating_add(k.saturating_mul(self.per_range))
        };
        next.min(if from < self.end { self.end } else { self.size })
    }

    /// Starts the GET of the range that starts at `from`.
    fn spawn_range(&self, from: u64) -> Pending {
        let to = self.range_end(from);
        let task = self.s3.spawn(get_range(
            self.s3.clone(),
            self.url.clone(),
            self.etag.clone(),
            from,
            to,
        ));
        Pending { from, to, task }
    }

    /// Keeps `concurrency` GETs in flight, from `ahead` on.
    fn top_up(&mut self) {
        let concurrency = self.s3.settings.concurrency.max(1);
        while self.window.len() < concurrency && self.ahead < self.end {
            let p = self.spawn_range(self.ahead);
            self.ahead = p.to;
            self.window.push_back(p);
        }
    }

    fn fetch(&mut self) -> io::Result<()> {
        if self.pos >= self.end {
            // Past the read-ahead limit: this one range only.
            let p = self.spawn_range(self.pos);
            let bytes = join(envstream::block_on(p.task)).map_err(S3Error::into_io)?;
            self.cur = Some((p.from, bytes));
            return Ok(());
        }
        if self.window.front().is_none_or(|p| p.from != self.pos) {
            // The start, or after a seek: what was fetched ahead is not
            // needed; fetch from the position on.
            for p in self.window.drain(..) {
                p.task.abort();
            }
            self.ahead = self.pos;
        }
        self.top_up();
        let Some(p) = self.window.pop_front() else {
            return Ok(());
        };
        let bytes = join(envstream::block_on(p.task)).map_err(S3Error::into_io)?;
        self.cur = Some((p.from, bytes));
        self.top_up();
        Ok(())
    }
}

impl Read for RangeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || out.is_empty() {
            return Ok(0);
        }
        let avail: &[u8] = if (self.pos as usize) < self.prefix.len() {
            &self.prefix[self.pos as usize..]
        } else {
            let inside = |c: &(u64, Bytes)| self.pos >= c.0 && self.pos < c.0 + c.1.len() as u64;
            if !self.cur.as_ref().is_some_and(inside) {
                self.cur = None;
                self.fetch()?;
            }
            match &self.cur {
                Some((start, bytes)) => &bytes[(self.pos - start) as usize..],
                None => return Ok(0),
            }
        };
        let n = avail
            .len()
            .min(out.len())
            .min(usize::try_from(self.size - self.pos).unwrap_or(usize::MAX));
        out[..n].copy_from_slice(&avail[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for RangeReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => i128::from(p),
            SeekFrom::End(d) => i128::from(self.size) + i128::from(d),
            SeekFrom::Current(d) => i128::from(self.pos) + i128::from(d),
        };
        let target = u64::try_from(target).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the object",
            )
        })?;
        self.pos = target;
        Ok(target)
    }
}
