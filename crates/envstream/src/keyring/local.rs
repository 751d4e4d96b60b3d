//! Local key files and the `local` keyring.
//!
//! A key file holds one 256-bit key in a versioned text format
//! (FORMAT.md, "Local key files"). Its key id is a public fingerprint.

use std::path::Path;

use zeroize::Zeroizing;

use super::api::{Identity, KeyringFuture, Recipient, UnwrapRequest, WrapRequest};
use super::file::{content_lines, hex, read_key_file, unhex, ReadError};
use crate::crypto::{Backend, DataKey, RandomSource, SecretKey, KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::error::{Error, KeyringError, KeyringErrorKind, LocalError};
use crate::format::{EncryptionContext, WrappedKey};

/// The provider id of local keys.
pub const LOCAL_PROVIDER: &str = "local";
/// The line prefix of the key in a key file.
pub(crate) const KEY_FILE_PREFIX: &str = "ENVSTREAM-LOCAL-KEY-V1-";
/// Length of a local wrapped key: nonce, encrypted data key, tag.
pub(crate) const LOCAL_WRAPPED_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;

/// A local 256-bit key, usable as a [`Keyring`](crate::Keyring) (both a
/// recipient and an identity). Zeroized on drop.
pub struct LocalKey {
    kek: SecretKey,
    key_id: String,
    backend: Backend,
    label: String,
}

/// A key file's key id (FORMAT.md section 11.2).
pub(crate) fn derive_key_id(secret: &[u8; KEY_LEN], backend: Backend) -> String {
    let id = backend.hmac_sha256(secret, &[b"envstream v1 local key id"]);
    hex(&id[..16])
}

/// A key file's KEK (FORMAT.md section 11.2): HKDF-SHA-512 with an empty
/// salt, which RFC 5869 defines as HashLen (64) zero bytes. The zeros are
/// passed explicitly: the same bytes, and AWS-LC's FIPS module counts HKDF
/// with an explicit salt as an approved service, and with an empty one
/// not (docs/SECURITY.md, "FIPS").
pub(crate) fn derive_kek(secret: &[u8; KEY_LEN], backend: Backend) -> SecretKey {
    let mut kek = Zeroizing::new([0u8; KEY_LEN]);
    backend.hkdf_sha512(
        &[0u8; 64],
        secret,
        &[b"envstream v1 local kek"],
        &mut kek[..],
    );
    kek
}

impl LocalKey {
    /// Derives the key id and KEK from the raw key bytes.
    pub fn from_secret(secret: &[u8; KEY_LEN], backend: Backend) -> Self {
        let key_id = derive_key_id(secret, backend);
        let kek = derive_kek(secret, backend);
        LocalKey {
            kek,
            label: format!("local key {key_id}"),
            key_id,
            backend,
        }
    }

    /// Generates a new random key. Returns the keyring and its key file text.
    pub fn generate(backend: Backend) -> Result<(Self, Zeroizing<String>), Error> {
        let mut secret = Zeroizing::new([0u8; KEY_LEN]);
        backend.fill_random(&mut secret[..])?;
        Ok((
            Self::from_secret(&secret, backend),
            Self::key_file_text(&secret, backend),
        ))
    }

    /// The key file text for `secret` (FORMAT.md, "Local key files").
    pub fn key_file_text(secret: &[u8; KEY_LEN], backend: Backend) -> Zeroizing<String> {
        let key = Self::from_secret(secret, backend);
        Zeroizing::new(format!(
            "# envstream local key file (format v1). Keep it secret: it opens every file sealed to it.\n\
             # key id: {}\n\
             {KEY_FILE_PREFIX}{}\n",
            key.key_id,
            Zeroizing::new(hex(&secret[..])).as_str()
        ))
    }

    /// Parses key file text.
    pub fn parse(text: &str, backend: Backend) -> Result<Self, Error> {
        let mut found: Option<Zeroizing<[u8; KEY_LEN]>> = None;
        for line in content_lines(text) {
            let Some(hexkey) = line.strip_prefix(KEY_FILE_PREFIX) else {
                return Err(Error::Local(LocalError::InvalidKeyFile(format!(
                    "unexpected line (expected `{KEY_FILE_PREFIX}<64 hex digits>`)"
                ))));
            };
            if found.is_some() {
                return Err(Error::Local(LocalError::InvalidKeyFile(
                    "more than one key line".into(),
                )));
            }
            found = Some(unhex(hexkey).ok_or_else(|| {
                Error::Local(LocalError::InvalidKeyFile(
                    "the key must be 64 lowercase hex digits".into(),
                ))
            })?);
        }
        let secret = found.ok_or_else(|| {
            Error::Local(LocalError::InvalidKeyFile(format!(
                "no `{KEY_FILE_PREFIX}` line"
            )))
        })?;
        Ok(Self::from_secret(&secret, backend))
    }

    /// Reads and parses a key file.
    pub fn load(path: &Path, backend: Backend) -> Result<Self, Error> {
        let text = read_key_file(path).map_err(|e| {
            let p = path.display();
            Error::Local(LocalError::InvalidKeyFile(match e {
                ReadError::Open(e) => format!("cannot open {p}: {e}"),
                ReadError::Read(e) => format!("cannot read {p}: {e}"),
                ReadError::TooLarge => format!("{p} is too large to be a key file"),
            }))
        })?;
        let mut key = Self::parse(&text, backend).map_err(|e| match e {
            Error::Local(LocalError::InvalidKeyFile(m)) => Error::Local(
                LocalError::InvalidKeyFile(format!("{}: {m}", path.display())),
            ),
            other => other,
        })?;
        key.label = format!("key file {} ({})", path.display(), key.key_id);
        Ok(key)
    }

    /// The public fingerprint recorded in headers.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    fn aad(&self, ctx: &EncryptionContext) -> Vec<u8> {
        let mut aad = Vec::with_capacity(64 + ctx.encoded_len());
        aad.extend_from_slice(b"envstream v1 local wrap\0");
        // Invariant: key ids are 32 hex characters.
        aad.extend_from_slice(&(self.key_id.len() as u16).to_be_bytes());
        aad.extend_from_slice(self.key_id.as_bytes());
        ctx.encode_into(&mut aad);
        aad
    }

    pub(crate) fn wrap_sync(
        &self,
        dk: &DataKey,
        ctx: &EncryptionContext,
        rng: &RandomSource,
    ) -> Result<WrappedKey, KeyringError> {
        // A FIPS build lets the module draw the nonce (RandomizedNonceKey):
        // the same layout, and an approved service, where a nonce drawn
        // outside the seal is not. Test vectors (a deterministic source)
        // keep the nonce they are given.
        #[cfg(feature = "fips")]
        if rng.is_system() {
            return self.wrap_module_nonce(dk, ctx);
        }
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce).map_err(|e| {
            KeyringError::new(KeyringErrorKind::Other, format!("{}: {e}", self.label))
        })?;
        let mut buf = Zeroizing::new(dk.expose_secret().to_vec());
        let tag = self
            .backend
            .aead(&self.kek)
            .seal_in_place(&nonce, &self.aad(ctx), &mut buf);
        let mut out = Vec::with_capacity(LOCAL_WRAPPED_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        out.extend_from_slice(&tag);
        Ok(WrappedKey::new(LOCAL_PROVIDER, self.key_id.clone(), out))
    }

    /// The wrap of a FIPS build: AES-256-GCM with a nonce the module draws.
    #[cfg(feature = "fips")]
    fn wrap_module_nonce(
        &self,
        dk: &DataKey,
        ctx: &EncryptionContext,
    ) -> Result<WrappedKey, KeyringError> {
        use aws_lc_rs::aead::{Aad, RandomizedNonceKey, AES_256_GCM};
        let fail = || {
            KeyringError::new(
                KeyringErrorKind::Other,
                format!("{}: AES-256-GCM wrap failed", self.label),
            )
        };
        let key = RandomizedNonceKey::new(&AES_256_GCM, &self.kek[..]).map_err(|_| fail())?;
        let mut buf = Zeroizing::new(dk.expose_secret().to_vec());
        let (nonce, tag) = key
            .seal_in_place_separate_tag(Aad::from(self.aad(ctx)), &mut buf[..])
            .map_err(|_| fail())?;
        let mut out = Vec::with_capacity(LOCAL_WRAPPED_LEN);
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&buf);
        out.extend_from_slice(tag.as_ref());
        Ok(WrappedKey::new(LOCAL_PROVIDER, self.key_id.clone(), out))
    }

    pub(crate) fn unwrap_sync(
        &self,
        wk: &WrappedKey,
        ctx: &EncryptionContext,
    ) -> Result<Option<DataKey>, KeyringError> {
        if wk.provider() != LOCAL_PROVIDER || wk.key_id() != self.key_id {
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
        let ct = wk.ciphertext();
        if ct.len() != LOCAL_WRAPPED_LEN {
            return Err(corrupt());
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&ct[..NONCE_LEN]);
        let mut buf = Zeroizing::new(ct[NONCE_LEN..].to_vec());
        let n = self
            .backend
            .aead(&self.kek)
            .open_in_place(&nonce, &self.aad(ctx), &mut buf)
            .map_err(|_| corrupt())?;
        DataKey::from_slice(&buf[..n]).map(Some).ok_or_else(corrupt)
    }
}

impl Recipient for LocalKey {
    fn wrap<'a>(
        &'a self,
        data_key: &'a DataKey,
        request: &'a WrapRequest<'a>,
    ) -> KeyringFuture<'a, WrappedKey> {
        Box::pin(std::future::ready(self.wrap_sync(
            data_key,
            request.context(),
            request.random(),
        )))
    }
}

impl Identity for LocalKey {
    fn description(&self) -> String {
        self.label.clone()
    }

    fn unwrap_key<'a>(
        &'a self,
        wrapped: &'a WrappedKey,
        request: &'a UnwrapRequest<'a>,
    ) -> KeyringFuture<'a, Option<DataKey>> {
        Box::pin(std::future::ready(
            self.unwrap_sync(wrapped, request.context()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trip_and_id_is_not_the_key() {
        let (k, text) = LocalKey::generate(Backend::default()).expect("rng");
        let k2 = LocalKey::parse(&text, Backend::default()).expect("parses");
        assert_eq!(k.key_id(), k2.key_id());
        let keyline = text
            .lines()
            .find(|l| l.starts_with(KEY_FILE_PREFIX))
            .expect("key line");
        assert!(!keyline.contains(k.key_id()));
    }

    #[test]
    fn bad_key_files() {
        for bad in [
            "",
            "# only a comment\n",
            "ENVSTREAM-LOCAL-KEY-V1-00\n",
            "garbage\n",
            &format!("{KEY_FILE_PREFIX}{}\n", "G".repeat(64)),
            &format!(
                "{KEY_FILE_PREFIX}{}\n{KEY_FILE_PREFIX}{}\n",
                "0".repeat(64),
                "1".repeat(64)
            ),
        ] {
            assert!(
                matches!(
                    LocalKey::parse(bad, Backend::default()),
                    Err(Error::Local(LocalError::InvalidKeyFile(_)))
                ),
                "{bad:?}"
            );
        }
    }
}
