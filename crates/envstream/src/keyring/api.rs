//! Key providers wrap and unwrap the data key, in separate roles as age
//! splits recipients and identities: a [`Recipient`] can seal, an
//! [`Identity`] can open, a [`DataKeyGenerator`] makes the data key (KMS
//! `GenerateDataKey`), and a [`Keyring`] is both a recipient and an
//! identity. An open-only provider (KMS strict or discovery mode) is an
//! `Identity` alone, so it cannot be passed to sealing. Methods return
//! boxed futures so network providers can be asynchronous; the blocking API
//! drives them with [`block_on`].

use std::future::Future;
use std::pin::Pin;

use crate::crypto::{DataKey, RandomSource};
use crate::error::KeyringError;
use crate::format::{EncryptionContext, WrappedKey};

/// The future type returned by key-provider methods.
pub type KeyringFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, KeyringError>> + Send + 'a>>;

/// What a keyring is told when sealing.
pub struct WrapRequest<'a> {
    pub(crate) context: &'a EncryptionContext,
    pub(crate) random: &'a RandomSource,
    pub(crate) suite: u16,
    pub(crate) chunk_size: u32,
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

    /// The stream's suite id (a wrapping may bind it).
    pub fn suite(&self) -> u16 {
        self.suite
    }

    /// The stream's chunk size (a wrapping may bind it).
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }
}

/// What a keyring is told when opening.
pub struct UnwrapRequest<'a> {
    pub(crate) context: &'a EncryptionContext,
    pub(crate) suite: u16,
    pub(crate) chunk_size: u32,
}

impl<'a> UnwrapRequest<'a> {
    /// The encryption context recorded in the header.
    pub fn context(&self) -> &EncryptionContext {
        self.context
    }

    /// The header's suite id.
    pub fn suite(&self) -> u16 {
        self.suite
    }

    /// The header's chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }
}

/// The seal side of a key provider (age's "recipient"): wraps a data key.
/// The wrapping must bind the encryption context.
pub trait Recipient: Send + Sync {
    /// Wraps `data_key`.
    fn wrap<'a>(
        &'a self,
        data_key: &'a DataKey,
        request: &'a WrapRequest<'a>,
    ) -> KeyringFuture<'a, WrappedKey>;
}

/// A key provider that generates the data key itself and returns it with
/// its first wrapped record (KMS `GenerateDataKey`). Passed explicitly to
/// [`Sealer::prepare_with`](crate::Sealer::prepare_with); without one, the
/// sealer draws the data key from the OS generator.
pub trait DataKeyGenerator: Send + Sync {
    /// Generates a data key and wraps it.
    fn generate<'a>(
        &'a self,
        request: &'a WrapRequest<'a>,
    ) -> KeyringFuture<'a, (DataKey, WrappedKey)>;
}

/// The open side of a key provider (age's "identity"): unwraps data keys.
///
/// Contract (FORMAT.md, "Keyrings"): `unwrap` returns `Ok(None)` for a
/// wrapped key that is not addressed to it (other provider or key id), and
/// an error of kind [`Corrupt`](crate::KeyringErrorKind::Corrupt) when the
/// wrapped key is addressed to it but fails authentication.
pub trait Identity: Send + Sync {
    /// A short description for messages, such as `local key 3f2a…`.
    fn description(&self) -> String;

    /// Tries to unwrap one wrapped key.
    fn unwrap_key<'a>(
        &'a self,
        wrapped: &'a WrappedKey,
        request: &'a UnwrapRequest<'a>,
    ) -> KeyringFuture<'a, Option<DataKey>>;
}

/// A key provider with both roles (a local key file, or a KMS key named by
/// its ARN): it can be passed to sealing and to opening.
pub trait Keyring: Recipient + Identity {}

impl<T: Recipient + Identity + ?Sized> Keyring for T {}

/// Runs a future to completion on the current thread (the blocking API's
/// executor, from the `pollster` crate).
///
/// It has no I/O reactor: a keyring that needs one must run its requests on
/// a runtime of its own and only await their results, as the KMS keyring
/// does, so that it works here and on any async runtime alike.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    pollster::block_on(fut)
}
