//! Cryptographic backends.
//!
//! envstream uses four primitives: AES-256-GCM, HKDF-SHA-512, HMAC-SHA-256
//! and the operating system's random number generator. Each backend supplies
//! the first three (randomness always comes from the OS); all produce
//! byte-identical output for the same inputs, which the differential tests
//! and the vector re-creation check for every backend compiled in.
//!
//! No one library is fastest on every CPU, so [`Backend::auto`] picks one by
//! CPU features (never by a timing run at start-up):
//!
//! | CPU class | AES-GCM kernel used | auto picks |
//! | --- | --- | --- |
//! | x86-64 with AVX-512 (F, BW, VL) + VAES + VPCLMULQDQ | aws-lc's AVX-512 kernel | `aws-lc` |
//! | x86-64 with VAES + VPCLMULQDQ + AVX2, no AVX-512 | ring's VAES/AVX2 kernel (aws-lc has none) | `ring` |
//! | x86-64 with AES-NI + PCLMULQDQ only | the same AES-NI "6x" kernel in both | `aws-lc` |
//! | ARMv8 (Graviton) | aws-lc's 8-block kernel on Neoverse V1/V2/V3, else its 4-block one (ring has only the 4-block one) | `aws-lc` |
//! | anything else | | the first compiled in: `aws-lc`, `ring`, `rustcrypto` |

#[cfg(not(any(feature = "aws-lc", feature = "ring", feature = "rustcrypto")))]
compile_error!(
    "envstream needs a crypto backend: enable the `aws-lc` (default), `ring` or `rustcrypto` feature"
);

#[cfg(all(feature = "fips", feature = "rustcrypto"))]
compile_error!(
    "envstream: the `fips` feature runs every primitive in AWS-LC's FIPS module and cannot be combined with `rustcrypto` (or `pure`), whose primitives are outside it; build with `--no-default-features --features fips`"
);

use zeroize::Zeroizing;

use crate::error::{Error, LocalError};

/// Length of an AES-256-GCM key.
pub(crate) const KEY_LEN: usize = 32;
/// Length of an AES-GCM nonce.
pub(crate) const NONCE_LEN: usize = 12;
/// Length of an AES-GCM tag.
pub(crate) const TAG_LEN: usize = 16;

/// Which implementation of the primitives to use.
///
/// Every backend compiled in produces byte-identical files; the choice only
/// affects speed and build requirements. `Backend::default()` is
/// [`Backend::auto`]: the fastest backend for this CPU.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// aws-lc-rs (default feature `aws-lc`): FIPS-capable, fastest with
    /// AVX-512 and on ARMv8; needs a C toolchain.
    #[cfg(feature = "aws-lc")]
    AwsLc,
    /// ring (feature `ring`): fastest on x86-64 with VAES and AVX2 but
    /// without AVX-512.
    #[cfg(feature = "ring")]
    Ring,
    /// RustCrypto `aes-gcm`, `hkdf`, `hmac`, `sha2` (feature `rustcrypto`): pure Rust.
    #[cfg(feature = "rustcrypto")]
    RustCrypto,
}

impl Default for Backend {
    fn default() -> Self {
        Backend::auto()
    }
}

/// The x86-64 CPU features that decide the backend.
#[cfg(target_arch = "x86_64")]
fn x86_class() -> (bool, bool) {
    let vaes = std::arch::is_x86_feature_detected!("vaes")
        && std::arch::is_x86_feature_detected!("vpclmulqdq");
    let avx512 = std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl");
    let avx2 = std::arch::is_x86_feature_detected!("avx2");
    (vaes && avx512, vaes && avx2 && !avx512)
}

impl Backend {
    /// Every backend compiled into this build.
    ///
    /// A FIPS build (feature `fips`) offers only `aws-lc`, whose
    /// primitives run in AWS-LC's FIPS module, even if `ring` is compiled
    /// in as well.
    pub fn available() -> &'static [Backend] {
        &[
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc,
            #[cfg(all(feature = "ring", not(feature = "fips")))]
            Backend::Ring,
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto,
        ]
    }

    /// The fastest backend compiled in for this CPU, chosen by its features
    /// (see the module documentation for the table). Cheap: the standard
    /// library caches the CPU feature bits.
    pub fn auto() -> Backend {
        #[cfg(target_arch = "x86_64")]
        let class = x86_class();
        #[cfg(not(target_arch = "x86_64"))]
        let class = (false, false);
        Self::choose(class.0, class.1)
    }

    /// The rule behind [`Backend::auto`]: aws-lc where it has a wide-vector
    /// kernel (AVX-512 with VAES), ring where only ring has one (VAES with
    /// AVX2 and no AVX-512), otherwise the first backend compiled in.
    fn choose(vaes_avx512: bool, vaes_avx2_only: bool) -> Backend {
        #[cfg(feature = "aws-lc")]
        if vaes_avx512 {
            return Backend::AwsLc;
        }
        #[cfg(all(feature = "ring", not(feature = "fips")))]
        if vaes_avx2_only {
            return Backend::Ring;
        }
        let _ = (vaes_avx512, vaes_avx2_only);
        Backend::available()[0]
    }

    /// The backend with this [`name`](Backend::name), if compiled in.
    pub fn from_name(name: &str) -> Option<Backend> {
        Backend::available()
            .iter()
            .copied()
            .find(|b| b.name() == name)
    }

    /// A short lowercase name: `aws-lc`, `ring` or `rustcrypto`.
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => "aws-lc",
            #[cfg(feature = "ring")]
            Backend::Ring => "ring",
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto => "rustcrypto",
        }
    }

    /// Fills `out` from the operating system's CSPRNG (`getrandom(2)`),
    /// whichever backend is selected. aws-lc's own generator seeds itself
    /// with CPU jitter entropy on first use, which costs about 30 ms of CPU
    /// per process: too much for a tool that seals small files in scripts.
    /// A FIPS build draws from the module's DRBG instead (every random
    /// number in the module), and pays that cost.
    pub(crate) fn fill_random(self, out: &mut [u8]) -> Result<(), Error> {
        let _ = self;
        #[cfg(feature = "fips")]
        return aws_lc_rs::rand::fill(out).map_err(|_| Error::Local(LocalError::Random));
        #[cfg(not(feature = "fips"))]
        getrandom::getrandom(out).map_err(|_| Error::Local(LocalError::Random))
    }

    /// HKDF-SHA-512: extract with `salt` from `ikm`, expand with the
    /// concatenation of `info` into `out` (at most 255 * 64 bytes).
    pub(crate) fn hkdf_sha512(self, salt: &[u8], ikm: &[u8], info: &[&[u8]], out: &mut [u8]) {
        match self {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => aws_lc_impl::hkdf_sha512(salt, ikm, info, out),
            #[cfg(feature = "ring")]
            Backend::Ring => ring_impl::hkdf_sha512(salt, ikm, info, out),
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto => {
                let hk = hkdf::Hkdf::<sha2::Sha512>::new(Some(salt), ikm);
                // Invariant: every caller asks for 32 to 96 bytes, far below
                // HKDF-SHA-512's limit of 255 * 64, the only failure cause.
                hk.expand_multi_info(info, out)
                    .expect("HKDF output length is within 255 * HashLen");
            }
        }
    }

    /// HMAC-SHA-256 of the concatenation of `data` under `key`.
    pub(crate) fn hmac_sha256(self, key: &[u8], data: &[&[u8]]) -> [u8; 32] {
        match self {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => aws_lc_impl::hmac_sha256(key, data),
            #[cfg(feature = "ring")]
            Backend::Ring => ring_impl::hmac_sha256(key, data),
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto => {
                use hmac::Mac;
                // Invariant: HMAC accepts keys of any length, so this cannot fail.
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
                    .expect("HMAC accepts any key length");
                for d in data {
                    mac.update(d);
                }
                let mut out = [0u8; 32];
                out.copy_from_slice(&mac.finalize().into_bytes());
                out
            }
        }
    }

    /// Prepares an AES-256-GCM key for repeated use.
    pub(crate) fn aead(self, key: &[u8; KEY_LEN]) -> Aead {
        match self {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => Aead::AwsLc(aws_lc_impl::aead(key)),
            #[cfg(feature = "ring")]
            Backend::Ring => Aead::Ring(RingKey(Box::new(ring_impl::aead(key)))),
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto => {
                use aes_gcm::KeyInit;
                Aead::RustCrypto(Box::new(aes_gcm::Aes256Gcm::new(key.into())))
            }
        }
    }
}

/// aws-lc-rs keeps ring's API, so the two backends are written once: this
/// macro instantiates the primitives for either crate.
#[cfg(any(feature = "aws-lc", feature = "ring"))]
macro_rules! ring_api_backend {
    ($module:ident, $krate:ident) => {
        mod $module {
            use super::{KEY_LEN, NONCE_LEN, TAG_LEN};

            struct Len(usize);
            impl $krate::hkdf::KeyType for Len {
                fn len(&self) -> usize {
                    self.0
                }
            }

            pub(super) fn hkdf_sha512(salt: &[u8], ikm: &[u8], info: &[&[u8]], out: &mut [u8]) {
                let prk = $krate::hkdf::Salt::new($krate::hkdf::HKDF_SHA512, salt).extract(ikm);
                // Invariant: every caller asks for 32 to 96 bytes, far below
                // HKDF-SHA-512's limit of 255 * 64, the only failure cause.
                let okm = prk
                    .expand(info, Len(out.len()))
                    .expect("HKDF output length is within 255 * HashLen");
                okm.fill(out)
                    .expect("HKDF output length is within 255 * HashLen");
            }

            pub(super) fn hmac_sha256(key: &[u8], data: &[&[u8]]) -> [u8; 32] {
                let key = $krate::hmac::Key::new($krate::hmac::HMAC_SHA256, key);
                let mut ctx = $krate::hmac::Context::with_key(&key);
                for d in data {
                    ctx.update(d);
                }
                let mut out = [0u8; 32];
                out.copy_from_slice(ctx.sign().as_ref());
                out
            }

            pub(super) fn aead(key: &[u8; KEY_LEN]) -> $krate::aead::LessSafeKey {
                // Invariant: the key is exactly 32 bytes, the only failure cause.
                let unbound = $krate::aead::UnboundKey::new(&$krate::aead::AES_256_GCM, key)
                    .expect("AES-256-GCM key is 32 bytes");
                $krate::aead::LessSafeKey::new(unbound)
            }

            pub(super) fn seal(
                key: &$krate::aead::LessSafeKey,
                nonce: &[u8; NONCE_LEN],
                aad: &[u8],
                buf: &mut [u8],
            ) -> [u8; TAG_LEN] {
                let n = $krate::aead::Nonce::assume_unique_for_key(*nonce);
                // Invariant: callers never pass more than 16 MiB + 16 bytes,
                // far below GCM's 2^36 - 32 byte limit, the only failure cause.
                let t = key
                    .seal_in_place_separate_tag(n, $krate::aead::Aad::from(aad), buf)
                    .expect("AES-GCM input is below the 2^36 byte limit");
                let mut tag = [0u8; TAG_LEN];
                tag.copy_from_slice(t.as_ref());
                tag
            }

            pub(super) fn open(
                key: &$krate::aead::LessSafeKey,
                nonce: &[u8; NONCE_LEN],
                aad: &[u8],
                in_out: &mut [u8],
            ) -> bool {
                let n = $krate::aead::Nonce::assume_unique_for_key(*nonce);
                key.open_in_place(n, $krate::aead::Aad::from(aad), in_out)
                    .is_ok()
            }
        }
    };
}

#[cfg(feature = "aws-lc")]
ring_api_backend!(aws_lc_impl, aws_lc_rs);
#[cfg(feature = "ring")]
ring_api_backend!(ring_impl, ring);

/// A prepared AES-256-GCM key. Its key material is cleared on drop by the
/// underlying implementation.
pub(crate) enum Aead {
    #[cfg(feature = "aws-lc")]
    AwsLc(aws_lc_rs::aead::LessSafeKey),
    #[cfg(feature = "ring")]
    Ring(RingKey),
    #[cfg(feature = "rustcrypto")]
    RustCrypto(Box<aes_gcm::Aes256Gcm>),
}

/// ring's AES-GCM key. Boxed, because ring holds the key schedule inline
/// (20 times the size of the other variants). ring does not clear it on
/// drop, so drop overwrites it in place with the schedule of an all-zero
/// key; `black_box` keeps the compiler from dropping that store as dead.
/// (Best effort: without `unsafe` there is no volatile write.)
#[cfg(feature = "ring")]
pub(crate) struct RingKey(Box<ring::aead::LessSafeKey>);

#[cfg(feature = "ring")]
impl Drop for RingKey {
    fn drop(&mut self) {
        *self.0 = ring_impl::aead(&[0u8; KEY_LEN]);
        std::hint::black_box(&*self.0);
    }
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
        match self {
            #[cfg(feature = "aws-lc")]
            Aead::AwsLc(key) => aws_lc_impl::seal(key, nonce, aad, buf),
            #[cfg(feature = "ring")]
            Aead::Ring(key) => ring_impl::seal(&key.0, nonce, aad, buf),
            #[cfg(feature = "rustcrypto")]
            Aead::RustCrypto(cipher) => {
                use aes_gcm::AeadInPlace;
                // Invariant: the input is far below GCM's length limit.
                let t = cipher
                    .encrypt_in_place_detached(nonce.into(), aad, buf)
                    .expect("AES-GCM input is below the 2^36 byte limit");
                let mut tag = [0u8; TAG_LEN];
                tag.copy_from_slice(&t);
                tag
            }
        }
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
            Aead::AwsLc(key) => aws_lc_impl::open(key, nonce, aad, in_out),
            #[cfg(feature = "ring")]
            Aead::Ring(key) => ring_impl::open(&key.0, nonce, aad, in_out),
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

#[cfg(test)]
mod tests {
    use super::Backend;

    #[test]
    fn auto_follows_the_cpu_class_table() {
        let first = Backend::available()[0];
        assert_eq!(
            Backend::choose(false, false),
            first,
            "AES-NI only, ARMv8, others"
        );
        #[cfg(feature = "aws-lc")]
        assert_eq!(Backend::choose(true, false), Backend::AwsLc);
        #[cfg(feature = "ring")]
        assert_eq!(Backend::choose(false, true), Backend::Ring);
        #[cfg(not(feature = "ring"))]
        assert_eq!(Backend::choose(false, true), first);
        assert!(Backend::available().contains(&Backend::auto()));
        assert_eq!(Backend::default(), Backend::auto());
        for &b in Backend::available() {
            assert_eq!(Backend::from_name(b.name()), Some(b));
        }
        assert_eq!(Backend::from_name("auto"), None);
    }
}
