//! Keyrings: who wraps and unwraps a stream's data key.
//!
//! - `api`: the roles [`Recipient`] (seal), [`Identity`] (open),
//!   [`DataKeyGenerator`] and [`Keyring`] (both roles), with async methods
//!   (boxed `Send` futures, so a KMS keyring can make network calls), and
//!   what a provider is told.
//! - `local`: [`LocalKey`], a 256-bit key file; the offline default and
//!   the break-glass key. The AWS KMS keyring lives in `envstream-kms`.
//! - `pq`: [`PqRecipient`] and [`PqIdentity`], public-key recipients
//!   (X-Wing: ML-KEM-768 + X25519, through HPKE) for encrypt-only hosts.

mod api;
mod file;
mod local;
mod pq;
mod sign;

pub use api::{
    block_on, DataKeyGenerator, Identity, Keyring, KeyringFuture, Recipient, UnwrapRequest,
    WrapRequest,
};
#[cfg(feature = "aws-lc")]
pub(crate) use local::{derive_kek, derive_key_id};
pub use local::{LocalKey, LOCAL_PROVIDER};
pub use pq::{PqIdentity, PqRecipient, PQ_PROVIDER, RECIPIENT_KEY_LEN, RECIPIENT_PREFIX};
pub use sign::{public_file_text, LocalSigningKey, Signer};
