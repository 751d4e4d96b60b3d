//! Random bytes: the operating system's generator, or, for test vectors
//! only, a deterministic one.

use std::sync::Mutex;

use zeroize::{Zeroize, Zeroizing};

use super::backend::Backend;
use crate::error::{Error, LocalError};

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
                let mut d = m.lock().map_err(|_| Error::Local(LocalError::Random))?;
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

    /// Whether the bytes come from the system (not the deterministic
    /// generator of test vectors).
    #[allow(dead_code)] // used by FIPS builds only
    pub(crate) fn is_system(&self) -> bool {
        self.deterministic.is_none()
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}
