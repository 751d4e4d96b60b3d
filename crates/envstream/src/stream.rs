//! Streaming seal and open.

use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};

use zeroize::Zeroizing;

use crate::backend::{Aead, Backend};
use crate::context::EncryptionContext;
use crate::error::{Error, KeyringError, KeyringErrorKind};
use crate::format::{self, Header, CHUNK_TAG_LEN, DEFAULT_CHUNK_SIZE, PREFIX_LEN, SALT_LEN};
use crate::keyring::{block_on, Keyring, UnwrapRequest, WrapRequest};
use crate::keys::{open_chunk, seal_chunk, DataKey, RandomSource, StreamKeys};
use crate::pipeline::{Direction, Engine, StreamStats};

/// Parameters for sealing.
pub struct SealOptions {
    chunk_size: u32,
    context: EncryptionContext,
    backend: Backend,
    seed: Option<[u8; 32]>,
}

impl Default for SealOptions {
    fn default() -> Self {
        SealOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            context: EncryptionContext::new(),
            backend: Backend::default(),
            seed: None,
        }
    }
}

impl SealOptions {
    /// Default options: 64 KiB chunks, empty context, default backend.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the chunk size (4 KiB to 16 MiB).
    pub fn chunk_size(mut self, size: u32) -> Result<Self, Error> {
        format::check_chunk_size(size)?;
        self.chunk_size = size;
        Ok(self)
    }

    /// Sets the encryption context.
    pub fn context(mut self, context: EncryptionContext) -> Self {
        self.context = context;
        self
    }

    /// Selects the crypto backend.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// **Insecure; for test vectors only.** Derives every random value (data
    /// key, salt, wrapping nonces) from `seed`, so output is reproducible.
    #[doc(hidden)]
    pub fn insecure_deterministic(mut self, seed: [u8; 32]) -> Self {
        self.seed = Some(seed);
        self
    }
}

/// A prepared seal: the data key is generated and wrapped, the header is
/// built. Turn it into a writer with [`Sealer::seal_to`].
pub struct Sealer {
    header: Header,
    keys: StreamKeys,
    backend: Backend,
}

impl Sealer {
    /// Generates a data key and wraps it with every keyring (asynchronously).
    ///
    /// The first keyring may generate the key itself (KMS); the others wrap it.
    /// A keyring whose record names the same provider and key id as an
    /// earlier one (the same key given twice, or under two names) adds no
    /// second record.
    pub async fn prepare(keyrings: &[&dyn Keyring], options: SealOptions) -> Result<Self, Error> {
        if keyrings.is_empty() {
            return Err(Error::NoKeyring);
        }
        let random = match options.seed {
            Some(seed) => RandomSource::deterministic(options.backend, seed),
            None => RandomSource::system(options.backend),
        };
        let request = WrapRequest {
            context: &options.context,
            random: &random,
        };
        let mut wrapped = Vec::with_capacity(keyrings.len());
        let (data_key, rest) = match keyrings[0]
            .generate(&request)
            .await
            .map_err(Error::Keyring)?
        {
            Some((dk, wk)) => {
                wrapped.push(wk);
                (dk, &keyrings[1..])
            }
            None => (DataKey::generate(&random)?, keyrings),
        };
        for k in rest {
            push_unique(
                &mut wrapped,
                k.wrap(&data_key, &request).await.map_err(Error::Keyring)?,
            );
        }
        let mut salt = [0u8; SALT_LEN];
        random.fill(&mut salt)?;
        let mut header = Header::new(options.chunk_size, salt, options.context.clone(), wrapped)?;
        let keys = StreamKeys::derive(options.backend, &data_key, &header);
        header.set_commitment(keys.commitment);
        let tag = keys.header_tag(options.backend, &header.authenticated_bytes());
        header.set_tag(tag);
        Ok(Sealer {
            header,
            keys,
            backend: options.backend,
        })
    }

    /// Blocking form of [`Sealer::prepare`].
    pub fn prepare_blocking(
        keyrings: &[&dyn Keyring],
        options: SealOptions,
    ) -> Result<Self, Error> {
        block_on(Self::prepare(keyrings, options))
    }

    /// The payload cipher (for the async adapters).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn backend_aead(&self) -> crate::backend::Aead {
        self.backend.aead(&self.keys.payload)
    }

    /// The header that will be written.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Seals all of `input` to `output` (header, then every chunk) with the
    /// parallel engine: `threads` workers (0 = one per available core, at
    /// most [`MAX_THREADS`](crate::MAX_THREADS); the calling thread is one
    /// of them) each read, seal and write whole batches in stream order.
    /// Inputs shorter than one batch take no lock. Memory stays bounded by
    /// one batch buffer of about 2 MiB per worker.
    ///
    /// ```
    /// use envstream::{Backend, Keyring, LocalKey, SealOptions, Sealer};
    /// # fn main() -> Result<(), envstream::Error> {
    /// let key = LocalKey::from_secret(&[7; 32], Backend::default());
    /// let keyrings: [&dyn Keyring; 1] = [&key];
    /// let sealer = Sealer::prepare_blocking(&keyrings, SealOptions::new())?;
    /// let input = vec![42u8; 1_000_000];
    /// let (sealed, stats) = sealer.seal_stream(&input[..], Vec::new(), 2)?;
    /// assert_eq!(stats.plaintext_bytes, 1_000_000);
    /// assert_eq!(stats.chunks, 16); // 15 full 64 KiB chunks and a short final one
    /// # let _ = sealed; Ok(()) }
    /// ```
    pub fn seal_stream<R: Read + Send, W: Write + Send>(
        self,
        input: R,
        mut output: W,
        threads: usize,
    ) -> Result<(W, StreamStats), Error> {
        output.write_all(&self.header.to_bytes())?;
        let aead = self.backend.aead(&self.keys.payload);
        let engine = Engine {
            aead: &aead,
            start: 0,
            chunk_size: self.header.chunk_size() as usize,
            direction: Direction::Seal,
        };
        engine.run(input, output, threads)
    }

    /// Writes the header to `out` and returns the chunk writer.
    pub fn seal_to<W: Write>(self, mut out: W) -> Result<SealWriter<W>, Error> {
        out.write_all(&self.header.to_bytes())?;
        let chunk_size = self.header.chunk_size() as usize;
        Ok(SealWriter {
            inner: out,
            aead: self.backend.aead(&self.keys.payload),
            buf: Zeroizing::new(Vec::with_capacity(chunk_size + CHUNK_TAG_LEN)),
            chunk_size,
            next_index: 0,
            failed: false,
            plaintext_len: 0,
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
    aead: Aead,
    buf: Zeroizing<Vec<u8>>,
    chunk_size: usize,
    next_index: u64,
    failed: bool,
    plaintext_len: u64,
}

impl<W: Write> SealWriter<W> {
    fn emit(&mut self, last: bool) -> Result<(), Error> {
        let tag = seal_chunk(&self.aead, &mut self.buf, self.next_index, last)?;
        self.buf.extend_from_slice(&tag);
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        self.next_index += 1;
        Ok(())
    }

    /// Writes the final chunk, flushes and returns the inner writer.
    pub fn finish(mut self) -> Result<W, Error> {
        if self.failed {
            return Err(Error::Io(io::Error::other(
                "an earlier write failed; the output is incomplete",
            )));
        }
        self.emit(true)?;
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
            return Err(io::Error::other(
                "an earlier write failed; the output is incomplete",
            ));
        }
        let room = self.chunk_size - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        self.plaintext_len += n as u64;
        // A full chunk is never the final one (the final chunk is strictly
        // shorter), so it can be sealed as soon as it is full.
        if self.buf.len() == self.chunk_size {
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

/// Parameters for opening.
#[derive(Default)]
pub struct OpenOptions {
    required: Vec<(String, String)>,
    backend: Backend,
}

impl OpenOptions {
    /// Default options: no context requirements, default backend.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires the header's context to hold `key` with exactly `value`.
    pub fn require_context(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.required.push((key.into(), value.into()));
        self
    }

    /// Selects the crypto backend.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn backend_aead(&self, key: &crate::backend::SecretKey) -> crate::backend::Aead {
        self.backend.aead(key)
    }
}

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

/// A stream whose header has been read and parsed but not yet unlocked.
pub struct Opener<R: Read> {
    inner: R,
    header: Header,
}

impl<R: Read> Opener<R> {
    /// Reads and parses the header. Needs no key and decrypts nothing.
    pub fn new(mut inner: R) -> Result<Self, Error> {
        let mut prefix = [0u8; PREFIX_LEN];
        let n = read_full(&mut inner, &mut prefix)?;
        // Validates magic, version, suite, chunk size and the header length
        // before allocating anything sized by the input.
        let mut bytes = format::header_buffer(&prefix, n)?;
        let m = read_full(&mut inner, &mut bytes[PREFIX_LEN..])?;
        let header = format::header_from_buffer(&bytes, m)?;
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
    pub async fn unlock(
        self,
        keyrings: &[&dyn Keyring],
        options: OpenOptions,
    ) -> Result<OpenReader<R>, Error> {
        let (_data_key, keys, opened_with) = authenticate(&self.header, keyrings, &options).await?;
        let chunk_size = self.header.chunk_size() as usize;
        Ok(OpenReader {
            inner: self.inner,
            aead: options.backend.aead(&keys.payload),
            buf: Zeroizing::new(vec![0u8; chunk_size + CHUNK_TAG_LEN]),
            pos: 0,
            len: 0,
            chunk_size,
            next_index: 0,
            state: State::Reading,
            header: self.header,
            opened_with,
            plaintext_len: 0,
            skip: 0,
            total: None,
            buf_start: 0,
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
    pub async fn rekey(
        self,
        keyrings: &[&dyn Keyring],
        options: OpenOptions,
        add: &[&dyn Keyring],
        remove: &[String],
    ) -> Result<Rekeyed<R>, Error> {
        let (data_key, keys, opened_with) = authenticate(&self.header, keyrings, &options).await?;
        for r in remove {
            let known = self.header.wrapped_keys().iter().any(|w| names(w, r));
            if !known {
                return Err(Error::InvalidOptions(format!(
                    "the key to remove, {r:?}, matches no wrapped key in the header"
                )));
            }
        }
        let mut wrapped: Vec<crate::WrappedKey> = self
            .header
            .wrapped_keys()
            .iter()
            .filter(|w| !remove.iter().any(|r| names(w, r)))
            .cloned()
            .collect();
        let random = RandomSource::system(options.backend);
        let request = WrapRequest {
            context: self.header.context(),
            random: &random,
        };
        for k in add {
            push_unique(
                &mut wrapped,
                k.wrap(&data_key, &request).await.map_err(Error::Keyring)?,
            );
        }
        if wrapped.is_empty() {
            return Err(Error::InvalidOptions(
                "refusing to remove the last wrapped key: the file could never be opened again"
                    .into(),
            ));
        }
        let mut header = Header::new(
            self.header.chunk_size(),
            *self.header.salt(),
            self.header.context().clone(),
            wrapped,
        )?;
        // Same data key, salt, suite, chunk size and context: same commitment.
        header.set_commitment(keys.commitment);
        let tag = keys.header_tag(options.backend, &header.authenticated_bytes());
        header.set_tag(tag);
        Ok(Rekeyed {
            header,
            inner: self.inner,
            opened_with,
        })
    }

    /// Blocking form of [`Opener::rekey`].
    pub fn rekey_blocking(
        self,
        keyrings: &[&dyn Keyring],
        options: OpenOptions,
        add: &[&dyn Keyring],
        remove: &[String],
    ) -> Result<Rekeyed<R>, Error> {
        block_on(self.rekey(keyrings, options, add, remove))
    }

    /// Blocking form of [`Opener::unlock`].
    pub fn unlock_blocking(
        self,
        keyrings: &[&dyn Keyring],
        options: OpenOptions,
    ) -> Result<OpenReader<R>, Error> {
        block_on(self.unlock(keyrings, options))
    }
}

/// Checks the context requirements, unwraps the data key with the first
/// keyring that can, and verifies the key commitment (in constant time)
/// and the header tag.
pub(crate) async fn authenticate(
    header: &Header,
    keyrings: &[&dyn Keyring],
    options: &OpenOptions,
) -> Result<(DataKey, StreamKeys, String), Error> {
    for (k, v) in &options.required {
        let found = header.context().get(k);
        if found != Some(v.as_str()) {
            return Err(Error::ContextMismatch {
                key: k.clone(),
                expected: v.clone(),
                found: found.map(str::to_owned),
            });
        }
    }
    if keyrings.is_empty() {
        return Err(Error::NoKeyring);
    }
    let request = UnwrapRequest {
        context: header.context(),
    };
    let mut errors: Vec<KeyringError> = Vec::new();
    let mut found: Option<(DataKey, String)> = None;
    'outer: for kr in keyrings {
        for wk in header.wrapped_keys() {
            match kr.unwrap(wk, &request).await {
                Ok(Some(dk)) => {
                    found = Some((dk, format!("{}/{}", wk.provider(), wk.key_id())));
                    break 'outer;
                }
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
    }
    let Some((data_key, opened_with)) = found else {
        let has = |kind| errors.iter().any(|e| e.kind() == kind);
        return Err(if has(KeyringErrorKind::Corrupt) {
            Error::WrappedKeyCorrupt(errors)
        } else if let Some(i) = errors
            .iter()
            .position(|e| e.kind() == KeyringErrorKind::Configuration)
        {
            // Retrying cannot help a missing region, credential or profile.
            Error::Keyring(errors.swap_remove(i))
        } else if has(KeyringErrorKind::Unavailable) {
            Error::KeyServiceUnavailable(errors)
        } else if !errors.is_empty() {
            Error::KeyDenied(errors)
        } else {
            Error::NoMatchingKey {
                tried: keyrings.iter().map(|k| k.description()).collect(),
                wrapped: header
                    .wrapped_keys()
                    .iter()
                    .map(|w| format!("{}/{}", w.provider(), w.key_id()))
                    .collect(),
            }
        });
    };
    let keys = StreamKeys::derive(options.backend, &data_key, header);
    keys.check_commitment(header)?;
    keys.check_header_tag(options.backend, header)?;
    Ok((data_key, keys, opened_with))
}

/// Appends `wk` unless the list already holds a record for the same key
/// (same provider and key id): one key never takes two of the 16 slots,
/// whether it was named twice or under two names (a KMS alias and its ARN).
fn push_unique(wrapped: &mut Vec<crate::WrappedKey>, wk: crate::WrappedKey) {
    let dup = wrapped
        .iter()
        .any(|w| w.provider() == wk.provider() && w.key_id() == wk.key_id());
    if !dup {
        wrapped.push(wk);
    }
}

/// Whether `r` (a key id or `provider/key id`, as `--remove-key` takes it)
/// names the wrapped key `w`.
fn names(w: &crate::WrappedKey, r: &str) -> bool {
    w.key_id() == r
        || r.split_once('/')
            .is_some_and(|(p, id)| p == w.provider() && id == w.key_id())
}

/// The result of [`Opener::rekey`]: a new header for the same body.
pub struct Rekeyed<R: Read> {
    header: Header,
    inner: R,
    opened_with: String,
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

    /// Writes the new header, then copies the body bytes verbatim (no
    /// decryption). Returns the output and the number of body bytes copied.
    pub fn write_to<W: Write>(mut self, mut output: W) -> Result<(W, u64), Error> {
        output.write_all(&self.header.to_bytes())?;
        let copied = io::copy(&mut self.inner, &mut output)?;
        output.flush()?;
        Ok((output, copied))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Done,
    Failed,
}

/// Decrypts a stream. Implements [`Read`] and [`BufRead`].
///
/// Each chunk's plaintext is released only after its tag verifies. A read
/// returns `Ok(0)` only after the final chunk has verified; truncation,
/// reordering, tampering and trailing data are errors (recover the
/// [`Error`] with [`Error::from_io_ref`]).
pub struct OpenReader<R: Read> {
    inner: R,
    aead: Aead,
    buf: Zeroizing<Vec<u8>>,
    pos: usize,
    len: usize,
    chunk_size: usize,
    next_index: u64,
    state: State,
    header: Header,
    opened_with: String,
    plaintext_len: u64,
    /// Plaintext bytes to drop from the next chunk (after a seek).
    skip: usize,
    /// Total plaintext length, once a seek has measured the input.
    total: Option<u64>,
    /// Plaintext offset of `buf[0]`.
    buf_start: u64,
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
        self.plaintext_len
    }

    /// Chunks verified so far.
    pub fn chunks(&self) -> u64 {
        self.next_index
    }

    /// Whether the final chunk has been verified (the stream is complete).
    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// Decrypts the rest of the stream into `output` with the parallel
    /// engine (see [`Sealer::seal_stream`]); chunks are released in order,
    /// each only after its tag verifies. Returns the totals for the whole
    /// stream.
    pub fn copy_to<W: Write + Send>(
        mut self,
        mut output: W,
        threads: usize,
    ) -> Result<(W, StreamStats), Error>
    where
        R: Send,
    {
        match self.state {
            State::Failed => return Err(Error::Io(io::Error::other("the stream already failed"))),
            State::Done => {
                output.write_all(&self.buf[self.pos..self.len])?;
                output.flush()?;
                return Ok((
                    output,
                    StreamStats {
                        plaintext_bytes: self.plaintext_len,
                        chunks: self.next_index,
                    },
                ));
            }
            State::Reading => {}
        }
        output.write_all(&self.buf[self.pos..self.len])?;
        self.pos = self.len;
        let engine = Engine {
            aead: &self.aead,
            start: self.next_index,
            chunk_size: self.chunk_size,
            direction: Direction::Open,
        };
        let (output, stats) = engine.run(&mut self.inner, output, threads)?;
        Ok((
            output,
            StreamStats {
                plaintext_bytes: self.plaintext_len + stats.plaintext_bytes,
                chunks: self.next_index + stats.chunks,
            },
        ))
    }

    fn next_chunk(&mut self) -> Result<(), Error> {
        let full = self.chunk_size + CHUNK_TAG_LEN;
        self.buf.resize(full, 0);
        let n = read_full(&mut self.inner, &mut self.buf[..])?;
        // A full-size chunk is never final; anything shorter must be the
        // final chunk, so no lookahead or trial decryption is needed.
        let last = n < full;
        let plain = open_chunk(&self.aead, &mut self.buf, n, self.next_index, last)?;
        // After a seek, drop the part of the chunk before the target.
        self.pos = self.skip.min(plain);
        self.skip = 0;
        self.len = plain;
        self.buf_start = self.next_index * self.chunk_size as u64;
        self.next_index += 1;
        self.plaintext_len += plain as u64;
        if last {
            self.state = State::Done;
        }
        Ok(())
    }

    fn fill(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.len {
            match self.state {
                State::Done => return Ok(&[]),
                State::Failed => return Err(io::Error::other("the stream already failed")),
                State::Reading => {
                    if let Err(e) = self.next_chunk() {
                        self.state = State::Failed;
                        self.len = 0;
                        self.pos = 0;
                        return Err(e.into_io());
                    }
                }
            }
        }
        Ok(&self.buf[self.pos..self.len])
    }
}

impl<R: Read + Seek> OpenReader<R> {
    /// The total plaintext length, computed from the input's length alone
    /// (nothing is decrypted). A body that cannot end with a valid final
    /// chunk is reported as truncated.
    pub fn plaintext_size(&mut self) -> Result<u64, Error> {
        if let Some(t) = self.total {
            return Ok(t);
        }
        let end = self.inner.seek(SeekFrom::End(0))?;
        let body = end
            .checked_sub(self.header.len() as u64)
            .ok_or(Error::Truncated("the input ends inside the header"))?;
        let stride = (self.chunk_size + CHUNK_TAG_LEN) as u64;
        let total = format::plaintext_size(body, self.header.chunk_size())?;
        self.total = Some(total);
        // Leave the input where the next chunk to read starts.
        let at = self.header.len() as u64 + self.next_index * stride;
        self.inner.seek(SeekFrom::Start(at))?;
        Ok(total)
    }

    /// The plaintext position of the next byte `read` returns.
    fn position(&self) -> u64 {
        if self.len > 0 || self.state == State::Done {
            self.buf_start + self.pos as u64
        } else {
            self.next_index * self.chunk_size as u64 + self.skip as u64
        }
    }

    fn seek_to(&mut self, pos: SeekFrom) -> Result<u64, Error> {
        if self.state == State::Failed {
            return Err(Error::Io(io::Error::other("the stream already failed")));
        }
        let total = self.plaintext_size()?;
        let target = match pos {
            SeekFrom::Start(p) => i128::from(p),
            SeekFrom::End(d) => i128::from(total) + i128::from(d),
            SeekFrom::Current(d) => i128::from(self.position()) + i128::from(d),
        };
        if target < 0 {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the plaintext",
            )));
        }
        // Positions past the end read as the end (after the final chunk verifies).
        let target = u64::try_from(target).unwrap_or(u64::MAX).min(total);
        let chunk = self.chunk_size as u64;
        let final_index = total / chunk;
        let index = (target / chunk).min(final_index);
        let stride = chunk + CHUNK_TAG_LEN as u64;
        self.inner
            .seek(SeekFrom::Start(self.header.len() as u64 + index * stride))?;
        self.next_index = index;
        self.state = State::Reading;
        self.pos = 0;
        self.len = 0;
        // Invariant: target - index * chunk < chunk <= 16 MiB, so it fits in usize.
        self.skip = (target - index * chunk) as usize;
        Ok(target)
    }
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
        self.pos += n;
        Ok(n)
    }
}

impl<R: Read> BufRead for OpenReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.fill()
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalKey;

    fn writer_at(index: u64) -> SealWriter<Vec<u8>> {
        let key = LocalKey::from_secret(&[1; 32], Backend::default());
        let keys: [&dyn Keyring; 1] = [&key];
        let opts = SealOptions::new().chunk_size(4096).expect("valid size");
        let mut w = Sealer::prepare_blocking(&keys, opts)
            .expect("prepare")
            .seal_to(Vec::new())
            .expect("header");
        w.next_index = index;
        w
    }

    #[test]
    fn writer_refuses_a_full_chunk_that_would_leave_no_index_for_the_final_chunk() {
        // Index MAX-1 may still be a full chunk; index MAX is reserved for the final one.
        let mut w = writer_at(format::MAX_CHUNK_INDEX - 1);
        w.write_all(&[0u8; 4096]).expect("chunk MAX-1 is allowed");
        let err = w
            .write_all(&[0u8; 4096])
            .expect_err("chunk MAX must be final");
        assert!(matches!(Error::from(err), Error::CounterOverflow));

        let mut w = writer_at(format::MAX_CHUNK_INDEX - 1);
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
        r.next_index = format::MAX_CHUNK_INDEX + 1;
        let err = r.read(&mut [0u8; 16]).expect_err("beyond the counter");
        assert!(matches!(Error::from(err), Error::TooManyChunks));
    }
}
