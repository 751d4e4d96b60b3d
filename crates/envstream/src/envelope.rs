//! The envelope: everything about keys and the header, and nothing about
//! the body. Sealing prepares a data key, wraps it with every keyring and
//! builds the authenticated header; opening authenticates a parsed header
//! and derives the stream keys; rekeying rewraps the data key into a new
//! header for the same body. The body's bytes move in `io`.

use crate::crypto::{
    outside_module, Aead, Backend, ChunkOpener, DataKey, RandomSource, StreamKeys,
};
use crate::error::{Error, IntegrityError, KeyError, KeyringError, KeyringErrorKind, UsageError};
use std::sync::Arc;

use crate::format::{
    check_chunk_size, signed_message, BodyLayout, EncryptionContext, Header, SignedBody, SignerKey,
    Suite, Trailer, WrappedKey, DEFAULT_CHUNK_SIZE, SALT_LEN, SIGNER_CONTEXT_KEY,
};
use crate::keyring::{
    block_on, DataKeyGenerator, Identity, Recipient, Signer, UnwrapRequest, WrapRequest,
};

/// What a FIPS build refuses of signed streams, and why.
const SIGNED_STREAMS: &str = "a signed stream";
const BLAKE3_DIGEST: &str = "BLAKE3 (its body digest)";

/// Parameters for sealing.
pub struct SealOptions {
    chunk_size: u32,
    context: EncryptionContext,
    backend: Backend,
    seed: Option<[u8; 32]>,
    signer: Option<Arc<dyn Signer>>,
}

impl Default for SealOptions {
    fn default() -> Self {
        SealOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            context: EncryptionContext::new(),
            backend: Backend::default(),
            seed: None,
            signer: None,
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
        check_chunk_size(size)?;
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

    /// Signs the stream (suite 0x0002, FORMAT.md section 15): the context
    /// names `signer`'s public key, and after the final chunk the writer
    /// asks it once for a signature over the header and the body digest.
    pub fn signer(mut self, signer: Arc<dyn Signer>) -> Self {
        self.signer = Some(signer);
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
    signer: Option<Arc<dyn Signer>>,
}

impl Sealer {
    /// Draws a fresh data key from the OS generator and wraps it with every
    /// recipient (asynchronously). A recipient whose record names the same
    /// provider and key id as an earlier one (the same key given twice, or
    /// under two names) adds no second record.
    pub async fn prepare<R: Recipient + ?Sized>(
        recipients: &[&R],
        options: SealOptions,
    ) -> Result<Self, Error> {
        if recipients.is_empty() {
            return Err(Error::Usage(UsageError::NoKeyring));
        }
        Self::build(None, recipients, options).await
    }

    /// Like [`Sealer::prepare`], but `generator` makes the data key and its
    /// first record (KMS `GenerateDataKey`); the recipients wrap it after.
    pub async fn prepare_with<R: Recipient + ?Sized>(
        generator: &dyn DataKeyGenerator,
        recipients: &[&R],
        options: SealOptions,
    ) -> Result<Self, Error> {
        Self::build(Some(generator), recipients, options).await
    }

    async fn build<R: Recipient + ?Sized>(
        generator: Option<&dyn DataKeyGenerator>,
        recipients: &[&R],
        options: SealOptions,
    ) -> Result<Self, Error> {
        if options.signer.is_some() {
            outside_module(SIGNED_STREAMS, BLAKE3_DIGEST)?;
        }
        let random = match options.seed {
            Some(seed) => RandomSource::deterministic(options.backend, seed),
            None => RandomSource::system(options.backend),
        };
        // A signed stream names its signer in the context, so that every
        // wrapping (and KMS) binds it.
        let mut context = options.context.clone();
        if let Some(s) = &options.signer {
            context.insert_reserved(
                SIGNER_CONTEXT_KEY.to_owned(),
                s.signer_key().value().to_owned(),
            )?;
        }
        let suite = if options.signer.is_some() {
            Suite::Signed
        } else {
            Suite::Aes256GcmHkdfSha512
        };
        let request = WrapRequest {
            context: &context,
            random: &random,
            suite: suite.id(),
            chunk_size: options.chunk_size,
        };
        let mut wrapped = Vec::with_capacity(recipients.len() + 1);
        let data_key = match generator {
            Some(g) => {
                let (dk, wk) = g
                    .generate(&request)
                    .await
                    .map_err(|e| Error::Key(KeyError::Keyring(e)))?;
                wrapped.push(wk);
                dk
            }
            None => DataKey::generate(&random)?,
        };
        for r in recipients {
            push_unique(
                &mut wrapped,
                r.wrap(&data_key, &request)
                    .await
                    .map_err(|e| Error::Key(KeyError::Keyring(e)))?,
            );
        }
        let mut salt = [0u8; SALT_LEN];
        random.fill(&mut salt)?;
        let mut header = Header::new(options.chunk_size, salt, context, wrapped)?;
        let keys = StreamKeys::derive(options.backend, &data_key, &header);
        keys.finalize(options.backend, &mut header);
        Ok(Sealer {
            header,
            keys,
            backend: options.backend,
            signer: options.signer,
        })
    }

    /// Whether the stream is signed (a trailer follows the body).
    pub(crate) fn is_signed(&self) -> bool {
        self.signer.is_some()
    }

    /// The signer and the header, for a writer that signs later on its
    /// own (the async writer).
    #[cfg(feature = "tokio")]
    pub(crate) fn signing_parts(&self) -> Option<(Arc<dyn Signer>, Header)> {
        self.signer.clone().map(|s| (s, self.header.clone()))
    }

    /// The trailer of the finished body: asks the signer once to sign the
    /// header and `body`, and checks the answer before it is written.
    pub(crate) async fn trailer(&self, body: &SignedBody) -> Result<Vec<u8>, Error> {
        match &self.signer {
            Some(s) => sign_trailer(s.as_ref(), &self.header, body).await,
            None => Ok(Vec::new()),
        }
    }

    /// Blocking form of [`Sealer::prepare`].
    pub fn prepare_blocking<R: Recipient + ?Sized>(
        recipients: &[&R],
        options: SealOptions,
    ) -> Result<Self, Error> {
        block_on(Self::prepare(recipients, options))
    }

    /// Blocking form of [`Sealer::prepare_with`].
    pub fn prepare_with_blocking<R: Recipient + ?Sized>(
        generator: &dyn DataKeyGenerator,
        recipients: &[&R],
        options: SealOptions,
    ) -> Result<Self, Error> {
        block_on(Self::prepare_with(generator, recipients, options))
    }

    /// The payload cipher, for the writers in `io`.
    pub(crate) fn payload_aead(&self) -> Aead {
        self.backend.aead(&self.keys.payload)
    }

    /// The header that will be written.
    pub fn header(&self) -> &Header {
        &self.header
    }
}

/// Signs `header` and `body` with `signer` and returns the trailer bytes.
/// The signature is checked against the signer's public key before it is
/// used: a signer that answers with something else (a KMS key that is not
/// the one the stream names) fails here, not in every later open.
pub(crate) async fn sign_trailer(
    signer: &dyn Signer,
    header: &Header,
    body: &SignedBody,
) -> Result<Vec<u8>, Error> {
    let key = signer.signer_key();
    if header.signer() != Some(key) {
        return Err(Error::Usage(UsageError::InvalidOptions(format!(
            "the stream names another signer than {}",
            signer.description()
        ))));
    }
    let message = signed_message(&header.digest(), body);
    let signature = signer
        .sign(&message)
        .await
        .map_err(|e| Error::Key(KeyError::Keyring(e)))?;
    if !key.verify(&message, &signature) {
        return Err(Error::Key(KeyError::Keyring(KeyringError::new(
            KeyringErrorKind::Other,
            format!(
                "{} returned a signature that does not verify with its public key",
                signer.description()
            ),
        ))));
    }
    Ok(Trailer {
        digest: body.digest,
        signature,
    }
    .to_bytes())
}

/// Parameters for opening.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    required: Vec<(String, String)>,
    backend: Backend,
    signers: Vec<SignerKey>,
}

impl OpenOptions {
    /// Default options: no context requirements, default backend.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pins a signer: the stream must be signed by one of the pinned
    /// signers ([`KeyError::NotSigned`] or [`KeyError::WrongSigner`]
    /// otherwise, before anything is unwrapped), and its signature must
    /// verify before the end of the stream is signalled. Without pinned
    /// signers, a signed stream is still verified against the signer it
    /// names, which proves only that its writer held that key.
    pub fn require_signer(mut self, signer: SignerKey) -> Self {
        self.signers.push(signer);
        self
    }

    /// The pinned signers.
    pub fn signers(&self) -> &[SignerKey] {
        &self.signers
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
}

/// How many failed unwraps (errors, not "not mine") one keyring may have
/// in one open before it is asked no more: the cap on the key-service
/// calls a file's header can cause. With each distinct key asked once, one
/// open makes at most this many failing calls per keyring, plus the one
/// that succeeds.
pub const MAX_FAILED_UNWRAPS: usize = 4;

/// Checks the context requirements, unwraps the data key with the first
/// keyring that can, and verifies the key commitment (in constant time)
/// and the header tag. Each keyring is asked about each distinct key
/// (provider and key id) once, and at most [`MAX_FAILED_UNWRAPS`] times
/// without success.
pub(crate) async fn authenticate<I: Identity + ?Sized>(
    header: &Header,
    keyrings: &[&I],
    options: &OpenOptions,
) -> Result<(DataKey, StreamKeys, String), Error> {
    if header.suite().is_signed() {
        outside_module(SIGNED_STREAMS, BLAKE3_DIGEST)?;
    }
    for (k, v) in &options.required {
        let found = header.context().get(k);
        if found != Some(v.as_str()) {
            return Err(Error::Key(KeyError::ContextMismatch {
                key: k.clone(),
                expected: v.clone(),
                found: found.map(str::to_owned),
            }));
        }
    }
    if !options.signers.is_empty() {
        match header.signer() {
            None => return Err(Error::Key(KeyError::NotSigned)),
            Some(s) if !options.signers.contains(s) => {
                return Err(Error::Key(KeyError::WrongSigner {
                    found: format!("{} key {}", s.algorithm().name(), s.fingerprint()),
                }))
            }
            Some(_) => {}
        }
    }
    if keyrings.is_empty() {
        return Err(Error::Usage(UsageError::NoKeyring));
    }
    let request = UnwrapRequest {
        context: header.context(),
        suite: header.suite().id(),
        chunk_size: header.chunk_size(),
    };
    let mut errors: Vec<KeyringError> = Vec::new();
    let mut found: Option<(DataKey, String)> = None;
    'outer: for kr in keyrings {
        let mut asked: Vec<&WrappedKey> = Vec::new();
        let mut failed = 0;
        for wk in header.wrapped_keys() {
            // Each distinct key once (the format allows duplicate records,
            // which must not multiply key-service calls), and no keyring
            // is asked again after MAX_FAILED_UNWRAPS failures: a hostile
            // header cannot make one open call a key service 16 times.
            if asked.iter().any(|a| same_key(a, wk)) || failed >= MAX_FAILED_UNWRAPS {
                continue;
            }
            asked.push(wk);
            match kr.unwrap_key(wk, &request).await {
                Ok(Some(dk)) => {
                    found = Some((dk, wk.name()));
                    break 'outer;
                }
                Ok(None) => {}
                Err(e) => {
                    failed += 1;
                    errors.push(e);
                }
            }
        }
    }
    let Some((data_key, opened_with)) = found else {
        let has = |kind| errors.iter().any(|e| e.kind() == kind);
        return Err(if has(KeyringErrorKind::Corrupt) {
            Error::Integrity(IntegrityError::WrappedKeyCorrupt(errors))
        } else if let Some(i) = errors
            .iter()
            .position(|e| e.kind() == KeyringErrorKind::Configuration)
        {
            // Retrying cannot help a missing region, credential or profile.
            Error::Key(KeyError::Keyring(errors.swap_remove(i)))
        } else if has(KeyringErrorKind::Unavailable) {
            Error::Key(KeyError::KeyServiceUnavailable(errors))
        } else if !errors.is_empty() {
            Error::Key(KeyError::KeyDenied(errors))
        } else {
            Error::Key(KeyError::NoMatchingKey {
                tried: keyrings.iter().map(|k| k.description()).collect(),
                wrapped: header.wrapped_keys().iter().map(WrappedKey::name).collect(),
            })
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
fn push_unique(wrapped: &mut Vec<WrappedKey>, wk: WrappedKey) {
    if !wrapped.iter().any(|w| same_key(w, &wk)) {
        wrapped.push(wk);
    }
}

/// Whether two records are for the same key (same provider and key id).
fn same_key(a: &WrappedKey, b: &WrappedKey) -> bool {
    a.provider() == b.provider() && a.key_id() == b.key_id()
}

/// Whether `r` (a key id, or `provider/key id` as [`WrappedKey::name`] gives it)
/// names the wrapped key `w`.
fn names(w: &WrappedKey, r: &str) -> bool {
    w.key_id() == r
        || r.split_once('/')
            .is_some_and(|(p, id)| p == w.provider() && id == w.key_id())
}

/// Authenticates `header` (see [`authenticate`]) and returns the chunk
/// opener for its body and `provider/key id` of the key that opened it:
/// what the blocking and async openers both start from.
pub(crate) async fn unlock_body<I: Identity + ?Sized>(
    header: &Header,
    keyrings: &[&I],
    options: &OpenOptions,
) -> Result<(ChunkOpener, String), Error> {
    let (_data_key, keys, opened_with) = authenticate(header, keyrings, options).await?;
    let core = ChunkOpener::new(options.backend.aead(&keys.payload), BodyLayout::new(header))
        .with_signature(header);
    Ok((core, opened_with))
}

/// Builds the header of a rekeyed stream: authenticates `old` with
/// `keyrings`, removes the wrapped keys named in `remove` (a key id or
/// `provider/key id`), wraps the same data key with each of `add`, and
/// returns the new authenticated header (same salt, context and chunk
/// size, so the same commitment and body), the key that opened `old`, and
/// `provider/key id` of each key to add that `old` already had (kept as
/// it was, not wrapped twice).
pub(crate) async fn rekey_header<I: Identity + ?Sized, R: Recipient + ?Sized>(
    old: &Header,
    keyrings: &[&I],
    options: &OpenOptions,
    add: &[&R],
    remove: &[String],
) -> Result<(Header, String, Vec<String>), Error> {
    let (data_key, keys, opened_with) = authenticate(old, keyrings, options).await?;
    for r in remove {
        let known = old.wrapped_keys().iter().any(|w| names(w, r));
        if !known {
            return Err(Error::Usage(UsageError::InvalidOptions(format!(
                "the key to remove, {r:?}, matches no wrapped key in the header"
            ))));
        }
    }
    let mut wrapped: Vec<WrappedKey> = old
        .wrapped_keys()
        .iter()
        .filter(|w| !remove.iter().any(|r| names(w, r)))
        .cloned()
        .collect();
    let random = RandomSource::system(options.backend);
    let request = WrapRequest {
        context: old.context(),
        random: &random,
        suite: old.suite().id(),
        chunk_size: old.chunk_size(),
    };
    let mut already = Vec::new();
    for k in add {
        let wk = k
            .wrap(&data_key, &request)
            .await
            .map_err(|e| Error::Key(KeyError::Keyring(e)))?;
        if old.wrapped_keys().iter().any(|w| same_key(w, &wk)) {
            already.push(wk.name());
        }
        push_unique(&mut wrapped, wk);
    }
    if wrapped.is_empty() {
        return Err(Error::Usage(UsageError::InvalidOptions(
            "refusing to remove the last wrapped key: the file could never be opened again".into(),
        )));
    }
    let mut header = Header::new(
        old.chunk_size(),
        *old.salt(),
        old.context().clone(),
        wrapped,
    )?;
    // Same data key, salt, suite, chunk size and context: same commitment.
    keys.finalize(options.backend, &mut header);
    Ok((header, opened_with, already))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalKey;

    #[test]
    fn the_header_tag_covers_the_bytes_as_read() {
        // Review hardening H2: the tag of a parsed header is checked over
        // the bytes read, not over a re-serialization of its fields.
        let key = LocalKey::from_secret(&[9; 32], Backend::default());
        let sealer = Sealer::prepare_blocking(&[&key], SealOptions::new()).expect("prepare");
        let bytes = sealer.header().to_bytes();
        let (mut parsed, len) = Header::parse(&bytes).expect("parse");
        assert_eq!(&*parsed.authenticated_bytes(), &bytes[..len - 32]);
        let backend = Backend::default();
        sealer
            .keys
            .check_header_tag(backend, &parsed)
            .expect("the tag verifies");
        // A field changed after parsing (a serializer that disagreed with
        // the parser would look like this): the bytes as read still carry
        // the tag, and nothing re-serialized is trusted.
        parsed.set_chunk_size_field(8192);
        sealer
            .keys
            .check_header_tag(backend, &parsed)
            .expect("checked over the bytes as read");
        let mut built = parsed.clone();
        built.set_commitment(*parsed.commitment());
        assert!(
            sealer.keys.check_header_tag(backend, &built).is_err(),
            "a re-serialization of other fields does not verify"
        );
    }
}
