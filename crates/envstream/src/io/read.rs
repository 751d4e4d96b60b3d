//! Blocking reads shared by the readers: whole buffers, and the header.

use std::io::{self, Read};
use std::task::Poll;

use crate::error::{Error, IntegrityError};
use crate::format::{Header, HeaderReader, TRAILER_MAGIC};

/// Reads exactly `buf.len()` bytes unless EOF comes first; returns the count.
pub(crate) fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads and parses a header from the start of `inner`, leaving `inner`
/// at the first chunk (the steps are `HeaderReader`'s).
pub(crate) fn read_header<R: Read>(inner: &mut R) -> Result<Header, Error> {
    let mut reader = HeaderReader::new();
    loop {
        let n = read_full(inner, reader.want())?;
        if let Some(header) = reader.got(n)? {
            return Ok(header);
        }
    }
}

/// Holds back the last `len` bytes of an input: a signed stream's trailer
/// (FORMAT.md section 15.2), which follows the body, so a reader that
/// finds the final chunk by the end of the input must stop `len` bytes
/// short of it. The held bytes are always the ones just past what was
/// returned; a seek of the input must [`reset`](Holdback::reset) it.
#[derive(Debug)]
pub(crate) struct Holdback {
    len: usize,
    held: Vec<u8>,
    scratch: Vec<u8>,
}

impl Holdback {
    pub(crate) fn new(len: usize) -> Holdback {
        Holdback {
            len,
            held: Vec::with_capacity(len),
            scratch: Vec::new(),
        }
    }

    /// Forgets the held bytes (the input was moved).
    pub(crate) fn reset(&mut self) {
        self.held.clear();
    }

    /// What the input ended with, once a read returned 0: the trailer, or
    /// fewer bytes if the input was shorter.
    pub(crate) fn held(&self) -> &[u8] {
        &self.held
    }

    /// Reads from `r` into `out`, keeping the last `len` bytes of the
    /// input back: 0 only at the end of the input.
    pub(crate) fn read<R: Read>(&mut self, r: &mut R, out: &mut [u8]) -> io::Result<usize> {
        match self.poll_read_with(out, &mut |b| Poll::Ready(r.read(b))) {
            Poll::Ready(result) => result,
            // Not reachable: a blocking read is never pending.
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// [`read`](Holdback::read) for any reader, blocking or polled: `read`
    /// reads once from the input. A pending read leaves the held bytes as
    /// they were, so the call can simply be repeated.
    pub(crate) fn poll_read_with(
        &mut self,
        out: &mut [u8],
        read: &mut dyn FnMut(&mut [u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if out.len() <= self.len {
            // Too small to hold the held bytes and more: go through scratch.
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.resize(self.len + out.len(), 0);
            let polled = self.poll_read_with(&mut scratch, read);
            let result = polled.map_ok(|n| {
                out[..n].copy_from_slice(&scratch[..n]);
                n
            });
            self.scratch = scratch;
            return result;
        }
        loop {
            let h = self.held.len();
            out[..h].copy_from_slice(&self.held);
            let n = match read(&mut out[h..]) {
                Poll::Ready(Ok(n)) => n,
                other => return other,
            };
            if n == 0 {
                // The input ended: what is held must be a trailer, checked
                // before the final chunk is opened, so that a stripped or
                // cut trailer is named as such (FORMAT.md section 15.5).
                if self.held.len() != self.len || !self.held.starts_with(&TRAILER_MAGIC) {
                    return Poll::Ready(Err(
                        Error::Integrity(IntegrityError::SignatureMissing).into_io()
                    ));
                }
                return Poll::Ready(Ok(0));
            }
            let total = h + n;
            self.held.clear();
            if total <= self.len {
                self.held.extend_from_slice(&out[..total]);
                continue;
            }
            let give = total - self.len;
            self.held.extend_from_slice(&out[give..total]);
            return Poll::Ready(Ok(give));
        }
    }
}

/// An input read through a [`Holdback`] (or directly when there is none).
pub(crate) struct HeldBack<'a, R> {
    pub(crate) inner: &'a mut R,
    pub(crate) hold: Option<&'a mut Holdback>,
}

impl<R: Read> Read for HeldBack<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match &mut self.hold {
            Some(h) => h.read(self.inner, out),
            None => self.inner.read(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads in pieces of `piece` bytes.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = out.len().min(self.1).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn the_last_bytes_are_held_back_whatever_the_read_sizes() {
        let mut data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        data[960..968].copy_from_slice(&TRAILER_MAGIC);
        for piece in [1, 7, 40, 41, 500, 2000] {
            for out_len in [1, 3, 40, 41, 64, 4096] {
                let mut h = Holdback::new(40);
                let mut r = Trickle(&data, piece);
                let mut got = Vec::new();
                let mut buf = vec![0u8; out_len];
                loop {
                    let n = h.read(&mut r, &mut buf).expect("read");
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                assert_eq!(got, &data[..960], "{piece} {out_len}");
                assert_eq!(h.held(), &data[960..], "{piece} {out_len}");
            }
        }
        // An input shorter than a trailer, or one that does not end with a
        // trailer: the trailer is missing.
        for input in [&data[..10], &data[..999]] {
            let mut h = Holdback::new(40);
            let mut r = Trickle(input, 3);
            let mut sink = vec![0u8; 100];
            let err = loop {
                match h.read(&mut r, &mut sink) {
                    Ok(0) => panic!("no error"),
                    Ok(_) => {}
                    Err(e) => break e,
                }
            };
            assert!(matches!(
                Error::from_io_ref(&err),
                Some(Error::Integrity(IntegrityError::SignatureMissing))
            ));
        }
    }
}
