//! Writer signatures (FORMAT.md section 15): verifying Ed25519 and ECDSA
//! P-256/P-384 signatures with any backend, and signing with a local
//! Ed25519 key. Ed25519 signing is deterministic (RFC 8032), so every
//! backend writes the same bytes. ECDSA keys only sign in KMS.

use zeroize::Zeroizing;

use super::backend::Backend;
use crate::format::{SignatureAlgorithm, SignerKey};

impl Backend {
    /// Whether `signature` is `key`'s signature of `message` (ECDSA as
    /// `r || s`). A key that is not a valid point fails.
    pub(crate) fn verify_signature(
        self,
        key: &SignerKey,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        if signature.len() != key.algorithm().signature_len() {
            return false;
        }
        match self {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => {
                use aws_lc_rs::signature as s;
                let alg: &dyn s::VerificationAlgorithm = match key.algorithm() {
                    SignatureAlgorithm::Ed25519 => &s::ED25519,
                    SignatureAlgorithm::EcdsaP256 => &s::ECDSA_P256_SHA256_FIXED,
                    SignatureAlgorithm::EcdsaP384 => &s::ECDSA_P384_SHA384_FIXED,
                };
                s::UnparsedPublicKey::new(alg, key.public_key())
                    .verify(message, signature)
                    .is_ok()
            }
            #[cfg(feature = "ring")]
            Backend::Ring => {
                use ring::signature as s;
                let alg: &dyn s::VerificationAlgorithm = match key.algorithm() {
                    SignatureAlgorithm::Ed25519 => &s::ED25519,
                    SignatureAlgorithm::EcdsaP256 => &s::ECDSA_P256_SHA256_FIXED,
                    SignatureAlgorithm::EcdsaP384 => &s::ECDSA_P384_SHA384_FIXED,
                };
                s::UnparsedPublicKey::new(alg, key.public_key())
                    .verify(message, signature)
                    .is_ok()
            }
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto => rustcrypto_verify(key, message, signature),
        }
    }

    /// The Ed25519 public key of a 32-byte seed.
    pub(crate) fn ed25519_public_key(self, seed: &[u8; 32]) -> [u8; 32] {
        match self {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => {
                use aws_lc_rs::signature::KeyPair;
                // Invariant: any 32 bytes are a valid Ed25519 seed.
                let kp = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(seed)
                    .expect("any 32-byte seed is an Ed25519 key");
                fixed(kp.public_key().as_ref())
            }
            #[cfg(feature = "ring")]
            Backend::Ring => {
                use ring::signature::KeyPair;
                // Invariant: any 32 bytes are a valid Ed25519 seed.
                let kp = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed)
                    .expect("any 32-byte seed is an Ed25519 key");
                fixed(kp.public_key().as_ref())
            }
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto => ed25519_dalek::SigningKey::from_bytes(seed)
                .verifying_key()
                .to_bytes(),
        }
    }

    /// The Ed25519 signature of `message` under the key of `seed`.
    pub(crate) fn ed25519_sign(self, seed: &Zeroizing<[u8; 32]>, message: &[u8]) -> [u8; 64] {
        match self {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => {
                // Invariant: any 32 bytes are a valid Ed25519 seed.
                let kp = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&seed[..])
                    .expect("any 32-byte seed is an Ed25519 key");
                fixed(kp.sign(message).as_ref())
            }
            #[cfg(feature = "ring")]
            Backend::Ring => {
                // Invariant: any 32 bytes are a valid Ed25519 seed.
                let kp = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed[..])
                    .expect("any 32-byte seed is an Ed25519 key");
                fixed(kp.sign(message).as_ref())
            }
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto => {
                use ed25519_dalek::Signer;
                ed25519_dalek::SigningKey::from_bytes(seed)
                    .sign(message)
                    .to_bytes()
            }
        }
    }
}

/// The bytes of an Ed25519 key or signature of a C backend, as an array
/// (both backends return exactly `N` bytes; a shorter answer leaves zeros,
/// which then fail every verification).
#[cfg(any(feature = "aws-lc", feature = "ring"))]
fn fixed<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = bytes.len().min(N);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

#[cfg(feature = "rustcrypto")]
fn rustcrypto_verify(key: &SignerKey, message: &[u8], signature: &[u8]) -> bool {
    match key.algorithm() {
        SignatureAlgorithm::Ed25519 => {
            let (Ok(pk), Ok(sig)) = (
                <[u8; 32]>::try_from(key.public_key()),
                <[u8; 64]>::try_from(signature),
            ) else {
                return false;
            };
            let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&pk) else {
                return false;
            };
            vk.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig))
                .is_ok()
        }
        SignatureAlgorithm::EcdsaP256 => {
            use p256::ecdsa::signature::Verifier;
            let (Ok(vk), Ok(sig)) = (
                p256::ecdsa::VerifyingKey::from_sec1_bytes(key.public_key()),
                p256::ecdsa::Signature::from_slice(signature),
            ) else {
                return false;
            };
            vk.verify(message, &sig).is_ok()
        }
        SignatureAlgorithm::EcdsaP384 => {
            use p384::ecdsa::signature::Verifier;
            let (Ok(vk), Ok(sig)) = (
                p384::ecdsa::VerifyingKey::from_sec1_bytes(key.public_key()),
                p384::ecdsa::Signature::from_slice(signature),
            ) else {
                return false;
            };
            vk.verify(message, &sig).is_ok()
        }
    }
}

impl Backend {
    /// SHA-256 of `data`.
    pub(crate) fn sha256(self, data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        match self {
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => out.copy_from_slice(
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref(),
            ),
            #[cfg(feature = "ring")]
            Backend::Ring => {
                out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
            }
            #[cfg(feature = "rustcrypto")]
            Backend::RustCrypto => {
                use sha2::Digest;
                out.copy_from_slice(&sha2::Sha256::digest(data));
            }
        }
        out
    }
}

impl SignerKey {
    /// The signer's fingerprint: 32 lowercase hex digits of
    /// SHA-256 of its value (FORMAT.md section 15.1).
    pub fn fingerprint(&self) -> String {
        let d = Backend::default().sha256(self.value().as_bytes());
        d[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        Backend::default().verify_signature(self, message, signature)
    }
}
