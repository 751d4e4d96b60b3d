//! envstream: streaming envelope encryption for large files.
//!
//! One random 256-bit data key per stream is wrapped by one or more
//! [`Keyring`]s (local key files, AWS KMS). From it and a fresh salt, HKDF
//! derives the payload key, a key commitment and a header-authentication
//! key. The body is a sequence of fixed-size AES-256-GCM chunks whose nonces
//! are a counter plus a final-chunk flag. `docs/FORMAT.md` is normative.
//!
//! ```text
//!  keyring(s) ──wrap──▶ data key (256 bit, one per stream)
//!                            │ HKDF-SHA-512(salt, info = label ‖ suite ‖ chunk size ‖ context)
//!            ┌───────────────┼──────────────────┐
//!       payload key      commitment        header key
//!     AES-256-GCM chunks  (in header)   HMAC-SHA-256 header tag
//! ```
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use envstream::{Backend, EncryptionContext, Keyring, LocalKey, OpenOptions, Opener, SealOptions, Sealer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (key, _key_file_text) = LocalKey::generate(Backend::default())?;
//! let keyrings: [&dyn Keyring; 1] = [&key];
//!
//! let context = EncryptionContext::from_pairs([("purpose", "backup")])?;
//! let sealer = Sealer::prepare_blocking(&keyrings, SealOptions::new().context(context))?;
//! let mut writer = sealer.seal_to(Vec::new())?;
//! writer.write_all(b"hello")?;
//! let sealed = writer.finish()?;
//!
//! let opener = Opener::new(&sealed[..])?;
//! let mut reader = opener.unlock_blocking(&keyrings, OpenOptions::new().require_context("purpose", "backup"))?;
//! let mut plain = Vec::new();
//! reader.read_to_end(&mut plain)?;
//! assert_eq!(plain, b"hello");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backend;
mod context;
mod error;
pub mod format;
mod keyring;
mod keys;
mod local;
mod pipeline;
mod stream;

pub use backend::Backend;
pub use context::EncryptionContext;
pub use error::{Error, ErrorClass, KeyringError, KeyringErrorKind};
pub use format::{Header, Suite, WrappedKey};
pub use keyring::{block_on, Keyring, KeyringFuture, UnwrapRequest, WrapRequest};
pub use keys::{DataKey, RandomSource};
pub use local::{LocalKey, LOCAL_PROVIDER};
pub use pipeline::{default_threads, StreamStats};
pub use stream::{OpenOptions, OpenReader, Opener, Rekeyed, SealOptions, SealWriter, Sealer};

/// Fuzzing entry points. Not part of the stable API.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses a header and, if it parses, asserts that writing it back
    /// reproduces the input bytes exactly.
    pub fn header_round_trip(data: &[u8]) {
        if let Ok((h, len)) = crate::Header::parse(data) {
            assert_eq!(h.to_bytes(), &data[..len], "header parse/write round trip");
            assert_eq!(h.len(), len);
        }
    }

    /// The fixed key used by [`open_with_fixed_key`]: the test vectors'
    /// `key1` (bytes 0x20, 0x21, ..., 0x3f), so the vectors seed the corpus.
    pub fn fixed_key() -> crate::LocalKey {
        let mut secret = [0u8; 32];
        for (i, b) in secret.iter_mut().enumerate() {
            *b = 0x20 + i as u8;
        }
        crate::LocalKey::from_secret(&secret, crate::Backend::default())
    }

    /// Opens `data` with [`fixed_key`] and reads it to the end into a
    /// bounded sink. Must never panic or hang, whatever `data` holds.
    /// Returns the plaintext length on success.
    pub fn open_with_fixed_key(data: &[u8]) -> Option<u64> {
        use std::io::Read;
        let key = fixed_key();
        let keys: [&dyn crate::Keyring; 1] = [&key];
        let opener = crate::Opener::new(data).ok()?;
        let mut reader = opener
            .unlock_blocking(&keys, crate::OpenOptions::new())
            .ok()?;
        let mut buf = [0u8; 8192];
        let mut total = 0u64;
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Some(total),
                Ok(n) => total += n as u64,
                Err(_) => return None,
            }
        }
    }
}
