//! The key hierarchy: data key, HKDF-derived stream keys, chunk nonces.

use std::sync::Mutex;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::backend::{Backend, SecretKey, KEY_LEN, NONCE_LEN};
use crate::error::Error;
use crate::format::{Header, COMMITMENT_LEN, HEADER_TAG_LEN, MAX_CHUNK_INDEX};

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

/// Where random bytes come from: the OS, or (for test vectors only) a
/// deterministic generator.
pub struct RandomSource {
    backend: Backend,
    deterministic: Option<Mutex<Drbg>>,
}

struct Drbg {
    seed: Zeroizing<[u8; 32]>,
    counter: u64,
}

impl Drop for Drbg {
    fn drop(&mut self) {
        self.counter.zeroize();
    }
}

impl RandomSource {
    pub(crate) fn system(backend: Backend) -> Self {
        RandomSource {
            backend,
            deterministic: None,
        }
    }

    pub(crate) fn deterministic(backend: Backend, seed: [u8; 32]) -> Self {
        RandomSource {
            backend,
            deterministic: Some(Mutex::new(Drbg {
                seed: Zeroizing::new(seed),
                counter: 0,
            })),
        }
    }

    /// Fills `out` with random bytes.
    pub fn fill(&self, out: &mut [u8]) -> Result<(), Error> {
        match &self.deterministic {
            None => self.backend.fill_random(out),
            Some(m) => {
                let mut d = m.lock().map_err(|_| Error::Random)?;
                for block in out.chunks_mut(32) {
                    let b = self.backend.hmac_sha256(
                        &d.seed[..],
                        &[b"envstream test drbg", &d.counter.to_be_bytes()],
                    );
                    d.counter += 1;
                    block.copy_from_slice(&b[..block.len()]);
                }
                Ok(())
            }
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
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
            Err(Error::CommitmentMismatch)
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

    /// Verifies the header tag in constant time.
    pub(crate) fn check_header_tag(&self, backend: Backend, header: &Header) -> Result<(), Error> {
        let expected = self.header_tag(backend, &header.authenticated_bytes());
        if bool::from(expected.ct_eq(header.tag())) {
            Ok(())
        } else {
            Err(Error::HeaderAuthentication)
        }
    }
}

/// The nonce of chunk `index`: 7 zero bytes, the index as a 32-bit
/// big-endian counter, then 0x01 for the final chunk or 0x00 otherwise.
pub(crate) fn chunk_nonce(index: u64, last: bool) -> Result<[u8; NONCE_LEN], Error> {
    if index > MAX_CHUNK_INDEX {
        return Err(Error::CounterOverflow);
    }
    let mut n = [0u8; NONCE_LEN];
    // Invariant: index <= u32::MAX was checked just above.
    n[7..11].copy_from_slice(&(index as u32).to_be_bytes());
    n[11] = u8::from(last);
    Ok(n)
}

/// Seals one chunk in place and returns its tag. A full (non-final) chunk
/// must leave an index free for the final chunk, so it is refused at the
/// last index: the counter never runs out.
pub(crate) fn seal_chunk(
    aead: &crate::backend::Aead,
    plain: &mut [u8],
    index: u64,
    last: bool,
) -> Result<[u8; crate::backend::TAG_LEN], Error> {
    if !last && index >= MAX_CHUNK_INDEX {
        return Err(Error::CounterOverflow);
    }
    let nonce = chunk_nonce(index, last)?;
    Ok(aead.seal_in_place(&nonce, &[], plain))
}

/// Opens chunk `index` held in `buf[..n]` (ciphertext and tag) in place and
/// returns its plaintext length. `last` says whether the input ended with
/// this chunk. Applies the final-chunk rules: an empty or sub-tag final
/// chunk is truncation; every tag failure is the one opaque error.
pub(crate) fn open_chunk(
    aead: &crate::backend::Aead,
    buf: &mut [u8],
    n: usize,
    index: u64,
    last: bool,
) -> Result<usize, Error> {
    if n == 0 {
        return Err(Error::Truncated("the final chunk is missing"));
    }
    if n < crate::backend::TAG_LEN {
        return Err(Error::Truncated("the final chunk is shorter than its tag"));
    }
    let nonce = chunk_nonce(index, last).map_err(|_| Error::TooManyChunks)?;
    aead.open_in_place(&nonce, &[], &mut buf[..n])
        .map_err(|_| Error::ChunkAuthentication { chunk: index })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_layout() {
        let n = chunk_nonce(0x0102_0304, true).expect("in range");
        assert_eq!(n, [0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 1]);
        assert_eq!(chunk_nonce(0, false).expect("in range"), [0; 12]);
    }

    #[test]
    fn counter_overflow_is_refused() {
        assert!(chunk_nonce(MAX_CHUNK_INDEX, true).is_ok());
        assert!(matches!(
            chunk_nonce(MAX_CHUNK_INDEX + 1, false),
            Err(Error::CounterOverflow)
        ));
        assert!(matches!(
            chunk_nonce(u64::MAX, true),
            Err(Error::CounterOverflow)
        ));
    }

    // Secret-holding types: no Debug (nothing to print), no Clone (no
    // stray copies), and zeroized on drop.
    static_assertions::assert_not_impl_any!(DataKey: std::fmt::Debug, Clone);
    static_assertions::assert_not_impl_any!(StreamKeys: std::fmt::Debug, Clone);
    static_assertions::assert_not_impl_any!(RandomSource: std::fmt::Debug, Clone);
    static_assertions::assert_not_impl_any!(crate::LocalKey: std::fmt::Debug, Clone);
    static_assertions::assert_not_impl_any!(crate::SealOptions: std::fmt::Debug, Clone);
    static_assertions::assert_not_impl_any!(crate::Sealer: std::fmt::Debug, Clone);
    static_assertions::assert_not_impl_any!(crate::backend::Aead: std::fmt::Debug, Clone);
    static_assertions::assert_impl_all!(crate::backend::SecretKey: zeroize::ZeroizeOnDrop);

    #[test]
    fn data_key_bytes_are_cleared_on_drop() {
        // Zeroizing<[u8; 32]> is what DataKey holds; check its drop clears.
        let mut k = Zeroizing::new([7u8; 32]);
        zeroize::Zeroize::zeroize(&mut *k);
        assert_eq!(*k, [0u8; 32]);
    }
}
