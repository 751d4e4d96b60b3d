//! Sealed streams out of S3: the object's first bytes (size, ETag and the
//! header) from one ranged GET, and ranged GETs pinned to that ETag
//! (`If-Match`), so an object replaced during a restore fails cleanly
//! instead of mixing two objects. The concurrent reader is `reader.rs`.

use std::io;
use std::time::Duration;

use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use envstream::{BodyLayout, Header};

use crate::client::{transfer_buffer, Moved, S3Client};
use crate::error::{Op, S3Error, S3ErrorKind};
use crate::reader::AsyncRangeReader;
use crate::url::S3Url;

/// Attempts at one ranged GET whose body breaks off (the SDK retries
/// failed requests, but not a body cut short after the answer started).
const BODY_ATTEMPTS: u32 = 3;

/// An object opened for reading: its size, its ETag, and its first bytes.
#[derive(Clone)]
pub struct S3Object {
    s3: S3Client,
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
    /// One ranged GET of the first bytes (`first_read`,
    /// [`FIRST_READ`](crate::FIRST_READ) by default): the answer's
    /// `Content-Range` gives the size and its ETag pins the object for
    /// every later read. (No HeadObject is needed.)
    pub async fn open(s3: &S3Client, url: S3Url) -> Result<S3Object, S3Error> {
        let whole = url.to_string();
        let name = whole.as_str();
        let first = s3.settings().first_read.max(1);
        let at = (&url, name);
        with_retries(name, |attempt| async move {
            let out = send_get(s3, at, (0, first), None).await?;
            let etag = out.e_tag.clone().ok_or_else(|| {
                S3Error::new(
                    S3ErrorKind::NotS3,
                    format!("S3 GetObject {name}: {} answered without an ETag, which S3 never does; check the endpoint and any proxy", s3.endpoint()),
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
            let want = first.min(size);
            // A server that ignores Range sends the whole object: take
            // the first bytes and drop the rest unread.
            let taken = take_body(s3, name, out.body, (0, want), true, attempt).await?;
            Ok(taken.map(|prefix| (size, etag, prefix)))
        })
        .await
        .map(|(size, etag, prefix)| S3Object {
            s3: s3.clone(),
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
    pub fn client(&self) -> &S3Client {
        &self.s3
    }

    /// The bytes the first GET fetched.
    pub(crate) fn prefix(&self) -> &Bytes {
        &self.prefix
    }

    /// Makes sure the prefix holds the whole header (one more GET if the
    /// header is longer than the first read) and parses it. The header is
    /// not authenticated here. Errors are envstream format errors (a file
    /// that is not a sealed stream) or S3 errors, as `io::Error`s.
    pub async fn read_header(&mut self) -> io::Result<Header> {
        let len = envstream::format::declared_header_len(&self.prefix)
            .map_err(envstream::Error::into_io)? as u64;
        if (self.prefix.len() as u64) < len && self.size > self.prefix.len() as u64 {
            let from = self.prefix.len() as u64;
            let rest = self
                .read_range(from, len.min(self.size))
                .await
                .map_err(S3Error::into_io)?;
            let mut whole = Vec::with_capacity(self.prefix.len() + rest.len());
            whole.extend_from_slice(&self.prefix);
            whole.extend_from_slice(&rest);
            self.prefix = Bytes::from(whole);
        }
        let (header, _) = Header::parse(&self.prefix).map_err(envstream::Error::into_io)?;
        Ok(header)
    }

    /// Bytes `[from, to)` of the object: one ranged GET pinned to the
    /// ETag, retried when the body breaks off.
    pub async fn read_range(&self, from: u64, to: u64) -> Result<Bytes, S3Error> {
        get_range(&self.s3, &self.url, &self.etag, from, to).await
    }

    /// A reader (`AsyncRead + AsyncSeek`) that serves what the first GETs
    /// fetched from memory and fetches the rest with concurrent ranged
    /// GETs of whole chunks of `layout`, ahead of the reader up to `end`
    /// (clipped to the size). Past `end` nothing is fetched ahead: a read
    /// there (such as the final chunk, which an end-relative seek
    /// authenticates) fetches only the range it needs. Memory:
    /// `concurrency` ranges of about `range_size` bytes.
    pub fn reader(&self, layout: &BodyLayout, end: u64) -> AsyncRangeReader {
        AsyncRangeReader::new(self.clone(), layout, end)
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
    s3: &S3Client,
    url: &S3Url,
    etag: &str,
    from: u64,
    to: u64,
) -> Result<Bytes, S3Error> {
    let name = url.to_string();
    let at = (url, name.as_str());
    with_retries(at.1, |attempt| async move {
        let out = send_get(s3, at, (from, to), Some(etag)).await?;
        take_body(s3, at.1, out.body, (from, to), false, attempt).await
    })
    .await
}

/// One GetObject of bytes `[from, to)`, pinned to `etag` when given.
async fn send_get(
    s3: &S3Client,
    (url, name): (&S3Url, &str),
    (from, to): (u64, u64),
    etag: Option<&str>,
) -> Result<GetObjectOutput, S3Error> {
    s3.call(Op::Get, name, Duration::ZERO, |c, t| {
        c.get_object()
            .bucket(url.bucket())
            .key(url.key())
            .range(format!("bytes={from}-{}", to - 1))
            .set_if_match(etag.map(str::to_owned))
            .customize()
            .config_override(t)
            .send()
    })
    .await
}

/// Runs `once(attempt)` until it has an answer whose body came whole
/// (`Some`), at most [`BODY_ATTEMPTS`] times.
async fn with_retries<T, F, Fut>(name: &str, mut once: F) -> Result<T, S3Error>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, S3Error>>,
{
    for attempt in 1..=BODY_ATTEMPTS {
        if let Some(done) = once(attempt).await? {
            return Ok(done);
        }
    }
    Err(no_answer(name))
}

fn no_answer(name: &str) -> S3Error {
    S3Error::new(
        S3ErrorKind::Unavailable,
        format!("S3 GetObject {name}: no answer"),
    )
}

/// Takes the body of the answer for bytes `[from, to)`: all of them, or
/// `None` (after a pause) when the connection broke off and attempt
/// `attempt` may be retried. With `cap`, bytes past `to` are left unread
/// (a server that ignores Range); without, they are an error.
async fn take_body(
    s3: &S3Client,
    name: &str,
    body: ByteStream,
    (from, to): (u64, u64),
    cap: bool,
    attempt: u32,
) -> Result<Option<Bytes>, S3Error> {
    let want = usize::try_from(to - from).unwrap_or(usize::MAX);
    match read_body(body, want, cap).await {
        Ok(buf) => {
            s3.moved(Moved::Down, buf.len() as u64);
            if buf.len() != want {
                return Err(short_answer(name, from, to, buf.len()));
            }
            Ok(Some(Bytes::from(buf)))
        }
        Err(Body::TooLong(n)) => Err(short_answer(name, from, to, n)),
        Err(Body::Broke) if attempt < BODY_ATTEMPTS => {
            tokio::time::sleep(backoff(attempt)).await;
            Ok(None)
        }
        Err(Body::Broke) => Err(broken_body(name, s3.endpoint())),
        Err(Body::Alloc(e)) => Err(e),
    }
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
