//! The key hierarchy: the data key and the HKDF-derived stream keys
//! (payload key, key commitment, header key).

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::backend::{Backend, SecretKey, KEY_LEN};
use super::random::RandomSource;
use crate::error::{Error, IntegrityError};
use crate::format::{Header, COMMITMENT_LEN, HEADER_TAG_LEN};

/// The 256-bit data key of one stream. Zeroized on drop; never printed,
/// cloned or serialized.
pub struct DataKey(SecretKey);

impl DataKey {
    /// Length of a data key in bytes.
    pub const LEN: usize = KEY_LEN;

    /// Wraps raw key bytes, for keyrings that unwrap a key.
    pub fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        DataKey(bytes)
    }

    /// Copies a key from a slice that must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != KEY_LEN {
            return None;
        }
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        k.copy_from_slice(bytes);
        Some(DataKey(k))
    }

    /// The raw key bytes, for keyrings that wrap it. Every use is a place
    /// the secret leaves this type: keep them few and easy to find.
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    pub(crate) fn generate(rng: &RandomSource) -> Result<Self, Error> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill(&mut k[..])?;
        Ok(DataKey(k))
    }
}

/// The prefix of every HKDF info string in the stream key derivation.
pub(crate) const INFO_PREFIX: &[u8] = b"envstream v1 ";

/// Keys derived from the data key for one stream.
pub(crate) struct StreamKeys {
    pub(crate) payload: SecretKey,
    pub(crate) commitment: [u8; COMMITMENT_LEN],
    header: SecretKey,
}

impl StreamKeys {
    /// Derives the payload key, commitment and header key (FORMAT.md, "Key derivation").
    pub(crate) fn derive(backend: Backend, data_key: &DataKey, header: &Header) -> Self {
        let suite = header.suite().id().to_be_bytes();
        let chunk = header.chunk_size().to_be_bytes();
        let ctx = header.context().encode();
        let expand = |label: &[u8], out: &mut [u8]| {
            backend.hkdf_sha512(
                header.salt(),
                data_key.expose_secret(),
                &[INFO_PREFIX, label, &[0u8], &suite, &chunk, &ctx],
                out,
            )
        };
        let mut payload = Zeroizing::new([0u8; KEY_LEN]);
        expand(b"payload key", &mut payload[..]);
        let mut commitment = [0u8; COMMITMENT_LEN];
        expand(b"key commitment", &mut commitment);
        let mut hkey = Zeroizing::new([0u8; KEY_LEN]);
        expand(b"header key", &mut hkey[..]);
        StreamKeys {
            payload,
            commitment,
            header: hkey,
        }
    }

    /// Constant-time comparison against the header's commitment.
    pub(crate) fn check_commitment(&self, header: &Header) -> Result<(), Error> {
        if bool::from(self.commitment.ct_eq(header.commitment())) {
            Ok(())
        } else {
            Err(Error::Integrity(IntegrityError::CommitmentMismatch))
        }
    }

    /// The header tag over `authenticated` (all header bytes before the tag).
    pub(crate) fn header_tag(
        &self,
        backend: Backend,
        authenticated: &[u8],
    ) -> [u8; HEADER_TAG_LEN] {
        backend.hmac_sha256(&self.header[..], &[authenticated])
    }

    /// Completes a header for these keys: the key commitment, then the tag
    /// over everything before it (the order the format fixes).
    pub(crate) fn finalize(&self, backend: Backend, header: &mut Header) {
        header.set_commitment(self.commitment);
        let tag = self.header_tag(backend, &header.authenticated_bytes());
        header.set_tag(tag);
    }

    /// Verifies the header tag in constant time.
    pub(crate) fn check_header_tag(&self, backend: Backend, header: &Header) -> Result<(), Error> {
        let expected = self.header_tag(backend, &header.authenticated_bytes());
        if bool::from(expected.ct_eq(header.tag())) {
            Ok(())
        } else {
            Err(Error::Integrity(IntegrityError::HeaderAuthentication))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Secret-holding types: no Debug (nothing to print), no Clone (no
    // stray copies), and zeroized on drop.
    static_assertions::assert_not_impl_any!(DataKey: std::fmt::Debug, Clone);
    static_assertions::assert_not_impl_any!(StreamKeys: std::fmt::Debug, Clone);
    static_assertions::assert_not_impl_any!(RandomSource: std::fmt::Debug, Clone);
    static_assertions::assert_not_impl_any!(crate::LocalKey: std::fmt::Debug, Clone);
    static_assertions::assert_not_impl_any!(crate::SealOptions: std::fmt::Debug, Clone);
    static_assertions::assert_not_impl_any!(crate::Sealer: std::fmt::Debug, Clone);
    static_assertions::assert_not_impl_any!(crate::crypto::Aead: std::fmt::Debug, Clone);
    static_assertions::assert_impl_all!(crate::crypto::SecretKey: zeroize::ZeroizeOnDrop);

    #[test]
    fn data_key_bytes_are_cleared_on_drop() {
        // Zeroizing<[u8; 32]> is what DataKey holds; check its drop clears.
        let mut k = Zeroizing::new([7u8; 32]);
        zeroize::Zeroize::zeroize(&mut *k);
        assert_eq!(*k, [0u8; 32]);
    }
}
