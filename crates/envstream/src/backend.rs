//! Cryptographic backends.
//!
//! envstream uses four primitives: AES-256-GCM, HKDF-SHA-512, HMAC-SHA-256
//! and the operating system's random number generator. Each backend supplies
//! all four; both produce byte-identical output for the same inputs.

#[cfg(not(any(feature = "aws-lc", feature = "rustcrypto")))]
compile_error!(
    "envstream needs a crypto backend: enable the `aws-lc` (default) or `rustcrypto` feature"
);

use zeroize::Zeroizing;

use crate::error::Error;

/// Length of an AES-256-GCM key.
pub(crate) const KEY_LEN: usize = 32;
/// Length of an AES-GCM nonce.
pub(crate) const NONCE_LEN: usize = 12;
/// Length of an AES-GCM tag.
pub(crate) const TAG_LEN: usize = 16;

/// Which implementation of the primitives to use.
///
/// Every backend compiled in produces byte-identical files; the choice only
/// affects speed and build requirements.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// aws-lc-rs (default feature `aws-lc`): fastest, FIPS-capable, needs a C toolchain.
    #[cfg(feature = "aws-lc")]
    #[default]
    AwsLc,
    /// RustCrypto `aes-gcm`, `hkdf`, `hmac`, `sha2` (feature `rustcrypto`): pure Rust.
    #[cfg(feature = "rustcrypto")]
    #[cfg_attr(not(feature = "aws-lc"), default)]
    RustCrypto,
}

impl Backend {
    /// Every backend compiled into this build, default first.
    pub fn available() -> &'static [Backend] {
        &[
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc,
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto,
        ]
    }

    /// A short lowercase name: `aws-lc` or `rustcrypto`.
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => "aws-lc",
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto => "rustcrypto",
        }
    }

    /// Fills `out` from the operating system's CSPRNG (`getrandom(2)`),
    /// whichever backend is selected. aws-lc's own generator seeds itself
    /// with CPU jitter entropy on first use, which costs about 30 ms of CPU
    /// per process: too much for a tool that seals small files in scripts.
    pub(crate) fn fill_random(self, out: &mut [u8]) -> Result<(), Error> {
        let _ = self;
        getrandom::getrandom(out).map_err(|_| Error::Random)
    }

    /// HKDF-SHA-512: extract with `salt` from `ikm`, expand with the
    /// concatenation of `info` into `out` (at most 255 * 64 bytes).
    pub(crate) fn hkdf_sha512(self, salt: &[u8], ikm: &[u8], info: &[&[u8]], out: &mut [u8]) {
        match self {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => {
                struct Len(usize);
                impl aws_lc_rs::hkdf::KeyType for Len {
                    fn len(&self) -> usize {
                        self.0
                    }
                }
                let prk =
                    aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA512, salt).extract(ikm);
                // Invariant: every caller asks for 32 to 96 bytes, far below
                // HKDF-SHA-512's limit of 255 * 64, the only failure cause.
                let okm = prk
                    .expand(info, Len(out.len()))
                    .expect("HKDF output length is within 255 * HashLen");
                okm.fill(out)
                    .expect("HKDF output length is within 255 * HashLen");
            }
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto => {
                let hk = hkdf::Hkdf::<sha2::Sha512>::new(Some(salt), ikm);
                // Invariant: as above, the requested length is far below 255 * 64.
                hk.expand_multi_info(info, out)
                    .expect("HKDF output length is within 255 * HashLen");
            }
        }
    }

    /// HMAC-SHA-256 of the concatenation of `data` under `key`.
    pub(crate) fn hmac_sha256(self, key: &[u8], data: &[&[u8]]) -> [u8; 32] {
        let mut out = [0u8; 32];
        match self {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => {
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
                let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
                for d in data {
                    ctx.update(d);
                }
                out.copy_from_slice(ctx.sign().as_ref());
            }
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto => {
                use hmac::Mac;
                // Invariant: HMAC accepts keys of any length, so this cannot fail.
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
                    .expect("HMAC accepts any key length");
                for d in data {
                    mac.update(d);
                }
                out.copy_from_slice(&mac.finalize().into_bytes());
            }
        }
        out
    }

    /// Prepares an AES-256-GCM key for repeated use.
    pub(crate) fn aead(self, key: &[u8; KEY_LEN]) -> Aead {
        match self {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => {
                // Invariant: the key is exactly 32 bytes, the only failure cause.
                let unbound = aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, key)
                    .expect("AES-256-GCM key is 32 bytes");
                Aead::AwsLc(aws_lc_rs::aead::LessSafeKey::new(unbound))
            }
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto => {
                use aes_gcm::KeyInit;
                Aead::RustCrypto(Box::new(aes_gcm::Aes256Gcm::new(key.into())))
            }
        }
    }
}

/// A prepared AES-256-GCM key. Its key material is cleared on drop by the
/// underlying implementation.
pub(crate) enum Aead {
    #[cfg(feature = "aws-lc")]
    AwsLc(aws_lc_rs::aead::LessSafeKey),
    #[cfg(feature = "rustcrypto")]
    RustCrypto(Box<aes_gcm::Aes256Gcm>),
}

/// The one opaque AEAD failure.
#[derive(Debug)]
pub(crate) struct AeadFailure;

impl Aead {
    /// Encrypts `buf` in place and returns the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> [u8; TAG_LEN] {
        let mut tag = [0u8; TAG_LEN];
        match self {
            #[cfg(feature = "aws-lc")]
            Aead::AwsLc(key) => {
                let n = aws_lc_rs::aead::Nonce::assume_unique_for_key(*nonce);
                // Invariant: callers never pass more than 16 MiB + 16 bytes,
                // far below GCM's 2^36 - 32 byte limit, the only failure cause.
                let t = key
                    .seal_in_place_separate_tag(n, aws_lc_rs::aead::Aad::from(aad), buf)
                    .expect("AES-GCM input is below the 2^36 byte limit");
                tag.copy_from_slice(t.as_ref());
            }
            #[cfg(feature = "rustcrypto")]
            Aead::RustCrypto(cipher) => {
                use aes_gcm::AeadInPlace;
                // Invariant: as above, the input is far below GCM's length limit.
                let t = cipher
                    .encrypt_in_place_detached(nonce.into(), aad, buf)
                    .expect("AES-GCM input is below the 2^36 byte limit");
                tag.copy_from_slice(&t);
            }
        }
        tag
    }

    /// Decrypts `in_out` (ciphertext followed by its 16-byte tag) in place
    /// and returns the plaintext length. On failure `in_out` is zeroed, so
    /// no unauthenticated plaintext can escape.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<usize, AeadFailure> {
        if in_out.len() < TAG_LEN {
            return Err(AeadFailure);
        }
        let plain_len = in_out.len() - TAG_LEN;
        let ok = match self {
            #[cfg(feature = "aws-lc")]
            Aead::AwsLc(key) => {
                let n = aws_lc_rs::aead::Nonce::assume_unique_for_key(*nonce);
                key.open_in_place(n, aws_lc_rs::aead::Aad::from(aad), in_out)
                    .is_ok()
            }
            #[cfg(feature = "rustcrypto")]
            Aead::RustCrypto(cipher) => {
                use aes_gcm::AeadInPlace;
                let (data, tag) = in_out.split_at_mut(plain_len);
                let tag = aes_gcm::Tag::clone_from_slice(tag);
                cipher
                    .decrypt_in_place_detached(nonce.into(), aad, data, &tag)
                    .is_ok()
            }
        };
        if ok {
            Ok(plain_len)
        } else {
            zeroize::Zeroize::zeroize(in_out);
            Err(AeadFailure)
        }
    }
}

/// A secret 32-byte buffer.
pub(crate) type SecretKey = Zeroizing<[u8; KEY_LEN]>;
