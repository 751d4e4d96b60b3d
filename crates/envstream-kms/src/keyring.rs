//! The KMS key providers: [`KmsKeyring`] seals (and opens with a key ARN),
//! [`KmsIdentity`] only opens (strict or discovery mode).

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use aws_sdk_kms::Client;
use envstream::{
    DataKey, DataKeyGenerator, EncryptionContext, Identity, KeyringError, KeyringErrorKind,
    KeyringFuture, Recipient, UnwrapRequest, WrapRequest, WrappedKey,
};
use zeroize::Zeroize;

use crate::arn::parse_arn;
use crate::clients::KmsClients;

/// The provider id of AWS KMS wrapped keys.
pub const KMS_PROVIDER: &str = "aws-kms";

fn context_map(ctx: &EncryptionContext) -> Option<HashMap<String, String>> {
    if ctx.is_empty() {
        None
    } else {
        Some(
            ctx.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }
}

/// Takes a plaintext data key out of an SDK blob into zeroizing memory and
/// clears the blob's buffer.
fn take_data_key(blob: Option<Blob>, op: &str, key: &str) -> Result<DataKey, KeyringError> {
    let mut bytes = blob.map(Blob::into_inner).unwrap_or_default();
    let dk = DataKey::from_slice(&bytes);
    bytes.zeroize();
    dk.ok_or_else(|| {
        KeyringError::new(
            KeyringErrorKind::Corrupt,
            format!("KMS {op} with key {key} returned a plaintext that is not a 32-byte data key"),
        )
    })
}

/// Which wrapped keys an opening keyring may send to KMS.
#[derive(Clone, Debug)]
enum Policy {
    /// Only these key ARNs.
    Strict(Vec<String>),
    /// Any key of the filter's partition, in its accounts (or, with
    /// `None`, in any account: asked for explicitly).
    Discovery {
        partition: String,
        accounts: Option<Vec<String>>,
    },
}

/// Which keys a discovery-mode [`KmsIdentity`] may call, as the AWS
/// Encryption SDK's discovery filter: a partition and at least one
/// account. Without it, whoever wrote a file chooses the KMS key that is
/// called (and sees the call in their CloudTrail), and a file sealed to a
/// key that lets everyone decrypt opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryFilter {
    partition: String,
    accounts: Vec<String>,
}

impl DiscoveryFilter {
    /// Keys of `accounts` (12-digit AWS account ids, at least one) in
    /// `partition` (`aws`, `aws-cn`, `aws-us-gov`, …).
    pub fn new(
        partition: impl Into<String>,
        accounts: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<Self, KeyringError> {
        let partition = partition.into();
        if !is_partition(&partition) {
            return Err(KeyringError::new(
                KeyringErrorKind::Configuration,
                format!("{partition:?} is not an AWS partition (aws, aws-cn, aws-us-gov, …)"),
            ));
        }
        let accounts: Vec<String> = accounts.into_iter().map(Into::into).collect();
        if accounts.is_empty() {
            return Err(KeyringError::new(
                KeyringErrorKind::Configuration,
                "a discovery filter needs at least one AWS account; to let a file choose a key in any account, ask for that explicitly (KmsIdentity::discovery_any_account)",
            ));
        }
        if let Some(bad) = accounts.iter().find(|a| !crate::arn::is_account_id(a)) {
            return Err(KeyringError::new(
                KeyringErrorKind::Configuration,
                format!("{bad:?} is not a 12-digit AWS account id"),
            ));
        }
        Ok(DiscoveryFilter {
            partition,
            accounts,
        })
    }
}

/// Whether `s` is shaped like an AWS partition name.
fn is_partition(s: &str) -> bool {
    s.starts_with("aws")
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// What both KMS key providers hold.
#[derive(Debug)]
struct KmsCore {
    clients: Arc<KmsClients>,
    /// The key given for sealing (id, ARN, alias name or alias ARN).
    seal_key: Option<String>,
    policy: Policy,
}

impl KmsCore {
    fn seal(clients: Arc<KmsClients>, key: impl Into<String>) -> Self {
        let key = key.into();
        let policy = Policy::Strict(if key.contains(":key/") {
            vec![key.clone()]
        } else {
            Vec::new()
        });
        KmsCore {
            clients,
            seal_key: Some(key),
            policy,
        }
    }

    fn strict(clients: Arc<KmsClients>, arns: Vec<String>) -> Self {
        KmsCore {
            clients,
            seal_key: None,
            policy: Policy::Strict(arns),
        }
    }

    fn discovery(
        clients: Arc<KmsClients>,
        partition: String,
        accounts: Option<Vec<String>>,
    ) -> Self {
        KmsCore {
            clients,
            seal_key: None,
            policy: Policy::Discovery {
                partition,
                accounts,
            },
        }
    }

    /// One KMS request for `key` (see [`KmsClients::call`]).
    async fn call<T, E, F>(
        &self,
        op: &str,
        key: &str,
        make: impl FnOnce(Client) -> F,
    ) -> Result<T, KeyringError>
    where
        F: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>> + Send + 'static,
        T: Send + 'static,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.clients.call(op, key, make).await
    }

    fn seal_key(&self) -> Result<&str, KeyringError> {
        self.seal_key.as_deref().ok_or_else(|| {
            KeyringError::new(
                KeyringErrorKind::Other,
                "this KMS keyring is for opening only: it has no key to seal with",
            )
        })
    }

    async fn generate_impl(
        &self,
        ctx: &EncryptionContext,
    ) -> Result<(DataKey, WrappedKey), KeyringError> {
        let key = self.seal_key()?;
        let context = context_map(ctx);
        let out = self
            .call("GenerateDataKey", key, |c| {
                c.generate_data_key()
                    .key_id(key)
                    .key_spec(DataKeySpec::Aes256)
                    .set_encryption_context(context)
                    .send()
            })
            .await?;
        let arn = out.key_id.clone().unwrap_or_default();
        let blob = out
            .ciphertext_blob
            .clone()
            .map(Blob::into_inner)
            .unwrap_or_default();
        let dk = take_data_key(out.plaintext, "GenerateDataKey", key)?;
        Ok((dk, self.record(key, arn, blob)?))
    }

    async fn wrap_impl(
        &self,
        dk: &DataKey,
        ctx: &EncryptionContext,
    ) -> Result<WrappedKey, KeyringError> {
        let key = self.seal_key()?;
        // The SDK keeps its own copy of the request body; it is freed (not
        // zeroized) after the call. See the README's security notes.
        let (plaintext, context) = (Blob::new(dk.expose_secret().to_vec()), context_map(ctx));
        let out = self
            .call("Encrypt", key, |c| {
                c.encrypt()
                    .key_id(key)
                    .plaintext(plaintext)
                    .set_encryption_context(context)
                    .send()
            })
            .await?;
        let arn = out.key_id.unwrap_or_default();
        let blob = out
            .ciphertext_blob
            .map(Blob::into_inner)
            .unwrap_or_default();
        self.record(key, arn, blob)
    }

    fn record(&self, key: &str, arn: String, blob: Vec<u8>) -> Result<WrappedKey, KeyringError> {
        if !parse_arn(&arn).is_some_and(|a| a.resource.starts_with("key/")) {
            return Err(KeyringError::new(
                KeyringErrorKind::Other,
                format!(
                    "KMS returned {} for key {key}, which is not a key ARN",
                    envstream_aws::text::server_value(&arn)
                ),
            ));
        }
        if blob.is_empty() {
            return Err(KeyringError::new(
                KeyringErrorKind::Other,
                format!("KMS returned no ciphertext for key {key}"),
            ));
        }
        Ok(WrappedKey::new(KMS_PROVIDER, arn, blob))
    }

    /// Whether the policy allows sending this wrapped key to KMS. A record
    /// is checked before any call: a key ARN (never an alias) whose region
    /// is shaped like a region, in the filter's partition and accounts.
    fn allows(&self, arn: &str) -> bool {
        match &self.policy {
            Policy::Strict(list) => list.iter().any(|a| a == arn),
            Policy::Discovery {
                partition,
                accounts,
            } => match parse_arn(arn) {
                Some(a) => {
                    a.resource.starts_with("key/")
                        && a.partition == partition
                        && envstream_aws::is_aws_region(a.region)
                        && accounts
                            .as_ref()
                            .is_none_or(|list| list.iter().any(|x| x == a.account))
                }
                None => false,
            },
        }
    }

    async fn unwrap_impl(
        &self,
        wk: &WrappedKey,
        ctx: &EncryptionContext,
    ) -> Result<Option<DataKey>, KeyringError> {
        if wk.provider() != KMS_PROVIDER || !self.allows(wk.key_id()) {
            return Ok(None);
        }
        let arn = wk.key_id();
        let (ciphertext, context) = (Blob::new(wk.ciphertext().to_vec()), context_map(ctx));
        let out = self
            .call("Decrypt", arn, |c| {
                c.decrypt()
                    .key_id(arn)
                    .ciphertext_blob(ciphertext)
                    .set_encryption_context(context)
                    .send()
            })
            .await?;
        if out.key_id.as_deref() != Some(arn) {
            let mut plain = out.plaintext.map(Blob::into_inner).unwrap_or_default();
            plain.zeroize();
            return Err(KeyringError::new(
                KeyringErrorKind::Denied,
                format!(
                    "KMS Decrypt answered for key {}, not the expected {arn}; refusing it",
                    envstream_aws::text::server_value(out.key_id.as_deref().unwrap_or_default())
                ),
            ));
        }
        take_data_key(out.plaintext, "Decrypt", arn).map(Some)
    }
}

impl KmsCore {
    fn description(&self) -> String {
        match (&self.seal_key, &self.policy) {
            (Some(k), _) => format!("KMS key {k}"),
            (None, Policy::Strict(list)) => format!("KMS keys [{}]", list.join(", ")),
            (
                None,
                Policy::Discovery {
                    partition,
                    accounts: None,
                },
            ) => {
                format!("KMS discovery ({partition}, any account)")
            }
            (
                None,
                Policy::Discovery {
                    partition,
                    accounts: Some(a),
                },
            ) => {
                format!("KMS discovery ({partition}, accounts {})", a.join(", "))
            }
        }
    }
}

/// A KMS key to seal with: it wraps the data key (`Encrypt`), can generate
/// it (`GenerateDataKey`, as a [`DataKeyGenerator`]), and, when built from
/// a key ARN, also opens files sealed to that key.
#[derive(Debug)]
pub struct KmsKeyring(KmsCore);

impl KmsKeyring {
    /// A keyring that wraps with `key` (a key id, key ARN, alias name or
    /// alias ARN). If `key` is a key ARN it can also unwrap.
    pub fn seal(clients: Arc<KmsClients>, key: impl Into<String>) -> Self {
        KmsKeyring(KmsCore::seal(clients, key))
    }
}

impl Recipient for KmsKeyring {
    fn wrap<'a>(
        &'a self,
        data_key: &'a DataKey,
        request: &'a WrapRequest<'a>,
    ) -> KeyringFuture<'a, WrappedKey> {
        Box::pin(self.0.wrap_impl(data_key, request.context()))
    }
}

impl DataKeyGenerator for KmsKeyring {
    fn generate<'a>(
        &'a self,
        request: &'a WrapRequest<'a>,
    ) -> KeyringFuture<'a, (DataKey, WrappedKey)> {
        Box::pin(self.0.generate_impl(request.context()))
    }
}

/// Both KMS providers open the same way, through their `KmsCore` (its
/// policy decides which wrapped keys may be sent to KMS).
macro_rules! kms_identity {
    ($provider:ty) => {
        impl Identity for $provider {
            fn description(&self) -> String {
                self.0.description()
            }

            fn unwrap_key<'a>(
                &'a self,
                wrapped: &'a WrappedKey,
                request: &'a UnwrapRequest<'a>,
            ) -> KeyringFuture<'a, Option<DataKey>> {
                Box::pin(self.0.unwrap_impl(wrapped, request.context()))
            }
        }
    };
}

kms_identity!(KmsKeyring);

/// KMS keys to open with, and only to open with: strict mode (listed key
/// ARNs) or discovery mode (any key, optionally of some accounts). It is an
/// [`Identity`] alone, so it cannot be passed to sealing:
///
/// ```compile_fail
/// # use envstream::{SealOptions, Sealer};
/// fn seal_with(open_only: &envstream_kms::KmsIdentity) {
///     let _ = Sealer::prepare_blocking(&[open_only], SealOptions::new());
/// }
/// ```
///
/// whereas a sealing key can be:
///
/// ```no_run
/// # use envstream::{SealOptions, Sealer};
/// fn seal_with(key: &envstream_kms::KmsKeyring) {
///     let _ = Sealer::prepare_blocking(&[key], SealOptions::new());
/// }
/// ```
#[derive(Debug)]
pub struct KmsIdentity(KmsCore);

impl KmsIdentity {
    /// Sends to KMS only wrapped keys whose ARN is in `arns`.
    pub fn strict(clients: Arc<KmsClients>, arns: Vec<String>) -> Self {
        KmsIdentity(KmsCore::strict(clients, arns))
    }

    /// Tries any KMS key that `filter` allows: its partition and accounts.
    /// Each record is checked before any call (a key ARN with a plausible
    /// region), and the opener asks about each distinct key once and stops
    /// after a few failures (`envstream::MAX_FAILED_UNWRAPS`).
    pub fn discovery(clients: Arc<KmsClients>, filter: DiscoveryFilter) -> Self {
        KmsIdentity(KmsCore::discovery(
            clients,
            filter.partition,
            Some(filter.accounts),
        ))
    }

    /// Tries any KMS key of `partition`, in any account. Whoever wrote a
    /// file then chooses the key that is called: a key that lets everyone
    /// decrypt makes their files open, and its owner sees each call in
    /// CloudTrail. Prefer [`KmsIdentity::discovery`] with a filter.
    pub fn discovery_any_account(clients: Arc<KmsClients>, partition: impl Into<String>) -> Self {
        KmsIdentity(KmsCore::discovery(clients, partition.into(), None))
    }
}

kms_identity!(KmsIdentity);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_discovery_filter_needs_an_account_and_a_partition() {
        let e = DiscoveryFilter::new("aws", Vec::<String>::new()).expect_err("no account");
        assert_eq!(e.kind(), KeyringErrorKind::Configuration);
        assert!(e.message().contains("discovery_any_account"), "{e}");
        assert!(DiscoveryFilter::new("aws", ["12345"]).is_err());
        assert!(DiscoveryFilter::new("azure", ["123456789012"]).is_err());
        let f = DiscoveryFilter::new("aws-us-gov", ["123456789012"]).expect("filter");
        assert_eq!(f.partition, "aws-us-gov");
    }
}
