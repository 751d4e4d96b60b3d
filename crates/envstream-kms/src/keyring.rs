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

use crate::arn::{mrk_match, parse_arn};
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
    /// Only these key ARNs; a multi-Region key also matches its replicas
    /// in other regions, and is then called as configured.
    Strict(Vec<String>),
    /// Any key of the filter's partition, in its accounts (or, with
    /// `None`, in any account: asked for explicitly). With `mrk_region`, a
    /// multi-Region key record is called in that region (its ARN
    /// rewritten); other records in their own region.
    Discovery {
        partition: String,
        accounts: Option<Vec<String>>,
        mrk_region: Option<String>,
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
                mrk_region: None,
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

    /// The key ARN to call `Decrypt` with for a record, if the policy
    /// allows sending it to KMS at all (FORMAT.md section 11.5). A record
    /// is checked before any call: a key ARN (never an alias) whose region
    /// is shaped like a region, in the filter's partition and accounts.
    /// Strict: the configured ARN that matches the record (exactly, or as
    /// a replica of the same multi-Region key). Discovery: the record's
    /// ARN, or, for a multi-Region key with an MRK region, the ARN of its
    /// replica in that region.
    fn target(&self, arn: &str) -> Option<String> {
        decrypt_target(&self.policy, arn)
    }

    async fn unwrap_impl(
        &self,
        wk: &WrappedKey,
        ctx: &EncryptionContext,
    ) -> Result<Option<DataKey>, KeyringError> {
        if wk.provider() != KMS_PROVIDER {
            return Ok(None);
        }
        let Some(target) = self.target(wk.key_id()) else {
            return Ok(None);
        };
        // Called with the configured (or rewritten) ARN, in its region.
        let arn = target.as_str();
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

/// The key ARN a policy calls `Decrypt` with for a record's key ARN, or
/// `None` when the record is not sent to KMS (FORMAT.md section 11.5;
/// the cases of `docs/vectors/kms_matching.json`).
fn decrypt_target(policy: &Policy, arn: &str) -> Option<String> {
    match policy {
        Policy::Strict(list) => list
            .iter()
            .find(|c| *c == arn)
            .or_else(|| list.iter().find(|c| mrk_match(c, arn)))
            .cloned(),
        Policy::Discovery {
            partition,
            accounts,
            mrk_region,
        } => {
            let a = parse_arn(arn)?;
            let allowed = a.resource.starts_with("key/")
                && a.partition == partition
                && envstream_aws::is_aws_region(a.region)
                && accounts
                    .as_ref()
                    .is_none_or(|list| list.iter().any(|x| x == a.account));
            if !allowed {
                return None;
            }
            match mrk_region {
                Some(r) if a.is_mrk() => Some(a.in_region(r)),
                _ => Some(arn.to_owned()),
            }
        }
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
                    accounts,
                    mrk_region,
                },
            ) => {
                let who = match accounts {
                    None => "any account".to_owned(),
                    Some(a) => format!("accounts {}", a.join(", ")),
                };
                let mrk = mrk_region
                    .as_ref()
                    .map(|r| format!("; multi-Region keys in {r}"))
                    .unwrap_or_default();
                format!("KMS discovery ({partition}, {who}{mrk})")
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

    /// A discovery identity that decrypts multi-Region key records in
    /// `region`, as the AWS Encryption SDK's MRK discovery keyring: a
    /// record for `arn:…:REGION-A:…:key/mrk-…` is sent to `region` as the
    /// ARN of its replica there (so a backup sealed in a lost region opens
    /// with the replica). Records of other keys are still sent to their
    /// own region, never with a rewritten ARN. No effect on a strict
    /// identity (its configured ARNs say where to call).
    pub fn mrk_region(mut self, region: impl Into<String>) -> Self {
        if let Policy::Discovery { mrk_region, .. } = &mut self.0.policy {
            *mrk_region = Some(region.into());
        }
        self
    }
}

kms_identity!(KmsIdentity);

#[cfg(test)]
mod tests {
    use super::*;

    /// The matching cases of FORMAT.md section 11.5, shared with the
    /// Python checker.
    #[test]
    fn kms_matching_cases_of_the_spec() {
        let table: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/vectors/kms_matching.json"))
                .expect("json");
        let strs = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .expect("array")
                .iter()
                .map(|s| s.as_str().expect("str").to_owned())
                .collect()
        };
        let cases = table["cases"].as_array().expect("cases");
        assert!(cases.len() >= 10);
        for c in cases {
            let policy = match c["policy"].as_str() {
                Some("strict") => Policy::Strict(strs(&c["configured"])),
                Some("discovery") => Policy::Discovery {
                    partition: c["partition"].as_str().expect("partition").to_owned(),
                    accounts: Some(strs(&c["accounts"])),
                    mrk_region: c["region"].as_str().map(str::to_owned),
                },
                other => panic!("policy {other:?}"),
            };
            let record = c["record"].as_str().expect("record");
            assert_eq!(
                decrypt_target(&policy, record).as_deref(),
                c["target"].as_str(),
                "{}",
                c["description"]
            );
        }
        for c in table["unique"].as_array().expect("unique") {
            let want: Vec<Vec<String>> = c["duplicates"]
                .as_array()
                .expect("dups")
                .iter()
                .map(strs)
                .collect();
            assert_eq!(
                crate::arn::duplicate_mrks(&strs(&c["configured"])),
                want,
                "{}",
                c["description"]
            );
        }
    }

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
