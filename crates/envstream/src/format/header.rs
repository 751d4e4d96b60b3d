//! The envstream v1 header: a pure parser and writer with hard limits.
//!
//! `docs/FORMAT.md` is normative; this module implements its "Header"
//! section. [`Header::parse`] is a pure function of bytes and
//! `Header::parse(b)?.0.to_bytes()` reproduces `b` exactly (the encoding is
//! canonical).

use super::context::EncryptionContext;
use super::limits::*;
use super::prefix::{check_chunk_size, parse_prefix, Suite};
use super::signer::{SignerKey, DIGEST_LEN, SIGNER_CONTEXT_KEY};
use crate::error::{Error, FormatError, UsageError};

/// A data key wrapped by one keyring, as recorded in the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    provider: String,
    key_id: String,
    ciphertext: Vec<u8>,
}

impl WrappedKey {
    /// A wrapped key record. Checked against the limits when the header is built.
    pub fn new(
        provider: impl Into<String>,
        key_id: impl Into<String>,
        ciphertext: Vec<u8>,
    ) -> Self {
        WrappedKey {
            provider: provider.into(),
            key_id: key_id.into(),
            ciphertext,
        }
    }

    /// The provider id, such as `local` or `aws-kms`.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The key id: a fingerprint for local keys, an ARN for KMS.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// `provider/key id`: how messages, reports and `rekey` name the key
    /// that wraps this record.
    pub fn name(&self) -> String {
        format!("{}/{}", self.provider, self.key_id)
    }

    /// The provider-specific ciphertext of the data key.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// Checks the record against the format's limits; the reason when it
    /// breaks one. Parsing reports it as a malformed header, building as a
    /// usage error (the caller asked for a record the format cannot hold).
    fn check_limits(&self) -> Result<(), String> {
        let p = self.provider.as_bytes();
        if p.is_empty()
            || p.len() > MAX_PROVIDER_ID_LEN
            || !p.iter().all(|b| (0x21..=0x7e).contains(b))
        {
            return Err(format!(
                "provider id must be 1 to {MAX_PROVIDER_ID_LEN} printable ASCII bytes"
            ));
        }
        if self.key_id.is_empty() || self.key_id.len() > MAX_KEY_ID_LEN {
            return Err(format!("key id must be 1 to {MAX_KEY_ID_LEN} bytes"));
        }
        if self.ciphertext.is_empty() || self.ciphertext.len() > MAX_WRAPPED_KEY_LEN {
            return Err(format!(
                "wrapped key ciphertext must be 1 to {MAX_WRAPPED_KEY_LEN} bytes"
            ));
        }
        Ok(())
    }
}

/// A parsed (or freshly built) v1 header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    suite: Suite,
    chunk_size: u32,
    salt: [u8; SALT_LEN],
    context: EncryptionContext,
    wrapped_keys: Vec<WrappedKey>,
    commitment: [u8; COMMITMENT_LEN],
    tag: [u8; HEADER_TAG_LEN],
    as_read: AsRead,
    /// The signer the context names (signed streams only).
    signer: Option<SignerKey>,
}

/// The bytes a parsed header's tag covers, exactly as they were read: the
/// tag is checked over these, not over a re-serialization (as age does),
/// so its soundness does not rest on parse-then-write being the identity.
/// `None` for a header built here (its serialization is what is written).
/// Equality is the fields' equality: the bytes as read are those fields'
/// canonical encoding.
#[derive(Clone, Default)]
struct AsRead(Option<Vec<u8>>);

impl PartialEq for AsRead {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for AsRead {}

impl std::fmt::Debug for AsRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "as read" } else { "built" })
    }
}

/// A bounds-checked cursor over header bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let out = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            None => Err(Error::Format(FormatError::MalformedHeader(format!(
                "{what} runs past the declared header length"
            )))),
        }
    }

    fn u8(&mut self, what: &str) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<usize, Error> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]) as usize)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, Error> {
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        Error::Format(FormatError::MalformedHeader(format!(
            "{what} is not valid UTF-8"
        )))
    })
}

/// The signer a context names, by the rules of FORMAT.md section 15.1: a
/// signed suite must name one, an unsigned suite must not (a signed
/// stream relabelled as unsigned).
fn signer_of(context: &EncryptionContext, signed: bool) -> Result<Option<SignerKey>, Error> {
    match (context.get(SIGNER_CONTEXT_KEY), signed) {
        (Some(value), true) => SignerKey::parse(value).map(Some),
        (None, false) => Ok(None),
        (None, true) => Err(Error::Format(FormatError::MalformedHeader(format!(
            "a signed stream (suite 0x0002) must name its signer in the context key {SIGNER_CONTEXT_KEY}"
        )))),
        (Some(_), false) => Err(Error::Format(FormatError::MalformedHeader(format!(
            "an unsigned stream (suite 0x0001) names a signer ({SIGNER_CONTEXT_KEY}): a signed stream relabelled as unsigned"
        )))),
    }
}

impl Header {
    /// Builds a header; `commitment` and `tag` are filled in by the sealer.
    pub(crate) fn new(
        chunk_size: u32,
        salt: [u8; SALT_LEN],
        context: EncryptionContext,
        wrapped_keys: Vec<WrappedKey>,
    ) -> Result<Self, Error> {
        check_chunk_size(chunk_size)?;
        if wrapped_keys.is_empty() {
            return Err(Error::Usage(UsageError::NoKeyring));
        }
        // Limits broken while building are the caller's request, not a
        // corrupt file: usage errors naming the limit.
        let usage = |m: String| Error::Usage(UsageError::InvalidOptions(m));
        if wrapped_keys.len() > MAX_WRAPPED_KEYS {
            return Err(usage(format!(
                "{} wrapping keys were given, but a header holds at most {MAX_WRAPPED_KEYS}",
                wrapped_keys.len()
            )));
        }
        for k in &wrapped_keys {
            k.check_limits()
                .map_err(|m| usage(format!("wrapping key {}/{}: {m}", k.provider, k.key_id)))?;
        }
        // The suite follows the context: a signer makes a signed stream.
        let signer = signer_of(&context, context.get(SIGNER_CONTEXT_KEY).is_some())?;
        let suite = if signer.is_some() {
            Suite::Signed
        } else {
            Suite::Aes256GcmHkdfSha512
        };
        let h = Header {
            suite,
            signer,
            chunk_size,
            salt,
            context,
            wrapped_keys,
            commitment: [0; COMMITMENT_LEN],
            tag: [0; HEADER_TAG_LEN],
            as_read: AsRead(None),
        };
        if h.len() > MAX_HEADER_LEN {
            return Err(usage(format!(
                "the header would be {} bytes, more than the {MAX_HEADER_LEN} bytes allowed; use fewer wrapping keys or a shorter context",
                h.len()
            )));
        }
        Ok(h)
    }

    /// Parses a header from the start of `bytes` (which may continue with
    /// the body) and returns it with its length. Pure: no I/O, no keys.
    ///
    /// Every limit in `docs/FORMAT.md` is enforced before any allocation
    /// that depends on a length field.
    pub fn parse(bytes: &[u8]) -> Result<(Header, usize), Error> {
        let prefix = parse_prefix(bytes)?;
        let header_len = prefix.header_len;
        if bytes.len() < header_len {
            return Err(Error::Format(FormatError::Truncated(
                "the input ends inside the header",
            )));
        }
        let mut c = Cursor {
            bytes: &bytes[..header_len - HEADER_TAG_LEN],
            pos: PREFIX_LEN,
        };
        let suite = Suite::from_id(u16::from_be_bytes([bytes[9], bytes[10]]))?;
        let chunk_size = u32::from_be_bytes([bytes[11], bytes[12], bytes[13], bytes[14]]);
        let salt = c.array::<SALT_LEN>("salt")?;

        let ctx_start = c.pos;
        let pairs = c.u16("context pair count")?;
        if pairs > MAX_CONTEXT_PAIRS {
            return Err(Error::Format(FormatError::MalformedHeader(format!(
                "{pairs} context pairs exceed the limit of {MAX_CONTEXT_PAIRS}"
            ))));
        }
        let mut context = EncryptionContext::new();
        let mut prev: Option<&[u8]> = None;
        for _ in 0..pairs {
            let klen = c.u16("context key length")?;
            if klen == 0 || klen > MAX_CONTEXT_KEY_LEN {
                return Err(Error::Format(FormatError::MalformedHeader(format!(
                    "context key length {klen} is outside 1..={MAX_CONTEXT_KEY_LEN}"
                ))));
            }
            let k = c.take(klen, "context key")?;
            let vlen = c.u16("context value length")?;
            if vlen > MAX_CONTEXT_VALUE_LEN {
                return Err(Error::Format(FormatError::MalformedHeader(format!(
                    "context value length {vlen} exceeds {MAX_CONTEXT_VALUE_LEN}"
                ))));
            }
            let v = c.take(vlen, "context value")?;
            if let Some(p) = prev {
                if p >= k {
                    return Err(Error::Format(FormatError::MalformedHeader(
                        "context keys are not strictly sorted".into(),
                    )));
                }
            }
            prev = Some(k);
            context.insert_parsed(utf8(k, "context key")?, utf8(v, "context value")?);
        }
        if c.pos - ctx_start > MAX_CONTEXT_LEN {
            return Err(Error::Format(FormatError::MalformedHeader(format!(
                "encoded context exceeds {MAX_CONTEXT_LEN} bytes"
            ))));
        }

        let signer = signer_of(&context, suite.is_signed())?;
        let nkeys = c.u8("wrapped key count")? as usize;
        if nkeys == 0 || nkeys > MAX_WRAPPED_KEYS {
            return Err(Error::Format(FormatError::MalformedHeader(format!(
                "wrapped key count {nkeys} is outside 1..={MAX_WRAPPED_KEYS}"
            ))));
        }
        let mut wrapped_keys = Vec::with_capacity(nkeys);
        for _ in 0..nkeys {
            let plen = c.u8("provider id length")? as usize;
            let provider = c.take(plen, "provider id")?;
            let klen = c.u16("key id length")?;
            let key_id = c.take(klen, "key id")?;
            let clen = c.u16("wrapped key length")?;
            let ct = c.take(clen, "wrapped key")?;
            let wk = WrappedKey::new(
                utf8(provider, "provider id")?,
                utf8(key_id, "key id")?,
                ct.to_vec(),
            );
            wk.check_limits()
                .map_err(|m| Error::Format(FormatError::MalformedHeader(m)))?;
            wrapped_keys.push(wk);
        }
        let commitment = c.array::<COMMITMENT_LEN>("key commitment")?;
        if c.pos != header_len - HEADER_TAG_LEN {
            return Err(Error::Format(FormatError::MalformedHeader(format!(
                "declared header length {header_len} does not match its contents ({} bytes)",
                c.pos + HEADER_TAG_LEN
            ))));
        }
        let mut tag = [0u8; HEADER_TAG_LEN];
        tag.copy_from_slice(&bytes[header_len - HEADER_TAG_LEN..header_len]);
        Ok((
            Header {
                suite,
                chunk_size,
                salt,
                context,
                wrapped_keys,
                commitment,
                tag,
                as_read: AsRead(Some(bytes[..header_len - HEADER_TAG_LEN].to_vec())),
                signer,
            },
            header_len,
        ))
    }

    /// The header's exact length in bytes.
    pub fn len(&self) -> usize {
        PREFIX_LEN
            + SALT_LEN
            + self.context.encoded_len()
            + 1
            + self
                .wrapped_keys
                .iter()
                .map(|k| 1 + 2 + 2 + k.provider.len() + k.key_id.len() + k.ciphertext.len())
                .sum::<usize>()
            + COMMITMENT_LEN
            + HEADER_TAG_LEN
    }

    /// Always false: a header is never empty. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The bytes covered by the header tag: everything but the tag itself,
    /// exactly as read for a parsed header.
    pub(crate) fn authenticated_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        match &self.as_read.0 {
            Some(bytes) => std::borrow::Cow::Borrowed(bytes),
            None => std::borrow::Cow::Owned(self.serialize_authenticated()),
        }
    }

    /// The fields' canonical encoding, up to the tag.
    fn serialize_authenticated(&self) -> Vec<u8> {
        let len = self.len();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.suite.id().to_be_bytes());
        out.extend_from_slice(&self.chunk_size.to_be_bytes());
        // Invariant: len() <= MAX_HEADER_LEN (64 KiB), checked when built or parsed.
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.extend_from_slice(&self.salt);
        self.context.encode_into(&mut out);
        // Invariant: at most MAX_WRAPPED_KEYS (16) keys; each field length
        // was validated against its u8/u16 limit.
        out.push(self.wrapped_keys.len() as u8);
        for k in &self.wrapped_keys {
            out.push(k.provider.len() as u8);
            out.extend_from_slice(k.provider.as_bytes());
            out.extend_from_slice(&(k.key_id.len() as u16).to_be_bytes());
            out.extend_from_slice(k.key_id.as_bytes());
            out.extend_from_slice(&(k.ciphertext.len() as u16).to_be_bytes());
            out.extend_from_slice(&k.ciphertext);
        }
        out.extend_from_slice(&self.commitment);
        out
    }

    /// The complete serialized header (for a parsed header, the bytes read).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.authenticated_bytes().into_owned();
        out.extend_from_slice(&self.tag);
        out
    }

    /// The format version (always 1 here).
    pub fn version(&self) -> u8 {
        VERSION
    }

    /// The algorithm suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// Plaintext bytes per chunk (the final chunk is shorter).
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// The per-stream salt.
    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    /// The signer a signed stream names (not yet verified: see
    /// `docs/FORMAT.md` section 15).
    pub fn signer(&self) -> Option<&SignerKey> {
        self.signer.as_ref()
    }

    /// The BLAKE3 hash of the whole header (tag included) as read, or as
    /// written for a header built here: what a signature covers.
    pub fn digest(&self) -> [u8; DIGEST_LEN] {
        let mut h = blake3::Hasher::new();
        h.update(&self.authenticated_bytes());
        h.update(&self.tag);
        *h.finalize().as_bytes()
    }

    /// The encryption context.
    pub fn context(&self) -> &EncryptionContext {
        &self.context
    }

    /// The wrapped data keys, in header order.
    pub fn wrapped_keys(&self) -> &[WrappedKey] {
        &self.wrapped_keys
    }

    /// The key commitment.
    pub fn commitment(&self) -> &[u8; COMMITMENT_LEN] {
        &self.commitment
    }

    /// The header authentication tag.
    pub fn tag(&self) -> &[u8; HEADER_TAG_LEN] {
        &self.tag
    }

    pub(crate) fn set_commitment(&mut self, c: [u8; COMMITMENT_LEN]) {
        self.commitment = c;
        self.as_read = AsRead(None);
    }

    pub(crate) fn set_tag(&mut self, t: [u8; HEADER_TAG_LEN]) {
        self.tag = t;
    }

    /// Changes the chunk size field without touching the bytes as read
    /// (tests of what the tag covers).
    #[cfg(test)]
    pub(crate) fn set_chunk_size_field(&mut self, cs: u32) {
        self.chunk_size = cs;
    }
}
