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

mod crypto;
mod envelope;
mod error;
pub mod format;
mod io;
mod keyring;

#[doc(hidden)]
pub mod fuzzing;

pub use crypto::{fips_status, Backend, DataKey, FipsStatus, RandomSource};
pub use envelope::{OpenOptions, SealOptions, Sealer, MAX_FAILED_UNWRAPS};
pub use error::{
    Error, ErrorClass, FormatError, IntegrityError, KeyError, KeyringError, KeyringErrorKind,
    LocalError, StateError, UsageError,
};
pub use format::{
    BodyLayout, EncryptionContext, Header, SignatureAlgorithm, SignerKey, Suite, WrappedKey,
};
pub use io::{default_threads, OpenReader, Opener, Rekeyed, SealWriter, StreamStats, MAX_THREADS};
#[cfg(feature = "tokio")]
pub use io::{AsyncOpenReader, AsyncOpener, AsyncSealWriter};
pub use keyring::{
    block_on, DataKeyGenerator, Identity, Keyring, KeyringFuture, LocalKey, Recipient,
    UnwrapRequest, WrapRequest, LOCAL_PROVIDER,
};
pub use keyring::{public_file_text, LocalSigningKey, Signer};
pub use keyring::{PqIdentity, PqRecipient, PQ_PROVIDER, RECIPIENT_KEY_LEN, RECIPIENT_PREFIX};
