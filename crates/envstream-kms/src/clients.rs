//! Where KMS requests go: the AWS configuration (credentials, region,
//! profile, endpoint overrides, timeouts, retries), one client per region,
//! and the runtime the requests run on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kms::Client;
use envstream::{KeyringError, KeyringErrorKind};

use crate::errors::one_line;

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
        Self::configure(settings).await.map(Arc::new)
    }

    /// The clients, on the runtime this runs on (its handle is kept).
    async fn configure(settings: &KmsSettings) -> Result<Self, KeyringError> {
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
        Ok(KmsClients {
            config,
            handle: tokio::runtime::Handle::current(),
            own: None,
            endpoint,
            by_region: Mutex::new(HashMap::new()),
        })
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
        // `configure` runs inside our runtime and keeps its handle; the
        // runtime itself lives as long as the clients.
        let mut clients = rt.block_on(Self::configure(settings))?;
        clients.own = Some(rt);
        Ok(Arc::new(clients))
    }

    /// Runs `fut` (a KMS request) on the clients' runtime and waits for it
    /// from whatever executor polls the returned future.
    pub(crate) async fn run<T: Send + 'static>(
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
    pub(crate) fn endpoint(&self, region: Option<&str>) -> String {
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
    pub(crate) fn client(&self, region: Option<&str>, key: &str) -> Result<Client, KeyringError> {
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
