//! The blocking types: [`SealWriter`] (`Write`), [`Opener`] and
//! [`OpenReader`] (`Read`, `BufRead`, `Seek`), and [`Rekeyed`]. They move
//! bytes; the chunk rules live in `crypto::chunk`, the layout in
//! `format::body`, and keys and headers in `envelope`.

use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};

use zeroize::Zeroizing;

use super::read::{read_header, Holdback};
use crate::crypto::{already_failed, ChunkOpener, ChunkSealer, Next};
use crate::envelope::{rekey_header, sign_trailer, unlock_body, OpenOptions, Sealer};
use crate::error::{Error, StateError, UsageError};
use crate::format::{
    body_digest_hasher, chunk_leaf, signed_message, Header, SignedBody, Trailer, CHUNK_TAG_LEN,
};
use crate::keyring::{block_on, Identity, Recipient};

impl Sealer {
    /// Writes the header to `out` and returns the chunk writer.
    pub fn seal_to<W: Write>(self, mut out: W) -> Result<SealWriter<W>, Error> {
        out.write_all(&self.header().to_bytes())?;
        let chunk_size = self.header().chunk_size() as usize;
        Ok(SealWriter {
            inner: out,
            chunks: ChunkSealer::new(self.payload_aead(), chunk_size),
            buf: Zeroizing::new(Vec::with_capacity(chunk_size + CHUNK_TAG_LEN)),
            failed: false,
            plaintext_len: 0,
            digest: self.is_signed().then(body_digest_hasher),
            count: 0,
            sealer: self,
        })
    }
}

/// Encrypts a stream chunk by chunk. Implements [`Write`].
///
/// You **must** call [`SealWriter::finish`]: it writes the final chunk. A
/// stream dropped without it lacks its final chunk and is rejected as
/// truncated when opened.
pub struct SealWriter<W: Write> {
    inner: W,
    chunks: ChunkSealer,
    buf: Zeroizing<Vec<u8>>,
    failed: bool,
    plaintext_len: u64,
    /// A signed stream's body digest so far (its outer hash).
    digest: Option<blake3::Hasher>,
    /// Chunks written.
    count: u64,
    sealer: Sealer,
}

impl<W: Write> SealWriter<W> {
    fn emit(&mut self, last: bool) -> Result<(), Error> {
        self.chunks.seal_next(&mut self.buf, last)?;
        if let Some(d) = &mut self.digest {
            d.update(&chunk_leaf(&self.buf));
        }
        self.inner.write_all(&self.buf)?;
        self.count += 1;
        self.buf.clear();
        Ok(())
    }

    /// Writes the final chunk (and a signed stream's trailer, after one
    /// call to its signer), flushes and returns the inner writer.
    pub fn finish(mut self) -> Result<W, Error> {
        if self.failed {
            return Err(Error::State(StateError::Failed));
        }
        self.emit(true)?;
        if let Some(d) = &self.digest {
            let body = SignedBody::finish(d, self.count, self.plaintext_len);
            let trailer = block_on(self.sealer.trailer(&body))?;
            self.inner.write_all(&trailer)?;
        }
        self.inner.flush()?;
        Ok(self.inner)
    }

    /// Plaintext bytes accepted so far.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(Error::State(StateError::Failed).into_io());
        }
        let chunk_size = self.chunks.chunk_size();
        let n = (chunk_size - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        self.plaintext_len += n as u64;
        // A full chunk is never the final one: seal it as soon as it is full.
        if self.buf.len() == chunk_size {
            if let Err(e) = self.emit(false) {
                self.failed = true;
                return Err(e.into_io());
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A stream whose header has been read and parsed but not yet unlocked.
pub struct Opener<R: Read> {
    inner: R,
    header: Header,
}

impl<R: Read> Opener<R> {
    /// Reads and parses the header. Needs no key and decrypts nothing.
    pub fn new(mut inner: R) -> Result<Self, Error> {
        let header = read_header(&mut inner)?;
        Ok(Opener { inner, header })
    }

    /// The parsed (not yet authenticated) header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Unwraps the data key with the first keyring that can, verifies the
    /// key commitment and header tag, and returns the plaintext reader.
    ///
    /// Keyrings are tried in order; each is offered every wrapped key.
    pub async fn unlock<I: Identity + ?Sized>(
        self,
        keyrings: &[&I],
        options: OpenOptions,
    ) -> Result<OpenReader<R>, Error> {
        let (core, opened_with) = unlock_body(&self.header, keyrings, &options).await?;
        let trailer = core.trailer_len();
        Ok(OpenReader {
            inner: self.inner,
            hold: (trailer > 0).then(|| Holdback::new(trailer)),
            core,
            header: self.header,
            opened_with,
            length_total: None,
            total: None,
        })
    }

    /// Header-only rewrap (`rekey`): unwraps the data key with `keyrings`,
    /// verifies the commitment and header tag, removes the wrapped keys
    /// whose key id (or `provider/key id`) is in `remove`, wraps the same
    /// data key with each of `add`, and returns the new header together
    /// with the untouched input positioned at the first chunk. The body is
    /// not decrypted: copy it verbatim after the new header.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use envstream::{Backend, Keyring, LocalKey, OpenOptions, Opener, SealOptions, Sealer};
    /// # fn main() -> Result<(), envstream::Error> {
    /// let (old, new) = (LocalKey::from_secret(&[1; 32], Backend::default()), LocalKey::from_secret(&[2; 32], Backend::default()));
    /// let mut w = Sealer::prepare_blocking(&[&old as &dyn Keyring], SealOptions::new())?.seal_to(Vec::new())?;
    /// w.write_all(b"backup")?;
    /// let sealed = w.finish()?;
    /// // Add `new`, drop `old`: only the header changes.
    /// let rekeyed = Opener::new(&sealed[..])?
    ///     .rekey_blocking(&[&old as &dyn Keyring], OpenOptions::new(), &[&new as &dyn Keyring], &[old.key_id().to_owned()])?;
    /// let (out, _) = rekeyed.write_to(Vec::new())?;
    /// let mut plain = Vec::new();
    /// Opener::new(&out[..])?.unlock_blocking(&[&new as &dyn Keyring], OpenOptions::new())?.read_to_end(&mut plain)?;
    /// assert_eq!(plain, b"backup");
    /// # Ok(()) }
    /// ```
    pub async fn rekey<I: Identity + ?Sized, A: Recipient + ?Sized>(
        self,
        keyrings: &[&I],
        options: OpenOptions,
        add: &[&A],
        remove: &[String],
    ) -> Result<Rekeyed<R>, Error> {
        let (header, opened_with, already_wrapped) =
            rekey_header(&self.header, keyrings, &options, add, remove).await?;
        let unchanged = key_ids(&header) == key_ids(&self.header);
        Ok(Rekeyed {
            header,
            old: self.header,
            inner: self.inner,
            opened_with,
            already_wrapped,
            unchanged,
            signer: None,
        })
    }

    /// Blocking form of [`Opener::rekey`].
    pub fn rekey_blocking<I: Identity + ?Sized, A: Recipient + ?Sized>(
        self,
        keyrings: &[&I],
        options: OpenOptions,
        add: &[&A],
        remove: &[String],
    ) -> Result<Rekeyed<R>, Error> {
        block_on(self.rekey(keyrings, options, add, remove))
    }

    /// Blocking form of [`Opener::unlock`].
    pub fn unlock_blocking<I: Identity + ?Sized>(
        self,
        keyrings: &[&I],
        options: OpenOptions,
    ) -> Result<OpenReader<R>, Error> {
        block_on(self.unlock(keyrings, options))
    }
}

/// `(provider, key id)` of every wrapped key, sorted.
fn key_ids(h: &Header) -> Vec<(&str, &str)> {
    let mut v: Vec<(&str, &str)> = h
        .wrapped_keys()
        .iter()
        .map(|w| (w.provider(), w.key_id()))
        .collect();
    v.sort_unstable();
    v
}

/// The result of [`Opener::rekey`]: a new header for the same body.
pub struct Rekeyed<R: Read> {
    header: Header,
    old: Header,
    inner: R,
    opened_with: String,
    already_wrapped: Vec<String>,
    unchanged: bool,
    signer: Option<std::sync::Arc<dyn crate::Signer>>,
}

impl<R: Read> Rekeyed<R> {
    /// The new, authenticated header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// `provider/key id` of the wrapped key that unwrapped the data key.
    pub fn opened_with(&self) -> &str {
        &self.opened_with
    }

    /// `provider/key id` of each key to add that the old header already
    /// had: it keeps its record and takes no second slot.
    pub fn already_wrapped(&self) -> &[String] {
        &self.already_wrapped
    }

    /// Whether the new header wraps the data key with exactly the keys of
    /// the old one: nothing was added and nothing removed.
    pub fn changes_nothing(&self) -> bool {
        self.unchanged
    }

    /// Signs the new header of a signed stream: a rekey keeps the
    /// context, so the signer must be the one the stream names. Without
    /// it, [`Rekeyed::write_to`] refuses a signed stream (the signature
    /// covers the header, so it must be made again).
    pub fn sign_with(mut self, signer: std::sync::Arc<dyn crate::Signer>) -> Result<Self, Error> {
        match self.header.signer() {
            Some(named) if named == signer.signer_key() => {
                self.signer = Some(signer);
                Ok(self)
            }
            Some(named) => Err(Error::Usage(UsageError::InvalidOptions(format!(
                "the stream is signed by {} key {}, not by {}: a rekey keeps the signer (it is part of the context); to change it, open and seal again",
                named.algorithm().name(),
                named.fingerprint(),
                signer.description()
            )))),
            None => Err(Error::Usage(UsageError::InvalidOptions(
                "the stream is not signed: a rekey cannot add a signature (the signer is part of the context); open and seal again to sign it".into(),
            ))),
        }
    }

    /// The new trailer of a signed stream whose body is copied without
    /// passing through here (inside S3, say): `old_trailer` is the old
    /// stream's trailer and `body_len` its body's length (between header
    /// and trailer). The old signature must verify over the old header and
    /// the body digest, chunk count and lengths the trailer and `body_len`
    /// state; the new trailer carries the same digest, signed with the new
    /// header by the signer given to [`Rekeyed::sign_with`].
    ///
    /// The body itself is not read, so not checked against the digest: a
    /// body changed since it was signed still fails when the new stream is
    /// opened (the digest is recomputed there). Use [`Rekeyed::write_to`]
    /// where the body passes through anyway.
    pub fn resign_trailer(&self, old_trailer: &[u8], body_len: u64) -> Result<Vec<u8>, Error> {
        let (named, signer) = self.signers()?;
        let trailer = Trailer::parse(old_trailer, named.algorithm())?;
        let layout = crate::BodyLayout::new(&self.old);
        let chunks = layout.chunk_count(body_len);
        let body = SignedBody {
            digest: trailer.digest,
            chunks,
            body_len,
            plaintext_len: body_len.saturating_sub(chunks.saturating_mul(CHUNK_TAG_LEN as u64)),
        };
        if !body.is_consistent(self.old.chunk_size()) {
            return Err(Error::Format(crate::error::FormatError::Truncated(
                "the body does not end with a final chunk",
            )));
        }
        if !named.verify(
            &signed_message(&self.old.digest(), &body),
            &trailer.signature,
        ) {
            return Err(Error::Integrity(
                crate::error::IntegrityError::SignatureInvalid,
            ));
        }
        block_on(sign_trailer(signer.as_ref(), &self.header, &body))
    }

    /// The signer the old stream names and the one to sign with; an
    /// unsigned stream or a missing signer is refused.
    fn signers(&self) -> Result<(crate::SignerKey, std::sync::Arc<dyn crate::Signer>), Error> {
        let Some(named) = self.old.signer().cloned() else {
            return Err(Error::Usage(UsageError::InvalidOptions(
                "the stream is not signed: it has no trailer to sign again".into(),
            )));
        };
        match self.signer.clone() {
            Some(signer) => Ok((named, signer)),
            None => Err(Error::Usage(UsageError::InvalidOptions(format!(
                "the stream is signed by {} key {}: a rekey rewrites the header the signature covers, so it needs that signing key to sign again",
                named.algorithm().name(),
                named.fingerprint()
            )))),
        }
    }

    /// Writes the new header, then copies the body bytes verbatim (no
    /// decryption). Returns the output and the number of body bytes copied.
    ///
    /// A signed stream's body is hashed as it is copied; its old signature
    /// must verify (with the body's digest) before the new trailer, signed
    /// by the signer given to [`Rekeyed::sign_with`], is written.
    pub fn write_to<W: Write>(mut self, mut output: W) -> Result<(W, u64), Error> {
        if self.old.signer().is_none() {
            output.write_all(&self.header.to_bytes())?;
            let copied = io::copy(&mut self.inner, &mut output)?;
            output.flush()?;
            return Ok((output, copied));
        }
        let (named, signer) = self.signers()?;
        output.write_all(&self.header.to_bytes())?;
        let layout = crate::BodyLayout::new(&self.old);
        let mut hold = Holdback::new(layout.trailer_len() as usize);
        let mut chunk = vec![0u8; layout.stride() as usize];
        let mut outer = body_digest_hasher();
        let (mut chunks, mut copied) = (0u64, 0u64);
        loop {
            let n = super::read::read_full(
                &mut super::read::HeldBack {
                    inner: &mut self.inner,
                    hold: Some(&mut hold),
                },
                &mut chunk,
            )?;
            if n == 0 {
                break;
            }
            outer.update(&chunk_leaf(&chunk[..n]));
            output.write_all(&chunk[..n])?;
            chunks += 1;
            copied += n as u64;
            if n < chunk.len() {
                break;
            }
        }
        let trailer = Trailer::parse(hold.held(), named.algorithm())?;
        let plaintext = copied.saturating_sub(chunks * CHUNK_TAG_LEN as u64);
        let body = SignedBody::finish(&outer, chunks, plaintext);
        if !body.is_consistent(self.old.chunk_size()) {
            return Err(Error::Format(crate::error::FormatError::Truncated(
                "the body does not end with a final chunk",
            )));
        }
        if body.digest != trailer.digest {
            return Err(Error::Integrity(
                crate::error::IntegrityError::BodyDigestMismatch,
            ));
        }
        if !named.verify(
            &signed_message(&self.old.digest(), &body),
            &trailer.signature,
        ) {
            return Err(Error::Integrity(
                crate::error::IntegrityError::SignatureInvalid,
            ));
        }
        let new_trailer = block_on(sign_trailer(signer.as_ref(), &self.header, &body))?;
        output.write_all(&new_trailer)?;
        output.flush()?;
        Ok((output, copied))
    }
}

/// Decrypts a stream. Implements [`Read`] and [`BufRead`].
///
/// Each chunk's plaintext is released only after its tag verifies. A read
/// returns `Ok(0)` only after the final chunk has verified; truncation,
/// reordering, tampering and trailing data are errors (recover the
/// [`Error`] with [`Error::from_io_ref`]).
pub struct OpenReader<R: Read> {
    pub(super) inner: R,
    /// A signed stream's trailer, held back from the body.
    pub(super) hold: Option<Holdback>,
    pub(super) core: ChunkOpener,
    header: Header,
    opened_with: String,
    /// The plaintext length the input's length implies (not authenticated).
    length_total: Option<u64>,
    /// The plaintext length, once the final chunk verified.
    total: Option<u64>,
}

impl<R: Read> OpenReader<R> {
    /// The authenticated header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// `provider/key id` of the wrapped key that opened the stream.
    pub fn opened_with(&self) -> &str {
        &self.opened_with
    }

    /// Plaintext bytes verified so far.
    pub fn plaintext_len(&self) -> u64 {
        self.core.plaintext_len()
    }

    /// Chunks verified so far.
    pub fn chunks(&self) -> u64 {
        self.core.next_index()
    }

    /// The signer the stream names, if it is signed (FORMAT.md section 15).
    pub fn signer(&self) -> Option<&crate::SignerKey> {
        self.header.signer()
    }

    /// Whether a signed stream's signature verified: the body was read
    /// from its start to its end (no seek skipped a chunk), its digest
    /// matched and the signature over it and the header verified. A
    /// signed stream signals its end only then, so after a read returned
    /// `Ok(0)` without a seek this is `true`; after a seek (a range) it
    /// stays `false`: a range is authenticated by the AEAD only.
    pub fn signature_verified(&self) -> bool {
        self.core.signature_verified()
    }

    /// Whether the last read reached the verified end: the final chunk was
    /// opened and all its plaintext returned. Read from the start without
    /// seeking, this means the whole stream authenticated. After a seek it
    /// means only that reading reached the end from there: chunks skipped
    /// by a seek are never read, so never authenticated. (A seek resets
    /// it; [`OpenReader::plaintext_size`] and `SeekFrom::End` verify the
    /// final chunk without changing it.)
    pub fn is_complete(&self) -> bool {
        self.core.is_done()
    }

    /// Verified plaintext: what the window holds, or the next chunk, read
    /// whole (or up to the end of the input) and opened.
    fn fill(&mut self) -> io::Result<&[u8]> {
        loop {
            match self.core.next() {
                Next::Data => return Ok(self.core.plain()),
                Next::End => return Ok(&[]),
                Next::Failed => return Err(already_failed().into_io()),
                Next::NeedChunk => {
                    let mut ended = false;
                    while !self.core.space().is_empty() {
                        let read = match &mut self.hold {
                            Some(h) => h.read(&mut self.inner, self.core.space()),
                            None => self.inner.read(self.core.space()),
                        };
                        match read {
                            Ok(0) => {
                                ended = true;
                                break;
                            }
                            Ok(k) => self.core.filled(k),
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => {
                                self.core.fail();
                                return Err(e);
                            }
                        }
                    }
                    if let (true, Some(h)) = (ended, &self.hold) {
                        self.core.input_ended(h.held()).map_err(Error::into_io)?;
                    }
                    self.core.open().map_err(Error::into_io)?;
                }
            }
        }
    }
}

impl<R: Read + Seek> OpenReader<R> {
    /// The total plaintext length, authenticated: the first call opens the
    /// final chunk that the input's length implies (one stride is read and
    /// decrypted, nothing is released) and caches the result. A file cut
    /// short at a chunk boundary has a plausible length, but its "final"
    /// chunk does not verify, so this fails with the integrity error.
    pub fn plaintext_size(&mut self) -> Result<u64, Error> {
        if let Some(t) = self.total {
            return Ok(t);
        }
        if self.core.next() == Next::Failed {
            return Err(already_failed());
        }
        let here = self.inner.stream_position()?;
        let end = self.inner.seek(SeekFrom::End(0))?;
        let last = self.core.layout().final_chunk(end)?;
        self.inner.seek(SeekFrom::Start(last.offset))?;
        // Invariant: the final chunk is shorter than a stride (<= 16 MiB + 16).
        let mut chunk = Zeroizing::new(vec![0u8; last.len as usize]);
        let result = read_all(&mut self.inner, &mut chunk).and_then(|()| {
            self.core
                .verify_final(&mut chunk, last.index)
                .map_err(Error::into_io)
        });
        // Leave the input where it was, whatever happened.
        self.inner.seek(SeekFrom::Start(here))?;
        if let Err(e) = result {
            self.core.fail();
            return Err(Error::from(e));
        }
        self.total = Some(last.plaintext_size);
        Ok(last.plaintext_size)
    }

    /// The plaintext length the input's length implies, without reading
    /// anything: enough to clip a start- or current-relative seek, since
    /// reading at the clipped end opens the final chunk anyway.
    fn length_total(&mut self) -> Result<u64, Error> {
        if let Some(t) = self.total.or(self.length_total) {
            return Ok(t);
        }
        let here = self.inner.stream_position()?;
        let end = self.inner.seek(SeekFrom::End(0))?;
        let total = self.core.layout().plaintext_size(end)?;
        self.length_total = Some(total);
        self.inner.seek(SeekFrom::Start(here))?;
        Ok(total)
    }

    fn seek_to(&mut self, pos: SeekFrom) -> Result<u64, Error> {
        if self.core.next() == Next::Failed {
            return Err(already_failed());
        }
        // An end-relative position depends on the length: authenticate it.
        let total = match pos {
            SeekFrom::End(_) => self.plaintext_size()?,
            _ => self.length_total()?,
        };
        let target = match pos {
            SeekFrom::Start(p) => i128::from(p),
            SeekFrom::End(d) => i128::from(total) + i128::from(d),
            SeekFrom::Current(d) => i128::from(self.core.position()) + i128::from(d),
        };
        if target < 0 {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the plaintext",
            )));
        }
        // Positions past the end read as the end (after the final chunk verifies).
        let target = u64::try_from(target).unwrap_or(u64::MAX);
        let (target, at) = self.core.seek(target, total)?;
        self.inner.seek(SeekFrom::Start(at))?;
        if let Some(h) = &mut self.hold {
            h.reset();
        }
        Ok(target)
    }
}

/// Reads exactly `buf.len()` bytes; the input ending first is truncation.
fn read_all<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<()> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Error::Format(crate::error::FormatError::Truncated(
                "the input is shorter than its length said",
            ))
            .into_io()
        } else {
            e
        }
    })
}

/// Random access for seekable sources: a seek reads nothing; the next read
/// authenticates only the chunk that holds the new position.
///
/// ```
/// use std::io::{Cursor, Read, Seek, SeekFrom, Write};
/// use envstream::{Backend, Keyring, LocalKey, OpenOptions, Opener, SealOptions, Sealer};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = LocalKey::from_secret(&[3; 32], Backend::default());
/// let keyrings: [&dyn Keyring; 1] = [&key];
/// let plain: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
/// let mut w = Sealer::prepare_blocking(&keyrings, SealOptions::new())?.seal_to(Vec::new())?;
/// w.write_all(&plain)?;
/// let sealed = w.finish()?;
/// let mut r = Opener::new(Cursor::new(sealed))?.unlock_blocking(&keyrings, OpenOptions::new())?;
/// r.seek(SeekFrom::Start(200_000))?;
/// let mut part = [0u8; 10];
/// r.read_exact(&mut part)?;
/// assert_eq!(part, plain[200_000..200_010]);
/// # Ok(()) }
/// ```
impl<R: Read + Seek> Seek for OpenReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.seek_to(pos).map_err(Error::into_io)
    }
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.core.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for OpenReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.fill()
    }

    fn consume(&mut self, amt: usize) {
        self.core.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{FormatError, LocalError};
    use crate::format::MAX_CHUNK_INDEX;
    use crate::{Backend, Keyring, LocalKey, SealOptions};

    fn writer_at(index: u64) -> SealWriter<Vec<u8>> {
        let key = LocalKey::from_secret(&[1; 32], Backend::default());
        let keys: [&dyn Keyring; 1] = [&key];
        let opts = SealOptions::new().chunk_size(4096).expect("valid size");
        let mut w = Sealer::prepare_blocking(&keys, opts)
            .expect("prepare")
            .seal_to(Vec::new())
            .expect("header");
        w.chunks.set_next_index(index);
        w
    }

    #[test]
    fn writer_refuses_a_full_chunk_that_would_leave_no_index_for_the_final_chunk() {
        // Index MAX-1 may still be a full chunk; index MAX is reserved for the final one.
        let mut w = writer_at(MAX_CHUNK_INDEX - 1);
        w.write_all(&[0u8; 4096]).expect("chunk MAX-1 is allowed");
        let err = w
            .write_all(&[0u8; 4096])
            .expect_err("chunk MAX must be final");
        assert!(matches!(
            Error::from(err),
            Error::Local(LocalError::CounterOverflow)
        ));

        let mut w = writer_at(MAX_CHUNK_INDEX - 1);
        w.write_all(&[0u8; 4096]).expect("chunk MAX-1");
        w.write_all(&[0u8; 100]).expect("buffered");
        w.finish().expect("final chunk at index MAX");
    }

    #[test]
    fn reader_rejects_a_chunk_index_beyond_the_counter() {
        let key = LocalKey::from_secret(&[1; 32], Backend::default());
        let keys: [&dyn Keyring; 1] = [&key];
        let opts = SealOptions::new().chunk_size(4096).expect("valid size");
        let sealed = Sealer::prepare_blocking(&keys, opts)
            .expect("prepare")
            .seal_to(Vec::new())
            .expect("header")
            .finish()
            .expect("finish");
        let mut r = Opener::new(&sealed[..])
            .expect("header")
            .unlock_blocking(&keys, OpenOptions::new())
            .expect("unlock");
        r.core.set_next_index(MAX_CHUNK_INDEX + 1);
        let err = r.read(&mut [0u8; 16]).expect_err("beyond the counter");
        assert!(matches!(
            Error::from(err),
            Error::Format(FormatError::TooManyChunks)
        ));
    }
}
