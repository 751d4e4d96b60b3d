//! Public-key recipients: the `mlkem768x25519` provider (FORMAT.md
//! section 16). A [`PqRecipient`] is a public key anyone may seal to; the
//! matching [`PqIdentity`] (its secret) unwraps. The data key is wrapped
//! with HPKE (RFC 9180, base mode) over the X-Wing KEM (ML-KEM-768 +
//! X25519), HKDF-SHA256 and AES-256-GCM, from the `hpke` crate.

use std::convert::Infallible;
use std::path::Path;

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::XWing;
use hpke::rand_core::{TryCryptoRng, TryRng};
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

use super::api::{Identity, KeyringFuture, Recipient, UnwrapRequest, WrapRequest};
use super::file::{content_lines, hex, read_key_file, unhex, ReadError};
use crate::crypto::{Backend, DataKey, RandomSource, KEY_LEN};
use crate::error::{Error, KeyringError, KeyringErrorKind, LocalError};
use crate::format::{decode_base64, encode_base64, EncryptionContext, WrappedKey};

/// The provider id of public-key recipients.
pub const PQ_PROVIDER: &str = "mlkem768x25519";
/// The prefix of a recipient string (FORMAT.md section 16.2).
pub const RECIPIENT_PREFIX: &str = "mlkem768x25519:";
/// The line prefix of the secret in an identity file.
pub(crate) const IDENTITY_PREFIX: &str = "ENVSTREAM-IDENTITY-MLKEM768X25519-V1-";
/// Length of an X-Wing encapsulation key (the recipient).
pub const RECIPIENT_KEY_LEN: usize = 1216;
/// Length of an X-Wing ciphertext (HPKE's `enc`).
const ENC_LEN: usize = 1120;
/// Length of the HPKE ciphertext of the data key: the key and a GCM tag.
const CT_LEN: usize = KEY_LEN + 16;
/// Length of an `mlkem768x25519` wrapped key.
pub(crate) const PQ_WRAPPED_LEN: usize = ENC_LEN + CT_LEN;
/// Random bytes one X-Wing encapsulation draws.
const ESEED_LEN: usize = 64;

type PublicKey = <XWing as hpke::Kem>::PublicKey;
type PrivateKey = <XWing as hpke::Kem>::PrivateKey;
type EncappedKey = <XWing as hpke::Kem>::EncappedKey;

fn invalid(msg: impl Into<String>) -> Error {
    Error::Local(LocalError::InvalidKeyFile(msg.into()))
}

/// The key id of a recipient (FORMAT.md section 16.2).
fn key_id_of(pk: &[u8], backend: Backend) -> String {
    let mac = backend.hmac_sha256(pk, &[b"envstream v1 mlkem768x25519 key id"]);
    hex(&mac[..16])
}

/// HPKE's `info` (FORMAT.md section 16.3): the label, the stream's suite
/// and chunk size, and the key id.
fn info(suite: u16, chunk_size: u32, key_id: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(80);
    v.extend_from_slice(b"envstream v1 mlkem768x25519 wrap\0");
    v.extend_from_slice(&suite.to_be_bytes());
    v.extend_from_slice(&chunk_size.to_be_bytes());
    // Invariant: key ids are 32 hex characters.
    v.extend_from_slice(&(key_id.len() as u16).to_be_bytes());
    v.extend_from_slice(key_id.as_bytes());
    v
}

fn aad(ctx: &EncryptionContext) -> Vec<u8> {
    let mut v = Vec::with_capacity(ctx.encoded_len());
    ctx.encode_into(&mut v);
    v
}

/// Reads a recipient or identity file (at most 16 KiB).
fn read_small(path: &Path, what: &str) -> Result<Zeroizing<String>, Error> {
    read_key_file(path).map_err(|e| {
        let p = path.display();
        invalid(match e {
            ReadError::Open(e) => format!("cannot open {what} {p}: {e}"),
            ReadError::Read(e) => format!("cannot read {what} {p}: {e}"),
            ReadError::TooLarge => format!("{p} is too large to be a {what}"),
        })
    })
}

/// A public-key recipient: seals to the holder of its identity, and holds
/// no secret (a [`Recipient`] only).
pub struct PqRecipient {
    pk: PublicKey,
    key_id: String,
}

impl PqRecipient {
    /// Parses a recipient string, `mlkem768x25519:` and canonical base64
    /// of the 1216-byte X-Wing public key.
    pub fn parse(text: &str, backend: Backend) -> Result<Self, Error> {
        let text = text.trim();
        let Some(b64) = text.strip_prefix(RECIPIENT_PREFIX) else {
            return Err(invalid(format!(
                "not a recipient: it must start with `{RECIPIENT_PREFIX}`"
            )));
        };
        let bytes =
            decode_base64(b64).ok_or_else(|| invalid("the recipient is not canonical base64"))?;
        if bytes.len() != RECIPIENT_KEY_LEN {
            return Err(invalid(format!(
                "the recipient holds {} bytes, not {RECIPIENT_KEY_LEN}",
                bytes.len()
            )));
        }
        let pk = PublicKey::from_bytes(&bytes)
            .map_err(|_| invalid("the recipient's ML-KEM-768 key fails the FIPS 203 key check"))?;
        Ok(PqRecipient {
            key_id: key_id_of(&bytes, backend),
            pk,
        })
    }

    /// Parses the text of a recipient file: one recipient line, `#`
    /// comments and blank lines ignored. A file that holds a secret (an
    /// identity or a local key) is refused.
    pub fn parse_file_text(text: &str, backend: Backend) -> Result<Self, Error> {
        let mut found: Option<&str> = None;
        for line in content_lines(text) {
            if line.starts_with(IDENTITY_PREFIX)
                || line.starts_with(super::local::KEY_FILE_PREFIX)
                || line.starts_with(super::sign::SIGNING_KEY_PREFIX)
            {
                return Err(invalid(
                    "it holds a SECRET key, not a recipient: give the public `.pub` file written beside it, and keep the secret off hosts that only seal",
                ));
            }
            if found.is_some() {
                return Err(invalid("more than one recipient line"));
            }
            found = Some(line);
        }
        let line = found
            .ok_or_else(|| invalid(format!("no `{RECIPIENT_PREFIX}` line (an empty file?)")))?;
        Self::parse(line, backend)
    }

    /// Reads a recipient file (`keygen --recipient` writes `PATH.pub`).
    pub fn load(path: &Path, backend: Backend) -> Result<Self, Error> {
        let text = read_small(path, "recipient file")?;
        Self::parse_file_text(&text, backend).map_err(|e| prefix_path(e, path))
    }

    /// The public fingerprint recorded in headers.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The recipient string (`mlkem768x25519:…`).
    pub fn to_text(&self) -> String {
        format!("{RECIPIENT_PREFIX}{}", encode_base64(&self.pk.to_bytes()))
    }

    fn wrap_sync(
        &self,
        dk: &DataKey,
        request: &WrapRequest<'_>,
    ) -> Result<WrappedKey, KeyringError> {
        let fail = |m: &str| {
            KeyringError::new(
                KeyringErrorKind::Other,
                format!("recipient {}: {m}", self.key_id),
            )
        };
        refuse_in_fips()?;
        let mut rng = Drawn::new(request.random()).map_err(|e| fail(&e.to_string()))?;
        let info = info(request.suite(), request.chunk_size(), &self.key_id);
        let sealed = hpke::single_shot_seal_with_rng::<AesGcm256, HkdfSha256, XWing>(
            &OpModeS::Base,
            &self.pk,
            &info,
            dk.expose_secret(),
            &aad(request.context()),
            &mut rng,
        );
        if rng.overdrawn {
            return Err(fail("the KEM drew more randomness than specified"));
        }
        let (enc, ct) = sealed.map_err(|_| fail("HPKE encapsulation failed"))?;
        let mut out = Vec::with_capacity(PQ_WRAPPED_LEN);
        out.extend_from_slice(&enc.to_bytes());
        out.extend_from_slice(&ct);
        if out.len() != PQ_WRAPPED_LEN {
            return Err(fail("unexpected HPKE output length"));
        }
        Ok(WrappedKey::new(PQ_PROVIDER, self.key_id.clone(), out))
    }
}

/// A FIPS build refuses public-key recipients: X-Wing (ML-KEM-768 from
/// RustCrypto, X25519, SHA-3) and this HPKE run outside AWS-LC's FIPS
/// module. Reported as a configuration problem (usage class).
fn refuse_in_fips() -> Result<(), KeyringError> {
    crate::crypto::outside_module(
        "a public-key recipient (mlkem768x25519)",
        "X-Wing (ML-KEM-768 + X25519, from pure-Rust crates)",
    )
    .map_err(|e| KeyringError::new(KeyringErrorKind::Configuration, e.to_string()))
}

fn prefix_path(e: Error, path: &Path) -> Error {
    match e {
        Error::Local(LocalError::InvalidKeyFile(m)) => invalid(format!("{}: {m}", path.display())),
        other => other,
    }
}

impl Recipient for PqRecipient {
    fn wrap<'a>(
        &'a self,
        data_key: &'a DataKey,
        request: &'a WrapRequest<'a>,
    ) -> KeyringFuture<'a, WrappedKey> {
        Box::pin(std::future::ready(self.wrap_sync(data_key, request)))
    }
}

/// The secret of a public-key recipient: unwraps what was sealed to its
/// [`PqRecipient`], and can seal to it too (a [`Keyring`](crate::Keyring)).
/// The X-Wing seed is zeroized on drop; never `Debug` or `Clone`.
pub struct PqIdentity {
    sk: PrivateKey,
    recipient: PqRecipient,
    label: String,
}

impl PqIdentity {
    /// The identity of a 32-byte X-Wing seed.
    pub fn from_secret(seed: &[u8; KEY_LEN], backend: Backend) -> Self {
        // Invariant: an X-Wing private key is any 32 bytes; `seed` is 32.
        let sk = PrivateKey::from_bytes(seed).expect("an X-Wing seed is 32 bytes");
        let pk = XWing::sk_to_pk(&sk);
        let key_id = key_id_of(&pk.to_bytes(), backend);
        PqIdentity {
            sk,
            label: format!("identity {key_id}"),
            recipient: PqRecipient { pk, key_id },
        }
    }

    /// A new random identity, and its identity file text.
    pub fn generate(backend: Backend) -> Result<(Self, Zeroizing<String>), Error> {
        let mut seed = Zeroizing::new([0u8; KEY_LEN]);
        backend.fill_random(&mut seed[..])?;
        let id = Self::from_secret(&seed, backend);
        let text = id.file_text(&seed);
        Ok((id, text))
    }

    /// The identity file text for `seed` (FORMAT.md section 16.2).
    fn file_text(&self, seed: &[u8; KEY_LEN]) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "# envstream identity (ML-KEM-768 + X25519, format v1). Keep it secret: it opens every file sealed to its recipient.\n\
             # key id: {}\n\
             # recipient: the file PATH.pub written beside this one\n\
             {IDENTITY_PREFIX}{}\n",
            self.recipient.key_id,
            Zeroizing::new(hex(&seed[..])).as_str()
        ))
    }

    /// The identity file text of a seed (for test vectors and tools).
    pub fn identity_file_text(seed: &[u8; KEY_LEN], backend: Backend) -> Zeroizing<String> {
        Self::from_secret(seed, backend).file_text(seed)
    }

    /// Parses identity file text.
    pub fn parse(text: &str, backend: Backend) -> Result<Self, Error> {
        let mut found: Option<Zeroizing<[u8; KEY_LEN]>> = None;
        for line in content_lines(text) {
            if line.starts_with(RECIPIENT_PREFIX) {
                return Err(invalid(
                    "it holds a recipient (a public key), not an identity: open with the identity file it was written beside",
                ));
            }
            let Some(hexkey) = line.strip_prefix(IDENTITY_PREFIX) else {
                return Err(invalid(format!(
                    "unexpected line (expected `{IDENTITY_PREFIX}<64 hex digits>`)"
                )));
            };
            if found.is_some() {
                return Err(invalid("more than one identity line"));
            }
            found = Some(
                unhex(hexkey)
                    .ok_or_else(|| invalid("the identity must be 64 lowercase hex digits"))?,
            );
        }
        let seed = found.ok_or_else(|| invalid(format!("no `{IDENTITY_PREFIX}` line")))?;
        Ok(Self::from_secret(&seed, backend))
    }

    /// Reads and parses an identity file.
    pub fn load(path: &Path, backend: Backend) -> Result<Self, Error> {
        let text = read_small(path, "identity file")?;
        let mut id = Self::parse(&text, backend).map_err(|e| prefix_path(e, path))?;
        id.label = format!("identity {} ({})", path.display(), id.recipient.key_id);
        Ok(id)
    }

    /// The public recipient of this identity.
    pub fn recipient(&self) -> &PqRecipient {
        &self.recipient
    }

    /// The public fingerprint recorded in headers.
    pub fn key_id(&self) -> &str {
        &self.recipient.key_id
    }

    fn unwrap_sync(
        &self,
        wk: &WrappedKey,
        request: &UnwrapRequest<'_>,
    ) -> Result<Option<DataKey>, KeyringError> {
        if wk.provider() != PQ_PROVIDER || wk.key_id() != self.recipient.key_id {
            return Ok(None);
        }
        let corrupt = || {
            KeyringError::new(
                KeyringErrorKind::Corrupt,
                format!(
                    "the wrapped key for {} does not authenticate (header tampered or corrupt)",
                    self.label
                ),
            )
        };
        refuse_in_fips()?;
        let wrapped = wk.ciphertext();
        if wrapped.len() != PQ_WRAPPED_LEN {
            return Err(corrupt());
        }
        let (enc, ct) = wrapped.split_at(ENC_LEN);
        let enc = EncappedKey::from_bytes(enc).map_err(|_| corrupt())?;
        let info = info(
            request.suite(),
            request.chunk_size(),
            &self.recipient.key_id,
        );
        let plain = Zeroizing::new(
            hpke::single_shot_open::<AesGcm256, HkdfSha256, XWing>(
                &OpModeR::Base,
                &self.sk,
                &enc,
                &info,
                ct,
                &aad(request.context()),
            )
            .map_err(|_| corrupt())?,
        );
        DataKey::from_slice(&plain).map(Some).ok_or_else(corrupt)
    }
}

impl Recipient for PqIdentity {
    fn wrap<'a>(
        &'a self,
        data_key: &'a DataKey,
        request: &'a WrapRequest<'a>,
    ) -> KeyringFuture<'a, WrappedKey> {
        self.recipient.wrap(data_key, request)
    }
}

impl Identity for PqIdentity {
    fn description(&self) -> String {
        self.label.clone()
    }

    fn unwrap_key<'a>(
        &'a self,
        wrapped: &'a WrappedKey,
        request: &'a UnwrapRequest<'a>,
    ) -> KeyringFuture<'a, Option<DataKey>> {
        Box::pin(std::future::ready(self.unwrap_sync(wrapped, request)))
    }
}

/// The randomness of one X-Wing encapsulation, drawn up front from the
/// stream's [`RandomSource`] (which can fail, and is deterministic for
/// test vectors), then served to HPKE's infallible generator interface.
/// Drawing more than that is never filled with anything predictable: it
/// is recorded, and the wrap fails.
struct Drawn {
    bytes: Zeroizing<[u8; ESEED_LEN]>,
    used: usize,
    overdrawn: bool,
}

impl Drawn {
    fn new(random: &RandomSource) -> Result<Self, Error> {
        let mut bytes = Zeroizing::new([0u8; ESEED_LEN]);
        random.fill(&mut bytes[..])?;
        Ok(Drawn {
            bytes,
            used: 0,
            overdrawn: false,
        })
    }
}

impl TryRng for Drawn {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let left = ESEED_LEN - self.used;
        if dst.len() > left {
            // Refused below (the wrap checks `overdrawn`): the output of
            // this call is never used.
            self.overdrawn = true;
            dst.fill(0);
            return Ok(());
        }
        dst.copy_from_slice(&self.bytes[self.used..self.used + dst.len()]);
        self.used += dst.len();
        Ok(())
    }
}

impl TryCryptoRng for Drawn {}
