//! The chunk core, free of I/O: the nonce rule, sealing and opening one
//! chunk, and the two stateful halves every reader and writer is built on.
//!
//! - [`ChunkSealer`] owns the counter, the final flag and the overflow
//!   rule (a full chunk never takes the last index).
//! - [`ChunkOpener`] owns the counter, the final-chunk and truncation
//!   rules, the one opaque authentication error, and the window of
//!   verified plaintext with the read position and the skip after a seek.
//!
//! The blocking types (`io::sync`), the tokio adapters (`io::tokio`) and the
//! parallel engine (`io::parallel`, which processes chunks by index through
//! [`seal_chunk`] and [`open_chunk`]) only move bytes in and out.

use zeroize::Zeroizing;

use super::backend::{Aead, NONCE_LEN, TAG_LEN};
use crate::error::{Error, FormatError, IntegrityError, LocalError, StateError, UsageError};
use crate::format::{
    body_digest_hasher, chunk_leaf, final_chunk_len, signed_message, BodyLayout, Header,
    SignedBody, SignerKey, Trailer, DIGEST_LEN, MAX_CHUNK_INDEX, MAX_SEALED_BYTES,
};

/// The nonce of chunk `index`: 7 zero bytes, the index as a 32-bit
/// big-endian counter, then 0x01 for the final chunk or 0x00 otherwise.
pub(crate) fn chunk_nonce(index: u64, last: bool) -> Result<[u8; NONCE_LEN], Error> {
    if index > MAX_CHUNK_INDEX {
        return Err(Error::Local(LocalError::CounterOverflow));
    }
    let mut n = [0u8; NONCE_LEN];
    // Invariant: index <= u32::MAX was checked just above.
    n[7..11].copy_from_slice(&(index as u32).to_be_bytes());
    n[11] = u8::from(last);
    Ok(n)
}

/// Seals one chunk in place and returns its tag. A full (non-final) chunk
/// must leave an index free for the final chunk, so it is refused at the
/// last index: the counter never runs out. No chunk may take the stream
/// past [`MAX_SEALED_BYTES`] (chunk `index` starts `index × chunk_size`
/// bytes in): the key's usage limit is refused before it is crossed.
pub(crate) fn seal_chunk(
    aead: &Aead,
    plain: &mut [u8],
    index: u64,
    last: bool,
    chunk_size: usize,
) -> Result<[u8; TAG_LEN], Error> {
    if !last && index >= MAX_CHUNK_INDEX {
        return Err(Error::Local(LocalError::CounterOverflow));
    }
    let end = index
        .checked_mul(chunk_size as u64)
        .and_then(|start| start.checked_add(plain.len() as u64));
    if end.is_none_or(|end| end > MAX_SEALED_BYTES) {
        return Err(Error::Usage(UsageError::TooMuchData {
            limit: MAX_SEALED_BYTES,
        }));
    }
    let nonce = chunk_nonce(index, last)?;
    Ok(aead.seal_in_place(&nonce, &[], plain))
}

/// Opens chunk `index` held in `buf[..n]` (ciphertext and tag) in place and
/// returns its plaintext length. `last` says whether the input ended with
/// this chunk. Applies the final-chunk rules: an empty or sub-tag final
/// chunk is truncation; every tag failure is the one opaque error.
pub(crate) fn open_chunk(
    aead: &Aead,
    buf: &mut [u8],
    n: usize,
    index: u64,
    last: bool,
) -> Result<usize, Error> {
    final_chunk_len(n as u64)?;
    let nonce = chunk_nonce(index, last).map_err(|_| Error::Format(FormatError::TooManyChunks))?;
    aead.open_in_place(&nonce, &[], &mut buf[..n])
        .map_err(|_| Error::Integrity(IntegrityError::ChunkAuthentication { chunk: index }))
}

/// The error every use of a failed stream gets.
pub(crate) fn already_failed() -> Error {
    Error::State(StateError::Failed)
}

/// Seals a stream's chunks in order.
pub(crate) struct ChunkSealer {
    aead: Aead,
    chunk_size: usize,
    next: u64,
    finished: bool,
}

impl ChunkSealer {
    pub(crate) fn new(aead: Aead, chunk_size: usize) -> Self {
        ChunkSealer {
            aead,
            chunk_size,
            next: 0,
            finished: false,
        }
    }

    /// Plaintext bytes in a full chunk.
    pub(crate) fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// Seals the plaintext in `chunk` in place and appends its tag. A full
    /// chunk is never the final one and the final one is shorter, so a
    /// writer seals a chunk as soon as it is full and the final chunk at
    /// the end, with no lookahead.
    pub(crate) fn seal_next(&mut self, chunk: &mut Vec<u8>, last: bool) -> Result<(), Error> {
        if self.finished {
            return Err(Error::State(StateError::Finished));
        }
        let tag = seal_chunk(&self.aead, chunk, self.next, last, self.chunk_size)?;
        chunk.extend_from_slice(&tag);
        self.next += 1;
        self.finished = last;
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn set_next_index(&mut self, index: u64) {
        self.next = index;
    }
}

/// What a reader should do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Verified plaintext is waiting: [`ChunkOpener::plain`].
    Data,
    /// The final chunk verified and everything was consumed.
    End,
    /// Read the next chunk's ciphertext into [`ChunkOpener::space`].
    NeedChunk,
    /// An earlier error ended the stream.
    Failed,
}

/// Opens a stream's chunks in order and holds the current chunk's
/// verified plaintext.
pub(crate) struct ChunkOpener {
    aead: Aead,
    layout: BodyLayout,
    buf: Zeroizing<Vec<u8>>,
    /// Ciphertext bytes of the next chunk read so far.
    filled: usize,
    pos: usize,
    len: usize,
    /// Plaintext bytes to drop from the next chunk (after a seek).
    skip: usize,
    next: u64,
    done: bool,
    failed: bool,
    plaintext_len: u64,
    /// A signed stream's signature check (FORMAT.md section 15.5).
    signature: Option<SignatureCheck>,
}

/// The state of a signed stream's check: the leaves hashed so far, and the
/// trailer once the input ended.
pub(crate) struct SignatureCheck {
    signer: SignerKey,
    header_digest: [u8; DIGEST_LEN],
    outer: blake3::Hasher,
    /// Chunks hashed.
    chunks: u64,
    /// Every chunk from the first has been hashed: no seek skipped any.
    whole: bool,
    trailer: Option<Trailer>,
    verified: bool,
}

impl ChunkOpener {
    pub(crate) fn new(aead: Aead, layout: BodyLayout) -> Self {
        let stride = layout.stride() as usize;
        ChunkOpener {
            aead,
            layout,
            buf: Zeroizing::new(vec![0u8; stride]),
            filled: 0,
            pos: 0,
            len: 0,
            skip: 0,
            next: 0,
            done: false,
            failed: false,
            plaintext_len: 0,
            signature: None,
        }
    }

    /// Checks `header`'s signature (if it names a signer) as the body is
    /// read from its start.
    pub(crate) fn with_signature(mut self, header: &Header) -> Self {
        self.signature = header.signer().map(|signer| SignatureCheck {
            signer: signer.clone(),
            header_digest: header.digest(),
            outer: body_digest_hasher(),
            chunks: 0,
            whole: true,
            trailer: None,
            verified: false,
        });
        self
    }

    /// Whether the stream is signed: its trailer must be held back.
    pub(crate) fn trailer_len(&self) -> usize {
        self.signature
            .as_ref()
            .map_or(0, |s| s.signer.algorithm().trailer_len())
    }

    /// Whether a signed stream's signature verified (read whole from the
    /// start, no chunk skipped).
    pub(crate) fn signature_verified(&self) -> bool {
        self.signature.as_ref().is_some_and(|s| s.verified)
    }

    /// Records what the input ended with: a signed stream's trailer. Its
    /// magic is checked first, so a stripped or cut trailer is named as
    /// such rather than as a bad final chunk.
    pub(crate) fn input_ended(&mut self, held: &[u8]) -> Result<(), Error> {
        let Some(sig) = &mut self.signature else {
            return Ok(());
        };
        match Trailer::parse(held, sig.signer.algorithm()) {
            Ok(t) => {
                sig.trailer = Some(t);
                Ok(())
            }
            Err(e) => {
                self.fail();
                Err(e)
            }
        }
    }

    /// The leaves' outer hash so far, for the parallel engine to go on
    /// from (`None` when unsigned or after a seek).
    pub(crate) fn take_outer(&mut self) -> Option<blake3::Hasher> {
        let sig = self.signature.as_mut()?;
        sig.whole
            .then(|| std::mem::replace(&mut sig.outer, body_digest_hasher()))
    }

    /// Checks a signed stream's body digest and signature at its end:
    /// `outer` fed every leaf, `chunks` and `plaintext_len` for the whole
    /// body. Fails the stream on any mismatch.
    pub(crate) fn check_signature(
        &mut self,
        outer: &blake3::Hasher,
        chunks: u64,
        plaintext_len: u64,
    ) -> Result<(), Error> {
        let Some(sig) = &mut self.signature else {
            return Ok(());
        };
        let result = match sig.trailer.take() {
            None => Err(Error::Integrity(IntegrityError::SignatureMissing)),
            Some(trailer) => {
                let body = SignedBody::finish(outer, chunks, plaintext_len);
                let message = signed_message(&sig.header_digest, &body);
                if body.digest != trailer.digest {
                    Err(Error::Integrity(IntegrityError::BodyDigestMismatch))
                } else if !sig.signer.verify(&message, &trailer.signature) {
                    Err(Error::Integrity(IntegrityError::SignatureInvalid))
                } else {
                    sig.verified = true;
                    Ok(())
                }
            }
        };
        if result.is_err() {
            self.fail();
        }
        result
    }

    pub(crate) fn next(&self) -> Next {
        if self.failed {
            Next::Failed
        } else if self.pos < self.len {
            Next::Data
        } else if self.done {
            Next::End
        } else {
            Next::NeedChunk
        }
    }

    /// Verified plaintext not yet consumed.
    pub(crate) fn plain(&self) -> &[u8] {
        &self.buf[self.pos..self.len]
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.len);
    }

    /// Where the next chunk's ciphertext goes: the rest of a full chunk.
    pub(crate) fn space(&mut self) -> &mut [u8] {
        let stride = self.buf.len();
        &mut self.buf[self.filled..stride]
    }

    /// Records `n` more ciphertext bytes read into [`space`](Self::space).
    pub(crate) fn filled(&mut self, n: usize) {
        self.filled = (self.filled + n).min(self.buf.len());
    }

    /// Opens the chunk read so far. A full chunk's worth is never final;
    /// anything shorter (the input ended) must be the final chunk, so no
    /// lookahead or trial decryption is needed. On failure the stream is
    /// failed and nothing of the chunk is released.
    pub(crate) fn open(&mut self) -> Result<(), Error> {
        let last = self.filled < self.buf.len();
        if let Some(sig) = self.signature.as_mut().filter(|s| s.whole) {
            sig.outer.update(&chunk_leaf(&self.buf[..self.filled]));
            sig.chunks += 1;
        }
        match open_chunk(&self.aead, &mut self.buf, self.filled, self.next, last) {
            Ok(plain) => {
                // After a seek, drop the part of the chunk before the target.
                self.pos = self.skip.min(plain);
                self.skip = 0;
                self.len = plain;
                self.filled = 0;
                self.next += 1;
                self.plaintext_len += plain as u64;
                if last {
                    if let Some(sig) = self.signature.as_mut().filter(|s| s.whole) {
                        let (outer, chunks) = (sig.outer.clone(), sig.chunks);
                        // Nothing of the final chunk is released unless it passes.
                        self.check_signature(&outer, chunks, self.plaintext_len)?;
                    }
                }
                self.done = last;
                Ok(())
            }
            Err(e) => {
                self.fail();
                Err(e)
            }
        }
    }

    /// Opens `chunk` (the whole of chunk `index`: ciphertext and tag) as
    /// the final chunk, to authenticate a length taken from the input's
    /// size. The plaintext, decrypted in place, is not released: the
    /// caller's buffer should be zeroizing. A failure fails the stream.
    pub(crate) fn verify_final(&mut self, chunk: &mut [u8], index: u64) -> Result<(), Error> {
        if self.failed {
            return Err(already_failed());
        }
        let n = chunk.len();
        if let Err(e) = open_chunk(&self.aead, chunk, n, index, true) {
            self.fail();
            return Err(e);
        }
        Ok(())
    }

    /// Ends the stream after an error (such as a failed read).
    pub(crate) fn fail(&mut self) {
        self.failed = true;
        (self.pos, self.len, self.filled) = (0, 0, 0);
    }

    /// Moves to plaintext offset `pos` of a stream of `total` plaintext
    /// bytes (clipped to the end). Returns the clipped offset and the file
    /// offset to read the next chunk from; reading from there verifies only
    /// the chunk that holds `pos`.
    pub(crate) fn seek(&mut self, pos: u64, total: u64) -> Result<(u64, u64), Error> {
        if self.failed {
            return Err(already_failed());
        }
        let loc = self.layout.locate(pos, total);
        let at = self
            .layout
            .chunk_offset(loc.index)
            .ok_or(Error::Format(FormatError::TooManyChunks))?;
        self.next = loc.index;
        self.done = false;
        // Chunks a seek skips are never hashed: no signature check then
        // (a seek to the next chunk to hash skips none).
        if let Some(sig) = &mut self.signature {
            if loc.index != sig.chunks {
                sig.whole = false;
            }
            sig.trailer = None;
        }
        (self.pos, self.len, self.filled) = (0, 0, 0);
        self.skip = loc.skip;
        Ok((loc.offset, at))
    }

    /// The plaintext offset of the next byte a read returns.
    pub(crate) fn position(&self) -> u64 {
        let chunk = u64::from(self.layout.chunk_size());
        if self.len > 0 || self.done {
            // The window holds chunk next - 1.
            (self.next - 1) * chunk + self.pos as u64
        } else {
            self.next * chunk + self.skip as u64
        }
    }

    /// Index of the next chunk to open.
    pub(crate) fn next_index(&self) -> u64 {
        self.next
    }

    /// Plaintext bytes verified so far.
    pub(crate) fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    pub(crate) fn aead(&self) -> &Aead {
        &self.aead
    }

    pub(crate) fn layout(&self) -> &BodyLayout {
        &self.layout
    }

    #[cfg(test)]
    pub(crate) fn set_next_index(&mut self, index: u64) {
        self.next = index;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::CHUNK_TAG_LEN;

    #[test]
    fn nonce_layout() {
        let n = chunk_nonce(0x0102_0304, true).expect("in range");
        assert_eq!(n, [0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 1]);
        assert_eq!(chunk_nonce(0, false).expect("in range"), [0; 12]);
    }

    #[test]
    fn counter_overflow_is_refused() {
        assert!(chunk_nonce(MAX_CHUNK_INDEX, true).is_ok());
        assert!(matches!(
            chunk_nonce(MAX_CHUNK_INDEX + 1, false),
            Err(Error::Local(LocalError::CounterOverflow))
        ));
        assert!(matches!(
            chunk_nonce(u64::MAX, true),
            Err(Error::Local(LocalError::CounterOverflow))
        ));
    }

    #[test]
    fn no_key_encrypts_more_than_2_pow_48_bytes() {
        // Review finding W4, through the chunk core with a forced counter:
        // with 16 MiB chunks the counter would allow 2^56 bytes, but chunk
        // 2^24 - 1 ends exactly at 2^48 and nothing may follow it but an
        // empty final chunk.
        let aead = || crate::Backend::default().aead(&[5; 32]);
        let cs = 16 << 20;
        let at_limit = MAX_SEALED_BYTES / cs as u64;
        let mut sealer = ChunkSealer::new(aead(), cs);
        sealer.set_next_index(at_limit - 1);
        sealer
            .seal_next(&mut vec![0u8; cs], false)
            .expect("the last full chunk within the limit");
        let err = sealer
            .seal_next(&mut vec![0u8; cs], false)
            .expect_err("a chunk past 2^48 bytes");
        assert!(
            matches!(err, Error::Usage(UsageError::TooMuchData { limit }) if limit == 1 << 48),
            "{err}"
        );
        assert_eq!(err.class(), crate::ErrorClass::Usage);
        let err = sealer
            .seal_next(&mut vec![0u8; 1], true)
            .expect_err("one more byte in the final chunk");
        assert!(matches!(err, Error::Usage(UsageError::TooMuchData { .. })));
        sealer
            .seal_next(&mut Vec::new(), true)
            .expect("an empty final chunk adds no byte");
        // The engine's path (seal_chunk by index) has the same rule.
        assert!(seal_chunk(&aead(), &mut [0u8; 4096], at_limit * 4096, false, 4096).is_err());
        assert!(seal_chunk(&aead(), &mut [0u8; 4096], (1 << 32) - 2, false, 4096).is_ok());
    }

    #[test]
    fn sealer_and_opener_agree_and_enforce_the_final_chunk_rules() {
        let aead = || crate::Backend::default().aead(&[5; 32]);
        let mut sealer = ChunkSealer::new(aead(), 4096);
        let mut body = Vec::new();
        for (len, last) in [(4096, false), (4096, false), (10, true)] {
            let mut c = vec![7u8; len];
            sealer.seal_next(&mut c, last).expect("seal");
            assert_eq!(c.len(), len + CHUNK_TAG_LEN);
            body.extend_from_slice(&c);
        }
        assert!(
            sealer.seal_next(&mut vec![0u8; 1], true).is_err(),
            "after the final chunk"
        );
        let layout = BodyLayout::for_test(0, 4096);
        let mut opener = ChunkOpener::new(aead(), layout);
        let mut out = Vec::new();
        let mut at = 0;
        while opener.next() != Next::End {
            assert_eq!(opener.next(), Next::NeedChunk);
            let space = opener.space();
            let n = space.len().min(body.len() - at);
            space[..n].copy_from_slice(&body[at..at + n]);
            at += n;
            opener.filled(n);
            opener.open().expect("open");
            out.extend_from_slice(opener.plain());
            let k = opener.plain().len();
            opener.consume(k);
        }
        assert_eq!(out.len(), 8192 + 10);
        assert!(opener.is_done());
        // Dropping the final chunk: the input ends at a chunk boundary.
        let mut opener2 = ChunkOpener::new(aead(), layout);
        opener2.space().copy_from_slice(&body[..4112]);
        opener2.filled(4112);
        opener2.open().expect("first chunk");
        opener2.consume(4096);
        opener2.space().copy_from_slice(&body[4112..8224]);
        opener2.filled(4112);
        opener2.open().expect("second chunk");
        opener2.consume(4096);
        assert!(
            matches!(
                opener2.open(),
                Err(Error::Format(FormatError::Truncated(_)))
            ),
            "no final chunk"
        );
        assert_eq!(opener2.next(), Next::Failed);
    }
}
