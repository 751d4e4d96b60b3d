//! Reading an object with concurrent ranged GETs: whole chunks, fetched
//! ahead of the reader as tasks on the runtime that drives it, handed out
//! in order. `AsyncRead + AsyncSeek`; the blocking facade drives the same
//! reader ([`crate::blocking::RangeReader`]).

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use envstream::BodyLayout;
use tokio::io::ReadBuf;
use tokio::task::JoinHandle;

use crate::client::joined;
use crate::download::{get_range, S3Object};
use crate::error::S3Error;

struct Pending {
    from: u64,
    to: u64,
    task: JoinHandle<Result<Bytes, S3Error>>,
}

/// Reads an object with concurrent ranged GETs ([`S3Object::reader`]). A
/// seek costs no request; only the ranges between the position and the
/// read-ahead limit are fetched ahead.
pub struct AsyncRangeReader {
    obj: S3Object,
    /// No fetching ahead past this offset.
    end: u64,
    /// Ranges are aligned to chunk boundaries: `base + k * per_range`.
    base: u64,
    per_range: u64,
    pos: u64,
    /// Where the next GET starts: the end of the last range asked for.
    ahead: u64,
    window: VecDeque<Pending>,
    /// A range past the read-ahead limit, fetched on its own.
    single: Option<Pending>,
    /// The fetched range the position is in: (start offset, bytes).
    cur: Option<(u64, Bytes)>,
}

impl Drop for AsyncRangeReader {
    fn drop(&mut self) {
        for p in self.window.drain(..).chain(self.single.take()) {
            p.task.abort();
        }
    }
}

impl AsyncRangeReader {
    pub(crate) fn new(obj: S3Object, layout: &BodyLayout, end: u64) -> Self {
        let stride = layout.stride();
        let per_range = (obj.client().settings().range_size / stride).max(1) * stride;
        let end = end.min(obj.size());
        AsyncRangeReader {
            obj,
            end,
            base: layout.chunk_offset(0).unwrap_or(0),
            per_range,
            pos: 0,
            ahead: 0,
            window: VecDeque::new(),
            single: None,
            cur: None,
        }
    }

    /// The end of the range that starts at `from`: the next aligned
    /// boundary, or the read-ahead limit, or the end of the object.
    fn range_end(&self, from: u64) -> u64 {
        let next = if from < self.base {
            self.base
        } else {
            let k = (from - self.base) / self.per_range + 1;
            self.base.saturating_add(k.saturating_mul(self.per_range))
        };
        next.min(if from < self.end {
            self.end
        } else {
            self.obj.size()
        })
    }

    /// Starts the GET of the range that starts at `from`.
    fn spawn_range(&self, from: u64) -> Pending {
        let to = self.range_end(from);
        let obj = self.obj.clone();
        let task =
            tokio::spawn(
                async move { get_range(obj.client(), obj.url(), obj.etag(), from, to).await },
            );
        Pending { from, to, task }
    }

    /// Keeps `concurrency` GETs in flight, from `ahead` on.
    fn top_up(&mut self) {
        let concurrency = self.obj.client().settings().concurrency.max(1);
        while self.window.len() < concurrency && self.ahead < self.end {
            let p = self.spawn_range(self.ahead);
            self.ahead = p.to;
            self.window.push_back(p);
        }
    }

    /// Copies what is available at the position into `out`: `Some(n)`
    /// (0 at the end of the object), or `None` when the range holding the
    /// position must be fetched first ([`AsyncRangeReader::poll_fetch`]).
    pub(crate) fn serve(&mut self, out: &mut [u8]) -> Option<usize> {
        let size = self.obj.size();
        if self.pos >= size || out.is_empty() {
            return Some(0);
        }
        let prefix = self.obj.prefix();
        let avail: &[u8] = if (self.pos as usize) < prefix.len() {
            &prefix[self.pos as usize..]
        } else {
            let pos = self.pos;
            match &self.cur {
                Some((start, bytes)) if pos >= *start && pos < start + bytes.len() as u64 => {
                    &bytes[(pos - start) as usize..]
                }
                _ => return None,
            }
        };
        let n = avail
            .len()
            .min(out.len())
            .min(usize::try_from(size - self.pos).unwrap_or(usize::MAX));
        out[..n].copy_from_slice(&avail[..n]);
        self.pos += n as u64;
        Some(n)
    }

    /// Fetches the range that holds the position (with the ranges after
    /// it, up to the read-ahead limit, in flight).
    pub(crate) fn poll_fetch(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.pos >= self.end {
            // Past the read-ahead limit: this one range only.
            if self.single.as_ref().is_none_or(|p| p.from != self.pos) {
                self.single = Some(self.spawn_range(self.pos));
            }
            let Some(p) = self.single.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            let r = ready!(Pin::new(&mut p.task).poll(cx));
            let from = p.from;
            self.single = None;
            self.cur = Some((from, joined(r).map_err(S3Error::into_io)?));
            return Poll::Ready(Ok(()));
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
        let Some(p) = self.window.front_mut() else {
            return Poll::Ready(Ok(()));
        };
        let r = ready!(Pin::new(&mut p.task).poll(cx));
        let from = p.from;
        self.window.pop_front();
        self.cur = Some((from, joined(r).map_err(S3Error::into_io)?));
        self.top_up();
        Poll::Ready(Ok(()))
    }

    /// Moves the position (object offsets); costs no request.
    pub(crate) fn seek_to(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => i128::from(p),
            SeekFrom::End(d) => i128::from(self.obj.size()) + i128::from(d),
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

impl tokio::io::AsyncRead for AsyncRangeReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if let Some(n) = this.serve(buf.initialize_unfilled()) {
                buf.advance(n);
                return Poll::Ready(Ok(()));
            }
            ready!(this.poll_fetch(cx))?;
        }
    }
}

impl tokio::io::AsyncSeek for AsyncRangeReader {
    fn start_seek(mut self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        self.seek_to(position).map(|_| ())
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(self.pos))
    }
}
