//! Keyrings: who wraps and unwraps a stream's data key.
//!
//! - `api`: the [`Keyring`] trait (async, with boxed `Send` futures, so a
//!   KMS keyring can make network calls) and what a keyring is told.
//! - `local`: [`LocalKey`], a 256-bit key file; the offline default and
//!   the break-glass key. The AWS KMS keyring lives in `envstream-kms`.

mod api;
mod local;

pub use api::{block_on, Keyring, KeyringFuture, UnwrapRequest, WrapRequest};
pub use local::{LocalKey, LOCAL_PROVIDER};
