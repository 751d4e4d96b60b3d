//! Keyrings wrap and unwrap the data key.
//!
//! A [`Keyring`] is the single extension point for key providers: local key
//! files today, network services such as AWS KMS next. Methods return boxed
//! futures so that network keyrings can be asynchronous; the blocking API
//! drives them with a minimal executor (see [`block_on`]).

use std::future::Future;
use std::pin::Pin;

use crate::crypto::{DataKey, RandomSource};
use crate::error::KeyringError;
use crate::format::{EncryptionContext, WrappedKey};

/// The future type returned by [`Keyring`] methods.
pub type KeyringFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, KeyringError>> + Send + 'a>>;

/// What a keyring is told when sealing.
pub struct WrapRequest<'a> {
    pub(crate) context: &'a EncryptionContext,
    pub(crate) random: &'a RandomSource,
}

impl<'a> WrapRequest<'a> {
    /// The stream's encryption context; it must be bound to the wrapping.
    pub fn context(&self) -> &EncryptionContext {
        self.context
    }

    /// The random source to use for nonces (deterministic in test vectors).
    pub fn random(&self) -> &RandomSource {
        self.random
    }
}

/// What a keyring is told when opening.
pub struct UnwrapRequest<'a> {
    pub(crate) context: &'a EncryptionContext,
}

impl<'a> UnwrapRequest<'a> {
    /// The encryption context recorded in the header.
    pub fn context(&self) -> &EncryptionContext {
        self.context
    }
}

/// A source of key-encryption keys.
///
/// Contract (FORMAT.md, "Keyrings"):
/// - `unwrap` returns `Ok(None)` for a wrapped key that is not addressed to
///   this keyring (other provider or key id). It returns an error of kind
///   [`Corrupt`](crate::KeyringErrorKind::Corrupt) when the wrapped key is
///   addressed to it but fails authentication.
/// - The wrapping must bind the encryption context.
pub trait Keyring: Send + Sync {
    /// A short description for messages, such as `local key 3f2a…`.
    fn description(&self) -> String;

    /// Optionally generates the data key itself (KMS `GenerateDataKey`).
    /// The default returns `Ok(None)`: the sealer generates a random key and
    /// calls [`wrap`](Keyring::wrap).
    fn generate<'a>(
        &'a self,
        _request: &'a WrapRequest<'a>,
    ) -> KeyringFuture<'a, Option<(DataKey, WrappedKey)>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Wraps `data_key`.
    fn wrap<'a>(
        &'a self,
        data_key: &'a DataKey,
        request: &'a WrapRequest<'a>,
    ) -> KeyringFuture<'a, WrappedKey>;

    /// Tries to unwrap one wrapped key.
    fn unwrap<'a>(
        &'a self,
        wrapped: &'a WrappedKey,
        request: &'a UnwrapRequest<'a>,
    ) -> KeyringFuture<'a, Option<DataKey>>;
}

/// Runs a future to completion on the current thread (the blocking API's
/// executor, from the `pollster` crate).
///
/// It has no I/O reactor: a keyring that needs one must run its requests on
/// a runtime of its own and only await their results, as the KMS keyring
/// does, so that it works here and on any async runtime alike.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    pollster::block_on(fut)
}
