//! The writer's role: a [`Signer`] signs a stream (FORMAT.md section 15),
//! beside the [`Recipient`](crate::Recipient) and
//! [`Identity`](crate::Identity) roles that wrap and unwrap its data key.
//! A reader's role needs no secret: it pins [`SignerKey`]s (public keys),
//! and the library verifies with them.
//!
//! [`LocalSigningKey`] is an Ed25519 key file (`envstream keygen --sign`);
//! the AWS KMS signer lives in `envstream-kms`.

use std::path::Path;

use zeroize::Zeroizing;

use super::api::KeyringFuture;
use super::file::{content_lines, read_key_file, unhex, ReadError, MAX_KEY_FILE_LEN};
use crate::crypto::Backend;
use crate::error::{Error, LocalError};
use crate::format::{SignatureAlgorithm, SignerKey};

/// Signs the signed message of a stream (FORMAT.md section 15.4), once per
/// stream. Network signers (KMS) run their request on a runtime of their
/// own, as keyrings do, so the blocking API can drive them.
pub trait Signer: Send + Sync {
    /// The public key the stream names as its signer.
    fn signer_key(&self) -> &SignerKey;

    /// Signs `message`: the signature as the trailer holds it (ECDSA as
    /// `r || s`), [`SignatureAlgorithm::signature_len`] bytes.
    fn sign<'a>(&'a self, message: &'a [u8]) -> KeyringFuture<'a, Vec<u8>>;

    /// A short description for messages, such as `ed25519 signer 3f2a…`.
    fn description(&self) -> String {
        format!(
            "{} signer {}",
            self.signer_key().algorithm().name(),
            self.signer_key().fingerprint()
        )
    }
}

/// The line prefix of the secret in a signing key file.
pub(crate) const SIGNING_KEY_PREFIX: &str = "ENVSTREAM-SIGNING-KEY-V1-";

/// A local Ed25519 signing key (a key file written by
/// `envstream keygen --sign`). Zeroized on drop.
pub struct LocalSigningKey {
    seed: Zeroizing<[u8; 32]>,
    signer: SignerKey,
    backend: Backend,
}

impl LocalSigningKey {
    /// The key of a 32-byte Ed25519 seed.
    pub fn from_seed(seed: &[u8; 32], backend: Backend) -> Self {
        let public = backend.ed25519_public_key(seed);
        // Invariant: a 32-byte Ed25519 public key is always a valid signer key.
        let signer = SignerKey::new(SignatureAlgorithm::Ed25519, public.to_vec())
            .expect("32 bytes is an Ed25519 public key");
        LocalSigningKey {
            seed: Zeroizing::new(*seed),
            signer,
            backend,
        }
    }

    /// A new random key, with its key file text.
    pub fn generate(backend: Backend) -> Result<(Self, Zeroizing<String>), Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        backend.fill_random(&mut seed[..])?;
        let key = Self::from_seed(&seed, backend);
        let text = key.key_file_text();
        Ok((key, text))
    }

    /// The key file's text.
    pub fn key_file_text(&self) -> Zeroizing<String> {
        let mut hex = Zeroizing::new(String::with_capacity(64));
        for b in self.seed.iter() {
            hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            hex.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        Zeroizing::new(format!(
            "# envstream signing key (format v1). Keep it secret: it signs streams as you.\n# fingerprint: {}\n{SIGNING_KEY_PREFIX}{}\n",
            self.signer.fingerprint(),
            hex.as_str()
        ))
    }

    /// The public key file's text (`.pub`): give it to readers.
    pub fn public_file_text(&self) -> String {
        public_file_text(&self.signer)
    }

    /// Parses a signing key file's text.
    pub fn parse(text: &str, backend: Backend) -> Result<Self, Error> {
        let line = only_line(text)?;
        let hex = line.strip_prefix(SIGNING_KEY_PREFIX).ok_or_else(|| {
            invalid(format!(
                "the key line does not start with {SIGNING_KEY_PREFIX}"
            ))
        })?;
        let seed =
            unhex(hex).ok_or_else(|| invalid("the key is not 64 lowercase hex digits".into()))?;
        Ok(Self::from_seed(&seed, backend))
    }

    /// Reads and parses a signing key file.
    pub fn load(path: &Path, backend: Backend) -> Result<Self, Error> {
        let text = read_small(path)?;
        Self::parse(&text, backend)
    }
}

impl Signer for LocalSigningKey {
    fn signer_key(&self) -> &SignerKey {
        &self.signer
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> KeyringFuture<'a, Vec<u8>> {
        let sig = self.backend.ed25519_sign(&self.seed, message);
        Box::pin(async move { Ok(sig.to_vec()) })
    }
}

/// The text of a public key file for `signer`.
pub fn public_file_text(signer: &SignerKey) -> String {
    format!(
        "# envstream signer public key (format v1). Readers pin it: envstream open --signer THIS_FILE\n# fingerprint: {}\n{}\n",
        signer.fingerprint(),
        signer.value()
    )
}

impl SignerKey {
    /// Parses a public key file (`.pub`): comments and one signer value.
    pub fn parse_public_file(text: &str) -> Result<SignerKey, Error> {
        SignerKey::parse(only_line(text)?)
            .map_err(|_| invalid("the public key line is not a signer value (ALG:BASE64)".into()))
    }

    /// Reads and parses a public key file.
    pub fn load_public_file(path: &Path) -> Result<SignerKey, Error> {
        Self::parse_public_file(&read_small(path)?)
    }
}

fn invalid(why: String) -> Error {
    Error::Local(LocalError::InvalidKeyFile(why))
}

/// The one line of a key file that is not blank or a `#` comment.
fn only_line(text: &str) -> Result<&str, Error> {
    let mut lines = content_lines(text);
    let line = lines
        .next()
        .ok_or_else(|| invalid("the file holds no key line".into()))?;
    if lines.next().is_some() {
        return Err(invalid("the file holds more than one key line".into()));
    }
    Ok(line)
}

fn read_small(path: &Path) -> Result<Zeroizing<String>, Error> {
    read_key_file(path).map_err(|e| match e {
        ReadError::Open(e) => Error::Io(e),
        ReadError::Read(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            invalid("the file is not UTF-8 text".into())
        }
        ReadError::Read(e) => Error::Io(e),
        ReadError::TooLarge => invalid(format!("the file is larger than {MAX_KEY_FILE_LEN} bytes")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::block_on;

    #[test]
    fn key_files_round_trip_and_signatures_verify_with_every_backend() {
        let key = LocalSigningKey::from_seed(&[5; 32], Backend::default());
        let again =
            LocalSigningKey::parse(&key.key_file_text(), Backend::default()).expect("parse");
        assert_eq!(again.signer_key(), key.signer_key());
        let public = SignerKey::parse_public_file(&key.public_file_text()).expect("pub");
        assert_eq!(&public, key.signer_key());
        let sig = block_on(key.sign(b"message")).expect("sign");
        for &b in Backend::available() {
            let k = LocalSigningKey::from_seed(&[5; 32], b);
            assert_eq!(k.signer_key(), key.signer_key(), "{b:?}");
            assert_eq!(block_on(k.sign(b"message")).expect("sign"), sig, "{b:?}");
            assert!(b.verify_signature(&public, b"message", &sig), "{b:?}");
            assert!(!b.verify_signature(&public, b"messagf", &sig), "{b:?}");
        }
        assert!(LocalSigningKey::parse("ENVSTREAM-SIGNING-KEY-V1-00", Backend::default()).is_err());
    }
}
