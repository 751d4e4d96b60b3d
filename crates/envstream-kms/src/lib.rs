//! AWS KMS keyring for envstream.
//!
//! Sealing: a [`KmsKeyring`] is a recipient (`Encrypt`) and, passed to
//! `Sealer::prepare_with`, the data-key generator (`GenerateDataKey`,
//! `KeySpec=AES_256`), always with the stream's encryption context. The
//! header records the key ARN that KMS returned.
//!
//! Opening uses a [`KmsIdentity`], which cannot seal. It is strict by
//! default: `Decrypt` is called only for wrapped keys
//! whose ARN is on the allow-list, always with `KeyId` and the header's
//! encryption context, and the `KeyId` in the response must equal the
//! expected ARN. Discovery mode allows any key, optionally restricted to a
//! set of AWS accounts.
//!
//! Configuration follows the AWS conventions through `aws-config`: the
//! environment, `~/.aws` profiles, `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_KMS`. Tokio lives here and in the CLI only; the chunk
//! pipeline stays synchronous.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
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

/// The provider id of AWS KMS wrapped keys.
pub const KMS_PROVIDER: &str = "aws-kms";

/// How to reach KMS. Unset fields come from the standard AWS configuration.
#[derive(Clone, Debug)]
pub struct KmsSettings {
    /// Region override (`--region`); otherwise `AWS_REGION` or the profile's.
    pub region: Option<String>,
    /// Profile override (`--profile`); otherwise `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// TCP connect timeout for each attempt.
    pub connect_timeout: Duration,
    /// Time limit for each attempt.
    pub attempt_timeout: Duration,
    /// Time limit for a whole call, retries included.
    pub operation_timeout: Duration,
    /// Attempts per call (standard retry mode, with backoff).
    pub max_attempts: u32,
}

impl Default for KmsSettings {
    fn default() -> Self {
        KmsSettings {
            region: None,
            profile: None,
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(20),
            max_attempts: 3,
        }
    }
}

/// KMS clients, one per region, sharing one loaded AWS configuration, and
/// the Tokio runtime their requests run on.
///
/// Every KMS request is spawned onto that runtime and its result awaited,
/// so a keyring's futures can be driven by any executor: the blocking API
/// (`Sealer::prepare_blocking`, `Opener::unlock_blocking`) works with a
/// KMS keyring without the caller owning a runtime.
pub struct KmsClients {
    config: SdkConfig,
    /// Where requests run: the caller's runtime ([`KmsClients::load`]) or
    /// one of our own ([`KmsClients::load_blocking`]).
    handle: tokio::runtime::Handle,
    /// Our own runtime, when there is one (kept alive as long as the clients).
    own: Option<tokio::runtime::Runtime>,
    /// `AWS_ENDPOINT_URL_KMS`, `AWS_ENDPOINT_URL` or the profile's, if set.
    endpoint: Option<String>,
    by_region: Mutex<HashMap<String, Client>>,
}

impl Drop for KmsClients {
    fn drop(&mut self) {
        // Dropping a runtime blocks; this may run inside an async context,
        // where that is forbidden, so let the worker wind down on its own.
        if let Some(rt) = self.own.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for KmsClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsClients")
            .field("region", &self.config.region())
            .finish_non_exhaustive()
    }
}

impl KmsClients {
    /// Loads the AWS configuration (environment, profiles, endpoint
    /// overrides) with explicit timeouts and standard retries.
    ///
    /// A profile that is selected (by `settings.profile` or `AWS_PROFILE`)
    /// but defined in neither AWS file is a
    /// [`KeyringErrorKind::Configuration`] error, even when credentials
    /// come from the environment: the caller asked for that profile.
    pub async fn load(settings: &KmsSettings) -> Result<Arc<Self>, KeyringError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(settings.connect_timeout)
                    .operation_attempt_timeout(settings.attempt_timeout)
                    .operation_timeout(settings.operation_timeout)
                    .build(),
            );
        if let Some(p) = &settings.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &settings.region {
            loader = loader.region(Region::new(r.clone()));
        }
        let selected = settings
            .profile
            .clone()
            .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
        if let Some(name) = selected.filter(|n| n != "default") {
            check_profile(&name).await?;
        }
        let config = loader.load().await;
        let endpoint = config.service_config().and_then(|c| {
            let key = aws_types::service_config::ServiceConfigKey::builder()
                .service_id("KMS")
                .env("AWS_ENDPOINT_URL")
                .profile("endpoint_url")
                .build()
                .ok()?;
            c.load_config(key)
        });
        let endpoint = endpoint.or_else(|| config.endpoint_url().map(str::to_owned));
        Ok(Arc::new(KmsClients {
            config,
            handle: tokio::runtime::Handle::current(),
            own: None,
            endpoint,
            by_region: Mutex::new(HashMap::new()),
        }))
    }

    /// [`KmsClients::load`] for callers without a Tokio runtime: starts a
    /// small runtime of its own (one worker thread) that the clients keep
    /// and run every request on.
    pub fn load_blocking(settings: &KmsSettings) -> Result<Arc<Self>, KeyringError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("envstream-kms")
            .enable_all()
            .build()
            .map_err(|e| {
                KeyringError::new(
                    KeyringErrorKind::Other,
                    format!("cannot start the KMS runtime: {e}"),
                )
            })?;
        let loaded = rt.block_on(Self::load(settings))?;
        // `load` ran inside our runtime and captured its handle; keep the
        // runtime alive with the clients.
        let mut clients = Arc::try_unwrap(loaded).map_err(|_| {
            KeyringError::new(KeyringErrorKind::Other, "KMS clients are shared too early")
        })?;
        clients.own = Some(rt);
        Ok(Arc::new(clients))
    }

    /// Runs `fut` (a KMS request) on the clients' runtime and waits for it
    /// from whatever executor polls the returned future.
    async fn run<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, KeyringError> {
        self.handle.spawn(fut).await.map_err(|e| {
            KeyringError::new(
                KeyringErrorKind::Other,
                format!("the KMS request task failed: {e}"),
            )
        })
    }

    /// The endpoint a call in `region` goes to, for messages: the
    /// configured override, or the public KMS endpoint of the region.
    fn endpoint(&self, region: Option<&str>) -> String {
        match (
            &self.endpoint,
            region.map(str::to_owned).or_else(|| self.default_region()),
        ) {
            (Some(url), _) => url.clone(),
            (None, Some(r)) => format!("https://kms.{r}.amazonaws.com"),
            (None, None) => "the KMS endpoint".to_owned(),
        }
    }

    /// The configured default region, if any.
    pub fn default_region(&self) -> Option<String> {
        self.config.region().map(|r| r.to_string())
    }

    /// A client for `region`, or for the default region; a
    /// [`KeyringErrorKind::Configuration`] error naming `key` when neither
    /// is known.
    fn client(&self, region: Option<&str>, key: &str) -> Result<Client, KeyringError> {
        let Some(region) = region.map(str::to_owned).or_else(|| self.default_region()) else {
            return Err(KeyringError::new(
                KeyringErrorKind::Configuration,
                format!("no AWS region is configured for KMS key {key}: set AWS_REGION (or a region in the AWS profile), or name the key by its ARN, which carries its region"),
            ));
        };
        let mut map = match self.by_region.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        Ok(map
            .entry(region.clone())
            .or_insert_with(|| {
                let b =
                    aws_sdk_kms::config::Builder::from(&self.config).region(Region::new(region));
                Client::from_conf(b.build())
            })
            .clone())
    }
}

/// Fails unless profile `name` is defined in the AWS config or credentials file.
async fn check_profile(name: &str) -> Result<(), KeyringError> {
    use aws_types::os_shim_internal::{Env, Fs};
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let set = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &files,
        Some(std::borrow::Cow::Owned(name.to_owned())),
    )
    .await
    .map_err(|e| {
        KeyringError::new(
            KeyringErrorKind::Configuration,
            format!(
                "cannot read the AWS config files: {}",
                one_line(&e.to_string())
            ),
        )
    })?;
    if set.get_profile(name).is_none() {
        return Err(KeyringError::new(
            KeyringErrorKind::Configuration,
            format!("AWS profile {name:?} is not defined in the AWS config or credentials file (~/.aws/config, ~/.aws/credentials, or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE); define it or choose another profile"),
        ));
    }
    Ok(())
}

/// Folds a possibly multi-line message onto one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The parts of a KMS key ARN: `arn:PARTITION:kms:REGION:ACCOUNT:key/ID`
/// (or `alias/NAME`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsArn<'a> {
    /// The region.
    pub region: &'a str,
    /// The 12-digit account id.
    pub account: &'a str,
    /// `key/ID` or `alias/NAME`.
    pub resource: &'a str,
}

/// Whether `s` is a 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a KMS ARN; `None` for key ids, alias names and anything malformed.
pub fn parse_arn(s: &str) -> Option<KmsArn<'_>> {
    let mut parts = s.splitn(6, ':');
    let (arn, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let ok = arn == "arn"
        && partition.starts_with("aws")
        && service == "kms"
        && !region.is_empty()
        && is_account_id(account)
        && (resource.starts_with("key/") || resource.starts_with("alias/"))
        && resource.len() > 6;
    ok.then_some(KmsArn {
        region,
        account,
        resource,
    })
}

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

/// Maps an SDK error to a keyring error that names the operation, the key,
/// and what went wrong: the KMS error code, the HTTP status and endpoint of
/// an answer that is not from KMS, or the missing credentials.
fn kms_error<E>(op: &str, key: &str, endpoint: &str, err: SdkError<E, HttpResponse>) -> KeyringError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_credential_types::provider::error::CredentialsError;
    let status = http_status(&err);
    let unavailable_status = status.is_some_and(|s| s >= 500 || s == 429 || s == 408);
    match &err {
        SdkError::ServiceError(se) => {
            let Some(code) = se.err().code().map(str::to_owned) else {
                // No KMS error shape: a proxy, a load balancer or the wrong
                // endpoint answered.
                let status = status.map_or_else(|| "an HTTP error".to_owned(), |s| format!("HTTP {s}"));
                let (kind, hint) = if unavailable_status {
                    (KeyringErrorKind::Unavailable, "retry later")
                } else {
                    (KeyringErrorKind::Configuration, "check the endpoint and any proxy")
                };
                return KeyringError::new(
                    kind,
                    format!("KMS {op} with key {key}: {endpoint} answered {status}, which is not a KMS answer; {hint}"),
                );
            };
            let msg = one_line(se.err().message().unwrap_or(""));
            let kind = match code.as_str() {
                "ThrottlingException"
                | "LimitExceededException"
                | "KMSInternalException"
                | "DependencyTimeoutException"
                | "KeyUnavailableException"
                | "ServiceUnavailableException"
                | "InternalFailure" => KeyringErrorKind::Unavailable,
                _ if unavailable_status => KeyringErrorKind::Unavailable,
                _ => KeyringErrorKind::Denied,
            };
            let detail = if msg.is_empty() {
                String::new()
            } else {
                format!(" ({msg})")
            };
            let hint = match kind {
                KeyringErrorKind::Unavailable => "retry later",
                _ => "check the key, its policy and the encryption context",
            };
            KeyringError::new(
                kind,
                format!("KMS {op} with key {key} failed: {code}{detail}; {hint}"),
            )
        }
        SdkError::TimeoutError(_) => KeyringError::new(
            KeyringErrorKind::Unavailable,
            format!("KMS {op} with key {key} timed out waiting for {endpoint}; check the network, region and endpoint"),
        ),
        SdkError::DispatchFailure(df) => {
            if let Some(ce) = find_cause::<CredentialsError>(&err) {
                let (kind, what) = match ce {
                    CredentialsError::CredentialsNotLoaded(_) => (
                        KeyringErrorKind::Configuration,
                        "no AWS credentials were found (environment, profile, SSO or instance role): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or select a profile that has credentials".to_owned(),
                    ),
                    CredentialsError::InvalidConfiguration(_) => (
                        KeyringErrorKind::Configuration,
                        format!("the AWS credential configuration is invalid ({})", describe_chain(ce)),
                    ),
                    _ => (
                        KeyringErrorKind::Unavailable,
                        format!("AWS credentials could not be loaded ({})", describe_chain(ce)),
                    ),
                };
                return KeyringError::new(kind, format!("KMS {op} with key {key}: {what}"));
            }
            let what = if df.is_timeout() {
                "timed out connecting to"
            } else if df.is_io() {
                "could not connect to"
            } else {
                "could not be sent to"
            };
            KeyringError::new(
                KeyringErrorKind::Unavailable,
                format!(
                    "KMS {op} with key {key} {what} {endpoint} ({}); check the network, region and endpoint",
                    describe_chain(&err)
                ),
            )
        }
        SdkError::ResponseError(_) => {
            let status = status.map_or_else(String::new, |s| format!(" (HTTP {s})"));
            let (kind, hint) = if unavailable_status || status.is_empty() {
                (KeyringErrorKind::Unavailable, "retry later")
            } else {
                (KeyringErrorKind::Configuration, "check the endpoint and any proxy")
            };
            KeyringError::new(
                kind,
                format!("KMS {op} with key {key}: unreadable answer{status} from {endpoint}; {hint}"),
            )
        }
        _ => KeyringError::new(
            KeyringErrorKind::Other,
            format!(
                "KMS {op} with key {key} could not be built: {}",
                describe_chain(&err)
            ),
        ),
    }
}

/// The HTTP status of the answer behind an SDK error, if there was one.
fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// The first cause of type `T` in `err`'s source chain.
fn find_cause<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        cur = e.source();
    }
    None
}

fn describe_chain(err: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cur = err.source();
    while let Some(e) = cur {
        parts.push(e.to_string());
        cur = e.source();
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        one_line(&parts.join(": "))
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
    /// Any key; if the list is non-empty, only keys in these accounts.
    Discovery(Vec<String>),
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

    fn discovery(clients: Arc<KmsClients>, accounts: Vec<String>) -> Self {
        KmsCore {
            clients,
            seal_key: None,
            policy: Policy::Discovery(accounts),
        }
    }

    fn client_for(&self, key: &str) -> Result<(Client, String), KeyringError> {
        let region = parse_arn(key).map(|a| a.region);
        let client = self.clients.client(region, key)?;
        Ok((client, self.clients.endpoint(region)))
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
        let (client, endpoint) = self.client_for(key)?;
        let request = client
            .generate_data_key()
            .key_id(key)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(context_map(ctx))
            .send();
        let out = self
            .clients
            .run(request)
            .await?
            .map_err(|e| kms_error("GenerateDataKey", key, &endpoint, e))?;
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
        let (client, endpoint) = self.client_for(key)?;
        let request = client
            .encrypt()
            .key_id(key)
            .plaintext(Blob::new(dk.expose_secret().to_vec()))
            .set_encryption_context(context_map(ctx))
            .send();
        let out = self
            .clients
            .run(request)
            .await?
            .map_err(|e| kms_error("Encrypt", key, &endpoint, e))?;
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
                format!("KMS returned {arn:?} for key {key}, which is not a key ARN"),
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

    /// Whether the policy allows sending this wrapped key to KMS.
    fn allows(&self, arn: &str) -> bool {
        match &self.policy {
            Policy::Strict(list) => list.iter().any(|a| a == arn),
            Policy::Discovery(accounts) => match parse_arn(arn) {
                Some(a) => {
                    a.resource.starts_with("key/")
                        && (accounts.is_empty() || accounts.iter().any(|x| x == a.account))
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
        let (client, endpoint) = self.client_for(arn)?;
        let request = client
            .decrypt()
            .key_id(arn)
            .ciphertext_blob(Blob::new(wk.ciphertext().to_vec()))
            .set_encryption_context(context_map(ctx))
            .send();
        let out = self
            .clients
            .run(request)
            .await?
            .map_err(|e| kms_error("Decrypt", arn, &endpoint, e))?;
        if out.key_id.as_deref() != Some(arn) {
            let mut plain = out.plaintext.map(Blob::into_inner).unwrap_or_default();
            plain.zeroize();
            return Err(KeyringError::new(
                KeyringErrorKind::Denied,
                format!(
                    "KMS Decrypt answered for key {:?}, not the expected {arn}; refusing it",
                    out.key_id.unwrap_or_default()
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
            (None, Policy::Discovery(a)) if a.is_empty() => {
                "KMS discovery (any account)".to_owned()
            }
            (None, Policy::Discovery(a)) => format!("KMS discovery (accounts {})", a.join(", ")),
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

impl Identity for KmsKeyring {
    fn description(&self) -> String {
        self.0.description()
    }

    fn unwrap<'a>(
        &'a self,
        wrapped: &'a WrappedKey,
        request: &'a UnwrapRequest<'a>,
    ) -> KeyringFuture<'a, Option<DataKey>> {
        Box::pin(self.0.unwrap_impl(wrapped, request.context()))
    }
}

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

    /// Tries any KMS key (restricted to `accounts` when non-empty).
    pub fn discovery(clients: Arc<KmsClients>, accounts: Vec<String>) -> Self {
        KmsIdentity(KmsCore::discovery(clients, accounts))
    }
}

impl Identity for KmsIdentity {
    fn description(&self) -> String {
        self.0.description()
    }

    fn unwrap<'a>(
        &'a self,
        wrapped: &'a WrappedKey,
        request: &'a UnwrapRequest<'a>,
    ) -> KeyringFuture<'a, Option<DataKey>> {
        Box::pin(self.0.unwrap_impl(wrapped, request.context()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns() {
        let a = parse_arn(
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        )
        .expect("arn");
        assert_eq!(a.region, "eu-west-1");
        assert_eq!(a.account, "123456789012");
        assert!(parse_arn("arn:aws:kms:us-east-1:123456789012:alias/backup").is_some());
        for bad in [
            "alias/backup",
            "1234abcd",
            "arn:aws:s3:::bucket",
            "arn:aws:kms:us-east-1:12345:key/x",
            "arn:aws:kms::123456789012:key/x",
        ] {
            assert!(parse_arn(bad).is_none(), "{bad}");
        }
    }
}
